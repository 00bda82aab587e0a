//! Statements inside a `step`: parsing, checking and code generation.

use std::sync::Arc;
use std::time::Duration;

use crate::compile::{Compiler, parse_duration};
use crate::diag::{Span, closest};
use crate::expr::{self, Expr, Value};
use crate::lines::{Line, Scan};
use crate::plan::{
    CollectOp, HangupCause, LookupOp, MenuOp, Op, QueueOp, SayKind, SkillName, SwitchOp,
    TransferKind, TransferOp, V_DIGITS, V_LANGUAGE,
};

const STATEMENTS: [&str; 20] = [
    "play",
    "say",
    "collect",
    "menu",
    "set",
    "language",
    "goto",
    "call",
    "return",
    "if",
    "switch",
    "queue",
    "transfer",
    "voicemail",
    "callback",
    "record",
    "lookup",
    "hangup",
    "wait",
    "else",
];

impl Compiler<'_, '_> {
    /// Compiles the lines of a block. Returns true when every path through it ends in a
    /// jump, a return or a hangup.
    pub(crate) fn block_lines(&mut self, lines: &[Line<'_>], header: Span) -> bool {
        if lines.is_empty() {
            self.error(
                header,
                "this block is empty",
                "indent at least one statement under it",
            );
            return false;
        }
        let mut ends = false;
        let mut warned = false;
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            if ends && !warned {
                self.rep.warn(
                    line.span(),
                    "this line is never reached",
                    Some("the line before it always leaves; remove this one or move it up".into()),
                );
                warned = true;
            }
            let mut s = line.scan();
            if s.peek_ident() == Some("if") {
                let mut j = i + 1;
                while j < lines.len() && lines[j].scan().peek_ident() == Some("else") {
                    j += 1;
                }
                ends = self.if_chain(&lines[i..j]);
                i = j;
                continue;
            }
            ends = self.stmt(s, &line.children, line.span(), line.no);
            i += 1;
        }
        ends
    }

