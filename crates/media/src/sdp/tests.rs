use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const PHONE_OFFER: &str = "v=0\r
o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r
s=-\r
c=IN IP4 192.0.2.10\r
b=AS:64\r
t=0 0\r
a=tool:softphone\r
m=audio 49170 RTP/AVP 8 0 96 101\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:96 opus/48000/2\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=ptime:30\r
a=x-unknown:keep me\r
m=video 51372 RTP/AVP 31\r
a=rtpmap:31 H261/90000\r
";

fn local4() -> LocalMedia {
    LocalMedia {
        address: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        port: 30000,
        direction: Direction::SendRecv,
    }
}

fn session() -> SdpSession {
    SdpSession::new(SdpConfig::default())
}

#[test]
fn parses_and_keeps_unknown_lines() {
    let sdp = SessionDescription::parse(PHONE_OFFER).unwrap();
    assert_eq!(sdp.origin.session_id, 2890844526);
    assert_eq!(sdp.media.len(), 2);
    assert_eq!(sdp.media[0].formats, ["8", "0", "96", "101"]);
    assert_eq!(
        sdp.media[0]
            .attribute("x-unknown")
            .unwrap()
            .value
            .as_deref(),
        Some("keep me")
    );
    assert!(
        sdp.other
            .iter()
            .any(|l| l.kind == 'b' && l.value == "AS:64")
    );
    // Printing gives the same text back, byte for byte.
    assert_eq!(sdp.to_string(), PHONE_OFFER);
}

#[test]
fn accepts_lf_line_ends_and_trailing_blank_lines() {
    let lf = PHONE_OFFER.replace("\r\n", "\n") + "\n\n";
    assert_eq!(
        SessionDescription::parse(&lf).unwrap(),
        SessionDescription::parse(PHONE_OFFER).unwrap()
    );
}

#[test]
fn parse_errors_name_the_line() {
    let bad = "v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio xx RTP/AVP 0\r\n";
    assert_eq!(
        SessionDescription::parse(bad),
        Err(SdpError::Malformed {
            line: 4,
            what: "media (m=)"
        })
    );
    assert_eq!(
        SessionDescription::parse("v=0\r\nnonsense\r\n"),
        Err(SdpError::NotTypeValue { line: 2 })
    );
    assert_eq!(
        SessionDescription::parse("v=0\r\ns=x\r\n"),
        Err(SdpError::Missing("o="))
    );
    assert!(matches!(
        SessionDescription::parse("v=0\r\no=a 1 x IN IP4 h\r\n"),
        Err(SdpError::Malformed { line: 2, .. })
    ));
}

#[test]
fn answer_picks_offerers_first_common_codec_and_matching_telephone_event() {
    let offer = SessionDescription::parse(PHONE_OFFER).unwrap();
    let (answer, neg) = session().create_answer(&offer, &local4()).unwrap();
    assert_eq!(neg.codec, CodecDescriptor::PCMA);
    assert_eq!((neg.send_pt, neg.recv_pt), (8, 8));
    assert_eq!(neg.send_dtmf_pt, Some(101));
    assert_eq!(neg.ptime_ms, 30);
    assert_eq!(neg.remote_rtp, Some("192.0.2.10:49170".parse().unwrap()));
    assert_eq!(neg.remote_rtcp, Some("192.0.2.10:49171".parse().unwrap()));
    assert!(!neg.rtcp_mux);
    let m = &answer.media[0];
    assert_eq!(m.formats, ["8", "101"]);
    assert_eq!(m.port, 30000);
    assert_eq!(
        m.attribute("fmtp").unwrap().value.as_deref(),
        Some("101 0-15")
    );
    assert!(m.has_attribute("sendrecv"));
    assert!(!m.has_attribute("rtcp-mux"));
    assert_eq!(answer.connection.as_ref().unwrap().address, "198.51.100.1");
}

#[test]
fn video_is_rejected_with_port_zero_in_order() {
    let offer = SessionDescription::parse(PHONE_OFFER).unwrap();
    let (answer, _) = session().create_answer(&offer, &local4()).unwrap();
    assert_eq!(answer.media.len(), 2);
    assert_eq!(answer.media[1].media, "video");
    assert_eq!(answer.media[1].port, 0);
    // The answer parses back to itself.
    assert_eq!(
        SessionDescription::parse(&answer.to_string()).unwrap(),
        answer
    );
}

#[test]
fn audio_line_without_common_codec_is_rejected_and_next_one_used() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n\
        m=audio 4002 RTP/AVP 0\r\n";
    let offer = SessionDescription::parse(text).unwrap();
    let (answer, neg) = session().create_answer(&offer, &local4()).unwrap();
    assert_eq!(answer.media[0].port, 0);
    assert_eq!(answer.media[1].port, 30000);
    assert_eq!(neg.mline, 1);
    assert_eq!(neg.codec, CodecDescriptor::PCMU);
    // Static PT 0 without rtpmap is PCMU; no telephone-event offered.
    assert_eq!(neg.send_dtmf_pt, None);
}

