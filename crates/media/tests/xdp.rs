//! The AF_XDP path over `lo`, with std UDP sockets as the peers. These tests need root
//! (BPF and AF_XDP sockets); CI runs as root. Only one XDP program can be attached to an
//! interface, so the tests that attach take a lock.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use switchyard_media::net::{Verdict, XdpPath};

static LO: Mutex<()> = Mutex::new(());

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn lock() -> MutexGuard<'static, ()> {
    LO.lock().unwrap_or_else(|e| e.into_inner())
}

/// Attaches to lo with `frames` frames. Another process may hold lo's one XDP program for
/// a while (a relay benchmark, a daemon): wait up to a minute for it before failing.
fn attach_with(frames: u32) -> XdpPath {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match XdpPath::attach(IpAddr::V4(LOCALHOST), frames) {
            Ok(path) => return path,
            Err(e) if e.kind() == ErrorKind::ResourceBusy && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!(
                "attaching the XDP path to lo failed (these tests need root, and lo free of \
                 other XDP programs: `ip link show lo`): {e}"
            ),
        }
    }
}

fn attach() -> XdpPath {
    attach_with(256)
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

fn v4(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!("bound to IPv4"),
    }
}

/// Waits until the path has received something (or two seconds pass), handing frames
/// to `f`.
fn receive_some(
    path: &mut XdpPath,
    mut f: impl FnMut(&mut switchyard_media::net::RxFrame<'_>) -> Verdict,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let n = path.receive(&mut f);
        if n > 0 || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn nothing_on(s: &UdpSocket) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 2048];
    matches!(s.recv_from(&mut buf), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

#[test]
fn a_steered_port_reaches_the_path_and_not_its_socket() {
    let _lo = lock();
    let mut path = attach();
    let (peer, port_socket) = (socket(), socket());
    path.steer(v4(&port_socket).port(), true).unwrap();
    peer.send_to(b"steered datagram", port_socket.local_addr().unwrap())
        .unwrap();
    let mut got = Vec::new();
    receive_some(&mut path, |f| {
        got.push((f.src, f.dst_port, f.payload().to_vec()));
        Verdict::Drop
    });
    assert_eq!(
        got,
        vec![(
            v4(&peer),
            v4(&port_socket).port(),
            b"steered datagram".to_vec()
        )]
    );
    assert!(
        nothing_on(&port_socket),
        "the port's socket got the datagram too"
    );
    assert_eq!(path.stats().dropped, 1);

    // Unmarked again, the port's datagrams go back to its socket.
    path.steer(v4(&port_socket).port(), false).unwrap();
    peer.send_to(b"back to the socket", port_socket.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = port_socket.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"back to the socket"[..], peer.local_addr().unwrap())
    );
}

#[test]
fn an_unsteered_port_keeps_its_datagrams() {
    let _lo = lock();
    let mut path = attach();
    let (peer, steered, other) = (socket(), socket(), socket());
    path.steer(v4(&steered).port(), true).unwrap();
    for i in 0..10u8 {
        peer.send_to(&[i; 20], other.local_addr().unwrap()).unwrap();
    }
    let mut buf = [0u8; 64];
    for i in 0..10u8 {
        let (n, from) = other.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&[i; 20][..], peer.local_addr().unwrap())
        );
    }
    // TCP on lo is not disturbed either.
    let listener = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    listener.accept().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(path.receive(|_| Verdict::Drop), 0);
}

#[test]
fn a_forwarded_frame_arrives_with_its_new_source_and_payload() {
    let _lo = lock();
    let mut path = attach();
    let (caller, relay_port, agent) = (socket(), socket(), socket());
    let relay = v4(&relay_port);
    path.steer(relay.port(), true).unwrap();
    let to = v4(&agent);
    for (i, len) in [(0u8, 172usize), (1, 13), (2, 1200)] {
        caller
            .send_to(&vec![i; len], relay_port.local_addr().unwrap())
            .unwrap();
        let n = receive_some(&mut path, |f| {
            // Rewrite in place and grow by 4 bytes, as a relay rewriting RTP might.
            f.payload_mut()[0] = 0x80;
            let n = f.payload().len();
            f.room_mut()[n..n + 4].copy_from_slice(b"tail");
            Verdict::Forward {
                from: relay,
                to,
                to_mac: [0; 6],
                len: n + 4,
            }
        });
        assert_eq!(n, 1);
        path.flush().unwrap();
        let mut buf = [0u8; 2048];
        let (got, from) = agent.recv_from(&mut buf).expect("the forwarded datagram");
        let mut want = vec![i; len];
        want[0] = 0x80;
        want.extend_from_slice(b"tail");
        assert_eq!(from, SocketAddr::V4(relay));
        assert_eq!(&buf[..got], &want[..], "datagram {i}");
    }
    assert!(nothing_on(&relay_port));
    let stats = path.stats();
    assert_eq!(
        (stats.forwarded, stats.bad, stats.kernel_tx_invalid),
        (3, 0, 0)
    );
}

