//! Configuration of the distributor, its queues and its agents.

use std::time::Duration;

use crate::types::{AgentId, QueueId, SkillId, SkillReq};

/// How a queue chooses among several available agents for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The agent idle for the longest time.
    LongestIdle,
    /// The next agent after the one offered last, in the queue's agent order (the queue
    /// remembers where it stopped).
    RoundRobin,
    /// The agent who answered the fewest calls since login.
    FewestCalls,
    /// The agent with the least talk time since login.
    LeastTalkTime,
    /// Every available eligible agent rings; the first to answer wins, the others are
    /// cancelled.
    RingAll,
    /// Uniformly at random (seeded through [`AcdConfig::seed`]).
    Random,
    /// At random, in proportion to [`AgentConfig::weight`].
    WeightedRandom,
    /// The first available agent in the queue's agent order (top-down).
    Linear,
    /// The agent with the highest levels in the skills the call requires; ties go to the
    /// longest idle.
    BestSkill,
}

/// Where a call goes when it leaves a queue unanswered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OverflowTarget {
    /// Back to the dialplan, which continues with the step after `queue`.
    Dialplan,
    /// Record a message in this mailbox.
    Voicemail(String),
    /// Take a number and call the caller back (the daemon asks and dials).
    Callback,
    /// Another queue of this distributor (the call joins it at once).
    Queue(QueueId),
    /// A number outside (a backup centre), dialled over a trunk.
    External(String),
}

/// What a queue does with calls it cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverflowRules {
    /// When a caller has waited the queue's (or the call's) maximum wait.
    pub on_max_wait: OverflowTarget,
    /// When a call arrives and the queue already holds `max_length` callers.
    pub on_full: OverflowTarget,
    /// When no agent meeting the queue's base requirements is logged in (on arrival, and
    /// when the last such agent logs out). `None`: callers wait anyway (escalation may
    /// bring other agents in).
    pub on_no_agents: Option<OverflowTarget>,
}

impl Default for OverflowRules {
    fn default() -> Self {
        Self {
            on_max_wait: OverflowTarget::Dialplan,
            on_full: OverflowTarget::Dialplan,
            on_no_agents: None,
        }
    }
}

/// One escalation step: after `after` of waiting, the call's requirements widen.
///
/// Steps are cumulative: step 2 applies on top of step 1. The caller keeps their place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EscalationStep {
    /// Wait (since entering the queue) at which this step applies.
    pub after: Duration,
    /// Lower every minimum skill level by this much (never below 1).
    pub lower_min_level: u8,
    /// Also accept agents who have all of these skills instead (an alternative set).
    pub add_skills: Vec<SkillReq>,
    /// Also accept every agent eligible for these queues' base requirements.
    pub add_queues: Vec<QueueId>,
}

/// A queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Name used in logs and by the dialplan.
    pub name: String,
    /// Skills every agent taking this queue's calls must have.
    pub skills: Vec<SkillReq>,
    /// How to choose among available agents.
    pub strategy: Strategy,
    /// Service-level threshold (answered within this wait counts as "in service level").
    pub sl_threshold: Duration,
    /// Service-level target, 0–1 (e.g. 0.8 for 80 % within the threshold).
    pub sl_target: f64,
    /// Longest a caller waits before the `on_max_wait` overflow.
    pub max_wait: Option<Duration>,
    /// Most callers waiting at once; a caller arriving to a full queue overflows.
    pub max_length: Option<usize>,
    /// After-call work time before the agent is available again.
    pub wrap_up: Duration,
    /// How long an offer rings before the next agent is tried.
    pub ring_timeout: Duration,
    /// Interval between position/estimated-wait announcements (`None`: no announcements).
    pub announce_interval: Option<Duration>,
    /// Offer a callback once the estimated wait exceeds this.
    pub callback_threshold: Option<Duration>,
    /// How long a call waits for its preferred agent before anyone may take it.
    pub sticky_wait: Duration,
    /// Overflow targets.
    pub overflow: OverflowRules,
    /// Escalation steps, in increasing `after` order.
    pub escalation: Vec<EscalationStep>,
    /// Weight of this queue's callers when agents are shared and
    /// [`Fairness::Weighted`] is configured (a caller's wait is multiplied by it).
    pub weight: f64,
    /// Agent order for `Linear` and `RoundRobin`; agents not listed come after, by id.
    pub agent_order: Vec<AgentId>,
}

