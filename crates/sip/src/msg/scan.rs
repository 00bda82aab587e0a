//! Character classes and small lexers of RFC 3261 §25.1.

use smallvec::SmallVec;

use super::error::{Fail, PResult};
use super::text::Span;

/// Builds a 256-entry class table from a `const` predicate over a byte.
macro_rules! class_table {
    (|$b:ident| $e:expr) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            t[i] = $e;
            i += 1;
        }
        t
    }};
}
pub(crate) use class_table;

/// `token` characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// `token` plus `:` (an IPv6 address in `received` written without brackets).
static TOKEN_COLON: [bool; 256] = {
    let mut t = TOKEN;
    t[b':' as usize] = true;
    t
};

#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// `unreserved`: alphanum / mark.
pub(crate) const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
pub(crate) fn skip_ws(s: &[u8], i: usize) -> usize {
    // Usually there is none: one comparison decides.
    match s.get(i) {
        Some(&b) if is_ws(b) => {
            let rest = &s[i + 1..];
            i + 1 + rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len())
        }
        _ => i,
    }
}

#[inline]
pub(crate) fn skip_token(s: &[u8], i: usize) -> usize {
    skip_class(s, i, &TOKEN)
}

/// Skips the bytes of a class table from `i` (`i` itself when it is past the end).
#[inline]
pub(crate) fn skip_class(s: &[u8], i: usize, class: &[bool; 256]) -> usize {
    skip_class_to(s, i, s.len(), class)
}

/// Skips the bytes of a class table from `i`, stopping at `end` (at most `s.len()`).
///
/// Eight bytes a step as a fixed-size array: the checks unroll without bounds checks, one
/// lookup and one branch a byte. Fewer than eight bytes before `end` go one at a time.
#[inline(always)]
pub(crate) fn skip_class_to(s: &[u8], i: usize, end: usize, class: &[bool; 256]) -> usize {
    let s = &s[..end];
    let mut j = i;
    while let Some(c) = s.get(j..j + 8) {
        let c: &[u8; 8] = c.try_into().expect("eight bytes");
        for (k, &b) in c.iter().enumerate() {
            if !class[b as usize] {
                return j + k;
            }
        }
        j += 8;
    }
    while j < s.len() && class[s[j] as usize] {
        j += 1;
    }
    j
}

/// Trims SP/HTAB from both ends, returning the remaining range.
pub(crate) fn trim(s: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && is_ws(s[start]) {
        start += 1;
    }
    while end > start && is_ws(s[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// `s[i]` is `"`: returns the index just past the closing quote.
pub(crate) fn quoted_end(s: &[u8], i: usize) -> PResult<usize> {
    debug_assert_eq!(s.get(i), Some(&b'"'));
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'"' => return Ok(j + 1),
            b'\\' => {
                if j + 1 >= s.len() || matches!(s[j + 1], b'\r' | b'\n') {
                    return Err(Fail::new(j, "a quoted pair"));
                }
                j += 2;
            }
            b'\r' | b'\n' | 0 => return Err(Fail::new(j, "a closing quote")),
            _ => j += 1,
        }
    }
    Err(Fail::new(i, "a closing quote"))
}

/// Splits a header value at top-level commas (outside quoted strings and `<...>`),
/// returning trimmed ranges. An unterminated quote or `<` is an error.
pub(crate) fn split_commas(s: &[u8]) -> PResult<SmallVec<[(usize, usize); 2]>> {
    let mut out = SmallVec::new();
    if memchr::memchr(b',', s).is_none() {
        // One value: quotes and brackets are checked by the value's own parser.
        out.push(trim(s, 0, s.len()));
        return Ok(out);
    }
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => i = quoted_end(s, i)?,
            b'<' => match memchr::memchr(b'>', &s[i..]) {
                Some(k) => i += k + 1,
                None => return Err(Fail::new(i, "a closing '>'")),
            },
            b',' => {
                out.push(trim(s, start, i));
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push(trim(s, start, s.len()));
    Ok(out)
}

/// One `;name[=value]` parameter: ranges in the text it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Param {
    pub(crate) name: Span,
    pub(crate) value: Option<Span>,
}

pub(crate) type Params = SmallVec<[Param; 4]>;

/// Looks up a parameter by name (case-insensitive): `Some(value)` with `""` for a flag.
pub(crate) fn find_param<'a>(text: &'a str, params: &[Param], name: &str) -> Option<&'a str> {
    // Names compared as bytes: no character-boundary checks until the one match.
    let b = text.as_bytes();
    let name = name.as_bytes();
    params
        .iter()
        .find(|p| {
            usize::from(p.name.end - p.name.start) == name.len()
                && b.get(p.name.start as usize..p.name.end as usize)
                    .is_some_and(|n| eq_nocase(n, name))
        })
        .map(|p| p.value.map_or("", |v| v.of(text)))
}

