//! Jitter buffer over a seeded network emulator, and its edge cases.

use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchyard_media::jitter::{ConcealReason, JitterBuffer, JitterConfig, Playout, PushOutcome};

const FRAME: Duration = Duration::from_millis(20);

struct Arrival {
    at: Duration,
    seq: u16,
    ts: u32,
    sent: Duration,
}

/// A netem-like link: each packet is lost with `loss`, else delayed by `delay` ± `jitter`
/// (uniform, as `tc qdisc ... netem delay 40ms 10ms` does); arrivals may reorder.
fn emulate(frames: u32, loss: f64, delay_ms: f64, jitter_ms: f64, seed: u64) -> Vec<Arrival> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let seq0: u16 = rng.random();
    let ts0: u32 = rng.random();
    let mut out = Vec::new();
    for i in 0..frames {
        if rng.random::<f64>() < loss {
            continue;
        }
        let sent = FRAME * i;
        let d = delay_ms + rng.random_range(-jitter_ms..=jitter_ms);
        out.push(Arrival {
            at: sent + Duration::from_secs_f64(d / 1000.0),
            seq: seq0.wrapping_add(i as u16),
            ts: ts0.wrapping_add(160 * i),
            sent,
        });
    }
    out.sort_by_key(|a| a.at);
    out
}

struct RunResult {
    arrived: usize,
    played: usize,
    max_hold: Duration,
    mean_hold: Duration,
    in_order: bool,
}

/// Drive the buffer: arrivals at their instants, pops every `tick` from `phase`.
fn run(arrivals: &[Arrival], tick: Duration, phase: Duration) -> RunResult {
    let t0 = Instant::now();
    let mut jb: JitterBuffer<(Duration, u32)> = JitterBuffer::new(JitterConfig::default());
    let end = arrivals.last().unwrap().at + Duration::from_millis(500);
    let mut next_pop = phase;
    let mut i = 0;
    let (mut played, mut max_hold, mut total_hold) = (0usize, Duration::ZERO, Duration::ZERO);
    let mut last_sent: Option<Duration> = None;
    let mut in_order = true;
    while next_pop < end {
        while i < arrivals.len() && arrivals[i].at <= next_pop {
            let a = &arrivals[i];
            jb.push(t0 + a.at, 0xCAFE, a.seq, a.ts, (a.at, 0));
            let _ = a.sent;
            i += 1;
        }
        if let Playout::Frame {
            payload: (arrived, _),
            timestamp,
            ..
        } = jb.pop(t0 + next_pop)
        {
            played += 1;
            let hold = next_pop - arrived;
            max_hold = max_hold.max(hold);
            total_hold += hold;
            let sent = arrivals.iter().find(|a| a.ts == timestamp).unwrap().sent;
            if last_sent.is_some_and(|l| sent <= l) {
                in_order = false;
            }
            last_sent = Some(sent);
        }
        next_pop += tick;
    }
    RunResult {
        arrived: arrivals.len(),
        played,
        max_hold,
        mean_hold: total_hold / played.max(1) as u32,
        in_order,
    }
}

#[test]
fn forty_plus_minus_ten_ms_jitter_and_five_percent_loss() {
    for seed in 1..=20 {
        let arrivals = emulate(3000, 0.05, 40.0, 10.0, seed);
        let r = run(&arrivals, FRAME, Duration::from_micros(7_300 + 900 * seed));
        eprintln!(
            "seed {seed}: played {}/{} ({:.2}%), added delay max {:?} mean {:?}",
            r.played,
            r.arrived,
            100.0 * r.played as f64 / r.arrived as f64,
            r.max_hold,
            r.mean_hold
        );
        let ratio = r.played as f64 / r.arrived as f64;
        assert!(
            ratio >= 0.99,
            "seed {seed}: played {} of {} arrived",
            r.played,
            r.arrived
        );
        assert!(
            r.max_hold < Duration::from_millis(60),
            "seed {seed}: max added delay {:?}",
            r.max_hold
        );
        assert!(r.in_order, "seed {seed}: frames played out of order");
        assert!(
            r.mean_hold < Duration::from_millis(40),
            "seed {seed}: mean {:?}",
            r.mean_hold
        );
    }
}

