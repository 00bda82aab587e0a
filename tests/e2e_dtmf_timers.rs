//! End to end with SIPp (Debian `sip-tester`) as trunk callers and an agent's phone,
//! against the contact centre of tests/configs/dtmf_timers.toml:
//! - in-band DTMF: callers whose offer has PCMU only send their key as audio (a capture
//!   the test generates: the key's two tones in μ-law RTP) and each reaches the queue its
//!   key names; a tone that is no DTMF key reaches none;
//! - session timers (RFC 4028): a caller that takes the refresher role and never
//!   refreshes is hung up on both legs when the session expires, and the agent is free
//!   again (meanwhile the switch refreshes the agent's leg, where the phone made it the
//!   refresher, with an UPDATE); a caller that refreshes in time keeps its call.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::http::request;
use common::pcap::{RATE, dtmf_samples, write_pcmu_pcap};
use common::scenario::{Scenario, ScenarioRun, register_phone, sipp_port_on};
use common::{API_KEY, Daemon, db, scratch_dir, start_config_daemon, wait_until};
use serde_json::{Value, json};

/// The DID of the one-key menu (1: sales, 2: support).
const MENU: &str = "+861058000000";
/// The DID that goes straight to the sales queue.
const SALES: &str = "+861058000001";

/// The contact centre of these tests, on ports of its own; returns it and its data
/// directory.
fn start_daemon(dir: &Path) -> (Daemon, std::path::PathBuf) {
    start_config_daemon(dir, "dtmf_timers.toml", &[], 4)
}

/// The CDR of the call from `caller` (its number, with or without the `+`).
fn cdr_of<'a>(cdrs: &'a [Value], caller: &str) -> &'a Value {
    cdrs.iter()
        .find(|c| {
            c["caller"]
                .as_str()
                .is_some_and(|n| n.ends_with(caller.trim_start_matches('+')))
        })
        .unwrap_or_else(|| panic!("no CDR from {caller}: {cdrs:#?}"))
}

