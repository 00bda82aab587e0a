//! Whole-process CPU per relayed packet, Switchyard's relay engine against rtpengine,
//! in one run: 500 two-way G.711 calls (1,000 streams of 50 packets/s = 50,000
//! packets/s) from a paced load generator, through each relay in turn, reading the
//! relay process's utime + stime from /proc/PID/stat over the measurement window.
//!
//! ```text
//! cargo bench -p switchyard-benches --bench media_relay_load
//! ```
//! Environment: `CALLS` (500), `SECONDS` (10, per measurement window), `WARMUP` (3),
//! `RTPENGINE` (path, default `rtpengine`; set to `none` to skip it),
//! `BATCH_WINDOW_US` (1000, Switchyard's batching window), `RELAY_IO` (Switchyard's
//! receive paths to measure, comma-separated, default `xdp,uring`: `xdp` takes the
//! relay's ports off the UDP stack with AF_XDP (needs root; falls back to sockets and
//! says so), `uring` receives on the sockets with io_uring, `mmsg` with
//! recvmmsg/sendmmsg).
//!
//! Switchyard's relay runs in a child process (this binary re-executed with
//! `relay-child`), so the figures are whole-process for both relays and exclude the
//! load generator.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use switchyard_media::codec::CodecDescriptor;
use switchyard_media::net::{EngineConfig, Pacer, RecvBatch, RelayEngine, SendBatch};
use switchyard_media::relay::{Leg, LegMedia, RelayConfig};
use switchyard_media::rtp::write_header;
use switchyard_media::sdp::SessionDescription;
use switchyard_media::stream::StreamConfig;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of a process, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the parenthesised command name; utime and stime are fields 14, 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    // Linux reports these in USER_HZ, which is 100 on every supported architecture.
    Duration::from_millis(ticks * 10)
}

// ---------------------------------------------------------------- Switchyard child

fn relay_child() {
    let window = Duration::from_micros(env_or("BATCH_WINDOW_US", 1000));
    let mut engine = RelayEngine::new(EngineConfig {
        port_min: 20000,
        port_max: 29999,
        batch_window: window,
        // rtpengine generates no RTCP of its own here either.
        rtcp_interval: None,
        io_uring: std::env::var("RELAY_IO").as_deref() != Ok("mmsg"),
        xdp: std::env::var("RELAY_IO").as_deref() == Ok("xdp"),
        relay: RelayConfig {
            stream: StreamConfig {
                probation: 4,
                inactivity: None,
            },
            ..RelayConfig::default()
        },
        ..EngineConfig::default()
    })
    .expect("engine");
    eprintln!(
        "switchyard relay: {}",
        if engine.uses_xdp() {
            "AF_XDP path attached"
        } else {
            "sockets"
        }
    );
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let now = Instant::now();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        if line.is_empty() {
            break;
        }
        let mut it = line.split(' ');
        let a: SocketAddr = it.next().and_then(|s| s.parse().ok()).expect("peer a");
        let b: SocketAddr = it.next().and_then(|s| s.parse().ok()).expect("peer b");
        let pcmu = LegMedia::g711(CodecDescriptor::PCMU, Some(101));
        let (id, la, lb) = engine.add_relay(pcmu, pcmu, now).expect("add relay");
        let r = engine.relay_mut(id).expect("relay");
        r.on_sdp(Leg::A, now, Some(a), true);
        r.on_sdp(Leg::B, now, Some(b), true);
        writeln!(out, "{} {}", la.port(), lb.port()).expect("stdout");
    }
    writeln!(out).expect("stdout");
    out.flush().expect("flush");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        // Runs until the parent closes stdin.
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
        flag.store(true, Ordering::Relaxed);
    });
    while !stop.load(Ordering::Relaxed) {
        engine
            .run_once(Some(Duration::from_millis(50)))
            .expect("run");
    }
    let s = engine.stats();
    eprintln!(
        "switchyard relay: received {} forwarded {} dropped {} wakeups {} recv calls {} send calls {} send failures {} (AF_XDP: received {} forwarded {})",
        s.received,
        s.forwarded,
        s.dropped,
        s.wakeups,
        s.recv_calls,
        s.send_calls,
        s.send_failed,
        s.xdp_received,
        s.xdp_forwarded
    );
}

// ---------------------------------------------------------------- rtpengine ng client

fn bencode_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{}:", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Encodes a flat dictionary of strings (keys sorted, as bencode requires).
fn bencode_dict(pairs: &mut [(&str, String)]) -> Vec<u8> {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = b"d".to_vec();
    for (k, v) in pairs.iter() {
        bencode_str(&mut out, k.as_bytes());
        bencode_str(&mut out, v.as_bytes());
    }
    out.push(b'e');
    out
}

