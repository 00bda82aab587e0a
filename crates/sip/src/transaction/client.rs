//! Client transactions: INVITE (RFC 3261 §17.1.1 with RFC 6026's Accepted state) and
//! non-INVITE (§17.1.2).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::build;
use super::timers::{TimerConfig, TimerName};
use super::{Outputs, Retransmit, Step, Transmit, Transport, TsxEvent, TsxKey, earliest};
use crate::{Request, Response};

/// One 2xx (per To tag) an INVITE client transaction has passed up, and the ACK the TU
/// sent for it, re-sent when that 2xx is retransmitted.
#[derive(Debug)]
struct Answered {
    to_tag: Option<String>,
    ack: Option<(Bytes, SocketAddr, Transport)>,
}

#[derive(Debug)]
enum InviteState {
    /// Timer A retransmits the INVITE (unreliable transports), Timer B gives up.
    Calling {
        timer_a: Option<Retransmit>,
        timer_b: Instant,
    },
    Proceeding,
    /// A 300-699 arrived and was ACKed; Timer D absorbs its retransmissions.
    Completed {
        ack: Bytes,
        timer_d: Instant,
    },
    /// A 2xx arrived (RFC 6026): more 2xx go to the TU (once per To tag) until Timer M.
    Accepted {
        timer_m: Instant,
        answered: Vec<Answered>,
    },
}

#[derive(Debug)]
enum NonInviteState {
    /// Timer E retransmits (T1 doubling to T2), Timer F gives up. Proceeding is the same
    /// with Timer E at T2.
    Trying {
        timer_e: Option<Retransmit>,
        timer_f: Instant,
        proceeding: bool,
    },
    /// Timer K absorbs final response retransmissions.
    Completed { timer_k: Instant },
}

#[derive(Debug)]
enum Kind {
    /// The INVITE is kept to build the ACK for a non-2xx and a CANCEL.
    Invite {
        request: Box<Request>,
        state: InviteState,
        cancel_pending: bool,
        /// A `Reason` header value for the CANCEL (RFC 3326).
        cancel_reason: Option<String>,
    },
    NonInvite(NonInviteState),
}

/// What the layer must do after a response was handled.
#[derive(Debug, Default)]
pub(crate) struct AfterResponse {
    /// The TU asked to CANCEL before any provisional response; now it may go out.
    pub(crate) send_cancel: Option<Request>,
}

/// One client transaction.
#[derive(Debug)]
pub(crate) struct ClientTsx {
    pub(crate) key: TsxKey,
    remote: SocketAddr,
    transport: Transport,
    payload: Bytes,
    kind: Kind,
    /// Status and To tag of the last provisional response passed up, so a repeated one is
    /// not passed again.
    last_provisional: Option<(u16, Option<String>)>,
    pub(crate) scheduled: Option<Instant>,
}

fn to_tag(resp: &Response) -> Option<String> {
    resp.headers.to().and_then(|t| t.tag()).map(str::to_owned)
}

/// Whether a provisional response differs from the last one passed up (status or To
/// tag); remembers it if so. Compares without allocating: repeats are the common case.
fn is_new_provisional(last: &mut Option<(u16, Option<String>)>, resp: &Response) -> bool {
    let tag = resp.headers.to().and_then(|t| t.tag());
    if last
        .as_ref()
        .is_some_and(|(s, t)| *s == resp.status && t.as_deref() == tag)
    {
        return false;
    }
    *last = Some((resp.status, tag.map(str::to_owned)));
    true
}

impl ClientTsx {
    /// Creates the transaction and sends the request.
    pub(crate) fn start(
        now: Instant,
        timers: &TimerConfig,
        key: TsxKey,
        request: Request,
        remote: SocketAddr,
        transport: Transport,
        out: &mut Outputs,
    ) -> Self {
        let reliable = transport.is_reliable();
        let first = Retransmit::start(now, timers.first_retransmit(reliable));
        let timeout = now + timers.t1x64();
        let invite = request.method == crate::Method::Invite;
        let payload = build::request_bytes(&request);
        let kind = if invite {
            Kind::Invite {
                request: Box::new(request),
                state: InviteState::Calling {
                    timer_a: first,
                    timer_b: timeout,
                },
                cancel_pending: false,
                cancel_reason: None,
            }
        } else {
            Kind::NonInvite(NonInviteState::Trying {
                timer_e: first,
                timer_f: timeout,
                proceeding: false,
            })
        };
        let tsx = ClientTsx {
            key,
            remote,
            transport,
            payload,
            kind,
            last_provisional: None,
            scheduled: None,
        };
        tsx.transmit(tsx.payload.clone(), out);
        tsx
    }

