//! The estimated wait announced on entry, checked against the waits callers then had, and
//! against Asterisk's estimate (a queue-wide running average of hold times, the same for
//! every position).

use std::collections::HashMap;
use std::time::Duration;

use switchyard_acd::sim::{Arrivals, Sim, SimParams};
use switchyard_acd::{Acd, AcdConfig, Action, AgentConfig, QueueConfig, SkillReq};

#[test]
fn per_position_estimate_beats_a_queue_wide_average() {
    let mut acd = Acd::new(AcdConfig {
        default_aht: Duration::from_secs(180),
        ..AcdConfig::default()
    });
    let s = acd.skill("s");
    let mut qc = QueueConfig::new("q", vec![SkillReq::new(s, 1)]);
    qc.wrap_up = Duration::ZERO;
    qc.announce_interval = Some(Duration::from_secs(24 * 3600)); // on entry only
    let q = acd.add_queue(qc).unwrap();
    for i in 0..10 {
        acd.add_agent(AgentConfig::new(format!("a{i}"), vec![(s, 1)]))
            .unwrap();
    }
    let mut p = SimParams::new(11, 20_000);
    p.arrivals.push(Arrivals::new(q, 0.93 * 10.0 / 180.0));
    p.mean_handle = Duration::from_secs(180);
    p.keep_actions = true;
    let mut sim = Sim::new(acd, p);

    // Asterisk's holdtime: (3 × old + new) / 4 over answered callers' waits.
    let mut asterisk = 0.0f64;
    let mut announced: HashMap<_, (f64, f64, u32)> = HashMap::new();
    let (mut ours_err, mut asterisk_err, mut n) = (0.0, 0.0, 0u32);
    let mut by_position: HashMap<u32, (f64, f64, f64, u32)> = HashMap::new();
    while sim.step() {
        for a in sim.last_actions() {
            match a {
                Action::Announce {
                    call,
                    position,
                    estimated_wait: Some(e),
                } => {
                    announced
                        .entry(*call)
                        .or_insert((e.as_secs_f64(), asterisk, *position));
                }
                Action::Connected { call, waited, .. } => {
                    let w = waited.as_secs_f64();
                    if let Some((ours, theirs, pos)) = announced.remove(call) {
                        ours_err += (ours - w).abs();
                        asterisk_err += (theirs - w).abs();
                        n += 1;
                        let e = by_position.entry(pos.min(6)).or_default();
                        e.0 += ours;
                        e.1 += theirs;
                        e.2 += w;
                        e.3 += 1;
                    }
                    asterisk = (3.0 * asterisk + w) / 4.0;
                }
                _ => {}
            }
        }
    }
    assert!(n > 2_000, "enough callers waited: {n}");
    let (ours, theirs) = (ours_err / f64::from(n), asterisk_err / f64::from(n));
    println!(
        "mean absolute error over {n} callers: per-position {ours:.1} s, queue-wide average {theirs:.1} s"
    );
    let mut positions: Vec<_> = by_position.into_iter().collect();
    positions.sort_by_key(|p| p.0);
    for (pos, (est, theirs, actual, k)) in &positions {
        let k = f64::from(*k);
        println!(
            "position {pos}{}: estimated {:.0} s (queue-wide {:.0} s), waited {:.0} s",
            if *pos == 6 { "+" } else { "" },
            est / k,
            theirs / k,
            actual / k
        );
        // Unbiased per position: the mean estimate is within 15 % of the mean wait.
        assert!(
            (est - actual).abs() < 0.15 * actual,
            "position {pos}: {est} vs {actual}"
        );
    }
    assert!(
        ours < 0.9 * theirs,
        "per-position {ours:.1} s vs queue-wide {theirs:.1} s"
    );
}