#[test]
fn no_acceptable_audio_is_an_error() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 18\r\nm=video 4002 RTP/AVP 31\r\n";
    let offer = SessionDescription::parse(text).unwrap();
    assert_eq!(
        session().create_answer(&offer, &local4()).unwrap_err(),
        NegotiationError::NoAcceptableAudio
    );
}

#[test]
fn telephone_event_rate_must_match_codec_clock() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0 100 101\r\na=rtpmap:100 telephone-event/48000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n";
    let offer = SessionDescription::parse(text).unwrap();
    let (_, neg) = session().create_answer(&offer, &local4()).unwrap();
    assert_eq!(neg.send_dtmf_pt, Some(101));
    let only48 = text.replace("a=rtpmap:101 telephone-event/8000\r\n", "");
    let offer = SessionDescription::parse(&only48).unwrap();
    let (answer, neg) = session().create_answer(&offer, &local4()).unwrap();
    assert_eq!(neg.send_dtmf_pt, None);
    assert_eq!(answer.media[0].formats, ["0"]);
}

#[test]
fn directions_are_reversed_and_intersected() {
    let cases = [
        ("sendonly", Direction::SendRecv, Direction::RecvOnly, true),
        ("recvonly", Direction::SendRecv, Direction::SendOnly, false),
        ("inactive", Direction::SendRecv, Direction::Inactive, true),
        ("sendrecv", Direction::SendOnly, Direction::SendOnly, false),
        ("sendrecv", Direction::SendRecv, Direction::SendRecv, false),
    ];
    for (attr, ours, expect, hold) in cases {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 0\r\na={attr}\r\n"
        );
        let offer = SessionDescription::parse(&text).unwrap();
        let local = LocalMedia {
            direction: ours,
            ..local4()
        };
        let (answer, neg) = session().create_answer(&offer, &local).unwrap();
        assert_eq!(neg.direction, expect, "offer {attr}");
        assert_eq!(neg.remote_hold, hold, "offer {attr}");
        assert!(answer.media[0].has_attribute(expect.as_str()));
    }
}

#[test]
fn zero_address_is_hold() {
    let text = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0\r\n";
    let offer = SessionDescription::parse(text).unwrap();
    let (answer, neg) = session().create_answer(&offer, &local4()).unwrap();
    assert!(neg.remote_hold);
    assert_eq!(neg.remote_rtp, None);
    assert_eq!(neg.direction, Direction::RecvOnly);
    assert!(!neg.expects_media());
    assert!(answer.media[0].has_attribute("recvonly"));
}

#[test]
fn ipv6_offer_and_answer() {
    let text = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0\r\na=rtcp-mux\r\n";
    let offer = SessionDescription::parse(text).unwrap();
    let local = LocalMedia {
        address: IpAddr::V6(Ipv6Addr::LOCALHOST),
        ..local4()
    };
    let (answer, neg) = session().create_answer(&offer, &local).unwrap();
    assert_eq!(neg.remote_rtp, Some("[2001:db8::1]:4000".parse().unwrap()));
    assert!(neg.rtcp_mux);
    assert_eq!(neg.remote_rtcp, neg.remote_rtp);
    assert_eq!(answer.connection.as_ref().unwrap().addr_type, "IP6");
    assert_eq!(answer.origin.addr_type, "IP6");
    assert!(answer.to_string().contains("c=IN IP6 ::1\r\n"));
    assert!(answer.media[0].has_attribute("rtcp-mux"));
}

#[test]
fn offer_lists_codecs_and_one_telephone_event_per_clock_rate() {
    let mut s = SdpSession::new(SdpConfig {
        codecs: vec![
            CodecDescriptor::OPUS,
            CodecDescriptor::PCMU,
            CodecDescriptor::G722,
        ],
        ..SdpConfig::default()
    });
    let offer = s.create_offer(&local4());
    let m = &offer.media[0];
    assert_eq!(m.formats, ["96", "0", "9", "101", "97"]);
    let maps: Vec<_> = m
        .attributes
        .iter()
        .filter(|a| a.name == "rtpmap")
        .map(|a| a.value.clone().unwrap())
        .collect();
    assert_eq!(
        maps,
        [
            "96 opus/48000/2",
            "0 PCMU/8000",
            "9 G722/8000",
            "101 telephone-event/48000",
            "97 telephone-event/8000"
        ]
    );
    assert!(m.has_attribute("rtcp-mux"));
    assert!(offer.to_string().starts_with("v=0\r\no=switchyard 1 0 IN IP4 198.51.100.1\r\ns=switchyard\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP"));
}

#[test]
fn answer_to_our_offer_maps_payload_types_per_direction() {
    let mut s = session();
    s.create_offer(&local4());
    // The peer answers with PCMA and telephone-event on 96.
    let text = "v=0\r\no=- 5 5 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
        m=audio 5004 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=ptime:20\r\n";
    let neg = s
        .apply_answer(&SessionDescription::parse(text).unwrap())
        .unwrap();
    assert_eq!(neg.codec, CodecDescriptor::PCMA);
    assert_eq!((neg.send_pt, neg.recv_pt), (8, 8));
    assert_eq!((neg.send_dtmf_pt, neg.recv_dtmf_pt), (Some(96), Some(101)));
    assert_eq!(neg.remote_rtp, Some("192.0.2.7:5004".parse().unwrap()));
    assert_eq!(neg.direction, Direction::SendRecv);
    // No second answer for the same offer.
    assert!(matches!(
        s.apply_answer(&SessionDescription::parse(text).unwrap()),
        Err(NegotiationError::Mismatch(_))
    ));
}

