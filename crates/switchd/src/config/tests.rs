//! Unit tests of loading, the demo and networks; `tests/config_cli.rs` runs
//! `switchyard config check` on broken files.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Cidr {
    doc::parse_cidr(s).unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn cidr_contains() {
    let net = cidr("192.0.2.0/24");
    assert!(net.contains(ip("192.0.2.0")));
    assert!(net.contains(ip("192.0.2.255")));
    assert!(!net.contains(ip("192.0.3.0")));
    assert!(
        !net.contains(ip("::ffff:192.0.2.1")),
        "no IPv6 in an IPv4 net"
    );
    let host = cidr("127.0.0.2/32");
    assert!(host.contains(ip("127.0.0.2")));
    assert!(!host.contains(ip("127.0.0.1")));
    let any = cidr("0.0.0.0/0");
    assert!(any.contains(ip("203.0.113.9")));
    assert!(!any.contains(ip("::1")));
    let v6 = cidr("2001:db8::/32");
    assert!(v6.contains(ip("2001:db8:ffff::1")));
    assert!(!v6.contains(ip("2001:db9::1")));
    assert!(!v6.contains(ip("192.0.2.1")));
    assert!(cidr("::/0").contains(ip("::1")));
    assert!(cidr("::1/128").contains(ip("::1")));
    assert!(!cidr("::1/128").contains(ip("::2")));
}

#[test]
fn cidr_overlaps() {
    assert!(cidr("10.0.0.0/8").overlaps(&cidr("10.1.2.3/32")));
    assert!(cidr("10.1.2.3/32").overlaps(&cidr("10.0.0.0/8")));
    assert!(!cidr("10.0.0.0/8").overlaps(&cidr("11.0.0.0/8")));
    assert!(!cidr("10.0.0.0/8").overlaps(&cidr("::/0")));
    assert_eq!(cidr("127.0.0.2").to_string(), "127.0.0.2/32");
}

#[test]
fn the_example_file_loads_with_its_values() {
    let path = repo().join("docs/switchyard.example.toml");
    let c = load(&path).unwrap_or_else(|e| panic!("{}", render_errors(&e)));
    assert_eq!(c.sip.listen.len(), 2);
    assert_eq!(c.sip.qualify_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.calls.session_expires, 1800);
    assert_eq!(c.http.api_key, "change-me");
    let t = &c.trunks[0];
    let inbound = t.inbound.as_ref().unwrap();
    assert!(inbound.from[0].contains(ip("127.0.0.2")));
    assert_eq!(inbound.did_from, DidSource::RequestUri);
    assert!(inbound.dialplan.ends_with("dialplans/default.dialplan"));
    let out = t.outbound.as_ref().unwrap();
    assert_eq!(out.gateways[1].address, "127.0.0.1:5072".parse().unwrap());
    assert_eq!(out.failover_after, Duration::from_secs(3));
    let sales = &c.queues[0];
    assert_eq!(sales.strategy, switchyard_acd::Strategy::LongestIdle);
    assert_eq!(sales.on_full, Overflow::Queue("support".into()));
    assert_eq!(
        sales.on_no_agents,
        Some(Overflow::Voicemail("general".into()))
    );
    assert_eq!(
        c.queues[2].on_max_wait,
        Overflow::Number {
            number: "+861058009999".into(),
            trunk: "carrier".into()
        }
    );
    assert_eq!(c.agents[2].login_on, None);
    // Skills come sorted by name.
    assert_eq!(c.agents[0].skills[0], ("english".into(), 8));
    assert!(c.agents[0].skills.contains(&("sales".into(), 5)));
}

#[test]
fn defaults_fill_a_minimal_file() {
    let c = load_str(Path::new("min.toml"), "[http]\napi_key = \"k\"\n").unwrap();
    assert_eq!(c.sip.listen.len(), 2);
    assert_eq!(c.sip.min_expires, 60);
    assert_eq!(c.rtp.port_min, 20_000);
    assert_eq!(c.http.listen.port(), 8080);
    assert_eq!(c.calls.max_duration, Duration::from_secs(4 * 3600));
    assert_eq!(c.calls.ring_timeout, Duration::from_secs(30));
    assert_eq!(c.feature_codes.login, "*45");
    assert!(c.trunks.is_empty() && c.queues.is_empty());
    // No API key: refused.
    let e = load_str(Path::new("min.toml"), "").unwrap_err();
    assert!(e[0].message.contains("api_key"), "{e:?}");
}

