//! The daemon's media server: RTP sockets for every call leg, on a thread of its own.
//!
//! Call control (on the SIP loop) opens a leg, learns its local RTP address for the SDP,
//! and then steers it with commands: play prompts (IVR, music on hold, announcements),
//! ringback, bridge two legs (the relay fast path), record, send DTMF, close. The media
//! thread receives every leg's datagrams through one io_uring (multishot receives into
//! provided buffers; readiness polling where io_uring is unavailable), wakes at most once
//! a millisecond while calls are up so each wake-up handles many datagrams, paces the
//! outgoing 20 ms streams it generates from one central tick (a bridged leg that is not
//! recorded, announced to or sent a key is not paced at all), detects DTMF (RFC 4733, or
//! in-band on legs without it) and reports back [`MediaEvent`]s. No packet crosses a
//! channel or a lock: only commands and events do.
//!
//! Division of work between the two threads:
//! - `open` allocates the port and binds the socket on the caller's thread (the SDP needs
//!   the address at once) and hands the socket over; `close` frees the port at once, so
//!   [`Media::ports_in_use`] never waits for the media thread.
//! - Prompt files are decoded on the caller's thread (by [`Media::preload`] at startup, or
//!   on first use by [`Media::play`]) into shared, reference-counted PCM: the media thread
//!   never touches the disk for a prompt.
//! - Recordings are written by the media thread from a small per-recording buffer every
//!   200 ms (one `write` of about 6 KB for a stereo call), which the page cache absorbs.
#![allow(dead_code)] // Busy tone, mixed recordings and sending DTMF to a leg have no caller in call control yet.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use switchyard_media::codec::CodecKind;
use switchyard_media::net::PortAllocator;
use switchyard_media::player::{PlaylistItem, Prompt, PromptCache};

mod leg;
mod record;
mod server;
#[cfg(test)]
mod tests;

use server::{Command, Server};

/// Chosen by call control; unique for the daemon's life.
pub(crate) type LegId = u64;

/// How long a command may wait before the media thread reads it, while a leg is open
/// (see [`Media::send`]): a prompt, a bridge or a close takes effect at most this late.
pub(crate) const COMMAND_LATENCY: Duration = Duration::from_millis(10);

/// The sample rate of every stream the media server generates or decodes (G.711).
pub(crate) const SAMPLE_RATE: u32 = 8000;

#[derive(Debug, Clone)]
pub(crate) struct MediaConfig {
    /// Where RTP sockets bind (and what SDP advertises).
    pub(crate) address: IpAddr,
    /// Even ports in `port_min..=port_max`; RTCP is multiplexed or on port + 1. Both 0:
    /// let the system choose each port (tests).
    pub(crate) port_min: u16,
    pub(crate) port_max: u16,
    /// Report [`MediaEvent::Inactive`] after this long without RTP from a sending leg.
    pub(crate) inactivity: Duration,
    /// Take the legs' datagrams off the UDP stack with AF_XDP, and send a bridged leg's
    /// on from the same memory (needs root, an IPv4 `address` and a port range; without
    /// them the thread says why and uses the sockets).
    pub(crate) xdp: bool,
}

/// The media thread's counters, published by it every 100 ms (and when it stops) for the
/// API to read without asking the thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    received: AtomicU64,
    xdp: AtomicBool,
    xdp_received: AtomicU64,
    xdp_forwarded: AtomicU64,
    xdp_sent: AtomicU64,
}

impl Counters {
    /// Publishes the thread's figures.
    pub(crate) fn publish(&self, received: u64, xdp: Option<switchyard_media::net::XdpStats>) {
        self.received.store(received, Ordering::Relaxed);
        self.xdp.store(xdp.is_some(), Ordering::Relaxed);
        let x = xdp.unwrap_or_default();
        self.xdp_received.store(x.received, Ordering::Relaxed);
        self.xdp_forwarded.store(x.forwarded, Ordering::Relaxed);
        self.xdp_sent.store(x.sent, Ordering::Relaxed);
    }

    /// The last figures published.
    pub(crate) fn read(&self) -> crate::api::MediaView {
        crate::api::MediaView {
            datagrams_received: self.received.load(Ordering::Relaxed),
            xdp: self.xdp.load(Ordering::Relaxed),
            xdp_frames_received: self.xdp_received.load(Ordering::Relaxed),
            xdp_frames_forwarded: self.xdp_forwarded.load(Ordering::Relaxed),
            xdp_frames_sent: self.xdp_sent.load(Ordering::Relaxed),
        }
    }
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
pub(crate) struct Media {
    config: MediaConfig,
    commands: mpsc::Sender<Command>,
    /// A byte written here wakes the media thread.
    waker: UnixDatagram,
    /// Set when a wake-up is on its way; the media thread clears it before it reads the
    /// commands.
    wake_pending: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
    ports: PortAllocator,
    /// Open legs and their port (0 when the system chose it).
    legs: HashMap<LegId, u16>,
    /// Ports whose socket the media thread has closed, to go back to the allocator.
    freed: mpsc::Receiver<u16>,
    prompts: PromptCache,
    /// Whether the legs' datagrams come through AF_XDP.
    uses_xdp: bool,
    counters: Arc<Counters>,
}

impl Media {
    /// Starts the media thread. `events` is called on the media thread for each event (it
    /// should hand the event to the control loop, e.g. with a channel send).
    pub(crate) fn start(
        config: MediaConfig,
        events: Box<dyn Fn(MediaEvent) + Send>,
    ) -> std::io::Result<Media> {
        Self::start_with(config, true, events)
    }

