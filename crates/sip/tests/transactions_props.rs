//! Property: whatever arrives in whatever order, the transaction layer never panics, and
//! once every TU question is answered, every transaction ends by its timers — none is
//! kept forever, no timer is lost.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchyard_sip::transaction::{
    TimerConfig, TransactionConfig, TransactionLayer, Transport, TsxEvent, TsxKey,
};
use switchyard_sip::{Message, Request, Response};

#[derive(Debug, Clone)]
enum Op {
    /// A request from the peer: method index, branch index (0 = RFC 2543 style).
    Receive {
        method: u8,
        branch: u8,
        to_tag: bool,
    },
    /// A response from the peer to one of our requests.
    Respond {
        which: u8,
        status: u16,
        tag: u8,
    },
    /// We send a request.
    Send {
        invite: bool,
        reliable: bool,
    },
    /// Our TU answers one of the pending server transactions.
    Answer {
        which: u8,
        status: u16,
    },
    Cancel {
        which: u8,
    },
    Advance {
        ms: u32,
    },
    TransportError {
        which: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 0u8..6, any::<bool>()).prop_map(|(method, branch, to_tag)| Op::Receive {
            method,
            branch,
            to_tag
        }),
        (
            any::<u8>(),
            prop::sample::select(vec![100u16, 180, 183, 200, 202, 302, 404, 486, 503]),
            0u8..3
        )
            .prop_map(|(which, status, tag)| Op::Respond { which, status, tag }),
        (any::<bool>(), any::<bool>()).prop_map(|(invite, reliable)| Op::Send { invite, reliable }),
        (
            any::<u8>(),
            prop::sample::select(vec![100u16, 180, 200, 404, 487])
        )
            .prop_map(|(which, status)| Op::Answer { which, status }),
        any::<u8>().prop_map(|which| Op::Cancel { which }),
        (0u32..40_000).prop_map(|ms| Op::Advance { ms }),
        any::<u8>().prop_map(|which| Op::TransportError { which }),
    ]
}

fn peer() -> SocketAddr {
    "192.0.2.7:5060".parse().unwrap()
}

fn parse_req(text: &str) -> Request {
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn incoming(method: u8, branch: u8, to_tag: bool) -> Request {
    let m = ["INVITE", "OPTIONS", "ACK", "CANCEL"][method as usize];
    let branch = if branch == 0 {
        String::new()
    } else {
        format!(";branch=z9hG4bKp{branch}")
    };
    let tag = if to_tag { ";tag=t1" } else { "" };
    parse_req(&format!(
        "{m} sip:us@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5060{branch}\r\n\
         To: <sip:us@example.com>{tag}\r\nFrom: <sip:peer@example.com>;tag=f\r\n\
         Call-ID: prop\r\nCSeq: 1 {m}\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn drain(l: &mut TransactionLayer, pending: &mut Vec<(TsxKey, Request)>) {
    while l.poll_transmit().is_some() {}
    while let Some(ev) = l.poll_event() {
        if let TsxEvent::Request { key, request, .. } = ev {
            pending.push((key, request));
        }
    }
}

fn answer(req: &Request, status: u16) -> Response {
    let mut r = Response::for_request(req, status, "X");
    r.headers.to_mut().unwrap().set_tag("t1");
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn every_transaction_ends_once_answered(ops in prop::collection::vec(op(), 1..60)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut l = TransactionLayer::new(TransactionConfig {
            timers: TimerConfig::default(),
            ..TransactionConfig::default()
        });
        let mut pending: Vec<(TsxKey, Request)> = Vec::new();
        let mut sent: Vec<(TsxKey, Request)> = Vec::new();
        for op in ops {
            match op {
                Op::Receive { method, branch, to_tag } => {
                    let req = incoming(method, branch, to_tag);
                    l.handle_receive(now, Message::Request(req), peer(), Transport::Udp);
                }
                Op::Respond { which, status, tag } => {
                    if let Some((_, req)) = sent.get(which as usize % sent.len().max(1)) {
                        let mut r = Response::for_request(req, status, "X");
                        r.headers.to_mut().unwrap().set_tag(&format!("r{tag}"));
                        l.handle_receive(now, Message::Response(r), peer(), Transport::Udp);
                    }
                }
                Op::Send { invite, reliable } => {
                    let b = l.new_branch();
                    let m = if invite { "INVITE" } else { "OPTIONS" };
                    let req = parse_req(&format!(
                        "{m} sip:peer@192.0.2.7 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={b}\r\n\
                         To: <sip:peer@example.com>\r\nFrom: <sip:us@example.com>;tag=u\r\n\
                         Call-ID: out\r\nCSeq: 1 {m}\r\nContent-Length: 0\r\n\r\n"
                    ));
                    let t = if reliable { Transport::Tcp } else { Transport::Udp };
                    let key = l.send_request(now, req.clone(), peer(), t).unwrap();
                    sent.push((key, req));
                }
                Op::Answer { which, status } => {
                    if !pending.is_empty() {
                        let (key, req) = &pending[which as usize % pending.len()];
                        let _ = l.send_response(now, key, answer(req, status));
                    }
                }
                Op::Cancel { which } => {
                    if !sent.is_empty() {
                        let (key, _) = &sent[which as usize % sent.len()];
                        let _ = l.cancel(now, key);
                    }
                }
                Op::Advance { ms } => {
                    now += Duration::from_millis(u64::from(ms));
                    l.handle_timeout(now);
                }
                Op::TransportError { which } => {
                    if !sent.is_empty() {
                        let (key, _) = &sent[which as usize % sent.len()];
                        l.handle_transport_error(now, key);
                    }
                }
            }
            drain(&mut l, &mut pending);
            if let Some(t) = l.poll_timeout() {
                prop_assert!(t >= t0, "deadline before the start");
            }
        }
        // Answer everything still open, on both sides, then let the timers run out.
        for (key, req) in pending.clone() {
            let _ = l.send_response(now, &key, answer(&req, 500));
        }
        for (key, req) in &sent {
            if l.has_client(key) {
                l.handle_receive(now, Message::Response(answer(req, 487)), peer(), Transport::Udp);
            }
        }
        // CANCELs the layer sent on its own (a pending cancel meeting a provisional) are
        // answered too.
        for (key, req) in &sent {
            let cancel_key = key.with_method(switchyard_sip::Method::Cancel);
            if l.has_client(&cancel_key) {
                let mut c = req.clone();
                c.method = switchyard_sip::Method::Cancel;
                c.headers.set("CSeq", "1 CANCEL");
                l.handle_receive(now, Message::Response(answer(&c, 200)), peer(), Transport::Udp);
            }
        }
        drain(&mut l, &mut pending);
        let mut steps = 0;
        while let Some(t) = l.poll_timeout() {
            prop_assert!(t >= now, "a deadline in the past was left behind");
            now = t;
            l.handle_timeout(now);
            drain(&mut l, &mut pending);
            steps += 1;
            prop_assert!(steps < 10_000, "timers never settle");
        }
        prop_assert!(l.is_empty(), "{} transactions left with no timer", l.len());
    }
}
