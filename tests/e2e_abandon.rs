//! End to end: a baresip caller on the trunk reaches the demo's sales queue and hangs up
//! while the only agent's phone (baresip, registered with digest authentication, not
//! answering) rings: the CANCEL reaches the agent's phone, the CDR says abandoned and the
//! queue log counts the abandon.

mod common;

use std::time::{Duration, Instant};

use common::audio::write_tone;
use common::baresip::{Account, Phone};
use common::http::items;
use common::{DEMO_DID, Daemon, PASSWORD, db, scratch_dir};

#[test]
fn caller_hanging_up_while_the_agent_rings_cancels_and_counts_an_abandon() {
    let dir = scratch_dir("abandon");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 120.0);
    let data = dir.join("data");
    let mut daemon = Daemon::contact_centre(&data, None, &[]);

    // Only 1001's phone is registered, so the call can only ring there; it never answers.
    let agent = Phone::start(
        "1001",
        "127.0.0.1",
        &tone,
        &Account::Registered {
            user: "1001".into(),
            password: PASSWORD.into(),
            registrar: daemon.addr,
            auto_answer: false,
        },
    );
    agent.expect_registered(Duration::from_secs(10));

    let caller = Phone::start(
        "caller",
        "127.0.0.2",
        &tone,
        &Account::Local {
            user: "+8613900139000".into(),
        },
    );
    caller.dial(&daemon.uri(DEMO_DID));
    caller.expect_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let answered = Instant::now();
    // English after the language greeting; sales (typed ahead during `welcome`), and once
    // more after the main menu's greeting should the early key have been dropped.
    std::thread::sleep(Duration::from_millis(6000));
    caller.send_digits("1");
    std::thread::sleep(Duration::from_millis(1200));
    caller.send_digits("1");
    if agent
        .wait_event(
            "CALL_INCOMING",
            (answered + Duration::from_secs(19)).saturating_duration_since(Instant::now()),
        )
        .is_none()
    {
        caller.send_digits("1");
    }
    agent.expect_event("CALL_INCOMING", Duration::from_secs(30));
    // The phone rings a while (short of the demo's 15 s ring timeout), past the 5 s under
    // which an abandon is a "short" one.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        agent.count("CALL_CLOSED"),
        0,
        "the agent's call ended by itself"
    );
    let queued = daemon.get("/api/v1/calls");
    eprintln!("active calls while ringing: {queued:#}");

    caller.hangup();
    caller.expect_event("CALL_CLOSED", Duration::from_secs(5));
    // The CANCEL reaches the ringing phone: its call closes without having been answered.
    let closed = agent.expect_event("CALL_CLOSED", Duration::from_secs(5));
    eprintln!("agent's call closed: {closed}");
    assert_eq!(
        agent.count("CALL_ESTABLISHED"),
        0,
        "the agent never answered"
    );

    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["disposition"], "abandoned", "{cdr:#}");
    assert_eq!(cdr["queue"], "sales", "{cdr:#}");
    assert_eq!(cdr["hangup_by"], "caller", "{cdr:#}");
    assert!(
        cdr["agent"].is_null() || cdr["agent"] == "",
        "nobody took it: {cdr:#}"
    );
    assert_eq!(cdr["billable_ms"].as_i64(), Some(0), "{cdr:#}");

    let call = cdr["id"].as_str().expect("the call's id");
    let log = common::wait_until(Duration::from_secs(5), || {
        let rows = db::queue_log_of(&data, call);
        db::in_order(&db::events(&rows), &["enter", "offer", "abandon"]).then_some(rows)
    })
    .unwrap_or_else(|| panic!("queue log of {call}: {:#?}", db::queue_log_of(&data, call)));
    assert!(
        !db::events(&log).iter().any(|e| e == "connect"),
        "no connect: {log:#?}"
    );

    // The abandon is counted in today's figures, and the agent is free again.
    let queue = daemon.get("/api/v1/queues/sales");
    eprintln!("sales queue: {queue:#}");
    assert_eq!(queue["today"]["abandoned"], 1, "{queue:#}");
    assert_eq!(
        queue["waiting"].as_array().map(Vec::len),
        Some(0),
        "{queue:#}"
    );
    let calls = common::wait_until(Duration::from_secs(5), || {
        let calls = daemon.get("/api/v1/calls");
        items(&calls).is_empty().then_some(calls)
    });
    assert!(
        calls.is_some(),
        "active calls left: {:#}",
        daemon.get("/api/v1/calls")
    );
    let agents = daemon.get("/api/v1/agents");
    let alice = items(&agents)
        .into_iter()
        .find(|a| a["id"] == "1001")
        .unwrap_or_else(|| panic!("agent 1001 in {agents:#}"));
    assert_eq!(alice["state"], "available", "{alice:#}");

    drop((caller, agent));
    assert!(daemon.stop().success());
    // Kept when the test fails, for its database, recordings and logs.
    let _ = std::fs::remove_dir_all(&dir);
}
