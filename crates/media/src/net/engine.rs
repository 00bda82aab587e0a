//! The relay's socket loop: one thread, one `epoll` instance (through mio) over every
//! leg's socket, `recvmmsg` to read each ready socket, the sans-IO [`Relay`] to rewrite
//! packets in place, and `sendmmsg` to send what a wake-up produced.
//!
//! Why std + mio and not tokio: the per-packet path must not cross a task, a waker, a
//! channel or a lock, and a relay thread does nothing but this loop; mio gives the
//! portable readiness API and leaves the system calls to us. The daemon runs one engine
//! per core on its own thread and talks to it between batches.
//!
//! Batching window: rtpengine pays for one wake-up, two `recvfrom` (the second returns
//! EAGAIN) and one `sendto` per packet. Here each wake-up is followed by a short sleep
//! (`batch_window`, 1 ms by default: a fraction of a 20 ms frame and far below jitter
//! buffer depths) so the next wake-up finds many sockets ready; with edge-triggered
//! readiness a `recvmmsg` that returns fewer datagrams than asked for has drained the
//! socket, so no call is wasted on EAGAIN.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::batch::{BATCH, RecvBatch, SendBatch};
use super::ports::PortAllocator;
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

struct SocketSlot {
    socket: UdpSocket,
    port: u16,
    relay: usize,
    leg: Leg,
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
}

impl RelayEngine {
    /// An engine with no relays.
    pub fn new(config: EngineConfig) -> io::Result<Self> {
        Ok(RelayEngine {
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
            config,
        })
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
                    self.poll.registry().register(
                        &mut SourceFd(&socket.as_raw_fd()),
                        Token(idx),
                        Interest::READABLE,
                    )?;
                    let addr = socket.local_addr()?;
                    self.sockets[idx] = Some(SocketSlot {
                        socket,
                        port,
                        relay,
                        leg,
                    });
                    return Ok((idx, addr));
                }
                // Held by another program: keep it allocated and try the next one.
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Creates a relay between two legs with the given media, binding one socket per
    /// leg. Returns its id and the local RTP addresses of leg A and leg B (to put in
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

    fn close_socket(&mut self, idx: usize) {
        if let Some(slot) = self.sockets.get_mut(idx).and_then(Option::take) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&slot.socket.as_raw_fd()));
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
    /// datagrams received. Call it in a loop on the engine's thread.
    pub fn run_once(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        if let Some(last) = self.last_wake {
            let since = last.elapsed();
            if since < self.config.batch_window {
                std::thread::sleep(self.config.batch_window - since);
            }
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        self.last_wake = Some(now);
        self.stats.wakeups += 1;
        let mut received = 0;
        for ev in self.events.iter() {
            let idx = ev.token().0;
            let Some(slot) = self.sockets.get(idx).and_then(Option::as_ref) else {
                continue;
            };
            let fd = slot.socket.as_raw_fd();
            let (ri, leg) = (slot.relay, slot.leg);
            loop {
                let n = self.recv.recv(fd)?;
                self.stats.recv_calls += 1;
                received += n;
                let Some(entry) = self.relays.get_mut(ri).and_then(Option::as_mut) else {
                    break;
                };
                let out_fd = self.sockets[entry.sockets[leg.other() as usize]]
                    .as_ref()
                    .map(|s| s.socket.as_raw_fd());
                for i in 0..n {
                    let Some((buf, src)) = self.recv.get_mut(i) else {
                        continue;
                    };
                    match entry.relay.handle_packet(now, leg, src, buf) {
                        RelayOutcome::Forward { to, len } => {
                            let Some(out_fd) = out_fd else { continue };
                            if self.send.is_full() {
                                self.send.flush();
                            }
                            self.send.push(out_fd, to, &buf[..len]);
                            self.stats.forwarded += 1;
                        }
                        RelayOutcome::Drop(_) => self.stats.dropped += 1,
                    }
                }
                while let Some((leg, ev)) = entry.relay.poll_event() {
                    self.events_out.push((RelayId(ri), leg, ev));
                }
                if n < BATCH {
                    break;
                }
            }
        }
        self.send.flush();
        self.stats.received += received as u64;
        self.check_timeouts(now);
        self.send_rtcp(now);
        Ok(received)
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
                if let Some(slot) = &self.sockets[e.sockets[leg as usize]] {
                    // One report per leg every few seconds: not worth batching.
                    if slot.socket.send_to(&bytes, to).is_err() {
                        self.stats.send_failed += 1;
                    }
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
