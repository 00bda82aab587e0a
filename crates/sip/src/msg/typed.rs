//! Typed access to the headers a B2BUA and registrar use.

use std::fmt;

use super::auth::{Challenge, Credentials};
use super::error::{Fail, PResult};
use super::headers::Headers;
use super::method::Method;
use super::name_addr::{Contacts, NameAddr, parse_delta};
use super::names::Known;
use super::scan::split_commas;
use super::text::Text;
use super::via::Via;

/// The CSeq header: sequence number and method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// The sequence number (below 2^31, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    pub(crate) fn parse(s: &str) -> PResult<CSeq> {
        let b = s.as_bytes();
        // The digits read and added up in one pass (at most ten: no overflow of u64).
        let mut i = 0;
        let mut seq = 0u64;
        while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            if i == 10 {
                return Err(Fail::new(0, "a CSeq number below 2^31"));
            }
            seq = seq * 10 + u64::from(d);
            i += 1;
        }
        if i == 0 {
            return Err(Fail::new(0, "a CSeq number below 2^31"));
        }
        if seq >= 1 << 31 {
            return Err(Fail::new(0, "a CSeq number below 2^31"));
        }
        let seq = seq as u32;
        let j = super::scan::skip_ws(b, i);
        if j == i {
            return Err(Fail::new(i, "whitespace before the CSeq method"));
        }
        let method = Method::parse(&s[j..]).map_err(|f| f.shift(j))?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Session-Expires (RFC 4028).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// The interval in seconds.
    pub delta: u32,
    /// `refresher=uac` / `refresher=uas`, if given.
    pub refresher: Option<Refresher>,
}

/// Who refreshes the session (RFC 4028 `refresher`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// The UAC refreshes.
    Uac,
    /// The UAS refreshes.
    Uas,
}

/// A header name: one this crate knows (printed in its canonical spelling) or any other
impl Headers {
    /// The Vias, top first.
    pub fn vias(&self) -> &[Via] {
        &self.f.vias
    }

    /// The top Via.
    pub fn top_via(&self) -> Option<&Via> {
        self.f.vias.first()
    }

    /// The top Via, to set `received`/`rport`.
    pub fn top_via_mut(&mut self) -> Option<&mut Via> {
        self.f.vias.first_mut()
    }

    /// Removes and returns the top Via.
    pub fn pop_via(&mut self) -> Option<Via> {
        (!self.f.vias.is_empty()).then(|| self.f.vias.remove(0))
    }

    /// Adds a new top Via.
    pub fn push_via(&mut self, via: Via) {
        self.f.vias.insert(0, via);
    }

    /// From.
    pub fn from(&self) -> Option<&NameAddr> {
        self.f.from.as_ref()
    }

    /// From, mutable.
    pub fn from_mut(&mut self) -> Option<&mut NameAddr> {
        self.f.from.as_mut()
    }

    /// Sets From.
    pub fn set_from(&mut self, from: NameAddr) {
        self.f.from = Some(from);
    }

    /// To.
    pub fn to(&self) -> Option<&NameAddr> {
        self.f.to.as_ref()
    }

    /// To, mutable (e.g. to add a tag).
    pub fn to_mut(&mut self) -> Option<&mut NameAddr> {
        self.f.to.as_mut()
    }

    /// Sets To.
    pub fn set_to(&mut self, to: NameAddr) {
        self.f.to = Some(to);
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.raw(Known::CALL_ID)
    }

    /// CSeq.
    pub fn cseq(&self) -> Option<CSeq> {
        self.f.cseq.clone()
    }

    /// CSeq number and method without cloning an extension method.
    pub fn cseq_ref(&self) -> Option<&CSeq> {
        self.f.cseq.as_ref()
    }

    /// Contact.
    pub fn contacts(&self) -> &Contacts {
        &self.f.contacts
    }

    /// Replaces the Contact header with these addresses (none removes it).
    pub fn set_contacts(&mut self, list: Vec<NameAddr>) {
        self.f.contacts = if list.is_empty() {
            Contacts::None
        } else {
            Contacts::List(list.into())
        };
    }

    /// Max-Forwards.
    pub fn max_forwards(&self) -> Option<u8> {
        self.raw(Known::MAX_FORWARDS).and_then(|s| s.parse().ok())
    }

    /// Sets Max-Forwards.
    pub fn set_max_forwards(&mut self, n: u8) {
        self.set("Max-Forwards", n.to_string());
    }

