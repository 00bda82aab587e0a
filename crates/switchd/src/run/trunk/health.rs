//! OPTIONS health checks of a trunk's gateways: one probe per gateway every
//! `options_interval`. Any answer below 500 (even 404 or 405: something is listening and
//! parsing SIP) is a good one; a 5xx, a probe the transaction layer gave up on, or a probe
//! still unanswered when the next round starts is a miss. Two misses in a row take a
//! gateway down, one good answer brings it back. Gateways start up, so calls go out
//! before the first round is answered; without `options_interval` they are always up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_sip::transaction::TsxKey;
use switchyard_sip::{CSeq, Method, Request, Response};

use super::{Ids, Local, Outgoing, by_priority, uri_at};
use crate::config::{Gateway, Outbound};

/// Misses in a row that take a gateway down.
const MISSES_DOWN: u32 = 2;

/// A gateway's health, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayHealth {
    pub(crate) uri: String,
    pub(crate) address: SocketAddr,
    pub(crate) up: bool,
    /// Misses in a row so far.
    pub(crate) misses: u32,
}

/// A gateway changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthEvent {
    Down { address: SocketAddr },
    Up { address: SocketAddr },
}

#[derive(Debug)]
struct Probe {
    gateway: Gateway,
    up: bool,
    misses: u32,
    /// The OPTIONS of this round, until answered or given up.
    outstanding: Option<TsxKey>,
}

/// The health checks of one trunk's gateways.
///
/// Inputs: [`handle_timeout`](Self::handle_timeout),
/// [`handle_response`](Self::handle_response),
/// [`handle_tsx_failure`](Self::handle_tsx_failure). Outputs, drained after each input:
/// [`poll_request`](Self::poll_request), [`poll_event`](Self::poll_event), then
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub(crate) struct HealthCheck {
    interval: Option<Duration>,
    probes: Vec<Probe>,
    next_round: Option<Instant>,
    local: Local,
    ids: Ids,
    requests: VecDeque<Outgoing>,
    events: VecDeque<HealthEvent>,
}

impl HealthCheck {
    /// Checks for `outbound`'s gateways; the first round is due at `now`.
    pub(crate) fn new(now: Instant, outbound: &Outbound, local: Local, seed: u64) -> HealthCheck {
        let interval = outbound.options_interval.filter(|d| !d.is_zero());
        HealthCheck {
            interval,
            probes: by_priority(&outbound.gateways)
                .into_iter()
                .map(|gateway| Probe {
                    gateway,
                    up: true,
                    misses: 0,
                    outstanding: None,
                })
                .collect(),
            next_round: interval.map(|_| now),
            local,
            ids: Ids::new(seed),
            requests: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether the gateway at `address` is up (unknown addresses are).
    pub(crate) fn is_up(&self, address: SocketAddr) -> bool {
        self.probes
            .iter()
            .filter(|p| p.gateway.address == address)
            .all(|p| p.up)
    }

    /// Every gateway's state, in priority order.
    pub(crate) fn gateways(&self) -> Vec<GatewayHealth> {
        self.probes
            .iter()
            .map(|p| GatewayHealth {
                uri: p.gateway.uri.clone(),
                address: p.gateway.address,
                up: p.up,
                misses: p.misses,
            })
            .collect()
    }

    /// Starts a round of probes when one is due; a probe of the last round still
    /// unanswered counts as missed.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let (Some(interval), Some(due)) = (self.interval, self.next_round) else {
            return;
        };
        if due > now {
            return;
        }
        for i in 0..self.probes.len() {
            if self.probes[i].outstanding.take().is_some() {
                self.miss(i);
            }
            let request = self.options(&self.probes[i].gateway.clone());
            self.probes[i].outstanding =
                Some(TsxKey::for_request(&request).expect("probes carry a Via and a CSeq"));
            self.requests.push_back(Outgoing {
                destination: self.probes[i].gateway.address,
                request,
            });
        }
        self.next_round = Some(now + interval);
    }

    /// An answer to a probe. `false`: not one of ours.
    pub(crate) fn handle_response(&mut self, _now: Instant, response: &Response) -> bool {
        let Ok(key) = TsxKey::for_response(response) else {
            return false;
        };
        let Some(i) = self
            .probes
            .iter()
            .position(|p| p.outstanding.as_ref() == Some(&key))
        else {
            return false;
        };
        if response.status < 200 {
            return true;
        }
        self.probes[i].outstanding = None;
        if response.status >= 500 {
            self.miss(i);
        } else {
            let p = &mut self.probes[i];
            p.misses = 0;
            if !p.up {
                p.up = true;
                tracing::info!(gateway = %p.gateway.uri, "trunk gateway up");
                self.events.push_back(HealthEvent::Up {
                    address: p.gateway.address,
                });
            }
        }
        true
    }

    /// The transaction layer gave up on a probe (Timer F, transport error). `false`: not
    /// one of ours.
    pub(crate) fn handle_tsx_failure(&mut self, _now: Instant, key: &TsxKey) -> bool {
        let Some(i) = self
            .probes
            .iter()
            .position(|p| p.outstanding.as_ref() == Some(key))
        else {
            return false;
        };
        self.probes[i].outstanding = None;
        self.miss(i);
        true
    }

    /// When the next round is due (`None`: checks are off).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_round
    }

    /// Next OPTIONS to send.
    pub(crate) fn poll_request(&mut self) -> Option<Outgoing> {
        self.requests.pop_front()
    }

    /// Next gateway state change.
    pub(crate) fn poll_event(&mut self) -> Option<HealthEvent> {
        self.events.pop_front()
    }

    fn miss(&mut self, i: usize) {
        let p = &mut self.probes[i];
        p.misses += 1;
        if p.up && p.misses >= MISSES_DOWN {
            p.up = false;
            tracing::warn!(gateway = %p.gateway.uri, "trunk gateway down");
            self.events.push_back(HealthEvent::Down {
                address: p.gateway.address,
            });
        }
    }

    fn options(&mut self, gateway: &Gateway) -> Request {
        let uri = uri_at(gateway, None);
        let mut req = Request::new(Method::Options, uri.clone());
        let branch = self.ids.branch();
        req.headers
            .push_via(self.local.via(gateway.address, &branch));
        req.headers.push("Max-Forwards", "70");
        req.headers.push("To", format!("<{uri}>"));
        let from = self.local.sent_by(gateway.address);
        req.headers.push(
            "From",
            format!("<sip:switchyard@{from}>;tag={}", self.ids.token()),
        );
        req.headers
            .push("Call-ID", format!("{}@{}", self.ids.token(), from.ip()));
        req.headers.push(
            "CSeq",
            CSeq {
                seq: 1,
                method: Method::Options,
            }
            .to_string(),
        );
        req.headers.push("Accept", "application/sdp");
        req
    }
}
