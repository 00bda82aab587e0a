//! End to end: phone-to-phone calls. SIPp plays the phones of tests/configs/cc.toml: the
//! dialled phone registers (digest authentication, from the test) and answers, is busy or
//! rings as the scenarios in tests/sipp/ext_callee_*.xml say; the calling phone answers
//! the switch's digest challenge and dials the extension (tests/sipp/ext_caller*.xml).
//! Two baresip phones call each other and hear each other's tone. A dialplan's transfer
//! to a phone already in a call (tests/configs/cc_transfer.dialplan) fails as busy. A
//! phone ringing or connected for such a transfer, or itself calling into a dialplan
//! (tests/sipp/ext_caller_dialplan.xml), is busy: its agent is offered no queue call.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::audio::{tone_secs, write_tone};
use common::baresip::Phone;
use common::http::request;
use common::scenario::{self, Scenario, ScenarioRun, sipp_port_on};
use common::{API_KEY, Daemon, PASSWORD, db, scratch_dir, start_config_daemon, wait_until};
use serde_json::{Value, json};

/// The contact centre of the call-control tests (three phones, nobody logged in).
fn start_daemon(dir: &Path) -> (Daemon, PathBuf) {
    start_daemon_with(dir, &[])
}

/// The same, with `settings` replaced in tests/configs/cc.toml.
fn start_daemon_with(dir: &Path, settings: &[(&str, &str)]) -> (Daemon, PathBuf) {
    start_config_daemon(dir, "cc.toml", settings, 10)
}

/// Registers `user`'s phone from a fresh port on 127.0.0.1; returns the port, where the
/// phone's SIPp scenario must then run.
fn register(daemon: &Daemon, user: &str) -> u16 {
    let port = sipp_port_on("127.0.0.1");
    scenario::register_phone(daemon, user, port, 3600);
    port
}

/// Starts the dialled phone `user` (registered on `port`) running `file`.
fn callee(dir: &Path, user: &str, port: u16, file: &str, replace: &[(&str, String)]) -> Scenario {
    let mut replace = replace.to_vec();
    replace.push(("@USER@", user.to_owned()));
    Scenario::start(
        dir,
        &format!("phone-{user}"),
        ScenarioRun {
            file,
            replace,
            local: ("127.0.0.1", port),
            args: Vec::new(),
            remote: None,
            timeout: Duration::from_secs(60),
        },
    )
}

/// Starts phone `user` dialling `ext` with `file` (a fresh port; not registered: the
/// INVITE's digest answer is what identifies the phone).
fn caller(
    dir: &Path,
    daemon: &Daemon,
    name: &str,
    user: &str,
    ext: &str,
    file: &str,
    replace: &[(&str, String)],
) -> Scenario {
    let mut replace = replace.to_vec();
    replace.extend([
        ("@USER@", user.to_owned()),
        ("@PASSWORD@", PASSWORD.to_owned()),
        ("@EXT@", ext.to_owned()),
    ]);
    Scenario::start(
        dir,
        name,
        ScenarioRun {
            file,
            replace,
            local: ("127.0.0.1", sipp_port_on("127.0.0.1")),
            args: Vec::new(),
            remote: Some(daemon.addr),
            timeout: Duration::from_secs(60),
        },
    )
}

/// A phone's audio, played by the test on `sock`: once the phone's SIPp scenario has
/// written the switch's RTP port to `dir/rtp_port`, sends a G.711 A-law packet every 20 ms
/// to it from `sock` (the address the phone's SDP gave) and counts the RTP packets that
/// come back, until `stop` is set. Sending and receiving on one socket keeps the switch's
/// symmetric RTP pointed at it.
fn talk(sock: UdpSocket, dir: PathBuf, stop: Arc<AtomicBool>) -> Arc<Mutex<usize>> {
    let count = Arc::new(Mutex::new(0));
    let count2 = count.clone();
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .expect("setting a timeout");
    std::thread::spawn(move || {
        let port = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let text = std::fs::read_to_string(dir.join("rtp_port")).unwrap_or_default();
            if let Ok(port) = text.trim().parse::<u16>() {
                break port;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let ssrc: u32 = rand::random();
        let mut buf = [0u8; 2048];
        let mut next = Instant::now();
        let mut seq: u16 = 1;
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() >= next {
                let mut packet = vec![0x80, 8];
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                // A-law silence.
                packet.extend_from_slice(&[0xd5; 160]);
                let _ = sock.send_to(&packet, to);
                seq = seq.wrapping_add(1);
                next += Duration::from_millis(20);
            }
            if let Ok((n, _)) = sock.recv_from(&mut buf)
                && n >= 12
                && buf[0] >> 6 == 2
            {
                *count2.lock().unwrap() += 1;
            }
        }
    });
    count
}

