//! Writing a [`Config`] back as TOML in the file's syntax (`switchyard config demo`).

use std::fmt::Write as _;
use std::path::Path;

use super::doc::format_duration;
use super::read::STRATEGIES;
use super::*;

/// Quotes a string as a TOML basic string.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn d(x: Duration) -> String {
    q(&format_duration(x))
}

fn off(x: Option<Duration>) -> String {
    d(x.unwrap_or(Duration::ZERO))
}

/// A path as written in the file: absolute when it exists (so the printed file works
/// from any directory), as given otherwise.
fn path(p: &Path) -> String {
    let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    q(&p.display().to_string())
}

fn levels(skills: &[(String, u8)]) -> String {
    let inner: Vec<String> = skills.iter().map(|(s, l)| format!("{s} = {l}")).collect();
    format!("{{ {} }}", inner.join(", "))
}

fn overflow(o: &Overflow) -> String {
    q(&match o {
        Overflow::Dialplan => "dialplan".into(),
        Overflow::Voicemail(m) => format!("voicemail:{m}"),
        Overflow::Queue(n) => format!("queue:{n}"),
        Overflow::Number { number, trunk } => format!("number:{number}@{trunk}"),
    })
}

/// The configuration as TOML that [`super::load`] reads back into the same values.
pub(crate) fn to_toml(c: &Config) -> String {
    let mut o = String::new();
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let _ = writeln!(
        o,
        "skills = {}",
        list(c.skills.iter().map(|s| q(s)).collect())
    );
    let _ = writeln!(o, "\n[sip]");
    let _ = writeln!(
        o,
        "listen = {}",
        list(c.sip.listen.iter().map(|a| q(&a.to_string())).collect())
    );
    if let Some(dom) = &c.sip.domain {
        let _ = writeln!(o, "domain = {}", q(dom));
    }
    let _ = writeln!(o, "min_expires = {}", c.sip.min_expires);
    let _ = writeln!(o, "max_contacts = {}", c.sip.max_contacts);
    let _ = writeln!(o, "qualify_interval = {}", off(c.sip.qualify_interval));
    let _ = writeln!(o, "\n[rtp]");
    let _ = writeln!(o, "address = {}", q(&c.rtp.address.to_string()));
    let _ = writeln!(o, "port_min = {}", c.rtp.port_min);
    let _ = writeln!(o, "port_max = {}", c.rtp.port_max);
    let _ = writeln!(o, "inactivity = {}", d(c.rtp.inactivity));
    let _ = writeln!(o, "xdp = {}", c.rtp.xdp);
    let _ = writeln!(o, "\n[http]");
    let _ = writeln!(o, "listen = {}", q(&c.http.listen.to_string()));
    let _ = writeln!(o, "api_key = {}", q(&c.http.api_key));
    let _ = writeln!(o, "\n[storage]");
    let _ = writeln!(o, "path = {}", q(&c.storage.path.display().to_string()));
    let _ = writeln!(o, "\n[calls]");
    let _ = writeln!(o, "max_duration = {}", d(c.calls.max_duration));
    let _ = writeln!(
        o,
        "session_expires = {}",
        d(Duration::from_secs(c.calls.session_expires.into()))
    );
    let _ = writeln!(o, "shutdown_grace = {}", d(c.calls.shutdown_grace));
    let _ = writeln!(o, "early_media = {}", c.calls.early_media);
    let _ = writeln!(o, "record = {}", c.calls.record);
    let _ = writeln!(o, "ring_timeout = {}", d(c.calls.ring_timeout));
    let _ = writeln!(o, "\n[voicemail]");
    let _ = writeln!(o, "max_length = {}", d(c.voicemail.max_length));
    let _ = writeln!(o, "greeting = {}", q(&c.voicemail.greeting));
    let f = &c.feature_codes;
    let _ = writeln!(o, "\n[feature_codes]");
    let _ = writeln!(o, "login = {}", q(&f.login));
    let _ = writeln!(o, "logout = {}", q(&f.logout));
    let _ = writeln!(o, "pause = {}", q(&f.pause));
    let _ = writeln!(o, "unpause = {}", q(&f.unpause));
    for t in &c.trunks {
        let _ = writeln!(o, "\n[[trunk]]\nname = {}", q(&t.name));
        if let Some(i) = &t.inbound {
            let _ = writeln!(o, "[trunk.inbound]");
            let _ = writeln!(
                o,
                "from = {}",
                list(i.from.iter().map(|c| q(&c.to_string())).collect())
            );
            let did = match i.did_from {
                DidSource::RequestUri => "request-uri",
                DidSource::To => "to",
                DidSource::Diversion => "diversion",
            };
            let _ = writeln!(o, "did = {}", q(did));
            if let Some(cc) = &i.country_code {
                let _ = writeln!(o, "country_code = {}", q(cc));
            }
            if let Some(np) = &i.national_prefix {
                let _ = writeln!(o, "national_prefix = {}", q(np));
            }
            let _ = writeln!(o, "dialplan = {}", path(&i.dialplan));
        }
        if let Some(out) = &t.outbound {
            let _ = writeln!(o, "[trunk.outbound]");
            let gws: Vec<String> = out
                .gateways
                .iter()
                .map(|g| format!("{{ uri = {}, priority = {} }}", q(&g.uri), g.priority))
                .collect();
            let _ = writeln!(o, "gateways = {}", list(gws));
            if let Some(u) = &out.username {
                let _ = writeln!(o, "username = {}", q(u));
            }
            if let Some(p) = &out.password {
                let _ = writeln!(o, "password = {}", q(p));
            }
            let _ = writeln!(o, "register = {}", out.register);
            let _ = writeln!(o, "options_interval = {}", off(out.options_interval));
            let _ = writeln!(o, "failover_after = {}", d(out.failover_after));
            if let Some(cid) = &out.caller_id {
                let _ = writeln!(o, "caller_id = {}", q(cid));
            }
        }
    }
    for dev in &c.devices {
        let _ = writeln!(
            o,
            "\n[[device]]\nuser = {}\npassword = {}",
            q(&dev.user),
            q(&dev.password)
        );
    }
    for a in &c.agents {
        let _ = writeln!(
            o,
            "\n[[agent]]\nid = {}\nname = {}\npin = {}",
            q(&a.id),
            q(&a.name),
            q(&a.pin)
        );
        let _ = writeln!(o, "skills = {}", levels(&a.skills));
        if let Some(dev) = &a.login_on {
            let _ = writeln!(o, "login_on = {}", q(dev));
        }
    }
    for qu in &c.queues {
        let _ = writeln!(o, "\n[[queue]]\nname = {}", q(&qu.name));
        let _ = writeln!(o, "skills = {}", levels(&qu.skills));
        let strategy = STRATEGIES
            .iter()
            .find(|(_, s)| *s == qu.strategy)
            .map_or("longest-idle", |(n, _)| n);
        let _ = writeln!(o, "strategy = {}", q(strategy));
        let _ = writeln!(o, "ring_timeout = {}", d(qu.ring_timeout));
        let _ = writeln!(o, "wrap_up = {}", d(qu.wrap_up));
        let _ = writeln!(o, "max_wait = {}", off(qu.max_wait));
        if let Some(n) = qu.max_length {
            let _ = writeln!(o, "max_length = {n}");
        }
        let _ = writeln!(o, "announce_every = {}", off(qu.announce_every));
        let _ = writeln!(
            o,
            "service_level = {{ threshold = {}, target = {} }}",
            d(qu.sl_threshold),
            qu.sl_target
        );
        let _ = writeln!(o, "on_max_wait = {}", overflow(&qu.on_max_wait));
        let _ = writeln!(o, "on_full = {}", overflow(&qu.on_full));
        if let Some(x) = &qu.on_no_agents {
            let _ = writeln!(o, "on_no_agents = {}", overflow(x));
        }
        if qu.music != super::read::DEFAULT_MUSIC {
            let _ = writeln!(o, "music = {}", q(&qu.music));
        }
    }
    o
}
