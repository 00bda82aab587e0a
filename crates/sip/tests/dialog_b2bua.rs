//! Two dialogs linked into one B2BUA call: requests and answers carried across, with
//! Max-Forwards decremented so loops through the B2BUA die.

use std::time::Instant;

use switchyard_sip::b2bua::{
    Leg, Links, NewLeg, forward_request, forward_response, new_leg_request,
};
use switchyard_sip::dialog::{Dialog, DialogKey, DialogState, LocalVia, SessionTimerConfig, Tag};
use switchyard_sip::transaction::{Branch, Transport};
use switchyard_sip::{Message, Method, NameAddr, Request, Response, Uri, Via};

fn parse(text: &str) -> Message {
    Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap()
}

fn req(text: &str) -> Request {
    match parse(text) {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn caller_invite(max_forwards: u8) -> Request {
    let mut r = req(&format!(
        "INVITE sip:sales@switchyard.example SIP/2.0
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKcaller
Max-Forwards: {max_forwards}
To: <sip:sales@switchyard.example>
From: <sip:+15550100@carrier.example>;tag=caller
Call-ID: a-leg@carrier
CSeq: 5 INVITE
Contact: <sip:+15550100@192.0.2.9:5060>
Content-Type: application/sdp
Content-Length: 0

"
    ));
    r.body = SDP.as_bytes().to_vec().into();
    r
}

fn local_via() -> LocalVia {
    LocalVia::new(Transport::Udp, "10.0.0.1:5060").unwrap()
}

/// The call after the agent answered: A leg (UAS) and B leg (UAC) dialogs.
fn answered_call(t0: Instant) -> (Dialog, Dialog, Request) {
    let a_invite = caller_invite(70);
    let contact = NameAddr::parse("<sip:switchyard@10.0.0.1:5060>").unwrap();
    let mut a = Dialog::uas(
        &a_invite,
        &Tag::new("a-us"),
        contact.clone(),
        local_via(),
        SessionTimerConfig::default(),
    )
    .unwrap();
    let b_invite = new_leg_request(
        &a_invite,
        NewLeg {
            target: Uri::parse("sip:agent7@192.0.2.50:5062").unwrap(),
            from: NameAddr::parse("<sip:+15550100@switchyard.example>;tag=b-us").unwrap(),
            to: NameAddr::parse("<sip:agent7@switchyard.example>").unwrap(),
            call_id: "b-leg@switchyard",
            contact,
            via: Via::parse("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbleg").unwrap(),
        },
    )
    .unwrap();
    let mut ok = Response::for_request(&b_invite, 200, "OK");
    ok.headers.to_mut().unwrap().set_tag("agent");
    ok.headers.push("Contact", "<sip:agent7@192.0.2.50:5062>");
    let b = Dialog::uac(
        t0,
        &b_invite,
        &ok,
        local_via(),
        SessionTimerConfig::default(),
    )
    .unwrap();
    a.response(t0, &a_invite, 200, "OK");
    (a, b, b_invite)
}

#[test]
fn new_leg_carries_body_and_decrements_max_forwards() {
    let (_, _, b_invite) = answered_call(Instant::now());
    assert_eq!(b_invite.method, Method::Invite);
    assert_eq!(b_invite.headers.max_forwards(), Some(69));
    assert_eq!(b_invite.headers.call_id(), Some("b-leg@switchyard"));
    assert_eq!(b_invite.headers.cseq().unwrap().seq, 1);
    assert_eq!(b_invite.headers.content_type(), Some("application/sdp"));
    assert_eq!(&b_invite.body[..], SDP.as_bytes());
    assert_eq!(
        b_invite.headers.vias().len(),
        1,
        "the caller's Via stays on the A leg"
    );
    // And what a 1-hop INVITE gets instead: 483.
    let err = new_leg_request(
        &caller_invite(1),
        NewLeg {
            target: Uri::parse("sip:x@192.0.2.50").unwrap(),
            from: NameAddr::parse("<sip:a@b>;tag=t").unwrap(),
            to: NameAddr::parse("<sip:x@b>").unwrap(),
            call_id: "c",
            contact: NameAddr::parse("<sip:s@10.0.0.1>").unwrap(),
            via: Via::parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKz").unwrap(),
        },
    )
    .unwrap_err();
    assert_eq!(err.status, 483);
}

#[test]
fn links_map_each_dialog_to_its_peer() {
    let t0 = Instant::now();
    let (a, b, _) = answered_call(t0);
    let mut links = Links::new();
    let id = links.link(a.key().clone(), b.key().clone());
    assert_eq!(links.peer(a.key()), Some(b.key()));
    assert_eq!(links.peer(b.key()), Some(a.key()));
    assert_eq!(links.leg(a.key()), Some((id, Leg::A)));
    assert_eq!(links.leg(b.key()), Some((id, Leg::B)));
    assert_eq!(links.len(), 1);
    let stranger = DialogKey::new("x", "y", "z");
    assert_eq!(links.peer(&stranger), None);
    assert_eq!(
        links.unlink(b.key()),
        Some([a.key().clone(), b.key().clone()])
    );
    assert!(links.is_empty());
    assert_eq!(links.peer(a.key()), None);
}

#[test]
fn bye_on_one_leg_is_forwarded_to_the_other() {
    let t0 = Instant::now();
    let (mut a, mut b, _) = answered_call(t0);
    let mut links = Links::new();
    links.link(a.key().clone(), b.key().clone());

    let bye = req("BYE sip:switchyard@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKbye
Max-Forwards: 70
To: <sip:sales@switchyard.example>;tag=a-us
From: <sip:+15550100@carrier.example>;tag=caller
Call-ID: a-leg@carrier
CSeq: 6 BYE
Content-Length: 0

");
    let key = DialogKey::for_request(&bye).unwrap();
    assert_eq!(&key, a.key());
    a.handle_request(&bye).unwrap();
    assert_eq!(links.peer(&key), Some(b.key()));
    let out = forward_request(&bye, &mut b, &Branch::new("z9hG4bKfwd")).unwrap();
    assert_eq!(out.method, Method::Bye);
    assert_eq!(out.uri.to_string(), "sip:agent7@192.0.2.50:5062");
    assert_eq!(out.headers.max_forwards(), Some(69));
    assert_eq!(out.headers.call_id(), Some("b-leg@switchyard"));
    assert_eq!(out.headers.from().unwrap().tag(), Some("b-us"));
    assert_eq!(out.headers.to().unwrap().tag(), Some("agent"));
    assert_eq!(out.headers.cseq().unwrap().seq, 2, "the B leg's own CSeq");
    assert_eq!(a.state(), DialogState::Terminated);
    assert_eq!(b.state(), DialogState::Terminated);
}

#[test]
fn re_invite_is_carried_across_and_its_answer_back() {
    let t0 = Instant::now();
    let (mut a, mut b, _) = answered_call(t0);
    let mut reinvite = req("INVITE sip:agent7@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.50:5062;branch=z9hG4bKhold
Max-Forwards: 3
To: <sip:+15550100@switchyard.example>;tag=b-us
From: <sip:agent7@switchyard.example>;tag=agent
Call-ID: b-leg@switchyard
CSeq: 2 INVITE
Contact: <sip:agent7@192.0.2.50:5062>
Content-Type: application/sdp
Content-Length: 0

");
    reinvite.body = SDP.replace("4000", "4002").into_bytes().into();
    // The agent's re-INVITE arrives on the B leg (we were its UAC).
    assert_eq!(DialogKey::for_request(&reinvite).as_ref(), Some(b.key()));
    b.handle_request(&reinvite).unwrap();
    let out = forward_request(&reinvite, &mut a, &Branch::new("z9hG4bKfwd2")).unwrap();
    assert_eq!(out.method, Method::Invite);
    assert_eq!(out.headers.max_forwards(), Some(2));
    assert_eq!(out.uri.to_string(), "sip:+15550100@192.0.2.9:5060");
    assert_eq!(
        out.headers.cseq().unwrap().seq,
        1,
        "first request we send on the A leg"
    );
    assert_eq!(out.headers.content_type(), Some("application/sdp"));
    assert_eq!(out.body, reinvite.body);

    // The caller answers on the A leg; the agent gets the same answer on the B leg.
    let mut answer = Response::for_request(&out, 200, "OK");
    answer.headers.set("Content-Type", "application/sdp");
    answer.body = SDP.as_bytes().to_vec().into();
    a.handle_response(t0, &answer);
    let back = forward_response(t0, &answer, &mut b, &reinvite);
    assert_eq!(back.status, 200);
    assert_eq!(back.headers.to().unwrap().tag(), Some("b-us"));
    assert_eq!(back.headers.cseq().unwrap().seq, 2);
    assert_eq!(back.body, answer.body);
    assert_eq!(back.headers.content_type(), Some("application/sdp"));

    // A request that would leave with Max-Forwards 0 is answered 483 instead.
    reinvite.headers.set_max_forwards(1);
    let err = forward_request(&reinvite, &mut a, &Branch::new("z9hG4bKfwd3")).unwrap_err();
    assert_eq!(err.status, 483);
}
