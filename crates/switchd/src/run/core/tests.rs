use std::net::SocketAddr;

use switchyard_sip::digest::{Algorithm, DigestParams, QopAuth, Secret, format_nc};

use super::*;

fn core(t0: Instant) -> Core {
    Core::new(CoreConfig {
        domain: "127.0.0.1".into(),
        users: vec![("1001".into(), "pw1001".into())],
        qualify_interval: Some(Duration::from_secs(30)),
        min_expires: 60,
        max_contacts: 10,
        seed: [1; 32],
        nonce_key: [2; 32],
        epoch: t0,
    })
}

fn phone() -> Source {
    Source::udp(
        SocketAddr::from(([127, 0, 0, 1], 40000)),
        SocketAddr::from(([127, 0, 0, 1], 5060)),
    )
}

fn register_text(branch: &str, cseq: u32, contact: &str, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5062;branch={branch}\r\n\
         Max-Forwards: 70\r\nTo: <sip:1001@127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=ft\r\n\
         Call-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: 300\r\n\
         {auth}Content-Length: 0\r\n\r\n"
    )
}

/// Sends `text` from `src` and returns the single answer.
fn exchange(c: &mut Core, now: Instant, src: Source, text: &str) -> Response {
    c.handle_message(now, src, text.as_bytes());
    let t = c.poll_transmit().expect("an answer");
    assert_eq!(t.dest, src, "answers go back to the source");
    match Message::parse(&t.bytes) {
        Ok(Message::Response(r)) => r,
        other => panic!("not a response: {other:?}"),
    }
}

fn authorization(challenge: &Response, alg: Algorithm, password: &str, nc: u32) -> String {
    let want = alg.as_str();
    let value = challenge
        .headers
        .get_all("WWW-Authenticate")
        .find(|v| v.contains(&format!("algorithm={want}")))
        .expect("a challenge for the algorithm")
        .to_owned();
    let nonce = value
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let response = DigestParams {
        algorithm: alg,
        username: "1001",
        realm: "127.0.0.1",
        nonce,
        method: "REGISTER",
        uri: "sip:127.0.0.1",
        qop: Some(QopAuth { nc, cnonce: "cn" }),
    }
    .response(Secret::Password(password));
    format!(
        "Digest username=\"1001\", realm=\"127.0.0.1\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", \
         response=\"{response}\", algorithm={want}, qop=auth, nc={}, cnonce=\"cn\"",
        format_nc(nc)
    )
}

#[test]
fn register_with_sha256_digest_then_qualify() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let challenge = exchange(
        &mut c,
        t0,
        phone(),
        &register_text("z9hG4bK1", 1, "<sip:1001@10.0.0.9:5062>", None),
    );
    assert_eq!(challenge.status, 401);
    let vals: Vec<&str> = challenge.headers.get_all("WWW-Authenticate").collect();
    assert!(
        vals[0].contains("SHA-256") && vals[1].contains("MD5"),
        "{vals:?}"
    );
    let top = challenge.headers.top_via().unwrap();
    assert_eq!(top.received(), Some("127.0.0.1".parse().unwrap()));
    assert_eq!(top.rport(), Some(Some(40000)));
    assert!(challenge.headers.to().unwrap().tag().is_some());

    let auth = authorization(&challenge, Algorithm::Sha256, "pw1001", 1);
    let ok = exchange(
        &mut c,
        t0,
        phone(),
        &register_text("z9hG4bK2", 2, "<sip:1001@10.0.0.9:5062>", Some(&auth)),
    );
    assert_eq!(ok.status, 200);
    assert!(ok.headers.get("Contact").unwrap().contains("expires=300"));
    assert!(c.bindings_changed());

    // The probe is due at once and goes to the REGISTER's source, not the private contact.
    assert_eq!(c.poll_timeout(), Some(t0));
    c.handle_timeout(t0);
    let probe = c.poll_transmit().expect("a qualify probe");
    assert_eq!(probe.dest, phone());
    let text = String::from_utf8(probe.bytes).unwrap();
    assert!(
        text.starts_with("OPTIONS sip:1001@10.0.0.9:5062 SIP/2.0\r\n"),
        "{text}"
    );
    let Ok(Message::Request(req)) = Message::parse(text.as_bytes()) else {
        panic!("{text}")
    };
    let mut answer = Response::for_request(&req, 200, "OK");
    answer.headers.to_mut().unwrap().set_tag("x");
    c.handle_message(t0, phone(), &Message::Response(answer).to_bytes());
    assert!(c.poll_transmit().is_none(), "responses are never answered");
    assert!(c.snapshot(t0).bindings.len() == 1);
    assert!(c.registrar.bindings().bindings(t0, "1001")[0].reachable);
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_fresh_challenge() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let challenge = exchange(
        &mut c,
        t0,
        phone(),
        &register_text("z9hG4bK1", 1, "<sip:1001@h>", None),
    );
    let wrong = authorization(&challenge, Algorithm::Md5, "nope", 1);
    let r = exchange(
        &mut c,
        t0,
        phone(),
        &register_text("z9hG4bK2", 2, "<sip:1001@h>", Some(&wrong)),
    );
    assert_eq!(r.status, 401);
    assert!(!r.headers.get("WWW-Authenticate").unwrap().contains("stale"));
    let unknown = register_text("z9hG4bK3", 3, "<sip:1001@h>", Some(&wrong))
        .replace("sip:1001@", "sip:1009@")
        .replace("username=\"1001\"", "username=\"1009\"");
    let r2 = exchange(&mut c, t0, phone(), &unknown);
    assert_eq!(r2.status, 401);
    assert_eq!(
        r.headers.get_all("WWW-Authenticate").count(),
        r2.headers.get_all("WWW-Authenticate").count()
    );
    assert!(c.snapshot(t0).bindings.is_empty());
}