#[test]
fn reordering_link_plays_in_order() {
    // netem-style reordering: 40 ± 25 ms delay reorders neighbouring 20 ms packets.
    let arrivals = emulate(3000, 0.02, 60.0, 25.0, 77);
    assert!(
        arrivals
            .windows(2)
            .any(|w| (w[1].seq.wrapping_sub(w[0].seq) as i16) < 0)
    );
    let r = run(&arrivals, FRAME, Duration::from_millis(11));
    assert!(r.in_order);
    let ratio = r.played as f64 / r.arrived as f64;
    assert!(ratio >= 0.98, "{} of {}", r.played, r.arrived);
    assert!(r.max_hold < Duration::from_millis(90), "{:?}", r.max_hold);
}

#[test]
fn playout_clock_drift_is_absorbed() {
    // The receiver's clock runs 0.1% fast or slow against the sender's.
    for tick_us in [19_980u64, 20_020] {
        let arrivals = emulate(3000, 0.0, 40.0, 5.0, 9);
        let r = run(
            &arrivals,
            Duration::from_micros(tick_us),
            Duration::from_millis(3),
        );
        let ratio = r.played as f64 / r.arrived as f64;
        assert!(
            ratio >= 0.99,
            "tick {tick_us}: {} of {}",
            r.played,
            r.arrived
        );
        assert!(
            r.max_hold < Duration::from_millis(80),
            "tick {tick_us}: {:?}",
            r.max_hold
        );
    }
}

// --- edge cases, one packet at a time ---

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

fn frames(out: &[Playout<u16>]) -> Vec<String> {
    out.iter()
        .map(|p| match p {
            Playout::Frame { payload, .. } => payload.to_string(),
            Playout::Conceal { reason, .. } => format!("{reason:?}"),
            Playout::Idle => "idle".into(),
        })
        .collect()
}

/// Push (arrival ms, seq) packets with ts = seq*160, popping every 20 ms up to `until`.
fn drive(
    pkts: &[(u64, u16)],
    until: u64,
    ssrc_of: impl Fn(u16) -> u32,
) -> (Vec<Playout<u16>>, JitterBuffer<u16>) {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut out = Vec::new();
    let mut t = 0;
    let mut i = 0;
    while t <= until {
        while i < pkts.len() && pkts[i].0 <= t {
            let (at, seq) = pkts[i];
            jb.push(ms(t0, at), ssrc_of(seq), seq, u32::from(seq) * 160, seq);
            i += 1;
        }
        out.push(jb.pop(ms(t0, t)));
        t += 20;
    }
    (out, jb)
}

fn played(out: &[Playout<u16>]) -> Vec<String> {
    frames(out).into_iter().filter(|s| s != "idle").collect()
}

#[test]
fn reordered_packets_play_in_order() {
    let (out, _) = drive(&[(0, 1), (25, 3), (30, 2), (60, 4)], 200, |_| 1);
    assert_eq!(played(&out)[..4], ["1", "2", "3", "4"]);
}

#[test]
fn a_missing_packet_becomes_one_concealed_slot() {
    let (out, _) = drive(&[(0, 1), (20, 2), (60, 4), (80, 5)], 200, |_| 1);
    assert_eq!(played(&out)[..5], ["1", "2", "Lost", "4", "5"]);
}

#[test]
fn duplicates_are_dropped_before_and_after_playout() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    assert_eq!(jb.push(t0, 7, 10, 1600, 10u16), PushOutcome::Queued);
    assert_eq!(jb.push(t0, 7, 10, 1600, 10u16), PushOutcome::Duplicate);
    jb.push(ms(t0, 20), 7, 11, 1760, 11);
    assert!(matches!(
        jb.pop(ms(t0, 40)),
        Playout::Frame { payload: 10, .. }
    ));
    assert!(matches!(
        jb.pop(ms(t0, 60)),
        Playout::Frame { payload: 11, .. }
    ));
    assert_eq!(jb.push(ms(t0, 61), 7, 10, 1600, 10), PushOutcome::Duplicate);
    assert_eq!(jb.push(ms(t0, 62), 7, 11, 1760, 11), PushOutcome::Duplicate);
    assert_eq!(jb.stats().duplicates, 3);
    assert_eq!(jb.stats().played, 2);
}

