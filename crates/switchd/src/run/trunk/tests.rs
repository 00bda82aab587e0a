//! Scenarios on simulated time: the test plays the gateways, answering the requests the
//! state machines hand out, and moves the clock to their deadlines.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_sip::digest::{Algorithm, DigestParams, Secret};
use switchyard_sip::transaction::{Transport, TsxKey};
use switchyard_sip::{Credentials, Method, Request, Response, Uri};

use super::*;
use crate::config::{Gateway, Outbound};

const SECRET: &str = "secret";

fn gateway(port: u16, priority: u32) -> Gateway {
    Gateway {
        uri: format!("sip:127.0.0.1:{port}"),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        priority,
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Two gateways, written out of priority order: 5072 (priority 2) then 5070 (priority 1).
fn outbound() -> Outbound {
    Outbound {
        gateways: vec![gateway(5072, 2), gateway(5070, 1)],
        username: Some("switchyard".into()),
        password: Some(SECRET.into()),
        register: false,
        options_interval: None,
        failover_after: Duration::from_secs(3),
        caller_id: None,
    }
}

fn local() -> Local {
    Local {
        listen: vec!["127.0.0.1:5060".parse().unwrap()],
        transport: Transport::Udp,
    }
}

fn template() -> Request {
    let uri = Uri::parse("sip:+8613800138000@carrier").unwrap();
    let mut req = Request::new(Method::Invite, uri);
    let h = &mut req.headers;
    h.push("Max-Forwards", "70");
    h.push("To", "<sip:+8613800138000@carrier>");
    h.push("From", "\"Sales\" <sip:+861058000000@127.0.0.1>;tag=abc123");
    h.push("Call-ID", "call-1@127.0.0.1");
    h.push("CSeq", "1 INVITE");
    h.push("Contact", "<sip:switchyard@127.0.0.1:5060>");
    req
}

/// The gateway's answer to `req`.
fn answer(req: &Request, status: u16) -> Response {
    let mut r = Response::for_request(req, status, "Whatever");
    if status > 100 {
        r.headers.to_mut().unwrap().set_tag("gw");
    }
    r
}

fn challenge(req: &Request, status: u16, nonce: &str) -> Response {
    let mut r = answer(req, status);
    let name = if status == 401 {
        "WWW-Authenticate"
    } else {
        "Proxy-Authenticate"
    };
    r.headers.push(
        name,
        format!("Digest realm=\"carrier\", nonce=\"{nonce}\", algorithm=MD5"),
    );
    r
}

/// Checks the digest answer in `header` of `req` against `nonce` and the password.
fn assert_digest(req: &Request, header: &str, nonce: &str) {
    let cred = Credentials::parse(req.headers.get(header).expect("credentials")).unwrap();
    assert_eq!(cred.param("nonce"), Some(nonce));
    let params = DigestParams {
        algorithm: Algorithm::Md5,
        username: cred.param("username").unwrap(),
        realm: cred.param("realm").unwrap(),
        nonce,
        method: req.method.as_str(),
        uri: cred.param("uri").unwrap(),
        qop: None,
    };
    assert_eq!(params.username, "switchyard");
    assert!(params.verify(Secret::Password(SECRET), cred.param("response").unwrap()));
}

fn events(call: &mut OutboundCall) -> Vec<CallEvent> {
    std::iter::from_fn(|| call.poll_event()).collect()
}

/// The one event, which must be a `Send`.
fn sent(call: &mut OutboundCall) -> Attempt {
    match events(call).as_slice() {
        [CallEvent::Send(a)] => a.clone(),
        other => panic!("expected one Send, got {other:?}"),
    }
}

fn cseq(req: &Request) -> u32 {
    req.headers.cseq().unwrap().seq
}

fn branch(req: &Request) -> String {
    req.headers.top_via().unwrap().branch().unwrap().to_owned()
}

fn start(now: Instant) -> OutboundCall {
    OutboundCall::new(now, &outbound(), |_| true, template(), local(), 7)
}

#[test]
fn attempts_go_to_the_gateways_in_priority_order_with_a_fresh_via() {
    let t0 = Instant::now();
    let mut out = outbound();
    out.caller_id = Some("+861058000099".into());
    let mut call = OutboundCall::new(t0, &out, |_| true, template(), local(), 7);
    let a = sent(&mut call);
    assert_eq!(a.gateway, addr(5070));
    assert_eq!(a.request.method, Method::Invite);
    assert_eq!(a.request.uri.as_str(), "sip:+8613800138000@127.0.0.1:5070");
    let via = a.request.headers.top_via().unwrap();
    assert_eq!(via.host_str(), "127.0.0.1");
    assert_eq!(via.port(), Some(5060));
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    assert_eq!(a.request.headers.vias().len(), 1);
    assert_eq!(a.request.headers.call_id(), Some("call-1@127.0.0.1"));
    let from = a.request.headers.from().unwrap();
    assert_eq!(from.uri().user(), Some("+861058000099"));
    assert_eq!(from.tag(), Some("abc123"));
    assert_eq!(a.key(), TsxKey::for_request(&a.request).unwrap());

    // A tel: number goes to the gateway as the user part.
    let mut tel = template();
    tel.uri = Uri::parse("tel:+8613800138000").unwrap();
    let mut call = OutboundCall::new(t0, &out, |_| true, tel, local(), 7);
    assert_eq!(
        sent(&mut call).request.uri.as_str(),
        "sip:+8613800138000@127.0.0.1:5070"
    );
}

#[test]
fn fails_over_on_503() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    assert!(call.handle_response(t0, &answer(&first.request, 100)));
    assert!(events(&mut call).is_empty());
    assert!(call.handle_response(t0, &answer(&first.request, 503)));
    // A final answer: nothing to cancel, straight on to the next gateway.
    let second = sent(&mut call);
    assert_eq!(second.gateway, addr(5072));
    assert_eq!(
        second.request.uri.as_str(),
        "sip:+8613800138000@127.0.0.1:5072"
    );
    assert_ne!(branch(&second.request), branch(&first.request));
    assert!(cseq(&second.request) > cseq(&first.request));

    call.handle_response(t0, &answer(&second.request, 180));
    assert!(matches!(
        events(&mut call).as_slice(),
        [CallEvent::Provisional { attempt, response }]
            if *attempt == second.id && response.status == 180
    ));
    call.handle_response(t0, &answer(&second.request, 200));
    assert!(matches!(
        events(&mut call).as_slice(),
        [CallEvent::Connected { attempt, response }] if *attempt == second.id && response.status == 200
    ));
    assert!(!call.is_trying());
}

#[test]
fn fails_over_when_no_provisional_comes_within_failover_after() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    assert_eq!(call.poll_timeout(), Some(t0 + Duration::from_secs(3)));

    call.handle_timeout(t0 + Duration::from_millis(2999));
    assert!(events(&mut call).is_empty());

    call.handle_timeout(t0 + Duration::from_secs(3));
    let evs = events(&mut call);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(
        evs[0],
        CallEvent::Cancel {
            attempt: first.id,
            key: first.key()
        }
    );
    let CallEvent::Send(second) = &evs[1] else {
        panic!("expected a Send, got {:?}", evs[1]);
    };
    assert_eq!(second.gateway, addr(5072));
    assert_eq!(call.poll_timeout(), Some(t0 + Duration::from_secs(6)));

    // Ringing: the failover timer stops; a long ring is call control's business.
    call.handle_response(t0 + Duration::from_secs(4), &answer(&second.request, 180));
    assert_eq!(call.poll_timeout(), None);
    call.handle_timeout(t0 + Duration::from_secs(60));
    assert!(matches!(
        events(&mut call).as_slice(),
        [CallEvent::Provisional { .. }]
    ));
    // The first gateway's late 487 (to our CANCEL) changes nothing.
    call.handle_response(t0 + Duration::from_secs(61), &answer(&first.request, 487));
    assert!(events(&mut call).is_empty());
    assert!(call.is_trying());
}

