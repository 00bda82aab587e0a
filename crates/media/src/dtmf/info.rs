//! SIP INFO DTMF bodies: `application/dtmf-relay` (`Signal=5\r\nDuration=160\r\n`, duration
//! in milliseconds) and `application/dtmf` (the bare digit or event code).

use std::fmt::Write as _;
use std::time::Duration;

use super::{DtmfDigit, DtmfError};

/// The content type of a DTMF INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoContentType {
    /// `application/dtmf-relay`.
    DtmfRelay,
    /// `application/dtmf`.
    Dtmf,
}

impl InfoContentType {
    /// Recognise a Content-Type header value (parameters and case ignored).
    pub fn from_header(value: &str) -> Option<Self> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/dtmf-relay") {
            Some(Self::DtmfRelay)
        } else if media.eq_ignore_ascii_case("application/dtmf") {
            Some(Self::Dtmf)
        } else {
            None
        }
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DtmfRelay => "application/dtmf-relay",
            Self::Dtmf => "application/dtmf",
        }
    }
}

/// A digit carried in an INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDtmf {
    /// The digit.
    pub digit: DtmfDigit,
    /// The duration, if the body gave one.
    pub duration: Option<Duration>,
}

/// Parse an INFO body given its Content-Type header value.
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<InfoDtmf, DtmfError> {
    match InfoContentType::from_header(content_type) {
        Some(InfoContentType::DtmfRelay) => parse_dtmf_relay(body),
        Some(InfoContentType::Dtmf) => parse_dtmf(body),
        None => Err(DtmfError::UnsupportedContentType),
    }
}

fn bad(position: usize, reason: &'static str) -> DtmfError {
    DtmfError::BadInfoBody { position, reason }
}

/// A signal value: a keypad character, or an event code 0–15 (some gateways send
/// `Signal=10` for `*` and `Signal=11` for `#`).
fn parse_signal(v: &str, position: usize) -> Result<DtmfDigit, DtmfError> {
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => DtmfDigit::from_char(c).ok_or(bad(position, "not a DTMF signal")),
        (Some(_), Some(_)) => v
            .parse::<u8>()
            .ok()
            .and_then(DtmfDigit::from_event)
            .ok_or(bad(position, "not a DTMF signal")),
        _ => Err(bad(position, "empty signal")),
    }
}

/// Parse an `application/dtmf-relay` body: `Signal=` is required, `Duration=` (ms) optional;
/// keys are case-insensitive, lines end in CRLF or LF, unknown lines are ignored.
pub fn parse_dtmf_relay(body: &[u8]) -> Result<InfoDtmf, DtmfError> {
    let text = std::str::from_utf8(body).map_err(|e| bad(e.valid_up_to(), "not UTF-8"))?;
    let mut digit = None;
    let mut duration = None;
    let mut offset = 0;
    for raw in text.split('\n') {
        let line_start = offset;
        offset += raw.len() + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some(eq) = line.find('=') else {
            return Err(bad(line_start, "line without '='"));
        };
        let key = line[..eq].trim();
        let value = line[eq + 1..].trim();
        let value_pos =
            line_start + eq + 1 + (line[eq + 1..].len() - line[eq + 1..].trim_start().len());
        if key.eq_ignore_ascii_case("Signal") {
            digit = Some(parse_signal(value, value_pos)?);
        } else if key.eq_ignore_ascii_case("Duration") {
            let ms: u64 = value
                .parse()
                .map_err(|_| bad(value_pos, "duration is not a number"))?;
            duration = Some(Duration::from_millis(ms));
        }
    }
    let digit = digit.ok_or(bad(text.len(), "no Signal line"))?;
    Ok(InfoDtmf { digit, duration })
}

/// Parse an `application/dtmf` body: the digit alone (or its event code).
pub fn parse_dtmf(body: &[u8]) -> Result<InfoDtmf, DtmfError> {
    let text = std::str::from_utf8(body).map_err(|e| bad(e.valid_up_to(), "not UTF-8"))?;
    let lead = text.len() - text.trim_start().len();
    Ok(InfoDtmf {
        digit: parse_signal(text.trim(), lead)?,
        duration: None,
    })
}

/// Format an `application/dtmf-relay` body.
pub fn format_dtmf_relay(digit: DtmfDigit, duration: Duration) -> String {
    let mut s = String::with_capacity(32);
    let _ = write!(
        s,
        "Signal={}\r\nDuration={}\r\n",
        digit.to_char(),
        duration.as_millis()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> DtmfDigit {
        DtmfDigit::from_char(c).unwrap()
    }

    #[test]
    fn relay_body() {
        let got = parse_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n").unwrap();
        assert_eq!(got.digit, d('5'));
        assert_eq!(got.duration, Some(Duration::from_millis(160)));
        let got = parse_info("Application/DTMF-Relay; x=y", b"signal = #\nduration= 250").unwrap();
        assert_eq!(got.digit, d('#'));
        assert_eq!(got.duration, Some(Duration::from_millis(250)));
        assert_eq!(parse_dtmf_relay(b"Signal=10\r\n").unwrap().digit, d('*'));
        assert_eq!(parse_dtmf_relay(b"Signal=11").unwrap().digit, d('#'));
    }

    #[test]
    fn dtmf_body() {
        assert_eq!(
            parse_info("application/dtmf", b"7\r\n").unwrap().digit,
            d('7')
        );
        assert_eq!(parse_info("application/dtmf", b"11").unwrap().digit, d('#'));
    }

    #[test]
    fn errors_carry_positions() {
        assert_eq!(
            parse_dtmf_relay(b"Signal=5\r\nDuration=abc\r\n"),
            Err(DtmfError::BadInfoBody {
                position: 19,
                reason: "duration is not a number"
            })
        );
        assert_eq!(
            parse_dtmf_relay(b"Signal=X"),
            Err(DtmfError::BadInfoBody {
                position: 7,
                reason: "not a DTMF signal"
            })
        );
        assert!(matches!(
            parse_dtmf_relay(b"Duration=100"),
            Err(DtmfError::BadInfoBody { position: 12, .. })
        ));
        assert!(matches!(
            parse_dtmf_relay(b"garbage"),
            Err(DtmfError::BadInfoBody { position: 0, .. })
        ));
        assert_eq!(
            parse_info("text/plain", b"5"),
            Err(DtmfError::UnsupportedContentType)
        );
        assert!(parse_dtmf(b"16").is_err());
        assert!(parse_dtmf(b"\xff").is_err());
    }

    #[test]
    fn format_round_trips() {
        let body = format_dtmf_relay(d('9'), Duration::from_millis(200));
        assert_eq!(body, "Signal=9\r\nDuration=200\r\n");
        let back = parse_dtmf_relay(body.as_bytes()).unwrap();
        assert_eq!(back.digit, d('9'));
        assert_eq!(back.duration, Some(Duration::from_millis(200)));
    }
}