/// Finds the string value of `key` in a bencoded reply (enough for `result` and `sdp`).
fn bencode_get(reply: &[u8], key: &str) -> Option<String> {
    let pat = format!("{}:{}", key.len(), key);
    let at = reply.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
    let colon = at + reply[at..].iter().position(|&c| c == b':')?;
    let len: usize = std::str::from_utf8(&reply[at..colon]).ok()?.parse().ok()?;
    Some(String::from_utf8_lossy(reply.get(colon + 1..colon + 1 + len)?).into_owned())
}

struct Ng {
    sock: UdpSocket,
    server: SocketAddr,
    n: u64,
}

impl Ng {
    fn call(&mut self, pairs: &mut [(&str, String)]) -> String {
        self.n += 1;
        let cookie = format!("{:x}_{}", std::process::id(), self.n);
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend(bencode_dict(pairs));
        let mut buf = vec![0u8; 65536];
        for _ in 0..20 {
            self.sock.send_to(&msg, self.server).expect("ng send");
            if let Ok(n) = self.sock.recv(&mut buf) {
                let reply = &buf[..n];
                if let Some(body) = reply.strip_prefix(format!("{cookie} ").as_bytes()) {
                    assert_eq!(
                        bencode_get(body, "result").as_deref(),
                        Some("ok"),
                        "rtpengine: {}",
                        String::from_utf8_lossy(body)
                    );
                    return bencode_get(body, "sdp").expect("sdp in reply");
                }
            }
        }
        panic!("rtpengine did not answer on {}", self.server);
    }
}

fn sdp_for(port: u16, session: u64) -> String {
    format!(
        "v=0\r\no=- {session} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=sendrecv\r\n"
    )
}

fn media_port(sdp: &str) -> u16 {
    let s = SessionDescription::parse(sdp).expect("rtpengine SDP parses");
    s.media[0].port
}

