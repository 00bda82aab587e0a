//! Registering with a carrier (`register = true`): REGISTER to the first gateway that is
//! up (the first by priority when none is), digest answers to 401/407, a refresh at half
//! of the granted expiry, and retries with a doubling backoff when it fails.
//!
//! Each REGISTER (first, refresh or retry) starts without credentials and answers the
//! challenge it gets, so an expired nonce never counts as our credentials being refused.
//! Call-ID and From tag stay for the life of the registration; CSeq grows (RFC 3261
//! §10.2).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_sip::client_auth::ClientAuth;
use switchyard_sip::transaction::{Branch, Transport, TsxKey};
use switchyard_sip::{CSeq, Method, Request, Response};

use super::{Ids, Local, Outgoing, by_priority, uri_at};
use crate::config::{Gateway, Outbound};

/// The registration lifetime asked for.
pub(crate) const REQUESTED_EXPIRES: u32 = 3600;
/// First wait after a failure; doubled on each failure in a row, up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// Shortest wait between retries (while a registration is about to lapse).
pub(crate) const MIN_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between retries.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Where the registration stands, for logs and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegistrationState {
    /// The first REGISTER is under way.
    Registering,
    /// Registered at `gateway` until `expires` (a refresh is due at half-time).
    Registered {
        gateway: SocketAddr,
        expires: Instant,
    },
    /// The last REGISTER failed (`status`: the carrier's answer; `None`: no answer); the
    /// next try is at `retry_at`. A refresh that failed leaves the earlier registration
    /// in force until `registered_until`, and the retries come before then.
    Failing {
        status: Option<u16>,
        failures: u32,
        retry_at: Instant,
        registered_until: Option<Instant>,
    },
}

/// A change worth a log line or an API event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegistrationEvent {
    /// Registered (or refreshed) for `expires`.
    Registered {
        gateway: SocketAddr,
        expires: Duration,
    },
    /// A REGISTER failed; retried after `retry_in`.
    Failed {
        status: Option<u16>,
        retry_in: Duration,
    },
}

#[derive(Debug)]
struct Pending {
    key: TsxKey,
    request: Request,
    gateway: SocketAddr,
    authorized: bool,
}

/// The REGISTER client of one trunk.
///
/// Inputs: [`handle_timeout`](Self::handle_timeout),
/// [`handle_response`](Self::handle_response),
/// [`handle_tsx_failure`](Self::handle_tsx_failure). Outputs, drained after each input:
/// [`poll_request`](Self::poll_request), [`poll_event`](Self::poll_event), then
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub(crate) struct Registration {
    gateways: Vec<Gateway>,
    username: String,
    auth: ClientAuth,
    local: Local,
    ids: Ids,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    state: RegistrationState,
    pending: Option<Pending>,
    /// When the next REGISTER is due (none while one is pending).
    next_send: Option<Instant>,
    failures: u32,
    requests: VecDeque<Outgoing>,
    events: VecDeque<RegistrationEvent>,
}

