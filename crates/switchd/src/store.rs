//! Storage in embedded SQLite (WAL): call detail records, the queue event log, voicemail
//! and registrations.
//!
//! One writer thread owns the write connection: [`Store::write`] never blocks the call
//! control loop, and a CDR is committed within [`GATHER`] (5 ms; at once when the writer
//! was idle): the writer takes everything waiting and commits it in one transaction, so
//! after SIGKILL every call that ended more than a few milliseconds before has its CDR,
//! and the queue events written before it, durable. Queue events and registrations
//! snapshots alone wait up to 100 ms to share a commit. Readers ([`Reader`]) have their own connections (WAL lets them read while the
//! writer writes).
//!
//! ```ignore
//! let store = Store::open(Path::new("switchyard-data"))?;
//! store.write(Record::Cdr(Box::new(cdr)));
//! let reader = store.reader()?;
//! let latest = reader.cdrs(&CdrQuery { queue: Some("sales".into()), ..CdrQuery::default() })?;
//! store.close(); // commits everything queued, then stops the writer
//! ```
//!
//! This file stays self-contained (std, rusqlite, serde, serde_json, tracing and anyhow; no
//! `crate::` paths): `benches/store_cdr.rs` compiles it in with `#[path]` to measure the
//! real writer.
#![allow(dead_code)] // Queue statistics from CDRs, `flush` and `path` serve tests and the bench; the API reads today's figures from the ACD.
// Until call control and the API use every item (and the bench uses only the writer).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, Row, params};
use serde::{Deserialize, Serialize};

// The path is spelt out because `benches/store_cdr.rs` includes this file by path, where
// the default (a sibling directory named after the module) would not resolve.
#[cfg(test)]
#[path = "store/tests.rs"]
mod tests;

/// The database's file name inside the storage directory.
pub(crate) const DB_FILE: &str = "switchyard.db";

/// The schema, one migration per version: the database's `user_version` counts how many
/// have been applied. Append new migrations; never edit an applied one.
const MIGRATIONS: &[&str] = &[include_str!("store/schema_v1.sql")];

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows a query returns when it does not say.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// The most rows one query returns.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// How long a queue event or registrations snapshot may wait to share a CDR's commit.
const DEFER: Duration = Duration::from_millis(100);

/// How long a CDR may wait for the next commit while the writer is busy. The first CDR
/// after a quiet spell wakes the writer and is committed at once; for [`GATHER`] after that
/// commit, CDRs do not wake it: it looks again when the time is up and commits what came
/// meanwhile in one transaction. Under load that is one wake-up and one commit per 5 ms
/// instead of one of each per call.
pub(crate) const GATHER: Duration = Duration::from_millis(5);

/// The most records the writer commits in one transaction.
const MAX_BATCH: usize = 10_000;

/// A call detail record: one per call, written when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cdr {
    /// Switchyard's call id (also in the queue log and the events).
    pub(crate) id: String,
    /// The caller leg's SIP Call-ID.
    pub(crate) sip_call_id: String,
    /// The caller's number.
    pub(crate) caller: String,
    /// The caller's display name (empty when none).
    pub(crate) caller_name: String,
    /// The dialled number, E.164.
    pub(crate) did: String,
    /// The trunk the call came in on.
    pub(crate) trunk: String,
    /// Unix milliseconds.
    pub(crate) start_ms: i64,
    /// When the call was answered (Unix milliseconds), if it was.
    pub(crate) answer_ms: Option<i64>,
    /// Unix milliseconds.
    pub(crate) end_ms: i64,
    /// End minus start.
    pub(crate) duration_ms: i64,
    /// Time connected to an agent or a far end (end minus the agent's answer).
    pub(crate) billable_ms: i64,
    /// `answered` (an agent took it), `abandoned` (caller hung up in queue or ringing),
    /// `voicemail`, `ivr` (ended in the dialplan), `transferred`, `failed`, `rejected`.
    pub(crate) disposition: String,
    /// The (last) queue the call waited in.
    pub(crate) queue: Option<String>,
    /// The agent who took the call.
    pub(crate) agent: Option<String>,
    /// Time waited in queue.
    pub(crate) wait_ms: Option<i64>,
    /// `caller`, `agent` or `system`.
    pub(crate) hangup_by: String,
    /// e.g. `bye`, `cancel`, `inactivity`, `max-duration`, `session-expired`, `shutdown`,
    /// `dialplan:CAUSE`, `transfer-failed:STATUS` (the far end's final status).
    pub(crate) hangup_reason: String,
    /// The recording's file, if the call was recorded.
    pub(crate) recording: Option<String>,
    /// Variables the IVR collected (JSON object).
    pub(crate) variables: serde_json::Value,
}

