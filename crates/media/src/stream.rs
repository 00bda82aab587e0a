//! Per-stream receive state, sans-IO: symmetric RTP with strict source learning, and
//! media inactivity detection.
//!
//! Strict learning works like Asterisk's `strictrtp`: after each new SDP the stream is
//! in learning mode; packets are dropped until `probation` packets with consecutive
//! sequence numbers arrive from one transport address (optionally, packets from the
//! address the SDP signalled are used meanwhile: see [`RtpStream::use_signalled`]). That address is then locked in:
//! media is sent back to it (symmetric RTP, for phones behind NAT) and packets from any
//! other address are dropped (RTP bleed and injection protection) until the next SDP.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchyard_media::stream::{DropReason, RtpStream, StreamConfig, StreamEvent, Verdict};
//!
//! let t0 = Instant::now();
//! let signalled = "192.0.2.1:4000".parse().unwrap();
//! let mut s = RtpStream::new(StreamConfig::default(), t0);
//! s.on_sdp(t0, Some(signalled), true);
//! let nat = "203.0.113.9:61000".parse().unwrap();
//! for seq in 1..=4u16 {
//!     s.handle_rtp(t0, nat, seq);
//! }
//! assert_eq!(s.poll_event(), Some(StreamEvent::SourceLearned(nat)));
//! assert_eq!(s.send_target(), Some(nat));
//! assert_eq!(s.handle_rtp(t0, signalled, 5), Verdict::Drop(DropReason::WrongSource));
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Stream policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Consecutive packets from one address needed to lock onto it (0 disables strict
    /// learning: every source is accepted and the latest one is sent to).
    pub probation: u8,
    /// Report [`StreamEvent::Inactive`] after this long without RTP (`None`: never).
    pub inactivity: Option<Duration>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            probation: 4,
            inactivity: Some(Duration::from_secs(30)),
        }
    }
}

/// What to do with a received RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Use it.
    Accept,
    /// Drop it.
    Drop(DropReason),
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Still learning the source; the packet counts towards probation.
    Learning,
    /// From an address other than the learned one.
    WrongSource,
}

/// Events for call control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// The source address was learned; media now goes there.
    SourceLearned(SocketAddr),
    /// No RTP for the configured time while media was expected.
    Inactive,
}

#[derive(Debug, Clone, Copy)]
enum Learning {
    /// No candidate yet.
    Idle,
    /// `count` consecutive packets from `addr`, the last with `seq`.
    Candidate {
        addr: SocketAddr,
        seq: u16,
        count: u8,
    },
    /// Locked onto `addr`.
    Locked(SocketAddr),
}

/// Receive-side state of one RTP stream.
#[derive(Debug, Clone)]
pub struct RtpStream {
    config: StreamConfig,
    signalled: Option<SocketAddr>,
    learning: Learning,
    expects_media: bool,
    last_activity: Instant,
    inactive_reported: bool,
    use_signalled: bool,
    events: VecDeque<StreamEvent>,
}

impl RtpStream {
    /// A stream with no SDP yet (nothing expected, nothing sent).
    pub fn new(config: StreamConfig, now: Instant) -> Self {
        RtpStream {
            config,
            signalled: None,
            learning: Learning::Idle,
            expects_media: false,
            last_activity: now,
            inactive_reported: false,
            use_signalled: false,
            events: VecDeque::new(),
        }
    }

    /// Whether packets from the signalled address are used while learning (they still
    /// count towards probation; other sources' packets are still dropped). A phone that
    /// is not behind NAT then loses none of its first packets (the first syllable, or
    /// the start of a short telephone-event); nothing is lost in protection, since a
    /// sender able to spoof that address could also do so once it is learned.
    pub fn use_signalled(&mut self, yes: bool) {
        self.use_signalled = yes;
    }

    /// A new SDP was negotiated: `remote` is the signalled RTP address (`None` on hold)
    /// and `expects_media` whether RTP should arrive (see
    /// [`NegotiatedAudio::expects_media`](crate::sdp::NegotiatedAudio::expects_media)).
    /// Learning starts again.
    pub fn on_sdp(&mut self, now: Instant, remote: Option<SocketAddr>, expects_media: bool) {
        self.signalled = remote;
        self.learning = Learning::Idle;
        self.set_expects_media(now, expects_media);
    }

