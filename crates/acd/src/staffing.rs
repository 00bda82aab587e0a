//! Staffing from a forecast: a CSV of intervals (label, calls, AHT in seconds) in, agents
//! needed per interval out, by Erlang C.
//!
//! ```
//! use std::time::Duration;
//! use switchyard_acd::staffing::{parse_forecast, plan, StaffingParams};
//!
//! let rows = parse_forecast("interval,calls,aht\n09:00,100,180\n09:15,0,180\n").unwrap();
//! let plan = plan(&rows, &StaffingParams::default());
//! assert_eq!(plan[0].agents, Some(24));
//! assert_eq!(plan[0].scheduled, Some(35)); // 24 / (1 − 0.3), rounded up
//! assert_eq!(plan[1].agents, Some(0));
//! ```

use std::fmt;
use std::time::Duration;

use crate::erlang::{ErlangC, with_shrinkage};

/// One forecast interval.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRow {
    /// The interval's label as written (e.g. `09:00`).
    pub label: String,
    /// Calls expected in the interval.
    pub calls: f64,
    /// Average handle time.
    pub aht: Duration,
    /// Line in the file (1-based).
    pub line: usize,
}

/// A forecast file that cannot be read, with where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}\n  {text}\n  {caret}\nhint: {hint}")]
pub struct ForecastError {
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based, in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// The offending line.
    pub text: String,
    /// A caret under the offending column.
    pub caret: String,
}

fn error(line: usize, text: &str, column: usize, message: String, hint: &str) -> ForecastError {
    ForecastError {
        line,
        column,
        message,
        hint: hint.to_owned(),
        text: text.to_owned(),
        caret: format!("{}^", " ".repeat(column.saturating_sub(1))),
    }
}

/// Splits a line on commas, returning each field (trimmed, quotes removed) with its
/// 1-based start column. Written by hand: the format is three plain columns, and errors
/// must point at a column, which the csv crate reports only per record.
fn fields(line: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<char> = line.chars().collect();
    let mut in_quotes = false;
    let mut cur = String::new();
    for (i, ch) in chars.iter().enumerate() {
        match ch {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                out.push((cur.trim().to_owned(), start));
                cur.clear();
                start = i + 1;
            }
            c => cur.push(*c),
        }
    }
    out.push((cur.trim().to_owned(), start));
    // Column of the first non-blank character of each field.
    out.into_iter()
        .map(|(f, s)| {
            let lead = chars[s..].iter().take_while(|c| c.is_whitespace()).count();
            (f, s + lead + 1)
        })
        .collect()
}

/// Parses a forecast CSV: `interval,calls,aht_seconds` per line. A first line whose
/// `calls` column is not a number is taken as a header; blank lines and lines starting with
/// `#` are skipped. AHT may carry an `s` suffix.
pub fn parse_forecast(text: &str) -> Result<Vec<ForecastRow>, ForecastError> {
    let mut rows = Vec::new();
    let mut seen_data = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let f = fields(line);
        if !seen_data && f.get(1).is_some_and(|(c, _)| c.parse::<f64>().is_err()) {
            seen_data = true; // a header
            continue;
        }
        seen_data = true;
        if f.len() != 3 {
            let col = f.get(3).map_or(line.chars().count() + 1, |x| x.1);
            return Err(error(
                line_no,
                line,
                col,
                format!("expected 3 columns, found {}", f.len()),
                "each line is `interval,calls,aht_seconds`, e.g. `09:00,120,185`",
            ));
        }
        let (label, _) = &f[0];
        let (calls_s, calls_col) = &f[1];
        let (aht_s, aht_col) = &f[2];
        let calls: f64 = match calls_s.parse() {
            Ok(c) if (0.0..=1e6).contains(&c) => c,
            _ => {
                return Err(error(
                    line_no,
                    line,
                    *calls_col,
                    format!("calls must be a number from 0 to 1,000,000, not {calls_s:?}"),
                    "the second column is the number of calls expected in the interval",
                ));
            }
        };
        let aht_num = aht_s.strip_suffix('s').unwrap_or(aht_s).trim();
        let aht = match aht_num.parse::<f64>() {
            Ok(a) if a.is_finite() && a > 0.0 && a < 1e7 => Duration::from_secs_f64(a),
            _ => {
                return Err(error(
                    line_no,
                    line,
                    *aht_col,
                    format!("average handle time must be seconds above 0, not {aht_s:?}"),
                    "the third column is the average handle time in seconds, e.g. `185`",
                ));
            }
        };
        rows.push(ForecastRow {
            label: label.clone(),
            calls,
            aht,
            line: line_no,
        });
    }
    if rows.is_empty() {
        return Err(error(
            text.lines().count().max(1),
            "",
            1,
            "the forecast has no intervals".into(),
            "add lines such as `09:00,120,185` (interval, calls, AHT seconds)",
        ));
    }
    Ok(rows)
}

/// Service-level goal and planning assumptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaffingParams {
    /// Service-level target (0–1).
    pub target: f64,
    /// Service-level threshold.
    pub threshold: Duration,
    /// Shrinkage (0–1): share of scheduled time not on the phones.
    pub shrinkage: f64,
    /// Interval length.
    pub interval: Duration,
}

impl Default for StaffingParams {
    fn default() -> Self {
        Self {
            target: 0.8,
            threshold: Duration::from_secs(20),
            shrinkage: 0.3,
            interval: Duration::from_secs(15 * 60),
        }
    }
}

