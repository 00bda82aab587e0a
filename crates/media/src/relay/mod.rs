//! The two-party relay fast path: a packet received on one leg is checked against that
//! leg's strict source learning, its payload type mapped to the other leg's, its SSRC,
//! sequence number and timestamp rewritten so the other peer sees one continuous stream
//! (also across source changes, e.g. from a prompt to the other party), and, when the
//! legs negotiated different G.711 laws, its payload transcoded in place. Everything
//! happens in the caller's buffer: no allocation, no lock, no clock read.
//!
//! ```
//! use std::time::Instant;
//! use switchyard_media::codec::CodecDescriptor;
//! use switchyard_media::relay::{Leg, LegMedia, Relay, RelayConfig, RelayOutcome};
//! use switchyard_media::rtp::write_header;
//!
//! let now = Instant::now();
//! let a = LegMedia::g711(CodecDescriptor::PCMU, Some(101));
//! let b = LegMedia::g711(CodecDescriptor::PCMA, Some(96));
//! let mut relay = Relay::new(a, b, RelayConfig::default(), now);
//! let peer_a = "192.0.2.1:4000".parse().unwrap();
//! let peer_b = "192.0.2.2:5000".parse().unwrap();
//! relay.on_sdp(Leg::A, now, Some(peer_a), true);
//! relay.on_sdp(Leg::B, now, Some(peer_b), true);
//! let mut pkt = [0u8; 172];
//! for seq in 0..4u16 {
//!     write_header(&mut pkt, false, 0, seq, 160 * u32::from(seq), 0x1234);
//!     let out = relay.handle_packet(now, Leg::A, peer_a, &mut pkt);
//!     if seq == 3 {
//!         // Learned after four packets; now forwarded to B as PCMA.
//!         assert_eq!(out, RelayOutcome::Forward { to: peer_b, len: 172 });
//!         assert_eq!(pkt[1] & 0x7f, 8);
//!     }
//! }
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::{CodecDescriptor, CodecKind, g711};
use crate::rtcp::{RtcpPacket, SdesChunk, SenderInfo, ntp_timestamp, parse_compound};
use crate::rtp::{FixedHeader, PacketKind, ReceptionStats, classify};
use crate::sdp::NegotiatedAudio;
use crate::stream::{DropReason, RtpStream, StreamConfig, StreamEvent};

mod rewrite;

pub use rewrite::OutboundRewriter;

#[cfg(test)]
mod tests;

/// One of the two legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The first leg (e.g. the caller).
    A,
    /// The second leg (e.g. the agent).
    B,
}

impl Leg {
    /// The other leg.
    #[inline]
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    #[inline]
    fn index(self) -> usize {
        self as usize
    }
}

/// What a leg negotiated, as the relay needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegMedia {
    /// Audio codec.
    pub codec: CodecDescriptor,
    /// Payload type the peer receives the codec on.
    pub send_pt: u8,
    /// Payload type the codec arrives with.
    pub recv_pt: u8,
    /// Payload type the peer receives telephone-event on.
    pub send_dtmf_pt: Option<u8>,
    /// Payload type telephone-event arrives with.
    pub recv_dtmf_pt: Option<u8>,
    /// Packetisation time in ms.
    pub ptime_ms: u32,
    /// Whether we may send media to this peer (direction allows it).
    pub sending: bool,
    /// RTCP shares the RTP port (RFC 5761); otherwise it uses the next port up.
    pub rtcp_mux: bool,
}

impl LegMedia {
    /// A G.711-style leg using the codec's static payload type both ways.
    pub fn g711(codec: CodecDescriptor, dtmf_pt: Option<u8>) -> Self {
        let pt = codec.static_payload_type.unwrap_or(96);
        LegMedia {
            codec,
            send_pt: pt,
            recv_pt: pt,
            send_dtmf_pt: dtmf_pt,
            recv_dtmf_pt: dtmf_pt,
            ptime_ms: 20,
            sending: true,
            rtcp_mux: false,
        }
    }
}

impl From<&NegotiatedAudio> for LegMedia {
    fn from(n: &NegotiatedAudio) -> Self {
        LegMedia {
            codec: n.codec,
            send_pt: n.send_pt,
            recv_pt: n.recv_pt,
            send_dtmf_pt: n.send_dtmf_pt,
            recv_dtmf_pt: n.recv_dtmf_pt,
            ptime_ms: n.ptime_ms,
            sending: n.direction.sends() && n.remote_rtp.is_some(),
            rtcp_mux: n.rtcp_mux,
        }
    }
}

