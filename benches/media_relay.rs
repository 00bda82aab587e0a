//! User-space work of the relay per packet, without sockets: classify, strict-source
//! check, payload-type mapping and SSRC/sequence/timestamp rewrite in place, for the
//! same-codec fast path and for PCMU→PCMA transcoding. Target: under 300 ns per packet.
//!
//! `cargo bench -p switchyard-benches --bench media_relay`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard_media::codec::CodecDescriptor;
use switchyard_media::relay::{Leg, LegMedia, Relay, RelayConfig, RelayOutcome};
use switchyard_media::rtp::write_header;

fn setup(b_codec: CodecDescriptor) -> (Relay, SocketAddr, Instant) {
    let now = Instant::now();
    let a: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
    let b: SocketAddr = "192.0.2.2:5000".parse().expect("addr");
    let mut r = Relay::new(
        LegMedia::g711(CodecDescriptor::PCMU, Some(101)),
        LegMedia::g711(b_codec, Some(96)),
        RelayConfig::default(),
        now,
    );
    r.on_sdp(Leg::A, now, Some(a), true);
    r.on_sdp(Leg::B, now, Some(b), true);
    (r, a, now)
}

fn run(c: &mut Criterion, name: &str, b_codec: CodecDescriptor) {
    let (mut relay, src, now) = setup(b_codec);
    let mut buf = vec![0x55u8; 12 + 160];
    let mut seq = 0u16;
    let mut g = c.benchmark_group("relay_per_packet");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            // The header as the peer sent it (the payload stays in place, as it would
            // in a receive buffer).
            write_header(&mut buf, false, 0, seq, u32::from(seq) * 160, 0xabcd).expect("12");
            seq = seq.wrapping_add(1);
            let out = relay.handle_packet(now, Leg::A, src, black_box(&mut buf));
            black_box(out)
        })
    });
    g.finish();
    let forwarded = relay.counters(Leg::A).forwarded;
    assert!(forwarded > 0, "nothing forwarded");
    let probe = relay.handle_packet(now, Leg::A, src, &mut buf);
    assert!(matches!(
        probe,
        RelayOutcome::Forward { .. } | RelayOutcome::Drop(_)
    ));
}

fn bench(c: &mut Criterion) {
    run(c, "same_codec", CodecDescriptor::PCMU);
    run(c, "pcmu_to_pcma", CodecDescriptor::PCMA);
}

criterion_group!(benches, bench);
criterion_main!(benches);