/// `a.eq_ignore_ascii_case(b)`, quicker when the bytes are equal as written (names
/// usually are): only differing bytes are folded.
#[inline]
pub(crate) fn eq_nocase(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(&x, &y)| {
            // Bytes that differ match only as the two cases of one letter.
            x == y || ((x | 0x20) == (y | 0x20) && (x | 0x20).is_ascii_lowercase())
        })
}

/// `name` is `lower` in any case, where `lower` is lower-case letters only (so folding
/// each byte of `name` with 0x20 can match no other byte): one comparison of arrays.
#[inline(always)]
pub(crate) fn is_name<const N: usize>(name: &[u8], lower: &[u8; N]) -> bool {
    debug_assert!(lower.iter().all(u8::is_ascii_lowercase));
    let Ok(name) = <&[u8; N]>::try_from(name) else {
        return false;
    };
    name.iter()
        .zip(lower)
        .fold(0, |acc, (&x, &y)| acc | ((x | 0x20) ^ y))
        == 0
}

/// A decimal number as `str::parse` reads an unsigned integer (an optional `+`, then
/// digits, leading zeros allowed), if it is at most `max`.
pub(crate) fn parse_dec(s: &[u8], max: u32) -> Option<u32> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() {
        return None;
    }
    // Checked against `max` at every digit, so the sum never leaves u64.
    let mut v: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
        if v > u64::from(max) {
            return None;
        }
    }
    u32::try_from(v).ok()
}

/// Parses `*( SEMI generic-param )` from `i` (RFC 3261: `SEMI = SWS ";" SWS`,
/// `gen-value = token / host / quoted-string`). Stops before anything that is not a `;`
/// (after whitespace) and returns that index.
#[inline(always)]
pub(crate) fn generic_params(s: &[u8], mut i: usize, out: &mut Params) -> PResult<usize> {
    loop {
        // Usually written without whitespace: `;name=value`, each step one comparison.
        let j = match s.get(i) {
            Some(b';') => i,
            Some(&c) if is_ws(c) => match skip_ws(s, i) {
                j if s.get(j) == Some(&b';') => j,
                _ => return Ok(i),
            },
            _ => return Ok(i),
        };
        let n0 = skip_ws(s, j + 1);
        let n1 = skip_token(s, n0);
        if n1 == n0 {
            return Err(Fail::new(n0, "a parameter name"));
        }
        let k = match s.get(n1) {
            Some(b'=') => n1,
            _ => skip_ws(s, n1),
        };
        if k < s.len() && s[k] == b'=' {
            let v0 = skip_ws(s, k + 1);
            let v1 = if v0 < s.len() && s[v0] == b'"' {
                quoted_end(s, v0)?
            } else if v0 < s.len() && s[v0] == b'[' {
                match memchr::memchr(b']', &s[v0..]) {
                    Some(e) => v0 + e + 1,
                    None => return Err(Fail::new(v0, "a closing ']'")),
                }
            } else {
                skip_class(s, v0, &TOKEN_COLON)
            };
            if v1 == v0 {
                return Err(Fail::new(v0, "a parameter value"));
            }
            out.push(Param {
                name: Span::new(n0, n1),
                value: Some(Span::new(v0, v1)),
            });
            i = v1;
        } else {
            out.push(Param {
                name: Span::new(n0, n1),
                value: None,
            });
            i = n1;
        }
    }
}

