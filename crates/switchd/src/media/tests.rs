//! The media server over loopback, with plain UDP sockets as the phones.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use switchyard_media::codec::CodecKind;
use switchyard_media::dtmf::DtmfDigit;
use switchyard_media::dtmf::generate::DtmfGenerator;
use switchyard_media::dtmf::goertzel::{rms, tone_amplitude};
use switchyard_media::rtp::{FixedHeader, write_header};

use super::server::{Command, Server};
use super::*;
use switchyard_media::player::PlaylistItem;

const PCMU: u8 = 0;
const PCMA: u8 = 8;
const TE: u8 = 101;

struct Rig {
    media: Media,
    events: mpsc::Receiver<MediaEvent>,
    addrs: std::collections::HashMap<LegId, SocketAddr>,
}

impl Rig {
    /// The leg's local RTP address.
    fn media_addr(&self, leg: LegId) -> SocketAddr {
        self.addrs[&leg]
    }
}

thread_local! {
    /// Whether this test's media server receives through io_uring (where the kernel has
    /// it) or polls for readiness as on kernels without it.
    static IO_URING: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Runs a test with the media server polling its sockets instead of using io_uring.
fn polling(test: fn()) {
    IO_URING.with(|c| c.set(false));
    test();
}

thread_local! {
    /// Whether this test's media server takes its legs' datagrams with AF_XDP.
    static XDP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Whether it needs a wide port range on that path (thousands of legs).
    static XDP_WIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Only one XDP program can be attached to an interface: the tests that attach to `lo`
/// take turns.
static LO: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Ports for a test on the AF_XDP path: a range of its own per process (a port another
/// program holds is skipped by the allocator).
fn xdp_ports() -> (u16, u16) {
    if XDP_WIDE.with(std::cell::Cell::get) {
        return (50_000, 59_999);
    }
    let base = 47_000 + (std::process::id() % 50) as u16 * 40;
    (base, base + 39)
}

/// Takes `lo` for a test on the AF_XDP path: from the other tests of this process (the
/// guard), and waits up to a minute while another process (a relay benchmark, a daemon)
/// holds its one XDP program.
fn take_lo() -> std::sync::MutexGuard<'static, ()> {
    let guard = LO.lock().unwrap_or_else(|e| e.into_inner());
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(e) = switchyard_media::net::XdpPath::attach([127, 0, 0, 1].into(), 64) {
        if e.kind() != std::io::ErrorKind::ResourceBusy || Instant::now() > deadline {
            break; // the test says what is wrong when its server does not attach
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    guard
}

/// Runs a test with the media server on the AF_XDP path. It needs root (CAP_BPF,
/// CAP_NET_ADMIN), as on the machines the tests run on.
fn on_xdp(test: fn()) {
    let _lo = take_lo();
    XDP.with(|c| c.set(true));
    test();
}

fn rig(inactivity: Duration) -> Rig {
    let (tx, events) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let xdp = XDP.with(std::cell::Cell::get);
    let (port_min, port_max) = if xdp { xdp_ports() } else { (0, 0) };
    let media = Media::start_with(
        MediaConfig {
            address: [127, 0, 0, 1].into(),
            port_min,
            port_max,
            inactivity,
            xdp,
        },
        IO_URING.with(std::cell::Cell::get),
        Box::new(move |e| {
            let _ = tx.lock().expect("test channel").send(e);
        }),
    )
    .expect("media starts");
    assert_eq!(
        media.uses_xdp(),
        xdp,
        "AF_XDP asked for but not attached to lo (see the log)"
    );
    Rig {
        media,
        events,
        addrs: Default::default(),
    }
}

fn phone() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind phone");
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    s
}

fn params(remote: SocketAddr, codec: CodecKind) -> LegParams {
    LegParams {
        remote,
        codec,
        payload_type: if codec == CodecKind::Pcma { PCMA } else { PCMU },
        dtmf_payload_type: Some(TE),
        ptime_ms: 20,
        send: true,
        receive: true,
        inband_dtmf: false,
    }
}

/// Opens and configures a leg whose peer is `phone`.
fn leg(rig: &mut Rig, id: LegId, phone: &UdpSocket, codec: CodecKind) -> SocketAddr {
    let addr = rig.media.open(id).expect("open");
    rig.addrs.insert(id, addr);
    rig.media
        .configure(id, params(phone.local_addr().expect("addr"), codec));
    addr
}

fn tmp(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switchyard-media-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn sine(freq: f32, samples: usize, amp: f32) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            (amp * (std::f32::consts::TAU * freq * i as f32 / SAMPLE_RATE as f32).sin()) as i16
        })
        .collect()
}

/// Writes a mono 16-bit 8 kHz WAV file.
fn write_wav(path: &Path, pcm: &[i16]) {
    let data = pcm.len() as u32 * 2;
    let mut f = Vec::new();
    f.extend_from_slice(b"RIFF");
    f.extend_from_slice(&(36 + data).to_le_bytes());
    f.extend_from_slice(b"WAVEfmt ");
    f.extend_from_slice(&16u32.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes());
    f.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    f.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&16u16.to_le_bytes());
    f.extend_from_slice(b"data");
    f.extend_from_slice(&data.to_le_bytes());
    for s in pcm {
        f.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, f).expect("write wav");
}

/// Sends one RTP packet.
fn send_rtp(
    phone: &UdpSocket,
    to: SocketAddr,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: &[u8],
) {
    let mut pkt = vec![0u8; 12 + payload.len()];
    write_header(&mut pkt, marker, pt, seq, ts, 0xABCD_0001).expect("header");
    pkt[12..].copy_from_slice(payload);
    phone.send_to(&pkt, to).expect("send");
}

/// A phone's outgoing audio stream.
struct Talker {
    seq: u16,
    ts: u32,
    codec: CodecKind,
    pt: u8,
}

impl Talker {
    fn new(codec: CodecKind) -> Self {
        Talker {
            seq: 100,
            ts: 8000,
            codec,
            pt: if codec == CodecKind::Pcma { PCMA } else { PCMU },
        }
    }

    fn frame(&mut self, phone: &UdpSocket, to: SocketAddr, pcm: &[i16]) {
        let mut payload = vec![0u8; pcm.len()];
        self.codec.encode(pcm, &mut payload).expect("encode");
        send_rtp(phone, to, self.pt, self.seq, self.ts, false, &payload);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(pcm.len() as u32);
    }

    /// Sends `frames` 20 ms frames of a tone, `pace` apart.
    fn tone(
        &mut self,
        phone: &UdpSocket,
        to: SocketAddr,
        freq: f32,
        frames: usize,
        pace: Duration,
    ) {
        let pcm = sine(freq, 160 * frames, 8000.0);
        for f in pcm.chunks(160) {
            self.frame(phone, to, f);
            if !pace.is_zero() {
                std::thread::sleep(pace);
            }
        }
    }
}

/// A received RTP packet.
struct Rx {
    h: FixedHeader,
    payload: Vec<u8>,
    at: Instant,
}

fn recv(phone: &UdpSocket) -> Option<Rx> {
    let mut buf = [0u8; 2048];
    let (n, _) = phone.recv_from(&mut buf).ok()?;
    Some(Rx {
        h: FixedHeader::read(&buf[..n])?,
        payload: buf[12..n].to_vec(),
        at: Instant::now(),
    })
}

/// Everything a phone receives for `d`.
fn collect(phone: &UdpSocket, d: Duration) -> Vec<Rx> {
    let end = Instant::now() + d;
    let mut out = Vec::new();
    while Instant::now() < end {
        if let Some(r) = recv(phone) {
            out.push(r);
        }
    }
    out
}

