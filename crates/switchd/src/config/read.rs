//! From the parsed document to a validated [`Config`]: each section read with its
//! defaults, then the cross-references (skills, devices, queues, trunks, dialplans,
//! music) checked. Errors are collected; a value in error is replaced by its default so
//! that the rest of the file is still checked.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::doc::{Doc, Table, Value};
use super::*;

mod people;
mod queues;
mod refs;
mod trunks;

/// Top-level keys.
const ROOT_KEYS: &[&str] = &[
    "skills",
    "sip",
    "rtp",
    "http",
    "storage",
    "calls",
    "voicemail",
    "feature_codes",
    "trunk",
    "device",
    "agent",
    "queue",
];

/// Strategy names as written in the file.
pub(super) const STRATEGIES: &[(&str, switchyard_acd::Strategy)] = {
    use switchyard_acd::Strategy::*;
    &[
        ("longest-idle", LongestIdle),
        ("round-robin", RoundRobin),
        ("fewest-calls", FewestCalls),
        ("least-talk-time", LeastTalkTime),
        ("ring-all", RingAll),
        ("random", Random),
        ("weighted-random", WeightedRandom),
        ("linear", Linear),
        ("best-skill", BestSkill),
    ]
};

/// The default music on hold: checked when the media loads, not here, so that a
/// configuration does not fail while the prompt set lacks it.
pub(super) const DEFAULT_MUSIC: &str = "music_on_hold";

/// Reads `text` (the contents of `file`) into a [`Config`].
pub(super) fn read(file: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    let mut doc = Doc::new(file, text);
    let (root, syntax) = DeTable::parse_recoverable(text);
    // After the first syntax error the parser's recovery reports echoes of it: only the
    // first is worth reading.
    if let Some(e) = syntax
        .iter()
        .min_by_key(|e| e.span().map_or(0, |s| s.start))
    {
        let message = e.message().trim();
        let hint = if message.contains("array") {
            "is a list (`[ ... ]`) on this line or above missing a `,` or its closing `]`?"
        } else {
            "see docs/config.md for the file's syntax"
        };
        doc.error(
            e.span().unwrap_or(0..0),
            format!("invalid TOML: {message}"),
            Some(hint.into()),
        );
        return Err(doc.errors);
    }
    let base = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let root = Table {
        name: "the top level",
        span: (0, 0),
        entries: root.get_ref(),
    };
    let mut r = Reader {
        doc,
        base,
        queue_names: names(root, "queue", "name"),
        device_names: names(root, "device", "user"),
        skill_list: None,
        trunk_outbound: BTreeMap::new(),
        music: Vec::new(),
        overflow_checks: Vec::new(),
        seen: BTreeMap::new(),
        networks: Vec::new(),
        dialplans: Vec::new(),
    };
    r.doc.check_keys(root, ROOT_KEYS);
    for (k, v) in root.entries.iter() {
        let k = k.get_ref().as_ref();
        if v.get_ref().is_table() && ["trunk", "device", "agent", "queue"].contains(&k) {
            {
                r.doc.error(
                    v.span(),
                    format!("`{k}` must be written as `[[{k}]]` sections"),
                    Some(format!(
                        "write `[[{k}]]` (double brackets): there may be several"
                    )),
                );
            }
        }
    }
    let config = r.config(root);
    let Reader { doc, .. } = r;
    let mut errors = doc.errors;
    if errors.is_empty() {
        return Ok(config);
    }
    // In file order: the configuration's own errors first, then those in dialplans.
    errors.sort_by(|a, b| {
        (a.file != file, &a.file, a.line, a.column).cmp(&(
            b.file != file,
            &b.file,
            b.line,
            b.column,
        ))
    });
    Err(errors)
}

/// The string `field` of every `[[key]]` table (for references checked before the
/// sections are read).
fn names(root: Table<'_, '_>, key: &str, field: &str) -> Vec<String> {
    let Some(DeValue::Array(items)) = root.get(key).map(|v| v.get_ref()) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|t| t.get_ref().as_table())
        .filter_map(|t| {
            t.iter()
                .find(|(k, _)| k.get_ref().as_ref() == field)
                .and_then(|(_, v)| v.get_ref().as_str().map(str::to_owned))
        })
        .collect()
}