    fn transmit(&self, payload: Bytes, out: &mut Outputs) {
        out.transmits.push_back(Transmit {
            destination: self.remote,
            transport: self.transport,
            payload,
            tsx: Some(self.key.clone()),
        });
    }

    pub(crate) fn remote(&self) -> (SocketAddr, Transport) {
        (self.remote, self.transport)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Invite { state, .. } => match state {
                InviteState::Calling { timer_a, timer_b } => {
                    earliest(timer_a.map(|a| a.at), Some(*timer_b))
                }
                InviteState::Proceeding => None,
                InviteState::Completed { timer_d, .. } => Some(*timer_d),
                InviteState::Accepted { timer_m, .. } => Some(*timer_m),
            },
            Kind::NonInvite(NonInviteState::Trying {
                timer_e, timer_f, ..
            }) => earliest(timer_e.map(|e| e.at), Some(*timer_f)),
            Kind::NonInvite(NonInviteState::Completed { timer_k }) => Some(*timer_k),
        }
    }

    /// The TU asks to cancel this INVITE. Returns the CANCEL to send now, or `None` when it
    /// must wait for a provisional response (RFC 3261 §9.1); `Err` when there is nothing
    /// left to cancel.
    pub(crate) fn cancel(
        &mut self,
        reason: Option<&str>,
    ) -> Result<Option<Request>, super::TsxError> {
        match &mut self.kind {
            Kind::Invite {
                request,
                state,
                cancel_pending,
                cancel_reason,
            } => match state {
                InviteState::Calling { .. } => {
                    *cancel_pending = true;
                    *cancel_reason = reason.map(str::to_owned);
                    Ok(None)
                }
                InviteState::Proceeding => {
                    let mut cancel = build::cancel_for(request);
                    if let Some(reason) = reason {
                        cancel.headers.push("Reason", reason);
                    }
                    Ok(Some(cancel))
                }
                _ => Err(super::TsxError::InvalidState),
            },
            Kind::NonInvite(_) => Err(super::TsxError::InvalidState),
        }
    }

    /// The TU sent the ACK for a 2xx of this INVITE: remember it for retransmitted 2xx.
    pub(crate) fn remember_ack(
        &mut self,
        to_tag: Option<&str>,
        ack: Bytes,
        remote: SocketAddr,
        transport: Transport,
    ) {
        if let Kind::Invite {
            state: InviteState::Accepted { answered, .. },
            ..
        } = &mut self.kind
            && let Some(a) = answered.iter_mut().find(|a| a.to_tag.as_deref() == to_tag)
        {
            a.ack = Some((ack, remote, transport));
        }
    }

    /// A response matched this transaction.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        timers: &TimerConfig,
        response: Response,
        out: &mut Outputs,
    ) -> (Step, AfterResponse) {
        let status = response.status;
        let reliable = self.transport.is_reliable();
        let mut after = AfterResponse::default();
        let mut pass_up = false;
        let mut resend: Option<(Bytes, SocketAddr, Transport)> = None;
        let mut step = Step::Live;
        match &mut self.kind {
            Kind::Invite {
                request,
                state,
                cancel_pending,
                cancel_reason,
            } => match state {
                InviteState::Calling { .. } | InviteState::Proceeding if status < 200 => {
                    if matches!(state, InviteState::Calling { .. }) && *cancel_pending {
                        *cancel_pending = false;
                        let mut cancel = build::cancel_for(request);
                        if let Some(reason) = cancel_reason.take() {
                            cancel.headers.push("Reason", reason);
                        }
                        after.send_cancel = Some(cancel);
                    }
                    *state = InviteState::Proceeding;
                    pass_up = is_new_provisional(&mut self.last_provisional, &response);
                }
                InviteState::Calling { .. } | InviteState::Proceeding if status < 300 => {
                    *state = InviteState::Accepted {
                        timer_m: now + timers.t1x64(),
                        answered: vec![Answered {
                            to_tag: to_tag(&response),
                            ack: None,
                        }],
                    };
                    pass_up = true;
                }
                InviteState::Calling { .. } | InviteState::Proceeding => {
                    let ack = build::request_bytes(&build::ack_for(request, &response));
                    resend = Some((ack.clone(), self.remote, self.transport));
                    let wait = timers.timer_d(reliable);
                    if wait.is_zero() {
                        step = Step::Terminated;
                    } else {
                        *state = InviteState::Completed {
                            ack,
                            timer_d: now + wait,
                        };
                    }
                    pass_up = true;
                }
                InviteState::Completed { ack, .. } => {
                    if status >= 300 {
                        resend = Some((ack.clone(), self.remote, self.transport));
                    }
                }
                InviteState::Accepted { answered, .. } => {
                    if (200..300).contains(&status) {
                        let tag = to_tag(&response);
                        match answered.iter().find(|a| a.to_tag == tag) {
                            Some(a) => resend = a.ack.clone(),
                            None => {
                                answered.push(Answered {
                                    to_tag: tag,
                                    ack: None,
                                });
                                pass_up = true;
                            }
                        }
                    }
                }
            },
            Kind::NonInvite(state) => match state {
                NonInviteState::Trying { proceeding, .. } if status < 200 => {
                    *proceeding = true;
                    pass_up = is_new_provisional(&mut self.last_provisional, &response);
                }
                NonInviteState::Trying { .. } => {
                    pass_up = true;
                    let wait = timers.t4_or_zero(reliable);
                    if wait.is_zero() {
                        step = Step::Terminated;
                    } else {
                        *state = NonInviteState::Completed {
                            timer_k: now + wait,
                        };
                    }
                }
                NonInviteState::Completed { .. } => {}
            },
        }
        if let Some((payload, destination, transport)) = resend {
            out.transmits.push_back(Transmit {
                destination,
                transport,
                payload,
                tsx: Some(self.key.clone()),
            });
        }
        if pass_up {
            out.events.push_back(TsxEvent::Response {
                key: self.key.clone(),
                response,
            });
        }
        (step, after)
    }

    /// Fires whatever timers are due at `now`.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        timers: &TimerConfig,
        out: &mut Outputs,
    ) -> Step {
        let mut resend = false;
        let mut timeout = None;
        let step = match &mut self.kind {
            Kind::Invite { state, .. } => match state {
                InviteState::Calling { timer_a, timer_b } => {
                    if *timer_b <= now {
                        timeout = Some(TimerName::B);
                        Step::Terminated
                    } else {
                        if let Some(a) = timer_a
                            && a.at <= now
                        {
                            // Timer A doubles without the T2 cap.
                            *a = a.next(None);
                            resend = true;
                        }
                        Step::Live
                    }
                }
                InviteState::Completed { timer_d, .. } if *timer_d <= now => Step::Terminated,
                InviteState::Accepted { timer_m, .. } if *timer_m <= now => Step::Terminated,
                _ => Step::Live,
            },
            Kind::NonInvite(state) => match state {
                NonInviteState::Trying {
                    timer_e,
                    timer_f,
                    proceeding,
                } => {
                    if *timer_f <= now {
                        timeout = Some(TimerName::F);
                        Step::Terminated
                    } else {
                        if let Some(e) = timer_e
                            && e.at <= now
                        {
                            *e = if *proceeding {
                                Retransmit {
                                    at: e.at + timers.t2,
                                    interval: timers.t2,
                                }
                            } else {
                                e.next(Some(timers.t2))
                            };
                            resend = true;
                        }
                        Step::Live
                    }
                }
                NonInviteState::Completed { timer_k } if *timer_k <= now => Step::Terminated,
                NonInviteState::Completed { .. } => Step::Live,
            },
        };
        if resend {
            self.transmit(self.payload.clone(), out);
        }
        if let Some(timer) = timeout {
            out.events.push_back(TsxEvent::Timeout {
                key: self.key.clone(),
                timer,
            });
        }
        step
    }

    pub(crate) fn on_transport_error(&mut self, out: &mut Outputs) -> Step {
        out.events.push_back(TsxEvent::TransportError {
            key: self.key.clone(),
        });
        Step::Terminated
    }
}
