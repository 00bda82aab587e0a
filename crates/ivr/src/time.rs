//! Time conditions: weekly opening hours in a time zone, and holiday lists.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use crate::diag::Span;
use crate::expr::ParseErr;

/// An inclusive range of (month, day) that comes back every year; it may wrap over the
/// new year (`12-31 to 01-02`).
pub(crate) type YearlyRange = ((i8, i8), (i8, i8));

/// Dates on which a schedule is closed, e.g. public holidays.
#[derive(Debug, Clone)]
pub(crate) struct Holidays {
    /// Inclusive date ranges.
    pub(crate) ranges: Vec<(Date, Date)>,
    /// Inclusive month-day ranges, every year.
    pub(crate) yearly: Vec<YearlyRange>,
}

impl Holidays {
    pub(crate) fn contains(&self, date: Date) -> bool {
        let md = (date.month(), date.day());
        self.ranges.iter().any(|(a, b)| *a <= date && date <= *b)
            || self.yearly.iter().any(|&(a, b)| {
                if a <= b {
                    a <= md && md <= b
                } else {
                    md >= a || md <= b
                }
            })
    }
}

/// Parses `12-25` (a month and a day, any year; `02-29` counts in leap years).
pub(crate) fn parse_month_day(word: &str, span: Span) -> Result<(i8, i8), ParseErr> {
    let parsed = word.split_once('-').and_then(|(m, d)| {
        let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
        // 2024 is a leap year, so every real month-day is a date in it.
        Date::new(2024, m, d).ok().map(|_| (m, d))
    });
    parsed.ok_or_else(|| {
        (
            span,
            format!("`{word}` is not a month and day"),
            Some("write yearly dates as MM-DD, e.g. `every 12-25 Christmas Day`".into()),
        )
    })
}

/// One line of a `hours` block: some weekdays, some time ranges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// Bit 0 = Monday ... bit 6 = Sunday.
    pub(crate) days: u8,
    /// Minutes since midnight, start inclusive.
    pub(crate) from: u16,
    /// Minutes since midnight, end exclusive (1440 = midnight at the end of the day).
    pub(crate) to: u16,
}

/// A `hours` block: when the centre is open, in its own time zone.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) zone: TimeZone,
    pub(crate) rules: Vec<Rule>,
    /// Indices of `holidays` blocks on which the schedule is closed all day.
    pub(crate) closed_on: Vec<u16>,
}