#[test]
fn every_error_is_reported_with_its_position() {
    let text = "[http]\napi_key = \"k\"\n[sip]\nmin_expires = \"60\"\nqualify = \"30s\"\n[rtp]\ninactivity = 60\n";
    let e = load_str(Path::new("x.toml"), text).unwrap_err();
    let at: Vec<(usize, usize)> = e.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(at, [(4, 15), (5, 1), (7, 14)], "{}", render_errors(&e));
    assert!(e[1].hint.as_deref().unwrap().contains("qualify_interval"));
    assert!(e[2].hint.as_deref().unwrap().contains("\"60s\""));
    let shown = e[1].render();
    assert_eq!(
        shown,
        "x.toml:5:1: error: unknown key `qualify` in [sip]\n  |\n5 | qualify = \"30s\"\n  | ^^^^^^^\n  = hint: did you mean `qualify_interval`?"
    );
}

#[test]
fn the_ring_timeout_is_read_and_held_between_a_second_and_three_minutes() {
    let with = |v: &str| format!("[http]\napi_key = \"k\"\n[calls]\nring_timeout = {v}\n");
    let c = load_str(Path::new("x.toml"), &with("\"5s\"")).unwrap();
    assert_eq!(c.calls.ring_timeout, Duration::from_secs(5));
    let c = load_str(Path::new("x.toml"), &with("\"3m\"")).unwrap();
    assert_eq!(c.calls.ring_timeout, Duration::from_secs(180));
    for bad in ["\"500ms\"", "\"0s\"", "\"181s\"", "\"1h\""] {
        let e = load_str(Path::new("x.toml"), &with(bad)).unwrap_err();
        assert_eq!(e.len(), 1, "{}", render_errors(&e));
        assert_eq!((e[0].line, e[0].column), (4, 16), "{}", render_errors(&e));
        assert!(e[0].message.contains("ring_timeout"), "{}", e[0].message);
        assert!(e[0].hint.as_deref().unwrap().contains("\"30s\""));
    }
    let e = load_str(Path::new("x.toml"), &with("30")).unwrap_err();
    assert!(
        e[0].hint
            .as_deref()
            .unwrap()
            .contains("ring_timeout = \"30s\"")
    );
}

#[test]
fn a_syntax_error_points_at_the_line() {
    let e = load_str(Path::new("x.toml"), "[http]\napi_key = \"k\n").unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, 2);
    assert!(e[0].message.starts_with("invalid TOML"), "{}", e[0].message);
}

/// Everything the shipped dialplan's `queue` steps ask for, per language.
const DEMO_NEEDS: &[(&str, &str, u8, u8)] = &[
    ("sales", "sales", 3, 5),
    ("support", "support", 2, 5),
    ("billing", "billing", 1, 3),
];

fn level(a: &Agent, skill: &str) -> u8 {
    a.skills
        .iter()
        .find(|(s, _)| s == skill)
        .map_or(0, |(_, l)| *l)
}

#[test]
fn demo_agents_serve_every_queue_in_both_languages() {
    let c = demo(&|| "pw".into(), "key".into());
    for (queue, skill, min, lang_min) in DEMO_NEEDS {
        assert!(c.queues.iter().any(|q| q.name == *queue));
        let able = |lang: &str| {
            c.agents
                .iter()
                .filter(|a| level(a, skill) >= *min && level(a, lang) >= *lang_min)
                .count()
        };
        assert!(able("english") >= 2, "{queue}: English");
        assert!(able("mandarin") >= 1, "{queue}: Mandarin");
    }
    let mixes: std::collections::BTreeSet<_> = c.agents.iter().map(|a| a.skills.clone()).collect();
    assert_eq!(mixes.len(), 3, "each agent has its own mix");
    for a in &c.agents {
        assert_eq!(a.login_on.as_deref(), Some(a.id.as_str()));
    }
    for q in &c.queues {
        assert_eq!(q.ring_timeout, Duration::from_secs(15));
        assert_eq!(q.wrap_up, Duration::from_secs(5));
        assert_eq!(q.announce_every, Some(Duration::from_secs(45)));
        assert_eq!(q.music, "music_on_hold");
    }
    let inbound = c.trunks[0].inbound.as_ref().unwrap();
    assert!(inbound.from[0].contains(ip("127.0.0.2")));
    assert!(
        !inbound.from[0].contains(ip("127.0.0.1")),
        "phones are not the trunk"
    );
    assert!(inbound.dialplan.is_file());
    assert_eq!(c.http.api_key, "key");
}

