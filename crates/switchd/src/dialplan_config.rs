//! The part of the configuration `switchyard dialplan check --config` reads: queue and
//! skill names. Other keys are ignored, so the full daemon configuration can be given.
//!
//! ```toml
//! skills = ["english", "mandarin"]     # optional
//!
//! [[skill]]                            # optional, same meaning
//! name = "sales"
//!
//! [[queue]]
//! name = "sales"
//! skills = ["sales", "english", "mandarin"]   # also count as known skills
//!
//! [[trunk]]                            # optional: checks `transfer number ... via NAME`
//! name = "carrier"
//! ```

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use switchyard_ivr::Known;

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    skill: Vec<Named>,
    #[serde(default)]
    queue: Vec<Queue>,
    #[serde(default)]
    trunk: Vec<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Queue {
    name: String,
    #[serde(default)]
    skills: Vec<String>,
}

/// Parses the queue and skill names out of a configuration's text.
pub(crate) fn parse(text: &str) -> Result<Known, toml::de::Error> {
    let file: File = toml::from_str(text)?;
    let mut known = Known::default();
    known.skills.extend(file.skills);
    known.skills.extend(file.skill.into_iter().map(|s| s.name));
    known.trunks.extend(file.trunk.into_iter().map(|t| t.name));
    for q in file.queue {
        known.skills.extend(q.skills);
        known.queues.insert(q.name);
    }
    Ok(known)
}

/// Reads a configuration file.
pub(crate) fn load(path: &Path) -> anyhow::Result<Known> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading configuration {}", path.display()))?;
    parse(&text).with_context(|| format!("in configuration {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queues_and_skills_from_all_three_places() {
        let k = parse(
            r#"
            skills = ["english"]
            other_setting = 5
            [[skill]]
            name = "mandarin"
            [[queue]]
            name = "sales"
            skills = ["sales"]
            strategy = "longest-idle"
            [[trunk]]
            name = "carrier"
            "#,
        )
        .unwrap();
        assert_eq!(k.queues.iter().collect::<Vec<_>>(), ["sales"]);
        assert_eq!(
            k.skills.iter().collect::<Vec<_>>(),
            ["english", "mandarin", "sales"]
        );
        assert_eq!(k.trunks.iter().collect::<Vec<_>>(), ["carrier"]);
        assert!(parse("[[queue]]\nskills = []").is_err());
    }
}
