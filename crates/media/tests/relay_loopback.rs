//! Two endpoints exchange audio over loopback through the relay engine: tones come out
//! at the frequency they went in (also across PCMU→PCMA transcoding), strict source
//! learning drops an injected packet, and inactivity is reported when media stops.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use switchyard_media::codec::{CodecDescriptor, CodecKind, g711};
use switchyard_media::net::{EngineConfig, EngineStats, RelayEngine, RelayId};
use switchyard_media::relay::{Leg, LegMedia, RelayConfig};
use switchyard_media::rtcp::{RtcpPacket, parse_compound};
use switchyard_media::rtp::{PacketKind, RtpPacket, classify, write_header};
use switchyard_media::stream::{StreamConfig, StreamEvent};

const RATE: f64 = 8000.0;

fn tone(freq: f64, n: usize, start: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = (start + i) as f64 / RATE;
            (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect()
}

/// Relative power of `freq` in `x` (Goertzel).
fn goertzel(x: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The strongest frequency between 100 and 3900 Hz, in 10 Hz steps.
fn dominant(x: &[i16]) -> f64 {
    (10..390)
        .map(|k| f64::from(k) * 10.0)
        .max_by(|a, b| goertzel(x, *a).total_cmp(&goertzel(x, *b)))
        .expect("non-empty range")
}

fn encode(kind: CodecKind, pcm: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; pcm.len()];
    match kind {
        CodecKind::Pcma => g711::encode_alaw(pcm, &mut out),
        _ => g711::encode_ulaw(pcm, &mut out),
    };
    out
}

fn decode(kind: CodecKind, wire: &[u8]) -> Vec<i16> {
    let mut out = vec![0i16; wire.len()];
    match kind {
        CodecKind::Pcma => g711::decode_alaw(wire, &mut out),
        _ => g711::decode_ulaw(wire, &mut out),
    };
    out
}

/// What the engine thread returns.
type Outcome = (EngineStats, Vec<(RelayId, Leg, StreamEvent)>);

struct Running {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<Outcome>,
}

impl Running {
    fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("engine thread")
    }
}

struct Setup {
    ep_a: UdpSocket,
    ep_b: UdpSocket,
    relay_a: SocketAddr,
    relay_b: SocketAddr,
    running: Running,
}

fn setup(port_min: u16, codec_b: CodecDescriptor, inactivity: Duration) -> Setup {
    setup_with(port_min, codec_b, inactivity, "127.0.0.1", false, true)
}

