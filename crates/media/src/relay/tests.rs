use super::*;
use crate::rtp::{RtpPacket, write_header};
use std::time::Duration;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

const PEER_A: u16 = 4000;
const PEER_B: u16 = 5000;

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: u8) -> Vec<u8> {
    let mut v = vec![payload; 12 + 160];
    write_header(&mut v, false, pt, seq, ts, ssrc).unwrap();
    v
}

fn relay(a: LegMedia, b: LegMedia) -> (Relay, Instant) {
    let t0 = Instant::now();
    let mut r = Relay::new(a, b, RelayConfig::default(), t0);
    r.on_sdp(Leg::A, t0, Some(addr(PEER_A)), true);
    r.on_sdp(Leg::B, t0, Some(addr(PEER_B)), true);
    (r, t0)
}

/// Sends the four probation packets from both peers.
fn learn(r: &mut Relay, t0: Instant) {
    for seq in 0..4u16 {
        r.handle_packet(t0, Leg::A, addr(PEER_A), &mut packet(0, seq, 0, 0xa, 0xff));
        r.handle_packet(t0, Leg::B, addr(PEER_B), &mut packet(0, seq, 0, 0xb, 0xff));
    }
}

#[test]
fn same_codec_forwards_payload_untouched_with_new_header() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, Some(101)),
        LegMedia::g711(CodecDescriptor::PCMU, Some(101)),
    );
    learn(&mut r, t0);
    let mut p = packet(0, 4, 640, 0xa, 0x42);
    let out = r.handle_packet(t0, Leg::A, addr(PEER_A), &mut p);
    assert_eq!(
        out,
        RelayOutcome::Forward {
            to: addr(PEER_B),
            len: 172
        }
    );
    let q = RtpPacket::parse(&p).unwrap();
    assert_eq!(q.ssrc, RelayConfig::default().seeds[1].0);
    assert_eq!(q.payload, &[0x42; 160][..]);
    assert_eq!(q.payload_type, 0);
    assert_eq!(r.counters(Leg::A).forwarded, 2);
    assert_eq!(r.counters(Leg::A).dropped, 3);
}

#[test]
fn telephone_event_payload_type_is_mapped() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, Some(101)),
        LegMedia::g711(CodecDescriptor::PCMU, Some(96)),
    );
    learn(&mut r, t0);
    let mut p = packet(101, 4, 640, 0xa, 0);
    assert!(matches!(
        r.handle_packet(t0, Leg::A, addr(PEER_A), &mut p),
        RelayOutcome::Forward { .. }
    ));
    assert_eq!(p[1] & 0x7f, 96);
    let mut p = packet(96, 4, 640, 0xb, 0);
    r.handle_packet(t0, Leg::B, addr(PEER_B), &mut p);
    assert_eq!(p[1] & 0x7f, 101);
}

#[test]
fn dtmf_to_a_leg_without_telephone_event_is_handed_back() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, Some(101)),
        LegMedia::g711(CodecDescriptor::PCMU, None),
    );
    learn(&mut r, t0);
    let mut p = packet(101, 4, 640, 0xa, 0);
    assert_eq!(
        r.handle_packet(t0, Leg::A, addr(PEER_A), &mut p),
        RelayOutcome::Drop(RelayDrop::DtmfNotNegotiated)
    );
    let mut p = packet(13, 5, 640, 0xa, 0);
    assert_eq!(
        r.handle_packet(t0, Leg::A, addr(PEER_A), &mut p),
        RelayOutcome::Drop(RelayDrop::UnknownPayloadType(13))
    );
}

