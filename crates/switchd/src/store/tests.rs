// Imports used only by `#[test]` functions go inside them: `benches/store_cdr.rs` compiles
// this module without the test harness when checked with `--all-targets`.
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::*;

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "switchyard-store-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cdr(id: &str, start_ms: i64) -> Cdr {
    Cdr {
        id: id.to_owned(),
        sip_call_id: format!("{id}@127.0.0.2"),
        caller: "+8613800138000".to_owned(),
        caller_name: "Wang Fang".to_owned(),
        did: "+861058000000".to_owned(),
        trunk: "carrier".to_owned(),
        start_ms,
        answer_ms: Some(start_ms + 12_000),
        end_ms: start_ms + 92_000,
        duration_ms: 92_000,
        billable_ms: 80_000,
        disposition: "answered".to_owned(),
        queue: Some("sales".to_owned()),
        agent: Some("1001".to_owned()),
        wait_ms: Some(9_500),
        hangup_by: "caller".to_owned(),
        hangup_reason: "bye".to_owned(),
        recording: Some(format!("recordings/{id}.wav")),
        variables: json!({ "language": "mandarin", "account": "20417", "menu": [1, 2] }),
    }
}

/// A CDR with every optional field empty.
fn bare_cdr(id: &str, start_ms: i64) -> Cdr {
    Cdr {
        answer_ms: None,
        billable_ms: 0,
        disposition: "ivr".to_owned(),
        queue: None,
        agent: None,
        wait_ms: None,
        hangup_by: "system".to_owned(),
        hangup_reason: "dialplan".to_owned(),
        recording: None,
        variables: json!({}),
        ..cdr(id, start_ms)
    }
}

fn queue_event(call: Option<&str>, time_ms: i64, event: &str) -> QueueLogRow {
    QueueLogRow {
        time_ms,
        call: call.map(str::to_owned),
        queue: Some("sales".to_owned()),
        agent: (event == "connect").then(|| "1002".to_owned()),
        event: event.to_owned(),
        data: json!({ "position": 1, "wait_ms": 1500 }),
    }
}

fn voicemail(id: &str, mailbox: &str, time_ms: i64) -> Voicemail {
    Voicemail {
        id: id.to_owned(),
        mailbox: mailbox.to_owned(),
        caller: "+8613800138000".to_owned(),
        call: format!("call-{id}"),
        time_ms,
        duration_ms: 14_250,
        path: format!("voicemail/{mailbox}/{id}.wav"),
    }
}

/// Counts the rows of `table` through a connection of its own.
fn count(dir: &Path, table: &str) -> i64 {
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}

#[test]
fn cdrs_round_trip() {
    let dir = TempDir::new("cdr");
    let store = Store::open(dir.path()).unwrap();
    let full = cdr("c1", 1_700_000_000_000);
    let bare = bare_cdr("c2", 1_700_000_001_000);
    store.write(Record::Cdr(Box::new(full.clone())));
    store.write(Record::Cdr(Box::new(bare.clone())));
    store.flush().unwrap();

    let reader = store.reader().unwrap();
    assert_eq!(reader.cdr("c1").unwrap(), Some(full.clone()));
    assert_eq!(reader.cdr("c2").unwrap(), Some(bare.clone()));
    assert_eq!(reader.cdr("c3").unwrap(), None);
    // Newest first.
    assert_eq!(reader.cdrs(&CdrQuery::default()).unwrap(), vec![bare, full]);
}

#[test]
fn a_cdr_written_again_replaces_the_first() {
    let dir = TempDir::new("cdr-again");
    let store = Store::open(dir.path()).unwrap();
    store.write(Record::Cdr(Box::new(cdr("c1", 1_000))));
    let mut second = cdr("c1", 1_000);
    second.disposition = "transferred".to_owned();
    store.write(Record::Cdr(Box::new(second.clone())));
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(reader.cdrs(&CdrQuery::default()).unwrap(), vec![second]);
}

