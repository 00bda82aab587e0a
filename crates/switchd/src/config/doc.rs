//! The parsed TOML document and the typed readers over it: every value keeps its byte
//! span, and every mistake becomes a [`ConfigError`] at that span, collected rather than
//! returned so that one run reports all of them.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Cidr, ConfigError};

/// A value with its span in the file.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// One file being read: its text, and the errors found so far.
pub(super) struct Doc<'s> {
    pub(super) file: PathBuf,
    text: &'s str,
    line_starts: Vec<usize>,
    pub(super) errors: Vec<ConfigError>,
}

/// A TOML table and where it is; `name` is how messages call it (`[sip]`, `[[queue]]`).
#[derive(Clone, Copy)]
pub(super) struct Table<'a, 'i> {
    pub(super) name: &'a str,
    pub(super) span: (usize, usize),
    pub(super) entries: &'a DeTable<'i>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// The value of `key`, if present.
    pub(super) fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    pub(super) fn range(&self) -> Range<usize> {
        self.span.0..self.span.1
    }
}

impl<'s> Doc<'s> {
    pub(super) fn new(file: &Path, text: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Doc {
            file: file.to_path_buf(),
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// The 1-based line of a byte offset.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// Records an error at `span` (byte offsets into the file).
    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let mut offset = span.start.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line_idx];
        let line_text = self.text[start..]
            .split('\n')
            .next()
            .unwrap_or("")
            .trim_end_matches('\r');
        let line_end = (start + line_text.len()).max(offset);
        let column = self.text[start..offset].chars().count() + 1;
        let end = span.end.clamp(offset, line_end);
        let len = self
            .text
            .get(offset..end)
            .map_or(1, |s| s.chars().count())
            .max(1);
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: line_idx + 1,
            column,
            message: message.into(),
            hint,
            source_line: line_text.to_owned(),
            len,
        });
    }

    /// Reports every key of `table` not in `known`, with the closest known key as a hint.
    pub(super) fn check_keys(&mut self, table: Table<'_, '_>, known: &[&str]) {
        for (key, _) in table.entries.iter() {
            let k = key.get_ref().as_ref();
            if known.contains(&k) {
                continue;
            }
            let hint = match closest(k, known) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the keys of {} are: {}", table.name, known.join(", ")),
            };
            self.error(
                key.span(),
                format!("unknown key `{k}` in {}", table.name),
                Some(hint),
            );
        }
    }

    fn type_error(&mut self, v: &Value<'_>, key: &str, expected: &str, example: &str) {
        self.error(
            v.span(),
            format!(
                "`{key}` must be {expected}, not {}",
                article(v.get_ref().type_str())
            ),
            Some(format!("for example `{key} = {example}`")),
        );
    }

    /// A table nested under `key`.
    pub(super) fn table<'a, 'i>(
        &mut self,
        v: &'a Value<'i>,
        key: &str,
        name: &'a str,
    ) -> Option<Table<'a, 'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(Table {
                name,
                span: (v.span().start, v.span().end),
                entries: t,
            }),
            _ => {
                self.type_error(v, key, "a table", "{ ... }");
                None
            }
        }
    }

    /// An array of tables (`[[key]]`).
    pub(super) fn tables<'a, 'i>(
        &mut self,
        v: &'a Value<'i>,
        key: &str,
        name: &'a str,
    ) -> Vec<Table<'a, 'i>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.error(
                v.span(),
                format!("`{key}` must be written as `[[{key}]]` sections"),
                Some(format!("start each one with a `[[{key}]]` line")),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| self.table(item, key, name))
            .collect()
    }

    /// A string.
    pub(super) fn string(&mut self, v: &Value<'_>, key: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.type_error(v, key, "a string", "\"...\"");
                None
            }
        }
    }

    /// A non-empty string.
    pub(super) fn nonempty(&mut self, v: &Value<'_>, key: &str) -> Option<String> {
        let s = self.string(v, key)?;
        if s.trim().is_empty() {
            self.error(v.span(), format!("`{key}` must not be empty"), None);
            return None;
        }
        Some(s)
    }

    /// A boolean.
    pub(super) fn boolean(&mut self, v: &Value<'_>, key: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(v, key, "true or false", "true");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub(super) fn int(&mut self, v: &Value<'_>, key: &str, min: i64, max: i64) -> Option<i64> {
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => {
                self.type_error(v, key, "a whole number", &min.max(1).to_string());
                return None;
            }
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    v.span(),
                    format!("`{key}` must be from {min} to {max}"),
                    None,
                );
                None
            }
        }
    }

    /// A number (integer or float).
    pub(super) fn number(&mut self, v: &Value<'_>, key: &str) -> Option<f64> {
        match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
            _ => {
                self.type_error(v, key, "a number", "0.8");
                None
            }
        }
    }

    /// A duration written as a string: `"500ms"`, `"30s"`, `"10m"`, `"4h"`, `"1m30s"`.
    pub(super) fn duration(&mut self, v: &Value<'_>, key: &str) -> Option<Duration> {
        let DeValue::String(s) = v.get_ref() else {
            let hint = match v.get_ref() {
                DeValue::Integer(i) => format!(
                    "write it as a string with a unit: `{key} = \"{}s\"`",
                    i.as_str()
                ),
                _ => format!("for example `{key} = \"30s\"`"),
            };
            self.error(
                v.span(),
                format!("`{key}` must be a duration string"),
                Some(hint),
            );
            return None;
        };
        match parse_duration(s) {
            Some(d) => Some(d),
            None => {
                self.error(
                    v.span(),
                    format!("`{s}` is not a duration"),
                    Some("write a number and a unit: ms, s, m or h (e.g. \"500ms\", \"30s\", \"10m\", \"4h\")".into()),
                );
                None
            }
        }
    }

    /// A duration where `"0s"` means off.
    pub(super) fn duration_or_off(&mut self, v: &Value<'_>, key: &str) -> Option<Option<Duration>> {
        self.duration(v, key).map(|d| (!d.is_zero()).then_some(d))
    }

    /// A socket address (`"127.0.0.1:5060"`, `"[::1]:5060"`).
    pub(super) fn socket(&mut self, v: &Value<'_>, key: &str) -> Option<SocketAddr> {
        let s = self.string(v, key)?;
        match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                let hint = if s.parse::<IpAddr>().is_ok() {
                    format!("add a port: `{}`", with_port(&s, 5060))
                } else {
                    "write an IP address and a port: \"127.0.0.1:5060\" or \"[::1]:5060\"".into()
                };
                self.error(
                    v.span(),
                    format!("`{s}` is not an address with a port"),
                    Some(hint),
                );
                None
            }
        }
    }

    /// An IP address.
    pub(super) fn ip(&mut self, v: &Value<'_>, key: &str) -> Option<IpAddr> {
        let s = self.string(v, key)?;
        match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    v.span(),
                    format!("`{s}` is not an IP address"),
                    Some("write an IPv4 or IPv6 address, e.g. \"127.0.0.1\"".into()),
                );
                None
            }
        }
    }

    /// A network: `"127.0.0.2/32"`, `"2001:db8::/64"`, or a bare address (one host).
    pub(super) fn cidr(&mut self, v: &Value<'_>, key: &str) -> Option<Cidr> {
        let s = self.string(v, key)?;
        match parse_cidr(&s) {
            Ok(c) => Some(c),
            Err(hint) => {
                self.error(
                    v.span(),
                    format!("`{s}` is not a network (CIDR)"),
                    Some(hint),
                );
                None
            }
        }
    }

    /// An array; each element read by `each`.
    pub(super) fn array<'a, 'i, T>(
        &mut self,
        v: &'a Value<'i>,
        key: &str,
        mut each: impl FnMut(&mut Self, &'a Value<'i>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.type_error(v, key, "a list", "[ ... ]");
            return None;
        };
        Some(items.iter().filter_map(|item| each(self, item)).collect())
    }
}

