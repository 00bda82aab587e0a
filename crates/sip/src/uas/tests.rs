use super::*;
use crate::Message;

fn request(start: &str, extra: &str, body: &str) -> Request {
    let wire = format!(
        "{start} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKx1\r\nMax-Forwards: 70\r\n\
         To: <sip:1001@example.com>\r\nFrom: <sip:1002@example.com>;tag=f1\r\nCall-ID: c1\r\n\
         CSeq: 1 {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        start.split(' ').next().unwrap(),
        body.len()
    );
    match Message::parse(wire.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("test request did not parse: {other:?}"),
    }
}

fn status(req: &Request) -> Option<u16> {
    validate(req, &UasPolicy::default(), |_| false)
        .err()
        .map(|r| r.status)
}

#[test]
fn plain_requests_pass() {
    assert_eq!(
        status(&request("OPTIONS sip:1001@example.com", "", "")),
        None
    );
    assert_eq!(status(&request("REGISTER sip:example.com", "", "")), None);
    let sdp = "v=0\r\n";
    assert_eq!(
        status(&request(
            "INVITE sip:1001@example.com",
            "Content-Type: application/sdp\r\nAccept: application/sdp, text/plain\r\n",
            sdp
        )),
        None
    );
    assert_eq!(
        status(&request(
            "INVITE sip:1001@example.com",
            "Accept: application/*\r\n",
            ""
        )),
        None
    );
    // An option-tag is fine once the policy supports it, and refused until then.
    let timer = UasPolicy {
        supported: vec!["timer".into()],
        ..UasPolicy::default()
    };
    let req = request("INVITE sip:1001@example.com", "Require: timer\r\n", "");
    assert!(validate(&req, &timer, |_| false).is_ok());
    assert_eq!(status(&req), Some(420));
}

#[test]
fn unknown_and_unserved_methods_carry_allow() {
    let r = validate(
        &request("FOO sip:1001@example.com", "", ""),
        &UasPolicy::default(),
        |_| false,
    )
    .unwrap_err();
    assert_eq!(r.status, 501);
    assert!(r.headers.get("Allow").unwrap().contains("REGISTER"));
    let r = validate(
        &request("SUBSCRIBE sip:1001@example.com", "", ""),
        &UasPolicy::default(),
        |_| false,
    )
    .unwrap_err();
    assert_eq!(r.status, 405);
    assert!(r.headers.get("Allow").unwrap().contains("OPTIONS"));
}

#[test]
fn scheme_to_tag_require_and_types() {
    assert_eq!(status(&request("OPTIONS tel:+15551234", "", "")), Some(416));
    let mut in_dialog = request("BYE sip:1001@example.com", "", "");
    in_dialog.headers.to_mut().unwrap().set_tag("t1");
    assert_eq!(status(&in_dialog), Some(481));
    assert_eq!(
        validate(&in_dialog, &UasPolicy::default(), |_| true)
            .err()
            .map(|r| r.status),
        None
    );
    let r = validate(
        &request(
            "OPTIONS sip:1001@example.com",
            "Require: nothingSupportsThis, timer\r\n",
            "",
        ),
        &UasPolicy {
            supported: vec!["timer".into()],
            ..UasPolicy::default()
        },
        |_| false,
    )
    .unwrap_err();
    assert_eq!(r.status, 420);
    assert_eq!(r.headers.get("Unsupported"), Some("nothingSupportsThis"));
    let r = validate(
        &request(
            "INVITE sip:1001@example.com",
            "Content-Type: application/unknownformat\r\n",
            "xyz",
        ),
        &UasPolicy::default(),
        |_| false,
    )
    .unwrap_err();
    assert_eq!(r.status, 415);
    assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
    assert_eq!(
        status(&request(
            "INVITE sip:1001@example.com",
            "Accept: text/nobodyKnowsThis\r\n",
            ""
        )),
        Some(406)
    );
}

#[test]
fn register_needs_sip_to_and_from() {
    let mut req = request("REGISTER sip:example.com", "", "");
    req.headers.set("To", "<isbn:2983792873>");
    assert_eq!(status(&req), Some(400));
}

#[test]
fn ack_is_never_answered() {
    assert!(is_unanswerable(&request(
        "ACK sip:1001@example.com",
        "",
        ""
    )));
    assert!(!is_unanswerable(&request(
        "OPTIONS sip:1001@example.com",
        "",
        ""
    )));
}
