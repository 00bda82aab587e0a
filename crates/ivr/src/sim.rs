//! Simulated calls and expected-trace tests.
//!
//! A [`Scenario`] says who calls, when, which keys they press and how the queue, the
//! lookup and transfers answer; [`simulate`] runs a call through a dialplan on simulated
//! time (playbacks finish at once, timeouts jump the clock) and returns its trace, one
//! line per action (`> ...`) or event (`< ...`). A tests file lists scenarios with the
//! trace each must give; [`parse_tests`] reads one and [`run_test`] checks a case.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::diag::{Diagnostics, Reporter, Span};
use crate::events::{Action, CallInfo, Event, Method, QueueOutcome, TransferTarget, Waiting};
use crate::interp::Interpreter;
use crate::lines::{self, Line};
use crate::plan::Dialplan;

/// One thing the caller does when asked for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// Press a key.
    Key(char),
    /// Press nothing and let the input time out.
    Wait,
    /// Hang up.
    Hangup,
}

/// Parses `1, 2, #, wait, hangup` (also `"#"`, and `123` for three presses).
pub fn parse_presses(s: &str) -> Result<Vec<Press>, String> {
    let mut out = Vec::new();
    for tok in s.split(',') {
        let tok = tok.trim().trim_matches('"');
        match tok {
            "" => continue,
            "wait" | "-" => out.push(Press::Wait),
            "hangup" => out.push(Press::Hangup),
            keys => {
                for c in keys.chars() {
                    if !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) {
                        return Err(format!(
                            "`{keys}` is not a key press: use digits, `*`, `#`, `wait` or `hangup`"
                        ));
                    }
                    out.push(Press::Key(c));
                }
            }
        }
    }
    Ok(out)
}

/// Parses `answered`, `timeout`, `full`, `no_agents`, `failed`, `long_wait:3m`, comma separated.
pub fn parse_queue_outcomes(s: &str) -> Result<Vec<QueueOutcome>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (name, arg) = t.split_once([':', ' ']).unwrap_or((t, ""));
            Ok(match name {
                "answered" => QueueOutcome::Answered,
                "timeout" => QueueOutcome::Timeout,
                "full" => QueueOutcome::Full,
                "no_agents" => QueueOutcome::NoAgents,
                "failed" => QueueOutcome::Failed,
                "long_wait" => {
                    let estimated = if arg.trim().is_empty() {
                        Duration::from_secs(300)
                    } else {
                        crate::compile::parse_duration(arg.trim(), Span::default())
                            .map_err(|e| e.1)?
                    };
                    QueueOutcome::LongWait { estimated }
                }
                other => {
                    return Err(format!(
                        "`{other}` is not a queue result: answered, timeout, full, no_agents, failed or long_wait:DURATION"
                    ));
                }
            })
        })
        .collect()
}

/// Parses `2026-11-23T10:00+08:00`, `2026-11-23T02:00Z` or `2026-11-23T10:00[Asia/Shanghai]`.
pub fn parse_at(s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::Zoned>()
        .map(|z| z.timestamp())
        .map_err(|e| format!("`{s}` is not a date and time with an offset or zone ({e})"))
}

/// A simulated call.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Who calls whom on which trunk.
    pub call: CallInfo,
    /// When the call starts.
    pub at: Timestamp,
    /// Key presses, given one at a time whenever the dialplan listens.
    pub presses: Vec<Press>,
    /// Queue results in order; once used up, callers are answered.
    pub queue: Vec<QueueOutcome>,
    /// Lookup answers in order (JSON body or failure); once used up, lookups fail.
    pub lookup: Vec<Result<String, String>>,
    /// Transfer results in order; once used up, transfers connect.
    pub transfer: Vec<bool>,
    /// Stop after this many trace lines (a dialplan may loop through menus forever).
    pub max_lines: usize,
}

