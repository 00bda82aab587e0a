//! Server transactions: INVITE (RFC 3261 §17.2.1 with RFC 6026's Accepted state) and
//! non-INVITE (§17.2.2).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::timers::{TimerConfig, TimerName};
use super::{Outputs, Retransmit, Step, Transmit, Transport, TsxError, TsxEvent, TsxKey, earliest};
use crate::Request;

/// Identifies the INVITE a 2xx ACK acknowledges: the ACK has a new branch, so it is
/// matched on Call-ID, CSeq number and From tag (the dialog and the transaction within it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AckId {
    call_id: String,
    cseq: u32,
    from_tag: Option<String>,
}

impl AckId {
    pub(crate) fn of(headers: &crate::Headers) -> Option<AckId> {
        Some(AckId {
            call_id: headers.call_id()?.to_owned(),
            cseq: headers.cseq()?.seq,
            from_tag: headers.from().and_then(|f| f.tag()).map(str::to_owned),
        })
    }
}

/// States of an INVITE server transaction. Terminated is not a state: the transaction is
/// dropped.
#[derive(Debug)]
enum InviteState {
    Proceeding,
    /// A 300-699 went out: Timer G retransmits it, Timer H waits for the ACK.
    Completed {
        timer_g: Option<Retransmit>,
        timer_h: Instant,
    },
    /// The ACK for the non-2xx arrived: Timer I absorbs ACK retransmissions.
    Confirmed {
        timer_i: Instant,
    },
    /// A 2xx went out (RFC 6026): INVITE retransmissions are absorbed, the ACK goes to the
    /// TU; the 2xx is retransmitted until the ACK arrives; Timer L ends it.
    Accepted {
        timer_l: Instant,
        retransmit_2xx: Option<Retransmit>,
        acked: bool,
    },
}

#[derive(Debug)]
enum NonInviteState {
    Trying,
    Proceeding,
    /// Timer J absorbs request retransmissions.
    Completed {
        timer_j: Instant,
    },
}

#[derive(Debug)]
enum Kind {
    Invite(InviteState),
    NonInvite(NonInviteState),
}

/// One server transaction.
#[derive(Debug)]
pub(crate) struct ServerTsx {
    pub(crate) key: TsxKey,
    remote: SocketAddr,
    transport: Transport,
    kind: Kind,
    last_response: Option<Bytes>,
    /// The To tag of the final response, for RFC 2543 ACK matching.
    pub(crate) final_to_tag: Option<String>,
    /// Set once a 2xx went out: how the layer finds this transaction for the 2xx's ACK.
    pub(crate) ack_id: Option<AckId>,
    /// The deadline the layer has queued for this transaction.
    pub(crate) scheduled: Option<Instant>,
}

/// What became of a response the TU sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Provisional,
    /// A non-2xx final response (or a 2xx to a non-INVITE).
    Final,
    /// A 2xx to an INVITE: the transaction entered (or stays in) Accepted.
    Accepted2xx,
}

impl ServerTsx {
    pub(crate) fn new(key: TsxKey, invite: bool, remote: SocketAddr, transport: Transport) -> Self {
        ServerTsx {
            key,
            remote,
            transport,
            kind: if invite {
                Kind::Invite(InviteState::Proceeding)
            } else {
                Kind::NonInvite(NonInviteState::Trying)
            },
            last_response: None,
            final_to_tag: None,
            ack_id: None,
            scheduled: None,
        }
    }

    fn transmit(&self, payload: Bytes, out: &mut Outputs) {
        out.transmits.push_back(Transmit {
            destination: self.remote,
            transport: self.transport,
            payload,
            tsx: Some(self.key.clone()),
        });
    }

    pub(crate) fn source(&self) -> (SocketAddr, Transport) {
        (self.remote, self.transport)
    }

    fn reliable(&self) -> bool {
        self.transport.is_reliable()
    }

    /// True while no final response has been sent (a CANCEL still has an effect).
    pub(crate) fn is_pending(&self) -> bool {
        matches!(
            self.kind,
            Kind::Invite(InviteState::Proceeding)
                | Kind::NonInvite(NonInviteState::Trying | NonInviteState::Proceeding)
        )
    }

