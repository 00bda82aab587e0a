//! One outbound call through a trunk: INVITE attempts over the gateways in priority order,
//! failing over on 5xx, 408, a dead transaction, or no provisional response within
//! `failover_after` — seconds, not Timer B's 32 s of dead air.
//!
//! Rules, per response to the current attempt:
//! - 1xx: the gateway is working on it; the failover timer stops (18x are reported as
//!   [`CallEvent::Provisional`]; 100 only stops the timer);
//! - 2xx: [`CallEvent::Connected`];
//! - 401/407: sent again once on the same gateway with credentials; challenged again, or
//!   no credentials configured: [`CallEvent::Failed`];
//! - 408, 5xx, the transaction's failure, or the failover timer: the attempt is cancelled
//!   and the next gateway tried; none left: [`CallEvent::Failed`] with the last status;
//! - 3xx, other 4xx, 6xx: [`CallEvent::Failed`] with that status (the callee said no, or a
//!   redirect, which is not followed).
//!
//! Call control's side, with the transaction layer (`keys` maps INVITE transactions back
//! to their call):
//!
//! ```text
//! let mut call = trunk.call(now, invite_template);
//! loop {
//!     while let Some(event) = call.poll_event() {
//!         match event {
//!             Send(a) => { let k = layer.send_request(now, a.request, a.gateway, Udp)?; keys.insert(k, call_id); }
//!             Cancel { key, .. } => { layer.cancel(now, &key)?; }
//!             Provisional { response, .. } => relay ringing / early media to the caller,
//!             Connected { attempt, response } => {
//!                 let (invite, gateway) = call.invite(attempt).unwrap();
//!                 Dialog::uac(now, invite, &response, ..) then ACK it (send_ack) and bridge
//!             }
//!             Failed { status } => answer the caller side with a final response,
//!             Surplus2xx { attempt, key, response } => ACK it and send BYE,
//!         }
//!     }
//!     wait for call.poll_timeout() or a TsxEvent for one of its keys:
//!     Response { response, .. } => call.handle_response(now, &response),
//!     Timeout { key, .. } | TransportError { key } => call.handle_tsx_failure(now, &key),
//!     deadline => call.handle_timeout(now),
//!     caller hung up => call.cancel(now),
//! }
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_sip::client_auth::ClientAuth;
use switchyard_sip::transaction::{Branch, TsxKey};
use switchyard_sip::{CSeq, Request, Response};

use super::{Ids, Local, by_priority, uri_at};
use crate::config::{Gateway, Outbound};

/// Status reported when an attempt got no answer (failover timer, Timer B).
const NO_ANSWER: u16 = 408;
/// Status reported when no gateway is up.
const NO_GATEWAY: u16 = 503;

/// Names one INVITE transaction of an outbound call (a new one per gateway and per
/// authenticated retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AttemptId(pub(crate) u32);

/// An INVITE to send to a gateway.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attempt {
    pub(crate) id: AttemptId,
    /// Where to send it.
    pub(crate) gateway: SocketAddr,
    /// The whole INVITE, top Via with a fresh branch included.
    pub(crate) request: Request,
}

#[cfg(test)]
impl Attempt {
    /// The client transaction key the INVITE will have.
    pub(crate) fn key(&self) -> TsxKey {
        TsxKey::for_request(&self.request).expect("attempts carry a Via and a CSeq")
    }
}

/// What an [`OutboundCall`] asks of call control.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallEvent {
    /// Send this INVITE (`TransactionLayer::send_request`).
    Send(Attempt),
    /// Cancel this INVITE transaction (`TransactionLayer::cancel`, which holds the CANCEL
    /// back until a provisional response arrives, RFC 3261 §9.1: a gateway that wakes up
    /// late does not ring a second phone).
    Cancel { attempt: AttemptId, key: TsxKey },
    /// The current attempt rings or plays early media (a 18x).
    Provisional {
        attempt: AttemptId,
        response: Response,
    },
    /// Answered: ACK the 2xx and bridge. Any other live attempt has been cancelled.
    Connected {
        attempt: AttemptId,
        response: Response,
    },
    /// The call cannot be placed; `status` is the final answer to give the caller side.
    Failed { status: u16 },
    /// A 2xx for an attempt after the call was connected or cancelled: ACK it, then BYE.
    Surplus2xx {
        attempt: AttemptId,
        key: TsxKey,
        response: Response,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Trying,
    Connected,
    Failed,
    Cancelled,
}

#[derive(Debug)]
struct Try {
    id: AttemptId,
    gateway: SocketAddr,
    /// The INVITE as sent (answered again on a challenge).
    request: Request,
    key: TsxKey,
    /// Already sent again with credentials.
    authorized: bool,
    /// When to give up on it without a provisional response.
    deadline: Option<Instant>,
}

