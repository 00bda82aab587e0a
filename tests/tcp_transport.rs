//! SIP over TCP to the running daemon: messages framed by Content-Length however they are
//! split, CRLF keep-alives answered, a REGISTER with SHA-256 digest, the qualify OPTIONS
//! coming back on the same connection, and an oversized message answered 513 before the
//! connection closes. Also OPTIONS over UDP on IPv6 loopback.
//!
//! The SHA-256 answer comes from the project's own client side (`client_auth`), since
//! baresip and SIPp speak only MD5.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Daemon, PASSWORD, scratch_dir, status_of, udp_exchange};
use switchyard_sip::client_auth::ClientAuth;
use switchyard_sip::transaction::Branch;
use switchyard_sip::{Message, Response};

/// Reads whole SIP messages (or bare CRLFs) from a stream.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    fn new(stream: TcpStream) -> Reader {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("setting a timeout");
        Reader {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next message, or `b"\r\n"` for a keep-alive pong; `None` on timeout or close.
    fn next(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
                return Some(b"\r\n".to_vec());
            }
            if let Ok(Some(n)) = switchyard_sip::frame_len(&self.buf, 1 << 20) {
                return Some(self.buf.drain(..n).collect());
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }

    fn response(&mut self) -> Response {
        let bytes = self.next(Duration::from_secs(5)).expect("an answer");
        match Message::parse(&bytes) {
            Ok(Message::Response(r)) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => {}
            }
        }
        false
    }
}

fn register(daemon: SocketAddr, local: SocketAddr, cseq: u32) -> String {
    format!(
        "REGISTER sip:{daemon} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp{cseq}\r\n\
         Max-Forwards: 70\r\nTo: <sip:1002@{daemon}>\r\nFrom: <sip:1002@{daemon}>;tag=t1\r\n\
         Call-ID: tcp-reg\r\nCSeq: {cseq} REGISTER\r\n\
         Contact: <sip:1002@192.0.2.99:5099;transport=tcp>\r\nExpires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn tcp_framing_keepalive_sha256_register_and_qualify_on_the_same_connection() {
    let data = scratch_dir("tcp");
    let mut daemon = Daemon::start(&data, &["--qualify-interval", "1"]);
    let stream = TcpStream::connect(daemon.addr).expect("connecting over TCP");
    let local = stream.local_addr().unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = Reader::new(stream);

    // A keep-alive ping gets a pong.
    writer.write_all(b"\r\n\r\n").unwrap();
    assert_eq!(
        reader.next(Duration::from_secs(5)).as_deref(),
        Some(&b"\r\n"[..])
    );

    // The first REGISTER arrives in three pieces; the challenge comes back whole.
    let first = register(daemon.addr, local, 1);
    for piece in first.as_bytes().chunks(first.len() / 3 + 1) {
        writer.write_all(piece).unwrap();
        writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let challenge = reader.response();
    assert_eq!(challenge.status, 401);

    // The project's own client answers; it prefers SHA-256, which is offered first.
    let Ok(Message::Request(first)) = Message::parse(first.as_bytes()) else {
        panic!("the test REGISTER parses");
    };
    let second = ClientAuth::new("1002", PASSWORD, 7)
        .authorize(&first, &challenge, &Branch::new("z9hG4bKtcp2"))
        .expect("the challenge can be answered");
    let auth = second.headers.get("Authorization").expect("credentials");
    assert!(auth.contains("algorithm=SHA-256"), "{auth}");
    writer.write_all(&second.to_bytes()).unwrap();
    let ok = reader.response();
    assert_eq!(ok.status, 200, "{ok:?}");

    // The qualify probe comes back over this connection, not to the private contact.
    let probe = loop {
        let bytes = reader
            .next(Duration::from_secs(5))
            .expect("a qualify OPTIONS on the registering connection");
        if bytes != b"\r\n" {
            break bytes;
        }
    };
    let Ok(Message::Request(probe)) = Message::parse(&probe) else {
        panic!("not a request: {}", String::from_utf8_lossy(&probe));
    };
    assert_eq!(probe.method.as_str(), "OPTIONS");
    assert_eq!(
        probe.uri.to_string(),
        "sip:1002@192.0.2.99:5099;transport=tcp"
    );
    let mut answer = Response::for_request(&probe, 200, "OK");
    answer.headers.to_mut().unwrap().set_tag("phone");
    writer.write_all(&answer.to_bytes()).unwrap();
    assert!(
        daemon
            .wait_log(&["contact qualified", "1002"], Duration::from_secs(5))
            .is_some()
    );

    // A message over the 64 KiB limit: 513, then the connection is closed.
    let big = "x".repeat(70_000);
    let oversized = format!(
        "MESSAGE sip:1001@{addr} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKbig\r\n\
         Max-Forwards: 70\r\nTo: <sip:1001@{addr}>\r\nFrom: <sip:1002@{addr}>;tag=t2\r\n\
         Call-ID: big\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{big}",
        big.len(),
        addr = daemon.addr
    );
    let _ = writer.write_all(oversized.as_bytes());
    // Further probes may arrive first (the interval is 1 s): skip them.
    let too_big = loop {
        let bytes = reader.next(Duration::from_secs(5)).expect("a 513");
        if let Ok(Message::Response(r)) = Message::parse(&bytes)
            && r.headers
                .cseq()
                .is_some_and(|c| c.method.as_str() == "MESSAGE")
        {
            break r;
        }
    };
    assert_eq!(too_big.status, 513);
    assert!(
        reader.closed(Duration::from_secs(5)),
        "the connection is closed after a 513"
    );
    assert!(daemon.stop().success());
}

#[test]
fn options_over_udp_on_ipv6_loopback() {
    if UdpSocket::bind("[::1]:0").is_err() {
        // No IPv6 loopback on this host (some containers): nothing to test against.
        eprintln!("skipping: this host has no ::1");
        return;
    }
    let data = scratch_dir("ipv6");
    let mut daemon = Daemon::start_on(&data, "[::1]:0", &["--qualify-interval", "0"]);
    assert!(daemon.addr.is_ipv6());
    let options = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:9;branch=z9hG4bKv6\r\n\
         Max-Forwards: 70\r\nTo: <sip:{addr}>\r\nFrom: <sip:probe@[::1]>;tag=1\r\n\
         Call-ID: v6\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        addr = daemon.addr
    );
    let (resp, from) = udp_exchange(daemon.addr, options.as_bytes(), Duration::from_secs(5))
        .expect("an answer over IPv6");
    assert_eq!(from, daemon.addr);
    assert_eq!(status_of(&resp), Some(200));
    assert!(String::from_utf8_lossy(&resp).contains("received="));
    assert!(daemon.stop().success());
}

#[test]
fn a_busy_listen_address_is_refused_with_a_hint() {
    let dir = scratch_dir("busy-port");
    let mut first = Daemon::start(&dir.join("first"), &["--qualify-interval", "0"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--qualify-interval", "0", "--sip-listen"])
        .arg(first.addr.to_string())
        .arg("--data-dir")
        .arg(dir.join("second"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running a second switchyard");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a second daemon on a busy port must not start"
    );
    assert!(
        stderr.contains(&format!("another program is listening on {}", first.addr))
            && stderr.contains("--sip-listen"),
        "the error should say what is wrong and what to do: {stderr}"
    );
    assert!(first.stop().success());
}
