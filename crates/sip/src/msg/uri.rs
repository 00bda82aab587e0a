//! URIs: `sip:`, `sips:` and `tel:` parsed; any other scheme kept opaque.
//!
//! Escapes (`%41`) are validated but never decoded: the URI prints back byte for byte.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::error::{Fail, PResult, ParseError};
use super::scan::{
    Param, Params, class_table, find_param, is_unreserved, skip_class, skip_class_to,
};
use super::text::{MAX_TYPED_LEN, Span, Text};

/// A URI scheme. Scheme names are case-insensitive; an unknown one keeps its spelling.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme; the rest of the URI is kept opaque.
    Other(String),
}

impl Scheme {
    /// The scheme name (lower case for the known ones).
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host: domain name, IPv4 address or IPv6 reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as written.
    Domain(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written `[...]` in URIs and Via).
    V6(Ipv6Addr),
}

impl Host {
    /// The address, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A parsed host: kind only; the text stays in the owner's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostKind {
    Domain,
    V4(Ipv4Addr),
    /// An IPv6 reference, checked when parsed and read again from the text when asked
    /// for (rare), which keeps every parsed URI and Via smaller.
    V6,
}

impl HostKind {
    pub(crate) fn to_host(self, text: &str) -> Host {
        match self {
            HostKind::Domain => Host::Domain(text.to_owned()),
            HostKind::V4(a) => Host::V4(a),
            HostKind::V6 => Host::V6(
                text.get(1..text.len().saturating_sub(1))
                    .and_then(|t| t.parse().ok())
                    .expect("an IPv6 reference checked when parsed"),
            ),
        }
    }
}

/// Host name character classes, one lookup per byte: a host character is `HOST_DIGIT`
/// (a digit), `HOST_DOT` or `HOST_OTHER` (a letter, `-` or `_` seen in the wild).
const HOST_DIGIT: u8 = 1;
const HOST_DOT: u8 = 2;
const HOST_OTHER: u8 = 4;
static HOST: [u8; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_digit() {
            HOST_DIGIT
        } else if b == b'.' {
            HOST_DOT
        } else if b.is_ascii_alphabetic() || b == b'-' || b == b'_' {
            HOST_OTHER
        } else {
            0
        };
        i += 1;
    }
    t
};

/// The bytes a host name may hold.
static HOST_CHAR: [bool; 256] =
    class_table!(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));

/// Whether `t` holds two dots in a row: eight bytes at a time, each window overlapping
/// the last by one byte so that no pair is split.
fn has_double_dot(t: &[u8]) -> bool {
    if t.len() < 8 {
        return t.windows(2).any(|w| w == b"..");
    }
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut k = 0;
    loop {
        let at = k.min(t.len() - 8);
        let w: [u8; 8] = t[at..at + 8].try_into().expect("eight bytes");
        let x = u64::from_le_bytes(w) ^ 0x2e2e_2e2e_2e2e_2e2e;
        // The high bit of each byte that was a dot (exact: no carry between bytes).
        let dots = !(((x & LOW) + LOW) | x | LOW);
        if dots & (dots << 8) != 0 {
            return true;
        }
        if at + 8 == t.len() {
            return false;
        }
        k += 7;
    }
}

