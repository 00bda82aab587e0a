//! The relay's socket loop: one thread, the sans-IO [`Relay`] to rewrite packets in
//! place, and batched system calls around it. Two ways to receive:
//! - io_uring (kernel 6.1+): a multishot `recvmsg` armed once per leg's socket, into a
//!   ring of provided buffers (`rx`); one `io_uring_enter` per wake-up collects every
//!   datagram that arrived on any socket, with no readiness polling and no receive that
//!   can only say EAGAIN. The sends of a wake-up go out with one more `io_uring_enter`.
//! - otherwise: one `epoll` instance (through mio) over every socket, `recvmmsg` to read
//!   each ready socket and `sendmmsg` per destination socket.
//!
//! Why std + mio and not tokio: the per-packet path must not cross a task, a waker, a
//! channel or a lock, and a relay thread does nothing but this loop; mio gives the
//! portable readiness API and leaves the system calls to us. The daemon runs one engine
//! per core on its own thread and talks to it between batches.
//!
//! Batching window: rtpengine pays for one wake-up, two `recvfrom` (the second returns
//! EAGAIN) and one `sendto` per packet. Here each wake-up is followed by a short sleep
//! (`batch_window`, 1 ms by default: a fraction of a 20 ms frame and far below jitter
//! buffer depths) so the next wake-up finds many datagrams waiting. With io_uring the
//! kernel's receive work is deferred to that wake-up rather than interrupting the sleep
//! at each arrival.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::batch::{BATCH, NOT_FIXED, RecvBatch, SendBatch, recv_round};
use super::ports::PortAllocator;
use super::rx::{Completion, RxRing};
use super::xdp::{RxFrame, Verdict, XdpPath};
use crate::relay::{Leg, LegMedia, Relay, RelayConfig, RelayOutcome};
use crate::stream::StreamEvent;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Address to bind RTP sockets on.
    pub bind: IpAddr,
    /// RTP port range (inclusive).
    pub port_min: u16,
    /// RTP port range end (inclusive).
    pub port_max: u16,
    /// Minimum time between two wake-ups, to batch packets (zero: wake per packet).
    pub batch_window: Duration,
    /// Relay policy for new relays.
    pub relay: RelayConfig,
    /// How often to send RTCP reports on legs with rtcp-mux (`None`: never).
    pub rtcp_interval: Option<Duration>,
    /// Receive with a multishot `recvmsg` per socket into a ring of provided buffers
    /// (kernel 6.0+), collecting every datagram of a wake-up with one `io_uring_enter`,
    /// and send all datagrams of a wake-up with one more; instead of `epoll` with one
    /// `recvmmsg` per ready socket and one `sendmmsg` per destination socket. Falls
    /// back to those when io_uring is not available (old kernel, disabled by sysctl or
    /// seccomp).
    pub io_uring: bool,
    /// Take the relay's IPv4 RTP off the kernel's UDP stack with AF_XDP (see
    /// [`XdpPath`]): an XDP program on the interface that owns `bind` hands datagrams
    /// for the relay's ports to the engine, which rewrites them and sends them back out
    /// from the same memory, with no socket receive or send per packet. Needs the
    /// multishot receive (`io_uring`), root (CAP_BPF and CAP_NET_ADMIN) and an interface
    /// with no other XDP program; otherwise the engine says why and uses its sockets.
    /// The sockets stay bound and read in any case: they reserve the ports, and carry
    /// IPv6, RTCP and anything else the program lets through.
    pub xdp: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            port_min: 30000,
            port_max: 40000,
            batch_window: Duration::from_millis(1),
            relay: RelayConfig::default(),
            rtcp_interval: Some(Duration::from_secs(5)),
            io_uring: true,
            xdp: false,
        }
    }
}

/// A relay in the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelayId(pub usize);

struct Entry {
    relay: Relay,
    sockets: [usize; 2],
}

/// Token bit marking a leg's RTCP socket (the RTP port + 1); the rest is the slot index.
const RTCP_TOKEN: usize = 1 << (usize::BITS - 1);

struct SocketSlot {
    /// Tells this socket's receive completions from those of an earlier socket in the
    /// same slot.
    generation: u32,
    socket: UdpSocket,
    /// The socket's index in the send ring's registered files ([`NOT_FIXED`]: none).
    fixed: u32,
    /// The RTCP socket on the next port up, for peers without rtcp-mux (`None` if that
    /// port could not be bound).
    rtcp: Option<UdpSocket>,
    port: u16,
    relay: usize,
    leg: Leg,
    /// The MAC address of the next hop towards the peer that sent the last frame this
    /// relay accepted on the AF_XDP path, and that peer: where replies to it can go.
    peer_mac: Option<(SocketAddrV4, [u8; 6])>,
}