impl Registration {
    /// The registration of a trunk with `register = true`, a user name and a gateway
    /// (`None` otherwise); the first REGISTER is due at `now`.
    pub(crate) fn new(
        now: Instant,
        outbound: &Outbound,
        local: Local,
        seed: u64,
    ) -> Option<Registration> {
        if !outbound.register || outbound.gateways.is_empty() {
            return None;
        }
        let username = outbound.username.clone()?;
        let password = outbound.password.clone().unwrap_or_default();
        let mut ids = Ids::new(seed);
        let auth = ClientAuth::new(&username, &password, ids.number());
        Some(Registration {
            gateways: by_priority(&outbound.gateways),
            call_id: ids.token(),
            from_tag: ids.token(),
            username,
            auth,
            local,
            ids,
            cseq: 0,
            expires: REQUESTED_EXPIRES,
            state: RegistrationState::Registering,
            pending: None,
            next_send: Some(now),
            failures: 0,
            requests: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// Where the registration stands.
    pub(crate) fn state(&self) -> &RegistrationState {
        &self.state
    }

    /// Whether a registration is in force at `now`.
    #[cfg(test)]
    pub(crate) fn is_registered(&self, now: Instant) -> bool {
        match self.state {
            RegistrationState::Registered { expires, .. } => expires > now,
            RegistrationState::Failing {
                registered_until: Some(until),
                ..
            } => until > now,
            _ => false,
        }
    }

    /// Sends the REGISTER due at `now` (first, refresh or retry) to the first gateway for
    /// which `is_up` holds.
    pub(crate) fn handle_timeout(&mut self, now: Instant, is_up: impl Fn(SocketAddr) -> bool) {
        if self.pending.is_some() || self.next_send.is_none_or(|t| t > now) {
            return;
        }
        let gateway = self
            .gateways
            .iter()
            .find(|g| is_up(g.address))
            .or_else(|| self.gateways.first())
            .expect("a registration has a gateway")
            .clone();
        self.next_send = None;
        let request = self.register(&gateway);
        self.send(gateway.address, request, false);
    }

    /// The health checks found `address` down: registered there, or with a REGISTER
    /// to it still unanswered, we register again at once (with the first gateway still
    /// up, at the next `handle_timeout`) rather than wait for that REGISTER to time out
    /// and the retry back-off after it. A late answer to the abandoned REGISTER is no
    /// longer ours and is ignored.
    pub(crate) fn handle_gateway_down(&mut self, now: Instant, address: SocketAddr) {
        let registered_there = matches!(
            self.state,
            RegistrationState::Registered { gateway, .. } if gateway == address
        );
        match &self.pending {
            Some(p) if p.gateway == address => {
                self.pending = None;
                self.next_send = Some(now);
            }
            None if registered_there => self.next_send = Some(now),
            _ => {}
        }
    }

    /// A response to our REGISTER. `false`: not one of ours.
    pub(crate) fn handle_response(&mut self, now: Instant, response: &Response) -> bool {
        let Ok(key) = TsxKey::for_response(response) else {
            return false;
        };
        if self.pending.as_ref().is_none_or(|p| p.key != key) {
            return false;
        }
        if response.status < 200 {
            return true;
        }
        let pending = self.pending.take().expect("checked above");
        match response.status {
            200..=299 => self.registered(now, &pending, response),
            401 | 407 if !pending.authorized => {
                let branch = Branch::new(&self.ids.branch());
                match self.auth.authorize(&pending.request, response, &branch) {
                    Ok(request) => {
                        if let Some(c) = request.headers.cseq() {
                            self.cseq = self.cseq.max(c.seq);
                        }
                        self.send(pending.gateway, request, true);
                    }
                    Err(err) => {
                        tracing::warn!("cannot answer the carrier's challenge: {err}");
                        self.failed(now, Some(response.status));
                    }
                }
            }
            423 => match response
                .headers
                .get("Min-Expires")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|&m| m > self.expires)
            {
                Some(min) => {
                    self.expires = min;
                    let gateway = self.gateway(pending.gateway);
                    let request = self.register(&gateway);
                    self.send(gateway.address, request, false);
                }
                None => self.failed(now, Some(423)),
            },
            status => self.failed(now, Some(status)),
        }
        true
    }

    /// The transaction layer gave up on our REGISTER. `false`: not one of ours.
    pub(crate) fn handle_tsx_failure(&mut self, now: Instant, key: &TsxKey) -> bool {
        if self.pending.as_ref().is_none_or(|p| &p.key != key) {
            return false;
        }
        self.pending = None;
        self.failed(now, None);
        true
    }

    /// When the next REGISTER is due (`None` while one is under way).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_send
    }

    /// Next REGISTER to send.
    pub(crate) fn poll_request(&mut self) -> Option<Outgoing> {
        self.requests.pop_front()
    }

    /// Next change of state.
    pub(crate) fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    fn gateway(&self, address: SocketAddr) -> Gateway {
        self.gateways
            .iter()
            .find(|g| g.address == address)
            .unwrap_or(&self.gateways[0])
            .clone()
    }

    fn contact(&self, gateway: SocketAddr) -> String {
        let transport = match self.local.transport {
            Transport::Udp => String::new(),
            t => format!(";transport={}", t.as_str().to_ascii_lowercase()),
        };
        format!(
            "<sip:{}@{}{transport}>",
            self.username,
            self.local.sent_by(gateway)
        )
    }

    fn register(&mut self, gateway: &Gateway) -> Request {
        let registrar = uri_at(gateway, None);
        let aor = uri_at(gateway, Some(&self.username));
        let mut req = Request::new(Method::Register, registrar);
        let branch = self.ids.branch();
        req.headers
            .push_via(self.local.via(gateway.address, &branch));
        req.headers.push("Max-Forwards", "70");
        req.headers.push("To", format!("<{aor}>"));
        req.headers
            .push("From", format!("<{aor}>;tag={}", self.from_tag));
        req.headers.push("Call-ID", &self.call_id);
        self.cseq += 1;
        req.headers.push(
            "CSeq",
            CSeq {
                seq: self.cseq,
                method: Method::Register,
            }
            .to_string(),
        );
        req.headers.push("Contact", self.contact(gateway.address));
        req.headers.push("Expires", self.expires.to_string());
        req
    }

    fn send(&mut self, gateway: SocketAddr, request: Request, authorized: bool) {
        let key = TsxKey::for_request(&request).expect("REGISTERs carry a Via and a CSeq");
        self.pending = Some(Pending {
            key,
            request: request.clone(),
            gateway,
            authorized,
        });
        self.requests.push_back(Outgoing {
            destination: gateway,
            request,
        });
    }

    fn registered(&mut self, now: Instant, pending: &Pending, response: &Response) {
        let ours = self.contact(pending.gateway);
        let ours = ours.trim_start_matches('<').trim_end_matches('>');
        // Our binding's expires; a registrar that rewrote our Contact and lists only it
        // is taken to mean ours.
        let contacts = response.headers.contacts().as_slice();
        let granted = contacts
            .iter()
            .find(|c| c.uri().as_str() == ours)
            .or(match contacts {
                [only] => Some(only),
                _ => None,
            })
            .and_then(|c| c.expires())
            .or_else(|| response.headers.expires())
            .unwrap_or(self.expires);
        if granted == 0 {
            return self.failed(now, Some(response.status));
        }
        let expires = Duration::from_secs(granted.into());
        self.failures = 0;
        self.state = RegistrationState::Registered {
            gateway: pending.gateway,
            expires: now + expires,
        };
        self.next_send = Some(now + expires / 2);
        tracing::info!(gateway = %pending.gateway, expires = granted, "registered with the carrier");
        self.events.push_back(RegistrationEvent::Registered {
            gateway: pending.gateway,
            expires,
        });
    }

    fn failed(&mut self, now: Instant, status: Option<u16>) {
        self.failures += 1;
        let doublings = self.failures.saturating_sub(1).min(16);
        let mut retry_in = FIRST_BACKOFF
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF);
        let registered_until = match self.state {
            RegistrationState::Registered { expires, .. } => Some(expires),
            RegistrationState::Failing {
                registered_until, ..
            } => registered_until,
            RegistrationState::Registering => None,
        }
        .filter(|&until| until > now);
        if let Some(until) = registered_until {
            // Still registered: try again within the time left, not after it.
            retry_in = retry_in.min((until - now) / 2).max(MIN_RETRY);
        }
        self.next_send = Some(now + retry_in);
        self.state = RegistrationState::Failing {
            status,
            failures: self.failures,
            retry_at: now + retry_in,
            registered_until,
        };
        tracing::warn!(?status, retry_in = ?retry_in, "registration with the carrier failed");
        self.events
            .push_back(RegistrationEvent::Failed { status, retry_in });
    }
}
