//! A compiled dialplan: flat code with jumps, shared read-only by every call (`Arc`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use crate::diag::{Diagnostics, Span};
use crate::expr::Expr;
use crate::pattern::Pattern;
use crate::time::{Holidays, Schedule};

/// Why a call ends, as the dialplan says it. The daemon maps it to a SIP status and a
/// Q.850 cause in its `Reason` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupCause {
    /// Normal clearing (Q.850 16).
    Normal,
    /// User busy (17, SIP 486).
    Busy,
    /// No answer (19, SIP 480).
    NoAnswer,
    /// Call rejected (21, SIP 603).
    Rejected,
    /// Temporarily unavailable (41, SIP 503), e.g. closed.
    Unavailable,
    /// The dialplan failed at run time (e.g. its step budget ran out) (Q.850 38, SIP 500).
    Failure,
}

impl HangupCause {
    pub(crate) fn by_name(s: &str) -> Option<Self> {
        Some(match s {
            "normal" => HangupCause::Normal,
            "busy" => HangupCause::Busy,
            "no_answer" => HangupCause::NoAnswer,
            "rejected" => HangupCause::Rejected,
            "unavailable" => HangupCause::Unavailable,
            "failure" => HangupCause::Failure,
            _ => return None,
        })
    }

    /// The name used in dialplans and traces.
    pub fn name(self) -> &'static str {
        match self {
            HangupCause::Normal => "normal",
            HangupCause::Busy => "busy",
            HangupCause::NoAnswer => "no_answer",
            HangupCause::Rejected => "rejected",
            HangupCause::Unavailable => "unavailable",
            HangupCause::Failure => "failure",
        }
    }

    /// The Q.850 cause value.
    pub fn q850(self) -> u8 {
        match self {
            HangupCause::Normal => 16,
            HangupCause::Busy => 17,
            HangupCause::NoAnswer => 19,
            HangupCause::Rejected => 21,
            HangupCause::Unavailable => 41,
            HangupCause::Failure => 38,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SayKind {
    Digits,
    Number,
    Time,
}

#[derive(Debug)]
pub(crate) struct MenuOp {
    pub(crate) greeting: Box<[u32]>,
    pub(crate) short: Box<[u32]>,
    pub(crate) invalid: Box<[u32]>,
    pub(crate) no_input: Box<[u32]>,
    pub(crate) timeout: Duration,
    pub(crate) between: Duration,
    pub(crate) digits: u8,
    pub(crate) terminator: Option<char>,
    pub(crate) tries: u8,
    pub(crate) keys: Box<[(Box<str>, u32)]>,
    pub(crate) after: u32,
}

impl Default for MenuOp {
    /// A menu as written with no settings: 5 s to the first key, 3 s between keys, one
    /// digit, no terminator, 3 tries.
    fn default() -> MenuOp {
        MenuOp {
            greeting: Box::new([]),
            short: Box::new([]),
            invalid: Box::new([]),
            no_input: Box::new([]),
            timeout: Duration::from_secs(5),
            between: Duration::from_secs(3),
            digits: 1,
            terminator: None,
            tries: 3,
            keys: Box::new([]),
            after: 0,
        }
    }
}

#[derive(Debug)]
pub(crate) struct CollectOp {
    pub(crate) var: u16,
    pub(crate) prompt: Box<[u32]>,
    pub(crate) max: u8,
    pub(crate) terminator: Option<char>,
    pub(crate) timeout: Duration,
    pub(crate) between: Duration,
}

#[derive(Debug)]
pub(crate) struct SwitchOp {
    pub(crate) value: Expr,
    pub(crate) cases: Box<[(Box<str>, u32)]>,
    pub(crate) default: u32,
}

/// A required skill in a `queue` statement.
#[derive(Debug, Clone)]
pub(crate) enum SkillName {
    Named(Arc<str>),
    /// The skill of the caller's current language (`language skills`).
    Language,
}

#[derive(Debug)]
pub(crate) struct QueueOp {
    pub(crate) name: Arc<str>,
    pub(crate) skills: Box<[(SkillName, u8)]>,
    pub(crate) priority: Expr,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) callback_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferKind {
    Extension,
    Agent,
    Number,
}

#[derive(Debug)]
pub(crate) struct TransferOp {
    pub(crate) kind: TransferKind,
    pub(crate) target: Expr,
    pub(crate) trunk: Option<Arc<str>>,
}

/// A field of a JSON answer: `customer.name` as `["customer", "name"]`.
pub(crate) type JsonPath = Box<[Box<str>]>;

#[derive(Debug)]
pub(crate) struct LookupOp {
    pub(crate) post: bool,
    pub(crate) url: Expr,
    pub(crate) body: Option<Expr>,
    pub(crate) timeout: Duration,
    /// JSON path (split at dots) and the variable it goes into.
    pub(crate) save: Box<[(JsonPath, u16)]>,
    pub(crate) on_failure: Option<u32>,
}

/// One instruction. Blocking instructions wait for an event; the rest run at once.
#[derive(Debug)]
pub(crate) enum Op {
    Play(Box<[u32]>),
    Say(SayKind, Expr),
    Menu(Box<MenuOp>),
    Collect(Box<CollectOp>),
    Set(u16, Expr),
    Language(Expr),
    Jump(u32),
    /// Jump when the condition is false.
    Unless(Expr, u32),
    Switch(Box<SwitchOp>),
    Call(u32),
    Return,
    Queue(Box<QueueOp>),
    Transfer(Box<TransferOp>),
    Voicemail(Expr),
    Callback(Arc<str>, Expr),
    Record(bool),
    Lookup(Box<LookupOp>),
    Hangup(HangupCause),
    Wait(Duration),
}

/// A prompt: its name and its file in each configured language.
#[derive(Debug)]
pub(crate) struct PromptDef {
    pub(crate) name: Arc<str>,
    pub(crate) files: Box<[Arc<Path>]>,
}

/// Where calls come in: conditions on the called number, the caller and the trunk.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: Arc<str>,
    pub(crate) to: Vec<Pattern>,
    pub(crate) from: Vec<Pattern>,
    pub(crate) trunk: Vec<Pattern>,
    pub(crate) language: u8,
    pub(crate) start: u32,
}

fn any_match(pats: &[Pattern], s: &str) -> bool {
    pats.is_empty() || pats.iter().any(|p| p.matches(s))
}

impl Entry {
    pub(crate) fn matches(&self, to: &str, from: &str, trunk: &str) -> bool {
        any_match(&self.to, to) && any_match(&self.from, from) && any_match(&self.trunk, trunk)
    }
}

/// Variables every call has. Their slots come first, in this order.
pub(crate) const BUILTINS: [&str; 14] = [
    "caller",
    "caller_name",
    "did",
    "trunk",
    "entry",
    "language",
    "digits",
    "queue_result",
    "estimated_wait",
    "transfer_result",
    "lookup_result",
    "time",
    "date",
    "weekday",
];
pub(crate) const V_CALLER: u16 = 0;
pub(crate) const V_CALLER_NAME: u16 = 1;
pub(crate) const V_DID: u16 = 2;
pub(crate) const V_TRUNK: u16 = 3;
pub(crate) const V_ENTRY: u16 = 4;
pub(crate) const V_LANGUAGE: u16 = 5;
pub(crate) const V_DIGITS: u16 = 6;
pub(crate) const V_QUEUE_RESULT: u16 = 7;
pub(crate) const V_ESTIMATED_WAIT: u16 = 8;
pub(crate) const V_TRANSFER_RESULT: u16 = 9;
pub(crate) const V_LOOKUP_RESULT: u16 = 10;
pub(crate) const V_TIME: u16 = 11;
pub(crate) const V_DATE: u16 = 12;
pub(crate) const V_WEEKDAY: u16 = 13;
/// Builtins a dialplan may not assign (`language` is assigned through `language`).
pub(crate) const READ_ONLY: [u16; 12] = [
    V_CALLER,
    V_DID,
    V_TRUNK,
    V_ENTRY,
    V_DIGITS,
    V_QUEUE_RESULT,
    V_ESTIMATED_WAIT,
    V_TRANSFER_RESULT,
    V_LOOKUP_RESULT,
    V_TIME,
    V_DATE,
    V_WEEKDAY,
];

/// A checked, compiled dialplan. Immutable: share it with `Arc`; every call keeps the
/// version it started with.
#[derive(Debug)]
pub struct Dialplan {
    pub(crate) name: Option<String>,
    pub(crate) file: Arc<str>,
    pub(crate) languages: Box<[Arc<str>]>,
    pub(crate) language_skills: Box<[Option<Arc<str>>]>,
    pub(crate) zone: TimeZone,
    pub(crate) budget: u32,
    pub(crate) on_error: Option<u32>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) steps: Vec<(Arc<str>, u32)>,
    pub(crate) ops: Vec<Op>,
    /// Source line of each op, for run-time messages.
    pub(crate) op_lines: Vec<u32>,
    pub(crate) prompts: Vec<PromptDef>,
    pub(crate) prompt_by_name: BTreeMap<Arc<str>, u32>,
    pub(crate) vars: Box<[Arc<str>]>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) holidays: Vec<Holidays>,
    pub(crate) queues_needed: BTreeMap<String, Span>,
    pub(crate) skills_needed: BTreeMap<String, Span>,
    pub(crate) warnings: Diagnostics,
}

