//! Property tests: DTMF parsers and the telephone-event receiver never panic on arbitrary
//! input, and never report a digit twice for one event.

use proptest::prelude::*;
use switchyard_media::dtmf::info::{parse_dtmf, parse_dtmf_relay, parse_info};
use switchyard_media::dtmf::rfc4733::{DtmfEvent, EventPayload, TelephoneEventReceiver};

proptest! {
    #[test]
    fn info_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64), ct in "[a-z/;= -]{0,30}") {
        let _ = parse_dtmf_relay(&body);
        let _ = parse_dtmf(&body);
        let _ = parse_info(&ct, &body);
    }

    #[test]
    fn relay_text_round_trips(sig in "[0-9*#A-D]", dur in 0u32..100_000) {
        let body = format!("Signal={sig}\r\nDuration={dur}\r\n");
        let got = parse_dtmf_relay(body.as_bytes()).unwrap();
        prop_assert_eq!(got.digit.to_char().to_string(), sig);
        prop_assert_eq!(got.duration.unwrap().as_millis(), u128::from(dur));
    }

    #[test]
    fn receiver_reports_each_event_at_most_once(
        pkts in proptest::collection::vec((any::<[u8; 4]>(), 0u32..8, any::<bool>()), 0..200)
    ) {
        let mut rx = TelephoneEventReceiver::new();
        let mut ended = std::collections::HashSet::new();
        let mut current = None;
        for (bytes, ts_slot, marker) in pkts {
            let _ = EventPayload::parse(&bytes);
            let _ = rx.handle_packet(&bytes, ts_slot * 1000, marker);
            while let Some(ev) = rx.poll_event() {
                match ev {
                    DtmfEvent::Begin { timestamp, .. } => current = Some(timestamp),
                    DtmfEvent::End { .. } => {
                        let ts = current.expect("an end follows its begin");
                        prop_assert!(ended.insert(ts), "event at {} reported twice", ts);
                    }
                }
            }
        }
    }
}
