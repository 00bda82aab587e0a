//! A contact-centre day through the ACD: 2,000 agents, 100 skills, 200 queues, and enough
//! callers that about 10,000 wait at once. Reports routing inputs per second and the
//! latency of each input (an event or a deadline, with the actions it produces drained),
//! overall and while 9,000–11,000 callers wait.
//!
//! Not compared against another ACD: none embeddable exists in Rust, and Asterisk's
//! app_queue cannot be driven without its PBX. The target is p99 < 20 µs.
//!
//! `cargo bench -p switchyard-benches --bench acd_day` (ACD_BENCH_CALLS=500000 for the
//! full day; the default of 200,000 calls keeps a run near a minute).

use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchyard_acd::sim::{Arrivals, Sim, SimInput, SimParams};
use switchyard_acd::{
    Acd, AcdConfig, AgentConfig, EscalationStep, OverflowTarget, QueueConfig, QueueId, SkillId,
    SkillReq, Strategy,
};

const AGENTS: usize = 2_000;
const SKILLS: usize = 100;
const QUEUES: usize = 200;

const STRATEGIES: [Strategy; 8] = [
    Strategy::LongestIdle,
    Strategy::LongestIdle,
    Strategy::RoundRobin,
    Strategy::FewestCalls,
    Strategy::LeastTalkTime,
    Strategy::Random,
    Strategy::Linear,
    Strategy::BestSkill,
];

fn build(calls: u64) -> Sim {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut acd = Acd::new(AcdConfig {
        seed: 1,
        ..AcdConfig::default()
    });
    // 98 topics and two languages.
    let skills: Vec<SkillId> = (0..SKILLS)
        .map(|i| acd.skill(&format!("skill{i}")))
        .collect();
    let (en, zh) = (skills[98], skills[99]);
    let mut agent_skills = Vec::new();
    for i in 0..AGENTS {
        let mut set: Vec<(SkillId, u8)> = (0..rng.random_range(5..=10))
            .map(|_| (skills[rng.random_range(0..98)], rng.random_range(1..=10)))
            .collect();
        if rng.random_bool(0.8) {
            set.push((en, 10));
        }
        if rng.random_bool(0.3) {
            set.push((zh, 10));
        }
        set.sort_by_key(|s| s.0);
        set.dedup_by_key(|s| s.0);
        acd.add_agent(AgentConfig::new(format!("agent{i}"), set.clone()))
            .unwrap();
        agent_skills.push(set);
    }
    let mut weights = Vec::new();
    for i in 0..QUEUES {
        let reqs: Vec<SkillReq> = (0..rng.random_range(1..=2))
            .map(|_| SkillReq::new(skills[rng.random_range(0..98)], rng.random_range(1..=5)))
            .collect();
        let eligible = agent_skills
            .iter()
            .filter(|a| {
                reqs.iter()
                    .all(|r| a.iter().any(|(s, l)| *s == r.skill && *l >= r.min_level))
            })
            .count();
        let mut q = QueueConfig::new(format!("queue{i}"), reqs);
        q.strategy = STRATEGIES[i % STRATEGIES.len()];
        q.wrap_up = Duration::from_secs(10);
        q.ring_timeout = Duration::from_secs(15);
        q.announce_interval = Some(Duration::from_secs(60));
        q.callback_threshold = Some(Duration::from_secs(900));
        q.max_wait = Some(Duration::from_secs(2700));
        q.overflow.on_max_wait = OverflowTarget::Voicemail(format!("{i}"));
        q.escalation = vec![EscalationStep {
            after: Duration::from_secs(120),
            lower_min_level: 2,
            ..Default::default()
        }];
        acd.add_queue(q).unwrap();
        weights.push(eligible.max(1) as f64);
    }
    // Offered load a quarter above what the agents can handle, with patient callers (mean
    // two hours) and a 45-minute maximum wait: the waiting line settles near 10,000.
    let capacity = AGENTS as f64 / (300.0 + 10.0 + 2.0);
    let total_rate = 1.25 * capacity;
    let total_weight: f64 = weights.iter().sum();
    let mut p = SimParams::new(7, calls);
    for (i, w) in weights.iter().enumerate() {
        let mut a = Arrivals::new(QueueId(i as u32), total_rate * w / total_weight);
        a.priorities = vec![(0, 9), (1, 1)];
        a.languages = vec![en, en, en, en, zh];
        a.callers = 50_000;
        p.arrivals.push(a);
    }
    p.mean_handle = Duration::from_secs(300);
    p.answer_delay = Duration::from_secs(2);
    p.no_answer = 0.02;
    p.busy = 0.005;
    p.patience = Some(Duration::from_secs(7200));
    Sim::new(acd, p)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("acd_day: bench");
        return;
    }
    let calls: u64 = std::env::var("ACD_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let setup = Instant::now();
    let mut sim = build(calls);
    println!(
        "acd_day: {AGENTS} agents, {SKILLS} skills, {QUEUES} queues, {calls} calls (setup {:.2?})",
        setup.elapsed()
    );
    let mut all: Vec<u32> = Vec::with_capacity(16_000_000);
    let mut loaded: Vec<u32> = Vec::new();
    let mut decisions: Vec<u32> = Vec::new();
    let mut busy_time = Duration::ZERO;
    let mut max_waiting = 0;
    let wall = Instant::now();
    while let Some(input) = sim.next_input() {
        let internal = matches!(input, SimInput::Internal(_));
        let offers_before = sim.report().offers;
        let t0 = Instant::now();
        sim.apply(input);
        let dt = t0.elapsed();
        if internal {
            continue;
        }
        busy_time += dt;
        let ns = dt.as_nanos().min(u128::from(u32::MAX)) as u32;
        all.push(ns);
        if sim.report().offers > offers_before {
            decisions.push(ns);
        }
        let waiting = sim.acd().waiting_count();
        max_waiting = max_waiting.max(waiting);
        if (9_000..=11_000).contains(&waiting) {
            loaded.push(ns);
        }
    }
    let wall = wall.elapsed();
    let report = sim.report().clone();
    all.sort_unstable();
    loaded.sort_unstable();
    decisions.sort_unstable();
    println!(
        "simulated {:.1} h in {:.1?}: {} inputs, {} offers, {} answered, {} abandoned, {} overflowed; peak waiting {}",
        sim.now().as_secs_f64() / 3600.0,
        wall,
        report.inputs,
        report.offers,
        report.answered,
        report.abandoned,
        report.overflowed,
        max_waiting
    );
    println!(
        "throughput: {:.0} inputs/s of ACD time ({:.0} offers/s)",
        all.len() as f64 / busy_time.as_secs_f64(),
        report.offers as f64 / busy_time.as_secs_f64()
    );
    for (name, s) in [
        ("all inputs", &all),
        ("9k-11k waiting", &loaded),
        ("inputs that made an offer", &decisions),
    ] {
        println!(
            "latency, {name} ({} samples): p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs",
            s.len(),
            percentile(s, 0.50),
            percentile(s, 0.99),
            percentile(s, 0.999),
            percentile(s, 1.0)
        );
    }
}
