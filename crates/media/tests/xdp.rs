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