#[test]
fn stale_nonce_gets_stale_true() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let challenge = exchange(
        &mut c,
        t0,
        phone(),
        &register_text("z9hG4bK1", 1, "<sip:1001@h>", None),
    );
    let auth = authorization(&challenge, Algorithm::Md5, "pw1001", 1);
    let late = t0 + NONCE_LIFETIME + Duration::from_secs(1);
    let r = exchange(
        &mut c,
        late,
        phone(),
        &register_text("z9hG4bK2", 2, "<sip:1001@h>", Some(&auth)),
    );
    assert_eq!(r.status, 401);
    assert!(
        r.headers
            .get("WWW-Authenticate")
            .unwrap()
            .contains("stale=true")
    );
}

#[test]
fn retransmission_gets_the_same_answer_without_reprocessing() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let text = register_text("z9hG4bK1", 1, "<sip:1001@h>", None);
    c.handle_message(t0, phone(), text.as_bytes());
    let first = c.poll_transmit().unwrap().bytes;
    c.handle_message(t0 + Duration::from_millis(500), phone(), text.as_bytes());
    let second = c.poll_transmit().unwrap().bytes;
    // Same nonce and To tag: the cached answer, not a new challenge.
    assert_eq!(first, second);
}

#[test]
fn ack_and_stray_responses_get_nothing() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let ack = "ACK sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKa\r\nMax-Forwards: 70\r\n\
               To: <sip:1001@127.0.0.1>;tag=x\r\nFrom: <sip:1002@127.0.0.1>;tag=y\r\nCall-ID: a\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    c.handle_message(t0, phone(), ack.as_bytes());
    let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKa\r\n\
                To: <sip:1001@127.0.0.1>;tag=x\r\nFrom: <sip:1002@127.0.0.1>;tag=y\r\nCall-ID: zz\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    c.handle_message(t0, phone(), resp.as_bytes());
    c.handle_message(t0, phone(), b"garbage\r\n\r\n");
    assert!(c.poll_transmit().is_none());
}

#[test]
fn options_gets_200_with_capabilities() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let opt = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKo\r\nMax-Forwards: 0\r\n\
               To: <sip:127.0.0.1>\r\nFrom: <sip:1002@127.0.0.1>;tag=y\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let r = exchange(&mut c, t0, phone(), opt);
    assert_eq!(r.status, 200);
    assert!(r.headers.get("Allow").unwrap().contains("REGISTER"));
    assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
    assert!(r.headers.get("Supported").is_some());
}

#[test]
fn oversized_stream_message_gets_513() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let head = register_text("z9hG4bK1", 1, "<sip:1001@h>", None)
        .replace("Content-Length: 0", "Content-Length: 900000");
    c.handle_oversized(t0, phone(), &head.as_bytes()[..head.len() - 2]);
    let t = c.poll_transmit().expect("a 513");
    let Ok(Message::Response(r)) = Message::parse(&t.bytes) else {
        panic!()
    };
    assert_eq!(r.status, 513);
}

#[test]
fn md5_only_clients_get_one_md5_challenge() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let text = register_text("z9hG4bK1", 1, "<sip:1001@h>", None).replace(
        "Expires: 300\r\n",
        "Expires: 300\r\nUser-Agent: baresip v1.0.0 (x86_64/linux)\r\n",
    );
    let r = exchange(&mut c, t0, phone(), &text);
    let vals: Vec<&str> = r.headers.get_all("WWW-Authenticate").collect();
    assert_eq!(vals.len(), 1, "{vals:?}");
    assert!(vals[0].contains("algorithm=MD5"));
}

