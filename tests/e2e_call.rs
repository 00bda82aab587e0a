//! End to end, with real softphones: a baresip caller on the trunk (127.0.0.2) dials the
//! demo contact centre's number, hears the greeting, chooses English and sales by RFC 4733
//! DTMF and is queued; two baresip agents registered with digest authentication wait, one
//! of them answering automatically; audio flows both ways (each side's recording carries
//! the other side's tone); the caller hangs up; the CDR and the queue log say so.

mod common;

use std::time::{Duration, Instant};

use common::audio::{best_correlation, read_wav, tone_secs, write_tone};
use common::baresip::{Account, Phone};
use common::events::Events;
use common::{API_KEY, DEMO_DID, Daemon, db, repo_root, scratch_dir};

/// The caller's number, as its From header carries it.
const CALLER: &str = "+8613800138000";
/// The tone each side sends.
const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;

fn agent(name: &str, daemon: &Daemon, tone: &std::path::Path, auto_answer: bool) -> Phone {
    Phone::registered(name, daemon.addr, tone, auto_answer)
}

#[test]
fn trunk_caller_reaches_an_agent_through_the_ivr_and_queue() {
    let dir = scratch_dir("call");
    let caller_tone = dir.join("caller.wav");
    let agent_tone = dir.join("agent.wav");
    write_tone(&caller_tone, CALLER_HZ, 120.0);
    write_tone(&agent_tone, AGENT_HZ, 120.0);
    let data = dir.join("data");
    let mut daemon = Daemon::contact_centre(&data, None, &[]);

    // 1001 answers by itself; 1002 rings and never answers.
    let alice = agent("1001", &daemon, &agent_tone, true);
    let bob = agent("1002", &daemon, &agent_tone, false);

    // The event stream an agent desktop would read.
    let events = Events::connect(daemon.api(), API_KEY);

    let caller = Phone::start(
        "caller",
        "127.0.0.2",
        &caller_tone,
        &Account::Local {
            user: CALLER.to_owned(),
        },
    );
    caller.dial(&daemon.uri(DEMO_DID));
    caller.expect_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let answered = Instant::now();

    // The language menu's greeting (4.6 s) plays in full; then 1 (English). The next 1
    // comes while `welcome` plays: the main menu takes it (type-ahead) and picks sales.
    sleep_until(answered + Duration::from_millis(6000));
    caller.send_digits("1");
    sleep_until(answered + Duration::from_millis(7500));
    caller.send_digits("1");
    // Should the main menu have dropped the early key, press it again once its greeting
    // (8.4 s) is over; in the queue a key does nothing.
    let rang = |p: &Phone| p.count("CALL_INCOMING") + p.count("CALL_ESTABLISHED") > 0;
    let deadline = answered + Duration::from_millis(19_000);
    while Instant::now() < deadline && !rang(&alice) && !rang(&bob) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !rang(&alice) && !rang(&bob) {
        caller.send_digits("1");
    }

    // The ACD offers the call; if Bob rings first, his ring timeout passes and Alice gets
    // it. Alice answers automatically.
    let established = alice.expect_event("CALL_ESTABLISHED", Duration::from_secs(60));
    assert!(
        established["peeruri"]
            .as_str()
            .is_some_and(|u| u.contains(CALLER)),
        "the agent's phone shows the caller's number: {established}"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        caller.count("CALL_CLOSED"),
        0,
        "the caller's call ended early"
    );
    caller.hangup();
    caller.expect_event("CALL_CLOSED", Duration::from_secs(5));
    alice.expect_event("CALL_CLOSED", Duration::from_secs(10));

    // The screen pop: the offer to Alice carried the caller, the number dialled, the queue
    // and what the IVR collected (the customer lookup failed: nothing listens on 8089).
    let offered = events
        .wait("call_offered", Duration::from_secs(5), |e| {
            e["agent"] == "1001"
        })
        .unwrap_or_else(|| panic!("no call_offered to 1001 among {:#?}", events.all()));
    eprintln!("screen pop: {offered:#}");
    assert_eq!(offered["caller"], CALLER, "{offered:#}");
    assert_eq!(offered["did"], DEMO_DID, "{offered:#}");
    assert_eq!(offered["queue"], "sales", "{offered:#}");
    assert_eq!(
        offered["variables"]["customer_tier"], "unknown",
        "{offered:#}"
    );
    assert!(
        events
            .wait("call_connected", Duration::from_secs(5), |e| e["agent"]
                == "1001")
            .is_some(),
        "no call_connected for 1001 among {:#?}",
        events.all()
    );

    // The greeting: the caller's recording correlates with the prompt at the best lag.
    let heard = caller.heard();
    let prompt = read_wav(&repo_root().join("prompts/en/choose_language.wav")).expect("prompt");
    assert_eq!(heard.rate, prompt.rate, "recording and prompt rates");
    let (corr, lag) = best_correlation(heard.slice(0.0, 12.0), &prompt.samples);
    eprintln!(
        "greeting correlation {corr:.3} at {:.3} s",
        lag as f64 / f64::from(heard.rate)
    );
    assert!(
        corr >= 0.5,
        "the caller did not hear the greeting: best correlation {corr:.3}"
    );

    // Audio both ways, at the other side's frequency.
    let caller_heard_agent = tone_secs(&heard, AGENT_HZ);
    let agent_heard = alice.heard();
    let agent_heard_caller = tone_secs(&agent_heard, CALLER_HZ);
    eprintln!(
        "caller heard {caller_heard_agent:.2} s of the agent's tone; agent heard \
         {agent_heard_caller:.2} s of the caller's"
    );
    assert!(
        caller_heard_agent >= 2.0,
        "the caller heard {caller_heard_agent:.2} s of the agent's {AGENT_HZ} Hz"
    );
    assert!(
        agent_heard_caller >= 2.0,
        "the agent heard {agent_heard_caller:.2} s of the caller's {CALLER_HZ} Hz"
    );

    // The CDR.
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "one call, one CDR: {cdrs:#?}");
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["disposition"], "answered", "{cdr:#}");
    assert_eq!(cdr["queue"], "sales", "{cdr:#}");
    assert_eq!(cdr["agent"], "1001", "{cdr:#}");
    assert!(
        cdr["caller"]
            .as_str()
            .is_some_and(|c| c.ends_with("8613800138000")),
        "caller: {cdr:#}"
    );
    assert_eq!(cdr["did"], DEMO_DID, "{cdr:#}");
    assert_eq!(cdr["hangup_by"], "caller", "{cdr:#}");
    assert!(cdr["answer_ms"].as_i64().is_some(), "answer time: {cdr:#}");
    assert!(
        cdr["wait_ms"].as_i64().is_some_and(|w| w > 0),
        "wait time: {cdr:#}"
    );
    assert!(
        cdr["billable_ms"].as_i64().is_some_and(|b| b >= 3000),
        "billable time covers the talk: {cdr:#}"
    );
    let start = cdr["start_ms"].as_i64().expect("start");
    let end = cdr["end_ms"].as_i64().expect("end");
    assert_eq!(cdr["duration_ms"].as_i64(), Some(end - start), "{cdr:#}");

    // The queue log: entered, offered to Alice, connected, completed.
    let call = cdr["id"].as_str().expect("the call's id");
    let log = common::wait_until(Duration::from_secs(5), || {
        let rows = db::queue_log_of(&data, call);
        db::in_order(
            &db::events(&rows),
            &["enter", "offer", "connect", "complete"],
        )
        .then_some(rows)
    })
    .unwrap_or_else(|| panic!("queue log of {call}: {:#?}", db::queue_log_of(&data, call)));
    assert!(log.iter().all(|r| r["queue"] == "sales"), "{log:#?}");
    let connect = log
        .iter()
        .find(|r| r["event"] == "connect")
        .expect("connect");
    assert_eq!(connect["agent"], "1001", "{log:#?}");
    assert!(
        log.iter()
            .any(|r| r["event"] == "offer" && r["agent"] == "1001"),
        "{log:#?}"
    );

    drop((caller, alice, bob));
    assert!(daemon.stop().success());
    // Kept when the test fails, for its database, recordings and logs.
    let _ = std::fs::remove_dir_all(&dir);
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}
