//! The part of the configuration `switchyard dialplan check --config` reads: queue, skill
//! and trunk names, in the daemon's configuration syntax (`docs/config.md`). Other keys
//! are ignored, so a partial configuration can be given as well as the full one, which
//! `switchyard config check` validates.
//!
//! ```toml
//! skills = ["english", "mandarin"]     # optional
//!
//! [[queue]]
//! name = "sales"
//! skills = { sales = 1 }               # skill = minimum level; also count as known skills
//!
//! [[agent]]                            # optional: agents' skills count as known skills
//! id = "1001"
//! skills = { sales = 5, english = 8 }
//!
//! [[trunk]]                            # optional: checks `transfer number ... via NAME`
//! name = "carrier"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use switchyard_ivr::Known;

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    queue: Vec<Queue>,
    #[serde(default)]
    agent: Vec<Agent>,
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
    skills: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
struct Agent {
    #[serde(default)]
    skills: BTreeMap<String, toml::Value>,
}

/// Parses the queue and skill names out of a configuration's text.
pub(crate) fn parse(text: &str) -> Result<Known, toml::de::Error> {
    let file: File = toml::from_str(text)?;
    let mut known = Known::default();
    known.skills.extend(file.skills);
    known.trunks.extend(file.trunk.into_iter().map(|t| t.name));
    for q in file.queue {
        known.skills.extend(q.skills.into_keys());
        known.queues.insert(q.name);
    }
    for a in file.agent {
        known.skills.extend(a.skills.into_keys());
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
    fn reads_queues_and_skills_from_queues_agents_and_the_list() {
        let k = parse(
            r#"
            skills = ["english"]
            other_setting = 5
            [[agent]]
            id = "1001"
            skills = { mandarin = 5 }
            [[queue]]
            name = "sales"
            skills = { sales = 1 }
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
        assert!(parse("[[queue]]\nskills = {}").is_err());
        // The old list syntax for a queue's skills is refused rather than half read.
        assert!(parse("[[queue]]\nname = \"sales\"\nskills = [\"sales\"]").is_err());
    }
}