/// Registers `contact` (challenge, then SHA-256 answer) and returns the final answer.
fn register_as(c: &mut Core, now: Instant, cseq: u32, contact: &str, extra: &str) -> Response {
    let branch = format!("z9hG4bKa{cseq}");
    let first = register_text(&branch, cseq, contact, None).replace("Expires: 300\r\n", extra);
    let challenge = exchange(c, now, phone(), &first);
    assert_eq!(challenge.status, 401);
    let auth = authorization(&challenge, Algorithm::Sha256, "pw1001", 1);
    let branch = format!("z9hG4bKb{cseq}");
    let text =
        register_text(&branch, cseq + 1, contact, Some(&auth)).replace("Expires: 300\r\n", extra);
    let r = exchange(c, now, phone(), &text);
    while c.poll_transmit().is_some() {}
    r
}

#[test]
fn too_brief_registration_gets_423_with_min_expires() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let r = register_as(&mut c, t0, 1, "<sip:1001@h>", "Expires: 30\r\n");
    assert_eq!(r.status, 423);
    assert_eq!(r.headers.get("Min-Expires"), Some("60"));
    assert!(c.snapshot(t0).bindings.is_empty());
}

#[test]
fn query_wildcard_and_several_contacts() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let r = register_as(
        &mut c,
        t0,
        1,
        "<sip:1001@a>;q=0.2, <sip:1001@b>;q=0.9",
        "Expires: 300\r\n",
    );
    assert_eq!(r.status, 200);
    let contacts: Vec<&str> = r.headers.get_all("Contact").collect();
    assert_eq!(contacts.len(), 2, "{contacts:?}");
    assert!(
        contacts[0].starts_with("<sip:1001@b>") && contacts[0].contains("q=0.900"),
        "{contacts:?}"
    );

    // No Contact: the current bindings, unchanged.
    let q = register_text("z9hG4bKq", 10, "x", None).replace("Contact: x\r\n", "");
    let challenge = exchange(&mut c, t0, phone(), &q);
    let auth = authorization(&challenge, Algorithm::Md5, "pw1001", 1);
    let q = register_text("z9hG4bKq2", 11, "x", Some(&auth)).replace("Contact: x\r\n", "");
    let r = exchange(&mut c, t0, phone(), &q);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get_all("Contact").count(), 2);

    // `*` with Expires: 0 removes them all.
    let r = register_as(&mut c, t0, 20, "*", "Expires: 0\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get_all("Contact").count(), 0);
    assert!(c.snapshot(t0).bindings.is_empty());
}

#[test]
fn a_user_registers_only_their_own_aor() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let text = |branch: &str, auth: Option<&str>| {
        register_text(branch, 1, "<sip:1002@h>", auth).replace("To: <sip:1001@", "To: <sip:1002@")
    };
    let challenge = exchange(&mut c, t0, phone(), &text("z9hG4bKo1", None));
    let auth = authorization(&challenge, Algorithm::Md5, "pw1001", 1);
    let r = exchange(&mut c, t0, phone(), &text("z9hG4bKo2", Some(&auth)));
    assert_eq!(r.status, 403);
}

#[test]
fn unanswered_probes_drop_the_binding() {
    let t0 = Instant::now();
    let mut c = core(t0);
    assert_eq!(
        register_as(&mut c, t0, 1, "<sip:1001@h>", "Expires: 3600\r\n").status,
        200
    );
    c.mark_saved();
    let mut now = t0;
    for _ in 0..4 {
        let at = c.poll_timeout().expect("a deadline");
        now = now.max(at);
        c.handle_timeout(now);
        while c.poll_transmit().is_some() {}
        now += Duration::from_secs(30);
    }
    assert!(c.snapshot(now).bindings.is_empty());
    assert!(c.bindings_changed());
}

#[test]
fn another_peer_reusing_a_branch_is_answered_not_absorbed() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let text = register_text("z9hG4bKsame", 1, "<sip:1001@h>", None);
    assert_eq!(exchange(&mut c, t0, phone(), &text).status, 401);
    let other = Source::udp(
        SocketAddr::from(([127, 0, 0, 1], 40002)),
        SocketAddr::from(([127, 0, 0, 1], 5060)),
    );
    let r = exchange(&mut c, t0, other, &text);
    assert_eq!(r.status, 401);
    assert_eq!(r.headers.top_via().unwrap().rport(), Some(Some(40002)));
}