/// Parses `host` at the start of `s` (hostname / IPv4address / IPv6reference); returns
/// the kind and the end index. Stops at the first character that cannot be in a host.
#[inline(always)]
pub(crate) fn parse_host(s: &[u8], i: usize) -> PResult<(HostKind, usize)> {
    let rest = s.get(i..).unwrap_or_default();
    if rest.first() == Some(&b'[') {
        let Some(len) = memchr::memchr(b']', rest) else {
            return Err(Fail::new(i, "a closing ']' of an IPv6 reference"));
        };
        std::str::from_utf8(&rest[1..len])
            .ok()
            .and_then(|t| t.parse::<Ipv6Addr>().ok())
            .ok_or(Fail::new(i + 1, "an IPv6 address"))?;
        return Ok((HostKind::V6, i + len + 1));
    }
    // An IPv4 address is read directly when nothing that can be part of a host follows it.
    if rest.first().is_some_and(u8::is_ascii_digit)
        && let Some((addr, len)) = ipv4_prefix(rest)
        && rest.get(len).is_none_or(|&c| HOST[c as usize] == 0)
    {
        return Ok((HostKind::V4(addr), i + len));
    }
    // A host that starts with a letter is a domain name: its extent found by the class
    // scan, and an empty label (a dot after a dot) looked for eight bytes at a time. When
    // there is one, the pass below says where.
    if rest.first().is_some_and(u8::is_ascii_alphabetic) {
        let len = skip_class(rest, 0, &HOST_CHAR);
        if !has_double_dot(&rest[..len]) {
            return Ok((HostKind::Domain, i + len));
        }
    }
    // One pass: the extent, the classes seen, and whether a dot follows a dot (or starts
    // the host), which is an empty label.
    let mut len = rest.len();
    let mut seen = 0;
    let mut prev = HOST_DOT;
    let mut empty_label = 0;
    for (k, &c) in rest.iter().enumerate() {
        let class = HOST[c as usize];
        if class == 0 {
            len = k;
            break;
        }
        empty_label |= class & prev;
        seen |= class;
        prev = class;
    }
    let text = &rest[..len];
    if empty_label & HOST_DOT != 0 {
        let at = text
            .iter()
            .enumerate()
            .position(|(k, &c)| c == b'.' && (k == 0 || text[k - 1] == b'.'))
            .expect("an empty label was seen");
        return Err(Fail::new(i + at, "a host name without empty labels"));
    }
    if len == 0 {
        return Err(Fail::new(i, "a host"));
    }
    if seen & HOST_OTHER == 0 {
        let addr = parse_ipv4(text).ok_or(Fail::new(i, "an IPv4 address"))?;
        return Ok((HostKind::V4(addr), i + len));
    }
    if text[0] == b'-' {
        return Err(Fail::new(i, "a host name"));
    }
    Ok((HostKind::Domain, i + len))
}

/// Dotted-quad IPv4 (no leading zeros beyond a single `0`), as `Ipv4Addr::from_str`
/// accepts, without its generic parser.
pub(crate) fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    ipv4_prefix(s)
        .filter(|&(_, len)| len == s.len())
        .map(|(addr, _)| addr)
}

/// The dotted-quad IPv4 address at the start of `s`, and its length. What follows it is
/// not looked at (the caller decides whether it ends the address).
pub(crate) fn ipv4_prefix(s: &[u8]) -> Option<(Ipv4Addr, usize)> {
    // Read through a 16-byte window, zero-padded when `s` is shorter: an address is at
    // most 15 bytes, so every index below stays inside the window.
    let w: [u8; 16] = match s.get(..16) {
        Some(head) => head.try_into().ok()?,
        None => {
            let mut w = [0; 16];
            w[..s.len()].copy_from_slice(s);
            w
        }
    };
    let digit = |i: usize| w[i & 15].wrapping_sub(b'0');
    let mut out = [0u8; 4];
    let mut i = 0;
    for (n, octet) in out.iter_mut().enumerate() {
        if n > 0 {
            if w[i & 15] != b'.' {
                return None;
            }
            i += 1;
        }
        // One to three digits making 0-255, with no leading zero before another digit.
        let d0 = digit(i);
        if d0 > 9 {
            return None;
        }
        let mut v = u32::from(d0);
        i += 1;
        let d1 = digit(i);
        if d1 <= 9 {
            if d0 == 0 {
                return None;
            }
            v = v * 10 + u32::from(d1);
            i += 1;
            let d2 = digit(i);
            if d2 <= 9 {
                v = v * 10 + u32::from(d2);
                i += 1;
            }
        }
        *octet = u8::try_from(v).ok()?;
    }
    Some((Ipv4Addr::from(out), i))
}

/// Parses `":" port` at `i` if present; returns the port and the end index.
#[inline(always)]
pub(crate) fn parse_port(s: &[u8], i: usize) -> PResult<(Option<u16>, usize)> {
    if s.get(i) != Some(&b':') {
        return Ok((None, i));
    }
    let mut j = i + 1;
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
    }
    let digits = &s[i + 1..j];
    if digits.is_empty() || digits.len() > 5 {
        return Err(Fail::new(i + 1, "a port number"));
    }
    let port = digits
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    let port = u16::try_from(port).map_err(|_| Fail::new(i + 1, "a port number below 65536"))?;
    Ok((Some(port), j))
}

/// The parts of a URI found while parsing, before the text moves into the `Uri`.
#[derive(Default)]
pub(crate) struct Parts {
    user: Option<Span>,
    password: Option<Span>,
    host: Option<(HostKind, Span)>,
    port: Option<u16>,
    params: Params,
    headers: Option<Span>,
}