#[test]
fn in_band_keys_from_a_pcmu_only_caller_take_it_to_the_queue_they_name() {
    let dir = scratch_dir("inband-dtmf");
    let (mut daemon, data) = start_daemon(&dir);
    // Each caller's audio: half a second of silence, the key for 120 ms (each tone at
    // about -13 dBm0), then silence; `None`: a 1 kHz tone of the same length instead, which
    // is no key.
    let callers: [(&str, Option<char>, Option<&str>); 3] = [
        ("+8613600000001", Some('1'), Some("sales")),
        ("+8613600000002", Some('2'), Some("support")),
        ("+8613600000003", None, None),
    ];
    let runs: Vec<Scenario> = callers
        .iter()
        .map(|(caller, key, _)| {
            let name = key.map_or("none".to_owned(), |k| k.to_string());
            let samples = match key {
                Some(k) => dtmf_samples(*k, 500, 120, 1500, 5000.0),
                None => tone_samples(1000.0, 500, 120, 1500, 10_000.0),
            };
            let pcap = dir.join(format!("inband-{name}.pcap"));
            write_pcmu_pcap(&pcap, &samples);
            Scenario::trunk_caller(
                &dir,
                &daemon,
                &format!("caller-{name}"),
                "inband_caller.xml",
                MENU,
                vec![
                    ("@CALLER@", (*caller).to_owned()),
                    ("@PCAP@", pcap.display().to_string()),
                ],
                Duration::from_secs(30),
            )
        })
        .collect();
    // Each call ends with the switch's BYE: after 2 s in the queue, or after the menu's
    // 5 s without a key.
    for run in runs {
        run.expect_pass(Duration::from_secs(40));
    }

    let cdrs = db::wait_cdrs(&data, callers.len(), Duration::from_secs(10));
    assert_eq!(cdrs.len(), callers.len(), "one CDR per call: {cdrs:#?}");
    let log = db::queue_log(&data);
    for (caller, key, queue) in callers {
        let cdr = cdr_of(&cdrs, caller);
        eprintln!("key {key:?}: CDR {cdr:#}");
        let entered: Vec<&Value> = log
            .iter()
            .filter(|r| r["call"] == cdr["id"] && r["event"] == "enter")
            .collect();
        match queue {
            Some(q) => {
                assert_eq!(cdr["queue"], q, "key {key:?}: {cdr:#}");
                assert_eq!(entered.len(), 1, "key {key:?}: {log:#?}");
                assert_eq!(entered[0]["queue"], q, "key {key:?}: {log:#?}");
            }
            None => {
                assert!(
                    cdr["queue"].is_null() || cdr["queue"] == "",
                    "a tone that is no key reached a queue: {cdr:#}"
                );
                assert!(entered.is_empty(), "{log:#?}");
            }
        }
    }
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `lead_ms` of silence, a sine of `freq` Hz for `tone_ms` at peak `amplitude`, then
/// `tail_ms` of silence.
fn tone_samples(freq: f64, lead_ms: u32, tone_ms: u32, tail_ms: u32, amplitude: f64) -> Vec<i16> {
    let n = |ms: u32| (ms * RATE / 1000) as usize;
    let mut samples = vec![0i16; n(lead_ms)];
    samples.extend((0..n(tone_ms)).map(|i| {
        let t = i as f64 / f64::from(RATE);
        (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
    }));
    samples.extend(std::iter::repeat_n(0, n(tail_ms)));
    samples
}

/// `POST path` on the API with `body`; the answer must be 200.
fn post(daemon: &Daemon, path: &str, body: Value) {
    let resp = request(daemon.api(), "POST", path, API_KEY, Some(&body))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert_eq!(resp.status, 200, "POST {path}: {}", resp.json());
}

/// Waits until agent `id`'s state is `state`; panics with the last view otherwise.
fn expect_agent_state(daemon: &Daemon, id: &str, state: &str, timeout: Duration) -> Value {
    let mut last = Value::Null;
    wait_until(timeout, || {
        last = daemon.get(&format!("/api/v1/agents/{id}"));
        (last["state"] == state).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("agent {id} never became {state}: {last:#}"))
}

/// Registers agent 1001's phone, logs the agent in on it and starts the phone running
/// `file` (a SIPp that answers and then waits up to `wait` for the switch's BYE).
fn answering_agent(dir: &Path, daemon: &Daemon, file: &str, wait: Duration) -> Scenario {
    let port = sipp_port_on("127.0.0.1");
    register_phone(daemon, "1001", port, 3600);
    post(
        daemon,
        "/api/v1/agents/1001/login",
        json!({ "device": "1001" }),
    );
    expect_agent_state(daemon, "1001", "available", Duration::from_secs(5));
    Scenario::start(
        dir,
        "agent-1001",
        ScenarioRun {
            file,
            replace: vec![
                ("@USER@", "1001".to_owned()),
                ("@WAIT_MS@", wait.as_millis().to_string()),
            ],
            local: ("127.0.0.1", port),
            args: Vec::new(),
            remote: None,
            timeout: wait + Duration::from_secs(30),
        },
    )
}

/// The session interval both tests negotiate (the configuration's `session_expires`, the
/// smallest RFC 4028 allows).
const INTERVAL: Duration = Duration::from_secs(90);
/// When the side that does not refresh ends an unrefreshed session (RFC 4028 §10): the
/// interval less the smaller of 32 s and a third of it.
const EXPIRY: Duration = Duration::from_secs(60);

#[test]
fn a_caller_that_never_refreshes_its_session_is_hung_up_on_both_legs() {
    let dir = scratch_dir("session-expiry");
    let (mut daemon, data) = start_daemon(&dir);
    let wait = EXPIRY + Duration::from_secs(20);
    // The agent's phone makes the switch its leg's refresher: the switch refreshes that
    // leg at half the interval (which the phone checks), and the caller's leg, which
    // nobody refreshes, still ends the call.
    let agent = answering_agent(&dir, &daemon, "agent_answer_refreshed.xml", wait);
    let started = Instant::now();
    let caller = Scenario::trunk_caller(
        &dir,
        &daemon,
        "caller",
        "st_caller_silent.xml",
        SALES,
        vec![
            ("@CALLER@", "+8613600000011".to_owned()),
            ("@WAIT_MS@", wait.as_millis().to_string()),
        ],
        wait + Duration::from_secs(30),
    );
    // Each scenario passes only on the switch's BYE.
    caller.expect_pass(wait + Duration::from_secs(30));
    let lasted = started.elapsed();
    agent.expect_pass(Duration::from_secs(10));
    // Not before the session could have been refreshed.
    assert!(
        lasted >= EXPIRY - Duration::from_secs(5),
        "the switch hung up after {lasted:?}, before the session's {INTERVAL:?} could expire"
    );
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("after {lasted:?}, CDR: {cdr:#}");
    assert_eq!(cdr["hangup_reason"], "session-expired", "{cdr:#}");
    assert_eq!(cdr["hangup_by"], "system", "{cdr:#}");
    assert_eq!(cdr["agent"], "1001", "{cdr:#}");
    assert_eq!(cdr["queue"], "sales", "{cdr:#}");
    assert!(cdr["answer_ms"].as_i64().is_some(), "{cdr:#}");
    // The agent is free for the next call, and no call is left.
    let a = expect_agent_state(&daemon, "1001", "available", Duration::from_secs(5));
    assert!(a["call"].is_null(), "{a:#}");
    assert!(
        common::http::items(&daemon.get("/api/v1/calls")).is_empty(),
        "{:#}",
        daemon.get("/api/v1/calls")
    );
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_caller_that_refreshes_its_session_keeps_the_call_past_the_expiry() {
    let dir = scratch_dir("session-refresh");
    let (mut daemon, data) = start_daemon(&dir);
    // The refresh at a third of the interval moves the expiry to 30 s + 60 s; the caller
    // hangs up at 75 s, 15 s after the first session would have expired.
    let refresh = Duration::from_secs(30);
    let hold = EXPIRY + Duration::from_secs(15) - refresh;
    let agent = answering_agent(
        &dir,
        &daemon,
        "agent_answer_wait.xml",
        refresh + hold + Duration::from_secs(20),
    );
    let caller = Scenario::trunk_caller(
        &dir,
        &daemon,
        "caller",
        "st_caller_refreshing.xml",
        SALES,
        vec![
            ("@CALLER@", "+8613600000012".to_owned()),
            ("@REFRESH_MS@", refresh.as_millis().to_string()),
            ("@HOLD_MS@", hold.as_millis().to_string()),
        ],
        refresh + hold + Duration::from_secs(30),
    );
    caller.expect_pass(refresh + hold + Duration::from_secs(30));
    agent.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["hangup_by"], "caller", "{cdr:#}");
    assert_eq!(cdr["hangup_reason"], "bye", "{cdr:#}");
    assert_eq!(cdr["agent"], "1001", "{cdr:#}");
    expect_agent_state(&daemon, "1001", "available", Duration::from_secs(5));
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
