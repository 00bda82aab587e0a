//! Top-level blocks other than steps: `holidays`, `hours` and `entry`.

use std::sync::Arc;

use crate::compile::Compiler;
use crate::diag::{Span, closest};
use crate::expr::Names;
use crate::lines::{Line, Scan};
use crate::pattern::Pattern;
use crate::plan::Entry;
use crate::time::{self, Holidays, Rule, Schedule};

impl Compiler<'_, '_> {
    /// `every 12-25 [to 12-26] Christmas`: the same days each year.
    fn yearly_holiday(&mut self, ls: &mut Scan<'_>, yearly: &mut Vec<time::YearlyRange>) {
        let Some((a, aspan)) = ls.bare() else {
            self.error(
                ls.here(),
                "expected a month and day after `every`",
                "e.g. `every 12-25 Christmas Day`",
            );
            return;
        };
        let from = match time::parse_month_day(a, aspan) {
            Ok(md) => md,
            Err(e) => return self.err(e),
        };
        let mut to = from;
        if ls.eat_word("to") {
            match ls.bare() {
                Some((b, bspan)) => match time::parse_month_day(b, bspan) {
                    Ok(md) => to = md,
                    Err(e) => return self.err(e),
                },
                None => {
                    return self.error(
                        ls.here(),
                        "expected a month and day after `to`",
                        "e.g. `every 12-24 to 12-26`",
                    );
                }
            }
        }
        yearly.push((from, to));
    }

    pub(crate) fn holidays_block(&mut self, line: &Line<'_>, s: &mut Scan<'_>) {
        let Some((name, span)) = s.ident() else {
            self.error(
                s.here(),
                "`holidays` takes a name",
                "e.g. `holidays china:`",
            );
            return;
        };
        if !s.eat(':') {
            self.error(
                s.here(),
                "expected `:` after the name",
                &format!("write `holidays {name}:` and list dates below"),
            );
        }
        if self.holiday_index.contains_key(name) {
            self.error(span, format!("holidays `{name}` are defined twice"), "");
            return;
        }
        let mut ranges = Vec::new();
        let mut yearly = Vec::new();
        for l in &line.children {
            let mut ls = l.scan();
            if ls.eat_word("every") {
                self.yearly_holiday(&mut ls, &mut yearly);
                self.no_children(l);
                continue;
            }
            let Some((a, aspan)) = ls.bare() else {
                continue;
            };
            let from = match time::parse_date(a, aspan) {
                Ok(d) => d,
                Err(e) => {
                    self.err(e);
                    continue;
                }
            };
            let mut to = from;
            if ls.eat_word("to") {
                match ls.bare() {
                    Some((b, bspan)) => match time::parse_date(b, bspan) {
                        Ok(d) if d >= from => to = d,
                        Ok(_) => self.error(
                            bspan,
                            "this range ends before it starts",
                            "write the earlier date first",
                        ),
                        Err(e) => self.err(e),
                    },
                    None => self.error(
                        ls.here(),
                        "expected a date after `to`",
                        "e.g. `2026-10-01 to 2026-10-07 National Day`",
                    ),
                }
            }
            // The rest of the line is a description.
            ranges.push((from, to));
            self.no_children(l);
        }
        if line.children.is_empty() {
            self.error(
                line.span(),
                format!("holidays `{name}` lists no dates"),
                "list dates below, one per line: `2026-10-01 to 2026-10-07 National Day`",
            );
        }
        self.holiday_index
            .insert(name.to_owned(), self.holidays.len() as u16);
        self.holidays.push(Holidays { ranges, yearly });
    }

    pub(crate) fn hours_block(&mut self, line: &Line<'_>, s: &mut Scan<'_>) {
        let Some((name, span)) = s.ident() else {
            self.error(s.here(), "`hours` takes a name", "e.g. `hours business:`");
            return;
        };
        if !s.eat(':') {
            self.error(
                s.here(),
                "expected `:` after the name",
                &format!("write `hours {name}:` and the opening times below"),
            );
        }
        if self.schedule_index.contains_key(name) {
            self.error(span, format!("hours `{name}` are defined twice"), "");
            return;
        }
        let mut zone = None;
        let mut rules = Vec::new();
        let mut closed_on = Vec::new();
        for l in &line.children {
            self.no_children(l);
            let mut ls = l.scan();
            if ls.eat_word("timezone") {
                match ls.bare() {
                    Some((z, zspan)) => match time::parse_zone(z, zspan) {
                        Ok(z) => zone = Some(z),
                        Err(e) => self.err(e),
                    },
                    None => self.error(
                        ls.here(),
                        "expected a time zone",
                        "e.g. `timezone Asia/Shanghai`",
                    ),
                }
                self.expect_end(&mut ls, "the time zone");
                continue;
            }
            if ls.eat_word("closed") {
                if !ls.eat_word("on") {
                    self.error(
                        ls.here(),
                        "expected `closed on HOLIDAYS`",
                        "e.g. `closed on china`",
                    );
                    continue;
                }
                match ls.ident() {
                    Some((h, hspan)) => {
                        if let Some(i) = Names::holidays(self, h, hspan) {
                            closed_on.push(i);
                        }
                    }
                    None => self.error(
                        ls.here(),
                        "expected the name of a `holidays` block",
                        "e.g. `closed on china`",
                    ),
                }
                self.expect_end(&mut ls, "the holidays");
                continue;
            }
            let Some((days, dspan)) = ls.bare() else {
                continue;
            };
            let mask = match time::parse_days(days, dspan) {
                Ok(m) => m,
                Err(e) => {
                    self.err(e);
                    continue;
                }
            };
            let mut any = false;
            while let Some((r, rspan)) = ls.bare() {
                match time::parse_range(r, rspan) {
                    Ok((from, to)) => rules.push(Rule {
                        days: mask,
                        from,
                        to,
                    }),
                    Err(e) => self.err(e),
                }
                any = true;
                if !ls.eat(',') {
                    break;
                }
            }
            if !any {
                self.error(
                    ls.here(),
                    "expected a time range after the days",
                    "e.g. `mon-fri 09:00-18:00` or `sat 09:00-12:00, 13:00-17:00`",
                );
            }
            self.expect_end(&mut ls, "the time ranges");
        }
        if rules.is_empty() {
            self.error(
                line.span(),
                format!("hours `{name}` have no opening times"),
                "add lines such as `mon-fri 09:00-18:00` below",
            );
        }
        let zone = zone.unwrap_or_else(|| self.zone.clone());
        self.schedule_index
            .insert(name.to_owned(), self.schedules.len() as u16);
        self.schedules.push(Schedule {
            zone,
            rules,
            closed_on,
        });
    }