/// One line of the queue event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueueLogRow {
    /// Unix milliseconds.
    pub(crate) time_ms: i64,
    /// The call (Switchyard's call id), if the event concerns one.
    pub(crate) call: Option<String>,
    /// The queue, if the event concerns one.
    pub(crate) queue: Option<String>,
    /// The agent, if the event concerns one.
    pub(crate) agent: Option<String>,
    /// `enter`, `offer`, `ring_no_answer`, `connect`, `complete`, `abandon`, ...
    pub(crate) event: String,
    /// The event's details (wait, position, ...).
    pub(crate) data: serde_json::Value,
}

/// A voicemail message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Voicemail {
    /// The message's id.
    pub(crate) id: String,
    /// The mailbox it was left in.
    pub(crate) mailbox: String,
    /// The caller's number.
    pub(crate) caller: String,
    /// The call (Switchyard's call id) that left it.
    pub(crate) call: String,
    /// Unix milliseconds.
    pub(crate) time_ms: i64,
    /// The message's length.
    pub(crate) duration_ms: i64,
    /// The WAV file.
    pub(crate) path: String,
}

/// What the writer thread stores.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    /// A call detail record (replaces an earlier one with the same id).
    Cdr(Box<Cdr>),
    /// A queue event.
    QueueLog(QueueLogRow),
    /// A voicemail message (replaces an earlier one with the same id).
    Voicemail(Voicemail),
    /// The registrar's bindings (replaces the previous snapshot).
    Registrations(serde_json::Value),
}

/// CDR query filters (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CdrQuery {
    /// Calls that started at or after this (Unix milliseconds).
    pub(crate) since_ms: Option<i64>,
    /// Calls that started before this (Unix milliseconds).
    pub(crate) until_ms: Option<i64>,
    /// Calls that waited in this queue.
    pub(crate) queue: Option<String>,
    /// Calls this agent took.
    pub(crate) agent: Option<String>,
    /// Calls from this number (exact).
    pub(crate) caller: Option<String>,
    /// Calls that ended this way (`answered`, `abandoned`, ...).
    pub(crate) disposition: Option<String>,
    /// At most this many rows ([`DEFAULT_LIMIT`] when absent or 0, at most [`MAX_LIMIT`]).
    pub(crate) limit: Option<u32>,
}

/// A queue's calls over a period, counted from the CDRs (for service level figures: e.g.
/// `answered_within / (answered + abandoned - abandoned_within)`, the usual definition that
/// does not hold quick hang-ups against the queue).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct QueueStats {
    /// Calls that waited in the queue (any disposition).
    pub(crate) calls: u64,
    /// Calls an agent answered.
    pub(crate) answered: u64,
    /// Of those, answered within the threshold.
    pub(crate) answered_within: u64,
    /// Calls whose caller hung up in queue or while an agent rang.
    pub(crate) abandoned: u64,
    /// Of those, abandoned within the threshold.
    pub(crate) abandoned_within: u64,
    /// Total wait of the answered calls (average speed of answer = this / `answered`).
    pub(crate) answered_wait_ms: i64,
}

/// The registrar's last saved snapshot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SavedRegistrations {
    /// The snapshot as it was written.
    pub(crate) snapshot: serde_json::Value,
    /// When the writer committed it (Unix milliseconds).
    pub(crate) saved_at_ms: i64,
}