/// Counters for the whole engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams forwarded.
    pub forwarded: u64,
    /// Datagrams dropped by the relays.
    pub dropped: u64,
    /// Wake-ups of the loop.
    pub wakeups: u64,
    /// Receive system calls.
    pub recv_calls: u64,
    /// Send system calls.
    pub send_calls: u64,
    /// Datagrams the kernel refused to send.
    pub send_failed: u64,
    /// RTCP datagrams received on RTCP ports.
    pub rtcp_received: u64,
    /// Datagrams that came through the AF_XDP path (counted in `received` too).
    pub xdp_received: u64,
    /// Datagrams sent back out through the AF_XDP path (counted in `forwarded` too).
    pub xdp_forwarded: u64,
}

/// The relay socket loop.
pub struct RelayEngine {
    config: EngineConfig,
    poll: Poll,
    events: Events,
    sockets: Vec<Option<SocketSlot>>,
    relays: Vec<Option<Entry>>,
    ports: PortAllocator,
    recv: RecvBatch,
    send: SendBatch,
    stats: EngineStats,
    last_wake: Option<Instant>,
    next_timeout_check: Option<Instant>,
    next_rtcp: Option<Instant>,
    events_out: Vec<(RelayId, Leg, StreamEvent)>,
    ring: Option<io_uring::IoUring>,
    /// Sockets with data waiting (socket index, fd), for io_uring receive rounds.
    ready: Vec<(usize, std::os::fd::RawFd)>,
    ready_next: Vec<(usize, std::os::fd::RawFd)>,
    fds: Vec<std::os::fd::RawFd>,
    results: Vec<i32>,
    /// Multishot receives (when io_uring has them); `None`: epoll and rounds of receives.
    rx: Option<RxRing>,
    generation: u32,
    /// Whether RTP sockets are registered with the send ring, each at its slot index.
    fixed_files: bool,
    /// The AF_XDP path, when configured and attached.
    xdp: Option<XdpPath>,
    /// Slot index + 1 of the RTP socket on each port of the range (0: none), to find a
    /// frame's relay from its destination port.
    by_port: Vec<u32>,
}

/// User data of the readiness poll on the AF_XDP socket (no socket slot decodes to it).
const XDP_POLL: u64 = u64::MAX;
/// UMEM frames of the AF_XDP path: room for the fill ring, the frames being forwarded
/// and the TX ring, at 100,000 packets per second with 1 ms wake-ups.
const XDP_FRAMES: u32 = 4096;

/// Provided buffers for multishot receives: a few wake-ups' worth of datagrams at
/// 100,000 packets per second.
const RX_BUFFERS: u16 = 512;

/// User data of a socket's multishot receive: slot index, RTCP flag and generation.
fn rx_user_data(idx: usize, rtcp: bool, generation: u32) -> u64 {
    (u64::from(generation) << 32) | (u64::from(rtcp) << 31) | (idx as u64 & 0x7fff_ffff)
}

/// The slot index, RTCP flag and generation of a receive's user data.
fn rx_decode(user_data: u64) -> (usize, bool, u32) {
    (
        (user_data & 0x7fff_ffff) as usize,
        user_data & (1 << 31) != 0,
        (user_data >> 32) as u32,
    )
}

impl RelayEngine {
    /// An engine with no relays.
    pub fn new(config: EngineConfig) -> io::Result<Self> {
        let mut engine = RelayEngine {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            sockets: Vec::new(),
            relays: Vec::new(),
            ports: PortAllocator::new(config.port_min, config.port_max, true),
            recv: RecvBatch::new(),
            send: SendBatch::new(),
            stats: EngineStats::default(),
            last_wake: None,
            next_timeout_check: None,
            next_rtcp: None,
            events_out: Vec::new(),
            // Room for a full batch in flight; without io_uring, the mmsg calls.
            ring: config
                .io_uring
                .then(|| {
                    io_uring::IoUring::new(2 * BATCH as u32)
                        .inspect_err(|e| {
                            tracing::info!(error = %e, "io_uring unavailable, using recvmmsg/sendmmsg");
                        })
                        .ok()
                })
                .flatten(),
            ready: Vec::with_capacity(4096),
            ready_next: Vec::with_capacity(4096),
            fds: Vec::with_capacity(BATCH),
            results: vec![0; BATCH],
            rx: config
                .io_uring
                .then(|| {
                    RxRing::new(RX_BUFFERS)
                        .inspect_err(|e| {
                            tracing::info!(error = %e, "multishot receive unavailable, polling sockets");
                        })
                        .ok()
                })
                .flatten(),
            generation: 0,
            fixed_files: false,
            xdp: None,
            by_port: vec![
                0;
                usize::from(config.port_max.saturating_sub(config.port_min)) + 1
            ],
            config,
        };
        if engine.config.xdp {
            engine.attach_xdp();
        }
        // A kernel with multishot receive (6.1+) also has sends with an address.
        engine.send.send_to_op = engine.rx.is_some();
        // Register the RTP sockets with the send ring (one table entry per socket slot,
        // at most one slot per even port of the range), so sends skip the file lookup.
        if let Some(ring) = &engine.ring {
            let slots = (u32::from(engine.config.port_max)
                .saturating_sub(u32::from(engine.config.port_min))
                / 2)
                + 1;
            engine.fixed_files = ring.submitter().register_files_sparse(slots).is_ok();
        }
        Ok(engine)
    }

