//! The daemon's SIP core: every received message goes through here, answers and probes
//! come out as [`Transmit`]s. It never touches a socket or reads the clock: the loop in
//! `run.rs` passes `now` in and sends what [`Core::poll_transmit`] returns.
//!
//! Order of work for a request: parse (unparsable → the stateless answer of
//! `reject_unparsable`), never answer ACK, stamp `received`/`rport` on the top Via (forced
//! for every request, RFC 3581), answer a retransmission from the response cache, validate
//! (RFC 3261 §8.2 in `switchyard_sip::uas`), then the method: REGISTER → registrar, OPTIONS
//! → 200, INVITE → digest challenge then 480 (no call routing yet), BYE/CANCEL → 481.
//! Responses are only used to match qualify probes; any other is dropped.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use switchyard_sip::auth::{DigestServer, Nonces};
use switchyard_sip::registrar::{
    BindingId, Bindings, Registrar, RegistrarConfig, RegistrarEvent, Snapshot,
};
use switchyard_sip::transport::{ConnId, Source};
use switchyard_sip::uas::{UasPolicy, is_unanswerable, validate};
use switchyard_sip::{Message, Method, Request, Response, reject_unparsable};

use super::net::Transmit;

/// How long an answer is kept to absorb retransmissions of its request (64·T1, Timer J).
const ANSWER_CACHE: Duration = Duration::from_secs(32);
/// How long a probe waits for its answer.
const PROBE_WAIT: Duration = Duration::from_secs(32);
/// Digest nonces are fresh for this long; older ones get `stale=true`.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// How often the caches are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct CoreConfig {
    pub(crate) domain: String,
    pub(crate) users: Vec<(String, String)>,
    pub(crate) qualify_interval: Option<Duration>,
    pub(crate) min_expires: u32,
    pub(crate) max_contacts: usize,
    pub(crate) seed: [u8; 32],
    pub(crate) nonce_key: [u8; 32],
    pub(crate) epoch: Instant,
}

struct Cached {
    bytes: Vec<u8>,
    until: Instant,
}

struct Probe {
    binding: BindingId,
    until: Instant,
}

pub(crate) struct Core {
    domain: String,
    registrar: Registrar,
    policy: UasPolicy,
    /// Answers by request key, to absorb retransmissions. A stand-in for the non-INVITE
    /// server transaction (RFC 3261 §17.2.2) until the transaction layer drives the daemon.
    answers: HashMap<String, Cached>,
    /// Outstanding qualify probes by Call-ID.
    probes: HashMap<String, Probe>,
    next_sweep: Option<Instant>,
    rng: ChaCha8Rng,
    out: VecDeque<Transmit>,
}

impl Core {
    pub(crate) fn new(config: CoreConfig) -> Core {
        let bindings = Bindings::new(RegistrarConfig {
            min_expires: config.min_expires,
            max_contacts: config.max_contacts,
            qualify_interval: config.qualify_interval,
            ..RegistrarConfig::default()
        });
        let realm = config.domain.trim_matches(['[', ']']).to_owned();
        let auth = DigestServer::new(
            realm,
            Nonces::new(config.nonce_key, config.epoch, NONCE_LIFETIME),
        );
        Core {
            domain: config.domain,
            registrar: Registrar::new(bindings, auth, config.users.into_iter().collect()),
            policy: UasPolicy::default(),
            answers: HashMap::new(),
            probes: HashMap::new(),
            next_sweep: None,
            rng: ChaCha8Rng::from_seed(config.seed),
            out: VecDeque::new(),
        }
    }

    /// One whole message from `source`.
    pub(crate) fn handle_message(&mut self, now: Instant, source: Source, bytes: &[u8]) {
        match Message::parse(bytes) {
            Ok(Message::Request(req)) => self.handle_request(now, source, req),
            Ok(Message::Response(resp)) => self.handle_response(now, resp),
            Err(err) => match reject_unparsable(bytes, &err) {
                Some(resp) => {
                    tracing::debug!("unparsable request from {source:?}: {err}");
                    self.answer(source, resp, None, now);
                }
                None => tracing::debug!("dropped unparsable message: {err}"),
            },
        }
    }