    /// The earliest timer of the current state.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Invite(InviteState::Proceeding) => None,
            Kind::Invite(InviteState::Completed { timer_g, timer_h }) => {
                earliest(timer_g.map(|g| g.at), Some(*timer_h))
            }
            Kind::Invite(InviteState::Confirmed { timer_i }) => Some(*timer_i),
            Kind::Invite(InviteState::Accepted {
                timer_l,
                retransmit_2xx,
                ..
            }) => earliest(retransmit_2xx.map(|r| r.at), Some(*timer_l)),
            Kind::NonInvite(NonInviteState::Trying | NonInviteState::Proceeding) => None,
            Kind::NonInvite(NonInviteState::Completed { timer_j }) => Some(*timer_j),
        }
    }

    /// A retransmission of the request arrived: answer it with the last response, or
    /// absorb it.
    pub(crate) fn on_request_retransmission(&mut self, out: &mut Outputs) {
        let resend = match &self.kind {
            // RFC 6026 §8.5: INVITE retransmissions in Accepted are absorbed; the 2xx is
            // retransmitted on its own schedule.
            Kind::Invite(InviteState::Accepted { .. } | InviteState::Confirmed { .. }) => false,
            Kind::Invite(_) => true,
            Kind::NonInvite(NonInviteState::Trying) => false,
            Kind::NonInvite(_) => true,
        };
        if resend && let Some(resp) = self.last_response.clone() {
            self.transmit(resp, out);
        }
    }

    /// An ACK matched this (INVITE) transaction.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        timers: &TimerConfig,
        request: Request,
        remote: SocketAddr,
        transport: Transport,
        out: &mut Outputs,
    ) -> Step {
        let Kind::Invite(state) = &mut self.kind else {
            return Step::Live;
        };
        match state {
            InviteState::Completed { .. } => {
                let wait = timers.t4_or_zero(self.transport.is_reliable());
                if wait.is_zero() {
                    return Step::Terminated;
                }
                *state = InviteState::Confirmed {
                    timer_i: now + wait,
                };
            }
            InviteState::Accepted {
                acked,
                retransmit_2xx,
                ..
            } => {
                if !*acked {
                    *acked = true;
                    *retransmit_2xx = None;
                    out.events.push_back(TsxEvent::Ack {
                        invite: Some(self.key.clone()),
                        request,
                        remote,
                        transport,
                    });
                }
            }
            InviteState::Proceeding | InviteState::Confirmed { .. } => {}
        }
        Step::Live
    }

    /// The TU sends a response (already serialized) with this status.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        timers: &TimerConfig,
        status: u16,
        payload: Bytes,
        out: &mut Outputs,
    ) -> Result<(Sent, Step), TsxError> {
        if !(100..=699).contains(&status) {
            return Err(TsxError::InvalidStatus(status));
        }
        let reliable = self.reliable();
        let provisional = status < 200;
        let (sent, step) = match &mut self.kind {
            Kind::Invite(state) => match state {
                InviteState::Proceeding if provisional => (Sent::Provisional, Step::Live),
                InviteState::Proceeding if status < 300 => {
                    *state = InviteState::Accepted {
                        timer_l: now + timers.t1x64(),
                        retransmit_2xx: Retransmit::start(now, timers.first_retransmit(reliable)),
                        acked: false,
                    };
                    (Sent::Accepted2xx, Step::Live)
                }
                InviteState::Proceeding => {
                    *state = InviteState::Completed {
                        timer_g: Retransmit::start(now, timers.first_retransmit(reliable)),
                        timer_h: now + timers.t1x64(),
                    };
                    (Sent::Final, Step::Live)
                }
                // RFC 6026 §8.6: further 2xx from the TU pass through to the transport.
                InviteState::Accepted { .. } if (200..300).contains(&status) => {
                    (Sent::Accepted2xx, Step::Live)
                }
                _ => return Err(TsxError::InvalidState),
            },
            Kind::NonInvite(state) => match state {
                NonInviteState::Trying | NonInviteState::Proceeding if provisional => {
                    *state = NonInviteState::Proceeding;
                    (Sent::Provisional, Step::Live)
                }
                NonInviteState::Trying | NonInviteState::Proceeding => {
                    let wait = timers.timer_j(reliable);
                    if wait.is_zero() {
                        (Sent::Final, Step::Terminated)
                    } else {
                        *state = NonInviteState::Completed {
                            timer_j: now + wait,
                        };
                        (Sent::Final, Step::Live)
                    }
                }
                NonInviteState::Completed { .. } => return Err(TsxError::InvalidState),
            },
        };
        self.last_response = Some(payload.clone());
        self.transmit(payload, out);
        Ok((sent, step))
    }

    /// Fires whatever timers are due at `now`.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        timers: &TimerConfig,
        out: &mut Outputs,
    ) -> Step {
        let key = &self.key;
        let mut resend = false;
        let step = match &mut self.kind {
            Kind::Invite(InviteState::Completed { timer_g, timer_h }) => {
                if *timer_h <= now {
                    out.events.push_back(TsxEvent::Timeout {
                        key: key.clone(),
                        timer: TimerName::H,
                    });
                    Step::Terminated
                } else {
                    if let Some(g) = timer_g
                        && g.at <= now
                    {
                        *g = g.next(Some(timers.t2));
                        resend = true;
                    }
                    Step::Live
                }
            }
            Kind::Invite(InviteState::Confirmed { timer_i }) if *timer_i <= now => Step::Terminated,
            Kind::Invite(InviteState::Accepted {
                timer_l,
                retransmit_2xx,
                acked,
            }) => {
                if *timer_l <= now {
                    if !*acked {
                        out.events.push_back(TsxEvent::Timeout {
                            key: key.clone(),
                            timer: TimerName::L,
                        });
                    }
                    Step::Terminated
                } else {
                    if let Some(r) = retransmit_2xx
                        && r.at <= now
                    {
                        *r = r.next(Some(timers.t2));
                        resend = true;
                    }
                    Step::Live
                }
            }
            Kind::NonInvite(NonInviteState::Completed { timer_j }) if *timer_j <= now => {
                Step::Terminated
            }
            _ => Step::Live,
        };
        if resend && let Some(resp) = self.last_response.clone() {
            self.transmit(resp, out);
        }
        step
    }

    /// The transport failed to deliver a response.
    pub(crate) fn on_transport_error(&mut self, out: &mut Outputs) -> Step {
        out.events.push_back(TsxEvent::TransportError {
            key: self.key.clone(),
        });
        Step::Terminated
    }
}
