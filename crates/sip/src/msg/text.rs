//! Shared, immutable text: a range of one reference-counted header buffer.
//!
//! A parsed message copies its header section once into an `Arc<str>`; every header value
//! and every typed header keeps a `Text` pointing into it, so parsing allocates once per
//! message rather than once per value. Values built by hand own a buffer of their own.

use std::fmt;
use std::sync::Arc;

/// A cheaply clonable slice of a shared UTF-8 buffer.
#[derive(Clone)]
pub(crate) struct Text {
    buf: Arc<str>,
    start: u32,
    end: u32,
}

impl Text {
    /// A range of `buf`; the range must lie on character boundaries.
    pub(crate) fn slice(buf: &Arc<str>, start: usize, end: usize) -> Text {
        debug_assert!(buf.is_char_boundary(start) && buf.is_char_boundary(end));
        Text {
            buf: Arc::clone(buf),
            start: start as u32,
            end: end as u32,
        }
    }

    /// A text with its own buffer.
    pub(crate) fn owned(s: &str) -> Text {
        Text {
            buf: Arc::from(s),
            start: 0,
            end: s.len() as u32,
        }
    }

    /// A sub-range of this text (offsets relative to `as_str()`).
    pub(crate) fn sub(&self, start: usize, end: usize) -> Text {
        Text {
            buf: Arc::clone(&self.buf),
            start: self.start + start as u32,
            end: self.start + end as u32,
        }
    }

    /// This text narrowed to a sub-range, without touching the reference count.
    pub(crate) fn into_sub(mut self, start: usize, end: usize) -> Text {
        self.end = self.start + end as u32;
        self.start += start as u32;
        self
    }

    /// The absolute bounds of this text in its buffer.
    pub(crate) fn bounds(&self) -> (u32, u32) {
        (self.start, self.end)
    }

    /// Another range of the same buffer, by absolute bounds (from [`Text::bounds`]).
    pub(crate) fn within(&self, (start, end): (u32, u32)) -> &str {
        &self.buf[start as usize..end as usize]
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.buf[self.start as usize..self.end as usize]
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest typed value (URI, name-addr, Via): spans inside it are 16-bit, which
/// keeps the parsed forms small.
pub(crate) const MAX_TYPED_LEN: usize = u16::MAX as usize;

/// A byte range inside a typed value's [`Text`] (at most [`MAX_TYPED_LEN`] long).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: u16,
    pub(crate) end: u16,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        debug_assert!(end <= MAX_TYPED_LEN);
        Span {
            start: start as u16,
            end: end as u16,
        }
    }

    pub(crate) fn of<'a>(&self, s: &'a str) -> &'a str {
        &s[self.start as usize..self.end as usize]
    }
}
