//! The per-call interpreter: a sans-IO state machine. Events in through
//! [`Interpreter::handle_event`], actions out through [`Interpreter::poll_action`], the
//! next deadline from [`Interpreter::poll_timeout`]. It never reads a clock: every event
//! comes with `now`, and business hours are judged at that instant.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::events::{
    Action, CallInfo, Event, Method, NoRoute, Prompt, QueueOutcome, Skill, TransferTarget, Waiting,
};
use crate::expr::{self, Env, Value};
use crate::plan::{
    Dialplan, HangupCause, Op, SayKind, SkillName, TransferKind, V_CALLER, V_CALLER_NAME, V_DATE,
    V_DID, V_DIGITS, V_ENTRY, V_ESTIMATED_WAIT, V_LANGUAGE, V_LOOKUP_RESULT, V_QUEUE_RESULT,
    V_TIME, V_TRANSFER_RESULT, V_TRUNK, V_WEEKDAY,
};
use crate::say;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The greeting (or a collect prompt) is playing.
    Greeting(u32),
    /// Listening for keys; the deadline is set.
    Listening,
    /// An invalid or no-input prompt is playing; a new attempt follows.
    Retry(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Running,
    Play(u32),
    Input { attempt: u8, stage: Stage },
    Queue,
    Transfer,
    Lookup,
    Voicemail,
    Pause,
    Done,
}

const MAX_CALL_DEPTH: usize = 16;
const MAX_TYPEAHEAD: usize = 32;

/// One call's walk through a dialplan.
#[derive(Debug)]
pub struct Interpreter {
    plan: Arc<Dialplan>,
    pc: u32,
    stack: Vec<u32>,
    vars: Box<[Value]>,
    lang: u8,
    wait: Wait,
    deadline: Option<Timestamp>,
    actions: VecDeque<Action>,
    /// Keys of the current menu or collect.
    input: String,
    /// Keys pressed while nothing was listening; the next menu or collect reads them.
    typeahead: String,
    next_id: u32,
    now: Timestamp,
    in_error: bool,
    /// Variables changed since the daemon was last told, in order of first change.
    dirty: Vec<u16>,
}

struct EvalEnv<'a> {
    it: &'a Interpreter,
}

impl Env for EvalEnv<'_> {
    fn var(&self, slot: u16) -> Value {
        self.it.var(slot)
    }
    fn open(&self, schedule: u16) -> bool {
        let plan = &self.it.plan;
        plan.schedules
            .get(usize::from(schedule))
            .is_some_and(|s| s.is_open(self.it.now, &plan.holidays))
    }
    fn holiday(&self, list: u16) -> bool {
        let plan = &self.it.plan;
        let date = self.it.now.to_zoned(plan.zone.clone()).date();
        plan.holidays
            .get(usize::from(list))
            .is_some_and(|h| h.contains(date))
    }
}

