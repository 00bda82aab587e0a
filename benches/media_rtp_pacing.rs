//! Pacing engine: 2,000 concurrent 20 ms RTP streams (as prompt playbacks would be),
//! each from its own socket, driven by one `net::Pacer` tick on one thread with batched
//! sends. Reports the send lateness against each frame's ideal time (p50/p99/max) and
//! the thread's CPU use. Target: p99 under 1 ms using less than one core.
//!
//! `cargo bench -p switchyard-benches --bench media_rtp_pacing`
//! (`STREAMS`, default 2000; `SECONDS`, default 10).

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchyard_media::net::{Pacer, RecvBatch, SendBatch, Uring};
use switchyard_media::rtp::write_header;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of the calling thread.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("read stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let streams: usize = env_or("STREAMS", 2000);
    let seconds: u64 = env_or("SECONDS", 10);
    let sink = UdpSocket::bind("127.0.0.1:0").expect("sink");
    let sink_addr = sink.local_addr().expect("addr");
    sink.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let drain = {
        let (stop, received) = (stop.clone(), received.clone());
        std::thread::spawn(move || {
            let mut batch = RecvBatch::new();
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                // Block for the first datagram, then take the rest in batches.
                if sink.recv(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
                loop {
                    let n = batch.recv(sink.as_raw_fd()).expect("recv");
                    received.fetch_add(n as u64, Ordering::Relaxed);
                    if n == 0 {
                        break;
                    }
                }
            }
        })
    };
    let sockets: Vec<UdpSocket> = (0..streams)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let start = Instant::now() + Duration::from_millis(10);
    let mut pacer = Pacer::new(Duration::from_millis(20), 20, start);
    for _ in 0..streams {
        pacer.add(start);
    }
    let mut seq = vec![0u16; streams];
    let mut send = SendBatch::new();
    // One io_uring_enter per batch of 64 frames instead of one sendmmsg per socket
    // (`PACING_IO=mmsg` to compare).
    let mut ring = match std::env::var("PACING_IO").as_deref() {
        Ok("mmsg") => None,
        _ => Uring::new().ok(),
    };
    println!(
        "sending with {}",
        if ring.is_some() {
            "io_uring"
        } else {
            "sendmmsg"
        }
    );
    let mut flush = |send: &mut SendBatch| match ring.as_mut() {
        Some(r) => send.flush_via(r).expect("io_uring send"),
        None => send.flush(),
    };
    let mut due = Vec::new();
    let mut pkt = vec![0xffu8; 172];
    let mut lateness: Vec<u32> = Vec::with_capacity(streams * 50 * seconds as usize);
    let cpu0 = thread_cpu();
    let end = start + Duration::from_secs(seconds);
    while let Some(tick) = pacer.poll_timeout() {
        if tick >= end {
            break;
        }
        let now = Instant::now();
        if tick > now {
            std::thread::sleep(tick - now);
        }
        pacer.due(Instant::now(), &mut due);
        for id in &due {
            let i = id.0 as usize;
            write_header(
                &mut pkt,
                false,
                0,
                seq[i],
                u32::from(seq[i]) * 160,
                i as u32,
            )
            .expect("12");
            seq[i] = seq[i].wrapping_add(1);
            if send.is_full() {
                flush(&mut send);
            }
            send.push(sockets[i].as_raw_fd(), sink_addr, &pkt);
        }
        flush(&mut send);
        // Every frame of this tick left by now; its ideal time was `tick`.
        let late = Instant::now().saturating_duration_since(tick).as_micros() as u32;
        lateness.extend(std::iter::repeat_n(late, due.len()));
    }
    let cpu = thread_cpu() - cpu0;
    let wall = Instant::now().saturating_duration_since(start);
    stop.store(true, Ordering::Relaxed);
    let _ = drain.join();
    lateness.sort_unstable();
    let pct = |p: f64| lateness[((lateness.len() as f64 * p) as usize).min(lateness.len() - 1)];
    println!(
        "{streams} streams, {} frames sent in {:.1} s ({} received), {} send failures",
        lateness.len(),
        wall.as_secs_f64(),
        received.load(Ordering::Relaxed),
        send.failed
    );
    println!(
        "send lateness: p50 {} µs, p99 {} µs, max {} µs",
        pct(0.50),
        pct(0.99),
        lateness.last().copied().unwrap_or(0)
    );
    println!(
        "pacing thread CPU: {:.2} s = {:.0}% of a core ({:.2} µs per frame)",
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / lateness.len().max(1) as f64
    );
}
