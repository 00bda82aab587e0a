//! The interpreter on simulated time: events in, actions out.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use switchyard_ivr::{
    Action, CallInfo, DialplanSlot, Env, Event, HangupCause, Interpreter, QueueOutcome,
    TransferTarget, Value, Waiting, compile,
};

fn plan(src: &str) -> Arc<switchyard_ivr::Dialplan> {
    Arc::new(compile("t.dialplan", src, &Env::bare()).unwrap_or_else(|d| panic!("{d}")))
}

fn t0() -> Timestamp {
    "2026-11-23T02:00:00Z".parse().unwrap()
}

fn call(to: &str) -> CallInfo {
    CallInfo {
        to: to.into(),
        from: "+8613800138000".into(),
        caller_name: "Li".into(),
        trunk: "carrier".into(),
    }
}

fn drain(it: &mut Interpreter) -> Vec<Action> {
    std::iter::from_fn(|| it.poll_action()).collect()
}

fn play_id(actions: &[Action]) -> u32 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Play { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a Play action")
}

const MENU: &str = r#"
entry main:
  to any
  start menu
step menu:
  menu:
    greeting welcome
    short greeting short
    invalid invalid
    timeout 5s
    tries 2
    1: queue sales
    2: goto other
    after tries: hangup busy
  hangup
step other:
  play other
  hangup
"#;

#[test]
fn a_key_during_the_greeting_stops_it_and_acts() {
    let mut it = Interpreter::new(plan(MENU), &call("1"), t0()).unwrap();
    let a = drain(&mut it);
    let id = play_id(&a);
    assert!(matches!(a[0], Action::Play { barge_in: true, .. }));
    it.handle_event(t0(), Event::Dtmf('1'));
    let a = drain(&mut it);
    assert_eq!(a[0], Action::StopPlayback { id });
    assert!(matches!(&a[1], Action::Queue { queue, .. } if &**queue == "sales"));
    // The stopped playback's late completion changes nothing.
    it.handle_event(t0(), Event::PlaybackDone { id });
    assert!(drain(&mut it).is_empty());
    assert_eq!(it.waiting(), Waiting::Queue);
    it.handle_event(t0(), Event::QueueResult(QueueOutcome::Answered));
    assert!(it.is_finished());
}

#[test]
fn keys_pressed_on_hold_do_not_answer_the_next_menu() {
    let src = MENU.replace(
        "    1: queue sales\n",
        "    1:\n      queue sales\n      goto menu\n",
    );
    let mut it = Interpreter::new(plan(&src), &call("1"), t0()).unwrap();
    let id = play_id(&drain(&mut it));
    it.handle_event(t0(), Event::PlaybackDone { id });
    it.handle_event(t0(), Event::Dtmf('1'));
    assert!(matches!(&drain(&mut it)[..], [Action::Queue { .. }]));
    it.handle_event(t0(), Event::Dtmf('2'));
    it.handle_event(t0(), Event::QueueResult(QueueOutcome::Timeout));
    // The menu starts again and waits: the `2` from hold music is gone.
    let a = drain(&mut it);
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(matches!(&a[0], Action::Play { prompts, .. } if &*prompts[0].name == "welcome"));
    assert!(matches!(a[1], Action::Collect { .. }));
    assert_eq!(
        it.variable("queue_result"),
        Some(Value::Str("timeout".into()))
    );
}

#[test]
fn timeouts_count_tries_and_only_fire_at_the_deadline() {
    let mut it = Interpreter::new(plan(MENU), &call("1"), t0()).unwrap();
    let id = play_id(&drain(&mut it));
    assert_eq!(it.poll_timeout(), None, "no timer while the greeting plays");
    it.handle_event(t0(), Event::PlaybackDone { id });
    let deadline = it.poll_timeout().expect("listening now");
    assert_eq!(deadline, t0() + jiff::SignedDuration::from_secs(5));
    // Early: ignored.
    it.handle_event(t0() + jiff::SignedDuration::from_secs(4), Event::Timeout);
    assert!(drain(&mut it).is_empty());
    it.handle_event(deadline, Event::Timeout);
    // No `no input` prompt in this menu: straight to the short greeting.
    let a = drain(&mut it);
    assert!(
        matches!(&a[0], Action::Play { prompts, .. } if &*prompts[0].name == "short"),
        "{a:?}"
    );
    let id = play_id(&a);
    it.handle_event(deadline, Event::PlaybackDone { id });
    it.handle_event(deadline, Event::Dtmf('7'));
    // Wrong key on the last try: after tries.
    assert_eq!(
        drain(&mut it),
        vec![Action::Hangup {
            cause: HangupCause::Busy
        }]
    );
    assert!(it.is_finished());
}