    /// As [`Media::start`], receiving through io_uring only if `io_uring` (and the kernel
    /// has multishot receive); otherwise through readiness polling and `recvmmsg`.
    pub(crate) fn start_with(
        config: MediaConfig,
        io_uring: bool,
        events: Box<dyn Fn(MediaEvent) + Send>,
    ) -> std::io::Result<Media> {
        let (waker, wake_rx) = UnixDatagram::pair()?;
        waker.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let mut receive = server::Receive::new(io_uring, &wake_rx)?;
        let xdp = if config.xdp {
            server::Xdp::attach(&config, &mut receive)
        } else {
            None
        };
        let uses_xdp = xdp.is_some();
        let counters = Arc::new(Counters::default());
        let (commands, rx) = mpsc::channel();
        let (freed_tx, freed) = mpsc::channel();
        let wake_pending = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server = Server::new(
            receive,
            xdp,
            counters.clone(),
            wake_rx,
            rx,
            wake_pending.clone(),
            events,
            freed_tx,
            config.inactivity,
        );
        let thread = std::thread::Builder::new()
            .name("media".into())
            .spawn(move || server.run())?;
        Ok(Media {
            ports: PortAllocator::new(config.port_min, config.port_max, true),
            config,
            commands,
            waker,
            wake_pending,
            thread: Some(thread),
            legs: HashMap::new(),
            freed,
            prompts: PromptCache::new(),
            uses_xdp,
            counters,
        })
    }

    /// Queues a command. While a leg is open the media thread reads its commands at least
    /// every [`COMMAND_LATENCY`], so the command waits for that look (or for the thread's
    /// next packet or tick) instead of waking the thread: on a busy machine a wake-up costs
    /// a system call and usually two context switches, several times per call. The thread
    /// is woken only when it may have no leg open (then it looks only every 100 ms) and at
    /// shutdown.
    fn send(&self, command: Command) {
        let wake = self.legs.is_empty() || matches!(command, Command::Shutdown);
        self.send_waking(command, wake);
    }

    fn send_waking(&self, command: Command, wake: bool) {
        if self.commands.send(command).is_ok() {
            // One wake-up for every command sent before the media thread looks.
            if wake
                && !self
                    .wake_pending
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                // Full socket buffer: wake-ups are waiting already.
                let _ = self.waker.send(&[1]);
            }
        } else {
            tracing::error!("the media thread has stopped; command dropped");
        }
    }

    /// Whether the legs' datagrams are taken off the UDP stack with AF_XDP
    /// ([`MediaConfig::xdp`], and it could attach).
    pub(crate) fn uses_xdp(&self) -> bool {
        self.uses_xdp
    }

    /// The media thread's counters, as last published (at most 100 ms old).
    pub(crate) fn counters(&self) -> crate::api::MediaView {
        self.counters.read()
    }

    /// Decodes prompt files once, up front; a missing or undecodable file is an error
    /// naming the file.
    pub(crate) fn preload(&mut self, files: &[Arc<Path>]) -> anyhow::Result<()> {
        for f in files {
            self.prompts
                .load(f, SAMPLE_RATE)
                .with_context(|| format!("loading prompt {}", f.display()))?;
        }
        Ok(())
    }

