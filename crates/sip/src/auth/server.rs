//! Challenges and verification of digest credentials.

use std::time::Instant;

use crate::digest::{Algorithm, DigestParams, QopAuth, Secret, parse_nc};

use super::nonce::{NonceStatus, Nonces};

/// The parameters of a `Digest` Authorization header, unquoted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestCredentials<'a> {
    pub username: Option<&'a str>,
    pub realm: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub uri: Option<&'a str>,
    pub response: Option<&'a str>,
    pub algorithm: Option<&'a str>,
    pub qop: Option<&'a str>,
    pub nc: Option<&'a str>,
    pub cnonce: Option<&'a str>,
}

impl<'a> DigestCredentials<'a> {
    /// Collects the parameters through a lookup (e.g. the message layer's
    /// `Credentials::param`).
    pub fn from_params(param: impl Fn(&str) -> Option<&'a str>) -> DigestCredentials<'a> {
        DigestCredentials {
            username: param("username"),
            realm: param("realm"),
            nonce: param("nonce"),
            uri: param("uri"),
            response: param("response"),
            algorithm: param("algorithm"),
            qop: param("qop"),
            nc: param("nc"),
            cnonce: param("cnonce"),
        }
    }
}

/// The outcome of checking credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The response is right for this user's password, with a fresh nonce seen for the
    /// first time at this nonce count.
    Authorized { username: String },
    /// The response is right but the nonce expired: challenge again with `stale=true`.
    Stale,
    /// Anything else — unknown user, wrong password, forged or replayed nonce, malformed
    /// credentials. Answered exactly like a first request (a fresh challenge), so callers
    /// cannot tell unknown users from wrong passwords.
    Rejected,
}

/// Digest authentication for one realm (RFC 8760: SHA-256 offered first, then MD5;
/// `qop=auth` required).
#[derive(Debug)]
pub struct DigestServer {
    realm: String,
    nonces: Nonces,
    algorithms: Vec<Algorithm>,
}

/// Verified against when the user does not exist, so that unknown users cost the same
/// work as known ones.
const DECOY_PASSWORD: &str = "decoy-password-for-unknown-users";

impl DigestServer {
    /// Offers and accepts SHA-256 and MD5, in that order.
    pub fn new(realm: impl Into<String>, nonces: Nonces) -> DigestServer {
        DigestServer::with_algorithms(realm, nonces, vec![Algorithm::Sha256, Algorithm::Md5])
    }

    /// Offers and accepts `algorithms` (in order of preference; `-sess` variants are not
    /// offered by this server and are refused).
    pub fn with_algorithms(
        realm: impl Into<String>,
        nonces: Nonces,
        algorithms: Vec<Algorithm>,
    ) -> DigestServer {
        DigestServer {
            realm: realm.into(),
            nonces,
            algorithms: algorithms.into_iter().filter(|a| !a.is_session()).collect(),
        }
    }

    /// The algorithms offered, in order of preference.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The `WWW-Authenticate` (or `Proxy-Authenticate`) values of a challenge, one per
    /// algorithm, SHA-256 first (RFC 8760 §2.4: in order of preference). All carry the
    /// same nonce.
    pub fn challenges(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let offered = self.algorithms.clone();
        self.challenges_for(now, stale, &offered)
    }

