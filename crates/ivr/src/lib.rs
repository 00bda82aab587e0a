//! Switchyard's dialplan language: parser, checker, interpreter and simulator.
//!
//! An operator writes a dialplan (see `docs/dialplan.md`); [`compile`] parses and checks
//! it into an immutable [`Dialplan`], shared by `Arc`. Each call gets an [`Interpreter`],
//! a sans-IO state machine: events in with [`Interpreter::handle_event`], actions out with
//! [`Interpreter::poll_action`], the next deadline from [`Interpreter::poll_timeout`].
//!
//! ```
//! use std::sync::Arc;
//! use switchyard_ivr::{compile, Action, CallInfo, Env, Event, Interpreter};
//!
//! let source = r#"
//! entry main:
//!   to any
//!   start welcome
//!
//! step welcome:
//!   menu:
//!     greeting welcome
//!     1: queue sales
//!     after tries: hangup
//!   hangup
//! "#;
//! let plan = Arc::new(compile("demo.dialplan", source, &Env::bare()).unwrap());
//! let now: jiff::Timestamp = "2026-11-23T02:00:00Z".parse().unwrap();
//! let call = CallInfo { to: "+861058000000".into(), from: "+8613800138000".into(), ..Default::default() };
//! let mut ivr = Interpreter::new(plan, &call, now).unwrap();
//!
//! // The daemon's loop: execute every action, feed back events.
//! let Some(Action::Play { id, .. }) = ivr.poll_action() else { panic!() };
//! assert!(matches!(ivr.poll_action(), Some(Action::Collect { .. })));
//! ivr.handle_event(now, Event::PlaybackDone { id });
//! ivr.handle_event(now, Event::Dtmf('1'));
//! let Some(Action::Queue { queue, .. }) = ivr.poll_action() else { panic!() };
//! assert_eq!(&*queue, "sales");
//! ```

mod blocks;
mod check;
mod compile;
mod diag;
mod events;
mod expr;
mod interp;
mod lines;
mod pattern;
mod plan;
mod reload;
mod say;
pub mod sim;
mod stmt;
mod time;

pub use compile::{Env, Known, compile};
pub use diag::{Diagnostic, Diagnostics, Severity, Span};
pub use events::{
    Action, CallInfo, Event, Method, NoRoute, Prompt, QueueOutcome, Skill, TransferTarget, Waiting,
};
pub use expr::Value;
pub use interp::Interpreter;
pub use plan::{Dialplan, HangupCause};
pub use reload::DialplanSlot;