fn start_rtpengine(bin: &str) -> (Child, Vec<(u16, u16)>, Ng) {
    let child = Command::new(bin)
        .args([
            "--foreground",
            "--table=-1",
            "--interface=127.0.0.1",
            "--listen-ng=127.0.0.1:2223",
            "--port-min=30000",
            "--port-max=40000",
            "--num-threads=1",
            "--log-level=3",
            "--log-stderr",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rtpengine");
    std::thread::sleep(Duration::from_millis(1500));
    let sock = UdpSocket::bind("127.0.0.1:0").expect("ng socket");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let ng = Ng {
        sock,
        server: "127.0.0.1:2223".parse().expect("addr"),
        n: 0,
    };
    (child, Vec::new(), ng)
}

// ---------------------------------------------------------------- load generator

struct Endpoint {
    sock: UdpSocket,
    to: SocketAddr,
    seq: u16,
    ts: u32,
    ssrc: u32,
}

struct Load {
    endpoints: Vec<Endpoint>,
    /// Ticks per 20 ms period: 20 sends every stream of a phase in one burst per
    /// millisecond; 1,000 spreads 1,000 streams one per 20 µs tick, as independent
    /// phones' packets arrive.
    phases: u32,
    /// Generator wake-ups in the last run (how bursty the sends really were).
    wakes: u64,
}

impl Load {
    fn new(calls: usize, phases: u32) -> Self {
        let endpoints = (0..calls * 2)
            .map(|i| {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind endpoint");
                sock.set_nonblocking(true).expect("nonblocking");
                Endpoint {
                    sock,
                    to: "127.0.0.1:9".parse().expect("addr"),
                    seq: 0,
                    ts: 0,
                    ssrc: 0x1000 + i as u32,
                }
            })
            .collect();
        Load {
            endpoints,
            phases,
            wakes: 0,
        }
    }

    fn port(&self, i: usize) -> u16 {
        self.endpoints[i].sock.local_addr().expect("addr").port()
    }

    /// Sends every stream's 20 ms frame on time and drains what comes back, for
    /// `duration`. Returns the datagrams received.
    fn run(&mut self, duration: Duration) -> u64 {
        set_timer_slack();
        let start = Instant::now();
        let mut pacer = Pacer::new(Duration::from_millis(20), self.phases, start);
        let ids: Vec<_> = self.endpoints.iter().map(|_| pacer.add(start)).collect();
        debug_assert!(ids.iter().enumerate().all(|(i, id)| id.0 as usize == i));
        let mut poll = Poll::new().expect("poll");
        for (i, e) in self.endpoints.iter().enumerate() {
            poll.registry()
                .register(
                    &mut SourceFd(&e.sock.as_raw_fd()),
                    Token(i),
                    Interest::READABLE,
                )
                .expect("register");
        }
        let mut events = Events::with_capacity(4096);
        let mut recv = RecvBatch::new();
        let mut send = SendBatch::new();
        let mut due = Vec::new();
        let mut pkt = vec![0xffu8; 12 + 160];
        let mut received = 0u64;
        let end = start + duration;
        self.wakes = 0;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let next = pacer.poll_timeout().expect("streams").min(end);
            if next <= now {
                self.wakes += 1;
                pacer.due(now, &mut due);
                for id in &due {
                    let e = &mut self.endpoints[id.0 as usize];
                    write_header(&mut pkt, false, 0, e.seq, e.ts, e.ssrc).expect("12");
                    e.seq = e.seq.wrapping_add(1);
                    e.ts = e.ts.wrapping_add(160);
                    if send.is_full() {
                        send.flush();
                    }
                    send.push(e.sock.as_raw_fd(), e.to, &pkt);
                }
                send.flush();
                continue;
            }
            // Sleep to the next tick, then drain without waiting: the relays' sends then
            // find no sleeper to wake on our sockets (the same for both relays), as a
            // media server's own batched loop would behave, rather than a wake-up per
            // packet.
            std::thread::sleep(next - now);
            poll.poll(&mut events, Some(Duration::ZERO)).expect("poll");
            for ev in events.iter() {
                let fd = self.endpoints[ev.token().0].sock.as_raw_fd();
                loop {
                    let n = recv.recv(fd).expect("recv");
                    received += n as u64;
                    if n < switchyard_media::net::BATCH {
                        break;
                    }
                }
            }
        }
        for e in &self.endpoints {
            let _ = poll
                .registry()
                .deregister(&mut SourceFd(&e.sock.as_raw_fd()));
        }
        received
    }

    /// Warm up, then measure `pid`'s CPU and the generator's own over a window.
    fn measure(&mut self, pid: u32, warmup: Duration, window: Duration) -> Measured {
        for e in &mut self.endpoints {
            e.seq = 0;
            e.ts = 0;
            e.ssrc = e.ssrc.wrapping_add(0x10000);
        }
        self.run(warmup);
        let me = std::process::id();
        let (cpu0, gen0) = (cpu_time(pid), cpu_time(me));
        let t0 = Instant::now();
        let packets = self.run(window);
        let (cpu, generator) = (cpu_time(pid) - cpu0, cpu_time(me) - gen0);
        let wall = t0.elapsed();
        eprintln!(
            "  window {:.1} s: {} packets relayed ({:.0}/s, {:.1} sent per generator wake-up), relay CPU {:.2} s ({:.0}% of a core), generator CPU {:.2} s",
            wall.as_secs_f64(),
            packets,
            packets as f64 / wall.as_secs_f64(),
            packets as f64 / self.wakes.max(1) as f64,
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            generator.as_secs_f64(),
        );
        Measured {
            relay: per_packet(cpu, packets),
            generator: per_packet(generator, packets),
        }
    }
}

/// Lets the generator's short sleeps end on time: Linux otherwise lets a sleep overrun by
/// up to 50 µs to group wake-ups, which would bunch the spread pattern's 20 µs ticks.
#[allow(unsafe_code)]
fn set_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes plain integers and affects only this thread.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
}

/// CPU per relayed packet, in µs: the relay's, and the load generator's in the same
/// window. The generator's shows work a relay moves out of its own process (on loopback
/// the kernel's receive path runs in the sender's context), so both are reported.
#[derive(Clone, Copy)]
struct Measured {
    relay: f64,
    generator: f64,
}

fn per_packet(cpu: Duration, packets: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / packets.max(1) as f64
}

fn run_switchyard(
    load: &mut Load,
    calls: usize,
    warmup: Duration,
    window: Duration,
    io: &str,
) -> Measured {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("relay-child")
        .env("RELAY_IO", io)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn relay child");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for c in 0..calls {
        writeln!(
            stdin,
            "127.0.0.1:{} 127.0.0.1:{}",
            load.port(2 * c),
            load.port(2 * c + 1)
        )
        .expect("write");
    }
    writeln!(stdin).expect("write");
    stdin.flush().expect("flush");
    for c in 0..calls {
        let line = lines.next().expect("line").expect("read");
        let mut it = line.split(' ');
        let pa: u16 = it.next().and_then(|s| s.parse().ok()).expect("port a");
        let pb: u16 = it.next().and_then(|s| s.parse().ok()).expect("port b");
        load.endpoints[2 * c].to = SocketAddr::from(([127, 0, 0, 1], pa));
        load.endpoints[2 * c + 1].to = SocketAddr::from(([127, 0, 0, 1], pb));
    }
    let _ = lines.next();
    eprintln!("switchyard: {calls} relays set up");
    let measured = load.measure(child.id(), warmup, window);
    drop(stdin);
    let _ = child.wait();
    measured
}

