//! Reception statistics of one RTP source: RFC 3550 Appendix A.1 (sequence validation with
//! probation, wraparound and loss counting), A.3 (loss fractions) and A.8 (interarrival
//! jitter). Sans-IO: arrival times are passed in.

use std::time::{Duration, Instant};

use crate::rtcp::ReportBlock;

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u8 = 2;

/// What [`ReceptionStats::update`] made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceOutcome {
    /// Counted as received (in order, after a small gap, or a late/duplicate packet
    /// within the misorder window).
    Valid,
    /// The source is still on probation (not yet `MIN_SEQUENTIAL` in-order packets).
    Probation,
    /// A jump larger than the dropout window; a second packet continuing the jump
    /// restarts the sequence (the sender restarted).
    BadJump,
}

/// Per-source reception state for receiver reports.
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    clock_rate: u32,
    epoch: Instant,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u8,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<u32>,
    /// Jitter scaled by 16 (RFC 3550 A.8 integer form).
    jitter_q4: u32,
    last_sr: Option<(u32, Instant)>,
}

impl ReceptionStats {
    /// Starts tracking a source whose first packet carries `seq`, for a payload clocked
    /// at `clock_rate` Hz. `now` anchors the arrival-time clock.
    pub fn new(seq: u16, clock_rate: u32, now: Instant) -> Self {
        let mut s = ReceptionStats {
            clock_rate: clock_rate.max(1),
            epoch: now,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            last_sr: None,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Accounts for a packet with sequence `seq` and RTP timestamp `timestamp` that
    /// arrived at `now`.
    pub fn update(&mut self, seq: u16, timestamp: u32, now: Instant) -> SequenceOutcome {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    self.update_jitter(timestamp, now);
                    return SequenceOutcome::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SequenceOutcome::Probation;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the source restarted.
                self.init_seq(seq);
                self.transit = None;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return SequenceOutcome::BadJump;
            }
        }
        // else: duplicate or reordered packet, counted as received.
        self.received = self.received.wrapping_add(1);
        self.update_jitter(timestamp, now);
        SequenceOutcome::Valid
    }

    fn arrival_units(&self, now: Instant) -> u32 {
        // u64 arithmetic (a u128 division costs tens of ns on the per-packet path);
        // wrapping is fine: only differences of transit times are used.
        let d = now.saturating_duration_since(self.epoch);
        let rate = u64::from(self.clock_rate);
        d.as_secs()
            .wrapping_mul(rate)
            .wrapping_add(u64::from(d.subsec_nanos()) * rate / 1_000_000_000) as u32
    }

    fn update_jitter(&mut self, timestamp: u32, now: Instant) {
        let transit = self.arrival_units(now).wrapping_sub(timestamp);
        if let Some(prev) = self.transit {
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            // J += (|D| - J) / 16, kept scaled by 16; in u64 and saturated, since hostile
            // timestamps can make |D| as large as 2^31.
            let j = u64::from(self.jitter_q4);
            let j = (j + d).saturating_sub((j + 8) >> 4);
            self.jitter_q4 = j.min(u64::from(u32::MAX)) as u32;
        }
        self.transit = Some(transit);
    }

    /// Extended highest sequence number received (cycles in the upper 16 bits).
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected so far.
    pub fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received (duplicates included, as RFC 3550 counts them).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative number of packets lost, clamped to the 24-bit signed field.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i64::from(self.expected()) - i64::from(self.received);
        lost.clamp(-0x80_0000, 0x7f_ffff) as i32
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Whether the source passed probation.
    pub fn is_valid(&self) -> bool {
        self.probation == 0
    }

    /// Records a sender report from this source (its NTP timestamp) received at `now`,
    /// for the LSR/DLSR fields of the next report block.
    pub fn on_sender_report(&mut self, ntp: u64, now: Instant) {
        self.last_sr = Some(((ntp >> 16) as u32, now));
    }