#[test]
fn cdr_queries_filter_and_limit() {
    let dir = TempDir::new("cdr-query");
    let store = Store::open(dir.path()).unwrap();
    for i in 0..1_200_i64 {
        let mut c = cdr(&format!("c{i}"), 1_000_000 + i * 1_000);
        c.queue = Some(if i % 2 == 0 { "sales" } else { "support" }.to_owned());
        c.agent = Some(format!("100{}", i % 3));
        c.caller = format!("+86138{:08}", i % 5);
        c.disposition = if i % 4 == 3 { "abandoned" } else { "answered" }.to_owned();
        store.write(Record::Cdr(Box::new(c)));
    }
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    let ids = |query: CdrQuery| -> Vec<String> {
        reader
            .cdrs(&query)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect()
    };

    let all = ids(CdrQuery::default());
    assert_eq!(all.len(), DEFAULT_LIMIT as usize);
    assert_eq!(all[0], "c1199");
    assert_eq!(all[99], "c1100");
    let capped = ids(CdrQuery {
        limit: Some(5_000),
        ..CdrQuery::default()
    });
    assert_eq!(capped.len(), MAX_LIMIT as usize);

    let window = ids(CdrQuery {
        since_ms: Some(1_000_000 + 10 * 1_000),
        until_ms: Some(1_000_000 + 20 * 1_000),
        ..CdrQuery::default()
    });
    assert_eq!(
        window,
        (10..20).rev().map(|i| format!("c{i}")).collect::<Vec<_>>()
    );

    let sales_abandoned_by_1000 = ids(CdrQuery {
        queue: Some("sales".to_owned()),
        agent: Some("1000".to_owned()),
        disposition: Some("abandoned".to_owned()),
        since_ms: Some(1_000_000),
        until_ms: Some(1_000_000 + 100 * 1_000),
        ..CdrQuery::default()
    });
    // Even (sales), multiple of 3 (agent 1000), 3 mod 4 (abandoned): none can be both
    // even and 3 mod 4.
    assert!(sales_abandoned_by_1000.is_empty());

    let support_abandoned = ids(CdrQuery {
        queue: Some("support".to_owned()),
        disposition: Some("abandoned".to_owned()),
        caller: Some("+8613800000003".to_owned()),
        limit: Some(3),
        ..CdrQuery::default()
    });
    // i % 4 == 3 and i % 5 == 3: i = 3 mod 20.
    assert_eq!(support_abandoned, ["c1183", "c1163", "c1143"]);
}

#[test]
fn queue_stats_count_the_queues_calls() {
    let dir = TempDir::new("queue-stats");
    let store = Store::open(dir.path()).unwrap();
    // (queue, start, disposition, wait)
    let calls = [
        ("sales", 10_000, "answered", Some(5_000)),
        ("sales", 11_000, "answered", Some(20_000)),
        ("sales", 12_000, "answered", Some(25_000)),
        ("sales", 13_000, "abandoned", Some(3_000)),
        ("sales", 14_000, "abandoned", Some(40_000)),
        ("sales", 15_000, "voicemail", Some(60_000)),
        ("support", 16_000, "answered", Some(1_000)),
        ("sales", 9_999, "answered", Some(1_000)), // before the period
        ("sales", 20_000, "answered", Some(1_000)), // at its end
    ];
    for (i, (queue, start, disposition, wait)) in calls.into_iter().enumerate() {
        let mut c = cdr(&format!("c{i}"), start);
        c.queue = Some(queue.to_owned());
        c.disposition = disposition.to_owned();
        c.wait_ms = wait;
        store.write(Record::Cdr(Box::new(c)));
    }
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.queue_stats("sales", 10_000, 20_000, 20_000).unwrap(),
        QueueStats {
            calls: 6,
            answered: 3,
            answered_within: 2,
            abandoned: 2,
            abandoned_within: 1,
            answered_wait_ms: 50_000,
        }
    );
    assert_eq!(
        reader.queue_stats("billing", 0, i64::MAX, 20_000).unwrap(),
        QueueStats::default()
    );
}

#[test]
fn queue_log_round_trips_oldest_first() {
    let dir = TempDir::new("queue-log");
    let store = Store::open(dir.path()).unwrap();
    let rows = [
        queue_event(Some("a"), 1_000, "enter"),
        queue_event(Some("b"), 1_100, "enter"),
        queue_event(Some("a"), 1_200, "offer"),
        queue_event(None, 1_250, "agent_paused"),
        queue_event(Some("a"), 1_300, "connect"),
    ];
    for row in &rows {
        store.write(Record::QueueLog(row.clone()));
    }
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(reader.queue_log(None, 0).unwrap(), rows);
    assert_eq!(
        reader.queue_log(Some("a"), 100).unwrap(),
        [rows[0].clone(), rows[2].clone(), rows[4].clone()]
    );
    // The latest two.
    assert_eq!(
        reader.queue_log(None, 2).unwrap(),
        [rows[3].clone(), rows[4].clone()]
    );
    assert!(reader.queue_log(Some("c"), 100).unwrap().is_empty());
}