#[test]
fn demo_passwords_come_from_the_caller() {
    let n = std::cell::Cell::new(0);
    let c = demo(
        &|| {
            n.set(n.get() + 1);
            format!("pw{}", n.get())
        },
        "k".into(),
    );
    let pws: Vec<&str> = c.devices.iter().map(|d| d.password.as_str()).collect();
    assert_eq!(pws, ["pw1", "pw2", "pw3"]);
}

#[test]
fn the_printed_demo_loads_back_and_its_dialplan_compiles() {
    let c = demo(&|| "pw".into(), "key".into());
    let text = to_toml(&c);
    let back = load_str(Path::new("demo.toml"), &text)
        .unwrap_or_else(|e| panic!("{}\n\n{text}", render_errors(&e)));
    assert_eq!(back.skills, c.skills);
    assert_eq!(back.queues.len(), 3);
    assert_eq!(back.queues[1].strategy, c.queues[1].strategy);
    assert_eq!(back.queues[0].announce_every, c.queues[0].announce_every);
    let sorted = |mut v: Vec<(String, u8)>| {
        v.sort();
        v
    };
    assert_eq!(back.agents[1].skills, sorted(c.agents[1].skills.clone()));
    assert_eq!(
        back.trunks[0].inbound.as_ref().unwrap().from,
        c.trunks[0].inbound.as_ref().unwrap().from
    );
    assert_eq!(back.calls.record, c.calls.record);
    assert_eq!(back.rtp.port_max, c.rtp.port_max);
}

#[test]
fn af_xdp_is_off_unless_asked_and_needs_an_ipv4_address() {
    let with = |rtp: &str| format!("[http]\napi_key = \"k\"\n[rtp]\n{rtp}\n");
    let c = load_str(Path::new("x.toml"), &with("")).unwrap();
    assert!(!c.rtp.xdp);
    let c = load_str(Path::new("x.toml"), &with("xdp = true")).unwrap();
    assert!(c.rtp.xdp);
    let e = load_str(Path::new("x.toml"), &with("address = \"::1\"\nxdp = true")).unwrap_err();
    assert_eq!(e.len(), 1, "{}", render_errors(&e));
    assert_eq!((e[0].line, e[0].column), (5, 7), "{}", render_errors(&e));
    assert!(e[0].message.contains("IPv4"), "{}", e[0].message);
    assert!(e[0].hint.as_deref().unwrap().contains("xdp = false"));
    let e = load_str(Path::new("x.toml"), &with("xdp = \"yes\"")).unwrap_err();
    assert_eq!((e[0].line, e[0].column), (4, 7), "{}", render_errors(&e));
}

#[test]
fn the_reference_shows_the_example_as_it_is() {
    let example = std::fs::read_to_string(repo().join("docs/switchyard.example.toml")).unwrap();
    let reference = std::fs::read_to_string(repo().join("docs/config.md")).unwrap();
    assert!(
        reference.contains(&format!("```toml\n{example}```")),
        "docs/config.md's example differs from docs/switchyard.example.toml"
    );
}

#[test]
fn a_list_section_written_as_a_table_is_refused() {
    let e = load_str(
        Path::new("x.toml"),
        "[http]\napi_key = \"k\"\n[queue]\nname = \"sales\"\n",
    )
    .unwrap_err();
    assert_eq!((e[0].line, e[0].column), (3, 1), "{}", render_errors(&e));
    assert!(e[0].hint.as_deref().unwrap().contains("[[queue]]"));
}

#[test]
fn skills_outside_the_list_are_refused_only_when_there_is_a_list() {
    let body =
        "[http]\napi_key = \"k\"\n[[agent]]\nid = \"1\"\npin = \"1\"\nskills = { sales = 2 }\n";
    let c = load_str(Path::new("x.toml"), body).unwrap();
    assert_eq!(c.skills, ["sales"]);
    let e = load_str(
        Path::new("x.toml"),
        &format!("skills = [\"support\"]\n{body}"),
    )
    .unwrap_err();
    assert_eq!((e[0].line, e[0].column), (7, 12), "{}", render_errors(&e));
}

/// A file with one trunk on the shipped dialplan, agents 1001-1003 and the three queues,
/// plus `extra`.
fn small(extra: &str, queue_extra: &str) -> String {
    let dp = repo().join("dialplans/default.dialplan");
    let mut s = format!(
        "skills = [\"sales\", \"support\", \"billing\", \"english\", \"mandarin\"]\n[http]\napi_key = \"k\"\n{extra}\n[[trunk]]\nname = \"carrier\"\n[trunk.inbound]\nfrom = [\"127.0.0.2\"]\ndialplan = \"{}\"\n",
        dp.display()
    );
    for id in ["1001", "1002", "1003"] {
        s += &format!("[[device]]\nuser = \"{id}\"\npassword = \"p\"\n");
        s += &format!("[[agent]]\nid = \"{id}\"\npin = \"1\"\nlogin_on = \"{id}\"\n");
    }
    for q in ["sales", "support", "billing"] {
        s += &format!("[[queue]]\nname = \"{q}\"\n{queue_extra}\n");
    }
    s
}

