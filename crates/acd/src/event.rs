//! What goes into the distributor ([`Event`]) and what comes out ([`Action`]).

use std::time::Duration;

use crate::config::OverflowTarget;
use crate::log::QueueLogEntry;
use crate::types::{AgentId, AgentState, CallId, Party, QueueId, SkillId, SkillReq};

/// A caller joins a queue (the dialplan's `queue` step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// The call, named by the daemon.
    pub call: CallId,
    /// The queue.
    pub queue: QueueId,
    /// Priority: higher is served first (0 is the lowest).
    pub priority: u8,
    /// Skills required on top of the queue's own.
    pub skills: Vec<SkillReq>,
    /// The caller's language, as a skill the agent must have (any level).
    pub language: Option<SkillId>,
    /// An agent to try first (named by the dialplan); otherwise the agent who last served
    /// `caller`, if remembered.
    pub preferred_agent: Option<AgentId>,
    /// The caller's number, used to remember and find their last agent (sticky agent).
    pub caller: Option<String>,
    /// A maximum wait shorter than the queue's (from the dialplan).
    pub max_wait: Option<Duration>,
}

impl Enqueue {
    /// A call joining `queue` at priority 0 with no extra requirements.
    pub fn new(call: CallId, queue: QueueId) -> Self {
        Self {
            call,
            queue,
            priority: 0,
            skills: Vec::new(),
            language: None,
            preferred_agent: None,
            caller: None,
            max_wait: None,
        }
    }
}

/// An input to the distributor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A caller joins a queue.
    CallEnqueued(Enqueue),
    /// The caller hung up (while waiting, ringing or connected).
    CallerHungUp(CallId),
    /// The caller left the queue by pressing a key (the dialplan continues).
    CallerLeftByKey(CallId, char),
    /// The caller accepted a callback: they hang up but keep their place; the offer that
    /// reaches an agent later is marked as a callback.
    CallbackAccepted(CallId),
    /// An agent logs in (on any phone).
    AgentLogin(AgentId),
    /// An agent logs out (after the current call, if any).
    AgentLogout(AgentId),
    /// An agent pauses with a reason (after the current call, if any).
    AgentPause(AgentId, String),
    /// A paused agent is ready again.
    AgentUnpause(AgentId),
    /// The agent's phone is registered again.
    AgentDeviceAvailable(AgentId),
    /// The agent's phone registration expired or was removed: no offers until it is back.
    AgentDeviceUnavailable(AgentId),
    /// The agent answered an offer.
    AgentAnswered(CallId, AgentId),
    /// The offer was not answered (timeout at the phone, 408/480, a redirect, 181/182).
    AgentNoAnswer(CallId, AgentId),
    /// The agent's phone was busy (486/600).
    AgentBusy(CallId, AgentId),
    /// The agent declined the offer (603).
    AgentRejected(CallId, AgentId),
    /// A connected call ended.
    CallEnded(CallId, Party),
    /// The agent transferred the connected caller elsewhere; the agent goes to wrap-up.
    CallTransferred(CallId, String),
    /// The agent finished after-call work early.
    WrapUpDone(AgentId),
    /// The INVITE to the agent ended after our CANCEL (the 487, or a crossing 200 that was
    /// answered with ACK and BYE). Only needed with `AcdConfig::await_cancel`.
    OfferEnded(CallId, AgentId),
}

/// Why an offer is withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// Another agent answered (ring-all): `Reason: SIP;cause=200`.
    CompletedElsewhere,
    /// The caller hung up or left.
    CallerGone,
    /// Nobody answered within the ring timeout.
    Timeout,
}

/// Why a caller left a queue unanswered (other than hanging up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// Waited the maximum wait.
    Timeout,
    /// The queue was full on arrival.
    Full,
    /// No eligible agent logged in.
    Empty,
    /// The caller pressed a key to leave.
    Key,
}

/// An output: something the daemon must do or record.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ring these agents (one, or several for ring-all) for this call.
    Offer {
        /// The call.
        call: CallId,
        /// The agents to ring; each is now reserved.
        agents: Vec<AgentId>,
        /// Ring this long; the distributor cancels itself when it passes.
        ring_timeout: Duration,
        /// The caller accepted a callback: dial the agent, then the caller.
        callback: bool,
    },
    /// Stop ringing an agent (send CANCEL).
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent whose phone rings.
        agent: AgentId,
        /// Why.
        reason: CancelReason,
    },
    /// The agent's answer is accepted: bridge the caller to the agent.
    Connected {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// How long the caller waited in queue.
        waited: Duration,
    },
    /// Tell the caller their position (1 = next) and estimated wait.
    Announce {
        /// The call.
        call: CallId,
        /// Position in the queue, 1 for the next caller to be served.
        position: u32,
        /// Estimated wait, if any agent could serve the call.
        estimated_wait: Option<Duration>,
    },
    /// Offer the caller a callback (the estimate passed the queue's threshold).
    OfferCallback {
        /// The call.
        call: CallId,
        /// The estimate that triggered the offer.
        estimated_wait: Duration,
    },
    /// The call left the queue unanswered; send it to `target`.
    Overflow {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: QueueId,
        /// Why.
        reason: ExitReason,
        /// Where to.
        target: OverflowTarget,
    },
    /// An agent's state changed.
    AgentStateChanged {
        /// The agent.
        agent: AgentId,
        /// The new state.
        state: AgentState,
    },
    /// A queue event log entry, to be stored.
    Log(QueueLogEntry),
}

impl Action {
    /// Shorthand used in logs.
    pub fn call(&self) -> Option<CallId> {
        match self {
            Action::Offer { call, .. }
            | Action::CancelOffer { call, .. }
            | Action::Connected { call, .. }
            | Action::Announce { call, .. }
            | Action::OfferCallback { call, .. }
            | Action::Overflow { call, .. } => Some(*call),
            Action::AgentStateChanged { .. } => None,
            Action::Log(e) => e.call,
        }
    }
}