impl Scenario {
    /// A call with no key presses, answered queues, failing lookups.
    pub fn new(call: CallInfo, at: Timestamp) -> Self {
        Scenario {
            call,
            at,
            presses: Vec::new(),
            queue: Vec::new(),
            lookup: Vec::new(),
            transfer: Vec::new(),
            max_lines: 400,
        }
    }
}

/// `90s`, `2m`, `500ms`, `1h`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s != 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s != 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// One line of a trace for an action.
pub fn action_line(a: &Action) -> String {
    match a {
        Action::Play { prompts, .. } => {
            let names: Vec<String> = prompts
                .iter()
                .map(|p| format!("{}/{}", p.language, p.name))
                .collect();
            format!("> play {}", names.join(", "))
        }
        Action::StopPlayback { .. } => "> stop playback".into(),
        Action::Collect {
            max_digits,
            terminator,
            timeout,
            ..
        } => {
            let mut s = format!(
                "> collect up to {max_digits}, timeout {}",
                fmt_duration(*timeout)
            );
            if let Some(t) = terminator {
                let _ = write!(s, ", ends with {t}");
            }
            s
        }
        Action::Queue {
            queue,
            skills,
            priority,
            max_wait,
            callback_after,
        } => {
            let mut s = format!("> queue {queue}");
            if !skills.is_empty() {
                let list: Vec<String> = skills
                    .iter()
                    .map(|k| format!("{}>={}", k.name, k.min_level))
                    .collect();
                let _ = write!(s, " skills {}", list.join(", "));
            }
            let _ = write!(s, " priority {priority}");
            if let Some(w) = max_wait {
                let _ = write!(s, " max wait {}", fmt_duration(*w));
            }
            if let Some(c) = callback_after {
                let _ = write!(s, " callback after {}", fmt_duration(*c));
            }
            s
        }
        Action::Transfer { target } => match target {
            TransferTarget::Extension(e) => format!("> transfer extension {e}"),
            TransferTarget::Agent(a) => format!("> transfer agent {a}"),
            TransferTarget::Number { number, trunk } => {
                format!("> transfer number {number} via {trunk}")
            }
        },
        Action::Voicemail { mailbox } => format!("> voicemail {mailbox}"),
        Action::Callback { queue, number } => format!("> callback {queue} to {number}"),
        Action::Record { on } => format!("> record {}", if *on { "on" } else { "off" }),
        Action::Lookup {
            method,
            url,
            body,
            timeout,
        } => {
            let m = match method {
                Method::Get => "GET",
                Method::Post => "POST",
            };
            let mut s = format!("> lookup {m} {url}");
            if let Some(b) = body {
                let _ = write!(s, " body {b}");
            }
            let _ = write!(s, " timeout {}", fmt_duration(*timeout));
            s
        }
        Action::SetVariable { name, value } => format!("> set {name} = {value:?}"),
        Action::Hangup { cause } => format!("> hangup {}", cause.name()),
        Action::Fault { message } => format!("> fault: {message}"),
    }
}

fn event_line(e: &Event, waited: Duration) -> Option<String> {
    Some(match e {
        Event::Dtmf(c) => format!("< dtmf {c}"),
        Event::PlaybackDone { .. } => return None,
        Event::Timeout => format!("< timeout after {}", fmt_duration(waited)),
        Event::LookupResult(Ok(_)) => "< lookup ok".into(),
        Event::LookupResult(Err(why)) => format!("< lookup failed: {why}"),
        Event::QueueResult(QueueOutcome::LongWait { estimated }) => {
            format!("< queue long_wait (estimated {})", fmt_duration(*estimated))
        }
        Event::QueueResult(o) => format!("< queue {}", o.name()),
        Event::TransferResult { connected } => {
            format!(
                "< transfer {}",
                if *connected { "connected" } else { "failed" }
            )
        }
        Event::VoicemailDone => "< voicemail done".into(),
        Event::Hangup => "< hangup".into(),
    })
}