    /// A stream message over the size limit: 513 when its headers can be read.
    pub(crate) fn handle_oversized(&mut self, now: Instant, source: Source, head: &[u8]) {
        let resp = match Message::parse(head) {
            Ok(Message::Request(req)) => Some(Response::for_request(&req, 513, "")),
            Ok(Message::Response(_)) => None,
            Err(err) => reject_unparsable(head, &err),
        };
        match resp {
            Some(mut resp) => {
                resp.status = 513;
                resp.reason = "Message Too Large".into();
                self.answer(source, resp, None, now);
            }
            None => tracing::debug!("dropped an oversized message that cannot be answered"),
        }
    }

    fn handle_request(&mut self, now: Instant, source: Source, mut req: Request) {
        if is_unanswerable(&req) {
            return;
        }
        if let Some(via) = req.headers.top_via_mut() {
            via.set_received(source.remote.ip());
            via.set_rport(source.remote.port());
        }
        let key = request_key(&req, source);
        if let Some(cached) = key.as_ref().and_then(|k| self.answers.get(k)) {
            self.out.push_back(Transmit {
                dest: source,
                bytes: cached.bytes.clone(),
            });
            return;
        }
        let resp = match validate(&req, &self.policy, |_| false) {
            Err(resp) => *resp,
            Ok(()) => self.serve(now, source, &req),
        };
        self.answer(source, resp, key, now);
        self.drain_registrar(now);
    }

    fn serve(&mut self, now: Instant, source: Source, req: &Request) -> Response {
        match req.method {
            Method::Register => {
                let resp = self.registrar.handle_register(now, req, source);
                if resp.status == 200 {
                    let aor = req.headers.to().and_then(|t| t.uri().user()).unwrap_or("");
                    let n = self.registrar.bindings().bindings(now, aor).len();
                    tracing::info!(aor, bindings = n, "registered");
                }
                resp
            }
            Method::Options => {
                let mut r = Response::for_request(req, 200, "OK");
                r.headers.push("Allow", self.policy.allow_header());
                r.headers.push("Accept", self.policy.accept_header());
                r.headers.push("Supported", self.policy.supported_header());
                r
            }
            Method::Invite => match self.registrar.authenticate(now, req) {
                Err(challenge) => *challenge,
                Ok(_) => Response::for_request(req, 480, "Temporarily Unavailable"),
            },
            // No dialogs or pending INVITEs exist yet.
            Method::Bye | Method::Cancel => {
                Response::for_request(req, 481, "Call/Transaction Does Not Exist")
            }
            _ => {
                let mut r = Response::for_request(req, 405, "Method Not Allowed");
                r.headers.push("Allow", self.policy.allow_header());
                r
            }
        }
    }

    /// Finishes an answer (To tag, Server) and queues it to the request's source.
    fn answer(&mut self, dest: Source, mut resp: Response, key: Option<String>, now: Instant) {
        if let Some(to) = resp.headers.to_mut()
            && to.tag().is_none()
        {
            let tag = self.token();
            to.set_tag(&tag);
        }
        resp.headers.push("Server", "Switchyard");
        let bytes = Message::Response(resp).to_bytes();
        if let Some(key) = key {
            self.answers.insert(
                key,
                Cached {
                    bytes: bytes.clone(),
                    until: now + ANSWER_CACHE,
                },
            );
            self.schedule_sweep(now);
        }
        self.out.push_back(Transmit { dest, bytes });
    }