#[test]
fn a_100_trying_stops_the_failover_timer() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    call.handle_response(t0 + Duration::from_secs(1), &answer(&first.request, 100));
    assert_eq!(call.poll_timeout(), None);
    call.handle_timeout(t0 + Duration::from_secs(10));
    assert!(events(&mut call).is_empty());
}

#[test]
fn no_failover_on_486() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    call.handle_response(t0, &answer(&first.request, 180));
    events(&mut call);
    call.handle_response(t0, &answer(&first.request, 486));
    assert_eq!(events(&mut call), vec![CallEvent::Failed { status: 486 }]);
    assert!(!call.is_trying());
    assert_eq!(call.poll_timeout(), None);
}

#[test]
fn the_last_gateways_failure_is_the_calls() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    call.handle_response(t0, &answer(&first.request, 502));
    let second = sent(&mut call);
    assert!(call.handle_tsx_failure(t0, &second.key()));
    assert_eq!(events(&mut call), vec![CallEvent::Failed { status: 408 }]);
}

#[test]
fn a_407_is_answered_once_on_the_same_gateway_then_the_call_connects() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    call.handle_response(t0, &challenge(&first.request, 407, "n1"));
    let retry = sent(&mut call);
    assert_eq!(retry.gateway, first.gateway);
    assert_eq!(cseq(&retry.request), cseq(&first.request) + 1);
    assert_ne!(branch(&retry.request), branch(&first.request));
    assert_eq!(
        retry.request.headers.call_id(),
        first.request.headers.call_id()
    );
    assert_digest(&retry.request, "Proxy-Authorization", "n1");

    call.handle_response(t0, &answer(&retry.request, 200));
    assert!(matches!(
        events(&mut call).as_slice(),
        [CallEvent::Connected { attempt, .. }] if *attempt == retry.id
    ));
    assert_eq!(
        call.invite(retry.id),
        Some((&retry.request, retry.gateway)),
        "the dialog is built from the INVITE that was answered"
    );
    assert_eq!(call.current(), Some((retry.id, retry.gateway)));
}

