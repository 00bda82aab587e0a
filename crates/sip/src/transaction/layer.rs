//! The transaction layer: routes messages to transactions, owns their timers.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::RandomState;
use std::net::SocketAddr;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::build;
use super::client::ClientTsx;
use super::key::{Branch, KeyRef, MAGIC_COOKIE, TsxKey};
use super::server::{AckId, Sent, ServerTsx};
use super::timers::TimerConfig;
use super::{KeyError, Outputs, Step, Transmit, Transport, TsxError, TsxEvent};
use crate::{Message, Method, Request, Response};

/// Transactions by key. hashbrown rather than std's map for lookups by a key borrowed
/// from the message ([`KeyRef`]), which std cannot do for a composite key; std's SipHash
/// keeps the keys (attacker-chosen branches) from flooding one bucket.
type TsxMap<V> = hashbrown::HashMap<TsxKey, V, RandomState>;

/// Configuration of a [`TransactionLayer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionConfig {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// Seed of the generator behind [`TransactionLayer::new_branch`].
    pub seed: u64,
    /// Answer every new INVITE with 100 Trying at once (RFC 3261 §17.2.1 lets the TU do it
    /// within 200 ms instead; a B2BUA that forwards the INVITE does not know when its
    /// first provisional will come).
    pub send_100_trying: bool,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            timers: TimerConfig::default(),
            seed: 0,
            send_100_trying: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// A queued deadline; stale entries (the transaction moved on or is gone) are skipped.
