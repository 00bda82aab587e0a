//! The daemon's SIP core: every received message goes through here, answers and probes
//! come out as [`Transmit`]s. It never touches a socket or reads the clock: the loop in
//! `run.rs` passes `now` in and sends what [`Core::poll_transmit`] returns.
//!
//! Order of work for a request: parse (unparsable → the stateless answer of
//! `reject_unparsable`), stamp `received`/`rport` on the top Via (forced for every request,
//! RFC 3581), hand it to the transaction layer (which absorbs retransmissions and ACKs and
//! answers CANCELs), validate what it reports as new (RFC 3261 §8.2 in
//! `switchyard_sip::uas`), then the method: REGISTER → registrar, OPTIONS → 200, INVITE →
//! digest challenge then 480 or 404 (no call routing yet), BYE → 481. Responses go to the
//! transaction layer, which passes on those of our qualify probes and drops the rest.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use switchyard_sip::auth::{DigestServer, Nonces};
use switchyard_sip::registrar::{
    BindingId, Bindings, Registrar, RegistrarConfig, RegistrarEvent, Snapshot,
};
use switchyard_sip::transaction::{self, TransactionConfig, TransactionLayer, TsxEvent, TsxKey};
use switchyard_sip::transport::{ConnId, Source, Transport};
use switchyard_sip::uas::{UasPolicy, validate};
use switchyard_sip::{Message, Method, Request, Response, reject_unparsable};

use super::calls::{Calls, LookupJob, Sip};
use super::net::Transmit;
use crate::api::ApiRequest;
use crate::media::MediaEvent;

/// Digest nonces are fresh for this long; older ones get `stale=true`.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// How long the way back to a peer (local socket, TCP connection) is remembered after its
/// last message: longer than any transaction (64·T1) that may still send to it.
const PEER_MEMORY: Duration = Duration::from_secs(120);
/// How often forgotten peers are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

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

struct Peer {
    source: Source,
    last: Instant,
}

/// The way back to each peer: the local socket and connection its last message used.
#[derive(Default)]
pub(crate) struct PeerBook {
    map: HashMap<(Transport, SocketAddr), Peer>,
    next_sweep: Option<Instant>,
}

impl PeerBook {
    /// Remembers (or refreshes) the way to `source.remote`.
    pub(crate) fn touch(&mut self, now: Instant, source: Source) {
        self.map.insert(
            (source.transport, source.remote),
            Peer { source, last: now },
        );
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP_EVERY);
        }
    }

    fn get(&self, key: &(Transport, SocketAddr)) -> Option<&Peer> {
        self.map.get(key)
    }
}

