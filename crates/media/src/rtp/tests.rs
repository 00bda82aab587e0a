use super::*;

fn sample() -> Vec<u8> {
    let mut v = vec![
        0x80,
        0x80 | 8,
        0x12,
        0x34,
        0,
        0,
        0x01,
        0x40,
        0xde,
        0xad,
        0xbe,
        0xef,
    ];
    v.extend_from_slice(&[0xd5; 160]);
    v
}

#[test]
fn parses_fixed_header() {
    let buf = sample();
    let p = RtpPacket::parse(&buf).unwrap();
    assert!(p.marker);
    assert_eq!(p.payload_type, 8);
    assert_eq!(p.sequence, 0x1234);
    assert_eq!(p.timestamp, 320);
    assert_eq!(p.ssrc, 0xdead_beef);
    assert_eq!(p.payload.len(), 160);
    assert_eq!(p.csrc_count(), 0);
    assert!(p.extension.is_none());
}

#[test]
fn csrc_extension_and_padding_round_trip() {
    let csrcs = [0, 0, 0, 1, 0, 0, 0, 2];
    let ext = [1, 2, 3, 4];
    let p = RtpPacket {
        marker: false,
        payload_type: 0,
        sequence: 65535,
        timestamp: u32::MAX,
        ssrc: 42,
        csrcs: &csrcs,
        extension: Some(Extension {
            profile: 0xbede,
            data: &ext,
        }),
        payload: b"hello",
        padding: 3,
    };
    let mut out = [0u8; 64];
    let n = p.write(&mut out).unwrap();
    assert_eq!(n, 12 + 8 + 8 + 5 + 3);
    let q = RtpPacket::parse(&out[..n]).unwrap();
    assert_eq!(q, p);
    assert_eq!(q.csrc(1), Some(2));
    assert_eq!(q.csrc(2), None);
}

#[test]
fn rejects_bad_input_with_positions() {
    assert_eq!(
        RtpPacket::parse(&[0x80; 5]),
        Err(RtpError::Truncated { at: 5, need: 7 })
    );
    let mut v = sample();
    v[0] = 0x40;
    assert_eq!(
        RtpPacket::parse(&v),
        Err(RtpError::BadVersion { version: 1 })
    );
    // Two CSRCs announced, none present.
    let v = [0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
    assert_eq!(
        RtpPacket::parse(&v),
        Err(RtpError::Truncated { at: 14, need: 6 })
    );
    // Padding count larger than the body.
    let mut v = sample();
    v[0] |= 0x20;
    *v.last_mut().unwrap() = 200;
    assert_eq!(
        RtpPacket::parse(&v),
        Err(RtpError::BadPadding {
            at: 171,
            count: 200
        })
    );
    let mut v = sample();
    v[0] |= 0x20;
    *v.last_mut().unwrap() = 0;
    assert!(matches!(
        RtpPacket::parse(&v),
        Err(RtpError::BadPadding { count: 0, .. })
    ));
}

#[test]
fn write_rejects_small_buffer() {
    let buf = sample();
    let p = RtpPacket::parse(&buf).unwrap();
    let mut out = [0u8; 20];
    assert_eq!(
        p.write(&mut out),
        Err(RtpError::BufferTooSmall {
            have: 20,
            need: 172
        })
    );
}

#[test]
fn fixed_header_rewrite_in_place() {
    let mut buf = sample();
    let mut h = FixedHeader::read(&buf).unwrap();
    assert_eq!(h.sequence, 0x1234);
    h.payload_type = 0;
    h.sequence = 7;
    h.timestamp = 99;
    h.ssrc = 5;
    h.write_into(&mut buf).unwrap();
    let p = RtpPacket::parse(&buf).unwrap();
    assert_eq!(
        (p.payload_type, p.sequence, p.timestamp, p.ssrc, p.marker),
        (0, 7, 99, 5, true)
    );
    assert_eq!(p.payload, &[0xd5; 160][..]);
    assert!(FixedHeader::read(&buf[..11]).is_none());
}

#[test]
fn classifies_mux_traffic() {
    let rtp = sample();
    assert_eq!(classify(&rtp), PacketKind::Rtp);
    // RTCP SR: PT 200 in the second byte.
    assert_eq!(classify(&[0x80, 200, 0, 6, 0, 0, 0, 1]), PacketKind::Rtcp);
    assert_eq!(classify(&[0x81, 201, 0, 1]), PacketKind::Rtcp);
    // RTP with marker and PT 72..=95 would collide; RFC 5761 forbids those PTs, we call
    // them RTCP. PT 96 with marker (224) is RTP.
    let mut dyn_pt = sample();
    dyn_pt[1] = 0x80 | 96;
    assert_eq!(classify(&dyn_pt), PacketKind::Rtp);
    assert_eq!(classify(&[0, 1, 0, 0]), PacketKind::Stun);
    assert_eq!(classify(&[22, 254, 253]), PacketKind::Dtls);
    assert_eq!(classify(&[]), PacketKind::Unknown);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = RtpPacket::parse(&buf);
            let _ = classify(&buf);
        }

        #[test]
        fn write_then_parse_is_identity(
            marker: bool, pt in 0u8..128, seq: u16, ts: u32, ssrc: u32,
            ncsrc in 0usize..16, ext in proptest::option::of((any::<u16>(), 0usize..4)),
            payload in proptest::collection::vec(any::<u8>(), 0..64), padding: u8,
        ) {
            let csrcs = vec![0xab; ncsrc * 4];
            let ext_data = vec![0x11; ext.map_or(0, |e| e.1 * 4)];
            let p = RtpPacket {
                marker, payload_type: pt, sequence: seq, timestamp: ts, ssrc,
                csrcs: &csrcs,
                extension: ext.map(|(profile, _)| Extension { profile, data: &ext_data }),
                payload: &payload, padding,
            };
            let mut out = vec![0u8; p.len()];
            let n = p.write(&mut out).unwrap();
            prop_assert_eq!(n, out.len());
            prop_assert_eq!(RtpPacket::parse(&out).unwrap(), p);
        }
    }
}