#[test]
fn keys_pressed_during_a_plain_prompt_are_kept_for_the_next_menu() {
    let src = MENU.replace("step menu:\n", "step menu:\n  play intro\n");
    let mut it = Interpreter::new(plan(&src), &call("1"), t0()).unwrap();
    let id = play_id(&drain(&mut it));
    it.handle_event(t0(), Event::Dtmf('2'));
    assert!(drain(&mut it).is_empty(), "the intro is not interruptible");
    it.handle_event(t0(), Event::PlaybackDone { id });
    let a = drain(&mut it);
    // The menu starts, takes the early `2` at once (stopping its greeting) and goes on.
    assert!(matches!(&a[0], Action::Play { prompts, .. } if &*prompts[0].name == "welcome"));
    assert!(matches!(a[2], Action::StopPlayback { .. }), "{a:?}");
    assert!(
        matches!(&a[3], Action::Play { prompts, .. } if &*prompts[0].name == "other"),
        "{a:?}"
    );
}

#[test]
fn collect_reads_until_the_terminator_or_a_pause() {
    let src = r#"
entry main:
  to any
  start ask
step ask:
  collect account prompt enter digits 8 between 3s
  if length(account) == 4 and starts_with(account, "12"):
    queue vip
  hangup
"#;
    let p = plan(src);
    let mut it = Interpreter::new(p.clone(), &call("1"), t0()).unwrap();
    let id = play_id(&drain(&mut it));
    it.handle_event(t0(), Event::PlaybackDone { id });
    for c in "1234#".chars() {
        it.handle_event(t0(), Event::Dtmf(c));
    }
    let a = drain(&mut it);
    assert_eq!(
        a[0],
        Action::SetVariable {
            name: "account".into(),
            value: "1234".into()
        }
    );
    assert!(matches!(&a[1], Action::Queue { queue, .. } if &**queue == "vip"));
    assert_eq!(it.variable("account"), Some(Value::Str("1234".into())));

    // Without the terminator, a 3 s pause ends the input.
    let mut it = Interpreter::new(p, &call("1"), t0()).unwrap();
    let id = play_id(&drain(&mut it));
    it.handle_event(t0(), Event::PlaybackDone { id });
    it.handle_event(t0(), Event::Dtmf('9'));
    let d = it.poll_timeout().unwrap();
    assert_eq!(d, t0() + jiff::SignedDuration::from_secs(3));
    it.handle_event(d, Event::Timeout);
    let a = drain(&mut it);
    assert_eq!(
        a[0],
        Action::SetVariable {
            name: "account".into(),
            value: "9".into()
        }
    );
    assert_eq!(
        a[1],
        Action::Hangup {
            cause: HangupCause::Normal
        }
    );
}