#[test]
fn voicemails_round_trip() {
    let dir = TempDir::new("voicemail");
    let store = Store::open(dir.path()).unwrap();
    let first = voicemail("v1", "general", 5_000);
    let second = voicemail("v2", "sales", 6_000);
    let third = voicemail("v3", "general", 7_000);
    for v in [&first, &second, &third] {
        store.write(Record::Voicemail(v.clone()));
    }
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.voicemails(None).unwrap(),
        [third.clone(), second.clone(), first.clone()]
    );
    assert_eq!(reader.voicemails(Some("general")).unwrap(), [third, first]);
    assert_eq!(reader.voicemail("v2").unwrap(), Some(second));
    assert_eq!(reader.voicemail("v9").unwrap(), None);
    assert!(reader.voicemails(Some("billing")).unwrap().is_empty());
}

#[test]
fn the_latest_registrations_snapshot_is_kept() {
    let dir = TempDir::new("registrations");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.load_registrations().unwrap(), None);
    let before = now_ms();
    let first = json!({ "bindings": [{ "aor": "sip:1001@127.0.0.1" }] });
    let second = json!({ "bindings": [{ "aor": "sip:1002@127.0.0.1" }] });
    store.write(Record::Registrations(first.clone()));
    store.flush().unwrap();
    assert_eq!(store.load_registrations().unwrap(), Some(first));
    store.write(Record::Registrations(second.clone()));
    store.flush().unwrap();
    let saved = store.saved_registrations().unwrap().unwrap();
    assert_eq!(saved.snapshot, second);
    assert!(saved.saved_at_ms >= before && saved.saved_at_ms <= now_ms());
    let older = SavedRegistrations {
        saved_at_ms: now_ms() - 90_000,
        ..saved
    };
    assert!(older.age() >= Duration::from_secs(90));
    let future = SavedRegistrations {
        saved_at_ms: now_ms() + 90_000,
        ..older
    };
    assert_eq!(future.age(), Duration::ZERO);
    assert_eq!(count(dir.path(), "registrations"), 1);
}

#[test]
fn many_records_in_one_batch() {
    let dir = TempDir::new("batch");
    let store = Store::open(dir.path()).unwrap();
    // Queued faster than the writer commits, so most go in large batches.
    for i in 0..(MAX_BATCH as i64 + 2_500) {
        store.write(Record::Cdr(Box::new(cdr(&format!("c{i}"), i))));
        store.write(Record::QueueLog(queue_event(Some("x"), i, "enter")));
        if i % 1_000 == 0 {
            store.write(Record::Registrations(json!({ "i": i })));
        }
    }
    store.write(Record::Voicemail(voicemail("v1", "general", 1)));
    store.flush().unwrap();
    let expected = MAX_BATCH as i64 + 2_500;
    assert_eq!(count(dir.path(), "cdr"), expected);
    assert_eq!(count(dir.path(), "queue_log"), expected);
    assert_eq!(count(dir.path(), "voicemail"), 1);
    assert_eq!(
        store.load_registrations().unwrap(),
        Some(json!({ "i": 12_000 }))
    );
}

#[test]
fn a_record_that_fails_does_not_lose_the_others() {
    let dir = TempDir::new("failure");
    let store = Store::open(dir.path()).unwrap();
    // Make the database refuse one CDR.
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON cdr WHEN NEW.id = 'bad' \
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .unwrap();
    drop(conn);
    for id in ["good1", "bad", "good2"] {
        store.write(Record::Cdr(Box::new(cdr(id, 1))));
    }
    store.write(Record::QueueLog(queue_event(Some("good1"), 1, "enter")));
    store.flush().unwrap();
    let reader = store.reader().unwrap();
    assert!(reader.cdr("good1").unwrap().is_some());
    assert!(reader.cdr("good2").unwrap().is_some());
    assert!(reader.cdr("bad").unwrap().is_none());
    assert_eq!(reader.queue_log(Some("good1"), 10).unwrap().len(), 1);
}