    /// Allocates a port and binds the leg's RTP socket; returns the address for SDP.
    pub(crate) fn open(&mut self, leg: LegId) -> std::io::Result<SocketAddr> {
        if self.legs.contains_key(&leg) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("media leg {leg} is already open"),
            ));
        }
        let (socket, port) = self.bind()?;
        socket.set_nonblocking(true)?;
        let addr = match port {
            // The system chose the port: ask which.
            0 => socket.local_addr()?,
            p => SocketAddr::new(self.config.address, p),
        };
        // The first leg wakes the thread; while this one is open, it looks often enough.
        let wake = self.legs.is_empty();
        self.legs.insert(leg, port);
        self.send_waking(Command::Open { leg, socket, port }, wake);
        Ok(addr)
    }

    fn bind(&mut self) -> std::io::Result<(UdpSocket, u16)> {
        if self.config.port_min == 0 && self.config.port_max == 0 {
            let s = UdpSocket::bind(SocketAddr::new(self.config.address, 0))?;
            return Ok((s, 0));
        }
        // A closed leg's port is reused only once its socket is closed (and the
        // allocator's rotation keeps it unused for a while after that).
        while let Ok(p) = self.freed.try_recv() {
            self.ports.release(p);
        }
        let mut failed = Vec::new();
        let mut last = std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "the RTP port range is exhausted (each call holds two ports per leg): widen \
             [rtp] port_min/port_max or --rtp-ports",
        );
        let result = loop {
            let Some(port) = self.ports.allocate() else {
                break Err(last);
            };
            match UdpSocket::bind(SocketAddr::new(self.config.address, port)) {
                Ok(s) => break Ok((s, port)),
                // Held by another program: try the next port.
                Err(e) => {
                    failed.push(port);
                    last = e;
                }
            }
        };
        for p in failed {
            self.ports.release(p);
        }
        result
    }

    /// Sets or updates (re-INVITE) what was negotiated; restarts source learning.
    pub(crate) fn configure(&mut self, leg: LegId, params: LegParams) {
        self.send(Command::Configure { leg, params });
    }

    /// Plays files one after another into the leg (replacing what it played); `looped`
    /// repeats them (music on hold) and never reports done; `barge_in` stops at a key.
    /// On a bridged leg the playback replaces the peer's audio until it ends (an
    /// announcement); the peer is heard again afterwards.
    /// A file that cannot be decoded is left out (and logged); with none left, the
    /// playback is reported done at once.
    pub(crate) fn play(
        &mut self,
        leg: LegId,
        id: u32,
        files: Vec<Arc<Path>>,
        looped: bool,
        barge_in: bool,
    ) {
        let items: Vec<PlaylistItem> = files
            .iter()
            .filter_map(|f| self.prompt(f).map(PlaylistItem::Prompt))
            .collect();
        self.send(Command::Play {
            leg,
            id,
            items,
            looped,
            barge_in,
        });
    }

    fn prompt(&mut self, file: &Path) -> Option<Prompt> {
        if let Some(p) = self.prompts.get(file, SAMPLE_RATE) {
            return Some(p);
        }
        match self.prompts.load(file, SAMPLE_RATE) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "prompt left out of a playback");
                None
            }
        }
    }

    /// Stops what the leg plays (a tone or a playback); silence follows.
    pub(crate) fn stop(&mut self, leg: LegId) {
        self.send(Command::Stop { leg });
    }

    /// Generates a tone into the leg until `stop`, `play` or `bridge` (on a bridged leg,
    /// instead of the peer's audio).
    pub(crate) fn tone(&mut self, leg: LegId, tone: Tone) {
        self.send(Command::Tone { leg, tone });
    }

    /// Connects two legs: each one's RTP goes to the other (relay fast path when codecs
    /// match, transcoding otherwise; telephone-event payload types mapped).
    pub(crate) fn bridge(&mut self, a: LegId, b: LegId) {
        self.send(Command::Bridge { a, b });
    }

    /// Separates a bridged leg from its peer (both go back to playing silence).
    pub(crate) fn unbridge(&mut self, leg: LegId) {
        self.send(Command::Unbridge { leg });
    }

    /// Starts recording to a WAV file (a bridge's two legs for `Stereo`/`Mixed`).
    pub(crate) fn record(
        &mut self,
        leg: LegId,
        path: PathBuf,
        mode: RecordMode,
        max: Option<Duration>,
    ) {
        self.send(Command::Record {
            leg,
            path,
            mode,
            max,
        });
    }

    /// Stops a recording (reported by [`MediaEvent::RecordingDone`]).
    pub(crate) fn stop_recording(&mut self, leg: LegId) {
        self.send(Command::StopRecording { leg });
    }

    /// Sends a key to the leg's peer the way the leg negotiated (RFC 4733).
    pub(crate) fn send_dtmf(&mut self, leg: LegId, digit: char) {
        self.send(Command::SendDtmf { leg, digit });
    }

    /// Closes the leg and frees its port (counted free at once; reused once the media
    /// thread has closed the socket).
    pub(crate) fn close(&mut self, leg: LegId) {
        if self.legs.remove(&leg).is_some() {
            // The thread has this leg (or its queued open) and so looks soon: no wake-up.
            self.send_waking(Command::Close { leg }, false);
        }
    }

    /// Ports allocated now (0 when no call is up).
    pub(crate) fn ports_in_use(&self) -> usize {
        self.legs.len()
    }

    /// Stops the media thread (closing every leg and finishing its recordings first).
    pub(crate) fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        if let Some(t) = self.thread.take() {
            self.send(Command::Shutdown);
            if t.join().is_err() {
                tracing::error!("the media thread panicked");
            }
        }
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        self.stop_thread();
    }
}
