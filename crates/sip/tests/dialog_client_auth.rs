//! Answering a carrier's digest challenge (client side of RFC 3261 §22, RFC 8760), checked
//! with the same digest math a server uses.

use switchyard_sip::client_auth::{AuthError, ClientAuth};
use switchyard_sip::digest::{Algorithm, DigestParams, QopAuth, Secret, parse_nc};
use switchyard_sip::transaction::Branch;
use switchyard_sip::{Credentials, Message, Request, Response};

fn invite() -> Request {
    let text = "INVITE sip:+15550199@trunk.carrier.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKfirst\r\n\
        Max-Forwards: 70\r\n\
        To: <sip:+15550199@trunk.carrier.example>\r\n\
        From: <sip:+15550100@switchyard.example>;tag=ours\r\n\
        Call-ID: out-1@switchyard\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:switchyard@10.0.0.1>\r\n\
        Content-Length: 0\r\n\r\n";
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn challenge(req: &Request, status: u16, header: &str, values: &[&str]) -> Response {
    let mut r = Response::for_request(req, status, "Authentication Required");
    r.headers.to_mut().unwrap().set_tag("carrier");
    for v in values {
        r.headers.push(header, v);
    }
    r
}

/// Checks `cred` the way a server would, from the password.
fn server_accepts(cred: &Credentials, method: &str, password: &str) -> bool {
    let algorithm: Algorithm = cred.param("algorithm").unwrap_or("MD5").parse().unwrap();
    let qop = cred.param("qop").map(|_| QopAuth {
        nc: parse_nc(cred.param("nc").unwrap()).unwrap(),
        cnonce: cred.param("cnonce").unwrap(),
    });
    let params = DigestParams {
        algorithm,
        username: cred.param("username").unwrap(),
        realm: cred.param("realm").unwrap(),
        nonce: cred.param("nonce").unwrap(),
        method,
        uri: cred.param("uri").unwrap(),
        qop,
    };
    params.verify(Secret::Password(password), cred.param("response").unwrap())
}

#[test]
fn answers_a_407_with_sha256_when_offered_alongside_md5() {
    let mut auth = ClientAuth::new("trunk01", "s3cret", 7);
    let inv = invite();
    let c = challenge(
        &inv,
        407,
        "Proxy-Authenticate",
        &[
            r#"Digest realm="carrier.example", nonce="n1", qop="auth", algorithm=MD5"#,
            r#"Digest realm="carrier.example", nonce="n1", qop="auth", algorithm=SHA-256, opaque="op""#,
        ],
    );
    let again = auth
        .authorize(&inv, &c, &Branch::new("z9hG4bKsecond"))
        .unwrap();
    assert_eq!(again.headers.cseq().unwrap().seq, 2, "new CSeq");
    assert_eq!(
        again.headers.top_via().unwrap().branch(),
        Some("z9hG4bKsecond"),
        "new branch: a new transaction"
    );
    assert_eq!(again.headers.call_id(), inv.headers.call_id());
    assert!(again.headers.authorization().is_none());
    let cred = again.headers.proxy_authorization().unwrap();
    assert_eq!(cred.scheme(), "Digest");
    assert_eq!(cred.param("algorithm"), Some("SHA-256"));
    assert_eq!(cred.param("username"), Some("trunk01"));
    assert_eq!(
        cred.param("uri"),
        Some("sip:+15550199@trunk.carrier.example")
    );
    assert_eq!(cred.param("opaque"), Some("op"));
    assert_eq!(cred.param("qop"), Some("auth"));
    assert_eq!(cred.param("nc"), Some("00000001"));
    assert_eq!(cred.param("response").unwrap().len(), 64);
    assert!(server_accepts(&cred, "INVITE", "s3cret"));
    assert!(!server_accepts(&cred, "INVITE", "wrong"));
    // The message prints and parses back with the credentials intact.
    let wire = Message::Request(again).to_bytes();
    let Message::Request(back) = Message::parse(&wire).unwrap() else {
        panic!()
    };
    assert!(server_accepts(
        &back.headers.proxy_authorization().unwrap(),
        "INVITE",
        "s3cret"
    ));
}

#[test]
fn answers_a_401_with_md5_and_without_qop_rfc2069() {
    let mut auth = ClientAuth::new("trunk01", "s3cret", 7);
    let inv = invite();
    let c = challenge(
        &inv,
        401,
        "WWW-Authenticate",
        &[r#"Digest realm="carrier.example", nonce="abc""#],
    );
    let again = auth.authorize(&inv, &c, &Branch::new("z9hG4bK2")).unwrap();
    let cred = again.headers.authorization().unwrap();
    assert_eq!(cred.param("algorithm"), Some("MD5"));
    assert_eq!(cred.param("qop"), None);
    assert_eq!(cred.param("cnonce"), None);
    assert_eq!(cred.param("response").unwrap().len(), 32);
    assert!(server_accepts(&cred, "INVITE", "s3cret"));
}

#[test]
fn gives_up_after_one_failed_retry_per_realm_unless_stale() {
    let mut auth = ClientAuth::new("trunk01", "wrong-password", 1);
    let inv = invite();
    let hdr = r#"Digest realm="carrier.example", nonce="n1", qop="auth", algorithm=SHA-256"#;
    let first = challenge(&inv, 401, "WWW-Authenticate", &[hdr]);
    let retry = auth
        .authorize(&inv, &first, &Branch::new("z9hG4bK2"))
        .unwrap();
    // The carrier rejects our answer with a fresh challenge for the same realm.
    let second = challenge(&retry, 401, "WWW-Authenticate", &[hdr]);
    assert_eq!(
        auth.authorize(&retry, &second, &Branch::new("z9hG4bK3")),
        Err(AuthError::Rejected("carrier.example".into()))
    );
    // A stale nonce is not a rejection: answer once more with the new nonce.
    let stale = challenge(
        &retry,
        401,
        "WWW-Authenticate",
        &[
            r#"Digest realm="carrier.example", nonce="n2", qop="auth", algorithm=SHA-256, stale=true"#,
        ],
    );
    let third = auth
        .authorize(&retry, &stale, &Branch::new("z9hG4bK4"))
        .unwrap();
    assert_eq!(third.headers.cseq().unwrap().seq, 3);
    let creds: Vec<_> = third.headers.get_all("Authorization").collect();
    assert_eq!(creds.len(), 1, "the old answer is replaced: {creds:?}");
    assert_eq!(
        third.headers.authorization().unwrap().param("nonce"),
        Some("n2")
    );
}

#[test]
fn nonce_count_increments_for_a_reused_nonce() {
    let mut auth = ClientAuth::new("u", "p", 1);
    let inv = invite();
    let c = challenge(
        &inv,
        401,
        "WWW-Authenticate",
        &[r#"Digest realm="r", nonce="same", qop="auth""#],
    );
    let a = auth.authorize(&inv, &c, &Branch::new("z9hG4bKa")).unwrap();
    let b = auth.authorize(&inv, &c, &Branch::new("z9hG4bKb")).unwrap();
    let (ca, cb) = (
        a.headers.authorization().unwrap(),
        b.headers.authorization().unwrap(),
    );
    assert_eq!(ca.param("nc"), Some("00000001"));
    assert_eq!(cb.param("nc"), Some("00000002"));
    assert_ne!(ca.param("cnonce"), cb.param("cnonce"));
}

#[test]
fn refuses_what_it_cannot_answer() {
    let mut auth = ClientAuth::new("u", "p", 1);
    let inv = invite();
    let ok = Response::for_request(&inv, 200, "OK");
    assert_eq!(
        auth.authorize(&inv, &ok, &Branch::new("z9hG4bKx")),
        Err(AuthError::NotAChallenge(200))
    );
    let exotic = challenge(
        &inv,
        401,
        "WWW-Authenticate",
        &[r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#],
    );
    assert!(matches!(
        auth.authorize(&inv, &exotic, &Branch::new("z9hG4bKx")),
        Err(AuthError::UnsupportedAlgorithm(_))
    ));
    let int_only = challenge(
        &inv,
        401,
        "WWW-Authenticate",
        &[r#"Digest realm="r", nonce="n", qop="auth-int""#],
    );
    assert!(matches!(
        auth.authorize(&inv, &int_only, &Branch::new("z9hG4bKx")),
        Err(AuthError::UnsupportedQop(_))
    ));
    let none = challenge(&inv, 401, "WWW-Authenticate", &[]);
    assert_eq!(
        auth.authorize(&inv, &none, &Branch::new("z9hG4bKx")),
        Err(AuthError::NoChallenge(401))
    );
}