#[test]
fn pcmu_to_pcma_is_transcoded_in_place() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, None),
        LegMedia::g711(CodecDescriptor::PCMA, None),
    );
    learn(&mut r, t0);
    let pcm: Vec<i16> = (0..160)
        .map(|i| ((i * 200) as i16).wrapping_sub(16000))
        .collect();
    let mut ulaw = vec![0u8; 160];
    g711::encode_ulaw(&pcm, &mut ulaw);
    let mut p = packet(0, 4, 640, 0xa, 0);
    p[12..].copy_from_slice(&ulaw);
    r.handle_packet(t0, Leg::A, addr(PEER_A), &mut p);
    assert_eq!(p[1] & 0x7f, 8);
    let mut back = vec![0i16; 160];
    g711::decode_alaw(&p[12..], &mut back);
    for (x, y) in pcm.iter().zip(&back) {
        // Both laws quantise; a few percent of the magnitude at most.
        assert!((x - y).abs() <= x.abs() / 16 + 16, "{x} vs {y}");
    }
    // And back the other way.
    let mut p = packet(8, 4, 640, 0xb, 0);
    p[12..].copy_from_slice(&[0xd5; 160]);
    r.handle_packet(t0, Leg::B, addr(PEER_B), &mut p);
    assert_eq!(p[1] & 0x7f, 0);
    assert_eq!(p[12], g711::alaw_to_ulaw(0xd5));
}

#[test]
fn strict_learning_drops_injected_packets() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, None),
        LegMedia::g711(CodecDescriptor::PCMU, None),
    );
    learn(&mut r, t0);
    let mut p = packet(0, 4, 640, 0xa, 0);
    assert_eq!(
        r.handle_packet(t0, Leg::A, addr(6666), &mut p),
        RelayOutcome::Drop(RelayDrop::Source(DropReason::WrongSource))
    );
}

#[test]
fn hold_on_the_other_leg_stops_forwarding() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, None),
        LegMedia::g711(CodecDescriptor::PCMU, None),
    );
    learn(&mut r, t0);
    r.set_media(
        Leg::B,
        LegMedia {
            sending: false,
            ..LegMedia::g711(CodecDescriptor::PCMU, None)
        },
    );
    assert_eq!(
        r.handle_packet(t0, Leg::A, addr(PEER_A), &mut packet(0, 4, 0, 0xa, 0)),
        RelayOutcome::Drop(RelayDrop::NotSending)
    );
}

#[test]
fn prompt_then_party_is_one_continuous_stream_on_the_leg() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, None),
        LegMedia::g711(CodecDescriptor::PCMU, None),
    );
    learn(&mut r, t0);
    // A prompt is played to B (injected with the player's own numbering).
    let mut seqs = Vec::new();
    for i in 0..3u16 {
        let mut p = packet(0, 9000 + i, 77 + 160 * u32::from(i), 0xbeef, 0);
        let now = t0 + Duration::from_millis(20 * u64::from(i));
        assert_eq!(r.inject(now, Leg::B, &mut p), Some(addr(PEER_B)));
        seqs.push(RtpPacket::parse(&p).unwrap().sequence);
    }
    // Then A's audio is relayed to B.
    let mut p = packet(0, 4, 640, 0xa, 0);
    r.handle_packet(t0 + Duration::from_millis(60), Leg::A, addr(PEER_A), &mut p);
    let q = RtpPacket::parse(&p).unwrap();
    seqs.push(q.sequence);
    assert!(q.marker);
    // Sequence 1 went to B during learning (A's fourth packet).
    assert_eq!(seqs, [2, 3, 4, 5]);
}

#[test]
fn rtcp_and_garbage_are_not_forwarded() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, None),
        LegMedia::g711(CodecDescriptor::PCMU, None),
    );
    assert_eq!(
        r.handle_packet(t0, Leg::A, addr(PEER_A), &mut [0x80, 201, 0, 1, 0, 0, 0, 1]),
        RelayOutcome::Drop(RelayDrop::Rtcp)
    );
    assert_eq!(
        r.handle_packet(t0, Leg::A, addr(PEER_A), &mut [1, 2, 3]),
        RelayOutcome::Drop(RelayDrop::NotRtp)
    );
}

#[test]
fn inactivity_event_is_tagged_with_its_leg() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, None),
        LegMedia::g711(CodecDescriptor::PCMU, None),
    );
    learn(&mut r, t0);
    while r.poll_event().is_some() {}
    let t1 = t0 + Duration::from_secs(20);
    r.handle_packet(t1, Leg::A, addr(PEER_A), &mut packet(0, 4, 0, 0xa, 0));
    let deadline = r.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(30));
    r.handle_timeout(deadline);
    assert_eq!(r.poll_event(), Some((Leg::B, StreamEvent::Inactive)));
    assert_eq!(r.poll_event(), None);
}