impl Schedule {
    pub(crate) fn is_open(&self, now: Timestamp, holidays: &[Holidays]) -> bool {
        let local = now.to_zoned(self.zone.clone());
        let date = local.date();
        if self.closed_on.iter().any(|&h| {
            holidays
                .get(usize::from(h))
                .is_some_and(|h| h.contains(date))
        }) {
            return false;
        }
        let bit = 1u8 << (local.weekday().to_monday_zero_offset() as u8);
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.rules
            .iter()
            .any(|r| r.days & bit != 0 && r.from <= minute && minute < r.to)
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The short English name of a weekday, as the `weekday` variable gives it.
pub(crate) fn day_name(d: Weekday) -> &'static str {
    DAY_NAMES[d.to_monday_zero_offset() as usize]
}

fn day_index(word: &str) -> Option<u8> {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let w = word.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .zip(FULL)
        .position(|(short, full)| w == *short || w == full)
        .map(|i| i as u8)
}

/// Parses `mon-fri`, `sat`, `daily`, `weekdays`, `weekends` into a day mask.
pub(crate) fn parse_days(word: &str, span: Span) -> Result<u8, ParseErr> {
    let hint =
        "days are `mon`...`sun`, a range such as `mon-fri`, or `daily`, `weekdays`, `weekends`";
    match word {
        "daily" => return Ok(0x7f),
        "weekdays" => return Ok(0x1f),
        "weekends" => return Ok(0x60),
        _ => {}
    }
    let bad = || {
        Err((
            span,
            format!("`{word}` is not a day or a range of days"),
            Some(hint.to_owned()),
        ))
    };
    let (a, b) = match word.split_once('-') {
        Some((a, b)) => (a, b),
        None => (word, word),
    };
    let (Some(a), Some(b)) = (day_index(a), day_index(b)) else {
        return bad();
    };
    let mut mask = 0u8;
    let mut d = a;
    loop {
        mask |= 1 << d;
        if d == b {
            break;
        }
        d = (d + 1) % 7;
    }
    Ok(mask)
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// Parses `09:00-18:00` into minutes since midnight.
pub(crate) fn parse_range(word: &str, span: Span) -> Result<(u16, u16), ParseErr> {
    let hint = "write a time range as `09:00-18:00` (24-hour clock; `24:00` is the end of the day)";
    let Some((a, b)) = word.split_once('-') else {
        return Err((
            span,
            format!("`{word}` is not a time range"),
            Some(hint.into()),
        ));
    };
    let (Some(from), Some(to)) = (parse_hhmm(a), parse_hhmm(b)) else {
        return Err((
            span,
            format!("`{word}` is not a valid time range"),
            Some(hint.into()),
        ));
    };
    if from == 1440 || to <= from {
        return Err((
            span,
            format!("`{word}` ends before it starts"),
            Some("for hours past midnight write two ranges, e.g. `22:00-24:00` and `00:00-06:00` on the next day".into()),
        ));
    }
    Ok((from, to))
}

/// Parses `2026-10-01`.
pub(crate) fn parse_date(word: &str, span: Span) -> Result<Date, ParseErr> {
    word.parse::<Date>().map_err(|_| {
        (
            span,
            format!("`{word}` is not a date"),
            Some("write dates as YYYY-MM-DD, e.g. `2026-10-01`".into()),
        )
    })
}

/// Looks up an IANA time zone such as `Asia/Shanghai`.
pub(crate) fn parse_zone(word: &str, span: Span) -> Result<TimeZone, ParseErr> {
    if word.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(word).map_err(|_| {
        (
            span,
            format!("unknown time zone `{word}`"),
            Some("use an IANA zone name such as `Asia/Shanghai`, `Europe/London` or `UTC`".into()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp() -> Span {
        Span::new(1, 1, 1)
    }

    #[test]
    fn zones_resolve() {
        for z in ["Asia/Shanghai", "Europe/London", "America/New_York", "UTC"] {
            parse_zone(z, sp()).unwrap();
        }
        assert!(parse_zone("Mars/Olympus", sp()).is_err());
    }

    #[test]
    fn open_in_its_own_zone_and_closed_on_holidays() {
        let sched = Schedule {
            zone: parse_zone("Asia/Shanghai", sp()).unwrap(),
            rules: vec![Rule {
                days: parse_days("mon-fri", sp()).unwrap(),
                from: 9 * 60,
                to: 18 * 60,
            }],
            closed_on: vec![0],
        };
        let hol = vec![Holidays {
            yearly: vec![((12, 31), (1, 1))],
            ranges: vec![(
                parse_date("2026-10-01", sp()).unwrap(),
                parse_date("2026-10-07", sp()).unwrap(),
            )],
        }];
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // Monday 10:00 in Shanghai is 02:00 UTC.
        assert!(sched.is_open(at("2026-11-23T02:00:00Z"), &hol));
        // Monday 08:59 Shanghai.
        assert!(!sched.is_open(at("2026-11-23T00:59:00Z"), &hol));
        // Saturday.
        assert!(!sched.is_open(at("2026-11-21T02:00:00Z"), &hol));
        // A Friday in the National Day holiday.
        assert!(!sched.is_open(at("2026-10-02T02:00:00Z"), &hol));
        // A yearly range over the new year: Thursday 2026-12-31 and Friday 2027-01-01.
        assert!(!sched.is_open(at("2026-12-31T02:00:00Z"), &hol));
        assert!(!sched.is_open(at("2027-01-01T02:00:00Z"), &hol));
        assert!(sched.is_open(at("2026-12-30T02:00:00Z"), &hol));
        assert!(parse_month_day("02-29", sp()).is_ok());
        assert!(parse_month_day("02-30", sp()).is_err());
        assert!(parse_month_day("13-01", sp()).is_err());
    }

    #[test]
    fn bad_specs_are_errors() {
        assert!(parse_days("mon-frx", sp()).is_err());
        assert_eq!(parse_days("sat-sun", sp()).unwrap(), 0x60);
        assert_eq!(parse_days("fri-mon", sp()).unwrap(), 0b111_0001);
        assert!(parse_range("18:00-09:00", sp()).is_err());
        assert!(parse_range("9-18", sp()).is_err());
        assert!(parse_range("09:00-25:00", sp()).is_err());
        assert_eq!(parse_range("00:00-24:00", sp()).unwrap(), (0, 1440));
        assert!(parse_date("2026-02-30", sp()).is_err());
    }
}
