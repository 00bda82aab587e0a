//! Two transaction layers over a seeded lossy link (30% loss each way, jitter) complete
//! INVITE and non-INVITE transactions: retransmissions repair the losses, and each TU
//! hears of every request and every final response exactly once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use switchyard_sip::transaction::{
    TransactionConfig, TransactionLayer, Transport, TsxEvent, TsxKey,
};
use switchyard_sip::{Message, Method, Request, Response};

const UAC: usize = 0;
const UAS: usize = 1;

fn addr(i: usize) -> SocketAddr {
    format!("192.0.2.{}:5060", i + 1).parse().unwrap()
}

fn parse_request(text: &str) -> Request {
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn request(method: &str, branch: &str, call_id: &str) -> Request {
    parse_request(&format!(
        "{method} sip:agent@192.0.2.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:agent@example.com>\r\n\
         From: <sip:caller@example.com>;tag=caller\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:caller@192.0.2.1>\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

/// The UAC core's ACK for a 2xx (its own transaction, a new branch).
fn ack_for(ok: &Response, branch: &str) -> Request {
    let h = &ok.headers;
    parse_request(&format!(
        "ACK sip:agent@192.0.2.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         To: {}\r\nFrom: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\n\
         Content-Length: 0\r\n\r\n",
        h.to().unwrap(),
        h.from().unwrap(),
        h.call_id().unwrap(),
        h.cseq().unwrap().seq
    ))
}

struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    from: SocketAddr,
    payload: Bytes,
}

struct Sim {
    now: Instant,
    layers: [TransactionLayer; 2],
    rng: ChaCha8Rng,
    loss: f64,
    /// One-way delay is uniform in 1 ms..max: above T1/2, responses overtake retransmissions.
    max_delay_us: u64,
    link: Vec<InFlight>,
    seq: u64,
    sent: usize,
    dropped: usize,
    // What each TU heard.
    requests_at_uas: HashMap<String, usize>,
    acks_at_uas: HashMap<String, usize>,
    finals_at_uac: HashMap<TsxKey, Vec<u16>>,
    provisionals_at_uac: HashMap<TsxKey, usize>,
    other_events: Vec<TsxEvent>,
}

impl Sim {
    fn new(seed: u64, loss: f64, max_delay: Duration) -> Sim {
        let now = Instant::now();
        let layer = |s| {
            TransactionLayer::new(TransactionConfig {
                seed: s,
                ..TransactionConfig::default()
            })
        };
        Sim {
            now,
            layers: [layer(seed), layer(seed + 1000)],
            rng: ChaCha8Rng::seed_from_u64(seed),
            loss,
            max_delay_us: max_delay.as_micros() as u64,
            link: Vec::new(),
            seq: 0,
            sent: 0,
            dropped: 0,
            requests_at_uas: HashMap::new(),
            acks_at_uas: HashMap::new(),
            finals_at_uac: HashMap::new(),
            provisionals_at_uac: HashMap::new(),
            other_events: Vec::new(),
        }
    }

    /// Moves what the layers want sent onto the link, dropping some.
    fn flush(&mut self) -> bool {
        let mut any = false;
        for from in [UAC, UAS] {
            while let Some(t) = self.layers[from].poll_transmit() {
                any = true;
                self.sent += 1;
                if self.rng.random_bool(self.loss) {
                    self.dropped += 1;
                    continue;
                }
                let to = if t.destination == addr(UAS) { UAS } else { UAC };
                let jitter = Duration::from_micros(self.rng.random_range(1_000..self.max_delay_us));
                self.seq += 1;
                self.link.push(InFlight {
                    at: self.now + jitter,
                    seq: self.seq,
                    to,
                    from: addr(from),
                    payload: t.payload,
                });
            }
        }
        any
    }

    /// The two TUs: the UAS answers INVITE with 180 then 200 and anything else with 200;
    /// the UAC ACKs each 2xx.
    fn run_tus(&mut self) -> bool {
        let mut any = false;
        while let Some(ev) = self.layers[UAS].poll_event() {
            any = true;
            match ev {
                TsxEvent::Request { key, request, .. } => {
                    let call = request.headers.call_id().unwrap().to_owned();
                    *self.requests_at_uas.entry(call).or_default() += 1;
                    let now = self.now;
                    let answer = |status| {
                        let mut r = Response::for_request(&request, status, "X");
                        r.headers.to_mut().unwrap().set_tag("agent");
                        r
                    };
                    if request.method == Method::Invite {
                        self.layers[UAS]
                            .send_response(now, &key, answer(180))
                            .unwrap();
                    }
                    self.layers[UAS]
                        .send_response(now, &key, answer(200))
                        .unwrap();
                }
                TsxEvent::Ack {
                    invite: Some(_),
                    request,
                    ..
                } => {
                    let call = request.headers.call_id().unwrap().to_owned();
                    *self.acks_at_uas.entry(call).or_default() += 1;
                }
                other => self.other_events.push(other),
            }
        }
        while let Some(ev) = self.layers[UAC].poll_event() {
            any = true;
            match ev {
                TsxEvent::Response { key, response } if response.status >= 200 => {
                    if key.method() == &Method::Invite {
                        let branch = self.layers[UAC].new_branch();
                        let ack = ack_for(&response, branch.as_str());
                        let now = self.now;
                        self.layers[UAC].send_ack(now, &key, ack, addr(UAS), Transport::Udp);
                    }
                    self.finals_at_uac
                        .entry(key)
                        .or_default()
                        .push(response.status);
                }
                TsxEvent::Response { key, .. } => {
                    *self.provisionals_at_uac.entry(key).or_default() += 1;
                }
                other => self.other_events.push(other),
            }
        }
        any
    }

    /// Runs until nothing is left to do: no message in flight, no timer.
    fn run(&mut self) {
        let limit = self.now + Duration::from_secs(600);
        loop {
            while self.run_tus() | self.flush() {}
            let next_msg = self.link.iter().map(|m| m.at).min();
            let next = [
                next_msg,
                self.layers[UAC].poll_timeout(),
                self.layers[UAS].poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            assert!(next <= limit, "simulation does not settle");
            self.now = next;
            let mut due: Vec<InFlight> = Vec::new();
            let mut i = 0;
            while i < self.link.len() {
                if self.link[i].at <= next {
                    due.push(self.link.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            due.sort_by_key(|m| (m.at, m.seq));
            for m in due {
                let msg = Message::parse(&m.payload).expect("layers send parsable messages");
                self.layers[m.to].handle_receive(next, msg, m.from, Transport::Udp);
            }
            for l in &mut self.layers {
                l.handle_timeout(next);
            }
        }
    }
}

fn run_scenario(seed: u64) {
    let mut sim = Sim::new(seed, 0.3, Duration::from_millis(300));
    let mut keys = Vec::new();
    for i in 0..40 {
        for method in ["INVITE", "REGISTER"] {
            let branch = sim.layers[UAC].new_branch();
            let req = request(method, branch.as_str(), &format!("{method}-{i}"));
            let now = sim.now;
            let key = sim.layers[UAC]
                .send_request(now, req, addr(UAS), Transport::Udp)
                .unwrap();
            keys.push(key);
        }
    }
    sim.run();

    assert!(
        sim.dropped > 0 && sim.sent > 160,
        "the link lost and repaired"
    );
    assert_eq!(sim.other_events, vec![], "no timeouts, no stray ACKs");
    assert_eq!(sim.requests_at_uas.len(), 80);
    assert!(
        sim.requests_at_uas.values().all(|&n| n == 1),
        "each request reached the UAS TU once: {:?}",
        sim.requests_at_uas
    );
    for key in &keys {
        assert_eq!(
            sim.finals_at_uac.get(key).map(Vec::as_slice),
            Some(&[200][..]),
            "one final response for {key}"
        );
        assert!(sim.provisionals_at_uac.get(key).copied().unwrap_or(0) <= 2);
    }
    assert_eq!(sim.acks_at_uas.len(), 40);
    assert!(
        sim.acks_at_uas.values().all(|&n| n == 1),
        "each 2xx ACK reached the UAS TU once"
    );
    assert!(sim.layers.iter().all(TransactionLayer::is_empty));
}

#[test]
fn lossy_link_completes_every_transaction_exactly_once() {
    for seed in 1..=4 {
        run_scenario(seed);
    }
}

#[test]
fn lossless_link_sends_no_retransmission() {
    let mut sim = Sim::new(9, 0.0, Duration::from_millis(20));
    let branch = sim.layers[UAC].new_branch();
    let now = sim.now;
    sim.layers[UAC]
        .send_request(
            now,
            request("OPTIONS", branch.as_str(), "c"),
            addr(UAS),
            Transport::Udp,
        )
        .unwrap();
    sim.run();
    assert_eq!(sim.sent, 2, "request and response only");
}
