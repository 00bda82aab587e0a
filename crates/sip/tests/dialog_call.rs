//! A whole call between two user agents, each a transaction layer plus a dialog, over a
//! seeded lossy link on simulated time: INVITE, ACK, a session refresh, BYE. And the case
//! session timers exist for: the caller vanishes, the callee's dialog expires and hangs
//! up by itself.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use switchyard_sip::dialog::{Dialog, DialogEvent, DialogState, LocalVia, SessionTimerConfig, Tag};
use switchyard_sip::transaction::{
    TransactionConfig, TransactionLayer, Transport, TsxEvent, TsxKey,
};
use switchyard_sip::{Message, Method, NameAddr, Request};

const A: usize = 0; // caller, UAC
const B: usize = 1; // callee, UAS

fn addr(i: usize) -> SocketAddr {
    format!("192.0.2.{}:5060", i + 1).parse().unwrap()
}

fn st() -> SessionTimerConfig {
    SessionTimerConfig {
        enabled: true,
        session_expires: 90,
        min_se: 90,
    }
}

struct Ua {
    layer: TransactionLayer,
    dialog: Option<Dialog>,
    invite: Option<Request>,
    invite_key: Option<TsxKey>,
    /// What this UA's TU saw, in order, with the time.
    log: Vec<(Duration, String)>,
}

struct Call {
    t0: Instant,
    now: Instant,
    uas: [Ua; 2],
    rng: ChaCha8Rng,
    loss: f64,
    /// Messages in flight: (arrival, seq, to, payload).
    link: Vec<(Instant, u64, usize, Vec<u8>)>,
    seq: u64,
    /// From this time on, everything to and from A is lost (A crashed).
    a_dead_after: Option<Instant>,
}

impl Call {
    fn new(seed: u64, loss: f64) -> Call {
        let t0 = Instant::now();
        let ua = |seed| Ua {
            layer: TransactionLayer::new(TransactionConfig {
                seed,
                ..TransactionConfig::default()
            }),
            dialog: None,
            invite: None,
            invite_key: None,
            log: Vec::new(),
        };
        Call {
            t0,
            now: t0,
            uas: [ua(seed), ua(seed + 1)],
            rng: ChaCha8Rng::seed_from_u64(seed),
            loss,
            link: Vec::new(),
            seq: 0,
            a_dead_after: None,
        }
    }

    fn log(&mut self, who: usize, what: String) {
        let at = self.now - self.t0;
        self.uas[who].log.push((at, what));
    }

    fn a_dead(&self) -> bool {
        self.a_dead_after.is_some_and(|t| self.now >= t)
    }

    fn flush(&mut self) -> bool {
        let mut any = false;
        for from in [A, B] {
            while let Some(t) = self.uas[from].layer.poll_transmit() {
                any = true;
                let to = if t.destination == addr(B) { B } else { A };
                if self.rng.random_bool(self.loss) || self.a_dead() {
                    continue;
                }
                let delay = Duration::from_millis(self.rng.random_range(1..100));
                self.seq += 1;
                self.link
                    .push((self.now + delay, self.seq, to, t.payload.to_vec()));
            }
        }
        any
    }

    fn send(&mut self, who: usize, req: Request) -> TsxKey {
        let now = self.now;
        let to = addr(1 - who);
        self.uas[who]
            .layer
            .send_request(now, req, to, Transport::Udp)
            .unwrap()
    }