/// Relay policy and seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Per-leg stream policy (strict learning, inactivity).
    pub stream: StreamConfig,
    /// SSRC, first sequence number and first timestamp of what we send on leg A and
    /// on leg B (seeded by the caller from its random source).
    pub seeds: [(u32, u16, u32); 2],
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            stream: StreamConfig::default(),
            seeds: [(0x5357_0001, 1, 0), (0x5357_0002, 1, 0)],
        }
    }
}

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayDrop {
    /// Not RTP (too short, wrong version, STUN, DTLS).
    NotRtp,
    /// RTCP: terminated per leg, not forwarded (the SSRCs differ per leg).
    Rtcp,
    /// Refused by strict source learning.
    Source(DropReason),
    /// A payload type the receiving leg did not negotiate.
    UnknownPayloadType(u8),
    /// telephone-event arrived but the other leg did not negotiate it; call control
    /// should interwork the digit (SIP INFO or in-band).
    DtmfNotNegotiated,
    /// The codecs differ in a way the fast path cannot convert.
    CannotTranscode,
    /// The other leg has no destination or its direction forbids sending (hold).
    NotSending,
}

/// The result of [`Relay::handle_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayOutcome {
    /// Send the first `len` bytes of the buffer to `to` from the other leg's socket.
    Forward {
        /// Destination.
        to: SocketAddr,
        /// Length to send.
        len: usize,
    },
    /// Drop the packet.
    Drop(RelayDrop),
}

/// Transcoding between the legs' audio codecs, decided once per negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transcode {
    None,
    UlawToAlaw,
    AlawToUlaw,
    Unsupported,
}

fn transcode_for(from: &CodecDescriptor, to: &CodecDescriptor) -> Transcode {
    match (from.kind, to.kind) {
        (a, b) if a == b && from.clock_rate == to.clock_rate => Transcode::None,
        (CodecKind::Pcmu, CodecKind::Pcma) => Transcode::UlawToAlaw,
        (CodecKind::Pcma, CodecKind::Pcmu) => Transcode::AlawToUlaw,
        _ => Transcode::Unsupported,
    }
}

#[derive(Debug, Clone)]
struct LegState {
    media: LegMedia,
    stream: RtpStream,
    out: OutboundRewriter,
    /// Transcoding applied to audio received on this leg before it goes out the other.
    transcode: Transcode,
    /// Reception statistics of the peer's current source (SSRC, stats).
    rx: Option<(u32, ReceptionStats)>,
    /// Where the peer's RTCP comes from on a separate port (symmetric RTCP).
    rtcp_peer: Option<SocketAddr>,
    forwarded: u64,
    dropped: u64,
}

/// Counters of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegCounters {
    /// Packets received on this leg and forwarded to the other.
    pub forwarded: u64,
    /// Packets received on this leg and dropped.
    pub dropped: u64,
}

/// Two legs relayed to each other.
#[derive(Debug, Clone)]
pub struct Relay {
    legs: [LegState; 2],
}

impl Relay {
    /// A relay between legs with the given media. Neither leg has a remote address until
    /// [`on_sdp`](Self::on_sdp).
    pub fn new(a: LegMedia, b: LegMedia, config: RelayConfig, now: Instant) -> Self {
        let leg = |m: LegMedia, other: &LegMedia, (ssrc, seq, ts): (u32, u16, u32)| LegState {
            media: m,
            stream: RtpStream::new(config.stream, now),
            out: OutboundRewriter::new(ssrc, seq, ts, m.codec.clock_rate, m.ptime_ms),
            transcode: transcode_for(&m.codec, &other.codec),
            rx: None,
            rtcp_peer: None,
            forwarded: 0,
            dropped: 0,
        };
        Relay {
            legs: [leg(a, &b, config.seeds[0]), leg(b, &a, config.seeds[1])],
        }
    }

    /// A new SDP on `leg`: remote address, and whether media is expected (hold).
    /// Restarts that leg's source learning.
    pub fn on_sdp(
        &mut self,
        leg: Leg,
        now: Instant,
        remote: Option<SocketAddr>,
        expects_media: bool,
    ) {
        self.legs[leg.index()]
            .stream
            .on_sdp(now, remote, expects_media);
    }

    /// Re-negotiated media on `leg` (codec, payload types, direction). The outgoing
    /// stream stays continuous.
    pub fn set_media(&mut self, leg: Leg, media: LegMedia) {
        let i = leg.index();
        self.legs[i].media = media;
        self.legs[i]
            .out
            .set_clock(media.codec.clock_rate, media.ptime_ms);
        let (a, b) = (self.legs[0].media.codec, self.legs[1].media.codec);
        self.legs[0].transcode = transcode_for(&a, &b);
        self.legs[1].transcode = transcode_for(&b, &a);
    }

