//! A pacing engine for thousands of periodic streams (prompt players, tone generators)
//! without one timer per stream: one central tick, with streams spread over the phases
//! of their period so each tick serves an even share, and the frames of one tick sent
//! together in a batch. Sans-IO: the driver asks for the next deadline, sleeps, and
//! passes the time in.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchyard_media::net::Pacer;
//!
//! let t0 = Instant::now();
//! let mut pacer = Pacer::new(Duration::from_millis(20), 20, t0);
//! let ids: Vec<_> = (0..1000).map(|_| pacer.add(t0)).collect();
//! let mut due = Vec::new();
//! let mut served = 0;
//! while let Some(at) = pacer.poll_timeout() {
//!     if at >= t0 + Duration::from_millis(20) { break; }
//!     pacer.due(at, &mut due); // send one frame for each stream in `due`, in one batch
//!     served += due.len();
//! }
//! assert_eq!(served, 1000); // every stream once per 20 ms, 50 per 1 ms tick
//! # let _ = ids;
//! ```

use std::time::{Duration, Instant};

/// A stream registered with the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacedId(pub u32);

/// Central-tick scheduler for periodic streams.
#[derive(Debug, Clone)]
pub struct Pacer {
    period: Duration,
    tick: Duration,
    phases: Vec<Vec<PacedId>>,
    /// Phase of each id (index = id), `None` when removed.
    slot: Vec<Option<u32>>,
    free: Vec<u32>,
    next_tick: Instant,
    next_phase: usize,
}

impl Pacer {
    /// Streams with period `period` (e.g. 20 ms), served in `phases` ticks per period.
    pub fn new(period: Duration, phases: u32, now: Instant) -> Self {
        let phases = phases.max(1);
        Pacer {
            period,
            tick: period / phases,
            phases: vec![Vec::new(); phases as usize],
            slot: Vec::new(),
            free: Vec::new(),
            next_tick: now,
            next_phase: 0,
        }
    }

    /// Registers a stream in the least loaded phase; its first frame is due at that
    /// phase's next tick.
    pub fn add(&mut self, _now: Instant) -> PacedId {
        let phase = (0..self.phases.len())
            .min_by_key(|&p| {
                // Prefer the least loaded; among equals, the one furthest from now
                // (keeps a burst of adds spread).
                (
                    self.phases[p].len(),
                    (p + self.phases.len() - self.next_phase) % self.phases.len(),
                )
            })
            .unwrap_or(0);
        let id = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slot.push(None);
                (self.slot.len() - 1) as u32
            }
        };
        self.slot[id as usize] = Some(phase as u32);
        self.phases[phase].push(PacedId(id));
        PacedId(id)
    }

    /// Unregisters a stream.
    pub fn remove(&mut self, id: PacedId) {
        if let Some(Some(phase)) = self.slot.get(id.0 as usize).copied() {
            self.phases[phase as usize].retain(|x| *x != id);
            self.slot[id.0 as usize] = None;
            self.free.push(id.0);
        }
    }

    /// Streams registered.
    pub fn len(&self) -> usize {
        self.phases.iter().map(Vec::len).sum()
    }

    /// Whether no stream is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next tick, or `None` with no streams.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.is_empty()).then_some(self.next_tick)
    }

    /// Fills `due` with the streams whose frame is due at `now` (all phases whose tick
    /// passed, so a late wake-up catches up without losing frames) and advances.
    pub fn due(&mut self, now: Instant, due: &mut Vec<PacedId>) {
        due.clear();
        // At most one period of catch-up: older frames are late anyway.
        let mut ticks = 0;
        while self.next_tick <= now && ticks < self.phases.len() {
            due.extend_from_slice(&self.phases[self.next_phase]);
            self.next_phase = (self.next_phase + 1) % self.phases.len();
            self.next_tick += self.tick;
            ticks += 1;
        }
        if self.next_tick <= now {
            // Far behind (suspended process): skip ahead rather than burst; the phases
            // keep their order, the schedule restarts from now.
            self.next_tick = now + self.tick;
        }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stream_once_per_period_spread_evenly() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_millis(20), 10, t0);
        for _ in 0..1000 {
            p.add(t0);
        }
        let mut due = Vec::new();
        let mut counts = vec![0u32; 1000];
        let mut per_tick = Vec::new();
        for _ in 0..30 {
            let at = p.poll_timeout().unwrap();
            p.due(at, &mut due);
            per_tick.push(due.len());
            for id in &due {
                counts[id.0 as usize] += 1;
            }
        }
        // 30 ticks = 3 periods.
        assert!(counts.iter().all(|&c| c == 3));
        assert!(per_tick.iter().all(|&n| n == 100), "{per_tick:?}");
    }

    #[test]
    fn late_wake_catches_up_one_period_at_most() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_millis(20), 4, t0);
        for _ in 0..8 {
            p.add(t0);
        }
        let mut due = Vec::new();
        // Woken 12 ms late: ticks at 0, 5, 10 ms are due.
        p.due(t0 + Duration::from_millis(12), &mut due);
        assert_eq!(due.len(), 6);
        assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_millis(15)));
        // Woken a second late: one period's worth, then skip ahead.
        p.due(t0 + Duration::from_secs(1), &mut due);
        assert_eq!(due.len(), 8);
        assert!(p.poll_timeout().unwrap() > t0 + Duration::from_secs(1));
    }

    #[test]
    fn removed_streams_are_not_served_and_ids_reused() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_millis(20), 2, t0);
        let a = p.add(t0);
        let b = p.add(t0);
        p.remove(a);
        let mut due = Vec::new();
        p.due(t0 + Duration::from_millis(20), &mut due);
        assert_eq!(due, [b]);
        assert_eq!(p.add(t0), a);
        p.remove(a);
        p.remove(b);
        assert_eq!(p.poll_timeout(), None);
    }
}