#[test]
fn a_second_challenge_fails_the_call_without_trying_other_gateways() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    call.handle_response(t0, &challenge(&first.request, 401, "n1"));
    let retry = sent(&mut call);
    assert_digest(&retry.request, "Authorization", "n1");
    call.handle_response(t0, &challenge(&retry.request, 401, "n2"));
    assert_eq!(events(&mut call), vec![CallEvent::Failed { status: 401 }]);
}

#[test]
fn a_challenge_without_credentials_fails_the_call() {
    let t0 = Instant::now();
    let mut out = outbound();
    out.username = None;
    out.password = None;
    let mut call = OutboundCall::new(t0, &out, |_| true, template(), local(), 7);
    let first = sent(&mut call);
    call.handle_response(t0, &challenge(&first.request, 407, "n1"));
    assert_eq!(events(&mut call), vec![CallEvent::Failed { status: 407 }]);
}

#[test]
fn a_gateway_marked_down_is_skipped() {
    let t0 = Instant::now();
    let mut call = OutboundCall::new(t0, &outbound(), |a| a != addr(5070), template(), local(), 7);
    let a = sent(&mut call);
    assert_eq!(a.gateway, addr(5072));
    // No gateway left after it: its failure is the call's.
    call.handle_response(t0, &answer(&a.request, 503));
    assert_eq!(events(&mut call), vec![CallEvent::Failed { status: 503 }]);

    let mut none = OutboundCall::new(t0, &outbound(), |_| false, template(), local(), 7);
    assert_eq!(events(&mut none), vec![CallEvent::Failed { status: 503 }]);
}

