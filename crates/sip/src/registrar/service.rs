//! REGISTER over SIP messages: digest authentication, then the binding store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::auth::{DigestCredentials, DigestServer, Throttle, ThrottleConfig, Verdict};
use crate::digest::Algorithm;
use crate::transport::Source;
use crate::{Contacts, Request, Response};

use super::store::{
    BindingInfo, Bindings, ContactRequest, ContactSet, Q, RegistrarEvent, Update, UpdateError,
};

/// A registrar for one domain with its users' passwords: authenticates requests and
/// answers REGISTER (RFC 3261 §10.3).
#[derive(Debug)]
pub struct Registrar {
    bindings: Bindings,
    auth: DigestServer,
    users: HashMap<String, String>,
    throttle: Throttle,
    changed: bool,
}

impl Registrar {
    /// `users`: user name → password. The digest realm is the server's.
    pub fn new(
        bindings: Bindings,
        auth: DigestServer,
        users: HashMap<String, String>,
    ) -> Registrar {
        Registrar {
            bindings,
            auth,
            users,
            throttle: Throttle::new(ThrottleConfig::default()),
            changed: false,
        }
    }

    /// Replaces the users and passwords (a configuration reload). Bindings stay; a user
    /// removed can no longer authenticate.
    pub fn set_users(&mut self, users: HashMap<String, String>) {
        self.users = users;
    }

    /// Whether `user` is a known user of this registrar.
    pub fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    pub fn bindings(&self) -> &Bindings {
        &self.bindings
    }

    pub fn bindings_mut(&mut self) -> &mut Bindings {
        &mut self.bindings
    }

    /// Whether bindings changed since the last [`mark_saved`](Registrar::mark_saved).
    pub fn changed(&self) -> bool {
        self.changed
    }

    pub fn mark_saved(&mut self) {
        self.changed = false;
    }

    /// Replaces the guessing throttle's policy (default: 10 wrong answers in 5 minutes lock
    /// an address/user pair for 5 minutes).
    pub fn set_throttle(&mut self, config: ThrottleConfig) {
        self.throttle = Throttle::new(config);
    }

    /// Checks the digest credentials of a request from `from`. `Err` is the answer: a 401
    /// challenge (fresh, or with `stale=true`), identical for unknown users, wrong
    /// passwords and locked (address, user) pairs.
    pub fn authenticate(
        &mut self,
        now: Instant,
        req: &Request,
        from: IpAddr,
    ) -> Result<String, Box<Response>> {
        let verdict = match req.headers.authorization() {
            Some(creds) if creds.scheme().eq_ignore_ascii_case("Digest") => {
                let digest = DigestCredentials::from_params(|name| creds.param(name));
                let user = digest.username.unwrap_or("");
                if self.throttle.is_locked(now, from, user) {
                    Verdict::Rejected
                } else {
                    let users = &self.users;
                    let verdict = self.auth.verify(now, req.method.as_str(), &digest, |u| {
                        users.get(u).map(String::as_str)
                    });
                    match &verdict {
                        Verdict::Authorized { username } => self.throttle.succeeded(from, username),
                        Verdict::Rejected => self.throttle.failed(now, from, user),
                        Verdict::Stale => {}
                    }
                    verdict
                }
            }
            // No credentials, or another scheme (RFC 4475 regaut01): challenge.
            _ => Verdict::Rejected,
        };
        match verdict {
            Verdict::Authorized { username } => Ok(username),
            Verdict::Stale => Err(Box::new(self.challenge(now, req, true))),
            Verdict::Rejected => Err(Box::new(self.challenge(now, req, false))),
        }
    }

    fn challenge(&mut self, now: Instant, req: &Request, stale: bool) -> Response {
        let mut r = Response::for_request(req, 401, "Unauthorized");
        let user_agent = req.headers.get("User-Agent").unwrap_or("");
        let values = if md5_only_client(user_agent) {
            self.auth.challenges_for(now, stale, &[Algorithm::Md5])
        } else {
            self.auth.challenges(now, stale)
        };
        for value in values {
            r.headers.push("WWW-Authenticate", value);
        }
        r
    }

