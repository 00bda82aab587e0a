//! Parsing and checking: source text in, a [`Dialplan`] or precise diagnostics out.
//!
//! Two passes over the top-level blocks: the first reads settings, `hours`, `holidays`
//! and the names of all steps (so a step may refer to one defined further down); the
//! second compiles `entry` and `step` blocks to flat code and the checker runs over it.
//! Top-level blocks are in `blocks`, statements in `stmt`, whole-dialplan checks in `check`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use crate::diag::{Diagnostics, Reporter, Span, closest};
use crate::expr::{Names, ParseErr};
use crate::lines::{self, Line, Scan};
use crate::plan::{BUILTINS, Dialplan, Entry, Op, PromptDef, READ_ONLY};
use crate::time::{self, Holidays, Schedule};

/// Queues and skills a configuration defines, for the checker.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Queue names.
    pub queues: BTreeSet<String>,
    /// Skill names.
    pub skills: BTreeSet<String>,
    /// Trunk names for `transfer number ... via TRUNK`; when empty, trunks are not checked.
    pub trunks: BTreeSet<String>,
}

/// What the checker may look at besides the source: where prompts live and whether a
/// prompt file exists (`None` skips that check), and the configured queues and skills
/// (`None` skips those checks; [`Dialplan::queues_needed`] lists them instead).
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The directory of the dialplan file; `prompts "..."` is relative to it.
    pub base_dir: &'a Path,
    /// Tells whether a prompt file exists.
    pub prompt_exists: Option<&'a dyn Fn(&Path) -> bool>,
    /// Queues and skills of the configuration.
    pub known: Option<&'a Known>,
}

impl<'a> Env<'a> {
    /// No file checks and no configuration: syntax and structure only.
    pub fn bare() -> Env<'static> {
        Env {
            base_dir: Path::new("."),
            prompt_exists: None,
            known: None,
        }
    }
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("base_dir", &self.base_dir)
            .field("prompt_exists", &self.prompt_exists.is_some())
            .field("known", &self.known)
            .finish()
    }
}

pub(crate) const DEFAULT_BUDGET: u32 = 1000;

/// Parses and checks a dialplan. On success the dialplan carries its warnings.
pub fn compile(file: &str, source: &str, env: &Env<'_>) -> Result<Dialplan, Diagnostics> {
    let mut rep = Reporter::new(file, source);
    let tree = lines::build(source, &mut rep);
    let mut c = Compiler::new(&mut rep);
    c.pass_one(&tree);
    c.pass_two(&tree);
    c.check(env);
    let plan = c.finish(env);
    let mut found = std::mem::take(&mut rep.found);
    // Errors first, then by position.
    found.sort_by_key(|d| {
        (
            d.severity != crate::Severity::Error,
            d.span.line,
            d.span.col,
        )
    });
    if found.iter().any(|d| d.severity == crate::Severity::Error) {
        return Err(Diagnostics(found));
    }
    let mut plan = plan;
    plan.warnings = Diagnostics(found);
    Ok(plan)
}

pub(crate) struct StepInfo {
    pub(crate) name: Arc<str>,
    pub(crate) span: Span,
    pub(crate) pc: u32,
    /// Steps this one jumps to or calls.
    pub(crate) edges: Vec<usize>,
}

pub(crate) struct Compiler<'r, 's> {
    pub(crate) rep: &'r mut Reporter<'s>,
    pub(crate) name: Option<String>,
    pub(crate) languages: Vec<(Arc<str>, Span)>,
    pub(crate) language_skills: Vec<(Arc<str>, Arc<str>, Span)>,
    pub(crate) prompt_dir: Option<(String, Span)>,
    pub(crate) zone: TimeZone,
    pub(crate) budget: u32,
    pub(crate) on_error: Option<(usize, Span)>,
    pub(crate) steps: Vec<StepInfo>,
    pub(crate) step_index: HashMap<String, usize>,
    pub(crate) entries: Vec<(Entry, Option<usize>)>,
    pub(crate) ops: Vec<Op>,
    pub(crate) op_lines: Vec<u32>,
    /// Ops whose jump target is a step, patched when all steps are compiled.
    pub(crate) fixups: Vec<(usize, usize)>,
    pub(crate) vars: Vec<Arc<str>>,
    pub(crate) var_index: HashMap<String, u16>,
    pub(crate) var_reads: Vec<(u16, Span)>,
    pub(crate) var_writes: BTreeSet<u16>,
    pub(crate) prompts: Vec<(Arc<str>, Span)>,
    pub(crate) prompt_index: HashMap<String, u32>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) schedule_index: HashMap<String, u16>,
    pub(crate) holidays: Vec<Holidays>,
    pub(crate) holiday_index: HashMap<String, u16>,
    pub(crate) queues_needed: BTreeMap<String, Span>,
    pub(crate) skills_needed: BTreeMap<String, Span>,
    pub(crate) trunks_needed: BTreeMap<String, Span>,
    pub(crate) uses_language_skill: Option<Span>,
    pub(crate) say_used: [Option<Span>; 3],
    pub(crate) language_literals: Vec<(String, Span)>,
    /// The step being compiled.
    pub(crate) current: usize,
    pub(crate) line: u32,
}