#[test]
fn a_loop_that_never_waits_hits_the_step_budget() {
    let looping = r#"
budget 50
entry main:
  to any
  start spin
step spin:
  set n = n + 1
  goto spin
"#;
    // No `on error`: a fault, then hang up with cause `failure`.
    let mut it = Interpreter::new(plan(looping), &call("1"), t0()).unwrap();
    let a = drain(&mut it);
    assert!(
        matches!(&a[a.len() - 2], Action::Fault { message } if message.contains("budget")),
        "{a:?}"
    );
    assert_eq!(
        a[a.len() - 1],
        Action::Hangup {
            cause: HangupCause::Failure
        }
    );
    assert!(it.is_finished());
    assert_eq!(
        it.variable("n"),
        Some(Value::Int(25)),
        "half the budget went on `set`"
    );
    // 25 assignments, one report to the daemon, with the last value.
    let sets: Vec<_> = a
        .iter()
        .filter(|x| matches!(x, Action::SetVariable { .. }))
        .collect();
    assert_eq!(
        sets,
        [&Action::SetVariable {
            name: "n".into(),
            value: "25".into()
        }]
    );

    // With `on error`: the fault leads there.
    let src =
        format!("on error goto sorry\n{looping}\nstep sorry:\n  play sorry\n  hangup failure\n");
    let mut it = Interpreter::new(plan(&src), &call("1"), t0()).unwrap();
    let a = drain(&mut it);
    let fault = a
        .iter()
        .position(|x| matches!(x, Action::Fault { .. }))
        .expect("a fault");
    assert!(matches!(&a[fault + 1], Action::Play { prompts, .. } if &*prompts[0].name == "sorry"));
}

#[test]
fn return_without_call_is_a_fault() {
    let src = "entry main:\n  to any\n  start a\nstep a:\n  return\n";
    let mut it = Interpreter::new(plan(src), &call("1"), t0()).unwrap();
    let a = drain(&mut it);
    assert!(
        matches!(&a[0], Action::Fault { message } if message.contains("`return`") && message.contains("t.dialplan:5")),
        "{a:?}"
    );
    assert_eq!(
        a[1],
        Action::Hangup {
            cause: HangupCause::Failure
        }
    );
}

#[test]
fn call_and_return_and_switch_on_digits() {
    let src = r#"
entry main:
  to any
  start a
step a:
  call sub
  switch digits:
    "1", "2": goto one
    default: hangup rejected
step sub:
  menu:
    greeting g
    1, 2, 3: return
    after tries: return
step one:
  hangup busy
"#;
    let p = plan(src);
    for (key, cause) in [('2', HangupCause::Busy), ('3', HangupCause::Rejected)] {
        let mut it = Interpreter::new(p.clone(), &call("1"), t0()).unwrap();
        let id = play_id(&drain(&mut it));
        it.handle_event(t0(), Event::PlaybackDone { id });
        it.handle_event(t0(), Event::Dtmf(key));
        assert_eq!(drain(&mut it), vec![Action::Hangup { cause }], "key {key}");
    }
}