    /// Attaches the AF_XDP path, or says why the sockets will do.
    fn attach_xdp(&mut self) {
        let Some(rx) = self.rx.as_mut() else {
            tracing::info!("AF_XDP needs the multishot receive ring; relaying through sockets");
            return;
        };
        match XdpPath::attach(self.config.bind, XDP_FRAMES) {
            Ok(xdp) => match rx.arm_poll(xdp.fd(), XDP_POLL) {
                Ok(()) => {
                    tracing::info!(interface = xdp.interface(), "relaying RTP through AF_XDP");
                    self.xdp = Some(xdp);
                }
                Err(e) => tracing::info!(error = %e, "AF_XDP not polled; relaying through sockets"),
            },
            Err(e) => tracing::info!(
                error = %e,
                "AF_XDP unavailable (it needs root and an interface without another XDP \
                 program); relaying through sockets"
            ),
        }
    }

    /// Whether datagrams are taken off the UDP stack with AF_XDP.
    pub fn uses_xdp(&self) -> bool {
        self.xdp.is_some()
    }

    /// Registers (or, with `None`, unregisters) slot `idx`'s RTP socket with the send
    /// ring. Returns whether the slot can be sent from by index.
    fn register_fixed(&mut self, idx: usize, fd: Option<std::os::fd::RawFd>) -> bool {
        let (true, Some(ring)) = (self.fixed_files, &self.ring) else {
            return false;
        };
        let Ok(at) = u32::try_from(idx) else {
            return false;
        };
        ring.submitter()
            .register_files_update(at, &[fd.unwrap_or(-1)])
            .is_ok()
    }

    /// Starts receiving on slot `idx`'s RTP (or RTCP) socket: a multishot receive, or
    /// else readiness through epoll.
    fn watch(
        &mut self,
        socket: &UdpSocket,
        idx: usize,
        rtcp: bool,
        generation: u32,
    ) -> io::Result<()> {
        match &mut self.rx {
            Some(rx) => rx.arm(socket.as_raw_fd(), rx_user_data(idx, rtcp, generation)),
            None => {
                let token = if rtcp { idx | RTCP_TOKEN } else { idx };
                self.poll.registry().register(
                    &mut SourceFd(&socket.as_raw_fd()),
                    Token(token),
                    Interest::READABLE,
                )
            }
        }
    }

    fn bind_socket(&mut self, relay: usize, leg: Leg) -> io::Result<(usize, SocketAddr)> {
        let mut last_err = io::Error::new(io::ErrorKind::AddrInUse, "RTP port range exhausted");
        for _ in 0..self.ports.available() {
            let Some(port) = self.ports.allocate() else {
                break;
            };
            match UdpSocket::bind(SocketAddr::new(self.config.bind, port)) {
                Ok(socket) => {
                    socket.set_nonblocking(true)?;
                    let idx = match self.sockets.iter().position(Option::is_none) {
                        Some(i) => i,
                        None => {
                            self.sockets.push(None);
                            self.sockets.len() - 1
                        }
                    };
                    self.generation = self.generation.wrapping_add(1);
                    let generation = self.generation;
                    self.watch(&socket, idx, false, generation)?;
                    let addr = socket.local_addr()?;
                    let rtcp = self.bind_rtcp(port, idx, generation);
                    let fixed = if self.register_fixed(idx, Some(socket.as_raw_fd())) {
                        idx as u32
                    } else {
                        NOT_FIXED
                    };
                    self.sockets[idx] = Some(SocketSlot {
                        generation,
                        socket,
                        fixed,
                        rtcp,
                        port,
                        relay,
                        leg,
                        peer_mac: None,
                    });
                    self.steer(port, Some(idx));
                    return Ok((idx, addr));
                }
                // Held by another program: keep it allocated and try the next one.
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Binds and registers the RTCP socket next to RTP port `port` (reserved for it by
    /// the allocator). Without it, peers that do not multiplex simply get no RTCP.
    fn bind_rtcp(&mut self, port: u16, idx: usize, generation: u32) -> Option<UdpSocket> {
        let addr = SocketAddr::new(self.config.bind, port.checked_add(1)?);
        let socket = match UdpSocket::bind(addr) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(port = addr.port(), error = %e, "RTCP port not bound");
                return None;
            }
        };
        socket.set_nonblocking(true).ok()?;
        self.watch(&socket, idx, true, generation).ok()?;
        Some(socket)
    }

    /// Creates a relay between two legs with the given media, binding an RTP socket
    /// (and an RTCP socket on the next port) per leg. Returns its id and the local RTP addresses of leg A and leg B (to put in
    /// the SDP sent to each peer).
    pub fn add_relay(
        &mut self,
        a: LegMedia,
        b: LegMedia,
        now: Instant,
    ) -> io::Result<(RelayId, SocketAddr, SocketAddr)> {
        let id = match self.relays.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.relays.push(None);
                self.relays.len() - 1
            }
        };
        let (sa, addr_a) = self.bind_socket(id, Leg::A)?;
        let (sb, addr_b) = match self.bind_socket(id, Leg::B) {
            Ok(x) => x,
            Err(e) => {
                self.close_socket(sa);
                return Err(e);
            }
        };
        self.relays[id] = Some(Entry {
            relay: Relay::new(a, b, self.config.relay, now),
            sockets: [sa, sb],
        });
        Ok((RelayId(id), addr_a, addr_b))
    }