    pub(crate) fn entry_block(&mut self, line: &Line<'_>, s: &mut Scan<'_>) {
        let Some((name, _)) = s.ident() else {
            self.error(s.here(), "`entry` takes a name", "e.g. `entry main:`");
            return;
        };
        if !s.eat(':') {
            self.error(
                s.here(),
                "expected `:` after the name",
                &format!("write `entry {name}:` and its conditions below"),
            );
        }
        let mut entry = Entry {
            name: Arc::from(name),
            to: Vec::new(),
            from: Vec::new(),
            trunk: Vec::new(),
            language: 0,
            start: 0,
        };
        let mut start = None;
        let mut start_seen = false;
        for l in &line.children {
            self.no_children(l);
            let mut ls = l.scan();
            let Some((kw, kspan)) = ls.ident() else {
                self.error(
                    l.span(),
                    "expected `to`, `from`, `trunk`, `language` or `start`",
                    "",
                );
                continue;
            };
            match kw {
                "to" | "from" | "trunk" => {
                    let pats = self.patterns(&mut ls);
                    match kw {
                        "to" => entry.to = pats,
                        "from" => entry.from = pats,
                        _ => entry.trunk = pats,
                    }
                }
                "language" => match ls.ident() {
                    Some((lang, lspan)) => {
                        match self.languages.iter().position(|(l, _)| &**l == lang) {
                            Some(i) => entry.language = i as u8,
                            None => self.error(
                                lspan,
                                format!("`{lang}` is not one of the dialplan's languages"),
                                "add it to `languages` at the top, or pick one listed there",
                            ),
                        }
                    }
                    None => self.error(ls.here(), "expected a language code", "e.g. `language zh`"),
                },
                "start" | "goto" => {
                    start_seen = true;
                    if let Some((step, sspan)) = ls.ident() {
                        start = self.step_ref(step, sspan);
                    } else {
                        self.error(
                            ls.here(),
                            "expected the name of the first step",
                            "e.g. `start main_menu`",
                        );
                    }
                }
                other => {
                    let hint = closest(other, ["to", "from", "trunk", "language", "start"])
                        .map(|k| format!("did you mean `{k}`?"))
                        .unwrap_or_else(|| {
                            "an entry has `to`, `from`, `trunk`, `language` and `start` lines"
                                .into()
                        });
                    self.rep.error(
                        kspan,
                        format!("`{other}` does not belong in an entry"),
                        Some(hint),
                    );
                    continue;
                }
            }
            self.expect_end(&mut ls, "the entry line");
        }
        if !start_seen {
            self.error(
                line.span(),
                format!("entry `{name}` does not say where calls start"),
                "add `start STEP` below it",
            );
        }
        self.entries.push((entry, start));
    }

    pub(crate) fn patterns(&mut self, s: &mut Scan<'_>) -> Vec<Pattern> {
        let mut out = Vec::new();
        if s.eat_word("any") {
            return out;
        }
        loop {
            let (text, span) = match s.string() {
                Ok(Some(x)) => x,
                Ok(None) => match s.bare() {
                    Some((t, sp)) => (t.to_owned(), sp),
                    None => {
                        self.error(
                            s.here(),
                            "expected a number pattern or `any`",
                            "e.g. `to \"+8610580000[0-9]\", \"+4420*\"`",
                        );
                        return out;
                    }
                },
                Err((sp, msg)) => {
                    self.error(sp, msg, "close the string with `\"`");
                    return out;
                }
            };
            match Pattern::parse(&text) {
                Ok(p) => out.push(p),
                Err((at, msg)) => {
                    // +1 for the opening quote when there is one.
                    let quoted = u32::from(span.len as usize != text.chars().count());
                    let col = span.col + quoted + at as u32;
                    self.error(Span::new(span.line, col, 1), msg, "patterns use `X` (any digit), `N` (2-9), `Z` (1-9), `[0-4]`, `?` (one character) and `*` (the rest)");
                }
            }
            if !s.eat(',') {
                return out;
            }
        }
    }
}