#[derive(Debug)]
struct TimerEntry {
    at: Instant,
    seq: u64,
    side: Side,
    key: TsxKey,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    /// Reversed, so that `BinaryHeap` pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// All client and server transactions of one SIP element.
///
/// ```
/// use std::time::{Duration, Instant};
/// use switchyard_sip::transaction::{TransactionConfig, TransactionLayer, Transport, TsxEvent};
/// use switchyard_sip::Message;
///
/// let mut layer = TransactionLayer::new(TransactionConfig::default());
/// let now = Instant::now(); // the only clock read: the caller's
/// let remote = "192.0.2.10:5060".parse().unwrap();
/// let options = Message::parse(
///     b"OPTIONS sip:switchyard.example SIP/2.0\r\n\
///       Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n\
///       Max-Forwards: 70\r\nTo: <sip:switchyard.example>\r\n\
///       From: <sip:alice@example.com>;tag=1928301774\r\n\
///       Call-ID: a84b4c76e66710\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n",
/// ).unwrap();
/// layer.handle_receive(now, options, remote, Transport::Udp);
/// let Some(TsxEvent::Request { key, request, .. }) = layer.poll_event() else { panic!() };
/// layer
///     .send_response(now, &key, switchyard_sip::Response::for_request(&request, 200, "OK"))
///     .unwrap();
/// let transmit = layer.poll_transmit().unwrap();
/// assert_eq!(transmit.destination, remote);
/// assert!(transmit.payload.starts_with(b"SIP/2.0 200 OK\r\n"));
/// // Timer J keeps the transaction for 64*T1 to answer retransmissions, then it goes.
/// let deadline = layer.poll_timeout().unwrap();
/// assert_eq!(deadline, now + Duration::from_secs(32));
/// layer.handle_timeout(deadline);
/// assert!(layer.is_empty());
/// ```
#[derive(Debug)]
pub struct TransactionLayer {
    config: TransactionConfig,
    rng: ChaCha8Rng,
    clients: TsxMap<ClientTsx>,
    servers: TsxMap<ServerTsx>,
    /// INVITE server transactions in Accepted, by what their 2xx's ACK carries.
    accepted: HashMap<AckId, TsxKey>,
    timers: BinaryHeap<TimerEntry>,
    seq: u64,
    out: Outputs,
}

impl TransactionLayer {
    pub fn new(config: TransactionConfig) -> Self {
        TransactionLayer {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            clients: TsxMap::default(),
            servers: TsxMap::default(),
            accepted: HashMap::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            out: Outputs::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// Number of live transactions (client and server).
    pub fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while the client transaction `key` lives.
    pub fn has_client(&self, key: &TsxKey) -> bool {
        self.clients.contains_key(key)
    }

    /// True while the server transaction `key` lives.
    pub fn has_server(&self, key: &TsxKey) -> bool {
        self.servers.contains_key(key)
    }

    /// Where the request of server transaction `key` came from (its responses go there).
    pub fn server_source(&self, key: &TsxKey) -> Option<(SocketAddr, Transport)> {
        self.servers.get(key).map(ServerTsx::source)
    }

    /// A fresh branch (magic cookie and 64 random bits) for the top Via of a request the
    /// TU is about to send.
    pub fn new_branch(&mut self) -> Branch {
        Branch::new(&format!("{MAGIC_COOKIE}{:016x}", self.rng.next_u64()))
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// Next event for the TU.
    pub fn poll_event(&mut self) -> Option<TsxEvent> {
        self.out.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(top) = self.timers.peek() {
            if self.is_current(top) {
                return Some(top.at);
            }
            self.timers.pop();
        }
        None
    }

    fn is_current(&self, e: &TimerEntry) -> bool {
        let scheduled = match e.side {
            Side::Client => self.clients.get(&e.key).and_then(|t| t.scheduled),
            Side::Server => self.servers.get(&e.key).and_then(|t| t.scheduled),
        };
        scheduled == Some(e.at)
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.timers.peek().is_some_and(|t| t.at <= now) {
            let e = self.timers.pop().expect("peeked just above");
            if !self.is_current(&e) {
                continue;
            }
            let timers = self.config.timers;
            match e.side {
                Side::Client => {
                    let tsx = self.clients.get_mut(&e.key).expect("is_current found it");
                    tsx.scheduled = None;
                    let step = tsx.on_timeout(now, &timers, &mut self.out);
                    self.after_client(&e.key, step);
                }
                Side::Server => {
                    let tsx = self.servers.get_mut(&e.key).expect("is_current found it");
                    tsx.scheduled = None;
                    let step = tsx.on_timeout(now, &timers, &mut self.out);
                    self.after_server(&e.key, step);
                }
            }
        }
    }

    /// The transport could not send a message of transaction `key` (ICMP error, TCP
    /// connection refused or reset): the transaction ends and the TU hears of it.
    pub fn handle_transport_error(&mut self, _now: Instant, key: &TsxKey) {
        if let Some(tsx) = self.clients.get_mut(key) {
            let step = tsx.on_transport_error(&mut self.out);
            self.after_client(key, step);
        } else if let Some(tsx) = self.servers.get_mut(key) {
            let step = tsx.on_transport_error(&mut self.out);
            self.after_server(key, step);
        }
    }

    /// A message arrived from `remote` over `transport`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        msg: Message,
        remote: SocketAddr,
        transport: Transport,
    ) {
        match msg {
            Message::Request(req) => self.receive_request(now, req, remote, transport),
            Message::Response(resp) => self.receive_response(now, resp),
        }
    }

    fn receive_request(
        &mut self,
        now: Instant,
        req: Request,
        remote: SocketAddr,
        transport: Transport,
    ) {
        // The hot path, a retransmission under RFC 3261 matching: found without building
        // an owned key.
        if !matches!(req.method, Method::Ack | Method::Cancel)
            && let Some(tsx) = KeyRef::for_request(&req).and_then(|k| self.servers.get_mut(&k))
        {
            tsx.on_request_retransmission(&mut self.out);
            return;
        }
        let key = match TsxKey::for_request(&req) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(error = %e, "dropping request that matches no transaction rule");
                return;
            }
        };
        match req.method {
            Method::Ack => self.receive_ack(now, key, req, remote, transport),
            Method::Cancel => self.receive_cancel(now, key, req, remote, transport),
            _ => {
                if let Some(tsx) = self.servers.get_mut(&key) {
                    tsx.on_request_retransmission(&mut self.out);
                    return;
                }
                let invite = req.method == Method::Invite;
                self.servers.insert(
                    key.clone(),
                    ServerTsx::new(key.clone(), invite, remote, transport),
                );
                if invite && self.config.send_100_trying {
                    let trying = Response::for_request(&req, 100, "Trying");
                    // A fresh Proceeding transaction always accepts a 1xx.
                    let _ = self.send_response(now, &key, trying);
                }
                self.out.events.push_back(TsxEvent::Request {
                    key,
                    request: req,
                    remote,
                    transport,
                });
            }
        }
    }

