//! Matching calls and agents.
//!
//! The distributor keeps one invariant at rest: no waiting call (outside its sticky wait)
//! has an available agent who qualifies for it. So when a call arrives or changes class,
//! only the available agents are looked at (strategy picks among them); when an agent
//! becomes available, only the heads of the non-empty classes they qualify for are
//! compared (priority, then fairness). Neither scans all waiting calls.

use rand::RngExt;

use super::{AState, Acd, CallTimer, Phase, Timer};
use crate::config::{Fairness, Strategy};
use crate::event::Action;
use crate::log::LogKind;
use crate::types::{AgentId, Time};

impl Acd {
    /// Removes a waiting (or sticky) call from the waiting structures.
    pub(crate) fn unlink_waiting(&mut self, slot: u32) {
        let c = self.call(slot);
        let (key, class, queue, phase) = (c.key(), c.class, c.queue, c.phase.clone());
        match phase {
            Phase::Sticky(a) => {
                if let Some(m) = self.sticky.get_mut(&a) {
                    m.remove(&key);
                    if m.is_empty() {
                        self.sticky.remove(&a);
                    }
                }
            }
            Phase::Waiting => self.class_remove(class, key),
            Phase::Offered { .. } | Phase::Connected { .. } => return,
        }
        self.queues[queue.0 as usize].positions.remove(&key);
    }

    /// Puts a call back among the waiting (phase must be `Waiting` or `Sticky`).
    pub(crate) fn link_waiting(&mut self, slot: u32) {
        let c = self.call(slot);
        let (key, class, queue, phase) = (c.key(), c.class, c.queue, c.phase.clone());
        match phase {
            Phase::Sticky(a) => {
                self.sticky.entry(a).or_default().insert(key, slot);
            }
            Phase::Waiting => self.class_insert(class, key, slot),
            Phase::Offered { .. } | Phase::Connected { .. } => return,
        }
        self.queues[queue.0 as usize].positions.insert(key, slot);
    }

    /// Tries to offer a waiting call to available agents, per its queue's strategy.
    pub(crate) fn route_call(&mut self, now: Time, slot: u32) {
        let mut cands = std::mem::take(&mut self.scratch);
        let c = self.call(slot);
        if c.phase != Phase::Waiting {
            self.scratch = cands;
            return;
        }
        let class = &self.classes[c.class as usize];
        cands.clear();
        cands.extend(
            class
                .eligible
                .iter_and(&self.available)
                .map(|a| a as u32)
                .filter(|a| !c.avoid.contains(a)),
        );
        if cands.is_empty() && !c.avoid.is_empty() {
            // Everyone qualified has been tried: start a new round.
            cands.extend(class.eligible.iter_and(&self.available).map(|a| a as u32));
            if !cands.is_empty() {
                self.call_mut(slot).avoid.clear();
            }
        }
        if !cands.is_empty() {
            let agents = self.pick(slot, &cands);
            self.offer(now, slot, agents);
        }
        self.scratch = cands;
    }

    /// Chooses among candidate agents (non-empty) per the call's queue strategy.
    fn pick(&mut self, slot: u32, cands: &[u32]) -> Vec<u32> {
        let c = self.call(slot);
        let q = &self.queues[c.queue.0 as usize];
        let agents = &self.agents;
        let min_by = |key: &dyn Fn(u32) -> (u128, u128)| -> u32 {
            *cands
                .iter()
                .min_by_key(|a| (key(**a), **a))
                .expect("candidates are not empty")
        };
        let idle = |a: u32| agents[a as usize].idle_since.as_nanos();
        let rank = |a: u32| (u128::from(q.order_rank[a as usize]), u128::from(a));
        let chosen = match q.cfg.strategy {
            Strategy::RingAll => return cands.to_vec(),
            Strategy::LongestIdle => min_by(&|a| (idle(a), 0)),
            Strategy::FewestCalls => {
                min_by(&|a| (u128::from(agents[a as usize].calls_taken), idle(a)))
            }
            Strategy::LeastTalkTime => {
                min_by(&|a| (agents[a as usize].talk_time.as_nanos(), idle(a)))
            }
            Strategy::Linear => min_by(&rank),
            Strategy::RoundRobin => {
                let after = q.rr_last.map(rank);
                let next = cands
                    .iter()
                    .copied()
                    .filter(|a| after.is_none_or(|l| rank(*a) > l))
                    .min_by_key(|a| rank(*a));
                next.unwrap_or_else(|| min_by(&rank))
            }
            Strategy::BestSkill => {
                let reqs = &self.classes[c.class as usize].dnf;
                let level = |a: u32| -> u128 {
                    let skills = &agents[a as usize].cfg.skills;
                    reqs.iter()
                        .flatten()
                        .filter_map(|r| skills.iter().find(|(s, _)| *s == r.skill))
                        .map(|(_, l)| u128::from(*l))
                        .sum()
                };
                min_by(&|a| (u128::MAX - level(a), idle(a)))
            }
            Strategy::Random => cands[self.rng.random_range(0..cands.len())],
            Strategy::WeightedRandom => {
                let total: u64 = cands
                    .iter()
                    .map(|a| u64::from(agents[*a as usize].cfg.weight))
                    .sum();
                if total == 0 {
                    cands[self.rng.random_range(0..cands.len())]
                } else {
                    let mut x = self.rng.random_range(0..total);
                    let mut pick = cands[0];
                    for a in cands {
                        let w = u64::from(agents[*a as usize].cfg.weight);
                        if x < w {
                            pick = *a;
                            break;
                        }
                        x -= w;
                    }
                    pick
                }
            }
        };
        vec![chosen]
    }

