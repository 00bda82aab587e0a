//! Registrar throughput, sans-IO: an authenticated REGISTER (digest verification with
//! SHA-256 or MD5, nonce check, binding refresh, 200 with the bindings) through
//! `switchyard_sip::registrar::Registrar`, with 10,000 users registered. Parsing is not
//! included (see `sip_parse`); the client's side of the digest is computed outside the
//! timed part.
//!
//! `cargo bench -p switchyard-benches --bench sip_registrar`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use switchyard_sip::auth::{DigestServer, Nonces};
use switchyard_sip::digest::{Algorithm, DigestParams, QopAuth, Secret, format_nc};
use switchyard_sip::registrar::{Bindings, Registrar, RegistrarConfig};
use switchyard_sip::transport::Source;
use switchyard_sip::{Message, Request};

const USERS: u32 = 10_000;

fn register(user: u32, cseq: u32, auth: Option<&str>) -> Request {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let text = format!(
        "REGISTER sip:pbx.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK{user}x{cseq}\r\n\
         Max-Forwards: 70\r\nTo: <sip:{user}@pbx.example>\r\nFrom: <sip:{user}@pbx.example>;tag=f{user}\r\n\
         Call-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@10.0.0.9:5062>\r\n\
         Expires: 3600\r\nUser-Agent: bench\r\n{auth}Content-Length: 0\r\n\r\n"
    );
    match Message::parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("bench REGISTER does not parse: {other:?}"),
    }
}

fn authorization(alg: Algorithm, user: u32, nonce: &str, nc: u32) -> String {
    let username = user.to_string();
    let response = DigestParams {
        algorithm: alg,
        username: &username,
        realm: "pbx.example",
        nonce,
        method: "REGISTER",
        uri: "sip:pbx.example",
        qop: Some(QopAuth {
            nc,
            cnonce: "c0ffee",
        }),
    }
    .response(Secret::Password(&format!("pw{user}")));
    format!(
        "Digest username=\"{user}\", realm=\"pbx.example\", nonce=\"{nonce}\", uri=\"sip:pbx.example\", \
         response=\"{response}\", algorithm={alg}, qop=auth, nc={}, cnonce=\"c0ffee\"",
        format_nc(nc)
    )
}

fn nonce_of(resp: &switchyard_sip::Response) -> String {
    let v = resp.headers.get("WWW-Authenticate").expect("a challenge");
    v.split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

fn bench(c: &mut Criterion) {
    let t0 = Instant::now();
    let users: HashMap<String, String> = (0..USERS)
        .map(|u| (u.to_string(), format!("pw{u}")))
        .collect();
    let config = RegistrarConfig {
        qualify_interval: None,
        ..RegistrarConfig::default()
    };
    let source = Source::udp(
        "192.0.2.9:40000".parse().unwrap(),
        "127.0.0.1:5060".parse().unwrap(),
    );
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let auth = DigestServer::new(
            "pbx.example",
            Nonces::new([5; 32], t0, Duration::from_secs(3600)),
        );
        let mut reg = Registrar::new(Bindings::new(config.clone()), auth, users.clone());
        // Register everyone once, keeping one nonce per user for the timed refreshes.
        let mut nonces = Vec::new();
        for u in 0..USERS {
            let challenge = reg.handle_register(t0, &register(u, 1, None), source);
            let nonce = nonce_of(&challenge);
            let ok = reg.handle_register(
                t0,
                &register(u, 2, Some(&authorization(alg, u, &nonce, 1))),
                source,
            );
            assert_eq!(ok.status, 200);
            nonces.push(nonce);
        }
        let mut i = 0u32;
        c.bench_function(
            &format!("registrar/authenticated REGISTER refresh ({alg})"),
            |b| {
                b.iter_batched(
                    || {
                        i += 1;
                        let user = i % USERS;
                        let round = i / USERS + 2;
                        let auth = authorization(alg, user, &nonces[user as usize], round);
                        register(user, round + 1, Some(&auth))
                    },
                    |req| {
                        let resp = reg.handle_register(t0, &req, source);
                        assert_eq!(resp.status, 200);
                        black_box(resp)
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
