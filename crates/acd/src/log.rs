//! The queue event log: one value per thing that happened, for the daemon to store.

use std::time::Duration;

use crate::event::ExitReason;
use crate::types::{AgentId, CallId, Party, QueueId, Time};

/// One line of the queue event log.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueLogEntry {
    /// When it happened.
    pub time: Time,
    /// The queue concerned (none for agent-only events).
    pub queue: Option<QueueId>,
    /// The call concerned (none for agent-only events).
    pub call: Option<CallId>,
    /// The agent concerned, if any.
    pub agent: Option<AgentId>,
    /// What happened.
    pub kind: LogKind,
}

/// What a [`QueueLogEntry`] records.
#[derive(Debug, Clone, PartialEq)]
pub enum LogKind {
    /// The caller entered the queue at this position.
    Enter {
        /// Priority.
        priority: u8,
        /// Position on entry (1 = next).
        position: u32,
    },
    /// The call was offered to the agent (their phone rings).
    Offer,
    /// The agent did not answer (or was busy, or declined) after ringing this long.
    RingNoAnswer {
        /// How long it rang.
        ring: Duration,
        /// Why.
        outcome: NoAnswerKind,
    },
    /// The caller was connected to the agent.
    Connect {
        /// Wait in queue.
        wait: Duration,
        /// Ring time of the answered offer.
        ring: Duration,
    },
    /// The connected call ended.
    Complete {
        /// Who hung up.
        by: Party,
        /// Wait in queue before the answer.
        wait: Duration,
        /// Talk time.
        talk: Duration,
    },
    /// The agent transferred the caller.
    Transfer {
        /// Where to.
        target: String,
        /// Wait before the answer.
        wait: Duration,
        /// Talk time before the transfer.
        talk: Duration,
    },
    /// After-call work finished.
    WrapUpEnd {
        /// How long it lasted.
        wrap: Duration,
    },
    /// The caller hung up before being connected.
    Abandon {
        /// Position when they hung up.
        position: u32,
        /// Position on entry.
        entry_position: u32,
        /// How long they waited.
        wait: Duration,
    },
    /// The caller left unanswered for another reason.
    Exit {
        /// Why.
        reason: ExitReason,
        /// Position when leaving.
        position: u32,
        /// How long they waited.
        wait: Duration,
    },
    /// The caller accepted a callback (keeps their place).
    CallbackAccepted,
    /// The agent paused.
    Pause {
        /// The reason given.
        reason: String,
    },
    /// The agent unpaused.
    Unpause,
    /// The agent logged in.
    Login,
    /// The agent logged out.
    Logout,
}

/// Kinds of unanswered offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoAnswerKind {
    /// Rang out or the phone reported no answer.
    NoAnswer,
    /// The phone was busy.
    Busy,
    /// The agent declined.
    Rejected,
}

impl LogKind {
    /// The Asterisk-style event name (`ENTERQUEUE`, `CONNECT`, ...), for storage.
    pub fn name(&self) -> &'static str {
        match self {
            LogKind::Enter { .. } => "ENTERQUEUE",
            LogKind::Offer => "OFFER",
            LogKind::RingNoAnswer { .. } => "RINGNOANSWER",
            LogKind::Connect { .. } => "CONNECT",
            LogKind::Complete {
                by: Party::Caller, ..
            } => "COMPLETECALLER",
            LogKind::Complete {
                by: Party::Agent, ..
            } => "COMPLETEAGENT",
            LogKind::Transfer { .. } => "TRANSFER",
            LogKind::WrapUpEnd { .. } => "WRAPUPEND",
            LogKind::Abandon { .. } => "ABANDON",
            LogKind::Exit {
                reason: ExitReason::Timeout,
                ..
            } => "EXITWITHTIMEOUT",
            LogKind::Exit {
                reason: ExitReason::Full,
                ..
            } => "FULL",
            LogKind::Exit {
                reason: ExitReason::Empty,
                ..
            } => "EXITEMPTY",
            LogKind::Exit {
                reason: ExitReason::Key,
                ..
            } => "EXITWITHKEY",
            LogKind::CallbackAccepted => "CALLBACK",
            LogKind::Pause { .. } => "PAUSE",
            LogKind::Unpause => "UNPAUSE",
            LogKind::Login => "AGENTLOGIN",
            LogKind::Logout => "AGENTLOGOFF",
        }
    }
}
