//! The distributor: state, configuration and the event/action loop.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::bitset::BitSet;
use crate::config::{AcdConfig, AgentConfig, QueueConfig};
use crate::error::AcdError;
use crate::event::{Action, Event};
use crate::log::{LogKind, QueueLogEntry};
use crate::stats::{AgentStats, AgentsByState, Intervals, QueueLive, QueueStats};
use crate::types::{
    AgentId, AgentState, CallId, MAX_SKILL_LEVEL, QueueId, SkillId, SkillReq, Time,
};

mod agents;
mod announce;
mod calls;
mod classes;
mod routing;

use classes::Class;

/// Order key of a waiting call: higher priority first, then first come (global sequence).
pub(crate) type WaitKey = (Reverse<u8>, u64);

/// What an agent is doing, with call slots instead of ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AState {
    LoggedOut,
    Available,
    Reserved(u32),
    OnCall(u32),
    WrapUp,
    Paused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    Pause(String),
    Logout,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) cfg: AgentConfig,
    pub(crate) state: AState,
    pub(crate) device_ok: bool,
    pub(crate) busy_until: Option<Time>,
    pub(crate) since: Time,
    /// Time in state is counted into the statistics up to here.
    pub(crate) accounted: Time,
    pub(crate) idle_since: Time,
    pub(crate) calls_taken: u32,
    pub(crate) talk_time: Duration,
    pub(crate) consecutive_no_answer: u32,
    pub(crate) pending: Option<Pending>,
    pub(crate) generation: u64,
    /// Queue of the last call, for wrap-up accounting.
    pub(crate) last_queue: Option<QueueId>,
    pub(crate) stats: Intervals<AgentStats>,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) cfg: QueueConfig,
    pub(crate) base_class: u32,
    /// Callers waiting (not ringing, not connected), in service order.
    pub(crate) positions: BTreeMap<WaitKey, u32>,
    pub(crate) rr_last: Option<u32>,
    /// Rank of each agent in `cfg.agent_order` (for linear and round-robin).
    pub(crate) order_rank: Vec<u32>,
    pub(crate) recent_handle: VecDeque<Duration>,
    pub(crate) recent_sum: Duration,
    /// Agents meeting the base requirements who are logged in.
    pub(crate) logged_in: u32,
    /// Of those, not paused (for staffed time).
    pub(crate) working: u32,
    pub(crate) working_since: Time,
    pub(crate) ringing: u32,
    pub(crate) connected: u32,
    pub(crate) stats: Intervals<QueueStats>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the preferred agent only.
    Sticky(u32),
    Waiting,
    /// Ringing `agents`. `cancelling`: the ring timed out, CANCELs went out, and (with
    /// `AcdConfig::await_cancel`) the call waits for each phone's transaction to end.
    Offered {
        agents: Vec<u32>,
        at: Time,
        token: u32,
        cancelling: bool,
    },
    Connected {
        agent: u32,
        at: Time,
    },
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) queue: QueueId,
    pub(crate) priority: u8,
    pub(crate) seq: u64,
    pub(crate) entered: Time,
    pub(crate) extra: Vec<SkillReq>,
    pub(crate) language: Option<SkillId>,
    pub(crate) caller: Option<String>,
    pub(crate) step: usize,
    pub(crate) class: u32,
    pub(crate) phase: Phase,
    pub(crate) avoid: Vec<u32>,
    pub(crate) max_wait_at: Option<Time>,
    pub(crate) callback: bool,
    pub(crate) callback_offered: bool,
    pub(crate) entry_position: u32,
    pub(crate) offers: u32,
    pub(crate) hops: u8,
}