impl SavedRegistrations {
    /// How long ago the snapshot was saved (zero if the clock went back).
    pub(crate) fn age(&self) -> Duration {
        Duration::from_millis(u64::try_from(now_ms() - self.saved_at_ms).unwrap_or(0))
    }
}

/// What [`Store::write`] hands the writer thread.
#[derive(Default)]
struct Pending {
    /// Records waiting to be committed, in the order written.
    records: Vec<Record>,
    /// Answered once everything written before them is committed.
    flushes: Vec<mpsc::Sender<()>>,
    /// Something waiting must be committed at once: a CDR, a voicemail message or a flush.
    urgent: bool,
    /// When the oldest waiting record was written.
    since: Option<Instant>,
    /// The writer looks again within [`GATHER`] by itself: a CDR need not wake it.
    gathering: bool,
    /// The store is closing: commit everything, then end.
    stop: bool,
    /// The writer thread has ended: records are logged instead of queued.
    ended: bool,
}

/// The writer's queue: a mutex-guarded list the writer takes whole, and a condition
/// variable `write` signals only for what must be committed at once. (A channel would wake
/// the writer for every queue event; see [`writer_loop`].)
#[derive(Default)]
struct Queue {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // The writer never panics while holding the lock; if it did, the list is still
        // whole.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The write side: owns the writer thread. `Store` is `Send + Sync`; dropping it does what
/// [`Store::close`] does.
pub(crate) struct Store {
    path: PathBuf,
    queue: Arc<Queue>,
    writer: Option<JoinHandle<()>>,
}

impl Store {
    /// Opens (creating if needed) `<dir>/switchyard.db`, applies the schema, starts the
    /// writer thread. Errors name the directory or file that could not be used.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the storage directory {}", dir.display()))?;
        let path = dir.join(DB_FILE);
        let conn = connect(&path)
            .and_then(|mut conn| {
                migrate(&mut conn)?;
                Ok(conn)
            })
            .with_context(|| format!("opening the database {}", path.display()))?;
        // Writes are few and small, so the writer's statements are cached and reused.
        conn.set_prepared_statement_cache_capacity(16);
        let queue = Arc::new(Queue::default());
        let writer = {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || writer_loop(conn, &queue))
                .context("starting the storage writer thread")?
        };
        Ok(Store {
            path,
            queue,
            writer: Some(writer),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a record for the writer; never blocks (it takes the queue's lock, which the
    /// writer holds only to swap the list). The writer commits a CDR or voicemail message
    /// within [`GATHER`]; a queue event or registrations snapshot with the
    /// next CDR, or within 100 ms. A record that cannot be stored is logged (at error level,
    /// with its content), never silently dropped.
    pub(crate) fn write(&self, record: Record) {
        let urgent = matches!(record, Record::Cdr(_) | Record::Voicemail(_));
        let mut pending = self.queue.lock();
        if pending.ended {
            drop(pending);
            tracing::error!(?record, "the storage writer has stopped; record not stored");
            return;
        }
        if pending.records.is_empty() {
            pending.since = Some(Instant::now());
        }
        pending.records.push(record);
        let wake = urgent && !pending.urgent && !pending.gathering;
        pending.urgent |= urgent;
        drop(pending);
        if wake {
            self.queue.wake.notify_one();
        }
    }

    /// Blocks until every record written so far has been committed (or failed and been
    /// logged), typically well under a millisecond; from async code, call it through
    /// `spawn_blocking`. Errors only if the writer thread has stopped.
    pub(crate) fn flush(&self) -> anyhow::Result<()> {
        let (done_tx, done_rx) = mpsc::channel();
        let mut pending = self.queue.lock();
        if pending.ended {
            anyhow::bail!("the storage writer has stopped");
        }
        pending.flushes.push(done_tx);
        pending.urgent = true;
        drop(pending);
        self.queue.wake.notify_one();
        done_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the storage writer stopped before flushing"))
    }

    /// A read handle with its own connection (for the API).
    pub(crate) fn reader(&self) -> anyhow::Result<Reader> {
        Reader::open(&self.path)
    }

    /// The last saved registrations, if any (as committed: call [`Store::flush`] first to
    /// see a snapshot written just before).
    pub(crate) fn load_registrations(&self) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(self.saved_registrations()?.map(|saved| saved.snapshot))
    }

    /// The last saved registrations with the time they were saved, if any.
    pub(crate) fn saved_registrations(&self) -> anyhow::Result<Option<SavedRegistrations>> {
        self.reader()?.load_registrations()
    }

    /// Writes everything queued, then stops the writer (at shutdown). Blocks until done.
    pub(crate) fn close(self) {
        drop(self);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        self.queue.lock().stop = true;
        self.queue.wake.notify_one();
        if writer.join().is_err() {
            tracing::error!("the storage writer thread panicked");
        }
    }
}

/// Opens a connection in WAL mode.
///
/// `synchronous=NORMAL` in WAL mode fsyncs only at checkpoints, not at each commit: a
/// committed transaction is in the WAL file (the operating system's page cache) at once,
/// so it survives the process crashing or being killed by SIGKILL; only a power loss or
/// kernel crash can roll back the last transactions (never corrupt the database).
fn connect(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        anyhow::bail!("the database cannot use write-ahead logging (journal mode {mode})");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Brings the schema up to date, one migration per transaction.
fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        anyhow::bail!(
            "the database has schema version {version}, newer than this switchyard's ({known})"
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("applying schema version {}", index + 1))?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The writer thread: takes everything waiting and commits it in one transaction, then
/// answers the flushes that were waiting behind it.
///
/// A CDR or voicemail message is committed at once when the writer was idle, and within
/// [`GATHER`] while it is busy (see there). A queue event or registrations snapshot neither wakes the writer nor
/// gets a commit of its own: it waits up to [`DEFER`] to share one. Every commit costs the
/// writer tens of microseconds of CPU whatever it holds, and every wake-up some more (see
/// docs/benchmarks.md), and a call writes several queue events before its CDR. A completed
/// call's queue events are committed with its CDR at the latest; after SIGKILL only the
/// last [`DEFER`] of events of calls still in progress can be missing. [`Store::flush`] and
/// [`Store::close`] commit everything.
fn writer_loop(mut conn: Connection, queue: &Queue) {
    // If this thread ends early (a panic), later records are logged and flushes fail
    // rather than wait for ever.
    struct Ended<'a>(&'a Queue);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            let mut pending = self.0.lock();
            pending.ended = true;
            pending.flushes.clear();
            for record in pending.records.drain(..) {
                tracing::error!(?record, "the storage writer has stopped; record not stored");
            }
        }
    }
    let _ended = Ended(queue);

