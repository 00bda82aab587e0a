//! `name-addr` / `addr-spec` with header parameters: From, To, Contact, Route, ...

use std::fmt;
use std::str::FromStr;

use smallvec::SmallVec;

use super::error::{Fail, PResult, ParseError};
use super::scan::{
    Params, find_param, generic_params, is_name, is_token, is_ws, quoted_end, skip_ws, with_param,
};
use super::text::{MAX_TYPED_LEN, Span, Text};
use super::uri::Uri;

/// An address with optional display name and header parameters, as in From, To, Contact,
/// Route and Record-Route: `"Alice" <sip:alice@example.com>;tag=1928301774` or the
/// addr-spec form `sip:alice@example.com;tag=1928301774`.
#[derive(Clone, Debug)]
pub struct NameAddr {
    /// Where the whole value lies in the buffer the URI's text shares (absolute offsets),
    /// so that the address and its URI hold one reference between them.
    outer: (u32, u32),
    display: Option<Span>,
    uri: Uri,
    /// Where the header parameters start (the end of `>` or of the addr-spec).
    params_at: u32,
    params: Params,
    /// Where the first `tag` parameter's value is in the shared buffer (absolute, like
    /// `outer`; empty for a bare `tag`): read on every message, to match its dialog.
    tag: Option<(u32, u32)>,
}

/// A Contact value: a [`NameAddr`] (with [`NameAddr::q`] and [`NameAddr::expires`]).
pub type Contact = NameAddr;

/// The Contact header field: absent, `*` (REGISTER removing every binding), or addresses.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[allow(
    clippy::large_enum_variant,
    reason = "held inside the boxed header fields; inline, one Contact costs no allocation"
)]
pub enum Contacts {
    /// No Contact header.
    #[default]
    None,
    /// `Contact: *`.
    Star,
    /// One or more addresses, in order (one is held inline: most messages carry one).
    List(SmallVec<[Contact; 1]>),
}

impl Contacts {
    /// The addresses (empty for `None` and `Star`).
    pub fn as_slice(&self) -> &[Contact] {
        match self {
            Contacts::List(v) => v,
            _ => &[],
        }
    }
}

