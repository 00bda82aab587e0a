//! Dialplan interpreter: steps per second, parse + check of a 5,000-line dialplan, and
//! memory per live call.
//!
//! `cargo bench -p switchyard-benches --bench ivr_interpreter`
//!
//! Memory is counted by a global allocator that tallies live heap bytes; the figure is
//! printed before criterion runs. There is no comparison system here: Asterisk and
//! FreeSWITCH run dialplans inside their channel threads and expose no per-call figure
//! to set beside this one.
// A counting global allocator needs `unsafe impl GlobalAlloc`; this bench is the only
// place it is used.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{Criterion, Throughput};
use switchyard_ivr::{Action, CallInfo, Dialplan, Env, Event, Interpreter, compile};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments
// unchanged, so its guarantees carry over; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as given to us; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout (through `alloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` and `layout` come from this allocator; the caller upholds
        // `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn demo() -> Arc<Dialplan> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dialplans/default.dialplan");
    let source = std::fs::read_to_string(path).expect("the demo dialplan ships with the repo");
    Arc::new(compile(path, &source, &Env::bare()).expect("the demo dialplan is valid"))
}

fn now() -> jiff::Timestamp {
    "2026-11-23T02:00:00Z".parse().expect("valid time")
}

fn caller() -> CallInfo {
    CallInfo {
        to: "+861058000000".into(),
        from: "+8613800138000".into(),
        caller_name: "Li Lei".into(),
        trunk: "carrier".into(),
    }
}

/// Answers every playback at once; returns when the interpreter listens for keys.
fn settle(it: &mut Interpreter) {
    loop {
        let mut id = None;
        while let Some(a) = it.poll_action() {
            if let Action::Play { id: p, .. } = a {
                id = Some(p);
            }
        }
        match id {
            Some(id) => it.handle_event(now(), Event::PlaybackDone { id }),
            None => return,
        }
    }
}

/// A call parked at the main menu: language chosen, greeting played, listening.
fn parked(plan: &Arc<Dialplan>) -> Interpreter {
    let mut it =
        Interpreter::new(plan.clone(), &caller(), now()).expect("the demo routes the call");
    settle(&mut it);
    it.handle_event(now(), Event::Dtmf('2'));
    settle(&mut it);
    it
}

fn memory_report() {
    let plan = demo();
    const N: usize = 10_000;
    let mut calls = Vec::with_capacity(N);
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..N {
        calls.push(parked(&plan));
    }
    let after = LIVE.load(Ordering::Relaxed);
    let heap = (after - before) as f64 / N as f64;
    println!(
        "ivr memory per live call parked at the main menu: {:.0} bytes \
         (size_of::<Interpreter>() = {} inline + {:.0} heap), {N} calls",
        std::mem::size_of::<Interpreter>() as f64 + heap,
        std::mem::size_of::<Interpreter>(),
        heap
    );
    black_box(calls);
}

/// A generated dialplan of about `lines` lines: steps with menus, conditions, lookups
/// and queues, each step leading to the next.
fn generated(lines: usize) -> String {
    let mut s = String::from(
        "languages en, zh\nlanguage skills en = english, zh = mandarin\ntimezone Asia/Shanghai\n\
         hours business:\n  mon-fri 09:00-18:00\n\nentry main:\n  to \"+8610*\"\n  start s0\n\n",
    );
    let per_step = 20;
    let steps = lines / per_step;
    for i in 0..steps {
        let next = if i + 1 < steps {
            format!("s{}", i + 1)
        } else {
            "s0".into()
        };
        s.push_str(&format!(
            "step s{i}:\n  play welcome, p{i}\n  set v{i} = length(caller) * 2 + {i}\n  \
             if open(business) and v{i} > 3:\n    say number v{i}\n  else:\n    play closed\n  \
             menu:\n    greeting m{i}\n    short greeting m{i}_short\n    invalid invalid\n    \
             timeout 5s\n    tries 3\n    1: goto {next}\n    2:\n      queue q{} skills sk{}>=3, language>=2 priority v{i} max wait 5m\n      \
             goto {next}\n    3: call s0\n    after tries: hangup\n  goto {next}\n\n",
            i % 20,
            i % 50,
        ));
    }
    s
}

fn benches(c: &mut Criterion) {
    // Steps per second: a loop that never waits, 3 instructions per turn.
    let spin = Arc::new(
        compile(
            "spin",
            "budget 1000000\nentry main:\n  to any\n  start spin\nstep spin:\n  set n = n + 1\n  \
             if n < 100000:\n    goto spin\n  hangup\n",
            &Env::bare(),
        )
        .expect("valid"),
    );
    let mut g = c.benchmark_group("ivr_interpreter");
    g.throughput(Throughput::Elements(300_000));
    g.bench_function("steps_set_if_goto", |b| {
        b.iter(|| {
            let mut it = Interpreter::new(spin.clone(), &caller(), now()).expect("routes");
            black_box(it.poll_action())
        })
    });

    // A whole call through the demo: language, menu, lookup, queue.
    let plan = demo();
    g.throughput(Throughput::Elements(1));
    g.bench_function("demo_call_to_sales_queue", |b| {
        b.iter(|| {
            let mut it = parked(&plan);
            it.handle_event(now(), Event::Dtmf('1'));
            while it.poll_action().is_some() {}
            it.handle_event(
                now(),
                Event::LookupResult(Ok(
                    r#"{"name":"Li Lei","account":"A-1","tier":"gold"}"#.into()
                )),
            );
            let mut queued = false;
            while let Some(a) = it.poll_action() {
                if let Action::Play { id, .. } = a {
                    it.handle_event(now(), Event::PlaybackDone { id });
                }
                queued |= matches!(a, Action::Queue { .. });
            }
            assert!(queued);
            black_box(it)
        })
    });

    // Parse and check a 5,000-line dialplan.
    let big = generated(5_000);
    let lines = big.lines().count();
    g.throughput(Throughput::Elements(lines as u64));
    g.sample_size(20);
    g.bench_function(format!("parse_check_{lines}_lines"), |b| {
        b.iter(|| {
            compile("big.dialplan", black_box(&big), &Env::bare())
                .expect("the generated dialplan is valid")
        })
    });
    g.finish();
}

fn main() {
    memory_report();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
