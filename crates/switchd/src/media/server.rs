//! The media thread's loop: every leg's socket read through one io_uring (a multishot
//! receive per socket into a ring of provided buffers, [`RxRing`]) or, where io_uring
//! is unavailable, one mio `Poll` with `recvmmsg`; sends batched; and the central 20 ms
//! [`Pacer`] tick for the legs that need one (prompts, tones, silence to an unbridged
//! leg, DTMF we send, recordings).
//!
//! Per wake-up: commands first (so a `configure` or a `bridge` applies before the packets
//! that follow it), then every datagram that arrived, then the due ticks, then the send
//! batch flushed and the events handed to the callback. While legs are open the thread
//! wakes at most once per [`BATCH_WINDOW`], so each wake-up finds many datagrams. Nothing
//! here allocates per packet: the receive buffers, the send batch, the scratch frames and
//! the event list are reused.
//!
//! Commands come through a channel; call control wakes the thread (when it must: see
//! `Media::send`) by writing a byte to a Unix datagram socket that the thread receives on
//! like a leg's socket, so one wait covers both.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use switchyard_media::codec::{CodecKind, g711};
use switchyard_media::dtmf::DtmfDigit;
use switchyard_media::dtmf::rfc4733::DtmfEvent;
use switchyard_media::net::mio::unix::SourceFd;
use switchyard_media::net::mio::{Events, Interest, Poll, Token};
use switchyard_media::net::{
    BATCH, Completion, PacedId, Pacer, RecvBatch, RxRing, SendBatch, Uring, Verdict as Frame,
    XdpPath, XdpStats,
};
use switchyard_media::player::{PlayOptions, PlayerEvent, PlaylistItem};
use switchyard_media::rtp::{FIXED_HEADER_LEN, FixedHeader, PacketKind, classify};
use switchyard_media::stream::{StreamEvent, Verdict};
use switchyard_media::tone::{ToneGenerator, ToneSpec};

use super::leg::{FRAME_TICKS, Leg, Source};
use super::record::{FRAME, Recording};
use super::{Counters, LegId, LegParams, MediaConfig, MediaEvent, RecordMode, SAMPLE_RATE, Tone};

/// The wake-up socket's token in the poll (socket tokens are slot indexes).
const WAKER: Token = Token(usize::MAX);
/// The wake-up socket's user data in the ring (a leg's is its generation and slot).
const WAKER_DATA: u64 = u64::MAX;
/// The AF_XDP socket's readiness poll's user data in the ring.
const XDP_DATA: u64 = u64::MAX - 1;
/// Frames (2 KiB each) of the AF_XDP path's memory, as the relay engine's: 8 MiB.
const XDP_FRAMES: u32 = 4096;
/// Ticks per 20 ms period, the paced streams spread over them: 4 ms ticks, each serving a
/// fifth of the streams. Only legs that generate audio, send DTMF or record are paced.
const PHASES: u32 = 5;
/// The shortest time between two wake-ups while legs are open, as the relay engine's
/// `batch_window`: a fraction of a 20 ms frame and far below jitter buffer depths, it
/// lets each wake-up find many datagrams instead of one.
pub(super) const BATCH_WINDOW: Duration = Duration::from_millis(1);
/// How often inactivity is checked.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// Largest frame decoded from a received packet (60 ms at 8 kHz).
const MAX_FRAME: usize = 480;
/// RTP payload type of telephone-event when the leg negotiated none (never sent).
const NO_PT: u8 = 0xff;
/// Provided buffers of the receive ring: several wake-ups' worth of datagrams for a
/// thousand legs at 50 packets a second; a wake-up that finds more leaves the rest in the
/// sockets for the next.
const RX_BUFFERS: u16 = 512;

/// How the thread learns of datagrams.
pub(super) enum Receive {
    /// A multishot receive per socket on an io_uring: one `io_uring_enter` per wake-up
    /// collects every datagram of every socket, with no readiness polling and no receive
    /// that only says EAGAIN.
    Ring { ring: Box<RxRing> },
    /// Readiness through epoll, then `recvmmsg` on each readable socket.
    Poll {
        poll: Poll,
        events: Events,
        recv: RecvBatch,
    },
}

impl Receive {
    /// The ring when `io_uring` is asked for and the kernel has multishot receive (6.0+),
    /// else readiness polling. Watches `waker` either way.
    pub(super) fn new(io_uring: bool, waker: &UnixDatagram) -> std::io::Result<Self> {
        if io_uring {
            match RxRing::new(RX_BUFFERS) {
                Ok(mut ring) => {
                    ring.arm(waker.as_raw_fd(), WAKER_DATA)?;
                    return Ok(Receive::Ring {
                        ring: Box::new(ring),
                    });
                }
                Err(e) => {
                    tracing::info!(error = %e, "multishot receive unavailable, polling RTP sockets");
                }
            }
        }
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut SourceFd(&waker.as_raw_fd()), WAKER, Interest::READABLE)?;
        Ok(Receive::Poll {
            poll,
            events: Events::with_capacity(1024),
            recv: RecvBatch::new(),
        })
    }

    /// Whether datagrams come through the io_uring.
    pub(super) fn is_ring(&self) -> bool {
        matches!(self, Receive::Ring { .. })
    }
}

