//! Every shipped dialplan passes the checker (prompt files included) and its expected-trace
//! tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchyard_ivr::sim::{self, Scenario};
use switchyard_ivr::{CallInfo, Dialplan, Env, compile};

fn dialplans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans")
}

fn load(path: &Path) -> Arc<Dialplan> {
    let source = std::fs::read_to_string(path).expect("shipped dialplan is readable");
    let exists = |p: &Path| p.is_file();
    let env = Env {
        base_dir: path.parent().expect("a file has a directory"),
        prompt_exists: Some(&exists),
        known: None,
    };
    match compile(&path.display().to_string(), &source, &env) {
        Ok(plan) => {
            assert!(
                plan.warnings().0.is_empty(),
                "{} has warnings:\n{}",
                path.display(),
                plan.warnings()
            );
            Arc::new(plan)
        }
        Err(d) => panic!("{} does not pass the checker:\n{d}", path.display()),
    }
}

#[test]
fn every_shipped_dialplan_passes_its_trace_tests() {
    let mut dialplans: Vec<PathBuf> = std::fs::read_dir(dialplans_dir())
        .expect("the dialplans directory exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dialplan"))
        .collect();
    dialplans.sort();
    assert!(!dialplans.is_empty(), "no shipped dialplans found");
    let mut cases = 0;
    for dp in dialplans {
        let plan = load(&dp);
        let tests_path = dp.with_extension("tests");
        let source = std::fs::read_to_string(&tests_path).unwrap_or_else(|_| {
            panic!(
                "{} has no tests file {}",
                dp.display(),
                tests_path.display()
            )
        });
        let tests = sim::parse_tests(&tests_path.display().to_string(), &source)
            .unwrap_or_else(|d| panic!("{d}"));
        let mut failures = String::new();
        for case in &tests.cases {
            let out = sim::run_test(plan.clone(), case);
            if !out.passed {
                failures.push_str(&format!(
                    "\n{} ({}:{}):\n{}",
                    case.name,
                    tests_path.display(),
                    case.line,
                    out.diff
                ));
            }
            cases += 1;
        }
        assert!(failures.is_empty(), "trace tests failed:{failures}");
    }
    assert!(
        cases >= 10,
        "the demo should cover each path; only {cases} cases"
    );
}

#[test]
fn the_demo_sales_key_reaches_the_sales_queue_with_a_screen_pop() {
    let plan = load(&dialplans_dir().join("default.dialplan"));
    let call = CallInfo {
        to: "+861058000000".into(),
        from: "+8613800138000".into(),
        ..Default::default()
    };
    let mut sc = Scenario::new(call, sim::parse_at("2026-11-23T10:00+08:00").unwrap());
    sc.presses = sim::parse_presses("1,1").unwrap();
    sc.lookup = vec![Ok(r#"{"name":"Li Lei","tier":"gold"}"#.into())];
    let trace = sim::simulate(plan, &sc);
    let queue = trace
        .iter()
        .find(|l| l.starts_with("> queue "))
        .unwrap_or_else(|| panic!("no queue in {trace:#?}"));
    assert!(
        queue.starts_with("> queue sales skills sales>=3, english>=5 priority 10"),
        "{queue}"
    );
    assert!(trace.contains(&"> set customer_name = \"Li Lei\"".to_string()));
}

#[test]
fn the_demo_is_closed_at_night_and_on_holidays() {
    let plan = load(&dialplans_dir().join("default.dialplan"));
    for at in [
        "2026-11-23T20:00+08:00",
        "2026-10-01T10:00+08:00",
        "2026-11-22T10:00+08:00",
    ] {
        let call = CallInfo {
            to: "+861058000000".into(),
            ..Default::default()
        };
        let mut sc = Scenario::new(call, sim::parse_at(at).unwrap());
        sc.presses = sim::parse_presses("1").unwrap();
        let trace = sim::simulate(plan.clone(), &sc);
        assert!(
            trace.contains(&"> voicemail general".to_string()),
            "{at}: {trace:#?}"
        );
        assert!(!trace.iter().any(|l| l.starts_with("> queue")), "{at}");
    }
}

/// Reads the format of a WAV file: (format tag, channels, sample rate, bits per sample).
fn wav_format(bytes: &[u8]) -> Option<(u16, u16, u32, u16)> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"fmt " {
            let f = bytes.get(at + 8..at + 24)?;
            return Some((
                u16::from_le_bytes([f[0], f[1]]),
                u16::from_le_bytes([f[2], f[3]]),
                u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
                u16::from_le_bytes([f[14], f[15]]),
            ));
        }
        at += 8 + len + (len & 1);
    }
    None
}

#[test]
fn shipped_prompts_are_8khz_mono_16bit_and_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
    let mut total = 0;
    let mut count = 0;
    for lang in ["en", "zh"] {
        for e in std::fs::read_dir(root.join(lang)).expect("prompts/<lang> exists") {
            let p = e.expect("entry").path();
            let bytes = std::fs::read(&p).expect("readable");
            total += bytes.len();
            count += 1;
            // 1 = PCM.
            assert_eq!(
                wav_format(&bytes),
                Some((1, 1, 8000, 16)),
                "{}",
                p.display()
            );
        }
    }
    assert!(count >= 80, "only {count} prompt files");
    assert!(
        total < 4 << 20,
        "prompts take {total} bytes; keep them small"
    );
}
