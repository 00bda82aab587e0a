//! Routing rules and the offer lifecycle, on simulated time.

mod common;

use common::{H, secs};
use switchyard_acd::{
    AcdConfig, Action, AgentState, CallId, CancelReason, Enqueue, EscalationStep, Event,
    ExitReason, Fairness, OverflowTarget, Party, QueueConfig, SkillReq,
};

#[test]
fn higher_priority_first_then_first_come() {
    let mut h = H::new();
    let s = h.skill("sales");
    let qc = h.simple_queue("sales", s);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 5)]);
    h.ev(Event::AgentPause(a, "lunch".into()));
    for (id, prio) in [(1, 0), (2, 5), (3, 0), (4, 5)] {
        let mut e = Enqueue::new(CallId(id), q);
        e.priority = prio;
        h.enqueue(e);
        h.advance(secs(1));
    }
    assert_eq!(
        h.acd.waiting_calls(q),
        vec![CallId(2), CallId(4), CallId(1), CallId(3)]
    );
    h.ev(Event::AgentUnpause(a));
    let mut served = Vec::new();
    for _ in 0..4 {
        let (c, ag) = h.last_offer();
        served.push(c.0);
        h.take();
        h.ev(Event::AgentAnswered(c, ag));
        h.ev(Event::CallEnded(c, Party::Agent));
    }
    assert_eq!(served, vec![2, 4, 1, 3]);
}

#[test]
fn skills_and_levels_gate_offers_and_escalation_lowers_them() {
    let mut h = H::new();
    let s = h.skill("billing");
    let mut qc = QueueConfig::new("billing", vec![SkillReq::new(s, 7)]);
    qc.announce_interval = None;
    qc.escalation = vec![EscalationStep {
        after: secs(30),
        lower_min_level: 3,
        ..Default::default()
    }];
    let q = h.queue(qc);
    let novice = h.agent("novice", &[(s, 4)]);
    let c = h.call(1, q);
    assert!(
        h.offers().is_empty(),
        "a level-4 agent must not get a level-7 call"
    );
    h.advance(secs(29));
    assert!(h.offers().is_empty());
    h.advance(secs(1));
    assert_eq!(h.last_offer(), (c, novice));
    assert_eq!(h.acd.call_info(c).unwrap().escalation_step, 1);
}

#[test]
fn escalation_keeps_the_callers_place() {
    let mut h = H::new();
    let s = h.skill("s");
    let other = h.skill("other");
    let mut qc = QueueConfig::new("q", vec![SkillReq::new(s, 1)]);
    qc.announce_interval = None;
    qc.escalation = vec![EscalationStep {
        after: secs(60),
        add_skills: vec![SkillReq::new(other, 1)],
        ..Default::default()
    }];
    let q = h.queue(qc);
    let first = h.call(1, q);
    h.advance(secs(10));
    let second = h.call(2, q);
    h.advance(secs(55));
    // Only the first caller escalated; both still wait in arrival order.
    assert_eq!(h.acd.call_info(first).unwrap().escalation_step, 1);
    assert_eq!(h.acd.call_info(second).unwrap().escalation_step, 0);
    assert_eq!(h.acd.waiting_calls(q), vec![first, second]);
    // An agent with only the added skill takes the escalated caller.
    let helper = h.agent("helper", &[(other, 2)]);
    assert_eq!(h.last_offer(), (first, helper));
}

#[test]
fn escalation_can_add_another_queues_agents() {
    let mut h = H::new();
    let sales = h.skill("sales");
    let support = h.skill("support");
    let sq = h.simple_queue("support", support);
    let support_q = h.queue(sq);
    let mut qc = h.simple_queue("sales", sales);
    qc.escalation = vec![EscalationStep {
        after: secs(45),
        add_queues: vec![support_q],
        ..Default::default()
    }];
    let q = h.queue(qc);
    let helper = h.agent("helper", &[(support, 1)]);
    let c = h.call(1, q);
    h.advance(secs(44));
    assert!(h.offers().is_empty());
    h.advance(secs(1));
    assert_eq!(h.last_offer(), (c, helper));
}

