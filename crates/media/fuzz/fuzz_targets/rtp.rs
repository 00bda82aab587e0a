//! RTP parsing, rewriting and the relay fast path must never panic on any datagram.
#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use switchyard_media::codec::CodecDescriptor;
use switchyard_media::relay::{Leg, LegMedia, Relay, RelayConfig};
use switchyard_media::rtp::{FixedHeader, RtpPacket, classify};

fuzz_target!(|data: &[u8]| {
    let _ = classify(data);
    if let Ok(p) = RtpPacket::parse(data) {
        // What parses must write back to the same bytes' length.
        let mut out = vec![0u8; p.len()];
        let n = p.write(&mut out).expect("sized to fit");
        assert_eq!(n, data.len());
    }
    let _ = FixedHeader::read(data);
    let now = Instant::now();
    let src: SocketAddr = ([192, 0, 2, 1], 4000).into();
    let mut relay = Relay::new(
        LegMedia::g711(CodecDescriptor::PCMU, Some(101)),
        LegMedia::g711(CodecDescriptor::PCMA, Some(96)),
        RelayConfig::default(),
        now,
    );
    relay.on_sdp(Leg::A, now, Some(src), true);
    relay.on_sdp(Leg::B, now, Some(([192, 0, 2, 2], 5000).into()), true);
    let mut buf = data.to_vec();
    for _ in 0..5 {
        let _ = relay.handle_packet(now, Leg::A, src, &mut buf);
    }
});