/// Waits (up to 10 s) until `done` holds.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let give_up = Instant::now() + Duration::from_secs(10);
    while Instant::now() < give_up {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn a_cdr_is_committed_with_the_queue_events_before_it() {
    let dir = TempDir::new("cdr-commits-events");
    let store = Store::open(dir.path()).unwrap();
    let reader = store.reader().unwrap();
    for i in 0..50 {
        let call = format!("c{i}");
        store.write(Record::QueueLog(queue_event(Some(&call), i, "enter")));
        store.write(Record::QueueLog(queue_event(Some(&call), i, "connect")));
        store.write(Record::Cdr(Box::new(cdr(&call, i))));
    }
    // No flush: the CDR alone makes the writer commit, and the events go in its commit.
    assert!(eventually(|| reader.cdr("c49").unwrap().is_some()));
    for i in 0..50 {
        assert_eq!(
            reader.queue_log(Some(&format!("c{i}")), 10).unwrap().len(),
            2
        );
    }
}

#[test]
fn queue_events_alone_are_committed_without_a_flush() {
    let dir = TempDir::new("events-alone");
    let store = Store::open(dir.path()).unwrap();
    let reader = store.reader().unwrap();
    store.write(Record::QueueLog(queue_event(Some("a"), 1, "enter")));
    store.write(Record::Registrations(json!({ "bindings": [] })));
    assert!(eventually(|| reader
        .queue_log(Some("a"), 10)
        .unwrap()
        .len()
        == 1));
    assert!(eventually(|| reader
        .load_registrations()
        .unwrap()
        .is_some()));
}

#[test]
fn reopening_after_close_keeps_everything() {
    let dir = TempDir::new("reopen");
    let store = Store::open(dir.path()).unwrap();
    for i in 0..500 {
        store.write(Record::Cdr(Box::new(cdr(&format!("c{i}"), i))));
        store.write(Record::QueueLog(queue_event(
            Some(&format!("c{i}")),
            i,
            "enter",
        )));
    }
    store.write(Record::Voicemail(voicemail("v1", "general", 1)));
    store.write(Record::Registrations(json!({ "bindings": [] })));
    // No flush: close commits what is queued.
    store.close();

    let store = Store::open(dir.path()).unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(count(dir.path(), "cdr"), 500);
    assert_eq!(reader.cdr("c499").unwrap(), Some(cdr("c499", 499)));
    assert_eq!(reader.queue_log(None, 1000).unwrap().len(), 500);
    assert_eq!(
        reader.voicemail("v1").unwrap(),
        Some(voicemail("v1", "general", 1))
    );
    assert_eq!(
        store.load_registrations().unwrap(),
        Some(json!({ "bindings": [] }))
    );
    // And the reopened store writes on.
    store.write(Record::Cdr(Box::new(cdr("c500", 500))));
    store.flush().unwrap();
    assert_eq!(count(dir.path(), "cdr"), 501);
}

#[test]
fn the_database_is_in_wal_mode_with_the_schema_version() {
    let dir = TempDir::new("pragmas");
    drop(Store::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
}

#[test]
fn a_directory_that_is_a_file_is_an_error_naming_it() {
    let dir = TempDir::new("not-a-dir");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = format!(
        "{:#}",
        Store::open(&file).err().expect("a file is no directory")
    );
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn a_corrupt_database_is_an_error_naming_it() {
    let dir = TempDir::new("corrupt");
    std::fs::create_dir_all(dir.path()).unwrap();
    let db = dir.path().join(DB_FILE);
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let err = format!(
        "{:#}",
        Store::open(dir.path())
            .err()
            .expect("garbage is no database")
    );
    assert!(err.contains(&db.display().to_string()), "{err}");
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = TempDir::new("newer");
    drop(Store::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = format!("{:#}", Store::open(dir.path()).err().expect("newer schema"));
    assert!(err.contains("schema version 99"), "{err}");
}

/// Set (to a storage directory) in the child process of `flushed_cdrs_survive_sigkill`.
const CHILD_DIR: &str = "SWITCHYARD_STORE_SIGKILL_CHILD_DIR";
/// The child prints this once its CDRs are flushed.
const FLUSHED: &str = "store-child-flushed";
const CHILD_CDRS: usize = 300;

#[test]
fn flushed_cdrs_survive_sigkill() {
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::{Command, Stdio};

    let dir = TempDir::new("sigkill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::sigkill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let flushed = stdout
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(FLUSHED));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(flushed, "the child ended before flushing: {status}");
    assert_eq!(status.signal(), Some(9), "{status}");

    let store = Store::open(dir.path()).unwrap();
    let reader = store.reader().unwrap();
    for i in 0..CHILD_CDRS {
        let id = format!("c{i}");
        assert_eq!(reader.cdr(&id).unwrap(), Some(cdr(&id, i as i64)), "{id}");
    }
}

/// The child of `flushed_cdrs_survive_sigkill` (does nothing in an ordinary run): writes
/// CDRs, flushes, says so, and keeps writing until it is killed.
#[test]
fn sigkill_child() {
    use std::io::Write as _;

    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let store = Store::open(Path::new(&dir)).unwrap();
    for i in 0..CHILD_CDRS {
        store.write(Record::Cdr(Box::new(cdr(&format!("c{i}"), i as i64))));
    }
    store.flush().unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "\n{FLUSHED}").unwrap();
    out.flush().unwrap();
    for i in CHILD_CDRS.. {
        store.write(Record::Cdr(Box::new(cdr(&format!("c{i}"), i as i64))));
        std::thread::sleep(Duration::from_millis(1));
    }
}