    // While gathering: when the writer looks again by itself.
    let mut look_at: Option<Instant> = None;
    loop {
        let (records, flushes, stop) = {
            let mut pending = queue.lock();
            loop {
                let due = pending.since.map(|since| since + DEFER);
                let now = Instant::now();
                if pending.stop || !pending.flushes.is_empty() || due.is_some_and(|d| now >= d) {
                    break;
                }
                match look_at {
                    Some(t) if now >= t => {
                        if pending.urgent {
                            break;
                        }
                        // Quiet for GATHER: the next CDR wakes the writer again.
                        look_at = None;
                        pending.gathering = false;
                    }
                    Some(_) => {}
                    None if pending.urgent => break,
                    None => {}
                }
                // With nothing waiting, look again every DEFER: the first queue event does
                // not wake the writer.
                let until = [look_at, due].into_iter().flatten().min();
                let timeout = until.map_or(DEFER, |t| t - now);
                pending = queue
                    .wake
                    .wait_timeout(pending, timeout)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            if pending.urgent {
                // More CDRs are likely to follow: gather them rather than be woken for each.
                pending.gathering = true;
                look_at = Some(Instant::now() + GATHER);
            }
            pending.urgent = false;
            pending.since = None;
            (
                std::mem::take(&mut pending.records),
                std::mem::take(&mut pending.flushes),
                pending.stop,
            )
        };
        write_records(&mut conn, records);
        for done in flushes {
            let _ = done.send(());
        }
        if stop {
            return;
        }
    }
}

/// Commits `records` in transactions of at most [`MAX_BATCH`] (bounding the time one
/// commit takes when a backlog has built up).
fn write_records(conn: &mut Connection, mut records: Vec<Record>) {
    // Only the newest registrations snapshot matters.
    if let Some(last) = records
        .iter()
        .rposition(|r| matches!(r, Record::Registrations(_)))
    {
        let mut index = 0;
        records.retain(|r| {
            index += 1;
            !matches!(r, Record::Registrations(_)) || index - 1 == last
        });
    }
    while records.len() > MAX_BATCH {
        let rest = records.split_off(MAX_BATCH);
        write_batch(conn, &mut records);
        records = rest;
    }
    write_batch(conn, &mut records);
}

/// Commits `batch` in one transaction; if that fails, stores the records one by one so one
/// bad record does not lose the others, and logs each record that still fails. Empties
/// `batch`.
fn write_batch(conn: &mut Connection, batch: &mut Vec<Record>) {
    if batch.is_empty() {
        return;
    }
    let saved_at_ms = now_ms();
    let result = (|| {
        let tx = conn.transaction()?;
        for record in batch.iter() {
            insert(&tx, record, saved_at_ms)?;
        }
        tx.commit()
    })();
    match result {
        Ok(()) => batch.clear(),
        Err(err) if batch.len() == 1 => {
            let record = batch.pop();
            tracing::error!(?record, "could not store a record: {err}");
        }
        Err(err) => {
            tracing::warn!(
                "could not store {} records in one transaction ({err}); storing them one by one",
                batch.len()
            );
            for record in batch.drain(..) {
                if let Err(err) = insert(conn, &record, saved_at_ms) {
                    tracing::error!(?record, "could not store a record: {err}");
                }
            }
        }
    }
}

const INSERT_CDR: &str = "INSERT OR REPLACE INTO cdr (id, sip_call_id, caller, caller_name, \
    did, trunk, start_ms, answer_ms, end_ms, duration_ms, billable_ms, disposition, queue, \
    agent, wait_ms, hangup_by, hangup_reason, recording, variables) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";
const INSERT_QUEUE_LOG: &str = "INSERT INTO queue_log (time_ms, call, queue, agent, event, data) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const INSERT_VOICEMAIL: &str = "INSERT OR REPLACE INTO voicemail \
    (id, mailbox, caller, call, time_ms, duration_ms, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const SAVE_REGISTRATIONS: &str = "INSERT OR REPLACE INTO registrations \
    (id, snapshot, saved_at_ms) VALUES (1, ?1, ?2)";

/// Stores one record (in the caller's transaction, or on its own).
fn insert(conn: &Connection, record: &Record, saved_at_ms: i64) -> rusqlite::Result<()> {
    match record {
        Record::Cdr(c) => {
            conn.prepare_cached(INSERT_CDR)?.execute(params![
                c.id,
                c.sip_call_id,
                c.caller,
                c.caller_name,
                c.did,
                c.trunk,
                c.start_ms,
                c.answer_ms,
                c.end_ms,
                c.duration_ms,
                c.billable_ms,
                c.disposition,
                c.queue,
                c.agent,
                c.wait_ms,
                c.hangup_by,
                c.hangup_reason,
                c.recording,
                c.variables.to_string(),
            ])?;
        }
        Record::QueueLog(q) => {
            conn.prepare_cached(INSERT_QUEUE_LOG)?.execute(params![
                q.time_ms,
                q.call,
                q.queue,
                q.agent,
                q.event,
                q.data.to_string(),
            ])?;
        }
        Record::Voicemail(v) => {
            conn.prepare_cached(INSERT_VOICEMAIL)?.execute(params![
                v.id,
                v.mailbox,
                v.caller,
                v.call,
                v.time_ms,
                v.duration_ms,
                v.path,
            ])?;
        }
        Record::Registrations(snapshot) => {
            conn.prepare_cached(SAVE_REGISTRATIONS)?
                .execute(params![snapshot.to_string(), saved_at_ms])?;
        }
    }
    Ok(())
}

/// Now, in Unix milliseconds.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A JSON column: stored as text by [`insert`].
fn json(row: &Row<'_>, index: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
    })
}

