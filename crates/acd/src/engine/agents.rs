//! Agent state transitions: login, logout, pause, devices, wrap-up, and the bookkeeping
//! (bitsets, staffing counts, time in state) that follows every change.

use super::{AState, Acd, AgentTimer, Pending, Timer};
use crate::config::OverflowTarget;
use crate::error::AcdError;
use crate::event::{Action, ExitReason};
use crate::log::LogKind;
use crate::types::{AgentId, Time};

impl Acd {
    /// Counts the time since the last accounting into the agent's state counters.
    pub(crate) fn account_state_time(&mut self, now: Time, a: u32) {
        let agent = &mut self.agents[a as usize];
        let from = agent.accounted;
        if now <= from {
            return;
        }
        agent.accounted = now;
        let field: fn(&mut crate::stats::AgentStats) -> &mut std::time::Duration = match agent.state
        {
            AState::LoggedOut => return,
            AState::Available => |s| &mut s.available,
            AState::Reserved(_) => |s| &mut s.reserved,
            AState::OnCall(_) => |s| &mut s.on_call,
            AState::WrapUp => |s| &mut s.wrap_up,
            AState::Paused(_) => |s| &mut s.paused,
        };
        agent.stats.record_span(from, now, |s, d| *field(s) += d);
    }

    /// Counts staffed agent-time of a queue up to `now`.
    pub(crate) fn account_staffed(&mut self, now: Time, q: usize) {
        let queue = &mut self.queues[q];
        let from = queue.working_since;
        if now > from {
            let n = queue.working;
            if n > 0 {
                queue
                    .stats
                    .record_span(from, now, |s, d| s.staffed += d * n);
            }
            queue.working_since = now;
        }
    }

    /// Adds (`delta` = 1) or removes (-1) an agent from the staffing counts of the queues
    /// whose base requirements they meet.
    pub(crate) fn staffing_change(&mut self, now: Time, a: u32, delta: i32, working: bool) {
        for q in 0..self.queues.len() {
            let base = self.queues[q].base_class;
            if self.classes[base as usize].eligible.contains(a as usize) {
                self.account_staffed(now, q);
                let queue = &mut self.queues[q];
                queue.logged_in = queue.logged_in.saturating_add_signed(delta);
                if working {
                    queue.working = queue.working.saturating_add_signed(delta);
                }
            }
        }
    }

    fn working_change(&mut self, now: Time, a: u32, delta: i32) {
        for q in 0..self.queues.len() {
            let base = self.queues[q].base_class;
            if self.classes[base as usize].eligible.contains(a as usize) {
                self.account_staffed(now, q);
                let queue = &mut self.queues[q];
                queue.working = queue.working.saturating_add_signed(delta);
            }
        }
    }

    /// Moves an agent to `state`, keeping bitsets and counters right, and tells the daemon.
    pub(crate) fn set_state(&mut self, now: Time, a: u32, state: AState) {
        self.account_state_time(now, a);
        let agent = &mut self.agents[a as usize];
        agent.state = state;
        agent.since = now;
        agent.generation += 1;
        self.refresh_bits(a);
        let agent = AgentId(a);
        let state = self.agent_state(agent);
        self.actions
            .push_back(Action::AgentStateChanged { agent, state });
    }

    pub(crate) fn refresh_bits(&mut self, a: u32) {
        let agent = &self.agents[a as usize];
        let logged_in = agent.state != AState::LoggedOut;
        let paused = matches!(agent.state, AState::Paused(_));
        self.available.set(
            a as usize,
            agent.state == AState::Available && agent.device_ok && agent.busy_until.is_none(),
        );
        self.working
            .set(a as usize, logged_in && !paused && agent.device_ok);
    }