/// The legs' ports taken off the UDP stack with AF_XDP ([`MediaConfig::xdp`]): their
/// datagrams arrive as frames in memory shared with the kernel, a bridged leg's are sent
/// on from that memory, and generated audio goes out as new frames, once the receiving
/// phone's next hop is known. The sockets stay bound: they keep the ports, and carry what
/// the path does not (sends before that next hop is known or with no frame free, IPv6).
pub(super) struct Xdp {
    path: XdpPath,
    address: Ipv4Addr,
    port_min: u16,
    /// The slot + 1 of the leg on each port from `port_min` (0: none).
    by_port: Vec<u32>,
}

impl Xdp {
    /// Attaches to the interface that owns `config.address`, or says why the sockets
    /// will do.
    pub(super) fn attach(config: &MediaConfig, receive: &mut Receive) -> Option<Xdp> {
        let why = match (config.address, receive) {
            (_, Receive::Poll { .. }) => "it needs io_uring's multishot receive",
            (IpAddr::V6(_), _) => "it carries IPv4 only",
            _ if config.port_min == 0 || config.port_max < config.port_min => {
                "it needs a port range"
            }
            (IpAddr::V4(address), Receive::Ring { ring }) => {
                match XdpPath::attach(config.address, XDP_FRAMES)
                    .and_then(|path| ring.arm_poll(path.fd(), XDP_DATA).map(|()| path))
                {
                    Ok(path) => {
                        tracing::info!(interface = path.interface(), "RTP through AF_XDP");
                        let ports = usize::from(config.port_max - config.port_min) + 1;
                        return Some(Xdp {
                            path,
                            address,
                            port_min: config.port_min,
                            by_port: vec![0; ports],
                        });
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            "AF_XDP unavailable (it needs root, CAP_BPF and CAP_NET_ADMIN, \
                             and an interface without another XDP program); RTP goes \
                             through the sockets"
                        );
                        return None;
                    }
                }
            }
        };
        tracing::warn!("AF_XDP not used: {why}; RTP goes through the sockets");
        None
    }

    /// The slot of the leg on `port`.
    fn slot(by_port: &[u32], port_min: u16, port: u16) -> Option<usize> {
        let at = by_port.get(usize::from(port.checked_sub(port_min)?))?;
        (*at as usize).checked_sub(1)
    }

    /// Points `port`'s datagrams at the leg in `slot` (`None`: back to the UDP stack).
    fn steer(&mut self, port: u16, slot: Option<usize>) {
        let Some(at) = port
            .checked_sub(self.port_min)
            .and_then(|i| self.by_port.get_mut(usize::from(i)))
        else {
            return;
        };
        *at = slot.map_or(0, |s| s as u32 + 1);
        if let Err(e) = self.path.steer(port, slot.is_some()) {
            // The socket still receives: the port is just not on the fast path.
            tracing::warn!(port, error = %e, "AF_XDP steering failed; the port uses its socket");
            *at = 0;
        }
    }
}

/// A leg's receive in the ring: its slot, and a generation that tells its completions
/// from those of an earlier socket in the same slot.
fn user_data(slot: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | (slot as u64 & 0xffff_ffff)
}

/// The slot and generation of a receive's user data.
fn decode(user_data: u64) -> (usize, u32) {
    ((user_data & 0xffff_ffff) as usize, (user_data >> 32) as u32)
}

/// The send side: datagrams queued during a wake-up, sent together at its end with one
/// `io_uring_enter` (whatever the sockets: a tick's frames go out on many legs' sockets),
/// or, without io_uring, one `sendmmsg` per run of datagrams on the same socket.
pub(super) struct Out {
    batch: SendBatch,
    ring: Option<Uring>,
}

impl Out {
    fn new() -> Self {
        let ring = match Uring::new() {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::info!(error = %e, "io_uring unavailable, sending with sendmmsg");
                None
            }
        };
        Out {
            batch: SendBatch::new(),
            ring,
        }
    }

    /// Queues a datagram (sending the batch first when it is full).
    fn push(&mut self, fd: std::os::fd::RawFd, to: SocketAddr, data: &[u8]) {
        if !self.batch.push(fd, to, data) {
            self.flush();
            self.batch.push(fd, to, data);
        }
    }

    /// Sends what is queued.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        match &mut self.ring {
            Some(r) => {
                if let Err(e) = self.batch.flush_via(r) {
                    tracing::warn!(error = %e, "io_uring send failed, using sendmmsg from now on");
                    self.ring = None;
                }
            }
            None => self.batch.flush(),
        }
    }
}

/// A command from call control.
pub(super) enum Command {
    Open {
        leg: LegId,
        socket: UdpSocket,
        /// The allocated port (0: chosen by the system, not returned).
        port: u16,
    },
    Configure {
        leg: LegId,
        params: LegParams,
    },
    Play {
        leg: LegId,
        id: u32,
        items: Vec<PlaylistItem>,
        looped: bool,
        barge_in: bool,
    },
    Stop {
        leg: LegId,
    },
    Tone {
        leg: LegId,
        tone: Tone,
    },
    Bridge {
        a: LegId,
        b: LegId,
    },
    Unbridge {
        leg: LegId,
    },
    Record {
        leg: LegId,
        path: PathBuf,
        mode: RecordMode,
        max: Option<Duration>,
    },
    StopRecording {
        leg: LegId,
    },
    SendDtmf {
        leg: LegId,
        digit: char,
    },
    Close {
        leg: LegId,
    },
    Shutdown,
}