/// Runs a simulated call and returns its trace.
pub fn simulate(plan: Arc<Dialplan>, sc: &Scenario) -> Vec<String> {
    let mut trace = Vec::new();
    let mut it = match Interpreter::new(plan, &sc.call, sc.at) {
        Ok(it) => it,
        Err(e) => {
            trace.push(format!(
                "no entry matches: to {} from {} on trunk {:?}",
                e.to, e.from, e.trunk
            ));
            return trace;
        }
    };
    if let Some(crate::Value::Str(entry)) = it.variable("entry") {
        trace.push(format!("entry {entry}"));
    }
    let mut now = sc.at;
    let mut pending: VecDeque<Event> = VecDeque::new();
    let mut presses = sc.presses.iter();
    let mut queue = sc.queue.iter();
    let mut lookup = sc.lookup.iter();
    let mut transfer = sc.transfer.iter();
    loop {
        while let Some(a) = it.poll_action() {
            trace.push(action_line(&a));
            match a {
                Action::Play { id, .. } => pending.push_back(Event::PlaybackDone { id }),
                Action::StopPlayback { id } => {
                    pending.retain(|e| *e != Event::PlaybackDone { id });
                }
                Action::Queue { .. } => pending.push_back(Event::QueueResult(
                    queue.next().copied().unwrap_or(QueueOutcome::Answered),
                )),
                Action::Lookup { .. } => pending.push_back(Event::LookupResult(
                    lookup
                        .next()
                        .cloned()
                        .unwrap_or_else(|| Err("no answer in the scenario".into())),
                )),
                Action::Transfer { .. } => pending.push_back(Event::TransferResult {
                    connected: transfer.next().copied().unwrap_or(true),
                }),
                Action::Voicemail { .. } => pending.push_back(Event::VoicemailDone),
                _ => {}
            }
        }
        if it.is_finished() {
            break;
        }
        if trace.len() >= sc.max_lines {
            trace.push(format!("(trace cut after {} lines)", sc.max_lines));
            break;
        }
        if let Some(ev) = pending.pop_front() {
            if let Some(line) = event_line(&ev, Duration::ZERO) {
                trace.push(line);
            }
            it.handle_event(now, ev);
            continue;
        }
        if it.waiting() == Waiting::Digits {
            match presses.next() {
                Some(Press::Key(c)) => {
                    let ev = Event::Dtmf(*c);
                    trace.extend(event_line(&ev, Duration::ZERO));
                    it.handle_event(now, ev);
                    continue;
                }
                Some(Press::Hangup) => {
                    trace.push("< hangup".into());
                    it.handle_event(now, Event::Hangup);
                    break;
                }
                Some(Press::Wait) | None => {}
            }
        }
        match it.poll_timeout() {
            Some(deadline) => {
                let waited = if deadline > now {
                    Duration::try_from(deadline.duration_since(now)).unwrap_or_default()
                } else {
                    Duration::ZERO
                };
                now = now.max(deadline);
                trace.extend(event_line(&Event::Timeout, waited));
                it.handle_event(now, Event::Timeout);
            }
            None => {
                trace.push(format!(
                    "(stuck: waiting for {:?} with nothing to answer)",
                    it.waiting()
                ));
                break;
            }
        }
    }
    trace
}

/// One expected-trace test.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The test's name.
    pub name: String,
    /// Its line in the tests file.
    pub line: u32,
    /// The simulated call.
    pub scenario: Scenario,
    /// The trace it must give, line by line.
    pub expect: Vec<String>,
    /// Where the `expect:` block is, for rewriting it: see [`update_expectations`].
    pub expect_block: ExpectBlock,
}

/// The lines of a test's `expect:` block in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpectBlock {
    /// The 1-based line of `expect:`.
    pub header: u32,
    /// The last line of the block (`header` when it is empty).
    pub last: u32,
    /// The column the trace lines start at.
    pub col: u32,
}