fn after(now: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

impl Interpreter {
    /// Starts a call at the first entry point that matches it, and runs it up to its
    /// first action.
    pub fn new(plan: Arc<Dialplan>, call: &CallInfo, now: Timestamp) -> Result<Self, NoRoute> {
        let Some(entry) = plan
            .entries
            .iter()
            .find(|e| e.matches(&call.to, &call.from, &call.trunk))
        else {
            return Err(NoRoute {
                file: plan.file.to_string(),
                to: call.to.clone(),
                from: call.from.clone(),
                trunk: call.trunk.clone(),
            });
        };
        let (start, lang, entry_name) = (entry.start, entry.language, entry.name.clone());
        let mut vars: Box<[Value]> = vec![Value::default(); plan.vars.len()].into_boxed_slice();
        vars[V_CALLER as usize] = Value::str(call.from.as_str());
        vars[V_CALLER_NAME as usize] = Value::str(call.caller_name.as_str());
        vars[V_DID as usize] = Value::str(call.to.as_str());
        vars[V_TRUNK as usize] = Value::str(call.trunk.as_str());
        vars[V_ENTRY as usize] = Value::str(&*entry_name);
        let mut it = Interpreter {
            plan,
            pc: start,
            stack: Vec::new(),
            vars,
            lang,
            wait: Wait::Running,
            deadline: None,
            actions: VecDeque::new(),
            input: String::new(),
            typeahead: String::new(),
            next_id: 1,
            now,
            in_error: false,
            dirty: Vec::new(),
        };
        it.run();
        Ok(it)
    }

    /// The dialplan version this call runs on (a reload does not change it).
    pub fn plan(&self) -> &Arc<Dialplan> {
        &self.plan
    }

    /// The next action, if any. Poll until `None` after every event.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to send [`Event::Timeout`], if anything is timed.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// What the call is waiting for.
    pub fn waiting(&self) -> Waiting {
        match self.wait {
            Wait::Running | Wait::Done => Waiting::Finished,
            Wait::Play(_) => Waiting::Playback,
            Wait::Input {
                stage: Stage::Listening,
                ..
            } => Waiting::Digits,
            Wait::Input { .. } => Waiting::Playback,
            Wait::Queue => Waiting::Queue,
            Wait::Transfer => Waiting::Transfer,
            Wait::Lookup => Waiting::Lookup,
            Wait::Voicemail => Waiting::Voicemail,
            Wait::Pause => Waiting::Pause,
        }
    }

    /// True once the call has left the dialplan (hung up, answered, transferred).
    pub fn is_finished(&self) -> bool {
        self.wait == Wait::Done
    }

    /// A variable's current value, by name (for the screen pop and tests).
    pub fn variable(&self, name: &str) -> Option<Value> {
        let slot = self.plan.vars.iter().position(|v| &**v == name)?;
        Some(self.var(slot as u16))
    }

    /// Every variable that has a value, by name: what an agent's screen pop shows. The
    /// clock variables (`time`, `date`, `weekday`) are left out.
    pub fn variables(&self) -> impl Iterator<Item = (&str, Value)> + '_ {
        self.plan
            .vars
            .iter()
            .enumerate()
            .filter(|(i, _)| ![V_TIME, V_DATE, V_WEEKDAY].contains(&(*i as u16)))
            .map(|(i, name)| (&**name, self.var(i as u16)))
            .filter(|(_, v)| *v != Value::default())
    }

    /// The caller's current language.
    pub fn language(&self) -> &str {
        &self.plan.languages[usize::from(self.lang)]
    }

    /// Feeds an event in. Events that do not fit the current state (a stale
    /// `PlaybackDone`, an early `Timeout`) are ignored.
    pub fn handle_event(&mut self, now: Timestamp, ev: Event) {
        self.now = now;
        if self.wait == Wait::Done {
            return;
        }
        match ev {
            Event::Hangup => {
                self.wait = Wait::Done;
                self.deadline = None;
            }
            Event::Dtmf(c) => self.on_digit(c),
            Event::PlaybackDone { id } => self.on_playback_done(id),
            Event::Timeout => {
                if self.deadline.is_none_or(|d| now < d) {
                    return;
                }
                self.deadline = None;
                self.on_timeout();
            }
            Event::LookupResult(r) => {
                if self.wait == Wait::Lookup {
                    self.deadline = None;
                    self.on_lookup(r);
                }
            }
            Event::QueueResult(o) => {
                if self.wait != Wait::Queue {
                    return;
                }
                self.set(V_QUEUE_RESULT, Value::str(o.name()));
                if let QueueOutcome::LongWait { estimated } = o {
                    self.set(V_ESTIMATED_WAIT, Value::Int(estimated.as_secs() as i64));
                }
                if o == QueueOutcome::Answered {
                    self.wait = Wait::Done;
                } else {
                    // Keys pressed on hold are not answers to whatever menu follows.
                    self.typeahead.clear();
                    self.resume_next();
                }
            }
            Event::TransferResult { connected } => {
                if self.wait != Wait::Transfer {
                    return;
                }
                self.set(
                    V_TRANSFER_RESULT,
                    Value::str(if connected { "connected" } else { "failed" }),
                );
                if connected {
                    self.wait = Wait::Done;
                } else {
                    self.resume_next();
                }
            }
            Event::VoicemailDone => {
                if self.wait == Wait::Voicemail {
                    self.resume_next();
                }
            }
        }
    }

    fn var(&self, slot: u16) -> Value {
        match slot {
            V_LANGUAGE => Value::str(self.language()),
            V_TIME | V_DATE | V_WEEKDAY => {
                let z = self.now.to_zoned(self.plan.zone.clone());
                match slot {
                    V_TIME => Value::str(format!("{:02}:{:02}", z.hour(), z.minute())),
                    V_DATE => Value::str(z.date().to_string()),
                    _ => Value::str(crate::time::day_name(z.weekday())),
                }
            }
            _ => self
                .vars
                .get(usize::from(slot))
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn set(&mut self, slot: u16, v: Value) {
        if let Some(x) = self.vars.get_mut(usize::from(slot)) {
            *x = v;
        }
    }

    /// Sets a dialplan variable; the daemon hears of it (for the screen pop) before the
    /// next action, once per variable however often it changed in between.
    fn set_user(&mut self, slot: u16, v: Value) {
        if !self.dirty.contains(&slot) {
            self.dirty.push(slot);
        }
        self.set(slot, v);
    }

    fn flush_vars(&mut self) {
        for slot in std::mem::take(&mut self.dirty) {
            self.actions.push_back(Action::SetVariable {
                name: self.plan.vars[usize::from(slot)].clone(),
                value: self.var(slot).to_string(),
            });
        }
    }

    fn resume_next(&mut self) {
        self.wait = Wait::Running;
        self.pc += 1;
        self.run();
    }

    fn eval(&mut self, e: &expr::Expr) -> Value {
        match expr::eval(e, &EvalEnv { it: self }) {
            Ok(v) => v,
            Err(msg) => {
                // Not fatal: the value is empty and the call goes on.
                self.report(&msg);
                Value::default()
            }
        }
    }

    fn report(&mut self, msg: &str) {
        self.flush_vars();
        let line = self
            .plan
            .op_lines
            .get(self.pc as usize)
            .copied()
            .unwrap_or(0);
        let message = format!(
            "{} (step `{}`, {}:{line})",
            msg,
            self.plan.step_of(self.pc),
            self.plan.file
        );
        tracing::error!(dialplan = %self.plan.file, %message, "dialplan run-time error");
        self.actions.push_back(Action::Fault { message });
    }

    /// A fatal run-time error: go to `on error`, once; otherwise hang up.
    fn fault(&mut self, msg: &str) {
        self.report(msg);
        self.stack.clear();
        self.deadline = None;
        match self.plan.on_error {
            Some(pc) if !self.in_error => {
                self.in_error = true;
                self.pc = pc;
                self.wait = Wait::Running;
            }
            _ => {
                self.actions.push_back(Action::Hangup {
                    cause: HangupCause::Failure,
                });
                self.wait = Wait::Done;
            }
        }
    }

    fn play_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn prompts(&self, ids: &[u32]) -> Vec<Prompt> {
        let lang = usize::from(self.lang);
        ids.iter()
            .filter_map(|&i| self.plan.prompts.get(i as usize))
            .map(|p| Prompt {
                name: p.name.clone(),
                language: self.plan.languages[lang].clone(),
                file: p.files[lang].clone(),
            })
            .collect()
    }

    fn word_prompts(&self, words: &[&str]) -> Vec<u32> {
        words
            .iter()
            .filter_map(|w| self.plan.prompt_by_name.get(*w).copied())
            .collect()
    }

    /// Emits a Play action and returns its id.
    fn play(&mut self, ids: &[u32], barge_in: bool) -> u32 {
        let id = self.play_id();
        let prompts = self.prompts(ids);
        self.actions.push_back(Action::Play {
            id,
            prompts,
            barge_in,
        });
        id
    }

    /// Runs instructions until one waits. Counts them against the step budget.
    fn run(&mut self) {
        let plan = self.plan.clone();
        let mut budget = plan.budget;
        loop {
            if self.wait != Wait::Running {
                return;
            }
            if budget == 0 {
                self.fault(&format!(
                    "the step budget ({}) ran out: the dialplan loops without waiting for the caller",
                    plan.budget
                ));
                budget = plan.budget;
                continue;
            }
            budget -= 1;
            let Some(op) = plan.ops.get(self.pc as usize) else {
                self.fault("ran past the end of the dialplan");
                continue;
            };
            if !self.dirty.is_empty()
                && !matches!(
                    op,
                    Op::Jump(_)
                        | Op::Unless(..)
                        | Op::Switch(_)
                        | Op::Call(_)
                        | Op::Return
                        | Op::Set(..)
                        | Op::Language(_)
                )
            {
                self.flush_vars();
            }
            match op {
                Op::Jump(t) => self.pc = *t,
                Op::Unless(cond, t) => {
                    let v = self.eval(cond);
                    self.pc = if v.truthy() { self.pc + 1 } else { *t };
                }
                Op::Switch(sw) => {
                    let v = self.eval(&sw.value).to_string();
                    self.pc = sw
                        .cases
                        .iter()
                        .find(|(k, _)| **k == *v)
                        .map_or(sw.default, |(_, pc)| *pc);
                }
                Op::Call(t) => {
                    if self.stack.len() >= MAX_CALL_DEPTH {
                        self.fault("calls nest too deep (16): a step calls itself?");
                        continue;
                    }
                    self.stack.push(self.pc + 1);
                    self.pc = *t;
                }
                Op::Return => match self.stack.pop() {
                    Some(pc) => self.pc = pc,
                    None => self.fault("`return` in a step that was not entered with `call`"),
                },
                Op::Set(slot, e) => {
                    let v = self.eval(e);
                    self.set_user(*slot, v);
                    self.pc += 1;
                }
                Op::Language(e) => {
                    let v = self.eval(e).to_string();
                    match plan.languages.iter().position(|l| **l == *v) {
                        Some(i) => self.lang = i as u8,
                        None => {
                            self.report(&format!("`{v}` is not one of the dialplan's languages"))
                        }
                    }
                    self.pc += 1;
                }
                Op::Record(on) => {
                    self.actions.push_back(Action::Record { on: *on });
                    self.pc += 1;
                }
                Op::Callback(queue, number) => {
                    let number = self.eval(number).to_string();
                    self.actions.push_back(Action::Callback {
                        queue: queue.clone(),
                        number,
                    });
                    self.pc += 1;
                }
                Op::Hangup(cause) => {
                    self.actions.push_back(Action::Hangup { cause: *cause });
                    self.wait = Wait::Done;
                }
                Op::Wait(d) => {
                    self.deadline = Some(after(self.now, *d));
                    self.wait = Wait::Pause;
                }
                Op::Play(ids) => {
                    let id = self.play(ids, false);
                    self.wait = Wait::Play(id);
                }
                Op::Say(kind, e) => {
                    let v = self.eval(e);
                    let lang = plan.languages[usize::from(self.lang)].clone();
                    let mut words = Vec::new();
                    match kind {
                        SayKind::Digits => say::digits(&v.to_string(), &mut words),
                        SayKind::Number => match v.as_int() {
                            Some(n) => say::number(&lang, n, &mut words),
                            None => self.report(&format!("`say number` got `{v}`, not a number")),
                        },
                        SayKind::Time => match parse_clock(&v.to_string()) {
                            Some(m) => say::time(&lang, m, &mut words),
                            None => self.report(&format!("`say time` got `{v}`, not HH:MM")),
                        },
                    }
                    if words.is_empty() {
                        self.pc += 1;
                    } else {
                        let ids = self.word_prompts(&words);
                        let id = self.play(&ids, false);
                        self.wait = Wait::Play(id);
                    }
                }
                Op::Menu(_) | Op::Collect(_) => {
                    self.start_input(0);
                }
                Op::Queue(q) => {
                    let priority = self.eval(&q.priority).as_int().unwrap_or(0);
                    let skills = q
                        .skills
                        .iter()
                        .filter_map(|(s, level)| {
                            let name = match s {
                                SkillName::Named(n) => n.clone(),
                                SkillName::Language => {
                                    plan.language_skills[usize::from(self.lang)].clone()?
                                }
                            };
                            Some(Skill {
                                name,
                                min_level: *level,
                            })
                        })
                        .collect();
                    self.actions.push_back(Action::Queue {
                        queue: q.name.clone(),
                        skills,
                        priority,
                        max_wait: q.max_wait,
                        callback_after: q.callback_after,
                    });
                    self.wait = Wait::Queue;
                }
                Op::Transfer(t) => {
                    let v = self.eval(&t.target).to_string();
                    let target = match t.kind {
                        TransferKind::Extension => TransferTarget::Extension(v),
                        TransferKind::Agent => TransferTarget::Agent(v),
                        TransferKind::Number => TransferTarget::Number {
                            number: v,
                            trunk: t.trunk.clone().unwrap_or_else(|| Arc::from("")),
                        },
                    };
                    self.actions.push_back(Action::Transfer { target });
                    self.wait = Wait::Transfer;
                }
                Op::Voicemail(e) => {
                    let mailbox = self.eval(e).to_string();
                    self.actions.push_back(Action::Voicemail { mailbox });
                    self.wait = Wait::Voicemail;
                }
                Op::Lookup(l) => {
                    let url = self.eval(&l.url).to_string();
                    let body = l.body.as_ref().map(|b| self.eval(b).to_string());
                    self.actions.push_back(Action::Lookup {
                        method: if l.post { Method::Post } else { Method::Get },
                        url,
                        body,
                        timeout: l.timeout,
                    });
                    self.deadline = Some(after(self.now, l.timeout));
                    self.wait = Wait::Lookup;
                }
            }
        }
    }

    /// Starts (or restarts) the menu or collect at `pc`.
    fn start_input(&mut self, attempt: u8) {
        let plan = self.plan.clone();
        self.input.clear();
        let (prompts, collect) = match &plan.ops[self.pc as usize] {
            Op::Menu(m) => (
                if attempt == 0 { &m.greeting } else { &m.short },
                Action::Collect {
                    max_digits: m.digits,
                    terminator: m.terminator,
                    timeout: m.timeout,
                    between: m.between,
                },
            ),
            Op::Collect(c) => (
                &c.prompt,
                Action::Collect {
                    max_digits: c.max,
                    terminator: c.terminator,
                    timeout: c.timeout,
                    between: c.between,
                },
            ),
            _ => return self.fault("internal: input state on a non-input instruction"),
        };
        let stage = if prompts.is_empty() {
            Stage::Listening
        } else {
            Stage::Greeting(self.play(prompts, true))
        };
        self.actions.push_back(collect);
        self.wait = Wait::Input { attempt, stage };
        if stage == Stage::Listening {
            self.deadline = Some(after(self.now, self.input_timeouts().0));
        }
        // Keys pressed ahead of time count as barge-in.
        while !self.typeahead.is_empty() && matches!(self.wait, Wait::Input { .. }) {
            let c = self.typeahead.remove(0);
            self.on_digit(c);
        }
    }

    fn input_timeouts(&self) -> (Duration, Duration, u8, Option<char>) {
        match &self.plan.ops[self.pc as usize] {
            Op::Menu(m) => (m.timeout, m.between, m.digits, m.terminator),
            Op::Collect(c) => (c.timeout, c.between, c.max, c.terminator),
            _ => (Duration::from_secs(5), Duration::from_secs(3), 1, None),
        }
    }

    fn on_digit(&mut self, c: char) {
        let Wait::Input { attempt, stage } = self.wait else {
            if self.typeahead.len() < MAX_TYPEAHEAD {
                self.typeahead.push(c);
            }
            return;
        };
        if let Stage::Greeting(id) | Stage::Retry(id) = stage {
            self.actions.push_back(Action::StopPlayback { id });
            self.wait = Wait::Input {
                attempt,
                stage: Stage::Listening,
            };
        }
        let (_, between, max, terminator) = self.input_timeouts();
        if Some(c) == terminator {
            self.complete();
            return;
        }
        self.input.push(c);
        if self.input.chars().count() >= usize::from(max) {
            self.complete();
        } else {
            self.deadline = Some(after(self.now, between));
        }
    }

    fn on_playback_done(&mut self, id: u32) {
        match self.wait {
            Wait::Play(p) if p == id => self.resume_next(),
            Wait::Input {
                attempt,
                stage: Stage::Greeting(p),
            } if p == id => {
                self.wait = Wait::Input {
                    attempt,
                    stage: Stage::Listening,
                };
                self.deadline = Some(after(self.now, self.input_timeouts().0));
            }
            Wait::Input {
                attempt,
                stage: Stage::Retry(p),
            } if p == id => self.start_input(attempt),
            _ => {}
        }
    }

    fn on_timeout(&mut self) {
        match self.wait {
            Wait::Pause => self.resume_next(),
            Wait::Lookup => self.on_lookup(Err("timed out".into())),
            Wait::Input {
                stage: Stage::Listening,
                ..
            } => {
                if self.input.is_empty() {
                    self.no_match(true);
                } else {
                    self.complete();
                }
            }
            _ => {}
        }
    }

    /// The caller finished entering keys (count reached, terminator, or a pause).
    fn complete(&mut self) {
        self.deadline = None;
        let plan = self.plan.clone();
        let got = std::mem::take(&mut self.input);
        self.set(V_DIGITS, Value::str(got.as_str()));
        match &plan.ops[self.pc as usize] {
            Op::Menu(m) => match m.keys.iter().find(|(k, _)| **k == *got) {
                Some((_, pc)) => {
                    self.pc = *pc;
                    self.wait = Wait::Running;
                    self.run();
                }
                None => self.no_match(false),
            },
            Op::Collect(c) => {
                if c.var != V_DIGITS {
                    self.set_user(c.var, Value::str(got.as_str()));
                }
                self.wait = Wait::Running;
                self.resume_next();
            }
            _ => self.fault("internal: input completed on a non-input instruction"),
        }
    }

    /// A wrong key or no key: the next try, or what follows the last one.
    fn no_match(&mut self, timed_out: bool) {
        self.deadline = None;
        let plan = self.plan.clone();
        let Wait::Input { attempt, .. } = self.wait else {
            return;
        };
        match &plan.ops[self.pc as usize] {
            Op::Menu(m) => {
                let attempt = attempt + 1;
                if attempt >= m.tries {
                    self.pc = m.after;
                    self.wait = Wait::Running;
                    self.run();
                    return;
                }
                let prompts = if timed_out { &m.no_input } else { &m.invalid };
                if prompts.is_empty() {
                    self.start_input(attempt);
                } else {
                    let id = self.play(prompts, true);
                    self.wait = Wait::Input {
                        attempt,
                        stage: Stage::Retry(id),
                    };
                }
            }
            Op::Collect(c) => {
                // Nothing entered: the variable is empty and the call goes on.
                self.set(V_DIGITS, Value::default());
                if c.var != V_DIGITS {
                    self.set_user(c.var, Value::default());
                }
                self.wait = Wait::Running;
                self.resume_next();
            }
            _ => self.fault("internal: no input on a non-input instruction"),
        }
    }

    fn on_lookup(&mut self, r: Result<String, String>) {
        let plan = self.plan.clone();
        let Some(Op::Lookup(l)) = plan.ops.get(self.pc as usize) else {
            return;
        };
        let json = r.and_then(|body| {
            serde_json::from_str::<serde_json::Value>(&body)
                .map_err(|e| format!("the answer is not JSON: {e}"))
        });
        match json {
            Ok(v) => {
                self.set(V_LOOKUP_RESULT, Value::str("ok"));
                for (path, slot) in l.save.iter() {
                    let field = path.iter().try_fold(&v, |v, k| match v {
                        serde_json::Value::Array(a) => {
                            k.parse::<usize>().ok().and_then(|i| a.get(i))
                        }
                        _ => v.get(&**k),
                    });
                    let value = match field {
                        Some(serde_json::Value::String(s)) => Value::str(s.as_str()),
                        Some(serde_json::Value::Number(n)) => match n.as_i64() {
                            Some(i) => Value::Int(i),
                            None => Value::str(n.to_string()),
                        },
                        Some(serde_json::Value::Bool(b)) => Value::Bool(*b),
                        Some(serde_json::Value::Null) | None => Value::default(),
                        Some(other) => Value::str(other.to_string()),
                    };
                    self.set_user(*slot, value);
                }
                self.wait = Wait::Running;
                self.resume_next();
            }
            Err(why) => {
                tracing::debug!(dialplan = %plan.file, %why, "lookup failed");
                self.set(V_LOOKUP_RESULT, Value::str("failed"));
                self.wait = Wait::Running;
                match l.on_failure {
                    Some(pc) => {
                        self.pc = pc;
                        self.run();
                    }
                    None => self.resume_next(),
                }
            }
        }
    }
}

/// `HH:MM` to minutes since midnight.
fn parse_clock(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}