/// The media thread's state.
pub(super) struct Server {
    receive: Receive,
    xdp: Option<Xdp>,
    /// Published for the API at housekeeping.
    counters: std::sync::Arc<Counters>,
    /// Call control writes a byte here to wake the thread (see `Media::send`).
    waker: UnixDatagram,
    commands: mpsc::Receiver<Command>,
    /// Cleared before each read of the commands (see `Media::send`).
    wake_pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
    emit: Box<dyn Fn(MediaEvent) + Send>,
    freed: mpsc::Sender<u16>,
    inactivity: Duration,
    legs: Vec<Option<Leg>>,
    free: Vec<usize>,
    by_id: HashMap<LegId, usize>,
    /// Slot of each pacer id.
    paced: Vec<usize>,
    pacer: Pacer,
    send: Out,
    due: Vec<PacedId>,
    events: Vec<MediaEvent>,
    next_housekeeping: Instant,
    /// When the thread last woke (for the batching window).
    last_wake: Option<Instant>,
    /// Counts sockets opened, to tell a slot's receives from an earlier socket's.
    generation: u32,
    seed: u32,
    stopping: bool,
    stats: Stats,
}

/// Counters of the media thread's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Stats {
    /// Times the thread woke up.
    pub(super) wakeups: u64,
    /// Datagrams received on legs' sockets.
    pub(super) received: u64,
    /// Legs served by pacer ticks (one per leg per 20 ms while it needs ticks).
    pub(super) ticks: u64,
}