/// Receives until `enough` says so (or `limit` passes: the machine may be loaded).
fn collect_until(phone: &UdpSocket, limit: Duration, enough: impl Fn(&[Rx]) -> bool) -> Vec<Rx> {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    while Instant::now() < end && !enough(&out) {
        out.extend(recv(phone));
    }
    out
}

fn decode(pkts: &[Rx], pt: u8) -> Vec<i16> {
    let codec = if pt == PCMA {
        CodecKind::Pcma
    } else {
        CodecKind::Pcmu
    };
    let mut pcm = Vec::new();
    for p in pkts.iter().filter(|p| p.h.payload_type == pt) {
        let mut f = vec![0i16; p.payload.len()];
        codec.decode(&p.payload, &mut f).expect("decode");
        pcm.extend_from_slice(&f);
    }
    pcm
}

/// Waits for an event matching `want`, returning the events seen before it too.
fn wait_for(
    rig: &Rig,
    d: Duration,
    mut want: impl FnMut(&MediaEvent) -> bool,
) -> (Option<MediaEvent>, Vec<MediaEvent>) {
    let end = Instant::now() + d;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rig.events.recv_timeout(left) {
            Ok(e) if want(&e) => return (Some(e), seen),
            Ok(e) => seen.push(e),
            Err(_) => break,
        }
    }
    (None, seen)
}

fn events_for(rig: &Rig, d: Duration) -> Vec<MediaEvent> {
    wait_for(rig, d, |_| false).1
}

/// Lets the leg learn the phone as its source (four packets in a row).
fn learn(talker: &mut Talker, phone: &UdpSocket, to: SocketAddr) {
    for _ in 0..5 {
        talker.frame(phone, to, &[0; 160]);
    }
}

fn telephone_event(
    phone: &UdpSocket,
    to: SocketAddr,
    seq: &mut u16,
    ts: u32,
    digit: char,
    end_copies: usize,
) {
    let ev = DtmfDigit::from_char(digit).expect("digit").event();
    for (i, dur) in [160u16, 320, 480].into_iter().enumerate() {
        send_rtp(
            phone,
            to,
            TE,
            *seq,
            ts,
            i == 0,
            &[ev, 10, (dur >> 8) as u8, dur as u8],
        );
        *seq = seq.wrapping_add(1);
    }
    for _ in 0..end_copies {
        send_rtp(phone, to, TE, *seq, ts, false, &[ev, 0x80 | 10, 0x02, 0x80]);
        *seq = seq.wrapping_add(1);
    }
}

#[test]
fn plays_a_prompt_as_paced_pcmu_and_reports_done() {
    let mut rig = rig(Duration::from_secs(60));
    let file = tmp("tone.wav");
    let prompt = sine(600.0, 8000 / 2, 6000.0); // 0.5 s
    write_wav(&file, &prompt);
    let files: Vec<Arc<Path>> = vec![Arc::from(file.as_path())];
    rig.media.preload(&files).expect("preload");
    let a = phone();
    leg(&mut rig, 1, &a, CodecKind::Pcmu);
    rig.media.play(1, 7, files, false, false);
    // Receive while it plays, until it is reported done (each tick sends one frame and
    // advances the player by one: 25 frames for 0.5 s, however loaded the machine).
    let mut pkts = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    let done = loop {
        pkts.extend(recv(&a));
        if let Ok(e) = rig.events.try_recv() {
            break Some(e);
        }
        if Instant::now() > end {
            break None;
        }
    };
    assert_eq!(done, Some(MediaEvent::PlaybackDone { leg: 1, id: 7 }));
    pkts.extend(collect(&a, Duration::from_millis(60)));
    assert!(pkts.len() >= 25, "{} packets", pkts.len());
    assert!(
        pkts.iter()
            .all(|p| p.h.payload_type == PCMU && p.payload.len() == 160)
    );
    assert!(pkts.iter().all(|p| p.h.ssrc == pkts[0].h.ssrc));
    for w in pkts.windows(2) {
        assert_eq!(w[1].h.sequence, w[0].h.sequence.wrapping_add(1));
        assert_eq!(w[1].h.timestamp, w[0].h.timestamp.wrapping_add(160));
    }
    // Paced, not burst: the packets span about their playing time.
    let span = pkts.last().expect("some").at - pkts[0].at;
    let expect = Duration::from_millis(20 * (pkts.len() as u64 - 1));
    assert!(span > expect / 2, "{span:?} for {} packets", pkts.len());
    // The audio is the prompt: the non-silent part has its level and frequency.
    let pcm = decode(&pkts, PCMU);
    let voiced: Vec<i16> = pcm
        .chunks(160)
        .filter(|f| rms(f) > 100.0)
        .flatten()
        .copied()
        .collect();
    assert!(voiced.len() >= 160 * 24, "{} voiced samples", voiced.len());
    let ratio = rms(&voiced) / rms(&prompt);
    assert!((0.9..1.1).contains(&ratio), "level ratio {ratio}");
    let at = tone_amplitude(&voiced, 600.0, SAMPLE_RATE);
    let off = tone_amplitude(&voiced, 900.0, SAMPLE_RATE);
    assert!(at > 10.0 * off, "600 Hz {at} vs 900 Hz {off}");
    rig.media.shutdown();
}

#[test]
fn music_on_hold_loops_without_playback_done() {
    let mut rig = rig(Duration::from_secs(60));
    let file = tmp("moh.wav");
    write_wav(&file, &sine(400.0, 1600, 6000.0)); // 0.2 s
    let a = phone();
    leg(&mut rig, 1, &a, CodecKind::Pcmu);
    rig.media
        .play(1, 3, vec![Arc::from(file.as_path())], true, false);
    let _ = collect(&a, Duration::from_millis(100));
    let pkts = collect(&a, Duration::from_millis(800));
    let events = events_for(&rig, Duration::from_millis(50));
    assert!(events.is_empty(), "{events:?}");
    assert!(pkts.len() >= 5, "{} packets", pkts.len());
    let pcm = decode(&pkts, PCMU);
    let loud = pcm.chunks(160).filter(|f| rms(f) > 1000.0).count();
    assert!(loud * 10 >= pkts.len() * 9, "{loud} of {}", pkts.len());
    rig.media.stop(1);
    let (done, _) = wait_for(&rig, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::PlaybackDone { .. })
    });
    assert_eq!(done, Some(MediaEvent::PlaybackDone { leg: 1, id: 3 }));
}

#[test]
fn rfc4733_reports_each_press_once_and_barges_in() {
    let mut rig = rig(Duration::from_secs(60));
    let file = tmp("menu.wav");
    write_wav(&file, &sine(500.0, 8000 * 5, 6000.0));
    let a = phone();
    let to = leg(&mut rig, 1, &a, CodecKind::Pcmu);
    rig.media
        .play(1, 9, vec![Arc::from(file.as_path())], false, true);
    let mut t = Talker::new(CodecKind::Pcmu);
    learn(&mut t, &a, to);
    let mut seq = t.seq;
    telephone_event(&a, to, &mut seq, 40_000, '5', 3);
    // The same key again is a new press (new timestamp); a lost end packet is harmless.
    telephone_event(&a, to, &mut seq, 42_000, '5', 1);
    telephone_event(&a, to, &mut seq, 44_000, '#', 3);
    let events = events_for(&rig, Duration::from_millis(500));
    let keys: Vec<char> = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { leg: 1, digit } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(keys, ['5', '5', '#']);
    let done: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, MediaEvent::PlaybackDone { .. }))
        .collect();
    assert_eq!(done, [&MediaEvent::PlaybackDone { leg: 1, id: 9 }]);
}