impl Parts {
    /// The URI whose text is `text` (the parts' offsets are relative to it).
    #[inline(always)]
    pub(crate) fn into_uri(self, scheme: Scheme, text: Text) -> Uri {
        let (scheme, other_scheme) = match scheme {
            Scheme::Sip => (SchemeKind::Sip, None),
            Scheme::Sips => (SchemeKind::Sips, None),
            Scheme::Tel => (SchemeKind::Tel, None),
            other @ Scheme::Other(_) => (SchemeKind::Other, Some(Box::new(other))),
        };
        Uri {
            text,
            scheme,
            other_scheme,
            user: self.user,
            password: self.password,
            host: self.host,
            port: self.port,
            params: self.params,
            headers: self.headers,
        }
    }

    /// `bounded`: the URI ends at the first `>` (it is read inside `<...>`), so an `@`
    /// after that is not the URI's.
    #[inline(always)]
    fn parse_sip(&mut self, s: &[u8], start: usize, bounded: bool) -> PResult<usize> {
        let mut i = start;
        // Usually the user part is plain characters up to the '@': the class scan finds
        // both, with no search for the '@' first.
        let plain = skip_class_to(s, start, s.len(), &USER);
        let at = if s.get(plain) == Some(&b'@') {
            Some(plain)
        } else if bounded {
            memchr::memchr2(b'@', b'>', &s[start..])
                .map(|k| start + k)
                .filter(|&k| s[k] == b'@')
        } else {
            memchr::memchr(b'@', &s[start..]).map(|k| start + k)
        };
        if let Some(at) = at {
            let user_end = if at == plain {
                plain
            } else {
                skip_chars(s, start, at, &USER)?
            };
            if user_end == start {
                return Err(Fail::new(start, "a user name"));
            }
            self.user = Some(Span::new(start, user_end));
            if user_end < at {
                if s[user_end] != b':' {
                    return Err(Fail::new(user_end, "'@' after the user name"));
                }
                let pw_end = skip_chars(s, user_end + 1, at, &PASSWORD)?;
                if pw_end != at {
                    return Err(Fail::new(pw_end, "'@' after the password"));
                }
                self.password = Some(Span::new(user_end + 1, at));
            }
            i = at + 1;
        }
        let (kind, host_end) = parse_host(s, i)?;
        self.host = Some((kind, Span::new(i, host_end)));
        let (port, j) = parse_port(s, host_end)?;
        self.port = port;
        let mut j = uri_params(s, j, &mut self.params)?;
        if s.get(j) == Some(&b'?') {
            let h0 = j + 1;
            let h1 = skip_chars(s, h0, s.len(), &HEADERS)?;
            if h1 == h0 {
                return Err(Fail::new(h0, "URI headers"));
            }
            self.headers = Some(Span::new(h0, h1));
            j = h1;
        }
        Ok(j)
    }
}

/// Which [`Scheme`] a URI has, in one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemeKind {
    Sip,
    Sips,
    Tel,
    Other,
}

static SCHEME_SIP: Scheme = Scheme::Sip;
static SCHEME_SIPS: Scheme = Scheme::Sips;
static SCHEME_TEL: Scheme = Scheme::Tel;

/// A URI. `sip:`/`sips:` URIs are parsed into user, password, host, port, parameters and
/// headers; `tel:` into number and parameters; other schemes are kept opaque.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    text: Text,
    scheme: SchemeKind,
    /// The scheme of a [`SchemeKind::Other`] URI (boxed: rare, and a URI moves often).
    other_scheme: Option<Box<Scheme>>,
    user: Option<Span>,
    password: Option<Span>,
    host: Option<(HostKind, Span)>,
    port: Option<u16>,
    params: Params,
    headers: Option<Span>,
}

fn is_escaped(s: &[u8], i: usize) -> bool {
    i + 2 < s.len() && s[i] == b'%' && s[i + 1].is_ascii_hexdigit() && s[i + 2].is_ascii_hexdigit()
}

/// Skips characters of `class` or `%HH` escapes; an invalid escape is an error.
#[inline(always)]
fn skip_chars(s: &[u8], mut i: usize, end: usize, class: &[bool; 256]) -> PResult<usize> {
    loop {
        let k = skip_class_to(s, i, end, class);
        if k < end && s[k] == b'%' {
            if is_escaped(&s[..end], k) {
                i = k + 3;
                continue;
            }
            return Err(Fail::new(k, "an escape %HH"));
        }
        return Ok(k);
    }
}