impl Server {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        receive: Receive,
        xdp: Option<Xdp>,
        counters: std::sync::Arc<Counters>,
        waker: UnixDatagram,
        commands: mpsc::Receiver<Command>,
        wake_pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
        emit: Box<dyn Fn(MediaEvent) + Send>,
        freed: mpsc::Sender<u16>,
        inactivity: Duration,
    ) -> Self {
        let now = Instant::now();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5357_4d44, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        Server {
            receive,
            xdp,
            counters,
            waker,
            commands,
            wake_pending,
            emit,
            freed,
            inactivity,
            legs: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            paced: Vec::new(),
            // PHASES ticks per 20 ms period: streams spread over the phases.
            pacer: Pacer::new(Duration::from_millis(20), PHASES, now),
            send: Out::new(),
            due: Vec::with_capacity(1024),
            events: Vec::with_capacity(64),
            next_housekeeping: now + HOUSEKEEPING,
            last_wake: None,
            generation: 0,
            seed,
            stopping: false,
            stats: Stats::default(),
        }
    }

    /// Runs until [`Command::Shutdown`] (or until call control's side is dropped).
    pub(super) fn run(mut self) {
        while !self.stopping {
            if let Err(e) = self.run_once() {
                tracing::error!(error = %e, "media wait failed");
                break;
            }
        }
        let slots: Vec<usize> = self.by_id.values().copied().collect();
        for slot in slots {
            self.close_slot(slot, Instant::now());
        }
        self.flush();
        self.counters.publish(self.stats.received, self.xdp_stats());
        let x = self.xdp_stats().unwrap_or_default();
        tracing::info!(
            wakeups = self.stats.wakeups,
            received = self.stats.received,
            xdp = self.xdp.is_some(),
            xdp_received = x.received,
            xdp_forwarded = x.forwarded,
            xdp_sent = x.sent,
            xdp_tx_full = x.tx_full,
            "media thread stopped"
        );
    }

    /// One wake-up: waits for datagrams, a command's wake-up or the next deadline (a
    /// tick, housekeeping, or the next look at the commands), then does the work.
    pub(super) fn run_once(&mut self) -> std::io::Result<()> {
        let now = Instant::now();
        let deadline = self
            .pacer
            .poll_timeout()
            .map_or(self.next_housekeeping, |t| t.min(self.next_housekeeping));
        let mut timeout = deadline.saturating_duration_since(now);
        if !self.by_id.is_empty() {
            // Call control queues commands without waking us while a leg is open.
            timeout = timeout.min(super::COMMAND_LATENCY);
            // The batching window: sleep (not wait) so that datagrams gather meanwhile;
            // with io_uring the kernel's receive work is deferred to the next wait.
            if let Some(last) = self.last_wake {
                let nap = BATCH_WINDOW
                    .saturating_sub(now.saturating_duration_since(last))
                    .min(timeout);
                if !nap.is_zero() {
                    std::thread::sleep(nap);
                    timeout = timeout.saturating_sub(nap);
                }
            }
        }
        match &mut self.receive {
            Receive::Ring { ring, .. } => ring.wait(Some(timeout))?,
            Receive::Poll { poll, events, .. } => {
                if let Err(e) = poll.poll(events, Some(timeout))
                    && e.kind() != std::io::ErrorKind::Interrupted
                {
                    return Err(e);
                }
            }
        }
        let now = Instant::now();
        self.last_wake = Some(now);
        self.stats.wakeups += 1;
        // Commands first: call control sent them before the packets that follow (a
        // `configure`, then RTP). The datagrams handled below all arrived before the wait
        // returned, so every command sent before them is read here.
        self.drain_commands(now);
        if self.receive.is_ring() {
            self.receive_ring(now);
            // Read at every wake-up, whatever woke the thread: the AF_XDP socket's poll
            // only says that its ring went from empty to not.
            self.receive_xdp(now);
        } else {
            self.receive_polled(now);
        }
        self.tick(now);
        if now >= self.next_housekeeping {
            self.housekeeping(now);
            self.next_housekeeping = now + HOUSEKEEPING;
        }
        self.flush();
        Ok(())
    }

    /// Counters so far.
    pub(super) fn stats(&self) -> Stats {
        self.stats
    }

    /// The AF_XDP path's counters, if it is attached.
    pub(super) fn xdp_stats(&self) -> Option<XdpStats> {
        self.xdp.as_ref().map(|x| x.path.stats())
    }

    /// Legs paced now.
    pub(super) fn paced_legs(&self) -> usize {
        self.pacer.len()
    }

    fn flush(&mut self) {
        if let Some(x) = &mut self.xdp
            && let Err(e) = x.path.flush()
        {
            tracing::warn!(error = %e, "AF_XDP send failed");
        }
        self.send.flush();
        for ev in self.events.drain(..) {
            (self.emit)(ev);
        }
    }

    // --- commands ---

    fn drain_commands(&mut self, now: Instant) {
        self.wake_pending
            .store(false, std::sync::atomic::Ordering::SeqCst);
        loop {
            match self.commands.try_recv() {
                Ok(c) => self.command(c, now),
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.stopping = true;
                    return;
                }
            }
        }
    }

    fn slot(&self, leg: LegId) -> Option<usize> {
        let s = self.by_id.get(&leg).copied();
        if s.is_none() {
            tracing::debug!(leg, "media command for a leg that is not open");
        }
        s
    }

    fn leg_mut(&mut self, leg: LegId) -> Option<&mut Leg> {
        let s = self.slot(leg)?;
        self.legs[s].as_mut()
    }

    fn command(&mut self, c: Command, now: Instant) {
        // The legs whose need for ticks the command may change (a bridge also changes
        // the legs' earlier peers', and a close its peer's: `unbridge` sees to those).
        let touched = match &c {
            Command::Open { leg, .. }
            | Command::Configure { leg, .. }
            | Command::Play { leg, .. }
            | Command::Stop { leg }
            | Command::Tone { leg, .. }
            | Command::Unbridge { leg }
            | Command::Record { leg, .. }
            | Command::StopRecording { leg }
            | Command::SendDtmf { leg, .. }
            | Command::Close { leg } => [Some(*leg), None],
            Command::Bridge { a, b } => [Some(*a), Some(*b)],
            Command::Shutdown => [None, None],
        };
        for leg in touched.into_iter().flatten() {
            // A key or a prompt the command starts is stamped on the generator's clock.
            if let Some(l) = self.by_id.get(&leg).and_then(|&s| self.legs[s].as_mut()) {
                l.catch_up(now);
            }
        }
        self.apply(c, now);
        for leg in touched.into_iter().flatten() {
            if let Some(&slot) = self.by_id.get(&leg) {
                self.repace(slot, now);
            }
        }
    }

    /// Paces the leg in `slot` if it needs ticks and is not paced, or stops pacing it if
    /// it is paced and needs none.
    fn repace(&mut self, slot: usize, now: Instant) {
        let Some(l) = self.legs.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        match (l.needs_ticks(), l.paced) {
            (true, None) => {
                let id = self.pacer.add(now);
                let p = id.0 as usize;
                if self.paced.len() <= p {
                    self.paced.resize(p + 1, usize::MAX);
                }
                self.paced[p] = slot;
                l.catch_up(now);
                l.unpaced_at = None;
                l.paced = Some(id);
            }
            (false, Some(id)) => {
                self.pacer.remove(id);
                if let Some(p) = self.paced.get_mut(id.0 as usize) {
                    *p = usize::MAX;
                }
                l.paced = None;
                l.unpaced_at = Some(now);
            }
            _ => {}
        }
    }

    fn apply(&mut self, c: Command, now: Instant) {
        match c {
            Command::Open { leg, socket, port } => self.open(leg, socket, port, now),
            Command::Configure { leg, params } => {
                if let Some(l) = self.leg_mut(leg) {
                    l.configure(params, now);
                }
            }
            Command::Play {
                leg,
                id,
                items,
                looped,
                barge_in,
            } => self.play(leg, id, items, looped, barge_in),
            Command::Stop { leg } => {
                if let Some(l) = self.leg_mut(leg) {
                    l.player.stop();
                    l.source = Source::Silence;
                }
                self.player_events(leg);
            }
            Command::Tone { leg, tone } => {
                if let Some(l) = self.leg_mut(leg) {
                    l.player.stop();
                    let spec = match tone {
                        Tone::Ringback => ToneSpec::ringback_china(),
                        Tone::Busy => ToneSpec::busy_china(),
                        Tone::Beep => ToneSpec::beep(),
                    };
                    l.source = Source::Tone(Box::new(ToneGenerator::new(spec, SAMPLE_RATE)));
                }
                self.player_events(leg);
            }
            Command::Bridge { a, b } => self.bridge(a, b, now),
            Command::Unbridge { leg } => {
                if let Some(s) = self.slot(leg) {
                    self.unbridge(s, now);
                }
            }
            Command::Record {
                leg,
                path,
                mode,
                max,
            } => self.record(leg, path, mode, max),
            Command::StopRecording { leg } => {
                if let Some(s) = self.slot(leg) {
                    self.finish_recording(s);
                }
            }
            Command::SendDtmf { leg, digit } => {
                let Some(d) = DtmfDigit::from_char(digit) else {
                    tracing::warn!(leg, %digit, "not a DTMF key");
                    return;
                };
                if let Some(l) = self.leg_mut(leg) {
                    if l.params
                        .as_ref()
                        .is_some_and(|p| p.dtmf_payload_type.is_some())
                    {
                        l.dtmf_queue.push_back(d);
                        l.start_next_dtmf();
                    } else {
                        tracing::debug!(leg, "no telephone-event on this leg; key not sent");
                    }
                }
            }
            Command::Close { leg } => {
                if let Some(s) = self.slot(leg) {
                    self.close_slot(s, now);
                }
            }
            Command::Shutdown => self.stopping = true,
        }
    }

    fn open(&mut self, leg: LegId, socket: UdpSocket, port: u16, now: Instant) {
        if let Some(s) = self.by_id.get(&leg).copied() {
            self.close_slot(s, now);
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.legs.push(None);
            self.legs.len() - 1
        });
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let watched = match &mut self.receive {
            Receive::Ring { ring, .. } => ring.arm(socket.as_raw_fd(), user_data(slot, generation)),
            Receive::Poll { poll, .. } => poll.registry().register(
                &mut SourceFd(&socket.as_raw_fd()),
                Token(slot),
                Interest::READABLE,
            ),
        };
        if let Err(e) = watched {
            tracing::error!(leg, error = %e, "cannot watch the RTP socket");
            self.free.push(slot);
            drop(socket);
            self.port_freed(port);
            return;
        }
        self.seed = self
            .seed
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(leg as u32 | 1);
        let mut l = Leg::new(leg, socket, port, self.inactivity, self.seed, now);
        l.generation = generation;
        self.legs[slot] = Some(l);
        if let Some(x) = &mut self.xdp {
            x.steer(port, Some(slot));
        }
        self.by_id.insert(leg, slot);
        // An unbridged leg is paced (`command` sees to it): it sends silence at least.
    }

    fn close_slot(&mut self, slot: usize, now: Instant) {
        self.unbridge(slot, now);
        self.finish_recording(slot);
        let Some(mut l) = self.legs[slot].take() else {
            return;
        };
        l.player.stop();
        self.drain_player(&mut l);
        match &mut self.receive {
            // The kernel holds the socket while a receive is armed on it: cancel first,
            // so that closing the socket frees its port.
            Receive::Ring { ring, .. } => ring.cancel(user_data(slot, l.generation)),
            // No deregistering: closing the socket (its only descriptor) below takes it
            // out of the poll, without the system call.
            Receive::Poll { .. } => {}
        }
        if let Some(id) = l.paced {
            self.pacer.remove(id);
            if let Some(p) = self.paced.get_mut(id.0 as usize) {
                *p = usize::MAX;
            }
        }
        self.by_id.remove(&l.id);
        self.free.push(slot);
        let port = l.port;
        if let Some(x) = &mut self.xdp {
            x.steer(port, None);
        }
        drop(l);
        self.port_freed(port);
    }

    fn port_freed(&self, port: u16) {
        if port != 0 {
            let _ = self.freed.send(port);
        }
    }

    fn play(
        &mut self,
        leg: LegId,
        id: u32,
        items: Vec<PlaylistItem>,
        looped: bool,
        barge_in: bool,
    ) {
        let Some(s) = self.slot(leg) else { return };
        let Some(l) = self.legs[s].as_mut() else {
            return;
        };
        if items.is_empty() {
            l.player.stop();
            l.source = Source::Silence;
            Self::drain_player_into(l, &mut self.events);
            if !looped {
                self.events.push(MediaEvent::PlaybackDone { leg, id });
            }
            return;
        }
        match l.player.play(items, PlayOptions { looped, barge_in }) {
            Ok(pid) => {
                // The replaced playback's event, if any, is reported with its own id.
                Self::drain_player_into(l, &mut self.events);
                l.playing = Some((pid, id));
                l.source = Source::Player;
            }
            Err(e) => {
                tracing::warn!(leg, error = %e, "playback refused");
                self.events.push(MediaEvent::PlaybackDone { leg, id });
            }
        }
    }

    fn player_events(&mut self, leg: LegId) {
        if let Some(s) = self.by_id.get(&leg).copied()
            && let Some(l) = self.legs[s].as_mut()
        {
            Self::drain_player_into(l, &mut self.events);
        }
    }

    fn drain_player(&mut self, l: &mut Leg) {
        Self::drain_player_into(l, &mut self.events);
    }

    fn drain_player_into(l: &mut Leg, events: &mut Vec<MediaEvent>) {
        while let Some(PlayerEvent::PlaybackDone { id, .. }) = l.player.poll_event() {
            if let Some((pid, ours)) = l.playing
                && pid == id
            {
                l.playing = None;
                events.push(MediaEvent::PlaybackDone {
                    leg: l.id,
                    id: ours,
                });
            }
        }
    }

    fn bridge(&mut self, a: LegId, b: LegId, now: Instant) {
        let (Some(sa), Some(sb)) = (self.slot(a), self.slot(b)) else {
            return;
        };
        if sa == sb {
            return;
        }
        self.unbridge(sa, now);
        self.unbridge(sb, now);
        for (s, peer) in [(sa, sb), (sb, sa)] {
            if let Some(l) = self.legs[s].as_mut() {
                l.player.stop();
                l.source = Source::Silence;
                l.peer = Some(peer);
                Self::drain_player_into(l, &mut self.events);
            }
        }
    }

    fn unbridge(&mut self, slot: usize, now: Instant) {
        let Some(peer) = self.legs[slot].as_mut().and_then(|l| l.peer.take()) else {
            return;
        };
        if let Some(p) = self.legs.get_mut(peer).and_then(Option::as_mut) {
            p.peer = None;
        }
        // Alone again, the peer sends silence: it needs ticks.
        self.repace(peer, now);
    }

    fn record(&mut self, leg: LegId, path: PathBuf, mode: RecordMode, max: Option<Duration>) {
        let Some(s) = self.slot(leg) else { return };
        self.finish_recording(s);
        match Recording::create(path.clone(), mode, max) {
            Ok(r) => {
                if let Some(l) = self.legs[s].as_mut() {
                    l.recording = Some(Box::new(r));
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot create the recording");
                self.events.push(MediaEvent::RecordingDone {
                    leg,
                    path,
                    duration: Duration::ZERO,
                });
            }
        }
    }

    fn finish_recording(&mut self, slot: usize) {
        let Some(l) = self.legs[slot].as_mut() else {
            return;
        };
        if let Some(r) = l.recording.take() {
            let (path, duration) = r.finish();
            self.events.push(MediaEvent::RecordingDone {
                leg: l.id,
                path,
                duration,
            });
        }
    }

    // --- receive ---

    /// Handles every completion of the ring: datagrams for open legs (a closed leg's
    /// last ones are left), and arms again the receives that ended for want of buffers.
    fn receive_ring(&mut self, now: Instant) {
        let Receive::Ring { ring } = &mut self.receive else {
            return;
        };
        let (legs, send, events, stats) = (
            &mut self.legs,
            &mut self.send,
            &mut self.events,
            &mut self.stats,
        );
        let drained = ring.drain_rearming(|data, completion| {
            if data == WAKER_DATA || data == XDP_DATA {
                // A wake-up for the commands, already read, or the AF_XDP ring's
                // readiness (read after this drain).
                return;
            }
            let (slot, generation) = decode(data);
            let live = legs
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|l| l.generation == generation);
            if !live {
                return;
            }
            match completion {
                Completion::Datagram(buf, src) => {
                    stats.received += 1;
                    let outcome = handle_packet(legs, events, slot, src, buf, now);
                    forward(legs, send, outcome, buf);
                }
                // Malformed datagrams are dropped; this ring arms no readiness polls.
                Completion::Malformed | Completion::Ready => {}
                // Anything but running out of buffers would fail again at once: the ring
                // leaves the socket unarmed rather than spin; say so.
                Completion::Error(e) => tracing::warn!(
                    error = %std::io::Error::from_raw_os_error(-e),
                    "receiving RTP failed: this leg hears nothing more"
                ),
            }
        });
        if let Err(e) = drained {
            tracing::warn!(error = %e, "cannot receive on an RTP socket again");
        }
    }

    /// Reads every socket the poll found readable (and empties the wake-up socket).
    fn receive_polled(&mut self, now: Instant) {
        let Receive::Poll { events, recv, .. } = &mut self.receive else {
            return;
        };
        for ev in events.iter() {
            let slot = ev.token().0;
            if ev.token() == WAKER {
                let mut byte = [0u8; 16];
                while self.waker.recv(&mut byte).is_ok() {}
                continue;
            }
            while let Some(fd) = self.legs.get(slot).and_then(Option::as_ref).map(|l| l.fd) {
                let n = match recv.recv(fd) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(error = %e, "RTP receive failed");
                        break;
                    }
                };
                self.stats.received += n as u64;
                for i in 0..n {
                    let Some((buf, src)) = recv.get_mut(i) else {
                        continue;
                    };
                    let outcome =
                        handle_packet(&mut self.legs, &mut self.events, slot, src, buf, now);
                    forward(&self.legs, &mut self.send, outcome, buf);
                }
                if n < BATCH {
                    break;
                }
            }
        }
    }

    /// Handles every frame on the AF_XDP path's receive ring as a datagram on its leg.
    /// A bridged leg's goes on from the same memory when the peer's next hop is known,
    /// else through the peer leg's socket.
    fn receive_xdp(&mut self, now: Instant) {
        let Some(x) = self.xdp.as_mut() else { return };
        let (legs, send, events) = (&mut self.legs, &mut self.send, &mut self.events);
        let (by_port, port_min, address) = (&x.by_port, x.port_min, x.address);
        let n = x.path.receive(|frame| {
            let Some(slot) = Xdp::slot(by_port, port_min, frame.dst_port) else {
                return Frame::Drop;
            };
            let src = frame.src;
            let outcome = handle_packet(
                legs,
                events,
                slot,
                SocketAddr::V4(src),
                frame.payload_mut(),
                now,
            );
            if let Outcome::Dropped = outcome {
                return Frame::Drop;
            }
            // The leg took the datagram from `src`: frames to it go by the same hop.
            if let Some(Some(l)) = legs.get_mut(slot) {
                l.next_hop = Some((src, frame.src_mac));
            }
            let Outcome::Forward { slot: ps, to } = outcome else {
                return Frame::Drop;
            };
            let Some(Some(peer)) = legs.get(ps) else {
                return Frame::Drop;
            };
            match (to, peer.next_hop) {
                (SocketAddr::V4(to), Some((hop, to_mac))) if hop == to && peer.port != 0 => {
                    Frame::Forward {
                        from: SocketAddrV4::new(address, peer.port),
                        to,
                        to_mac,
                        len: frame.payload().len(),
                    }
                }
                // Nothing heard from that peer on this path yet: through the socket.
                _ => {
                    send.push(peer.fd, to, frame.payload());
                    Frame::Drop
                }
            }
        });
        self.stats.received += n as u64;
    }

    // --- tick ---

    fn tick(&mut self, now: Instant) {
        if self.pacer.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        self.pacer.due(now, &mut due);
        for id in &due {
            let Some(&slot) = self.paced.get(id.0 as usize) else {
                continue;
            };
            self.stats.ticks += 1;
            self.tick_leg(slot, now);
            // A played announcement ended or the last key went out: a bridged leg then
            // needs no more ticks.
            self.repace(slot, now);
        }
        self.due = due;
    }

    fn tick_leg(&mut self, slot: usize, now: Instant) {
        let Some(l) = self.legs.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        // The recording takes one frame of what arrived since the last tick.
        let record_full = l.recording.as_mut().is_some_and(|r| r.tick());
        let bridged = l.peer.is_some();
        let mut pkt = [0u8; FIXED_HEADER_LEN + FRAME];
        let mut len = 0;
        let mut pt = 0;
        let mut marker = false;
        let mut ts = l.gen_ts;
        if let Some(e) = l.dtmf_out.next_packet() {
            pkt[FIXED_HEADER_LEN..FIXED_HEADER_LEN + 4].copy_from_slice(&e.payload);
            len = FIXED_HEADER_LEN + 4;
            pt = l
                .params
                .as_ref()
                .and_then(|p| p.dtmf_payload_type)
                .unwrap_or(NO_PT);
            marker = e.marker;
            ts = e.timestamp;
            if !l.dtmf_out.is_active() {
                l.start_next_dtmf();
            }
        }
        // A bridged leg hears its peer, unless a prompt or tone is played to it (an
        // announcement): that replaces the peer's audio until it ends.
        if !bridged || l.generating() {
            // The player and tones advance even when nothing is sent (hold).
            let mut pcm = [0i16; FRAME];
            match &mut l.source {
                Source::Silence => {}
                Source::Player => {
                    l.player.next_frame(&mut pcm);
                }
                Source::Tone(t) => t.next_frame(&mut pcm),
            }
            Self::drain_player_into(l, &mut self.events);
            if matches!(l.source, Source::Player) && !l.player.is_playing() {
                l.source = Source::Silence;
            }
            if len == 0
                && let Some(p) = &l.params
            {
                let payload = &mut pkt[FIXED_HEADER_LEN..];
                let n = match p.codec {
                    CodecKind::Pcmu => g711::encode_ulaw(&pcm, payload),
                    CodecKind::Pcma => g711::encode_alaw(&pcm, payload),
                    _ => 0,
                };
                if n > 0 {
                    len = FIXED_HEADER_LEN + n;
                    pt = p.payload_type;
                }
            }
        }
        l.gen_ts = l.gen_ts.wrapping_add(FRAME_TICKS);
        if len > 0 && pt != NO_PT {
            let sending = l.params.as_ref().is_some_and(|p| p.send);
            if let (true, Some(to)) = (sending, l.stream.send_target()) {
                let mut h = FixedHeader {
                    marker,
                    payload_type: pt,
                    sequence: l.gen_seq,
                    timestamp: ts,
                    ssrc: l.gen_ssrc,
                };
                l.gen_seq = l.gen_seq.wrapping_add(1);
                l.out.rewrite(now, &mut h);
                pkt[0] = 0x80;
                let _ = h.write_into(&mut pkt);
                l.out.count(len - FIXED_HEADER_LEN);
                // Straight onto the AF_XDP ring when the phone's next hop is known (no
                // socket send), else (or with no frame free) through the socket.
                let framed = match (&mut self.xdp, to, l.next_hop) {
                    (Some(x), SocketAddr::V4(to), Some((hop, mac))) if hop == to && l.port != 0 => {
                        let from = SocketAddrV4::new(x.address, l.port);
                        x.path.send(from, to, mac, &pkt[..len])
                    }
                    _ => false,
                };
                if !framed {
                    self.send.push(l.fd, to, &pkt[..len]);
                }
            }
        }
        if record_full {
            self.finish_recording(slot);
        }
    }

    // --- housekeeping ---

    fn housekeeping(&mut self, now: Instant) {
        self.counters.publish(self.stats.received, self.xdp_stats());
        for l in self.legs.iter_mut().flatten() {
            l.stream.handle_timeout(now);
            while let Some(e) = l.stream.poll_event() {
                if e == StreamEvent::Inactive {
                    self.events.push(MediaEvent::Inactive { leg: l.id });
                }
            }
        }
    }
}