    fn receive_ack(
        &mut self,
        now: Instant,
        key: TsxKey,
        req: Request,
        remote: SocketAddr,
        transport: Transport,
    ) {
        let timers = self.config.timers;
        // RFC 3261 matching, or RFC 2543 matching where the ACK carries the To tag of our
        // final response and the INVITE carried none.
        let found = if self.servers.contains_key(&key) {
            Some(key)
        } else {
            key.without_to_tag().filter(|k| {
                self.servers
                    .get(k)
                    .is_some_and(|t| t.final_to_tag.as_deref() == key.to_tag())
            })
        };
        let found = found
            .or_else(|| AckId::of(&req.headers).and_then(|id| self.accepted.get(&id).cloned()));
        match found {
            Some(k) => {
                let tsx = self.servers.get_mut(&k).expect("found in the map above");
                let step = tsx.on_ack(now, &timers, req, remote, transport, &mut self.out);
                self.after_server(&k, step);
            }
            None => self.out.events.push_back(TsxEvent::Ack {
                invite: None,
                request: req,
                remote,
                transport,
            }),
        }
    }

    fn receive_cancel(
        &mut self,
        now: Instant,
        key: TsxKey,
        req: Request,
        remote: SocketAddr,
        transport: Transport,
    ) {
        if let Some(tsx) = self.servers.get_mut(&key) {
            tsx.on_request_retransmission(&mut self.out);
            return;
        }
        let invite = key.with_method(Method::Invite);
        let (status, reason, cancelled) = match self.servers.get(&invite) {
            Some(tsx) if tsx.is_pending() => (200, "OK", true),
            // The final response is already out: the CANCEL has no effect (§9.2).
            Some(_) => (200, "OK", false),
            None => (481, "Call/Transaction Does Not Exist", false),
        };
        self.servers.insert(
            key.clone(),
            ServerTsx::new(key.clone(), false, remote, transport),
        );
        let resp = Response::for_request(&req, status, reason);
        // A fresh Trying transaction always accepts a final response.
        let _ = self.send_response(now, &key, resp);
        if cancelled {
            self.out.events.push_back(TsxEvent::Cancelled {
                invite,
                cancel: req,
            });
        }
    }

    fn receive_response(&mut self, now: Instant, resp: Response) {
        let Some(cseq) = resp.headers.cseq() else {
            tracing::debug!(status = resp.status, "dropping response without CSeq");
            return;
        };
        let found =
            KeyRef::for_response(&resp, &cseq.method).and_then(|k| self.clients.get_mut(&k));
        let Some(tsx) = found else {
            // RFC 6026 §7.1.1: responses matching no transaction are discarded.
            tracing::debug!(
                status = resp.status,
                "dropping response matching no transaction"
            );
            return;
        };
        let key = tsx.key.clone();
        let timers = self.config.timers;
        let (step, after) = tsx.on_response(now, &timers, resp, &mut self.out);
        let (remote, transport) = tsx.remote();
        self.after_client(&key, step);
        if let Some(cancel) = after.send_cancel
            && let Err(e) = self.send_request(now, cancel, remote, transport)
        {
            tracing::debug!(error = %e, "could not send the pending CANCEL");
        }
    }

    /// Starts a client transaction for `request` (not an ACK), whose top Via must carry an
    /// RFC 3261 branch (see [`new_branch`](Self::new_branch)), and sends it to `remote`.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        remote: SocketAddr,
        transport: Transport,
    ) -> Result<TsxKey, TsxError> {
        if request.method == Method::Ack {
            return Err(TsxError::AckRequest);
        }
        let via = request.headers.top_via().ok_or(KeyError::NoVia)?;
        if !via.branch().is_some_and(|b| Branch::new(b).is_rfc3261()) {
            return Err(TsxError::NoBranch);
        }
        let key = TsxKey::for_request(&request)?;
        if self.clients.contains_key(&key) {
            return Err(TsxError::Exists);
        }
        let timers = self.config.timers;
        let tsx = ClientTsx::start(
            now,
            &timers,
            key.clone(),
            request,
            remote,
            transport,
            &mut self.out,
        );
        self.clients.insert(key.clone(), tsx);
        self.after_client(&key, Step::Live);
        Ok(key)
    }

