//! Offer/answer (RFC 3264) for one audio stream per call leg: PCMU, PCMA (or any
//! configured [`CodecDescriptor`](crate::codec::CodecDescriptor)) and telephone-event with a dynamic payload type whose clock
//! matches the audio codec's, ptime, direction and `c=0.0.0.0` hold, IPv4 and IPv6.
//! Media lines we do not serve (video, a second audio line, no common codec, secure
//! profiles) are rejected with port 0, in the offer's order.

use std::net::{IpAddr, SocketAddr};

use super::{Attribute, Connection, MediaDescription, Origin, OtherLine, SessionDescription};
use crate::codec::{CodecDescriptor as Codec, CodecKind};

/// Telephone events (RFC 4733) at a given clock rate, which must match the audio
/// codec's RTP clock.
pub fn telephone_event(clock_rate: u32) -> Codec {
    Codec {
        clock_rate,
        sample_rate: clock_rate,
        ..Codec::TELEPHONE_EVENT_8K
    }
}

fn is_telephone_event(c: &Codec) -> bool {
    c.kind == CodecKind::TelephoneEvent
}

/// The `a=rtpmap` value of `codec` on payload type `pt`.
fn rtpmap(c: &Codec, pt: u8) -> String {
    if c.channels > 1 {
        format!("{pt} {}/{}/{}", c.name, c.clock_rate, c.channels)
    } else {
        format!("{pt} {}/{}", c.name, c.clock_rate)
    }
}

/// Same encoding, clock and channels.
fn same_codec(a: &Codec, b: &Codec) -> bool {
    a.kind == b.kind && a.clock_rate == b.clock_rate && a.channels == b.channels
}

/// Codecs a static payload type stands for without `a=rtpmap` (RFC 3551).
fn from_static(pt: u8) -> Option<Codec> {
    [Codec::PCMU, Codec::PCMA, Codec::G722]
        .into_iter()
        .find(|c| c.static_payload_type == Some(pt))
}

/// Media direction (RFC 3264 §5.1), from our side when negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Send and receive.
    #[default]
    SendRecv,
    /// Send only (we hold the peer, e.g. music on hold).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    fn from_bits(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether media is sent.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether media is received.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end.
    pub fn reverse(self) -> Self {
        Direction::from_bits(self.receives(), self.sends())
    }

    /// What both allow.
    pub fn intersect(self, other: Direction) -> Self {
        Direction::from_bits(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The SDP attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attributes(attrs: &[Attribute]) -> Option<Self> {
        attrs.iter().rev().find_map(|a| match a.name.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    }
}

/// Why offer/answer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The offer has no audio line we can serve (answer with 488).
    #[error("no acceptable audio stream in the offer")]
    NoAcceptableAudio,
    /// The answer rejected our audio line (port 0) or chose no codec we offered.
    #[error("the answer rejected the audio stream")]
    Rejected,
    /// An answer arrived without a pending offer, or with other m-lines than offered.
    #[error("answer does not match the offer: {0}")]
    Mismatch(&'static str),
}

/// Local media policy of a leg.
#[derive(Debug, Clone)]
pub struct SdpConfig {
    /// Audio codecs in preference order.
    pub codecs: Vec<Codec>,
    /// Whether to negotiate RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// Payload type to offer telephone-event on (96..=127).
    pub telephone_event_pt: u8,
    /// Packetisation time we ask for, in milliseconds.
    pub ptime_ms: u32,
    /// Offer and accept RTCP multiplexing (RFC 5761).
    pub rtcp_mux: bool,
    /// `o=` user name.
    pub username: String,
    /// `o=` session id (seeded by the caller, e.g. from the call's random id).
    pub session_id: u64,
    /// `s=` line.
    pub session_name: String,
}

impl Default for SdpConfig {
    fn default() -> Self {
        SdpConfig {
            codecs: vec![Codec::PCMU, Codec::PCMA],
            telephone_event: true,
            telephone_event_pt: 101,
            ptime_ms: 20,
            rtcp_mux: true,
            username: "switchyard".into(),
            session_id: 1,
            session_name: "switchyard".into(),
        }
    }
}

/// Our end of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address to receive RTP on (sets IP4 or IP6).
    pub address: IpAddr,
    /// RTP port.
    pub port: u16,
    /// Direction we want (SendOnly to hold the peer).
    pub direction: Direction,
}

/// The outcome for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Index of the audio m-line.
    pub mline: usize,
    /// The codec both ends use.
    pub codec: Codec,
    /// Payload type to send the codec with (what the peer receives it on).
    pub send_pt: u8,
    /// Payload type the codec arrives with.
    pub recv_pt: u8,
    /// Payload type to send telephone-event with, if negotiated.
    pub send_dtmf_pt: Option<u8>,
    /// Payload type telephone-event arrives with, if negotiated.
    pub recv_dtmf_pt: Option<u8>,
    /// Packetisation time in ms (the peer's `a=ptime`, else ours).
    pub ptime_ms: u32,
    /// Where the peer asked for RTP; `None` when it is on hold (`c=0.0.0.0`).
    pub remote_rtp: Option<SocketAddr>,
    /// Where the peer asked for RTCP (`a=rtcp`, the next port, or the RTP address
    /// with rtcp-mux).
    pub remote_rtcp: Option<SocketAddr>,
    /// Our negotiated direction.
    pub direction: Direction,
    /// The peer put the stream on hold (`sendonly`, `inactive` or `c=0.0.0.0`).
    pub remote_hold: bool,
    /// RTCP shares the RTP port.
    pub rtcp_mux: bool,
}

