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

use super::doc::{Doc, Table, Value, closest};
use super::*;

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
    for e in &syntax {
        doc.error(
            e.span().unwrap_or(0..0),
            format!("invalid TOML: {}", e.message().trim()),
            Some("see docs/config.md for the file's syntax".into()),
        );
    }
    if !doc.errors.is_empty() {
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
        if let Some(_t) = v.get_ref().as_table() {
            let k = k.get_ref().as_ref();
            if ["trunk", "device", "agent", "queue"].contains(&k) {
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
    /// Trunks' dialplans: trunk index, path, span of the `dialplan` value.
    dialplans: Vec<(usize, PathBuf, Range<usize>)>,
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
                .check_keys(t, &["address", "port_min", "port_max", "inactivity"]);
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
        RtpConfig {
            address,
            port_min: min as u16,
            port_max: max as u16,
            inactivity,
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
            self.doc.error(
                span,
                format!("{what} `{name}` is defined twice"),
                Some(format!("the first is on line {line}; names must be unique")),
            );
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

    fn trunk(&mut self, t: Table<'_, '_>) -> Option<Trunk> {
        self.doc.check_keys(t, &["name", "inbound", "outbound"]);
        let (name, name_span) = self.name(t, "name", "\"carrier\"")?;
        self.unique("trunk", &name, name_span.clone());
        let inbound = t
            .get("inbound")
            .and_then(|v| self.doc.table(v, "inbound", "[trunk.inbound]"))
            .and_then(|it| self.inbound(it, &name));
        let outbound = t
            .get("outbound")
            .and_then(|v| self.doc.table(v, "outbound", "[trunk.outbound]"))
            .and_then(|ot| self.outbound(ot));
        if t.get("inbound").is_none() && t.get("outbound").is_none() {
            self.doc.error(
                name_span,
                format!("trunk `{name}` has neither `[trunk.inbound]` nor `[trunk.outbound]`"),
                Some("add the calls it carries: `[trunk.inbound]` with `from` and `dialplan`, or `[trunk.outbound]` with `gateways`".into()),
            );
        }
        self.trunk_outbound
            .entry(name.clone())
            .or_insert(t.get("outbound").is_some());
        Some(Trunk {
            name,
            inbound,
            outbound,
        })
    }
}

impl Reader<'_> {
    fn inbound(&mut self, t: Table<'_, '_>, trunk: &str) -> Option<Inbound> {
        self.doc.check_keys(
            t,
            &["from", "did", "country_code", "national_prefix", "dialplan"],
        );
        let from = match t.get("from") {
            None => {
                self.missing(t, "from", "[\"192.0.2.0/24\"]");
                Vec::new()
            }
            Some(v) => {
                let list = self
                    .doc
                    .array(v, "from", |doc, item| {
                        Some((doc.cidr(item, "from")?, item.span()))
                    })
                    .unwrap_or_default();
                if v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
                    self.doc.error(
                        v.span(),
                        "`from` must name at least one network",
                        Some(
                            "the carrier's signalling addresses, e.g. `from = [\"192.0.2.0/24\"]`"
                                .into(),
                        ),
                    );
                }
                for (cidr, span) in &list {
                    let clash = self
                        .networks
                        .iter()
                        .find(|(other, _, _)| other.overlaps(cidr))
                        .map(|(other, name, s)| (*other, name.clone(), s.start));
                    if let Some((other, name, at)) = clash {
                        let line = self.doc.line_of(at);
                        let whose = if name == trunk {
                            "another entry of this trunk".to_owned()
                        } else {
                            format!("trunk `{name}`")
                        };
                        self.doc.error(
                            span.clone(),
                            format!("{cidr} overlaps {other} of {whose} (line {line})"),
                            Some("a call's source address must identify one trunk: make the networks disjoint".into()),
                        );
                    }
                }
                for (cidr, span) in &list {
                    self.networks.push((*cidr, trunk.to_owned(), span.clone()));
                }
                list.into_iter().map(|(c, _)| c).collect()
            }
        };
        let did_from = t
            .get("did")
            .and_then(|v| {
                let s = self.doc.string(v, "did")?;
                match s.as_str() {
                    "request-uri" => Some(DidSource::RequestUri),
                    "to" => Some(DidSource::To),
                    "diversion" => Some(DidSource::Diversion),
                    _ => {
                        let known = ["request-uri", "to", "diversion"];
                        let hint = match closest(&s, &known) {
                            Some(k) => format!("did you mean \"{k}\"?"),
                            None => "one of \"request-uri\", \"to\", \"diversion\"".into(),
                        };
                        self.doc
                            .error(v.span(), format!("`{s}` is not a DID source"), Some(hint));
                        None
                    }
                }
            })
            .unwrap_or(DidSource::RequestUri);
        let country_code_v = t.get("country_code");
        let country_code = country_code_v.and_then(|v| {
            let s = self.doc.string(v, "country_code")?;
            let s2 = s.trim_start_matches('+');
            if s2.is_empty()
                || s2.len() > 3
                || !s2.chars().all(|c| c.is_ascii_digit())
                || s2.starts_with('0')
            {
                self.doc.error(
                    v.span(),
                    format!("`{s}` is not an E.164 country code"),
                    Some("1 to 3 digits, not starting with 0, e.g. \"86\" or \"1\"".into()),
                );
                return None;
            }
            Some(s2.to_owned())
        });
        let national_prefix = t.get("national_prefix").and_then(|v| {
            let s = self.doc.nonempty(v, "national_prefix")?;
            if !s.chars().all(|c| c.is_ascii_digit()) {
                self.doc.error(
                    v.span(),
                    format!("`{s}` is not a national prefix"),
                    Some("digits only, e.g. \"0\"".into()),
                );
                return None;
            }
            if country_code_v.is_none() {
                self.doc.error(
                    v.span(),
                    "`national_prefix` needs `country_code`",
                    Some(
                        "national numbers become +<country code><number>: add `country_code`"
                            .into(),
                    ),
                );
            }
            Some(s)
        });
        let dialplan = match t.get("dialplan") {
            None => {
                self.missing(t, "dialplan", "\"dialplans/default.dialplan\"");
                None
            }
            Some(v) => self.doc.nonempty(v, "dialplan").and_then(|s| {
                let path = self.base.join(&s);
                if !path.is_file() {
                    self.doc.error(
                        v.span(),
                        format!("dialplan `{}` does not exist", path.display()),
                        Some(
                            "relative paths are relative to the configuration file's directory"
                                .into(),
                        ),
                    );
                    return None;
                }
                let index = self
                    .seen
                    .get("trunk")
                    .map_or(0, |v| v.len().saturating_sub(1));
                self.dialplans.push((index, path.clone(), v.span()));
                Some(path)
            }),
        };
        Some(Inbound {
            from,
            did_from,
            country_code,
            national_prefix,
            dialplan: dialplan.unwrap_or_default(),
        })
    }

    fn outbound(&mut self, t: Table<'_, '_>) -> Option<Outbound> {
        self.doc.check_keys(
            t,
            &[
                "gateways",
                "username",
                "password",
                "register",
                "options_interval",
                "failover_after",
                "caller_id",
            ],
        );
        let gateways = match t.get("gateways") {
            None => {
                self.missing(
                    t,
                    "gateways",
                    "[{ uri = \"sip:192.0.2.10:5060\", priority = 1 }]",
                );
                Vec::new()
            }
            Some(v) => {
                let mut index = 0u32;
                let list = self
                    .doc
                    .array(v, "gateways", |doc, item| {
                        index += 1;
                        let gt = doc.table(item, "gateways", "a gateway")?;
                        doc.check_keys(gt, &["uri", "priority"]);
                        let priority = match gt.get("priority") {
                            Some(p) => doc.int(p, "priority", 0, i64::from(u32::MAX))? as u32,
                            None => index,
                        };
                        let Some(uv) = gt.get("uri") else {
                            doc.error(
                                gt.range(),
                                "a gateway needs `uri`",
                                Some("e.g. `{ uri = \"sip:192.0.2.10:5060\", priority = 1 }`".into()),
                            );
                            return None;
                        };
                        let uri = doc.string(uv, "uri")?;
                        match gateway_address(&uri) {
                            Some(address) => Some(Gateway {
                                uri,
                                address,
                                priority,
                            }),
                            None => {
                                doc.error(
                                    uv.span(),
                                    format!("`{uri}` is not a SIP URI with an IP address"),
                                    Some("write `sip:IP` or `sip:IP:PORT` (e.g. \"sip:192.0.2.10:5060\", \"sip:[2001:db8::1]:5060\")".into()),
                                );
                                None
                            }
                        }
                    })
                    .unwrap_or_default();
                if v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
                    self.doc.error(
                        v.span(),
                        "`gateways` must list at least one gateway",
                        Some(
                            "e.g. `gateways = [{ uri = \"sip:192.0.2.10:5060\", priority = 1 }]`"
                                .into(),
                        ),
                    );
                }
                list
            }
        };
        let username = t
            .get("username")
            .and_then(|v| self.doc.nonempty(v, "username"));
        let password = t
            .get("password")
            .and_then(|v| self.doc.nonempty(v, "password"));
        let register = t
            .get("register")
            .and_then(|v| self.doc.boolean(v, "register"))
            .unwrap_or(false);
        if let Some(v) = t.get("password")
            && t.get("username").is_none()
        {
            self.doc.error(
                v.span(),
                "`password` without `username`",
                Some("digest authentication needs both: add `username`".into()),
            );
        }
        if register && (t.get("username").is_none() || t.get("password").is_none()) {
            let span = t.get("register").map_or(t.range(), |v| v.span());
            self.doc.error(
                span,
                "`register = true` needs `username` and `password`",
                Some("registration with the carrier is authenticated: add both".into()),
            );
        }
        let failover_after = t
            .get("failover_after")
            .and_then(|v| {
                let d = self.positive(v, "failover_after")?;
                if d >= Duration::from_secs(32) {
                    self.doc.error(
                        v.span(),
                        "`failover_after` must be shorter than 32s",
                        Some("after 32s the INVITE has timed out anyway (Timer B); a few seconds is usual".into()),
                    );
                    return None;
                }
                Some(d)
            })
            .unwrap_or(Duration::from_secs(3));
        let caller_id = t.get("caller_id").and_then(|v| {
            let s = self.doc.string(v, "caller_id")?;
            if !is_e164(&s) {
                self.doc.error(
                    v.span(),
                    format!("`{s}` is not an E.164 number"),
                    Some("`+`, then the country code and number: e.g. \"+861058000000\"".into()),
                );
                return None;
            }
            Some(s)
        });
        Some(Outbound {
            gateways,
            username,
            password,
            register,
            options_interval: t
                .get("options_interval")
                .and_then(|v| self.doc.duration_or_off(v, "options_interval"))
                .unwrap_or(Some(Duration::from_secs(30))),
            failover_after,
            caller_id,
        })
    }

    fn device(&mut self, t: Table<'_, '_>) -> Option<Device> {
        self.doc.check_keys(t, &["user", "password"]);
        let (user, span) = self.name(t, "user", "\"1001\"")?;
        self.unique("device", &user, span);
        let password = match t.get("password") {
            Some(v) => self.doc.nonempty(v, "password")?,
            None => {
                self.missing(t, "password", "\"...\"");
                return None;
            }
        };
        Some(Device { user, password })
    }

    /// Digits for something dialled from a phone (agent ids, PINs).
    fn digits(
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
                format!("agent `{key}` `{s}` must be digits"),
                Some("agents dial it after the login feature code (*45<id>*<pin>)".into()),
            );
            return None;
        }
        Some((s, v.span()))
    }

    /// A `{ skill = level }` table; `what` says whose (for messages).
    fn skills(&mut self, t: Table<'_, '_>, what: &str) -> Vec<(String, u8)> {
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

    fn agent(&mut self, t: Table<'_, '_>) -> Option<Agent> {
        self.doc
            .check_keys(t, &["id", "name", "pin", "skills", "login_on"]);
        let (id, span) = self.digits(t, "id", "\"1001\"")?;
        self.unique("agent", &id, span);
        let name = t
            .get("name")
            .and_then(|v| self.doc.nonempty(v, "name"))
            .unwrap_or_else(|| id.clone());
        let pin = self.digits(t, "pin", "\"1234\"").map(|(p, _)| p);
        let skills = self.skills(t, &format!("agent `{id}`"));
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
        Some(Agent {
            id,
            name,
            pin: pin.unwrap_or_default(),
            skills,
            login_on,
        })
    }

    fn queue(&mut self, t: Table<'_, '_>) -> Option<Queue> {
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
        let (name, span) = self.name(t, "name", "\"sales\"")?;
        self.unique("queue", &name, span);
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
        let overflow = |r: &mut Self, key: &str| t.get(key).and_then(|v| r.overflow(v, key, &name));
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
            name,
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
    fn overflow(&mut self, v: &Value<'_>, key: &str, queue: &str) -> Option<Overflow> {
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

    fn check_overflow_trunks(&mut self) {
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

    /// Compiles each trunk's dialplan against the configuration; returns the prompt
    /// directories (one per language) of the dialplans that compiled.
    fn compile_dialplans(
        &mut self,
        trunks: &[Trunk],
        queues: &[Queue],
        skills: &[String],
    ) -> Vec<PathBuf> {
        let known = switchyard_ivr::Known {
            queues: queues.iter().map(|q| q.name.clone()).collect(),
            skills: skills.iter().cloned().collect(),
            trunks: trunks.iter().map(|t| t.name.clone()).collect(),
        };
        let mut done: BTreeSet<PathBuf> = BTreeSet::new();
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for (_, path, span) in std::mem::take(&mut self.dialplans) {
            if !done.insert(path.clone()) {
                continue;
            }
            match crate::dialplan::load(&path, Some(&known)) {
                Err(e) => self.doc.error(span, format!("{e:#}"), None),
                Ok(Ok(plan)) => {
                    dirs.extend(
                        plan.prompt_files()
                            .filter_map(|f| f.parent().map(Path::to_path_buf)),
                    );
                }
                Ok(Err(diags)) => {
                    for d in diags.errors() {
                        self.doc.errors.push(ConfigError {
                            file: PathBuf::from(&*d.file),
                            line: d.span.line as usize,
                            column: d.span.col as usize,
                            message: d.message.clone(),
                            hint: d.hint.clone(),
                            source_line: d.source_line.clone(),
                            len: d.span.len.max(1) as usize,
                        });
                    }
                    self.doc.error(
                        span,
                        format!(
                            "dialplan `{}` does not compile (its errors follow)",
                            path.display()
                        ),
                        Some(format!(
                            "try `switchyard dialplan check --config {} {}`",
                            self.doc.file.display(),
                            path.display()
                        )),
                    );
                }
            }
        }
        dirs.into_iter().collect()
    }

    /// Checks that each music set explicitly names a prompt or a file.
    fn check_music(&mut self, prompt_dirs: &[PathBuf]) {
        for (music, span) in std::mem::take(&mut self.music) {
            if music.contains('/') || music.contains('\\') || music.ends_with(".wav") {
                let path = self.base.join(&music);
                if !path.is_file() {
                    self.doc.error(
                        span,
                        format!("music file `{}` does not exist", path.display()),
                        Some(
                            "relative paths are relative to the configuration file's directory"
                                .into(),
                        ),
                    );
                }
                continue;
            }
            if prompt_dirs.is_empty() {
                continue; // no dialplan compiled: nothing to look in
            }
            if music_candidates(prompt_dirs, &music).any(|p| p.is_file()) {
                continue;
            }
            let looked: Vec<String> = music_candidates(prompt_dirs, &music)
                .map(|p| p.display().to_string())
                .collect();
            self.doc.error(
                span,
                format!("no prompt `{music}` for the music on hold"),
                Some(format!(
                    "looked for {}; or give a WAV file's path",
                    looked.join(", ")
                )),
            );
        }
    }
}

/// Where a music prompt name may be: in each language's directory, and in `music/` beside
/// them.
pub(super) fn music_candidates<'a>(
    dirs: &'a [PathBuf],
    name: &'a str,
) -> impl Iterator<Item = PathBuf> + 'a {
    let file = format!("{name}.wav");
    let roots: BTreeSet<PathBuf> = dirs
        .iter()
        .filter_map(|d| d.parent().map(Path::to_path_buf))
        .collect();
    let in_lang: Vec<PathBuf> = dirs.iter().map(|d| d.join(&file)).collect();
    let in_music: Vec<PathBuf> = roots
        .into_iter()
        .map(|r| r.join("music").join(&file))
        .collect();
    in_lang.into_iter().chain(in_music)
}

fn default_sip_listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060),
    ]
}

/// `+` then 2 to 15 digits.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (2..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()))
}

/// `sip:IP`, `sip:IP:PORT`, `sip:[IPv6]:PORT` (parameters after `;` ignored) → address.
fn gateway_address(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("sip:")?;
    let rest = rest.split(';').next()?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    if let Ok(a) = rest.parse::<SocketAddr>() {
        return Some(a);
    }
    let host = rest.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 5060))
}