#[test]
fn frames_return_to_the_fill_ring_after_forwarding() {
    let _lo = lock();
    // 64 frames, 32 of them on the fill ring: 300 datagrams need each frame many times.
    let mut path = attach_with(64);
    let (caller, relay_port, agent) = (socket(), socket(), socket());
    let (relay, to) = (v4(&relay_port), v4(&agent));
    path.steer(relay.port(), true).unwrap();
    let mut buf = [0u8; 64];
    for i in 0..300u16 {
        caller.send_to(&i.to_be_bytes(), relay).unwrap();
        let n = receive_some(&mut path, |f| Verdict::Forward {
            from: relay,
            to,
            to_mac: [0; 6],
            len: f.payload().len(),
        });
        assert_eq!(
            n,
            1,
            "datagram {i} did not reach the path: {:?}",
            path.stats()
        );
        path.flush().unwrap();
        let got = agent.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], &i.to_be_bytes());
    }
    assert_eq!(path.stats().kernel_rx_dropped, 0);
}

#[test]
fn the_descriptor_is_readable_when_frames_wait() {
    use switchyard_media::net::mio::unix::SourceFd;
    use switchyard_media::net::mio::{Events, Interest, Poll, Token};
    let _lo = lock();
    let mut path = attach();
    let (peer, port_socket) = (socket(), socket());
    path.steer(v4(&port_socket).port(), true).unwrap();
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut SourceFd(&path.fd()), Token(7), Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(4);
    poll.poll(&mut events, Some(Duration::from_millis(50)))
        .unwrap();
    assert!(events.is_empty(), "readable with nothing received");
    peer.send_to(b"wake up", port_socket.local_addr().unwrap())
        .unwrap();
    poll.poll(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.token()).collect::<Vec<_>>(),
        [Token(7)]
    );
    assert_eq!(path.receive(|_| Verdict::Drop), 1);
}

#[test]
fn sent_frames_arrive_past_the_kick_limit() {
    let _lo = lock();
    let mut path = attach();
    let agent = socket();
    let from = SocketAddrV4::new(LOCALHOST, 41_999);
    // More than the 32 frames the kernel sends per kick in copy mode (but not so many that
    // the receiving socket's buffer overflows: each takes about 2.3 KB of it).
    for round in 0..2u8 {
        for i in 0..64u8 {
            assert!(path.send(from, v4(&agent), [0; 6], &[round ^ i; 160]));
        }
        path.flush().unwrap();
        let mut buf = [0u8; 2048];
        for i in 0..64u8 {
            let (n, src) = agent
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("datagram {i}: {e}; {:?}", path.stats()));
            assert_eq!(
                (&buf[..n], src),
                (&[round ^ i; 160][..], SocketAddr::V4(from))
            );
        }
    }
    path.receive(|_| Verdict::Drop);
    assert_eq!(path.stats().completed, 128);
}