fn run_rtpengine(
    bin: &str,
    load: &mut Load,
    calls: usize,
    warmup: Duration,
    window: Duration,
) -> Measured {
    let (mut child, _, mut ng) = start_rtpengine(bin);
    for c in 0..calls {
        let call_id = format!("bench-{c}-{}", std::process::id());
        let offer = ng.call(&mut [
            ("command", "offer".into()),
            ("call-id", call_id.clone()),
            ("from-tag", "a".into()),
            ("sdp", sdp_for(load.port(2 * c), c as u64)),
        ]);
        let answer = ng.call(&mut [
            ("command", "answer".into()),
            ("call-id", call_id),
            ("from-tag", "a".into()),
            ("to-tag", "b".into()),
            ("sdp", sdp_for(load.port(2 * c + 1), c as u64)),
        ]);
        // The offer's SDP goes to B: B sends to its port; the answer's goes to A.
        load.endpoints[2 * c + 1].to = SocketAddr::from(([127, 0, 0, 1], media_port(&offer)));
        load.endpoints[2 * c].to = SocketAddr::from(([127, 0, 0, 1], media_port(&answer)));
    }
    eprintln!("rtpengine: {calls} calls set up");
    let measured = load.measure(child.id(), warmup, window);
    let _ = child.kill();
    let _ = child.wait();
    measured
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("relay-child") {
        relay_child();
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful:
    // only run the load when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let calls: usize = env_or("CALLS", 500);
    let window = Duration::from_secs(env_or("SECONDS", 10));
    let warmup = Duration::from_secs(env_or("WARMUP", 3));
    let rtpengine: String = env_or("RTPENGINE", "rtpengine".to_string());
    // Arrival patterns: the default runs both. `PHASES=20`: each millisecond's streams
    // sent in one burst (a relay then finds many packets per wake-up); `PHASES=1000`:
    // one stream per 20 µs tick, spread as independent phones' packets arrive.
    let patterns: Vec<u32> = match std::env::var("PHASES") {
        Ok(v) => vec![v.parse().expect("PHASES is a number")],
        Err(_) => vec![20, 1000],
    };
    for phases in patterns {
        run_pattern(calls, phases, warmup, window, &rtpengine);
    }
}

fn run_pattern(calls: usize, phases: u32, warmup: Duration, window: Duration, rtpengine: &str) {
    let mut load = Load::new(calls, phases);
    eprintln!(
        "{calls} calls, {} packets/s offered, {phases} send ticks per 20 ms, {} s windows after {} s warm-up",
        calls * 2 * 50,
        window.as_secs(),
        warmup.as_secs()
    );
    let label = format!("[{phases} ticks/20 ms]");
    // Each of Switchyard's receive paths before rtpengine and again after it, in
    // mirrored order, so a drift of the machine's load over the run evens out.
    let ios: Vec<String> = env_or("RELAY_IO", "xdp,uring".to_string())
        .split(',')
        .map(str::to_string)
        .collect();
    let mut first = Vec::new();
    for io in &ios {
        let m = run_switchyard(&mut load, calls, warmup, window, io);
        println!(
            "{label} switchyard relay ({io}): {:.2} µs CPU per relayed packet (generator {:.2})",
            m.relay, m.generator
        );
        first.push(m);
    }
    if rtpengine == "none" {
        return;
    }
    let re = run_rtpengine(rtpengine, &mut load, calls, warmup, window);
    println!(
        "{label} rtpengine:        {:.2} µs CPU per relayed packet (generator {:.2})",
        re.relay, re.generator
    );
    let mut second = vec![re; ios.len()];
    for (i, io) in ios.iter().enumerate().rev() {
        let m = run_switchyard(&mut load, calls, warmup, window, io);
        println!(
            "{label} switchyard relay ({io}): {:.2} µs CPU per relayed packet (generator {:.2})",
            m.relay, m.generator
        );
        second[i] = m;
    }
    for (i, io) in ios.iter().enumerate() {
        let (a, b) = (first[i], second[i]);
        println!(
            "{label} ratio switchyard ({io})/rtpengine: {:.2} (relay + generator: {:.2})",
            f64::midpoint(a.relay, b.relay) / re.relay,
            f64::midpoint(a.relay + a.generator, b.relay + b.generator) / (re.relay + re.generator)
        );
    }
}