/// A socket of the test's on 127.0.0.1 where a phone's audio goes, and its port.
fn media_socket() -> (UdpSocket, u16) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("binding a media socket");
    let port = sock.local_addr().expect("an address").port();
    (sock, port)
}

/// Phone 1001 dialling extension 1002, running `file` with `replace`.
fn phone_1001_dials_1002(
    dir: &Path,
    daemon: &Daemon,
    file: &str,
    replace: &[(&str, String)],
) -> Scenario {
    caller(dir, daemon, "phone-1001", "1001", "1002", file, replace)
}

/// Asserts how the call of `cdr` ended: its disposition, who hung up and why.
fn assert_ended(cdr: &Value, disposition: &str, hangup_by: &str, hangup_reason: &str) {
    assert_eq!(cdr["disposition"], disposition, "{cdr:#}");
    assert_eq!(cdr["hangup_by"], hangup_by, "{cdr:#}");
    assert_eq!(cdr["hangup_reason"], hangup_reason, "{cdr:#}");
}

/// The only CDR stored.
fn only_cdr(data: &Path) -> Value {
    let cdrs = db::wait_cdrs(data, 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    cdrs[0].clone()
}

#[test]
fn a_phone_calls_another_and_they_talk_through_the_switch() {
    let dir = scratch_dir("ext-answer");
    let (mut daemon, data) = start_daemon(&dir);
    let port = register(&daemon, "1002");
    let (caller_sock, caller_media) = media_socket();
    let (callee_sock, callee_media) = media_socket();

    let phone_1002 = callee(
        &dir,
        "1002",
        port,
        "ext_callee_answer.xml",
        &[("@MEDIA_PORT@", callee_media.to_string())],
    );
    // 1001 dials 1002, hears it ring, gets the answer, talks for 3 s and hangs up.
    let phone_1001 = phone_1001_dials_1002(
        &dir,
        &daemon,
        "ext_caller.xml",
        &[
            ("@MEDIA_PORT@", caller_media.to_string()),
            ("@TALK_MS@", "3000".to_owned()),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let at_caller = talk(caller_sock, phone_1001.dir.clone(), stop.clone());
    let at_callee = talk(callee_sock, phone_1002.dir.clone(), stop.clone());
    phone_1001.expect_pass(Duration::from_secs(30));
    // The BYE reached 1002 too.
    let callee_dir = phone_1002.expect_pass(Duration::from_secs(10));
    let invite = scenario::received_messages(&callee_dir)
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("1002 got an INVITE");
    let from = scenario::header(&invite, "From").unwrap_or_default();
    assert!(from.contains("sip:1001@"), "the INVITE to 1002: {invite}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (to_caller, to_callee) = (*at_caller.lock().unwrap(), *at_callee.lock().unwrap());
    eprintln!("RTP packets in 3 s of talk: {to_caller} reached 1001, {to_callee} reached 1002");
    // Each phone sends 50 packets a second for about 3 s; the switch relays them to the
    // other (nothing else: it sends nothing of its own on a bridged call).
    assert!(to_caller >= 75, "{to_caller} packets reached 1001");
    assert!(to_callee >= 75, "{to_callee} packets reached 1002");

    let cdr = only_cdr(&data);
    assert_eq!(cdr["caller"], "1001", "{cdr:#}");
    assert_eq!(cdr["did"], "1002", "{cdr:#}");
    assert_ended(&cdr, "answered", "caller", "bye");
    assert!(!cdr["answer_ms"].is_null(), "{cdr:#}");
    let billable = cdr["billable_ms"].as_i64().unwrap_or(0);
    assert!((2500..10_000).contains(&billable), "{cdr:#}");
    // The API shows the same record.
    let api = daemon.get("/api/v1/cdrs");
    assert_eq!(api[0]["id"], cdr["id"], "{api:#}");
    assert_eq!(api[0]["disposition"], "answered", "{api:#}");
    assert!(daemon.stop().success());
}

#[test]
fn every_registered_phone_rings_the_first_to_answer_wins_and_its_bye_ends_the_call() {
    let dir = scratch_dir("ext-fork");
    let (mut daemon, data) = start_daemon(&dir);
    // 1002 is registered from two phones: one only rings, the other answers after 1 s,
    // stays 2 s and hangs up.
    let ringing_port = register(&daemon, "1002");
    let answering_port = register(&daemon, "1002");
    let ringing = Scenario::start(
        &dir,
        "phone-1002-ringing",
        ScenarioRun {
            file: "cc_agent_ring.xml",
            replace: vec![("@USER@", "1002".to_owned())],
            local: ("127.0.0.1", ringing_port),
            args: Vec::new(),
            remote: None,
            timeout: Duration::from_secs(60),
        },
    );
    let answering = callee(
        &dir,
        "1002",
        answering_port,
        "ext_callee_hangup.xml",
        &[
            ("@ANSWER_MS@", "1000".to_owned()),
            ("@TALK_MS@", "2000".to_owned()),
        ],
    );
    let phone_1001 = phone_1001_dials_1002(&dir, &daemon, "ext_caller_wait_bye.xml", &[]);
    // The other phone was cancelled with "Call completed elsewhere" (its scenario checks
    // the Reason) once the first answered; 1002's BYE reached 1001.
    ringing.expect_pass(Duration::from_secs(20));
    answering.expect_pass(Duration::from_secs(20));
    phone_1001.expect_pass(Duration::from_secs(10));
    let cdr = only_cdr(&data);
    assert_ended(&cdr, "answered", "callee", "bye");
    let billable = cdr["billable_ms"].as_i64().unwrap_or(0);
    assert!((1500..10_000).contains(&billable), "{cdr:#}");
    assert!(daemon.stop().success());
}

#[test]
fn a_busy_phone_gives_the_caller_486() {
    let dir = scratch_dir("ext-busy");
    let (mut daemon, data) = start_daemon(&dir);
    let port = register(&daemon, "1002");
    let phone_1002 = callee(&dir, "1002", port, "ext_callee_busy.xml", &[]);
    let phone_1001 = phone_1001_dials_1002(
        &dir,
        &daemon,
        "ext_caller_refused.xml",
        &[("@STATUS@", "486".to_owned())],
    );
    phone_1001.expect_pass(Duration::from_secs(20));
    phone_1002.expect_pass(Duration::from_secs(10));
    let cdr = only_cdr(&data);
    assert_eq!(cdr["caller"], "1001", "{cdr:#}");
    assert_eq!(cdr["did"], "1002", "{cdr:#}");
    assert_ended(&cdr, "failed", "callee", "busy");
    assert!(cdr["answer_ms"].is_null(), "{cdr:#}");
    assert!(daemon.stop().success());
}

#[test]
fn the_callers_cancel_reaches_the_ringing_phone() {
    let dir = scratch_dir("ext-cancel");
    let (mut daemon, data) = start_daemon(&dir);
    let port = register(&daemon, "1002");
    let phone_1002 = callee(&dir, "1002", port, "ext_callee_ring.xml", &[]);
    let phone_1001 = phone_1001_dials_1002(&dir, &daemon, "ext_caller_cancel.xml", &[]);
    phone_1001.expect_pass(Duration::from_secs(20));
    // 1002 got CANCEL (its scenario waits for it), answered it and ended its INVITE.
    phone_1002.expect_pass(Duration::from_secs(10));
    let cdr = only_cdr(&data);
    assert_ended(&cdr, "abandoned", "caller", "cancel");
    assert!(daemon.stop().success());
}

#[test]
fn unregistered_unknown_and_own_extensions_are_refused() {
    let dir = scratch_dir("ext-refused");
    let (mut daemon, _data) = start_daemon(&dir);
    let refused = |name: &str, ext: &str, status: u16| {
        caller(
            &dir,
            &daemon,
            name,
            "1001",
            ext,
            "ext_caller_refused.xml",
            &[("@STATUS@", status.to_string())],
        )
        .expect_pass(Duration::from_secs(20));
    };
    // 1003 has no registered phone: 480.
    refused("to-1003-unregistered", "1003", 480);
    // Once it registers (busy), the same call reaches it: the 480 was for the missing
    // registration.
    let port = register(&daemon, "1003");
    let phone_1003 = callee(&dir, "1003", port, "ext_callee_busy.xml", &[]);
    refused("to-1003-busy", "1003", 486);
    phone_1003.expect_pass(Duration::from_secs(10));
    // No such phone: 404.
    refused("to-1999", "1999", 404);
    // A phone dialling its own extension is busy with that very call.
    register(&daemon, "1001");
    refused("to-1001", "1001", 486);
    assert!(daemon.stop().success());
}

#[test]
fn a_phone_left_ringing_gives_the_caller_480_after_the_ring_timeout() {
    let dir = scratch_dir("ext-ring-timeout");
    // `[calls] ring_timeout`, 30 s by default, shortened for the test.
    let (mut daemon, data) =
        start_daemon_with(&dir, &[("ring_timeout = \"30s\"", "ring_timeout = \"3s\"")]);
    let port = register(&daemon, "1002");
    let phone_1002 = callee(&dir, "1002", port, "ext_callee_ring.xml", &[]);
    let started = Instant::now();
    let phone_1001 = phone_1001_dials_1002(
        &dir,
        &daemon,
        "ext_caller_refused.xml",
        &[("@STATUS@", "480".to_owned())],
    );
    phone_1001.expect_pass(Duration::from_secs(20));
    let rang = started.elapsed();
    // The switch cancelled the ringing phone when it gave up.
    phone_1002.expect_pass(Duration::from_secs(10));
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(15)).contains(&rang),
        "refused after {rang:?}, with a 3 s ring timeout"
    );
    let cdr = only_cdr(&data);
    assert_ended(&cdr, "failed", "system", "no-answer");
    assert!(daemon.stop().success());
}

/// Logs agent `agent` in on phone `device` through the API and waits until they are
/// `available`.
fn log_in(daemon: &Daemon, agent: &str, device: &str) {
    let path = format!("/api/v1/agents/{agent}/login");
    let body = json!({ "device": device });
    let resp = request(daemon.api(), "POST", &path, API_KEY, Some(&body))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert_eq!(resp.status, 200, "POST {path}: {}", resp.json());
    wait_for_agent(daemon, agent, "available");
}

/// Waits until agent `agent`'s state (in the API) is `state`.
fn wait_for_agent(daemon: &Daemon, agent: &str, state: &str) {
    let mut last = Value::Null;
    wait_until(Duration::from_secs(10), || {
        last = daemon.get(&format!("/api/v1/agents/{agent}"));
        (last["state"] == state).then_some(())
    })
    .unwrap_or_else(|| panic!("agent {agent} never became {state}: {last:#}"));
}

/// The Call-IDs of the INVITEs a SIPp phone received (its message log in `dir`).
fn invites_received(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = scenario::received_messages(dir)
        .iter()
        .filter(|m| m.starts_with("INVITE "))
        .filter_map(|m| scenario::header(m, "Call-ID").map(str::to_owned))
        .collect();
    ids.dedup();
    ids
}

/// Phone `user`, registered on `port`, answering the next call (RTP on a fresh port).
fn answering_phone(dir: &Path, user: &str, port: u16) -> Scenario {
    let media = sipp_port_on("127.0.0.1").to_string();
    callee(
        dir,
        user,
        port,
        "ext_callee_answer.xml",
        &[("@MEDIA_PORT@", media)],
    )
}

/// Waits until an [`answering_phone`] has answered (`what` says which call, for the
/// failure message).
fn wait_answered(phone: &Scenario, what: &str) {
    wait_until(Duration::from_secs(10), || {
        phone.dir.join("rtp_port").exists().then_some(())
    })
    .unwrap_or_else(|| panic!("{what}"));
}

/// A trunk caller `number` whose dialplan transfers them to `did`'s target, which fails:
/// the dialplan's failure branch refuses the caller with 486.
fn refused_transfer(dir: &Path, daemon: &Daemon, name: &str, number: &str, did: &str) {
    let refused = [("@STATUS@", "486".to_owned())];
    trunk_caller(
        dir,
        daemon,
        name,
        number,
        did,
        "cc_caller_refused.xml",
        &refused,
    )
    .expect_pass(Duration::from_secs(20));
}

/// Asserts that `cdr` is a call to `did` whose transfer failed as busy, unanswered.
fn assert_transfer_refused_as_busy(cdr: &Value, did: &str) {
    assert_eq!(cdr["did"], did, "{cdr:#}");
    assert_eq!(cdr["hangup_reason"], "transfer-failed:486", "{cdr:#}");
    assert_eq!(cdr["hangup_by"], "system", "{cdr:#}");
    assert!(cdr["answer_ms"].is_null(), "{cdr:#}");
}

/// Asserts that a SIPp phone (its directory) was sent the INVITEs of one call only.
fn assert_rang_once(phone_dir: &Path, user: &str) {
    let invites = invites_received(phone_dir);
    assert_eq!(
        invites.len(),
        1,
        "{user}'s phone got INVITEs of {invites:?}"
    );
}

#[test]
fn a_phone_whose_agent_is_on_a_queue_call_is_busy_until_the_call_ends() {
    let dir = scratch_dir("ext-agent-busy");
    let (mut daemon, data) = start_daemon(&dir);
    let port_1001 = register(&daemon, "1001");
    log_in(&daemon, "1001", "1001");
    // Agent 1001's phone answers the sales call; the trunk caller talks 6 s.
    let agent_1001 = callee(&dir, "1001", port_1001, "cc_agent_answer.xml", &[]);
    let queue_caller = Scenario::start(
        &dir,
        "trunk-caller",
        ScenarioRun {
            file: "cc_caller_hangup.xml",
            replace: vec![
                ("@CALLER@", "+8613700137081".to_owned()),
                ("@MEDIA_PORT@", sipp_port_on("127.0.0.2").to_string()),
                ("@TALK_MS@", "6000".to_owned()),
            ],
            local: ("127.0.0.2", sipp_port_on("127.0.0.2")),
            args: vec!["-s".to_owned(), "+861058000001".to_owned()],
            remote: Some(daemon.addr),
            timeout: Duration::from_secs(60),
        },
    );
    wait_for_agent(&daemon, "1001", "on_call");
    // 1002 dials 1001 during the queue call: busy at once, and 1001's phone is not rung.
    caller(
        &dir,
        &daemon,
        "phone-1002-busy",
        "1002",
        "1001",
        "ext_caller_refused.xml",
        &[("@STATUS@", "486".to_owned())],
    )
    .expect_pass(Duration::from_secs(20));
    queue_caller.expect_pass(Duration::from_secs(20));
    let agent_dir = agent_1001.expect_pass(Duration::from_secs(10));
    assert_rang_once(&agent_dir, "1001");
    let cdrs = db::wait_cdrs(&data, 2, Duration::from_secs(10));
    let busy = cdrs
        .iter()
        .find(|c| c["trunk"] == "phone")
        .unwrap_or_else(|| panic!("no CDR of the phone call: {cdrs:#?}"));
    assert_eq!(busy["caller"], "1002", "{busy:#}");
    assert_eq!(busy["did"], "1001", "{busy:#}");
    assert_ended(busy, "failed", "callee", "busy");
    assert!(busy["answer_ms"].is_null(), "{busy:#}");

    // The queue call over, the same call rings 1001, which answers.
    wait_for_agent(&daemon, "1001", "available");
    let phone_1001 = answering_phone(&dir, "1001", port_1001);
    caller(
        &dir,
        &daemon,
        "phone-1002-answered",
        "1002",
        "1001",
        "ext_caller.xml",
        &[
            ("@MEDIA_PORT@", sipp_port_on("127.0.0.1").to_string()),
            ("@TALK_MS@", "500".to_owned()),
        ],
    )
    .expect_pass(Duration::from_secs(20));
    phone_1001.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 3, Duration::from_secs(10));
    let answered = cdrs
        .iter()
        .filter(|c| c["trunk"] == "phone")
        .find(|c| c["disposition"] == "answered")
        .unwrap_or_else(|| panic!("no answered phone call: {cdrs:#?}"));
    assert_eq!(answered["did"], "1001", "{answered:#}");
    assert!(daemon.stop().success());
}

/// The contact centre of tests/configs/cc.toml with the IVR of the transfer tests,
/// tests/configs/cc_transfer.dialplan.
fn start_transfer_daemon(dir: &Path) -> (Daemon, PathBuf) {
    start_daemon_with(dir, &[("/cc.dialplan\"", "/cc_transfer.dialplan\"")])
}

/// The DID whose dialplan transfers the caller to agent 1001 (486 when that fails).
const TO_AGENT_1001: &str = "+861058000007";
/// The DID whose dialplan transfers the caller to extension 1002 (486 when that fails).
const TO_EXTENSION_1002: &str = "+861058000008";

/// Starts a trunk caller (from 127.0.0.2) from `number` to `did` running `file`.
fn trunk_caller(
    dir: &Path,
    daemon: &Daemon,
    name: &str,
    number: &str,
    did: &str,
    file: &str,
    replace: &[(&str, String)],
) -> Scenario {
    let mut replace = replace.to_vec();
    replace.extend([
        ("@CALLER@", number.to_owned()),
        ("@MEDIA_PORT@", sipp_port_on("127.0.0.2").to_string()),
    ]);
    let timeout = Duration::from_secs(60);
    Scenario::trunk_caller(dir, daemon, name, file, did, replace, timeout)
}

/// The CDR of the call from `caller`, among `cdrs`.
fn cdr_from<'a>(cdrs: &'a [Value], caller: &str) -> &'a Value {
    cdrs.iter()
        .find(|c| c["caller"] == caller)
        .unwrap_or_else(|| panic!("no CDR of the call from {caller}: {cdrs:#?}"))
}