fn errors_of(text: &str) -> Vec<ConfigError> {
    load_str(Path::new("x.toml"), text).expect_err("refused")
}

#[test]
fn the_rtp_range_must_hold_two_legs_per_agent() {
    // 3 agents need 6 even ports: 20000..=20011 holds 6, 20000..=20009 only 5.
    let ok = small("[rtp]\nport_min = 20000\nport_max = 20011", "");
    load_str(Path::new("x.toml"), &ok).unwrap_or_else(|e| panic!("{}", render_errors(&e)));
    let e = errors_of(&small("[rtp]\nport_min = 20000\nport_max = 20009", ""));
    assert_eq!(e.len(), 1, "{}", render_errors(&e));
    assert_eq!(
        e[0].message,
        "the RTP range 20000-20009 holds 5 media legs; 3 agents on calls need 6"
    );
    assert_eq!(e[0].source_line, "port_max = 20009");
}

#[test]
fn explicit_music_must_resolve() {
    // A prompt of the dialplan's prompt set resolves; an unknown name does not.
    let ok = small("", "music = \"please_hold\"");
    load_str(Path::new("x.toml"), &ok).unwrap_or_else(|e| panic!("{}", render_errors(&e)));
    let e = errors_of(&small("", "music = \"no_such_tune\""));
    assert_eq!(e.len(), 3, "one per queue: {}", render_errors(&e));
    assert_eq!(
        e[0].message,
        "no prompt `no_such_tune` for the music on hold"
    );
    assert!(
        e[0].hint
            .as_deref()
            .unwrap()
            .contains("music/no_such_tune.wav")
    );
    let e = errors_of(&small("", "music = \"moh/missing.wav\""));
    assert!(e[0].message.starts_with("music file"), "{}", e[0].message);
}

#[test]
fn one_agent_per_device_at_start() {
    let text = small("", "").replacen("login_on = \"1002\"", "login_on = \"1001\"", 1);
    let e = errors_of(&text);
    assert_eq!(e.len(), 1, "{}", render_errors(&e));
    assert_eq!(
        e[0].message,
        "device `1001` already has an agent logged in at start"
    );
}

#[test]
fn a_section_with_a_bad_name_is_still_checked() {
    let e = errors_of(
        "[http]\napi_key = \"k\"\n[[agent]]\nid = \"x1\"\npin = \"1\"\nskills = { a = 11 }\n[[queue]]\nstrategy = \"ringall\"\n",
    );
    let at: Vec<(usize, usize)> = e.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        at,
        [(4, 6), (6, 16), (7, 1), (8, 12)],
        "{}",
        render_errors(&e)
    );
    assert_eq!(e[3].hint.as_deref(), Some("did you mean \"ring-all\"?"));
}

#[test]
fn an_unclosed_list_is_one_error_with_a_hint() {
    let e = errors_of(
        "[sip]\nlisten = [\"127.0.0.1:5060\"\nmin_expires = 5\n[rtp]\nport_min = 20000\n",
    );
    assert_eq!(e.len(), 1, "{}", render_errors(&e));
    assert_eq!(e[0].line, 3);
    assert!(e[0].hint.as_deref().unwrap().contains("closing `]`"));
}

#[test]
fn crlf_files_load_and_truncated_files_are_errors_not_panics() {
    let path = repo().join("docs/switchyard.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let crlf = text.replace('\n', "\r\n");
    load_str(&path, &crlf).unwrap_or_else(|e| panic!("{}", render_errors(&e)));
    // Every 53rd prefix (each one a different place to stop), and a broken line ending.
    for cut in (0..text.len())
        .step_by(53)
        .filter(|c| text.is_char_boundary(*c))
    {
        if let Err(errors) = load_str(&path, &text[..cut]) {
            for e in &errors {
                assert!(e.line >= 1 && e.column >= 1, "{e:?}");
                let _ = e.render();
            }
        }
    }
    let e = load_str(&path, "[http]\r\napi_key = 5\r\n").unwrap_err();
    assert_eq!(e[0].source_line, "api_key = 5");
}
