//! The Via header (RFC 3261 §20.42, RFC 3581 `rport`, RFC 5118 IPv6 `received`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::error::{Fail, PResult, ParseError};
use smallvec::SmallVec;

use super::scan::{
    Params, find_param, generic_params, is_name, is_ws, parse_dec, skip_token, skip_ws,
    split_commas, with_param,
};
use super::text::{MAX_TYPED_LEN, Span, Text};
use super::uri::{Host, HostKind, parse_host};

/// One Via value: `SIP/2.0/UDP host:port;branch=z9hG4bK...;received=...;rport=...`.
#[derive(Clone, Debug)]
pub struct Via {
    text: Text,
    /// Where each part is in `text`.
    head: Head,
    /// Where the first `branch` value is in the shared buffer (absolute), found while
    /// checking the parameters (read on every message, to match it to its transaction).
    branch: Option<(u32, u32)>,
}

/// `SWS c SWS` at `i`: returns the index after it, or `None` when `c` is not there.
fn sep(s: &[u8], i: usize, c: u8) -> Option<usize> {
    let j = skip_ws(s, i);
    (s.get(j) == Some(&c)).then(|| skip_ws(s, j + 1))
}

/// A Via's parts, parsed before its text is cut out of the header value.
#[derive(Clone, Debug)]
struct Head {
    protocol: Span,
    version: Span,
    transport: Span,
    host_kind: HostKind,
    host: Span,
    port: Option<u16>,
    params_at: u32,
    params: Params,
}

impl Head {
    /// Parses the Via at the start of `s` (at most [`MAX_TYPED_LEN`] long): its parts and
    /// where it ends, before whatever follows its last parameter (whitespace, a comma).
    #[inline(always)]
    fn parse(s: &[u8]) -> PResult<(Head, usize)> {
        // `SIP/2.0/` as usually written is decided by one comparison.
        let (p0, p1, v0, v1, t0) = if s.get(..8) == Some(b"SIP/2.0/".as_slice()) {
            (0, 3, 4, 7, 8)
        } else {
            let p0 = skip_ws(s, 0);
            let p1 = skip_token(s, p0);
            if p1 == p0 {
                return Err(Fail::new(p0, "a protocol name"));
            }
            let v0 = sep(s, p1, b'/').ok_or(Fail::new(p1, "'/' after the protocol name"))?;
            let v1 = skip_token(s, v0);
            if v1 == v0 {
                return Err(Fail::new(v0, "a protocol version"));
            }
            let t0 = sep(s, v1, b'/').ok_or(Fail::new(v1, "'/' after the protocol version"))?;
            (p0, p1, v0, v1, t0)
        };
        let t1 = skip_token(s, t0);
        if t1 == t0 {
            return Err(Fail::new(t0, "a transport"));
        }
        if !s.get(t1).copied().is_some_and(is_ws) {
            return Err(Fail::new(t1, "whitespace before the sent-by"));
        }
        let h0 = skip_ws(s, t1);
        let (host_kind, h1) = parse_host(s, h0)?;
        let mut port = None;
        let mut after = h1;
        if let Some(c) = sep(s, h1, b':') {
            let mut e = c;
            while e < s.len() && s[e].is_ascii_digit() {
                e += 1;
            }
            // At most five digits, checked before they are added up.
            let value = (e > c && e - c <= 5)
                .then(|| {
                    s[c..e]
                        .iter()
                        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
                })
                .and_then(|v| u16::try_from(v).ok())
                .ok_or(Fail::new(c, "a port number"))?;
            port = Some(value);
            after = e;
        }
        let mut params = Params::new();
        let end = generic_params(s, after, &mut params)?;
        let head = Head {
            protocol: Span::new(p0, p1),
            version: Span::new(v0, v1),
            transport: Span::new(t0, t1),
            host_kind,
            host: Span::new(h0, h1),
            port,
            params_at: after as u32,
            params,
        };
        Ok((head, end))
    }

    /// The Via whose text is `text` (the parts' offsets are relative to it).
    #[inline(always)]
    fn into_via(self, text: Text) -> PResult<Via> {
        let mut via = Via {
            head: self,
            branch: None,
            text,
        };
        let base = via.text.bounds().0;
        via.branch = via
            .check_params()?
            .map(|v| (base + u32::from(v.start), base + u32::from(v.end)));
        Ok(via)
    }
}

