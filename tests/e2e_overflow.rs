//! End to end: nobody answers in the queue, so the configured overflow happens. With
//! tests/configs/overflow.toml a baresip caller on the trunk waits in the sales queue while
//! the only agent's phone (baresip, registered) rings unanswered; after the queue's 6 s
//! maximum wait the caller is sent to the sales voicemail box, hears its greeting and
//! leaves a message (its 440 Hz tone): the message is a WAV the API lists and serves, and
//! the CDR's disposition is voicemail.

mod common;

use std::time::Duration;

use common::audio::{best_correlation, read_wav, tone_secs, write_tone};
use common::baresip::{Account, Phone};
use common::http::{get, items};
use common::{API_KEY, Daemon, PASSWORD, Ports, db, repo_root, scratch_dir, write_config};

const CALLER: &str = "+8613700137000";

#[test]
fn unanswered_queue_call_overflows_to_voicemail() {
    let dir = scratch_dir("overflow");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 120.0);
    let data = dir.join("data");
    let ports = Ports::pick();
    let config = write_config("overflow.toml", &dir, &ports.config_replacements(&data));
    let mut daemon = Daemon::contact_centre_on(&ports, &data, Some(&config), &[]);

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
            user: CALLER.into(),
        },
    );
    caller.dial(&daemon.uri("+861058000000"));
    caller.expect_event("CALL_ESTABLISHED", Duration::from_secs(10));
    // The agent's phone rings (the offer) but is never answered.
    agent.expect_event("CALL_INCOMING", Duration::from_secs(10));
    // 6 s in the queue, the greeting, at most 6 s of message, goodbye: the switch hangs
    // up by itself.
    if caller
        .wait_event("CALL_CLOSED", Duration::from_secs(45))
        .is_none()
    {
        caller.hangup();
        panic!("the switch never ended the voicemail call");
    }
    assert_eq!(
        agent.count("CALL_ESTABLISHED"),
        0,
        "the agent never answered"
    );

    // The caller heard the mailbox's greeting before the recording.
    let heard = caller.heard();
    let greeting =
        read_wav(&repo_root().join("prompts/en/leave_message.wav")).expect("the greeting");
    let (corr, lag) = best_correlation(&heard.samples, &greeting.samples);
    eprintln!(
        "voicemail greeting correlation {corr:.3} at {:.2} s",
        lag as f64 / f64::from(heard.rate)
    );
    assert!(
        corr >= 0.5,
        "the caller did not hear the voicemail greeting: best correlation {corr:.3}"
    );

    // The message, listed by the API.
    let list = common::wait_until(Duration::from_secs(5), || {
        let list = voicemail_list(&daemon);
        (!list.is_empty()).then_some(list)
    })
    .unwrap_or_else(|| panic!("no voicemail listed"));
    eprintln!("voicemail: {list:#?}");
    assert_eq!(list.len(), 1, "{list:#?}");
    let vm = &list[0];
    assert_eq!(vm["mailbox"], "sales", "{vm:#}");
    assert!(
        vm["caller"]
            .as_str()
            .is_some_and(|c| c.ends_with("8613700137000")),
        "{vm:#}"
    );
    assert!(
        vm["duration_ms"].as_i64().is_some_and(|d| d >= 2000),
        "{vm:#}"
    );

    // The WAV exists and holds the caller's tone.
    let stored = vm["path"].as_str().expect("the message's path");
    let path = [
        std::path::PathBuf::from(stored),
        data.join(stored),
        data.parent().expect("a parent").join(stored),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| panic!("the message's WAV {stored} does not exist"));
    let wav = read_wav(&path).unwrap_or_else(|e| panic!("the message's WAV: {e}"));
    let secs = tone_secs(&wav, 440.0);
    eprintln!(
        "message: {:.2} s, {secs:.2} s of the caller's tone",
        wav.secs()
    );
    assert!(
        secs >= 2.0,
        "the message holds {secs:.2} s of the caller's tone"
    );

    // The API serves the recording, as stored.
    let id = vm["id"].as_str().expect("the message's id");
    let url = vm["audio_url"]
        .as_str()
        .map_or_else(|| format!("/api/v1/voicemail/{id}/audio"), str::to_owned);
    let served = get(daemon.api(), &url, API_KEY).expect("fetching the recording");
    assert_eq!(served.status, 200, "GET {url}");
    assert_eq!(
        served.header("content-type"),
        Some("audio/wav"),
        "GET {url}"
    );
    assert!(
        served.body == std::fs::read(&path).expect("reading the WAV"),
        "GET {url} serves the stored file"
    );

    // The CDR.
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["disposition"], "voicemail", "{cdr:#}");
    assert_eq!(cdr["queue"], "sales", "{cdr:#}");
    assert!(cdr["agent"].is_null() || cdr["agent"] == "", "{cdr:#}");
    assert_eq!(vm["call"], cdr["id"], "the message names its call");
    let call = cdr["id"].as_str().expect("the call's id");
    let log = db::queue_log_of(&data, call);
    let events = db::events(&log);
    assert!(db::in_order(&events, &["enter", "offer"]), "{log:#?}");
    assert!(!events.iter().any(|e| e == "connect"), "{log:#?}");

    drop((caller, agent));
    assert!(daemon.stop().success());
    // Kept when the test fails, for its database, recordings and logs.
    let _ = std::fs::remove_dir_all(&dir);
}

/// The voicemail list.
fn voicemail_list(daemon: &Daemon) -> Vec<serde_json::Value> {
    items(&daemon.get("/api/v1/voicemail"))
}