/// A tests file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// `dialplan FILE` at the top, relative to the tests file, if given.
    pub dialplan: Option<String>,
    /// The cases in order.
    pub cases: Vec<TestCase>,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    /// The case's name.
    pub name: String,
    /// True when the trace matched.
    pub passed: bool,
    /// The trace the dialplan gave.
    pub actual: Vec<String>,
    /// A line diff (`-` expected, `+` actual), empty when it passed.
    pub diff: String,
}

/// Parses a tests file.
pub fn parse_tests(file: &str, source: &str) -> Result<TestFile, Diagnostics> {
    let mut rep = Reporter::new(file, source);
    let tree = lines::build(source, &mut rep);
    let mut out = TestFile {
        dialplan: None,
        cases: Vec::new(),
    };
    for line in &tree {
        let mut s = line.scan();
        match s.ident().map(|w| w.0) {
            Some("dialplan") => out.dialplan = Some(s.rest().trim_matches('"').to_owned()),
            Some("test") => {
                let name = s
                    .rest()
                    .trim_end_matches(':')
                    .trim()
                    .trim_matches('"')
                    .to_owned();
                if name.is_empty() || !line.text.ends_with(':') {
                    rep.error(line.span(), "expected `test NAME:`", Some("e.g. `test sales_in_english:` with the call, inputs and `expect:` indented below".into()));
                    continue;
                }
                if let Some(case) = parse_case(name, line, &mut rep) {
                    out.cases.push(case);
                }
            }
            _ => rep.error(
                line.span(),
                "expected `test NAME:` or `dialplan FILE`",
                Some("a tests file lists `test NAME:` blocks".into()),
            ),
        }
    }
    if rep.has_errors() {
        return Err(Diagnostics(rep.found));
    }
    Ok(out)
}