    fn tus(&mut self) -> bool {
        let mut any = false;
        let now = self.now;
        // The callee: answers the INVITE with a dialog, in-dialog requests through it.
        while let Some(ev) = self.uas[B].layer.poll_event() {
            any = true;
            match ev {
                TsxEvent::Request { key, request, .. } => {
                    self.log(B, format!("got {}", request.method));
                    let ua = &mut self.uas[B];
                    let resp = match &mut ua.dialog {
                        None => {
                            let mut d = Dialog::uas(
                                &request,
                                &Tag::new("callee"),
                                NameAddr::parse("<sip:callee@192.0.2.2:5060>").unwrap(),
                                LocalVia::new(Transport::Udp, "192.0.2.2:5060").unwrap(),
                                st(),
                            )
                            .unwrap();
                            let r = d.response(now, &request, 200, "OK");
                            ua.dialog = Some(d);
                            r
                        }
                        Some(d) => match d.handle_request(&request) {
                            Ok(()) => d.response(now, &request, 200, "OK"),
                            Err(r) => *r,
                        },
                    };
                    ua.layer.send_response(now, &key, resp).unwrap();
                }
                TsxEvent::Ack { request, .. } => {
                    let d = self.uas[B].dialog.as_mut().unwrap();
                    d.handle_request(&request).unwrap();
                    self.log(B, "got ACK".into());
                }
                TsxEvent::Response { response, .. } => {
                    self.log(
                        B,
                        format!(
                            "{} to {}",
                            response.status,
                            response.headers.cseq().unwrap().method
                        ),
                    );
                }
                TsxEvent::Timeout { timer, .. } => self.log(B, format!("timeout {timer:?}")),
                other => panic!("callee: {other:?}"),
            }
        }
        // The caller: ACKs 2xx to INVITEs through its dialog.
        while let Some(ev) = self.uas[A].layer.poll_event() {
            any = true;
            match ev {
                TsxEvent::Response { key, response } => {
                    let method = response.headers.cseq().unwrap().method;
                    self.log(A, format!("{} to {method}", response.status));
                    if response.status < 200 {
                        continue;
                    }
                    let ua = &mut self.uas[A];
                    match &mut ua.dialog {
                        None => {
                            let d = Dialog::uac(
                                now,
                                ua.invite.as_ref().unwrap(),
                                &response,
                                LocalVia::new(Transport::Udp, "192.0.2.1:5060").unwrap(),
                                st(),
                            )
                            .unwrap();
                            ua.dialog = Some(d);
                        }
                        Some(d) => d.handle_response(now, &response),
                    }
                    if method == Method::Invite {
                        let branch = ua.layer.new_branch();
                        let seq = response.headers.cseq().unwrap().seq;
                        let ack = ua.dialog.as_ref().unwrap().ack(seq, &branch);
                        ua.layer.send_ack(now, &key, ack, addr(B), Transport::Udp);
                    }
                }
                TsxEvent::Request { key, request, .. } => {
                    self.log(A, format!("got {}", request.method));
                    let d = self.uas[A].dialog.as_mut().unwrap();
                    let resp = match d.handle_request(&request) {
                        Ok(()) => d.response(now, &request, 200, "OK"),
                        Err(r) => *r,
                    };
                    self.uas[A].layer.send_response(now, &key, resp).unwrap();
                }
                TsxEvent::Timeout { timer, .. } => self.log(A, format!("timeout {timer:?}")),
                other => panic!("caller: {other:?}"),
            }
        }
        // Session timers of both dialogs.
        for who in [A, B] {
            let Some(d) = self.uas[who].dialog.as_mut() else {
                continue;
            };
            d.handle_timeout(now);
            while let Some(ev) = self.uas[who].dialog.as_mut().and_then(Dialog::poll_event) {
                any = true;
                self.log(who, format!("{ev:?}"));
                let branch = self.uas[who].layer.new_branch();
                let d = self.uas[who].dialog.as_mut().unwrap();
                let req = match ev {
                    DialogEvent::RefreshDue { method } => d.request(method, &branch),
                    DialogEvent::SessionExpired => d.request(Method::Bye, &branch),
                };
                self.send(who, req);
            }
        }
        any
    }

    fn run_until(&mut self, end: Duration) {
        let end = self.t0 + end;
        loop {
            while self.tus() | self.flush() {}
            let dialogs: Vec<Instant> = self
                .uas
                .iter()
                .filter_map(|u| u.dialog.as_ref()?.poll_timeout())
                .collect();
            let next = self
                .link
                .iter()
                .map(|m| m.0)
                .chain(self.uas.iter_mut().filter_map(|u| u.layer.poll_timeout()))
                .chain(dialogs)
                .min();
            let Some(next) = next.filter(|n| *n <= end) else {
                self.now = end;
                return;
            };
            self.now = next;
            self.link.sort_by_key(|m| (m.0, m.1));
            while self.link.first().is_some_and(|m| m.0 <= next) {
                let (_, _, to, payload) = self.link.remove(0);
                if to == A && self.a_dead() {
                    continue;
                }
                let msg = Message::parse(&payload).unwrap();
                self.uas[to]
                    .layer
                    .handle_receive(next, msg, addr(1 - to), Transport::Udp);
            }
            for u in &mut self.uas {
                u.layer.handle_timeout(next);
            }
        }
    }

