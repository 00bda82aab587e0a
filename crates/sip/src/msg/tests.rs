//! Whole-message tests: ordinary traffic, printing, errors and stateless rejects.

use super::*;

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKnashds8;received=192.0.2.1\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice \\\"A\\\"\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com;transport=tcp>;expires=60\r\n\
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Supported: 100rel,\r\n timer\r\n\
X-Custom-Header: kept  as is\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 142\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

fn request(s: &str) -> Request {
    match Message::parse(s.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn response(s: &str) -> Response {
    match Message::parse(s.as_bytes()) {
        Ok(Message::Response(r)) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn invite_with_sdp() {
    let r = request(INVITE);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.user(), Some("bob"));
    let h = &r.headers;
    assert_eq!(h.vias().len(), 2);
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(h.top_via().unwrap().rport(), Some(None));
    assert_eq!(h.vias()[1].host(), Host::V6("2001:db8::1".parse().unwrap()));
    assert_eq!(h.vias()[1].port(), Some(5061));
    assert_eq!(h.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(h.from().unwrap().display_name(), Some("Alice \\\"A\\\""));
    assert_eq!(h.to().unwrap().tag(), None);
    assert_eq!(h.call_id(), Some("a84b4c76e66710@pc33.atlanta.example.com"));
    assert_eq!(
        h.cseq(),
        Some(CSeq {
            seq: 314159,
            method: Method::Invite
        })
    );
    assert_eq!(h.max_forwards(), Some(70));
    assert_eq!(h.contacts().as_slice()[0].expires(), Some(60));
    assert_eq!(h.record_routes().len(), 2);
    assert_eq!(h.supported(), vec!["100rel", "timer"]);
    assert_eq!(h.get("x-custom-header"), Some("kept  as is"));
    assert_eq!(h.content_type(), Some("application/sdp"));
    assert_eq!(h.content_length(), Some(142));
    assert_eq!(r.body.len(), 142);
    assert!(r.body.starts_with(b"v=0\r\n"));
}

#[test]
fn print_then_parse_is_equal() {
    let r = request(INVITE);
    let printed = r.to_bytes();
    let again = request(std::str::from_utf8(&printed).unwrap());
    assert_eq!(again, r);
    let text = String::from_utf8(printed).unwrap();
    assert!(text.starts_with("INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: "));
    assert!(text.contains("\r\nSupported: 100rel, timer\r\n"));
    assert!(text.contains("\r\nContent-Length: 142\r\n\r\nv=0"));
}

#[test]
fn register_with_authorization() {
    let r = request(
        "REGISTER sip:example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKreg1;rport\r\n\
f: <sip:1001@example.com>;tag=a1\r\n\
t: <sip:1001@example.com>\r\n\
i: reg-1@10.0.0.5\r\n\
CSeq: 2 REGISTER\r\n\
m: <sip:1001@10.0.0.5:5060>;q=0.8, <sip:1001@10.0.0.6>;expires=0\r\n\
Expires: 3600\r\n\
Authorization: Digest username=\"1001\", realm=\"example.com\", nonce=\"abc\", \
uri=\"sip:example.com\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5\r\n\
l: 0\r\n\r\n",
    );
    assert_eq!(r.method, Method::Register);
    let h = &r.headers;
    let Contacts::List(c) = h.contacts() else {
        panic!("expected contacts")
    };
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].q(), Some(0.8));
    assert_eq!(c[1].expires(), Some(0));
    assert_eq!(h.expires(), Some(3600));
    let auth = h.authorization().unwrap();
    assert_eq!(auth.scheme(), "Digest");
    assert_eq!(auth.param("username"), Some("1001"));
    assert_eq!(auth.param("algorithm"), Some("MD5"));
    assert!(r.body.is_empty());
}

#[test]
fn ok_and_challenge_responses() {
    let ok = response(
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKreg1;received=198.51.100.7;rport=40000\r\n\
From: <sip:1001@example.com>;tag=a1\r\n\
To: <sip:1001@example.com>;tag=b2\r\n\
Call-ID: reg-1@10.0.0.5\r\n\
CSeq: 2 REGISTER\r\n\
Content-Length: 0\r\n\r\n",
    );
    assert_eq!((ok.status, ok.reason.as_str()), (200, "OK"));
    let via = ok.headers.top_via().unwrap();
    assert_eq!(via.received(), Some("198.51.100.7".parse().unwrap()));
    assert_eq!(via.rport(), Some(Some(40000)));
    let ch = response(
        "SIP/2.0 401 Unauthorized\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKreg1\r\n\
From: <sip:1001@example.com>;tag=a1\r\n\
To: <sip:1001@example.com>;tag=b2\r\n\
Call-ID: reg-1@10.0.0.5\r\n\
CSeq: 1 REGISTER\r\n\
WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256, stale=TRUE\r\n\
Content-Length: 0\r\n\r\n",
    );
    let c = ch.headers.www_authenticate().unwrap();
    assert_eq!(c.param("realm"), Some("example.com"));
    assert_eq!(c.param("qop"), Some("auth"));
    assert_eq!(c.param("stale"), Some("TRUE"));
}

#[test]
fn build_request_and_response() {
    let mut req = Request::new(
        Method::Options,
        Uri::parse("sip:carol@example.com").unwrap(),
    );
    let via = Via::new(
        "UDP",
        &Host::V4("192.0.2.4".parse().unwrap()),
        Some(5060),
        "z9hG4bKx1",
    )
    .unwrap();
    req.headers.push_via(via);
    req.headers.push("From", "<sip:switch@example.com>;tag=s1");
    req.headers.push("To", "<sip:carol@example.com>");
    req.headers.push("Call-ID", "c1@192.0.2.4");
    req.headers.push("CSeq", "1 OPTIONS");
    req.headers.set_max_forwards(70);
    req.body = bytes::Bytes::from_static(b"hello");
    let printed = req.to_bytes();
    let back = request(std::str::from_utf8(&printed).unwrap());
    assert_eq!(back, req);
    assert_eq!(back.headers.content_length(), Some(5));

    let mut resp = Response::for_request(&back, 200, "OK");
    resp.headers.to_mut().unwrap().set_tag("t1");
    assert_eq!(resp.headers.vias(), back.headers.vias());
    assert_eq!(resp.headers.call_id(), Some("c1@192.0.2.4"));
    assert_eq!(resp.headers.max_forwards(), None);
    let r2 = response(std::str::from_utf8(&resp.to_bytes()).unwrap());
    assert_eq!(r2, resp);
    assert_eq!(r2.headers.to().unwrap().tag(), Some("t1"));
}

#[test]
fn errors_carry_position_and_status() {
    let bad = INVITE.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
    let e = Message::parse(bad.as_bytes()).unwrap_err();
    assert_eq!(e.status(), Some(505));
    assert_eq!((e.line, e.column), (1, 35));
    let bad = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
    assert_eq!(
        Message::parse(bad.as_bytes()).unwrap_err().status(),
        Some(400)
    );
    let bad = INVITE.replace("INVITE sip:", "NEWTHING sip:");
    assert_eq!(
        Message::parse(bad.as_bytes()).unwrap_err().status(),
        Some(501)
    );
    let bad = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 700");
    let e = Message::parse(bad.as_bytes()).unwrap_err();
    assert_eq!((e.status(), e.line, e.column), (Some(400), 4, 15));
    assert!(e.to_string().contains("Max-Forwards"));
    let bad = INVITE.replace("Content-Length: 142", "Content-Length: 900");
    assert_eq!(
        Message::parse(bad.as_bytes()).unwrap_err().status(),
        Some(400)
    );
    let resp = "SIP/2.0 2000 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    assert_eq!(Message::parse(resp.as_bytes()).unwrap_err().status(), None);
    assert!(Message::parse(b"").is_err());
    assert!(Message::parse(b"\r\n\r\n").is_err());
}

#[test]
fn reject_builds_stateless_answer() {
    let bad = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 700");
    let e = Message::parse(bad.as_bytes()).unwrap_err();
    let r = reject_unparsable(bad.as_bytes(), &e).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("Max-Forwards"));
    assert_eq!(r.headers.vias().len(), 2);
    assert_eq!(
        r.headers.call_id(),
        Some("a84b4c76e66710@pc33.atlanta.example.com")
    );
    assert_eq!(r.headers.cseq().unwrap().seq, 314159);
    assert_eq!(r.headers.from().unwrap().tag(), Some("1928301774"));
    let no_via = bad.replace("Via:", "X-Via:");
    let e = Message::parse(no_via.as_bytes()).unwrap_err();
    assert!(reject_unparsable(no_via.as_bytes(), &e).is_none());
}

#[test]
fn extra_bytes_after_body_are_ignored_and_leading_crlf_skipped() {
    let mut s = String::from("\r\n\r\n");
    s.push_str(INVITE);
    s.push_str("garbage");
    let r = request(&s);
    assert_eq!(r.body.len(), 142);
}

/// Names that share their first letters with a common header name, or follow it with
/// something other than the colon, are read as what they are.
#[test]
fn names_close_to_common_ones() {
    let lines = "Allow-Events: talk\r\n\
Contacts: x\r\n\
Content-Lengthy: 9\r\n\
Content-Typo: y\r\n\
Server-X: s\r\n\
Session-Expires: 1800\r\n\
Replaces: abc\r\n\
MIME-Version: 1.0\r\n\
Via : SIP/2.0/UDP h2;branch=z9hG4bK2\r\n\
TO: <sip:bob@example.com>\r\n";
    let msg = INVITE.replacen("To: Bob <sip:bob@biloxi.example.com>\r\n", lines, 1);
    let r = request(&msg);
    let h = &r.headers;
    assert_eq!(h.get("Allow-Events"), Some("talk"));
    assert_eq!(h.get("Allow"), None);
    assert_eq!(h.get("Contacts"), Some("x"));
    assert_eq!(h.contacts().as_slice().len(), 1);
    assert_eq!(h.get("Content-Lengthy"), Some("9"));
    assert_eq!(h.get("Content-Typo"), Some("y"));
    assert_eq!(h.get("Server-X"), Some("s"));
    assert_eq!(h.get("Server"), None);
    assert_eq!(h.get("Session-Expires"), Some("1800"));
    assert_eq!(h.get("Replaces"), Some("abc"));
    assert_eq!(h.get("MIME-Version"), Some("1.0"));
    assert_eq!(h.vias().len(), 3);
    assert_eq!(h.vias()[2].host_str(), "h2");
    assert_eq!(h.to().unwrap().uri().user(), Some("bob"));
    assert_eq!(r.body.len(), 142);
}
