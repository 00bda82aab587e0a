//! Skills-based automatic call distribution, agent states, statistics and Erlang C staffing.
//!
//! A sans-IO state machine: the daemon feeds [`Event`]s and the time, and executes the
//! [`Action`]s that come out. It never reads a clock; randomness (for the random strategies)
//! is seeded through [`AcdConfig::seed`].
//!
//! ```
//! use std::time::Duration;
//! use switchyard_acd::{
//!     Acd, AcdConfig, Action, AgentConfig, CallId, Enqueue, Event, Party, QueueConfig, SkillReq,
//! };
//!
//! let mut acd = Acd::new(AcdConfig::default());
//! let english = acd.skill("english");
//! let billing = acd.skill("billing");
//! let queue = acd
//!     .add_queue(QueueConfig::new("billing", vec![SkillReq::new(billing, 3)]))
//!     .unwrap();
//! let alice = acd
//!     .add_agent(AgentConfig::new("alice", vec![(billing, 7), (english, 10)]))
//!     .unwrap();
//!
//! // The run loop: an input, then drain the actions, then sleep until poll_timeout().
//! let mut now = Duration::ZERO;
//! acd.handle_event(now, Event::AgentLogin(alice)).unwrap();
//! let mut call = Enqueue::new(CallId(1), queue);
//! call.language = Some(english);
//! acd.handle_event(now, Event::CallEnqueued(call)).unwrap();
//! let mut offered = None;
//! while let Some(action) = acd.poll_action() {
//!     if let Action::Offer { call, agents, .. } = action {
//!         offered = Some((call, agents[0])); // INVITE the agent's phone
//!     }
//! }
//! let (call, agent) = offered.unwrap();
//! now += Duration::from_secs(4);
//! acd.handle_event(now, Event::AgentAnswered(call, agent)).unwrap(); // their 200 OK
//! now += Duration::from_secs(120);
//! acd.handle_event(now, Event::CallEnded(call, Party::Caller)).unwrap(); // a BYE
//! // Wrap-up (10 s by default) ends by itself: wake the distributor at its deadlines.
//! now += Duration::from_secs(10);
//! while acd.poll_timeout().is_some_and(|t| t <= now) {
//!     acd.handle_timeout(now);
//! }
//! while acd.poll_action().is_some() {}
//! assert_eq!(acd.agent_state(alice), switchyard_acd::AgentState::Available);
//! let stats = acd.queue_stats(queue).unwrap().total();
//! assert_eq!((stats.offered, stats.answered, stats.answered_in_sl), (1, 1, 1));
//! ```
//!
//! Modules: [`erlang`] (Erlang C), [`staffing`] (forecast CSV → agents per interval),
//! [`stats`] (definitions and the recount from the log), [`sim`] (a seeded discrete-event
//! simulator over the distributor). The model, strategies, routing rules and formulas are
//! described in `docs/acd.md`.

mod bitset;
pub mod config;
mod engine;
pub mod erlang;
mod error;
pub mod event;
pub mod log;
pub mod sim;
pub mod staffing;
pub mod stats;
mod types;

pub use config::{
    AcdConfig, AgentConfig, EscalationStep, Fairness, OverflowRules, OverflowTarget, QueueConfig,
    Strategy,
};
pub use engine::{Acd, CallInfo};
pub use error::AcdError;
pub use event::{Action, CancelReason, Enqueue, Event, ExitReason};
pub use log::{LogKind, NoAnswerKind, QueueLogEntry};
pub use types::{
    AgentId, AgentState, CallId, MAX_SKILL_LEVEL, Party, QueueId, SkillId, SkillReq, Time,
};