fn inband_keys(inband: bool) -> Vec<char> {
    let mut rig = rig(Duration::from_secs(60));
    let a = phone();
    let to = rig.media.open(1).expect("open");
    rig.media.configure(
        1,
        LegParams {
            dtmf_payload_type: None,
            inband_dtmf: inband,
            ..params(a.local_addr().expect("addr"), CodecKind::Pcmu)
        },
    );
    let mut t = Talker::new(CodecKind::Pcmu);
    learn(&mut t, &a, to);
    for digit in ['7', '0'] {
        let mut g = DtmfGenerator::new(
            DtmfDigit::from_char(digit).expect("digit"),
            SAMPLE_RATE,
            800,
            800,
            6000,
        );
        let mut f = [0i16; 160];
        while !g.is_done() {
            g.fill(&mut f);
            t.frame(&a, to, &f);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    events_for(&rig, Duration::from_millis(400))
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, .. } => Some(digit),
            _ => None,
        })
        .collect()
}

#[test]
fn inband_dtmf_is_detected_only_when_asked() {
    assert_eq!(inband_keys(true), ['7', '0']);
    assert_eq!(inband_keys(false), Vec::<char>::new());
}

/// Two bridged phones; returns the rig, the phones and the legs' addresses.
fn bridged(codec_b: CodecKind) -> (Rig, [UdpSocket; 2], [SocketAddr; 2]) {
    let mut rig = rig(Duration::from_secs(60));
    let (a, b) = (phone(), phone());
    let ta = leg(&mut rig, 1, &a, CodecKind::Pcmu);
    let tb = leg(&mut rig, 2, &b, codec_b);
    rig.media.bridge(1, 2);
    (rig, [a, b], [ta, tb])
}

fn bridge_carries_tones(codec_b: CodecKind) {
    let (_rig, [a, b], [ta, tb]) = bridged(codec_b);
    let pt_b = if codec_b == CodecKind::Pcma {
        PCMA
    } else {
        PCMU
    };
    std::thread::sleep(Duration::from_millis(50));
    let _ = collect(&b, Duration::from_millis(30));
    let _ = collect(&a, Duration::from_millis(30));
    let mut talk_a = Talker::new(CodecKind::Pcmu);
    let mut talk_b = Talker::new(codec_b);
    talk_a.tone(&a, ta, 1000.0, 25, Duration::ZERO);
    talk_b.tone(&b, tb, 1600.0, 25, Duration::ZERO);
    let at_b = collect(&b, Duration::from_millis(300));
    let at_a = collect(&a, Duration::from_millis(100));
    assert!(
        at_b.iter().all(|p| p.h.payload_type == pt_b),
        "payload type at B"
    );
    let pcm_b = decode(&at_b, pt_b);
    let pcm_a = decode(&at_a, PCMU);
    assert!(pcm_b.len() >= 160 * 20, "{} samples at B", pcm_b.len());
    assert!(pcm_a.len() >= 160 * 20, "{} samples at A", pcm_a.len());
    let (b1k, b16) = (
        tone_amplitude(&pcm_b, 1000.0, SAMPLE_RATE),
        tone_amplitude(&pcm_b, 1600.0, SAMPLE_RATE),
    );
    assert!(
        b1k > 2000.0 && b1k > 20.0 * b16,
        "at B: 1 kHz {b1k}, 1.6 kHz {b16}"
    );
    let (a1k, a16) = (
        tone_amplitude(&pcm_a, 1000.0, SAMPLE_RATE),
        tone_amplitude(&pcm_a, 1600.0, SAMPLE_RATE),
    );
    assert!(
        a16 > 2000.0 && a16 > 20.0 * a1k,
        "at A: 1 kHz {a1k}, 1.6 kHz {a16}"
    );
}

#[test]
fn bridge_relays_audio_both_ways() {
    bridge_carries_tones(CodecKind::Pcmu);
}

#[test]
fn bridge_transcodes_pcmu_and_pcma() {
    bridge_carries_tones(CodecKind::Pcma);
}

#[test]
fn one_continuous_stream_from_prompt_to_bridge() {
    let mut rig = rig(Duration::from_secs(60));
    let file = tmp("ring.wav");
    write_wav(&file, &sine(500.0, 8000, 6000.0));
    let (a, b) = (phone(), phone());
    let ta = leg(&mut rig, 1, &a, CodecKind::Pcmu);
    leg(&mut rig, 2, &b, CodecKind::Pcmu);
    rig.media
        .play(2, 1, vec![Arc::from(file.as_path())], false, false);
    let limit = Duration::from_secs(3);
    let mut pkts = collect_until(&b, limit, |p| p.len() >= 5);
    rig.media.bridge(1, 2);
    std::thread::sleep(Duration::from_millis(20));
    let mut t = Talker::new(CodecKind::Pcmu);
    t.seq = 60_000;
    t.tone(&a, ta, 1000.0, 10, Duration::from_millis(5));
    let is_tone =
        |p: &Rx| tone_amplitude(&decode(std::slice::from_ref(p), PCMU), 1000.0, 8000) > 1000.0;
    // Ten sent from the signalled address: all used, even while learning it.
    pkts.extend(collect_until(&b, limit, |p| {
        p.iter().filter(|p| is_tone(p)).count() >= 10
    }));
    rig.media.unbridge(1);
    pkts.extend(collect_until(&b, limit, |p| p.len() >= 5));
    let relayed = pkts.iter().filter(|p| is_tone(p)).count();
    assert_eq!(relayed, 10, "relayed packets");
    assert!(pkts.len() >= 20, "{} packets", pkts.len());
    assert!(pkts.iter().all(|p| p.h.ssrc == pkts[0].h.ssrc), "one SSRC");
    for w in pkts.windows(2) {
        assert_eq!(w[1].h.sequence, w[0].h.sequence.wrapping_add(1), "sequence");
        let step = w[1].h.timestamp.wrapping_sub(w[0].h.timestamp);
        assert!(step < 8000, "timestamp step {step}");
    }
}

#[test]
fn bridge_maps_telephone_event_and_reports_keys() {
    let mut rig = rig(Duration::from_secs(60));
    let (a, b) = (phone(), phone());
    let ta = leg(&mut rig, 1, &a, CodecKind::Pcmu);
    rig.media.open(2).expect("open");
    rig.media.configure(
        2,
        LegParams {
            dtmf_payload_type: Some(96),
            ..params(b.local_addr().expect("addr"), CodecKind::Pcmu)
        },
    );
    rig.media.bridge(1, 2);
    let mut t = Talker::new(CodecKind::Pcmu);
    learn(&mut t, &a, ta);
    let mut seq = t.seq;
    telephone_event(&a, ta, &mut seq, 50_000, '9', 3);
    let pkts = collect(&b, Duration::from_millis(200));
    assert_eq!(pkts.iter().filter(|p| p.h.payload_type == 96).count(), 6);
    let (ev, _) = wait_for(&rig, Duration::from_millis(300), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    });
    assert_eq!(ev, Some(MediaEvent::Dtmf { leg: 1, digit: '9' }));
}

#[test]
fn media_follows_a_phone_behind_nat_once_learned() {
    let mut rig = rig(Duration::from_secs(60));
    let (signalled, nat) = (phone(), phone());
    let to = leg(&mut rig, 1, &signalled, CodecKind::Pcmu);
    assert!(!collect_until(&signalled, Duration::from_secs(2), |p| !p.is_empty()).is_empty());
    let mut t = Talker::new(CodecKind::Pcmu);
    learn(&mut t, &nat, to);
    let at_nat = collect_until(&nat, Duration::from_secs(2), |p| p.len() >= 3);
    assert!(at_nat.len() >= 3, "symmetric RTP: {} packets", at_nat.len());
    let _ = collect(&signalled, Duration::from_millis(60));
    assert!(collect(&signalled, Duration::from_millis(100)).is_empty());
}