#[test]
fn no_answer_rings_the_next_agent_and_pauses_after_three() {
    let mut h = H::new();
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.ring_timeout = secs(15);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    h.advance(secs(5));
    let b = h.agent("b", &[(s, 1)]);
    let c = h.call(1, q);
    assert_eq!(h.last_offer(), (c, a), "longest idle first");
    h.take();
    h.advance(secs(15));
    assert_eq!(h.cancels(), vec![(c, a, CancelReason::Timeout)]);
    assert_eq!(h.last_offer(), (c, b), "the next agent");
    h.take();
    // b's phone reports no answer (a 480, a redirect or a 181): back to a.
    h.ev(Event::AgentNoAnswer(c, b));
    assert_eq!(h.last_offer(), (c, a));
    h.take();
    h.ev(Event::AgentNoAnswer(c, a));
    assert_eq!(h.last_offer(), (c, b));
    h.take();
    h.ev(Event::AgentNoAnswer(c, b));
    // a has now missed two; b two; the next miss of a is the third.
    assert_eq!(h.last_offer(), (c, a));
    h.take();
    h.ev(Event::AgentNoAnswer(c, a));
    assert_eq!(h.acd.agent_state(a), AgentState::Paused("no answer".into()));
    assert_eq!(h.last_offer(), (c, b));
    h.ev(Event::AgentAnswered(c, b));
    assert_eq!(h.acd.agent_state(b), AgentState::OnCall(c));
}

#[test]
fn busy_backs_off_and_reject_moves_on() {
    let mut h = H::with(AcdConfig {
        busy_backoff: secs(10),
        ..AcdConfig::default()
    });
    let s = h.skill("s");
    let qc = h.simple_queue("q", s);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    let c = h.call(1, q);
    h.take();
    h.ev(Event::AgentBusy(c, a));
    assert!(h.offers().is_empty(), "no offer during the busy back-off");
    assert_eq!(h.acd.agent_state(a), AgentState::Available);
    h.advance(secs(10));
    assert_eq!(h.last_offer(), (c, a));
    h.take();
    h.ev(Event::AgentRejected(c, a));
    assert_eq!(h.last_offer(), (c, a), "the only agent gets a new round");
    let stats = h.acd.agent_stats(a).unwrap().total().clone();
    assert_eq!((stats.busy, stats.rejected, stats.offered), (1, 1, 3));
}

#[test]
fn ring_all_first_answer_wins_and_others_are_cancelled() {
    let mut h = H::new();
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.strategy = switchyard_acd::Strategy::RingAll;
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    let b = h.agent("b", &[(s, 1)]);
    let c3 = h.agent("c", &[(s, 1)]);
    let call = h.call(1, q);
    let offers = h.offers();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].1.len(), 3);
    h.take();
    h.ev(Event::AgentAnswered(call, b));
    let mut cancels = h.cancels();
    cancels.sort_by_key(|c| c.1);
    assert_eq!(
        cancels,
        vec![
            (call, a, CancelReason::CompletedElsewhere),
            (call, c3, CancelReason::CompletedElsewhere)
        ]
    );
    assert_eq!(h.acd.agent_state(a), AgentState::Available);
    // A late answer from a loser is refused: the daemon sends it BYE.
    assert!(h.try_ev(Event::AgentAnswered(call, a)).is_err());
}

#[test]
fn caller_hangup_while_ringing_cancels_and_counts_abandon() {
    let mut h = H::new();
    let s = h.skill("s");
    let qc = h.simple_queue("q", s);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    h.ev(Event::AgentPause(a, "coffee".into()));
    let c = h.call(1, q);
    h.advance(secs(30));
    h.ev(Event::AgentUnpause(a));
    h.take();
    h.advance(secs(3));
    h.ev(Event::CallerHungUp(c));
    assert_eq!(h.cancels(), vec![(c, a, CancelReason::CallerGone)]);
    assert_eq!(h.acd.agent_state(a), AgentState::Available);
    let st = h.acd.queue_stats(q).unwrap().total().clone();
    assert_eq!((st.offered, st.abandoned, st.answered), (1, 1, 0));
}