    /// Like [`challenges`](DigestServer::challenges), for a subset of the algorithms
    /// (e.g. only MD5 for a client known to abort on any other challenge). Algorithms this
    /// server does not accept are left out.
    pub fn challenges_for(
        &mut self,
        now: Instant,
        stale: bool,
        algorithms: &[Algorithm],
    ) -> Vec<String> {
        let nonce = self.nonces.issue(now);
        algorithms
            .iter()
            .filter(|a| self.algorithms.contains(a))
            .map(|alg| {
                let mut v = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={alg}, qop=\"auth\"",
                    self.realm
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Checks credentials sent with a request of `method`. `password` looks a user up.
    ///
    /// The credentials' `uri` is not compared with the Request-URI (RFC 7616 §3.4.6
    /// suggests it): SIPp 3.6 answers with `sip:HOST:PORT` whatever the Request-URI, and
    /// the nonce counts already stop a captured answer from being replayed.
    pub fn verify<'p>(
        &mut self,
        now: Instant,
        method: &str,
        creds: &DigestCredentials<'_>,
        password: impl Fn(&str) -> Option<&'p str>,
    ) -> Verdict {
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            creds.username,
            creds.realm,
            creds.nonce,
            creds.uri,
            creds.response,
        ) else {
            return Verdict::Rejected;
        };
        if realm != self.realm {
            return Verdict::Rejected;
        }
        let algorithm = match creds.algorithm.map(str::parse::<Algorithm>) {
            None => Algorithm::Md5,
            Some(Ok(a)) if self.algorithms.contains(&a) => a,
            Some(_) => return Verdict::Rejected,
        };
        // Only qop=auth is offered, so a response without it (RFC 2069) is refused.
        if !creds.qop.is_some_and(|q| q.eq_ignore_ascii_case("auth")) {
            return Verdict::Rejected;
        }
        let (Some(nc), Some(cnonce)) = (creds.nc.and_then(parse_nc), creds.cnonce) else {
            return Verdict::Rejected;
        };
        let status = self.nonces.status(now, nonce);
        if status == NonceStatus::Invalid {
            return Verdict::Rejected;
        }
        let known = password(username);
        let params = DigestParams {
            algorithm,
            username,
            realm,
            nonce,
            method,
            uri,
            qop: Some(QopAuth { nc, cnonce }),
        };
        let matches = params.verify(Secret::Password(known.unwrap_or(DECOY_PASSWORD)), response);
        if !matches || known.is_none() {
            return Verdict::Rejected;
        }
        if status == NonceStatus::Stale {
            return Verdict::Stale;
        }
        if !self.nonces.accept_nc(now, nonce, nc) {
            return Verdict::Rejected;
        }
        Verdict::Authorized {
            username: username.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::digest::format_nc;

    fn server(t0: Instant) -> DigestServer {
        DigestServer::new(
            "example.com",
            Nonces::new([3; 32], t0, Duration::from_secs(300)),
        )
    }

    fn users(name: &str) -> Option<&'static str> {
        (name == "1001").then_some("s3cret")
    }

    fn nonce_of(challenge: &str) -> String {
        let start = challenge.find("nonce=\"").unwrap() + 7;
        let end = challenge[start..].find('"').unwrap() + start;
        challenge[start..end].to_owned()
    }

    struct Answer {
        username: String,
        nonce: String,
        response: String,
        algorithm: &'static str,
        nc: String,
    }

    impl Answer {
        fn new(alg: Algorithm, user: &str, pass: &str, nonce: &str, nc: u32) -> Answer {
            let params = DigestParams {
                algorithm: alg,
                username: user,
                realm: "example.com",
                nonce,
                method: "REGISTER",
                uri: "sip:example.com",
                qop: Some(QopAuth { nc, cnonce: "abc" }),
            };
            Answer {
                username: user.to_owned(),
                nonce: nonce.to_owned(),
                response: params.response(Secret::Password(pass)),
                algorithm: alg.as_str(),
                nc: format_nc(nc),
            }
        }

        fn creds(&self) -> DigestCredentials<'_> {
            DigestCredentials {
                username: Some(&self.username),
                realm: Some("example.com"),
                nonce: Some(&self.nonce),
                uri: Some("sip:example.com"),
                response: Some(&self.response),
                algorithm: Some(self.algorithm),
                qop: Some("auth"),
                nc: Some(&self.nc),
                cnonce: Some("abc"),
            }
        }
    }

    #[test]
    fn challenges_offer_sha256_then_md5_with_one_nonce() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let c = s.challenges(t0, false);
        assert_eq!(c.len(), 2);
        assert!(c[0].contains("algorithm=SHA-256"), "{}", c[0]);
        assert!(c[1].contains("algorithm=MD5"), "{}", c[1]);
        assert!(
            c.iter()
                .all(|v| v.contains("qop=\"auth\"") && !v.contains("stale"))
        );
        assert_eq!(nonce_of(&c[0]), nonce_of(&c[1]));
        assert!(s.challenges(t0, true)[0].ends_with("stale=true"));
        let md5 = s.challenges_for(t0, false, &[Algorithm::Md5, Algorithm::Sha256Sess]);
        assert_eq!(md5.len(), 1);
        assert!(md5[0].contains("algorithm=MD5"));
    }