/// The range of the payload in an RTP packet (after CSRCs and the extension, before
/// padding), or `None` if the packet is malformed.
fn payload_range(buf: &[u8]) -> Option<std::ops::Range<usize>> {
    let b0 = *buf.first()?;
    let mut start = FIXED_HEADER_LEN + 4 * usize::from(b0 & 0x0f);
    if b0 & 0x10 != 0 {
        let ext = buf.get(start..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    let mut end = buf.len();
    if b0 & 0x20 != 0 {
        end = end.checked_sub(usize::from(*buf.last()?))?;
    }
    (start <= end).then_some(start..end)
}

/// What became of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Not RTP, not from the leg's peer, or not wanted.
    Dropped,
    /// Taken from the peer (heard, recorded, its keys detected), not sent on.
    Taken,
    /// Taken, and rewritten in place for the bridged leg in `slot`, to go to `to`.
    Forward { slot: usize, to: SocketAddr },
}

/// Sends a datagram that [`handle_packet`] rewrote on through the peer leg's socket.
fn forward(legs: &[Option<Leg>], send: &mut Out, outcome: Outcome, buf: &[u8]) {
    if let Outcome::Forward { slot, to } = outcome
        && let Some(Some(peer)) = legs.get(slot)
    {
        send.push(peer.fd, to, buf);
    }
}

/// Handles one datagram received on leg `slot`; a bridged leg's is rewritten in place
/// for its peer, for the caller to send.
fn handle_packet(
    legs: &mut [Option<Leg>],
    events: &mut Vec<MediaEvent>,
    slot: usize,
    src: SocketAddr,
    buf: &mut [u8],
    now: Instant,
) -> Outcome {
    // RTCP (muxed) and anything else that is not RTP is ignored.
    if classify(buf) != PacketKind::Rtp {
        return Outcome::Dropped;
    }
    let Some(mut h) = FixedHeader::read(buf) else {
        return Outcome::Dropped;
    };
    let Some(range) = payload_range(buf) else {
        return Outcome::Dropped;
    };
    let peer_slot = {
        let Some(l) = legs.get_mut(slot).and_then(Option::as_mut) else {
            return Outcome::Dropped;
        };
        let Some(p) = &l.params else {
            return Outcome::Dropped;
        };
        if !p.receive {
            return Outcome::Dropped;
        }
        if let Verdict::Drop(_) = l.stream.handle_rtp(now, src, h.sequence) {
            return Outcome::Dropped;
        }
        let (audio_pt, dtmf_pt, codec) = (p.payload_type, p.dtmf_payload_type, p.codec);
        if Some(h.payload_type) == dtmf_pt {
            if l.dtmf_in
                .handle_packet(&buf[range.clone()], h.timestamp, h.marker)
                .is_ok()
            {
                dtmf_events(l, events);
            }
        } else if h.payload_type == audio_pt {
            if l.dtmf_in.in_progress() {
                // Audio resumed: the key's end packets were lost.
                l.dtmf_in.end_pending();
                dtmf_events(l, events);
            }
            let peer = l.peer;
            let peer_records = peer.is_some_and(|ps| legs_records_peer(legs, ps));
            let l = legs[slot].as_mut().expect("checked above");
            if l.needs_pcm() || peer_records {
                let mut pcm = [0i16; MAX_FRAME];
                let n = codec.decode(&buf[range.clone()], &mut pcm).unwrap_or(0);
                let pcm = &pcm[..n];
                if let Some(mut d) = l.detector.take() {
                    d.feed(pcm);
                    while let Some(digit) = d.poll_digit() {
                        key(l, digit, events);
                    }
                    l.detector = Some(d);
                }
                if let Some(r) = &mut l.recording {
                    r.left.push(pcm);
                }
                if peer_records
                    && let Some(ps) = peer
                    && let Some(Some(p)) = legs.get_mut(ps)
                    && let Some(r) = &mut p.recording
                {
                    r.right.push(pcm);
                }
            }
        } else {
            return Outcome::Taken;
        }
        let Some(l) = legs[slot].as_ref() else {
            return Outcome::Taken;
        };
        match l.peer {
            Some(ps) => ps,
            None => return Outcome::Taken,
        }
    };
    // Bridged: the relay fast path to the peer.
    let Ok([Some(rx), Some(tx)]) = legs.get_disjoint_mut([slot, peer_slot]) else {
        return Outcome::Taken;
    };
    let (Some(rp), Some(tp)) = (&rx.params, &tx.params) else {
        return Outcome::Taken;
    };
    if !tp.send {
        return Outcome::Taken;
    }
    let Some(to) = tx.stream.send_target() else {
        return Outcome::Taken;
    };
    if h.payload_type == rp.payload_type {
        if tx.dtmf_out.is_active() || tx.generating() {
            // A key we send replaces the audio meanwhile (RFC 4733 §2.6): interleaving
            // the two sources would break the event's constant timestamp. So does an
            // announcement played to the leg.
            return Outcome::Taken;
        }
        h.payload_type = tp.payload_type;
        if rp.codec != tp.codec
            && rp
                .codec
                .transcode_in_place(tp.codec, &mut buf[range])
                .is_err()
        {
            return Outcome::Taken;
        }
    } else {
        match tp.dtmf_payload_type {
            Some(pt) => h.payload_type = pt,
            None => return Outcome::Taken,
        }
    }
    tx.out.rewrite(now, &mut h);
    tx.out.count(buf.len() - FIXED_HEADER_LEN);
    let _ = h.write_into(buf);
    Outcome::Forward {
        slot: peer_slot,
        to,
    }
}

fn legs_records_peer(legs: &[Option<Leg>], peer: usize) -> bool {
    legs.get(peer)
        .and_then(Option::as_ref)
        .and_then(|p| p.recording.as_ref())
        .is_some_and(|r| r.mode != RecordMode::Leg)
}

fn dtmf_events(l: &mut Leg, events: &mut Vec<MediaEvent>) {
    while let Some(e) = l.dtmf_in.poll_event() {
        if let DtmfEvent::End { digit, .. } = e {
            key(l, digit, events);
        }
    }
}

/// A key from the leg's peer: reported, and it stops a barge-in playback.
fn key(l: &mut Leg, digit: DtmfDigit, events: &mut Vec<MediaEvent>) {
    events.push(MediaEvent::Dtmf {
        leg: l.id,
        digit: digit.to_char(),
    });
    if l.player.handle_dtmf(digit) {
        l.source = Source::Silence;
        Server::drain_player_into(l, events);
    }
}