    /// Changes whether RTP is expected (hold and resume) without restarting learning.
    pub fn set_expects_media(&mut self, now: Instant, expects_media: bool) {
        if expects_media && !self.expects_media {
            self.last_activity = now;
            self.inactive_reported = false;
        }
        self.expects_media = expects_media;
    }

    /// Where to send media: the learned address, else the signalled one.
    #[inline]
    pub fn send_target(&self) -> Option<SocketAddr> {
        match self.learning {
            Learning::Locked(a) => Some(a),
            _ => self.signalled,
        }
    }

    /// The learned source, once locked.
    pub fn learned(&self) -> Option<SocketAddr> {
        match self.learning {
            Learning::Locked(a) => Some(a),
            _ => None,
        }
    }

    /// Accounts for an RTP packet with sequence number `seq` from `from`.
    #[inline]
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, seq: u16) -> Verdict {
        match self.learning {
            Learning::Locked(a) if a == from => {
                self.touch(now);
                Verdict::Accept
            }
            Learning::Locked(_) => Verdict::Drop(DropReason::WrongSource),
            _ if self.config.probation == 0 => {
                self.lock(from);
                self.touch(now);
                Verdict::Accept
            }
            Learning::Idle => {
                self.candidate(now, from, seq, 1);
                self.verdict_after_learning(from)
            }
            Learning::Candidate {
                addr,
                seq: last,
                count,
            } => {
                let count = if addr == from && seq == last.wrapping_add(1) {
                    count.saturating_add(1)
                } else {
                    1
                };
                self.candidate(now, from, seq, count);
                self.verdict_after_learning(from)
            }
        }
    }

    fn verdict_after_learning(&self, from: SocketAddr) -> Verdict {
        // The packet that completes probation is the first one used (or, with
        // `use_signalled`, any packet from the signalled address).
        if matches!(self.learning, Learning::Locked(_))
            || (self.use_signalled && self.signalled == Some(from))
        {
            Verdict::Accept
        } else {
            Verdict::Drop(DropReason::Learning)
        }
    }

    fn candidate(&mut self, now: Instant, addr: SocketAddr, seq: u16, count: u8) {
        self.touch(now);
        if count >= self.config.probation {
            self.lock(addr);
        } else {
            self.learning = Learning::Candidate { addr, seq, count };
        }
    }

    fn lock(&mut self, addr: SocketAddr) {
        if self.learned() != Some(addr) {
            self.events.push_back(StreamEvent::SourceLearned(addr));
        }
        self.learning = Learning::Locked(addr);
    }

    #[inline]
    fn touch(&mut self, now: Instant) {
        self.last_activity = now;
        self.inactive_reported = false;
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let limit = self.config.inactivity?;
        (self.expects_media && !self.inactive_reported).then(|| self.last_activity + limit)
    }

    /// Advances time: reports inactivity once per silent period.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(at) = self.poll_timeout()
            && now >= at
        {
            self.inactive_reported = true;
            self.events.push_back(StreamEvent::Inactive);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    fn stream(t0: Instant) -> RtpStream {
        let mut s = RtpStream::new(StreamConfig::default(), t0);
        s.on_sdp(t0, Some(addr(4000)), true);
        s
    }

    #[test]
    fn locks_after_four_consecutive_packets() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        assert_eq!(s.send_target(), Some(addr(4000)));
        for seq in 10..13 {
            assert_eq!(
                s.handle_rtp(t0, addr(5000), seq),
                Verdict::Drop(DropReason::Learning)
            );
        }
        assert_eq!(s.handle_rtp(t0, addr(5000), 13), Verdict::Accept);
        assert_eq!(s.poll_event(), Some(StreamEvent::SourceLearned(addr(5000))));
        assert_eq!(s.send_target(), Some(addr(5000)));
        assert_eq!(
            s.handle_rtp(t0, addr(4000), 14),
            Verdict::Drop(DropReason::WrongSource)
        );
        assert_eq!(s.handle_rtp(t0, addr(5000), 14), Verdict::Accept);
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn packets_from_the_signalled_address_are_used_while_learning() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        s.use_signalled(true);
        assert_eq!(s.handle_rtp(t0, addr(4000), 1), Verdict::Accept);
        assert_eq!(s.learned(), None);
        assert_eq!(
            s.handle_rtp(t0, addr(5000), 1),
            Verdict::Drop(DropReason::Learning)
        );
        for seq in 2..5 {
            s.handle_rtp(t0, addr(4000), seq);
        }
        assert_eq!(
            s.learned(),
            None,
            "the interleaved source restarted probation"
        );
        s.handle_rtp(t0, addr(4000), 5);
        assert_eq!(s.learned(), Some(addr(4000)));
    }

    #[test]
    fn interleaved_sources_or_gaps_restart_probation() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        s.handle_rtp(t0, addr(5000), 1);
        s.handle_rtp(t0, addr(5000), 2);
        s.handle_rtp(t0, addr(6000), 900); // attacker interleaves
        s.handle_rtp(t0, addr(5000), 3);
        s.handle_rtp(t0, addr(5000), 4);
        s.handle_rtp(t0, addr(5000), 6); // gap
        assert_eq!(s.learned(), None);
        s.handle_rtp(t0, addr(5000), 7);
        s.handle_rtp(t0, addr(5000), 8);
        assert_eq!(s.handle_rtp(t0, addr(5000), 9), Verdict::Accept);
        assert_eq!(s.learned(), Some(addr(5000)));
    }

    #[test]
    fn sequence_wraps_during_probation() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        for seq in [65534, 65535, 0, 1] {
            s.handle_rtp(t0, addr(5000), seq);
        }
        assert_eq!(s.learned(), Some(addr(5000)));
    }

    #[test]
    fn new_sdp_restarts_learning() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        for seq in 0..4 {
            s.handle_rtp(t0, addr(5000), seq);
        }
        s.on_sdp(t0, Some(addr(7000)), true);
        assert_eq!(s.learned(), None);
        assert_eq!(s.send_target(), Some(addr(7000)));
        for seq in 100..104 {
            s.handle_rtp(t0, addr(7000), seq);
        }
        assert_eq!(s.learned(), Some(addr(7000)));
        assert_eq!(
            s.handle_rtp(t0, addr(5000), 4),
            Verdict::Drop(DropReason::WrongSource)
        );
    }

    #[test]
    fn probation_zero_accepts_and_follows_latest_source() {
        let t0 = Instant::now();
        let mut s = RtpStream::new(
            StreamConfig {
                probation: 0,
                ..StreamConfig::default()
            },
            t0,
        );
        s.on_sdp(t0, Some(addr(4000)), true);
        assert_eq!(s.handle_rtp(t0, addr(5000), 1), Verdict::Accept);
        assert_eq!(s.send_target(), Some(addr(5000)));
    }

    #[test]
    fn inactivity_fires_once_after_silence() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        let limit = Duration::from_secs(30);
        for seq in 0..4 {
            s.handle_rtp(t0, addr(5000), seq);
        }
        s.poll_event();
        let t1 = t0 + Duration::from_secs(10);
        s.handle_rtp(t1, addr(5000), 4);
        assert_eq!(s.poll_timeout(), Some(t1 + limit));
        s.handle_timeout(t1 + limit - Duration::from_millis(1));
        assert_eq!(s.poll_event(), None);
        s.handle_timeout(t1 + limit);
        assert_eq!(s.poll_event(), Some(StreamEvent::Inactive));
        s.handle_timeout(t1 + limit * 2);
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.poll_timeout(), None);
        // Media comes back: armed again.
        let t2 = t1 + limit * 3;
        s.handle_rtp(t2, addr(5000), 5);
        assert_eq!(s.poll_timeout(), Some(t2 + limit));
    }

    #[test]
    fn injected_packets_do_not_keep_a_dead_stream_alive() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        for seq in 0..4 {
            s.handle_rtp(t0, addr(5000), seq);
        }
        s.handle_rtp(t0 + Duration::from_secs(20), addr(6666), 1);
        s.handle_timeout(t0 + Duration::from_secs(30));
        s.poll_event();
        assert_eq!(s.poll_event(), Some(StreamEvent::Inactive));
    }

    #[test]
    fn hold_suppresses_inactivity_and_resume_rearms() {
        let t0 = Instant::now();
        let mut s = stream(t0);
        s.on_sdp(t0, None, false);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(t0 + Duration::from_secs(3600));
        assert_eq!(s.poll_event(), None);
        let t1 = t0 + Duration::from_secs(3600);
        s.set_expects_media(t1, true);
        assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(30)));
        s.handle_timeout(t1 + Duration::from_secs(30));
        assert_eq!(s.poll_event(), Some(StreamEvent::Inactive));
    }
}