impl Dialplan {
    /// The name given by `dialplan "..."`, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The file name it was compiled from.
    pub fn file(&self) -> &str {
        &self.file
    }
    /// Configured languages; the first is the default.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.iter().map(|l| &**l)
    }
    /// Queues the dialplan sends callers to (for checking against a configuration).
    pub fn queues_needed(&self) -> impl Iterator<Item = &str> {
        self.queues_needed.keys().map(String::as_str)
    }
    /// Skills the dialplan asks for, including language skills.
    pub fn skills_needed(&self) -> impl Iterator<Item = &str> {
        self.skills_needed.keys().map(String::as_str)
    }
    /// Warnings found while checking (the dialplan loaded anyway).
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }
    /// The name of the entry a call would start at, if any matches (the daemon can pick
    /// among several dialplans with this).
    pub fn route(&self, call: &crate::CallInfo) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.matches(&call.to, &call.from, &call.trunk))
            .map(|e| &*e.name)
    }

    /// Number of named steps.
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }
    /// Every prompt file the dialplan may play, in every language.
    pub fn prompt_files(&self) -> impl Iterator<Item = &Path> {
        self.prompts
            .iter()
            .flat_map(|p| p.files.iter().map(|f| &**f))
    }
    /// The name of the step an instruction belongs to (for messages).
    pub(crate) fn step_of(&self, pc: u32) -> &str {
        self.steps
            .iter()
            .filter(|(_, start)| *start <= pc)
            .max_by_key(|(_, start)| *start)
            .map_or("?", |(n, _)| n)
    }
}
