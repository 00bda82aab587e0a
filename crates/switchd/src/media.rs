//! The daemon's media server: RTP sockets for every call leg, on a thread of its own.
//!
//! Call control (on the SIP loop) opens a leg, learns its local RTP address for the SDP,
//! and then steers it with commands: play prompts (IVR, music on hold, announcements),
//! ringback, bridge two legs (the relay fast path), record, send DTMF, close. The media
//! thread paces every outgoing 20 ms stream from one central tick, detects DTMF (RFC 4733,
//! or in-band on legs without it) and reports back [`MediaEvent`]s. No packet crosses a
//! channel or a lock: only commands and events do.
#![allow(dead_code)] // Skeleton: filled in by the media work.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchyard_media::codec::CodecKind;

/// Chosen by call control; unique for the daemon's life.
pub(crate) type LegId = u64;

#[derive(Debug, Clone)]
pub(crate) struct MediaConfig {
    /// Where RTP sockets bind (and what SDP advertises).
    pub(crate) address: IpAddr,
    /// Even ports in `port_min..=port_max`; RTCP is multiplexed or on port + 1.
    pub(crate) port_min: u16,
    pub(crate) port_max: u16,
    /// Report [`MediaEvent::Inactive`] after this long without RTP from a sending leg.
    pub(crate) inactivity: Duration,
}

/// What was negotiated for a leg (from its SDP offer/answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LegParams {
    /// Where the peer said to send RTP (learning may replace it: symmetric RTP).
    pub(crate) remote: SocketAddr,
    pub(crate) codec: CodecKind,
    /// The codec's payload type on this leg.
    pub(crate) payload_type: u8,
    /// telephone-event payload type, if negotiated.
    pub(crate) dtmf_payload_type: Option<u8>,
    pub(crate) ptime_ms: u32,
    /// Whether we may send to / expect media from the peer (hold: `send == false` from
    /// their side means they do not want media; inactive both false).
    pub(crate) send: bool,
    pub(crate) receive: bool,
    /// Detect in-band DTMF (legs without telephone-event).
    pub(crate) inband_dtmf: bool,
}

/// A tone generated into a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Ringback,
    Busy,
    /// A short beep (before voicemail recording).
    Beep,
}

/// How a recording is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordMode {
    /// One leg (what its peer sent us).
    Leg,
    /// Both legs of a bridge, caller left, agent right.
    Stereo,
    /// Both legs mixed to mono.
    Mixed,
}

/// What the media thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MediaEvent {
    /// A key from the leg's peer (RFC 4733 or in-band), once per press.
    Dtmf { leg: LegId, digit: char },
    /// A `play` finished (or was stopped by barge-in / `stop`).
    PlaybackDone { leg: LegId, id: u32 },
    /// No RTP from the leg for the configured inactivity time (not while it is on hold).
    Inactive { leg: LegId },
    /// A recording was closed (its header fixed).
    RecordingDone {
        leg: LegId,
        path: PathBuf,
        duration: Duration,
    },
}

/// The call control side: commands go to the media thread, events come back through the
/// `events` callback given to [`Media::start`].
pub(crate) struct Media {}

impl Media {
    /// Starts the media thread. `events` is called on the media thread for each event (it
    /// should hand the event to the control loop, e.g. with a channel send).
    pub(crate) fn start(
        config: MediaConfig,
        events: Box<dyn Fn(MediaEvent) + Send>,
    ) -> std::io::Result<Media> {
        let _ = (config, events);
        Err(std::io::Error::other("media is not built yet"))
    }

    /// Decodes prompt files once, up front; a missing or undecodable file is an error
    /// naming the file.
    pub(crate) fn preload(&mut self, files: &[Arc<Path>]) -> anyhow::Result<()> {
        let _ = files;
        Ok(())
    }

    /// Allocates a port and binds the leg's RTP socket; returns the address for SDP.
    pub(crate) fn open(&mut self, leg: LegId) -> std::io::Result<SocketAddr> {
        let _ = leg;
        Err(std::io::Error::other("media is not built yet"))
    }

    /// Sets or updates (re-INVITE) what was negotiated; restarts source learning.
    pub(crate) fn configure(&mut self, leg: LegId, params: LegParams) {
        let _ = (leg, params);
    }

    /// Plays files one after another into the leg (replacing what it played); `looped`
    /// repeats them (music on hold) and never reports done; `barge_in` stops at a key.
    pub(crate) fn play(
        &mut self,
        leg: LegId,
        id: u32,
        files: Vec<Arc<Path>>,
        looped: bool,
        barge_in: bool,
    ) {
        let _ = (leg, id, files, looped, barge_in);
    }

    /// Stops what the leg plays (a tone or a playback); silence follows.
    pub(crate) fn stop(&mut self, leg: LegId) {
        let _ = leg;
    }

    /// Generates a tone into the leg until `stop`, `play` or `bridge`.
    pub(crate) fn tone(&mut self, leg: LegId, tone: Tone) {
        let _ = (leg, tone);
    }

    /// Connects two legs: each one's RTP goes to the other (relay fast path when codecs
    /// match, transcoding otherwise; telephone-event payload types mapped).
    pub(crate) fn bridge(&mut self, a: LegId, b: LegId) {
        let _ = (a, b);
    }

    /// Separates a bridged leg from its peer (both go back to playing silence).
    pub(crate) fn unbridge(&mut self, leg: LegId) {
        let _ = leg;
    }

    /// Starts recording to a WAV file (a bridge's two legs for `Stereo`/`Mixed`).
    pub(crate) fn record(
        &mut self,
        leg: LegId,
        path: PathBuf,
        mode: RecordMode,
        max: Option<Duration>,
    ) {
        let _ = (leg, path, mode, max);
    }

    /// Stops a recording (reported by [`MediaEvent::RecordingDone`]).
    pub(crate) fn stop_recording(&mut self, leg: LegId) {
        let _ = leg;
    }

    /// Sends a key to the leg's peer the way the leg negotiated (RFC 4733).
    pub(crate) fn send_dtmf(&mut self, leg: LegId, digit: char) {
        let _ = (leg, digit);
    }

    /// Closes the leg and frees its port.
    pub(crate) fn close(&mut self, leg: LegId) {
        let _ = leg;
    }

    /// Ports allocated now (0 when no call is up).
    pub(crate) fn ports_in_use(&self) -> usize {
        0
    }

    /// Stops the media thread.
    pub(crate) fn shutdown(self) {}
}
