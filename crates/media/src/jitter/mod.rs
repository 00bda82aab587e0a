//! Adaptive jitter buffer, sans-IO. It knows nothing of RTP parsing: the caller passes each
//! packet's SSRC, sequence number, timestamp, payload and arrival time, and calls
//! [`JitterBuffer::pop`] once per frame period of its own playout clock.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchyard_media::jitter::{JitterBuffer, JitterConfig, Playout};
//!
//! let t0 = Instant::now(); // the caller's clock; the buffer never reads one
//! let mut jb: JitterBuffer<Vec<u8>> = JitterBuffer::new(JitterConfig::default());
//! jb.push(t0, 0x1234, 1, 160, vec![0xFF; 160]);
//! jb.push(t0 + Duration::from_millis(20), 0x1234, 2, 320, vec![0xFF; 160]);
//! let mut played = 0;
//! for tick in 0..6 {
//!     match jb.pop(t0 + Duration::from_millis(20 * tick)) {
//!         Playout::Frame { payload, .. } => { played += 1; assert_eq!(payload.len(), 160) }
//!         Playout::Conceal { .. } | Playout::Idle => {} // play PLC or silence
//!     }
//! }
//! assert_eq!(played, 2);
//! ```
//!
//! How it adapts: every arrival's *slack* (how long before its playout time it arrived) is
//! recorded. A packet arriving after its slot is dropped as late and the delay grows by one
//! frame at once (a concealment frame is inserted). When the smallest slack over the last
//! second (at least 300 ms) exceeds one frame plus a margin, one frame is dropped to shrink the delay. The
//! delay thus follows the observed jitter, bounded by `min_delay` and `max_delay`.

pub mod conceal;

use std::time::{Duration, Instant};

/// Jitter buffer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream.
    pub clock_rate: u32,
    /// Timestamp ticks per frame (the ptime; 160 for 20 ms at 8000 Hz).
    pub frame_ticks: u32,
    /// Delay before the first frame plays.
    pub initial_delay: Duration,
    /// Lower bound of the adaptive delay.
    pub min_delay: Duration,
    /// Upper bound; packets later than this are dropped.
    pub max_delay: Duration,
    /// Packets held at most.
    pub capacity: usize,
    /// A timestamp this far from the expected one (with no matching sequence gap) is a
    /// reset of the sender's clock: the buffer starts over.
    pub max_timestamp_jump: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            frame_ticks: 160,
            initial_delay: Duration::from_millis(20),
            min_delay: Duration::from_millis(0),
            max_delay: Duration::from_millis(300),
            capacity: 32,
            max_timestamp_jump: Duration::from_secs(2),
        }
    }
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Queued,
    /// Already held or already played.
    Duplicate,
    /// Arrived after its playout slot; dropped.
    Late,
    /// New SSRC or a timestamp/sequence discontinuity: the buffer started over with it.
    Reset,
    /// The buffer was full; the oldest packet was dropped to make room.
    Overflow,
}

/// Why a frame has to be concealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcealReason {
    /// The packet for this slot never arrived (or came too late).
    Lost,
    /// The delay is growing by one frame.
    Stretch,
    /// Nothing is buffered at all.
    Underrun,
}

/// What to play for one frame period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout<P> {
    /// A received frame.
    Frame {
        /// Its payload.
        payload: P,
        /// Its RTP sequence number.
        seq: u16,
        /// Its RTP timestamp.
        timestamp: u32,
    },
    /// Play packet-loss concealment, silence or comfort noise for this slot.
    Conceal {
        /// The RTP timestamp of the slot.
        timestamp: u32,
        /// Why.
        reason: ConcealReason,
    },
    /// No stream (not started, or stopped after a long silence): play silence.
    Idle,
}

/// Counters for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Frames played.
    pub played: u64,
    /// Slots concealed because their packet was missing.
    pub lost: u64,
    /// Packets dropped for arriving after their slot.
    pub late: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Frames dropped to shrink the delay.
    pub shrunk: u64,
    /// Concealment frames inserted to grow the delay.
    pub stretched: u64,
    /// Restarts (SSRC change, timestamp jump).
    pub resets: u64,
    /// Packets dropped because the buffer was full.
    pub overflows: u64,
}

#[derive(Debug, Clone)]
struct Slot<P> {
    ext_ts: i64,
    seq: u16,
    payload: P,
}

