//! Storage in embedded SQLite (WAL): call detail records, the queue event log, voicemail
//! and registrations.
//!
//! One writer thread owns the write connection: [`Store::write`] never blocks the call
//! control loop, and each record is committed as soon as the writer gets to it, so after
//! SIGKILL every completed call's CDR is already durable. Readers ([`Reader`]) open their
//! own connections (WAL lets them read while the writer writes).
#![allow(dead_code)] // Skeleton: filled in by the storage work.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A call detail record: one per call, written when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cdr {
    /// Switchyard's call id (also in the queue log and the events).
    pub(crate) id: String,
    /// The caller leg's SIP Call-ID.
    pub(crate) sip_call_id: String,
    pub(crate) caller: String,
    pub(crate) caller_name: String,
    /// The dialled number, E.164.
    pub(crate) did: String,
    pub(crate) trunk: String,
    /// Unix milliseconds.
    pub(crate) start_ms: i64,
    pub(crate) answer_ms: Option<i64>,
    pub(crate) end_ms: i64,
    /// End minus start.
    pub(crate) duration_ms: i64,
    /// Time connected to an agent or a far end (end minus the agent's answer).
    pub(crate) billable_ms: i64,
    /// `answered` (an agent took it), `abandoned` (caller hung up in queue or ringing),
    /// `voicemail`, `ivr` (ended in the dialplan), `transferred`, `failed`, `rejected`.
    pub(crate) disposition: String,
    pub(crate) queue: Option<String>,
    pub(crate) agent: Option<String>,
    pub(crate) wait_ms: Option<i64>,
    /// `caller`, `agent` or `system`.
    pub(crate) hangup_by: String,
    /// e.g. `bye`, `cancel`, `inactivity`, `max-duration`, `session-expired`, `shutdown`,
    /// `dialplan`.
    pub(crate) hangup_reason: String,
    pub(crate) recording: Option<String>,
    /// Variables the IVR collected (JSON object).
    pub(crate) variables: serde_json::Value,
}

/// One line of the queue event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueueLogRow {
    /// Unix milliseconds.
    pub(crate) time_ms: i64,
    pub(crate) call: Option<String>,
    pub(crate) queue: Option<String>,
    pub(crate) agent: Option<String>,
    /// `enter`, `offer`, `ring_no_answer`, `connect`, `complete`, `abandon`, ...
    pub(crate) event: String,
    /// The event's details (wait, position, ...).
    pub(crate) data: serde_json::Value,
}

/// A voicemail message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Voicemail {
    pub(crate) id: String,
    pub(crate) mailbox: String,
    pub(crate) caller: String,
    pub(crate) call: String,
    /// Unix milliseconds.
    pub(crate) time_ms: i64,
    pub(crate) duration_ms: i64,
    /// The WAV file.
    pub(crate) path: String,
}

/// What the writer thread stores.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Cdr(Box<Cdr>),
    QueueLog(QueueLogRow),
    Voicemail(Voicemail),
    /// The registrar's bindings (replaces the previous snapshot).
    Registrations(serde_json::Value),
}

/// CDR query filters (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CdrQuery {
    pub(crate) since_ms: Option<i64>,
    pub(crate) until_ms: Option<i64>,
    pub(crate) queue: Option<String>,
    pub(crate) agent: Option<String>,
    pub(crate) caller: Option<String>,
    pub(crate) disposition: Option<String>,
    pub(crate) limit: Option<u32>,
}

/// The write side: owns the writer thread.
pub(crate) struct Store {}

impl Store {
    /// Opens (creating if needed) `<dir>/switchyard.db`, applies the schema, starts the
    /// writer thread.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<Store> {
        let _ = dir;
        anyhow::bail!("storage is not built yet")
    }

    /// Queues a record for the writer; never blocks.
    pub(crate) fn write(&self, record: Record) {
        let _ = record;
    }

    /// A read handle (own connection) for the API.
    pub(crate) fn reader(&self) -> anyhow::Result<Reader> {
        anyhow::bail!("storage is not built yet")
    }

    /// The last saved registrations, if any.
    pub(crate) fn load_registrations(&self) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(None)
    }

    /// Writes everything queued, then stops the writer (at shutdown).
    pub(crate) fn close(self) {}
}

/// A read connection.
pub(crate) struct Reader {}

impl Reader {
    pub(crate) fn cdrs(&self, query: &CdrQuery) -> anyhow::Result<Vec<Cdr>> {
        let _ = query;
        Ok(Vec::new())
    }
    pub(crate) fn queue_log(
        &self,
        call: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<Vec<QueueLogRow>> {
        let _ = (call, limit);
        Ok(Vec::new())
    }
    pub(crate) fn voicemails(&self, mailbox: Option<&str>) -> anyhow::Result<Vec<Voicemail>> {
        let _ = mailbox;
        Ok(Vec::new())
    }
    pub(crate) fn voicemail(&self, id: &str) -> anyhow::Result<Option<Voicemail>> {
        let _ = id;
        Ok(None)
    }
}