#[test]
fn rejected_answer_is_an_error() {
    let mut s = session();
    s.create_offer(&local4());
    let text = "v=0\r\no=- 5 5 IN IP4 192.0.2.7\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(
        s.apply_answer(&SessionDescription::parse(text).unwrap()),
        Err(NegotiationError::Rejected)
    );
}

#[test]
fn version_increments_only_when_the_description_changes() {
    let mut s = session();
    let first = s.create_offer(&local4());
    let same = s.create_offer(&local4());
    assert_eq!(same.origin.session_version, first.origin.session_version);
    let hold = s.create_offer(&LocalMedia {
        direction: Direction::SendOnly,
        ..local4()
    });
    assert_eq!(
        hold.origin.session_version,
        first.origin.session_version + 1
    );
    assert!(hold.media[0].has_attribute("sendonly"));
    let resume = s.create_offer(&local4());
    assert_eq!(
        resume.origin.session_version,
        first.origin.session_version + 2
    );
}

#[test]
fn re_offer_keeps_the_peers_m_lines() {
    let mut s = session();
    let offer = SessionDescription::parse(PHONE_OFFER).unwrap();
    s.create_answer(&offer, &local4()).unwrap();
    let re = s.create_offer(&LocalMedia {
        direction: Direction::SendOnly,
        ..local4()
    });
    assert_eq!(re.media.len(), 2);
    assert_eq!(re.media[0].media, "audio");
    assert_eq!(re.media[1].media, "video");
    assert_eq!(re.media[1].port, 0);
    assert_eq!(re.origin.session_version, 1);
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.+-]{1,12}"
}

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,20}".prop_map(|s| s.trim().to_string())
}

fn arb_attr() -> impl Strategy<Value = Attribute> {
    ("[a-z-]{1,10}", proptest::option::of("[ -~]{0,20}"))
        .prop_map(|(name, value)| Attribute { name, value })
}

fn arb_conn() -> impl Strategy<Value = Connection> {
    (token(), token(), token()).prop_map(|(n, a, addr)| Connection {
        net_type: n,
        addr_type: a,
        address: addr,
    })
}

fn arb_other(letters: &'static str) -> impl Strategy<Value = OtherLine> {
    let kinds: Vec<char> = letters.chars().collect();
    (proptest::sample::select(kinds), "[ -~]{1,20}")
        .prop_map(|(kind, value)| OtherLine { kind, value })
}

fn arb_media() -> impl Strategy<Value = MediaDescription> {
    (
        token(),
        any::<u16>(),
        proptest::option::of(1u16..9),
        token(),
        proptest::collection::vec(token(), 0..5),
        proptest::option::of(arb_conn()),
        proptest::collection::vec(arb_other("ibk"), 0..3),
        proptest::collection::vec(arb_attr(), 0..6),
    )
        .prop_map(
            |(media, port, port_count, proto, formats, connection, mut other, attributes)| {
                // Print order groups lines by type; generate them already grouped.
                other.sort_by_key(|l| "ibk".find(l.kind));
                MediaDescription {
                    media,
                    port,
                    port_count,
                    proto,
                    formats,
                    connection,
                    other,
                    attributes,
                }
            },
        )
}

fn arb_sdp() -> impl Strategy<Value = SessionDescription> {
    (
        (
            token(),
            any::<u64>(),
            any::<u64>(),
            token(),
            token(),
            token(),
        ),
        text(),
        proptest::option::of(arb_conn()),
        proptest::collection::vec(arb_other("iuepbtrzkq"), 0..5),
        proptest::collection::vec(arb_attr(), 0..4),
        proptest::collection::vec(arb_media(), 0..3),
    )
        .prop_map(
            |(o, session_name, connection, mut other, attributes, media)| {
                other.sort_by_key(|l| "iuepcbtrzk".find(l.kind).unwrap_or(99));
                SessionDescription {
                    version: 0,
                    origin: Origin {
                        username: o.0,
                        session_id: o.1,
                        session_version: o.2,
                        net_type: o.3,
                        addr_type: o.4,
                        address: o.5,
                    },
                    session_name,
                    connection,
                    other,
                    attributes,
                    media,
                }
            },
        )
}

proptest! {
    #[test]
    fn parse_print_round_trip(sdp in arb_sdp()) {
        let text = sdp.to_string();
        prop_assert_eq!(SessionDescription::parse(&text).unwrap(), sdp);
    }

    #[test]
    fn parse_never_panics(s in "[ -~\r\n]{0,300}") {
        let _ = SessionDescription::parse(&s);
    }

    #[test]
    fn answer_to_any_parsed_offer_never_panics(sdp in arb_sdp()) {
        let _ = session().create_answer(&sdp, &local4());
    }
}