    /// Builds the report block for this source (`ssrc`) at `now` and starts the next
    /// reporting interval (fraction lost is per interval, RFC 3550 A.3).
    pub fn report_block(&mut self, ssrc: u32, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, to_q16(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_highest_seq: self.extended_max(),
            jitter: self.jitter(),
            last_sr: lsr,
            delay_since_last_sr: dlsr,
        }
    }
}

/// A duration in units of 1/65536 s (the DLSR field), saturating.
fn to_q16(d: Duration) -> u32 {
    let v = d.as_nanos() * 65536 / 1_000_000_000;
    v.min(u128::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut ReceptionStats, seqs: &[u16], t0: Instant) {
        for (i, &q) in seqs.iter().enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            s.update(q, 160 * i as u32, now);
        }
    }

    #[test]
    fn probation_then_counting() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(100, 8000, t0);
        assert_eq!(s.update(100, 0, t0), SequenceOutcome::Probation);
        assert!(!s.is_valid());
        assert_eq!(s.update(101, 160, t0), SequenceOutcome::Valid);
        assert!(s.is_valid());
        assert_eq!(s.received(), 1);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn wraparound_extends_sequence() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(65534, 8000, t0);
        feed(&mut s, &[65534, 65535, 0, 1, 2], t0);
        assert_eq!(s.extended_max(), 65536 + 2);
        assert_eq!(s.cumulative_lost(), 0);
        assert_eq!(s.expected(), 4);
    }

    #[test]
    fn loss_counted_and_fraction_per_interval() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(10, 8000, t0);
        // 10 (probation), 11 valid, then 12..=20 with 14 and 15 missing.
        feed(&mut s, &[10, 11, 12, 13, 16, 17, 18, 19, 20], t0);
        assert_eq!(s.cumulative_lost(), 2);
        let rb = s.report_block(7, t0);
        // expected 10 (11..=20), received 8: 2/10 * 256 = 51.
        assert_eq!(rb.fraction_lost, 51);
        assert_eq!(rb.extended_highest_seq, 20);
        // Next interval without loss.
        feed(&mut s, &[21, 22], t0);
        assert_eq!(s.report_block(7, t0).fraction_lost, 0);
    }

    #[test]
    fn big_jump_needs_two_packets_to_restart() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(1, 8000, t0);
        feed(&mut s, &[1, 2, 3], t0);
        assert_eq!(s.update(40000, 0, t0), SequenceOutcome::BadJump);
        assert_eq!(s.update(40001, 0, t0), SequenceOutcome::Valid);
        assert_eq!(s.extended_max(), 40001);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn jitter_zero_for_regular_arrivals_and_grows_with_variation() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(0, 8000, t0);
        for i in 0..50u16 {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            s.update(i, 160 * u32::from(i), now);
        }
        assert_eq!(s.jitter(), 0);
        for i in 50..200u16 {
            // Alternate 0 and 10 ms late: |D| = 80 units each packet.
            let late = if i % 2 == 0 { 10 } else { 0 };
            let now = t0 + Duration::from_millis(20 * u64::from(i) + late);
            s.update(i, 160 * u32::from(i), now);
        }
        // J converges towards 80 timestamp units.
        assert!((70..=80).contains(&s.jitter()), "jitter {}", s.jitter());
    }

    #[test]
    fn hostile_timestamps_saturate_jitter_without_overflow() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(0, 8000, t0);
        for i in 0..2000u16 {
            let ts = if i % 2 == 0 { 0 } else { 0x7fff_ffff };
            s.update(i, ts, t0);
        }
        assert!(s.jitter() > 0x0100_0000);
    }

    #[test]
    fn dlsr_in_sixteenth_of_milliseconds() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(0, 8000, t0);
        s.on_sender_report(0x1234_5678_9abc_def0, t0);
        let rb = s.report_block(1, t0 + Duration::from_millis(500));
        assert_eq!(rb.last_sr, 0x5678_9abc);
        assert_eq!(rb.delay_since_last_sr, 32768);
    }
}
