//! Statistics on a scripted morning: intervals, both service levels, short abandons,
//! ASA, AHT, occupancy and live agent counts.

mod common;

use common::{H, secs};
use switchyard_acd::{AcdConfig, Event, Party};

#[test]
fn a_scripted_morning_adds_up() {
    let mut h = H::with(AcdConfig {
        short_abandon: secs(5),
        ..AcdConfig::default()
    });
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.sl_threshold = secs(20);
    qc.wrap_up = secs(30);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    // Interval 0 (0–900 s).
    // Call 1: answered after 10 s (in SL), talks 100 s.
    h.ev(Event::AgentPause(a, "setup".into()));
    let c1 = h.call(1, q);
    h.advance(secs(10));
    h.ev(Event::AgentUnpause(a));
    h.ev(Event::AgentAnswered(c1, a));
    // Call 2: waits while a talks; abandons after 3 s (short: left out of SL).
    h.call(2, q);
    h.advance(secs(3));
    h.ev(Event::CallerHungUp(switchyard_acd::CallId(2)));
    // Call 3: abandons after 15 s (counts against SL, abandoned within threshold).
    h.call(3, q);
    h.advance(secs(15));
    h.ev(Event::CallerHungUp(switchyard_acd::CallId(3)));
    // Call 4 arrives at 28 s, answered after a's call (ends 110 s) and wrap-up (140 s):
    // waits 112 s (out of SL).
    h.call(4, q);
    h.advance(secs(82));
    h.ev(Event::CallEnded(c1, Party::Caller));
    h.advance(secs(30));
    h.ev(Event::AgentAnswered(switchyard_acd::CallId(4), a));
    let live = h.acd.queue_live(q, h.now).unwrap();
    assert_eq!(
        (live.agents.on_call, live.agents.available, live.connected),
        (1, 0, 1)
    );
    // Into interval 1: call 4 ends at 1000 s.
    h.advance(secs(1000 - 140));
    h.ev(Event::CallEnded(switchyard_acd::CallId(4), Party::Agent));
    h.advance(secs(100));
    h.acd.sync_stats(h.now);

    let stats = h.acd.queue_stats(q).unwrap();
    let t = stats.total();
    assert_eq!((t.offered, t.answered, t.answered_in_sl), (4, 2, 1));
    assert_eq!(
        (t.abandoned, t.short_abandoned, t.abandoned_in_sl),
        (1, 1, 1)
    );
    // SL with abandons: 1 / (2 + 1); answered only: 1 / 2.
    assert!((t.service_level().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(t.service_level_answered(), Some(0.5));
    assert_eq!(t.asa(), Some(secs(61)), "(10 + 112) / 2");
    // AHT: talk (100 + 860) / 2 + wrap-up 30 each.
    assert_eq!(t.aht(), Some(secs(480 + 30)));
    assert_eq!(t.longest_wait, secs(112));
    let per: Vec<_> = stats
        .intervals()
        .map(|(start, s)| (start.as_secs(), s.offered, s.answered, s.completed))
        .collect();
    assert_eq!(per, vec![(0, 4, 2, 1), (900, 0, 0, 1)]);
    // Staffed 10 s paused (not staffed) then 1090 s: occupancy (960 talk + 60 wrap) / 1090.
    let occ = t.occupancy().unwrap();
    assert!((occ - 1020.0 / 1090.0).abs() < 1e-6, "{occ}");

    let ag = h.acd.agent_stats(a).unwrap().total().clone();
    assert_eq!(ag.on_call, secs(960));
    assert_eq!(ag.wrap_up, secs(60));
    assert_eq!(ag.paused, secs(10));
    assert_eq!(ag.answered, 2);
    assert!((ag.occupancy().unwrap() - 1020.0 / 1090.0).abs() < 1e-6);
}