/// Rebuilds `head` followed by `params` (parsed from `text`) with `name` set to `value`
/// (replacing any parameter of that name, case-insensitive), for the mutators.
pub(crate) fn with_param(
    head: &str,
    text: &str,
    params: &[Param],
    name: &str,
    value: Option<&str>,
) -> String {
    let mut out = String::with_capacity(text.len() + name.len() + 16);
    out.push_str(head);
    for p in params {
        if p.name.of(text).eq_ignore_ascii_case(name) {
            continue;
        }
        out.push(';');
        out.push_str(&text[p.name.start as usize..p.value.unwrap_or(p.name).end as usize]);
    }
    out.push(';');
    out.push_str(name);
    if let Some(v) = value {
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Parses a decimal number of at most `max`, all of `s`.
pub(crate) fn parse_u64(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s.as_bytes() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    (v <= max).then_some(v)
}

/// Removes one level of quoting from a quoted-string (with quoted pairs), or returns the
/// text as is when it is not quoted.
pub(crate) fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        let inner = &s[1..s.len() - 1];
        if inner.contains('\\') {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            std::borrow::Cow::Owned(out)
        } else {
            std::borrow::Cow::Borrowed(inner)
        }
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_respect_quotes_and_brackets() {
        let s = br#""a, b" <sip:x@y;p=1,2>, <sip:z>"#;
        let parts = split_commas(s).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(&s[parts[1].0..parts[1].1], b"<sip:z>");
        assert!(split_commas(br#""open, <sip:x>"#).is_err());
    }

    #[test]
    fn class_scan_matches_a_byte_loop() {
        // Runs of every length up to 40 ending at every kind of byte, from every offset.
        let mut s = Vec::new();
        for len in 0..40 {
            s.extend(std::iter::repeat_n(b'a', len));
            s.push([b';', b' ', 0xc3, b'~'][len % 4]);
        }
        for i in 0..=s.len() + 1 {
            for end in [s.len(), s.len() / 2, s.len() / 3] {
                let expected = if i >= end {
                    i
                } else {
                    i + s[i..end]
                        .iter()
                        .position(|&b| !is_token(b))
                        .unwrap_or(end - i)
                };
                assert_eq!(skip_class_to(&s, i, end, &TOKEN), expected, "{i} {end}");
            }
        }
    }

    #[test]
    fn nocase_matches_std() {
        let bytes: Vec<u8> = (0..=255).collect();
        for &x in &bytes {
            for &y in &bytes {
                assert_eq!(
                    eq_nocase(&[x], &[y]),
                    [x].eq_ignore_ascii_case(&[y]),
                    "{x} {y}"
                );
            }
        }
        assert!(eq_nocase(b"BRANCH", b"branch"));
        assert!(!eq_nocase(b"branch", b"branc"));
    }

    #[test]
    fn params_with_spaces_quotes_and_ipv6() {
        let s = br#" ; a = 1 ;b;received=[::1];c="x;y""#;
        let mut p = Params::new();
        let end = generic_params(s, 0, &mut p).unwrap();
        assert_eq!(end, s.len());
        let text = std::str::from_utf8(s).unwrap();
        assert_eq!(find_param(text, &p, "A"), Some("1"));
        assert_eq!(find_param(text, &p, "b"), Some(""));
        assert_eq!(find_param(text, &p, "received"), Some("[::1]"));
        assert_eq!(find_param(text, &p, "c"), Some("\"x;y\""));
        assert!(generic_params(b";;", 0, &mut Params::new()).is_err());
    }
}
