//! CDR storage throughput: CDRs written per second through the daemon's `Store::write`
//! (a channel to the writer thread, which commits everything waiting in one SQLite WAL
//! transaction) and `Store::flush` (returns once they are committed), in batches of 1, 10
//! and 100 CDRs per flush; and whole calls (a CDR and four queue-log rows each), ten per
//! flush. A batch of 1 is the latency from `write` to durable. Then the daemon's case, paced:
//! 1,000 calls/s for 10 s (`STORE_PACED_SECONDS`), a CDR per call, then again with four
//! queue events per call spread between the CDRs; each CDR is waited for; it prints the
//! latency percentiles and the writer thread's CPU per call. SQLite in WAL mode with
//! `synchronous=NORMAL` (as the daemon runs it) is the only system measured.
//!
//! The storage module is compiled in from the daemon's source (`#[path]`), so this measures
//! the real writer, schema and statements. The database lives in the target directory's
//! temporary folder (the same disk as a daemon's data, not tmpfs).
//!
//! `cargo bench -p switchyard-benches --bench store_cdr`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};

#[path = "../crates/switchd/src/store.rs"]
mod store;

use store::{Cdr, QueueLogRow, Record, Store};

fn cdr(n: u64) -> Cdr {
    let start_ms = 1_763_800_000_000 + n as i64 * 37;
    Cdr {
        id: format!("c{n:012}"),
        sip_call_id: format!("{n:016x}-caller@127.0.0.2"),
        caller: format!("+86138{:08}", n % 100_000_000),
        caller_name: "Wang Fang".to_owned(),
        did: "+861058000000".to_owned(),
        trunk: "carrier".to_owned(),
        start_ms,
        answer_ms: Some(start_ms + 21_000),
        end_ms: start_ms + 201_000,
        duration_ms: 201_000,
        billable_ms: 180_000,
        disposition: "answered".to_owned(),
        queue: Some(["sales", "support", "billing"][(n % 3) as usize].to_owned()),
        agent: Some(format!("{}", 1001 + n % 50)),
        wait_ms: Some(14_500),
        hangup_by: "caller".to_owned(),
        hangup_reason: "bye".to_owned(),
        recording: Some(format!("recordings/c{n:012}.wav")),
        variables: serde_json::json!({ "language": "mandarin", "menu": "1", "account": "20417" }),
    }
}

fn queue_events(n: u64) -> [QueueLogRow; 4] {
    let call = Some(format!("c{n:012}"));
    let queue = Some("sales".to_owned());
    let agent = Some(format!("{}", 1001 + n % 50));
    let row = |event: &str, agent: Option<String>, data| QueueLogRow {
        time_ms: 1_763_800_000_000 + n as i64 * 37,
        call: call.clone(),
        queue: queue.clone(),
        agent,
        event: event.to_owned(),
        data,
    };
    [
        row("enter", None, serde_json::json!({ "position": 3 })),
        row("offer", agent.clone(), serde_json::json!({ "ring_ms": 0 })),
        row(
            "connect",
            agent.clone(),
            serde_json::json!({ "wait_ms": 14_500 }),
        ),
        row("complete", agent, serde_json::json!({ "talk_ms": 180_000 })),
    ]
}

/// A fresh storage directory under the target directory (removed when dropped).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("store_cdr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_cdr");
    for batch in [1_u64, 10, 100] {
        let dir = Dir::new(&format!("batch{batch}"));
        let store = Store::open(&dir.0).expect("storage opens");
        let mut next = 0_u64;
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("write+flush/{batch}"), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    store.write(Record::Cdr(Box::new(cdr(next))));
                    next += 1;
                }
                store.flush().expect("writer runs");
            });
        });
        black_box(store.path());
        store.close();
    }

    // A call's records: its CDR and its queue events.
    let dir = Dir::new("calls");
    let store = Store::open(&dir.0).expect("storage opens");
    let mut next = 0_u64;
    group.throughput(Throughput::Elements(10));
    group.bench_function("calls (cdr + 4 queue events)/10", |b| {
        b.iter(|| {
            for _ in 0..10 {
                for row in queue_events(next) {
                    store.write(Record::QueueLog(row));
                }
                store.write(Record::Cdr(Box::new(cdr(next))));
                next += 1;
            }
            store.flush().expect("writer runs");
        });
    });
    store.close();
    group.finish();
}

/// CPU the thread named `name` of this process has used (Linux schedstat, nanoseconds).
fn thread_cpu(name: &str) -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let task = task.ok()?.path();
        let comm = std::fs::read_to_string(task.join("comm")).ok()?;
        if comm.trim_end() == name {
            let stat = std::fs::read_to_string(task.join("schedstat")).ok()?;
            let ns = stat.split_whitespace().next()?.parse().ok()?;
            return Some(Duration::from_nanos(ns));
        }
    }
    None
}

/// The daemon's case: `rate` calls a second for `seconds`, each writing its CDR (and, with
/// `events`, four queue events first, spread evenly between the CDRs as a call's events are
/// spread over its life). Each CDR is waited for (`write` + `flush`). Prints the latency from
/// `write` to committed and the writer thread's CPU per call.
fn paced(rate: u64, seconds: u64, events: bool) {
    let dir = Dir::new("paced");
    let store = Store::open(&dir.0).expect("storage opens");
    let calls = rate * seconds;
    let per_call: u64 = if events { 5 } else { 1 };
    let mut latencies = Vec::with_capacity(calls as usize);
    let cpu0 = thread_cpu("store-writer").unwrap_or_default();
    let start = Instant::now();
    for n in 0..calls * per_call {
        let due = start + Duration::from_nanos(n * 1_000_000_000 / (rate * per_call));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let call = n / per_call;
        let step = (n % per_call) as usize;
        if step + 1 < per_call as usize {
            let row = queue_events(call)[step].clone();
            store.write(Record::QueueLog(row));
            continue;
        }
        let t0 = Instant::now();
        store.write(Record::Cdr(Box::new(cdr(call))));
        store.flush().expect("writer runs");
        latencies.push(t0.elapsed());
    }
    let wall = start.elapsed();
    let cpu = thread_cpu("store-writer").unwrap_or_default() - cpu0;
    store.close();
    latencies.sort_unstable();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "store_cdr paced, {}: {calls} calls at {rate}/s took {wall:.2?}; CDR write to \
         committed p50 {:.0?} p99 {:.0?} p99.9 {:.0?} max {:.0?}; writer thread CPU {:.1} us \
         per call ({:.1} % of a core)",
        if events {
            "CDR + 4 queue events per call"
        } else {
            "CDRs only"
        },
        at(0.5),
        at(0.99),
        at(0.999),
        latencies[latencies.len() - 1],
        cpu.as_secs_f64() * 1e6 / calls as f64,
        cpu.as_secs_f64() * 100.0 / wall.as_secs_f64(),
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only when benchmarking (`cargo bench` passes --bench), not in `cargo test`'s quick run.
    if std::env::args().any(|a| a == "--bench") {
        let seconds = std::env::var("STORE_PACED_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10);
        paced(1_000, seconds, false);
        paced(1_000, seconds, true);
    }
}
