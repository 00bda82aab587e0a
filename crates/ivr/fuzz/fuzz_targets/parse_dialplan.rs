//! Parse and check arbitrary text as a dialplan (and as a tests file): never a panic.
//! When the text compiles, run a call through it with a few events.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use switchyard_ivr::{CallInfo, Env, Event, Interpreter, QueueOutcome, compile, sim};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = sim::parse_tests("fuzz.tests", text);
    let exists = |p: &std::path::Path| p.as_os_str().len() % 2 == 0;
    let env = Env {
        prompt_exists: Some(&exists),
        ..Env::bare()
    };
    let Ok(plan) = compile("fuzz.dialplan", text, &env) else {
        // Rendering the diagnostics must not panic either.
        if let Err(d) = compile("fuzz.dialplan", text, &Env::bare()) {
            let _ = d.to_string();
        }
        return;
    };
    let plan = Arc::new(plan);
    let now: jiff::Timestamp = "2026-11-23T02:00:00Z".parse().expect("valid time");
    let call = CallInfo {
        to: "+861058000000".into(),
        from: "+8613800138000".into(),
        ..Default::default()
    };
    let Ok(mut it) = Interpreter::new(plan, &call, now) else {
        return;
    };
    let events = [
        Event::Dtmf('1'),
        Event::PlaybackDone { id: 1 },
        Event::Timeout,
        Event::QueueResult(QueueOutcome::Timeout),
        Event::LookupResult(Ok(r#"{"a":{"b":[1]}}"#.into())),
        Event::TransferResult { connected: false },
        Event::VoicemailDone,
        Event::Dtmf('#'),
    ];
    for (i, ev) in events.iter().cycle().take(64).enumerate() {
        while it.poll_action().is_some() {}
        let at = it.poll_timeout().unwrap_or(now).max(now);
        let ev = match ev {
            Event::PlaybackDone { .. } => Event::PlaybackDone { id: i as u32 / 2 },
            other => other.clone(),
        };
        it.handle_event(at, ev);
    }
});
