//! `switchyard staffing`: Erlang C staffing from a forecast CSV.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use switchyard_acd::staffing::{PlanTable, StaffingParams, parse_forecast, plan};

#[derive(Debug, clap::Args)]
pub(crate) struct StaffingArgs {
    /// Forecast CSV, one interval per line: label, calls, average handle time in seconds
    /// (a header line and `#` comments are allowed).
    forecast: PathBuf,
    /// Service-level target, as a fraction (0.8) or a percentage (80%).
    #[arg(long, default_value = "0.8", value_parser = parse_fraction)]
    target: f64,
    /// Service-level threshold: answered within this wait (e.g. 20s, 1m).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    threshold: Duration,
    /// Shrinkage: share of scheduled time not on the phones, as a fraction or percentage.
    #[arg(long, default_value = "0.3", value_parser = parse_fraction)]
    shrinkage: f64,
    /// Length of each forecast interval (e.g. 15m, 30m, 1h).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    interval: Duration,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(p) => (p, 100.0),
        None => (s, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number (write 0.8 or 80%)"))?;
    let v = v / scale;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?} must be at least 0 and below 1 (or 100%)"))
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (write 20s, 15m or 1h)"))?;
    let secs = match unit {
        "s" | "sec" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (use s, m or h)")),
    };
    if (0.0..1e9).contains(&secs) {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("{s:?} is out of range"))
    }
}

pub(crate) fn main(args: StaffingArgs) -> anyhow::Result<ExitCode> {
    if args.interval.is_zero() {
        anyhow::bail!("--interval must be longer than zero");
    }
    let text = std::fs::read_to_string(&args.forecast)
        .with_context(|| format!("cannot read {}", args.forecast.display()))?;
    let rows = match parse_forecast(&text) {
        Ok(rows) => rows,
        Err(e) => anyhow::bail!(
            "{}:{}:{}: {}\n  {}\n  {}\nhint: {}",
            args.forecast.display(),
            e.line,
            e.column,
            e.message,
            e.text,
            e.caret,
            e.hint
        ),
    };
    let params = StaffingParams {
        target: args.target,
        threshold: args.threshold,
        shrinkage: args.shrinkage,
        interval: args.interval,
    };
    let table = plan(&rows, &params);
    println!(
        "Erlang C staffing: {:.0}% answered within {} s, shrinkage {:.0}%, {}-minute intervals",
        params.target * 100.0,
        params.threshold.as_secs_f64(),
        params.shrinkage * 100.0,
        params.interval.as_secs_f64() / 60.0
    );
    println!("{}", PlanTable(&table));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_and_durations() {
        assert_eq!(parse_fraction("80%"), Ok(0.8));
        assert_eq!(parse_fraction("0.3"), Ok(0.3));
        assert!(parse_fraction("1.5").is_err());
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("5 fortnights").is_err());
    }
}
