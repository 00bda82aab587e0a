use super::*;
use proptest::prelude::*;

fn block(ssrc: u32, lost: i32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 25,
        cumulative_lost: lost,
        extended_highest_seq: 0x0001_0005,
        jitter: 80,
        last_sr: 0x1111_2222,
        delay_since_last_sr: 65536,
    }
}

#[test]
fn compound_sr_sdes_bye_round_trip() {
    let pkts = vec![
        RtcpPacket::SenderReport {
            ssrc: 1,
            info: SenderInfo {
                ntp: ntp_timestamp(Duration::from_secs(1_700_000_000)),
                rtp_timestamp: 160,
                packet_count: 10,
                octet_count: 1600,
            },
            reports: vec![block(2, -3), block(3, 7)],
        },
        RtcpPacket::SourceDescription(vec![SdesChunk::cname(1, "switchyard@host")]),
        RtcpPacket::Goodbye {
            ssrcs: vec![1],
            reason: Some(b"hangup".to_vec()),
        },
    ];
    let mut buf = Vec::new();
    write_compound(&pkts, &mut buf);
    assert_eq!(buf.len() % 4, 0);
    assert_eq!(parse_compound(&buf).unwrap(), pkts);
    // The SR header: version 2, RC 2, PT 200, (4 + 24 + 2 * 24) / 4 - 1 = 18 words.
    assert_eq!(&buf[..4], &[0x82, 200, 0, 18]);
}

#[test]
fn negative_cumulative_lost_sign_extends() {
    let mut buf = Vec::new();
    RtcpPacket::ReceiverReport {
        ssrc: 9,
        reports: vec![block(4, -1)],
    }
    .write(&mut buf);
    assert_eq!(&buf[12..16], &[25, 0xff, 0xff, 0xff]);
    match &parse_compound(&buf).unwrap()[0] {
        RtcpPacket::ReceiverReport { reports, .. } => assert_eq!(reports[0].cumulative_lost, -1),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn parses_foreign_sdes_with_several_items() {
    // SDES, 1 chunk: CNAME "ab", NAME "x", end, pad.
    let buf = [0x81, 202, 0, 3, 0, 0, 0, 5, 1, 2, b'a', b'b', 2, 1, b'x', 0];
    let p = parse_compound(&buf).unwrap();
    assert_eq!(
        p,
        vec![RtcpPacket::SourceDescription(vec![SdesChunk {
            ssrc: 5,
            items: vec![
                SdesItem {
                    kind: 1,
                    value: b"ab".to_vec()
                },
                SdesItem {
                    kind: 2,
                    value: b"x".to_vec()
                },
            ],
        }])]
    );
}

#[test]
fn errors_carry_positions() {
    assert_eq!(parse_compound(&[]), Err(RtcpError::Empty));
    assert_eq!(
        parse_compound(&[0x40, 200, 0, 0]),
        Err(RtcpError::BadVersion { at: 0, version: 1 })
    );
    // Length says 7 words, only 2 present.
    assert_eq!(
        parse_compound(&[0x80, 200, 0, 6, 0, 0, 0, 1]),
        Err(RtcpError::Truncated { at: 8, need: 20 })
    );
    // RR announcing one block with none present.
    assert_eq!(
        parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
        Err(RtcpError::Malformed {
            at: 8,
            what: "report block count"
        })
    );
    // Second packet of a compound has a bad version.
    let mut buf = Vec::new();
    RtcpPacket::ReceiverReport {
        ssrc: 1,
        reports: vec![],
    }
    .write(&mut buf);
    buf.extend_from_slice(&[0x00, 203, 0, 0]);
    assert_eq!(
        parse_compound(&buf),
        Err(RtcpError::BadVersion { at: 8, version: 0 })
    );
}

#[test]
fn padding_bit_strips_padding() {
    // RR with no blocks, padded by 4 bytes (P bit set, last byte = 4).
    let buf = [0xa0, 201, 0, 2, 0, 0, 0, 7, 0, 0, 0, 4];
    assert_eq!(
        parse_compound(&buf).unwrap(),
        vec![RtcpPacket::ReceiverReport {
            ssrc: 7,
            reports: vec![]
        }]
    );
}

#[test]
fn ntp_conversion() {
    let t = ntp_timestamp(Duration::new(0, 500_000_000));
    assert_eq!(t >> 32, 2_208_988_800);
    assert_eq!(t as u32, 0x8000_0000);
}

fn arb_block() -> impl Strategy<Value = ReportBlock> + Clone {
    (
        any::<u32>(),
        any::<u8>(),
        -0x80_0000i32..0x80_0000,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(ssrc, f, l, e, j, lsr, dlsr)| ReportBlock {
            ssrc,
            fraction_lost: f,
            cumulative_lost: l,
            extended_highest_seq: e,
            jitter: j,
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        })
}

fn arb_packet() -> impl Strategy<Value = RtcpPacket> {
    let blocks = proptest::collection::vec(arb_block(), 0..4);
    prop_oneof![
        (any::<u32>(), any::<u64>(), any::<u32>(), blocks.clone()).prop_map(
            |(ssrc, ntp, ts, reports)| RtcpPacket::SenderReport {
                ssrc,
                info: SenderInfo {
                    ntp,
                    rtp_timestamp: ts,
                    packet_count: 1,
                    octet_count: 2
                },
                reports
            }
        ),
        (any::<u32>(), blocks)
            .prop_map(|(ssrc, reports)| RtcpPacket::ReceiverReport { ssrc, reports }),
        proptest::collection::vec((any::<u32>(), "[a-z@.]{1,20}"), 0..3).prop_map(|c| {
            RtcpPacket::SourceDescription(
                c.into_iter()
                    .map(|(s, n)| SdesChunk::cname(s, &n))
                    .collect(),
            )
        }),
        (
            proptest::collection::vec(any::<u32>(), 0..4),
            proptest::option::of(proptest::collection::vec(1u8..255, 1..20))
        )
            .prop_map(|(ssrcs, reason)| RtcpPacket::Goodbye { ssrcs, reason }),
        (
            205u8..=207,
            0u8..32,
            proptest::collection::vec(any::<u8>(), 0..3)
        )
            .prop_map(|(pt, count, words)| RtcpPacket::Other {
                packet_type: pt,
                count,
                body: words.iter().flat_map(|w| [*w; 4]).collect()
            }),
    ]
}

proptest! {
    #[test]
    fn compound_round_trip(pkts in proptest::collection::vec(arb_packet(), 1..5)) {
        let mut buf = Vec::new();
        write_compound(&pkts, &mut buf);
        prop_assert_eq!(parse_compound(&buf).unwrap(), pkts);
    }

    #[test]
    fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = parse_compound(&buf);
    }
}
