//! What flows between a call's interpreter and the daemon: the call's details, the
//! events the daemon feeds in and the actions it carries out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::plan::HangupCause;

/// What the daemon knows about a new call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// The dialled number (DID), normalised as the trunk configuration says (E.164).
    pub to: String,
    /// The caller's number.
    pub from: String,
    /// The caller's display name, if any.
    pub caller_name: String,
    /// The name of the trunk the call came in on.
    pub trunk: String,
}

/// How a queue stint ended, as the daemon learns it from the ACD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOutcome {
    /// An agent answered: the interpreter is finished with the call.
    Answered,
    /// The queue's maximum wait passed.
    Timeout,
    /// The queue was full.
    Full,
    /// No agent with the skills is logged in.
    NoAgents,
    /// The estimated wait passed the `callback after` threshold. The caller keeps their
    /// place until the dialplan queues them again (resume), asks for a callback (the
    /// place becomes the callback's) or does anything else (the place is given up).
    LongWait {
        /// The ACD's estimate of the remaining wait.
        estimated: Duration,
    },
    /// The queue could not take the call (e.g. it does not exist in the running config).
    Failed,
}

impl QueueOutcome {
    /// The value the `queue_result` variable takes.
    pub fn name(self) -> &'static str {
        match self {
            QueueOutcome::Answered => "answered",
            QueueOutcome::Timeout => "timeout",
            QueueOutcome::Full => "full",
            QueueOutcome::NoAgents => "no_agents",
            QueueOutcome::LongWait { .. } => "long_wait",
            QueueOutcome::Failed => "failed",
        }
    }
}

/// Something that happened to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The caller pressed a key (`0`-`9`, `*`, `#`, `A`-`D`).
    Dtmf(char),
    /// A `Play` action finished (or was stopped).
    PlaybackDone {
        /// The id from the `Play` action.
        id: u32,
    },
    /// The deadline from [`Interpreter::poll_timeout`] passed.
    Timeout,
    /// The answer to a `Lookup`: the JSON body, or why there is none.
    LookupResult(Result<String, String>),
    /// The caller left the queue.
    QueueResult(QueueOutcome),
    /// A transfer connected (the interpreter is finished) or failed.
    TransferResult {
        /// True when the far end answered.
        connected: bool,
    },
    /// The caller finished leaving a message.
    VoicemailDone,
    /// The caller hung up.
    Hangup,
}

/// A prompt resolved to a file in the caller's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt's name in the dialplan.
    pub name: Arc<str>,
    /// The language it is in.
    pub language: Arc<str>,
    /// The WAV file to play.
    pub file: Arc<Path>,
}

/// A skill a queued caller needs, with its minimum level (1-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    /// The skill's name in the configuration.
    pub name: Arc<str>,
    /// The lowest level an agent may have.
    pub min_level: u8,
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// An internal extension (a device).
    Extension(String),
    /// A named agent, on whatever device they are logged in.
    Agent(String),
    /// An external number through a trunk.
    Number {
        /// The number to dial.
        number: String,
        /// The trunk's name in the configuration.
        trunk: Arc<str>,
    },
}

/// HTTP method of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST (with a body)
    Post,
}

/// Work for the daemon to do. Blocking actions (play, queue, transfer, voicemail,
/// lookup) are answered with the matching event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play prompts in order; answer with `PlaybackDone { id }`. When `barge_in` is set,
    /// a key press stops it (the interpreter then sends `StopPlayback`).
    Play {
        /// Identifies this playback in `PlaybackDone` and `StopPlayback`.
        id: u32,
        /// Files to play one after another.
        prompts: Vec<Prompt>,
        /// Whether key presses interrupt it.
        barge_in: bool,
    },
    /// Stop a playback early (the caller pressed a key). No `PlaybackDone` is needed.
    StopPlayback {
        /// The playback to stop.
        id: u32,
    },
    /// Keys are being read now (informational: the daemon just forwards DTMF).
    Collect {
        /// At most this many keys.
        max_digits: u8,
        /// A key that ends the input early.
        terminator: Option<char>,
        /// Wait for the first key.
        timeout: Duration,
        /// Wait between keys.
        between: Duration,
    },
    /// Put the caller in a queue; answer with `QueueResult`.
    Queue {
        /// The queue's name.
        queue: Arc<str>,
        /// Skills an agent needs.
        skills: Vec<Skill>,
        /// Higher is served first.
        priority: i64,
        /// Give up after this long (`QueueOutcome::Timeout`).
        max_wait: Option<Duration>,
        /// Report `QueueOutcome::LongWait` when the estimated wait passes this.
        callback_after: Option<Duration>,
    },
    /// Transfer the call; answer with `TransferResult`.
    Transfer {
        /// Where to.
        target: TransferTarget,
    },
    /// Record a message into a mailbox; answer with `VoicemailDone`.
    Voicemail {
        /// The mailbox.
        mailbox: String,
    },
    /// The caller accepted a callback: the queue calls this number back, keeping the
    /// caller's place.
    Callback {
        /// The queue that calls back.
        queue: Arc<str>,
        /// The number to call.
        number: String,
    },
    /// Start or stop recording the call.
    Record {
        /// True to start.
        on: bool,
    },
    /// Ask the customer system; answer with `LookupResult` (JSON body or failure).
    Lookup {
        /// GET or POST.
        method: Method,
        /// The URL, variables filled in.
        url: String,
        /// The POST body.
        body: Option<String>,
        /// Give up after this long (the interpreter also stops waiting then).
        timeout: Duration,
    },
    /// A call variable changed (for the agent's screen pop and the CDR). Sent before the
    /// next other action, once per variable with its latest value.
    SetVariable {
        /// The variable.
        name: Arc<str>,
        /// Its new value.
        value: String,
    },
    /// End the call.
    Hangup {
        /// Why.
        cause: HangupCause,
    },
    /// The dialplan failed at run time (already logged); what follows is its fallback.
    Fault {
        /// What went wrong, with the step and line.
        message: String,
    },
}

/// No entry point of the dialplan matches the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no entry of dialplan {file} matches a call to {to} from {from} on trunk {trunk:?}")]
pub struct NoRoute {
    /// The dialplan's file.
    pub file: String,
    /// The called number.
    pub to: String,
    /// The caller.
    pub from: String,
    /// The trunk.
    pub trunk: String,
}

/// What the interpreter is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A playback to finish.
    Playback,
    /// Keys from the caller (a menu or a collect, prompts finished).
    Digits,
    /// A queue result.
    Queue,
    /// A transfer result.
    Transfer,
    /// A lookup result.
    Lookup,
    /// The end of a voicemail.
    Voicemail,
    /// A pause (`wait`).
    Pause,
    /// Nothing: the interpreter is finished.
    Finished,
}
