//! `switchyard config check|demo`: the shipped example passes; broken files fail with
//! every error at its file, line and column, a caret under it and a hint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository exists")
}

fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the switchyard binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switchyard-config-cli-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn dialplan() -> String {
    repo()
        .join("dialplans/default.dialplan")
        .display()
        .to_string()
}

/// The shipped example, with its dialplan path made absolute so it works from anywhere.
fn example() -> String {
    std::fs::read_to_string(repo().join("docs/switchyard.example.toml"))
        .expect("the example exists")
        .replace(
            "\"../dialplans/default.dialplan\"",
            &format!("\"{}\"", dialplan()),
        )
}

/// An inbound-only trunk, appended to the example.
fn extra_trunk(name: &str, from: &str) -> String {
    format!(
        "\n[[trunk]]\nname = \"{name}\"\n[trunk.inbound]\nfrom = [\"{from}\"]\ndialplan = \"{}\"\n",
        dialplan()
    )
}

/// Writes `config`, runs `config check` on it, and asserts one error: at the line holding
/// `line_has` (its first occurrence), at the column where `at` starts in it, with
/// `message`, the line itself, a caret under the column and a hint containing `hint`.
fn assert_error(config: &str, line_has: &str, at: &str, message: &str, hint: &str) {
    let dir = temp_dir("broken");
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, config).expect("write config");
    let (index, line) = config
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(line_has))
        .unwrap_or_else(|| panic!("no line has `{line_has}`"));
    let col = line
        .find(at)
        .unwrap_or_else(|| panic!("`{at}` not in `{line}`"))
        + 1;
    let num = index + 1;
    assert_located(&file, &file, num, col, line, message, hint);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `config check CONFIG` and asserts an error in `file` at `num:col`.
fn assert_located(
    config: &Path,
    file: &Path,
    num: usize,
    col: usize,
    line: &str,
    message: &str,
    hint: &str,
) {
    let out = switchyard(&["config", "check", config.to_str().expect("utf-8 path")]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(65), "{t}");
    let head = format!("{}:{num}:{col}: error: {message}", file.display());
    let at = t
        .find(&head)
        .unwrap_or_else(|| panic!("expected `{head}` in:\n{t}"));
    let shown: Vec<&str> = t[at..].lines().take(5).collect();
    let pad = " ".repeat(num.to_string().len());
    assert_eq!(shown[1], format!("{pad} |"), "{t}");
    assert_eq!(shown[2], format!("{num} | {line}"), "{t}");
    assert!(
        shown[3].starts_with(&format!("{pad} | {}^", " ".repeat(col - 1))),
        "caret under column {col}:\n{t}"
    );
    assert!(
        shown[4].starts_with(&format!("{pad} = hint: ")) && shown[4].contains(hint),
        "hint `{hint}`:\n{t}"
    );
}

fn broken(find: &str, replace: &str) -> String {
    let ex = example();
    assert!(ex.contains(find), "the example has `{find}`");
    ex.replacen(find, replace, 1)
}