    /// Expires in seconds (saturating at `u32::MAX`).
    pub fn expires(&self) -> Option<u32> {
        self.raw(Known::EXPIRES).and_then(parse_delta)
    }

    /// Content-Length as received (printing always writes the body's length).
    pub fn content_length(&self) -> Option<usize> {
        self.f.content_length.as_ref().map(|(n, _)| *n)
    }

    /// Content-Type.
    pub fn content_type(&self) -> Option<&str> {
        self.raw(Known::CONTENT_TYPE)
    }

    fn name_addrs(&self, name: &str) -> Vec<NameAddr> {
        let mut out = Vec::new();
        for line in self.raw_all(name) {
            let Ok(parts) = split_commas(line.as_bytes()) else {
                continue;
            };
            for (a, z) in parts {
                if let Ok(n) = NameAddr::parse_text(Text::owned(&line[a..z])) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// Route, in order (all lines and comma-separated values).
    pub fn routes(&self) -> Vec<NameAddr> {
        self.name_addrs("Route")
    }

    /// Record-Route, in order.
    pub fn record_routes(&self) -> Vec<NameAddr> {
        self.name_addrs("Record-Route")
    }

    /// P-Asserted-Identity values.
    pub fn p_asserted_identity(&self) -> Vec<NameAddr> {
        self.name_addrs("P-Asserted-Identity")
    }

    /// Refer-To (RFC 3515).
    pub fn refer_to(&self) -> Option<NameAddr> {
        self.raw_all("Refer-To")
            .next()
            .and_then(|s| NameAddr::parse_text(Text::owned(s)).ok())
    }

    fn tokens(&self, name: &str) -> Vec<&str> {
        self.raw_all(name)
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Require option-tags.
    pub fn require(&self) -> Vec<&str> {
        self.tokens("Require")
    }

    /// Proxy-Require option-tags.
    pub fn proxy_require(&self) -> Vec<&str> {
        self.tokens("Proxy-Require")
    }

    /// Supported option-tags.
    pub fn supported(&self) -> Vec<&str> {
        self.tokens("Supported")
    }

    /// Unsupported option-tags.
    pub fn unsupported(&self) -> Vec<&str> {
        self.tokens("Unsupported")
    }

    /// Allow methods.
    pub fn allow(&self) -> Vec<&str> {
        self.tokens("Allow")
    }

    /// Accept media ranges (parameters included, as written).
    pub fn accept(&self) -> Vec<&str> {
        self.tokens("Accept")
    }

    /// Authorization.
    pub fn authorization(&self) -> Option<Credentials> {
        self.raw_all("Authorization")
            .next()
            .and_then(Credentials::parse)
    }

    /// Proxy-Authorization.
    pub fn proxy_authorization(&self) -> Option<Credentials> {
        self.raw_all("Proxy-Authorization")
            .next()
            .and_then(Credentials::parse)
    }

    /// WWW-Authenticate.
    pub fn www_authenticate(&self) -> Option<Challenge> {
        self.raw_all("WWW-Authenticate")
            .next()
            .and_then(Challenge::parse)
    }

    /// Proxy-Authenticate.
    pub fn proxy_authenticate(&self) -> Option<Challenge> {
        self.raw_all("Proxy-Authenticate")
            .next()
            .and_then(Challenge::parse)
    }

    /// Event (RFC 6665), as written (package and parameters).
    pub fn event(&self) -> Option<&str> {
        self.raw_all("Event").next()
    }

    /// Replaces (RFC 3891), as written: `call-id;to-tag=..;from-tag=..`.
    pub fn replaces(&self) -> Option<&str> {
        self.raw_all("Replaces").next()
    }

    /// Session-Expires (RFC 4028).
    pub fn session_expires(&self) -> Option<SessionExpires> {
        let s = self.raw_all("Session-Expires").next()?;
        let mut parts = s.split(';');
        let delta = parse_delta(parts.next()?.trim())?;
        let mut refresher = None;
        for p in parts {
            let Some((n, v)) = p.split_once('=') else {
                continue;
            };
            if n.trim().eq_ignore_ascii_case("refresher") {
                refresher = match v.trim() {
                    v if v.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
                    v if v.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
                    _ => None,
                };
            }
        }
        Some(SessionExpires { delta, refresher })
    }

    /// Min-SE (RFC 4028) in seconds.
    pub fn min_se(&self) -> Option<u32> {
        let s = self.raw_all("Min-SE").next()?;
        parse_delta(s.split(';').next()?.trim())
    }
}
