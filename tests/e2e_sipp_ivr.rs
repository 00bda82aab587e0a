//! End to end under load: SIPp (Debian `sip-tester`) places 200 trunk calls at 20 calls/s
//! through the IVR of tests/configs/ivr_load.dialplan, each sending one RFC 2833 digit
//! from SIPp's DTMF pcaps: 1 for the sales queue, 2 for support. Nobody answers, so each
//! call waits its queue's 2 s and the switch hangs up. Every call completes, each call's
//! digit takes it to the queue it names (CDR and queue log), and afterwards there are no
//! active calls, every RTP port is free again and the agents are as they were.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::http::{get, items};
use common::sipp::IvrLoad;
use common::{API_KEY, Daemon, Ports, db, scratch_dir, write_config};
use serde_json::Value;

/// Calls per digit (two SIPp instances, one per digit, run at once).
const CALLS: u32 = 100;
/// Calls per second per instance.
const RATE: u32 = 10;

/// Each instance's caller number and the queue its digit names.
const LOADS: [(&str, char, &str); 2] = [
    ("+8613800000001", '1', "sales"),
    ("+8613800000002", '2', "support"),
];

#[test]
fn two_hundred_ivr_calls_reach_the_queue_their_digit_names_and_leave_nothing_behind() {
    let dir = scratch_dir("sipp-ivr");
    let data = dir.join("data");
    let ports = Ports::pick();
    let config = write_config("ivr_load.toml", &dir, &ports.config_replacements(&data));
    let mut daemon = Daemon::contact_centre_on(&ports, &data, Some(&config), &[]);

    let agents_before = agent_states(&daemon);
    let ports_before = rtp_ports_in_use(&daemon);
    eprintln!("before: agents {agents_before:?}, RTP ports in use {ports_before}");

    let loads: Vec<IvrLoad> = LOADS
        .iter()
        .map(|(caller, digit, _)| {
            IvrLoad::start(
                &dir,
                daemon.addr,
                "+861058000000",
                caller,
                *digit,
                CALLS,
                RATE,
            )
        })
        .collect();
    // Meanwhile, the peak of RTP ports in use (so that "back to where they started"
    // below means something).
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (api, stop) = (daemon.api(), stop.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = get(api, "/api/v1/health", API_KEY)
                    && let Some(n) = find_key(&r.json(), "rtp_ports_in_use").and_then(Value::as_u64)
                {
                    peak = peak.max(n);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        })
    };
    let mut failures = Vec::new();
    for load in loads {
        let (ok, text) = load.wait(Duration::from_secs(150));
        if !ok {
            failures.push(text);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("the health sampler");
    eprintln!("peak RTP ports in use during the load: {peak}");
    assert!(
        peak > ports_before,
        "the load never held an RTP port (peak {peak})"
    );
    assert!(
        failures.is_empty(),
        "SIPp calls failed:\n{}",
        failures.join("\n")
    );

    // A CDR per call, in the queue its digit names.
    let total = CALLS as usize * LOADS.len();
    let cdrs = db::wait_cdrs(&data, total, Duration::from_secs(20));
    assert_eq!(cdrs.len(), total, "one CDR per call");
    let queue_of: HashMap<&str, &str> = LOADS.iter().map(|(c, _, q)| (*c, *q)).collect();
    let mut wrong = Vec::new();
    for cdr in &cdrs {
        let caller = cdr["caller"].as_str().unwrap_or("");
        let expected = queue_of
            .iter()
            .find(|(c, _)| caller.ends_with(c.trim_start_matches('+')))
            .map(|(_, q)| *q);
        if expected.is_none() || cdr["queue"].as_str() != expected {
            wrong.push(format!(
                "{} from {caller}: queue {}, expected {expected:?}",
                cdr["id"], cdr["queue"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} calls in the wrong queue:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // The queue log has each call entering that queue.
    let log = db::queue_log(&data);
    let entered: HashMap<String, String> = log
        .iter()
        .filter(|r| r["event"] == "enter")
        .filter_map(|r| {
            Some((
                r["call"].as_str()?.to_owned(),
                r["queue"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut missing = Vec::new();
    for cdr in &cdrs {
        let id = cdr["id"].as_str().unwrap_or("");
        if entered.get(id).map(String::as_str) != cdr["queue"].as_str() {
            missing.push(format!(
                "{id}: enter {:?}, CDR queue {}",
                entered.get(id),
                cdr["queue"]
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "{} calls without their queue's `enter`:\n{}",
        missing.len(),
        missing
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Nothing left behind.
    let calls = common::wait_until(Duration::from_secs(10), || {
        let calls = items(&daemon.get("/api/v1/calls"));
        calls.is_empty().then_some(())
    });
    assert!(
        calls.is_some(),
        "active calls left: {:#}",
        daemon.get("/api/v1/calls")
    );
    let ports_after = common::wait_until(Duration::from_secs(10), || {
        let n = rtp_ports_in_use(&daemon);
        (n == ports_before).then_some(n)
    });
    assert!(
        ports_after.is_some(),
        "RTP ports in use: {} after, {ports_before} before",
        rtp_ports_in_use(&daemon)
    );
    assert_eq!(agent_states(&daemon), agents_before, "agent states");
    assert!(daemon.stop().success());
    // Kept when the test fails, for its database, recordings and logs.
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each agent's id and state.
fn agent_states(daemon: &Daemon) -> Vec<(String, String)> {
    let mut states: Vec<(String, String)> = items(&daemon.get("/api/v1/agents"))
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or("?").to_owned(),
                a["state"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    states.sort();
    states
}

/// `rtp_ports_in_use` from GET /api/v1/health.
fn rtp_ports_in_use(daemon: &Daemon) -> u64 {
    let health = daemon.get("/api/v1/health");
    find_key(&health, "rtp_ports_in_use")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("GET /api/v1/health has no rtp_ports_in_use: {health:#}"))
}

fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(o) => o
            .get(key)
            .or_else(|| o.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}