static USER: [bool; 256] = class_table!(
    |b| is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
);
static PASSWORD: [bool; 256] =
    class_table!(|b| is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b','));
static PARAM: [bool; 256] = class_table!(
    |b| is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
);
static HEADERS: [bool; 256] = class_table!(|b| is_unreserved(b)
    || matches!(
        b,
        b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&'
    ));
static TEL: [bool; 256] =
    class_table!(|b| b.is_ascii_alphanumeric()
        || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'));

/// `*( ";" pname [ "=" pvalue ] )` of a URI, from `i`; returns the end index.
#[inline(always)]
fn uri_params(s: &[u8], mut i: usize, out: &mut Params) -> PResult<usize> {
    while i < s.len() && s[i] == b';' {
        let n0 = i + 1;
        let n1 = skip_chars(s, n0, s.len(), &PARAM)?;
        if n1 == n0 {
            return Err(Fail::new(n0, "a URI parameter name"));
        }
        if s.get(n1) == Some(&b'=') {
            let v0 = n1 + 1;
            let v1 = skip_chars(s, v0, s.len(), &PARAM)?;
            if v1 == v0 {
                return Err(Fail::new(v0, "a URI parameter value"));
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
    Ok(i)
}

impl Uri {
    /// Parses a URI given on its own.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        Uri::parse_text(Text::owned(s)).map_err(|f| ParseError::at(s.as_bytes(), f, false))
    }

    /// Parses the whole of `text` as a URI.
    pub(crate) fn parse_text(text: Text) -> PResult<Uri> {
        if text.as_str().len() > MAX_TYPED_LEN {
            return Err(Fail::new(0, "a value shorter than 64 KiB"));
        }
        let (scheme, parts, end) = Uri::parse_head(text.as_str().as_bytes(), false)?;
        if end != text.as_str().len() {
            return Err(Fail::new(end, "the end of the URI"));
        }
        Ok(parts.into_uri(scheme, text))
    }

    /// Parses the URI at the start of `s` (at most [`MAX_TYPED_LEN`] long, checked by the
    /// caller) up to the first character that cannot continue it: the scheme, the parts
    /// and that index. `bounded`: the URI is read inside `<...>`.
    #[inline(always)]
    pub(crate) fn parse_head(s: &[u8], bounded: bool) -> PResult<(Scheme, Parts, usize)> {
        let mut i = 0;
        // `sip:` (any case) is nearly every URI: decided without the scheme scan.
        let sip = s.len() > 3 && s[3] == b':' && s[..3].eq_ignore_ascii_case(b"sip");
        if sip {
            i = 3;
        }
        while !sip
            && i < s.len()
            && (s[i].is_ascii_alphanumeric() || matches!(s[i], b'+' | b'-' | b'.'))
        {
            i += 1;
        }
        if i == 0 || !s[0].is_ascii_alphabetic() || s.get(i) != Some(&b':') {
            return Err(Fail::new(i, "a URI scheme followed by ':'"));
        }
        let name = &s[..i];
        let scheme = if sip || name.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if name.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if name.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            // The scheme's characters are ASCII: checked above.
            Scheme::Other(String::from_utf8_lossy(name).into_owned())
        };
        let mut uri = Parts::default();
        let rest = i + 1;
        let end = match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(s, rest, bounded)?,
            Scheme::Tel => {
                let e = skip_chars(s, rest, s.len(), &TEL)?;
                if e == rest {
                    return Err(Fail::new(rest, "a telephone number"));
                }
                uri.user = Some(Span::new(rest, e));
                uri_params(s, e, &mut uri.params)?
            }
            Scheme::Other(_) => {
                let mut e = rest;
                while e < s.len()
                    && s[e] > b' '
                    && s[e] != 0x7f
                    && !matches!(s[e], b'<' | b'>' | b'"')
                {
                    e += 1;
                }
                if e == rest {
                    return Err(Fail::new(rest, "the URI after the scheme"));
                }
                e
            }
        };
        Ok((scheme, uri, end))
    }

    /// The scheme.
    pub fn scheme(&self) -> &Scheme {
        match self.scheme {
            SchemeKind::Sip => &SCHEME_SIP,
            SchemeKind::Sips => &SCHEME_SIPS,
            SchemeKind::Tel => &SCHEME_TEL,
            SchemeKind::Other => self.other_scheme.as_deref().expect("kept with its kind"),
        }
    }

    /// The user part as written (escapes kept); for `tel:` the number.
    pub fn user(&self) -> Option<&str> {
        self.user.map(|s| s.of(self.text.as_str()))
    }

    /// The password, if the userinfo has one.
    pub fn password(&self) -> Option<&str> {
        self.password.map(|s| s.of(self.text.as_str()))
    }

    /// The host of a `sip:`/`sips:` URI.
    pub fn host(&self) -> Option<Host> {
        self.host
            .map(|(kind, span)| kind.to_host(span.of(self.text.as_str())))
    }

    /// The host as written (IPv6 with its brackets), without allocating.
    pub fn host_str(&self) -> Option<&str> {
        self.host.map(|(_, span)| span.of(self.text.as_str()))
    }

    /// The port, if given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// A URI parameter by name (case-insensitive): `Some("")` for a flag such as `lr`.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(self.text.as_str(), &self.params, name)
    }

    /// All URI parameters in order, as `(name, value)`.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        let t = self.text.as_str();
        self.params
            .iter()
            .map(move |p| (p.name.of(t), p.value.map(|v| v.of(t))))
    }

    /// The headers part after `?`, as written (escapes kept).
    pub fn headers(&self) -> Option<&str> {
        self.headers.map(|s| s.of(self.text.as_str()))
    }

    pub(crate) fn text(&self) -> &Text {
        &self.text
    }

    /// The whole URI as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// Sets (or adds) a URI parameter; `None` makes it a flag. Only for `sip:`, `sips:`
    /// and `tel:` URIs (an opaque URI is returned unchanged).
    pub fn set_param(&mut self, name: &str, value: Option<&str>) -> Result<(), ParseError> {
        if self.scheme == SchemeKind::Other {
            return Ok(());
        }
        let t = self.text.as_str();
        let mut out = String::with_capacity(t.len() + name.len() + 8);
        let params_end = self
            .params
            .last()
            .map(|p| p.value.unwrap_or(p.name).end as usize)
            .unwrap_or_else(|| self.params_start());
        out.push_str(&t[..self.params_start()]);
        for p in &self.params {
            if p.name.of(t).eq_ignore_ascii_case(name) {
                continue;
            }
            out.push(';');
            out.push_str(&t[p.name.start as usize..p.value.unwrap_or(p.name).end as usize]);
        }
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
        out.push_str(&t[params_end..]);
        *self = Uri::parse(&out)?;
        Ok(())
    }

    /// Removes a URI parameter (case-insensitive name), if present.
    pub fn remove_param(&mut self, name: &str) {
        let t = self.text.as_str();
        let Some(p) = self
            .params
            .iter()
            .find(|p| p.name.of(t).eq_ignore_ascii_case(name))
        else {
            return;
        };
        let start = p.name.start as usize - 1;
        let end = p.value.unwrap_or(p.name).end as usize;
        let out = format!("{}{}", &t[..start], &t[end..]);
        *self = Uri::parse(&out).expect("removing a parameter keeps a valid URI");
    }

    fn params_start(&self) -> usize {
        if let Some(p) = self.params.first() {
            return p.name.start as usize - 1;
        }
        match (self.port, self.host, self.user) {
            (_, Some((_, host)), _) => {
                let t = self.text.as_str().as_bytes();
                let mut e = host.end as usize;
                if self.port.is_some() {
                    e += 1;
                    while e < t.len() && t[e].is_ascii_digit() {
                        e += 1;
                    }
                }
                e
            }
            (_, None, Some(user)) => user.end as usize,
            _ => self.text.as_str().len(),
        }
    }
}

