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
