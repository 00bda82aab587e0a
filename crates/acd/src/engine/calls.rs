//! The life of a call in the distributor: entry, waiting (announcements, escalation,
//! sticky wait, maximum wait), offers and their outcomes, connection, end, and exits.

use std::time::Duration;

use super::{AState, Acd, AgentTimer, Call, CallTimer, Phase, Timer};
use crate::config::OverflowTarget;
use crate::error::AcdError;
use crate::event::{Action, CancelReason, Enqueue, ExitReason};
use crate::log::{LogKind, NoAnswerKind};
use crate::types::{AgentId, CallId, Party, Time};

/// Announcements come at most once a second, whatever the configuration says.
const MIN_ANNOUNCE: Duration = Duration::from_secs(1);

impl Acd {
    pub(crate) fn enqueue(&mut self, now: Time, e: Enqueue, hops: u8) -> Result<(), AcdError> {
        let qi = e.queue.0 as usize;
        if qi >= self.queues.len() {
            return Err(AcdError::UnknownQueue(e.queue));
        }
        if self.call_index.contains_key(&e.call) {
            return Err(AcdError::DuplicateCall(e.call));
        }
        if let Some(r) = e
            .skills
            .iter()
            .find(|r| r.skill.0 as usize >= self.skill_names.len())
        {
            return Err(AcdError::UnknownSkill(r.skill));
        }
        if let Some(l) = e
            .language
            .filter(|l| l.0 as usize >= self.skill_names.len())
        {
            return Err(AcdError::UnknownSkill(l));
        }
        let q = &self.queues[qi];
        let full = q.cfg.max_length.is_some_and(|m| q.positions.len() >= m);
        let empty = q.logged_in == 0 && q.cfg.overflow.on_no_agents.is_some();
        if full || empty {
            let (reason, target) = if full {
                (ExitReason::Full, q.cfg.overflow.on_full.clone())
            } else {
                let t = q.cfg.overflow.on_no_agents.clone();
                (ExitReason::Empty, t.expect("checked above"))
            };
            let position = q.positions.len() as u32 + 1;
            self.queues[qi].stats.record(now, |s| {
                s.offered += 1;
                match reason {
                    ExitReason::Full => s.exit_full += 1,
                    _ => s.exit_empty += 1,
                }
            });
            let log_enter = LogKind::Enter {
                priority: e.priority,
                position,
            };
            self.log(now, Some(e.queue), Some(e.call), None, log_enter);
            let exit = LogKind::Exit {
                reason,
                position,
                wait: Duration::ZERO,
            };
            self.log(now, Some(e.queue), Some(e.call), None, exit);
            let target = self.overflow_target(target, hops);
            self.actions.push_back(Action::Overflow {
                call: e.call,
                queue: e.queue,
                reason,
                target: target.clone(),
            });
            if let OverflowTarget::Queue(next) = target {
                let e = Enqueue {
                    queue: next,
                    max_wait: None,
                    ..e
                };
                return self.enqueue(now, e, hops + 1);
            }
            return Ok(());
        }

        self.seq += 1;
        let seq = self.seq;
        let class = self.class_for(e.queue, &e.skills, e.language, 0);
        let q = &self.queues[qi];
        let key = (std::cmp::Reverse(e.priority), seq);
        let position = q.positions.range(..key).count() as u32 + 1;
        let max_wait = match (q.cfg.max_wait, e.max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sticky_wait = q.cfg.sticky_wait;
        let announce = q.cfg.announce_interval;
        let first_step = q.cfg.escalation.first().map(|s| s.after);
        let preferred = e
            .preferred_agent
            .or_else(|| {
                e.caller
                    .as_ref()
                    .and_then(|c| self.last_agent.get(c).copied())
            })
            .map(|a| a.0)
            .filter(|a| {
                (*a as usize) < self.agents.len()
                    && self.agents[*a as usize].state != AState::LoggedOut
                    && self.classes[class as usize].eligible.contains(*a as usize)
            });
        let call = Call {
            id: e.call,
            queue: e.queue,
            priority: e.priority,
            seq,
            entered: now,
            extra: e.skills,
            language: e.language,
            caller: e.caller,
            step: 0,
            class,
            phase: Phase::Waiting,
            avoid: Vec::new(),
            max_wait_at: max_wait.map(|w| now.saturating_add(w)),
            callback: false,
            callback_offered: false,
            entry_position: position,
            offers: 0,
            hops,
        };
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.calls[s as usize] = Some(call);
                s
            }
            None => {
                self.calls.push(Some(call));
                (self.calls.len() - 1) as u32
            }
        };
        self.call_index.insert(e.call, slot);
        self.queues[qi].stats.record(now, |s| s.offered += 1);
        let enter = LogKind::Enter {
            priority: e.priority,
            position,
        };
        self.log(now, Some(e.queue), Some(e.call), None, enter);
        let timer = |kind, token| Timer::Call {
            slot,
            seq,
            kind,
            token,
        };
        if let Some(w) = max_wait {
            self.schedule(now.saturating_add(w), timer(CallTimer::MaxWait, 0));
        }
        if let Some(after) = first_step {
            self.schedule(now.saturating_add(after), timer(CallTimer::Escalate, 0));
        }
        if let Some(a) = preferred {
            if self.available.contains(a as usize) {
                self.link_waiting(slot);
                self.offer(now, slot, vec![a]);
                return Ok(());
            }
            if !sticky_wait.is_zero() {
                self.call_mut(slot).phase = Phase::Sticky(a);
                self.link_waiting(slot);
                self.schedule(
                    now.saturating_add(sticky_wait),
                    timer(CallTimer::StickyEnd, 0),
                );
            }
        }
        if self.call(slot).phase == Phase::Waiting {
            self.link_waiting(slot);
            self.route_call(now, slot);
        }
        if let Some(interval) = announce
            && self.call_index.contains_key(&e.call)
        {
            self.announce(slot);
            self.schedule(
                now.saturating_add(interval.max(MIN_ANNOUNCE)),
                timer(CallTimer::Announce, 0),
            );
        }
        Ok(())
    }

    fn free_call(&mut self, slot: u32) -> Call {
        let call = self.calls[slot as usize].take().expect("live call slot");
        self.call_index.remove(&call.id);
        self.free_slots.push(slot);
        call
    }

    /// Position of a waiting call (1 = next), or 0 if it is not waiting.
    pub(crate) fn position(&self, slot: u32) -> u32 {
        let c = self.call(slot);
        match c.phase {
            Phase::Waiting | Phase::Sticky(_) => {
                self.queues[c.queue.0 as usize]
                    .positions
                    .range(..c.key())
                    .count() as u32
                    + 1
            }
            _ => 0,
        }
    }

    pub(crate) fn caller_hung_up(&mut self, now: Time, call: CallId) -> Result<(), AcdError> {
        let slot = self.slot_of(call)?;
        match self.call(slot).phase {
            Phase::Connected { .. } => {
                return self.call_ended(now, call, Some(Party::Caller), None);
            }
            Phase::Offered { .. } => {
                // Taken out of the offer first, so the freed agents cannot pick it again.
                let position = 1;
                self.withdraw_offers_then(now, slot, CancelReason::CallerGone, |acd, now, slot| {
                    acd.abandon(now, slot, position)
                });
            }
            Phase::Waiting | Phase::Sticky(_) => {
                let position = self.position(slot);
                self.unlink_waiting(slot);
                self.abandon(now, slot, position);
            }
        }
        Ok(())
    }

    /// Withdraws the offers, removes the call with `end`, then frees the agents (so that they
    /// route to other calls, never this one).
    fn withdraw_offers_then(
        &mut self,
        now: Time,
        slot: u32,
        reason: CancelReason,
        end: impl FnOnce(&mut Acd, Time, u32),
    ) {
        let Phase::Offered {
            agents, cancelling, ..
        } = self.call(slot).phase.clone()
        else {
            return;
        };
        let (id, queue) = (self.call(slot).id, self.call(slot).queue);
        self.queues[queue.0 as usize].ringing -= 1;
        self.call_mut(slot).phase = Phase::Waiting;
        for &a in agents.iter().filter(|_| !cancelling) {
            self.actions.push_back(Action::CancelOffer {
                call: id,
                agent: AgentId(a),
                reason,
            });
        }
        end(self, now, slot);
        for a in agents {
            self.make_ready(now, a);
        }
    }

    fn abandon(&mut self, now: Time, slot: u32, position: u32) {
        let call = self.free_call(slot);
        let wait = now.saturating_sub(call.entered);
        let q = &mut self.queues[call.queue.0 as usize];
        let threshold = q.cfg.sl_threshold;
        let short = wait < self.cfg.short_abandon;
        q.stats.record(now, |s| {
            if short {
                s.short_abandoned += 1;
            } else {
                s.abandoned += 1;
                s.abandoned_in_sl += u64::from(wait <= threshold);
            }
            s.longest_wait = s.longest_wait.max(wait);
        });
        let kind = LogKind::Abandon {
            position,
            entry_position: call.entry_position,
            wait,
        };
        self.log(now, Some(call.queue), Some(call.id), None, kind);
    }

    pub(crate) fn caller_left_by_key(&mut self, now: Time, call: CallId) -> Result<(), AcdError> {
        let slot = self.slot_of(call)?;
        match self.call(slot).phase {
            Phase::Connected { .. } => Err(AcdError::UnknownCall(call)),
            Phase::Offered { .. } => {
                self.withdraw_offers_then(now, slot, CancelReason::CallerGone, |acd, now, slot| {
                    acd.exit_now(now, slot, ExitReason::Key, OverflowTarget::Dialplan, 1)
                });
                Ok(())
            }
            Phase::Waiting | Phase::Sticky(_) => {
                self.exit(now, slot, ExitReason::Key, OverflowTarget::Dialplan);
                Ok(())
            }
        }
    }

    /// A waiting call leaves unanswered and goes to `target`.
    pub(crate) fn exit(
        &mut self,
        now: Time,
        slot: u32,
        reason: ExitReason,
        target: OverflowTarget,
    ) {
        let position = self.position(slot);
        self.unlink_waiting(slot);
        self.exit_now(now, slot, reason, target, position);
    }

    fn exit_now(
        &mut self,
        now: Time,
        slot: u32,
        reason: ExitReason,
        target: OverflowTarget,
        position: u32,
    ) {
        let call = self.free_call(slot);
        let wait = now.saturating_sub(call.entered);
        self.queues[call.queue.0 as usize].stats.record(now, |s| {
            match reason {
                ExitReason::Timeout => s.exit_timeout += 1,
                ExitReason::Full => s.exit_full += 1,
                ExitReason::Empty => s.exit_empty += 1,
                ExitReason::Key => s.exit_key += 1,
            }
            s.longest_wait = s.longest_wait.max(wait);
        });
        let kind = LogKind::Exit {
            reason,
            position,
            wait,
        };
        self.log(now, Some(call.queue), Some(call.id), None, kind);
        let target = self.overflow_target(target, call.hops);
        self.actions.push_back(Action::Overflow {
            call: call.id,
            queue: call.queue,
            reason,
            target: target.clone(),
        });
        if let OverflowTarget::Queue(next) = target {
            let e = Enqueue {
                call: call.id,
                queue: next,
                priority: call.priority,
                skills: call.extra,
                language: call.language,
                preferred_agent: None,
                caller: call.caller,
                max_wait: None,
            };
            // The target queue exists (checked when the queue was added), and the call id
            // was freed above, so this cannot fail.
            let _ = self.enqueue(now, e, call.hops + 1);
        }
    }

    pub(crate) fn callback_accepted(&mut self, now: Time, call: CallId) -> Result<(), AcdError> {
        let slot = self.slot_of(call)?;
        let c = self.call_mut(slot);
        if matches!(c.phase, Phase::Connected { .. }) {
            return Err(AcdError::UnknownCall(call));
        }
        if !c.callback {
            c.callback = true;
            c.max_wait_at = None;
            let queue = c.queue;
            self.queues[queue.0 as usize]
                .stats
                .record(now, |s| s.callbacks += 1);
            self.log(
                now,
                Some(queue),
                Some(call),
                None,
                LogKind::CallbackAccepted,
            );
        }
        Ok(())
    }

    pub(crate) fn answered(
        &mut self,
        now: Time,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
        let slot = self.slot_of(call)?;
        let a = agent.0;
        let Phase::Offered {
            agents,
            at,
            cancelling,
            ..
        } = self.call(slot).phase.clone()
        else {
            return Err(AcdError::NoSuchOffer { call, agent });
        };
        if cancelling || !agents.contains(&a) {
            return Err(AcdError::NoSuchOffer { call, agent });
        }
        let (queue, entered, caller) = {
            let c = self.call_mut(slot);
            c.phase = Phase::Connected { agent: a, at: now };
            (c.queue, c.entered, c.caller.clone())
        };
        let wait = now.saturating_sub(entered);
        let q = &mut self.queues[queue.0 as usize];
        q.ringing -= 1;
        q.connected += 1;
        let threshold = q.cfg.sl_threshold;
        q.stats.record(now, |s| {
            s.answered += 1;
            s.answered_in_sl += u64::from(wait <= threshold);
            s.answered_wait += wait;
            s.longest_wait = s.longest_wait.max(wait);
        });
        {
            let ag = &mut self.agents[a as usize];
            ag.calls_taken += 1;
            ag.consecutive_no_answer = 0;
            ag.last_queue = Some(queue);
            ag.stats.record(now, |s| s.answered += 1);
        }
        self.set_state(now, a, AState::OnCall(slot));
        let ring = now.saturating_sub(at);
        self.log(
            now,
            Some(queue),
            Some(call),
            Some(a),
            LogKind::Connect { wait, ring },
        );
        self.actions.push_back(Action::Connected {
            call,
            agent,
            waited: wait,
        });
        if let Some(c) = caller {
            if self.last_agent.len() >= self.cfg.sticky_memory {
                self.last_agent.clear();
            }
            self.last_agent.insert(c, agent);
        }
        for other in agents.into_iter().filter(|x| *x != a) {
            self.actions.push_back(Action::CancelOffer {
                call,
                agent: AgentId(other),
                reason: CancelReason::CompletedElsewhere,
            });
            self.make_ready(now, other);
        }
        Ok(())
    }

    pub(crate) fn not_answered(
        &mut self,
        now: Time,
        call: CallId,
        agent: AgentId,
        kind: NoAnswerKind,
    ) -> Result<(), AcdError> {
        let slot = self.slot_of(call)?;
        let a = agent.0;
        let Phase::Offered {
            agents,
            at,
            token,
            cancelling,
        } = self.call(slot).phase.clone()
        else {
            return Err(AcdError::NoSuchOffer { call, agent });
        };
        if !agents.contains(&a) {
            return Err(AcdError::NoSuchOffer { call, agent });
        }
        if cancelling {
            // Already counted as unanswered at the timeout: the phone's INVITE is over.
            return self.offer_ended(now, call, agent);
        }
        let queue = self.call(slot).queue;
        let ring = now.saturating_sub(at);
        self.agents[a as usize].stats.record(now, |s| match kind {
            NoAnswerKind::NoAnswer => s.no_answer += 1,
            NoAnswerKind::Busy => s.busy += 1,
            NoAnswerKind::Rejected => s.rejected += 1,
        });
        let log = LogKind::RingNoAnswer {
            ring,
            outcome: kind,
        };
        self.log(now, Some(queue), Some(call), Some(a), log);
        let rest: Vec<u32> = agents.into_iter().filter(|x| *x != a).collect();
        let c = self.call_mut(slot);
        c.avoid.push(a);
        if rest.is_empty() {
            self.queues[queue.0 as usize].ringing -= 1;
            self.call_mut(slot).phase = Phase::Waiting;
            self.back_to_waiting(now, slot);
        } else {
            c.phase = Phase::Offered {
                agents: rest,
                at,
                token,
                cancelling: false,
            };
        }
        self.after_no_answer(now, a, kind);
        Ok(())
    }

    /// A call whose offer ended unanswered waits again, in its old place.
    fn back_to_waiting(&mut self, now: Time, slot: u32) {
        let c = self.call(slot);
        if c.max_wait_at.is_some_and(|t| t <= now) {
            let target = self.queues[c.queue.0 as usize]
                .cfg
                .overflow
                .on_max_wait
                .clone();
            self.exit_now(now, slot, ExitReason::Timeout, target, 1);
            return;
        }
        self.link_waiting(slot);
        self.route_call(now, slot);
    }

    pub(crate) fn call_ended(
        &mut self,
        now: Time,
        call: CallId,
        by: Option<Party>,
        transfer: Option<String>,
    ) -> Result<(), AcdError> {
        let slot = self.slot_of(call)?;
        let Phase::Connected { agent, at } = self.call(slot).phase else {
            return Err(AcdError::NotConnected(call));
        };
        let c = self.free_call(slot);
        let talk = now.saturating_sub(at);
        let wait = at.saturating_sub(c.entered);
        let q = &mut self.queues[c.queue.0 as usize];
        q.connected -= 1;
        q.stats.record(now, |s| {
            s.completed += 1;
            s.talk += talk;
        });
        let wrap = q.cfg.wrap_up;
        q.recent_handle.push_back(talk + wrap);
        q.recent_sum += talk + wrap;
        if q.recent_handle.len() > self.cfg.aht_window.max(1) {
            let old = q.recent_handle.pop_front().expect("window is not empty");
            q.recent_sum -= old;
        }
        let kind = match (by, transfer) {
            (_, Some(target)) => LogKind::Transfer { target, wait, talk },
            (by, None) => LogKind::Complete {
                by: by.unwrap_or(Party::Agent),
                wait,
                talk,
            },
        };
        self.log(now, Some(c.queue), Some(call), Some(agent), kind);
        self.agents[agent as usize].talk_time += talk;
        if wrap.is_zero() {
            self.agents[agent as usize].idle_since = now;
            self.make_ready(now, agent);
        } else {
            self.set_state(now, agent, AState::WrapUp);
            let generation = self.agents[agent as usize].generation;
            self.schedule(
                now.saturating_add(wrap),
                Timer::Agent {
                    agent,
                    generation,
                    kind: AgentTimer::WrapUpEnd,
                },
            );
        }
        Ok(())
    }

    pub(crate) fn call_timer(&mut self, now: Time, slot: u32, kind: CallTimer, token: u32) {
        match kind {
            CallTimer::Ring => {
                let Phase::Offered {
                    agents, token: t, ..
                } = self.call(slot).phase.clone()
                else {
                    return;
                };
                if t != token {
                    return;
                }
                let id = self.call(slot).id;
                if self.cfg.await_cancel {
                    self.hold_for_cancel(now, slot, agents, token);
                    return;
                }
                for a in agents {
                    self.actions.push_back(Action::CancelOffer {
                        call: id,
                        agent: AgentId(a),
                        reason: CancelReason::Timeout,
                    });
                    // Cannot fail: the agent is in the offer.
                    let _ = self.not_answered(now, id, AgentId(a), NoAnswerKind::NoAnswer);
                }
            }
            CallTimer::CancelGuard => {
                let Phase::Offered {
                    agents,
                    token: t,
                    cancelling: true,
                    ..
                } = self.call(slot).phase.clone()
                else {
                    return;
                };
                if t != token {
                    return;
                }
                let id = self.call(slot).id;
                for a in agents {
                    // Cannot fail: the agent is in the offer.
                    let _ = self.offer_ended(now, id, AgentId(a));
                }
            }
            CallTimer::MaxWait => {
                let c = self.call(slot);
                if c.callback || c.max_wait_at.is_none_or(|t| t > now) {
                    return;
                }
                if matches!(c.phase, Phase::Waiting | Phase::Sticky(_)) {
                    let target = self.queues[c.queue.0 as usize]
                        .cfg
                        .overflow
                        .on_max_wait
                        .clone();
                    self.exit(now, slot, ExitReason::Timeout, target);
                }
            }
            CallTimer::Escalate => {
                let c = self.call(slot);
                if c.step != token as usize || matches!(c.phase, Phase::Connected { .. }) {
                    return;
                }
                let (queue, step) = (c.queue, c.step + 1);
                let extra = c.extra.clone();
                let language = c.language;
                let waiting = c.phase == Phase::Waiting;
                if waiting {
                    self.unlink_waiting(slot);
                }
                let class = self.class_for(queue, &extra, language, step);
                let c = self.call_mut(slot);
                c.step = step;
                c.class = class;
                let (seq, entered) = (c.seq, c.entered);
                if waiting {
                    self.link_waiting(slot);
                    self.route_call(now, slot);
                }
                let next = self.queues[queue.0 as usize]
                    .cfg
                    .escalation
                    .get(step)
                    .map(|s| s.after);
                if let Some(after) = next {
                    let timer = Timer::Call {
                        slot,
                        seq,
                        kind: CallTimer::Escalate,
                        token: step as u32,
                    };
                    self.schedule(entered.saturating_add(after).max(now), timer);
                }
            }
            CallTimer::StickyEnd => {
                if let Phase::Sticky(_) = self.call(slot).phase {
                    self.unlink_waiting(slot);
                    self.call_mut(slot).phase = Phase::Waiting;
                    self.link_waiting(slot);
                    self.route_call(now, slot);
                }
            }
            CallTimer::Announce => {
                let c = self.call(slot);
                if matches!(c.phase, Phase::Connected { .. }) {
                    return;
                }
                let Some(interval) = self.queues[c.queue.0 as usize].cfg.announce_interval else {
                    return;
                };
                let seq = c.seq;
                self.announce(slot);
                let timer = Timer::Call {
                    slot,
                    seq,
                    kind: CallTimer::Announce,
                    token: 0,
                };
                self.schedule(now.saturating_add(interval.max(MIN_ANNOUNCE)), timer);
            }
        }
    }

    /// A ring timeout with `await_cancel`: every phone is counted as unanswered and sent a
    /// CANCEL, and the call waits, offered to nobody, until each INVITE has ended.
    fn hold_for_cancel(&mut self, now: Time, slot: u32, agents: Vec<u32>, token: u32) {
        let (id, queue, seq, at) = {
            let c = self.call(slot);
            let Phase::Offered { at, .. } = c.phase else {
                return;
            };
            (c.id, c.queue, c.seq, at)
        };
        for &a in &agents {
            self.actions.push_back(Action::CancelOffer {
                call: id,
                agent: AgentId(a),
                reason: CancelReason::Timeout,
            });
            self.agents[a as usize]
                .stats
                .record(now, |s| s.no_answer += 1);
            let log = LogKind::RingNoAnswer {
                ring: now.saturating_sub(at),
                outcome: NoAnswerKind::NoAnswer,
            };
            self.log(now, Some(queue), Some(id), Some(a), log);
        }
        let c = self.call_mut(slot);
        c.avoid.extend(&agents);
        c.phase = Phase::Offered {
            agents,
            at,
            token,
            cancelling: true,
        };
        let guard = now.saturating_add(self.cfg.cancel_guard);
        let kind = CallTimer::CancelGuard;
        self.schedule(
            guard,
            Timer::Call {
                slot,
                seq,
                kind,
                token,
            },
        );
    }

    /// A cancelled phone's INVITE ended: free the agent; once all have, the call waits again
    /// (and is routed before the agent is free, so another agent is tried first).
    pub(crate) fn offer_ended(
        &mut self,
        now: Time,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
        let slot = self.slot_of(call)?;
        let a = agent.0;
        let Phase::Offered {
            agents,
            at,
            token,
            cancelling: true,
        } = self.call(slot).phase.clone()
        else {
            return Err(AcdError::NoSuchOffer { call, agent });
        };
        if !agents.contains(&a) {
            return Err(AcdError::NoSuchOffer { call, agent });
        }
        let rest: Vec<u32> = agents.into_iter().filter(|x| *x != a).collect();
        let queue = self.call(slot).queue;
        if rest.is_empty() {
            self.queues[queue.0 as usize].ringing -= 1;
            self.call_mut(slot).phase = Phase::Waiting;
            self.back_to_waiting(now, slot);
        } else {
            self.call_mut(slot).phase = Phase::Offered {
                agents: rest,
                at,
                token,
                cancelling: true,
            };
        }
        self.after_no_answer(now, a, NoAnswerKind::NoAnswer);
        Ok(())
    }
}