    fn dial(&mut self) {
        let branch = self.uas[A].layer.new_branch();
        let Message::Request(mut invite) = Message::parse(
            format!(
                "INVITE sip:callee@192.0.2.2:5060 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
                 Max-Forwards: 70\r\n\
                 To: <sip:callee@example.com>\r\n\
                 From: <sip:caller@example.com>;tag=caller\r\n\
                 Call-ID: call@192.0.2.1\r\n\
                 CSeq: 1 INVITE\r\n\
                 Contact: <sip:caller@192.0.2.1:5060>\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap() else {
            unreachable!()
        };
        st().decorate_request(&mut invite);
        self.uas[A].invite = Some(invite.clone());
        let key = self.send(A, invite);
        self.uas[A].invite_key = Some(key);
    }

    fn count(&self, who: usize, what: &str) -> usize {
        self.uas[who].log.iter().filter(|(_, w)| w == what).count()
    }
}

#[test]
fn call_with_refreshes_and_bye_over_a_lossy_link() {
    for seed in 1..=3 {
        let mut call = Call::new(seed, 0.2);
        call.dial();
        call.run_until(Duration::from_secs(100));
        // Set up once, acknowledged once, refreshed by the caller (it supports timers)
        // at half of 90 s, twice by 100 s.
        assert_eq!(
            call.count(B, "got INVITE"),
            3,
            "initial + 2 refreshes: {:?}",
            call.uas[B].log
        );
        assert_eq!(call.count(B, "got ACK"), 3);
        assert_eq!(call.count(A, "200 to INVITE"), 3);
        assert_eq!(call.count(A, "RefreshDue { method: Invite }"), 2);
        assert!(
            call.uas[B]
                .log
                .iter()
                .all(|(_, w)| !w.starts_with("Session"))
        );
        let a = call.uas[A].dialog.as_ref().unwrap();
        assert_eq!(a.state(), DialogState::Confirmed);
        assert_eq!(a.local_cseq(), 3);

        // The caller hangs up.
        let branch = call.uas[A].layer.new_branch();
        let bye = call.uas[A]
            .dialog
            .as_mut()
            .unwrap()
            .request(Method::Bye, &branch);
        call.send(A, bye);
        call.run_until(Duration::from_secs(200));
        assert_eq!(call.count(B, "got BYE"), 1);
        assert_eq!(call.count(A, "200 to BYE"), 1);
        assert_eq!(
            call.uas[B].dialog.as_ref().unwrap().state(),
            DialogState::Terminated
        );
        assert!(call.uas.iter().all(|u| u.layer.is_empty()));
        assert!(
            call.uas
                .iter()
                .all(|u| u.dialog.as_ref().unwrap().poll_timeout().is_none())
        );
    }
}

#[test]
fn callee_hangs_up_when_the_caller_vanishes() {
    let mut call = Call::new(7, 0.0);
    call.dial();
    call.a_dead_after = Some(call.t0 + Duration::from_secs(10));
    call.run_until(Duration::from_secs(300));
    // Nobody refreshed: the callee's dialog expired at 90 - 30 = 60 s and sent BYE, which
    // went unanswered until Timer F.
    let log = &call.uas[B].log;
    let expired = log
        .iter()
        .find(|(_, w)| w == "SessionExpired")
        .expect("session expired");
    let answered = log.iter().find(|(_, w)| w == "got INVITE").unwrap().0;
    assert_eq!(expired.0, answered + Duration::from_secs(60));
    assert!(
        log.iter()
            .any(|(t, w)| w == "timeout F" && *t == expired.0 + Duration::from_secs(32)),
        "{log:?}"
    );
    assert_eq!(
        call.uas[B].dialog.as_ref().unwrap().state(),
        DialogState::Terminated
    );
}
