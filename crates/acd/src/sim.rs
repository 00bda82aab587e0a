//! A seeded discrete-event simulator that drives an [`Acd`] with synthetic callers and
//! agents: Poisson arrivals per stream, exponential handle times and patience, answer
//! delays and unanswered offers, agents logging in and out and pausing.
//!
//! Used by the tests (invariants, the Erlang C check) and the benches (decision latency).
//!
//! ```
//! use std::time::Duration;
//! use switchyard_acd::sim::{Arrivals, Sim, SimParams};
//! use switchyard_acd::{Acd, AcdConfig, AgentConfig, QueueConfig, SkillReq};
//!
//! let mut acd = Acd::new(AcdConfig::default());
//! let sales = acd.skill("sales");
//! let q = acd.add_queue(QueueConfig::new("sales", vec![SkillReq::new(sales, 1)])).unwrap();
//! for i in 0..5 {
//!     acd.add_agent(AgentConfig::new(format!("a{i}"), vec![(sales, 5)])).unwrap();
//! }
//! let mut params = SimParams::new(1, 200);
//! params.arrivals.push(Arrivals::new(q, 1.0 / 60.0));
//! params.mean_handle = Duration::from_secs(180);
//! let mut sim = Sim::new(acd, params);
//! let report = sim.run();
//! assert_eq!(report.entered, 200);
//! assert_eq!(report.answered + report.abandoned + report.overflowed, 200);
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::OverflowTarget;
use crate::engine::Acd;
use crate::event::{Action, Enqueue, Event};
use crate::log::QueueLogEntry;
use crate::types::{AgentId, AgentState, CallId, Party, QueueId, SkillId, SkillReq, Time};

/// A stream of callers into one queue.
#[derive(Debug, Clone)]
pub struct Arrivals {
    /// The queue.
    pub queue: QueueId,
    /// Mean arrivals per second (Poisson).
    pub rate: f64,
    /// Priorities with weights (empty: all priority 0).
    pub priorities: Vec<(u8, u32)>,
    /// Extra skill requirements, one set drawn uniformly per call (empty: none).
    pub extra_skills: Vec<Vec<SkillReq>>,
    /// Languages, one drawn uniformly per call (empty: none).
    pub languages: Vec<SkillId>,
    /// Share of callers who give their number (for the sticky agent), out of a pool of
    /// `callers` numbers.
    pub callers: u32,
}

impl Arrivals {
    /// Poisson arrivals at `rate` per second into `queue`, priority 0, no extras.
    pub fn new(queue: QueueId, rate: f64) -> Self {
        Self {
            queue,
            rate,
            priorities: Vec::new(),
            extra_skills: Vec::new(),
            languages: Vec::new(),
            callers: 0,
        }
    }
}

/// What the simulation does.
#[derive(Debug, Clone)]
pub struct SimParams {
    /// Seed of the simulation's own randomness (the ACD has its own in its config).
    pub seed: u64,
    /// Calls to generate in all.
    pub calls: u64,
    /// Arrival streams.
    pub arrivals: Vec<Arrivals>,
    /// Mean talk time (exponential).
    pub mean_handle: Duration,
    /// Delay between an offer and the answer.
    pub answer_delay: Duration,
    /// Probability that an offered agent never answers (the ring times out).
    pub no_answer: f64,
    /// Probability that an offered agent's phone answers busy instead.
    pub busy: f64,
    /// Mean patience (exponential); `None`: callers never hang up while waiting.
    pub patience: Option<Duration>,
    /// Probability that a caller accepts a callback when offered.
    pub accept_callback: f64,
    /// Mean time between random agent events (login, logout, pause, unpause, device
    /// loss and return), across all agents; `None`: none.
    pub churn: Option<Duration>,
    /// Probability that a connected call ends by the agent transferring it.
    pub transfer: f64,
    /// Probability, at each announcement, that the caller presses the exit key.
    pub exit_key: f64,
    /// Probability that an agent ends wrap-up early (1 s in).
    pub early_ready: f64,
    /// Log every agent in at time zero.
    pub login_all: bool,
    /// Keep every action (for tests); otherwise only counts.
    pub keep_actions: bool,
    /// Calls whose waits are left out of [`SimReport::waits`] (warm-up).
    pub warm_up_calls: u64,
}

