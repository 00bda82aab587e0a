//! The checks that need the whole dialplan: variables, languages, `say` words, prompt
//! files, queues and skills against the configuration, reachability.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::compile::{Compiler, Env, prompt_path};
use crate::diag::{Span, closest};
use crate::plan::{BUILTINS, Op};
use crate::say;

impl Compiler<'_, '_> {
    pub(crate) fn check(&mut self, env: &Env<'_>) {
        // Variables read but never set anywhere.
        let reads = std::mem::take(&mut self.var_reads);
        let mut reported = BTreeSet::new();
        for (slot, span) in reads {
            if (slot as usize) < BUILTINS.len() || self.var_writes.contains(&slot) {
                continue;
            }
            if !reported.insert(slot) {
                continue;
            }
            let name = self.vars[slot as usize].clone();
            let names: Vec<&str> = self
                .var_writes
                .iter()
                .map(|&w| &*self.vars[w as usize])
                .chain(BUILTINS)
                .collect();
            let hint = match closest(&name, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!(
                    "set it first with `set {name} = ...`, `collect {name}` or a lookup's `save ... as {name}`"
                ),
            };
            self.rep
                .error(span, format!("variable `{name}` is never set"), Some(hint));
        }
        // Language skills name configured languages.
        for (lang, _, span) in self.language_skills.clone() {
            if !self.languages.iter().any(|(l, _)| *l == lang) {
                self.error(
                    span,
                    format!("`{lang}` is not one of the dialplan's languages"),
                    "list it in `languages` first",
                );
            }
        }
        if let Some(span) = self.uses_language_skill {
            for (lang, _) in self.languages.clone() {
                if !self.language_skills.iter().any(|(l, _, _)| *l == lang) {
                    self.error(span, format!("`language>=N` needs a skill for language `{lang}`"), "add it to `language skills` at the top, e.g. `language skills en = english, zh = mandarin`");
                }
            }
        }
        for (lang, span) in self.language_literals.clone() {
            if !self.languages.iter().any(|(l, _)| **l == *lang) {
                let known: Vec<&str> = self.languages.iter().map(|(l, _)| &**l).collect();
                self.error(
                    span,
                    format!("`{lang}` is not one of the dialplan's languages"),
                    &format!("the languages are {}", known.join(", ")),
                );
            }
        }
        // Say needs the words of every language.
        // Say needs the words of each language, in that language only.
        let mut say_words: Vec<(usize, &'static str, Span)> = Vec::new();
        for (i, used) in self.say_used.iter().enumerate() {
            let Some(span) = *used else { continue };
            for (li, (lang, _)) in self.languages.iter().enumerate() {
                if !say::is_known(lang) {
                    self.rep.error(
                        span,
                        format!("`say` cannot speak numbers or times in `{lang}`"),
                        Some("built-in languages are `en` and `zh`".into()),
                    );
                    continue;
                }
                say_words.extend(say::number_words(lang).iter().map(|w| (li, *w, span)));
                if i == 2 {
                    say_words.extend(say::time_words(lang).iter().map(|w| (li, *w, span)));
                }
            }
        }
        let mut word_langs: HashMap<u32, u64> = HashMap::new();
        for (li, w, span) in say_words {
            let explicit = self.prompt_index.contains_key(w);
            let id = self.prompt_id(w, span);
            if !explicit || word_langs.contains_key(&id) {
                *word_langs.entry(id).or_default() |= 1 << li;
            }
        }
        // Queues and skills against the configuration.
        if let Some(known) = env.known {
            for (q, span) in self.queues_needed.clone() {
                if !known.queues.contains(&q) {
                    let hint = match closest(&q, known.queues.iter().map(String::as_str)) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!(
                            "add a `[[queue]]` named `{q}` to the configuration; it has {}",
                            list(&known.queues)
                        ),
                    };
                    self.rep.error(
                        span,
                        format!("the configuration has no queue `{q}`"),
                        Some(hint),
                    );
                }
            }
            for (k, span) in self.skills_needed.clone() {
                if !known.skills.contains(&k) {
                    let hint = match closest(&k, known.skills.iter().map(String::as_str)) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!(
                            "add `{k}` to the configuration's skills; it has {}",
                            list(&known.skills)
                        ),
                    };
                    self.rep.error(
                        span,
                        format!("the configuration has no skill `{k}`"),
                        Some(hint),
                    );
                }
            }
            if !known.trunks.is_empty() {
                for (t, span) in self.trunks_needed.clone() {
                    if !known.trunks.contains(&t) {
                        let hint = match closest(&t, known.trunks.iter().map(String::as_str)) {
                            Some(n) => format!("did you mean `{n}`?"),
                            None => {
                                format!("the configuration's trunks are {}", list(&known.trunks))
                            }
                        };
                        self.rep.error(
                            span,
                            format!("the configuration has no trunk `{t}`"),
                            Some(hint),
                        );
                    }
                }
            }
        }
        // Prompt files in every language.
        if let Some(exists) = env.prompt_exists {
            let dir = self.prompt_dir_path(env);
            // Missing files grouped by the statement that needs them.
            let mut missing: BTreeMap<(u32, u32), MissingPrompts> = BTreeMap::new();
            for (id, (name, span)) in self.prompts.clone().into_iter().enumerate() {
                let langs = word_langs.get(&(id as u32)).copied().unwrap_or(u64::MAX);
                for (li, (l, _)) in self.languages.iter().enumerate() {
                    let p = prompt_path(&dir, l, &name);
                    if langs & (1 << li) != 0 && !exists(&p) {
                        let e = missing.entry((span.line, span.col)).or_insert((
                            span,
                            Vec::new(),
                            Vec::new(),
                        ));
                        if !e.1.contains(&name.to_string()) {
                            e.1.push(name.to_string());
                        }
                        e.2.push(p.display().to_string());
                    }
                }
            }
            for (_, (span, names, paths)) in missing {
                let what = if names.len() == 1 {
                    format!("prompt `{}` has no recording", names[0])
                } else {
                    format!(
                        "{} prompts have no recording ({})",
                        names.len(),
                        names.join(", ")
                    )
                };
                self.rep.error(
                    span,
                    format!("{what}: {} missing", paths.join(", ")),
                    Some(format!("record it (see prompts/README.md), or check the name; prompts are looked up in {}/<language>/NAME.wav", dir.display())),
                );
            }
        }
        self.check_busy_loops();
        // Steps no entry reaches.
        let mut reached = vec![false; self.steps.len()];
        let mut todo: Vec<usize> = self.entries.iter().filter_map(|(_, s)| *s).collect();
        if let Some((s, _)) = self.on_error {
            todo.push(s);
        }
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut reached[i], true) {
                continue;
            }
            todo.extend(self.steps[i].edges.iter().copied());
        }
        if self.entries.is_empty() && !self.rep.has_errors() {
            self.error(
                Span::new(1, 1, 1),
                "the dialplan has no `entry`, so no call can reach it",
                "add `entry main:` with `to any` and `start FIRST_STEP`",
            );
        }
        for (i, step) in self.steps.iter().enumerate() {
            if !reached[i] && !self.entries.is_empty() {
                self.rep.warn(
                    step.span,
                    format!("step `{}` is never reached", step.name),
                    Some(
                        "no entry, goto, call or menu key leads here; remove it or jump to it"
                            .into(),
                    ),
                );
            }
        }
    }
}