#[test]
fn wrap_up_then_available_and_never_two_calls() {
    let mut h = H::new();
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.wrap_up = secs(30);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    let c1 = h.call(1, q);
    h.ev(Event::AgentAnswered(c1, a));
    h.take();
    let c2 = h.call(2, q);
    assert!(h.offers().is_empty(), "an agent on a call gets no offer");
    h.advance(secs(60));
    h.ev(Event::CallEnded(c1, Party::Caller));
    assert_eq!(h.acd.agent_state(a), AgentState::WrapUp);
    assert!(h.offers().is_empty(), "nor in wrap-up");
    h.advance(secs(29));
    assert!(h.offers().is_empty());
    h.advance(secs(1));
    assert_eq!(h.last_offer(), (c2, a));
    h.ev(Event::AgentAnswered(c2, a));
    h.ev(Event::CallEnded(c2, Party::Agent));
    h.take();
    let c3 = h.call(3, q);
    h.ev(Event::WrapUpDone(a));
    assert_eq!(h.last_offer(), (c3, a), "wrap-up ended early by the agent");
}

#[test]
fn sticky_agent_within_wait_then_anyone() {
    let mut h = H::new();
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.sticky_wait = secs(20);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    let mut first = Enqueue::new(CallId(1), q);
    first.caller = Some("+15551230000".into());
    h.enqueue(first);
    h.ev(Event::AgentAnswered(CallId(1), a));
    let b = h.agent("b", &[(s, 1)]);
    h.take();
    // The same caller again, while a is busy: b is free but the call waits for a.
    let mut again = Enqueue::new(CallId(2), q);
    again.caller = Some("+15551230000".into());
    h.enqueue(again);
    assert!(h.offers().is_empty());
    h.advance(secs(10));
    h.ev(Event::CallEnded(CallId(1), Party::Caller));
    assert_eq!(h.last_offer(), (CallId(2), a));
    h.ev(Event::AgentAnswered(CallId(2), a));
    h.take();
    // Third time a stays busy: after the sticky wait, b takes it.
    let mut third = Enqueue::new(CallId(3), q);
    third.caller = Some("+15551230000".into());
    h.enqueue(third);
    h.advance(secs(19));
    assert!(h.offers().is_empty());
    h.advance(secs(1));
    assert_eq!(h.last_offer(), (CallId(3), b));
}

#[test]
fn overflow_on_max_wait_full_and_empty() {
    let mut h = H::new();
    let s = h.skill("s");
    let backup = h.simple_queue("backup", s);
    let backup = h.queue(backup);
    let mut qc = h.simple_queue("q", s);
    qc.max_wait = Some(secs(60));
    qc.max_length = Some(1);
    qc.overflow.on_max_wait = OverflowTarget::Voicemail("100".into());
    qc.overflow.on_full = OverflowTarget::Queue(backup);
    qc.overflow.on_no_agents = Some(OverflowTarget::External("+15550001111".into()));
    let q = h.queue(qc);
    // Nobody logged in: the caller leaves at once.
    h.call(1, q);
    assert!(h.out.iter().any(|a| matches!(
        a,
        Action::Overflow {
            call: CallId(1),
            reason: ExitReason::Empty,
            target: OverflowTarget::External(_),
            ..
        }
    )));
    let a = h.agent("a", &[(s, 1)]);
    h.ev(Event::AgentPause(a, "meeting".into()));
    h.take();
    h.call(2, q);
    h.call(3, q);
    assert!(h.out.iter().any(|x| matches!(x, Action::Overflow { call: CallId(3), reason: ExitReason::Full, target: OverflowTarget::Queue(t), .. } if *t == backup)));
    assert_eq!(h.acd.call_info(CallId(3)).unwrap().queue, backup);
    h.advance(secs(60));
    assert!(h.out.iter().any(|x| matches!(
        x,
        Action::Overflow {
            call: CallId(2),
            reason: ExitReason::Timeout,
            target: OverflowTarget::Voicemail(_),
            ..
        }
    )));
    let st = h.acd.queue_stats(q).unwrap().total().clone();
    assert_eq!(
        (st.offered, st.exit_empty, st.exit_full, st.exit_timeout),
        (3, 1, 1, 1)
    );
    // The last agent logging out empties the queue when it says so.
    h.ev(Event::CallerHungUp(CallId(3)));
    h.ev(Event::AgentUnpause(a));
    h.ev(Event::AgentPause(a, "x".into()));
    h.call(4, q);
    h.take();
    h.ev(Event::AgentLogout(a));
    assert!(h.out.iter().any(|x| matches!(
        x,
        Action::Overflow {
            call: CallId(4),
            reason: ExitReason::Empty,
            ..
        }
    )));
}