#[test]
fn an_abandoned_gateway_answering_first_still_connects_the_call() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    call.handle_timeout(t0 + Duration::from_secs(3));
    let second = match events(&mut call).as_slice() {
        [CallEvent::Cancel { .. }, CallEvent::Send(a)] => a.clone(),
        other => panic!("{other:?}"),
    };
    call.handle_response(t0 + Duration::from_secs(4), &answer(&first.request, 200));
    assert_eq!(
        events(&mut call),
        vec![
            CallEvent::Cancel {
                attempt: second.id,
                key: second.key()
            },
            CallEvent::Connected {
                attempt: first.id,
                response: answer(&first.request, 200)
            },
        ]
    );
    // The other's 2xx, crossing the CANCEL, must be ACKed and hung up.
    call.handle_response(t0 + Duration::from_secs(4), &answer(&second.request, 200));
    assert!(matches!(
        events(&mut call).as_slice(),
        [CallEvent::Surplus2xx { attempt, .. }] if *attempt == second.id
    ));
}

#[test]
fn the_caller_hanging_up_cancels_the_attempt() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    call.handle_response(t0, &answer(&first.request, 180));
    events(&mut call);
    call.cancel(t0);
    assert_eq!(
        events(&mut call),
        vec![CallEvent::Cancel {
            attempt: first.id,
            key: first.key()
        }]
    );
    assert_eq!(call.poll_timeout(), None);
    call.handle_response(t0, &answer(&first.request, 487));
    assert!(events(&mut call).is_empty());
}

#[test]
fn responses_to_other_transactions_are_not_taken() {
    let t0 = Instant::now();
    let mut call = start(t0);
    let first = sent(&mut call);
    let mut cancel_ok = answer(&first.request, 200);
    cancel_ok
        .headers
        .set("CSeq", format!("{} CANCEL", cseq(&first.request)));
    assert!(!call.handle_response(t0, &cancel_ok));
    let mut other = first.request.clone();
    other
        .headers
        .top_via_mut()
        .unwrap()
        .set_param("branch", Some("z9hG4bKother"));
    assert!(!call.handle_response(t0, &answer(&other, 503)));
    assert!(events(&mut call).is_empty());
}

// --- registration ---

fn registering() -> Outbound {
    Outbound {
        register: true,
        ..outbound()
    }
}

fn requests(reg: &mut Registration) -> Vec<Outgoing> {
    std::iter::from_fn(|| reg.poll_request()).collect()
}

fn one(reg: &mut Registration) -> Outgoing {
    let mut r = requests(reg);
    assert_eq!(r.len(), 1, "{r:?}");
    r.remove(0)
}

/// 200 granting `expires` seconds to the request's Contact.
fn granted(req: &Request, expires: u32) -> Response {
    let mut ok = answer(req, 200);
    let contact = req.headers.get("Contact").unwrap().to_owned();
    ok.headers
        .push("Contact", format!("{contact};expires={expires}"));
    ok
}