    pub(crate) fn login(&mut self, now: Time, agent: AgentId) -> Result<(), AcdError> {
        let a = self.agent_index(agent)?;
        if self.agents[a as usize].state != AState::LoggedOut {
            return Err(AcdError::WrongState {
                agent,
                state: self.agent_state(agent).name(),
            });
        }
        {
            let ag = &mut self.agents[a as usize];
            ag.accounted = now;
            ag.idle_since = now;
            ag.calls_taken = 0;
            ag.talk_time = std::time::Duration::ZERO;
            ag.consecutive_no_answer = 0;
            ag.pending = None;
            ag.busy_until = None;
        }
        self.staffing_change(now, a, 1, true);
        self.log(now, None, None, Some(a), LogKind::Login);
        self.set_state(now, a, AState::Available);
        self.route_agent(now, a);
        Ok(())
    }

    pub(crate) fn logout(&mut self, now: Time, agent: AgentId) -> Result<(), AcdError> {
        let a = self.agent_index(agent)?;
        match self.agents[a as usize].state {
            AState::LoggedOut => Err(AcdError::WrongState {
                agent,
                state: "logged-out",
            }),
            AState::Available | AState::Paused(_) => {
                self.do_logout(now, a);
                Ok(())
            }
            AState::Reserved(_) | AState::OnCall(_) | AState::WrapUp => {
                self.agents[a as usize].pending = Some(Pending::Logout);
                Ok(())
            }
        }
    }

    fn do_logout(&mut self, now: Time, a: u32) {
        let working = !matches!(self.agents[a as usize].state, AState::Paused(_));
        self.staffing_change(now, a, -1, working);
        self.agents[a as usize].pending = None;
        self.log(now, None, None, Some(a), LogKind::Logout);
        self.set_state(now, a, AState::LoggedOut);
        // Queues left with nobody: callers leave if the queue says so.
        for q in 0..self.queues.len() {
            let queue = &self.queues[q];
            if queue.logged_in > 0 || queue.positions.is_empty() {
                continue;
            }
            let Some(target) = queue.cfg.overflow.on_no_agents.clone() else {
                continue;
            };
            let slots: Vec<u32> = queue.positions.values().copied().collect();
            for slot in slots {
                self.exit(now, slot, ExitReason::Empty, target.clone());
            }
        }
    }

    pub(crate) fn pause(
        &mut self,
        now: Time,
        agent: AgentId,
        reason: String,
    ) -> Result<(), AcdError> {
        let a = self.agent_index(agent)?;
        match &self.agents[a as usize].state {
            AState::LoggedOut => Err(AcdError::WrongState {
                agent,
                state: "logged-out",
            }),
            AState::Available => {
                self.do_pause(now, a, reason);
                Ok(())
            }
            AState::Paused(_) => {
                self.log(
                    now,
                    None,
                    None,
                    Some(a),
                    LogKind::Pause {
                        reason: reason.clone(),
                    },
                );
                self.set_state(now, a, AState::Paused(reason));
                Ok(())
            }
            AState::Reserved(_) | AState::OnCall(_) | AState::WrapUp => {
                let ag = &mut self.agents[a as usize];
                if ag.pending != Some(Pending::Logout) {
                    ag.pending = Some(Pending::Pause(reason));
                }
                Ok(())
            }
        }
    }

    fn do_pause(&mut self, now: Time, a: u32, reason: String) {
        self.working_change(now, a, -1);
        self.log(
            now,
            None,
            None,
            Some(a),
            LogKind::Pause {
                reason: reason.clone(),
            },
        );
        self.set_state(now, a, AState::Paused(reason));
    }