#[test]
fn the_example_passes() {
    let out = switchyard(&["config", "check", "docs/switchyard.example.toml"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(
        t.trim(),
        "ok: docs/switchyard.example.toml (1 trunks, 3 devices, 3 agents, 3 queues)"
    );
}

#[test]
fn the_printed_demo_passes() {
    let out = switchyard(&["config", "demo"]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = temp_dir("demo");
    let file = dir.join("demo.toml");
    std::fs::write(&file, &out.stdout).expect("write demo");
    let out = switchyard(&["config", "check", file.to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("(1 trunks, 3 devices, 3 agents, 3 queues)"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreadable_file_exits_66() {
    let out = switchyard(&["config", "check", "no/such/switchyard.toml"]);
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));
    assert!(text(&out).contains("cannot read"));
}

#[test]
fn unknown_key_with_a_suggestion() {
    let c = broken(
        "strategy = \"longest-idle\"",
        "strategyy = \"longest-idle\"",
    );
    let msg = "unknown key `strategyy` in [[queue]]";
    assert_error(
        &c,
        "strategyy",
        "strategyy",
        msg,
        "did you mean `strategy`?",
    );
}

#[test]
fn bad_duration() {
    let c = broken("inactivity = \"60s\"", "inactivity = \"60 s\"");
    let msg = "`60 s` is not a duration";
    assert_error(&c, "inactivity =", "\"60 s\"", msg, "a number and a unit");
}

#[test]
fn bad_cidr() {
    let c = broken("from = [\"127.0.0.2/32\"]", "from = [\"127.0.0.2/33\"]");
    let msg = "`127.0.0.2/33` is not a network (CIDR)";
    assert_error(&c, "from =", "\"127.0.0.2/33\"", msg, "from 0 to 32");
}

#[test]
fn overlapping_cidrs_of_two_trunks() {
    let c = example() + &extra_trunk("backup", "127.0.0.0/24");
    let first = c
        .lines()
        .position(|l| l.contains("127.0.0.2/32"))
        .expect("carrier's network")
        + 1;
    let msg = format!("127.0.0.0/24 overlaps 127.0.0.2/32 of trunk `carrier` (line {first})");
    assert_error(
        &c,
        "127.0.0.0/24",
        "\"127.0.0.0/24\"",
        &msg,
        "make the networks disjoint",
    );
}

#[test]
fn unknown_skill_in_a_queue() {
    let c = broken(
        "skills = { sales = 1 }",
        "skills = { sales = 1, spanish = 2 }",
    );
    let msg = "queue `sales` has unknown skill `spanish`";
    assert_error(
        &c,
        "spanish",
        "spanish",
        msg,
        "add `spanish` to the top-level `skills` list",
    );
}

#[test]
fn skill_level_11() {
    let c = broken("{ sales = 3, billing = 6", "{ sales = 11, billing = 6");
    let msg = "the level of `sales` must be a whole number from 1 to 10";
    assert_error(&c, "sales = 11", "11", msg, "`sales = 5`");
}

#[test]
fn login_on_an_unknown_device() {
    let c = broken("login_on = \"1002\"", "login_on = \"2002\"");
    let msg = "no device `2002` (`[[device]] user`)";
    assert_error(
        &c,
        "login_on = \"2002\"",
        "\"2002\"",
        msg,
        "did you mean `1002`?",
    );
}

#[test]
fn overflow_to_an_unknown_queue() {
    let c = broken("on_full = \"queue:support\"", "on_full = \"queue:returns\"");
    let msg = "no queue `returns`";
    assert_error(
        &c,
        "queue:returns",
        "\"queue:returns\"",
        msg,
        "the queues are sales, support, billing",
    );
}

#[test]
fn number_overflow_through_a_trunk_without_outbound() {
    let c = broken("@carrier\"", "@local\"") + &extra_trunk("local", "127.0.0.3/32");
    let msg = "trunk `local` has no `[trunk.outbound]` to call the number through";
    assert_error(&c, "@local", "\"number:", msg, "add `[trunk.outbound]`");
}

#[test]
fn bad_port_range() {
    let c = broken("port_max = 29999", "port_max = 19999");
    let msg = "`port_max` (19999) must be above `port_min` (20000)";
    assert_error(&c, "port_max", "19999", msg, "inclusive");
}

#[test]
fn odd_port_min() {
    let c = broken("port_min = 20000", "port_min = 20001");
    assert_error(
        &c,
        "port_min",
        "20001",
        "`port_min` must be even, not 20001",
        "`port_min = 20002`",
    );
}

#[test]
fn duplicate_agent_id() {
    let c = broken("id = \"1002\"", "id = \"1001\"");
    let first = c
        .lines()
        .position(|l| l.starts_with("id = \"1001\""))
        .unwrap()
        + 1;
    let second = c
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("id = \"1001\""))
        .nth(1)
        .unwrap();
    let dir = temp_dir("dup");
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, &c).unwrap();
    assert_located(
        &file,
        &file,
        second.0 + 1,
        6,
        second.1,
        "agent `1001` is defined twice",
        &format!("the first is on line {first}"),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dialplan_that_does_not_compile_points_into_the_dialplan() {
    let dir = temp_dir("dialplan");
    let source = std::fs::read_to_string(dialplan())
        .unwrap()
        .replace(
            "prompts \"../prompts\"",
            &format!("prompts \"{}\"", repo().join("prompts").display()),
        )
        .replacen("queue billing skills", "queue billings skills", 1);
    let dp = dir.join("broken.dialplan");
    std::fs::write(&dp, &source).unwrap();
    let (index, line) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("queue billings"))
        .unwrap();
    let col = line.find("billings").unwrap() + 1;
    let config = example().replace(&dialplan(), "broken.dialplan");
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, &config).unwrap();
    assert_located(
        &file,
        &dp,
        index + 1,
        col,
        line,
        "the configuration has no queue `billings`",
        "did you mean `billing`?",
    );
    // The trunk's `dialplan` line is named too.
    let t = text(&switchyard(&["config", "check", file.to_str().unwrap()]));
    assert!(t.contains("does not compile (its errors follow)"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_error_is_reported() {
    let c = broken("inactivity = \"60s\"", "inactivity = \"soon\"")
        .replacen("did = \"request-uri\"", "did = \"from\"", 1)
        .replacen("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1\"", 1)
        .replacen("target = 0.8", "target = 80", 1);
    let dir = temp_dir("many");
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, &c).unwrap();
    let out = switchyard(&["config", "check", file.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(65), "{t}");
    for m in [
        "`soon` is not a duration",
        "`from` is not a DID source",
        "`127.0.0.1` is not an address with a port",
        "`target` must be a fraction above 0 and at most 1",
    ] {
        assert!(t.contains(m), "`{m}` in:\n{t}");
    }
    assert!(t.contains("hint: add a port: `127.0.0.1:5060`"), "{t}");
    assert!(t.trim_end().ends_with("4 errors"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}