#[test]
fn a_malformed_frame_to_a_steered_port_is_dropped_and_counted() {
    let _lo = lock();
    let mut path = attach();
    let port_socket = socket();
    let port = v4(&port_socket).port();
    path.steer(port, true).unwrap();
    // Ethernet + IPv4 + UDP headers whose UDP length claims more than the datagram holds:
    // the program (which checks only the headers' presence) redirects it, the parser
    // refuses it.
    let mut frame = vec![0u8; 50];
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    frame[14] = 0x45;
    frame[16..18].copy_from_slice(&36u16.to_be_bytes()); // IP total length
    frame[22] = 64;
    frame[23] = 17;
    frame[26..30].copy_from_slice(&LOCALHOST.octets());
    frame[30..34].copy_from_slice(&LOCALHOST.octets());
    frame[34..36].copy_from_slice(&41_998u16.to_be_bytes());
    frame[36..38].copy_from_slice(&port.to_be_bytes());
    frame[38..40].copy_from_slice(&400u16.to_be_bytes()); // UDP length: too long
    assert!(path.send_frame(&frame));
    path.flush().unwrap();
    let mut called = false;
    receive_some(&mut path, |_| {
        called = true;
        Verdict::Drop
    });
    assert!(!called, "a malformed frame reached the caller");
    let stats = path.stats();
    assert_eq!((stats.received, stats.bad, stats.dropped), (1, 1, 0));
}