#[test]
fn rtcp_reports_describe_both_directions() {
    let mux = LegMedia {
        rtcp_mux: true,
        ..LegMedia::g711(CodecDescriptor::PCMU, None)
    };
    let (mut r, t0) = relay(mux, mux);
    // A sends 14 packets with 10 and 11 missing; B sends only the probation ones.
    for seq in (0..16u16).filter(|s| *s != 10 && *s != 11) {
        let now = t0 + Duration::from_millis(20 * u64::from(seq));
        r.handle_packet(
            now,
            Leg::A,
            addr(PEER_A),
            &mut packet(0, seq, 160 * u32::from(seq), 0xa, 0),
        );
    }
    for seq in 0..4u16 {
        r.handle_packet(t0, Leg::B, addr(PEER_B), &mut packet(0, seq, 0, 0xb, 0));
    }
    // A's sender report arrives on the mux port.
    let mut sr = Vec::new();
    crate::rtcp::RtcpPacket::SenderReport {
        ssrc: 0xa,
        info: SenderInfo {
            ntp: 0x0000_1234_5678_0000,
            ..SenderInfo::default()
        },
        reports: vec![],
    }
    .write(&mut sr);
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(
        r.handle_packet(t1, Leg::A, addr(PEER_A), &mut sr),
        RelayOutcome::Drop(RelayDrop::Rtcp)
    );
    let t2 = t1 + Duration::from_millis(250);
    let (to, bytes) = r
        .build_rtcp(t2, Leg::A, Duration::from_secs(1_700_000_000))
        .unwrap();
    assert_eq!(to, addr(PEER_A));
    let pkts = parse_compound(&bytes).unwrap();
    let RtcpPacket::SenderReport {
        ssrc,
        info,
        reports,
    } = &pkts[0]
    else {
        panic!("expected an SR first: {pkts:?}");
    };
    // Leg A's outgoing stream carried B's one forwarded packet.
    assert_eq!(*ssrc, RelayConfig::default().seeds[0].0);
    assert_eq!(info.packet_count, 1);
    assert_eq!(info.octet_count, 160);
    let rb = reports[0];
    assert_eq!(rb.ssrc, 0xa);
    assert_eq!(rb.extended_highest_seq, 15);
    assert_eq!(rb.cumulative_lost, 2);
    assert_eq!(rb.last_sr, 0x1234_5678);
    assert_eq!(rb.delay_since_last_sr, 65536 / 4);
    assert!(matches!(&pkts[1], RtcpPacket::SourceDescription(c) if c[0].ssrc == *ssrc));
}

#[test]
fn rtcp_without_mux_goes_to_the_next_port_or_where_the_peers_rtcp_came_from() {
    let (mut r, t0) = relay(
        LegMedia::g711(CodecDescriptor::PCMU, None),
        LegMedia::g711(CodecDescriptor::PCMU, None),
    );
    learn(&mut r, t0);
    let (to, _) = r.build_rtcp(t0, Leg::A, Duration::ZERO).unwrap();
    assert_eq!(to, addr(PEER_A + 1));
    let mut rr = Vec::new();
    RtcpPacket::ReceiverReport {
        ssrc: 0xa,
        reports: vec![],
    }
    .write(&mut rr);
    // From another host: ignored. From the learned host on another port: adopted.
    r.handle_rtcp(t0, Leg::A, SocketAddr::from(([192, 0, 2, 99], 7001)), &rr);
    assert_eq!(
        r.build_rtcp(t0, Leg::A, Duration::ZERO).unwrap().0,
        addr(PEER_A + 1)
    );
    r.handle_rtcp(t0, Leg::A, addr(7001), &rr);
    assert_eq!(
        r.build_rtcp(t0, Leg::A, Duration::ZERO).unwrap().0,
        addr(7001)
    );
}
