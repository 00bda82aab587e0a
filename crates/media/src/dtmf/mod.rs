//! DTMF: RFC 4733 telephone-events, SIP INFO bodies, in-band detection (Goertzel) and
//! generation, and interworking between legs that negotiated different ways.
//!
//! ```
//! use switchyard_media::dtmf::{DtmfDigit, rfc4733::{TelephoneEventReceiver, TelephoneEventSender, DtmfEvent}};
//!
//! // Send '5' for 100 ms at 20 ms ptime on an 8000 Hz clock, receive it on the other side.
//! let mut tx = TelephoneEventSender::new(160, 10);
//! tx.start(DtmfDigit::from_char('5').unwrap(), 48_000, 800);
//! let mut rx = TelephoneEventReceiver::new();
//! while let Some(p) = tx.next_packet() {
//!     rx.handle_packet(&p.payload, p.timestamp, p.marker).unwrap();
//! }
//! let mut ends = 0;
//! while let Some(ev) = rx.poll_event() {
//!     if let DtmfEvent::End { digit, .. } = ev {
//!         assert_eq!(digit.to_char(), '5');
//!         ends += 1;
//!     }
//! }
//! assert_eq!(ends, 1); // three redundant end packets, one digit
//! ```

pub mod generate;
pub mod goertzel;
pub mod inband;
pub mod info;
pub mod interwork;
pub mod rfc4733;

/// A DTMF digit, held as its RFC 4733 event code (0–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DtmfDigit(u8);

/// Row (low group) frequencies in Hz, ITU-T Q.23.
pub const LOW_GROUP_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies in Hz, ITU-T Q.23.
pub const HIGH_GROUP_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Keypad layout by (row, column).
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

impl DtmfDigit {
    /// The digit for an RFC 4733 event code; `None` beyond 15 (flash and other events).
    pub fn from_event(code: u8) -> Option<Self> {
        (code <= 15).then_some(Self(code))
    }

    /// The digit for a keypad character (`0-9 * # A-D`, letters in either case).
    pub fn from_char(c: char) -> Option<Self> {
        let code = match c {
            '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => c as u8 - b'A' + 12,
            'a'..='d' => c as u8 - b'a' + 12,
            _ => return None,
        };
        Some(Self(code))
    }

    /// The RFC 4733 event code.
    pub fn event(self) -> u8 {
        self.0
    }

    /// The keypad character.
    pub fn to_char(self) -> char {
        match self.0 {
            0..=9 => (b'0' + self.0) as char,
            10 => '*',
            11 => '#',
            n => (b'A' + n - 12) as char,
        }
    }

    /// The digit at keypad position (row, column), both 0..4.
    pub fn from_position(row: usize, col: usize) -> Option<Self> {
        KEYPAD
            .get(row)
            .and_then(|r| r.get(col))
            .and_then(|&c| Self::from_char(c))
    }

    /// The (row, column) keypad position.
    pub fn position(self) -> (usize, usize) {
        let c = self.to_char();
        for (r, row) in KEYPAD.iter().enumerate() {
            if let Some(col) = row.iter().position(|&k| k == c) {
                return (r, col);
            }
        }
        unreachable!("every digit 0-15 is on the keypad")
    }

    /// The (low, high) tone frequencies in Hz.
    pub fn frequencies(self) -> (f32, f32) {
        let (r, c) = self.position();
        (LOW_GROUP_HZ[r], HIGH_GROUP_HZ[c])
    }
}

impl std::fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

/// Errors from DTMF parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// An RFC 4733 payload shorter than its 4-byte event block.
    #[error("telephone-event payload too short: {len} bytes, need 4")]
    ShortPayload {
        /// Payload length.
        len: usize,
    },
    /// An event code this engine does not handle (only DTMF 0–15).
    #[error("telephone-event {0} is not a DTMF digit")]
    UnsupportedEvent(u8),
    /// A SIP INFO body that is not valid DTMF.
    #[error("bad DTMF INFO body at byte {position}: {reason}")]
    BadInfoBody {
        /// Byte offset in the body where the problem is.
        position: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A content type other than `application/dtmf-relay` or `application/dtmf`.
    #[error("unsupported DTMF INFO content type")]
    UnsupportedContentType,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_map_both_ways() {
        for code in 0..16 {
            let d = DtmfDigit::from_event(code).unwrap();
            assert_eq!(DtmfDigit::from_char(d.to_char()), Some(d));
            let (r, c) = d.position();
            assert_eq!(DtmfDigit::from_position(r, c), Some(d));
        }
        assert_eq!(DtmfDigit::from_event(16), None);
        assert_eq!(DtmfDigit::from_char('x'), None);
        assert_eq!(DtmfDigit::from_char('#').unwrap().event(), 11);
        assert_eq!(
            DtmfDigit::from_char('5').unwrap().frequencies(),
            (770.0, 1336.0)
        );
        assert_eq!(
            DtmfDigit::from_char('d').unwrap().frequencies(),
            (941.0, 1633.0)
        );
    }
}