#[test]
fn a_dialplan_transfer_to_an_agent_on_a_queue_call_fails_as_busy_without_ringing() {
    let dir = scratch_dir("ext-transfer-agent-busy");
    let (mut daemon, data) = start_transfer_daemon(&dir);
    let port_1001 = register(&daemon, "1001");
    // Agent 1001 logged out: the transfer fails as a far end's 480 would.
    refused_transfer(
        &dir,
        &daemon,
        "transferred-logged-out",
        "+8613700137080",
        TO_AGENT_1001,
    );
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let away = cdr_from(&cdrs, "+8613700137080");
    assert_eq!(away["hangup_reason"], "transfer-failed:480", "{away:#}");
    log_in(&daemon, "1001", "1001");
    // Agent 1001's phone answers a sales call; the trunk caller talks 6 s.
    let agent_1001 = callee(&dir, "1001", port_1001, "cc_agent_answer.xml", &[]);
    let queue_caller = trunk_caller(
        &dir,
        &daemon,
        "queue-caller",
        "+8613700137081",
        "+861058000001",
        "cc_caller_hangup.xml",
        &[("@TALK_MS@", "6000".to_owned())],
    );
    wait_for_agent(&daemon, "1001", "on_call");
    // Meanwhile the dialplan of another caller transfers them to agent 1001: the transfer
    // fails at once as busy (the dialplan's failure branch refuses the caller with 486),
    // and 1001's phone gets no second INVITE.
    refused_transfer(
        &dir,
        &daemon,
        "transferred-busy",
        "+8613700137082",
        TO_AGENT_1001,
    );
    queue_caller.expect_pass(Duration::from_secs(20));
    let agent_dir = agent_1001.expect_pass(Duration::from_secs(10));
    assert_rang_once(&agent_dir, "1001");
    let cdrs = db::wait_cdrs(&data, 3, Duration::from_secs(10));
    let busy = cdr_from(&cdrs, "+8613700137082");
    assert_transfer_refused_as_busy(busy, TO_AGENT_1001);
    assert!(busy["agent"].is_null(), "{busy:#}");

    // The queue call over, the same transfer rings 1001's phone, which answers; the
    // transferred caller talks 4 s.
    wait_for_agent(&daemon, "1001", "available");
    let phone_1001 = answering_phone(&dir, "1001", port_1001);
    let transferred = trunk_caller(
        &dir,
        &daemon,
        "transferred-answered",
        "+8613700137083",
        TO_AGENT_1001,
        "cc_caller_hangup.xml",
        &[("@TALK_MS@", "4000".to_owned())],
    );
    wait_answered(&phone_1001, "1001 never answered the transfer");
    // A phone taking a transferred call is busy too: another transfer to it fails.
    refused_transfer(
        &dir,
        &daemon,
        "transferred-busy-again",
        "+8613700137085",
        TO_AGENT_1001,
    );
    transferred.expect_pass(Duration::from_secs(20));
    let phone_dir = phone_1001.expect_pass(Duration::from_secs(10));
    assert_rang_once(&phone_dir, "1001");
    let cdrs = db::wait_cdrs(&data, 5, Duration::from_secs(10));
    let answered = cdr_from(&cdrs, "+8613700137083");
    assert_eq!(answered["disposition"], "transferred", "{answered:#}");
    assert!(answered["answer_ms"].as_i64().is_some(), "{answered:#}");
    let busy_again = cdr_from(&cdrs, "+8613700137085");
    assert_eq!(
        busy_again["hangup_reason"], "transfer-failed:486",
        "{busy_again:#}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_dialplan_transfer_to_a_phone_on_a_phone_call_fails_as_busy_without_ringing() {
    let dir = scratch_dir("ext-transfer-extension-busy");
    let (mut daemon, data) = start_transfer_daemon(&dir);
    let port_1002 = register(&daemon, "1002");
    // 1003 calls 1002, which answers; they talk 4 s.
    let phone_1002 = answering_phone(&dir, "1002", port_1002);
    let dialling = caller(
        &dir,
        &daemon,
        "phone-1003-dialling",
        "1003",
        "1002",
        "ext_caller.xml",
        &[
            ("@MEDIA_PORT@", sipp_port_on("127.0.0.1").to_string()),
            ("@TALK_MS@", "4000".to_owned()),
        ],
    );
    wait_answered(&phone_1002, "1002 never answered");
    // A caller whose dialplan transfers them to extension 1002 meanwhile: busy at once.
    refused_transfer(
        &dir,
        &daemon,
        "transferred-busy",
        "+8613700137084",
        TO_EXTENSION_1002,
    );
    dialling.expect_pass(Duration::from_secs(20));
    let phone_dir = phone_1002.expect_pass(Duration::from_secs(10));
    assert_rang_once(&phone_dir, "1002");
    let cdrs = db::wait_cdrs(&data, 2, Duration::from_secs(10));
    let busy = cdr_from(&cdrs, "+8613700137084");
    assert_transfer_refused_as_busy(busy, TO_EXTENSION_1002);
    assert!(daemon.stop().success());
}

/// The Call-IDs of the INVITEs a SIPp phone received (its message log in `dir`) before
/// the first BYE it received: the calls that rang it while its first call was up.
fn invites_before_bye(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = scenario::received_messages(dir)
        .iter()
        .take_while(|m| !m.starts_with("BYE "))
        .filter(|m| m.starts_with("INVITE "))
        .filter_map(|m| scenario::header(m, "Call-ID").map(str::to_owned))
        .collect();
    ids.dedup();
    ids
}

/// The number of waiting calls in queue `queue` (API).
fn waiting_in(daemon: &Daemon, queue: &str) -> usize {
    let q = daemon.get(&format!("/api/v1/queues/{queue}"));
    q["waiting"].as_array().map_or(0, Vec::len)
}

#[test]
fn an_agent_taking_a_dialplan_transfer_is_offered_no_queue_call_until_it_ends() {
    let dir = scratch_dir("ext-transfer-agent-offers");
    let (mut daemon, data) = start_transfer_daemon(&dir);
    let port_1001 = register(&daemon, "1001");
    log_in(&daemon, "1001", "1001");
    // The dialplan transfers a trunk caller to agent 1001, whose phone answers; the
    // transferred caller talks 6 s.
    let phone_1001 = answering_phone(&dir, "1001", port_1001);
    let transferred = trunk_caller(
        &dir,
        &daemon,
        "transferred",
        "+8613700137090",
        TO_AGENT_1001,
        "cc_caller_hangup.xml",
        &[("@TALK_MS@", "6000".to_owned())],
    );
    wait_answered(&phone_1001, "1001 never answered the transfer");
    // The agent keeps their distributor state but is shown on a call that is not a queue
    // call.
    let view = daemon.get("/api/v1/agents/1001");
    assert_eq!(view["state"], "available", "{view:#}");
    assert_eq!(view["on_phone_call"], true, "{view:#}");
    // A sales call (a queue 1001 serves) arrives meanwhile: it waits, and 1001's phone is
    // not rung while the transfer is up.
    let queue_caller = trunk_caller(
        &dir,
        &daemon,
        "queue-caller",
        "+8613700137091",
        "+861058000001",
        "cc_caller_hangup.xml",
        &[("@TALK_MS@", "12000".to_owned())],
    );
    wait_until(Duration::from_secs(10), || {
        (waiting_in(&daemon, "sales") == 1).then_some(())
    })
    .unwrap_or_else(|| panic!("the sales call never waited"));
    transferred.expect_pass(Duration::from_secs(20));
    let phone_dir = phone_1001.expect_pass(Duration::from_secs(10));
    let invites = invites_before_bye(&phone_dir);
    assert_eq!(
        invites.len(),
        1,
        "1001's phone was rung during the transfer by {invites:?}"
    );
    // The transfer over, the waiting sales call reaches 1001, whose phone answers.
    let agent_1001 = callee(&dir, "1001", port_1001, "cc_agent_answer.xml", &[]);
    queue_caller.expect_pass(Duration::from_secs(30));
    agent_1001.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 2, Duration::from_secs(10));
    let transfer = cdr_from(&cdrs, "+8613700137090");
    assert_eq!(transfer["disposition"], "transferred", "{transfer:#}");
    let queued = cdr_from(&cdrs, "+8613700137091");
    assert_eq!(queued["agent"], "1001", "{queued:#}");
    assert_eq!(queued["disposition"], "answered", "{queued:#}");
    let view = daemon.get("/api/v1/agents/1001");
    assert_eq!(view["on_phone_call"], false, "{view:#}");
    assert!(daemon.stop().success());
}