fn parse_case(name: String, line: &Line<'_>, rep: &mut Reporter<'_>) -> Option<TestCase> {
    let mut call = None;
    let mut at = None;
    let mut presses = Vec::new();
    let mut queue = Vec::new();
    let mut lookup = Vec::new();
    let mut transfer = Vec::new();
    let mut expect = None;
    let mut expect_block = ExpectBlock::default();
    for l in &line.children {
        let mut s = l.scan();
        let Some((kw, kspan)) = s.ident() else {
            rep.error(
                l.span(),
                "expected `call`, `digits`, `queue`, `lookup`, `transfer` or `expect:`",
                None,
            );
            continue;
        };
        // The raw text after the keyword keeps `#`, which would otherwise start a comment.
        let raw_rest = l.raw[kw.len()..].trim();
        let bad = |rep: &mut Reporter<'_>, msg: String| {
            rep.error(
                Span::new(
                    l.no,
                    kspan.col + kspan.len + 1,
                    raw_rest.chars().count().max(1) as u32,
                ),
                msg,
                None,
            );
        };
        match kw {
            "call" => {
                let mut info = CallInfo::default();
                let words: Vec<&str> = s.rest().split_whitespace().collect();
                let mut i = 0;
                while i + 1 < words.len() {
                    let v = words[i + 1].trim_matches('"').to_owned();
                    match words[i] {
                        "to" => info.to = v,
                        "from" => info.from = v,
                        "name" => info.caller_name = v,
                        "trunk" => info.trunk = v,
                        "at" => match parse_at(&v) {
                            Ok(t) => at = Some(t),
                            Err(e) => bad(rep, e),
                        },
                        other => bad(
                            rep,
                            format!("`{other}`: a call has `to`, `from`, `name`, `trunk` and `at`"),
                        ),
                    }
                    i += 2;
                }
                call = Some(info);
            }
            "digits" => match parse_presses(raw_rest) {
                Ok(p) => presses = p,
                Err(e) => bad(rep, e),
            },
            "queue" => match parse_queue_outcomes(raw_rest) {
                Ok(q) => queue = q,
                Err(e) => bad(rep, e),
            },
            "lookup" => {
                let answer = match raw_rest.strip_prefix("fail") {
                    Some(why) => Err(why.trim().trim_start_matches(':').trim().to_owned()).map_err(
                        |w: String| {
                            if w.is_empty() {
                                "unreachable".to_owned()
                            } else {
                                w
                            }
                        },
                    ),
                    None => match serde_json::from_str::<serde_json::Value>(raw_rest) {
                        Ok(_) => Ok(raw_rest.to_owned()),
                        Err(e) => {
                            bad(
                                rep,
                                format!(
                                    "the lookup answer is not JSON ({e}); write JSON or `fail REASON`"
                                ),
                            );
                            continue;
                        }
                    },
                };
                lookup.push(answer);
            }
            "transfer" => {
                for t in raw_rest.split(',').map(str::trim) {
                    match t {
                        "connected" => transfer.push(true),
                        "failed" => transfer.push(false),
                        other => bad(
                            rep,
                            format!("`{other}`: a transfer is `connected` or `failed`"),
                        ),
                    }
                }
            }
            "expect" => {
                expect = Some(
                    l.children
                        .iter()
                        .map(|c| c.raw.to_owned())
                        .collect::<Vec<_>>(),
                );
                expect_block = ExpectBlock {
                    header: l.no,
                    last: l.children.last().map_or(l.no, |c| c.no),
                    col: l.children.first().map_or(l.col + 2, |c| c.col),
                };
            }
            other => bad(rep, format!("`{other}` does not belong in a test")),
        }
    }
    let Some(call) = call else {
        rep.error(
            line.span(),
            format!("test `{name}` has no `call` line"),
            Some("add `call to DID from CALLER at 2026-11-23T10:00+08:00`".into()),
        );
        return None;
    };
    let Some(at) = at else {
        rep.error(
            line.span(),
            format!("test `{name}` does not say when the call is"),
            Some("add `at 2026-11-23T10:00+08:00` to the `call` line".into()),
        );
        return None;
    };
    let Some(expect) = expect else {
        rep.error(line.span(), format!("test `{name}` has no `expect:` block"), Some("add `expect:` with the trace lines indented below (run `switchyard dialplan simulate` to get them)".into()));
        return None;
    };
    let mut scenario = Scenario::new(call, at);
    scenario.presses = presses;
    scenario.queue = queue;
    scenario.lookup = lookup;
    scenario.transfer = transfer;
    Some(TestCase {
        name,
        line: line.no,
        scenario,
        expect,
        expect_block,
    })
}

