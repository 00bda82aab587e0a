//! The sockets: UDP and TCP listeners on every configured address, one task per TCP
//! connection, and the send side used by the core loop.
//!
//! The core loop owns [`Net`]: it receives UDP datagrams itself ([`Net::recv_udp`], then
//! [`Net::try_recv_udp`] for whatever else is waiting, into one reused buffer), so a
//! datagram costs no task switch, channel hop or allocation before it is parsed. What
//! streams receive comes to the loop as an [`Inbound`] over a channel. The loop never
//! awaits on a send: UDP datagrams are queued by [`Net::send`] and leave together, one
//! `sendmmsg` per loop turn ([`Net::flush`]); TCP writes go through each connection's
//! queue.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use anyhow::Context as _;
use switchyard_media::net::SendBatch;
use switchyard_sip::transport::{ConnId, Source, StreamFramer, StreamItem, Transport};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// A TCP connection with no traffic for this long is closed (phones refresh well within it
/// with CRLF keep-alives or re-REGISTERs).
const TCP_IDLE: Duration = Duration::from_secs(600);
/// The largest UDP payload: anything bigger was truncated by the kernel anyway. The
/// receive buffer handed to [`Net::recv_udp`] should be this large.
pub(crate) const MAX_DATAGRAM: usize = 65_535;
/// Receive buffer asked for on each SIP UDP socket (the kernel caps it at
/// `net.core.rmem_max`). The default (about 200 KB, some 150 datagrams) overflowed in
/// bursts at 1,000 calls/s: the lost 180s and 200s made us retransmit INVITEs, which
/// some peers (SIPp's uas) take for a new call and abort the first.
const UDP_RECV_BUFFER: usize = 4 << 20;
/// Outbound messages queued per TCP connection before further ones are dropped.
const TCP_QUEUE: usize = 256;
/// Open TCP connections at most (per listener); beyond, new ones are closed at once so a
/// connection flood cannot exhaust file descriptors.
const TCP_MAX_CONNECTIONS: usize = 8192;

/// What the sockets hand to the core loop.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One whole message (a datagram, or a framed message from a stream).
    Message { source: Source, bytes: Vec<u8> },
    /// A stream message over the size limit: its beginning, to answer 513 when it can be
    /// addressed. The connection is closed after it.
    Oversized { source: Source, head: Vec<u8> },
    /// A TCP connection opened; `tx` queues bytes to write on it.
    Opened {
        conn: ConnId,
        tx: mpsc::Sender<Vec<u8>>,
    },
    /// A TCP connection closed.
    Closed { conn: ConnId },
    /// A customer-system lookup finished.
    Lookup {
        call: u64,
        result: Result<String, String>,
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transmit {
    /// Where it goes: the transport, the peer's address, the local address to send from,
    /// and the connection for streams.
    pub(crate) dest: Source,
    pub(crate) bytes: Vec<u8>,
}

/// Bound sockets, before serving.
pub(crate) struct Bound {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
}

impl Bound {
    /// Every address listened on, as `udp:ADDR` / `tcp:ADDR`.
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.udp {
            if let Ok(a) = s.local_addr() {
                out.push(format!("udp:{a}"));
            }
        }
        for l in &self.tcp {
            if let Ok(a) = l.local_addr() {
                out.push(format!("tcp:{a}"));
            }
        }
        out
    }

    /// The first UDP address (for the default domain).
    pub(crate) fn first_addr(&self) -> Option<SocketAddr> {
        self.udp.first().and_then(|s| s.local_addr().ok())
    }
}