/// Mutated torture messages (seeded: flips, truncations, duplicated slices) never make the
/// core panic, and nothing is ever sent in answer to a response or an ACK.
#[test]
fn mutated_torture_messages_never_panic_or_answer_responses() {
    let dir = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/sip-torture"
    ));
    let mut files = Vec::new();
    for sub in ["rfc4475", "rfc5118"] {
        let entries = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| panic!("torture fixtures missing at {}: {e}", dir.display()));
        for e in entries {
            files.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    assert!(files.len() > 50);
    let t0 = Instant::now();
    let mut c = core(t0);
    let mut rng = ChaCha8Rng::seed_from_u64(4475);
    let mut now = t0;
    for round in 0..40 {
        for (i, original) in files.iter().enumerate() {
            let mut m = original.clone();
            match rng.random_range(0..4) {
                0 => {
                    for _ in 0..rng.random_range(1..8) {
                        let at = rng.random_range(0..m.len());
                        m[at] = rng.random();
                    }
                }
                1 => m.truncate(rng.random_range(0..m.len())),
                2 => {
                    let a = rng.random_range(0..m.len());
                    let b = rng.random_range(a..m.len());
                    let slice = m[a..b].to_vec();
                    let at = rng.random_range(0..m.len());
                    m.splice(at..at, slice);
                }
                _ => {}
            }
            let src = Source::udp(
                SocketAddr::from(([127, 0, 0, 1], 20000 + (round * 100 + i) as u16 % 30000)),
                SocketAddr::from(([127, 0, 0, 1], 5060)),
            );
            let no_answer_due = matches!(Message::parse(&m), Ok(Message::Response(_)))
                || matches!(Message::parse(&m), Ok(Message::Request(ref r)) if r.method == Method::Ack);
            c.handle_message(now, src, &m);
            let sent: Vec<_> = std::iter::from_fn(|| c.poll_transmit())
                .filter(|t| t.dest == src)
                .collect();
            if no_answer_due {
                assert!(
                    sent.is_empty(),
                    "answered a response or ACK: {}",
                    String::from_utf8_lossy(&m)
                );
            }
            now += Duration::from_millis(7);
            if let Some(at) = c.poll_timeout()
                && at <= now
            {
                c.handle_timeout(now);
                while c.poll_transmit().is_some() {}
            }
        }
    }
}

#[test]
fn authenticated_invite_to_an_unknown_user_gets_404_and_to_a_known_one_480() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let invite = |target: &str, branch: &str, cseq: u32, auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "INVITE sip:{target}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5062;branch={branch}\r\n\
             Max-Forwards: 70\r\nTo: <sip:{target}@127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=ft\r\n\
             Call-ID: inv-{target}\r\nCSeq: {cseq} INVITE\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    for (target, status) in [("1009", 404), ("1001", 480)] {
        let challenge = exchange(
            &mut c,
            t0,
            phone(),
            &invite(target, &format!("z9hG4bKi{target}"), 1, None),
        );
        assert_eq!(challenge.status, 401);
        let value = challenge
            .headers
            .get("WWW-Authenticate")
            .unwrap()
            .to_owned();
        let nonce = value
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let uri = format!("sip:{target}@127.0.0.1");
        let response = DigestParams {
            algorithm: Algorithm::Sha256,
            username: "1001",
            realm: "127.0.0.1",
            nonce,
            method: "INVITE",
            uri: &uri,
            qop: Some(QopAuth {
                nc: 1,
                cnonce: "cn",
            }),
        }
        .response(Secret::Password("pw1001"));
        let auth = format!(
            "Digest username=\"1001\", realm=\"127.0.0.1\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"cn\""
        );
        let r = exchange(
            &mut c,
            t0,
            phone(),
            &invite(target, &format!("z9hG4bKj{target}"), 2, Some(&auth)),
        );
        assert_eq!(r.status, status, "{target}");
    }
}

#[test]
fn ten_wrong_passwords_lock_the_address_and_user_even_for_the_right_one() {
    let t0 = Instant::now();
    let mut c = core(t0);
    let mut cseq = 1;
    let mut attempt = |c: &mut Core, now: Instant, src: Source, password: &str| {
        cseq += 2;
        let first = register_text(&format!("z9hG4bKg{cseq}"), cseq, "<sip:1001@h>", None);
        let challenge = exchange(c, now, src, &first);
        let auth = authorization(&challenge, Algorithm::Md5, password, 1);
        let text = register_text(
            &format!("z9hG4bKh{cseq}"),
            cseq + 1,
            "<sip:1001@h>",
            Some(&auth),
        );
        exchange(c, now, src, &text).status
    };
    for _ in 0..10 {
        assert_eq!(attempt(&mut c, t0, phone(), "guess"), 401);
    }
    assert_eq!(attempt(&mut c, t0, phone(), "pw1001"), 401, "locked");
    // Another address (another phone behind its own NAT) is not affected.
    let elsewhere = Source::udp(
        SocketAddr::from(([127, 0, 0, 2], 40000)),
        SocketAddr::from(([127, 0, 0, 1], 5060)),
    );
    assert_eq!(attempt(&mut c, t0, elsewhere, "pw1001"), 200);
    // The lock lifts after the window.
    let later = t0 + Duration::from_secs(301);
    assert_eq!(attempt(&mut c, later, phone(), "pw1001"), 200);
}
