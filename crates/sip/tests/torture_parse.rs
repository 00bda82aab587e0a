//! RFC 4475 and RFC 5118 torture messages, one test per file, checked against the
//! expectations of `shared/fixtures/sip-torture/README.md`.
//!
//! Valid messages must parse with every header intact (each header line of the file is
//! found, value for value, through `Headers::get_all`) plus the concrete values the RFCs
//! point at; invalid ones must fail with the status the README names, and a request must
//! get a stateless answer carrying its Via, From, To, Call-ID and CSeq.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use switchyard_sip::{
    Contacts, Host, Message, Method, ParseError, Request, Response, Scheme, reject_unparsable,
};

fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            ))
        })
        .join("sip-torture");
    assert!(
        dir.is_dir(),
        "SIP torture fixtures not found at {} (clone `shared/` beside the repository or set \
         SWITCHYARD_FIXTURES to the fixtures directory)",
        dir.display()
    );
    dir
}

fn load(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The header lines of the first message in `bytes`, unfolded, as (name, value).
fn raw_headers(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n").skip(1) {
        if line.starts_with([' ', '\t']) {
            let last = lines.last_mut().expect("a fold continues a header line");
            last.push(' ');
            last.push_str(line.trim());
        } else {
            lines.push(line.to_owned());
        }
    }
    lines
        .into_iter()
        .map(|l| {
            let (n, v) = l.split_once(':').expect("a header line has a colon");
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn raw_value(bytes: &[u8], names: &[&str]) -> String {
    raw_headers(bytes)
        .into_iter()
        .find(|(n, _)| names.iter().any(|x| x.eq_ignore_ascii_case(n)))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {names:?} header in the fixture"))
}

fn no_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Every header line of the file is found through `get_all`: its value equals a run of
/// consecutive values (Via and Contact lines are split at commas), ignoring whitespace.
fn assert_headers_intact(bytes: &[u8], msg: &Message) {
    let h = msg.headers();
    for (name, value) in raw_headers(bytes) {
        let got: Vec<String> = h.get_all(&name).map(no_ws).collect();
        let want = no_ws(&value);
        let found =
            (0..got.len()).any(|i| (i + 1..=got.len()).any(|j| got[i..j].join(",") == want));
        assert!(found, "header {name}: {value:?} not among {got:?}");
    }
}

fn valid(name: &str) -> Message {
    let bytes = load(name);
    let msg = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name} must parse: {e}"));
    assert_headers_intact(&bytes, &msg);
    msg
}

fn valid_request(name: &str) -> Request {
    match valid(name) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("{name} is a request"),
    }
}

fn valid_response(name: &str) -> Response {
    match valid(name) {
        Message::Response(r) => r,
        Message::Request(_) => panic!("{name} is a response"),
    }
}

/// The message fails with `status`; its stateless answer carries the request's headers.
fn invalid_request(name: &str, status: u16) -> ParseError {
    let bytes = load(name);
    let err = Message::parse(&bytes).expect_err("an invalid message must not parse");
    assert_eq!(err.status(), Some(status), "{name}: {err}");
    let resp = reject_unparsable(&bytes, &err).expect("a stateless answer");
    assert_eq!(resp.status, status);
    assert!(!resp.reason.is_empty());
    assert!(!resp.headers.vias().is_empty(), "{name}: no Via salvaged");
    for names in [
        &["Call-ID", "i"][..],
        &["CSeq"][..],
        &["From", "f"][..],
        &["To", "t"][..],
    ] {
        let want = raw_headers(&bytes)
            .into_iter()
            .find(|(n, _)| names.iter().any(|x| x.eq_ignore_ascii_case(n)))
            .map(|(_, v)| no_ws(&v));
        assert_eq!(
            resp.headers.get(names[0]).map(no_ws),
            want,
            "{name}: {}",
            names[0]
        );
    }
    // The answer prints and parses back.
    let printed = resp.to_bytes();
    let _ = Message::parse(&printed);
    err
}

/// A response that fails to parse is discarded: no status, no answer.
fn invalid_response(name: &str) {
    let bytes = load(name);
    let err = Message::parse(&bytes).expect_err("an invalid response must not parse");
    assert!(err.is_response());
    assert_eq!(err.status(), None);
    assert!(reject_unparsable(&bytes, &err).is_none());
}

fn v4(s: &str) -> Host {
    Host::V4(s.parse::<Ipv4Addr>().unwrap())
}

fn v6(s: &str) -> Host {
    Host::V6(s.parse::<Ipv6Addr>().unwrap())
}

// ---- RFC 4475 §3.1.1: valid messages -----------------------------------------------------

#[test]
fn wsinv() {
    let r = valid_request("rfc4475/wsinv.dat");
    let h = &r.headers;
    assert_eq!(r.uri.param("unknownparam"), Some(""));
    assert_eq!(h.to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(h.from().unwrap().tag(), Some("98asjd8"));
    assert_eq!(
        h.from().unwrap().display_name(),
        Some(r#"J Rosenberg \\\""#)
    );
    assert_eq!(h.max_forwards(), Some(68));
    assert_eq!(h.cseq().unwrap().seq, 9);
    let vias = h.vias();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport(), vias[0].host()),
        ("UDP", v4("192.0.2.2"))
    );
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport(), "TCP");
    assert_eq!(vias[1].host_str(), "spindle.example.com");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host(), v4("192.168.255.111"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let c = &h.contacts().as_slice()[0];
    assert_eq!(c.display_name(), Some(r#"Quoted string \"\""#));
    assert_eq!(c.param("newparam"), Some("newvalue"));
    assert_eq!(c.param("secondparam"), Some(""));
    assert_eq!(c.q(), Some(0.33));
    assert_eq!(
        h.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(h.get("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    assert_eq!(h.get("Subject"), Some(""));
    let routes = h.routes();
    assert_eq!(routes[0].uri().param("unknownwith"), Some("value"));
    assert_eq!(routes[0].uri().param("unknown-no-value"), Some(""));
    assert_eq!(r.body.len(), 150);
}

#[test]
fn intmeth() {
    let r = valid_request("rfc4475/intmeth.dat");
    assert_eq!(
        r.method,
        Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    assert_eq!(r.headers.cseq().unwrap().method, r.method);
    assert_eq!(
        r.uri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        r.uri.password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    let from = r.headers.from().unwrap();
    assert_eq!(from.display_name(), Some("token1~` token2'+_ token3*%!.-"));
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        r.headers.call_id(),
        Some(r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#)
    );
    assert_eq!(
        r.headers.get("extensionHeader-!.%*+_`'~"),
        Some("\u{FEFF}大停電")
    );
    assert_eq!(r.headers.max_forwards(), Some(255));
}

#[test]
fn esc01() {
    let r = valid_request("rfc4475/esc01.dat");
    assert_eq!(r.uri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(r.uri.host(), Some(Host::Domain("example.net".into())));
    let h = &r.headers;
    assert_eq!(h.to().unwrap().uri().user(), Some("%75se%72"));
    assert_eq!(h.from().unwrap().uri().user(), Some("I%20have%20spaces"));
    let c = h.contacts().as_slice()[0].uri();
    assert_eq!(c.user(), Some("cal%6Cer"));
    assert_eq!(c.param("%6C%72"), Some(""));
    assert_eq!(c.param("n%61me"), Some("v%61lue%25%34%31"));
    assert_eq!(h.content_type(), Some("application/sdp"));
    assert_eq!(r.body.len(), 150);
}

#[test]
fn escnull() {
    let r = valid_request("rfc4475/escnull.dat");
    assert_eq!(r.method, Method::Register);
    assert_eq!(r.headers.to().unwrap().uri().user(), Some("null-%00-null"));
    let users: Vec<_> = r
        .headers
        .contacts()
        .as_slice()
        .iter()
        .map(|c| c.uri().user().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["%00", "%00%00"]);
}

#[test]
fn esc02() {
    let r = valid_request("rfc4475/esc02.dat");
    assert_eq!(r.method, Method::Extension("RE%47IST%45R".into()));
    assert_ne!(r.method, Method::Register);
    assert_eq!(r.headers.to().unwrap().display_name(), Some("%Z%45"));
    assert_eq!(
        r.headers.top_via().unwrap().branch(),
        Some("z9hG4bK209%fzsnel234")
    );
    // `C%6Fntact` is an unknown header, not Contact.
    assert_eq!(r.headers.contacts().as_slice().len(), 2);
    assert_eq!(
        r.headers.get("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
}

#[test]
fn lwsdisp() {
    let r = valid_request("rfc4475/lwsdisp.dat");
    let from = r.headers.from().unwrap();
    assert_eq!(from.display_name(), Some("caller"));
    assert_eq!(from.uri().as_str(), "sip:caller@example.com");
    assert_eq!(from.tag(), Some("323"));
}

#[test]
fn longreq() {
    let bytes = load("rfc4475/longreq.dat");
    let r = valid_request("rfc4475/longreq.dat");
    let h = &r.headers;
    assert_eq!(h.vias().len(), 34);
    assert_eq!(h.top_via().unwrap().host_str(), "sip33.example.com");
    let last = h.vias().last().unwrap();
    assert_eq!(last.received(), Some("192.0.2.5".parse().unwrap()));
    assert!(last.branch().unwrap().ends_with("longbranchvalue"));
    assert!(last.branch().unwrap().len() > 200);
    assert_eq!(h.call_id(), Some(raw_value(&bytes, &["Call-ID"]).as_str()));
    assert!(h.call_id().unwrap().ends_with("reallylongcallid"));
    let to = h.to().unwrap();
    assert!(
        to.display_name()
            .unwrap()
            .starts_with("I have a user name of extremeextreme")
    );
    assert_eq!(to.uri().port(), Some(6000));
    assert!(
        to.uri()
            .param("unknownparam1")
            .unwrap()
            .starts_with("verylonglong")
    );
    let tag = h.from().unwrap().tag().unwrap();
    assert_eq!(tag.len(), 155);
    assert!(tag.bytes().all(|b| b.is_ascii_digit()));
    let unknown = raw_headers(&bytes)
        .into_iter()
        .find(|(n, _)| n.starts_with("Unknown-LongLong"))
        .unwrap();
    assert_eq!(h.get(&unknown.0), Some(unknown.1.as_str()));
    assert_eq!(r.body.len(), 150);
}

#[test]
fn dblreq() {
    // Only the first message of the datagram counts: Content-Length 0, no body.
    let r = valid_request("rfc4475/dblreq.dat");
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
    assert_eq!(
        r.headers.call_id(),
        Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
    );
}

#[test]
fn semiuri() {
    let r = valid_request("rfc4475/semiuri.dat");
    assert_eq!(r.uri.user(), Some("user;par=u%40example.net"));
    assert_eq!(r.uri.host_str(), Some("example.com"));
    assert_eq!(r.uri.param("par"), None);
    assert_eq!(
        r.headers.accept(),
        [
            "application/sdp",
            "application/pkcs7-mime",
            "multipart/mixed",
            "multipart/signed",
            "message/sip",
            "message/sipfrag"
        ]
    );
}

#[test]
fn transports() {
    let r = valid_request("rfc4475/transports.dat");
    let t: Vec<_> = r.headers.vias().iter().map(|v| v.transport()).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(
        r.headers.call_id(),
        Some("transports.kijh4akdnaqjkwendsasfdj")
    );
}

#[test]
fn mpart01() {
    let r = valid_request("rfc4475/mpart01.dat");
    assert_eq!(r.method, Method::Message);
    assert_eq!(r.headers.content_length(), Some(553));
    assert_eq!(r.body.len(), 553);
    assert!(r.body.starts_with(b"--7a9cbec02ceef655\r\n"));
    assert!(r.body.ends_with(b"--7a9cbec02ceef655--\r\n"));
    assert_eq!(
        r.headers.content_type(),
        Some("multipart/mixed;boundary=7a9cbec02ceef655")
    );
    assert!(r.headers.get("Identity").unwrap().ends_with("VbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA="));
}

#[test]
fn unreason() {
    let r = valid_response("rfc4475/unreason.dat");
    assert_eq!(r.status, 200);
    assert_eq!(r.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
    assert_eq!(r.body.len(), 154);
}

#[test]
fn noreason() {
    let r = valid_response("rfc4475/noreason.dat");
    assert_eq!((r.status, r.reason.as_str()), (100, ""));
    assert_eq!(r.headers.to().unwrap().tag(), Some("902jndnke3"));
}

// ---- RFC 4475 §3.1.2: invalid messages ----------------------------------------------------

#[test]
fn badinv01() {
    invalid_request("rfc4475/badinv01.dat", 400);
}

#[test]
fn clerr() {
    let e = invalid_request("rfc4475/clerr.dat", 400);
    assert!(e.expected.contains("Content-Length"));
}

#[test]
fn ncl() {
    invalid_request("rfc4475/ncl.dat", 400);
}

#[test]
fn scalar02() {
    invalid_request("rfc4475/scalar02.dat", 400);
}

#[test]
fn scalarlg() {
    invalid_response("rfc4475/scalarlg.dat");
}

#[test]
fn quotbal() {
    invalid_request("rfc4475/quotbal.dat", 400);
}

#[test]
fn ltgtruri() {
    let e = invalid_request("rfc4475/ltgtruri.dat", 400);
    assert_eq!(e.line, 1);
}

#[test]
fn lwsruri() {
    let e = invalid_request("rfc4475/lwsruri.dat", 400);
    assert_eq!(e.line, 1);
}

#[test]
fn lwsstart() {
    let e = invalid_request("rfc4475/lwsstart.dat", 400);
    assert_eq!(e.line, 1);
}

#[test]
fn trws() {
    let e = invalid_request("rfc4475/trws.dat", 400);
    assert_eq!(e.line, 1);
}

#[test]
fn escruri() {
    let e = invalid_request("rfc4475/escruri.dat", 400);
    assert_eq!(e.line, 1);
}

#[test]
fn baddate() {
    // Accepted: Date is kept verbatim and not interpreted.
    let r = valid_request("rfc4475/baddate.dat");
    assert_eq!(r.headers.get("Date"), Some("Fri, 01 Jan 2010 16:00:00 EST"));
}

#[test]
fn regbadct() {
    invalid_request("rfc4475/regbadct.dat", 400);
}

#[test]
fn badaspec() {
    invalid_request("rfc4475/badaspec.dat", 400);
}

#[test]
fn baddn() {
    invalid_request("rfc4475/baddn.dat", 400);
}

#[test]
fn badvers() {
    invalid_request("rfc4475/badvers.dat", 505);
}

#[test]
fn mismatch01() {
    invalid_request("rfc4475/mismatch01.dat", 400);
}

#[test]
fn mismatch02() {
    invalid_request("rfc4475/mismatch02.dat", 501);
}

#[test]
fn bigcode() {
    invalid_response("rfc4475/bigcode.dat");
}

// ---- RFC 4475 §3.2–3.4: valid syntax, semantics for the UAS ------------------------------

#[test]
fn badbranch() {
    let r = valid_request("rfc4475/badbranch.dat");
    assert_eq!(r.headers.top_via().unwrap().branch(), Some("z9hG4bK"));
}

#[test]
fn insuf() {
    invalid_request("rfc4475/insuf.dat", 400);
}

#[test]
fn unkscm() {
    let r = valid_request("rfc4475/unkscm.dat");
    assert_eq!(
        r.uri.scheme(),
        &Scheme::Other("nobodyKnowsThisScheme".into())
    );
    assert_eq!(r.uri.as_str(), "nobodyKnowsThisScheme:totallyopaquecontent");
}

#[test]
fn novelsc() {
    let r = valid_request("rfc4475/novelsc.dat");
    assert_eq!(r.uri.scheme(), &Scheme::Other("soap.beep".into()));
    assert_eq!(r.uri.as_str(), "soap.beep://192.0.2.103:3002");
}

#[test]
fn unksm2() {
    let r = valid_request("rfc4475/unksm2.dat");
    assert_eq!(
        r.headers.to().unwrap().uri().scheme(),
        &Scheme::Other("isbn".into())
    );
    assert_eq!(
        r.headers.from().unwrap().uri().scheme(),
        &Scheme::Other("http".into())
    );
    assert_eq!(
        r.headers.contacts().as_slice()[0].uri().as_str(),
        "name:John_Smith"
    );
}

#[test]
fn bext01() {
    let r = valid_request("rfc4475/bext01.dat");
    assert_eq!(
        r.headers.require(),
        ["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(
        r.headers.proxy_require(),
        ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    );
}

#[test]
fn invut() {
    let r = valid_request("rfc4475/invut.dat");
    assert_eq!(r.headers.content_type(), Some("application/unknownformat"));
    assert_eq!(r.body.len(), 40);
}

#[test]
fn regaut01() {
    let r = valid_request("rfc4475/regaut01.dat");
    let a = r.headers.authorization().unwrap();
    assert_eq!(a.scheme(), "NoOneKnowsThisScheme");
    assert_eq!(a.param("opaque-data"), Some("here"));
}

#[test]
fn multi01() {
    invalid_request("rfc4475/multi01.dat", 400);
}

#[test]
fn mcl01() {
    invalid_request("rfc4475/mcl01.dat", 400);
}

#[test]
fn bcast() {
    let r = valid_response("rfc4475/bcast.dat");
    assert_eq!(r.headers.vias()[1].host(), v4("255.255.255.255"));
}

#[test]
fn zeromf() {
    let r = valid_request("rfc4475/zeromf.dat");
    assert_eq!(r.headers.max_forwards(), Some(0));
}

#[test]
fn cparam01() {
    let r = valid_request("rfc4475/cparam01.dat");
    let c = &r.headers.contacts().as_slice()[0];
    // addr-spec form: the parameter belongs to the header, not the URI.
    assert_eq!(c.uri().as_str(), "sip:+19725552222@gw1.example.net");
    assert_eq!(c.param("unknownparam"), Some(""));
}

#[test]
fn cparam02() {
    let r = valid_request("rfc4475/cparam02.dat");
    let c = &r.headers.contacts().as_slice()[0];
    assert_eq!(c.uri().param("unknownparam"), Some(""));
    assert_eq!(c.param("unknownparam"), None);
}

#[test]
fn regescrt() {
    let r = valid_request("rfc4475/regescrt.dat");
    let c = &r.headers.contacts().as_slice()[0];
    assert_eq!(c.uri().headers(), Some("Route=%3Csip:sip.example.com%3E"));
}

#[test]
fn sdp01() {
    let r = valid_request("rfc4475/sdp01.dat");
    assert_eq!(r.headers.accept(), ["text/nobodyKnowsThis"]);
}

#[test]
fn inv2543() {
    let r = valid_request("rfc4475/inv2543.dat");
    assert_eq!(r.headers.top_via().unwrap().branch(), None);
    assert_eq!(r.headers.max_forwards(), None);
    assert_eq!(r.headers.content_length(), None);
    assert!(r.body.starts_with(b"v=0"));
}

// ---- RFC 5118: IPv6 ------------------------------------------------------------------------

#[test]
fn ipv6_good() {
    let r = valid_request("rfc5118/ipv6-good");
    assert_eq!(r.uri.host(), Some(v6("2001:db8::10")));
    assert_eq!(r.headers.top_via().unwrap().host(), v6("2001:db8::9:1"));
    let Contacts::List(c) = r.headers.contacts() else {
        panic!("a Contact")
    };
    assert_eq!(c[0].uri().host(), Some(v6("2001:db8::1")));
}

#[test]
fn port_ambiguous() {
    let r = valid_request("rfc5118/port-ambiguous");
    assert_eq!(r.uri.host(), Some(v6("2001:db8::10:5070")));
    assert_eq!(r.uri.port(), None);
}

#[test]
fn port_unambiguous() {
    let r = valid_request("rfc5118/port-unambiguous");
    assert_eq!(r.uri.host(), Some(v6("2001:db8::10")));
    assert_eq!(r.uri.port(), Some(5070));
}

#[test]
fn via_received_param_with_delim() {
    let r = valid_request("rfc5118/via-received-param-with-delim");
    assert_eq!(
        r.headers.top_via().unwrap().received(),
        Some("2001:db8::9:255".parse().unwrap())
    );
}

#[test]
fn via_received_param_no_delim() {
    let r = valid_request("rfc5118/via-received-param-no-delim");
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.received(), Some("2001:db8::9:255".parse().unwrap()));
    assert_eq!(via.branch(), Some("z9hG4bKas3"));
}

#[test]
fn mult_ip_in_header() {
    let r = valid_request("rfc5118/mult-ip-in-header");
    let vias = r.headers.vias();
    assert_eq!(
        (vias[0].host(), vias[0].port()),
        (v6("2001:db8::9:1"), Some(6050))
    );
    assert_eq!(vias[1].host(), v4("192.0.2.1"));
    assert_eq!(vias[2].host(), v6("2001:db8::9:255"));
    assert_eq!(vias[2].received(), Some("192.0.2.200".parse().unwrap()));
}

#[test]
fn mult_ip_in_sdp() {
    let r = valid_request("rfc5118/mult-ip-in-sdp");
    let body = std::str::from_utf8(&r.body).unwrap();
    assert!(body.contains("c=IN IP6 2001:db8::1"));
}

#[test]
fn ipv6_in_sdp() {
    let r = valid_request("rfc5118/ipv6-in-sdp");
    assert_eq!(
        r.headers.to().unwrap().uri().host(),
        Some(v6("2001:db8::10"))
    );
    // The file's body is 251 bytes but Content-Length says 241: the rest is discarded
    // (RFC 3261 §18.3).
    assert_eq!(r.body.len(), 241);
    assert!(r.body.starts_with(b"v=0\r\n"));
}

#[test]
fn ipv4_mapped_ipv6() {
    let r = valid_request("rfc5118/ipv4-mapped-ipv6");
    assert_eq!(r.headers.top_via().unwrap().host(), v6("::ffff:192.0.2.10"));
    assert_eq!(r.headers.top_via().unwrap().port(), Some(19823));
    let c = &r.headers.contacts().as_slice()[0];
    assert_eq!(c.display_name(), Some("T. desk phone"));
    assert_eq!(c.uri().host(), Some(v6("::ffff:192.0.2.2")));
}

#[test]
fn ipv6_correct_abnf_2_colons() {
    let r = valid_request("rfc5118/ipv6-correct-abnf-2-colons");
    assert_eq!(r.uri.host(), Some(v6("2001:db8::192.0.2.1")));
}

#[test]
fn ipv6_bad() {
    invalid_request("rfc5118/ipv6-bad", 400);
}

#[test]
fn ipv6_bug_abnf_3_colons() {
    // The historic ABNF bug is rejected (the README allows accept or 400).
    invalid_request("rfc5118/ipv6-bug-abnf-3-colons", 400);
}

#[test]
fn every_fixture_has_a_test() {
    let src = include_str!("torture_parse.rs");
    for dir in ["rfc4475", "rfc5118"] {
        for entry in std::fs::read_dir(fixtures_dir().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let test = name.trim_end_matches(".dat").replace('-', "_");
            assert!(
                src.contains(&format!("fn {test}()")),
                "no test for fixture {dir}/{name}"
            );
        }
    }
}