#[test]
fn shared_agent_serves_longest_waiting_across_queues_or_weighted() {
    for (fairness, expect) in [(Fairness::LongestWaiting, 1), (Fairness::Weighted, 2)] {
        let mut h = H::with(AcdConfig {
            fairness,
            ..AcdConfig::default()
        });
        let s = h.skill("s");
        let qa = h.simple_queue("a", s);
        let qa = h.queue(qa);
        let mut qb = h.simple_queue("b", s);
        qb.weight = 3.0;
        let qb = h.queue(qb);
        let a = h.agent("a", &[(s, 1)]);
        h.ev(Event::AgentPause(a, "x".into()));
        h.call(1, qa);
        h.advance(secs(20));
        h.call(2, qb);
        h.advance(secs(20));
        // Waits: 40 s in a (weight 1), 20 s in b (weight 3: 60).
        h.take();
        h.ev(Event::AgentUnpause(a));
        assert_eq!(h.last_offer().0, CallId(expect), "{fairness:?}");
    }
}

#[test]
fn device_loss_and_pending_logout() {
    let mut h = H::new();
    let s = h.skill("s");
    let qc = h.simple_queue("q", s);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    h.ev(Event::AgentDeviceUnavailable(a));
    let c = h.call(1, q);
    assert!(h.offers().is_empty(), "no offers to an unregistered phone");
    h.ev(Event::AgentDeviceAvailable(a));
    assert_eq!(h.last_offer(), (c, a));
    h.ev(Event::AgentAnswered(c, a));
    h.ev(Event::AgentLogout(a));
    assert_eq!(
        h.acd.agent_state(a),
        AgentState::OnCall(c),
        "logout waits for the call"
    );
    h.ev(Event::CallEnded(c, Party::Caller));
    assert_eq!(h.acd.agent_state(a), AgentState::LoggedOut);
}