#[test]
fn registers_with_digest_and_refreshes_at_half_the_granted_expiry() {
    let t0 = Instant::now();
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    assert_eq!(reg.state(), &RegistrationState::Registering);
    assert_eq!(reg.poll_timeout(), Some(t0));
    reg.handle_timeout(t0, |_| true);
    let first = one(&mut reg);
    assert_eq!(first.destination, addr(5070));
    let r = &first.request;
    assert_eq!(r.method, Method::Register);
    assert_eq!(r.uri.as_str(), "sip:127.0.0.1:5070");
    assert_eq!(
        r.headers.to().unwrap().uri().as_str(),
        "sip:switchyard@127.0.0.1:5070"
    );
    assert_eq!(
        r.headers.get("Contact"),
        Some("<sip:switchyard@127.0.0.1:5060>")
    );
    assert_eq!(r.headers.expires(), Some(3600));
    assert!(r.headers.get("Authorization").is_none());
    assert_eq!(reg.poll_timeout(), None, "nothing due while one is pending");

    assert!(reg.handle_response(t0, &challenge(r, 401, "n1")));
    let authed = one(&mut reg);
    assert_eq!(authed.destination, addr(5070));
    assert_eq!(cseq(&authed.request), cseq(r) + 1);
    assert_digest(&authed.request, "Authorization", "n1");

    assert!(reg.handle_response(t0, &granted(&authed.request, 600)));
    assert_eq!(
        reg.state(),
        &RegistrationState::Registered {
            gateway: addr(5070),
            expires: t0 + Duration::from_secs(600)
        }
    );
    assert_eq!(
        reg.poll_event(),
        Some(RegistrationEvent::Registered {
            gateway: addr(5070),
            expires: Duration::from_secs(600)
        })
    );
    assert!(reg.is_registered(t0 + Duration::from_secs(599)));
    let refresh_at = t0 + Duration::from_secs(300);
    assert_eq!(reg.poll_timeout(), Some(refresh_at));

    reg.handle_timeout(refresh_at - Duration::from_millis(1), |_| true);
    assert!(requests(&mut reg).is_empty());

    // The refresh: same Call-ID and From tag, a higher CSeq; the new nonce is answered.
    reg.handle_timeout(refresh_at, |_| true);
    let refresh = one(&mut reg);
    assert_eq!(
        refresh.request.headers.call_id(),
        authed.request.headers.call_id()
    );
    assert_eq!(
        refresh.request.headers.from().unwrap().tag(),
        authed.request.headers.from().unwrap().tag()
    );
    assert_eq!(cseq(&refresh.request), cseq(&authed.request) + 1);
    reg.handle_response(refresh_at, &challenge(&refresh.request, 401, "n2"));
    let reauthed = one(&mut reg);
    assert_digest(&reauthed.request, "Authorization", "n2");
    // Granted by the Expires header this time.
    let mut ok = answer(&reauthed.request, 200);
    ok.headers.push("Expires", "120");
    reg.handle_response(refresh_at, &ok);
    assert_eq!(
        reg.poll_timeout(),
        Some(refresh_at + Duration::from_secs(60))
    );
    assert!(matches!(
        reg.state(),
        RegistrationState::Registered { expires, .. } if *expires == refresh_at + Duration::from_secs(120)
    ));
}

#[test]
fn registration_retries_with_a_doubling_backoff() {
    let t0 = Instant::now();
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    reg.handle_timeout(t0, |_| true);
    let first = one(&mut reg);
    reg.handle_response(t0, &answer(&first.request, 403));
    assert_eq!(
        reg.state(),
        &RegistrationState::Failing {
            status: Some(403),
            failures: 1,
            retry_at: t0 + Duration::from_secs(30),
            registered_until: None,
        }
    );
    assert_eq!(
        reg.poll_event(),
        Some(RegistrationEvent::Failed {
            status: Some(403),
            retry_in: Duration::from_secs(30)
        })
    );
    let t1 = t0 + Duration::from_secs(30);
    assert_eq!(reg.poll_timeout(), Some(t1));
    reg.handle_timeout(t1, |_| true);
    let second = one(&mut reg);
    assert!(reg.handle_tsx_failure(t1, &TsxKey::for_request(&second.request).unwrap()));
    assert_eq!(reg.poll_timeout(), Some(t1 + Duration::from_secs(60)));
    assert!(matches!(
        reg.state(),
        RegistrationState::Failing {
            status: None,
            failures: 2,
            ..
        }
    ));

    let t2 = t1 + Duration::from_secs(60);
    reg.handle_timeout(t2, |_| true);
    let third = one(&mut reg);
    reg.handle_response(t2, &granted(&third.request, 3600));
    assert!(reg.is_registered(t2));
    assert_eq!(reg.poll_timeout(), Some(t2 + Duration::from_secs(1800)));
}

#[test]
fn a_failed_refresh_is_retried_before_the_registration_lapses() {
    let t0 = Instant::now();
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    reg.handle_timeout(t0, |_| true);
    let first = one(&mut reg);
    reg.handle_response(t0, &granted(&first.request, 100));
    let t1 = t0 + Duration::from_secs(50);
    assert_eq!(reg.poll_timeout(), Some(t1));
    reg.handle_timeout(t1, |_| true);
    let refresh = one(&mut reg);
    reg.handle_response(t1, &answer(&refresh.request, 503));
    // 50 s left: the retry comes in 25 s, not the usual 30 s, and we are still registered.
    let t2 = t1 + Duration::from_secs(25);
    assert_eq!(
        reg.state(),
        &RegistrationState::Failing {
            status: Some(503),
            failures: 1,
            retry_at: t2,
            registered_until: Some(t0 + Duration::from_secs(100)),
        }
    );
    assert!(reg.is_registered(t2));
    reg.handle_timeout(t2, |_| true);
    let retry = one(&mut reg);
    assert!(reg.handle_tsx_failure(t2, &TsxKey::for_request(&retry.request).unwrap()));
    assert_eq!(reg.poll_timeout(), Some(t2 + Duration::from_millis(12_500)));
    assert!(!reg.is_registered(t0 + Duration::from_secs(100)));
}