    #[test]
    fn sha256_and_md5_answers_are_accepted() {
        let t0 = Instant::now();
        let mut s = server(t0);
        for alg in [Algorithm::Sha256, Algorithm::Md5] {
            let nonce = nonce_of(&s.challenges(t0, false)[0]);
            let a = Answer::new(alg, "1001", "s3cret", &nonce, 1);
            assert_eq!(
                s.verify(t0, "REGISTER", &a.creds(), users),
                Verdict::Authorized {
                    username: "1001".into()
                }
            );
        }
    }

    #[test]
    fn wrong_password_and_unknown_user_look_the_same() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false)[0]);
        let wrong = Answer::new(Algorithm::Md5, "1001", "guess", &nonce, 1);
        let unknown = Answer::new(Algorithm::Md5, "9999", "guess", &nonce, 1);
        assert_eq!(
            s.verify(t0, "REGISTER", &wrong.creds(), users),
            Verdict::Rejected
        );
        assert_eq!(
            s.verify(t0, "REGISTER", &unknown.creds(), users),
            Verdict::Rejected
        );
        // Even with a stale nonce: only a right answer learns that the nonce is stale.
        let late = t0 + Duration::from_secs(400);
        assert_eq!(
            s.verify(late, "REGISTER", &wrong.creds(), users),
            Verdict::Rejected
        );
        assert_eq!(
            s.verify(late, "REGISTER", &unknown.creds(), users),
            Verdict::Rejected
        );
    }

    #[test]
    fn expired_nonce_is_stale_and_replay_is_refused() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false)[0]);
        let a = Answer::new(Algorithm::Sha256, "1001", "s3cret", &nonce, 1);
        assert_eq!(
            s.verify(t0 + Duration::from_secs(301), "REGISTER", &a.creds(), users),
            Verdict::Stale
        );
        assert!(matches!(
            s.verify(t0, "REGISTER", &a.creds(), users),
            Verdict::Authorized { .. }
        ));
        assert_eq!(
            s.verify(t0, "REGISTER", &a.creds(), users),
            Verdict::Rejected
        );
        let next = Answer::new(Algorithm::Sha256, "1001", "s3cret", &nonce, 2);
        assert!(matches!(
            s.verify(t0, "REGISTER", &next.creds(), users),
            Verdict::Authorized { .. }
        ));
    }

    #[test]
    fn malformed_or_foreign_credentials_are_rejected() {
        let t0 = Instant::now();
        let mut s = server(t0);
        let nonce = nonce_of(&s.challenges(t0, false)[0]);
        let a = Answer::new(Algorithm::Md5, "1001", "s3cret", &nonce, 1);
        let mut c = a.creds();
        c.realm = Some("elsewhere");
        assert_eq!(s.verify(t0, "REGISTER", &c, users), Verdict::Rejected);
        let mut c = a.creds();
        c.qop = None;
        assert_eq!(s.verify(t0, "REGISTER", &c, users), Verdict::Rejected);
        let mut c = a.creds();
        c.algorithm = Some("SHA-512-256");
        assert_eq!(s.verify(t0, "REGISTER", &c, users), Verdict::Rejected);
        let mut c = a.creds();
        c.nonce = Some("0123");
        assert_eq!(s.verify(t0, "REGISTER", &c, users), Verdict::Rejected);
        // The same answer for another method does not verify.
        assert_eq!(s.verify(t0, "INVITE", &a.creds(), users), Verdict::Rejected);
        assert_eq!(
            s.verify(t0, "REGISTER", &DigestCredentials::default(), users),
            Verdict::Rejected
        );
    }
}