impl Names for Compiler<'_, '_> {
    fn read_var(&mut self, name: &str, span: Span) -> u16 {
        let slot = self.var_slot(name);
        self.var_reads.push((slot, span));
        slot
    }
    fn schedule(&mut self, name: &str, span: Span) -> Option<u16> {
        let found = self.schedule_index.get(name).copied();
        if found.is_none() {
            let hint = closest(name, self.schedule_index.keys().map(String::as_str))
                .map(|n| format!("did you mean `{n}`?"))
                .unwrap_or_else(|| "define it with `hours NAME:` at the top level".into());
            self.rep
                .error(span, format!("no `hours` block named `{name}`"), Some(hint));
        }
        found
    }
    fn holidays(&mut self, name: &str, span: Span) -> Option<u16> {
        let found = self.holiday_index.get(name).copied();
        if found.is_none() {
            let hint = closest(name, self.holiday_index.keys().map(String::as_str))
                .map(|n| format!("did you mean `{n}`?"))
                .unwrap_or_else(|| "define it with `holidays NAME:` at the top level".into());
            self.rep.error(
                span,
                format!("no `holidays` block named `{name}`"),
                Some(hint),
            );
        }
        found
    }
}

/// Parses `5s`, `500ms`, `2m`, `1h`, `1m30s`.
pub(crate) fn parse_duration(word: &str, span: Span) -> Result<Duration, ParseErr> {
    let bad = || {
        Err((
            span,
            format!("`{word}` is not a duration"),
            Some("write durations with a unit: `500ms`, `5s`, `2m`, `1h`, `1m30s`".into()),
        ))
    };
    let mut total = Duration::ZERO;
    let mut rest = word;
    if rest.is_empty() {
        return bad();
    }
    while !rest.is_empty() {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return bad();
        }
        let value: u64 = rest[..n]
            .parse()
            .map_err(|_| (span, format!("`{word}` is not a duration"), None))?;
        rest = &rest[n..];
        let unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let d = match &rest[..unit] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" | "min" => Duration::from_secs(value * 60),
            "h" => Duration::from_secs(value * 3600),
            _ => return bad(),
        };
        total += d;
        rest = &rest[unit..];
    }
    Ok(total)
}

impl<'r, 's> Compiler<'r, 's> {
    fn new(rep: &'r mut Reporter<'s>) -> Self {
        let mut c = Compiler {
            rep,
            name: None,
            languages: Vec::new(),
            language_skills: Vec::new(),
            prompt_dir: None,
            zone: TimeZone::UTC,
            budget: DEFAULT_BUDGET,
            on_error: None,
            steps: Vec::new(),
            step_index: HashMap::new(),
            entries: Vec::new(),
            ops: Vec::new(),
            op_lines: Vec::new(),
            fixups: Vec::new(),
            vars: Vec::new(),
            var_index: HashMap::new(),
            var_reads: Vec::new(),
            var_writes: BTreeSet::new(),
            prompts: Vec::new(),
            prompt_index: HashMap::new(),
            schedules: Vec::new(),
            schedule_index: HashMap::new(),
            holidays: Vec::new(),
            holiday_index: HashMap::new(),
            queues_needed: BTreeMap::new(),
            skills_needed: BTreeMap::new(),
            trunks_needed: BTreeMap::new(),
            uses_language_skill: None,
            say_used: [None; 3],
            language_literals: Vec::new(),
            current: 0,
            line: 0,
        };
        for b in BUILTINS {
            c.var_slot(b);
        }
        c
    }

