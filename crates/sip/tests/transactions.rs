//! Transaction timers and matching (RFC 3261 §17, RFC 6026), on simulated time: the clock
//! jumps straight to the layer's next deadline, so Timer B's 32 s run in microseconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_sip::transaction::{
    TimerName, TransactionConfig, TransactionLayer, Transmit, Transport, TsxEvent, TsxKey,
};
use switchyard_sip::{Message, Method, Request, Response};

fn uac_addr() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}
fn uas_addr() -> SocketAddr {
    "192.0.2.2:5060".parse().unwrap()
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(TransactionConfig::default())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request_with_via(method: &str, via: &str, cseq: u32, call_id: &str) -> Request {
    let text = format!(
        "{method} sip:bob@192.0.2.2 SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:bob@example.com>\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@192.0.2.1>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn request(method: &str, branch: &str, cseq: u32) -> Request {
    request_with_via(
        method,
        &format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
        cseq,
        "call-1",
    )
}

fn response_to(req: &Request, status: u16, to_tag: Option<&str>) -> Response {
    let mut r = Response::for_request(req, status, "Reason");
    if let Some(tag) = to_tag {
        r.headers.to_mut().unwrap().set_tag(tag);
    }
    r
}

fn msg(r: impl Into<Message>) -> Message {
    r.into()
}

/// What a layer did at a point of simulated time.
#[derive(Debug, PartialEq)]
enum Out {
    /// First line of a transmitted message.
    Tx(String),
    Timeout(TimerName),
    Other(String),
}

fn first_line(t: &Transmit) -> String {
    let s = String::from_utf8_lossy(&t.payload);
    s.lines().next().unwrap_or_default().to_owned()
}

fn drain(layer: &mut TransactionLayer) -> (Vec<Transmit>, Vec<TsxEvent>) {
    let mut tx = Vec::new();
    while let Some(t) = layer.poll_transmit() {
        tx.push(t);
    }
    let mut ev = Vec::new();
    while let Some(e) = layer.poll_event() {
        ev.push(e);
    }
    (tx, ev)
}

/// Jumps the clock from deadline to deadline up to `t0 + until`, logging what happens.
fn run(layer: &mut TransactionLayer, t0: Instant, until: Duration) -> Vec<(Duration, Out)> {
    let mut log = Vec::new();
    while let Some(at) = layer.poll_timeout() {
        if at > t0 + until {
            break;
        }
        layer.handle_timeout(at);
        let (tx, ev) = drain(layer);
        for t in tx {
            log.push((at - t0, Out::Tx(first_line(&t))));
        }
        for e in ev {
            let out = match e {
                TsxEvent::Timeout { timer, .. } => Out::Timeout(timer),
                other => Out::Other(format!("{other:?}")),
            };
            log.push((at - t0, out));
        }
    }
    log
}

fn tx_times(log: &[(Duration, Out)]) -> Vec<Duration> {
    log.iter()
        .filter(|(_, o)| matches!(o, Out::Tx(_)))
        .map(|(t, _)| *t)
        .collect()
}

fn secs_f(v: &[f64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

/// Receives `req` on a server layer and returns its key (the `Request` event).
fn receive_new(layer: &mut TransactionLayer, now: Instant, req: Request) -> TsxKey {
    layer.handle_receive(now, msg(req), uac_addr(), Transport::Udp);
    let (_, ev) = drain(layer);
    match ev.as_slice() {
        [TsxEvent::Request { key, .. }] => key.clone(),
        other => panic!("expected one Request event, got {other:?}"),
    }
}

#[test]
fn timer_b_fires_at_64_t1_after_timer_a_doubling() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(
            t0,
            request("INVITE", "z9hG4bKb1", 1),
            uas_addr(),
            Transport::Udp,
        )
        .unwrap();
    let (tx, _) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].destination, uas_addr());
    let log = run(&mut l, t0, Duration::from_secs(100));
    // Timer A: T1, then doubling without a cap: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5.
    assert_eq!(tx_times(&log), secs_f(&[0.5, 1.5, 3.5, 7.5, 15.5, 31.5]));
    assert!(log.iter().all(|(_, o)| match o {
        Out::Tx(line) => line.starts_with("INVITE "),
        _ => true,
    }));
    let timeouts: Vec<_> = log
        .iter()
        .filter(|(_, o)| matches!(o, Out::Timeout(_)))
        .collect();
    assert_eq!(
        timeouts,
        vec![&(Duration::from_secs(32), Out::Timeout(TimerName::B))]
    );
    assert!(!l.has_client(&key));
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn timer_b_scales_with_t1_and_reliable_transports_do_not_retransmit() {
    let mut cfg = TransactionConfig::default();
    cfg.timers.t1 = ms(100);
    let mut l = TransactionLayer::new(cfg);
    let t0 = Instant::now();
    l.send_request(
        t0,
        request("INVITE", "z9hG4bKb2", 1),
        uas_addr(),
        Transport::Tcp,
    )
    .unwrap();
    drain(&mut l);
    let log = run(&mut l, t0, Duration::from_secs(100));
    assert_eq!(log, vec![(ms(6400), Out::Timeout(TimerName::B))]);
}

#[test]
fn timer_e_doubles_up_to_t2_and_timer_f_times_out() {
    let mut l = layer();
    let t0 = Instant::now();
    l.send_request(
        t0,
        request("OPTIONS", "z9hG4bKe1", 1),
        uas_addr(),
        Transport::Udp,
    )
    .unwrap();
    drain(&mut l);
    let log = run(&mut l, t0, Duration::from_secs(100));
    assert_eq!(
        tx_times(&log),
        secs_f(&[0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert_eq!(
        log.last().unwrap(),
        &(Duration::from_secs(32), Out::Timeout(TimerName::F))
    );
}

#[test]
fn timer_e_is_t2_once_proceeding() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKe2", 1);
    l.send_request(t0, req.clone(), uas_addr(), Transport::Udp)
        .unwrap();
    drain(&mut l);
    l.handle_receive(
        t0 + ms(200),
        msg(response_to(&req, 100, None)),
        uas_addr(),
        Transport::Udp,
    );
    let (_, ev) = drain(&mut l);
    assert!(matches!(&ev[..], [TsxEvent::Response { response, .. }] if response.status == 100));
    let log = run(&mut l, t0, Duration::from_secs(100));
    assert_eq!(
        tx_times(&log),
        secs_f(&[0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5])
    );
    assert_eq!(
        log.last().unwrap(),
        &(Duration::from_secs(32), Out::Timeout(TimerName::F))
    );
}

#[test]
fn timer_k_absorbs_final_retransmissions_then_ends() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKk1", 1);
    let key = l
        .send_request(t0, req.clone(), uas_addr(), Transport::Udp)
        .unwrap();
    drain(&mut l);
    let ok = response_to(&req, 200, Some("b1"));
    l.handle_receive(t0 + ms(100), msg(ok.clone()), uas_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(tx.is_empty());
    assert_eq!(ev.len(), 1);
    l.handle_receive(t0 + ms(1000), msg(ok), uas_addr(), Transport::Udp);
    assert_eq!(
        drain(&mut l),
        (vec![], vec![]),
        "retransmitted 200 absorbed"
    );
    assert!(l.has_client(&key));
    // Timer K = T4 = 5 s after the final response; no retransmission in Completed.
    let log = run(&mut l, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "{log:?}");
    assert!(!l.has_client(&key));
    assert_eq!(l.poll_timeout(), None);

    // Over TCP, Timer K is zero: the transaction ends with the final response.
    let mut l = layer();
    let req = request("OPTIONS", "z9hG4bKk2", 1);
    let key = l
        .send_request(t0, req.clone(), uas_addr(), Transport::Tcp)
        .unwrap();
    l.handle_receive(
        t0,
        msg(response_to(&req, 200, Some("b"))),
        uas_addr(),
        Transport::Tcp,
    );
    assert!(!l.has_client(&key));
}

#[test]
fn timer_k_duration_is_t4() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKk3", 1);
    l.send_request(t0, req.clone(), uas_addr(), Transport::Udp)
        .unwrap();
    l.handle_receive(
        t0 + ms(100),
        msg(response_to(&req, 404, Some("b"))),
        uas_addr(),
        Transport::Udp,
    );
    assert_eq!(l.poll_timeout(), Some(t0 + ms(5100)));
}

#[test]
fn timer_d_acks_non_2xx_and_absorbs_its_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKd1", 7);
    let key = l
        .send_request(t0, inv.clone(), uas_addr(), Transport::Udp)
        .unwrap();
    drain(&mut l);
    let busy = response_to(&inv, 486, Some("callee"));
    l.handle_receive(t0 + ms(100), msg(busy.clone()), uas_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(
        matches!(&ev[..], [TsxEvent::Response { key: k, response }] if *k == key && response.status == 486)
    );
    assert_eq!(tx.len(), 1);
    let Message::Request(ack) = Message::parse(&tx[0].payload).unwrap() else {
        panic!("ACK expected")
    };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, inv.uri);
    assert_eq!(ack.headers.cseq().unwrap().seq, 7);
    assert_eq!(ack.headers.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.headers.to().unwrap().tag(), Some("callee"));
    assert_eq!(
        ack.headers.top_via().unwrap().branch(),
        Some("z9hG4bKd1"),
        "the non-2xx ACK is part of the INVITE transaction"
    );
    // A retransmitted 486 is answered with the ACK again, without a second event.
    l.handle_receive(t0 + ms(2000), msg(busy), uas_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    assert!(first_line(&tx[0]).starts_with("ACK "));
    assert!(ev.is_empty());
    // Timer D: 32 s.
    assert_eq!(l.poll_timeout(), Some(t0 + ms(32_100)));
    assert!(run(&mut l, t0, Duration::from_secs(100)).is_empty());
    assert!(!l.has_client(&key));
}

#[test]
fn timer_m_passes_each_2xx_once_and_resends_the_tu_ack() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKm1", 1);
    let key = l
        .send_request(t0, inv.clone(), uas_addr(), Transport::Udp)
        .unwrap();
    drain(&mut l);
    let ok = response_to(&inv, 200, Some("x"));
    l.handle_receive(t0 + ms(100), msg(ok.clone()), uas_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(tx.is_empty(), "the transaction never ACKs a 2xx itself");
    assert_eq!(ev.len(), 1);
    // Retransmitted before the TU acknowledged: absorbed.
    l.handle_receive(t0 + ms(600), msg(ok.clone()), uas_addr(), Transport::Udp);
    assert_eq!(drain(&mut l), (vec![], vec![]));
    // The TU ACKs; a later retransmission of that 2xx gets the same ACK again.
    let ack = request("ACK", "z9hG4bKack1", 1);
    let mut ack = ack;
    ack.headers.to_mut().unwrap().set_tag("x");
    l.send_ack(t0 + ms(700), &key, ack, uas_addr(), Transport::Udp);
    let (tx, _) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    l.handle_receive(t0 + ms(1600), msg(ok), uas_addr(), Transport::Udp);
    let (tx2, ev) = drain(&mut l);
    assert!(ev.is_empty());
    assert_eq!(tx2.len(), 1);
    assert_eq!(tx2[0].payload, tx[0].payload);
    // A 2xx from another fork (another To tag) is news for the TU.
    l.handle_receive(
        t0 + ms(1700),
        msg(response_to(&inv, 200, Some("y"))),
        uas_addr(),
        Transport::Udp,
    );
    let (_, ev) = drain(&mut l);
    assert_eq!(ev.len(), 1);
    // Timer M: 64*T1 after the first 2xx.
    assert_eq!(l.poll_timeout(), Some(t0 + ms(32_100)));
    run(&mut l, t0, Duration::from_secs(100));
    assert!(!l.has_client(&key));
}

#[test]
fn timers_g_and_h_retransmit_non_2xx_until_ack_timeout() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKg1", 1);
    l.handle_receive(t0, msg(inv.clone()), uac_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert_eq!(tx.len(), 1, "100 Trying");
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 100"));
    assert_eq!(tx[0].destination, uac_addr());
    let [TsxEvent::Request { key, .. }] = &ev[..] else {
        panic!("{ev:?}")
    };
    l.send_response(t0, key, response_to(&inv, 486, Some("s1")))
        .unwrap();
    let (tx, _) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    let log = run(&mut l, t0, Duration::from_secs(100));
    // Timer G: T1 doubling, capped at T2.
    assert_eq!(
        tx_times(&log),
        secs_f(&[0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert!(log.iter().all(|(_, o)| match o {
        Out::Tx(line) => line.starts_with("SIP/2.0 486"),
        _ => true,
    }));
    assert_eq!(
        log.last().unwrap(),
        &(Duration::from_secs(32), Out::Timeout(TimerName::H))
    );
    assert!(!l.has_server(key));
}

#[test]
fn timer_i_absorbs_ack_retransmissions_after_confirmed() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKi1", 1);
    let key = receive_new(&mut l, t0, inv.clone());
    l.send_response(t0, &key, response_to(&inv, 603, Some("s1")))
        .unwrap();
    drain(&mut l);
    let mut ack = request("ACK", "z9hG4bKi1", 1);
    ack.headers.to_mut().unwrap().set_tag("s1");
    l.handle_receive(t0 + ms(1000), msg(ack.clone()), uac_addr(), Transport::Udp);
    assert_eq!(
        drain(&mut l),
        (vec![], vec![]),
        "the non-2xx ACK stays in the transaction"
    );
    l.handle_receive(t0 + ms(2000), msg(ack), uac_addr(), Transport::Udp);
    l.handle_receive(t0 + ms(2500), msg(inv), uac_addr(), Transport::Udp);
    assert_eq!(drain(&mut l), (vec![], vec![]));
    // No more 603 after the ACK; Timer I (T4) ends the transaction.
    assert_eq!(l.poll_timeout(), Some(t0 + ms(6000)));
    assert!(run(&mut l, t0, Duration::from_secs(100)).is_empty());
    assert!(!l.has_server(&key));
}

#[test]
fn timer_j_answers_request_retransmissions_with_the_last_response() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = request("REGISTER", "z9hG4bKj1", 1);
    let key = receive_new(&mut l, t0, req.clone());
    // Retransmission before any response: absorbed.
    l.handle_receive(t0 + ms(500), msg(req.clone()), uac_addr(), Transport::Udp);
    assert_eq!(drain(&mut l), (vec![], vec![]));
    assert_eq!(l.server_source(&key), Some((uac_addr(), Transport::Udp)));
    l.send_response(t0 + ms(600), &key, response_to(&req, 200, Some("r")))
        .unwrap();
    let (first, _) = drain(&mut l);
    assert_eq!(first.len(), 1);
    l.handle_receive(
        t0 + ms(10_000),
        msg(req.clone()),
        uac_addr(),
        Transport::Udp,
    );
    let (again, ev) = drain(&mut l);
    assert!(ev.is_empty(), "a retransmission is not a new request");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, first[0].payload);
    assert_eq!(again[0].destination, uac_addr());
    // A second final response is refused.
    assert!(
        l.send_response(t0 + ms(700), &key, response_to(&req, 500, Some("r")))
            .is_err()
    );
    // Timer J: 64*T1 after the final response.
    assert_eq!(l.poll_timeout(), Some(t0 + ms(32_600)));
    run(&mut l, t0, Duration::from_secs(100));
    assert!(!l.has_server(&key));
    // Afterwards the same request is new again.
    receive_new(&mut l, t0 + ms(40_000), req);

    // Over TCP, Timer J is zero.
    let mut l = layer();
    let req = request("REGISTER", "z9hG4bKj2", 1);
    l.handle_receive(t0, msg(req.clone()), uac_addr(), Transport::Tcp);
    let (_, ev) = drain(&mut l);
    let [TsxEvent::Request { key, .. }] = &ev[..] else {
        panic!()
    };
    l.send_response(t0, key, response_to(&req, 200, Some("r")))
        .unwrap();
    assert!(!l.has_server(key));
}

#[test]
fn non_invite_provisional_then_final_moves_through_proceeding() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKp1", 1);
    let key = receive_new(&mut l, t0, req.clone());
    l.send_response(t0, &key, response_to(&req, 100, None))
        .unwrap();
    drain(&mut l);
    // In Proceeding, a retransmission gets the provisional again.
    l.handle_receive(t0 + ms(500), msg(req.clone()), uac_addr(), Transport::Udp);
    let (tx, _) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 100"));
    l.send_response(t0 + ms(600), &key, response_to(&req, 200, Some("t")))
        .unwrap();
    l.handle_receive(t0 + ms(700), msg(req), uac_addr(), Transport::Udp);
    let (tx, _) = drain(&mut l);
    assert_eq!(tx.len(), 2);
    assert!(first_line(&tx[1]).starts_with("SIP/2.0 200"));
}

#[test]
fn timer_l_retransmits_2xx_until_the_ack_which_goes_to_the_tu() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKl1", 1);
    let key = receive_new(&mut l, t0, inv.clone());
    l.send_response(t0, &key, response_to(&inv, 200, Some("s1")))
        .unwrap();
    let (tx, _) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    let log = run(&mut l, t0, ms(4000));
    assert_eq!(tx_times(&log), secs_f(&[0.5, 1.5, 3.5]));
    // The ACK for a 2xx has its own branch; it reaches the TU once, tied to the INVITE.
    let mut ack = request("ACK", "z9hG4bKl1ack", 1);
    ack.headers.to_mut().unwrap().set_tag("s1");
    l.handle_receive(t0 + ms(4000), msg(ack.clone()), uac_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(tx.is_empty());
    assert!(
        matches!(&ev[..], [TsxEvent::Ack { invite: Some(k), request, .. }] if *k == key && request.method == Method::Ack),
        "{ev:?}"
    );
    // A retransmitted ACK and a retransmitted INVITE are absorbed in Accepted.
    l.handle_receive(t0 + ms(4100), msg(ack), uac_addr(), Transport::Udp);
    l.handle_receive(t0 + ms(4200), msg(inv), uac_addr(), Transport::Udp);
    assert_eq!(drain(&mut l), (vec![], vec![]));
    // No more 2xx retransmissions; Timer L ends the transaction quietly at 64*T1.
    assert_eq!(l.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    assert!(run(&mut l, t0, Duration::from_secs(100)).is_empty());
    assert!(!l.has_server(&key));
}

#[test]
fn timer_l_reports_a_2xx_never_acknowledged() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKl2", 1);
    let key = receive_new(&mut l, t0, inv.clone());
    l.send_response(t0, &key, response_to(&inv, 200, Some("s1")))
        .unwrap();
    drain(&mut l);
    let log = run(&mut l, t0, Duration::from_secs(100));
    assert_eq!(
        tx_times(&log),
        secs_f(&[0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert_eq!(
        log.last().unwrap(),
        &(Duration::from_secs(32), Out::Timeout(TimerName::L))
    );
}

#[test]
fn invite_retransmission_gets_the_last_provisional() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKr1", 1);
    let key = receive_new(&mut l, t0, inv.clone());
    l.send_response(t0, &key, response_to(&inv, 180, Some("s")))
        .unwrap();
    drain(&mut l);
    l.handle_receive(t0 + ms(500), msg(inv), uac_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(ev.is_empty());
    assert_eq!(tx.len(), 1);
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 180"));
}

#[test]
fn cancel_matches_the_invite_server_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKc1", 1);
    let inv_key = receive_new(&mut l, t0, inv.clone());
    let cancel = request("CANCEL", "z9hG4bKc1", 1);
    l.handle_receive(
        t0 + ms(100),
        msg(cancel.clone()),
        uac_addr(),
        Transport::Udp,
    );
    let (tx, ev) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    let Message::Response(ok) = Message::parse(&tx[0].payload).unwrap() else {
        panic!()
    };
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Cancel);
    assert!(
        matches!(&ev[..], [TsxEvent::Cancelled { invite, cancel }] if *invite == inv_key && cancel.method == Method::Cancel),
        "{ev:?}"
    );
    // The TU ends the INVITE with 487; the CANCEL is its own transaction.
    l.send_response(t0 + ms(100), &inv_key, response_to(&inv, 487, Some("s")))
        .unwrap();
    let (tx, _) = drain(&mut l);
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 487"));
    // A retransmitted CANCEL gets its 200 again, without a second event.
    l.handle_receive(
        t0 + ms(200),
        msg(cancel.clone()),
        uac_addr(),
        Transport::Udp,
    );
    let (tx, ev) = drain(&mut l);
    assert_eq!(tx.len(), 1);
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 200"));
    assert!(ev.is_empty());

    // A CANCEL matching no INVITE: 481.
    let stray = request("CANCEL", "z9hG4bKnone", 1);
    l.handle_receive(t0 + ms(300), msg(stray), uac_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 481"));
    assert!(ev.is_empty());
}

#[test]
fn cancel_after_final_response_has_no_effect() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKc2", 1);
    let key = receive_new(&mut l, t0, inv.clone());
    l.send_response(t0, &key, response_to(&inv, 200, Some("s")))
        .unwrap();
    drain(&mut l);
    l.handle_receive(
        t0 + ms(100),
        msg(request("CANCEL", "z9hG4bKc2", 1)),
        uac_addr(),
        Transport::Udp,
    );
    let (tx, ev) = drain(&mut l);
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 200"));
    assert!(ev.is_empty());
}

#[test]
fn client_cancel_waits_for_a_provisional_response() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = request("INVITE", "z9hG4bKcc", 1);
    let key = l
        .send_request(t0, inv.clone(), uas_addr(), Transport::Udp)
        .unwrap();
    drain(&mut l);
    let cancel_key = l.cancel(t0 + ms(100), &key).unwrap();
    assert_eq!(cancel_key.method(), &Method::Cancel);
    assert_eq!(drain(&mut l).0, vec![], "no CANCEL before a provisional");
    l.handle_receive(
        t0 + ms(200),
        msg(response_to(&inv, 180, Some("s"))),
        uas_addr(),
        Transport::Udp,
    );
    let (tx, ev) = drain(&mut l);
    assert_eq!(ev.len(), 1);
    assert_eq!(tx.len(), 1);
    let Message::Request(cancel) = Message::parse(&tx[0].payload).unwrap() else {
        panic!()
    };
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, inv.uri);
    assert_eq!(
        cancel.headers.top_via().unwrap().branch(),
        Some("z9hG4bKcc")
    );
    assert_eq!(cancel.headers.cseq().unwrap().seq, 1);
    assert_eq!(cancel.headers.to().unwrap().tag(), None);
    assert!(l.has_client(&cancel_key));
    // 200 to the CANCEL and 487 to the INVITE each reach the TU once.
    l.handle_receive(
        t0 + ms(300),
        msg(response_to(&cancel, 200, Some("s"))),
        uas_addr(),
        Transport::Udp,
    );
    l.handle_receive(
        t0 + ms(300),
        msg(response_to(&inv, 487, Some("s"))),
        uas_addr(),
        Transport::Udp,
    );
    let (tx, ev) = drain(&mut l);
    assert!(matches!(&ev[..], [
        TsxEvent::Response { key: k1, response: r1 },
        TsxEvent::Response { key: k2, response: r2 },
    ] if *k1 == cancel_key && r1.status == 200 && *k2 == key && r2.status == 487));
    assert_eq!(tx.len(), 1, "ACK for the 487");
    // Once the final response is in, there is nothing left to cancel.
    assert!(l.cancel(t0 + ms(400), &key).is_err());
}

#[test]
fn rfc2543_requests_match_without_a_cookie_branch() {
    let mut l = layer();
    let t0 = Instant::now();
    let via = "SIP/2.0/UDP 192.0.2.1:5060";
    let inv = request_with_via("INVITE", via, 1, "call-2543");
    let key = receive_new(&mut l, t0, inv.clone());
    assert!(key.is_rfc2543());
    l.send_response(t0, &key, response_to(&inv, 404, Some("t404")))
        .unwrap();
    drain(&mut l);
    // The retransmitted INVITE matches (same Request-URI, tags, Call-ID, CSeq, Via).
    l.handle_receive(t0 + ms(300), msg(inv.clone()), uac_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(ev.is_empty());
    assert!(first_line(&tx[0]).starts_with("SIP/2.0 404"));
    // The ACK carries the To tag of our 404, which the INVITE did not: still matched.
    let mut ack = request_with_via("ACK", via, 1, "call-2543");
    ack.headers.to_mut().unwrap().set_tag("t404");
    l.handle_receive(t0 + ms(400), msg(ack), uac_addr(), Transport::Udp);
    assert_eq!(drain(&mut l), (vec![], vec![]));
    // Confirmed: no more 404 retransmissions.
    let log = run(&mut l, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "{log:?}");
    // A different Call-ID with the same Via is another transaction.
    receive_new(
        &mut l,
        t0 + ms(500),
        request_with_via("INVITE", via, 1, "other"),
    );
}

#[test]
fn bare_magic_cookie_branch_falls_back_to_rfc2543_matching() {
    let mut l = layer();
    let t0 = Instant::now();
    let via = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK";
    let a = receive_new(&mut l, t0, request_with_via("OPTIONS", via, 1, "call-a"));
    let b = receive_new(&mut l, t0, request_with_via("OPTIONS", via, 1, "call-b"));
    assert_ne!(a, b);
    assert!(a.is_rfc2543());
}

#[test]
fn ack_without_transaction_and_stray_responses() {
    let mut l = layer();
    let t0 = Instant::now();
    let mut ack = request("ACK", "z9hG4bKstray", 1);
    ack.headers.to_mut().unwrap().set_tag("x");
    l.handle_receive(t0, msg(ack), uac_addr(), Transport::Udp);
    let (_, ev) = drain(&mut l);
    assert!(matches!(&ev[..], [TsxEvent::Ack { invite: None, .. }]));
    // A response that matches no client transaction is dropped (RFC 6026 §7.1.1).
    let inv = request("INVITE", "z9hG4bKnotours", 1);
    l.handle_receive(
        t0,
        msg(response_to(&inv, 200, Some("x"))),
        uas_addr(),
        Transport::Udp,
    );
    assert_eq!(drain(&mut l), (vec![], vec![]));
}

#[test]
fn send_request_refuses_what_cannot_be_a_client_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    let no_cookie = request_with_via("OPTIONS", "SIP/2.0/UDP h;branch=abc", 1, "c");
    assert!(
        l.send_request(t0, no_cookie, uas_addr(), Transport::Udp)
            .is_err()
    );
    let ack = request("ACK", "z9hG4bKa", 1);
    assert!(l.send_request(t0, ack, uas_addr(), Transport::Udp).is_err());
    let ok = request("OPTIONS", "z9hG4bKdup", 1);
    l.send_request(t0, ok.clone(), uas_addr(), Transport::Udp)
        .unwrap();
    assert!(l.send_request(t0, ok, uas_addr(), Transport::Udp).is_err());
    let b1 = l.new_branch();
    let b2 = l.new_branch();
    assert_ne!(b1, b2);
    assert!(b1.is_rfc3261());
    // The generator is seeded: the same seed gives the same branches.
    let mut again = layer();
    assert_eq!(again.new_branch(), b1);
}

#[test]
fn transport_error_ends_the_transaction_and_tells_the_tu() {
    let mut l = layer();
    let t0 = Instant::now();
    let key = l
        .send_request(
            t0,
            request("OPTIONS", "z9hG4bKte", 1),
            uas_addr(),
            Transport::Tcp,
        )
        .unwrap();
    let (tx, _) = drain(&mut l);
    assert_eq!(tx[0].tsx.as_ref(), Some(&key));
    l.handle_transport_error(t0, &key);
    let (_, ev) = drain(&mut l);
    assert_eq!(ev, vec![TsxEvent::TransportError { key: key.clone() }]);
    assert!(!l.has_client(&key));
}

#[test]
fn sent_by_matches_case_insensitively_with_the_default_port() {
    let mut l = layer();
    let t0 = Instant::now();
    let first = request_with_via(
        "OPTIONS",
        "SIP/2.0/UDP PC33.Example.COM;branch=z9hG4bKcase",
        1,
        "c",
    );
    let key = receive_new(&mut l, t0, first);
    l.send_response(
        t0,
        &key,
        response_to(&request("OPTIONS", "x", 1), 200, Some("t")),
    )
    .unwrap();
    drain(&mut l);
    let again = request_with_via(
        "OPTIONS",
        "SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bKcase",
        1,
        "c",
    );
    l.handle_receive(t0 + ms(100), msg(again), uac_addr(), Transport::Udp);
    let (tx, ev) = drain(&mut l);
    assert!(ev.is_empty(), "same transaction: {ev:?}");
    assert_eq!(tx.len(), 1);
    // Another sent-by with the same branch is another transaction.
    receive_new(
        &mut l,
        t0,
        request_with_via(
            "OPTIONS",
            "SIP/2.0/UDP pc34.example.com;branch=z9hG4bKcase",
            1,
            "c",
        ),
    );
}