    /// An agent just became available: give them the best waiting call they qualify for.
    pub(crate) fn route_agent(&mut self, now: Time, a: u32) {
        if !self.available.contains(a as usize) {
            return;
        }
        let weighted = self.cfg.fairness == Fairness::Weighted;
        // (priority, score, seq, slot): larger priority, then larger score wins; smaller
        // seq breaks ties.
        let mut best: Option<(u8, f64, u64, u32)> = None;
        let mut consider = |acd: &Acd, slot: u32| {
            let c = acd.call(slot);
            let score = if weighted {
                let w = acd.queues[c.queue.0 as usize].cfg.weight;
                now.saturating_sub(c.entered).as_secs_f64() * w
            } else {
                0.0
            };
            let better = match best {
                None => true,
                Some((p, s, q, _)) => {
                    (c.priority, score) > (p, s) || (c.priority == p && score == s && c.seq < q)
                }
            };
            if better {
                best = Some((c.priority, score, c.seq, slot));
            }
        };
        if let Some(m) = self.sticky.get(&a)
            && let Some((_, slot)) = m.first_key_value()
        {
            consider(self, *slot);
        }
        // The agent's own classes or the non-empty ones, whichever list is shorter: both
        // yield the non-empty classes the agent qualifies for.
        let mine = &self.agent_classes[a as usize];
        let list = if mine.len() < self.nonempty.len() {
            mine
        } else {
            &self.nonempty
        };
        for &class in list {
            let cl = &self.classes[class as usize];
            if cl.eligible.contains(a as usize)
                && let Some((_, slot)) = cl.waiting.first_key_value()
            {
                consider(self, *slot);
            }
        }
        let Some((_, _, _, slot)) = best else { return };
        if let Phase::Sticky(_) = self.call(slot).phase {
            self.offer(now, slot, vec![a]);
            return;
        }
        let queue = self.call(slot).queue;
        if self.queues[queue.0 as usize].cfg.strategy == Strategy::RingAll {
            let class = self.call(slot).class;
            let all: Vec<u32> = self.classes[class as usize]
                .eligible
                .iter_and(&self.available)
                .map(|x| x as u32)
                .collect();
            self.offer(now, slot, all);
        } else {
            self.offer(now, slot, vec![a]);
        }
    }

    /// Reserves the agents and rings them.
    pub(crate) fn offer(&mut self, now: Time, slot: u32, agents: Vec<u32>) {
        self.unlink_waiting(slot);
        let (id, queue, seq, callback) = {
            let c = self.call_mut(slot);
            c.offers += 1;
            (c.id, c.queue, c.seq, c.callback)
        };
        let token = self.call(slot).offers;
        for &a in &agents {
            debug_assert!(
                self.available.contains(a as usize),
                "offer to an unavailable agent"
            );
            self.set_state(now, a, AState::Reserved(slot));
            self.agents[a as usize]
                .stats
                .record(now, |s| s.offered += 1);
            self.log(now, Some(queue), Some(id), Some(a), LogKind::Offer);
        }
        let q = &mut self.queues[queue.0 as usize];
        q.ringing += 1;
        if let Some(last) = agents.last() {
            q.rr_last = Some(*last);
        }
        let ring_timeout = q.cfg.ring_timeout;
        self.call_mut(slot).phase = Phase::Offered {
            agents: agents.clone(),
            at: now,
            token,
            cancelling: false,
        };
        self.schedule(
            now.saturating_add(ring_timeout),
            Timer::Call {
                slot,
                seq,
                kind: CallTimer::Ring,
                token,
            },
        );
        self.actions.push_back(Action::Offer {
            call: id,
            agents: agents.into_iter().map(AgentId).collect(),
            ring_timeout,
            callback,
        });
    }
}