/// One outbound call: a sans-IO state machine fed responses and time.
///
/// Inputs: [`handle_response`](Self::handle_response),
/// [`handle_tsx_failure`](Self::handle_tsx_failure),
/// [`handle_timeout`](Self::handle_timeout), [`cancel`](Self::cancel). Outputs: drain
/// [`poll_event`](Self::poll_event) after each input (and after [`new`](Self::new)), then
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub(crate) struct OutboundCall {
    template: Request,
    /// The gateways still to try, in order.
    gateways: VecDeque<Gateway>,
    failover_after: Duration,
    auth: Option<ClientAuth>,
    local: Local,
    ids: Ids,
    /// The last CSeq number used.
    cseq: u32,
    tries: Vec<Try>,
    /// Index in `tries` of the attempt in progress.
    current: Option<usize>,
    phase: Phase,
    last_status: u16,
    events: VecDeque<CallEvent>,
}

impl OutboundCall {
    /// Starts a call through `outbound`'s gateways for which `is_up` holds, in priority
    /// order; the first INVITE is waiting in [`poll_event`](Self::poll_event).
    ///
    /// `template` is the INVITE without Via: From (with tag), To, Call-ID, CSeq, Contact,
    /// Max-Forwards, SDP body and whatever else call control puts in. Each attempt copies
    /// it, sets the Request-URI to the template's user at the gateway's URI, adds a top
    /// Via with a new branch, and takes the next CSeq number (Call-ID and From tag stay,
    /// so the answered leg is the one call control built). With `caller_id` configured,
    /// From's user becomes it.
    pub(crate) fn new(
        now: Instant,
        outbound: &Outbound,
        is_up: impl Fn(SocketAddr) -> bool,
        mut template: Request,
        local: Local,
        seed: u64,
    ) -> OutboundCall {
        let mut ids = Ids::new(seed);
        let auth = match (&outbound.username, &outbound.password) {
            (Some(u), Some(p)) => Some(ClientAuth::new(u, p, ids.number())),
            _ => None,
        };
        if let Some(caller_id) = &outbound.caller_id {
            set_from_user(&mut template, caller_id);
        }
        let gateways = by_priority(&outbound.gateways)
            .into_iter()
            .filter(|g| is_up(g.address))
            .collect();
        let cseq = template
            .headers
            .cseq()
            .map_or(0, |c| c.seq.saturating_sub(1));
        let mut call = OutboundCall {
            template,
            gateways,
            failover_after: outbound.failover_after,
            auth,
            local,
            ids,
            cseq,
            tries: Vec::new(),
            current: None,
            phase: Phase::Trying,
            last_status: NO_GATEWAY,
            events: VecDeque::new(),
        };
        call.next_gateway(now);
        call
    }

    /// Whether the call is still looking for an answer.
    #[cfg(test)]
    pub(crate) fn is_trying(&self) -> bool {
        self.phase == Phase::Trying
    }

    /// The attempt in progress (or the one that connected).
    #[cfg(test)]
    pub(crate) fn current(&self) -> Option<(AttemptId, SocketAddr)> {
        self.current
            .map(|i| (self.tries[i].id, self.tries[i].gateway))
    }

    /// The INVITE of `attempt` as sent (and its gateway), for the UAC dialog
    /// (`Dialog::uac`) and the ACK of its 2xx.
    pub(crate) fn invite(&self, attempt: AttemptId) -> Option<(&Request, SocketAddr)> {
        self.tries
            .iter()
            .find(|t| t.id == attempt)
            .map(|t| (&t.request, t.gateway))
    }

    /// A response to one of this call's INVITEs. `false`: not one of ours (a CANCEL's
    /// 200 is not; drop it).
    pub(crate) fn handle_response(&mut self, now: Instant, response: &Response) -> bool {
        let Ok(key) = TsxKey::for_response(response) else {
            return false;
        };
        let Some(index) = self.tries.iter().position(|t| t.key == key) else {
            return false;
        };
        let status = response.status;
        let is_current = self.current == Some(index) && self.phase == Phase::Trying;
        let id = self.tries[index].id;
        match status {
            100..=199 => {
                self.tries[index].deadline = None;
                if is_current && status > 100 {
                    self.events.push_back(CallEvent::Provisional {
                        attempt: id,
                        response: response.clone(),
                    });
                }
            }
            200..=299 if self.phase == Phase::Trying => {
                // An earlier, abandoned attempt answering first still places the call.
                if let Some(current) = self.current
                    && current != index
                {
                    let t = &self.tries[current];
                    self.events.push_back(CallEvent::Cancel {
                        attempt: t.id,
                        key: t.key.clone(),
                    });
                }
                self.current = Some(index);
                self.tries[index].deadline = None;
                self.phase = Phase::Connected;
                self.events.push_back(CallEvent::Connected {
                    attempt: id,
                    response: response.clone(),
                });
            }
            200..=299 => self.events.push_back(CallEvent::Surplus2xx {
                attempt: id,
                key,
                response: response.clone(),
            }),
            _ if !is_current => {}
            401 | 407 => self.challenged(now, index, response),
            408 | 500..=599 => self.fail_over(now, status),
            _ => self.fail(status),
        }
        true
    }