    pub(crate) fn var_slot(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.var_index.get(name) {
            return i;
        }
        let i = self.vars.len() as u16;
        self.vars.push(Arc::from(name));
        self.var_index.insert(name.to_owned(), i);
        i
    }

    pub(crate) fn err(&mut self, e: ParseErr) {
        self.rep.error(e.0, e.1, e.2);
    }

    pub(crate) fn error(&mut self, span: Span, msg: impl Into<String>, hint: &str) {
        let hint = (!hint.is_empty()).then(|| hint.to_owned());
        self.rep.error(span, msg, hint);
    }

    /// Reports anything left on a line after what was understood.
    pub(crate) fn expect_end(&mut self, s: &mut Scan<'_>, what: &str) -> bool {
        if s.at_end() {
            return true;
        }
        let span = s.rest_span();
        let rest = s.rest().to_owned();
        self.error(
            span,
            format!("unexpected `{rest}` after {what}"),
            "remove it, or put it on its own line",
        );
        false
    }

    /// Reports child lines under a line that takes none.
    pub(crate) fn no_children(&mut self, line: &Line<'_>) {
        if let Some(child) = line.children.first() {
            self.error(
                child.span(),
                "unexpected indentation",
                "only lines ending in `:` open a block; move this line left",
            );
        }
    }