#[test]
fn dropping_the_path_detaches_the_program() {
    let _lo = lock();
    let path = attach();
    let second = XdpPath::attach(IpAddr::V4(LOCALHOST), 64);
    assert_eq!(
        second.expect_err("a second program on lo").kind(),
        ErrorKind::ResourceBusy
    );
    drop(path);
    let mut again = attach();
    // And the steered port of the dropped path is a plain socket again.
    let (peer, port_socket) = (socket(), socket());
    peer.send_to(b"plain", port_socket.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(port_socket.recv(&mut buf).unwrap(), 5);
    assert_eq!(again.receive(|_| Verdict::Drop), 0);
}

#[test]
fn ipv6_is_refused() {
    let e = XdpPath::attach(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

// ---------------------------------------------------------------------------------------
// Measurement: CPU per relayed packet, the XDP path against RelayEngine
// ---------------------------------------------------------------------------------------

mod measure {
    use std::collections::HashMap;
    use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use switchyard_media::codec::CodecDescriptor;
    use switchyard_media::net::mio::unix::SourceFd;
    use switchyard_media::net::mio::{Events, Interest, Poll, Token};
    use switchyard_media::net::{EngineConfig, RelayEngine, Verdict};
    use switchyard_media::relay::{Leg, LegMedia, RelayConfig};
    use switchyard_media::rtp::write_header;
    use switchyard_media::stream::StreamConfig;

    use super::{LOCALHOST, lock, v4};

    fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Time this thread has spent on a CPU, system calls and the softirqs run in its
    /// context included (/proc/thread-self/schedstat, nanoseconds).
    fn thread_cpu() -> Duration {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
        let ns = s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .expect("ns");
        Duration::from_nanos(ns)
    }

    /// CPU time of the ksoftirqd threads (softirq work deferred out of our threads).
    fn ksoftirqd_cpu() -> Duration {
        let mut total = 0;
        for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
            let path = entry.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if comm.starts_with("ksoftirqd") {
                let s = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
                total += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        Duration::from_nanos(total)
    }

    struct Load {
        calls: usize,
        pps: usize,
        /// The sender's tick: 1,000 µs sends bursts, 20 µs spreads the packets out.
        tick_us: u64,
        seconds: f64,
        sender: UdpSocket,
        agents: Vec<UdpSocket>,
    }

    struct Figures {
        sent: u64,
        relayed: u64,
        received: u64,
        sender: Duration,
        relay: Duration,
        receiver: Duration,
        ksoftirqd: Duration,
    }

    impl Load {
        fn new() -> Self {
            let calls = env_or("CALLS", 200);
            Self {
                calls,
                pps: env_or("PPS", 50_000),
                tick_us: env_or("TICK_US", 1000),
                seconds: env_or("SECONDS", 5.0),
                sender: UdpSocket::bind((LOCALHOST, 0)).unwrap(),
                agents: (0..calls.div_ceil(4))
                    .map(|_| UdpSocket::bind((LOCALHOST, 0)).unwrap())
                    .collect(),
            }
        }

        fn agent(&self, call: usize) -> SocketAddrV4 {
            v4(&self.agents[call / 4])
        }

        /// Sends `pps` packets a second, a burst each `tick_us`, to `targets` (one per call), receives
        /// what arrives at the agents, while `relay` runs on this thread until told to stop.
        fn run(
            &self,
            targets: &[SocketAddr],
            mut relay: impl FnMut(&AtomicBool) -> u64,
        ) -> Figures {
            let stop = AtomicBool::new(false);
            let done_sending = AtomicBool::new(false);
            let received = AtomicU64::new(0);
            let soft0 = ksoftirqd_cpu();
            std::thread::scope(|s| {
                let sender = s.spawn(|| {
                    let t0 = thread_cpu();
                    let per_tick = (self.pps as u64 * self.tick_us / 1_000_000).max(1);
                    let ticks = (self.seconds * 1e6) as u64 / self.tick_us;
                    let mut pkt = [0x55u8; 172];
                    let mut seq = vec![0u16; self.calls];
                    let (mut call, mut sent) = (0usize, 0u64);
                    let start = Instant::now();
                    for tick in 0..ticks {
                        for _ in 0..per_tick {
                            let q = seq[call];
                            write_header(
                                &mut pkt,
                                false,
                                0,
                                q,
                                u32::from(q) * 160,
                                call as u32 + 1,
                            )
                            .unwrap();
                            seq[call] = q.wrapping_add(1);
                            self.sender.send_to(&pkt, targets[call]).unwrap();
                            sent += 1;
                            call = (call + 1) % self.calls;
                        }
                        let next = start + Duration::from_micros((tick + 1) * self.tick_us);
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    done_sending.store(true, Ordering::Relaxed);
                    (sent, thread_cpu() - t0)
                });
                let receiver = s.spawn(|| {
                    let t0 = thread_cpu();
                    let mut poll = Poll::new().unwrap();
                    for (i, a) in self.agents.iter().enumerate() {
                        a.set_nonblocking(true).unwrap();
                        poll.registry()
                            .register(&mut SourceFd(&a.as_raw_fd()), Token(i), Interest::READABLE)
                            .unwrap();
                    }
                    let mut events = Events::with_capacity(256);
                    let mut buf = [0u8; 2048];
                    while !stop.load(Ordering::Relaxed) {
                        poll.poll(&mut events, Some(Duration::from_millis(20)))
                            .unwrap();
                        for e in &events {
                            while self.agents[e.token().0].recv(&mut buf).is_ok() {
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    thread_cpu() - t0
                });
                let t0 = thread_cpu();
                let relayed = relay(&done_sending);
                let relay_cpu = thread_cpu() - t0;
                // Let the receiver drain.
                std::thread::sleep(Duration::from_millis(100));
                stop.store(true, Ordering::Relaxed);
                let (sent, sender_cpu) = sender.join().unwrap();
                let receiver_cpu = receiver.join().unwrap();
                Figures {
                    sent,
                    relayed,
                    received: received.load(Ordering::Relaxed),
                    sender: sender_cpu,
                    relay: relay_cpu,
                    receiver: receiver_cpu,
                    ksoftirqd: ksoftirqd_cpu() - soft0,
                }
            })
        }
    }

    fn report(name: &str, f: &Figures) {
        let per = |d: Duration| d.as_nanos() as f64 / f.relayed.max(1) as f64 / 1000.0;
        println!(
            "{name}: sent {} relayed {} received {}; µs per relayed packet: relay thread {:.2}, \
             sender thread {:.2}, receiver thread {:.2}, ksoftirqd {:.2}, all {:.2}",
            f.sent,
            f.relayed,
            f.received,
            per(f.relay),
            per(f.sender),
            per(f.receiver),
            per(f.ksoftirqd),
            per(f.relay + f.sender + f.receiver + f.ksoftirqd),
        );
    }

    fn engine_run(load: &Load) -> Figures {
        let mut engine = RelayEngine::new(EngineConfig {
            port_min: 41000,
            port_max: 41999,
            rtcp_interval: None,
            relay: RelayConfig {
                stream: StreamConfig {
                    probation: 4,
                    inactivity: None,
                },
                ..RelayConfig::default()
            },
            ..EngineConfig::default()
        })
        .unwrap();
        let now = Instant::now();
        let pcmu = LegMedia::g711(CodecDescriptor::PCMU, Some(101));
        let mut targets = Vec::new();
        for call in 0..load.calls {
            let (id, la, _lb) = engine.add_relay(pcmu, pcmu, now).unwrap();
            let r = engine.relay_mut(id).unwrap();
            r.on_sdp(Leg::A, now, Some(load.sender.local_addr().unwrap()), true);
            r.on_sdp(Leg::B, now, Some(SocketAddr::V4(load.agent(call))), true);
            targets.push(la);
        }
        load.run(&targets, |done| {
            let mut idle_since = None;
            loop {
                let n = engine.run_once(Some(Duration::from_millis(5))).unwrap();
                if done.load(Ordering::Relaxed) {
                    if n > 0 {
                        idle_since = None;
                    } else if idle_since.get_or_insert_with(Instant::now).elapsed()
                        > Duration::from_millis(20)
                    {
                        return engine.stats().forwarded;
                    }
                }
            }
        })
    }

    fn xdp_run(load: &Load) -> Figures {
        let window = Duration::from_micros(env_or("BATCH_WINDOW_US", 1000));
        let mut path = super::attach_with(env_or("FRAMES", 16384));
        // Each call: a steered port the caller sends to (its socket only reserves the port)
        // and a port the relayed packets come from.
        let mut reserved = Vec::new();
        let mut routes: HashMap<u16, (SocketAddrV4, SocketAddrV4)> = HashMap::new();
        let mut targets = Vec::new();
        for call in 0..load.calls {
            let (a, b) = (
                UdpSocket::bind((LOCALHOST, 0)).unwrap(),
                UdpSocket::bind((LOCALHOST, 0)).unwrap(),
            );
            path.steer(v4(&a).port(), true).unwrap();
            routes.insert(v4(&a).port(), (v4(&b), load.agent(call)));
            targets.push(a.local_addr().unwrap());
            reserved.push((a, b));
        }
        let mut poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut SourceFd(&path.fd()), Token(0), Interest::READABLE)
            .unwrap();
        let mut events = Events::with_capacity(4);
        let figures = load.run(&targets, |done| {
            let mut forwarded = 0u64;
            let mut last_wake = Instant::now();
            let mut max_gap = Duration::ZERO;
            let mut idle_since = None;
            loop {
                poll.poll(&mut events, Some(Duration::from_millis(5)))
                    .unwrap();
                let n = path.receive(|f| {
                    let Some(&(from, to)) = routes.get(&f.dst_port) else {
                        return Verdict::Drop;
                    };
                    let p = f.payload_mut();
                    if p.len() < 12 {
                        return Verdict::Drop;
                    }
                    p[8..12].copy_from_slice(&0x5357_4954u32.to_be_bytes()); // new SSRC
                    Verdict::Forward {
                        from,
                        to,
                        to_mac: [0; 6],
                        len: p.len(),
                    }
                });
                path.flush().unwrap();
                forwarded += n as u64;
                if done.load(Ordering::Relaxed) {
                    if n > 0 {
                        idle_since = None;
                    } else if idle_since.get_or_insert_with(Instant::now).elapsed()
                        > Duration::from_millis(20)
                    {
                        println!("longest time between two XDP wake-ups: {max_gap:?}");
                        return forwarded;
                    }
                }
                // Batch as the engine does: at most one wake-up per window.
                let next = last_wake + window;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let now = Instant::now();
                max_gap = max_gap.max(now - last_wake);
                last_wake = now;
            }
        });
        println!("xdp path stats: {:?}", path.stats());
        figures
    }

    /// `CALLS=200 PPS=50000 SECONDS=5 TICK_US=1000 cargo test -p switchyard-media --release --test xdp
    /// -- --ignored --nocapture measure_cpu_per_packet`
    ///
    /// Prints, per relayed packet, the CPU time of the relay thread, the sending thread
    /// (whose softirq runs the XDP program and the copy into the UMEM on `lo`), the
    /// receiving thread and ksoftirqd.
    #[test]
    #[ignore = "a measurement, not a check: CALLS=200 PPS=50000 SECONDS=5 cargo test -p switchyard-media --release --test xdp -- --ignored --nocapture measure_cpu_per_packet"]
    fn measure_cpu_per_packet() {
        let _lo = lock();
        let load = Load::new();
        println!(
            "{} calls, {} packets/s, {} s, a burst every {} µs",
            load.calls, load.pps, load.seconds, load.tick_us
        );
        // ONLY=engine or ONLY=xdp runs one of the two (to profile it).
        let only = std::env::var("ONLY").unwrap_or_default();
        if only != "xdp" {
            report("RelayEngine", &engine_run(&load));
        }
        if only != "engine" {
            report("XdpPath", &xdp_run(&load));
        }
    }
}
