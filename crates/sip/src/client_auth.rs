//! Answering a digest challenge (RFC 3261 §22.2-22.3, RFC 8760): the client side of
//! authentication, for trunks that challenge our INVITEs and REGISTERs.
//!
//! [`ClientAuth::authorize`] takes the challenged request and the 401/407 and returns the
//! request to send again: CSeq one higher, a new branch, and an `Authorization` (401) or
//! `Proxy-Authorization` (407) per challenging realm. A realm that rejects what we
//! already answered (no `stale=true`) is given up: one failed retry per realm.

use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::digest::{Algorithm, DigestParams, QopAuth, Secret, format_nc};
use crate::transaction::Branch;
use crate::{CSeq, Challenge, Credentials, Request, Response};

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("status {0} is not a 401 or 407 challenge")]
    NotAChallenge(u16),
    #[error("the {0} carries no usable Digest challenge")]
    NoChallenge(u16),
    #[error("no supported algorithm offered (got {0:?})")]
    UnsupportedAlgorithm(String),
    #[error("qop {0:?} offered without auth")]
    UnsupportedQop(String),
    #[error("realm {0:?} rejected our credentials")]
    Rejected(String),
    #[error("the challenged request has no CSeq or top Via")]
    BadRequest,
}

/// One account's credentials and the state its answers need (nonce counts, cnonces).
#[derive(Debug, Clone)]
pub struct ClientAuth {
    username: String,
    password: String,
    rng: ChaCha8Rng,
    /// Nonce count per nonce already used.
    nc: HashMap<String, u32>,
}

/// The challenge chosen for one realm.
struct Chosen {
    challenge: Challenge,
    algorithm: Algorithm,
    qop: bool,
}

fn header_names(status: u16) -> Option<(&'static str, &'static str)> {
    match status {
        401 => Some(("WWW-Authenticate", "Authorization")),
        407 => Some(("Proxy-Authenticate", "Proxy-Authorization")),
        _ => None,
    }
}

fn rank(a: Algorithm) -> u8 {
    match a {
        Algorithm::Sha256 => 4,
        Algorithm::Sha256Sess => 3,
        Algorithm::Md5 => 2,
        Algorithm::Md5Sess => 1,
    }
}

impl ClientAuth {
    /// `seed` drives the cnonces (tests are reproducible; production seeds from the OS).
    pub fn new(username: &str, password: &str, seed: u64) -> ClientAuth {
        ClientAuth {
            username: username.to_owned(),
            password: password.to_owned(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            nc: HashMap::new(),
        }
    }

    /// The request to send in answer to `challenge` (a 401 or 407 to `request`), with
    /// `branch` in its top Via.
    pub fn authorize(
        &mut self,
        request: &Request,
        challenge: &Response,
        branch: &Branch,
    ) -> Result<Request, AuthError> {
        let status = challenge.status;
        let (challenge_header, answer_header) =
            header_names(status).ok_or(AuthError::NotAChallenge(status))?;
        let chosen = choose(challenge, challenge_header)?;

        let mut req = request.clone();
        let cseq = req.headers.cseq().ok_or(AuthError::BadRequest)?;
        req.headers.set(
            "CSeq",
            CSeq {
                seq: cseq.seq + 1,
                method: cseq.method,
            }
            .to_string(),
        );
        req.headers
            .top_via_mut()
            .ok_or(AuthError::BadRequest)?
            .set_param("branch", Some(branch.as_str()));

        // Keep answers to other realms (several proxies may challenge), replace ours.
        let previous: Vec<Credentials> = request
            .headers
            .get_all(answer_header)
            .filter_map(Credentials::parse)
            .collect();
        let mut answers: Vec<String> = Vec::new();
        for c in &previous {
            let realm = c.param("realm").unwrap_or_default();
            let answered_again = chosen
                .iter()
                .any(|ch| ch.challenge.param("realm").unwrap_or_default() == realm);
            if !answered_again {
                answers.push(c.to_string());
            }
        }
        for ch in &chosen {
            let realm = ch.challenge.param("realm").unwrap_or_default();
            let stale = ch
                .challenge
                .param("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true"));
            let tried = previous
                .iter()
                .any(|c| c.param("realm").unwrap_or_default() == realm);
            if tried && !stale {
                return Err(AuthError::Rejected(realm.to_owned()));
            }
            answers.push(self.answer(request, ch).to_string());
        }
        req.headers.remove(answer_header);
        for a in answers {
            req.headers.push(answer_header, a);
        }
        Ok(req)
    }

    fn answer(&mut self, request: &Request, ch: &Chosen) -> Credentials {
        let c = &ch.challenge;
        let realm = c.param("realm").unwrap_or_default();
        let nonce = c.param("nonce").unwrap_or_default();
        let uri = request.uri.to_string();
        let cnonce = format!("{:016x}", self.rng.next_u64());
        let nc = {
            let n = self.nc.entry(nonce.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        let params = DigestParams {
            algorithm: ch.algorithm,
            username: &self.username,
            realm,
            nonce,
            method: request.method.as_str(),
            uri: &uri,
            qop: ch.qop.then_some(QopAuth {
                nc,
                cnonce: &cnonce,
            }),
        };
        let response = params.response(Secret::Password(&self.password));
        let mut cred = Credentials::new("Digest");
        cred.set_param("username", &self.username);
        cred.set_param("realm", realm);
        cred.set_param("nonce", nonce);
        cred.set_param("uri", &uri);
        cred.set_param("response", &response);
        cred.set_param("algorithm", ch.algorithm.as_str());
        if let Some(opaque) = c.param("opaque") {
            cred.set_param("opaque", opaque);
        }
        if ch.qop {
            cred.set_param("qop", "auth");
            cred.set_param("nc", &format_nc(nc));
            cred.set_param("cnonce", &cnonce);
        }
        cred
    }
}

/// Per realm, the strongest Digest challenge we can answer.
fn choose(resp: &Response, header: &str) -> Result<Vec<Chosen>, AuthError> {
    let mut chosen: Vec<Chosen> = Vec::new();
    let mut unsupported = None;
    for c in resp.headers.get_all(header).filter_map(Challenge::parse) {
        if !c.scheme().eq_ignore_ascii_case("Digest") || c.param("nonce").is_none() {
            continue;
        }
        let algorithm = match c.param("algorithm").map_or(Ok(Algorithm::Md5), str::parse) {
            Ok(a) => a,
            Err(e) => {
                unsupported = Some(AuthError::UnsupportedAlgorithm(e.0));
                continue;
            }
        };
        let qop = match c.param("qop") {
            None => false,
            Some(q) if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) => true,
            Some(q) => {
                unsupported = Some(AuthError::UnsupportedQop(q.to_owned()));
                continue;
            }
        };
        let realm = c.param("realm").unwrap_or_default().to_owned();
        match chosen
            .iter_mut()
            .find(|ch| ch.challenge.param("realm").unwrap_or_default() == realm)
        {
            Some(prev) if rank(prev.algorithm) >= rank(algorithm) => {}
            Some(prev) => {
                *prev = Chosen {
                    challenge: c,
                    algorithm,
                    qop,
                }
            }
            None => chosen.push(Chosen {
                challenge: c,
                algorithm,
                qop,
            }),
        }
    }
    if chosen.is_empty() {
        return Err(unsupported.unwrap_or(AuthError::NoChallenge(resp.status)));
    }
    Ok(chosen)
}