/// The DID whose dialplan (tests/configs/cc.dialplan) holds the caller 30 s.
const HOLD_LINE: &str = "+861058000003";

#[test]
fn a_phone_calling_into_a_dialplan_is_busy_for_other_phones_and_the_queue() {
    let dir = scratch_dir("ext-caller-in-dialplan");
    let (mut daemon, data) = start_daemon(&dir);
    let port_1002 = register(&daemon, "1002");
    log_in(&daemon, "1002", "1002");
    // The test plays 1002's registered phone itself: anything sent there is seen.
    let phone_1002 = UdpSocket::bind(("127.0.0.1", port_1002)).expect("binding 1002's port");
    phone_1002
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("setting a timeout");
    // 1002 dials the number whose dialplan holds the line, and stays 8 s.
    let in_dialplan = caller(
        &dir,
        &daemon,
        "phone-1002-calling",
        "1002",
        HOLD_LINE,
        "ext_caller_dialplan.xml",
        &[("@TALK_MS@", "8000".to_owned())],
    );
    let mut view = Value::Null;
    wait_until(Duration::from_secs(10), || {
        view = daemon.get("/api/v1/agents/1002");
        (view["on_phone_call"] == true).then_some(())
    })
    .unwrap_or_else(|| panic!("agent 1002 never shown on a call: {view:#}"));
    assert_eq!(view["state"], "available", "{view:#}");
    // 1003 dials 1002 meanwhile: busy at once, and nothing reaches 1002's phone.
    caller(
        &dir,
        &daemon,
        "phone-1003-busy",
        "1003",
        "1002",
        "ext_caller_refused.xml",
        &[("@STATUS@", "486".to_owned())],
    )
    .expect_pass(Duration::from_secs(20));
    // A sales call meanwhile (agent 1002, on 1002, is the only one logged in): it waits
    // unoffered until its caller gives up 2 s later.
    trunk_caller(
        &dir,
        &daemon,
        "queue-caller",
        "+8613700137092",
        "+861058000001",
        "cc_caller_hangup.xml",
        &[("@TALK_MS@", "2000".to_owned())],
    )
    .expect_pass(Duration::from_secs(20));
    in_dialplan.expect_pass(Duration::from_secs(20));
    let mut buf = [0u8; 65_535];
    let mut received = Vec::new();
    while let Ok((n, _)) = phone_1002.recv_from(&mut buf) {
        received.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let invites: Vec<&String> = received
        .iter()
        .filter(|m| m.starts_with("INVITE "))
        .collect();
    assert!(invites.is_empty(), "1002's phone was rung: {invites:#?}");
    let cdrs = db::wait_cdrs(&data, 3, Duration::from_secs(10));
    let queued = cdr_from(&cdrs, "+8613700137092");
    assert_eq!(queued["disposition"], "abandoned", "{queued:#}");
    assert!(queued["agent"].is_null(), "{queued:#}");
    let busy = cdrs
        .iter()
        .find(|c| c["caller"] == "1003")
        .unwrap_or_else(|| panic!("no CDR of 1003's call: {cdrs:#?}"));
    assert_eq!(busy["did"], "1002", "{busy:#}");
    assert_eq!(busy["disposition"], "failed", "{busy:#}");
    assert_eq!(busy["hangup_reason"], "busy", "{busy:#}");
    let own = cdrs
        .iter()
        .find(|c| c["caller"] == "1002")
        .unwrap_or_else(|| panic!("no CDR of 1002's call: {cdrs:#?}"));
    assert_eq!(own["did"], HOLD_LINE, "{own:#}");
    // Its call over, 1002 is free again.
    wait_until(Duration::from_secs(10), || {
        view = daemon.get("/api/v1/agents/1002");
        (view["on_phone_call"] == false).then_some(())
    })
    .unwrap_or_else(|| panic!("agent 1002 still shown on a call: {view:#}"));
    assert!(daemon.stop().success());
}

/// A baresip phone registered as `user`, sending `tone`.
fn baresip(user: &str, daemon: &Daemon, tone: &Path, auto_answer: bool) -> Phone {
    Phone::registered(user, daemon.addr, tone, auto_answer)
}

#[test]
fn two_softphones_call_each_other_and_hear_each_other() {
    let dir = scratch_dir("ext-baresip");
    let (mut daemon, data) = start_daemon(&dir);
    let (tone_1001, tone_1002) = (dir.join("1001.wav"), dir.join("1002.wav"));
    write_tone(&tone_1001, 440.0, 120.0);
    write_tone(&tone_1002, 1000.0, 120.0);
    let alice = baresip("1001", &daemon, &tone_1001, false);
    let bob = baresip("1002", &daemon, &tone_1002, true);

    alice.dial(&daemon.uri("1002"));
    let established = bob.expect_event("CALL_ESTABLISHED", Duration::from_secs(10));
    assert!(
        established["peeruri"]
            .as_str()
            .is_some_and(|u| u.contains("1001")),
        "1002's phone shows the caller: {established}"
    );
    alice.expect_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(4));
    alice.hangup();
    alice.expect_event("CALL_CLOSED", Duration::from_secs(5));
    bob.expect_event("CALL_CLOSED", Duration::from_secs(10));

    let alice_heard = tone_secs(&alice.heard(), 1000.0);
    let bob_heard = tone_secs(&bob.heard(), 440.0);
    eprintln!(
        "1001 heard {alice_heard:.2} s of 1002's tone, 1002 heard {bob_heard:.2} s of 1001's"
    );
    assert!(alice_heard >= 2.0, "1001 heard {alice_heard:.2} s of 1002");
    assert!(bob_heard >= 2.0, "1002 heard {bob_heard:.2} s of 1001");
    let cdr = only_cdr(&data);
    assert_eq!(cdr["caller"], "1001", "{cdr:#}");
    assert_eq!(cdr["did"], "1002", "{cdr:#}");
    assert_eq!(cdr["disposition"], "answered", "{cdr:#}");
    assert_eq!(cdr["hangup_by"], "caller", "{cdr:#}");
    drop((alice, bob));
    assert!(daemon.stop().success());
}

#[test]
fn a_port_slot_held_by_one_holder_is_never_given_to_another() {
    // The RTP ranges and SIPp ports of tests/common are slots locked per test process;
    // two holders of slots of one kind (as two test processes would be) get different
    // slots, and a slot let go is taken again.
    let kind = format!("check-{}", std::process::id());
    let (first, _first_lock) = common::lock_slot(&kind, 3);
    let (second, second_lock) = common::lock_slot(&kind, 3);
    assert_ne!(first, second);
    let (third, _third_lock) = common::lock_slot(&kind, 3);
    assert!(
        third != first && third != second,
        "{first} {second} {third}"
    );
    drop(second_lock);
    let (again, _again_lock) = common::lock_slot(&kind, 3);
    assert_eq!(again, second);
    for n in 0..3 {
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("switchyard-test-ports-{kind}-{n}.lock")),
        );
    }
}