impl Call {
    pub(crate) fn key(&self) -> WaitKey {
        (Reverse(self.priority), self.seq)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    MaxWait,
    Escalate,
    StickyEnd,
    Announce,
    Ring,
    CancelGuard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum AgentTimer {
    WrapUpEnd,
    BusyEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Call {
        slot: u32,
        seq: u64,
        kind: CallTimer,
        token: u32,
    },
    Agent {
        agent: u32,
        generation: u64,
        kind: AgentTimer,
    },
}

/// The automatic call distributor: a sans-IO state machine.
///
/// Feed it [`Event`]s with [`Acd::handle_event`] and the passing of time with
/// [`Acd::handle_timeout`]; after each, drain [`Acd::poll_action`] until it returns `None`,
/// and wake it again at [`Acd::poll_timeout`]. It never reads a clock.
#[derive(Debug)]
pub struct Acd {
    pub(crate) cfg: AcdConfig,
    pub(crate) skill_names: Vec<String>,
    pub(crate) skill_by_name: HashMap<String, SkillId>,
    pub(crate) agents: Vec<Agent>,
    pub(crate) agent_by_name: HashMap<String, AgentId>,
    pub(crate) queues: Vec<Queue>,
    pub(crate) queue_by_name: HashMap<String, QueueId>,
    pub(crate) classes: Vec<Class>,
    pub(crate) class_by_key: HashMap<classes::ClassKey, u32>,
    /// Classes with waiting calls.
    pub(crate) nonempty: Vec<u32>,
    /// Classes each agent qualifies for (whatever their state).
    pub(crate) agent_classes: Vec<Vec<u32>>,
    /// `skill_ge[skill][level - 1]`: agents with `skill` at `level` or above.
    pub(crate) skill_ge: Vec<Vec<BitSet>>,
    /// Agents who may be offered a call now.
    pub(crate) available: BitSet,
    /// Agents logged in, not paused and reachable (for estimated waits).
    pub(crate) working: BitSet,
    pub(crate) calls: Vec<Option<Call>>,
    pub(crate) free_slots: Vec<u32>,
    pub(crate) call_index: HashMap<CallId, u32>,
    /// Sticky-phase calls per preferred agent.
    pub(crate) sticky: HashMap<u32, BTreeMap<WaitKey, u32>>,
    pub(crate) last_agent: HashMap<String, AgentId>,
    pub(crate) timers: BinaryHeap<Reverse<(Time, u64, Timer)>>,
    pub(crate) timer_seq: u64,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) seq: u64,
    pub(crate) scratch: Vec<u32>,
}

impl Acd {
    /// A distributor with no queues, agents or skills yet.
    pub fn new(cfg: AcdConfig) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            skill_names: Vec::new(),
            skill_by_name: HashMap::new(),
            agents: Vec::new(),
            agent_by_name: HashMap::new(),
            queues: Vec::new(),
            queue_by_name: HashMap::new(),
            classes: Vec::new(),
            class_by_key: HashMap::new(),
            nonempty: Vec::new(),
            agent_classes: Vec::new(),
            skill_ge: Vec::new(),
            available: BitSet::default(),
            working: BitSet::default(),
            calls: Vec::new(),
            free_slots: Vec::new(),
            call_index: HashMap::new(),
            sticky: HashMap::new(),
            last_agent: HashMap::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            actions: VecDeque::new(),
            seq: 0,
            scratch: Vec::new(),
        }
    }

    /// The distributor-wide configuration.
    pub fn config(&self) -> &AcdConfig {
        &self.cfg
    }

    /// The id of a skill (or language) by name, creating it on first use.
    pub fn skill(&mut self, name: &str) -> SkillId {
        if let Some(id) = self.skill_by_name.get(name) {
            return *id;
        }
        let id = SkillId(self.skill_names.len() as u16);
        self.skill_names.push(name.to_owned());
        self.skill_by_name.insert(name.to_owned(), id);
        let n = self.agents.len();
        self.skill_ge.push(
            (0..MAX_SKILL_LEVEL)
                .map(|_| BitSet::with_capacity(n))
                .collect(),
        );
        id
    }

    /// A skill's name.
    pub fn skill_name(&self, id: SkillId) -> Option<&str> {
        self.skill_names.get(id.0 as usize).map(String::as_str)
    }

    /// Adds a queue. Queues named in overflow targets or escalation steps must exist first.
    pub fn add_queue(&mut self, cfg: QueueConfig) -> Result<QueueId, AcdError> {
        if self.queue_by_name.contains_key(&cfg.name) {
            return Err(AcdError::Duplicate(cfg.name));
        }
        let id = QueueId(self.queues.len() as u32);
        self.check_queue_config(&cfg)?;
        let mut order_rank = vec![u32::MAX; self.agents.len()];
        for (i, a) in cfg.agent_order.iter().enumerate() {
            if let Some(r) = order_rank.get_mut(a.0 as usize) {
                *r = i as u32;
            }
        }
        self.queue_by_name.insert(cfg.name.clone(), id);
        self.queues.push(Queue {
            cfg,
            base_class: 0,
            positions: BTreeMap::new(),
            rr_last: None,
            order_rank,
            recent_handle: VecDeque::new(),
            recent_sum: Duration::ZERO,
            logged_in: 0,
            working: 0,
            working_since: Duration::ZERO,
            ringing: 0,
            connected: 0,
            stats: Intervals::new(self.cfg.stats_interval),
        });
        let base = self.class_for(id, &[], None, 0);
        self.queues[id.0 as usize].base_class = base;
        // Agents already logged in count as staffing the new queue.
        for a in 0..self.agents.len() {
            if self.agents[a].state != AState::LoggedOut
                && self.classes[base as usize].eligible.contains(a)
            {
                let q = &mut self.queues[id.0 as usize];
                q.logged_in += 1;
                if !matches!(self.agents[a].state, AState::Paused(_)) {
                    q.working += 1;
                }
            }
        }
        Ok(id)
    }

    fn check_queue_config(&self, cfg: &QueueConfig) -> Result<(), AcdError> {
        use crate::config::OverflowTarget;
        let known = |q: &QueueId| (q.0 as usize) < self.queues.len();
        let targets = [&cfg.overflow.on_max_wait, &cfg.overflow.on_full]
            .into_iter()
            .chain(cfg.overflow.on_no_agents.as_ref());
        for t in targets {
            if let OverflowTarget::Queue(q) = t
                && !known(q)
            {
                return Err(AcdError::UnknownQueue(*q));
            }
        }
        for step in &cfg.escalation {
            if let Some(q) = step.add_queues.iter().find(|q| !known(q)) {
                return Err(AcdError::UnknownQueue(*q));
            }
        }
        for r in cfg
            .skills
            .iter()
            .chain(cfg.escalation.iter().flat_map(|s| &s.add_skills))
        {
            if r.skill.0 as usize >= self.skill_names.len() {
                return Err(AcdError::UnknownSkill(r.skill));
            }
        }
        Ok(())
    }

    /// Replaces a queue's configuration (a reload). Waiting callers keep their place; new
    /// requirements apply to callers who enter from now on and to waiting callers at their
    /// next escalation step. The name cannot change.
    pub fn update_queue(
        &mut self,
        now: Time,
        queue: QueueId,
        cfg: QueueConfig,
    ) -> Result<(), AcdError> {
        let qi = queue.0 as usize;
        if qi >= self.queues.len() {
            return Err(AcdError::UnknownQueue(queue));
        }
        if cfg.name != self.queues[qi].cfg.name {
            return Err(AcdError::Duplicate(cfg.name));
        }
        self.check_queue_config(&cfg)?;
        self.account_staffed(now, qi);
        let mut order_rank = vec![u32::MAX; self.agents.len()];
        for (i, a) in cfg.agent_order.iter().enumerate() {
            if let Some(r) = order_rank.get_mut(a.0 as usize) {
                *r = i as u32;
            }
        }
        let q = &mut self.queues[qi];
        q.cfg = cfg;
        q.order_rank = order_rank;
        let base = self.class_for(queue, &[], None, 0);
        let (mut logged_in, mut working) = (0, 0);
        for a in self.classes[base as usize].eligible.iter() {
            match self.agents[a].state {
                AState::LoggedOut => {}
                AState::Paused(_) => logged_in += 1,
                _ => {
                    logged_in += 1;
                    working += 1;
                }
            }
        }
        let q = &mut self.queues[qi];
        q.base_class = base;
        q.logged_in = logged_in;
        q.working = working;
        Ok(())
    }

    /// A queue's id by name.
    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.queue_by_name.get(name).copied()
    }

    /// A queue's configuration.
    pub fn queue_config(&self, q: QueueId) -> Option<&QueueConfig> {
        self.queues.get(q.0 as usize).map(|q| &q.cfg)
    }

    /// Number of queues.
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Adds an agent (logged out).
    pub fn add_agent(&mut self, cfg: AgentConfig) -> Result<AgentId, AcdError> {
        if self.agent_by_name.contains_key(&cfg.name) {
            return Err(AcdError::Duplicate(cfg.name));
        }
        let id = AgentId(self.agents.len() as u32);
        self.check_skills(&cfg.skills)?;
        self.agent_by_name.insert(cfg.name.clone(), id);
        let skills = cfg.skills.clone();
        self.agents.push(Agent {
            cfg,
            state: AState::LoggedOut,
            device_ok: true,
            busy_until: None,
            since: Duration::ZERO,
            accounted: Duration::ZERO,
            idle_since: Duration::ZERO,
            calls_taken: 0,
            talk_time: Duration::ZERO,
            consecutive_no_answer: 0,
            pending: None,
            generation: 0,
            last_queue: None,
            stats: Intervals::new(self.cfg.stats_interval),
        });
        for q in &mut self.queues {
            let rank = q
                .cfg
                .agent_order
                .iter()
                .position(|a| *a == id)
                .map_or(u32::MAX, |p| p as u32);
            q.order_rank.push(rank);
        }
        self.apply_skills(id.0, &skills, true);
        Ok(id)
    }

    fn check_skills(&self, skills: &[(SkillId, u8)]) -> Result<(), AcdError> {
        for (s, level) in skills {
            if s.0 as usize >= self.skill_names.len() {
                return Err(AcdError::UnknownSkill(*s));
            }
            if !(1..=MAX_SKILL_LEVEL).contains(level) {
                return Err(AcdError::BadLevel(*level));
            }
        }
        Ok(())
    }

    /// Replaces an agent's skills (takes effect for the next offer).
    pub fn set_agent_skills(
        &mut self,
        now: Time,
        agent: AgentId,
        skills: Vec<(SkillId, u8)>,
    ) -> Result<(), AcdError> {
        let a = self.agent_index(agent)?;
        self.check_skills(&skills)?;
        let logged_in = self.agents[a as usize].state != AState::LoggedOut;
        let working = logged_in && !matches!(self.agents[a as usize].state, AState::Paused(_));
        if logged_in {
            self.staffing_change(now, a, -1, working);
        }
        let old: Vec<(SkillId, u8)> = std::mem::take(&mut self.agents[a as usize].cfg.skills);
        self.apply_skills(a, &old, false);
        self.agents[a as usize].cfg.skills = skills.clone();
        self.apply_skills(a, &skills, true);
        if logged_in {
            self.staffing_change(now, a, 1, working);
        }
        self.route_agent(now, a);
        Ok(())
    }

    fn apply_skills(&mut self, a: u32, skills: &[(SkillId, u8)], on: bool) {
        for (s, level) in skills {
            for l in 0..*level {
                self.skill_ge[s.0 as usize][l as usize].set(a as usize, on);
            }
        }
        let agent_skills = &self.agents[a as usize].cfg.skills;
        let mut mine = Vec::new();
        for (i, c) in self.classes.iter_mut().enumerate() {
            let ok = c.matches(agent_skills);
            c.eligible.set(a as usize, ok);
            if ok {
                mine.push(i as u32);
            }
        }
        if self.agent_classes.len() <= a as usize {
            self.agent_classes.resize(a as usize + 1, Vec::new());
        }
        self.agent_classes[a as usize] = mine;
    }

    /// An agent's id by name.
    pub fn agent_id(&self, name: &str) -> Option<AgentId> {
        self.agent_by_name.get(name).copied()
    }

    /// An agent's configuration.
    pub fn agent_config(&self, agent: AgentId) -> Option<&AgentConfig> {
        self.agents.get(agent.0 as usize).map(|a| &a.cfg)
    }

    /// Number of agents.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    pub(crate) fn agent_index(&self, agent: AgentId) -> Result<u32, AcdError> {
        if (agent.0 as usize) < self.agents.len() {
            Ok(agent.0)
        } else {
            Err(AcdError::UnknownAgent(agent))
        }
    }

    pub(crate) fn slot_of(&self, call: CallId) -> Result<u32, AcdError> {
        self.call_index
            .get(&call)
            .copied()
            .ok_or(AcdError::UnknownCall(call))
    }

    pub(crate) fn call(&self, slot: u32) -> &Call {
        self.calls[slot as usize].as_ref().expect("live call slot")
    }

    pub(crate) fn call_mut(&mut self, slot: u32) -> &mut Call {
        self.calls[slot as usize].as_mut().expect("live call slot")
    }

    /// Feeds one event. Errors mean the event did not fit the state (an unknown call, an
    /// answer for an offer already withdrawn...): nothing changed, and the daemon should
    /// clean up its side (e.g. send BYE to an agent whose 200 crossed our CANCEL).
    pub fn handle_event(&mut self, now: Time, ev: Event) -> Result<(), AcdError> {
        match ev {
            Event::CallEnqueued(e) => self.enqueue(now, e, 0),
            Event::CallerHungUp(c) => self.caller_hung_up(now, c),
            Event::CallerLeftByKey(c, _) => self.caller_left_by_key(now, c),
            Event::CallbackAccepted(c) => self.callback_accepted(now, c),
            Event::AgentLogin(a) => self.login(now, a),
            Event::AgentLogout(a) => self.logout(now, a),
            Event::AgentPause(a, reason) => self.pause(now, a, reason),
            Event::AgentUnpause(a) => self.unpause(now, a),
            Event::AgentDeviceAvailable(a) => self.device(now, a, true),
            Event::AgentDeviceUnavailable(a) => self.device(now, a, false),
            Event::AgentAnswered(c, a) => self.answered(now, c, a),
            Event::AgentNoAnswer(c, a) => {
                self.not_answered(now, c, a, crate::log::NoAnswerKind::NoAnswer)
            }
            Event::AgentBusy(c, a) => self.not_answered(now, c, a, crate::log::NoAnswerKind::Busy),
            Event::AgentRejected(c, a) => {
                self.not_answered(now, c, a, crate::log::NoAnswerKind::Rejected)
            }
            Event::CallEnded(c, by) => self.call_ended(now, c, Some(by), None),
            Event::CallTransferred(c, target) => self.call_ended(now, c, None, Some(target)),
            Event::OfferEnded(c, a) => self.offer_ended(now, c, a),
            Event::WrapUpDone(a) => {
                let a = self.agent_index(a)?;
                if self.agents[a as usize].state != AState::WrapUp {
                    return Err(AcdError::WrongState {
                        agent: AgentId(a),
                        state: self.agent_state(AgentId(a)).name(),
                    });
                }
                self.end_wrap_up(now, a);
                Ok(())
            }
        }
    }

    /// The next action for the daemon, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Acd::handle_timeout`] should be called next (it may find nothing to do).
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Processes every deadline up to `now`: ring timeouts, wrap-up ends, announcements,
    /// escalation steps, sticky waits and maximum waits.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(Reverse((t, _, timer))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Call {
                    slot,
                    seq,
                    kind,
                    token,
                } => {
                    let live = self.calls.get(slot as usize).and_then(Option::as_ref);
                    if live.is_some_and(|c| c.seq == seq) {
                        self.call_timer(t, slot, kind, token);
                    }
                }
                Timer::Agent {
                    agent,
                    generation,
                    kind,
                } => {
                    // A busy back-off outlives state changes; other agent timers do not.
                    if kind == AgentTimer::BusyEnd
                        || self.agents[agent as usize].generation == generation
                    {
                        self.agent_timer(t, agent, kind);
                    }
                }
            }
        }
    }

    pub(crate) fn schedule(&mut self, at: Time, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
    }

    pub(crate) fn log(
        &mut self,
        now: Time,
        queue: Option<QueueId>,
        call: Option<CallId>,
        agent: Option<u32>,
        kind: LogKind,
    ) {
        if self.cfg.log {
            self.actions.push_back(Action::Log(QueueLogEntry {
                time: now,
                queue,
                call,
                agent: agent.map(AgentId),
                kind,
            }));
        }
    }

    /// An agent's current state.
    pub fn agent_state(&self, agent: AgentId) -> AgentState {
        let Some(a) = self.agents.get(agent.0 as usize) else {
            return AgentState::LoggedOut;
        };
        let id = |slot: &u32| self.call(*slot).id;
        #[allow(clippy::needless_borrow)]
        match &a.state {
            AState::LoggedOut => AgentState::LoggedOut,
            AState::Available => AgentState::Available,
            AState::Reserved(s) => AgentState::Reserved(id(&s)),
            AState::OnCall(s) => AgentState::OnCall(id(&s)),
            AState::WrapUp => AgentState::WrapUp,
            AState::Paused(r) => AgentState::Paused(r.clone()),
        }
    }

    /// How long the agent has been in their current state.
    pub fn agent_time_in_state(&self, agent: AgentId, now: Time) -> Option<Duration> {
        self.agents
            .get(agent.0 as usize)
            .map(|a| now.saturating_sub(a.since))
    }

    /// Whether the agent's phone is registered (as last reported).
    pub fn agent_device_available(&self, agent: AgentId) -> bool {
        self.agents
            .get(agent.0 as usize)
            .is_some_and(|a| a.device_ok)
    }

    /// The agent's counters, in total and per interval. Time in the current state is added
    /// when the state changes, or by [`Acd::sync_stats`].
    pub fn agent_stats(&self, agent: AgentId) -> Option<&Intervals<AgentStats>> {
        self.agents.get(agent.0 as usize).map(|a| &a.stats)
    }

    /// The queue's counters, in total and per interval.
    pub fn queue_stats(&self, queue: QueueId) -> Option<&Intervals<QueueStats>> {
        self.queues.get(queue.0 as usize).map(|q| &q.stats)
    }

    /// Mutable access to a queue's counters, to drain old intervals into storage.
    pub fn queue_stats_mut(&mut self, queue: QueueId) -> Option<&mut Intervals<QueueStats>> {
        self.queues.get_mut(queue.0 as usize).map(|q| &mut q.stats)
    }

    /// Brings time-in-state and staffed-time counters up to `now`.
    pub fn sync_stats(&mut self, now: Time) {
        for a in 0..self.agents.len() {
            self.account_state_time(now, a as u32);
        }
        for q in 0..self.queues.len() {
            self.account_staffed(now, q);
        }
    }

    /// A live view of a queue.
    pub fn queue_live(&self, queue: QueueId, now: Time) -> Option<QueueLive> {
        let q = self.queues.get(queue.0 as usize)?;
        let longest = q
            .positions
            .values()
            .map(|s| now.saturating_sub(self.call(*s).entered))
            .max()
            .unwrap_or_default();
        let mut agents = AgentsByState::default();
        for a in self.classes[q.base_class as usize].eligible.iter() {
            let ag = &self.agents[a];
            let unreachable = !ag.device_ok || ag.busy_until.is_some();
            match ag.state {
                AState::LoggedOut => {}
                AState::Available if unreachable => agents.unreachable += 1,
                AState::Available => agents.available += 1,
                AState::Reserved(_) => agents.reserved += 1,
                AState::OnCall(_) => agents.on_call += 1,
                AState::WrapUp => agents.wrap_up += 1,
                AState::Paused(_) => agents.paused += 1,
            }
        }
        Some(QueueLive {
            waiting: q.positions.len() as u32,
            ringing: q.ringing,
            connected: q.connected,
            longest_waiting: longest,
            agents,
            sl_target: q.cfg.sl_target,
            totals: q.stats.total().clone(),
        })
    }

    /// Callers waiting in a queue, in service order.
    pub fn waiting_calls(&self, queue: QueueId) -> Vec<CallId> {
        self.queues
            .get(queue.0 as usize)
            .map(|q| q.positions.values().map(|s| self.call(*s).id).collect())
            .unwrap_or_default()
    }

    /// Number of calls the distributor holds (waiting, ringing or connected).
    pub fn call_count(&self) -> usize {
        self.call_index.len()
    }

    /// Number of callers waiting across all queues.
    pub fn waiting_count(&self) -> usize {
        self.queues.iter().map(|q| q.positions.len()).sum()
    }

    /// The queue a call is in, its current escalation step and whether it is waiting.
    pub fn call_info(&self, call: CallId) -> Option<CallInfo> {
        let slot = *self.call_index.get(&call)?;
        let c = self.call(slot);
        Some(CallInfo {
            queue: c.queue,
            priority: c.priority,
            entered: c.entered,
            escalation_step: c.step,
            waiting: matches!(c.phase, Phase::Waiting | Phase::Sticky(_)),
            callback: c.callback,
            skills: c.extra.clone(),
            language: c.language,
            sticky_for: match c.phase {
                Phase::Sticky(a) => Some(AgentId(a)),
                _ => None,
            },
        })
    }

    /// Whether `agent`'s skills satisfy what `call` requires at its current escalation step.
    pub fn agent_qualifies(&self, agent: AgentId, call: CallId) -> bool {
        let Some(slot) = self.call_index.get(&call) else {
            return false;
        };
        let c = self.call(*slot);
        self.classes[c.class as usize]
            .eligible
            .contains(agent.0 as usize)
    }
}

/// A summary of one call in the distributor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// Its queue.
    pub queue: QueueId,
    /// Its priority.
    pub priority: u8,
    /// When it entered the queue.
    pub entered: Time,
    /// Escalation steps applied so far.
    pub escalation_step: usize,
    /// Waiting (not ringing or connected).
    pub waiting: bool,
    /// A virtual caller waiting for a callback.
    pub callback: bool,
    /// Skills required on top of the queue's.
    pub skills: Vec<SkillReq>,
    /// The caller's language.
    pub language: Option<SkillId>,
    /// Waiting for this preferred agent only (sticky wait).
    pub sticky_for: Option<AgentId>,
}