impl Via {
    /// A Via for a request we send: `SIP/2.0/{transport} {host}[:{port}];branch={branch}`.
    pub fn new(
        transport: &str,
        host: &Host,
        port: Option<u16>,
        branch: &str,
    ) -> Result<Via, ParseError> {
        let mut s = format!("SIP/2.0/{transport} {host}");
        if let Some(p) = port {
            s.push_str(&format!(":{p}"));
        }
        s.push_str(";branch=");
        s.push_str(branch);
        Via::parse(&s)
    }

    /// Parses one Via value.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        Via::parse_text(Text::owned(s)).map_err(|f| ParseError::at(s.as_bytes(), f, false))
    }

    pub(crate) fn parse_text(text: Text) -> PResult<Via> {
        if text.as_str().len() > MAX_TYPED_LEN {
            return Err(Fail::new(0, "a value shorter than 64 KiB"));
        }
        let s = text.as_str().as_bytes();
        let (head, after) = Head::parse(s)?;
        let end = skip_ws(s, after);
        if end != s.len() {
            return Err(Fail::new(end, "';' or the end of the Via"));
        }
        head.into_via(text)
    }

    /// Parses a Via header value (one or more comma-separated Vias) into `out`, in one
    /// pass: each Via's parse stops where it ends, so no separate search for commas.
    pub(crate) fn parse_list(text: Text, out: &mut SmallVec<[Via; 2]>) -> PResult<()> {
        let s = text.as_str().as_bytes();
        if s.len() > MAX_TYPED_LEN {
            // Spans inside a Via are 16-bit: one Via at a time, cut at the commas first.
            let parts = split_commas(s)?;
            for &(a, z) in &parts {
                if a == z {
                    return Err(Fail::new(a, "a Via value"));
                }
                out.push(Via::parse_text(text.sub(a, z)).map_err(|f| f.shift(a))?);
            }
            return Ok(());
        }
        let mut a = skip_ws(s, 0);
        let (last, a, z) = loop {
            if a == s.len() || s[a] == b',' {
                return Err(Fail::new(a, "a Via value"));
            }
            let (head, len) = Head::parse(&s[a..]).map_err(|f| f.shift(a))?;
            let z = a + len;
            let next = skip_ws(s, z);
            if next == s.len() {
                break (head, a, z);
            }
            if s[next] != b',' {
                return Err(Fail::new(next, "';' or the end of the Via"));
            }
            out.push(head.into_via(text.sub(a, z)).map_err(|f| f.shift(a))?);
            a = skip_ws(s, next + 1);
        };
        // The last Via takes the value's text over: no reference-count traffic.
        out.push(last.into_via(text.into_sub(a, z)).map_err(|f| f.shift(a))?);
        Ok(())
    }

    /// `received` must be an address, `ttl` 0–255, `rport` a port or empty. Returns the
    /// first `branch` value.
    #[inline(always)]
    fn check_params(&self) -> PResult<Option<Span>> {
        let t = self.text.as_str();
        let b = t.as_bytes();
        let mut branch = None;
        for p in &self.head.params {
            let name = &b[p.name.start as usize..p.name.end as usize];
            let at = p.name.start as usize;
            let value = p.value.map(|v| &b[v.start as usize..v.end as usize]);
            let bad = if is_name(name, b"branch") {
                if branch.is_none() {
                    branch = p.value;
                }
                value.is_none().then_some("a branch value")
            } else if is_name(name, b"received") {
                p.value
                    .and_then(|v| parse_addr(v.of(t)))
                    .is_none()
                    .then_some("an IP address in received")
            } else if is_name(name, b"rport") {
                value
                    .is_some_and(|v| parse_dec(v, u32::from(u16::MAX)).is_none())
                    .then_some("a port number in rport")
            } else if is_name(name, b"ttl") {
                value
                    .and_then(|v| parse_dec(v, u32::from(u8::MAX)))
                    .is_none()
                    .then_some("a ttl of 0-255")
            } else {
                None
            };
            if let Some(expected) = bad {
                return Err(Fail::new(at, expected));
            }
        }
        Ok(branch)
    }

    /// The protocol name (`SIP`).
    pub fn protocol(&self) -> &str {
        self.head.protocol.of(self.text.as_str())
    }

    /// The protocol version (`2.0`).
    pub fn version(&self) -> &str {
        self.head.version.of(self.text.as_str())
    }

    /// The transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...).
    pub fn transport(&self) -> &str {
        self.head.transport.of(self.text.as_str())
    }

    /// The sent-by host.
    pub fn host(&self) -> Host {
        self.head
            .host_kind
            .to_host(self.head.host.of(self.text.as_str()))
    }

    /// The sent-by host as written (IPv6 in brackets), without allocating.
    pub fn host_str(&self) -> &str {
        self.head.host.of(self.text.as_str())
    }

    /// The sent-by port, if given.
    pub fn port(&self) -> Option<u16> {
        self.head.port
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.branch.map(|at| self.text.within(at))
    }

    /// The `received` parameter (brackets around an IPv6 address accepted).
    pub fn received(&self) -> Option<IpAddr> {
        self.param("received").and_then(parse_addr)
    }

    /// `None` without `rport`, `Some(None)` for a bare `rport`, `Some(Some(port))` when
    /// filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.parse().ok())
    }

    /// A parameter by name (case-insensitive): `Some("")` for a flag.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(self.text.as_str(), &self.head.params, name)
    }

    /// All parameters in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        let t = self.text.as_str();
        self.head
            .params
            .iter()
            .map(move |p| (p.name.of(t), p.value.map(|v| v.of(t))))
    }

    /// Sets `received` (RFC 3261 §18.2.1); IPv6 written in brackets (RFC 5118 §4.5).
    pub fn set_received(&mut self, addr: IpAddr) {
        let v = match addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        self.set_param("received", Some(&v));
    }

    /// Fills in `rport` with the source port (RFC 3581 §4).
    pub fn set_rport(&mut self, port: u16) {
        self.set_param("rport", Some(&port.to_string()));
    }

    /// Sets (or adds) a parameter; `None` makes it a flag. An invalid value leaves the Via
    /// unchanged.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let t = self.text.as_str();
        let out = with_param(
            &t[..self.head.params_at as usize],
            t,
            &self.head.params,
            name,
            value,
        );
        if let Ok(v) = Via::parse_text(Text::owned(&out)) {
            *self = v;
        }
    }

    /// The whole value as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }
}