#[test]
fn a_late_packet_is_dropped_and_the_delay_grows() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    jb.push(t0, 1, 1, 160, 1u16);
    assert!(matches!(
        jb.pop(ms(t0, 40)),
        Playout::Frame { payload: 1, .. }
    ));
    // Seq 2 misses its slot at 60 ms.
    assert!(matches!(
        jb.pop(ms(t0, 60)),
        Playout::Conceal {
            reason: ConcealReason::Underrun,
            ..
        }
    ));
    assert_eq!(jb.push(ms(t0, 75), 1, 2, 320, 2), PushOutcome::Late);
    jb.push(ms(t0, 76), 1, 3, 480, 3);
    // The next pop stretches (one inserted period) instead of playing 3 early.
    assert!(matches!(
        jb.pop(ms(t0, 80)),
        Playout::Conceal {
            reason: ConcealReason::Stretch,
            ..
        }
    ));
    assert!(matches!(
        jb.pop(ms(t0, 100)),
        Playout::Frame { payload: 3, .. }
    ));
    assert_eq!(jb.stats().late, 1);
    assert_eq!(jb.stats().stretched, 1);
}

#[test]
fn timestamp_wraps_without_a_glitch() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let base = u32::MAX - 319;
    for i in 0..6u32 {
        jb.push(
            ms(t0, 20 * u64::from(i)),
            5,
            i as u16,
            base.wrapping_add(160 * i),
            i as u16,
        );
    }
    let mut got = Vec::new();
    for k in 2..8 {
        if let Playout::Frame { payload, .. } = jb.pop(ms(t0, 20 * k)) {
            got.push(payload);
        }
    }
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn timestamp_jump_resets_and_plays_the_new_stream() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    jb.push(t0, 5, 100, 16_000, 1u16);
    assert!(matches!(
        jb.pop(ms(t0, 40)),
        Playout::Frame { payload: 1, .. }
    ));
    // Consecutive sequence number, timestamp 10 minutes on: the sender's clock restarted.
    assert_eq!(
        jb.push(ms(t0, 45), 5, 101, 16_000 + 8000 * 600, 2),
        PushOutcome::Reset
    );
    assert!(matches!(jb.pop(ms(t0, 60)), Playout::Idle));
    assert!(matches!(
        jb.pop(ms(t0, 100)),
        Playout::Frame { payload: 2, .. }
    ));
    assert_eq!(jb.stats().resets, 1);
}

#[test]
fn ssrc_change_resets() {
    let pkts: Vec<(u64, u16)> = (1..=8).map(|i| (20 * u64::from(i), i)).collect();
    let (out, jb) = drive(&pkts, 400, |seq| if seq < 6 { 1 } else { 2 });
    assert_eq!(jb.stats().resets, 1);
    let p = played(&out);
    // The old stream plays up to the change; the new one starts over after priming.
    assert_eq!(p[..3], ["1", "2", "3"]);
    assert!(!p.contains(&"5".to_string()));
    assert!(
        p.contains(&"6".to_string()) && p.contains(&"8".to_string()),
        "{p:?}"
    );
}

#[test]
fn stream_stop_goes_idle_and_restart_reprimes() {
    let mut pkts: Vec<(u64, u16)> = (0..5).map(|i| (20 * i, i as u16)).collect();
    // Hold for 2 s, then the stream resumes where the clock says.
    pkts.extend((105..110).map(|i| (20 * i, i as u16)));
    let (out, jb) = drive(&pkts, 2400, |_| 1);
    let f = frames(&out);
    let idle_in_middle = f[10..100].iter().filter(|s| *s == "idle").count();
    assert!(idle_in_middle > 50, "{f:?}");
    let p = played(&out);
    let played_frames: Vec<_> = p.iter().filter(|s| s.parse::<u16>().is_ok()).collect();
    assert_eq!(played_frames.len(), 10, "{p:?}");
    assert_eq!(jb.stats().resets, 0);
}

#[test]
fn overflow_drops_the_oldest() {
    let t0 = Instant::now();
    let cfg = JitterConfig {
        capacity: 4,
        ..JitterConfig::default()
    };
    let mut jb = JitterBuffer::new(cfg);
    for i in 0..4u16 {
        assert_eq!(
            jb.push(t0, 1, i, u32::from(i) * 160, i),
            PushOutcome::Queued
        );
    }
    assert_eq!(jb.push(t0, 1, 4, 640, 4), PushOutcome::Overflow);
    assert_eq!(jb.len(), 4);
    assert!(matches!(
        jb.pop(ms(t0, 40)),
        Playout::Frame { payload: 1, .. }
    ));
}