    fn pass_one(&mut self, tree: &[Line<'_>]) {
        for line in tree {
            let mut s = line.scan();
            let Some((kw, kspan)) = s.ident() else {
                self.error(
                    line.span(),
                    "a top-level line starts with a keyword",
                    "top-level lines are `dialplan`, `languages`, `language skills`, `prompts`, `timezone`, `budget`, `on error`, `holidays`, `hours`, `entry` and `step`",
                );
                continue;
            };
            match kw {
                "dialplan" => {
                    match s.string() {
                        Ok(Some((name, _))) => self.name = Some(name),
                        _ => self.error(
                            s.here(),
                            "`dialplan` takes a name in quotes",
                            "e.g. `dialplan \"Demo contact centre\"`",
                        ),
                    }
                    self.expect_end(&mut s, "the name");
                    self.no_children(line);
                }
                "languages" => {
                    loop {
                        let Some((lang, span)) = s.ident() else {
                            self.error(
                                s.here(),
                                "expected a language code",
                                "e.g. `languages en, zh`",
                            );
                            break;
                        };
                        if self.languages.iter().any(|(l, _)| &**l == lang) {
                            self.error(span, format!("language `{lang}` is listed twice"), "");
                        }
                        self.languages.push((Arc::from(lang), span));
                        if !s.eat(',') {
                            break;
                        }
                    }
                    self.expect_end(&mut s, "the languages");
                    self.no_children(line);
                }
                "language" => {
                    if !s.eat_word("skills") {
                        self.error(kspan, "`language` at the top level must be `language skills`", "e.g. `language skills en = english, zh = mandarin`; to choose a language use `language zh` inside a step");
                        continue;
                    }
                    loop {
                        let (Some((lang, span)), true, Some((skill, _))) =
                            (s.ident(), s.eat('='), s.ident())
                        else {
                            self.error(
                                s.here(),
                                "expected `LANGUAGE = SKILL`",
                                "e.g. `language skills en = english, zh = mandarin`",
                            );
                            break;
                        };
                        self.language_skills
                            .push((Arc::from(lang), Arc::from(skill), span));
                        if !s.eat(',') {
                            break;
                        }
                    }
                    self.expect_end(&mut s, "the language skills");
                    self.no_children(line);
                }
                "prompts" => {
                    match s.string() {
                        Ok(Some((dir, span))) => self.prompt_dir = Some((dir, span)),
                        _ => self.error(
                            s.here(),
                            "`prompts` takes a directory in quotes",
                            "e.g. `prompts \"../prompts\"` (relative to this file)",
                        ),
                    }
                    self.expect_end(&mut s, "the directory");
                    self.no_children(line);
                }
                "timezone" => {
                    match s.bare() {
                        Some((z, span)) => match time::parse_zone(z, span) {
                            Ok(z) => self.zone = z,
                            Err(e) => self.err(e),
                        },
                        None => self.error(
                            s.here(),
                            "`timezone` takes a zone name",
                            "e.g. `timezone Asia/Shanghai`",
                        ),
                    }
                    self.expect_end(&mut s, "the time zone");
                    self.no_children(line);
                }
                "budget" => {
                    match s.number() {
                        Some((n, _)) if (10..=1_000_000).contains(&n) => self.budget = n as u32,
                        _ => self.error(
                            s.here(),
                            "`budget` takes a number of steps between 10 and 1000000",
                            "e.g. `budget 1000`",
                        ),
                    }
                    self.expect_end(&mut s, "the budget");
                    self.no_children(line);
                }
                "on" => {} // `on error goto STEP`: needs the step names; pass two.
                "holidays" => self.holidays_block(line, &mut s),
                "hours" => {} // May name holidays defined below; after this loop.
                "entry" => {}
                "step" => {
                    let Some((name, span)) = s.ident() else {
                        self.error(s.here(), "`step` takes a name", "e.g. `step main_menu:`");
                        continue;
                    };
                    if let Some(&prev) = self.step_index.get(name) {
                        let first = self.steps[prev].span.line;
                        self.error(
                            span,
                            format!("step `{name}` is defined twice"),
                            &format!("the first is on line {first}; rename one of them"),
                        );
                        continue;
                    }
                    if !s.eat(':') {
                        self.error(
                            s.here(),
                            "a step's name is followed by `:`",
                            &format!("write `step {name}:` and indent its statements below"),
                        );
                    }
                    self.step_index.insert(name.to_owned(), self.steps.len());
                    self.steps.push(StepInfo {
                        name: Arc::from(name),
                        span,
                        pc: 0,
                        edges: Vec::new(),
                    });
                }
                other => {
                    let known = [
                        "dialplan",
                        "languages",
                        "language",
                        "prompts",
                        "timezone",
                        "budget",
                        "on",
                        "holidays",
                        "hours",
                        "entry",
                        "step",
                    ];
                    let hint = match closest(other, known) {
                        Some(k) => format!("did you mean `{k}`?"),
                        None => "top-level lines are `dialplan`, `languages`, `prompts`, `timezone`, `budget`, `on error`, `holidays`, `hours`, `entry` and `step`; statements go inside a `step`".into(),
                    };
                    self.rep.error(
                        kspan,
                        format!("unknown top-level keyword `{other}`"),
                        Some(hint),
                    );
                }
            }
        }
        for line in tree {
            let mut s = line.scan();
            if s.eat_word("hours") {
                self.hours_block(line, &mut s);
            }
        }
        if self.languages.is_empty() {
            self.languages.push((Arc::from("en"), Span::new(1, 1, 1)));
        }
    }

    /// Resolves a step name for `goto`, `call`, `start` and `on error`.
    pub(crate) fn step_ref(&mut self, name: &str, span: Span) -> Option<usize> {
        if let Some(&i) = self.step_index.get(name) {
            return Some(i);
        }
        let hint = match closest(name, self.step_index.keys().map(String::as_str)) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("define it with `step {name}:`"),
        };
        self.rep
            .error(span, format!("no step named `{name}`"), Some(hint));
        None
    }

    pub(crate) fn push(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.op_lines.push(self.line);
        self.ops.len() - 1
    }

    /// A jump (or call) to a step, patched later.
    pub(crate) fn push_step_jump(&mut self, step: usize, call: bool) {
        let at = self.push(if call { Op::Call(0) } else { Op::Jump(0) });
        self.fixups.push((at, step));
        let cur = self.current;
        self.steps[cur].edges.push(step);
    }

    pub(crate) fn pc(&self) -> u32 {
        self.ops.len() as u32
    }

