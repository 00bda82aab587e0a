//! Telling the caller: position, estimated wait (the formula is in `docs/acd.md`) and the
//! callback offer.

use std::time::Duration;

use super::{Acd, Phase};
use crate::event::Action;
use crate::types::QueueId;

impl Acd {
    /// Announces position and estimated wait to a waiting caller (and offers a callback
    /// when the estimate passes the queue's threshold).
    pub(crate) fn announce(&mut self, slot: u32) {
        let c = self.call(slot);
        if !matches!(c.phase, Phase::Waiting | Phase::Sticky(_)) || c.callback {
            return;
        }
        let position = self.position(slot);
        let ewt = self.estimated_wait(slot, position);
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

    /// Estimated wait of the caller at `position` (see `docs/acd.md`):
    /// `max(0, position − F) × AHT / N`, with N the qualified agents who are working (logged
    /// in, not paused, reachable) and F those of them available now. Agents release callers
    /// at N / AHT per second when all are busy, so the k-th caller waits for k releases.
    pub(crate) fn estimated_wait(&self, slot: u32, position: u32) -> Option<Duration> {
        let c = self.call(slot);
        let aht = self.recent_aht(c.queue);
        let class = &self.classes[c.class as usize];
        let n = class.eligible.count_and(&self.working);
        if n == 0 {
            return None;
        }
        let free = class.eligible.count_and(&self.available);
        let ahead = u64::from(position).saturating_sub(free as u64);
        let ns = aht.as_nanos().saturating_mul(u128::from(ahead)) / n as u128;
        Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }
}