/// Slacks remembered (one second of 20 ms packets).
const SLACK_WINDOW: usize = 50;
/// Slacks needed before the delay may shrink (300 ms of 20 ms packets).
const SHRINK_MIN_SAMPLES: usize = 15;

/// The adaptive jitter buffer, generic over the payload type (e.g. `Vec<u8>` or
/// `bytes::Bytes`); it never copies or allocates payloads.
#[derive(Debug)]
pub struct JitterBuffer<P> {
    cfg: JitterConfig,
    /// Held packets, sorted by extended timestamp; capacity reserved up front.
    slots: Vec<Slot<P>>,
    ssrc: Option<u32>,
    highest_ext_ts: i64,
    highest_seq: u16,
    /// Playout state once started: the next slot's timestamp, and the local time and
    /// timestamp of the last pop (the playout clock's mapping).
    next_ts: Option<i64>,
    last_pop: Option<(Instant, i64)>,
    /// Arrival of the first packet while priming.
    first_arrival: Option<Instant>,
    /// Arrival of the stream's first packet: the reference for the jitter estimate.
    epoch: Option<Instant>,
    /// Recently played sequence numbers: bit `i` is `played_head - i`.
    played_head: Option<u16>,
    played_mask: u64,
    /// Recent slacks (µs) and the number of pops since the last shrink.
    slacks: [i64; SLACK_WINDOW],
    slack_len: usize,
    slack_pos: usize,
    pops_since_adapt: u32,
    stretch_pending: bool,
    empty_pops: u32,
    /// RFC 3550 interarrival jitter estimate, in timestamp ticks ×16.
    jitter_q4: i64,
    last_transit: Option<i64>,
    stats: JitterStats,
}