    /// Answers a REGISTER that passed [`crate::uas::validate`], arriving from `source`.
    pub fn handle_register(&mut self, now: Instant, req: &Request, source: Source) -> Response {
        let username = match self.authenticate(now, req, source.remote.ip()) {
            Ok(u) => u,
            Err(challenge) => return *challenge,
        };
        // A user registers their own AOR only.
        let aor = req.headers.to().and_then(|to| to.uri().user());
        let Some(aor) = aor.filter(|aor| *aor == username) else {
            return Response::for_request(req, 403, "Forbidden");
        };
        let contacts = match req.headers.contacts() {
            Contacts::None => ContactSet::Query,
            Contacts::Star => ContactSet::Wildcard,
            Contacts::List(list) => ContactSet::List(
                list.iter()
                    .map(|c| ContactRequest {
                        uri: c.uri().to_string(),
                        q: c.q().map(q_from_f32),
                        expires: c.expires(),
                    })
                    .collect(),
            ),
        };
        let is_query = contacts == ContactSet::Query;
        let (Some(call_id), Some(cseq)) = (req.headers.call_id(), req.headers.cseq()) else {
            return Response::for_request(req, 400, "Bad Request");
        };
        let update = Update {
            aor,
            call_id,
            cseq: cseq.seq,
            expires: req.headers.expires(),
            contacts,
            source,
        };
        match self.bindings.update(now, update) {
            Ok(bound) => {
                if !is_query {
                    self.changed = true;
                }
                let mut r = Response::for_request(req, 200, "OK");
                for b in &bound {
                    r.headers.push("Contact", contact_value(b));
                }
                r
            }
            Err(UpdateError::IntervalTooBrief { min_expires }) => {
                let mut r = Response::for_request(req, 423, "Interval Too Brief");
                r.headers.push("Min-Expires", min_expires.to_string());
                r
            }
            Err(UpdateError::InvalidWildcard) => {
                Response::for_request(req, 400, "Bad Request (Contact: * needs Expires: 0)")
            }
            Err(UpdateError::OutOfOrder { .. }) => {
                Response::for_request(req, 400, "Bad Request (CSeq out of order)")
            }
            Err(UpdateError::TooManyContacts { max }) => {
                Response::for_request(req, 403, &format!("Forbidden (at most {max} contacts)"))
            }
        }
    }

    /// See [`Bindings::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let before = self.bindings.len();
        self.bindings.handle_timeout(now);
        if self.bindings.len() != before {
            self.changed = true;
        }
    }

    /// See [`Bindings::poll_event`].
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        let ev = self.bindings.poll_event();
        if matches!(
            ev,
            Some(
                RegistrarEvent::Evicted { .. }
                    | RegistrarEvent::Unreachable { .. }
                    | RegistrarEvent::Expired { .. }
            )
        ) {
            self.changed = true;
        }
        ev
    }
}

/// User-Agents of clients that fail on a 401 carrying any non-MD5 challenge instead of
/// skipping it as RFC 8760 §2.4 requires, so they are challenged with MD5 alone (which is
/// accepted from every client anyway, so this weakens nothing). The choice depends only on
/// the User-Agent, never on the user, so it reveals nothing about which users exist.
/// - baresip 1.0 (libre 1.1): "Register: Function not implemented" (ENOSYS) on
///   `algorithm=SHA-256`, wherever it appears among the challenges.
/// - SIPp 3.6: answers the first challenge only, and refuses anything but MD5.
const MD5_ONLY_USER_AGENTS: &[&str] = &["baresip", "sipp"];

fn md5_only_client(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    MD5_ONLY_USER_AGENTS.iter().any(|q| ua.contains(q))
}

/// A Contact header value for a 200 to REGISTER: the URI with its remaining time and q.
fn contact_value(b: &BindingInfo) -> String {
    let mut v = format!("<{}>;expires={}", b.contact, b.expires_in);
    if let Some(q) = b.q {
        v.push_str(&format!(";q={q}"));
    }
    v
}

fn q_from_f32(q: f32) -> Q {
    // The message layer checked the syntax; clamp for safety.
    Q((q.clamp(0.0, 1.0) * 1000.0).round() as u16)
}
