//! RFC 4733 receive/send, payload-type mapping and DTMF interworking between legs.

use std::time::Duration;

use switchyard_media::dtmf::generate::DtmfGenerator;
use switchyard_media::dtmf::inband::{DetectorConfig, DtmfDetector};
use switchyard_media::dtmf::info::{InfoContentType, parse_info};
use switchyard_media::dtmf::interwork::{
    DtmfDelivery, DtmfMode, DtmfSource, InbandDetection, LegDtmf, ReceivedDigit, deliver,
};
use switchyard_media::dtmf::rfc4733::{
    DtmfEvent, EventPayload, TelephoneEventReceiver, TelephoneEventSender,
};
use switchyard_media::dtmf::{DtmfDigit, DtmfError};

fn d(c: char) -> DtmfDigit {
    DtmfDigit::from_char(c).unwrap()
}

fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
    EventPayload {
        event,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

fn digits(rx: &mut TelephoneEventReceiver) -> String {
    let mut s = String::new();
    while let Some(ev) = rx.poll_event() {
        if let DtmfEvent::End { digit, .. } = ev {
            s.push(digit.to_char());
        }
    }
    s
}

#[test]
fn redundant_end_packets_make_one_digit() {
    let mut rx = TelephoneEventReceiver::new();
    let ts = 1000;
    rx.handle_packet(&pkt(5, false, 160), ts, true).unwrap();
    assert_eq!(
        rx.poll_event(),
        Some(DtmfEvent::Begin {
            digit: d('5'),
            timestamp: ts
        })
    );
    rx.handle_packet(&pkt(5, false, 320), ts, false).unwrap();
    assert!(rx.in_progress());
    for _ in 0..3 {
        rx.handle_packet(&pkt(5, true, 480), ts, false).unwrap();
    }
    assert_eq!(
        rx.poll_event(),
        Some(DtmfEvent::End {
            digit: d('5'),
            duration: 480,
            volume: 10
        })
    );
    assert_eq!(rx.poll_event(), None);
    // A late continuation of the same event changes nothing.
    rx.handle_packet(&pkt(5, false, 320), ts, false).unwrap();
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn same_digit_twice_is_two_events_by_timestamp() {
    let mut rx = TelephoneEventReceiver::new();
    for ts in [8000u32, 9600] {
        rx.handle_packet(&pkt(1, false, 160), ts, true).unwrap();
        rx.handle_packet(&pkt(1, true, 800), ts, false).unwrap();
        rx.handle_packet(&pkt(1, true, 800), ts, false).unwrap();
    }
    assert_eq!(digits(&mut rx), "11");
}

#[test]
fn lost_end_packets_end_the_event_when_the_next_starts() {
    let mut rx = TelephoneEventReceiver::new();
    rx.handle_packet(&pkt(2, false, 160), 100, true).unwrap();
    rx.handle_packet(&pkt(3, false, 160), 2000, true).unwrap();
    rx.handle_packet(&pkt(3, true, 640), 2000, false).unwrap();
    assert_eq!(digits(&mut rx), "23");
    // Lost start packet: only end packets arrive; still one digit.
    rx.handle_packet(&pkt(11, true, 800), 4000, false).unwrap();
    rx.handle_packet(&pkt(11, true, 800), 4000, false).unwrap();
    assert_eq!(digits(&mut rx), "#");
    // end_pending closes an event whose end never came, once.
    rx.handle_packet(&pkt(0, false, 160), 6000, true).unwrap();
    rx.end_pending();
    rx.end_pending();
    rx.handle_packet(&pkt(0, true, 800), 6000, false).unwrap();
    assert_eq!(digits(&mut rx), "0");
}

#[test]
fn packets_of_an_older_event_are_ignored_across_wrap() {
    let mut rx = TelephoneEventReceiver::new();
    let ts = u32::MAX - 100;
    rx.handle_packet(&pkt(4, true, 800), ts, true).unwrap();
    let newer = ts.wrapping_add(1600);
    rx.handle_packet(&pkt(6, true, 800), newer, true).unwrap();
    rx.handle_packet(&pkt(4, true, 800), ts, false).unwrap();
    assert_eq!(digits(&mut rx), "46");
}

#[test]
fn non_dtmf_events_and_short_payloads_are_errors() {
    let mut rx = TelephoneEventReceiver::new();
    assert_eq!(
        rx.handle_packet(&pkt(16, false, 160), 0, true),
        Err(DtmfError::UnsupportedEvent(16))
    );
    assert_eq!(
        rx.handle_packet(&[1, 2, 3], 0, true),
        Err(DtmfError::ShortPayload { len: 3 })
    );
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn sender_start_continuations_and_three_ends_with_held_timestamp() {
    let mut tx = TelephoneEventSender::new(160, 10);
    tx.start(d('7'), 5555, 800);
    let pkts: Vec<_> = std::iter::from_fn(|| tx.next_packet()).collect();
    // 160, 320, 480, 640 then 800 (end) x3.
    assert_eq!(pkts.len(), 7);
    assert!(pkts[0].marker);
    assert!(pkts[1..].iter().all(|p| !p.marker));
    assert!(pkts.iter().all(|p| p.timestamp == 5555));
    let parsed: Vec<_> = pkts
        .iter()
        .map(|p| EventPayload::parse(&p.payload).unwrap())
        .collect();
    let durs: Vec<u16> = parsed.iter().map(|p| p.duration).collect();
    assert_eq!(durs, [160, 320, 480, 640, 800, 800, 800]);
    let ends: Vec<bool> = parsed.iter().map(|p| p.end).collect();
    assert_eq!(ends, [false, false, false, false, true, true, true]);
    assert!(parsed.iter().all(|p| p.event == 7 && p.volume == 10));
    assert!(!tx.is_active());
    assert_eq!(tx.next_packet(), None);
}

#[test]
fn sender_output_received_as_exactly_one_digit_per_press() {
    let mut tx = TelephoneEventSender::new(160, 10);
    let mut rx = TelephoneEventReceiver::new();
    let mut ts = 0u32;
    for c in "1155#".chars() {
        tx.start(d(c), ts, 640);
        while let Some(p) = tx.next_packet() {
            rx.handle_packet(&p.payload, p.timestamp, p.marker).unwrap();
        }
        ts = ts.wrapping_add(1600);
    }
    assert_eq!(digits(&mut rx), "1155#");
}

#[test]
fn delivery_to_each_mode() {
    let from_info = ReceivedDigit {
        digit: d('5'),
        duration: Some(Duration::from_millis(160)),
        source: DtmfSource::SipInfo,
    };
    // To an RFC 4733 leg on payload type 96 at 8000 Hz: 160 ms = 1280 ticks.
    let leg = LegDtmf::new(DtmfMode::Rfc4733 {
        payload_type: 96,
        clock_rate: 8000,
    });
    match deliver(from_info, &leg) {
        DtmfDelivery::Rfc4733 {
            payload_type,
            digit,
            duration_ticks,
        } => {
            assert_eq!((payload_type, digit, duration_ticks), (96, d('5'), 1280));
        }
        other => panic!("{other:?}"),
    }
    // Opus-clocked telephone-event: 48 kHz ticks.
    let leg48 = LegDtmf::new(DtmfMode::Rfc4733 {
        payload_type: 101,
        clock_rate: 48_000,
    });
    assert!(matches!(
        deliver(from_info, &leg48),
        DtmfDelivery::Rfc4733 {
            duration_ticks: 7680,
            ..
        }
    ));
    // To a SIP INFO leg: a body that parses back to the same digit.
    let info_leg = LegDtmf::new(DtmfMode::SipInfo(InfoContentType::DtmfRelay));
    match deliver(from_info, &info_leg) {
        DtmfDelivery::SipInfo { content_type, body } => {
            let back = parse_info(content_type, body.as_bytes()).unwrap();
            assert_eq!(back.digit, d('5'));
            assert_eq!(back.duration, Some(Duration::from_millis(160)));
        }
        other => panic!("{other:?}"),
    }
    // To an in-band leg: tone samples the detector hears as the same digit.
    let inband = LegDtmf::new(DtmfMode::InBand { sample_rate: 8000 });
    let DtmfDelivery::InBand(mut gen_) = deliver(from_info, &inband) else {
        panic!("expected in-band delivery");
    };
    let mut det = DtmfDetector::new(DetectorConfig::default());
    let mut frame = [0i16; 160];
    let mut heard = String::new();
    while !gen_.is_done() {
        gen_.fill(&mut frame);
        det.feed(&frame);
    }
    det.feed(&[0; 800]);
    while let Some(x) = det.poll_digit() {
        heard.push(x.to_char());
    }
    assert_eq!(heard, "5");
}

#[test]
fn inband_detection_off_on_rfc4733_legs_unless_configured() {
    let mut leg = LegDtmf::new(DtmfMode::Rfc4733 {
        payload_type: 101,
        clock_rate: 8000,
    });
    assert!(!leg.detects_inband());
    leg.inband_detection = InbandDetection::Always;
    assert!(leg.detects_inband());
    assert!(LegDtmf::new(DtmfMode::InBand { sample_rate: 8000 }).detects_inband());
    assert!(LegDtmf::new(DtmfMode::SipInfo(InfoContentType::Dtmf)).detects_inband());
    let mut never = LegDtmf::new(DtmfMode::InBand { sample_rate: 8000 });
    never.inband_detection = InbandDetection::Never;
    assert!(!never.detects_inband());
}

#[test]
fn generator_output_matches_nominal_frequencies() {
    use switchyard_media::dtmf::goertzel::tone_amplitude;
    let mut g = DtmfGenerator::new(d('9'), 16_000, 1600, 0, 6000);
    let mut s = vec![0i16; 1600];
    assert_eq!(g.fill(&mut s), 1600);
    assert!(tone_amplitude(&s, 852.0, 16_000) > 5500.0);
    assert!(tone_amplitude(&s, 1477.0, 16_000) > 5500.0);
    assert!(tone_amplitude(&s, 941.0, 16_000) < 500.0);
    assert!(g.is_done());
}

#[test]
fn long_event_segments_stay_one_digit() {
    // An 8.5 s press at 8000 Hz: the first segment saturates at 65535 ticks, the second
    // starts at ts + 65535 (RFC 4733 §2.5.1.3).
    let mut rx = TelephoneEventReceiver::new();
    let ts = 10_000u32;
    for d in (160..=65_440u32).step_by(160) {
        rx.handle_packet(&pkt(0, false, d as u16), ts, d == 160)
            .unwrap();
    }
    rx.handle_packet(&pkt(0, false, 65_535), ts, false).unwrap();
    let ts2 = ts + 65_535;
    rx.handle_packet(&pkt(0, false, 160), ts2, false).unwrap();
    for _ in 0..3 {
        rx.handle_packet(&pkt(0, true, 2465), ts2, false).unwrap();
    }
    let events: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(
        events,
        [
            DtmfEvent::Begin {
                digit: d('0'),
                timestamp: ts
            },
            DtmfEvent::End {
                digit: d('0'),
                duration: 68_000,
                volume: 10
            },
        ]
    );
    // A short press of the same digit right after is a new digit.
    rx.handle_packet(&pkt(0, true, 800), ts2 + 4000, true)
        .unwrap();
    assert_eq!(digits(&mut rx), "0");
}