#[test]
fn rejected_credentials_are_a_failure_not_a_loop() {
    let t0 = Instant::now();
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    reg.handle_timeout(t0, |_| true);
    let first = one(&mut reg);
    reg.handle_response(t0, &challenge(&first.request, 401, "n1"));
    let authed = one(&mut reg);
    reg.handle_response(t0, &challenge(&authed.request, 401, "n2"));
    assert!(requests(&mut reg).is_empty());
    assert!(matches!(
        reg.state(),
        RegistrationState::Failing {
            status: Some(401),
            failures: 1,
            ..
        }
    ));
}

#[test]
fn the_granted_expiry_is_read_from_our_contact_among_others() {
    let t0 = Instant::now();
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    reg.handle_timeout(t0, |_| true);
    let first = one(&mut reg);
    let mut ok = answer(&first.request, 200);
    ok.headers
        .push("Contact", "<sip:other@192.0.2.1:5060>;expires=3000");
    ok.headers
        .push("Contact", "<sip:switchyard@127.0.0.1:5060>;expires=200");
    ok.headers.push("Expires", "3600");
    reg.handle_response(t0, &ok);
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(100)));

    // A registrar that rewrote our only Contact still grants through it.
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    reg.handle_timeout(t0, |_| true);
    let first = one(&mut reg);
    let mut ok = answer(&first.request, 200);
    ok.headers.push(
        "Contact",
        "<sip:switchyard@127.0.0.1:5060;transport=udp>;expires=90",
    );
    reg.handle_response(t0, &ok);
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(45)));
}

#[test]
fn registration_asks_again_with_the_minimum_on_423() {
    let t0 = Instant::now();
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    reg.handle_timeout(t0, |_| true);
    let first = one(&mut reg);
    let mut brief = answer(&first.request, 423);
    brief.headers.push("Min-Expires", "7200");
    reg.handle_response(t0, &brief);
    let again = one(&mut reg);
    assert_eq!(again.request.headers.expires(), Some(7200));
}

#[test]
fn registration_goes_to_the_first_gateway_that_is_up() {
    let t0 = Instant::now();
    let mut reg = Registration::new(t0, &registering(), local(), 3).unwrap();
    reg.handle_timeout(t0, |a| a != addr(5070));
    assert_eq!(one(&mut reg).destination, addr(5072));
}

#[test]
fn no_registration_unless_asked_for() {
    let t0 = Instant::now();
    assert!(Registration::new(t0, &outbound(), local(), 3).is_none());
}

// --- health checks ---

fn checked() -> Outbound {
    Outbound {
        options_interval: Some(Duration::from_secs(30)),
        ..outbound()
    }
}

/// The round's OPTIONS, by destination port.
fn round(health: &mut HealthCheck) -> (Request, Request) {
    let reqs: Vec<Outgoing> = std::iter::from_fn(|| health.poll_request()).collect();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let find = |port| {
        reqs.iter()
            .find(|o| o.destination == addr(port))
            .map(|o| o.request.clone())
            .unwrap()
    };
    (find(5070), find(5072))
}

fn health_events(health: &mut HealthCheck) -> Vec<HealthEvent> {
    std::iter::from_fn(|| health.poll_event()).collect()
}