#[test]
fn packets_from_another_source_are_dropped_after_learning() {
    let (_rig, [a, b], [ta, _]) = bridged(CodecKind::Pcmu);
    let intruder = phone();
    let mut talk_a = Talker::new(CodecKind::Pcmu);
    let mut talk_x = Talker::new(CodecKind::Pcmu);
    talk_a.tone(&a, ta, 1000.0, 10, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(20));
    talk_x.tone(&intruder, ta, 2400.0, 10, Duration::ZERO);
    let pcm = decode(&collect(&b, Duration::from_millis(300)), PCMU);
    assert!(tone_amplitude(&pcm, 1000.0, SAMPLE_RATE) > 1000.0);
    assert!(tone_amplitude(&pcm, 2400.0, SAMPLE_RATE) < 50.0);
}

/// Reads a 16-bit WAV written by the recorder: (channels, samples interleaved).
fn read_wav(path: &Path) -> (u16, Vec<i16>) {
    let bytes = std::fs::read(path).expect("read recording");
    assert_eq!(&bytes[..4], b"RIFF");
    let channels = u16::from_le_bytes([bytes[22], bytes[23]]);
    let data_len = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]) as usize;
    assert_eq!(data_len, bytes.len() - 44, "header fixed on close");
    let pcm = bytes[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    (channels, pcm)
}

#[test]
fn records_a_bridge_in_stereo() {
    let (mut rig, [a, b], [ta, tb]) = bridged(CodecKind::Pcmu);
    let path = tmp("call.wav");
    rig.media.record(1, path.clone(), RecordMode::Stereo, None);
    let mut talk_a = Talker::new(CodecKind::Pcmu);
    let mut talk_b = Talker::new(CodecKind::Pcmu);
    let pa = sine(1000.0, 160 * 40, 8000.0);
    let pb = sine(1600.0, 160 * 40, 8000.0);
    for (fa, fb) in pa.chunks(160).zip(pb.chunks(160)) {
        talk_a.frame(&a, ta, fa);
        talk_b.frame(&b, tb, fb);
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.media.stop_recording(1);
    let (done, _) = wait_for(&rig, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::RecordingDone { .. })
    });
    let Some(MediaEvent::RecordingDone {
        leg,
        path: p,
        duration,
    }) = done
    else {
        panic!("no RecordingDone");
    };
    assert_eq!((leg, &p), (1, &path));
    // 800 ms were sent; a loaded machine may lose ticks.
    assert!(duration >= Duration::from_millis(200), "{duration:?}");
    let (channels, pcm) = read_wav(&path);
    assert_eq!(channels, 2);
    let left: Vec<i16> = pcm.iter().step_by(2).copied().collect();
    let right: Vec<i16> = pcm.iter().skip(1).step_by(2).copied().collect();
    let (l1k, l16) = (
        tone_amplitude(&left, 1000.0, SAMPLE_RATE),
        tone_amplitude(&left, 1600.0, SAMPLE_RATE),
    );
    let (r1k, r16) = (
        tone_amplitude(&right, 1000.0, SAMPLE_RATE),
        tone_amplitude(&right, 1600.0, SAMPLE_RATE),
    );
    assert!(l1k > 10.0 * l16 && l1k > 1000.0, "left 1k {l1k} 1.6k {l16}");
    assert!(
        r16 > 10.0 * r1k && r16 > 1000.0,
        "right 1k {r1k} 1.6k {r16}"
    );
}

#[test]
fn recording_stops_at_its_maximum_and_on_close() {
    let mut rig = rig(Duration::from_secs(60));
    let a = phone();
    leg(&mut rig, 1, &a, CodecKind::Pcmu);
    let path = tmp("vm.wav");
    rig.media.record(
        1,
        path.clone(),
        RecordMode::Leg,
        Some(Duration::from_millis(300)),
    );
    let (done, _) = wait_for(&rig, Duration::from_secs(2), |e| {
        matches!(e, MediaEvent::RecordingDone { .. })
    });
    let Some(MediaEvent::RecordingDone { duration, .. }) = done else {
        panic!("no RecordingDone");
    };
    assert_eq!(duration, Duration::from_millis(300));
    assert_eq!(read_wav(&path), (1, vec![0; 2400]));
    let other = tmp("cut.wav");
    rig.media.record(1, other.clone(), RecordMode::Leg, None);
    std::thread::sleep(Duration::from_millis(100));
    rig.media.close(1);
    let (done, _) = wait_for(&rig, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::RecordingDone { .. })
    });
    assert!(matches!(done, Some(MediaEvent::RecordingDone { path, .. }) if path == other));
    assert_eq!(read_wav(&other).0, 1);
}

#[test]
fn inactivity_is_reported_but_not_on_hold() {
    let mut rig = rig(Duration::from_millis(300));
    let (a, b) = (phone(), phone());
    leg(&mut rig, 1, &a, CodecKind::Pcmu);
    let addr = rig.media.open(2).expect("open");
    rig.addrs.insert(2, addr);
    rig.media.configure(
        2,
        LegParams {
            send: false,
            ..params(b.local_addr().expect("addr"), CodecKind::Pcmu)
        },
    );
    let events = events_for(&rig, Duration::from_millis(800));
    assert_eq!(events, [MediaEvent::Inactive { leg: 1 }]);
    // On hold nothing is sent to the leg either, but what it sends is still received.
    assert!(collect(&b, Duration::from_millis(100)).is_empty());
    assert!(!collect(&a, Duration::from_millis(100)).is_empty());
    let mut seq = 1;
    telephone_event(&b, rig.media_addr(2), &mut seq, 1000, '4', 3);
    let (ev, _) = wait_for(&rig, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    });
    assert_eq!(ev, Some(MediaEvent::Dtmf { leg: 2, digit: '4' }));
}

#[test]
fn beep_is_a_short_1khz_tone() {
    let mut rig = rig(Duration::from_secs(60));
    let a = phone();
    leg(&mut rig, 1, &a, CodecKind::Pcmu);
    let _ = collect_until(&a, Duration::from_secs(2), |p| !p.is_empty());
    rig.media.tone(1, Tone::Beep);
    let pkts = collect_until(&a, Duration::from_secs(3), |p| p.len() >= 40);
    let pcm = decode(&pkts, PCMU);
    let frames: Vec<bool> = pcm
        .chunks(160)
        .map(|f| tone_amplitude(f, 1000.0, SAMPLE_RATE) > 1000.0)
        .collect();
    let beeping = frames.iter().filter(|b| **b).count();
    // 250 ms: 12 or 13 frames (one may straddle the command), then silence.
    assert!(
        (12..=14).contains(&beeping),
        "{beeping} frames of beep: {frames:?}"
    );
    assert!(!frames[frames.len() - 10..].iter().any(|b| *b));
}

#[test]
fn send_dtmf_sends_a_telephone_event_with_three_end_packets() {
    let mut rig = rig(Duration::from_secs(60));
    let a = phone();
    leg(&mut rig, 1, &a, CodecKind::Pcmu);
    rig.media.send_dtmf(1, '3');
    let ends = |p: &[Rx]| {
        p.iter()
            .filter(|p| p.h.payload_type == TE && p.payload[1] & 0x80 != 0)
            .count()
    };
    let mut pkts = collect_until(&a, Duration::from_secs(3), |p| ends(p) >= 3);
    pkts.extend(collect(&a, Duration::from_millis(60)));
    let te: Vec<&Rx> = pkts.iter().filter(|p| p.h.payload_type == TE).collect();
    assert!(te.len() >= 5, "{} event packets", te.len());
    assert!(te.iter().all(|p| p.payload[0] == 3));
    assert!(te.iter().all(|p| p.h.timestamp == te[0].h.timestamp));
    assert!(te[0].h.marker);
    assert_eq!(te.iter().filter(|p| p.payload[1] & 0x80 != 0).count(), 3);
}