fn article(type_str: &str) -> String {
    match type_str.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_str}"),
        _ => format!("a {type_str}"),
    }
}

fn with_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Parses `"500ms"`, `"30s"`, `"10m"`, `"4h"` and sums like `"1m30s"`.
pub(super) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Writes a duration the way [`parse_duration`] reads it (whole minutes under two
/// minutes stay in seconds: "60s" reads better than "1m").
pub(super) fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms >= 120_000 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Parses a CIDR; the error is a hint for the operator.
pub(super) fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr.trim().parse().map_err(|_| {
        "write an address and a prefix length: \"192.0.2.0/24\" or \"2001:db8::/32\"".to_owned()
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.trim().parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => return Err(format!("the prefix length must be from 0 to {max}")),
        },
    };
    let cidr = Cidr { addr, prefix };
    let network = cidr.network();
    if network != addr {
        return Err(format!(
            "the address has bits set beyond the /{prefix} prefix; did you mean \"{network}/{prefix}\"?"
        ));
    }
    Ok(cidr)
}

/// The known word closest to `word` (edit distance at most 2, or a third of its length).
pub(super) fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    // A shortened key (`qualify` for `qualify_interval`).
    if word.len() >= 4
        && let Some(k) = known.iter().find(|k| k.starts_with(word))
    {
        return Some(k);
    }
    let limit = (word.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (levenshtein(word, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("4h"), Some(Duration::from_secs(14_400)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in ["", "30", "s", "3 s", "30sec", "1.5s", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for d in [
            "500ms", "30s", "60s", "90s", "2m", "10m", "4h", "0s", "1500ms",
        ] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }

    #[test]
    fn cidrs() {
        let c = parse_cidr("10.0.0.0/8").unwrap();
        assert_eq!(c.prefix, 8);
        assert_eq!(parse_cidr("127.0.0.2").unwrap().prefix, 32);
        assert_eq!(parse_cidr("::1").unwrap().prefix, 128);
        assert!(parse_cidr("10.0.0.1/8").unwrap_err().contains("10.0.0.0/8"));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0/8").is_err());
        assert!(parse_cidr("2001:db8::/129").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("strategyy", &["strategy", "skills"]),
            Some("strategy")
        );
        assert_eq!(
            closest("ring_timout", &["ring_timeout", "wrap_up"]),
            Some("ring_timeout")
        );
        assert_eq!(closest("colour", &["strategy", "skills"]), None);
        assert_eq!(
            closest("qualify", &["listen", "qualify_interval"]),
            Some("qualify_interval")
        );
    }
}