    pub(crate) fn unpause(&mut self, now: Time, agent: AgentId) -> Result<(), AcdError> {
        let a = self.agent_index(agent)?;
        match &self.agents[a as usize].state {
            AState::Paused(_) => {
                self.working_change(now, a, 1);
                self.agents[a as usize].consecutive_no_answer = 0;
                self.log(now, None, None, Some(a), LogKind::Unpause);
                self.agents[a as usize].idle_since = now;
                self.set_state(now, a, AState::Available);
                self.route_agent(now, a);
                Ok(())
            }
            AState::LoggedOut => Err(AcdError::WrongState {
                agent,
                state: "logged-out",
            }),
            _ => {
                let ag = &mut self.agents[a as usize];
                if matches!(ag.pending, Some(Pending::Pause(_))) {
                    ag.pending = None;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn device(&mut self, now: Time, agent: AgentId, ok: bool) -> Result<(), AcdError> {
        let a = self.agent_index(agent)?;
        let was = self.agents[a as usize].device_ok;
        self.agents[a as usize].device_ok = ok;
        self.refresh_bits(a);
        if ok && !was && self.available.contains(a as usize) {
            self.route_agent(now, a);
        }
        Ok(())
    }

    /// The agent is done with an offer or a call: pending pause/logout, or available.
    pub(crate) fn make_ready(&mut self, now: Time, a: u32) {
        let pending = self.agents[a as usize].pending.take();
        if pending.is_some() {
            // Count the time in the state being left before passing through Available.
            self.account_state_time(now, a);
        }
        match pending {
            Some(Pending::Logout) => {
                // Through Available so that the logout sees an idle agent.
                self.agents[a as usize].state = AState::Available;
                self.do_logout(now, a);
            }
            Some(Pending::Pause(reason)) => {
                self.agents[a as usize].state = AState::Available;
                self.do_pause(now, a, reason);
            }
            None => {
                self.set_state(now, a, AState::Available);
                self.route_agent(now, a);
            }
        }
    }

    pub(crate) fn end_wrap_up(&mut self, now: Time, a: u32) {
        let ag = &self.agents[a as usize];
        let wrap = now.saturating_sub(ag.since);
        let queue = ag.last_queue;
        if let Some(q) = queue {
            self.queues[q.0 as usize].stats.record(now, |s| {
                s.wrap_ups += 1;
                s.wrap += wrap;
            });
        }
        self.log(now, queue, None, Some(a), LogKind::WrapUpEnd { wrap });
        self.agents[a as usize].idle_since = now;
        self.make_ready(now, a);
    }

    pub(crate) fn agent_timer(&mut self, now: Time, a: u32, kind: AgentTimer) {
        match kind {
            AgentTimer::WrapUpEnd => {
                if self.agents[a as usize].state == AState::WrapUp {
                    self.end_wrap_up(now, a);
                }
            }
            AgentTimer::BusyEnd => {
                if self.agents[a as usize].busy_until.is_none_or(|t| t > now) {
                    return;
                }
                self.agents[a as usize].busy_until = None;
                self.refresh_bits(a);
                if self.available.contains(a as usize) {
                    self.route_agent(now, a);
                }
            }
        }
    }

    /// After an unanswered offer: pause after too many, back off after busy, else ready.
    pub(crate) fn after_no_answer(&mut self, now: Time, a: u32, kind: crate::log::NoAnswerKind) {
        use crate::log::NoAnswerKind;
        match kind {
            NoAnswerKind::NoAnswer => {
                let max = self.cfg.max_no_answers;
                let ag = &mut self.agents[a as usize];
                ag.consecutive_no_answer += 1;
                if max > 0 && ag.consecutive_no_answer >= max && ag.pending != Some(Pending::Logout)
                {
                    ag.pending = Some(Pending::Pause("no answer".to_owned()));
                }
            }
            NoAnswerKind::Busy => {
                let until = now.saturating_add(self.cfg.busy_backoff);
                self.agents[a as usize].busy_until = Some(until);
                // The timer must survive the state change below: schedule it after.
                self.make_ready(now, a);
                let generation = self.agents[a as usize].generation;
                if self.agents[a as usize].busy_until.is_some() {
                    self.schedule(
                        until,
                        Timer::Agent {
                            agent: a,
                            generation,
                            kind: AgentTimer::BusyEnd,
                        },
                    );
                }
                return;
            }
            NoAnswerKind::Rejected => {}
        }
        self.make_ready(now, a);
    }

    /// Where a call goes when its queue overflows, limited to a few hops between queues.
    pub(crate) fn overflow_target(&self, target: OverflowTarget, hops: u8) -> OverflowTarget {
        match target {
            OverflowTarget::Queue(_) if hops >= 8 => OverflowTarget::Dialplan,
            t => t,
        }
    }
}
