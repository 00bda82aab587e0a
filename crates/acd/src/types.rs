//! Identifiers and small value types shared by the whole crate.

use std::fmt;
use std::time::Duration;

/// A call, named by the daemon (any unique number, e.g. its call-control handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// An agent (a person, not a phone), as returned by [`crate::Acd::add_agent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub u32);

/// A queue, as returned by [`crate::Acd::add_queue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub u32);

/// A skill (or a language), as returned by [`crate::Acd::skill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkillId(pub u16);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}
impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent#{}", self.0)
    }
}
impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue#{}", self.0)
    }
}

/// Skill levels run from 1 (novice) to 10 (expert).
pub const MAX_SKILL_LEVEL: u8 = 10;

/// "Has `skill` at level `min_level` or above".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkillReq {
    /// The skill required.
    pub skill: SkillId,
    /// Lowest acceptable level, 1–10 (0 is treated as 1).
    pub min_level: u8,
}

impl SkillReq {
    /// A requirement of `skill` at `min_level` or above.
    pub fn new(skill: SkillId, min_level: u8) -> Self {
        Self { skill, min_level }
    }
}

/// Time as the ACD sees it: a duration since an epoch the caller chooses and keeps.
///
/// Statistics intervals are aligned to multiples of the interval length from that epoch,
/// so a daemon that passes time since the UNIX epoch gets wall-clock aligned intervals.
pub type Time = Duration;

/// What an agent is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// Not logged in: never offered a call.
    LoggedOut,
    /// Logged in and waiting for a call.
    Available,
    /// Reserved for a call: the agent's phone is ringing.
    Reserved(CallId),
    /// Talking to a caller.
    OnCall(CallId),
    /// After-call work; available again when it ends.
    WrapUp,
    /// Logged in but not taking calls, with the reason given.
    Paused(String),
}

impl AgentState {
    /// A short lowercase name ("available", "on-call", ...), for logs and APIs.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged-out",
            AgentState::Available => "available",
            AgentState::Reserved(_) => "reserved",
            AgentState::OnCall(_) => "on-call",
            AgentState::WrapUp => "wrap-up",
            AgentState::Paused(_) => "paused",
        }
    }
}

/// Who ended a connected call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The caller hung up.
    Caller,
    /// The agent hung up.
    Agent,
}