#[test]
fn lookup_fills_variables_or_takes_the_failure_branch_on_timeout() {
    let src = r#"
entry main:
  to any
  start a
step a:
  lookup post "http://crm/find" body "{\"n\":\"${caller}\"}" timeout 1500ms:
    save customer.name as name
    save customer.orders.0 as first_order
    on failure: goto nobody
  queue sales priority first_order
  hangup
step nobody:
  hangup unavailable
"#;
    let p = plan(src);
    let mut it = Interpreter::new(p.clone(), &call("1"), t0()).unwrap();
    let a = drain(&mut it);
    assert_eq!(
        a[0],
        Action::Lookup {
            method: switchyard_ivr::Method::Post,
            url: "http://crm/find".into(),
            body: Some("{\"n\":\"+8613800138000\"}".into()),
            timeout: Duration::from_millis(1500),
        }
    );
    it.handle_event(
        t0(),
        Event::LookupResult(Ok(r#"{"customer":{"name":"Li Lei","orders":[7,8]}}"#.into())),
    );
    let a = drain(&mut it);
    assert_eq!(
        a[0],
        Action::SetVariable {
            name: "name".into(),
            value: "Li Lei".into()
        }
    );
    assert_eq!(
        a[1],
        Action::SetVariable {
            name: "first_order".into(),
            value: "7".into()
        }
    );
    assert!(matches!(&a[2], Action::Queue { priority: 7, .. }), "{a:?}");

    // No answer within the timeout: the failure branch.
    let mut it = Interpreter::new(p, &call("1"), t0()).unwrap();
    drain(&mut it);
    let d = it.poll_timeout().expect("the lookup is timed");
    it.handle_event(d, Event::Timeout);
    assert_eq!(
        drain(&mut it),
        vec![Action::Hangup {
            cause: HangupCause::Unavailable
        }]
    );
    // A late answer is ignored.
    it.handle_event(d, Event::LookupResult(Ok("{}".into())));
    assert!(drain(&mut it).is_empty());
}

#[test]
fn transfers_and_voicemail() {
    let src = r#"
entry main:
  to any
  start a
step a:
  transfer number "+442079460000" via carrier
  if transfer_result == "failed":
    voicemail sales
  transfer agent alice
  hangup
"#;
    let mut it = Interpreter::new(plan(src), &call("1"), t0()).unwrap();
    assert_eq!(
        drain(&mut it),
        vec![Action::Transfer {
            target: TransferTarget::Number {
                number: "+442079460000".into(),
                trunk: "carrier".into()
            }
        }]
    );
    it.handle_event(t0(), Event::TransferResult { connected: false });
    assert_eq!(
        drain(&mut it),
        vec![Action::Voicemail {
            mailbox: "sales".into()
        }]
    );
    it.handle_event(t0(), Event::VoicemailDone);
    assert_eq!(
        drain(&mut it),
        vec![Action::Transfer {
            target: TransferTarget::Agent("alice".into())
        }]
    );
    it.handle_event(t0(), Event::TransferResult { connected: true });
    assert!(it.is_finished());
    assert!(drain(&mut it).is_empty());
}

#[test]
fn entries_match_on_did_caller_and_trunk_patterns() {
    let src = r#"
entry vip:
  to "+8610580000[0-4]X"
  from "+86139*"
  start vip
entry uk:
  to "+44*"
  trunk "uk-*"
  start uk
step vip:
  hangup busy
step uk:
  hangup rejected
"#;
    let p = plan(src);
    let mut c = call("+861058000012");
    c.from = "+8613912345678".into();
    let mut it = Interpreter::new(p.clone(), &c, t0()).unwrap();
    assert_eq!(
        drain(&mut it),
        vec![Action::Hangup {
            cause: HangupCause::Busy
        }]
    );
    c.from = "+8613812345678".into();
    assert!(
        Interpreter::new(p.clone(), &c, t0()).is_err(),
        "caller does not match"
    );
    let mut c = call("+442079460000");
    c.trunk = "uk-bt".into();
    let mut it = Interpreter::new(p.clone(), &c, t0()).unwrap();
    assert_eq!(
        drain(&mut it),
        vec![Action::Hangup {
            cause: HangupCause::Rejected
        }]
    );
    assert_eq!(p.route(&c), Some("uk"));
    c.trunk = "cn-unicom".into();
    assert_eq!(p.route(&c), None);
    assert!(
        Interpreter::new(p, &c, t0()).is_err(),
        "trunk does not match"
    );
}

#[test]
fn each_schedule_uses_its_own_time_zone() {
    let src = r#"
timezone Asia/Shanghai
hours london:
  timezone Europe/London
  mon-fri 09:00-17:00
hours beijing:
  mon-fri 09:00-17:00
entry main:
  to any
  start a
step a:
  if open(london) and open(beijing):
    hangup busy
  else if open(london):
    hangup rejected
  else if open(beijing):
    hangup unavailable
  hangup
"#;
    let p = plan(src);
    let cause_at = |at: &str| {
        let mut it = Interpreter::new(p.clone(), &call("1"), at.parse().unwrap()).unwrap();
        match drain(&mut it).pop() {
            Some(Action::Hangup { cause }) => cause,
            other => panic!("{other:?}"),
        }
    };
    // 02:00 UTC Monday: 10:00 in Beijing, 02:00 in London.
    assert_eq!(cause_at("2026-11-23T02:00:00Z"), HangupCause::Unavailable);
    // 09:30 UTC: 17:30 Beijing (closed), 09:30 London.
    assert_eq!(cause_at("2026-11-23T09:30:00Z"), HangupCause::Rejected);
    // 08:30 UTC in June: 16:30 Beijing, 09:30 London (BST): both open.
    assert_eq!(cause_at("2026-06-22T08:30:00Z"), HangupCause::Busy);
    assert_eq!(cause_at("2026-11-23T20:00:00Z"), HangupCause::Normal);
}

#[test]
fn reload_keeps_calls_on_their_version_and_refuses_a_broken_dialplan() {
    let v1 = "entry main:\n  to any\n  start a\nstep a:\n  play one\n  hangup\n";
    let v2 = "entry main:\n  to any\n  start a\nstep a:\n  play two\n  hangup\n";
    let mut slot = DialplanSlot::new(compile("d", v1, &Env::bare()).unwrap());
    let mut old = Interpreter::new(slot.current(), &call("1"), t0()).unwrap();
    let old_id = play_id(&drain(&mut old));

    slot.reload("d", v2, &Env::bare()).unwrap();
    assert_eq!(slot.version(), 2);
    let mut new = Interpreter::new(slot.current(), &call("1"), t0()).unwrap();
    assert!(
        matches!(&drain(&mut new)[0], Action::Play { prompts, .. } if &*prompts[0].name == "two")
    );

    // The call in progress finishes on version 1.
    assert!(matches!(&old.plan().warnings().0[..], []));
    assert!(!Arc::ptr_eq(old.plan(), &slot.current()));
    old.handle_event(t0(), Event::PlaybackDone { id: old_id });
    assert_eq!(
        drain(&mut old),
        vec![Action::Hangup {
            cause: HangupCause::Normal
        }]
    );

    // A broken reload is refused; version 2 keeps serving.
    let err = slot
        .reload(
            "d",
            "entry main:\n  to any\n  start nowhere\n",
            &Env::bare(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no step named `nowhere`"), "{err}");
    assert_eq!(slot.version(), 2);
    let mut again = Interpreter::new(slot.current(), &call("1"), t0()).unwrap();
    assert!(
        matches!(&drain(&mut again)[0], Action::Play { prompts, .. } if &*prompts[0].name == "two")
    );
}

#[test]
fn interpreters_move_between_threads_and_show_their_variables() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Interpreter>();
    send_sync::<switchyard_ivr::Dialplan>();
    let mut it = Interpreter::new(plan(MENU), &call("+861058000000"), t0()).unwrap();
    drain(&mut it);
    let vars: Vec<(String, String)> = it
        .variables()
        .map(|(k, v)| (k.to_owned(), v.to_string()))
        .collect();
    assert!(
        vars.contains(&("did".into(), "+861058000000".into())),
        "{vars:?}"
    );
    assert!(
        vars.contains(&("caller_name".into(), "Li".into())),
        "{vars:?}"
    );
    assert!(vars.contains(&("language".into(), "en".into())), "{vars:?}");
    assert!(
        !vars.iter().any(|(k, _)| k == "time" || k == "digits"),
        "{vars:?}"
    );
}

#[test]
fn a_hangup_ends_everything() {
    let mut it = Interpreter::new(plan(MENU), &call("1"), t0()).unwrap();
    drain(&mut it);
    it.handle_event(t0(), Event::Hangup);
    assert!(it.is_finished());
    assert_eq!(it.poll_timeout(), None);
    it.handle_event(t0(), Event::Dtmf('1'));
    assert!(drain(&mut it).is_empty());
}

#[test]
fn say_number_and_language_switch() {
    let src = r#"
languages en, zh
entry main:
  to any
  start a
step a:
  set n = 12 * 1000 + 305
  say number n
  language zh
  say number n
  hangup
"#;
    let mut it = Interpreter::new(plan(src), &call("1"), t0()).unwrap();
    let mut files = Vec::new();
    loop {
        let a = drain(&mut it);
        let mut next = None;
        for x in &a {
            if let Action::Play { id, prompts, .. } = x {
                files.push(
                    prompts
                        .iter()
                        .map(|p| format!("{}/{}", p.language, p.name))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                next = Some(*id);
            }
        }
        match next {
            Some(id) => it.handle_event(t0(), Event::PlaybackDone { id }),
            None => break,
        }
    }
    assert_eq!(
        files,
        [
            "en/12 en/thousand en/3 en/hundred en/5",
            "zh/1 zh/wan zh/2 zh/thousand zh/3 zh/hundred zh/0 zh/5"
        ]
    );
}