    fn handle_response(&mut self, now: Instant, resp: Response) {
        let probe = resp
            .headers
            .call_id()
            .and_then(|id| self.probes.get(id).map(|p| (id.to_owned(), p.binding)));
        let Some((call_id, binding)) = probe else {
            tracing::debug!("dropped a response matching nothing ({})", resp.status);
            return;
        };
        if resp.status < 200 {
            return;
        }
        self.probes.remove(&call_id);
        if let Some((aor, _contact)) = self.registrar.bindings_mut().qualified(now, binding) {
            tracing::info!(aor, status = resp.status, "contact qualified");
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.registrar.handle_timeout(now);
        if self.next_sweep.is_some_and(|t| t <= now) {
            self.answers.retain(|_, c| c.until > now);
            self.probes.retain(|_, p| p.until > now);
            self.next_sweep = None;
            if !self.answers.is_empty() || !self.probes.is_empty() {
                self.schedule_sweep(now);
            }
        }
        self.drain_registrar(now);
    }

    fn schedule_sweep(&mut self, now: Instant) {
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP_EVERY);
        }
    }

    fn drain_registrar(&mut self, now: Instant) {
        while let Some(ev) = self.registrar.poll_event() {
            match ev {
                RegistrarEvent::Qualify {
                    id,
                    aor,
                    contact,
                    source,
                } => self.send_probe(now, id, &aor, &contact, source),
                RegistrarEvent::Expired { aor, .. } => tracing::info!(aor, "binding expired"),
                RegistrarEvent::Unreachable { aor, .. } => {
                    tracing::info!(aor, "contact unreachable, binding dropped");
                }
                RegistrarEvent::Evicted { aor, .. } => {
                    tracing::info!(aor, "binding evicted (too many contacts)");
                }
            }
        }
    }

    /// An OPTIONS to a registered contact, sent where its REGISTER came from.
    fn send_probe(&mut self, now: Instant, id: BindingId, aor: &str, contact: &str, dest: Source) {
        let call_id = format!("{}@{}", self.token(), self.domain.trim_matches(['[', ']']));
        let branch = format!("z9hG4bK{}", self.token());
        let tag = self.token();
        let local = dest.local;
        let host = match local.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let text = format!(
            "OPTIONS {contact} SIP/2.0\r\n\
             Via: SIP/2.0/{} {host}:{};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             To: <{contact}>\r\n\
             From: <sip:switchyard@{}>;tag={tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Accept: application/sdp\r\n\
             Content-Length: 0\r\n\r\n",
            dest.transport,
            local.port(),
            self.domain,
        );
        tracing::debug!(aor, "qualifying contact");
        self.probes.insert(
            call_id,
            Probe {
                binding: id,
                until: now + PROBE_WAIT,
            },
        );
        self.schedule_sweep(now);
        self.out.push_back(Transmit {
            dest,
            bytes: text.into_bytes(),
        });
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.registrar.bindings().poll_timeout(), self.next_sweep]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn connection_closed(&mut self, conn: ConnId) {
        self.registrar.bindings_mut().connection_closed(conn);
    }

    pub(crate) fn bindings_changed(&self) -> bool {
        self.registrar.changed()
    }

    pub(crate) fn mark_saved(&mut self) {
        self.registrar.mark_saved();
    }

    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        self.registrar.bindings().snapshot(now)
    }

    pub(crate) fn restore(&mut self, now: Instant, snapshot: Snapshot, elapsed: Duration) {
        self.registrar
            .bindings_mut()
            .restore(now, snapshot, elapsed);
    }
}

/// The key that identifies retransmissions of a request: the top Via's branch and sent-by
/// with the CSeq method (RFC 3261 §17.2.3), or for a branch without the magic cookie (RFC
/// 2543 clients, RFC 4475 badbranch) the Via with CSeq and From tag. Call-ID and the
/// source address are added: a retransmission repeats both, and a client reusing a branch
/// for another request (as several torture messages do) is not answered from the cache.
fn request_key(req: &Request, source: Source) -> Option<String> {
    let via = req.headers.top_via()?;
    let cseq = req.headers.cseq()?;
    let call_id = req.headers.call_id()?;
    let sent_by = format!("{}:{}", via.host_str(), via.port().unwrap_or(0));
    let origin = format!("{}/{}", source.transport, source.remote);
    match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") && b.len() > 7 => Some(format!(
            "{b}\n{sent_by}\n{}\n{call_id}\n{origin}",
            cseq.method.as_str()
        )),
        _ => Some(format!(
            "2543\n{sent_by}\n{}\n{}\n{}\n{call_id}\n{origin}",
            cseq.seq,
            cseq.method.as_str(),
            req.headers.from().and_then(|f| f.tag()).unwrap_or(""),
        )),
    }
}

#[cfg(test)]
mod tests;