    /// Points `port`'s datagrams on the AF_XDP path at slot `idx` (`None`: back to its
    /// socket).
    fn steer(&mut self, port: u16, idx: Option<usize>) {
        let Some(xdp) = &mut self.xdp else { return };
        let Some(at) = port
            .checked_sub(self.config.port_min)
            .and_then(|i| self.by_port.get_mut(usize::from(i)))
        else {
            return;
        };
        *at = idx.map_or(0, |i| i as u32 + 1);
        if let Err(e) = xdp.steer(port, idx.is_some()) {
            // The socket still receives: this port is just not accelerated.
            tracing::warn!(port, error = %e, "AF_XDP steering failed; the port uses its socket");
            *at = 0;
        }
    }

    fn close_socket(&mut self, idx: usize) {
        if let Some(port) = self
            .sockets
            .get(idx)
            .and_then(Option::as_ref)
            .map(|s| s.port)
        {
            self.steer(port, None);
        }
        if let Some(slot) = self.sockets.get_mut(idx).and_then(Option::take) {
            if slot.fixed != NOT_FIXED {
                // The registered-file table holds the socket open too.
                self.register_fixed(idx, None);
            }
            if let Some(rx) = &mut self.rx {
                // The kernel holds the socket while a receive is armed on it.
                rx.cancel(rx_user_data(idx, false, slot.generation));
                if slot.rtcp.is_some() {
                    rx.cancel(rx_user_data(idx, true, slot.generation));
                }
                self.ports.release(slot.port);
                return;
            }
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&slot.socket.as_raw_fd()));
            if let Some(r) = &slot.rtcp {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&r.as_raw_fd()));
            }
            self.ports.release(slot.port);
        }
    }

    /// Removes a relay and closes its sockets.
    pub fn remove_relay(&mut self, id: RelayId) {
        if let Some(e) = self.relays.get_mut(id.0).and_then(Option::take) {
            for s in e.sockets {
                self.close_socket(s);
            }
        }
    }

    /// The relay, to apply SDP changes (`on_sdp`, `set_media`) or inject packets.
    pub fn relay_mut(&mut self, id: RelayId) -> Option<&mut Relay> {
        self.relays
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .map(|e| &mut e.relay)
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            send_calls: self.send.syscalls,
            send_failed: self.send.failed + self.stats.send_failed,
            ..self.stats
        }
    }

    /// Stream events (source learned, inactivity) since the last call.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, (RelayId, Leg, StreamEvent)> {
        self.events_out.drain(..)
    }

    /// Waits up to `timeout` for packets and relays them. Returns the number of
    /// datagrams received. Call it in a loop on the engine's thread: relays can be set
    /// up from any thread before the first call, but from then on the engine belongs to
    /// the thread that made it (its io_uring is bound to that thread).
    pub fn run_once(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        if let Some(last) = self.last_wake {
            let since = last.elapsed();
            if since < self.config.batch_window {
                std::thread::sleep(self.config.batch_window - since);
            }
        }
        let received = if self.rx.is_some() {
            self.receive_multishot(timeout)?
        } else {
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            self.last_wake = Some(now);
            self.stats.wakeups += 1;
            if self.ring.is_some() {
                self.receive_uring(now)?
            } else {
                self.receive_mmsg(now)?
            }
        };
        let now = self.last_wake.unwrap_or_else(Instant::now);
        self.flush_sends();
        self.stats.received += received as u64;
        self.check_timeouts(now);
        self.send_rtcp(now);
        Ok(received)
    }

    fn flush_sends(&mut self) {
        if let Some(xdp) = &mut self.xdp
            && let Err(e) = xdp.flush()
        {
            tracing::warn!(error = %e, "AF_XDP send failed");
        }
        if let Some(ring) = &mut self.ring {
            if let Err(e) = self.send.flush_uring(ring) {
                tracing::warn!(error = %e, "io_uring failed, falling back to sendmmsg");
                self.ring = None;
            }
        } else {
            self.send.flush();
        }
    }

    /// Waits for datagrams on the multishot receives and relays every one that arrived.
    fn receive_multishot(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let Some(rx) = self.rx.as_mut() else {
            return Ok(0);
        };
        rx.wait(timeout)?;
        self.stats.recv_calls += 1;
        let now = Instant::now();
        self.last_wake = Some(now);
        self.stats.wakeups += 1;
        let mut received = 0;
        let (sockets, relays, send, ring, stats, events_out) = (
            &self.sockets,
            &mut self.relays,
            &mut self.send,
            &mut self.ring,
            &mut self.stats,
            &mut self.events_out,
        );
        rx.drain_rearming(|user_data, completion| {
            // The AF_XDP ring is read below, whatever woke the thread.
            if user_data == XDP_POLL {
                return;
            }
            let (idx, rtcp, generation) = rx_decode(user_data);
            let live = sockets
                .get(idx)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.generation == generation);
            if !live {
                // A closed socket's last datagrams or its cancellation.
                return;
            }
            match completion {
                Completion::Datagram(buf, src) => {
                    received += 1;
                    let token = if rtcp { idx | RTCP_TOKEN } else { idx };
                    Self::dispatch(
                        now, token, buf, src, sockets, relays, send, ring, stats, events_out,
                    );
                }
                Completion::Malformed => stats.dropped += 1,
                // Only the AF_XDP socket is polled, handled above.
                Completion::Ready => {}
                // Anything but running out of buffers would fail again at once: the ring
                // leaves the socket unarmed rather than spin; say so.
                Completion::Error(e) => tracing::warn!(
                    port = sockets[idx].as_ref().map(|s| s.port),
                    error = %io::Error::from_raw_os_error(-e),
                    "receiving RTP failed: this leg hears nothing more until its call \
                     is set up again; if it recurs, run with io_uring off \
                     (EngineConfig::io_uring = false)"
                ),
            }
        })?;
        // The AF_XDP ring is read at every wake-up, whatever woke the thread: its poll
        // only says that it went from empty to not.
        received += self.receive_xdp(now);
        Ok(received)
    }

    /// Relays every frame on the AF_XDP path's receive ring: forwarded from the same
    /// memory when the destination's next hop is known, else through the leg's socket.
    fn receive_xdp(&mut self, now: Instant) -> usize {
        let Some(xdp) = self.xdp.as_mut() else {
            return 0;
        };
        let (sockets, relays, send, ring, stats, events_out, by_port) = (
            &mut self.sockets,
            &mut self.relays,
            &mut self.send,
            &mut self.ring,
            &mut self.stats,
            &mut self.events_out,
            &self.by_port,
        );
        let (bind, port_min) = (self.config.bind, self.config.port_min);
        let n = xdp.receive(|frame| {
            let idx = frame
                .dst_port
                .checked_sub(port_min)
                .and_then(|i| by_port.get(usize::from(i)))
                .and_then(|&i| (i as usize).checked_sub(1));
            match idx {
                Some(idx) => Self::dispatch_frame(
                    now, idx, frame, bind, sockets, relays, send, ring, stats, events_out,
                ),
                None => {
                    stats.dropped += 1;
                    Verdict::Drop
                }
            }
        });
        // Counted in `received` by the caller.
        self.stats.xdp_received += n as u64;
        n
    }

    /// Relays one frame from the AF_XDP path received for slot `idx`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn dispatch_frame(
        now: Instant,
        idx: usize,
        frame: &mut RxFrame<'_>,
        bind: IpAddr,
        sockets: &mut [Option<SocketSlot>],
        relays: &mut [Option<Entry>],
        send: &mut SendBatch,
        ring: &mut Option<io_uring::IoUring>,
        stats: &mut EngineStats,
        events_out: &mut Vec<(RelayId, Leg, StreamEvent)>,
    ) -> Verdict {
        let Some(slot) = sockets.get(idx).and_then(Option::as_ref) else {
            return Verdict::Drop;
        };
        let (ri, leg) = (slot.relay, slot.leg);
        let Some(entry) = relays.get_mut(ri).and_then(Option::as_mut) else {
            return Verdict::Drop;
        };
        let (src, src_mac) = (frame.src, frame.src_mac);
        let verdict =
            match entry
                .relay
                .handle_packet(now, leg, SocketAddr::V4(src), frame.payload_mut())
            {
                RelayOutcome::Forward { to, len } => {
                    // The relay took the datagram from `src`: replies to it go by the
                    // next hop its frame came from.
                    if let Some(s) = sockets.get_mut(idx).and_then(Option::as_mut) {
                        s.peer_mac = Some((src, src_mac));
                    }
                    stats.forwarded += 1;
                    let Some(out) = sockets[entry.sockets[leg.other() as usize]].as_ref() else {
                        return Verdict::Drop;
                    };
                    match (to, bind, out.peer_mac) {
                        (SocketAddr::V4(to), IpAddr::V4(ip), Some((peer, to_mac)))
                            if peer == to =>
                        {
                            stats.xdp_forwarded += 1;
                            Verdict::Forward {
                                from: SocketAddrV4::new(ip, out.port),
                                to,
                                to_mac,
                                len,
                            }
                        }
                        // No frame from that peer yet (or it is IPv6): through the socket.
                        _ => {
                            if send.is_full() {
                                match ring.as_mut() {
                                    Some(r) => {
                                        if send.flush_uring(r).is_err() {
                                            *ring = None;
                                        }
                                    }
                                    None => send.flush(),
                                }
                            }
                            send.push_fixed(
                                out.socket.as_raw_fd(),
                                out.fixed,
                                to,
                                &frame.payload()[..len],
                            );
                            Verdict::Drop
                        }
                    }
                }
                RelayOutcome::Drop(_) => {
                    stats.dropped += 1;
                    Verdict::Drop
                }
            };
        while let Some((leg, ev)) = entry.relay.poll_event() {
            events_out.push((RelayId(ri), leg, ev));
        }
        verdict
    }

    /// Drains every ready socket with `recvmmsg`.
    fn receive_mmsg(&mut self, now: Instant) -> io::Result<usize> {
        let mut received = 0;
        for ev in self.events.iter() {
            let token = ev.token().0;
            let idx = token & !RTCP_TOKEN;
            while let Some(fd) = self
                .sockets
                .get(idx)
                .and_then(Option::as_ref)
                .and_then(|s| {
                    if token & RTCP_TOKEN != 0 {
                        s.rtcp.as_ref().map(AsRawFd::as_raw_fd)
                    } else {
                        Some(s.socket.as_raw_fd())
                    }
                })
            {
                let n = self.recv.recv(fd)?;
                self.stats.recv_calls += 1;
                received += n;
                for i in 0..n {
                    let Some((buf, src)) = self.recv.get_mut(i) else {
                        continue;
                    };
                    Self::dispatch(
                        now,
                        token,
                        buf,
                        src,
                        &self.sockets,
                        &mut self.relays,
                        &mut self.send,
                        &mut self.ring,
                        &mut self.stats,
                        &mut self.events_out,
                    );
                }
                if n < BATCH {
                    break;
                }
            }
        }
        Ok(received)
    }

    /// Receives from every ready socket in rounds of one `io_uring_enter`, each taking
    /// one datagram per socket, until every socket answered EAGAIN.
    fn receive_uring(&mut self, now: Instant) -> io::Result<usize> {
        let mut received = 0;
        self.ready.clear();
        for ev in self.events.iter() {
            let token = ev.token().0;
            let Some(slot) = self
                .sockets
                .get(token & !RTCP_TOKEN)
                .and_then(Option::as_ref)
            else {
                continue;
            };
            let fd = if token & RTCP_TOKEN != 0 {
                slot.rtcp.as_ref().map(AsRawFd::as_raw_fd)
            } else {
                Some(slot.socket.as_raw_fd())
            };
            if let Some(fd) = fd {
                self.ready.push((token, fd));
            }
        }
        while !self.ready.is_empty() {
            self.ready_next.clear();
            for chunk in self.ready.chunks(BATCH) {
                self.fds.clear();
                self.fds.extend(chunk.iter().map(|c| c.1));
                let Some(ring) = self.ring.as_mut() else {
                    break;
                };
                recv_round(ring, &mut self.recv, &self.fds, &mut self.results)?;
                self.stats.recv_calls += 1;
                for (j, &(token, fd)) in chunk.iter().enumerate() {
                    let res = self.results[j];
                    if res < 0 {
                        continue;
                    }
                    received += 1;
                    // It may hold more: ask again next round.
                    self.ready_next.push((token, fd));
                    let Some((buf, src)) = self.recv.slot_mut(j, res as usize) else {
                        continue;
                    };
                    Self::dispatch(
                        now,
                        token,
                        buf,
                        src,
                        &self.sockets,
                        &mut self.relays,
                        &mut self.send,
                        &mut self.ring,
                        &mut self.stats,
                        &mut self.events_out,
                    );
                }
            }
            std::mem::swap(&mut self.ready, &mut self.ready_next);
        }
        Ok(received)
    }

    /// Relays one datagram received on the socket of `token` and queues what it
    /// produces.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn dispatch(
        now: Instant,
        token: usize,
        buf: &mut [u8],
        src: SocketAddr,
        sockets: &[Option<SocketSlot>],
        relays: &mut [Option<Entry>],
        send: &mut SendBatch,
        ring: &mut Option<io_uring::IoUring>,
        stats: &mut EngineStats,
        events_out: &mut Vec<(RelayId, Leg, StreamEvent)>,
    ) {
        let Some(slot) = sockets.get(token & !RTCP_TOKEN).and_then(Option::as_ref) else {
            return;
        };
        let (ri, leg) = (slot.relay, slot.leg);
        let Some(entry) = relays.get_mut(ri).and_then(Option::as_mut) else {
            return;
        };
        if token & RTCP_TOKEN != 0 {
            entry.relay.handle_rtcp(now, leg, src, buf);
            stats.rtcp_received += 1;
            return;
        }
        match entry.relay.handle_packet(now, leg, src, buf) {
            RelayOutcome::Forward { to, len } => {
                let Some(out) = sockets[entry.sockets[leg.other() as usize]].as_ref() else {
                    return;
                };
                if send.is_full() {
                    match ring.as_mut() {
                        Some(r) => {
                            if send.flush_uring(r).is_err() {
                                *ring = None;
                            }
                        }
                        None => send.flush(),
                    }
                }
                send.push_fixed(out.socket.as_raw_fd(), out.fixed, to, &buf[..len]);
                stats.forwarded += 1;
            }
            RelayOutcome::Drop(_) => stats.dropped += 1,
        }
        while let Some((leg, ev)) = entry.relay.poll_event() {
            events_out.push((RelayId(ri), leg, ev));
        }
    }

    fn send_rtcp(&mut self, now: Instant) {
        let Some(interval) = self.config.rtcp_interval else {
            return;
        };
        match self.next_rtcp {
            None => {
                self.next_rtcp = Some(now + interval);
                return;
            }
            Some(t) if now < t => return,
            Some(_) => self.next_rtcp = Some(now + interval),
        }
        let wallclock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        for e in self.relays.iter_mut().flatten() {
            for leg in [Leg::A, Leg::B] {
                let Some((to, bytes)) = e.relay.build_rtcp(now, leg, wallclock) else {
                    continue;
                };
                let Some(slot) = &self.sockets[e.sockets[leg as usize]] else {
                    continue;
                };
                let socket = if e.relay.media(leg).rtcp_mux {
                    &slot.socket
                } else if let Some(r) = &slot.rtcp {
                    r
                } else {
                    continue;
                };
                // One report per leg every few seconds: not worth batching.
                if socket.send_to(&bytes, to).is_err() {
                    self.stats.send_failed += 1;
                }
            }
        }
    }

    fn check_timeouts(&mut self, now: Instant) {
        // Inactivity is measured in seconds: scanning every relay ten times a second
        // keeps the per-packet path free of timer bookkeeping.
        if self.next_timeout_check.is_some_and(|t| now < t) {
            return;
        }
        self.next_timeout_check = Some(now + Duration::from_millis(100));
        for (i, e) in self.relays.iter_mut().enumerate() {
            let Some(e) = e else { continue };
            if e.relay.poll_timeout().is_some_and(|t| t <= now) {
                e.relay.handle_timeout(now);
            }
            while let Some((leg, ev)) = e.relay.poll_event() {
                self.events_out.push((RelayId(i), leg, ev));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecDescriptor;

    fn engine(port_min: u16, port_max: u16) -> RelayEngine {
        RelayEngine::new(EngineConfig {
            port_min,
            port_max,
            ..EngineConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn a_closed_relays_last_datagrams_never_reach_the_relay_in_its_slots() {
        let mut e = engine(46100, 46199);
        let pcmu = LegMedia::g711(CodecDescriptor::PCMU, None);
        let now = Instant::now();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (id, a, b) = e.add_relay(pcmu, pcmu, now).unwrap();
        e.run_once(Some(Duration::ZERO)).unwrap();
        let mut pkt = [0u8; 172];
        for seq in 0..5u16 {
            crate::rtp::write_header(&mut pkt, false, 0, seq, u32::from(seq) * 160, 7).unwrap();
            peer.send_to(&pkt, a).unwrap();
            peer.send_to(&pkt, b).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        // Closed with datagrams waiting on both legs (closing the first leg lets the
        // kernel take the second's into buffers); a new relay takes the same slots.
        e.remove_relay(id);
        let (id2, a2, b2) = e.add_relay(pcmu, pcmu, now).unwrap();
        assert!(![a, b].contains(&a2) && ![a, b].contains(&b2));
        for _ in 0..3 {
            e.run_once(Some(Duration::from_millis(5))).unwrap();
        }
        let stats = e.stats();
        assert_eq!(
            (stats.received, stats.forwarded, stats.dropped),
            (0, 0, 0),
            "{stats:?}"
        );
        assert!(e.drain_events().next().is_none());
        // And the new relay's own sockets receive.
        peer.send_to(&pkt, a2).unwrap();
        let mut got = 0;
        for _ in 0..20 {
            got += e.run_once(Some(Duration::from_millis(10))).unwrap();
            if got > 0 {
                break;
            }
        }
        assert_eq!(got, 1);
        e.remove_relay(id2);
    }

    /// Sends `count` packets of a stream from `from` to `to`, starting at `seq`.
    fn send_stream(from: &UdpSocket, to: SocketAddr, seq: u16, count: u16, ssrc: u32) {
        let mut pkt = [0u8; 172];
        for s in seq..seq + count {
            crate::rtp::write_header(&mut pkt, false, 0, s, u32::from(s) * 160, ssrc).unwrap();
            pkt[12..].fill(s as u8);
            from.send_to(&pkt, to).unwrap();
        }
    }

    /// Runs the engine until `peer` has received `count` datagrams; returns them.
    fn relayed(e: &mut RelayEngine, peer: &UdpSocket, count: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        peer.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..200 {
            e.run_once(Some(Duration::from_millis(5))).unwrap();
            while let Ok((n, from)) = peer.recv_from(&mut buf) {
                got.push((buf[..n].to_vec(), from));
            }
            if got.len() >= count {
                break;
            }
        }
        got
    }

    /// An engine asked to use AF_XDP, on the 100 ports from `port_min`.
    fn xdp_engine(port_min: u16) -> RelayEngine {
        RelayEngine::new(EngineConfig {
            port_min,
            port_max: port_min + 99,
            xdp: true,
            ..EngineConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn with_af_xdp_the_relay_forwards_from_the_same_memory_once_both_peers_are_heard() {
        // Root (CAP_BPF, CAP_NET_ADMIN) is required, as on the machines the tests run on;
        // crates/media/tests/xdp.rs covers the path itself, serialised there.
        let mut e = xdp_engine(46200);
        assert!(e.uses_xdp(), "AF_XDP did not attach to lo (see the log)");
        let pcmu = LegMedia::g711(CodecDescriptor::PCMU, None);
        let now = Instant::now();
        let (caller, agent) = (
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        let (id, to_a, to_b) = e.add_relay(pcmu, pcmu, now).unwrap();
        let r = e.relay_mut(id).unwrap();
        r.on_sdp(Leg::A, now, Some(caller.local_addr().unwrap()), true);
        r.on_sdp(Leg::B, now, Some(agent.local_addr().unwrap()), true);
        // The caller first: the agent has sent nothing, so its next hop is unknown and
        // the relayed packets leave through the B socket.
        send_stream(&caller, to_a, 0, 10, 7);
        let first = relayed(&mut e, &agent, 7);
        assert_eq!(
            first.len(),
            7,
            "from the fourth packet, which ends probation"
        );
        assert!(first.iter().all(|(_, from)| *from == to_b));
        assert_eq!(first[0].0[12], 3, "the fourth packet's payload");
        let before = e.stats();
        assert_eq!(before.xdp_received, 10, "{before:?}");
        assert_eq!(before.xdp_forwarded, 0, "{before:?}");
        // The agent answers: now both next hops are known and both directions are
        // forwarded by the AF_XDP path, from the legs' own addresses.
        send_stream(&agent, to_b, 0, 10, 9);
        let back = relayed(&mut e, &caller, 7);
        assert_eq!(back.len(), 7);
        assert!(back.iter().all(|(_, from)| *from == to_a));
        send_stream(&caller, to_a, 10, 5, 7);
        let more = relayed(&mut e, &agent, 5);
        assert_eq!(more.len(), 5);
        assert!(more.iter().all(|(_, from)| *from == to_b));
        let payloads: Vec<u8> = more.iter().map(|(p, _)| p[12]).collect();
        assert_eq!(payloads, vec![10, 11, 12, 13, 14]);
        assert!(more.iter().all(|(p, _)| p.len() == 172));
        let after = e.stats();
        assert_eq!(after.xdp_received, 25, "{after:?}");
        assert_eq!(after.xdp_forwarded, 12, "{after:?}");
        assert_eq!(after.forwarded, 19, "{after:?}");
        // A second engine on the interface cannot attach and relays through sockets.
        let mut second = xdp_engine(46300);
        assert!(!second.uses_xdp());
        let (id2, a2, _) = second.add_relay(pcmu, pcmu, now).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = second.relay_mut(id2).unwrap();
        r.on_sdp(Leg::A, now, Some(peer.local_addr().unwrap()), true);
        r.on_sdp(Leg::B, now, Some(agent.local_addr().unwrap()), true);
        send_stream(&peer, a2, 0, 6, 11);
        assert_eq!(relayed(&mut second, &agent, 3).len(), 3);
        assert_eq!(second.stats().xdp_received, 0);
        e.remove_relay(id);
    }

    #[test]
    fn relays_take_even_ports_with_rtcp_next_and_give_them_back() {
        // Room for exactly two legs.
        let mut e = engine(46000, 46003);
        let pcmu = LegMedia::g711(CodecDescriptor::PCMU, None);
        let now = Instant::now();
        let (id, a, b) = e.add_relay(pcmu, pcmu, now).unwrap();
        assert_eq!(a.port() % 2, 0);
        assert_eq!(b.port() % 2, 0);
        assert_ne!(a.port(), b.port());
        // The RTCP ports are taken by the engine.
        assert!(UdpSocket::bind(("127.0.0.1", a.port() + 1)).is_err());
        // The range is full.
        assert!(e.add_relay(pcmu, pcmu, now).is_err());
        e.remove_relay(id);
        assert!(e.relay_mut(id).is_none());
        // Ports are free again, for the engine and for anyone.
        let (_, a2, b2) = e.add_relay(pcmu, pcmu, now).unwrap();
        let mut again = [a2.port(), b2.port()];
        again.sort_unstable();
        let mut before = [a.port(), b.port()];
        before.sort_unstable();
        assert_eq!(again, before);
    }
}
