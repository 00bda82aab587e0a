//! One leg's state on the media thread: its socket, receive stream (strict source
//! learning, inactivity), outgoing stream (one SSRC with continuous numbering across
//! prompts, tones and bridged audio), what it plays, DTMF in and out, and a recording.

use std::collections::VecDeque;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use switchyard_media::codec::CodecKind;
use switchyard_media::dtmf::DtmfDigit;
use switchyard_media::dtmf::inband::{DetectorConfig, DtmfDetector};
use switchyard_media::dtmf::rfc4733::{TelephoneEventReceiver, TelephoneEventSender};
use switchyard_media::net::PacedId;
use switchyard_media::player::{PlaybackId, Player};
use switchyard_media::relay::OutboundRewriter;
use switchyard_media::stream::{RtpStream, StreamConfig};
use switchyard_media::tone::ToneGenerator;

use super::record::{FRAME, Recording};
use super::{LegId, LegParams, SAMPLE_RATE};

/// RTP clock ticks of one 20 ms frame.
pub(super) const FRAME_TICKS: u32 = FRAME as u32;
/// Length of a DTMF key we send (RFC 4733 duration, 100 ms).
const DTMF_TICKS: u32 = 800;
/// Level of the DTMF keys we send, −dBm0.
const DTMF_VOLUME: u8 = 10;

/// What an unbridged leg sends.
#[derive(Debug)]
pub(super) enum Source {
    /// Comfort silence (keeps NAT bindings and the peer's jitter buffer alive).
    Silence,
    /// The player's playlist.
    Player,
    /// A generated tone.
    Tone(Box<ToneGenerator>),
}

/// A leg.
#[derive(Debug)]
pub(super) struct Leg {
    pub(super) id: LegId,
    pub(super) socket: UdpSocket,
    pub(super) fd: RawFd,
    /// The allocated port (0 when the system chose it).
    pub(super) port: u16,
    /// Tells this socket's receive completions from an earlier socket's in the same slot.
    pub(super) generation: u32,
    /// The leg's place in the pacer while it needs ticks (see [`Leg::needs_ticks`]).
    pub(super) paced: Option<PacedId>,
    /// When the leg last stopped being paced (its generator's clock stood still since).
    pub(super) unpaced_at: Option<Instant>,
    /// `None` until the first `configure`: nothing is sent or accepted before.
    pub(super) params: Option<LegParams>,
    pub(super) stream: RtpStream,
    pub(super) out: OutboundRewriter,
    /// The generator's own stream (prompts, tones, silence, our DTMF), mapped onto the
    /// leg's outgoing stream by `out`.
    pub(super) gen_ssrc: u32,
    pub(super) gen_seq: u16,
    pub(super) gen_ts: u32,
    pub(super) source: Source,
    pub(super) player: Player,
    /// The player's playback and call control's id for it.
    pub(super) playing: Option<(PlaybackId, u32)>,
    pub(super) dtmf_in: TelephoneEventReceiver,
    pub(super) dtmf_out: TelephoneEventSender,
    /// Keys waiting to be sent after the one in progress.
    pub(super) dtmf_queue: VecDeque<DtmfDigit>,
    pub(super) detector: Option<Box<DtmfDetector>>,
    /// The slot of the leg this one is bridged to.
    pub(super) peer: Option<usize>,
    pub(super) recording: Option<Box<Recording>>,
    /// The address the peer sends from and the next hop (MAC) its frames came by, once a
    /// frame of its was taken on the AF_XDP path: a frame to that address goes to it.
    pub(super) next_hop: Option<(SocketAddrV4, [u8; 6])>,
}

impl Leg {
    pub(super) fn new(
        id: LegId,
        socket: UdpSocket,
        port: u16,
        inactivity: Duration,
        seed: u32,
        now: Instant,
    ) -> Self {
        let fd = socket.as_raw_fd();
        let mut stream = RtpStream::new(
            StreamConfig {
                inactivity: Some(inactivity),
                ..StreamConfig::default()
            },
            now,
        );
        stream.use_signalled(true);
        Leg {
            id,
            socket,
            fd,
            port,
            generation: 0,
            paced: None,
            unpaced_at: None,
            params: None,
            stream,
            out: OutboundRewriter::new(
                seed,
                (seed >> 16) as u16,
                seed.rotate_left(7),
                SAMPLE_RATE,
                20,
            ),
            gen_ssrc: !seed,
            gen_seq: 0,
            gen_ts: 0,
            source: Source::Silence,
            player: Player::new(SAMPLE_RATE),
            playing: None,
            dtmf_in: TelephoneEventReceiver::new(),
            dtmf_out: TelephoneEventSender::new(FRAME_TICKS, DTMF_VOLUME),
            dtmf_queue: VecDeque::new(),
            detector: None,
            peer: None,
            recording: None,
            next_hop: None,
        }
    }

    /// Applies negotiated parameters: a new remote address restarts source learning;
    /// a direction change only starts or suspends inactivity (hold).
    pub(super) fn configure(&mut self, params: LegParams, now: Instant) {
        let expects = params.send && params.receive;
        match &self.params {
            Some(old) if old.remote == params.remote => {
                self.stream.set_expects_media(now, expects);
            }
            _ => self.stream.on_sdp(now, Some(params.remote), expects),
        }
        if params.inband_dtmf {
            if self.detector.is_none() {
                self.detector = Some(Box::new(DtmfDetector::new(DetectorConfig::default())));
            }
        } else {
            self.detector = None;
        }
        self.params = Some(params);
    }

    /// The codec, if configured.
    pub(super) fn codec(&self) -> Option<CodecKind> {
        self.params.as_ref().map(|p| p.codec)
    }

    /// Whether received audio must be decoded (in-band DTMF or a recording of it).
    pub(super) fn needs_pcm(&self) -> bool {
        self.detector.is_some() || self.recording.is_some()
    }

    /// Whether the leg plays a prompt or a tone (not silence).
    pub(super) fn generating(&self) -> bool {
        !matches!(self.source, Source::Silence)
    }

    /// Whether the leg needs the 20 ms tick: it generates audio (a prompt, a tone, or
    /// silence when it is not bridged), sends a key, or records (the recording takes a
    /// frame of each side per tick). A bridged leg that does none of these only relays
    /// what arrives, and costs nothing at the tick.
    pub(super) fn needs_ticks(&self) -> bool {
        self.peer.is_none()
            || self.generating()
            || self.dtmf_out.is_active()
            || !self.dtmf_queue.is_empty()
            || self.recording.is_some()
    }

    /// Moves the generator's clock (the timestamps of prompts, tones and keys) to where
    /// real time has got to while the leg was not paced, in whole frames, so that what
    /// is generated next is stamped in step with real time.
    pub(super) fn catch_up(&mut self, now: Instant) {
        if self.paced.is_some() {
            return;
        }
        let Some(since) = self.unpaced_at else { return };
        let frames = now.saturating_duration_since(since).as_millis() / 20;
        self.gen_ts = self
            .gen_ts
            .wrapping_add((frames as u32).wrapping_mul(FRAME_TICKS));
        self.unpaced_at = Some(since + Duration::from_millis(20 * frames as u64));
    }

    /// Starts the next queued key if none is being sent.
    pub(super) fn start_next_dtmf(&mut self) {
        if !self.dtmf_out.is_active()
            && let Some(d) = self.dtmf_queue.pop_front()
        {
            self.dtmf_out.start(d, self.gen_ts, DTMF_TICKS);
        }
    }
}
