//! Scratch: the harness, baresip calling baresip directly.

mod common;

use std::time::Duration;

use common::audio::{best_correlation, read_wav, tone_secs, write_tone};
use common::baresip::{Account, Phone};
use common::scratch_dir;

#[test]
fn baresip_calls_baresip_with_tones_both_ways() {
    let dir = scratch_dir("harness");
    let t440 = dir.join("t440.wav");
    let t1000 = dir.join("t1000.wav");
    write_tone(&t440, 440.0, 60.0);
    write_tone(&t1000, 1000.0, 60.0);
    let agent = Phone::start(
        "agent",
        "127.0.0.1",
        &t1000,
        &Account::Local {
            user: "agent".into(),
        },
    );
    let caller = Phone::start(
        "caller",
        "127.0.0.2",
        &t440,
        &Account::Local {
            user: "+8613800138000".into(),
        },
    );
    // answermode manual: answer by command.
    caller.dial(&format!("sip:agent@{}", agent.sip));
    agent.expect_event("CALL_INCOMING", Duration::from_secs(5));
    agent.answer();
    caller.expect_event("CALL_ESTABLISHED", Duration::from_secs(5));
    agent.expect_event("CALL_ESTABLISHED", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(1));
    caller.send_digits("12");
    std::thread::sleep(Duration::from_secs(2));
    caller.hangup();
    agent.expect_event("CALL_CLOSED", Duration::from_secs(5));
    caller.expect_event("CALL_CLOSED", Duration::from_secs(5));
    let heard_by_caller = caller.heard();
    let heard_by_agent = agent.heard();
    eprintln!(
        "caller heard {:.2}s, 1000 Hz {:.2}s, 440 Hz {:.2}s",
        heard_by_caller.secs(),
        tone_secs(&heard_by_caller, 1000.0),
        tone_secs(&heard_by_caller, 440.0)
    );
    eprintln!(
        "agent heard {:.2}s, 440 Hz {:.2}s, 1000 Hz {:.2}s",
        heard_by_agent.secs(),
        tone_secs(&heard_by_agent, 440.0),
        tone_secs(&heard_by_agent, 1000.0)
    );
    assert!(tone_secs(&heard_by_caller, 1000.0) > 1.5);
    assert!(tone_secs(&heard_by_agent, 440.0) > 1.5);
    assert!(tone_secs(&heard_by_caller, 440.0) < 0.2);
    let digits: Vec<_> = agent
        .events()
        .iter()
        .filter(|e| e["type"] == "CALL_DTMF_START")
        .map(|e| e["param"].to_string())
        .collect();
    eprintln!("agent got digits {digits:?}");
    // Correlation sanity: a prompt against itself embedded in silence.
    let prompt = read_wav(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../prompts/en/choose_language.wav"
    )))
    .unwrap();
    let mut rec = vec![0.0f32; 12_345];
    rec.extend(prompt.samples.iter().map(|s| s * 0.5));
    rec.extend(heard_by_caller.samples.iter());
    let (c, lag) = best_correlation(&rec, &prompt.samples);
    eprintln!("self correlation {c:.3} at {lag}");
    assert!(c > 0.99 && lag == 12_345);
    let (c, lag) = best_correlation(&heard_by_caller.samples, &prompt.samples);
    eprintln!("tone vs prompt {c:.3} at {lag}");
    assert!(c < 0.3);
}