/// Where a statement's missing prompts are: its span, the prompt names, the file paths.
type MissingPrompts = (Span, Vec<String>, Vec<String>);

fn list(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Compiler<'_, '_> {
    /// Warns about steps that jump to each other in a circle without ever waiting for
    /// the caller (no prompt, menu, queue...): the step budget would stop every call there.
    fn check_busy_loops(&mut self) {
        let n = self.steps.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| self.steps[i].pc);
        let mut waits = vec![false; n];
        for (k, &i) in order.iter().enumerate() {
            let start = self.steps[i].pc as usize;
            let end = order
                .get(k + 1)
                .map_or(self.ops.len(), |&j| self.steps[j].pc as usize);
            waits[i] = self.ops[start.min(end)..end].iter().any(|op| {
                !matches!(
                    op,
                    Op::Jump(_)
                        | Op::Unless(..)
                        | Op::Switch(_)
                        | Op::Call(_)
                        | Op::Return
                        | Op::Set(..)
                        | Op::Language(_)
                        | Op::Record(_)
                        | Op::Callback(..)
                )
            });
        }
        // Depth-first search for a cycle among steps that never wait.
        let mut state = vec![0u8; n]; // 0 new, 1 on the path, 2 done
        let mut reported = vec![false; n];
        for root in 0..n {
            if waits[root] || state[root] != 0 {
                continue;
            }
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            state[root] = 1;
            while let Some((node, next)) = path.last().copied() {
                let edges = &self.steps[node].edges;
                if next >= edges.len() {
                    state[node] = 2;
                    path.pop();
                    continue;
                }
                path.last_mut().expect("path is not empty").1 += 1;
                let to = edges[next];
                if waits[to] {
                    continue;
                }
                if state[to] == 1 && !reported[to] {
                    reported[to] = true;
                    let at = path.iter().position(|(s, _)| *s == to).unwrap_or(0);
                    let names: Vec<&str> = path[at..]
                        .iter()
                        .map(|(s, _)| &*self.steps[*s].name)
                        .chain([&*self.steps[to].name])
                        .collect();
                    let span = self.steps[to].span;
                    self.rep.warn(
                        span,
                        format!("steps {} go round without waiting for the caller", names.join(" -> ")),
                        Some("calls would be stopped by the step budget; put a prompt, menu or `wait` in the loop".into()),
                    );
                } else if state[to] == 0 {
                    state[to] = 1;
                    path.push((to, 0));
                }
            }
        }
    }
}