impl NegotiatedAudio {
    /// Whether RTP is expected from the peer (used to suppress inactivity detection
    /// while on hold).
    pub fn expects_media(&self) -> bool {
        self.direction.receives() && !self.remote_hold
    }
}

/// A telephone-event payload type and its `a=fmtp` value.
type TelephoneEvent = (u8, String);

/// What our last offer put in each m-line.
#[derive(Debug, Clone)]
struct PendingOffer {
    audio_index: usize,
    codecs: Vec<(u8, Codec)>,
    mline_count: usize,
}

/// The SDP side of one call leg: produces offers and answers, keeps the `o=` version.
#[derive(Debug, Clone)]
pub struct SdpSession {
    config: SdpConfig,
    version: u64,
    last_sent: Option<SessionDescription>,
    pending: Option<PendingOffer>,
    /// m-lines of the current session, to keep their number and order in re-offers.
    layout: Vec<MediaDescription>,
    audio_index: usize,
}

fn codec_of(m: &MediaDescription, pt: u8) -> Option<Codec> {
    let prefix = pt.to_string();
    for a in m.attributes.iter().filter(|a| a.name == "rtpmap") {
        let Some(v) = &a.value else { continue };
        let Some((p, enc)) = v.split_once(' ') else {
            continue;
        };
        if p != prefix {
            continue;
        }
        let mut parts = enc.trim().split('/');
        let name = parts.next()?;
        let clock: u32 = parts.next()?.parse().ok()?;
        let channels: u8 = parts.next().map_or(Some(1), |c| c.parse().ok())?;
        // An encoding we do not know is not ours to negotiate.
        return Codec::from_rtpmap(name, clock)
            .filter(|c| c.channels == channels || (is_telephone_event(c) && channels == 1));
    }
    if pt < 96 { from_static(pt) } else { None }
}

fn offered(m: &MediaDescription) -> Vec<(u8, Codec)> {
    m.formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter_map(|pt| codec_of(m, pt).map(|c| (pt, c)))
        .collect()
}

fn fmtp_of(m: &MediaDescription, pt: u8) -> Option<String> {
    let prefix = format!("{pt} ");
    m.attributes
        .iter()
        .filter(|a| a.name == "fmtp")
        .find_map(|a| a.value.as_deref()?.strip_prefix(&prefix).map(String::from))
}

