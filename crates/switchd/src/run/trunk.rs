//! Outbound trunks, sans-IO: placing a call through a carrier's gateways with failover
//! ([`OutboundCall`]), registering with the carrier ([`Registration`]) and watching each
//! gateway with OPTIONS ([`HealthCheck`]). [`Trunk`] bundles the last two for one
//! configured trunk and hands out [`OutboundCall`]s that skip the gateways found down.
//!
//! None of them reads a clock or touches a socket. Call control feeds them the time, the
//! responses the transaction layer reports (`TsxEvent::Response`) and the transactions it
//! gave up on (`TsxEvent::Timeout`, `TsxEvent::TransportError`); they answer with requests
//! to send, as values. After every input, drain the outputs, then ask `poll_timeout` when
//! to call `handle_timeout` next:
//!
//! ```text
//! trunk.handle_timeout(now);                       // or handle_response / handle_tsx_failure
//! while let Some(out) = trunk.poll_request() {     // REGISTER and OPTIONS
//!     let key = layer.send_request(now, out.request, out.destination, transport)?;
//!     keys.insert(key, Owner::Trunk(name));        // route the answers back here
//! }
//! while let Some(event) = trunk.poll_event() { log or publish it }
//! let wake = trunk.poll_timeout();
//! ```
//!
//! Every request they build carries a top Via with a fresh RFC 3261 branch, so its
//! transaction key (`TsxKey::for_request`) is known before it is sent; responses are
//! matched by `TsxKey::for_response`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use switchyard_sip::transaction::{MAGIC_COOKIE, Transport, TsxKey};
use switchyard_sip::{Request, Response, Uri, Via};

use crate::config::{Gateway, Outbound};

mod call;
mod health;
#[cfg(test)]
mod interop_tests;
mod register;
#[cfg(test)]
mod tests;

#[allow(unused_imports)] // Call control names them once it places calls.
pub(crate) use call::{Attempt, AttemptId, CallEvent, OutboundCall};
pub(crate) use health::{GatewayHealth, HealthCheck, HealthEvent};
pub(crate) use register::{Registration, RegistrationEvent, RegistrationState};

/// Where our requests leave from: the daemon's SIP listen addresses and the transport the
/// trunk uses. The Via's sent-by (and the REGISTER's Contact) is the listen address of the
/// destination's address family.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) transport: Transport,
}

impl Local {
    /// The listen address to speak to `destination` from.
    pub(crate) fn sent_by(&self, destination: SocketAddr) -> SocketAddr {
        self.listen
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == destination.is_ipv4())
            .or_else(|| self.listen.first().copied())
            .unwrap_or(destination)
    }

    /// A top Via for a request to `destination`: our sent-by, `branch`, and `rport`.
    fn via(&self, destination: SocketAddr, branch: &str) -> Via {
        let text = format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport.as_str(),
            self.sent_by(destination)
        );
        Via::parse(&text).expect("a socket address and a hex branch make a valid Via")
    }
}

/// A request the trunk wants sent: hand it to the transaction layer with `send_request`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub(crate) destination: SocketAddr,
    pub(crate) request: Request,
}

/// Branches, tags and Call-IDs from a seeded generator (tests are reproducible).
#[derive(Debug, Clone)]
struct Ids(ChaCha8Rng);

impl Ids {
    fn new(seed: u64) -> Ids {
        Ids(ChaCha8Rng::seed_from_u64(seed))
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.0.random::<u64>())
    }

    fn number(&mut self) -> u64 {
        self.0.random()
    }

    fn branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{}", self.token())
    }
}

/// The gateways in the order they are tried: priority, lowest first (ties keep the
/// configuration's order).
fn by_priority(gateways: &[Gateway]) -> Vec<Gateway> {
    let mut sorted = gateways.to_vec();
    sorted.sort_by_key(|g| g.priority);
    sorted
}

/// `user` at the gateway: the gateway's URI as written (`sip:host:port;params`) with the
/// user part put in; the gateway's own URI when there is no user or it already has one.
fn uri_at(gateway: &Gateway, user: Option<&str>) -> Uri {
    let own = || {
        Uri::parse(&gateway.uri).unwrap_or_else(|_| {
            Uri::parse(&format!("sip:{}", gateway.address))
                .expect("a socket address makes a valid URI")
        })
    };
    let Some(user) = user else { return own() };
    let parsed = own();
    if parsed.user().is_some() {
        return parsed;
    }
    let text = parsed.as_str();
    let (scheme, rest) = text.split_once(':').unwrap_or(("sip", text));
    Uri::parse(&format!("{scheme}:{user}@{rest}")).unwrap_or(parsed)
}