    /// After a header's `:`: either one statement on the same line or a block below.
    fn body(&mut self, mut s: Scan<'_>, children: &[Line<'_>], header: Span, line: u32) -> bool {
        if s.at_end() {
            return self.block_lines(children, header);
        }
        if let Some(first) = children.first() {
            self.error(
                first.span(),
                "a statement after `:` and a block below it",
                "put the statement either after the `:` or on the lines below, not both",
            );
        }
        let here = s.here();
        let rest = s.rest();
        let inner = Scan::sub(rest, here.line, here.col);
        self.stmt(
            inner,
            &[],
            Span::new(here.line, here.col, rest.chars().count() as u32),
            line,
        )
    }

    fn if_chain(&mut self, lines: &[Line<'_>]) -> bool {
        let mut end_jumps = Vec::new();
        let mut all_end = true;
        let mut has_else = false;
        for (k, line) in lines.iter().enumerate() {
            self.line = line.no;
            let mut s = line.scan();
            let is_else = s.eat_word("else");
            let cond = if !is_else {
                s.eat_word("if");
                true
            } else {
                s.eat_word("if")
            };
            if is_else && k == 0 {
                self.error(line.span(), "`else` without an `if` before it", "");
            }
            if has_else {
                self.error(
                    line.span(),
                    "nothing can follow `else:` in an if chain",
                    "move this `else` branch before the final `else:`",
                );
            }
            let mut unless_at = None;
            if cond {
                let e = match expr::parse(&mut s, self) {
                    Ok(e) => e,
                    Err(e) => {
                        self.err(e);
                        Expr::Lit(Value::Bool(false))
                    }
                };
                unless_at = Some(self.push(Op::Unless(e, 0)));
            } else {
                has_else = true;
            }
            if !s.eat(':') {
                self.error(
                    s.here(),
                    "a condition ends with `:`",
                    "e.g. `if open(business):` with the statements indented below",
                );
            }
            let ends = self.body(s, &line.children, line.span(), line.no);
            all_end &= ends;
            if !ends {
                end_jumps.push(self.push(Op::Jump(0)));
            }
            if let Some(at) = unless_at {
                let next = self.pc();
                if let Op::Unless(_, t) = &mut self.ops[at] {
                    *t = next;
                }
            }
        }
        let end = self.pc();
        for at in end_jumps {
            self.ops[at] = Op::Jump(end);
        }
        has_else && all_end
    }

    /// One statement. Returns true when it always leaves (goto, return, hangup, ...).
    fn stmt(&mut self, mut s: Scan<'_>, children: &[Line<'_>], span: Span, line: u32) -> bool {
        self.line = line;
        let Some((kw, kspan)) = s.ident() else {
            self.error(
                span,
                "a statement starts with a keyword",
                "e.g. `play welcome`, `goto main_menu`, `hangup`",
            );
            return false;
        };
        let takes_block = matches!(
            kw,
            "menu" | "collect" | "queue" | "lookup" | "switch" | "if"
        );
        if !takes_block && !children.is_empty() {
            self.error(
                children[0].span(),
                "unexpected indentation",
                &format!("`{kw}` does not take a block; move this line left"),
            );
        }
        match kw {
            "play" => {
                let ids = self.prompt_list(&mut s, "play");
                self.push(Op::Play(ids.into()));
                self.expect_end(&mut s, "the prompts");
                false
            }
            "say" => {
                let kind = if s.eat_word("digits") {
                    SayKind::Digits
                } else if s.eat_word("number") {
                    SayKind::Number
                } else if s.eat_word("time") {
                    SayKind::Time
                } else {
                    self.error(
                        s.here(),
                        "`say` is followed by `digits`, `number` or `time`",
                        "e.g. `say digits caller`, `say number estimated_wait`, `say time time`",
                    );
                    return false;
                };
                let slot = kind as usize;
                self.say_used[slot].get_or_insert(span);
                let e = self.expr(&mut s);
                self.push(Op::Say(kind, e));
                self.expect_end(&mut s, "the value");
                false
            }
            "set" => {
                let Some((name, nspan)) = s.ident() else {
                    self.error(
                        s.here(),
                        "`set` is followed by a variable name",
                        "e.g. `set tries = tries + 1`",
                    );
                    return false;
                };
                if !s.eat('=') {
                    self.error(
                        s.here(),
                        "expected `=` after the variable name",
                        &format!("write `set {name} = VALUE`"),
                    );
                    return false;
                }
                let e = self.expr(&mut s);
                self.expect_end(&mut s, "the value");
                let slot = self.var_slot(name);
                if slot == V_LANGUAGE {
                    self.push(Op::Language(e));
                } else if Compiler::is_read_only(slot) {
                    self.error(
                        nspan,
                        format!("`{name}` is set by the switch and cannot be assigned"),
                        "store a copy in a variable of your own: `set my_digits = digits`",
                    );
                } else {
                    self.var_writes.insert(slot);
                    self.push(Op::Set(slot, e));
                }
                false
            }
            "language" => {
                let e = match s.ident() {
                    Some((lang, lspan)) => {
                        self.language_literals.push((lang.to_owned(), lspan));
                        Expr::Lit(Value::str(lang))
                    }
                    None => self.expr(&mut s),
                };
                self.expect_end(&mut s, "the language");
                self.push(Op::Language(e));
                false
            }
            "goto" | "call" => {
                match s.ident() {
                    Some((name, nspan)) => {
                        if let Some(i) = self.step_ref(name, nspan) {
                            self.push_step_jump(i, kw == "call");
                        }
                    }
                    None => self.error(
                        s.here(),
                        format!("`{kw}` is followed by a step name"),
                        &format!("e.g. `{kw} main_menu`"),
                    ),
                }
                self.expect_end(&mut s, "the step name");
                kw == "goto"
            }
            "return" => {
                self.expect_end(&mut s, "`return`");
                self.push(Op::Return);
                true
            }
            "hangup" => {
                let cause = match s.ident() {
                    None => HangupCause::Normal,
                    Some((c, cspan)) => HangupCause::by_name(c).unwrap_or_else(|| {
                        self.error(
                            cspan,
                            format!("unknown hangup cause `{c}`"),
                            "causes are normal, busy, no_answer, rejected, unavailable, failure",
                        );
                        HangupCause::Normal
                    }),
                };
                self.expect_end(&mut s, "the cause");
                self.push(Op::Hangup(cause));
                true
            }
            "wait" => {
                let d = self.duration(&mut s).unwrap_or(Duration::ZERO);
                self.expect_end(&mut s, "the duration");
                self.push(Op::Wait(d));
                false
            }
            "record" => {
                let on = if s.eat_word("on") {
                    true
                } else if s.eat_word("off") {
                    false
                } else {
                    self.error(s.here(), "`record` is followed by `on` or `off`", "");
                    return false;
                };
                self.expect_end(&mut s, "`on` or `off`");
                self.push(Op::Record(on));
                false
            }
            "voicemail" => {
                let e = self.word_or_expr(&mut s);
                self.expect_end(&mut s, "the mailbox");
                self.push(Op::Voicemail(e));
                false
            }
            "callback" => {
                let Some((q, qspan)) = s.ident() else {
                    self.error(
                        s.here(),
                        "`callback` is followed by the queue that calls back",
                        "e.g. `callback sales` or `callback sales to caller`",
                    );
                    return false;
                };
                self.queues_needed.entry(q.to_owned()).or_insert(qspan);
                let number = if s.eat_word("to") {
                    self.expr(&mut s)
                } else {
                    Expr::Var(crate::plan::V_CALLER)
                };
                self.expect_end(&mut s, "the number");
                self.push(Op::Callback(Arc::from(q), number));
                false
            }
            "transfer" => {
                self.transfer(&mut s);
                false
            }
            "if" => {
                // A lone `if` reached through an inline body (`1: if x: ...`).
                let mut e_s = s.clone();
                let e = self.expr(&mut e_s);
                let at = self.push(Op::Unless(e, 0));
                if !e_s.eat(':') {
                    self.error(e_s.here(), "a condition ends with `:`", "");
                }
                let ends = self.body(e_s, children, span, line);
                let jump = (!ends).then(|| self.push(Op::Jump(0)));
                let end = self.pc();
                if let Op::Unless(_, t) = &mut self.ops[at] {
                    *t = end;
                }
                if let Some(j) = jump {
                    self.ops[j] = Op::Jump(end);
                }
                false
            }
            "else" => {
                self.error(
                    kspan,
                    "`else` without an `if` before it",
                    "`else` lines up under the `if` it belongs to",
                );
                false
            }
            "switch" => self.switch(&mut s, children, span),
            "menu" => self.menu(&mut s, children, span),
            "collect" => {
                self.collect(&mut s, children);
                false
            }
            "queue" => {
                self.queue(&mut s, children);
                false
            }
            "lookup" => self.lookup(&mut s, children, span),
            other => {
                let hint = match closest(other, STATEMENTS) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => "statements are play, say, collect, menu, set, language, goto, call, return, if, switch, queue, transfer, voicemail, callback, record, lookup, hangup, wait".into(),
                };
                self.rep
                    .error(kspan, format!("unknown statement `{other}`"), Some(hint));
                false
            }
        }
    }

    fn expr(&mut self, s: &mut Scan<'_>) -> Expr {
        match expr::parse(s, self) {
            Ok(e) => e,
            Err(e) => {
                self.err(e);
                // Skip the rest of the line so one mistake gives one message.
                s.pos = s.text.len();
                Expr::Lit(Value::default())
            }
        }
    }

    /// A bare word is a literal name (`voicemail general`, `transfer agent alice`);
    /// anything else is an expression (`voicemail "box-${digits}"`).
    fn word_or_expr(&mut self, s: &mut Scan<'_>) -> Expr {
        let save = s.pos;
        if let Some((w, _)) = s.ident() {
            let mut after = s.clone();
            if after.at_end() || after.peek_ident() == Some("via") {
                return Expr::Lit(Value::str(w));
            }
        }
        s.pos = save;
        self.expr(s)
    }

    fn duration(&mut self, s: &mut Scan<'_>) -> Option<Duration> {
        match s.bare() {
            Some((w, span)) => match parse_duration(w, span) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.err(e);
                    None
                }
            },
            None => {
                self.error(s.here(), "expected a duration", "e.g. `5s`, `500ms`, `2m`");
                None
            }
        }
    }

    fn small_number(&mut self, s: &mut Scan<'_>, what: &str, max: i64) -> Option<u8> {
        match s.number() {
            Some((n, _)) if (1..=max).contains(&n) => Some(n as u8),
            Some((n, span)) => {
                self.error(
                    span,
                    format!("{what} must be between 1 and {max}, not {n}"),
                    "",
                );
                None
            }
            None => {
                self.error(s.here(), format!("expected {what} (a number)"), "");
                None
            }
        }
    }

    fn prompt_list(&mut self, s: &mut Scan<'_>, what: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        loop {
            let Some((name, span)) = s.bare() else {
                self.error(
                    s.here(),
                    format!("`{what}` needs a prompt name"),
                    "prompt names are file names without `.wav`, e.g. `play welcome, main_menu`",
                );
                break;
            };
            if name.ends_with(".wav") {
                self.error(
                    span,
                    "prompt names leave out `.wav`",
                    &format!("write `{}`", name.trim_end_matches(".wav")),
                );
            }
            if name.starts_with('"')
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_-/".contains(c))
            {
                self.error(
                    span,
                    format!("`{name}` is not a prompt name"),
                    "prompt names are letters, digits, `_`, `-` and `/`, without quotes",
                );
            }
            ids.push(self.prompt_id(name, span));
            if !s.eat(',') {
                break;
            }
        }
        ids
    }

    fn key(&mut self, s: &mut Scan<'_>) -> Option<(String, Span)> {
        match s.string() {
            Ok(Some((k, span))) => {
                if k.is_empty()
                    || !k
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
                {
                    self.error(
                        span,
                        format!("`{k}` is not a key"),
                        "keys are digits, `*` and `#`",
                    );
                    return None;
                }
                Some((k, span))
            }
            Ok(None) => {
                let (k, span) = s.bare()?;
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_digit() || c == '*') {
                    self.error(span, format!("`{k}` is not a key"), "keys are digits and `*`; write `\"#\"` in quotes (a bare # starts a comment)");
                    return None;
                }
                Some((k.to_owned(), span))
            }
            Err((span, msg)) => {
                self.error(span, msg, "close the string with `\"`");
                None
            }
        }
    }

    fn terminator(&mut self, s: &mut Scan<'_>) -> Option<char> {
        if s.eat_word("none") {
            return None;
        }
        match self.key(s) {
            Some((k, _)) if k.chars().count() == 1 => k.chars().next(),
            Some((_, span)) => {
                self.error(span, "a terminator is one key", "e.g. `terminator \"#\"`");
                None
            }
            None => {
                if s.at_end() {
                    self.error(s.here(), "`terminator` needs a key", "write `terminator \"#\"` in quotes (a bare # starts a comment), or `terminator none`");
                }
                None
            }
        }
    }

    fn switch(&mut self, s: &mut Scan<'_>, children: &[Line<'_>], span: Span) -> bool {
        let value = self.expr(s);
        if !s.eat(':') {
            self.error(
                s.here(),
                "`switch VALUE` ends with `:`",
                "e.g. `switch digits:` with cases such as `\"1\": goto sales` below",
            );
        }
        self.expect_end(s, "the switch value");
        if children.is_empty() {
            self.error(
                span,
                "this switch has no cases",
                "add cases below, e.g. `1: goto sales` and `default: goto main_menu`",
            );
        }
        let at = self.push(Op::Switch(Box::new(SwitchOp {
            value,
            cases: Box::new([]),
            default: 0,
        })));
        let mut cases = Vec::new();
        let mut default = None;
        let mut jumps = Vec::new();
        let mut all_end = true;
        for l in children {
            self.line = l.no;
            let mut ls = l.scan();
            let pc = self.pc();
            if ls.eat_word("default") {
                if default.is_some() {
                    self.error(l.span(), "a second `default`", "keep one");
                }
                default = Some(pc);
            } else {
                loop {
                    match ls.string() {
                        Ok(Some((k, kspan))) => self.add_case(&mut cases, k, kspan, pc),
                        Ok(None) => match ls.bare() {
                            Some((k, kspan)) => self.add_case(&mut cases, k.to_owned(), kspan, pc),
                            None => {
                                self.error(
                                    ls.here(),
                                    "expected a value to match",
                                    "e.g. `\"1\": goto sales` or `default: goto main_menu`",
                                );
                                break;
                            }
                        },
                        Err((sp, msg)) => {
                            self.error(sp, msg, "close the string with `\"`");
                            break;
                        }
                    }
                    if !ls.eat(',') {
                        break;
                    }
                }
            }
            if !ls.eat(':') {
                self.error(ls.here(), "a case ends with `:`", "e.g. `1, 2: goto sales`");
                continue;
            }
            let ends = self.body(ls, &l.children, l.span(), l.no);
            all_end &= ends;
            if !ends {
                jumps.push(self.push(Op::Jump(0)));
            }
        }
        let end = self.pc();
        for j in jumps {
            self.ops[j] = Op::Jump(end);
        }
        if let Op::Switch(sw) = &mut self.ops[at] {
            sw.cases = cases.into_boxed_slice();
            sw.default = default.unwrap_or(end);
        }
        all_end && default.is_some()
    }

    fn add_case(&mut self, cases: &mut Vec<(Box<str>, u32)>, k: String, span: Span, pc: u32) {
        if cases.iter().any(|(c, _)| **c == *k) {
            self.error(
                span,
                format!("case `{k}` appears twice"),
                "the first one wins; remove this one",
            );
        }
        cases.push((k.into(), pc));
    }

    fn menu(&mut self, s: &mut Scan<'_>, children: &[Line<'_>], span: Span) -> bool {
        // An optional name, for the reader.
        let _ = s.ident();
        if !s.eat(':') {
            self.error(
                s.here(),
                "`menu` ends with `:`",
                "write `menu:` and its settings and keys indented below",
            );
        }
        self.expect_end(s, "`menu:`");
        let at = self.push(Op::Menu(Box::default()));
        let mut m = MenuOp::default();
        let mut keys: Vec<(Box<str>, u32, Span)> = Vec::new();
        let mut after = None;
        let mut jumps = Vec::new();
        let mut all_end = true;
        let mut greeting = false;
        for l in children {
            self.line = l.no;
            let mut ls = l.scan();
            let first = ls.peek();
            if first.is_some_and(|c| c.is_ascii_digit() || c == '*' || c == '"') {
                let pc = self.pc();
                while let Some((k, kspan)) = self.key(&mut ls) {
                    if keys.iter().any(|(x, _, _)| **x == *k) {
                        self.error(
                            kspan,
                            format!("key `{k}` has two actions"),
                            "keep one of them",
                        );
                    }
                    keys.push((k.into(), pc, kspan));
                    if !ls.eat(',') {
                        break;
                    }
                }
                if !ls.eat(':') {
                    self.error(
                        ls.here(),
                        "a key is followed by `:` and its action",
                        "e.g. `1: goto sales`",
                    );
                    continue;
                }
                if ls.at_end() && l.children.is_empty() {
                    self.error(
                        l.span(),
                        format!(
                            "key `{}` has no action",
                            l.text.trim_end_matches(':').trim()
                        ),
                        "say what the key does, e.g. `1: goto sales`",
                    );
                    continue;
                }
                let ends = self.body(ls, &l.children, l.span(), l.no);
                all_end &= ends;
                if !ends {
                    jumps.push(self.push(Op::Jump(0)));
                }
                continue;
            }
            let Some((kw, kspan)) = ls.ident() else {
                self.error(l.span(), "expected a menu setting or a key", "");
                continue;
            };
            if !l.children.is_empty() && kw != "after" {
                self.no_children(l);
            }
            match kw {
                "greeting" => {
                    m.greeting = self.prompt_list(&mut ls, "greeting").into();
                    greeting = true;
                }
                "short" => {
                    if !ls.eat_word("greeting") {
                        self.error(
                            ls.here(),
                            "expected `short greeting PROMPT`",
                            "the short greeting plays on the second and later tries",
                        );
                    }
                    m.short = self.prompt_list(&mut ls, "short greeting").into();
                }
                "invalid" => m.invalid = self.prompt_list(&mut ls, "invalid").into(),
                "no" => {
                    if !ls.eat_word("input") {
                        self.error(
                            ls.here(),
                            "expected `no input PROMPT`",
                            "the prompt played when the caller presses nothing",
                        );
                    }
                    m.no_input = self.prompt_list(&mut ls, "no input").into();
                }
                "timeout" => {
                    if let Some(d) = self.duration(&mut ls) {
                        m.timeout = d;
                    }
                }
                "between" => {
                    if let Some(d) = self.duration(&mut ls) {
                        m.between = d;
                    }
                }
                "digits" => {
                    if let Some(n) = self.small_number(&mut ls, "the number of digits", 20) {
                        m.digits = n;
                    }
                }
                "tries" => {
                    if let Some(n) = self.small_number(&mut ls, "the number of tries", 10) {
                        m.tries = n;
                    }
                }
                "terminator" => m.terminator = self.terminator(&mut ls),
                "after" => {
                    if !ls.eat_word("tries") {
                        self.error(ls.here(), "expected `after tries:`", "it says what happens when the last try fails, e.g. `after tries: goto operator`");
                        continue;
                    }
                    if !ls.eat(':') {
                        self.error(
                            ls.here(),
                            "`after tries` is followed by `:` and an action",
                            "e.g. `after tries: goto goodbye`",
                        );
                        continue;
                    }
                    let pc = self.pc();
                    after = Some(pc);
                    let ends = self.body(ls, &l.children, l.span(), l.no);
                    all_end &= ends;
                    if !ends {
                        jumps.push(self.push(Op::Jump(0)));
                    }
                    continue;
                }
                other => {
                    let known = [
                        "greeting",
                        "short",
                        "invalid",
                        "no",
                        "timeout",
                        "between",
                        "digits",
                        "tries",
                        "terminator",
                        "after",
                    ];
                    let hint = closest(other, known)
                        .map(|k| format!("did you mean `{k}`?"))
                        .unwrap_or_else(|| "menu lines are greeting, short greeting, invalid, no input, timeout, between, digits, tries, terminator, keys (`1: ...`) and `after tries:`".into());
                    self.rep.error(
                        kspan,
                        format!("`{other}` does not belong in a menu"),
                        Some(hint),
                    );
                    continue;
                }
            }
            self.expect_end(&mut ls, "the setting");
        }
        if !greeting {
            self.error(
                span,
                "this menu has no greeting",
                "add `greeting PROMPT`: callers need to hear their choices",
            );
        }
        if keys.is_empty() {
            self.error(
                span,
                "this menu has no keys",
                "add keys below, e.g. `1: goto sales`",
            );
        }
        for (k, _, kspan) in &keys {
            let len = k.chars().count();
            if len > usize::from(m.digits) {
                self.error(
                    *kspan,
                    format!("key `{k}` has {len} digits but the menu reads {}", m.digits),
                    &format!("add `digits {len}` to the menu"),
                );
            }
            if m.terminator.is_some_and(|t| k.contains(t)) {
                self.error(
                    *kspan,
                    format!("key `{k}` contains the terminator"),
                    "choose another terminator or key",
                );
            }
        }
        let Some(after_pc) = after else {
            self.error(
                span,
                "this menu does not say what happens after the last try",
                "add `after tries: goto STEP` (or `hangup`)",
            );
            return false;
        };
        let end = self.pc();
        for j in jumps {
            self.ops[j] = Op::Jump(end);
        }
        if m.short.is_empty() {
            m.short = m.greeting.clone();
        }
        m.keys = keys.into_iter().map(|(k, pc, _)| (k, pc)).collect();
        m.after = after_pc;
        self.ops[at] = Op::Menu(Box::new(m));
        all_end
    }

    fn collect(&mut self, s: &mut Scan<'_>, children: &[Line<'_>]) {
        let Some((name, nspan)) = s.ident() else {
            self.error(
                s.here(),
                "`collect` is followed by the variable that gets the digits",
                "e.g. `collect account prompt enter_account digits 8`",
            );
            return;
        };
        let var = self.var_slot(name);
        if Compiler::is_read_only(var) && var != V_DIGITS {
            self.error(
                nspan,
                format!("`{name}` is set by the switch and cannot be collected into"),
                "collect into a variable of your own",
            );
        }
        self.var_writes.insert(var);
        let mut c = CollectOp {
            var,
            prompt: Box::new([]),
            max: 20,
            terminator: Some('#'),
            timeout: Duration::from_secs(5),
            between: Duration::from_secs(3),
        };
        let block = s.eat(':');
        let mut lines: Vec<Scan<'_>> = Vec::new();
        if block {
            self.expect_end(s, "`:`");
            lines.extend(children.iter().map(Line::scan));
        } else {
            lines.push(s.clone());
            s.pos = s.text.len();
        }
        for mut ls in lines {
            while !ls.at_end() {
                let Some((kw, kspan)) = ls.ident() else {
                    let sp = ls.rest_span();
                    self.error(
                        sp,
                        "expected a collect setting",
                        "settings are prompt, digits, terminator, timeout, between",
                    );
                    break;
                };
                match kw {
                    "prompt" => c.prompt = self.prompt_list(&mut ls, "prompt").into(),
                    "digits" => {
                        if let Some(n) = self.small_number(&mut ls, "the number of digits", 32) {
                            c.max = n;
                        }
                    }
                    "terminator" => c.terminator = self.terminator(&mut ls),
                    "timeout" => {
                        if let Some(d) = self.duration(&mut ls) {
                            c.timeout = d;
                        }
                    }
                    "between" => {
                        if let Some(d) = self.duration(&mut ls) {
                            c.between = d;
                        }
                    }
                    other => {
                        let hint = closest(
                            other,
                            ["prompt", "digits", "terminator", "timeout", "between"],
                        )
                        .map(|k| format!("did you mean `{k}`?"))
                        .unwrap_or_else(|| {
                            "settings are prompt, digits, terminator, timeout, between".into()
                        });
                        self.rep.error(
                            kspan,
                            format!("`{other}` is not a collect setting"),
                            Some(hint),
                        );
                        break;
                    }
                }
            }
        }
        self.push(Op::Collect(Box::new(c)));
    }

    fn queue(&mut self, s: &mut Scan<'_>, children: &[Line<'_>]) {
        let Some((name, qspan)) = s.ident() else {
            self.error(
                s.here(),
                "`queue` is followed by the queue's name",
                "e.g. `queue sales skills sales>=3 priority 5 max wait 10m`",
            );
            return;
        };
        self.queues_needed.entry(name.to_owned()).or_insert(qspan);
        let mut q = QueueOp {
            name: Arc::from(name),
            skills: Box::new([]),
            priority: Expr::Lit(Value::Int(0)),
            max_wait: None,
            callback_after: None,
        };
        let block = s.eat(':');
        let mut lines: Vec<Scan<'_>> = Vec::new();
        if block {
            self.expect_end(s, "`:`");
            lines.extend(children.iter().map(Line::scan));
        } else {
            lines.push(s.clone());
            s.pos = s.text.len();
        }
        let mut skills = Vec::new();
        for mut ls in lines {
            while !ls.at_end() {
                let Some((kw, kspan)) = ls.ident() else {
                    let sp = ls.rest_span();
                    self.error(
                        sp,
                        "expected a queue setting",
                        "settings are skills, priority, max wait, callback after",
                    );
                    break;
                };
                match kw {
                    "skills" | "skill" => loop {
                        let Some((skill, sspan)) = ls.ident() else {
                            self.error(
                                ls.here(),
                                "expected a skill name",
                                "e.g. `skills sales>=3, language>=5`",
                            );
                            break;
                        };
                        let mut level = 1u8;
                        if ls.eat_str(">=") {
                            match ls.number() {
                                Some((n, _)) if (1..=10).contains(&n) => level = n as u8,
                                _ => self.error(
                                    ls.here(),
                                    "a skill level is a number from 1 to 10",
                                    "e.g. `sales>=3`",
                                ),
                            }
                        } else if ls.peek().is_some_and(|c| c == '=' || c == '>' || c == ':') {
                            self.error(
                                ls.here(),
                                "a minimum level is written `>=`",
                                &format!("e.g. `{skill}>=3`"),
                            );
                            break;
                        }
                        let sk = if skill == "language" {
                            self.uses_language_skill.get_or_insert(sspan);
                            for (_, k, kspan) in self.language_skills.clone() {
                                self.skills_needed.entry(k.to_string()).or_insert(kspan);
                            }
                            SkillName::Language
                        } else {
                            self.skills_needed.entry(skill.to_owned()).or_insert(sspan);
                            SkillName::Named(Arc::from(skill))
                        };
                        skills.push((sk, level));
                        if !ls.eat(',') {
                            break;
                        }
                    },
                    "priority" => {
                        q.priority = match ls.number() {
                            Some((n, _)) => Expr::Lit(Value::Int(n)),
                            None => match ls.ident() {
                                Some((v, vspan)) => {
                                    Expr::Var(expr::Names::read_var(self, v, vspan))
                                }
                                None => {
                                    self.error(ls.here(), "a priority is a number or a variable", "higher goes first, e.g. `priority 5` or `priority vip_priority`");
                                    Expr::Lit(Value::Int(0))
                                }
                            },
                        }
                    }
                    "max" => {
                        if !ls.eat_word("wait") {
                            self.error(
                                ls.here(),
                                "expected `max wait DURATION`",
                                "e.g. `max wait 10m`",
                            );
                            break;
                        }
                        q.max_wait = self.duration(&mut ls);
                    }
                    "callback" => {
                        if !ls.eat_word("after") {
                            self.error(ls.here(), "expected `callback after DURATION`", "the queue returns `long_wait` when the estimated wait passes it, e.g. `callback after 2m`");
                            break;
                        }
                        q.callback_after = self.duration(&mut ls);
                    }
                    other => {
                        let hint = closest(other, ["skills", "priority", "max", "callback"])
                            .map(|k| format!("did you mean `{k}`?"))
                            .unwrap_or_else(|| {
                                "settings are skills, priority, max wait, callback after".into()
                            });
                        self.rep.error(
                            kspan,
                            format!("`{other}` is not a queue setting"),
                            Some(hint),
                        );
                        break;
                    }
                }
            }
        }
        q.skills = skills.into_boxed_slice();
        self.push(Op::Queue(Box::new(q)));
    }

    fn transfer(&mut self, s: &mut Scan<'_>) {
        let kind = if s.eat_word("extension") {
            TransferKind::Extension
        } else if s.eat_word("agent") {
            TransferKind::Agent
        } else if s.eat_word("number") {
            TransferKind::Number
        } else {
            self.error(
                s.here(),
                "`transfer` is followed by `extension`, `agent` or `number`",
                "e.g. `transfer extension 1001` or `transfer number \"+442079460000\" via carrier`",
            );
            return;
        };
        let target = self.word_or_expr(s);
        let mut trunk = None;
        if s.eat_word("via") {
            match s.ident() {
                Some((t, tspan)) => {
                    self.trunks_needed.entry(t.to_owned()).or_insert(tspan);
                    trunk = Some(Arc::from(t));
                }
                None => self.error(s.here(), "expected a trunk name after `via`", ""),
            }
        } else if kind == TransferKind::Number {
            self.error(
                s.here(),
                "an external number needs a trunk",
                "add `via TRUNK`, e.g. `transfer number \"+442079460000\" via carrier`",
            );
        }
        self.expect_end(s, "the transfer");
        self.push(Op::Transfer(Box::new(TransferOp {
            kind,
            target,
            trunk,
        })));
    }

    fn lookup(&mut self, s: &mut Scan<'_>, children: &[Line<'_>], span: Span) -> bool {
        let post = if s.eat_word("get") {
            false
        } else if s.eat_word("post") {
            true
        } else {
            self.error(
                s.here(),
                "`lookup` is followed by `get` or `post` and a URL",
                "e.g. `lookup get \"http://crm.local/customers/${caller}\":`",
            );
            return false;
        };
        let url = self.expr(s);
        let mut op = LookupOp {
            post,
            url,
            body: None,
            timeout: Duration::from_secs(2),
            save: Box::new([]),
            on_failure: None,
        };
        let mut saves = Vec::new();
        let mut fail_lines: Option<&Line<'_>> = None;
        let inline_settings = |c: &mut Self, ls: &mut Scan<'_>, op: &mut LookupOp| {
            loop {
                if ls.eat_word("body") {
                    op.body = Some(c.expr(ls));
                } else if ls.eat_word("timeout") {
                    if let Some(d) = c.duration(ls) {
                        op.timeout = d;
                    }
                } else {
                    break;
                }
            }
        };
        inline_settings(self, s, &mut op);
        if s.eat(':') {
            self.expect_end(s, "`:`");
            for l in children {
                self.line = l.no;
                let mut ls = l.scan();
                if ls.peek_ident() == Some("body") || ls.peek_ident() == Some("timeout") {
                    inline_settings(self, &mut ls, &mut op);
                    self.expect_end(&mut ls, "the setting");
                    self.no_children(l);
                } else if ls.eat_word("save") {
                    self.no_children(l);
                    let Some((path, _)) = ls.bare() else {
                        self.error(
                            ls.here(),
                            "expected a field of the answer",
                            "e.g. `save customer.name as customer_name`",
                        );
                        continue;
                    };
                    if !ls.eat_word("as") {
                        self.error(
                            ls.here(),
                            "expected `as VARIABLE`",
                            &format!("e.g. `save {path} as customer_name`"),
                        );
                        continue;
                    }
                    let Some((var, vspan)) = ls.ident() else {
                        self.error(ls.here(), "expected a variable name", "");
                        continue;
                    };
                    let slot = self.var_slot(var);
                    if Compiler::is_read_only(slot) {
                        self.error(
                            vspan,
                            format!("`{var}` is set by the switch and cannot be assigned"),
                            "save into a variable of your own",
                        );
                    }
                    self.var_writes.insert(slot);
                    let parts: Box<[Box<str>]> = path.split('.').map(Into::into).collect();
                    saves.push((parts, slot));
                    self.expect_end(&mut ls, "the variable");
                } else if ls.eat_word("on") {
                    if !ls.eat_word("failure") {
                        self.error(ls.here(), "expected `on failure:`", "");
                        continue;
                    }
                    fail_lines = Some(l);
                } else {
                    self.error(
                        l.span(),
                        "expected `save FIELD as VARIABLE`, `on failure:`, `timeout` or `body`",
                        "",
                    );
                }
            }
        } else {
            self.expect_end(s, "the lookup");
            if !children.is_empty() {
                self.error(
                    children[0].span(),
                    "unexpected indentation",
                    "end the `lookup` line with `:` to give it `save` and `on failure` lines",
                );
            }
        }
        if saves.is_empty() {
            self.rep.warn(
                span,
                "this lookup saves nothing",
                Some("add `save FIELD as VARIABLE` lines so agents see the customer".into()),
            );
        }
        op.save = saves.into_boxed_slice();
        let at = self.push(Op::Lookup(Box::new(op)));
        let Some(fl) = fail_lines else { return false };
        let skip = self.push(Op::Jump(0));
        let fail_pc = self.pc();
        let mut ls = fl.scan();
        ls.eat_word("on");
        ls.eat_word("failure");
        if !ls.eat(':') {
            self.error(
                ls.here(),
                "`on failure` is followed by `:` and an action",
                "e.g. `on failure: goto no_customer`",
            );
        }
        let ends = self.body(ls, &fl.children, fl.span(), fl.no);
        if !ends {
            self.push(Op::Jump(0));
        }
        let end = self.pc();
        self.ops[skip] = Op::Jump(end);
        if !ends {
            self.ops[end as usize - 1] = Op::Jump(end);
        }
        if let Op::Lookup(l) = &mut self.ops[at] {
            l.on_failure = Some(fail_pc);
        }
        false
    }
}
