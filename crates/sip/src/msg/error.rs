//! Parse and framing errors.

use std::fmt;

/// Why a message (or a URI, name-addr or Via given on its own) could not be parsed.
///
/// Carries the byte offset into the input, the line and column (both from 1) and what the
/// parser expected there, plus the status a UAS answers a request with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column} (byte {offset}): expected {expected}")]
pub struct ParseError {
    /// Byte offset of the problem in the input.
    pub offset: usize,
    /// Line of the problem, from 1.
    pub line: usize,
    /// Column (in bytes) of the problem, from 1.
    pub column: usize,
    /// What the parser expected at that point.
    pub expected: &'static str,
    status: u16,
    response: bool,
}

impl ParseError {
    /// The status a UAS answers with: 400 for malformed input, 505 for an unknown SIP
    /// version, 501 for an unknown method whose CSeq disagrees. `None` when the input was a
    /// response (a response is never answered: it is discarded).
    pub fn status(&self) -> Option<u16> {
        (!self.response).then_some(self.status)
    }

    /// True when the start line was a status line.
    pub fn is_response(&self) -> bool {
        self.response
    }

    /// A short reason phrase naming what is wrong, for the stateless answer.
    pub fn reason(&self) -> String {
        let base = match self.status {
            505 => "Version Not Supported",
            501 => "Not Implemented",
            _ => "Bad Request",
        };
        format!("{base} ({})", self.expected)
    }

    pub(crate) fn at(input: &[u8], fail: Fail, response: bool) -> ParseError {
        let offset = fail.at.min(input.len());
        let before = &input[..offset];
        let line = memchr::memchr_iter(b'\n', before).count() + 1;
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        ParseError {
            offset,
            line,
            column: offset - line_start + 1,
            expected: fail.expected,
            status: fail.status,
            response,
        }
    }
}

/// An internal parse failure: position (relative to whatever was being parsed), what was
/// expected, and the status it earns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) at: usize,
    pub(crate) expected: &'static str,
    pub(crate) status: u16,
}

impl Fail {
    pub(crate) fn new(at: usize, expected: &'static str) -> Fail {
        Fail {
            at,
            expected,
            status: 400,
        }
    }

    pub(crate) fn shift(mut self, by: usize) -> Fail {
        self.at += by;
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Fail {
        self.status = status;
        self
    }
}

pub(crate) type PResult<T> = Result<T, Fail>;

/// Why a byte stream cannot be framed into SIP messages (RFC 3261 §18.3): the connection
/// should be closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header section, or the whole message, exceeds the limit.
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The limit given to `frame_len`.
        limit: usize,
    },
    /// A stream message must carry Content-Length.
    #[error("no Content-Length on a stream message")]
    MissingContentLength,
    /// Content-Length is not a number, or appears with different values.
    #[error("invalid Content-Length at byte {offset}")]
    BadContentLength {
        /// Byte offset of the offending header line.
        offset: usize,
    },
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: expected {}", self.at, self.expected)
    }
}
