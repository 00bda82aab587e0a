//! Dialogs for UAC and UAS (RFC 3261 §12) and session timers (RFC 4028) on simulated time.

use std::time::{Duration, Instant};

use switchyard_sip::dialog::{
    Dialog, DialogEvent, DialogKey, DialogState, LocalVia, SUPPORTED_OPTION_TAGS,
    SessionTimerConfig, Tag, check_require, min_se_too_small, retry_after_422,
};
use switchyard_sip::transaction::{Branch, Transport};
use switchyard_sip::{Message, Method, NameAddr, Request, Response};

fn parse(text: &str) -> Message {
    Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap()
}

fn req(text: &str) -> Request {
    match parse(text) {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn resp(text: &str) -> Response {
    match parse(text) {
        Message::Response(r) => r,
        Message::Request(_) => unreachable!(),
    }
}

fn via(host: &str) -> LocalVia {
    LocalVia::new(Transport::Udp, host).unwrap()
}

fn branch(n: u32) -> Branch {
    Branch::new(&format!("z9hG4bKdlg{n}"))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Our INVITE as UAC (through two proxies), with `extra` header lines.
fn our_invite(extra: &str) -> Request {
    req(&format!(
        "INVITE sip:agent@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv1
Max-Forwards: 70
To: <sip:agent@example.com>
From: \"Queue\" <sip:queue@switchyard.example>;tag=ours
Call-ID: dlg-1@switchyard
CSeq: 10 INVITE
Contact: <sip:switchyard@10.0.0.1:5060>
{extra}Content-Length: 0

"
    ))
}

fn their_answer(status: u16, extra: &str) -> Response {
    resp(&format!(
        "SIP/2.0 {status} Answer
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv1
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
To: <sip:agent@example.com>;tag=theirs
From: \"Queue\" <sip:queue@switchyard.example>;tag=ours
Call-ID: dlg-1@switchyard
CSeq: 10 INVITE
Contact: <sip:agent@192.0.2.50:5062>
{extra}Content-Length: 0

"
    ))
}

/// An INVITE arriving at us as UAS, through two proxies.
fn incoming_invite(extra: &str) -> Request {
    req(&format!(
        "INVITE sip:sales@switchyard.example SIP/2.0
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKcaller
Record-Route: <sip:p1.example.com;lr>
Record-Route: <sip:p2.example.com;lr>
Max-Forwards: 69
To: <sip:sales@switchyard.example>
From: <sip:+15550100@carrier.example>;tag=caller
Call-ID: in-1@carrier
CSeq: 5 INVITE
Contact: <sip:+15550100@192.0.2.9:5060>
{extra}Content-Length: 0

"
    ))
}

fn in_dialog(method: &str, cseq: u32, extra: &str) -> Request {
    req(&format!(
        "{method} sip:switchyard@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKin{cseq}
Max-Forwards: 70
To: <sip:sales@switchyard.example>;tag=us
From: <sip:+15550100@carrier.example>;tag=caller
Call-ID: in-1@carrier
CSeq: {cseq} {method}
{extra}Content-Length: 0

"
    ))
}

fn uas_dialog(invite: &Request, st: SessionTimerConfig) -> Dialog {
    let contact = NameAddr::parse("<sip:switchyard@10.0.0.1:5060>").unwrap();
    Dialog::uas(invite, &Tag::new("us"), contact, via("10.0.0.1:5060"), st).unwrap()
}

fn route_uris(r: &Request) -> Vec<String> {
    r.headers
        .routes()
        .iter()
        .map(|n| n.uri().to_string())
        .collect()
}

#[test]
fn uac_dialog_reverses_record_route_and_targets_the_contact() {
    let t0 = Instant::now();
    let invite = our_invite("");
    let mut d = Dialog::uac(
        t0,
        &invite,
        &their_answer(200, ""),
        via("10.0.0.1:5060"),
        SessionTimerConfig::default(),
    )
    .unwrap();
    assert_eq!(
        d.key(),
        &DialogKey::new("dlg-1@switchyard", "ours", "theirs")
    );
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.remote_target().to_string(), "sip:agent@192.0.2.50:5062");
    let rs: Vec<String> = d.route_set().iter().map(|r| r.uri().to_string()).collect();
    assert_eq!(rs, ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
    assert_eq!(d.next_hop().to_string(), "sip:p2.example.com;lr");

    // ACK for the 2xx: the INVITE's CSeq number, the route set, a new branch.
    let ack = d.ack(10, &branch(1));
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri.to_string(), "sip:agent@192.0.2.50:5062");
    assert_eq!(ack.headers.cseq().unwrap().seq, 10);
    assert_eq!(ack.headers.cseq().unwrap().method, Method::Ack);
    assert_eq!(route_uris(&ack), rs);
    assert_eq!(ack.headers.top_via().unwrap().branch(), Some("z9hG4bKdlg1"));

    // In-dialog requests count up from the INVITE's CSeq.
    let update = d.request(Method::Update, &branch(2));
    assert_eq!(update.headers.cseq().unwrap().seq, 11);
    assert!(
        update.headers.contacts().as_slice().len() == 1,
        "target refresh carries Contact"
    );
    let bye = d.request(Method::Bye, &branch(3));
    assert_eq!(bye.headers.cseq().unwrap().seq, 12);
    assert_eq!(bye.uri.to_string(), "sip:agent@192.0.2.50:5062");
    assert_eq!(route_uris(&bye), rs);
    assert_eq!(bye.headers.from().unwrap().tag(), Some("ours"));
    assert_eq!(bye.headers.to().unwrap().tag(), Some("theirs"));
    assert_eq!(bye.headers.call_id(), Some("dlg-1@switchyard"));
    assert_eq!(d.state(), DialogState::Terminated);
    // The message survives printing and parsing.
    let again = Message::parse(&Message::Request(bye).to_bytes()).unwrap();
    assert!(matches!(again, Message::Request(r) if r.method == Method::Bye));
}

#[test]
fn early_uac_dialog_is_confirmed_by_the_2xx_with_its_route_set() {
    let t0 = Instant::now();
    let invite = our_invite("");
    let ringing = resp(
        "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv1
To: <sip:agent@example.com>;tag=theirs
From: <sip:queue@switchyard.example>;tag=ours
Call-ID: dlg-1@switchyard
CSeq: 10 INVITE
Contact: <sip:agent@192.0.2.50:5062>
Content-Length: 0

",
    );
    let mut d = Dialog::uac(
        t0,
        &invite,
        &ringing,
        via("10.0.0.1"),
        SessionTimerConfig::default(),
    )
    .unwrap();
    assert_eq!(d.state(), DialogState::Early);
    assert!(d.route_set().is_empty());
    d.handle_response(t0, &their_answer(200, ""));
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.route_set().len(), 2);
}

#[test]
fn strict_route_goes_in_the_request_uri() {
    let t0 = Instant::now();
    let mut answer = their_answer(200, "");
    answer
        .headers
        .set("Record-Route", "<sip:old-proxy.example.com>");
    let mut d = Dialog::uac(
        t0,
        &our_invite(""),
        &answer,
        via("10.0.0.1"),
        SessionTimerConfig::default(),
    )
    .unwrap();
    let bye = d.request(Method::Bye, &branch(1));
    assert_eq!(bye.uri.to_string(), "sip:old-proxy.example.com");
    assert_eq!(route_uris(&bye), ["sip:agent@192.0.2.50:5062"]);
}

#[test]
fn uas_dialog_keeps_record_route_order_and_answers_with_tag_and_contact() {
    let t0 = Instant::now();
    let invite = incoming_invite("");
    let mut d = uas_dialog(&invite, SessionTimerConfig::default());
    assert_eq!(d.key(), &DialogKey::new("in-1@carrier", "us", "caller"));
    assert_eq!(d.state(), DialogState::Early);
    let rs: Vec<String> = d.route_set().iter().map(|r| r.uri().to_string()).collect();
    assert_eq!(rs, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    assert_eq!(
        d.remote_target().to_string(),
        "sip:+15550100@192.0.2.9:5060"
    );

    let ok = d.response(t0, &invite, 200, "OK");
    assert_eq!(ok.headers.to().unwrap().tag(), Some("us"));
    assert_eq!(
        ok.headers.contacts().as_slice()[0].uri().to_string(),
        "sip:switchyard@10.0.0.1:5060"
    );
    assert_eq!(ok.headers.record_routes().len(), 2);
    assert_eq!(ok.headers.vias().len(), 2);
    assert_eq!(d.state(), DialogState::Confirmed);

    // Our first request in the dialog gets CSeq 1, then 2; Request-URI is the caller's
    // Contact and the Route set is in Record-Route order.
    let info = d.request(Method::Info, &branch(1));
    assert_eq!(info.headers.cseq().unwrap().seq, 1);
    assert_eq!(info.uri.to_string(), "sip:+15550100@192.0.2.9:5060");
    assert_eq!(route_uris(&info), rs);
    assert_eq!(info.headers.from().unwrap().tag(), Some("us"));
    assert_eq!(info.headers.to().unwrap().tag(), Some("caller"));
    let bye = d.request(Method::Bye, &branch(2));
    assert_eq!(bye.headers.cseq().unwrap().seq, 2);
}

#[test]
fn remote_cseq_lower_than_the_last_is_answered_500() {
    let invite = incoming_invite("");
    let mut d = uas_dialog(&invite, SessionTimerConfig::default());
    assert_eq!(d.remote_cseq(), Some(5));
    assert!(d.handle_request(&in_dialog("INFO", 6, "")).is_ok());
    assert_eq!(d.remote_cseq(), Some(6));
    let err = d.handle_request(&in_dialog("INFO", 4, "")).unwrap_err();
    assert_eq!(err.status, 500);
    assert_eq!(d.remote_cseq(), Some(6));
    // ACK carries the INVITE's number and is not checked.
    assert!(d.handle_request(&in_dialog("ACK", 5, "")).is_ok());
}

#[test]
fn re_invite_updates_the_remote_target_and_bye_ends_the_dialog() {
    let t0 = Instant::now();
    let invite = incoming_invite("");
    let mut d = uas_dialog(&invite, SessionTimerConfig::default());
    d.response(t0, &invite, 200, "OK");
    let reinvite = in_dialog("INVITE", 6, "Contact: <sip:moved@192.0.2.77>\n");
    d.handle_request(&reinvite).unwrap();
    assert_eq!(d.remote_target().to_string(), "sip:moved@192.0.2.77");
    d.handle_request(&in_dialog("BYE", 7, "")).unwrap();
    assert_eq!(d.state(), DialogState::Terminated);
    assert_eq!(
        d.handle_request(&in_dialog("INFO", 8, ""))
            .unwrap_err()
            .status,
        481
    );
}

#[test]
fn require_100rel_is_refused_with_420_and_unsupported() {
    let invite = incoming_invite("Require: 100rel\n");
    let refused = check_require(&invite, SUPPORTED_OPTION_TAGS).unwrap();
    assert_eq!(refused.status, 420);
    assert_eq!(refused.headers.unsupported(), vec!["100rel"]);
    // Supported (not required) 100rel is fine, and so is Require: timer.
    assert!(
        check_require(
            &incoming_invite("Supported: 100rel\n"),
            SUPPORTED_OPTION_TAGS
        )
        .is_none()
    );
    assert!(check_require(&incoming_invite("Require: timer\n"), SUPPORTED_OPTION_TAGS).is_none());
    // The same inside a dialog.
    let mut d = uas_dialog(&incoming_invite(""), SessionTimerConfig::default());
    let err = d
        .handle_request(&in_dialog("UPDATE", 6, "Require: 100rel, foo\n"))
        .unwrap_err();
    assert_eq!(err.status, 420);
    assert_eq!(err.headers.unsupported(), vec!["100rel", "foo"]);
}

#[test]
fn session_expires_below_min_se_is_answered_422_with_min_se() {
    let cfg = SessionTimerConfig::default();
    let invite = incoming_invite("Supported: timer\nSession-Expires: 60\n");
    let r = min_se_too_small(&invite, &cfg).unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.headers.min_se(), Some(90));
    assert!(min_se_too_small(&incoming_invite("Session-Expires: 90\n"), &cfg).is_none());
    assert!(min_se_too_small(&incoming_invite(""), &cfg).is_none());
    // In a dialog (a refresh asking for too little).
    let mut d = uas_dialog(&incoming_invite(""), cfg);
    let err = d
        .handle_request(&in_dialog("UPDATE", 6, "Session-Expires: 30\n"))
        .unwrap_err();
    assert_eq!(err.status, 422);
}

#[test]
fn uas_lets_a_timer_capable_uac_refresh_and_sends_bye_when_it_does_not() {
    let t0 = Instant::now();
    let invite = incoming_invite("Supported: timer\nSession-Expires: 1800\n");
    let mut d = uas_dialog(&invite, SessionTimerConfig::default());
    let ok = d.response(t0, &invite, 200, "OK");
    let se = ok.headers.session_expires().unwrap();
    assert_eq!(se.delta, 1800);
    assert_eq!(se.refresher, Some(switchyard_sip::Refresher::Uac));
    assert!(ok.headers.require().contains(&"timer"));
    let st = d.session_timer().unwrap();
    assert!(!st.we_refresh);

    // The caller refreshes at 1000 s: the deadline moves.
    let refresh = in_dialog(
        "INVITE",
        6,
        "Supported: timer\nSession-Expires: 1800;refresher=uac\n",
    );
    let t1 = t0 + secs(1000);
    d.handle_timeout(t1);
    assert_eq!(d.poll_event(), None);
    d.handle_request(&refresh).unwrap();
    d.response(t1, &refresh, 200, "OK");
    // RFC 4028 §10: BYE at interval - min(32, interval/3) after the last refresh.
    assert_eq!(d.poll_timeout(), Some(t1 + secs(1800 - 32)));

    // Then the caller goes silent (its BYE is lost): the session expires.
    let deadline = d.poll_timeout().unwrap();
    d.handle_timeout(deadline - Duration::from_micros(1));
    assert_eq!(d.poll_event(), None);
    d.handle_timeout(deadline);
    assert_eq!(d.poll_event(), Some(DialogEvent::SessionExpired));
    assert_eq!(d.poll_timeout(), None);
    let bye = d.request(Method::Bye, &branch(9));
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(d.state(), DialogState::Terminated);
}

#[test]
fn uas_refreshes_for_a_uac_without_timer_support() {
    let t0 = Instant::now();
    let invite = incoming_invite("");
    let mut d = uas_dialog(&invite, SessionTimerConfig::default());
    let ok = d.response(t0, &invite, 200, "OK");
    let se = ok.headers.session_expires().unwrap();
    assert_eq!(
        (se.delta, se.refresher),
        (1800, Some(switchyard_sip::Refresher::Uas))
    );
    assert!(
        !ok.headers.require().contains(&"timer"),
        "no Require: timer towards a UAC that does not support it"
    );
    // Refresh at half the interval, by re-INVITE (the caller did not allow UPDATE).
    assert_eq!(d.poll_timeout(), Some(t0 + secs(900)));
    d.handle_timeout(t0 + secs(900));
    assert_eq!(
        d.poll_event(),
        Some(DialogEvent::RefreshDue {
            method: Method::Invite
        })
    );
    let reinvite = d.request(Method::Invite, &branch(1));
    let se = reinvite.headers.session_expires().unwrap();
    assert_eq!(
        (se.delta, se.refresher),
        (1800, Some(switchyard_sip::Refresher::Uac))
    );
    // No second reminder while the refresh is under way.
    assert_eq!(d.poll_timeout(), Some(t0 + secs(1800 - 32)));
    // The 2xx to the refresh restarts the timer.
    let t1 = t0 + secs(901);
    let answer = resp(&format!(
        "SIP/2.0 200 OK
Via: {}
To: <sip:+15550100@carrier.example>;tag=caller
From: <sip:sales@switchyard.example>;tag=us
Call-ID: in-1@carrier
CSeq: 1 INVITE
Session-Expires: 1800;refresher=uac
Content-Length: 0

",
        reinvite.headers.top_via().unwrap()
    ));
    d.handle_response(t1, &answer);
    assert_eq!(d.poll_timeout(), Some(t1 + secs(900)));
}

#[test]
fn refresh_uses_update_when_the_peer_allows_it_and_uac_refreshes_when_told() {
    let t0 = Instant::now();
    let invite = our_invite("Supported: timer\nSession-Expires: 1800\n");
    let answer = their_answer(
        200,
        "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\nSession-Expires: 90;refresher=uac\nRequire: timer\n",
    );
    let mut d = Dialog::uac(
        t0,
        &invite,
        &answer,
        via("10.0.0.1"),
        SessionTimerConfig::default(),
    )
    .unwrap();
    assert!(d.session_timer().unwrap().we_refresh);
    assert_eq!(d.poll_timeout(), Some(t0 + secs(45)));
    d.handle_timeout(t0 + secs(45));
    assert_eq!(
        d.poll_event(),
        Some(DialogEvent::RefreshDue {
            method: Method::Update
        })
    );
    // The refresh goes unanswered: the session ends at 90 - 30 s.
    assert_eq!(d.poll_timeout(), Some(t0 + secs(60)));
    d.handle_timeout(t0 + secs(60));
    assert_eq!(d.poll_event(), Some(DialogEvent::SessionExpired));
}

#[test]
fn uac_request_decoration_and_no_timer_without_session_expires() {
    let t0 = Instant::now();
    let mut invite = our_invite("");
    SessionTimerConfig::default().decorate_request(&mut invite);
    assert!(invite.headers.supported().contains(&"timer"));
    assert_eq!(invite.headers.session_expires().unwrap().delta, 1800);
    assert_eq!(invite.headers.min_se(), Some(90));
    let d = Dialog::uac(
        t0,
        &invite,
        &their_answer(200, ""),
        via("10.0.0.1"),
        SessionTimerConfig::default(),
    )
    .unwrap();
    assert!(d.session_timer().is_none());
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn in_dialog_failures_end_the_dialog() {
    let t0 = Instant::now();
    for status in [481, 408] {
        let mut d = Dialog::uac(
            t0,
            &our_invite(""),
            &their_answer(200, ""),
            via("10.0.0.1"),
            SessionTimerConfig::default(),
        )
        .unwrap();
        let info = d.request(Method::Info, &branch(1));
        let mut r = Response::for_request(&info, status, "Gone");
        r.headers.to_mut().unwrap().set_tag("theirs");
        d.handle_response(t0, &r);
        assert_eq!(d.state(), DialogState::Terminated);
    }
}

#[test]
fn dialog_keys_from_messages() {
    let invite = our_invite("");
    let answer = their_answer(200, "");
    assert_eq!(
        DialogKey::for_response(&answer),
        Some(DialogKey::new("dlg-1@switchyard", "ours", "theirs"))
    );
    assert_eq!(
        DialogKey::for_request(&in_dialog("BYE", 9, "")),
        Some(DialogKey::new("in-1@carrier", "us", "caller"))
    );
    assert_eq!(
        DialogKey::for_request(&invite),
        None,
        "no To tag: not in a dialog"
    );
    assert!(LocalVia::new(Transport::Udp, "bad host name").is_err());
}

#[test]
fn uac_retries_a_422_with_the_peers_min_se() {
    let cfg = SessionTimerConfig {
        session_expires: 90,
        ..SessionTimerConfig::default()
    };
    let mut invite = our_invite("");
    cfg.decorate_request(&mut invite);
    // The peer wants at least 300 s: its 422 is exactly what our UAS side would send.
    let peer = SessionTimerConfig {
        min_se: 300,
        ..SessionTimerConfig::default()
    };
    let too_small = min_se_too_small(&invite, &peer).unwrap();
    let again = retry_after_422(&invite, &too_small, &branch(7)).unwrap();
    assert_eq!(again.headers.session_expires().unwrap().delta, 300);
    assert_eq!(again.headers.min_se(), Some(300));
    assert_eq!(again.headers.cseq().unwrap().seq, 11);
    assert_eq!(
        again.headers.top_via().unwrap().branch(),
        Some("z9hG4bKdlg7")
    );
    assert!(min_se_too_small(&again, &peer).is_none());
    // A 422 that would not raise the interval is not retried.
    assert!(retry_after_422(&again, &too_small, &branch(8)).is_none());
}

#[test]
fn crossing_re_invites_get_491_and_a_second_unanswered_one_500() {
    let t0 = Instant::now();
    let invite = incoming_invite("");
    let mut d = uas_dialog(&invite, SessionTimerConfig::default());
    d.response(t0, &invite, 200, "OK");
    // We send a re-INVITE (say, to put the caller on hold)...
    let ours = d.request(Method::Invite, &branch(1));
    // ...and the caller's re-INVITE crosses it: glare.
    let theirs = in_dialog("INVITE", 6, "");
    let err = d.handle_request(&theirs).unwrap_err();
    assert_eq!(err.status, 491);
    // Once ours is answered, theirs may come again and is taken.
    let mut ok = Response::for_request(&ours, 200, "OK");
    ok.headers.to_mut().unwrap().set_tag("caller");
    d.handle_response(t0, &ok);
    let again = in_dialog("INVITE", 7, "");
    d.handle_request(&again).unwrap();
    // A third one before we answered the second: 500 with Retry-After.
    let err = d.handle_request(&in_dialog("UPDATE", 8, "")).unwrap_err();
    assert_eq!(err.status, 500);
    assert!(err.headers.get("Retry-After").is_some());
    // Answering the second clears the way.
    d.response(t0, &again, 200, "OK");
    d.handle_request(&in_dialog("UPDATE", 9, "")).unwrap();
    // Other requests are never held up.
    d.handle_request(&in_dialog("INFO", 10, "")).unwrap();
}

#[test]
fn a_request_with_no_response_ends_the_dialog() {
    let t0 = Instant::now();
    let mut d = Dialog::uac(
        t0,
        &our_invite(""),
        &their_answer(200, ""),
        via("10.0.0.1"),
        SessionTimerConfig::default(),
    )
    .unwrap();
    d.request(Method::Invite, &branch(1));
    d.handle_request_failure();
    assert_eq!(d.state(), DialogState::Terminated);
    assert_eq!(d.poll_timeout(), None);
}