fn ptime_of(m: &MediaDescription) -> Option<u32> {
    m.attribute("ptime")?.value.as_deref()?.trim().parse().ok()
}

fn rejected(m: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: m.media.clone(),
        port: 0,
        port_count: None,
        proto: m.proto.clone(),
        formats: if m.formats.is_empty() {
            vec!["0".into()]
        } else {
            m.formats.clone()
        },
        connection: None,
        other: Vec::new(),
        attributes: Vec::new(),
    }
}

fn is_rtp_avp(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

/// The peer's view of a media line: address, hold, direction, RTCP.
struct RemoteView {
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    direction: Direction,
    hold: bool,
    mux: bool,
}

fn remote_view(sdp: &SessionDescription, i: usize, our_mux: bool) -> RemoteView {
    let m = &sdp.media[i];
    let ip = sdp.connection_for(i).and_then(Connection::ip);
    let c_hold = sdp.connection_for(i).is_some_and(Connection::is_hold);
    let mut direction = Direction::from_attributes(&m.attributes)
        .or_else(|| Direction::from_attributes(&sdp.attributes))
        .unwrap_or_default();
    if c_hold {
        // RFC 2543 hold: the peer does not want media sent to it.
        direction = direction.intersect(Direction::SendOnly);
    }
    let mux = our_mux && m.has_attribute("rtcp-mux");
    let rtp = match ip {
        Some(ip) if !ip.is_unspecified() && m.port != 0 => Some(SocketAddr::new(ip, m.port)),
        _ => None,
    };
    let rtcp = rtp.map(|a| {
        if mux {
            return a;
        }
        let explicit = m.attribute("rtcp").and_then(|r| {
            let v = r.value.as_deref()?;
            let mut it = v.split_ascii_whitespace();
            let port: u16 = it.next()?.parse().ok()?;
            let ip = it.nth(2).and_then(|s| s.parse().ok()).unwrap_or(a.ip());
            Some(SocketAddr::new(ip, port))
        });
        explicit.unwrap_or_else(|| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
    });
    RemoteView {
        rtp,
        rtcp,
        direction,
        hold: !direction.receives(),
        mux,
    }
}

impl SdpSession {
    /// A session with the given policy.
    pub fn new(config: SdpConfig) -> Self {
        SdpSession {
            config,
            version: 0,
            last_sent: None,
            pending: None,
            layout: Vec::new(),
            audio_index: 0,
        }
    }

    /// The policy.
    pub fn config(&self) -> &SdpConfig {
        &self.config
    }

    fn skeleton(&self, local: &LocalMedia) -> SessionDescription {
        let conn = Connection::from_ip(local.address);
        SessionDescription {
            version: 0,
            origin: Origin {
                username: self.config.username.clone(),
                session_id: self.config.session_id,
                session_version: self.version,
                net_type: "IN".into(),
                addr_type: conn.addr_type.clone(),
                address: conn.address.clone(),
            },
            session_name: self.config.session_name.clone(),
            connection: Some(conn),
            other: vec![OtherLine {
                kind: 't',
                value: "0 0".into(),
            }],
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Sets the `o=` version: unchanged if the description equals the last one sent,
    /// incremented otherwise (RFC 3264 §8).
    fn finish(&mut self, mut sdp: SessionDescription) -> SessionDescription {
        if let Some(last) = &self.last_sent {
            let mut same = sdp.clone();
            same.origin.session_version = last.origin.session_version;
            if &same == last {
                return last.clone();
            }
            self.version = last.origin.session_version.wrapping_add(1);
        }
        sdp.origin.session_version = self.version;
        self.last_sent = Some(sdp.clone());
        sdp
    }

    fn audio_line(
        &self,
        local: &LocalMedia,
        codecs: &[(u8, Codec)],
        fmtps: &[(u8, String)],
        mux: bool,
    ) -> MediaDescription {
        let mut attributes: Vec<Attribute> = codecs
            .iter()
            .map(|(pt, c)| Attribute::value("rtpmap", rtpmap(c, *pt)))
            .collect();
        attributes.extend(
            fmtps
                .iter()
                .map(|(pt, v)| Attribute::value("fmtp", format!("{pt} {v}"))),
        );
        attributes.push(Attribute::value("ptime", self.config.ptime_ms.to_string()));
        attributes.push(Attribute::flag(local.direction.as_str()));
        if mux {
            attributes.push(Attribute::flag("rtcp-mux"));
        }
        MediaDescription {
            media: "audio".into(),
            port: local.port,
            port_count: None,
            proto: "RTP/AVP".into(),
            formats: codecs.iter().map(|(pt, _)| pt.to_string()).collect(),
            connection: None,
            other: Vec::new(),
            attributes,
        }
    }

    /// Builds an offer (initial, for an INVITE without SDP, or a re-offer, e.g. to hold
    /// with `Direction::SendOnly`). A re-offer keeps the session's m-lines in number and
    /// order, rejected ones with port 0. Learning in the stream should restart once the
    /// answer is applied.
    pub fn create_offer(&mut self, local: &LocalMedia) -> SessionDescription {
        let mut codecs: Vec<(u8, Codec)> = Vec::new();
        let mut next_dyn = 96u8;
        let te_pt = self.config.telephone_event_pt;
        let mut alloc = |codecs: &[(u8, Codec)]| loop {
            let pt = next_dyn;
            next_dyn += 1;
            if pt != te_pt && !codecs.iter().any(|(p, _)| *p == pt) {
                return pt;
            }
        };
        for c in &self.config.codecs {
            let pt = c.static_payload_type.unwrap_or_else(|| alloc(&codecs));
            codecs.push((pt, *c));
        }
        let mut fmtps = Vec::new();
        if self.config.telephone_event {
            let mut rates: Vec<u32> = Vec::new();
            for c in &self.config.codecs {
                if !rates.contains(&c.clock_rate) {
                    rates.push(c.clock_rate);
                }
            }
            for (i, rate) in rates.into_iter().enumerate() {
                let pt = if i == 0 { te_pt } else { alloc(&codecs) };
                codecs.push((pt, telephone_event(rate)));
                fmtps.push((pt, "0-16".to_string()));
            }
        }
        let audio = self.audio_line(local, &codecs, &fmtps, self.config.rtcp_mux);
        let mut sdp = self.skeleton(local);
        if self.layout.is_empty() {
            self.audio_index = 0;
            sdp.media.push(audio);
        } else {
            for (i, m) in self.layout.iter().enumerate() {
                sdp.media.push(if i == self.audio_index {
                    audio.clone()
                } else {
                    rejected(m)
                });
            }
        }
        self.pending = Some(PendingOffer {
            audio_index: self.audio_index,
            codecs,
            mline_count: sdp.media.len(),
        });
        self.finish(sdp)
    }

    /// Answers a peer's offer. On success returns the answer and the negotiated audio
    /// stream; with no acceptable audio line the call should be refused (488).
    pub fn create_answer(
        &mut self,
        offer: &SessionDescription,
        local: &LocalMedia,
    ) -> Result<(SessionDescription, NegotiatedAudio), NegotiationError> {
        let mut chosen: Option<(usize, (u8, Codec), Option<TelephoneEvent>)> = None;
        for (i, m) in offer.media.iter().enumerate() {
            if chosen.is_some()
                || m.port == 0
                || !m.media.eq_ignore_ascii_case("audio")
                || !is_rtp_avp(&m.proto)
            {
                continue;
            }
            let list = offered(m);
            let Some(audio) = list
                .iter()
                .find(|(_, c)| {
                    !is_telephone_event(c) && self.config.codecs.iter().any(|o| same_codec(o, c))
                })
                .cloned()
            else {
                continue;
            };
            let te = self
                .config
                .telephone_event
                .then(|| {
                    list.iter()
                        .find(|(_, c)| is_telephone_event(c) && c.clock_rate == audio.1.clock_rate)
                })
                .flatten()
                .map(|(pt, _)| (*pt, fmtp_of(m, *pt).unwrap_or_else(|| "0-16".into())));
            chosen = Some((i, audio, te));
        }
        let Some((index, (pt, codec), te)) = chosen else {
            return Err(NegotiationError::NoAcceptableAudio);
        };
        let remote = remote_view(offer, index, self.config.rtcp_mux);
        let direction = local.direction.intersect(remote.direction.reverse());
        let mut codecs = vec![(pt, codec)];
        let mut fmtps = Vec::new();
        if let Some((te_pt, f)) = &te {
            codecs.push((*te_pt, telephone_event(codec.clock_rate)));
            fmtps.push((*te_pt, f.clone()));
        }
        let answer_local = LocalMedia {
            direction,
            ..*local
        };
        let audio = self.audio_line(&answer_local, &codecs, &fmtps, remote.mux);
        let mut sdp = self.skeleton(local);
        for (i, m) in offer.media.iter().enumerate() {
            sdp.media.push(if i == index {
                audio.clone()
            } else {
                rejected(m)
            });
        }
        self.layout = offer.media.clone();
        self.audio_index = index;
        self.pending = None;
        let negotiated = NegotiatedAudio {
            mline: index,
            codec,
            send_pt: pt,
            recv_pt: pt,
            send_dtmf_pt: te.as_ref().map(|t| t.0),
            recv_dtmf_pt: te.as_ref().map(|t| t.0),
            ptime_ms: ptime_of(&offer.media[index]).unwrap_or(self.config.ptime_ms),
            remote_rtp: remote.rtp,
            remote_rtcp: remote.rtcp,
            direction,
            remote_hold: remote.hold,
            rtcp_mux: remote.mux,
        };
        Ok((self.finish(sdp), negotiated))
    }

    /// Applies the peer's answer to our last offer.
    pub fn apply_answer(
        &mut self,
        answer: &SessionDescription,
    ) -> Result<NegotiatedAudio, NegotiationError> {
        let pending = self
            .pending
            .take()
            .ok_or(NegotiationError::Mismatch("no offer pending"))?;
        if answer.media.len() != pending.mline_count {
            return Err(NegotiationError::Mismatch("number of m-lines"));
        }
        let index = pending.audio_index;
        let m = &answer.media[index];
        if m.port == 0 {
            return Err(NegotiationError::Rejected);
        }
        let list = offered(m);
        let ours = |c: &Codec| {
            pending
                .codecs
                .iter()
                .find(|(_, o)| same_codec(o, c))
                .map(|(pt, _)| *pt)
        };
        let Some((send_pt, codec, recv_pt)) = list
            .iter()
            .filter(|(_, c)| !is_telephone_event(c))
            .find_map(|(pt, c)| ours(c).map(|r| (*pt, *c, r)))
        else {
            return Err(NegotiationError::Rejected);
        };
        let te = list
            .iter()
            .find(|(_, c)| is_telephone_event(c) && c.clock_rate == codec.clock_rate)
            .and_then(|(pt, c)| ours(c).map(|r| (*pt, r)));
        let remote = remote_view(answer, index, self.config.rtcp_mux);
        let offered_dir = self
            .last_sent
            .as_ref()
            .and_then(|s| s.media.get(index))
            .and_then(|m| Direction::from_attributes(&m.attributes))
            .unwrap_or_default();
        let direction = offered_dir.intersect(remote.direction.reverse());
        self.layout = answer.media.clone();
        Ok(NegotiatedAudio {
            mline: index,
            codec,
            send_pt,
            recv_pt,
            send_dtmf_pt: te.map(|t| t.0),
            recv_dtmf_pt: te.map(|t| t.1),
            ptime_ms: ptime_of(m).unwrap_or(self.config.ptime_ms),
            remote_rtp: remote.rtp,
            remote_rtcp: remote.rtcp,
            direction,
            remote_hold: remote.hold,
            rtcp_mux: remote.mux,
        })
    }
}
