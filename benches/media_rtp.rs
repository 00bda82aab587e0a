//! RTP header parse + build per packet: Switchyard's hand-written zero-copy parser
//! against `rtc-rtp` 0.21 (webrtc-rs's sans-IO line), on a 20 ms PCMU packet.
//!
//! `cargo bench -p switchyard-benches --features compare --bench media_rtp`
//! (without `compare` only Switchyard's side runs).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard_media::rtp::{FixedHeader, RtpPacket, write_header};

fn pcmu_packet() -> Vec<u8> {
    let mut v = vec![0xd5u8; 12 + 160];
    write_header(&mut v, false, 0, 4242, 678_720, 0x1234_5678).expect("12 bytes");
    v
}

fn bench(c: &mut Criterion) {
    let pkt = pcmu_packet();
    let mut out = vec![0u8; 1500];
    let mut g = c.benchmark_group("rtp_parse_build");
    g.throughput(Throughput::Elements(1));
    g.bench_function("switchyard", |b| {
        b.iter(|| {
            let p = RtpPacket::parse(black_box(&pkt)).expect("valid");
            let p = RtpPacket {
                sequence: p.sequence.wrapping_add(1),
                ..p
            };
            black_box(p.write(&mut out).expect("fits"))
        })
    });
    let mut buf = pkt.clone();
    g.bench_function("switchyard_in_place_header", |b| {
        b.iter(|| {
            let mut h = FixedHeader::read(black_box(&buf)).expect("valid");
            h.sequence = h.sequence.wrapping_add(1);
            h.write_into(&mut buf).expect("fits");
            black_box(&buf);
        })
    });
    #[cfg(feature = "compare")]
    {
        use rtc_shared::marshal::{Marshal, Unmarshal};
        g.bench_function("rtc_rtp", |b| {
            b.iter(|| {
                let mut raw: &[u8] = black_box(&pkt);
                let mut p = rtc_rtp::packet::Packet::unmarshal(&mut raw).expect("valid");
                p.header.sequence_number = p.header.sequence_number.wrapping_add(1);
                black_box(p.marshal_to(&mut out).expect("fits"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