#[test]
fn a_gateway_goes_down_after_two_misses_and_up_after_one_answer() {
    let t0 = Instant::now();
    let every = Duration::from_secs(30);
    let mut health = HealthCheck::new(t0, &checked(), local(), 5);
    assert!(health.is_up(addr(5070)) && health.is_up(addr(5072)));
    assert_eq!(health.poll_timeout(), Some(t0));

    health.handle_timeout(t0);
    let (a, b) = round(&mut health);
    assert_eq!(a.method, Method::Options);
    assert_eq!(a.uri.as_str(), "sip:127.0.0.1:5070");
    assert_eq!(health.poll_timeout(), Some(t0 + every));
    // 405: not an OPTIONS fan, but alive.
    assert!(health.handle_response(t0, &answer(&a, 405)));
    assert!(health.handle_response(t0, &answer(&b, 503)));
    assert!(health.is_up(addr(5072)), "one miss is not enough");
    assert!(health_events(&mut health).is_empty());

    health.handle_timeout(t0 + every);
    let (a, b) = round(&mut health);
    health.handle_response(t0 + every, &answer(&a, 200));
    assert!(health.handle_tsx_failure(t0 + every, &TsxKey::for_request(&b).unwrap()));
    assert!(!health.is_up(addr(5072)));
    assert!(health.is_up(addr(5070)));
    assert_eq!(
        health_events(&mut health),
        vec![HealthEvent::Down {
            address: addr(5072)
        }]
    );

    health.handle_timeout(t0 + every * 2);
    let (_, b) = round(&mut health);
    health.handle_response(t0 + every * 2, &answer(&b, 404));
    assert!(health.is_up(addr(5072)));
    assert_eq!(
        health_events(&mut health),
        vec![HealthEvent::Up {
            address: addr(5072)
        }]
    );
}

#[test]
fn a_probe_unanswered_by_the_next_round_is_a_miss() {
    let t0 = Instant::now();
    let every = Duration::from_secs(30);
    let mut health = HealthCheck::new(t0, &checked(), local(), 5);
    health.handle_timeout(t0);
    let (a, _) = round(&mut health);
    health.handle_response(t0, &answer(&a, 200));
    health.handle_timeout(t0 + every);
    let (a, _) = round(&mut health);
    health.handle_response(t0 + every, &answer(&a, 200));
    assert!(health.is_up(addr(5072)));
    health.handle_timeout(t0 + every * 2);
    round(&mut health);
    assert!(health.is_up(addr(5070)));
    assert!(!health.is_up(addr(5072)));
}

#[test]
fn without_an_interval_nothing_is_probed() {
    let t0 = Instant::now();
    let mut health = HealthCheck::new(t0, &outbound(), local(), 5);
    assert_eq!(health.poll_timeout(), None);
    health.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(health.poll_request().is_none());
    assert!(health.is_up(addr(5070)));
}

// --- the trunk as a whole ---

#[test]
fn a_trunk_routes_answers_and_skips_the_gateway_its_checks_found_down() {
    let t0 = Instant::now();
    let every = Duration::from_secs(30);
    let mut trunk = Trunk::new(
        t0,
        "carrier",
        Outbound {
            register: true,
            ..checked()
        },
        local(),
        9,
    );
    assert_eq!(trunk.poll_timeout(), Some(t0));
    for n in 0..2 {
        let now = t0 + every * n;
        trunk.handle_timeout(now);
        let out: Vec<Outgoing> = std::iter::from_fn(|| trunk.poll_request()).collect();
        for o in out {
            let status = match (o.request.method.clone(), o.destination.port()) {
                (Method::Options, 5070) => 503,
                (Method::Options, _) => 200,
                (_, _) => {
                    assert_eq!(n, 0);
                    // The first REGISTER goes out before any check is answered.
                    assert_eq!(o.destination, addr(5070));
                    200
                }
            };
            assert!(trunk.handle_response(now, &answer(&o.request, status)));
        }
    }
    let events: Vec<TrunkEvent> = std::iter::from_fn(|| trunk.poll_event()).collect();
    assert!(events.contains(&TrunkEvent::Health(HealthEvent::Down {
        address: addr(5070)
    })));
    assert!(events.iter().any(|e| matches!(
        e,
        TrunkEvent::Registration(RegistrationEvent::Registered { .. })
    )));
    let status = trunk.status();
    assert_eq!(status.name, "carrier");
    assert!(!status.gateways[0].up && status.gateways[1].up);
    assert!(matches!(
        status.registration,
        Some(RegistrationState::Registered { .. })
    ));

    let mut call = trunk.call(t0 + every, template());
    assert_eq!(sent(&mut call).gateway, addr(5072));

    // Registered at the gateway that went down: at once again, at the one still up.
    assert_eq!(trunk.poll_timeout(), Some(t0 + every));
    trunk.handle_timeout(t0 + every);
    let again = trunk.poll_request().expect("a REGISTER");
    assert_eq!(again.request.method, Method::Register);
    assert_eq!(again.destination, addr(5072));
    assert!(trunk.poll_request().is_none());
}