#[test]
fn announcements_position_estimate_and_callback_keeping_place() {
    let mut h = H::with(AcdConfig {
        default_aht: secs(300),
        ..AcdConfig::default()
    });
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.announce_interval = Some(secs(30));
    qc.callback_threshold = Some(secs(400));
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    let b = h.agent("b", &[(s, 1)]);
    h.call(100, q);
    h.call(101, q);
    h.ev(Event::AgentAnswered(CallId(100), a));
    h.ev(Event::AgentAnswered(CallId(101), b));
    h.take();
    for id in 1..=4 {
        h.call(id, q);
    }
    let ann: Vec<_> = h
        .out
        .iter()
        .filter_map(|x| match x {
            Action::Announce {
                call,
                position,
                estimated_wait,
            } => Some((call.0, *position, estimated_wait.unwrap().as_secs())),
            _ => None,
        })
        .collect();
    // Two busy agents, AHT 300 s: a release every 150 s, position k waits k × 150 s.
    assert_eq!(
        ann,
        vec![(1, 1, 150), (2, 2, 300), (3, 3, 450), (4, 4, 600)]
    );
    let callbacks: Vec<_> = h
        .out
        .iter()
        .filter_map(|x| match x {
            Action::OfferCallback { call, .. } => Some(call.0),
            _ => None,
        })
        .collect();
    assert_eq!(callbacks, vec![3, 4]);
    h.ev(Event::CallbackAccepted(CallId(3)));
    h.take();
    h.advance(secs(100));
    h.take();
    h.ev(Event::CallEnded(CallId(100), Party::Caller));
    h.ev(Event::CallEnded(CallId(101), Party::Caller));
    let offers = h.offers();
    assert_eq!(offers.iter().map(|o| o.0.0).collect::<Vec<_>>(), vec![1, 2]);
    h.take();
    h.advance(secs(30));
    // Call 4 is second behind the callback; the estimate follows the recent 100 s calls.
    let four = h.out.iter().find_map(|x| match x {
        Action::Announce {
            call: CallId(4),
            position,
            estimated_wait,
        } => Some((*position, estimated_wait.unwrap().as_secs())),
        _ => None,
    });
    assert_eq!(four, Some((2, 100)));
    h.ev(Event::AgentAnswered(CallId(1), offers[0].1[0]));
    h.ev(Event::CallEnded(CallId(1), Party::Caller));
    // Call 3 accepted a callback and kept its place ahead of 4.
    assert!(h.out.iter().any(|x| matches!(
        x,
        Action::Offer {
            call: CallId(3),
            callback: true,
            ..
        }
    )));
}

#[test]
fn exit_by_key_leaves_for_the_dialplan() {
    let mut h = H::new();
    let s = h.skill("s");
    let qc = h.simple_queue("q", s);
    let q = h.queue(qc);
    let c = h.call(1, q);
    h.ev(Event::CallerLeftByKey(c, '0'));
    assert!(h.out.iter().any(|x| matches!(
        x,
        Action::Overflow {
            reason: ExitReason::Key,
            target: OverflowTarget::Dialplan,
            ..
        }
    )));
    assert_eq!(h.acd.call_count(), 0);
}

#[test]
fn new_skills_take_effect_at_once() {
    let mut h = H::new();
    let s = h.skill("s");
    let t = h.skill("t");
    let qc = h.simple_queue("q", t);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 5)]);
    let c = h.call(1, q);
    assert!(h.offers().is_empty());
    h.acd
        .set_agent_skills(h.now, a, vec![(s, 5), (t, 2)])
        .unwrap();
    h.drain();
    assert_eq!(h.last_offer(), (c, a));
}

#[test]
fn logout_after_wrap_up_counts_wrap_up_time() {
    let mut h = H::new();
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.wrap_up = secs(20);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    let c = h.call(1, q);
    h.ev(Event::AgentAnswered(c, a));
    h.advance(secs(50));
    h.ev(Event::CallEnded(c, Party::Caller));
    h.ev(Event::AgentLogout(a));
    h.advance(secs(30));
    assert_eq!(h.acd.agent_state(a), AgentState::LoggedOut);
    let st = h.acd.agent_stats(a).unwrap().total().clone();
    assert_eq!(
        (st.on_call, st.wrap_up, st.available),
        (secs(50), secs(20), secs(0))
    );
}

#[test]
fn an_answer_crossing_the_cancel_is_refused_and_the_call_moves_on() {
    let mut h = H::new();
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.ring_timeout = secs(10);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    h.advance(secs(1));
    let b = h.agent("b", &[(s, 1)]);
    let c = h.call(1, q);
    assert_eq!(h.last_offer(), (c, a));
    h.take();
    h.advance(secs(10));
    assert_eq!(h.cancels(), vec![(c, a, CancelReason::Timeout)]);
    assert_eq!(h.last_offer(), (c, b));
    // a's 200 OK crossed the CANCEL: refused (the daemon sends ACK and BYE); b still rings.
    assert!(matches!(
        h.try_ev(Event::AgentAnswered(c, a)),
        Err(switchyard_acd::AcdError::NoSuchOffer { .. })
    ));
    assert_eq!(h.acd.agent_state(b), AgentState::Reserved(c));
    h.ev(Event::AgentAnswered(c, b));
    assert_eq!(h.acd.agent_state(a), AgentState::Available);
    let st = h.acd.queue_stats(q).unwrap().total().clone();
    assert_eq!(st.answered, 1);
}

