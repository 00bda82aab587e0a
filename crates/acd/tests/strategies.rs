//! Each strategy picks the agent it promises.

mod common;

use common::{H, secs};
use switchyard_acd::{AcdConfig, AgentId, CallId, Event, Party, QueueId, SkillReq, Strategy};

/// Three agents logged in at 0 s, 10 s, 20 s, with skill levels 3, 9, 6 and weights 1, 0, 3;
/// the queue uses `strategy` with agent order [c, a, b].
fn setup(strategy: Strategy) -> (H, QueueId, [AgentId; 3]) {
    let mut h = H::with(AcdConfig {
        seed: 7,
        ..AcdConfig::default()
    });
    let s = h.skill("s");
    let mut agents = [AgentId(0); 3];
    for (i, (name, level, weight)) in [("a", 3, 1), ("b", 9, 0), ("c", 6, 3)]
        .into_iter()
        .enumerate()
    {
        let mut cfg = switchyard_acd::AgentConfig::new(name, vec![(s, level)]);
        cfg.weight = weight;
        agents[i] = h.acd.add_agent(cfg).unwrap();
        h.ev(Event::AgentLogin(agents[i]));
        h.advance(secs(10));
    }
    let mut qc = h.simple_queue("q", s);
    qc.skills = vec![SkillReq::new(s, 1)];
    qc.strategy = strategy;
    qc.agent_order = vec![agents[2], agents[0], agents[1]];
    let q = h.queue(qc);
    (h, q, agents)
}

/// Serves `n` calls one at a time (each answered and ended at once); returns who took each.
fn serve(h: &mut H, q: QueueId, n: u64, talk: u64) -> Vec<AgentId> {
    let mut who = Vec::new();
    for i in 0..n {
        h.take();
        let c = h.call(1000 + i, q);
        let (call, a) = h.last_offer();
        assert_eq!(call, c);
        h.ev(Event::AgentAnswered(c, a));
        h.advance(secs(talk));
        h.ev(Event::CallEnded(c, Party::Caller));
        h.advance(secs(1));
        who.push(a);
    }
    who
}

#[test]
fn longest_idle() {
    let (mut h, q, [a, b, c]) = setup(Strategy::LongestIdle);
    assert_eq!(serve(&mut h, q, 4, 5), vec![a, b, c, a]);
}

#[test]
fn linear_is_top_down_by_configured_order() {
    let (mut h, q, [_, _, c]) = setup(Strategy::Linear);
    assert_eq!(serve(&mut h, q, 3, 5), vec![c, c, c]);
}

#[test]
fn round_robin_remembers_where_it_stopped() {
    let (mut h, q, [a, b, c]) = setup(Strategy::RoundRobin);
    assert_eq!(serve(&mut h, q, 4, 5), vec![c, a, b, c]);
}

#[test]
fn fewest_calls_and_least_talk_time() {
    let (mut h, q, [a, b, c]) = setup(Strategy::FewestCalls);
    assert_eq!(serve(&mut h, q, 3, 5), vec![a, b, c]);
    let (mut h, q, [a, b, c]) = setup(Strategy::LeastTalkTime);
    // a talks 50 s, then b 5 s, then c 5 s; then b (5 s, idle longer than c) again.
    let mut who = serve(&mut h, q, 1, 50);
    who.extend(serve(&mut h, q, 3, 5));
    assert_eq!(who, vec![a, b, c, b]);
}

#[test]
fn best_skill_level_first() {
    let (mut h, q, [_, b, _]) = setup(Strategy::BestSkill);
    assert_eq!(serve(&mut h, q, 2, 5), vec![b, b]);
}

#[test]
fn random_is_seeded_and_weighted_random_respects_weights() {
    let (mut h1, q1, _) = setup(Strategy::Random);
    let (mut h2, q2, _) = setup(Strategy::Random);
    let r1 = serve(&mut h1, q1, 30, 1);
    assert_eq!(r1, serve(&mut h2, q2, 30, 1), "same seed, same picks");
    let distinct: std::collections::BTreeSet<_> = r1.iter().collect();
    assert_eq!(distinct.len(), 3, "all agents get picked: {r1:?}");

    let (mut h, q, [a, b, c]) = setup(Strategy::WeightedRandom);
    let picks = serve(&mut h, q, 200, 1);
    assert!(!picks.contains(&b), "weight 0 is never picked");
    let na = picks.iter().filter(|x| **x == a).count();
    let nc = picks.iter().filter(|x| **x == c).count();
    // Weights 1 : 3 → about 50 : 150.
    assert!((25..=80).contains(&na) && na + nc == 200, "{na} vs {nc}");
}

#[test]
fn ring_all_rings_every_available_qualified_agent() {
    let (mut h, q, agents) = setup(Strategy::RingAll);
    h.take();
    h.call(1, q);
    let mut rung = h.offers()[0].1.clone();
    rung.sort();
    assert_eq!(rung, agents.to_vec());
    assert_eq!(h.offers()[0].0, CallId(1));
}