fn setup_with(
    port_min: u16,
    codec_b: CodecDescriptor,
    inactivity: Duration,
    ip: &str,
    rtcp_mux: bool,
    io_uring: bool,
) -> Setup {
    let ep_a = UdpSocket::bind((ip, 0)).unwrap();
    let ep_b = UdpSocket::bind((ip, 0)).unwrap();
    for s in [&ep_a, &ep_b] {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    let mut engine = RelayEngine::new(EngineConfig {
        bind: ip.parse().unwrap(),
        io_uring,
        rtcp_interval: Some(Duration::from_millis(100)),
        port_min,
        port_max: port_min + 200,
        relay: RelayConfig {
            stream: StreamConfig {
                probation: 4,
                inactivity: Some(inactivity),
            },
            ..RelayConfig::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let now = Instant::now();
    let (id, relay_a, relay_b) = engine
        .add_relay(
            LegMedia {
                rtcp_mux,
                ..LegMedia::g711(CodecDescriptor::PCMU, Some(101))
            },
            LegMedia {
                rtcp_mux,
                ..LegMedia::g711(codec_b, Some(96))
            },
            now,
        )
        .unwrap();
    let r = engine.relay_mut(id).unwrap();
    r.on_sdp(Leg::A, now, Some(ep_a.local_addr().unwrap()), true);
    r.on_sdp(Leg::B, now, Some(ep_b.local_addr().unwrap()), true);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = thread::spawn(move || {
        let mut events = Vec::new();
        while !flag.load(Ordering::Relaxed) {
            engine.run_once(Some(Duration::from_millis(5))).unwrap();
            events.extend(engine.drain_events());
        }
        (engine.stats(), events)
    });
    Setup {
        ep_a,
        ep_b,
        relay_a,
        relay_b,
        running: Running { stop, handle },
    }
}

/// Sends `frames` 20 ms frames of a tone from `from` to `to`, with SSRC `ssrc`.
fn send_tone(from: &UdpSocket, to: SocketAddr, kind: CodecKind, pt: u8, freq: f64, frames: u16) {
    let mut pkt = vec![0u8; 12 + 160];
    for f in 0..frames {
        let pcm = tone(freq, 160, usize::from(f) * 160);
        pkt[12..].copy_from_slice(&encode(kind, &pcm));
        write_header(
            &mut pkt,
            f == 0,
            pt,
            1000 + f,
            160 * u32::from(f),
            0xa0a0 + pt as u32,
        )
        .unwrap();
        from.send_to(&pkt, to).unwrap();
        // Pace a little so the loopback socket buffers never overflow.
        thread::sleep(Duration::from_millis(2));
    }
}

/// Collects payloads arriving on `sock` until `want` arrived or nothing came for a while.
fn collect(sock: &UdpSocket, want: usize) -> Vec<(RtpPacket<'static>, SocketAddr)> {
    let mut got = Vec::new();
    let mut idle = 0;
    let mut buf = [0u8; 2048];
    while got.len() < want && idle < 20 {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) if classify(&buf[..n]) != PacketKind::Rtp => {}
            Ok((n, src)) => {
                idle = 0;
                let owned: &'static [u8] = Box::leak(buf[..n].to_vec().into_boxed_slice());
                got.push((RtpPacket::parse(owned).unwrap(), src));
            }
            Err(_) => idle += 1,
        }
    }
    got
}

fn audio_of(kind: CodecKind, pkts: &[(RtpPacket<'static>, SocketAddr)]) -> Vec<i16> {
    let mut pkts: Vec<_> = pkts.iter().map(|(p, _)| *p).collect();
    pkts.sort_by_key(|p| p.sequence);
    pkts.iter().flat_map(|p| decode(kind, p.payload)).collect()
}

fn run_tone_test(port_min: u16, codec_b: CodecDescriptor, io_uring: bool) {
    let s = setup_with(
        port_min,
        codec_b,
        Duration::from_secs(60),
        "127.0.0.1",
        false,
        io_uring,
    );
    let kind_b = codec_b.kind;
    let pt_b = codec_b.static_payload_type.unwrap();
    let (ep_a, relay_a) = (s.ep_a.try_clone().unwrap(), s.relay_a);
    let a_sender = thread::spawn(move || {
        send_tone(&ep_a, relay_a, CodecKind::Pcmu, 0, 1000.0, 100);
    });
    send_tone(&s.ep_b, s.relay_b, kind_b, pt_b, 440.0, 100);
    a_sender.join().unwrap();
    // Probation drops the first three packets of each direction.
    let at_b = collect(&s.ep_b, 97);
    let at_a = collect(&s.ep_a, 97);
    let (stats, _) = s.running.finish();
    assert!(
        at_b.len() >= 90,
        "B got {} packets, stats {stats:?}",
        at_b.len()
    );
    assert!(
        at_a.len() >= 90,
        "A got {} packets, stats {stats:?}",
        at_a.len()
    );
    // Symmetric RTP: each endpoint hears from the relay port it sends to.
    assert!(at_b.iter().all(|(_, src)| *src == s.relay_b));
    assert!(at_a.iter().all(|(_, src)| *src == s.relay_a));
    // B receives its own codec's payload type, one SSRC, consecutive sequence numbers.
    assert!(at_b.iter().all(|(p, _)| p.payload_type == pt_b));
    let ssrcs: std::collections::BTreeSet<_> = at_b.iter().map(|(p, _)| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1);
    let f_b = dominant(&audio_of(kind_b, &at_b));
    let f_a = dominant(&audio_of(CodecKind::Pcmu, &at_a));
    assert!((f_b - 1000.0).abs() <= 10.0, "B hears {f_b} Hz");
    assert!((f_a - 440.0).abs() <= 10.0, "A hears {f_a} Hz");
}

#[test]
fn tones_cross_the_relay_at_their_frequency() {
    run_tone_test(42000, CodecDescriptor::PCMU, true);
}

#[test]
fn tones_cross_the_relay_without_io_uring() {
    run_tone_test(44000, CodecDescriptor::PCMU, false);
}

#[test]
fn tones_cross_a_transcoding_relay_at_their_frequency() {
    run_tone_test(42400, CodecDescriptor::PCMA, true);
}

#[test]
fn injected_packet_from_another_port_is_dropped() {
    let s = setup(42800, CodecDescriptor::PCMU, Duration::from_secs(60));
    send_tone(&s.ep_a, s.relay_a, CodecKind::Pcmu, 0, 1000.0, 10);
    let first = collect(&s.ep_b, 7);
    assert_eq!(first.len(), 7);
    // An attacker on another port sends a packet continuing the sequence.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut evil = vec![0x42u8; 12 + 160];
    write_header(&mut evil, false, 0, 1010, 1600, 0xa0a0).unwrap();
    attacker.send_to(&evil, s.relay_a).unwrap();
    thread::sleep(Duration::from_millis(20));
    // The real endpoint continues.
    let mut pkt = vec![0xffu8; 12 + 160];
    write_header(&mut pkt, false, 0, 1011, 1760, 0xa0a0).unwrap();
    s.ep_a.send_to(&pkt, s.relay_a).unwrap();
    let after = collect(&s.ep_b, 1);
    let (stats, events) = s.running.finish();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0.payload, &[0xff; 160][..]);
    assert!(stats.dropped >= 4, "{stats:?}"); // 3 probation + the injected one
    assert!(events.iter().any(|(_, leg, e)| *leg == Leg::A
        && *e == StreamEvent::SourceLearned(s.ep_a.local_addr().unwrap())));
}

#[test]
fn inactivity_is_reported_when_media_stops() {
    let s = setup(43200, CodecDescriptor::PCMU, Duration::from_millis(300));
    send_tone(&s.ep_a, s.relay_a, CodecKind::Pcmu, 0, 1000.0, 10);
    // Nothing more is sent; wait well past the inactivity limit.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && collect(&s.ep_b, 100).is_empty() {}
    thread::sleep(Duration::from_millis(800));
    let (_, events) = s.running.finish();
    let inactive: Vec<_> = events
        .iter()
        .filter(|(_, _, e)| *e == StreamEvent::Inactive)
        .map(|(_, leg, _)| *leg)
        .collect();
    assert!(inactive.contains(&Leg::A), "{events:?}");
    assert!(inactive.contains(&Leg::B), "{events:?}");
}

#[test]
fn ipv6_legs_relay_and_receive_rtcp_reports() {
    let s = setup_with(
        43600,
        CodecDescriptor::PCMU,
        Duration::from_secs(60),
        "::1",
        true,
        false,
    );
    assert!(s.relay_a.is_ipv6());
    send_tone(&s.ep_a, s.relay_a, CodecKind::Pcmu, 0, 1000.0, 10);
    let relayed = collect(&s.ep_b, 7);
    assert_eq!(relayed.len(), 7);
    // The engine reports every 100 ms here; A's side gets a receiver report about A's
    // stream (nothing was sent towards A yet).
    let mut buf = [0u8; 2048];
    let mut report = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while report.is_none() && Instant::now() < deadline {
        if let Ok((n, src)) = s.ep_a.recv_from(&mut buf)
            && classify(&buf[..n]) == PacketKind::Rtcp
        {
            assert_eq!(src, s.relay_a);
            report = Some(parse_compound(&buf[..n]).unwrap());
        }
    }
    s.running.finish();
    let report = report.expect("an RTCP report within 5 s");
    let RtcpPacket::ReceiverReport { reports, .. } = &report[0] else {
        panic!("expected an RR first: {report:?}");
    };
    assert_eq!(reports[0].ssrc, 0xa0a0);
    assert_eq!(reports[0].extended_highest_seq, 1009);
    assert_eq!(reports[0].cumulative_lost, 0);
    assert!(matches!(report[1], RtcpPacket::SourceDescription(_)));
}

#[test]
fn rtcp_port_without_mux_learns_the_peers_rtcp_address() {
    let s = setup(44400, CodecDescriptor::PCMU, Duration::from_secs(60));
    send_tone(&s.ep_a, s.relay_a, CodecKind::Pcmu, 0, 1000.0, 10);
    assert_eq!(collect(&s.ep_b, 7).len(), 7);
    // The peer's RTCP socket (any port on the learned host) reports to our RTP port + 1.
    let ep_a_rtcp = UdpSocket::bind("127.0.0.1:0").unwrap();
    ep_a_rtcp
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut rr = Vec::new();
    RtcpPacket::ReceiverReport {
        ssrc: 0xa0a0,
        reports: vec![],
    }
    .write(&mut rr);
    let relay_rtcp = SocketAddr::new(s.relay_a.ip(), s.relay_a.port() + 1);
    let mut buf = [0u8; 2048];
    let mut report = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while report.is_none() && Instant::now() < deadline {
        ep_a_rtcp.send_to(&rr, relay_rtcp).unwrap();
        if let Ok((n, src)) = ep_a_rtcp.recv_from(&mut buf) {
            assert_eq!(src, relay_rtcp);
            report = Some(parse_compound(&buf[..n]).unwrap());
        }
    }
    let (stats, _) = s.running.finish();
    assert!(stats.rtcp_received >= 1, "{stats:?}");
    let report = report.expect("an RTCP report on the peer's RTCP socket within 5 s");
    let RtcpPacket::ReceiverReport { reports, .. } = &report[0] else {
        panic!("expected an RR first: {report:?}");
    };
    assert_eq!(reports[0].ssrc, 0xa0a0);
}