impl QueueConfig {
    /// A queue with the given name and skills, and defaults for everything else:
    /// longest-idle, 80 % in 20 s, no maximum wait or length, 10 s wrap-up, 15 s ring
    /// timeout, announcements every 60 s, no callback offer, no sticky wait.
    pub fn new(name: impl Into<String>, skills: Vec<SkillReq>) -> Self {
        Self {
            name: name.into(),
            skills,
            strategy: Strategy::LongestIdle,
            sl_threshold: Duration::from_secs(20),
            sl_target: 0.8,
            max_wait: None,
            max_length: None,
            wrap_up: Duration::from_secs(10),
            ring_timeout: Duration::from_secs(15),
            announce_interval: Some(Duration::from_secs(60)),
            callback_threshold: None,
            sticky_wait: Duration::ZERO,
            overflow: OverflowRules::default(),
            escalation: Vec::new(),
            weight: 1.0,
            agent_order: Vec::new(),
        }
    }
}

/// An agent (a person; any agent logs in on any phone).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Name used in logs and APIs.
    pub name: String,
    /// Skills and levels (1–10).
    pub skills: Vec<(SkillId, u8)>,
    /// Weight for [`Strategy::WeightedRandom`] (default 1).
    pub weight: u32,
}

impl AgentConfig {
    /// An agent with these skills and weight 1.
    pub fn new(name: impl Into<String>, skills: Vec<(SkillId, u8)>) -> Self {
        Self {
            name: name.into(),
            skills,
            weight: 1,
        }
    }
}

/// How an agent shared by several queues picks the next caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fairness {
    /// Highest priority first, then the caller who has waited longest, whatever the queue.
    LongestWaiting,
    /// Highest priority first, then the largest wait × queue weight.
    Weighted,
}

/// Distributor-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AcdConfig {
    /// Seed for the random strategies.
    pub seed: u64,
    /// Consecutive unanswered offers after which an agent is paused with reason "no answer"
    /// (0: never).
    pub max_no_answers: u32,
    /// How long an agent whose phone answered busy is left out of offers.
    pub busy_backoff: std::time::Duration,
    /// Callers who hang up within this wait are short abandons, left out of service level.
    pub short_abandon: std::time::Duration,
    /// Statistics interval length (15 minutes by default).
    pub stats_interval: std::time::Duration,
    /// Shared agents: which caller first.
    pub fairness: Fairness,
    /// Handle times remembered per queue for the estimated wait.
    pub aht_window: usize,
    /// Handle time assumed before a queue has answered any call.
    pub default_aht: std::time::Duration,
    /// Callers remembered for the sticky agent (the agent who last served them).
    pub sticky_memory: usize,
    /// Emit [`crate::Action::Log`] entries (the queue event log).
    pub log: bool,
    /// After a ring timeout, hold the call (offer it to nobody else) until every cancelled
    /// phone's INVITE has ended ([`crate::Event::OfferEnded`]) or `cancel_guard` passes, so
    /// that a 200 crossing the CANCEL never meets a second offer. Off: the next agent rings
    /// at once.
    pub await_cancel: bool,
    /// Longest wait for [`crate::Event::OfferEnded`] (32 s is RFC 3261's Timer B).
    pub cancel_guard: std::time::Duration,
}

impl Default for AcdConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_no_answers: 3,
            busy_backoff: Duration::from_secs(10),
            short_abandon: Duration::from_secs(5),
            stats_interval: Duration::from_secs(15 * 60),
            fairness: Fairness::LongestWaiting,
            aht_window: 50,
            default_aht: Duration::from_secs(180),
            sticky_memory: 100_000,
            log: true,
            await_cancel: false,
            cancel_guard: Duration::from_secs(32),
        }
    }
}
