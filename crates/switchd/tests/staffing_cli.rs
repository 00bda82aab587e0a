//! `switchyard staffing` end to end: the binary reads a forecast and prints the table.

use std::path::PathBuf;
use std::process::Command;

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-staffing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn staffing(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("staffing")
        .args(args)
        .output()
        .expect("run switchyard");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn prints_agents_per_interval() {
    // 100 calls of 180 s in 15 minutes is 20 erlangs: the textbook answer for 80/20 is 24
    // agents (SL 80.9 %); with 30 % shrinkage, 35 scheduled.
    let f = write_temp(
        "small.csv",
        "interval,calls,aht\n09:00,100,180\n09:15,0,180\n",
    );
    let (ok, out, err) = staffing(&[f.to_str().unwrap()]);
    assert!(ok, "{err}");
    let row = out.lines().find(|l| l.starts_with("09:00")).expect(&out);
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cols[..6],
        &["09:00", "100", "180", "20.00", "24", "35"],
        "{row}"
    );
    assert_eq!(cols[6], "80.9%", "{row}");
    let empty = out.lines().find(|l| l.starts_with("09:15")).expect(&out);
    assert_eq!(empty.split_whitespace().nth(4), Some("0"));
}

#[test]
fn options_change_the_plan() {
    let f = write_temp("opts.csv", "09:00,100,180\n");
    let (_, strict, _) = staffing(&[f.to_str().unwrap(), "--target", "90%", "--threshold", "10s"]);
    let (_, hourly, _) = staffing(&[f.to_str().unwrap(), "--interval", "1h", "--shrinkage", "0"]);
    let agents = |out: &str| -> u32 {
        let row = out.lines().find(|l| l.starts_with("09:00")).unwrap();
        row.split_whitespace().nth(4).unwrap().parse().unwrap()
    };
    assert!(agents(&strict) > 24, "{strict}");
    // 100 calls an hour is 5 erlangs.
    assert!(agents(&hourly) < 10, "{hourly}");
    let scheduled = hourly.lines().find(|l| l.starts_with("09:00")).unwrap();
    let cols: Vec<&str> = scheduled.split_whitespace().collect();
    assert_eq!(cols[4], cols[5], "no shrinkage: scheduled equals needed");
}

#[test]
fn shipped_example_forecast_plans() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../acd/examples/forecast-day.csv"
    );
    let (ok, out, err) = staffing(&[example]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        40,
        "{out}"
    );
}

#[test]
fn bad_csv_names_line_column_and_hint() {
    let f = write_temp(
        "bad.csv",
        "interval,calls,aht\n08:00,12,180\n08:15,lots,180\n",
    );
    let (ok, _, err) = staffing(&[f.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.csv:3:7"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(err.contains("08:15,lots,180"), "{err}");
    let (ok, _, err) = staffing(&["/nonexistent/forecast.csv"]);
    assert!(!ok && err.contains("cannot read"), "{err}");
}
