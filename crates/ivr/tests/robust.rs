//! Damaged dialplans never panic the parser, the checker or the interpreter.

use std::sync::Arc;

use proptest::prelude::*;
use switchyard_ivr::{CallInfo, Env, Event, Interpreter, QueueOutcome, compile};

const DEMO: &str = include_str!("../../../dialplans/default.dialplan");

/// Runs a call through whatever compiled, answering with a fixed mix of events.
fn exercise(source: &str) {
    let Ok(plan) = compile("m.dialplan", source, &Env::bare()) else {
        return;
    };
    let now: jiff::Timestamp = "2026-11-23T02:00:00Z".parse().unwrap();
    let call = CallInfo {
        to: "+861058000000".into(),
        from: "+8613800138000".into(),
        ..Default::default()
    };
    let Ok(mut it) = Interpreter::new(Arc::new(plan), &call, now) else {
        return;
    };
    let events = [
        Event::Dtmf('1'),
        Event::Timeout,
        Event::QueueResult(QueueOutcome::LongWait {
            estimated: std::time::Duration::from_secs(300),
        }),
        Event::LookupResult(Err("down".into())),
        Event::Dtmf('2'),
        Event::VoicemailDone,
    ];
    for (i, ev) in events.iter().cycle().take(40).enumerate() {
        let mut last_play = None;
        while let Some(a) = it.poll_action() {
            if let switchyard_ivr::Action::Play { id, .. } = a {
                last_play = Some(id);
            }
        }
        let at = it.poll_timeout().unwrap_or(now).max(now);
        match last_play {
            Some(id) if i % 2 == 0 => it.handle_event(at, Event::PlaybackDone { id }),
            _ => it.handle_event(at, ev.clone()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn deleting_lines_never_panics(drop in proptest::collection::vec(any::<bool>(), 200)) {
        let text: String = DEMO
            .lines()
            .enumerate()
            .filter(|(i, _)| !drop.get(*i).copied().unwrap_or(false))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        exercise(&text);
    }

    #[test]
    fn overwriting_characters_never_panics(
        edits in proptest::collection::vec((0usize..6000, proptest::char::any()), 1..8)
    ) {
        let mut chars: Vec<char> = DEMO.chars().collect();
        for (at, c) in edits {
            let i = at % chars.len();
            chars[i] = c;
        }
        exercise(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn arbitrary_lines_never_panic(text in "(([ ]{0,4})([a-z_:\"#0-9 ,>=().$-]{0,30})\n){0,30}") {
        exercise(&text);
    }
}