#[test]
fn send_dtmf_on_a_bridged_leg_keeps_the_event_whole() {
    let (mut rig, [a, b], [ta, _]) = bridged(CodecKind::Pcmu);
    let talker = std::thread::spawn(move || {
        let mut t = Talker::new(CodecKind::Pcmu);
        t.tone(&a, ta, 1000.0, 30, Duration::from_millis(10));
    });
    std::thread::sleep(Duration::from_millis(60));
    rig.media.send_dtmf(2, '8');
    let ends = |p: &[Rx]| {
        p.iter()
            .filter(|p| p.h.payload_type == TE && p.payload[1] & 0x80 != 0)
            .count()
    };
    let pkts = collect_until(&b, Duration::from_secs(3), |p| ends(p) >= 3);
    talker.join().expect("talker");
    let te: Vec<&Rx> = pkts.iter().filter(|p| p.h.payload_type == TE).collect();
    assert!(te.len() >= 5, "{} event packets", te.len());
    assert!(te.iter().all(|p| p.payload[0] == 8));
    assert!(
        te.iter().all(|p| p.h.timestamp == te[0].h.timestamp),
        "one event, one timestamp"
    );
    assert!(pkts.iter().all(|p| p.h.ssrc == pkts[0].h.ssrc), "one SSRC");
}

#[test]
fn an_announcement_to_a_bridged_leg_replaces_the_peer_until_done() {
    let (mut rig, [a, b], [ta, _]) = bridged(CodecKind::Pcmu);
    let file = tmp("announce.wav");
    write_wav(&file, &sine(500.0, 8000 * 3 / 10, 6000.0)); // 0.3 s
    rig.media
        .play(2, 5, vec![Arc::from(file.as_path())], false, false);
    let talker = std::thread::spawn(move || {
        let mut t = Talker::new(CodecKind::Pcmu);
        t.tone(&a, ta, 1000.0, 60, Duration::from_millis(15));
    });
    let (done, _) = wait_for(&rig, Duration::from_secs(5), |e| {
        matches!(e, MediaEvent::PlaybackDone { .. })
    });
    assert_eq!(done, Some(MediaEvent::PlaybackDone { leg: 2, id: 5 }));
    talker.join().expect("talker");
    let pkts = collect(&b, Duration::from_millis(300));
    // Each packet is either the announcement or the peer, and the peer only after it.
    let kinds: Vec<char> = pkts
        .iter()
        .map(|p| {
            let pcm = decode(std::slice::from_ref(p), PCMU);
            match (
                tone_amplitude(&pcm, 500.0, SAMPLE_RATE) > 1000.0,
                tone_amplitude(&pcm, 1000.0, SAMPLE_RATE) > 1000.0,
            ) {
                (true, false) => 'a',
                (false, true) => 'p',
                (false, false) => '.',
                (true, true) => 'x',
            }
        })
        .collect();
    let kinds: String = kinds.into_iter().collect();
    let announced = kinds.matches('a').count();
    assert!((14..=16).contains(&announced), "{kinds}");
    let last_a = kinds.rfind('a').expect("announcement");
    assert!(
        !kinds[..last_a].contains('p'),
        "peer heard during it: {kinds}"
    );
    assert!(
        kinds[last_a..].matches('p').count() >= 5,
        "peer after it: {kinds}"
    );
    assert!(!kinds.contains('x'), "{kinds}");
}