#[test]
fn a_reloaded_queue_applies_to_new_callers() {
    let mut h = H::new();
    let s = h.skill("s");
    let t = h.skill("t");
    let qc = h.simple_queue("q", s);
    let q = h.queue(qc.clone());
    let a = h.agent("a", &[(t, 1)]);
    let waiting = h.call(1, q);
    assert!(h.offers().is_empty());
    let mut reloaded = qc;
    reloaded.skills = vec![SkillReq::new(t, 1)];
    h.acd.update_queue(h.now, q, reloaded).unwrap();
    let fresh = h.call(2, q);
    assert_eq!(h.last_offer(), (fresh, a));
    assert_eq!(h.acd.waiting_calls(q), vec![waiting]);
    let live = h.acd.queue_live(q, h.now).unwrap();
    assert_eq!(
        live.agents.reserved, 1,
        "the agent now counts for the queue"
    );
}

#[test]
fn await_cancel_holds_the_call_until_the_phone_is_done() {
    let mut h = H::with(AcdConfig {
        await_cancel: true,
        cancel_guard: secs(8),
        ..AcdConfig::default()
    });
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.ring_timeout = secs(10);
    let q = h.queue(qc);
    let a = h.agent("a", &[(s, 1)]);
    h.advance(secs(1));
    let b = h.agent("b", &[(s, 1)]);
    let c = h.call(1, q);
    assert_eq!(h.last_offer(), (c, a));
    h.take();
    h.advance(secs(10));
    assert_eq!(h.cancels(), vec![(c, a, CancelReason::Timeout)]);
    assert!(
        h.offers().is_empty(),
        "nobody else rings while a's INVITE is open"
    );
    assert_eq!(h.acd.agent_state(a), AgentState::Reserved(c));
    // The crossing 200 is refused; then the phone's transaction ends.
    assert!(h.try_ev(Event::AgentAnswered(c, a)).is_err());
    h.ev(Event::OfferEnded(c, a));
    assert_eq!(
        h.last_offer(),
        (c, b),
        "the next agent rings once a is done"
    );
    assert_eq!(h.acd.agent_state(a), AgentState::Available);
    // If the phone never reports, the guard frees the call after 8 s.
    h.take();
    h.advance(secs(10));
    assert_eq!(h.cancels(), vec![(c, b, CancelReason::Timeout)]);
    h.advance(secs(7));
    assert!(h.offers().is_empty());
    h.advance(secs(1));
    assert_eq!(h.last_offer(), (c, a));
    let st = h.acd.agent_stats(b).unwrap().total().clone();
    assert_eq!(st.no_answer, 1, "counted once");
}

#[test]
fn extreme_configuration_values_do_not_hang_or_panic() {
    let mut h = H::new();
    let s = h.skill("s");
    let mut qc = h.simple_queue("q", s);
    qc.announce_interval = Some(secs(0));
    qc.max_wait = Some(std::time::Duration::MAX);
    qc.ring_timeout = std::time::Duration::MAX;
    let q = h.queue(qc);
    h.now = std::time::Duration::from_secs(1_800_000_000); // wall-clock epoch time
    let c = h.call(1, q);
    h.advance(secs(5));
    let announcements = h
        .out
        .iter()
        .filter(|a| matches!(a, Action::Announce { .. }))
        .count();
    assert!((5..=7).contains(&announcements), "{announcements}");
    let a = h.agent("a", &[(s, 1)]);
    assert_eq!(h.last_offer(), (c, a));
    h.ev(Event::AgentAnswered(c, a));
    h.ev(Event::CallEnded(c, Party::Caller));
    let (start, st) = h.acd.queue_stats(q).unwrap().intervals().last().unwrap();
    assert_eq!(start.as_secs() % 900, 0);
    assert_eq!(st.answered, 1);
}
