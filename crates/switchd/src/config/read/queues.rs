//! `[[queue]]` and its overflow targets.

use std::time::Duration;

use super::super::doc::{Table, Value, closest};
use super::super::*;
use super::Reader;
use super::trunks::is_e164;
use super::{DEFAULT_MUSIC, STRATEGIES};

impl Reader<'_> {
    pub(super) fn queue(&mut self, t: Table<'_, '_>) -> Option<Queue> {
        self.doc.check_keys(
            t,
            &[
                "name",
                "skills",
                "strategy",
                "ring_timeout",
                "wrap_up",
                "max_wait",
                "max_length",
                "announce_every",
                "service_level",
                "on_max_wait",
                "on_full",
                "on_no_agents",
                "music",
            ],
        );
        let name_span = self.name(t, "name", "\"sales\"");
        if let Some((name, span)) = &name_span {
            self.unique("queue", name, span.clone());
        }
        let name = name_span.as_ref().map_or("?", |(n, _)| n.as_str());
        let skills = self.skills(t, &format!("queue `{name}`"));
        let strategy = t
            .get("strategy")
            .and_then(|v| {
                let s = self.doc.string(v, "strategy")?;
                if let Some((_, st)) = STRATEGIES.iter().find(|(n, _)| *n == s) {
                    return Some(*st);
                }
                let names: Vec<&str> = STRATEGIES.iter().map(|(n, _)| *n).collect();
                let hint = match closest(&s, &names) {
                    Some(n) => format!("did you mean \"{n}\"?"),
                    None => format!("one of {}", names.join(", ")),
                };
                self.doc
                    .error(v.span(), format!("`{s}` is not a strategy"), Some(hint));
                None
            })
            .unwrap_or(switchyard_acd::Strategy::LongestIdle);
        let (sl_threshold, sl_target) = match t.get("service_level") {
            None => (Duration::from_secs(20), 0.8),
            Some(v) => match self.doc.table(v, "service_level", "`service_level`") {
                None => (Duration::from_secs(20), 0.8),
                Some(sl) => {
                    self.doc.check_keys(sl, &["threshold", "target"]);
                    let threshold = sl
                        .get("threshold")
                        .and_then(|v| self.positive(v, "threshold"))
                        .unwrap_or(Duration::from_secs(20));
                    let target = sl
                        .get("target")
                        .and_then(|v| {
                            let x = self.doc.number(v, "target")?;
                            if !(x > 0.0 && x <= 1.0) {
                                self.doc.error(
                                    v.span(),
                                    "`target` must be a fraction above 0 and at most 1",
                                    Some("e.g. `target = 0.8` (80% of calls answered within the threshold)".into()),
                                );
                                return None;
                            }
                            Some(x)
                        })
                        .unwrap_or(0.8);
                    (threshold, target)
                }
            },
        };
        let overflow = |r: &mut Self, key: &str| t.get(key).and_then(|v| r.overflow(v, key, name));
        let on_max_wait = overflow(self, "on_max_wait").unwrap_or(Overflow::Dialplan);
        let on_full = overflow(self, "on_full").unwrap_or(Overflow::Dialplan);
        let on_no_agents = overflow(self, "on_no_agents");
        let music = match t.get("music") {
            Some(v) => {
                let m = self.doc.nonempty(v, "music");
                if let Some(m) = &m {
                    self.music.push((m.clone(), v.span()));
                }
                m.unwrap_or_else(|| DEFAULT_MUSIC.into())
            }
            None => DEFAULT_MUSIC.into(),
        };
        Some(Queue {
            name: name_span?.0,
            skills,
            strategy,
            ring_timeout: t
                .get("ring_timeout")
                .and_then(|v| self.positive(v, "ring_timeout"))
                .unwrap_or(Duration::from_secs(15)),
            wrap_up: t
                .get("wrap_up")
                .and_then(|v| self.doc.duration(v, "wrap_up"))
                .unwrap_or(Duration::from_secs(10)),
            max_wait: t
                .get("max_wait")
                .and_then(|v| self.doc.duration_or_off(v, "max_wait"))
                .flatten(),
            max_length: t
                .get("max_length")
                .and_then(|v| self.doc.int(v, "max_length", 1, 1_000_000))
                .map(|n| n as usize),
            announce_every: t
                .get("announce_every")
                .and_then(|v| self.doc.duration_or_off(v, "announce_every"))
                .flatten(),
            sl_threshold,
            sl_target,
            on_max_wait,
            on_full,
            on_no_agents,
            music,
        })
    }

    /// An overflow target of queue `queue`.
    pub(super) fn overflow(&mut self, v: &Value<'_>, key: &str, queue: &str) -> Option<Overflow> {
        let s = self.doc.string(v, key)?;
        let syntax =
            "\"dialplan\", \"voicemail:MAILBOX\", \"queue:NAME\" or \"number:+E164@TRUNK\"";
        if s == "dialplan" {
            return Some(Overflow::Dialplan);
        }
        let Some((kind, rest)) = s.split_once(':') else {
            self.doc.error(
                v.span(),
                format!("`{s}` is not an overflow target"),
                Some(format!("write {syntax}")),
            );
            return None;
        };
        match kind {
            "voicemail" if !rest.is_empty() => Some(Overflow::Voicemail(rest.to_owned())),
            "queue" => {
                if rest == queue {
                    self.doc.error(
                        v.span(),
                        format!("queue `{queue}` overflows into itself"),
                        Some(
                            "name another queue, or use \"dialplan\" or \"voicemail:MAILBOX\""
                                .into(),
                        ),
                    );
                    return None;
                }
                if !self.queue_names.iter().any(|q| q == rest) {
                    let known: Vec<&str> = self.queue_names.iter().map(String::as_str).collect();
                    let hint = match closest(rest, &known) {
                        Some(q) => format!("did you mean \"queue:{q}\"?"),
                        None => format!("the queues are {}", known.join(", ")),
                    };
                    self.doc
                        .error(v.span(), format!("no queue `{rest}`"), Some(hint));
                    return None;
                }
                Some(Overflow::Queue(rest.to_owned()))
            }
            "number" => {
                let Some((number, trunk)) = rest.split_once('@') else {
                    self.doc.error(
                        v.span(),
                        format!("`{s}` does not name the trunk to call through"),
                        Some(format!("write \"number:{rest}@TRUNK\"")),
                    );
                    return None;
                };
                if !is_e164(number) {
                    self.doc.error(
                        v.span(),
                        format!("`{number}` is not an E.164 number"),
                        Some("`+`, then the country code and number: e.g. \"number:+861058000000@carrier\"".into()),
                    );
                    return None;
                }
                self.overflow_checks.push((trunk.to_owned(), v.span()));
                Some(Overflow::Number {
                    number: number.to_owned(),
                    trunk: trunk.to_owned(),
                })
            }
            _ => {
                self.doc.error(
                    v.span(),
                    format!("`{s}` is not an overflow target"),
                    Some(format!("write {syntax}")),
                );
                None
            }
        }
    }

    pub(super) fn check_overflow_trunks(&mut self) {
        for (trunk, span) in std::mem::take(&mut self.overflow_checks) {
            match self.trunk_outbound.get(&trunk) {
                Some(true) => {}
                Some(false) => self.doc.error(
                    span,
                    format!("trunk `{trunk}` has no `[trunk.outbound]` to call the number through"),
                    Some("add `[trunk.outbound]` with `gateways` to that trunk, or name one that has it".into()),
                ),
                None => {
                    let known: Vec<&str> = self.trunk_outbound.keys().map(String::as_str).collect();
                    let hint = match closest(&trunk, &known) {
                        Some(t) => format!("did you mean `{t}`?"),
                        None => "add a `[[trunk]]` with `[trunk.outbound]`".into(),
                    };
                    self.doc
                        .error(span, format!("no trunk `{trunk}`"), Some(hint));
                }
            }
        }
    }
}
