//! Errors of the distributor.

use crate::types::{AgentId, CallId, QueueId, SkillId};

/// An event or a configuration change that does not fit the distributor's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    /// No such call (it ended, or was never enqueued).
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    /// The call is already queued.
    #[error("{0} is already queued")]
    DuplicateCall(CallId),
    /// No such agent.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// No such queue.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// No such skill.
    #[error("unknown skill #{}", .0.0)]
    UnknownSkill(SkillId),
    /// A skill level outside 1–10.
    #[error("skill level {0} is outside 1-10")]
    BadLevel(u8),
    /// A queue or agent name used twice.
    #[error("{0:?} is defined twice")]
    Duplicate(String),
    /// The call is not being offered to this agent (the offer ended or never existed).
    #[error("{call} is not ringing {agent}")]
    NoSuchOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// The call is not connected.
    #[error("{0} is not connected")]
    NotConnected(CallId),
    /// The agent is not in a state that allows this.
    #[error("{agent} is {state}")]
    WrongState {
        /// The agent.
        agent: AgentId,
        /// Its state's name.
        state: &'static str,
    },
}