impl NameAddr {
    /// `<uri>` with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        let text = format!("<{uri}>");
        NameAddr::parse_text(Text::owned(&text)).expect("a URI in brackets is a name-addr")
    }

    /// `"display" <uri>`; quotes and backslashes in `display` are escaped.
    pub fn with_display_name(display: &str, uri: Uri) -> NameAddr {
        let mut text = String::with_capacity(display.len() + uri.as_str().len() + 5);
        text.push('"');
        for c in display.chars() {
            if c == '"' || c == '\\' {
                text.push('\\');
            }
            if c != '\r' && c != '\n' {
                text.push(c);
            }
        }
        text.push_str("\" <");
        text.push_str(uri.as_str());
        text.push('>');
        NameAddr::parse_text(Text::owned(&text)).expect("an escaped display name is valid")
    }

    /// Parses a name-addr or addr-spec with parameters.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        NameAddr::parse_text(Text::owned(s)).map_err(|f| ParseError::at(s.as_bytes(), f, false))
    }

    /// Parses the whole of `text` (already trimmed of surrounding whitespace).
    pub(crate) fn parse_text(text: Text) -> PResult<NameAddr> {
        let mut slot = None;
        NameAddr::parse_into(text, &mut slot)?;
        Ok(slot.expect("set when parsed"))
    }

    /// Parses the whole of `text` into `slot`: built where it is kept, not moved there.
    pub(crate) fn parse_into(text: Text, slot: &mut Option<NameAddr>) -> PResult<()> {
        if text.as_str().len() > MAX_TYPED_LEN {
            return Err(Fail::new(0, "a value shorter than 64 KiB"));
        }
        let s = text.as_str().as_bytes();
        let mut i = skip_ws(s, 0);
        let mut display = None;
        let uri_span;
        let after;
        // The name-addr form: a quoted string or tokens and whitespace, then '<'.
        let angle = if s.get(i) == Some(&b'"') {
            let e = quoted_end(s, i)?;
            display = Some(Span::new(i, e));
            i = skip_ws(s, e);
            true
        } else {
            let mut j = i;
            let mut d1 = i;
            while j < s.len() && (is_token(s[j]) || is_ws(s[j])) {
                if is_token(s[j]) {
                    d1 = j + 1;
                }
                j += 1;
            }
            if s.get(j) == Some(&b'<') {
                if d1 > i {
                    display = Some(Span::new(i, d1));
                }
                i = j;
                true
            } else if j < s.len() && s[j] != b':' && memchr::memchr(b'<', &s[j..]).is_some() {
                return Err(Fail::new(j, "a token or quoted display name"));
            } else {
                false
            }
        };
        // Inside `<...>` the URI is parsed where it stands, its end found by parsing (no
        // search for the `>` first); when that fails, the URI is cut at the first `>` and
        // parsed again below, which reports what is wrong.
        let mut parsed = None;
        if angle {
            if s.get(i) != Some(&b'<') {
                return Err(Fail::new(i, "'<'"));
            }
            let rest = &s[i + 1..];
            match Uri::parse_head(rest, true) {
                Ok((scheme, parts, len)) if rest.get(len) == Some(&b'>') => {
                    parsed = Some((scheme, parts));
                    uri_span = Span::new(i + 1, i + 1 + len);
                    after = i + len + 2;
                }
                _ => {
                    let Some(len) = memchr::memchr(b'>', &s[i..]) else {
                        return Err(Fail::new(i, "'>'"));
                    };
                    uri_span = Span::new(i + 1, i + len);
                    after = i + len + 1;
                }
            }
        } else {
            let mut e = i;
            while e < s.len() && s[e] != b';' && !is_ws(s[e]) {
                if matches!(s[e], b'?' | b',' | b'<' | b'>' | b'"') {
                    return Err(Fail::new(e, "a URI enclosed in <>"));
                }
                e += 1;
            }
            uri_span = Span::new(i, e);
            after = e;
        }
        let mut params = Params::new();
        let end = generic_params(s, after, &mut params)?;
        let end = skip_ws(s, end);
        if end != s.len() {
            return Err(Fail::new(end, "';' or the end of the address"));
        }
        let outer = text.bounds();
        let tag = params
            .iter()
            .find(|p| is_name(&s[p.name.start as usize..p.name.end as usize], b"tag"))
            .map(|p| {
                let v = p.value.unwrap_or(Span::new(0, 0));
                (outer.0 + u32::from(v.start), outer.0 + u32::from(v.end))
            });
        let uri_text = text.into_sub(uri_span.start as usize, uri_span.end as usize);
        let uri = match parsed {
            Some((scheme, parts)) => parts.into_uri(scheme, uri_text),
            None => Uri::parse_text(uri_text).map_err(|f| f.shift(uri_span.start as usize))?,
        };
        *slot = Some(NameAddr {
            outer,
            display,
            uri,
            params_at: after as u32,
            tag,
            params,
        });
        Ok(())
    }

    /// The display name: the content of the quoted string (escapes kept), or the tokens.
    pub fn display_name(&self) -> Option<&str> {
        self.display.map(|d| {
            let s = d.of(self.as_str());
            if s.starts_with('"') {
                &s[1..s.len() - 1]
            } else {
                s
            }
        })
    }

    /// The address.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// A header parameter by name (case-insensitive): `Some("")` for a flag, values as
    /// written (a quoted value keeps its quotes).
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(self.as_str(), &self.params, name)
    }

    /// All header parameters in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        let t = self.as_str();
        self.params
            .iter()
            .map(move |p| (p.name.of(t), p.value.map(|v| v.of(t))))
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.tag.map(|at| self.uri.text().within(at))
    }

    /// Sets (replaces) the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        self.set_param("tag", Some(tag));
    }

    /// Sets (or adds) a header parameter; `None` makes it a flag. The value must be a
    /// token, host or quoted string; an invalid one leaves the address unchanged.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let t = self.as_str();
        let head = &t[..self.params_at as usize];
        // An addr-spec gaining parameters is bracketed, so that a URI with parameters of
        // its own keeps them apart from the header parameters.
        let bracketed;
        let head = if self.display.is_none() && !head.trim_end().ends_with('>') {
            bracketed = format!("<{}>", head.trim());
            bracketed.as_str()
        } else {
            head
        };
        let out = with_param(head, t, &self.params, name, value);
        if let Ok(n) = NameAddr::parse_text(Text::owned(&out)) {
            *self = n;
        }
    }

    /// Contact `q` parameter (0.0–1.0), when present and valid.
    pub fn q(&self) -> Option<f32> {
        let v = self.param("q")?;
        let ok = !v.is_empty()
            && v.len() <= 5
            && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && (v.starts_with('0') || v.starts_with('1'));
        let q: f32 = v.parse().ok().filter(|_| ok)?;
        (0.0..=1.0).contains(&q).then_some(q)
    }

    /// Contact `expires` parameter in seconds (saturating at `u32::MAX`).
    pub fn expires(&self) -> Option<u32> {
        parse_delta(self.param("expires")?)
    }

    /// The whole value as written.
    pub fn as_str(&self) -> &str {
        self.uri.text().within(self.outer)
    }
}