    /// The leg's stream state (learned source, send target).
    pub fn stream(&self, leg: Leg) -> &RtpStream {
        &self.legs[leg.index()].stream
    }

    /// The leg's media.
    pub fn media(&self, leg: Leg) -> &LegMedia {
        &self.legs[leg.index()].media
    }

    /// Counters of packets received on `leg`.
    pub fn counters(&self, leg: Leg) -> LegCounters {
        let l = &self.legs[leg.index()];
        LegCounters {
            forwarded: l.forwarded,
            dropped: l.dropped,
        }
    }

    /// Relays the datagram `buf` received on `leg` from `src`: rewrites it in place for
    /// the other leg and says where to send it.
    #[inline]
    pub fn handle_packet(
        &mut self,
        now: Instant,
        leg: Leg,
        src: SocketAddr,
        buf: &mut [u8],
    ) -> RelayOutcome {
        let out = self.relay(now, leg, src, buf);
        let l = &mut self.legs[leg.index()];
        match out {
            RelayOutcome::Forward { .. } => l.forwarded += 1,
            RelayOutcome::Drop(_) => l.dropped += 1,
        }
        out
    }

    #[inline]
    fn relay(&mut self, now: Instant, leg: Leg, src: SocketAddr, buf: &mut [u8]) -> RelayOutcome {
        match classify(buf) {
            PacketKind::Rtp => {}
            PacketKind::Rtcp => {
                self.handle_rtcp(now, leg, src, buf);
                return RelayOutcome::Drop(RelayDrop::Rtcp);
            }
            _ => return RelayOutcome::Drop(RelayDrop::NotRtp),
        }
        let Some(mut h) = FixedHeader::read(buf) else {
            return RelayOutcome::Drop(RelayDrop::NotRtp);
        };
        let [a, b] = &mut self.legs;
        let (rx, tx) = match leg {
            Leg::A => (a, b),
            Leg::B => (b, a),
        };
        if let crate::stream::Verdict::Drop(r) = rx.stream.handle_rtp(now, src, h.sequence) {
            return RelayOutcome::Drop(RelayDrop::Source(r));
        }
        match &mut rx.rx {
            Some((ssrc, st)) if *ssrc == h.ssrc => {
                st.update(h.sequence, h.timestamp, now);
            }
            _ => {
                let mut st = ReceptionStats::new(h.sequence, rx.media.codec.clock_rate, now);
                st.update(h.sequence, h.timestamp, now);
                rx.rx = Some((h.ssrc, st));
            }
        }
        if !tx.media.sending {
            return RelayOutcome::Drop(RelayDrop::NotSending);
        }
        let Some(to) = tx.stream.send_target() else {
            return RelayOutcome::Drop(RelayDrop::NotSending);
        };
        if h.payload_type == rx.media.recv_pt {
            h.payload_type = tx.media.send_pt;
            match rx.transcode {
                Transcode::None => {}
                Transcode::UlawToAlaw => g711::ulaw_to_alaw_in_place(payload_mut(buf)),
                Transcode::AlawToUlaw => g711::alaw_to_ulaw_in_place(payload_mut(buf)),
                Transcode::Unsupported => return RelayOutcome::Drop(RelayDrop::CannotTranscode),
            }
        } else if Some(h.payload_type) == rx.media.recv_dtmf_pt {
            match tx.media.send_dtmf_pt {
                Some(pt) if rx.media.codec.clock_rate == tx.media.codec.clock_rate => {
                    h.payload_type = pt
                }
                _ => return RelayOutcome::Drop(RelayDrop::DtmfNotNegotiated),
            }
        } else {
            return RelayOutcome::Drop(RelayDrop::UnknownPayloadType(h.payload_type));
        }
        tx.out.rewrite(now, &mut h);
        tx.out.count(buf.len() - crate::rtp::FIXED_HEADER_LEN);
        // Cannot fail: FixedHeader::read succeeded on the same buffer.
        let _ = h.write_into(buf);
        RelayOutcome::Forward { to, len: buf.len() }
    }

