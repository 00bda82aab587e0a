//! Outgoing header rewriting: one SSRC per leg and sequence numbers and timestamps that
//! continue across source changes.

use std::time::Instant;

use crate::rtp::FixedHeader;

/// Maps packets of any number of successive sources onto one outgoing RTP stream.
///
/// Each source keeps its own relative sequence and timing (late and reordered packets
/// stay late and reordered); when the source changes (its SSRC differs from the last
/// one), the new source's numbering is shifted to continue one sequence number after the
/// last packet sent, and its timestamps to continue by the wall-clock time elapsed (at
/// least one frame). The first packet of a new source carries the marker bit.
#[derive(Debug, Clone)]
pub struct OutboundRewriter {
    ssrc: u32,
    clock_rate: u32,
    frame_ts: u32,
    source: Option<u32>,
    seq_delta: u16,
    ts_delta: u32,
    next_seq: u16,
    last_ts: u32,
    last_at: Option<Instant>,
    packets: u32,
    octets: u32,
}

impl OutboundRewriter {
    /// A stream with SSRC `ssrc` starting at `first_seq` and `first_ts`, clocked at
    /// `clock_rate` Hz with `ptime_ms` frames.
    pub fn new(ssrc: u32, first_seq: u16, first_ts: u32, clock_rate: u32, ptime_ms: u32) -> Self {
        OutboundRewriter {
            ssrc,
            clock_rate,
            frame_ts: clock_rate / 1000 * ptime_ms,
            source: None,
            seq_delta: 0,
            ts_delta: 0,
            next_seq: first_seq,
            last_ts: first_ts,
            last_at: None,
            packets: 0,
            octets: 0,
        }
    }

    /// Changes the clock after a re-negotiation; the next packet starts a new source.
    pub fn set_clock(&mut self, clock_rate: u32, ptime_ms: u32) {
        self.clock_rate = clock_rate;
        self.frame_ts = clock_rate / 1000 * ptime_ms;
        self.source = None;
    }

    /// The SSRC of the outgoing stream.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Counts a sent packet with `payload` octets, for sender reports.
    #[inline]
    pub fn count(&mut self, payload: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload as u32);
    }

    /// Packets and payload octets sent (wrapping, as in an SR).
    pub fn sent(&self) -> (u32, u32) {
        (self.packets, self.octets)
    }

    /// The RTP timestamp that corresponds to `now` on this stream's clock, if anything
    /// was sent (for the SR's NTP/RTP pair).
    pub fn timestamp_at(&self, now: Instant) -> Option<u32> {
        let at = self.last_at?;
        let elapsed = now.saturating_duration_since(at);
        let units = (elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000) as u32;
        Some(self.last_ts.wrapping_add(units))
    }

    /// Rewrites `h` (SSRC, sequence, timestamp, marker on a source change).
    #[inline]
    pub fn rewrite(&mut self, now: Instant, h: &mut FixedHeader) {
        if self.source != Some(h.ssrc) {
            self.switch_source(now, h);
        }
        let seq = h.sequence.wrapping_add(self.seq_delta);
        let ts = h.timestamp.wrapping_add(self.ts_delta);
        // Only packets newer than the last one sent move the stream forward.
        if seq.wrapping_sub(self.next_seq) < 0x8000 {
            self.next_seq = seq.wrapping_add(1);
            self.last_ts = ts;
            self.last_at = Some(now);
        }
        h.sequence = seq;
        h.timestamp = ts;
        h.ssrc = self.ssrc;
    }

    #[cold]
    fn switch_source(&mut self, now: Instant, h: &mut FixedHeader) {
        let ts = match self.last_at {
            None => self.last_ts,
            Some(at) => {
                let elapsed = now.saturating_duration_since(at);
                let units = (elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000)
                    .min(u128::from(u32::MAX / 2)) as u32;
                self.last_ts.wrapping_add(units.max(self.frame_ts))
            }
        };
        self.seq_delta = self.next_seq.wrapping_sub(h.sequence);
        self.ts_delta = ts.wrapping_sub(h.timestamp);
        self.source = Some(h.ssrc);
        h.marker = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn hdr(ssrc: u32, seq: u16, ts: u32) -> FixedHeader {
        FixedHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
    }

    #[test]
    fn continuous_across_source_change() {
        let t0 = Instant::now();
        let mut w = OutboundRewriter::new(77, 1000, 50_000, 8000, 20);
        // A prompt player's stream.
        let mut out = Vec::new();
        for i in 0..3u16 {
            let mut h = hdr(1, 500 + i, 9000 + 160 * u32::from(i));
            w.rewrite(t0 + Duration::from_millis(20 * u64::from(i)), &mut h);
            out.push(h);
        }
        assert!(out[0].marker);
        assert!(!out[1].marker);
        assert_eq!(
            out.iter()
                .map(|h| (h.sequence, h.timestamp, h.ssrc))
                .collect::<Vec<_>>(),
            [(1000, 50_000, 77), (1001, 50_160, 77), (1002, 50_320, 77)]
        );
        // The other party takes over 100 ms after the last prompt packet.
        let mut h = hdr(2, 40_000, 123_456);
        w.rewrite(t0 + Duration::from_millis(140), &mut h);
        assert_eq!(
            (h.sequence, h.timestamp, h.ssrc, h.marker),
            (1003, 50_320 + 800, 77, true)
        );
        let mut h = hdr(2, 40_001, 123_616);
        w.rewrite(t0 + Duration::from_millis(160), &mut h);
        assert_eq!((h.sequence, h.timestamp, h.marker), (1004, 51_280, false));
    }

    #[test]
    fn immediate_switch_advances_at_least_one_frame() {
        let t0 = Instant::now();
        let mut w = OutboundRewriter::new(1, 0, 0, 8000, 20);
        let mut h = hdr(1, 0, 0);
        w.rewrite(t0, &mut h);
        let mut h = hdr(2, 0, 0);
        w.rewrite(t0, &mut h);
        assert_eq!((h.sequence, h.timestamp), (1, 160));
    }

    #[test]
    fn reordered_packets_keep_their_place_and_do_not_rewind() {
        let t0 = Instant::now();
        let mut w = OutboundRewriter::new(1, 10, 0, 8000, 20);
        let mut a = hdr(5, 100, 0);
        w.rewrite(t0, &mut a);
        let mut c = hdr(5, 102, 320);
        w.rewrite(t0, &mut c);
        let mut b = hdr(5, 101, 160);
        w.rewrite(t0, &mut b);
        assert_eq!((a.sequence, b.sequence, c.sequence), (10, 11, 12));
        // A new source continues after 12, not after the late 11.
        let mut d = hdr(6, 0, 0);
        w.rewrite(t0, &mut d);
        assert_eq!(d.sequence, 13);
    }

    #[test]
    fn sequence_wraps() {
        let t0 = Instant::now();
        let mut w = OutboundRewriter::new(1, 65535, u32::MAX, 8000, 20);
        let mut a = hdr(5, 7, 0);
        w.rewrite(t0, &mut a);
        let mut b = hdr(5, 8, 160);
        w.rewrite(t0, &mut b);
        assert_eq!((a.sequence, b.sequence), (65535, 0));
        assert_eq!(b.timestamp, 159);
    }
}
