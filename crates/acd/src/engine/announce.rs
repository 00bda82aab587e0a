//! Telling the caller: position, estimated wait (the formula is in `docs/acd.md`) and the
//! callback offer.

use std::time::Duration;

use super::{AState, Acd, Phase};
use crate::event::Action;
use crate::types::{QueueId, Time};

impl Acd {
    /// Announces position and estimated wait to a waiting caller (and offers a callback
    /// when the estimate passes the queue's threshold).
    pub(crate) fn announce(&mut self, now: Time, slot: u32) {
        let c = self.call(slot);
        if !matches!(c.phase, Phase::Waiting | Phase::Sticky(_)) || c.callback {
            return;
        }
        let position = self.position(slot);
        let ewt = self.estimated_wait(now, slot, position);
        let c = self.call(slot);
        let id = c.id;
        let threshold = self.queues[c.queue.0 as usize].cfg.callback_threshold;
        let offer_callback =
            !c.callback_offered && matches!((threshold, ewt), (Some(t), Some(w)) if w > t);
        self.actions.push_back(Action::Announce {
            call: id,
            position,
            estimated_wait: ewt,
        });
        if offer_callback {
            self.call_mut(slot).callback_offered = true;
            self.actions.push_back(Action::OfferCallback {
                call: id,
                estimated_wait: ewt.expect("checked above"),
            });
        }
    }

    /// Average handle time (talk + wrap-up) over the queue's recent calls.
    pub(crate) fn recent_aht(&self, queue: QueueId) -> Duration {
        let q = &self.queues[queue.0 as usize];
        if q.recent_handle.is_empty() {
            self.cfg.default_aht
        } else {
            q.recent_sum / q.recent_handle.len() as u32
        }
    }

    /// Estimated wait of the caller at `position` (see `docs/acd.md`): the time until the
    /// `position`-th release among the qualified agents, where agent i frees up after its
    /// residual time r_i and then every AHT.
    pub(crate) fn estimated_wait(
        &mut self,
        now: Time,
        slot: u32,
        position: u32,
    ) -> Option<Duration> {
        let mut res = std::mem::take(&mut self.scratch_f);
        res.clear();
        let c = self.call(slot);
        let aht = self.recent_aht(c.queue);
        let wrap = self.queues[c.queue.0 as usize].cfg.wrap_up;
        let aht_ns = aht.as_nanos() as u64;
        let class = &self.classes[c.class as usize];
        for a in class.eligible.iter_and(&self.working) {
            let ag = &self.agents[a];
            let elapsed = now.saturating_sub(ag.since).as_nanos() as u64;
            let r = match ag.state {
                AState::Available => 0,
                AState::Reserved(_) => aht_ns,
                AState::OnCall(_) => aht_ns.saturating_sub(elapsed).max(aht_ns / 4),
                AState::WrapUp => (wrap.as_nanos() as u64).saturating_sub(elapsed),
                AState::LoggedOut | AState::Paused(_) => continue,
            };
            res.push(r.min(aht_ns));
        }
        let n = res.len();
        let out = if n == 0 {
            None
        } else {
            let k = position.max(1) as usize - 1;
            let (_, r, _) = res.select_nth_unstable(k % n);
            Some(Duration::from_nanos(*r) + aht * (k / n) as u32)
        };
        self.scratch_f = res;
        out
    }
}