/// Staffing for one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffingRow {
    /// The interval's label.
    pub label: String,
    /// Calls.
    pub calls: f64,
    /// AHT.
    pub aht: Duration,
    /// Traffic in erlangs.
    pub traffic: f64,
    /// Agents on the phones needed for the target (`None`: the target cannot be planned,
    /// e.g. a target of 100 % or more than a million erlangs).
    pub agents: Option<u32>,
    /// Agents to schedule, after shrinkage.
    pub scheduled: Option<u32>,
    /// Expected service level with `agents`.
    pub service_level: f64,
    /// Expected average speed of answer with `agents`.
    pub asa: Duration,
    /// Expected occupancy with `agents`.
    pub occupancy: f64,
}

/// Agents needed per interval.
pub fn plan(rows: &[ForecastRow], p: &StaffingParams) -> Vec<StaffingRow> {
    rows.iter()
        .map(|r| {
            let e = ErlangC::from_calls(r.calls, p.interval, r.aht);
            let agents = e.agents_for_service_level(p.target, p.threshold);
            let n = agents.unwrap_or(0);
            StaffingRow {
                label: r.label.clone(),
                calls: r.calls,
                aht: r.aht,
                traffic: e.traffic,
                agents,
                scheduled: agents.map(|n| with_shrinkage(n, p.shrinkage)),
                service_level: agents.map_or(f64::NAN, |_| e.service_level(n, p.threshold)),
                asa: agents.and_then(|_| e.asa(n)).unwrap_or(Duration::MAX),
                occupancy: agents.map_or(f64::NAN, |_| e.occupancy(n)),
            }
        })
        .collect()
}

/// Renders a plan as an aligned text table with a total line.
pub struct PlanTable<'a>(pub &'a [StaffingRow]);

impl fmt::Display for PlanTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .0
            .iter()
            .map(|r| r.label.chars().count())
            .max()
            .unwrap_or(0)
            .max(8);
        writeln!(
            f,
            "{:<w$}  {:>7}  {:>6}  {:>8}  {:>6}  {:>9}  {:>7}  {:>7}  {:>9}",
            "interval",
            "calls",
            "aht_s",
            "erlangs",
            "agents",
            "scheduled",
            "sl",
            "asa_s",
            "occupancy"
        )?;
        for r in self.0 {
            let (Some(agents), Some(scheduled)) = (r.agents, r.scheduled) else {
                writeln!(
                    f,
                    "{:<w$}  {:>7}  {:>6.0}  {:>8.2}  cannot be planned for this target",
                    r.label,
                    format!("{}", r.calls),
                    r.aht.as_secs_f64(),
                    r.traffic
                )?;
                continue;
            };
            writeln!(
                f,
                "{:<w$}  {:>7}  {:>6.0}  {:>8.2}  {:>6}  {:>9}  {:>6.1}%  {:>7.1}  {:>8.1}%",
                r.label,
                format!("{}", r.calls),
                r.aht.as_secs_f64(),
                r.traffic,
                agents,
                scheduled,
                r.service_level * 100.0,
                r.asa.as_secs_f64(),
                r.occupancy * 100.0
            )?;
        }
        let calls: f64 = self.0.iter().map(|r| r.calls).sum();
        let peak = self.0.iter().filter_map(|r| r.scheduled).max().unwrap_or(0);
        let hours: u64 = self
            .0
            .iter()
            .filter_map(|r| r.scheduled)
            .map(u64::from)
            .sum();
        write!(
            f,
            "total: {calls} calls, peak {peak} agents scheduled, {hours} agent-intervals scheduled"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_comments_and_suffix() {
        let rows = parse_forecast("# day\ninterval,calls,aht\n\n08:00, 10 ,\"200s\"\r\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].label, "08:00");
        assert_eq!(rows[0].calls, 10.0);
        assert_eq!(rows[0].aht, Duration::from_secs(200));
        assert_eq!(rows[0].line, 4);
    }

    #[test]
    fn bad_number_points_at_line_and_column() {
        let err = parse_forecast("interval,calls,aht\n08:00,12,180\n08:15,lots,180\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 7));
        assert!(err.to_string().contains("      ^"), "{err}");
        let err = parse_forecast("08:00,12,-5\n").unwrap_err();
        assert_eq!((err.line, err.column), (1, 10));
        let err = parse_forecast("08:00,12\n").unwrap_err();
        assert!(err.message.contains("3 columns"), "{}", err.message);
        assert!(parse_forecast("interval,calls,aht\n").is_err());
    }

    #[test]
    fn plan_meets_target_and_applies_shrinkage() {
        let rows = parse_forecast("a,100,180\nb,400,240\n").unwrap();
        let p = StaffingParams::default();
        for r in plan(&rows, &p) {
            let (agents, scheduled) = (r.agents.unwrap(), r.scheduled.unwrap());
            assert!(r.service_level >= p.target);
            assert!(f64::from(scheduled) * (1.0 - p.shrinkage) >= f64::from(agents));
            assert!(r.occupancy < 1.0);
        }
        let huge = parse_forecast("a,1000000,9000000\n").unwrap();
        assert_eq!(plan(&huge, &p)[0].agents, None, "beyond a million erlangs");
        assert!(
            PlanTable(&plan(&huge, &p))
                .to_string()
                .contains("cannot be planned")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_points_inside_it(text in "[0-9a-z:,.\"# %s\n-]{0,80}") {
            match parse_forecast(&text) {
                Ok(rows) => proptest::prop_assert!(rows.iter().all(|r| r.calls >= 0.0)),
                Err(e) => {
                    let lines = text.lines().count().max(1);
                    proptest::prop_assert!(e.line >= 1 && e.line <= lines, "{e:?}");
                    proptest::prop_assert!(e.column >= 1 && e.column <= e.text.chars().count() + 1, "{e:?}");
                }
            }
        }
    }
}