impl SimParams {
    /// `calls` calls, seed `seed`, all agents logged in, 3-minute calls answered at once.
    pub fn new(seed: u64, calls: u64) -> Self {
        Self {
            seed,
            calls,
            arrivals: Vec::new(),
            mean_handle: Duration::from_secs(180),
            answer_delay: Duration::ZERO,
            no_answer: 0.0,
            busy: 0.0,
            patience: None,
            accept_callback: 0.0,
            churn: None,
            transfer: 0.0,
            exit_key: 0.0,
            early_ready: 0.0,
            login_all: true,
            keep_actions: false,
            warm_up_calls: 0,
        }
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    /// Calls generated (first entries; an overflow into another queue is not a new call).
    pub entered: u64,
    /// Calls connected to an agent.
    pub answered: u64,
    /// Callers who hung up unanswered.
    pub abandoned: u64,
    /// Calls that left for a target outside the distributor.
    pub overflowed: u64,
    /// Inputs fed to the distributor (events and timeouts).
    pub inputs: u64,
    /// Offers made.
    pub offers: u64,
    /// Waits of answered calls after the warm-up, in generation order.
    pub waits: Vec<Duration>,
    /// Simulated time at the end.
    pub end: Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SimEvent {
    Arrival(usize),
    Answer(CallId, AgentId, u32),
    Busy(CallId, AgentId, u32),
    Patience(CallId),
    End(CallId),
    Key(CallId),
    Ready(AgentId),
    OfferEnded(CallId, AgentId, u32),
    Churn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallStatus {
    Queued,
    Connected,
}

/// One input the simulator is about to feed.
#[derive(Debug, Clone)]
pub enum SimInput {
    /// An event at a time.
    Event(Time, Event),
    /// A deadline of the distributor.
    Timeout(Time),
    /// A simulator-internal step (an arrival stream re-arming, a stale event).
    Internal(Time),
}

/// The simulator.
#[derive(Debug)]
pub struct Sim {
    acd: Acd,
    p: SimParams,
    rng: ChaCha8Rng,
    heap: BinaryHeap<Reverse<(Time, u64, SimEvent)>>,
    seq: u64,
    now: Time,
    generated: u64,
    status: HashMap<CallId, CallStatus>,
    offers: HashMap<CallId, u32>,
    gen_index: HashMap<CallId, u64>,
    report: SimReport,
    actions: Vec<Action>,
    log: Vec<QueueLogEntry>,
}

fn exp_sample(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -(1.0 - u).ln() * mean
}

impl Sim {
    /// A simulation over `acd` (queues and agents already added).
    pub fn new(mut acd: Acd, p: SimParams) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let mut heap = BinaryHeap::new();
        let mut seq = 0;
        if p.login_all {
            for a in 0..acd.agent_count() {
                let _ = acd.handle_event(Duration::ZERO, Event::AgentLogin(AgentId(a as u32)));
            }
        }
        for (i, s) in p.arrivals.iter().enumerate() {
            if s.rate > 0.0 {
                let t = Duration::from_secs_f64(exp_sample(&mut rng, 1.0 / s.rate));
                seq += 1;
                heap.push(Reverse((t, seq, SimEvent::Arrival(i))));
            }
        }
        if let Some(c) = p.churn {
            seq += 1;
            let t = Duration::from_secs_f64(exp_sample(&mut rng, c.as_secs_f64()));
            heap.push(Reverse((t, seq, SimEvent::Churn)));
        }
        let mut sim = Self {
            acd,
            p,
            rng,
            heap,
            seq,
            now: Duration::ZERO,
            generated: 0,
            status: HashMap::new(),
            offers: HashMap::new(),
            gen_index: HashMap::new(),
            report: SimReport::default(),
            actions: Vec::new(),
            log: Vec::new(),
        };
        sim.drain();
        sim
    }

    /// The distributor.
    pub fn acd(&self) -> &Acd {
        &self.acd
    }

    /// Simulated time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Actions produced by the last step (only with `keep_actions`).
    pub fn last_actions(&self) -> &[Action] {
        &self.actions
    }

    /// The queue event log so far (only with `keep_actions`).
    pub fn log(&self) -> &[QueueLogEntry] {
        &self.log
    }

    /// Totals so far.
    pub fn report(&self) -> &SimReport {
        &self.report
    }

    fn push(&mut self, at: Time, ev: SimEvent) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    /// The next input, or `None` when the run is over.
    pub fn next_input(&mut self) -> Option<SimInput> {
        let acd_t = self.acd.poll_timeout();
        let sim_t = self.heap.peek().map(|Reverse((t, _, _))| *t);
        match (sim_t, acd_t) {
            (None, None) => None,
            (None, Some(_)) if self.acd.call_count() == 0 && self.generated >= self.p.calls => {
                // Only stale or idle timers left (wrap-ups end without routing work).
                let t = acd_t.expect("matched");
                Some(SimInput::Timeout(t)).filter(|_| !self.acd_idle())
            }
            (Some(s), Some(a)) if a < s => Some(SimInput::Timeout(a)),
            (None, Some(a)) => Some(SimInput::Timeout(a)),
            (Some(_), _) => {
                let Reverse((t, _, ev)) = self.heap.pop().expect("peeked");
                Some(self.materialise(t, ev))
            }
        }
    }

    fn acd_idle(&self) -> bool {
        (0..self.acd.agent_count()).all(|a| {
            !matches!(
                self.acd.agent_state(AgentId(a as u32)),
                AgentState::WrapUp | AgentState::Reserved(_) | AgentState::OnCall(_)
            )
        })
    }

    fn materialise(&mut self, t: Time, ev: SimEvent) -> SimInput {
        match ev {
            SimEvent::Arrival(i) => {
                if self.generated >= self.p.calls {
                    return SimInput::Internal(t);
                }
                self.generated += 1;
                let s = self.p.arrivals[i].clone();
                let next = t + Duration::from_secs_f64(exp_sample(&mut self.rng, 1.0 / s.rate));
                if self.generated < self.p.calls {
                    self.push(next, SimEvent::Arrival(i));
                }
                let call = CallId(self.generated);
                let mut e = Enqueue::new(call, s.queue);
                if !s.priorities.is_empty() {
                    let total: u32 = s.priorities.iter().map(|p| p.1).sum();
                    let mut x = self.rng.random_range(0..total.max(1));
                    for (p, w) in &s.priorities {
                        if x < *w {
                            e.priority = *p;
                            break;
                        }
                        x -= w;
                    }
                }
                if !s.extra_skills.is_empty() {
                    let i = self.rng.random_range(0..s.extra_skills.len());
                    e.skills = s.extra_skills[i].clone();
                }
                if !s.languages.is_empty() {
                    let i = self.rng.random_range(0..s.languages.len());
                    e.language = Some(s.languages[i]);
                }
                if s.callers > 0 {
                    e.caller = Some(format!("+1555{:07}", self.rng.random_range(0..s.callers)));
                }
                self.status.insert(call, CallStatus::Queued);
                self.gen_index.insert(call, self.generated);
                self.report.entered += 1;
                if let Some(m) = self.p.patience {
                    let w = Duration::from_secs_f64(exp_sample(&mut self.rng, m.as_secs_f64()));
                    self.push(t + w, SimEvent::Patience(call));
                }
                SimInput::Event(t, Event::CallEnqueued(e))
            }
            SimEvent::Answer(c, a, n) | SimEvent::Busy(c, a, n) => {
                if self.offers.get(&c) != Some(&n) {
                    return SimInput::Internal(t);
                }
                if matches!(ev, SimEvent::Busy(..)) {
                    SimInput::Event(t, Event::AgentBusy(c, a))
                } else {
                    SimInput::Event(t, Event::AgentAnswered(c, a))
                }
            }
            SimEvent::Patience(c) => match self.status.get(&c) {
                Some(CallStatus::Queued) => SimInput::Event(t, Event::CallerHungUp(c)),
                _ => SimInput::Internal(t),
            },
            SimEvent::OfferEnded(c, a, n) => {
                if self.offers.get(&c) == Some(&n) {
                    SimInput::Event(t, Event::OfferEnded(c, a))
                } else {
                    SimInput::Internal(t)
                }
            }
            SimEvent::Key(c) => match self.status.get(&c) {
                Some(CallStatus::Queued) => SimInput::Event(t, Event::CallerLeftByKey(c, '0')),
                _ => SimInput::Internal(t),
            },
            SimEvent::Ready(a) => match self.acd.agent_state(a) {
                AgentState::WrapUp => SimInput::Event(t, Event::WrapUpDone(a)),
                _ => SimInput::Internal(t),
            },
            SimEvent::End(c) => {
                if self.p.transfer > 0.0 && self.rng.random_bool(self.p.transfer.min(1.0)) {
                    return SimInput::Event(t, Event::CallTransferred(c, "2000".into()));
                }
                let by = if self.rng.random_bool(0.5) {
                    Party::Caller
                } else {
                    Party::Agent
                };
                SimInput::Event(t, Event::CallEnded(c, by))
            }
            SimEvent::Churn => {
                if let Some(m) = self.p.churn {
                    let next =
                        t + Duration::from_secs_f64(exp_sample(&mut self.rng, m.as_secs_f64()));
                    // Churn goes on while calls remain, so that no caller waits for ever on
                    // agents who were paused and never came back.
                    if self.generated < self.p.calls || self.acd.call_count() > 0 {
                        self.push(next, SimEvent::Churn);
                    }
                }
                let n = self.acd.agent_count();
                if n == 0 {
                    return SimInput::Internal(t);
                }
                let agent = AgentId(self.rng.random_range(0..n) as u32);
                let roll: f64 = self.rng.random();
                let ev = match self.acd.agent_state(agent) {
                    AgentState::LoggedOut => Event::AgentLogin(agent),
                    AgentState::Paused(_) => Event::AgentUnpause(agent),
                    _ if !self.acd.agent_device_available(agent) => {
                        Event::AgentDeviceAvailable(agent)
                    }
                    _ if roll < 0.3 => Event::AgentPause(agent, "break".into()),
                    _ if roll < 0.5 => Event::AgentLogout(agent),
                    _ if roll < 0.6 => Event::AgentDeviceUnavailable(agent),
                    _ => Event::AgentUnpause(agent),
                };
                SimInput::Event(t, ev)
            }
        }
    }

    /// Feeds one input to the distributor and reacts to its actions.
    pub fn apply(&mut self, input: SimInput) {
        match input {
            SimInput::Event(t, ev) => {
                self.now = t;
                self.report.inputs += 1;
                // Rejected events (a stale answer, a pause of a logged-out agent) are part of
                // what the distributor must absorb; they change nothing.
                let _ = self.acd.handle_event(t, ev);
            }
            SimInput::Timeout(t) => {
                self.now = t;
                self.report.inputs += 1;
                self.acd.handle_timeout(t);
            }
            // Stale simulator events (a patience timer of a call already served) do not
            // move the clock, so that `now` ends at the last real input.
            SimInput::Internal(_) => {}
        }
        self.drain();
    }

    /// One input; `false` when the run is over.
    pub fn step(&mut self) -> bool {
        match self.next_input() {
            Some(i) => {
                self.apply(i);
                true
            }
            None => false,
        }
    }

    /// Runs to the end.
    pub fn run(&mut self) -> &SimReport {
        while self.step() {}
        self.report.end = self.now;
        &self.report
    }

    fn drain(&mut self) {
        self.actions.clear();
        let now = self.now;
        while let Some(a) = self.acd.poll_action() {
            match &a {
                Action::Offer { call, agents, .. } => {
                    self.report.offers += 1;
                    let n = self.offers.entry(*call).or_insert(0);
                    *n += 1;
                    let n = *n;
                    for agent in agents {
                        let roll: f64 = self.rng.random();
                        if roll < self.p.no_answer {
                            continue;
                        }
                        let ev = if roll < self.p.no_answer + self.p.busy {
                            SimEvent::Busy(*call, *agent, n)
                        } else {
                            SimEvent::Answer(*call, *agent, n)
                        };
                        self.push(now + self.p.answer_delay, ev);
                    }
                }
                Action::Connected { call, waited, .. } => {
                    self.report.answered += 1;
                    self.status.insert(*call, CallStatus::Connected);
                    self.offers.remove(call);
                    if self
                        .gen_index
                        .get(call)
                        .is_some_and(|g| *g > self.p.warm_up_calls)
                    {
                        self.report.waits.push(*waited);
                    }
                    let mean = self.p.mean_handle.as_secs_f64();
                    let d = Duration::from_secs_f64(exp_sample(&mut self.rng, mean));
                    self.push(now + d, SimEvent::End(*call));
                }
                Action::Overflow { call, target, .. } => {
                    if !matches!(target, OverflowTarget::Queue(_)) {
                        self.report.overflowed += 1;
                        self.status.remove(call);
                        self.offers.remove(call);
                    }
                }
                Action::OfferCallback { call, .. } => {
                    if self.rng.random_bool(self.p.accept_callback.clamp(0.0, 1.0)) {
                        // Queued immediately after this drain: keep it simple and apply now.
                        let _ = self.acd.handle_event(now, Event::CallbackAccepted(*call));
                    }
                }
                Action::Log(e) => {
                    if let crate::log::LogKind::Abandon { .. } = e.kind {
                        self.report.abandoned += 1;
                        if let Some(c) = e.call {
                            self.status.remove(&c);
                            self.offers.remove(&c);
                        }
                    }
                    if let crate::log::LogKind::Complete { .. }
                    | crate::log::LogKind::Transfer { .. } = e.kind
                        && let Some(c) = e.call
                    {
                        self.status.remove(&c);
                    }
                    if self.p.keep_actions {
                        self.log.push(e.clone());
                    }
                }
                Action::Announce { call, .. } => {
                    if self.p.exit_key > 0.0 && self.rng.random_bool(self.p.exit_key.min(1.0)) {
                        self.push(now, SimEvent::Key(*call));
                    }
                }
                Action::AgentStateChanged {
                    agent,
                    state: AgentState::WrapUp,
                } => {
                    if self.p.early_ready > 0.0 && self.rng.random_bool(self.p.early_ready.min(1.0))
                    {
                        self.push(now + Duration::from_secs(1), SimEvent::Ready(*agent));
                    }
                }
                Action::CancelOffer {
                    call,
                    agent,
                    reason: crate::event::CancelReason::Timeout,
                } if self.acd.config().await_cancel => {
                    // The phone's 487 arrives a moment after our CANCEL.
                    let n = self.offers.get(call).copied().unwrap_or(0);
                    let at = now + Duration::from_millis(200);
                    self.push(at, SimEvent::OfferEnded(*call, *agent, n));
                }
                Action::CancelOffer { .. } | Action::AgentStateChanged { .. } => {}
            }
            if self.p.keep_actions {
                self.actions.push(a);
            }
        }
    }
}