pub(crate) struct Core {
    domain: String,
    registrar: Registrar,
    policy: UasPolicy,
    layer: TransactionLayer,
    /// The way back to each peer.
    peers: PeerBook,
    /// Who opened each server transaction (pruned with the peers).
    server_peers: HashMap<TsxKey, (Transport, SocketAddr)>,
    /// Outstanding qualify probes by client transaction.
    probes: HashMap<TsxKey, BindingId>,
    rng: ChaCha8Rng,
    out: VecDeque<Transmit>,
    /// Call control (absent in a registrar-only core).
    calls: Option<Calls>,
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
        let mut rng = ChaCha8Rng::from_seed(config.seed);
        let layer = TransactionLayer::new(TransactionConfig {
            seed: rng.random(),
            // Every INVITE is answered at once (challenge or refusal): no 100 needed.
            send_100_trying: false,
            ..TransactionConfig::default()
        });
        Core {
            domain: config.domain,
            registrar: Registrar::new(bindings, auth, config.users.into_iter().collect()),
            policy: UasPolicy::default(),
            layer,
            peers: PeerBook::default(),
            server_peers: HashMap::new(),
            probes: HashMap::new(),
            rng,
            calls: None,
            out: VecDeque::new(),
        }
    }

    /// One whole message from `source`.
    pub(crate) fn handle_message(&mut self, now: Instant, source: Source, bytes: &[u8]) {
        match Message::parse(bytes) {
            Ok(Message::Request(mut req)) => {
                if let Some(via) = req.headers.top_via_mut() {
                    via.set_received(source.remote.ip());
                    via.set_rport(source.remote.port());
                }
                self.touch_peer(now, source);
                if self.collides(&req, source) {
                    self.serve_stateless(now, source, &req);
                } else {
                    self.layer.handle_receive(
                        now,
                        Message::Request(req),
                        source.remote,
                        tsx_transport(source.transport),
                    );
                }
            }
            Ok(resp @ Message::Response(_)) => {
                self.layer.handle_receive(
                    now,
                    resp,
                    source.remote,
                    tsx_transport(source.transport),
                );
            }
            Err(err) => match reject_unparsable(bytes, &err) {
                Some(resp) => {
                    tracing::debug!("unparsable request: {err}");
                    self.answer_stateless(source, resp);
                }
                None => tracing::debug!("dropped unparsable message: {err}"),
            },
        }
        self.drive(now);
    }

    /// A stream message over the size limit: 513 when its headers can be read.
    pub(crate) fn handle_oversized(&mut self, _now: Instant, source: Source, head: &[u8]) {
        let resp = match Message::parse(head) {
            Ok(Message::Request(req)) => Some(Response::for_request(&req, 513, "")),
            Ok(Message::Response(_)) => None,
            Err(err) => reject_unparsable(head, &err),
        };
        match resp {
            Some(mut resp) => {
                resp.status = 513;
                resp.reason = "Message Too Large".into();
                self.answer_stateless(source, resp);
            }
            None => tracing::debug!("dropped an oversized message that cannot be answered"),
        }
    }

    /// Whether `req` matches a live server transaction (same branch, sent-by and method)
    /// opened by another peer. A retransmission comes from where the original came from;
    /// this is a different client reusing a branch (as several RFC 4475/5118 messages do),
    /// so it is answered on its own, statelessly, instead of being absorbed.
    fn collides(&self, req: &Request, source: Source) -> bool {
        if req.method == Method::Ack {
            return false;
        }
        let Ok(key) = TsxKey::for_request(req) else {
            return false;
        };
        self.layer.has_server(&key)
            && self
                .server_peers
                .get(&key)
                .is_some_and(|&(t, remote)| (t, remote) != (source.transport, source.remote))
    }

    fn serve_stateless(&mut self, now: Instant, source: Source, req: &Request) {
        let resp = match validate(req, &self.policy, |_| false) {
            Err(resp) => *resp,
            Ok(()) => self.serve(now, source, req),
        };
        self.answer_stateless(source, resp);
    }

    fn touch_peer(&mut self, now: Instant, source: Source) {
        self.peers.touch(now, source);
    }

    /// Reacts to everything the transaction layer and the registrar have to say, until
    /// both are quiet, then routes the layer's transmits.
    fn drive(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(ev) = self.layer.poll_event() {
                busy = true;
                self.handle_tsx_event(now, ev);
            }
            while let Some(ev) = self.registrar.poll_event() {
                busy = true;
                self.handle_registrar_event(now, ev);
            }
            if !busy {
                break;
            }
        }
        while let Some(t) = self.layer.poll_transmit() {
            let transport = match t.transport {
                transaction::Transport::Udp => Transport::Udp,
                transaction::Transport::Tcp => Transport::Tcp,
                other => {
                    tracing::debug!("no {} transport to send on", other.as_str());
                    continue;
                }
            };
            let dest = match self.peers.get(&(transport, t.destination)) {
                Some(peer) => peer.source,
                // Unknown peer: any local socket of the right family.
                None => Source {
                    transport,
                    remote: t.destination,
                    local: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                    conn: None,
                },
            };
            self.out.push_back(Transmit {
                dest,
                bytes: t.payload.to_vec(),
            });
        }
    }

    fn handle_tsx_event(&mut self, now: Instant, ev: TsxEvent) {
        match ev {
            TsxEvent::Request {
                key,
                request,
                remote,
                transport,
            } => {
                let transport = match transport {
                    transaction::Transport::Tcp => Transport::Tcp,
                    _ => Transport::Udp,
                };
                // Every request's peer is remembered just before the layer sees it; the
                // fallback (any local socket of the family) only guards that invariant.
                let source = self.peers.get(&(transport, remote)).map_or(
                    Source {
                        transport,
                        remote,
                        local: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                        conn: None,
                    },
                    |p| p.source,
                );
                let _span = tracing::info_span!(
                    "request",
                    method = request.method.as_str(),
                    call_id = request.headers.call_id().unwrap_or("")
                )
                .entered();
                self.server_peers
                    .insert(key.clone(), (source.transport, source.remote));
                let calls = self.calls.as_ref();
                let in_dialog = |r: &Request| calls.is_some_and(|c| c.knows_dialog(r));
                let resp = match validate(&request, &self.policy, in_dialog) {
                    Err(resp) => *resp,
                    Ok(()) if self.calls.as_ref().is_some_and(|c| c.wants(&request)) => {
                        self.with_calls(now, |c, sip| {
                            c.handle_request(sip, now, key, source, &request)
                        });
                        return;
                    }
                    Ok(()) => self.serve(now, source, &request),
                };
                let resp = self.finish(resp);
                if let Err(err) = self.layer.send_response(now, &key, resp) {
                    tracing::debug!("answer not sent: {err}");
                }
            }
            TsxEvent::Ack { request, .. } => {
                if let Some(c) = self.calls.as_mut() {
                    c.handle_ack(now, &request);
                }
            }
            TsxEvent::Cancelled { invite, .. } => {
                self.with_calls(now, |c, sip| c.handle_cancelled(sip, now, &invite));
            }
            TsxEvent::Response { key, response } => {
                if !self.probes.contains_key(&key) {
                    self.with_calls(now, |c, sip| c.handle_response(sip, now, &key, &response));
                    return;
                }
                if response.status < 200 {
                    return;
                }
                if let Some(binding) = self.probes.remove(&key)
                    && let Some((aor, _)) = self.registrar.bindings_mut().qualified(now, binding)
                {
                    tracing::info!(aor, status = response.status, "contact qualified");
                }
            }
            // An unanswered probe: the registrar counts it as missed at the next interval.
            TsxEvent::Timeout { key, .. } | TsxEvent::TransportError { key } => {
                if self.probes.remove(&key).is_none() {
                    self.with_calls(now, |c, sip| c.handle_tsx_timeout(sip, now, &key));
                }
            }
        }
    }

    fn serve(&mut self, now: Instant, source: Source, req: &Request) -> Response {
        match req.method {
            Method::Register => {
                let resp = self.registrar.handle_register(now, req, source);
                if resp.status == 200 {
                    let aor = req.headers.to().and_then(|t| t.uri().user()).unwrap_or("");
                    let n = self.registrar.bindings().bindings(now, aor).len();
                    if n > 0 {
                        tracing::info!(aor, bindings = n, "registered");
                    } else {
                        tracing::info!(aor, "no bindings left");
                    }
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
            Method::Invite => match self.registrar.authenticate(now, req, source.remote.ip()) {
                Err(challenge) => *challenge,
                // Only authenticated callers learn whether a user exists. Calls are not
                // routed yet, so even a registered user is unavailable.
                Ok(_) if req.uri.user().is_some_and(|u| self.registrar.has_user(u)) => {
                    Response::for_request(req, 480, "Temporarily Unavailable")
                }
                Ok(_) => Response::for_request(req, 404, "Not Found"),
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

    /// Adds what every answer of this server carries: a To tag (RFC 3261 §8.2.6.2) and
    /// Server.
    fn finish(&mut self, mut resp: Response) -> Response {
        if resp.status > 100
            && let Some(to) = resp.headers.to_mut()
            && to.tag().is_none()
        {
            let tag = self.token();
            to.set_tag(&tag);
        }
        resp.headers.push("Server", "Switchyard");
        resp
    }

    /// Sends an answer outside any transaction, to where the request came from.
    fn answer_stateless(&mut self, dest: Source, resp: Response) {
        let resp = self.finish(resp);
        self.out.push_back(Transmit {
            dest,
            bytes: Message::Response(resp).to_bytes(),
        });
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.registrar.handle_timeout(now);
        self.with_calls(now, |c, sip| c.handle_timeout(sip, now));
        if self.peers.next_sweep.is_some_and(|t| t <= now) {
            self.peers
                .map
                .retain(|_, p| now.saturating_duration_since(p.last) < PEER_MEMORY);
            let layer = &self.layer;
            self.server_peers.retain(|key, _| layer.has_server(key));
            self.peers.next_sweep = (!self.peers.map.is_empty()).then(|| now + SWEEP_EVERY);
        }
        self.drive(now);
    }

    fn handle_registrar_event(&mut self, now: Instant, ev: RegistrarEvent) {
        match ev {
            RegistrarEvent::Qualify {
                id,
                aor,
                contact,
                source,
            } => self.send_probe(now, id, &aor, &contact, source),
            RegistrarEvent::Bound { aor, .. } => {
                tracing::debug!(aor, "contact bound");
                self.with_calls(now, |c, sip| c.device_changed(sip, now, &aor));
            }
            RegistrarEvent::Unbound { aor, .. } => {
                tracing::debug!(aor, "contact unbound");
                self.with_calls(now, |c, sip| c.device_changed(sip, now, &aor));
            }
            RegistrarEvent::Expired { aor, .. } => {
                tracing::info!(aor, "binding expired");
                self.with_calls(now, |c, sip| c.device_changed(sip, now, &aor));
            }
            RegistrarEvent::Unreachable { aor, .. } => {
                tracing::info!(aor, "contact unreachable, binding dropped");
                self.with_calls(now, |c, sip| c.device_changed(sip, now, &aor));
            }
            RegistrarEvent::Evicted { aor, .. } => {
                tracing::info!(aor, "binding evicted (too many contacts)");
            }
        }
    }

    /// An OPTIONS to a registered contact, sent where its REGISTER came from.
    fn send_probe(&mut self, now: Instant, id: BindingId, aor: &str, contact: &str, dest: Source) {
        let call_id = format!("{}@{}", self.token(), self.domain.trim_matches(['[', ']']));
        let branch = self.layer.new_branch();
        let branch = branch.as_str();
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
        let request = match Message::parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            // A contact URI that does not survive printing into a request cannot be probed.
            _ => {
                tracing::debug!(aor, "contact cannot be probed");
                return;
            }
        };
        self.touch_peer(now, dest);
        match self
            .layer
            .send_request(now, request, dest.remote, tsx_transport(dest.transport))
        {
            Ok(key) => {
                tracing::debug!(aor, "qualifying contact");
                self.probes.insert(key, id);
            }
            Err(err) => tracing::debug!(aor, "probe not sent: {err}"),
        }
    }

    /// Gives call control what it borrows from the SIP core for one operation.
    fn with_calls<R>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Calls, &mut Sip<'_>) -> R,
    ) -> Option<R> {
        let calls = self.calls.as_mut()?;
        let rng = &mut self.rng;
        let mut token = || format!("{:016x}", rng.random::<u64>());
        let mut sip = Sip {
            layer: &mut self.layer,
            registrar: &mut self.registrar,
            peers: &mut self.peers,
            domain: &self.domain,
            token: &mut token,
        };
        let r = f(calls, &mut sip);
        calls.flush_dtmf(&mut sip, now);
        Some(r)
    }

    /// Installs call control and logs in the agents configured to be.
    pub(crate) fn set_calls(&mut self, now: Instant, calls: Calls) {
        // What calls add to the registrar's methods and bodies: in-dialog INFO (DTMF
        // relay) and UPDATE (session refresh), and session timers (RFC 4028).
        self.policy.allow.extend([Method::Info, Method::Update]);
        self.policy.accept.extend([
            "application/dtmf-relay".to_owned(),
            "application/dtmf".to_owned(),
        ]);
        self.policy.supported.push("timer".to_owned());
        self.calls = Some(calls);
        self.with_calls(now, |c, sip| c.startup(sip, now));
        self.drive(now);
    }

    pub(crate) fn calls(&mut self) -> Option<&mut Calls> {
        self.calls.as_mut()
    }

    pub(crate) fn take_calls(&mut self) -> Option<Calls> {
        self.calls.take()
    }

    /// An event from the media thread.
    pub(crate) fn handle_media(&mut self, now: Instant, ev: MediaEvent) {
        self.with_calls(now, |c, sip| c.media_event(sip, now, ev));
        self.drive(now);
    }

    /// A customer-system lookup finished.
    pub(crate) fn handle_lookup(
        &mut self,
        now: Instant,
        call: u64,
        result: Result<String, String>,
    ) {
        self.with_calls(now, |c, sip| c.lookup_result(sip, now, call, result));
        self.drive(now);
    }

    /// A request from the HTTP API.
    pub(crate) fn handle_api(&mut self, now: Instant, req: ApiRequest) {
        self.with_calls(now, |c, sip| c.handle_api(sip, now, req));
        self.drive(now);
    }

    /// Refuse new calls from now on; with `end_calls`, hang up every call.
    pub(crate) fn drain_calls(&mut self, now: Instant, end_calls: bool) -> usize {
        let n = self
            .with_calls(now, |c, sip| c.drain(sip, now, end_calls))
            .unwrap_or(0);
        self.drive(now);
        n
    }

    /// Reloads the configuration (or, for the demo, the dialplans): SIGHUP.
    pub(crate) fn reload(
        &mut self,
        now: Instant,
    ) -> Option<Result<crate::api::ReloadView, crate::api::ApiError>> {
        let r = self.with_calls(now, |c, sip| c.reload(sip, now));
        self.drive(now);
        r
    }

    pub(crate) fn poll_lookup(&mut self) -> Option<LookupJob> {
        self.calls.as_mut()?.poll_lookup()
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.registrar.bindings().poll_timeout(),
            self.layer.poll_timeout(),
            self.peers.next_sweep,
            self.calls.as_ref().and_then(Calls::poll_timeout),
        ]
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

/// The transaction layer's name for a socket transport.
pub(crate) fn tsx_transport(t: Transport) -> transaction::Transport {
    match t {
        Transport::Udp => transaction::Transport::Udp,
        Transport::Tcp => transaction::Transport::Tcp,
    }
}

#[cfg(test)]
mod tests;