const CDR_COLUMNS: &str = "id, sip_call_id, caller, caller_name, did, trunk, start_ms, \
    answer_ms, end_ms, duration_ms, billable_ms, disposition, queue, agent, wait_ms, hangup_by, \
    hangup_reason, recording, variables";

fn cdr_from_row(row: &Row<'_>) -> rusqlite::Result<Cdr> {
    Ok(Cdr {
        id: row.get(0)?,
        sip_call_id: row.get(1)?,
        caller: row.get(2)?,
        caller_name: row.get(3)?,
        did: row.get(4)?,
        trunk: row.get(5)?,
        start_ms: row.get(6)?,
        answer_ms: row.get(7)?,
        end_ms: row.get(8)?,
        duration_ms: row.get(9)?,
        billable_ms: row.get(10)?,
        disposition: row.get(11)?,
        queue: row.get(12)?,
        agent: row.get(13)?,
        wait_ms: row.get(14)?,
        hangup_by: row.get(15)?,
        hangup_reason: row.get(16)?,
        recording: row.get(17)?,
        variables: json(row, 18)?,
    })
}

const VOICEMAIL_COLUMNS: &str = "id, mailbox, caller, call, time_ms, duration_ms, path";

fn voicemail_from_row(row: &Row<'_>) -> rusqlite::Result<Voicemail> {
    Ok(Voicemail {
        id: row.get(0)?,
        mailbox: row.get(1)?,
        caller: row.get(2)?,
        call: row.get(3)?,
        time_ms: row.get(4)?,
        duration_ms: row.get(5)?,
        path: row.get(6)?,
    })
}

