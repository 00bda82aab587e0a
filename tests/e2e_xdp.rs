//! End to end with the daemon's RTP on the AF_XDP path (`[rtp] xdp = true`). It needs
//! root (CAP_BPF, CAP_NET_ADMIN) and `lo` free of other XDP programs, as on the machines
//! the tests run on. Two baresip softphones call each other through the switch, hear each
//! other, and the call is recorded.

mod common;

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use common::audio::{read_wav_channel, tone_secs, write_tone};
use common::baresip::Phone;
use common::{API_KEY, Daemon, db, http, scratch_dir, start_config_daemon};
use switchyard_media::net::XdpPath;

/// Waits up to a minute while another process (a relay benchmark, another checkout's
/// tests) holds `lo`'s one XDP program.
fn wait_for_lo() {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(e) = XdpPath::attach([127, 0, 0, 1].into(), 64) {
        if e.kind() != ErrorKind::ResourceBusy || Instant::now() > deadline {
            return; // the daemon's log then says why it did not attach
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn softphones_talk_and_are_recorded_with_the_daemons_rtp_on_af_xdp() {
    wait_for_lo();
    let dir = scratch_dir("xdp-baresip");
    let (mut daemon, data) = start_config_daemon(
        &dir,
        "cc.toml",
        &[
            ("inactivity = \"60s\"", "inactivity = \"60s\"\nxdp = true"),
            ("record = false", "record = true"),
        ],
        10,
    );
    assert!(
        daemon
            .wait_log(&["RTP through AF_XDP"], Duration::from_secs(5))
            .is_some(),
        "the media thread did not attach AF_XDP to lo (root, and no other XDP program on lo)"
    );
    let (tone_1001, tone_1002) = (dir.join("1001.wav"), dir.join("1002.wav"));
    write_tone(&tone_1001, 440.0, 120.0);
    write_tone(&tone_1002, 1000.0, 120.0);
    let alice = Phone::registered("1001", daemon.addr, &tone_1001, false);
    let bob = Phone::registered("1002", daemon.addr, &tone_1002, true);

    alice.dial(&daemon.uri("1002"));
    bob.expect_event("CALL_ESTABLISHED", Duration::from_secs(10));
    alice.expect_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    // Prometheus sees the path at work while the call is up.
    let metrics = scrape(&daemon);
    assert!(
        metrics.lines().any(|l| l == "switchyard_rtp_xdp 1"),
        "{metrics}"
    );
    let live = metrics
        .lines()
        .find_map(|l| counter(l, "switchyard_rtp_xdp_frames_forwarded_total "))
        .unwrap_or_else(|| panic!("no forwarded counter in\n{metrics}"));
    assert!(
        live >= 100,
        "{live} packets relayed from frames after 3 s of talk"
    );
    std::thread::sleep(Duration::from_secs(1));
    bob.hangup();
    bob.expect_event("CALL_CLOSED", Duration::from_secs(5));
    alice.expect_event("CALL_CLOSED", Duration::from_secs(10));

    // Each phone heard the other's tone, relayed from the frames.
    let alice_heard = tone_secs(&alice.heard(), 1000.0);
    let bob_heard = tone_secs(&bob.heard(), 440.0);
    eprintln!("1001 heard {alice_heard:.2} s of 1002, 1002 heard {bob_heard:.2} s of 1001");
    assert!(alice_heard >= 2.0, "1001 heard {alice_heard:.2} s of 1002");
    assert!(bob_heard >= 2.0, "1002 heard {bob_heard:.2} s of 1001");

    // The recording has each side in its own channel: the caller left, the callee right.
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let path = cdrs[0]["recording"]
        .as_str()
        .unwrap_or_else(|| panic!("a recording in {:#}", cdrs[0]));
    let channel = |c: usize| {
        read_wav_channel(Path::new(path), c)
            .expect("the recording")
            .0
    };
    let (left, right) = (channel(0), channel(1));
    let (left_440, right_1000) = (tone_secs(&left, 440.0), tone_secs(&right, 1000.0));
    eprintln!("recorded: {left_440:.2} s of 440 Hz left, {right_1000:.2} s of 1 kHz right");
    assert!(
        left_440 >= 2.0,
        "{left_440:.2} s of the caller's tone on the left"
    );
    assert!(
        right_1000 >= 2.0,
        "{right_1000:.2} s of the callee's tone on the right"
    );
    assert!(
        tone_secs(&left, 1000.0) < 0.5,
        "the callee's tone leaks into the left"
    );
    // The ended call is counted for Prometheus by its CDR's disposition.
    let metrics = scrape(&daemon);
    let answered = "switchyard_calls_ended_total{disposition=\"answered\"} 1";
    assert!(metrics.lines().any(|l| l == answered), "{metrics}");
    drop((alice, bob));
    assert!(daemon.stop().success());
    // And the relayed packets went on from the frames, not through the sockets.
    let last = daemon
        .wait_log(&["media thread stopped"], Duration::from_secs(5))
        .expect("the media thread's last counters in the log");
    let forwarded = counter(&last, "xdp_forwarded=").expect(&last);
    assert!(
        forwarded >= 200,
        "{forwarded} packets relayed from AF_XDP frames"
    );
}

/// What `GET /metrics` says now.
fn scrape(daemon: &Daemon) -> String {
    let response = http::get(daemon.api(), "/metrics", API_KEY).expect("GET /metrics");
    String::from_utf8_lossy(&response.body).into_owned()
}

/// The number right after `prefix` in `line` (`xdp_forwarded=N` in a log line, a
/// metric's sample).
fn counter(line: &str, prefix: &str) -> Option<u64> {
    let at = line.find(prefix)? + prefix.len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