/// Binds UDP and TCP on each address (port 0: UDP picks a free port, TCP takes the same
/// one). An address marked optional (the default `[::1]`) is skipped when it cannot be
/// bound, e.g. on a host without IPv6.
pub(crate) async fn bind(addrs: &[(SocketAddr, bool)]) -> anyhow::Result<Bound> {
    let mut bound = Bound {
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    for &(addr, optional) in addrs {
        match bind_pair(addr)
            .await
            .map_err(|err| with_bind_hint(err, addr))
        {
            Ok((udp, tcp)) => {
                bound.udp.push(udp);
                bound.tcp.push(tcp);
            }
            Err(err) if optional => {
                tracing::warn!("not listening on {addr}: {err:#}");
            }
            Err(err) => return Err(err),
        }
    }
    anyhow::ensure!(
        !bound.udp.is_empty(),
        "no SIP listen address could be bound"
    );
    Ok(bound)
}

/// Adds what to do to a failed bind: the usual causes are another SIP server on the port
/// or an address this host does not have.
fn with_bind_hint(err: anyhow::Error, addr: SocketAddr) -> anyhow::Error {
    let kind = err
        .chain()
        .find_map(|e| e.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    match kind {
        Some(std::io::ErrorKind::AddrInUse) => err.context(format!(
            "another program is listening on {addr} (another SIP server?): stop it, or give \
             another address with --sip-listen, e.g. --sip-listen 127.0.0.1:5070"
        )),
        Some(std::io::ErrorKind::AddrNotAvailable) => err.context(format!(
            "{} is not an address of this host: give one it has with --sip-listen",
            addr.ip()
        )),
        Some(std::io::ErrorKind::PermissionDenied) => err.context(format!(
            "not allowed to bind port {}: use a port above 1023 with --sip-listen",
            addr.port()
        )),
        _ => err,
    }
}

async fn bind_pair(addr: SocketAddr) -> anyhow::Result<(UdpSocket, TcpListener)> {
    // With port 0 the UDP port may already be taken on TCP: retry a few times.
    let mut last = None;
    for _ in 0..8 {
        let udp = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding UDP {addr}"))?;
        if let Err(err) = socket2::SockRef::from(&udp).set_recv_buffer_size(UDP_RECV_BUFFER) {
            tracing::debug!("UDP {addr}: receive buffer left as it is: {err}");
        }
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(err) if addr.port() == 0 => last = Some(err),
            Err(err) => return Err(err).with_context(|| format!("binding TCP {addr}")),
        }
    }
    Err(last.expect("the loop ran")).with_context(|| format!("binding TCP {addr}"))
}

/// The UDP sockets (receive and send) and the TCP connections' send queues, owned by the
/// core loop.
pub(crate) struct Net {
    /// UDP sockets by local address.
    udp: Vec<(SocketAddr, UdpSocket)>,
    conns: HashMap<ConnId, mpsc::Sender<Vec<u8>>>,
    /// UDP datagrams queued by [`Net::send`] until [`Net::flush`].
    batch: SendBatch,
    /// The socket [`Net::try_recv_udp`] tries first (turns rotate over the sockets).
    next_udp: usize,
}

impl Net {
    pub(crate) fn opened(&mut self, conn: ConnId, tx: mpsc::Sender<Vec<u8>>) {
        self.conns.insert(conn, tx);
    }

    pub(crate) fn closed(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Waits for a datagram on any UDP socket and receives it into `buf` (which should
    /// hold [`MAX_DATAGRAM`] bytes): its length and where it came from. Errors are the
    /// sockets' lasting ones; transient ones (an ICMP port unreachable from an earlier
    /// send) are skipped.
    pub(crate) async fn recv_udp(&self, buf: &mut [u8]) -> io::Result<(usize, Source)> {
        poll_fn(|cx| {
            for (local, sock) in &self.udp {
                loop {
                    let mut rb = ReadBuf::new(buf);
                    match sock.poll_recv_from(cx, &mut rb) {
                        Poll::Ready(Ok(remote)) => {
                            return Poll::Ready(Ok((
                                rb.filled().len(),
                                Source::udp(remote, *local),
                            )));
                        }
                        Poll::Ready(Err(err)) if is_transient(&err) => continue,
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                        Poll::Pending => break,
                    }
                }
            }
            Poll::Pending
        })
        .await
    }

    /// A datagram already waiting on one of the UDP sockets, without waiting (`None` when
    /// none is): the loop drains the sockets with it after [`Net::recv_udp`] returns.
    pub(crate) fn try_recv_udp(&mut self, buf: &mut [u8]) -> Option<(usize, Source)> {
        let n = self.udp.len();
        for i in 0..n {
            let k = (self.next_udp + i) % n;
            let (local, sock) = &self.udp[k];
            loop {
                match sock.try_recv_from(buf) {
                    Ok((len, remote)) => {
                        self.next_udp = (k + 1) % n;
                        return Some((len, Source::udp(remote, *local)));
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if is_transient(&err) => continue,
                    Err(err) => {
                        tracing::warn!("UDP receive on {local} failed: {err}");
                        break;
                    }
                }
            }
        }
        None
    }

    /// Queues a message without waiting: UDP datagrams leave at the next [`Net::flush`]
    /// (call it once per loop turn), TCP ones go to their connection's writer. A message
    /// that cannot go out is dropped (SIP retransmits), and the drop is traced.
    pub(crate) fn send(&mut self, t: Transmit) {
        match t.dest.transport {
            Transport::Udp => {
                let sock = self
                    .udp
                    .iter()
                    .find(|(a, _)| *a == t.dest.local)
                    .or_else(|| {
                        self.udp
                            .iter()
                            .find(|(a, _)| a.is_ipv4() == t.dest.remote.is_ipv4())
                    })
                    .map(|(_, s)| s);
                let Some(sock) = sock else {
                    tracing::debug!("no UDP socket to reach {}", t.dest.remote);
                    return;
                };
                let fd = sock.as_raw_fd();
                if self.batch.is_full() {
                    self.batch.flush();
                }
                if !self.batch.push(fd, t.dest.remote, &t.bytes) {
                    // Larger than a batch slot: send it on its own, after what is queued.
                    self.batch.flush();
                    if let Err(err) = sock.try_send_to(&t.bytes, t.dest.remote) {
                        tracing::debug!("UDP send to {} failed: {err}", t.dest.remote);
                    }
                }
            }
            Transport::Tcp => {
                let tx = t.dest.conn.and_then(|c| self.conns.get(&c));
                match tx {
                    Some(tx) => {
                        if tx.try_send(t.bytes).is_err() {
                            tracing::debug!("TCP queue to {} full or closed", t.dest.remote);
                        }
                    }
                    None => tracing::debug!("no open TCP connection to {}", t.dest.remote),
                }
            }
        }
    }
}

impl Net {
    /// Sends the UDP datagrams queued since the last flush: one `sendmmsg` per socket
    /// for a loop turn's answers and requests. Datagrams the kernel refuses (a full
    /// buffer) are dropped, as a failed `send_to` would be.
    pub(crate) fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let failed = self.batch.failed;
        self.batch.flush();
        if self.batch.failed != failed {
            tracing::debug!("{} UDP datagram(s) not sent", self.batch.failed - failed);
        }
    }
}

/// Starts the TCP tasks and returns the sockets' side for the core loop. What streams
/// receive goes to `inbound`; datagrams are received by the loop through [`Net`].
pub(crate) fn serve(bound: Bound, inbound: mpsc::Sender<Inbound>, max_message: usize) -> Net {
    let next_conn = Arc::new(AtomicU64::new(1));
    for listener in bound.tcp {
        tokio::spawn(tcp_accept_loop(
            listener,
            inbound.clone(),
            next_conn.clone(),
            max_message,
        ));
    }
    Net {
        udp: bound
            .udp
            .into_iter()
            .filter_map(|s| Some((s.local_addr().ok()?, s)))
            .collect(),
        conns: HashMap::new(),
        batch: SendBatch::new(),
        next_udp: 0,
    }
}

fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

async fn tcp_accept_loop(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    next_conn: Arc<AtomicU64>,
    max_message: usize,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                if open.load(Ordering::Relaxed) >= TCP_MAX_CONNECTIONS {
                    tracing::warn!("refusing a TCP connection: {TCP_MAX_CONNECTIONS} open");
                    drop(stream);
                    continue;
                }
                open.fetch_add(1, Ordering::Relaxed);
                let conn = ConnId(next_conn.fetch_add(1, Ordering::Relaxed));
                let inbound = inbound.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    tcp_conn(stream, remote, conn, inbound, max_message).await;
                    open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(err) => {
                tracing::warn!("TCP accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_conn(
    stream: TcpStream,
    remote: SocketAddr,
    conn: ConnId,
    inbound: mpsc::Sender<Inbound>,
    max_message: usize,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let source = Source::tcp(remote, local, conn);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    if inbound
        .send(Inbound::Opened {
            conn,
            tx: tx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut framer = StreamFramer::new(max_message);
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        while let Some(item) = framer.poll() {
            match item {
                StreamItem::Message(bytes) => {
                    if inbound
                        .send(Inbound::Message { source, bytes })
                        .await
                        .is_err()
                    {
                        break 'conn;
                    }
                }
                StreamItem::Ping => {
                    // RFC 5626 §4.4.1: a double-CRLF ping is answered with a single CRLF.
                    let _ = tx.try_send(b"\r\n".to_vec());
                }
                StreamItem::Oversized { head } => {
                    let _ = inbound.send(Inbound::Oversized { source, head }).await;
                    break 'conn;
                }
                StreamItem::Unframeable(why) => {
                    tracing::debug!("closing TCP connection from {remote}: {why}");
                    break 'conn;
                }
            }
        }
        match tokio::time::timeout(TCP_IDLE, rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => framer.push(&buf[..n]),
        }
    }
    let _ = inbound.send(Inbound::Closed { conn }).await;
    drop(tx);
    // The writer ends once the core loop drops its sender too (on `Closed`); give queued
    // answers (e.g. a 513) a moment to leave.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}
