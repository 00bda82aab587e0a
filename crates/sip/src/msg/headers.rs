//! The header section: typed storage for the headers that decide a message's validity
//! (Via, From, To, Contact, Content-Length), every other header kept verbatim in order.

use std::fmt;

use smallvec::SmallVec;

use super::auth::{Challenge, Credentials};
use super::error::{Fail, PResult};
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
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == 0 || i > 10 {
            return Err(Fail::new(0, "a CSeq number below 2^31"));
        }
        let seq: u32 = s[..i]
            .parse()
            .ok()
            .filter(|&n| n < 1 << 31)
            .ok_or(Fail::new(0, "a CSeq number below 2^31"))?;
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
/// (printed as received).
#[derive(Clone, Debug)]
pub(crate) enum Name {
    Known(Known),
    Other(Text),
}

impl Name {
    fn of(name: &str) -> Name {
        match Known::lookup(name) {
            Some(k) => Name::Known(k),
            None => Name::Other(Text::owned(name)),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Name::Known(k) => k.as_str(),
            Name::Other(t) => t.as_str(),
        }
    }

    fn matches(&self, key: &Key<'_>) -> bool {
        match (self, key) {
            (Name::Known(a), Key::Known(b)) => a == b,
            (Name::Other(a), Key::Other(b)) => a.as_str().eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        match (self, other) {
            (Name::Known(a), Name::Known(b)) => a == b,
            (Name::Other(a), Name::Other(b)) => a.as_str().eq_ignore_ascii_case(b.as_str()),
            _ => false,
        }
    }
}

/// A name as looked up by the accessors.
enum Key<'a> {
    Known(Known),
    Other(&'a str),
}

impl Key<'_> {
    fn of(name: &str) -> Key<'_> {
        match Known::lookup(name) {
            Some(k) => Key::Known(k),
            None => Key::Other(name),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) name: Name,
    pub(crate) value: Text,
}

/// The headers of a message.
///
/// Via, From, To, Contact and Content-Length are held parsed (they decide validity and are
/// read on every message); every other header is kept verbatim, in order. Names are
/// matched case-insensitively and compact forms (`v`, `f`, `i`, ...) fold to the full name.
/// Printing writes the Vias first, then From, To, Contact, the other headers in their
/// order, and Content-Length last (taken from the body).
#[derive(Clone, Debug, Default)]
pub struct Headers {
    vias: SmallVec<[Via; 2]>,
    from: Option<NameAddr>,
    to: Option<NameAddr>,
    contacts: Contacts,
    contact_text: SmallVec<[Text; 1]>,
    content_length: Option<(usize, Text)>,
    entries: Vec<Entry>,
}

impl PartialEq for Headers {
    /// Semantic equality: Content-Length is left out (it is printed from the body).
    fn eq(&self, other: &Headers) -> bool {
        self.vias == other.vias
            && self.from == other.from
            && self.to == other.to
            && self.contacts == other.contacts
            && self.entries == other.entries
    }
}