// --- with the real transaction layer ---

/// A dead first gateway (it drops everything) and a second that rings and answers, driven
/// through `TransactionLayer` on a virtual clock: the call moves on at 3 s, while the
/// layer is still retransmitting the first INVITE (its Timer B would wait 32 s).
#[test]
fn through_the_transaction_layer_a_dead_gateway_is_left_at_3_s_not_32_s() {
    use switchyard_sip::Message;
    use switchyard_sip::transaction::{TransactionConfig, TransactionLayer, TsxEvent};

    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TransactionConfig::default());
    let mut call = start(t0);
    let mut now = t0;
    let mut to_dead = Vec::new();
    let mut sends = Vec::new();
    let mut cancelled = Vec::new();
    let mut connected = None;
    for _ in 0..100 {
        while let Some(e) = call.poll_event() {
            match e {
                CallEvent::Send(a) => {
                    let key = layer
                        .send_request(now, a.request.clone(), a.gateway, Transport::Udp)
                        .unwrap();
                    assert_eq!(key, a.key());
                    sends.push((now - t0, a.gateway));
                }
                CallEvent::Cancel { key, .. } => {
                    layer.cancel(now, &key).unwrap();
                    cancelled.push(now - t0);
                }
                CallEvent::Connected { attempt, .. } => connected = Some((now - t0, attempt)),
                other => assert!(matches!(other, CallEvent::Provisional { .. }), "{other:?}"),
            }
        }
        if connected.is_some() {
            break;
        }
        while let Some(tx) = layer.poll_transmit() {
            let Message::Request(req) = Message::parse(&tx.payload).unwrap() else {
                panic!("the gateways send nothing unprompted");
            };
            if tx.destination == addr(5070) {
                to_dead.push((now - t0, req.method));
                continue;
            }
            for status in [180, 200] {
                let resp = Message::Response(answer(&req, status));
                layer.handle_receive(now, resp, tx.destination, Transport::Udp);
            }
        }
        let mut heard = false;
        while let Some(ev) = layer.poll_event() {
            heard = true;
            match ev {
                TsxEvent::Response { response, .. } => {
                    assert!(call.handle_response(now, &response));
                }
                TsxEvent::Timeout { key, .. } => {
                    call.handle_tsx_failure(now, &key);
                }
                other => panic!("{other:?}"),
            }
        }
        if heard {
            continue; // What the call made of it is handled at this same instant.
        }
        let next = [layer.poll_timeout(), call.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else { break };
        now = now.max(t);
        layer.handle_timeout(now);
        call.handle_timeout(now);
    }
    let s = Duration::from_secs;
    assert_eq!(sends, vec![(s(0), addr(5070)), (s(3), addr(5072))]);
    assert_eq!(cancelled, vec![s(3)], "the silent attempt is abandoned");
    // Timer A retransmitted the first INVITE at 0.5 s and 1.5 s; no CANCEL went to the
    // dead gateway, which never sent a provisional response.
    assert_eq!(
        to_dead,
        vec![
            (s(0), Method::Invite),
            (Duration::from_millis(500), Method::Invite),
            (Duration::from_millis(1500), Method::Invite),
        ]
    );
    let (at, attempt) = connected.expect("connected through the second gateway");
    assert_eq!(at, s(3));
    assert_eq!(attempt, AttemptId(1));
}