impl<P> JitterBuffer<P> {
    /// An empty buffer.
    pub fn new(cfg: JitterConfig) -> Self {
        let cfg = JitterConfig {
            clock_rate: cfg.clock_rate.max(1),
            frame_ticks: cfg.frame_ticks.max(1),
            capacity: cfg.capacity.max(2),
            ..cfg
        };
        Self {
            slots: Vec::with_capacity(cfg.capacity),
            cfg,
            ssrc: None,
            highest_ext_ts: 0,
            highest_seq: 0,
            next_ts: None,
            last_pop: None,
            first_arrival: None,
            epoch: None,
            played_head: None,
            played_mask: 0,
            slacks: [0; SLACK_WINDOW],
            slack_len: 0,
            slack_pos: 0,
            pops_since_adapt: 0,
            stretch_pending: false,
            empty_pops: 0,
            jitter_q4: 0,
            last_transit: None,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// RFC 3550 interarrival jitter estimate.
    pub fn jitter(&self) -> Duration {
        self.ticks_to_duration(self.jitter_q4 / 16)
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The current buffering delay: how far the playout point lags the newest packet.
    pub fn delay(&self) -> Duration {
        match self.next_ts {
            Some(n) => self.ticks_to_duration((self.highest_ext_ts - n).max(0)),
            None => Duration::ZERO,
        }
    }

    fn ticks_to_duration(&self, ticks: i64) -> Duration {
        Duration::from_micros(
            (ticks.max(0) as u64).saturating_mul(1_000_000) / u64::from(self.cfg.clock_rate),
        )
    }

    fn ticks_to_us(&self, ticks: i64) -> i64 {
        ticks.saturating_mul(1_000_000) / i64::from(self.cfg.clock_rate)
    }

    fn us_to_ticks(&self, us: i64) -> i64 {
        us.saturating_mul(i64::from(self.cfg.clock_rate)) / 1_000_000
    }

    fn reset(&mut self) {
        self.slots.clear();
        self.next_ts = None;
        self.last_pop = None;
        self.first_arrival = None;
        self.epoch = None;
        self.played_head = None;
        self.played_mask = 0;
        self.slack_len = 0;
        self.slack_pos = 0;
        self.pops_since_adapt = 0;
        self.stretch_pending = false;
        self.empty_pops = 0;
        self.last_transit = None;
    }

    /// Offer one packet that arrived at `now`.
    pub fn push(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        payload: P,
    ) -> PushOutcome {
        let mut outcome = PushOutcome::Queued;
        if self.ssrc != Some(ssrc) {
            let first = self.ssrc.is_none();
            self.reset();
            self.ssrc = Some(ssrc);
            self.highest_ext_ts = i64::from(timestamp);
            self.highest_seq = seq;
            if !first {
                self.stats.resets += 1;
                outcome = PushOutcome::Reset;
            }
        }
        // Extend the timestamp relative to the highest seen (handles 32-bit wrap).
        let delta = timestamp.wrapping_sub(self.highest_ext_ts as u32) as i32;
        let mut ext_ts = self.highest_ext_ts + i64::from(delta);
        let seq_delta = seq.wrapping_sub(self.highest_seq) as i16;
        let jump = self.us_to_ticks(self.cfg.max_timestamp_jump.as_micros() as i64);
        // A timestamp far from where the sequence number says it should be: the sender's
        // clock was reset (or the stream replaced without an SSRC change). Start over.
        let expected = i64::from(seq_delta) * i64::from(self.cfg.frame_ticks);
        if (i64::from(delta) - expected).abs() > jump {
            self.reset();
            self.highest_ext_ts = i64::from(timestamp);
            self.highest_seq = seq;
            ext_ts = self.highest_ext_ts;
            self.stats.resets += 1;
            outcome = PushOutcome::Reset;
        }
        if ext_ts > self.highest_ext_ts {
            self.highest_ext_ts = ext_ts;
        }
        if seq_delta > 0 {
            self.highest_seq = seq;
        }

        // Jitter estimate (RFC 3550 §6.4.1), in timestamp units.
        let arrival_ticks = self.arrival_ticks(now);
        let transit = arrival_ticks - ext_ts;
        if let Some(prev) = self.last_transit {
            let d = (transit - prev).abs();
            self.jitter_q4 += d - (self.jitter_q4 + 8) / 16;
        }
        self.last_transit = Some(transit);

        // Already played, or arriving after its slot.
        if let Some(next) = self.next_ts
            && ext_ts < next - i64::from(self.cfg.frame_ticks) / 2
        {
            if self.was_played(seq) {
                self.stats.duplicates += 1;
                return PushOutcome::Duplicate;
            }
            self.stats.late += 1;
            self.record_slack(-1);
            return PushOutcome::Late;
        }
        if self
            .slots
            .binary_search_by_key(&ext_ts, |s| s.ext_ts)
            .is_ok()
        {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        if let Some((t, ts)) = self.last_pop {
            // Slack: the slot's playout time minus now.
            let playout_us = self.ticks_to_us(ext_ts - ts)
                + t.saturating_duration_since(now).as_micros() as i64
                - now.saturating_duration_since(t).as_micros() as i64;
            self.record_slack(playout_us);
        } else if self.first_arrival.is_none() {
            self.first_arrival = Some(now);
        }
        if self.slots.len() >= self.cfg.capacity {
            self.slots.remove(0);
            self.stats.overflows += 1;
            outcome = PushOutcome::Overflow;
        }
        let pos = self.slots.partition_point(|s| s.ext_ts < ext_ts);
        self.slots.insert(
            pos,
            Slot {
                ext_ts,
                seq,
                payload,
            },
        );
        outcome
    }

    /// Arrival time in timestamp ticks since the stream's first packet.
    fn arrival_ticks(&mut self, now: Instant) -> i64 {
        let epoch = *self.epoch.get_or_insert(now);
        self.us_to_ticks(now.saturating_duration_since(epoch).as_micros() as i64)
    }

    fn was_played(&self, seq: u16) -> bool {
        let Some(head) = self.played_head else {
            return false;
        };
        let back = head.wrapping_sub(seq);
        back < 64 && self.played_mask & (1 << back) != 0
    }

    fn mark_played(&mut self, seq: u16) {
        match self.played_head {
            Some(head) if (seq.wrapping_sub(head) as i16) <= 0 => {
                let back = head.wrapping_sub(seq);
                if back < 64 {
                    self.played_mask |= 1 << back;
                }
            }
            Some(head) => {
                let ahead = u32::from(seq.wrapping_sub(head));
                self.played_mask = if ahead >= 64 {
                    0
                } else {
                    self.played_mask << ahead
                };
                self.played_mask |= 1;
                self.played_head = Some(seq);
            }
            None => {
                self.played_mask = 1;
                self.played_head = Some(seq);
            }
        }
    }

    fn record_slack(&mut self, slack_us: i64) {
        if slack_us < 0 {
            self.stretch_pending = true;
        }
        self.slacks[self.slack_pos] = slack_us;
        self.slack_pos = (self.slack_pos + 1) % SLACK_WINDOW;
        self.slack_len = (self.slack_len + 1).min(SLACK_WINDOW);
    }

    /// Take what to play for the frame period starting at `now`. Call once per frame
    /// period.
    pub fn pop(&mut self, now: Instant) -> Playout<P> {
        let frame = i64::from(self.cfg.frame_ticks);
        let Some(mut next) = self.next_ts else {
            // Priming: start once the first packet has waited the initial delay.
            let (Some(first), Some(head)) = (self.first_arrival, self.slots.first()) else {
                return Playout::Idle;
            };
            if now.saturating_duration_since(first) < self.cfg.initial_delay {
                return Playout::Idle;
            }
            let start = head.ext_ts;
            self.next_ts = Some(start);
            self.last_pop = Some((now, start));
            return self.pop_slot(now, start);
        };
        self.last_pop = Some((now, next));
        self.pops_since_adapt += 1;

        // Grow the delay: a late packet was seen.
        let max_delay = self.us_to_ticks(self.cfg.max_delay.as_micros() as i64);
        if self.stretch_pending {
            self.stretch_pending = false;
            if self.delay_ticks() + frame <= max_delay {
                self.stats.stretched += 1;
                self.pops_since_adapt = 0;
                self.slack_len = 0;
                // Keep next_ts: this slot's audio plays one period later.
                self.last_pop = Some((now, next - frame));
                return Playout::Conceal {
                    timestamp: (next - frame) as u32,
                    reason: ConcealReason::Stretch,
                };
            }
        }
        // Shrink the delay: every packet of the last second had a frame to spare.
        let margin_us = 5_000;
        if self.slack_len >= SHRINK_MIN_SAMPLES
            && self.pops_since_adapt as usize >= SHRINK_MIN_SAMPLES
        {
            let min_slack = self.slacks[..self.slack_len]
                .iter()
                .copied()
                .min()
                .unwrap_or(0);
            let min_delay = self.us_to_ticks(self.cfg.min_delay.as_micros() as i64);
            if min_slack > self.ticks_to_us(frame) + margin_us
                && self.delay_ticks() - frame >= min_delay
            {
                if let Some(head) = self.slots.first()
                    && head.ext_ts <= next + frame / 2
                {
                    self.slots.remove(0);
                }
                self.stats.shrunk += 1;
                next += frame;
                self.next_ts = Some(next);
                self.last_pop = Some((now, next));
                self.pops_since_adapt = 0;
                self.slack_len = 0;
            }
        }
        self.pop_slot(now, next)
    }

    fn delay_ticks(&self) -> i64 {
        self.next_ts.map_or(0, |n| (self.highest_ext_ts - n).max(0))
    }

    fn pop_slot(&mut self, _now: Instant, next: i64) -> Playout<P> {
        let frame = i64::from(self.cfg.frame_ticks);
        // Drop anything that is now behind the playout point.
        while self
            .slots
            .first()
            .is_some_and(|s| s.ext_ts < next - frame / 2)
        {
            self.slots.remove(0);
            self.stats.late += 1;
        }
        match self.slots.first() {
            Some(head) if head.ext_ts <= next + frame / 2 => {
                let slot = self.slots.remove(0);
                self.mark_played(slot.seq);
                self.next_ts = Some(slot.ext_ts + frame);
                self.empty_pops = 0;
                self.stats.played += 1;
                Playout::Frame {
                    payload: slot.payload,
                    seq: slot.seq,
                    timestamp: slot.ext_ts as u32,
                }
            }
            Some(_) => {
                self.next_ts = Some(next + frame);
                self.empty_pops = 0;
                self.stats.lost += 1;
                Playout::Conceal {
                    timestamp: next as u32,
                    reason: ConcealReason::Lost,
                }
            }
            None => {
                self.empty_pops += 1;
                let max_frames = self.us_to_ticks(self.cfg.max_delay.as_micros() as i64) / frame;
                if i64::from(self.empty_pops) > max_frames.max(1) {
                    // The stream stopped (hold, DTX, end): wait for it to come back.
                    let ssrc = self.ssrc;
                    self.reset();
                    self.ssrc = ssrc;
                    return Playout::Idle;
                }
                self.next_ts = Some(next + frame);
                self.stats.lost += 1;
                Playout::Conceal {
                    timestamp: next as u32,
                    reason: ConcealReason::Underrun,
                }
            }
        }
    }
}