/// Strips CR and LF so a value can never inject a header line.
fn clean(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(value.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// `Call-ID = word [ "@" word ]`: visible characters, no whitespace.
fn check_call_id(s: &str) -> PResult<()> {
    if s.is_empty() {
        return Err(Fail::new(0, "a Call-ID"));
    }
    match s.bytes().position(|b| b <= b' ' || b == 0x7f) {
        Some(i) => Err(Fail::new(i, "a Call-ID without whitespace")),
        None => Ok(()),
    }
}

fn check_number(s: &str, max: u64, what: &'static str) -> PResult<u64> {
    super::scan::parse_u64(s, max).ok_or(Fail::new(0, what))
}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Adds one header line from a parsed message (`value` trimmed and unfolded), checking
    /// what decides validity. Offsets in the error are relative to `value`.
    pub(crate) fn add_parsed(&mut self, name: Name, value: Text) -> PResult<()> {
        let Name::Known(k) = name else {
            self.entries.push(Entry { name, value });
            return Ok(());
        };
        let s = value.as_str();
        match k {
            Known::VIA => {
                for (a, z) in split_commas(s.as_bytes())? {
                    if a == z {
                        return Err(Fail::new(a, "a Via value"));
                    }
                    let via = Via::parse_text(value.sub(a, z)).map_err(|f| f.shift(a))?;
                    self.vias.push(via);
                }
            }
            Known::FROM | Known::TO => {
                let slot = if k == Known::FROM {
                    &mut self.from
                } else {
                    &mut self.to
                };
                if slot.is_some() {
                    return Err(Fail::new(0, "a single From and a single To"));
                }
                *slot = Some(NameAddr::parse_text(value)?);
            }
            Known::CONTACT => {
                if s == "*" {
                    if self.contacts != Contacts::None {
                        return Err(Fail::new(0, "'*' as the only Contact"));
                    }
                    self.contacts = Contacts::Star;
                    self.contact_text.push(value);
                    return Ok(());
                }
                let list = match &mut self.contacts {
                    Contacts::Star => return Err(Fail::new(0, "'*' as the only Contact")),
                    Contacts::None => {
                        self.contacts = Contacts::List(Vec::with_capacity(1));
                        match &mut self.contacts {
                            Contacts::List(l) => l,
                            _ => unreachable!("just set"),
                        }
                    }
                    Contacts::List(l) => l,
                };
                for (a, z) in split_commas(s.as_bytes())? {
                    if a == z {
                        return Err(Fail::new(a, "a Contact value"));
                    }
                    let t = value.sub(a, z);
                    list.push(NameAddr::parse_text(t.clone()).map_err(|f| f.shift(a))?);
                    self.contact_text.push(t);
                }
            }
            Known::CONTENT_LENGTH => {
                if self.content_length.is_some() {
                    return Err(Fail::new(0, "a single Content-Length"));
                }
                let n = check_number(s, u32::MAX as u64, "a Content-Length number")?;
                self.content_length = Some((n as usize, value));
            }
            _ => {
                self.check_known(k, s)?;
                self.entries.push(Entry { name, value });
            }
        }
        Ok(())
    }

    /// Checks the raw-kept headers whose syntax decides validity.
    fn check_known(&self, k: Known, s: &str) -> PResult<()> {
        let single = matches!(
            k,
            Known::CALL_ID | Known::CSEQ | Known::MAX_FORWARDS | Known::CONTENT_TYPE
        );
        if single && self.entries.iter().any(|e| e.name == Name::Known(k)) {
            return Err(Fail::new(0, "a single-valued header only once"));
        }
        match k {
            Known::CALL_ID => check_call_id(s),
            Known::CSEQ => CSeq::parse(s).map(|_| ()),
            Known::MAX_FORWARDS => check_number(s, 255, "Max-Forwards of 0-255").map(|_| ()),
            Known::CONTENT_TYPE => {
                let slash = s.find('/').ok_or(Fail::new(0, "a media type"))?;
                if slash == 0 || s.len() == slash + 1 {
                    return Err(Fail::new(0, "a media type"));
                }
                Ok(())
            }
            Known::ROUTE | Known::RECORD_ROUTE => {
                for (a, z) in split_commas(s.as_bytes())? {
                    NameAddr::parse_text(Text::owned(&s[a..z])).map_err(|f| f.shift(a))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    // ---- raw access -------------------------------------------------------------------

    /// The first value of a header (compact or full name, any case). For Via and
    /// Contact this is the first comma-separated value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// Every value of a header, in order. Via and Contact give one item per value; other
    /// headers one item per line, as written.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let key = Key::of(name);
        let mut out: SmallVec<[&'a str; 2]> = match key {
            Key::Known(Known::VIA) => self.vias.iter().map(Via::as_str).collect(),
            Key::Known(Known::FROM) => self.from.iter().map(NameAddr::as_str).collect(),
            Key::Known(Known::TO) => self.to.iter().map(NameAddr::as_str).collect(),
            Key::Known(Known::CONTACT) => self.contact_text.iter().map(Text::as_str).collect(),
            Key::Known(Known::CONTENT_LENGTH) => self
                .content_length
                .iter()
                .map(|(_, t)| t.as_str())
                .collect(),
            _ => SmallVec::new(),
        };
        out.extend(
            self.entries
                .iter()
                .filter(|e| e.name.matches(&key))
                .map(|e| e.value.as_str()),
        );
        out.into_iter()
    }

    /// Appends a header. Via, From, To, Contact and Content-Length values are parsed into
    /// their typed form; one that does not parse is kept verbatim (printed, but not seen by
    /// the typed accessors). CR and LF in the value are replaced by spaces.
    pub fn push(&mut self, name: &str, value: impl AsRef<str>) {
        let value = clean(value.as_ref());
        let name = Name::of(name);
        if let Name::Known(k) = name
            && matches!(
                k,
                Known::VIA | Known::FROM | Known::TO | Known::CONTACT | Known::CONTENT_LENGTH
            )
        {
            let mut typed = self.clone_typed(k);
            if typed.add_parsed(name.clone(), Text::owned(&value)).is_ok() {
                self.take_typed(k, typed);
                return;
            }
        }
        self.entries.push(Entry {
            name,
            value: Text::owned(&value),
        });
    }

    /// Inserts a header before the others of its name (e.g. a new top Via or Route).
    pub fn push_front(&mut self, name: &str, value: impl AsRef<str>) {
        let key = Key::of(name);
        match key {
            Key::Known(Known::VIA) => {
                let mut vias = std::mem::take(&mut self.vias);
                self.push("Via", value);
                self.vias.extend(vias.drain(..));
            }
            Key::Known(k @ (Known::CONTACT | Known::FROM | Known::TO | Known::CONTENT_LENGTH)) => {
                let _ = k;
                self.push(name, value);
            }
            _ => {
                let at = self
                    .entries
                    .iter()
                    .position(|e| e.name.matches(&key))
                    .unwrap_or(0);
                let value = clean(value.as_ref());
                self.entries.insert(
                    at,
                    Entry {
                        name: Name::of(name),
                        value: Text::owned(&value),
                    },
                );
            }
        }
    }

    /// Removes every header of that name.
    pub fn remove(&mut self, name: &str) {
        let key = Key::of(name);
        match key {
            Key::Known(Known::VIA) => self.vias.clear(),
            Key::Known(Known::FROM) => self.from = None,
            Key::Known(Known::TO) => self.to = None,
            Key::Known(Known::CONTACT) => {
                self.contacts = Contacts::None;
                self.contact_text.clear();
            }
            Key::Known(Known::CONTENT_LENGTH) => self.content_length = None,
            _ => {}
        }
        self.entries.retain(|e| !e.name.matches(&key));
    }

    /// Replaces every header of that name with one value.
    pub fn set(&mut self, name: &str, value: impl AsRef<str>) {
        let key = Key::of(name);
        let at = self.entries.iter().position(|e| e.name.matches(&key));
        self.remove(name);
        match at {
            Some(at) if !matches!(key, Key::Known(Known::VIA | Known::FROM | Known::TO)) => {
                let value = clean(value.as_ref());
                self.entries.insert(
                    at,
                    Entry {
                        name: Name::of(name),
                        value: Text::owned(&value),
                    },
                );
            }
            _ => self.push(name, value),
        }
    }

    /// True when no header is present.
    pub fn is_empty(&self) -> bool {
        self.vias.is_empty()
            && self.from.is_none()
            && self.to.is_none()
            && self.contacts == Contacts::None
            && self.content_length.is_none()
            && self.entries.is_empty()
    }

    /// Every header as `(name, value)` in printing order (Content-Length left out).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let vias = self.vias.iter().map(|v| ("Via", v.as_str()));
        let from = self.from.iter().map(|v| ("From", v.as_str()));
        let to = self.to.iter().map(|v| ("To", v.as_str()));
        let contact = self.contact_text.iter().map(|t| ("Contact", t.as_str()));
        let rest = self
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()));
        vias.chain(from).chain(to).chain(contact).chain(rest)
    }

    /// A copy holding only the typed field `k`, to try a parse into.
    fn clone_typed(&self, k: Known) -> Headers {
        let mut h = Headers::new();
        match k {
            Known::VIA => h.vias = self.vias.clone(),
            Known::CONTACT => {
                h.contacts = self.contacts.clone();
                h.contact_text = self.contact_text.clone();
            }
            _ => {}
        }
        h
    }

    fn take_typed(&mut self, k: Known, from: Headers) {
        match k {
            Known::VIA => self.vias = from.vias,
            Known::FROM => self.from = from.from,
            Known::TO => self.to = from.to,
            Known::CONTACT => {
                self.contacts = from.contacts;
                self.contact_text = from.contact_text;
            }
            Known::CONTENT_LENGTH => self.content_length = from.content_length,
            _ => {}
        }
    }

    /// The headers a response copies from its request (RFC 3261 §8.2.6.2): every Via,
    /// From, To, Call-ID and CSeq.
    pub(crate) fn for_response(&self) -> Headers {
        Headers {
            vias: self.vias.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            entries: self
                .entries
                .iter()
                .filter(|e| matches!(e.name, Name::Known(Known::CALL_ID | Known::CSEQ)))
                .cloned()
                .collect(),
            ..Headers::default()
        }
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>, body_len: usize) {
        for (name, value) in self.iter() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body_len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    fn raw(&self, k: Known) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.name == Name::Known(k))
            .map(|e| e.value.as_str())
    }

    fn raw_all(&self, name: &str) -> impl Iterator<Item = &str> {
        let key = Key::of(name);
        self.entries
            .iter()
            .filter(move |e| e.name.matches(&key))
            .map(|e| e.value.as_str())
    }

    // ---- typed access -----------------------------------------------------------------

    /// The Vias, top first.
    pub fn vias(&self) -> &[Via] {
        &self.vias
    }

    /// The top Via.
    pub fn top_via(&self) -> Option<&Via> {
        self.vias.first()
    }

    /// The top Via, to set `received`/`rport`.
    pub fn top_via_mut(&mut self) -> Option<&mut Via> {
        self.vias.first_mut()
    }

    /// Removes and returns the top Via.
    pub fn pop_via(&mut self) -> Option<Via> {
        (!self.vias.is_empty()).then(|| self.vias.remove(0))
    }

    /// Adds a new top Via.
    pub fn push_via(&mut self, via: Via) {
        self.vias.insert(0, via);
    }

    /// From.
    pub fn from(&self) -> Option<&NameAddr> {
        self.from.as_ref()
    }

    /// From, mutable.
    pub fn from_mut(&mut self) -> Option<&mut NameAddr> {
        self.from.as_mut()
    }

    /// Sets From.
    pub fn set_from(&mut self, from: NameAddr) {
        self.from = Some(from);
    }

    /// To.
    pub fn to(&self) -> Option<&NameAddr> {
        self.to.as_ref()
    }

    /// To, mutable (e.g. to add a tag).
    pub fn to_mut(&mut self) -> Option<&mut NameAddr> {
        self.to.as_mut()
    }

    /// Sets To.
    pub fn set_to(&mut self, to: NameAddr) {
        self.to = Some(to);
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.raw(Known::CALL_ID)
    }

    /// CSeq.
    pub fn cseq(&self) -> Option<CSeq> {
        self.raw(Known::CSEQ).and_then(|s| CSeq::parse(s).ok())
    }

    /// Contact.
    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    /// Replaces the Contact header with these addresses (none removes it).
    pub fn set_contacts(&mut self, list: Vec<NameAddr>) {
        self.contact_text = list.iter().map(|c| Text::owned(c.as_str())).collect();
        self.contacts = if list.is_empty() {
            Contacts::None
        } else {
            Contacts::List(list)
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
        self.content_length.as_ref().map(|(n, _)| *n)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.add_parsed(Name::of(n), Text::owned(v)).unwrap();
        }
        h
    }

    #[test]
    fn raw_and_typed_access() {
        let mut h = parsed(&[
            (
                "v",
                "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2",
            ),
            ("f", "<sip:a@example.com>;tag=1"),
            ("t", "sip:b@example.com"),
            ("i", "abc@host"),
            ("CSeq", "7 INVITE"),
            ("k", "100rel, timer"),
            ("Supported", "replaces"),
            ("X-Foo", "bar"),
        ]);
        assert_eq!(h.vias().len(), 2);
        assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK1"));
        assert_eq!(
            h.get("VIA"),
            Some("SIP/2.0/UDP a.example.com;branch=z9hG4bK1")
        );
        assert_eq!(h.get("call-id"), Some("abc@host"));
        assert_eq!(h.call_id(), Some("abc@host"));
        assert_eq!(
            h.cseq(),
            Some(CSeq {
                seq: 7,
                method: Method::Invite
            })
        );
        assert_eq!(h.supported(), vec!["100rel", "timer", "replaces"]);
        assert_eq!(h.get("x-foo"), Some("bar"));
        h.to_mut().unwrap().set_tag("t9");
        assert_eq!(h.to().unwrap().tag(), Some("t9"));
        h.push_front("Via", "SIP/2.0/UDP c;branch=z9hG4bK0");
        assert_eq!(h.top_via().unwrap().host_str(), "c");
        assert_eq!(h.pop_via().unwrap().host_str(), "c");
        h.set("X-Foo", "baz");
        assert_eq!(h.get_all("X-FOO").collect::<Vec<_>>(), vec!["baz"]);
        h.remove("x-foo");
        assert_eq!(h.get("X-Foo"), None);
        h.set_max_forwards(69);
        assert_eq!(h.max_forwards(), Some(69));
    }

    #[test]
    fn single_valued_twice_is_an_error() {
        let mut h = parsed(&[("CSeq", "1 INVITE")]);
        assert!(
            h.add_parsed(Name::of("cseq"), Text::owned("2 INVITE"))
                .is_err()
        );
        let mut h = parsed(&[("To", "<sip:a@b>")]);
        assert!(
            h.add_parsed(Name::of("t"), Text::owned("<sip:c@d>"))
                .is_err()
        );
        let mut h = parsed(&[("l", "0")]);
        assert!(
            h.add_parsed(Name::of("Content-Length"), Text::owned("0"))
                .is_err()
        );
    }

    #[test]
    fn contacts_star_and_list() {
        let h = parsed(&[("m", "<sip:a@h1>;q=0.5, \"B, b\" <sip:b@h2>;expires=60")]);
        let Contacts::List(list) = h.contacts() else {
            panic!("expected a list");
        };
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].expires(), Some(60));
        assert_eq!(h.get_all("Contact").count(), 2);
        let star = parsed(&[("Contact", "*")]);
        assert_eq!(star.contacts(), &Contacts::Star);
    }

    #[test]
    fn bad_values_are_errors() {
        let mut h = Headers::new();
        assert!(
            h.add_parsed(Name::of("Max-Forwards"), Text::owned("300"))
                .is_err()
        );
        assert!(
            h.add_parsed(
                Name::of("CSeq"),
                Text::owned("36893488147419103232 REGISTER")
            )
            .is_err()
        );
        assert!(
            h.add_parsed(Name::of("Content-Length"), Text::owned("-999"))
                .is_err()
        );
        assert!(
            h.add_parsed(Name::of("Call-ID"), Text::owned("a b"))
                .is_err()
        );
        assert!(
            h.add_parsed(Name::of("Via"), Text::owned("SIP/2.0/UDP h;;,;,,"))
                .is_err()
        );
    }
}
