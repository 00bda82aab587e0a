//! `switchyard dialplan check|simulate|test` on the shipped dialplans and on a broken one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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

#[test]
fn check_passes_on_every_shipped_file() {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("dialplans"))
        .expect("dialplans/ exists")
        .map(|e| {
            format!(
                "dialplans/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    let mut args = vec!["dialplan", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = switchyard(&args);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("ok: dialplans/default.dialplan"), "{t}");
    assert!(t.contains("needs queues: billing, sales, support"), "{t}");
}

#[test]
fn check_against_a_configuration() {
    let dir = std::env::temp_dir().join(format!("switchyard-dp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "skills = [\"english\", \"mandarin\"]\n[[queue]]\nname = \"sales\"\nskills = { sales = 1 }\n[[queue]]\nname = \"support\"\nskills = { support = 1 }\n[[queue]]\nname = \"billing\"\nskills = { billing = 1 }\n",
    )
    .expect("write config");
    let out = switchyard(&[
        "dialplan",
        "check",
        "--config",
        good.to_str().unwrap(),
        "dialplans/default.dialplan",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[queue]]\nname = \"sales\"\nskills = { sales = 1, english = 1, mandarin = 1 }\n",
    )
    .expect("write config");
    let out = switchyard(&[
        "dialplan",
        "check",
        "--config",
        bad.to_str().unwrap(),
        "dialplans/default.dialplan",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("the configuration has no queue `support`"),
        "{t}"
    );
    assert!(t.contains("dialplans/default.dialplan:"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_reaches_the_sales_queue() {
    let out = switchyard(&[
        "dialplan",
        "simulate",
        "dialplans/default.dialplan",
        "--to",
        "+861058000000",
        "--from",
        "+8613800138000",
        "--digits",
        "1,1",
        "--at",
        "2026-11-23T10:00+08:00",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("> play en/main_menu"), "{t}");
    assert!(
        t.contains("> queue sales skills sales>=3, english>=5"),
        "{t}"
    );
    assert!(t.contains("< queue answered"), "{t}");
}

#[test]
fn test_runs_the_shipped_expected_traces() {
    let out = switchyard(&["dialplan", "test", "dialplans/default.tests"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(" 0 failed"), "{t}");
}

#[test]
fn a_broken_dialplan_and_a_wrong_trace_fail_with_exit_code_1() {
    let dir = std::env::temp_dir().join(format!("switchyard-dp-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dp = dir.join("x.dialplan");
    std::fs::write(&dp, "entry main:\n  to any\n  start a\nstep a:\n  goto b\n").expect("write");
    let out = switchyard(&["dialplan", "check", dp.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("x.dialplan:5:8"), "{t}");
    assert!(t.contains("no step named `b`"), "{t}");
    assert!(t.contains("hint: define it with `step b:`"), "{t}");

    std::fs::write(
        &dp,
        "entry main:\n  to any\n  start a\nstep a:\n  hangup busy\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("x.tests"),
        "test t:\n  call to 1 from 2 at 2026-11-23T10:00Z\n  expect:\n    entry main\n    > hangup normal\n",
    )
    .expect("write");
    let out = switchyard(&["dialplan", "test", dp.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("- > hangup normal"), "{t}");
    assert!(t.contains("+ > hangup busy"), "{t}");

    // --update writes the actual trace; then the test passes.
    let out = switchyard(&["dialplan", "test", "--update", dp.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let tests = std::fs::read_to_string(dir.join("x.tests")).expect("read");
    assert!(
        tests.ends_with("  expect:\n    entry main\n    > hangup busy\n"),
        "{tests}"
    );
    let out = switchyard(&["dialplan", "test", dp.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