/// What a trunk reports for logs and the API.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TrunkEvent {
    Health(HealthEvent),
    Registration(RegistrationEvent),
}

/// A snapshot of a trunk for the API: each gateway's health and the registration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrunkStatus {
    pub(crate) name: String,
    pub(crate) gateways: Vec<GatewayHealth>,
    /// `None` when the trunk does not register.
    pub(crate) registration: Option<RegistrationState>,
}

/// One configured outbound trunk: its health checks, its registration (when `register`)
/// and the calls' factory.
///
/// Poll order after each input: [`poll_request`](Self::poll_request) until `None`, then
/// [`poll_event`](Self::poll_event) until `None`, then [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub(crate) struct Trunk {
    name: String,
    outbound: Outbound,
    local: Local,
    health: HealthCheck,
    registration: Option<Registration>,
    ids: ChaCha8Rng,
    events: VecDeque<TrunkEvent>,
}

impl Trunk {
    /// The trunk `name` with its outbound settings; health checks and registration start
    /// at `now` (their first requests come out of the first `handle_timeout(now)`).
    pub(crate) fn new(
        now: Instant,
        name: &str,
        outbound: Outbound,
        local: Local,
        seed: u64,
    ) -> Trunk {
        let mut ids = ChaCha8Rng::seed_from_u64(seed);
        let health = HealthCheck::new(now, &outbound, local.clone(), ids.random());
        let registration = Registration::new(now, &outbound, local.clone(), ids.random());
        Trunk {
            name: name.to_owned(),
            outbound,
            local,
            health,
            registration,
            ids,
            events: VecDeque::new(),
        }
    }

    /// Starts an outbound call through this trunk's gateways that are up (see
    /// [`OutboundCall::new`] for the template).
    pub(crate) fn call(&mut self, now: Instant, template: Request) -> OutboundCall {
        let health = &self.health;
        OutboundCall::new(
            now,
            &self.outbound,
            |a| health.is_up(a),
            template,
            self.local.clone(),
            self.ids.random(),
        )
    }

    /// A response to one of the trunk's REGISTER or OPTIONS transactions. `false`: not
    /// one of ours.
    pub(crate) fn handle_response(&mut self, now: Instant, response: &Response) -> bool {
        if self.health.handle_response(now, response) {
            self.drain(now);
            return true;
        }
        let ours = self
            .registration
            .as_mut()
            .is_some_and(|r| r.handle_response(now, response));
        if ours {
            self.drain(now);
        }
        ours
    }

    /// The transaction layer gave up on `key` (Timer F, transport error). `false`: not
    /// one of ours.
    pub(crate) fn handle_tsx_failure(&mut self, now: Instant, key: &TsxKey) -> bool {
        if self.health.handle_tsx_failure(now, key) {
            self.drain(now);
            return true;
        }
        let ours = self
            .registration
            .as_mut()
            .is_some_and(|r| r.handle_tsx_failure(now, key));
        if ours {
            self.drain(now);
        }
        ours
    }

    /// Sends what is due at `now`: OPTIONS rounds, REGISTER refreshes and retries.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.health.handle_timeout(now);
        self.drain(now);
        if let Some(r) = &mut self.registration {
            let health = &self.health;
            r.handle_timeout(now, |a| health.is_up(a));
        }
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        while let Some(e) = self.health.poll_event() {
            if let (HealthEvent::Down { address }, Some(r)) = (&e, &mut self.registration) {
                r.handle_gateway_down(now, *address);
            }
            self.events.push_back(TrunkEvent::Health(e));
        }
        if let Some(r) = &mut self.registration {
            while let Some(e) = r.poll_event() {
                self.events.push_back(TrunkEvent::Registration(e));
            }
        }
    }

    /// Next request to send (OPTIONS first, then REGISTER).
    pub(crate) fn poll_request(&mut self) -> Option<Outgoing> {
        self.health
            .poll_request()
            .or_else(|| self.registration.as_mut()?.poll_request())
    }

    /// Next change worth a log line or an API event.
    pub(crate) fn poll_event(&mut self) -> Option<TrunkEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let r = self
            .registration
            .as_ref()
            .and_then(Registration::poll_timeout);
        match (self.health.poll_timeout(), r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Gateways' health and the registration, for the API.
    pub(crate) fn status(&self) -> TrunkStatus {
        TrunkStatus {
            name: self.name.clone(),
            gateways: self.health.gateways(),
            registration: self.registration.as_ref().map(|r| r.state().clone()),
        }
    }
}