    /// RTCP from a leg's peer, on the RTP port (rtcp-mux, routed here by
    /// [`handle_packet`](Self::handle_packet)) or on the RTCP port: sender reports feed
    /// the LSR/DLSR of our reports. Accepted only from the learned RTP source's address
    /// (its IP, on a separate RTCP port, which is then where our reports go); parsing
    /// allocates, but RTCP comes every few seconds, not per frame.
    #[cold]
    pub fn handle_rtcp(&mut self, now: Instant, leg: Leg, src: SocketAddr, buf: &[u8]) {
        let l = &mut self.legs[leg.index()];
        let Some(learned) = l.stream.learned() else {
            return;
        };
        if learned.ip() != src.ip() || (l.media.rtcp_mux && learned != src) {
            return;
        }
        let Ok(pkts) = parse_compound(buf) else {
            return;
        };
        if !l.media.rtcp_mux {
            l.rtcp_peer = Some(src);
        }
        for p in pkts {
            if let RtcpPacket::SenderReport { ssrc, info, .. } = p
                && let Some((rx_ssrc, st)) = &mut l.rx
                && *rx_ssrc == ssrc
            {
                st.on_sender_report(info.ntp, now);
            }
        }
    }

    /// Builds the compound RTCP report (SR, or RR before anything was sent, with a
    /// report block on the peer's source, plus SDES CNAME) for `leg` and where to send
    /// it: the RTP destination with rtcp-mux (send from the RTP socket), else where the
    /// peer's RTCP came from, else the RTP destination's port + 1 (send from the RTCP
    /// socket). `None` when the leg has no destination. `wallclock` is the time
    /// since the Unix epoch (for the NTP timestamp); call it every few seconds
    /// (RFC 3550 §6.2: 5 s minimum on average).
    pub fn build_rtcp(
        &mut self,
        now: Instant,
        leg: Leg,
        wallclock: Duration,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        let l = &mut self.legs[leg.index()];
        if !l.media.sending {
            return None;
        }
        let rtp = l.stream.send_target()?;
        let to = if l.media.rtcp_mux {
            rtp
        } else {
            l.rtcp_peer
                .unwrap_or_else(|| SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)))
        };
        let ssrc = l.out.ssrc();
        let reports: Vec<_> =
            l.rx.as_mut()
                .map(|(peer, st)| st.report_block(*peer, now))
                .into_iter()
                .collect();
        let report = match l.out.timestamp_at(now) {
            Some(rtp_timestamp) => {
                let (packet_count, octet_count) = l.out.sent();
                RtcpPacket::SenderReport {
                    ssrc,
                    info: SenderInfo {
                        ntp: ntp_timestamp(wallclock),
                        rtp_timestamp,
                        packet_count,
                        octet_count,
                    },
                    reports,
                }
            }
            None => RtcpPacket::ReceiverReport { ssrc, reports },
        };
        let sdes = RtcpPacket::SourceDescription(vec![SdesChunk::cname(
            ssrc,
            &format!("switchyard-{ssrc:08x}"),
        )]);
        let mut out = Vec::with_capacity(128);
        report.write(&mut out);
        sdes.write(&mut out);
        Some((to, out))
    }

    /// Sends a locally generated packet (a prompt, a tone, a relayed DTMF event) out on
    /// `leg`: rewrites its SSRC, sequence number and timestamp into that leg's
    /// continuous outgoing stream and returns where to send it. The packet's own SSRC
    /// tells sources apart; its payload type must already be the leg's.
    pub fn inject(&mut self, now: Instant, leg: Leg, buf: &mut [u8]) -> Option<SocketAddr> {
        let l = &mut self.legs[leg.index()];
        if !l.media.sending {
            return None;
        }
        let to = l.stream.send_target()?;
        let mut h = FixedHeader::read(buf)?;
        l.out.rewrite(now, &mut h);
        h.write_into(buf)?;
        Some(to)
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.legs[0].stream.poll_timeout();
        let b = self.legs[1].stream.poll_timeout();
        match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Advances time (inactivity detection).
    pub fn handle_timeout(&mut self, now: Instant) {
        for l in &mut self.legs {
            l.stream.handle_timeout(now);
        }
    }

    /// The next stream event, tagged with its leg.
    pub fn poll_event(&mut self) -> Option<(Leg, StreamEvent)> {
        if let Some(e) = self.legs[0].stream.poll_event() {
            return Some((Leg::A, e));
        }
        self.legs[1].stream.poll_event().map(|e| (Leg::B, e))
    }

    /// Where media for `leg` currently goes (learned, else signalled).
    pub fn send_target(&self, leg: Leg) -> Option<SocketAddr> {
        self.legs[leg.index()].stream.send_target()
    }
}

/// The payload of an RTP packet whose fixed header was validated (CSRCs, extension and
/// padding are skipped; malformed lengths give an empty payload, which transcodes to
/// nothing).
fn payload_mut(buf: &mut [u8]) -> &mut [u8] {
    let Ok(p) = crate::rtp::RtpPacket::parse(buf) else {
        return &mut [];
    };
    let start = p.len() - p.payload.len() - usize::from(p.padding);
    let end = start + p.payload.len();
    &mut buf[start..end]
}
