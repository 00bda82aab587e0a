//! `[[device]]` and `[[agent]]`, and the `{ skill = level }` tables agents and queues share.

use std::ops::Range;

use toml::de::DeValue;

use super::super::doc::{Table, closest};
use super::super::*;
use super::Reader;

impl Reader<'_> {
    pub(super) fn device(&mut self, t: Table<'_, '_>) -> Option<Device> {
        self.doc.check_keys(t, &["user", "password"]);
        let user = self.name(t, "user", "\"1001\"");
        if let Some((user, span)) = &user {
            self.unique("device", user, span.clone());
        }
        let password = match t.get("password") {
            Some(v) => self.doc.nonempty(v, "password"),
            None => {
                self.missing(t, "password", "\"...\"");
                None
            }
        };
        Some(Device {
            user: user?.0,
            password: password?,
        })
    }

    /// Digits for something dialled from a phone (agent ids, PINs).
    pub(super) fn digits(
        &mut self,
        t: Table<'_, '_>,
        key: &str,
        example: &str,
    ) -> Option<(String, Range<usize>)> {
        let Some(v) = t.get(key) else {
            self.missing(t, key, example);
            return None;
        };
        let s = self.doc.nonempty(v, key)?;
        if !s.chars().all(|c| c.is_ascii_digit()) {
            self.doc.error(
                v.span(),
                format!("an agent's {key} must be digits, not `{s}`"),
                Some("agents dial it after the login feature code (*45<id>*<pin>)".into()),
            );
            return None;
        }
        Some((s, v.span()))
    }

    /// A `{ skill = level }` table; `what` says whose (for messages).
    pub(super) fn skills(&mut self, t: Table<'_, '_>, what: &str) -> Vec<(String, u8)> {
        let Some(v) = t.get("skills") else {
            return Vec::new();
        };
        let Some(st) = self.doc.table(v, "skills", "skills") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, lv) in st.entries.iter() {
            let skill = k.get_ref().to_string();
            if let Some(list) = &self.skill_list
                && !list.contains(&skill)
            {
                let known: Vec<&str> = list.iter().map(String::as_str).collect();
                let hint = match closest(&skill, &known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "the skills are {}; add `{skill}` to the top-level `skills` list",
                        known.join(", ")
                    ),
                };
                self.doc.error(
                    k.span(),
                    format!("{what} has unknown skill `{skill}`"),
                    Some(hint),
                );
                continue;
            }
            let level = match lv.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
                _ => None,
            };
            match level {
                Some(l) if (1..=10).contains(&l) => out.push((skill, l as u8)),
                _ => self.doc.error(
                    lv.span(),
                    format!("the level of `{skill}` must be a whole number from 1 to 10"),
                    Some(format!("e.g. `{skill} = 5`")),
                ),
            }
        }
        out
    }

    pub(super) fn agent(&mut self, t: Table<'_, '_>) -> Option<Agent> {
        self.doc
            .check_keys(t, &["id", "name", "pin", "skills", "login_on"]);
        let id = self.digits(t, "id", "\"1001\"").map(|(id, span)| {
            self.unique("agent", &id, span);
            id
        });
        let name = t.get("name").and_then(|v| self.doc.nonempty(v, "name"));
        let pin = self.digits(t, "pin", "\"1234\"").map(|(p, _)| p);
        let skills = self.skills(t, &format!("agent `{}`", id.as_deref().unwrap_or("?")));
        let login_on = t.get("login_on").and_then(|v| {
            let dev = self.doc.nonempty(v, "login_on")?;
            if !self.device_names.contains(&dev) {
                let known: Vec<&str> = self.device_names.iter().map(String::as_str).collect();
                let hint = match closest(&dev, &known) {
                    Some(d) => format!("did you mean `{d}`?"),
                    None if known.is_empty() => "add a `[[device]]` with this `user`".into(),
                    None => format!("the devices are {}", known.join(", ")),
                };
                self.doc.error(
                    v.span(),
                    format!("no device `{dev}` (`[[device]] user`)"),
                    Some(hint),
                );
                return None;
            }
            self.unique("login_on", &dev, v.span());
            Some(dev)
        });
        let id = id?;
        Some(Agent {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            pin: pin?,
            skills,
            login_on,
        })
    }
}