impl FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse("sip:alice:pw@[2001:db8::10]:5070;transport=tcp;lr?Subject=hi").unwrap();
        assert_eq!(u.scheme(), &Scheme::Sip);
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("pw"));
        assert_eq!(u.host(), Some(Host::V6("2001:db8::10".parse().unwrap())));
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.param("TRANSPORT"), Some("tcp"));
        assert_eq!(u.param("lr"), Some(""));
        assert_eq!(u.headers(), Some("Subject=hi"));
    }

    #[test]
    fn escapes_are_kept_and_checked() {
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user(), Some("sips%3Auser%40example.com"));
        assert_eq!(u.host(), Some(Host::Domain("example.net".into())));
        assert!(Uri::parse("sip:a%4@example.com").is_err());
    }

    #[test]
    fn tel_and_opaque() {
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme(), &Scheme::Tel);
        assert_eq!(t.user(), Some("+1-201-555-0123"));
        assert_eq!(t.host(), None);
        let o = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(o.scheme(), &Scheme::Other("soap.beep".into()));
        assert_eq!(o.to_string(), "soap.beep://192.0.2.103:3002");
    }

    #[test]
    fn ipv4_like_std() {
        for s in [
            "1.2.3.4",
            "255.255.255.255",
            "0.0.0.0",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2.3",
            "1.2.3.4.",
            "1234.1.1.1",
            "",
        ] {
            assert_eq!(parse_ipv4(s.as_bytes()), s.parse().ok(), "{s}");
        }
    }

    #[test]
    fn ipv4_like_std_on_every_shape() {
        let octets = [
            "", "0", "00", "01", "1", "9", "10", "99", "100", "199", "249", "250", "255", "256",
            "299", "300", "999", "1000", "1a", "a",
        ];
        for a in octets {
            for b in ["0", "255", "256", "01", ""] {
                for c in ["7", "00", ""] {
                    for d in octets {
                        let s = format!("{a}.{b}.{c}.{d}");
                        assert_eq!(parse_ipv4(s.as_bytes()), s.parse().ok(), "{s}");
                    }
                }
            }
        }
    }

    #[test]
    fn hosts_that_start_like_addresses() {
        let host = |s: &str| Uri::parse(s).map(|u| u.host());
        assert_eq!(
            host("sip:1.2.3.4:5060"),
            Ok(Some(Host::V4("1.2.3.4".parse().unwrap())))
        );
        assert_eq!(
            host("sip:1.2.3.4a.example"),
            Ok(Some(Host::Domain("1.2.3.4a.example".into())))
        );
        assert_eq!(
            host("sip:1.2.3.4-x"),
            Ok(Some(Host::Domain("1.2.3.4-x".into())))
        );
        assert!(host("sip:1.2.3.4.5").is_err());
        assert!(host("sip:1.2.3.45678").is_err());
        assert!(host("sip:1.2.3.4..x").is_err());
        assert!(host("sip:01.2.3.4").is_err());
    }

    #[test]
    fn double_dots_found_at_every_place() {
        for len in 0..24 {
            for a in 0..len {
                for b in a..len {
                    let mut t = vec![b'x'; len];
                    t[a] = b'.';
                    t[b] = b'.';
                    let expected = t.windows(2).any(|w| w == b"..");
                    assert_eq!(has_double_dot(&t), expected, "{:?}", String::from_utf8(t));
                }
            }
        }
    }

    #[test]
    fn empty_labels_rejected_where_they_are() {
        let at = |s: &str| Uri::parse(s).unwrap_err().to_string();
        assert!(Uri::parse("sip:pbx..example.com").is_err());
        assert!(Uri::parse("sip:alice@example.com..").is_err());
        assert!(Uri::parse("sip:a.very.long.host.name..example.com").is_err());
        assert_eq!(
            at("sip:a.very.long.host.name..example.com"),
            at("sip:1.very.long.host.name..example.com").replacen("1.very", "a.very", 1)
        );
        assert_eq!(
            Uri::parse("sip:example.com.").unwrap().host_str(),
            Some("example.com.")
        );
    }

    #[test]
    fn rejects_bad_hosts_and_ports() {
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert!(Uri::parse("sip:[2001:db8:::192.0.2.1]").is_err());
        assert!(Uri::parse("sip:host:70000").is_err());
        assert!(Uri::parse("sip:user@host extra").is_err());
        assert!(Uri::parse("<sip:user@host>").is_err());
    }

    #[test]
    fn set_and_remove_param() {
        let mut u = Uri::parse("sip:bob@example.com:5060;transport=udp").unwrap();
        u.set_param("lr", None).unwrap();
        assert_eq!(u.as_str(), "sip:bob@example.com:5060;transport=udp;lr");
        u.set_param("transport", Some("tcp")).unwrap();
        assert_eq!(u.param("transport"), Some("tcp"));
        u.remove_param("lr");
        assert_eq!(u.as_str(), "sip:bob@example.com:5060;transport=tcp");
        let mut v = Uri::parse("sip:example.com").unwrap();
        v.set_param("lr", None).unwrap();
        assert_eq!(v.as_str(), "sip:example.com;lr");
    }
}