    /// The transaction layer gave up on one of this call's INVITEs (Timer B, transport
    /// error). `false`: not one of ours.
    pub(crate) fn handle_tsx_failure(&mut self, now: Instant, key: &TsxKey) -> bool {
        let Some(index) = self.tries.iter().position(|t| &t.key == key) else {
            return false;
        };
        if self.current == Some(index) && self.phase == Phase::Trying {
            self.fail_over(now, NO_ANSWER);
        }
        true
    }

    /// Fails over when the current attempt got no provisional response in time.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.phase != Phase::Trying {
            return;
        }
        let Some(index) = self.current else { return };
        if self.tries[index].deadline.is_some_and(|d| d <= now) {
            self.tries[index].deadline = None;
            self.cancel_try(index);
            self.fail_over(now, NO_ANSWER);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.phase != Phase::Trying {
            return None;
        }
        self.tries[self.current?].deadline
    }

    /// The caller gave up: the attempt in progress is cancelled. A 2xx that crosses the
    /// CANCEL comes out as [`CallEvent::Surplus2xx`].
    pub(crate) fn cancel(&mut self, _now: Instant) {
        if self.phase != Phase::Trying {
            return;
        }
        if let Some(index) = self.current {
            self.cancel_try(index);
        }
        self.phase = Phase::Cancelled;
    }

    /// Next thing for call control to do.
    pub(crate) fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    fn cancel_try(&mut self, index: usize) {
        let t = &self.tries[index];
        self.events.push_back(CallEvent::Cancel {
            attempt: t.id,
            key: t.key.clone(),
        });
    }

    fn fail(&mut self, status: u16) {
        self.phase = Phase::Failed;
        self.events.push_back(CallEvent::Failed { status });
    }

    /// The current gateway failed with `status` (already cancelled if need be): the next.
    fn fail_over(&mut self, now: Instant, status: u16) {
        self.last_status = status;
        if let Some(index) = self.current {
            tracing::info!(
                gateway = %self.tries[index].gateway,
                status,
                "outbound attempt failed, trying the next gateway"
            );
        }
        self.next_gateway(now);
    }

    fn next_gateway(&mut self, now: Instant) {
        let Some(gateway) = self.gateways.pop_front() else {
            self.fail(self.last_status);
            return;
        };
        let mut request = self.template.clone();
        request.uri = uri_at(&gateway, self.template.uri.user());
        request.headers.remove("Via");
        let branch = self.ids.branch();
        request
            .headers
            .push_via(self.local.via(gateway.address, &branch));
        self.cseq += 1;
        request.headers.set(
            "CSeq",
            CSeq {
                seq: self.cseq,
                method: request.method.clone(),
            }
            .to_string(),
        );
        if request.headers.max_forwards().is_none() {
            request.headers.set_max_forwards(70);
        }
        self.start(now, gateway.address, request, false);
    }

    fn start(&mut self, now: Instant, gateway: SocketAddr, request: Request, authorized: bool) {
        let id = AttemptId(u32::try_from(self.tries.len()).unwrap_or(u32::MAX));
        let key = TsxKey::for_request(&request).expect("attempts carry a Via and a CSeq");
        self.tries.push(Try {
            id,
            gateway,
            request: request.clone(),
            key,
            authorized,
            deadline: Some(now + self.failover_after),
        });
        self.current = Some(self.tries.len() - 1);
        self.events.push_back(CallEvent::Send(Attempt {
            id,
            gateway,
            request,
        }));
    }

    fn challenged(&mut self, now: Instant, index: usize, response: &Response) {
        let t = &self.tries[index];
        let (gateway, authorized) = (t.gateway, t.authorized);
        let Some(auth) = self.auth.as_mut().filter(|_| !authorized) else {
            tracing::info!(%gateway, status = response.status, "outbound call not authorised");
            return self.fail(response.status);
        };
        let branch = Branch::new(&self.ids.branch());
        match auth.authorize(&t.request, response, &branch) {
            Ok(request) => {
                if let Some(c) = request.headers.cseq() {
                    self.cseq = self.cseq.max(c.seq);
                }
                self.start(now, gateway, request, true);
            }
            Err(err) => {
                tracing::info!(%gateway, "cannot answer the trunk's challenge: {err}");
                self.fail(response.status);
            }
        }
    }
}

/// Puts `user` in From's URI, keeping its display name, host and parameters (the tag).
fn set_from_user(request: &mut Request, user: &str) {
    let Some(from) = request.headers.get("From").map(str::to_owned) else {
        return;
    };
    let Ok(name_addr) = switchyard_sip::NameAddr::parse(&from) else {
        return;
    };
    let uri = name_addr.uri().as_str();
    let (scheme, rest) = uri.split_once(':').unwrap_or(("sip", uri));
    let host_part = rest.split_once('@').map_or(rest, |(_, h)| h);
    let new_uri = format!("{scheme}:{user}@{host_part}");
    let replaced = from.replacen(uri, &new_uri, 1);
    if switchyard_sip::NameAddr::parse(&replaced).is_ok() {
        request.headers.set("From", replaced);
    }
}