/// `delta-seconds`: digits; values beyond `u32::MAX` saturate (RFC 3261 §20.19/§20.33).
pub(crate) fn parse_delta(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

impl PartialEq for NameAddr {
    /// Equal when written the same (the parsed parts follow from the text).
    fn eq(&self, other: &NameAddr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for NameAddr {}

impl FromStr for NameAddr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<NameAddr, ParseError> {
        NameAddr::parse(s)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = NameAddr::parse(r#""A \"quoted\" name" <sip:a@example.com;lr>;tag=x1"#).unwrap();
        assert_eq!(a.display_name(), Some(r#"A \"quoted\" name"#));
        assert_eq!(a.uri().param("lr"), Some(""));
        assert_eq!(a.tag(), Some("x1"));
        let b = NameAddr::parse("sip:b@example.com;tag=9").unwrap();
        assert_eq!(b.uri().as_str(), "sip:b@example.com");
        assert_eq!(b.tag(), Some("9"));
        let c = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(c.display_name(), Some("caller"));
        let d = NameAddr::parse("isbn:2983792873").unwrap();
        assert_eq!(d.uri().as_str(), "isbn:2983792873");
    }

    #[test]
    fn rejects() {
        assert!(NameAddr::parse("Bell, Alexander <sip:a@example.com>").is_err());
        assert!(NameAddr::parse("\"unterminated <sip:a@example.com>").is_err());
        assert!(NameAddr::parse("< sip:a@example.com >").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E").is_err());
        assert!(NameAddr::parse("<sip:a@example.com>;;").is_err());
    }

    #[test]
    fn set_tag_and_contact_params() {
        let mut a = NameAddr::parse("sip:bob@example.com").unwrap();
        a.set_tag("abc");
        assert_eq!(a.as_str(), "<sip:bob@example.com>;tag=abc");
        a.set_tag("def");
        assert_eq!(a.tag(), Some("def"));
        let c = NameAddr::parse("<sip:c@h>;q=0.7;expires=3600").unwrap();
        assert_eq!(c.q(), Some(0.7));
        assert_eq!(c.expires(), Some(3600));
        let n = NameAddr::with_display_name("Say \"hi\"", Uri::parse("sip:x@y").unwrap());
        assert_eq!(n.display_name(), Some(r#"Say \"hi\""#));
    }
}