fn parse_addr(s: &str) -> Option<IpAddr> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    super::uri::parse_ipv4(inner.as_bytes())
        .map(IpAddr::V4)
        .or_else(|| inner.parse().ok())
}

impl PartialEq for Via {
    /// Equal when written the same (the parsed parts follow from the text).
    fn eq(&self, other: &Via) -> bool {
        self.text == other.text
    }
}

impl Eq for Via {}

impl FromStr for Via {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Via, ParseError> {
        Via::parse(s)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let v =
            Via::parse("SIP / 2.0 / UDP [2001:db8::9:1] : 5070 ; branch=z9hG4bK1;rport").unwrap();
        assert_eq!(v.transport(), "UDP");
        assert_eq!(v.host(), Host::V6("2001:db8::9:1".parse().unwrap()));
        assert_eq!(v.port(), Some(5070));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(v.rport(), Some(None));
        let w = Via::parse("SIP/2.0/TCP h;received=2001:db8::9:255;branch=x").unwrap();
        assert_eq!(w.received(), Some("2001:db8::9:255".parse().unwrap()));
    }

    #[test]
    fn rejects() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP h;received=example.com").is_err());
        assert!(Via::parse("SIP/2.0/UDP h:99999").is_err());
        assert!(Via::parse("SIP/2.0/UDP h:10000000000000000").is_err());
        assert!(Via::parse("SIP/2.0/UDP h:").is_err());
        assert_eq!(
            Via::parse("SIP/2.0/UDP h:65535").unwrap().port(),
            Some(65535)
        );
    }

    #[test]
    fn received_and_rport() {
        let mut v = Via::parse("SIP/2.0/UDP pc33.example.com;branch=z9hG4bKa;rport").unwrap();
        v.set_received("::1".parse().unwrap());
        v.set_rport(5062);
        assert_eq!(
            v.as_str(),
            "SIP/2.0/UDP pc33.example.com;branch=z9hG4bKa;received=[::1];rport=5062"
        );
        assert_eq!(v.rport(), Some(Some(5062)));
        assert_eq!(v.received(), Some("::1".parse().unwrap()));
    }
}