/// A read connection of its own (it never writes).
///
/// `Reader` is `Send + Sync`: the connection sits behind a mutex, so one `Reader` (in an
/// `Arc` or the API's shared state) serves every handler, one query at a time. Each query
/// is indexed and returns at most [`MAX_LIMIT`] rows, so holding the lock from an async
/// handler is short; for more parallel reads, take more readers from [`Store::reader`].
pub(crate) struct Reader {
    conn: Mutex<Connection>,
}

impl Reader {
    fn open(path: &Path) -> anyhow::Result<Reader> {
        let conn = (|| -> anyhow::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        })()
        .with_context(|| format!("opening the database {} for reading", path.display()))?;
        Ok(Reader {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// CDRs matching `query`, newest first (by start time).
    pub(crate) fn cdrs(&self, query: &CdrQuery) -> anyhow::Result<Vec<Cdr>> {
        let mut sql = format!("SELECT {CDR_COLUMNS} FROM cdr WHERE 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut filter = |clause: &str, value: rusqlite::types::Value| {
            sql.push_str(" AND ");
            sql.push_str(clause);
            args.push(value);
        };
        if let Some(since) = query.since_ms {
            filter("start_ms >= ?", since.into());
        }
        if let Some(until) = query.until_ms {
            filter("start_ms < ?", until.into());
        }
        for (column, value) in [
            ("queue", &query.queue),
            ("agent", &query.agent),
            ("caller", &query.caller),
            ("disposition", &query.disposition),
        ] {
            if let Some(value) = value {
                filter(&format!("{column} = ?"), value.clone().into());
            }
        }
        sql.push_str(" ORDER BY start_ms DESC, rowid DESC LIMIT ?");
        args.push(i64::from(clamp_limit(query.limit)).into());
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), cdr_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One CDR by call id.
    pub(crate) fn cdr(&self, id: &str) -> anyhow::Result<Option<Cdr>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {CDR_COLUMNS} FROM cdr WHERE id = ?"))?;
        Ok(stmt.query_row([id], cdr_from_row).optional()?)
    }

    /// Counts of the calls that waited in `queue` and started in `[since_ms, until_ms)`,
    /// with `threshold_ms` the service level's answer time.
    pub(crate) fn queue_stats(
        &self,
        queue: &str,
        since_ms: i64,
        until_ms: i64,
        threshold_ms: i64,
    ) -> anyhow::Result<QueueStats> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT count(*), \
                coalesce(sum(disposition = 'answered'), 0), \
                coalesce(sum(disposition = 'answered' AND coalesce(wait_ms, 0) <= ?4), 0), \
                coalesce(sum(disposition = 'abandoned'), 0), \
                coalesce(sum(disposition = 'abandoned' AND coalesce(wait_ms, 0) <= ?4), 0), \
                coalesce(sum(CASE WHEN disposition = 'answered' THEN wait_ms END), 0) \
             FROM cdr WHERE queue = ?1 AND start_ms >= ?2 AND start_ms < ?3",
        )?;
        Ok(
            stmt.query_row(params![queue, since_ms, until_ms, threshold_ms], |row| {
                Ok(QueueStats {
                    calls: row.get(0)?,
                    answered: row.get(1)?,
                    answered_within: row.get(2)?,
                    abandoned: row.get(3)?,
                    abandoned_within: row.get(4)?,
                    answered_wait_ms: row.get(5)?,
                })
            })?,
        )
    }

    /// The last `limit` queue events (of one call, if given), oldest first. `limit` is
    /// capped at [`MAX_LIMIT`]; 0 means [`DEFAULT_LIMIT`].
    pub(crate) fn queue_log(
        &self,
        call: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<Vec<QueueLogRow>> {
        let limit = i64::from(clamp_limit(Some(limit)));
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT time_ms, call, queue, agent, event, data FROM (\
                SELECT * FROM queue_log WHERE ?1 IS NULL OR call = ?1 ORDER BY id DESC LIMIT ?2\
             ) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![call, limit], |row| {
            Ok(QueueLogRow {
                time_ms: row.get(0)?,
                call: row.get(1)?,
                queue: row.get(2)?,
                agent: row.get(3)?,
                event: row.get(4)?,
                data: json(row, 5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Voicemail messages (of one mailbox, if given), newest first, at most [`MAX_LIMIT`].
    pub(crate) fn voicemails(&self, mailbox: Option<&str>) -> anyhow::Result<Vec<Voicemail>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {VOICEMAIL_COLUMNS} FROM voicemail WHERE ?1 IS NULL OR mailbox = ?1 \
             ORDER BY time_ms DESC, rowid DESC LIMIT {MAX_LIMIT}"
        ))?;
        let rows = stmt.query_map([mailbox], voicemail_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One voicemail message by id.
    pub(crate) fn voicemail(&self, id: &str) -> anyhow::Result<Option<Voicemail>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {VOICEMAIL_COLUMNS} FROM voicemail WHERE id = ?"
        ))?;
        Ok(stmt.query_row([id], voicemail_from_row).optional()?)
    }

    /// The registrar's last saved snapshot, if any.
    pub(crate) fn load_registrations(&self) -> anyhow::Result<Option<SavedRegistrations>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT snapshot, saved_at_ms FROM registrations WHERE id = 1")?;
        Ok(stmt
            .query_row([], |row| {
                Ok(SavedRegistrations {
                    snapshot: json(row, 0)?,
                    saved_at_ms: row.get(1)?,
                })
            })
            .optional()?)
    }
}

/// A query's row limit: [`DEFAULT_LIMIT`] when absent or 0, at most [`MAX_LIMIT`].
fn clamp_limit(limit: Option<u32>) -> u32 {
    limit
        .filter(|&limit| limit > 0)
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT)
}