#[test]
fn close_frees_the_port() {
    let mut rig = rig(Duration::from_secs(60));
    let addr = rig.media.open(1).expect("open");
    rig.media.open(2).expect("open");
    assert_eq!(rig.media.ports_in_use(), 2);
    assert!(rig.media.open(1).is_err());
    rig.media.close(1);
    rig.media.close(2);
    assert_eq!(rig.media.ports_in_use(), 0);
    // The socket itself is closed by the media thread shortly after.
    let end = Instant::now() + Duration::from_secs(1);
    while UdpSocket::bind(addr).is_err() {
        assert!(Instant::now() < end, "port {addr} still bound");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ports_come_from_the_configured_range() {
    let (tx, _rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    // An odd, narrow range: even ports only, RTCP's odd port reserved.
    let base = 40_700 + (std::process::id() % 100) as u16 * 2;
    let mut media = Media::start(
        MediaConfig {
            address: [127, 0, 0, 1].into(),
            port_min: base,
            port_max: base + 3,
            inactivity: Duration::from_secs(60),
            xdp: false,
        },
        Box::new(move |e| {
            let _ = tx.lock().expect("test channel").send(e);
        }),
    )
    .expect("media starts");
    let mut ports = Vec::new();
    for id in 0..2 {
        match media.open(id) {
            Ok(a) => ports.push(a.port()),
            Err(e) => panic!("open {id}: {e}"),
        }
    }
    assert!(
        ports
            .iter()
            .all(|p| p % 2 == 0 && (base..=base + 3).contains(p))
    );
    assert!(media.open(9).is_err(), "range exhausted");
    // Its port comes back once the media thread has closed the socket.
    media.close(0);
    let end = Instant::now() + Duration::from_secs(1);
    while media.open(9).is_err() {
        assert!(Instant::now() < end, "port not freed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn preload_names_a_missing_file() {
    let mut rig = rig(Duration::from_secs(60));
    let missing: Arc<Path> = Arc::from(Path::new("/nonexistent/welcome.wav"));
    let err = rig.media.preload(&[missing]).expect_err("missing file");
    assert!(
        format!("{err:#}").contains("/nonexistent/welcome.wav"),
        "{err:#}"
    );
}

#[test]
fn shipped_music_on_hold_does_not_look_like_dtmf() {
    use switchyard_media::dtmf::inband::{DetectorConfig, DtmfDetector};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
    for lang in ["en", "zh"] {
        let p = switchyard_media::player::decode::load_file(
            &root.join(lang).join("music_on_hold.wav"),
            SAMPLE_RATE,
        )
        .expect("music on hold decodes");
        let mut d = DtmfDetector::new(DetectorConfig::default());
        for _ in 0..3 {
            d.feed(p.samples());
        }
        assert_eq!(d.poll_digit(), None, "{lang}");
        assert!(p.duration() > Duration::from_secs(5));
    }
}

#[test]
fn a_leg_is_small() {
    use std::mem::size_of;
    let leg = size_of::<Option<super::leg::Leg>>();
    eprintln!(
        "Option<Leg> {leg} B; Player {} B; RtpStream {} B; OutboundRewriter {} B; \
         TelephoneEventReceiver {} B; TelephoneEventSender {} B; PlayerEvent {} B; \
         DtmfEvent {} B; StreamEvent {} B; PlaylistItem {} B; Recording {} B; DtmfDetector {} B; \
         ToneGenerator {} B",
        size_of::<switchyard_media::player::Player>(),
        size_of::<switchyard_media::stream::RtpStream>(),
        size_of::<switchyard_media::relay::OutboundRewriter>(),
        size_of::<switchyard_media::dtmf::rfc4733::TelephoneEventReceiver>(),
        size_of::<switchyard_media::dtmf::rfc4733::TelephoneEventSender>(),
        size_of::<switchyard_media::player::PlayerEvent>(),
        size_of::<switchyard_media::dtmf::rfc4733::DtmfEvent>(),
        size_of::<switchyard_media::stream::StreamEvent>(),
        size_of::<switchyard_media::player::PlaylistItem>(),
        size_of::<super::record::Recording>(),
        size_of::<switchyard_media::dtmf::inband::DtmfDetector>(),
        size_of::<switchyard_media::tone::ToneGenerator>(),
    );
    // Big buffers live in the server (receive and send batches), never in a leg.
    assert!(leg < 1024, "{leg} bytes");
}

/// CPU time (user + system) of this process's thread named `name`.
fn thread_cpu(name: &str) -> Option<Duration> {
    let tick = 100; // USER_HZ on Linux
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = t.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the command's closing parenthesis: state is field 3, utime 14.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        let (u, s): (u64, u64) = (f[11].parse().ok()?, f[12].parse().ok()?);
        return Some(Duration::from_millis((u + s) * 1000 / tick));
    }
    None
}

/// Load figures for the benchmarks page: the media thread's CPU for IVR legs (a prompt
/// generated every 20 ms) and for bridged calls (the relay fast path), on loopback.
#[test]
#[ignore = "a measurement, not a check: cargo test -p switchyard --bin switchyard media_load -- --ignored --nocapture"]
fn media_load() {
    let calls: usize = std::env::var("MEDIA_LOAD_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    // MEDIA_LOAD_XDP=1: the legs on the AF_XDP path (root), ports 50000-59999.
    let xdp = std::env::var("MEDIA_LOAD_XDP").is_ok_and(|v| v == "1");
    let _lo = xdp.then(take_lo);
    XDP.with(|c| c.set(xdp));
    XDP_WIDE.with(|c| c.set(xdp));
    let secs = 5;
    let mut rig = rig(Duration::from_secs(60));
    let moh: Arc<Path> = Arc::from(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../prompts/en/music_on_hold.wav")
            .as_path(),
    );
    rig.media
        .preload(std::slice::from_ref(&moh))
        .expect("preload");
    let phones: Vec<UdpSocket> = (0..2 * calls).map(|_| phone()).collect();
    let mut addrs = Vec::new();
    for (i, p) in phones.iter().enumerate() {
        addrs.push(leg(&mut rig, i as LegId, p, CodecKind::Pcmu));
    }
    // Phase 1: every leg plays music on hold.
    for i in 0..2 * calls {
        rig.media
            .play(i as LegId, 1, vec![moh.clone()], true, false);
    }
    std::thread::sleep(Duration::from_millis(200));
    let c0 = thread_cpu("media").expect("media thread");
    std::thread::sleep(Duration::from_secs(secs));
    let ivr = thread_cpu("media").expect("media thread") - c0;
    // Phase 2: bridged in pairs, every phone talking; phase 3: the same, every call
    // recorded in stereo.
    for c in 0..calls {
        rig.media.bridge(2 * c as LegId, 2 * c as LegId + 1);
    }
    let mut talkers: Vec<Talker> = (0..2 * calls)
        .map(|_| Talker::new(CodecKind::Pcmu))
        .collect();
    let frame = sine(1000.0, 160, 6000.0);
    // Phones send at their own phase of the 20 ms frame, as real ones do: a twentieth of
    // them every millisecond.
    let mut talk = || {
        let start = Instant::now();
        let c1 = thread_cpu("media").expect("media thread");
        let mut n = 0u32;
        while start.elapsed() < Duration::from_secs(secs) {
            let phase = (n % 20) as usize;
            for (i, ((t, p), to)) in talkers.iter_mut().zip(&phones).zip(&addrs).enumerate() {
                if i % 20 == phase {
                    t.frame(p, *to, &frame);
                }
            }
            n += 1;
            let next = start + Duration::from_millis(u64::from(n));
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        thread_cpu("media").expect("media thread") - c1
    };
    let bridged = talk();
    let dir = tmp("load");
    for c in 0..calls {
        let path = dir.with_file_name(format!("call-{c}.wav"));
        rig.media
            .record(2 * c as LegId, path, RecordMode::Stereo, None);
    }
    let recorded = talk();
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / secs as f64;
    let per_packet = |d: Duration| d.as_secs_f64() * 1e6 / (2 * calls * 50) as f64 / secs as f64;
    eprintln!(
        "media_load{}: {} IVR legs: media thread {:.1}% of a core ({:.1} µs per leg-second); \
         {calls} bridged calls ({} packets/s in): {:.1}% of a core ({:.2} µs per packet); \
         recorded: {:.1}% of a core ({:.2} µs per packet)",
        if xdp { " (AF_XDP)" } else { "" },
        2 * calls,
        pct(ivr),
        ivr.as_secs_f64() * 1e6 / (2 * calls) as f64 / secs as f64,
        2 * calls * 50,
        pct(bridged),
        per_packet(bridged),
        pct(recorded),
        per_packet(recorded),
    );
    for c in 0..calls {
        rig.media.stop_recording(2 * c as LegId);
    }
    drop(rig);
    let _ = std::fs::remove_dir_all(dir.parent().expect("tmp dir"));
}

// --- receiving without io_uring: the same behaviour ---

#[test]
fn polling_plays_a_prompt() {
    polling(plays_a_prompt_as_paced_pcmu_and_reports_done);
}

#[test]
fn polling_relays_a_bridge() {
    polling(bridge_relays_audio_both_ways);
}

#[test]
fn polling_reports_keys() {
    polling(rfc4733_reports_each_press_once_and_barges_in);
}

#[test]
fn polling_records_a_bridge() {
    polling(records_a_bridge_in_stereo);
}

#[test]
fn polling_frees_the_port() {
    polling(close_frees_the_port);
}

// --- the media thread's loop, driven on the test's thread ---

/// A media server run a wake-up at a time by the test.
struct Driven {
    server: Server,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<MediaEvent>,
    _waker: std::os::unix::net::UnixDatagram,
}

impl Driven {
    fn new(io_uring: bool) -> Self {
        Self::with(io_uring, None)
    }

    /// A media server on the AF_XDP path for the ports in `xdp`'s range.
    fn with(io_uring: bool, xdp: Option<&MediaConfig>) -> Self {
        let (waker, wake_rx) = std::os::unix::net::UnixDatagram::pair().expect("socket pair");
        wake_rx.set_nonblocking(true).expect("nonblocking");
        let mut receive = server::Receive::new(io_uring, &wake_rx).expect("receive");
        let xdp = xdp.map(|c| server::Xdp::attach(c, &mut receive).expect("AF_XDP attaches"));
        assert!(
            !io_uring || receive.is_ring() || switchyard_media::net::RxRing::new(4).is_err(),
            "io_uring is there but not used"
        );
        let (commands, rx) = mpsc::channel();
        let (tx, events) = mpsc::channel();
        let (freed, _) = mpsc::channel();
        let server = Server::new(
            receive,
            xdp,
            Arc::default(),
            wake_rx,
            rx,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
            Box::new(move |e| {
                let _ = tx.send(e);
            }),
            freed,
            Duration::from_secs(60),
        );
        Driven {
            server,
            commands,
            events,
            _waker: waker,
        }
    }

    fn send(&self, c: Command) {
        self.commands.send(c).expect("server alive");
    }

    /// Opens a leg; configured for `phone` unless `configure` is false.
    fn open(&mut self, leg: LegId, phone: &UdpSocket, configure: bool) -> SocketAddr {
        self.open_in(leg, phone, configure, (0, 0))
    }

    /// Opens a leg on the first free even port of `range` (`(0, 0)`: the system's
    /// choice).
    fn open_in(
        &mut self,
        leg: LegId,
        phone: &UdpSocket,
        configure: bool,
        (min, max): (u16, u16),
    ) -> SocketAddr {
        let (socket, port) = (min..=max)
            .step_by(2)
            .find_map(|p| Some((UdpSocket::bind(("127.0.0.1", p)).ok()?, p)))
            .expect("a free port");
        socket.set_nonblocking(true).expect("nonblocking");
        let addr = socket.local_addr().expect("addr");
        self.send(Command::Open { leg, socket, port });
        if configure {
            self.send(Command::Configure {
                leg,
                params: params(phone.local_addr().expect("addr"), CodecKind::Pcmu),
            });
        }
        addr
    }

    fn turn(&mut self) {
        self.server.run_once().expect("wait");
    }

    /// Turns until `done` says so (or two seconds pass: the machine may be loaded).
    fn turn_until(&mut self, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            self.turn();
            if done(self) {
                return true;
            }
        }
        false
    }
}

#[test]
fn only_legs_that_generate_send_keys_or_record_are_paced() {
    let mut d = Driven::new(true);
    let (a, b) = (phone(), phone());
    d.open(1, &a, true);
    d.open(2, &b, true);
    d.turn();
    assert_eq!(d.server.paced_legs(), 2, "unbridged legs send silence");
    d.send(Command::Bridge { a: 1, b: 2 });
    d.turn();
    assert_eq!(d.server.paced_legs(), 0, "a bridge only relays");
    let ticks = d.server.stats().ticks;
    for _ in 0..20 {
        d.turn();
    }
    assert_eq!(d.server.stats().ticks, ticks, "no tick for a plain bridge");

    let path = tmp("paced.wav");
    d.send(Command::Record {
        leg: 1,
        path,
        mode: RecordMode::Stereo,
        max: None,
    });
    d.turn();
    assert_eq!(
        d.server.paced_legs(),
        1,
        "a recording takes a frame per tick"
    );
    d.send(Command::StopRecording { leg: 1 });
    d.turn();
    assert_eq!(d.server.paced_legs(), 0);

    // An announcement to a bridged leg: paced while it plays, not after.
    let file = tmp("short.wav");
    write_wav(&file, &sine(500.0, 800, 6000.0)); // 0.1 s
    let prompt = switchyard_media::player::PromptCache::new()
        .load(&file, SAMPLE_RATE)
        .expect("prompt");
    d.send(Command::Play {
        leg: 2,
        id: 9,
        items: vec![PlaylistItem::Prompt(prompt)],
        looped: false,
        barge_in: false,
    });
    d.turn();
    assert_eq!(d.server.paced_legs(), 1, "an announcement is generated");
    let mut done = false;
    assert!(d.turn_until(|d| {
        done |= d
            .events
            .try_iter()
            .any(|e| e == MediaEvent::PlaybackDone { leg: 2, id: 9 });
        done && d.server.paced_legs() == 0
    }));

    // A key sent to a bridged leg: paced until its last end packet.
    d.send(Command::SendDtmf { leg: 1, digit: '5' });
    d.turn();
    assert_eq!(d.server.paced_legs(), 1, "a key is sent at the tick");
    assert!(d.turn_until(|d| d.server.paced_legs() == 0));
    let ends = collect(&a, Duration::from_millis(100))
        .iter()
        .filter(|p| p.h.payload_type == TE && p.payload[1] & 0x80 != 0)
        .count();
    assert_eq!(ends, 3, "the key went out whole");

    // Apart again, both legs send silence.
    d.send(Command::Unbridge { leg: 1 });
    d.turn();
    assert_eq!(d.server.paced_legs(), 2);
    d.send(Command::Close { leg: 1 });
    d.turn();
    assert_eq!(d.server.paced_legs(), 1);
}

fn a_configure_applies_to_the_datagrams_that_follow_it(io_uring: bool) {
    let mut d = Driven::new(io_uring);
    let (a, b) = (phone(), phone());
    let ta = d.open(1, &a, false);
    d.open(2, &b, true);
    d.send(Command::Bridge { a: 1, b: 2 });
    d.turn();
    let _ = collect(&b, Duration::from_millis(60));
    // Leg 1's SDP answer reaches the media thread as a command, and the phone's first
    // packet right after it; the thread sees both in the same wake-up.
    d.send(Command::Configure {
        leg: 1,
        params: params(a.local_addr().expect("addr"), CodecKind::Pcmu),
    });
    let mut talker = Talker::new(CodecKind::Pcmu);
    talker.tone(&a, ta, 1000.0, 1, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(20));
    d.turn();
    let relayed = collect(&b, Duration::from_millis(60));
    assert_eq!(
        relayed.iter().filter(|p| p.h.payload_type == PCMU).count(),
        1,
        "the packet was relayed, not dropped as if the leg had no parameters"
    );
}

#[test]
fn a_configure_applies_to_the_datagrams_that_follow_it_on_the_ring() {
    a_configure_applies_to_the_datagrams_that_follow_it(true);
}

#[test]
fn a_configure_applies_to_the_datagrams_that_follow_it_when_polling() {
    a_configure_applies_to_the_datagrams_that_follow_it(false);
}

#[test]
fn one_wake_up_takes_every_datagram_that_arrived() {
    let mut d = Driven::new(true);
    let (a, b) = (phone(), phone());
    let ta = d.open(1, &a, true);
    d.open(2, &b, true);
    d.send(Command::Bridge { a: 1, b: 2 });
    d.turn();
    let before = d.server.stats();
    let mut talker = Talker::new(CodecKind::Pcmu);
    talker.tone(&a, ta, 1000.0, 40, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(20));
    d.turn();
    let after = d.server.stats();
    assert_eq!(after.wakeups - before.wakeups, 1);
    assert_eq!(after.received - before.received, 40);
    let relayed = collect(&b, Duration::from_millis(100));
    assert_eq!(
        relayed.iter().filter(|p| p.h.payload_type == PCMU).count(),
        40
    );
}

#[test]
fn keys_sent_after_a_quiet_bridge_are_stamped_at_real_time() {
    // The bridged leg is not paced while nothing is generated for it; its generator's
    // clock must still follow real time, or the second key would be stamped as if it
    // came right after the first.
    let (mut rig, [_a, b], _) = bridged(CodecKind::Pcmu);
    let first_key = |b: &UdpSocket| {
        let pkts = collect_until(b, Duration::from_secs(3), |p| {
            p.iter()
                .filter(|p| p.h.payload_type == TE && p.payload[1] & 0x80 != 0)
                .count()
                >= 3
        });
        pkts.iter()
            .find(|p| p.h.payload_type == TE)
            .map(|p| (p.h.timestamp, p.at))
            .expect("a key")
    };
    std::thread::sleep(Duration::from_millis(100));
    let _ = collect(&b, Duration::from_millis(30));
    rig.media.send_dtmf(2, '1');
    let (ts1, at1) = first_key(&b);
    std::thread::sleep(Duration::from_secs(1));
    rig.media.send_dtmf(2, '2');
    let (ts2, at2) = first_key(&b);
    let real = (at2 - at1).as_secs_f64() * f64::from(SAMPLE_RATE);
    let stamped = f64::from(ts2.wrapping_sub(ts1));
    assert!(
        (stamped - real).abs() < 0.1 * f64::from(SAMPLE_RATE),
        "{stamped} RTP units between the keys, {real:.0} in real time"
    );
}

// --- the AF_XDP path: the same behaviour, relayed from the frames ---

#[test]
fn on_xdp_a_bridge_relays_and_transcodes() {
    on_xdp(bridge_transcodes_pcmu_and_pcma);
}

#[test]
fn on_xdp_a_bridge_maps_keys() {
    on_xdp(bridge_maps_telephone_event_and_reports_keys);
}

#[test]
fn on_xdp_a_bridge_is_recorded() {
    on_xdp(records_a_bridge_in_stereo);
}

#[test]
fn on_xdp_packets_from_another_source_are_dropped() {
    on_xdp(packets_from_another_source_are_dropped_after_learning);
}

#[test]
fn on_xdp_media_follows_a_phone_behind_nat() {
    on_xdp(media_follows_a_phone_behind_nat_once_learned);
}

#[test]
fn on_xdp_keys_are_reported_once_and_barge_in() {
    on_xdp(rfc4733_reports_each_press_once_and_barges_in);
}

#[test]
fn on_xdp_inband_keys_are_detected_only_when_asked() {
    on_xdp(inband_dtmf_is_detected_only_when_asked);
}

#[test]
fn on_xdp_inactivity_is_reported_but_not_on_hold() {
    on_xdp(inactivity_is_reported_but_not_on_hold);
}

/// Sends `count` PCMU packets from `phone` to `to`, payloads `first..`, sequence `seq..`.
fn burst(phone: &UdpSocket, to: SocketAddr, seq: u16, first: u8, count: u8) {
    for i in 0..count {
        let n = u16::from(i);
        send_rtp(
            phone,
            to,
            PCMU,
            seq + n,
            8000 + 160 * u32::from(seq + n),
            false,
            &[first + i; 160],
        );
    }
}

/// Turns `d` until `phone` has `want` packets (or two seconds pass); returns them with
/// the address they came from.
fn relayed(d: &mut Driven, phone: &UdpSocket, want: usize) -> Vec<(Rx, SocketAddr)> {
    phone.set_nonblocking(true).expect("nonblocking");
    let mut got = Vec::new();
    d.turn_until(|_| {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = phone.recv_from(&mut buf) {
            if let Some(h) = FixedHeader::read(&buf[..n]) {
                let payload = buf[12..n].to_vec();
                got.push((
                    Rx {
                        h,
                        payload,
                        at: Instant::now(),
                    },
                    from,
                ));
            }
        }
        got.len() >= want
    });
    got
}

/// A media server run by the test on the AF_XDP path, and its port range.
fn driven_on_xdp() -> (Driven, (u16, u16)) {
    let ports = xdp_ports();
    let config = MediaConfig {
        address: [127, 0, 0, 1].into(),
        port_min: ports.0,
        port_max: ports.1,
        inactivity: Duration::from_secs(60),
        xdp: true,
    };
    (Driven::with(true, Some(&config)), ports)
}

#[test]
fn without_what_af_xdp_needs_the_thread_keeps_its_sockets() {
    let _lo = take_lo();
    let (min, max) = xdp_ports();
    let config = |address: [u8; 4], port_min, port_max| MediaConfig {
        address: address.into(),
        port_min,
        port_max,
        inactivity: Duration::from_secs(60),
        xdp: true,
    };
    let attach = |c: &MediaConfig, io_uring: bool| {
        let (_waker, wake_rx) = std::os::unix::net::UnixDatagram::pair().expect("pair");
        let mut receive = server::Receive::new(io_uring, &wake_rx).expect("receive");
        server::Xdp::attach(c, &mut receive).is_some()
    };
    assert!(
        attach(&config([127, 0, 0, 1], min, max), true),
        "lo free: attaches"
    );
    assert!(
        !attach(&config([127, 0, 0, 1], 0, 0), true),
        "no port range"
    );
    assert!(
        !attach(&config([127, 0, 0, 1], min, max), false),
        "no multishot ring"
    );
    let v6 = MediaConfig {
        address: std::net::Ipv6Addr::LOCALHOST.into(),
        ..config([127, 0, 0, 1], min, max)
    };
    assert!(!attach(&v6, true), "IPv6");
    // Another program holds lo's one XDP program.
    let held = switchyard_media::net::XdpPath::attach([127, 0, 0, 1].into(), 64)
        .expect("lo is free after take_lo");
    assert!(!attach(&config([127, 0, 0, 1], min, max), true), "lo taken");
    drop(held);
}

#[test]
fn on_xdp_generated_audio_goes_out_as_frames_once_the_phone_is_heard() {
    let _lo = take_lo();
    let (mut d, ports) = driven_on_xdp();
    let a = phone();
    let ta = d.open_in(1, &a, true, ports);
    // Unbridged, the leg sends silence: through its socket until the phone is heard.
    let before = relayed(&mut d, &a, 3);
    assert!(before.len() >= 3 && before.iter().all(|(_, from)| *from == ta));
    assert_eq!(d.server.xdp_stats().expect("attached").sent, 0);
    burst(&a, ta, 0, 0, 3);
    assert!(d.turn_until(|d| d.server.xdp_stats().expect("attached").sent >= 5));
    let after = relayed(&mut d, &a, 8);
    assert!(after.len() >= 8);
    assert!(after.iter().all(|(_, from)| *from == ta));
    // One stream throughout: the frames carry on the socket's numbering.
    let all: Vec<&Rx> = before.iter().chain(&after).map(|(p, _)| p).collect();
    assert!(all.iter().all(|p| p.h.ssrc == all[0].h.ssrc));
    let seqs: Vec<u16> = all.iter().map(|p| p.h.sequence).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{seqs:?}"
    );
}

#[test]
fn on_xdp_a_bridge_goes_on_from_the_frames_once_both_phones_are_heard() {
    let _lo = take_lo();
    let (mut d, ports) = driven_on_xdp();
    let (a, b) = (phone(), phone());
    let ta = d.open_in(1, &a, true, ports);
    let tb = d.open_in(2, &b, true, ports);
    d.send(Command::Bridge { a: 1, b: 2 });
    d.turn();
    let _ = relayed(&mut d, &b, usize::MAX); // the silence sent before the bridge
    // Phone A first: B has sent nothing, so the next hop to it is unknown and the
    // relayed packets leave through leg B's socket.
    burst(&a, ta, 0, 0, 10);
    let first = relayed(&mut d, &b, 10);
    assert_eq!(first.len(), 10, "from the signalled address: no probation");
    assert!(first.iter().all(|(_, from)| *from == tb));
    let before = d.server.xdp_stats().expect("attached");
    assert_eq!(before.received, 10, "{before:?}");
    assert_eq!(before.forwarded, 0, "{before:?}");
    // Phone B answers: both next hops are known, both directions go on from the frames,
    // from the legs' own addresses, one outgoing stream each side.
    burst(&b, tb, 0, 100, 10);
    let back = relayed(&mut d, &a, 10);
    assert_eq!(back.len(), 10);
    assert!(back.iter().all(|(_, from)| *from == ta));
    burst(&a, ta, 10, 10, 5);
    let more = relayed(&mut d, &b, 5);
    assert_eq!(more.len(), 5);
    assert!(more.iter().all(|(_, from)| *from == tb));
    let payloads: Vec<u8> = more.iter().map(|(p, _)| p.payload[0]).collect();
    assert_eq!(payloads, [10, 11, 12, 13, 14]);
    assert!(more.iter().all(|(p, _)| p.payload.len() == 160));
    let ssrc = first[0].0.h.ssrc;
    assert!(
        more.iter().all(|(p, _)| p.h.ssrc == ssrc),
        "one stream to B"
    );
    let seqs: Vec<u16> = first
        .iter()
        .chain(&more)
        .map(|(p, _)| p.h.sequence)
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "sequence numbers run on from the socket's packets to the frames': {seqs:?}"
    );
    let after = d.server.xdp_stats().expect("attached");
    assert_eq!(after.received, 25, "{after:?}");
    assert_eq!(after.forwarded, 15, "{after:?}");
    // A closed leg's port goes back to its socket: nothing more is taken for it.
    d.send(Command::Close { leg: 1 });
    d.turn();
    burst(&a, ta, 15, 15, 3);
    std::thread::sleep(Duration::from_millis(20));
    d.turn();
    assert_eq!(d.server.xdp_stats().expect("attached").received, 25);
}