    /// Sends a response on the server transaction `key`.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TsxKey,
        response: Response,
    ) -> Result<(), TsxError> {
        let timers = self.config.timers;
        let tsx = self.servers.get_mut(key).ok_or(TsxError::NoTransaction)?;
        let payload = build::response_bytes(&response);
        let (sent, step) =
            tsx.send_response(now, &timers, response.status, payload, &mut self.out)?;
        if response.status >= 200 {
            tsx.final_to_tag = response
                .headers
                .to()
                .and_then(|t| t.tag())
                .map(str::to_owned);
        }
        if sent == Sent::Accepted2xx
            && tsx.ack_id.is_none()
            && let Some(id) = AckId::of(&response.headers)
        {
            tsx.ack_id = Some(id.clone());
            self.accepted.insert(id, key.clone());
        }
        self.after_server(key, step);
        Ok(())
    }

    /// Cancels the INVITE client transaction `invite` (RFC 3261 §9.1). The CANCEL goes out
    /// now if a provisional response has arrived, else as soon as one does. Returns the
    /// CANCEL's transaction key; its response arrives as a [`TsxEvent::Response`] and the
    /// INVITE's own final response (normally 487) as another. If a 2xx wins the race, the
    /// call is up all the same: the TU ACKs it and sends BYE (RFC 3261 §9.1). An INVITE
    /// that only ever gets provisional responses stays in Proceeding: ending it (a
    /// no-answer timer, then `cancel`) is the TU's decision.
    pub fn cancel(&mut self, now: Instant, invite: &TsxKey) -> Result<TsxKey, TsxError> {
        self.cancel_with_reason(now, invite, None)
    }

    /// [`cancel`](Self::cancel) with a `Reason` header (RFC 3326), e.g.
    /// `SIP;cause=200;text="Call completed elsewhere"` when another phone answered.
    pub fn cancel_with_reason(
        &mut self,
        now: Instant,
        invite: &TsxKey,
        reason: Option<&str>,
    ) -> Result<TsxKey, TsxError> {
        let tsx = self
            .clients
            .get_mut(invite)
            .ok_or(TsxError::NoTransaction)?;
        let (remote, transport) = tsx.remote();
        match tsx.cancel(reason)? {
            Some(cancel) => self.send_request(now, cancel, remote, transport),
            None => Ok(invite.with_method(Method::Cancel)),
        }
    }

    /// Sends the TU's ACK for a 2xx to the INVITE `invite` (built by the dialog layer), and
    /// remembers it so that a retransmission of that 2xx is answered with it again.
    pub fn send_ack(
        &mut self,
        _now: Instant,
        invite: &TsxKey,
        ack: Request,
        remote: SocketAddr,
        transport: Transport,
    ) {
        let payload = build::request_bytes(&ack);
        if let Some(tsx) = self.clients.get_mut(invite) {
            let tag = ack.headers.to().and_then(|t| t.tag());
            tsx.remember_ack(tag, payload.clone(), remote, transport);
        }
        self.out.transmits.push_back(Transmit {
            destination: remote,
            transport,
            payload,
            tsx: None,
        });
    }

    /// Sends a message outside any transaction (a stateless answer, an ACK for a 2xx
    /// retransmitted after its transaction ended).
    pub fn send_stateless(&mut self, msg: &Message, remote: SocketAddr, transport: Transport) {
        self.out.transmits.push_back(Transmit {
            destination: remote,
            transport,
            payload: msg.to_bytes().into(),
            tsx: None,
        });
    }

    fn after_client(&mut self, key: &TsxKey, step: Step) {
        match step {
            Step::Terminated => {
                self.clients.remove(key);
            }
            Step::Live => {
                let Some(tsx) = self.clients.get_mut(key) else {
                    return;
                };
                let next = tsx.next_deadline();
                if next != tsx.scheduled {
                    tsx.scheduled = next;
                    if let Some(at) = next {
                        self.seq += 1;
                        self.timers.push(TimerEntry {
                            at,
                            seq: self.seq,
                            side: Side::Client,
                            key: key.clone(),
                        });
                    }
                }
            }
        }
    }

    fn after_server(&mut self, key: &TsxKey, step: Step) {
        match step {
            Step::Terminated => {
                if let Some(tsx) = self.servers.remove(key)
                    && let Some(id) = tsx.ack_id
                {
                    self.accepted.remove(&id);
                }
            }
            Step::Live => {
                let Some(tsx) = self.servers.get_mut(key) else {
                    return;
                };
                let next = tsx.next_deadline();
                if next != tsx.scheduled {
                    tsx.scheduled = next;
                    if let Some(at) = next {
                        self.seq += 1;
                        self.timers.push(TimerEntry {
                            at,
                            seq: self.seq,
                            side: Side::Server,
                            key: key.clone(),
                        });
                    }
                }
            }
        }
    }
}