/// Rewrites the `expect:` blocks of the given cases in a tests file's text with new
/// traces (what `switchyard dialplan test --update` does with the actual traces).
pub fn update_expectations(source: &str, updates: &[(ExpectBlock, Vec<String>)]) -> String {
    let mut lines: Vec<String> = source.lines().map(str::to_owned).collect();
    let mut sorted: Vec<&(ExpectBlock, Vec<String>)> = updates.iter().collect();
    // From the bottom up, so earlier line numbers stay valid.
    sorted.sort_by_key(|(b, _)| std::cmp::Reverse(b.header));
    for (block, trace) in sorted {
        let from = block.header as usize; // the line after `expect:` (0-based index)
        let to = (block.last as usize).max(from).min(lines.len());
        let pad = " ".repeat(block.col.saturating_sub(1) as usize);
        let new: Vec<String> = trace.iter().map(|t| format!("{pad}{t}")).collect();
        lines.splice(from.min(lines.len())..to, new);
    }
    let mut out = lines.join("\n");
    if source.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Runs one case against a dialplan.
pub fn run_test(plan: Arc<Dialplan>, case: &TestCase) -> TestOutcome {
    let actual = simulate(plan, &case.scenario);
    let passed = actual == case.expect;
    let diff = if passed {
        String::new()
    } else {
        line_diff(&case.expect, &actual)
    };
    TestOutcome {
        name: case.name.clone(),
        passed,
        actual,
        diff,
    }
}

/// A minimal line diff by longest common subsequence: ` ` same, `-` expected only,
/// `+` actual only. Traces are short, so the quadratic table is fine.
pub fn line_diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            let _ = writeln!(out, "  {}", expected[i]);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+ {}", actual[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {}", expected[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presses_and_outcomes_parse() {
        assert_eq!(
            parse_presses("1, \"#\", wait, 23, hangup").unwrap(),
            vec![
                Press::Key('1'),
                Press::Key('#'),
                Press::Wait,
                Press::Key('2'),
                Press::Key('3'),
                Press::Hangup
            ]
        );
        assert!(parse_presses("x").is_err());
        assert_eq!(
            parse_queue_outcomes("long_wait:3m, answered").unwrap(),
            vec![
                QueueOutcome::LongWait {
                    estimated: Duration::from_secs(180)
                },
                QueueOutcome::Answered
            ]
        );
        assert!(parse_queue_outcomes("maybe").is_err());
        assert_eq!(
            parse_at("2026-11-23T10:00+08:00").unwrap(),
            parse_at("2026-11-23T02:00Z").unwrap()
        );
        assert_eq!(
            parse_at("2026-11-23T10:00[Asia/Shanghai]").unwrap(),
            parse_at("2026-11-23T02:00Z").unwrap()
        );
    }

    #[test]
    fn tests_file_errors_point_at_the_line() {
        let src = "test a:\n  call to 1 from 2 at 2026-11-23T10:00+08:00\n  digits 1, x\n  expect:\n    entry main\n";
        let d = parse_tests("t.tests", src).unwrap_err();
        let e = &d.0[0];
        assert_eq!((e.span.line, e.span.col), (3, 10));
        assert!(
            e.message.contains("`x` is not a key press"),
            "{}",
            e.message
        );
        let d = parse_tests("t.tests", "test b:\n  digits 1\n").unwrap_err();
        assert!(d.0[0].message.contains("has no `call` line"));
        let ok = parse_tests("t.tests", "test c:\n  call to 1 at 2026-11-23T02:00Z\n  digits 1, #, wait\n  expect:\n    < dtmf #\n").unwrap();
        assert_eq!(
            ok.cases[0].scenario.presses,
            vec![Press::Key('1'), Press::Key('#'), Press::Wait]
        );
        assert_eq!(ok.cases[0].expect, vec!["< dtmf #".to_string()]);
    }

    #[test]
    fn expectations_are_rewritten_in_place() {
        let src = "test a:\n  call to 1 at 2026-11-23T02:00Z\n  expect:\n    old 1\n    old 2\n# between\ntest b:\n  call to 1 at 2026-11-23T02:00Z\n  expect:\n";
        let t = parse_tests("t.tests", src).unwrap();
        let updates = vec![
            (t.cases[0].expect_block, vec!["new 1".to_string()]),
            (
                t.cases[1].expect_block,
                vec!["x".to_string(), "< dtmf #".to_string()],
            ),
        ];
        let out = update_expectations(src, &updates);
        assert_eq!(
            out,
            "test a:\n  call to 1 at 2026-11-23T02:00Z\n  expect:\n    new 1\n# between\ntest b:\n  call to 1 at 2026-11-23T02:00Z\n  expect:\n    x\n    < dtmf #\n"
        );
        let again = parse_tests("t.tests", &out).unwrap();
        assert_eq!(again.cases[1].expect, ["x", "< dtmf #"]);
    }

    #[test]
    fn diff_marks_changes() {
        let e: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let a: Vec<String> = ["a", "x", "c"].map(String::from).to_vec();
        assert_eq!(line_diff(&e, &a), "  a\n+ x\n- b\n  c\n");
    }
}