/// The reading of one file: the document, and what later checks need from earlier sections.
struct Reader<'s> {
    doc: Doc<'s>,
    base: PathBuf,
    queue_names: Vec<String>,
    device_names: Vec<String>,
    /// The top-level `skills` list, when given: every skill must be in it.
    skill_list: Option<Vec<String>>,
    /// Trunk name → has `[trunk.outbound]`.
    trunk_outbound: BTreeMap<String, bool>,
    /// Queue music set explicitly, with its span: checked once dialplans are compiled.
    music: Vec<(String, Range<usize>)>,
    /// `number:...@TRUNK` overflows (trunk name, span): checked once every trunk is read.
    overflow_checks: Vec<(String, Range<usize>)>,
    /// Names seen so far, per kind (`trunk`, `device`, ...), with their spans.
    seen: BTreeMap<&'static str, Vec<(String, Range<usize>)>>,
    /// Inbound networks seen so far: network, trunk, span.
    networks: Vec<(Cidr, String, Range<usize>)>,
    /// Trunks' dialplans: path, span of the `dialplan` value.
    dialplans: Vec<(PathBuf, Range<usize>)>,
}

impl Reader<'_> {
    fn section<'a, 'i>(
        &mut self,
        root: Table<'a, 'i>,
        key: &str,
        name: &'a str,
    ) -> Option<Table<'a, 'i>> {
        let v = root.get(key)?;
        self.doc.table(v, key, name)
    }

    fn config(&mut self, root: Table<'_, '_>) -> Config {
        if let Some(v) = root.get("skills") {
            let list = self.unique_names(v, "skills", "skill");
            self.skill_list = Some(list);
        }
        let sip = self.sip(root);
        let http = self.http(root);
        let storage = self.storage(root);
        let calls = self.calls(root);
        let voicemail = self.voicemail(root);
        let feature_codes = self.feature_codes(root);
        let trunks = self.list(root, "trunk", "[[trunk]]", Self::trunk);
        let devices = self.list(root, "device", "[[device]]", Self::device);
        let agents = self.list(root, "agent", "[[agent]]", Self::agent);
        let queues = self.list(root, "queue", "[[queue]]", Self::queue);
        let rtp = self.rtp(root, agents.len());
        self.check_overflow_trunks();
        let skills = match &self.skill_list {
            Some(list) => list.clone(),
            None => {
                let set: BTreeSet<String> = agents
                    .iter()
                    .flat_map(|a| a.skills.iter())
                    .chain(queues.iter().flat_map(|q| q.skills.iter()))
                    .map(|(s, _)| s.clone())
                    .collect();
                set.into_iter().collect()
            }
        };
        let prompt_dirs = self.compile_dialplans(&trunks, &queues, &skills);
        self.check_music(&prompt_dirs);
        Config {
            source: Some(self.doc.file.clone()),
            sip,
            rtp,
            http,
            storage,
            calls,
            voicemail,
            feature_codes,
            skills,
            trunks,
            devices,
            agents,
            queues,
        }
    }

    /// Reads every `[[key]]` table with `each`.
    fn list<'a, 'i, T>(
        &mut self,
        root: Table<'a, 'i>,
        key: &str,
        name: &'a str,
        mut each: impl FnMut(&mut Self, Table<'a, 'i>) -> Option<T>,
    ) -> Vec<T> {
        let Some(v) = root.get(key) else {
            return Vec::new();
        };
        if v.get_ref().is_table() {
            return Vec::new(); // reported in `read`
        }
        let tables = self.doc.tables(v, key, name);
        tables.into_iter().filter_map(|t| each(self, t)).collect()
    }

    /// A list of distinct, non-empty names.
    fn unique_names(&mut self, v: &Value<'_>, key: &str, what: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        let items = self.doc.array(v, key, |doc, item| {
            let s = doc.nonempty(item, key)?;
            Some((s, item.span()))
        });
        for (s, span) in items.unwrap_or_default() {
            if seen.contains(&s) {
                self.doc
                    .error(span, format!("{what} `{s}` is listed twice"), None);
            } else {
                seen.push(s);
            }
        }
        seen
    }

    /// Reports a missing required key of `t`.
    fn missing(&mut self, t: Table<'_, '_>, key: &str, example: &str) {
        self.doc.error(
            t.range(),
            format!("{} needs `{key}`", t.name),
            Some(format!("add `{key} = {example}`")),
        );
    }

    fn sip(&mut self, root: Table<'_, '_>) -> SipConfig {
        let t = self.section(root, "sip", "[sip]");
        if let Some(t) = t {
            self.doc.check_keys(
                t,
                &[
                    "listen",
                    "domain",
                    "min_expires",
                    "max_contacts",
                    "qualify_interval",
                ],
            );
        }
        let get = |k: &str| t.and_then(|t| t.get(k));
        let listen = get("listen")
            .and_then(|v| {
                let list = self
                    .doc
                    .array(v, "listen", |doc, a| doc.socket(a, "listen"))?;
                if list.is_empty() {
                    self.doc.error(
                        v.span(),
                        "`listen` must name at least one address",
                        Some("for example `listen = [\"127.0.0.1:5060\"]`".into()),
                    );
                    return None;
                }
                Some(list)
            })
            .unwrap_or_else(default_sip_listen);
        SipConfig {
            listen,
            domain: get("domain").and_then(|v| self.doc.nonempty(v, "domain")),
            min_expires: get("min_expires")
                .and_then(|v| self.doc.int(v, "min_expires", 1, 86_400))
                .map_or(60, |n| n as u32),
            max_contacts: get("max_contacts")
                .and_then(|v| self.doc.int(v, "max_contacts", 1, 1000))
                .map_or(10, |n| n as usize),
            qualify_interval: get("qualify_interval")
                .and_then(|v| self.doc.duration_or_off(v, "qualify_interval"))
                .unwrap_or(Some(Duration::from_secs(30))),
        }
    }

    fn rtp(&mut self, root: Table<'_, '_>, agents: usize) -> RtpConfig {
        let t = self.section(root, "rtp", "[rtp]");
        if let Some(t) = t {
            self.doc
                .check_keys(t, &["address", "port_min", "port_max", "inactivity", "xdp"]);
        }
        let get = |k: &str| t.and_then(|t| t.get(k));
        let address = get("address")
            .and_then(|v| self.doc.ip(v, "address"))
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let min_v = get("port_min");
        let max_v = get("port_max");
        let port_min = min_v.and_then(|v| self.doc.int(v, "port_min", 1024, 65_535));
        let port_max = max_v.and_then(|v| self.doc.int(v, "port_max", 1024, 65_535));
        let (min, max) = (port_min.unwrap_or(20_000), port_max.unwrap_or(29_999));
        let mut ok = true;
        if min % 2 == 1 {
            let span = min_v.map_or(0..0, |v| v.span());
            self.doc.error(
                span,
                format!("`port_min` must be even, not {min}"),
                Some(format!(
                    "RTP uses even ports (RTCP the odd one above): `port_min = {}`",
                    min + 1
                )),
            );
            ok = false;
        }
        if ok && min >= max {
            let span = max_v.or(min_v).map_or(0..0, |v| v.span());
            self.doc.error(
                span,
                format!("`port_max` ({max}) must be above `port_min` ({min})"),
                Some("the range is port_min to port_max, inclusive".into()),
            );
            ok = false;
        }
        let need = (2 * agents).max(2) as i64;
        let have = if ok { (max - min) / 2 + 1 } else { need };
        if have < need {
            let span = max_v.or(min_v).map_or(0..0, |v| v.span());
            self.doc.error(
                span,
                format!(
                    "the RTP range {min}-{max} holds {have} media legs; {agents} agents on calls need {need}"
                ),
                Some(format!("widen it, e.g. `port_max = {}`", min + 2 * need + 1)),
            );
        }
        let inactivity = get("inactivity")
            .and_then(|v| {
                let d = self.doc.duration(v, "inactivity")?;
                if d.is_zero() {
                    self.doc.error(
                        v.span(),
                        "`inactivity` must be longer than 0s",
                        Some("dead calls are only ended by it; e.g. `inactivity = \"60s\"`".into()),
                    );
                    return None;
                }
                Some(d)
            })
            .unwrap_or(Duration::from_secs(60));
        let xdp = get("xdp")
            .and_then(|v| {
                let on = self.doc.boolean(v, "xdp")?;
                if on && address.is_ipv6() {
                    self.doc.error(
                        v.span(),
                        "`xdp` needs an IPv4 `address`",
                        Some(
                            "the AF_XDP path carries IPv4 only: set an IPv4 `address` or \
                             `xdp = false`"
                                .into(),
                        ),
                    );
                    return None;
                }
                Some(on)
            })
            .unwrap_or(false);
        RtpConfig {
            address,
            port_min: min as u16,
            port_max: max as u16,
            inactivity,
            xdp,
        }
    }

    fn http(&mut self, root: Table<'_, '_>) -> HttpConfig {
        let t = self.section(root, "http", "[http]");
        if let Some(t) = t {
            self.doc.check_keys(t, &["listen", "api_key"]);
        }
        let listen = t
            .and_then(|t| t.get("listen"))
            .and_then(|v| self.doc.socket(v, "listen"))
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080));
        let api_key = match t.and_then(|t| t.get("api_key")) {
            Some(v) => self.doc.nonempty(v, "api_key"),
            None => {
                let span = t.map_or(0..0, |t| t.range());
                self.doc.error(
                    span,
                    "the configuration needs an API key (`[http] api_key`)",
                    Some(
                        "add `[http]` with `api_key = \"...\"`: every API request must carry it"
                            .into(),
                    ),
                );
                None
            }
        };
        HttpConfig {
            listen,
            api_key: api_key.unwrap_or_default(),
        }
    }

    fn storage(&mut self, root: Table<'_, '_>) -> StorageConfig {
        let t = self.section(root, "storage", "[storage]");
        if let Some(t) = t {
            self.doc.check_keys(t, &["path"]);
        }
        let path = t
            .and_then(|t| t.get("path"))
            .and_then(|v| self.doc.nonempty(v, "path"))
            .unwrap_or_else(|| "switchyard-data".into());
        StorageConfig {
            path: self.base.join(path),
        }
    }

    fn positive(&mut self, v: &Value<'_>, key: &str) -> Option<Duration> {
        let d = self.doc.duration(v, key)?;
        if d.is_zero() {
            self.doc
                .error(v.span(), format!("`{key}` must be longer than 0s"), None);
            return None;
        }
        Some(d)
    }

    fn calls(&mut self, root: Table<'_, '_>) -> CallsConfig {
        let t = self.section(root, "calls", "[calls]");
        if let Some(t) = t {
            self.doc.check_keys(
                t,
                &[
                    "max_duration",
                    "session_expires",
                    "shutdown_grace",
                    "early_media",
                    "record",
                    "ring_timeout",
                ],
            );
        }
        let get = |k: &str| t.and_then(|t| t.get(k));
        let session_expires = get("session_expires")
            .and_then(|v| {
                let d = self.doc.duration(v, "session_expires")?;
                if d < Duration::from_secs(90) || d.as_secs() > u64::from(u32::MAX) {
                    self.doc.error(
                        v.span(),
                        "`session_expires` must be at least 90s",
                        Some(
                            "RFC 4028's smallest session interval is 90 seconds; \"30m\" is usual"
                                .into(),
                        ),
                    );
                    return None;
                }
                Some(d.as_secs() as u32)
            })
            .unwrap_or(1800);
        let ring_timeout = get("ring_timeout")
            .and_then(|v| {
                let d = self.doc.duration(v, "ring_timeout")?;
                let (min, max) = (CallsConfig::RING_TIMEOUT_MIN, CallsConfig::RING_TIMEOUT_MAX);
                if d < min || d > max {
                    self.doc.error(
                        v.span(),
                        "`ring_timeout` must be between 1s and 3m",
                        Some(
                            "below 1s no phone has time to ring; beyond 3m a proxy may cancel \
                             the caller's INVITE (RFC 3261 Timer C); \"30s\" is usual"
                                .into(),
                        ),
                    );
                    return None;
                }
                Some(d)
            })
            .unwrap_or(CallsConfig::RING_TIMEOUT);
        CallsConfig {
            max_duration: get("max_duration")
                .and_then(|v| self.positive(v, "max_duration"))
                .unwrap_or(Duration::from_secs(4 * 3600)),
            session_expires,
            shutdown_grace: get("shutdown_grace")
                .and_then(|v| self.doc.duration(v, "shutdown_grace"))
                .unwrap_or(Duration::from_secs(30)),
            early_media: get("early_media")
                .and_then(|v| self.doc.boolean(v, "early_media"))
                .unwrap_or(false),
            record: get("record")
                .and_then(|v| self.doc.boolean(v, "record"))
                .unwrap_or(false),
            ring_timeout,
        }
    }

    fn voicemail(&mut self, root: Table<'_, '_>) -> VoicemailConfig {
        let t = self.section(root, "voicemail", "[voicemail]");
        if let Some(t) = t {
            self.doc.check_keys(t, &["max_length", "greeting"]);
        }
        let get = |k: &str| t.and_then(|t| t.get(k));
        VoicemailConfig {
            max_length: get("max_length")
                .and_then(|v| self.positive(v, "max_length"))
                .unwrap_or(Duration::from_secs(120)),
            greeting: get("greeting")
                .and_then(|v| self.doc.nonempty(v, "greeting"))
                .unwrap_or_else(|| "leave_message".into()),
        }
    }

    fn feature_codes(&mut self, root: Table<'_, '_>) -> FeatureCodes {
        let t = self.section(root, "feature_codes", "[feature_codes]");
        const KEYS: [(&str, &str); 4] = [
            ("login", "*45"),
            ("logout", "*46"),
            ("pause", "*47"),
            ("unpause", "*48"),
        ];
        if let Some(t) = t {
            self.doc.check_keys(t, &KEYS.map(|(k, _)| k));
        }
        let mut codes: Vec<(String, Option<Range<usize>>)> = Vec::new();
        for (key, default) in KEYS {
            let v = t.and_then(|t| t.get(key));
            let code = v.and_then(|v| {
                let s = self.doc.nonempty(v, key)?;
                if !s
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
                {
                    self.doc.error(
                        v.span(),
                        format!("feature code `{s}` has characters a phone cannot dial"),
                        Some("use digits, `*` and `#`, e.g. \"*45\"".into()),
                    );
                    return None;
                }
                Some(s)
            });
            codes.push((code.unwrap_or_else(|| default.into()), v.map(|v| v.span())));
        }
        for i in 0..codes.len() {
            for j in 0..codes.len() {
                if i == j || !codes[j].0.starts_with(codes[i].0.as_str()) {
                    continue;
                }
                if i > j && codes[i].0 == codes[j].0 {
                    continue; // reported once
                }
                let span = codes[j].1.clone().or(codes[i].1.clone()).unwrap_or(0..0);
                self.doc.error(
                    span,
                    format!(
                        "feature code `{}` ({}) starts with `{}` ({})",
                        codes[j].0, KEYS[j].0, codes[i].0, KEYS[i].0
                    ),
                    Some("each feature code must not be the start of another".into()),
                );
            }
        }
        let mut it = codes.into_iter().map(|(c, _)| c);
        let mut next = || it.next().unwrap_or_default();
        FeatureCodes {
            login: next(),
            logout: next(),
            pause: next(),
            unpause: next(),
        }
    }

    /// Checks that `name` was not seen before; remembers it.
    fn unique(&mut self, what: &'static str, name: &str, span: Range<usize>) {
        let seen = self.seen.entry(what).or_default();
        if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
            let first = first.clone();
            let line = self.doc.line_of(first.start);
            let (message, hint) = if what == "login_on" {
                (
                    format!("device `{name}` already has an agent logged in at start"),
                    format!("line {line} logs another agent in on it; one agent per device"),
                )
            } else {
                (
                    format!("{what} `{name}` is defined twice"),
                    format!("the first is on line {line}; names must be unique"),
                )
            };
            self.doc.error(span, message, Some(hint));
        } else {
            seen.push((name.to_owned(), span));
        }
    }

    /// A name used in other places: letters, digits, `_`, `-`, `.`.
    fn name(
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
        if !s
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'))
        {
            self.doc.error(
                v.span(),
                format!("`{s}` is not a valid {key}"),
                Some("use letters, digits, `_`, `-` and `.` only".into()),
            );
            return None;
        }
        Some((s, v.span()))
    }
}

fn default_sip_listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060),
    ]
}