    fn pass_two(&mut self, tree: &[Line<'_>]) {
        for line in tree {
            let mut s = line.scan();
            let Some((kw, _)) = s.ident() else { continue };
            match kw {
                "on" => {
                    self.line = line.no;
                    if !(s.eat_word("error") && s.eat_word("goto")) {
                        self.error(line.span(), "expected `on error goto STEP`", "this names the step a call goes to when the dialplan fails at run time");
                        continue;
                    }
                    if let Some((name, span)) = s.ident()
                        && let Some(i) = self.step_ref(name, span)
                    {
                        self.on_error = Some((i, span));
                    }
                    self.expect_end(&mut s, "the step");
                }
                "entry" => self.entry_block(line, &mut s),
                "step" => {
                    let Some((name, _)) = s.ident() else { continue };
                    let Some(&i) = self.step_index.get(name) else {
                        continue;
                    };
                    if self.steps[i].span.line != line.no {
                        continue; // a duplicate, reported in pass one
                    }
                    s.eat(':');
                    self.current = i;
                    self.steps[i].pc = self.pc();
                    self.line = line.no;
                    if !self.expect_end(&mut s, "the step's name") {
                        continue;
                    }
                    let ends = self.block_lines(&line.children, line.span());
                    if !ends && !line.children.is_empty() {
                        let last = line.children.last().map_or(line.span(), |l| l.span());
                        self.rep.error(
                            last,
                            format!("step `{name}` can run off its end"),
                            Some("end every path with `goto STEP`, `return` or `hangup` (a step never falls into the next one)".into()),
                        );
                        // Keep the code well-formed for the checker.
                        self.push(Op::Hangup(crate::HangupCause::Failure));
                    }
                }
                _ => {}
            }
        }
        for &(at, step) in &self.fixups {
            let target = self.steps[step].pc;
            match &mut self.ops[at] {
                Op::Jump(t) | Op::Call(t) => *t = target,
                // Fixups are recorded only for `Jump` and `Call` ops.
                _ => {}
            }
        }
        for (entry, step) in &mut self.entries {
            if let Some(step) = step {
                entry.start = self.steps[*step].pc;
            }
        }
    }

    pub(crate) fn prompt_dir_path(&self, env: &Env<'_>) -> PathBuf {
        let rel = self
            .prompt_dir
            .as_ref()
            .map_or("../prompts", |(d, _)| d.as_str());
        env.base_dir.join(rel)
    }

    /// The id of a prompt, registering it on first use.
    pub(crate) fn prompt_id(&mut self, name: &str, span: Span) -> u32 {
        if let Some(&i) = self.prompt_index.get(name) {
            return i;
        }
        let i = self.prompts.len() as u32;
        self.prompts.push((Arc::from(name), span));
        self.prompt_index.insert(name.to_owned(), i);
        i
    }

    fn finish(&mut self, env: &Env<'_>) -> Dialplan {
        let dir = self.prompt_dir_path(env);
        let prompts: Vec<PromptDef> = self
            .prompts
            .iter()
            .map(|(name, _)| PromptDef {
                name: name.clone(),
                files: self
                    .languages
                    .iter()
                    .map(|(l, _)| Arc::from(prompt_path(&dir, l, name)))
                    .collect(),
            })
            .collect();
        let prompt_by_name = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i as u32))
            .collect();
        let language_skills = self
            .languages
            .iter()
            .map(|(l, _)| {
                self.language_skills
                    .iter()
                    .find(|(x, _, _)| x == l)
                    .map(|(_, k, _)| k.clone())
            })
            .collect();
        Dialplan {
            name: self.name.take(),
            file: self.rep.file().clone(),
            languages: self.languages.iter().map(|(l, _)| l.clone()).collect(),
            language_skills,
            zone: self.zone.clone(),
            budget: self.budget,
            on_error: self.on_error.map(|(s, _)| self.steps[s].pc),
            entries: std::mem::take(&mut self.entries)
                .into_iter()
                .map(|(e, _)| e)
                .collect(),
            steps: self.steps.iter().map(|s| (s.name.clone(), s.pc)).collect(),
            ops: std::mem::take(&mut self.ops),
            op_lines: std::mem::take(&mut self.op_lines),
            prompts,
            prompt_by_name,
            vars: self.vars.iter().cloned().collect(),
            schedules: std::mem::take(&mut self.schedules),
            holidays: std::mem::take(&mut self.holidays),
            queues_needed: std::mem::take(&mut self.queues_needed),
            skills_needed: std::mem::take(&mut self.skills_needed),
            warnings: Diagnostics::default(),
        }
    }

    pub(crate) fn is_read_only(slot: u16) -> bool {
        READ_ONLY.contains(&slot)
    }
}

pub(crate) fn prompt_path(dir: &Path, lang: &str, name: &str) -> PathBuf {
    dir.join(lang).join(format!("{name}.wav"))
}
