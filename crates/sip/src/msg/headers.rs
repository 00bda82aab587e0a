//! The header section: typed storage for the headers that decide a message's validity
//! (Via, From, To, Contact, CSeq, Content-Length), every other header kept verbatim in
//! order as ranges of the message's one shared buffer.

use std::sync::Arc;

use smallvec::SmallVec;

use super::error::{Fail, PResult};
#[cfg(test)]
use super::method::Method;
use super::name_addr::{Contacts, NameAddr};
use super::names::Known;
use super::scan::split_commas;
use super::text::Text;
use super::typed::CSeq;
use super::via::Via;

/// A raw value: a range of the parsed buffer, or text of its own (added after parsing).
#[derive(Clone, Debug)]
pub(crate) enum Val {
    At(u32, u32),
    Own(Box<str>),
}

impl Val {
    pub(crate) fn at(start: usize, end: usize) -> Val {
        Val::At(start as u32, end as u32)
    }

    fn own(s: &str) -> Val {
        Val::Own(s.into())
    }
}

/// A header name: one this crate knows (printed in its canonical spelling) or any other
/// (printed as received).
#[derive(Clone, Debug)]
pub(crate) enum Name {
    Known(Known),
    Other(Val),
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    name: Name,
    value: Val,
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

/// The headers of a message.
///
/// Via, From, To, Contact, CSeq and Content-Length are held parsed (they decide validity
/// and are read on every message); every other header is kept verbatim, in order. Names
/// are matched case-insensitively and compact forms (`v`, `f`, `i`, ...) fold to the full
/// name. Printing writes the Vias first, then From, To, Contact, the other headers in
/// their order, and Content-Length last (taken from the body).
#[derive(Clone, Default)]
pub struct Headers {
    /// Boxed, so that a message stays small and moves cheaply: it is built in place once
    /// per parse and moved several times on its way to the code that handles it.
    pub(crate) f: Box<Fields>,
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.f.fmt(f)
    }
}

/// The fields of [`Headers`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Fields {
    /// The parsed header section that `Val::At` ranges point into.
    buf: Option<Arc<str>>,
    pub(crate) vias: SmallVec<[Via; 2]>,
    pub(crate) from: Option<NameAddr>,
    pub(crate) to: Option<NameAddr>,
    pub(crate) contacts: Contacts,
    /// Cache of the CSeq entry, kept in step by every mutator.
    pub(crate) cseq: Option<CSeq>,
    pub(crate) content_length: Option<(usize, Val)>,
    entries: Vec<Entry>,
    /// Single-valued headers seen while parsing (bit per `Known` index).
    seen: u64,
}

impl PartialEq for Headers {
    /// Semantic equality: Content-Length is left out (it is printed from the body).
    fn eq(&self, other: &Headers) -> bool {
        self.f.vias == other.f.vias
            && self.f.from == other.f.from
            && self.f.to == other.f.to
            && self.f.contacts == other.f.contacts
            && self.f.entries.len() == other.f.entries.len()
            && self.f.entries.iter().zip(&other.f.entries).all(|(a, b)| {
                let names = match (&a.name, &b.name) {
                    (Name::Known(x), Name::Known(y)) => x == y,
                    (Name::Other(x), Name::Other(y)) => self.s(x).eq_ignore_ascii_case(other.s(y)),
                    _ => false,
                };
                names && self.s(&a.value) == other.s(&b.value)
            })
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

/// The bytes a Call-ID may hold: anything above SP but DEL.
static CALL_ID: [bool; 256] = super::scan::class_table!(|b| b > b' ' && b != 0x7f);

/// `Call-ID = word [ "@" word ]`: visible characters, no whitespace.
fn check_call_id(s: &str) -> PResult<()> {
    if s.is_empty() {
        return Err(Fail::new(0, "a Call-ID"));
    }
    // Eight bytes a step while none is SP, a control or DEL; the class scan from the first
    // step that holds one (or the tail) says where.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(w) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        // Any byte below 0x21, or any byte that is 0x7f (exact as a yes or no).
        let low = x.wrapping_sub(0x21 * ONES) & !x & HIGH;
        let del = (x ^ (0x7f * ONES)).wrapping_sub(ONES) & !(x ^ (0x7f * ONES)) & HIGH;
        if low | del != 0 {
            break;
        }
        i += 8;
    }
    match super::scan::skip_class(b, i, &CALL_ID) {
        i if i < s.len() => Err(Fail::new(i, "a Call-ID without whitespace")),
        _ => Ok(()),
    }
}

fn check_number(s: &str, max: u64, what: &'static str) -> PResult<u64> {
    super::scan::parse_u64(s, max).ok_or(Fail::new(0, what))
}

/// Checks the raw-kept headers whose syntax decides validity.
fn check_value(k: Known, s: &str) -> PResult<()> {
    match k {
        Known::CALL_ID => check_call_id(s),
        Known::MAX_FORWARDS => check_number(s, 255, "Max-Forwards of 0-255").map(|_| ()),
        Known::CONTENT_TYPE => {
            let slash = memchr::memchr(b'/', s.as_bytes()).ok_or(Fail::new(0, "a media type"))?;
            if slash == 0 || s.len() == slash + 1 {
                return Err(Fail::new(0, "a media type"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The text of one comma-separated part: the last one takes the whole text over (no
/// reference-count traffic), the others share it.
fn take_part(text: &mut Option<Text>, last: bool, a: usize, z: usize) -> Text {
    if last {
        text.take()
            .expect("the last part comes once")
            .into_sub(a, z)
    } else {
        text.as_ref()
            .expect("taken only by the last part")
            .sub(a, z)
    }
}

/// The text of a value whose ranges point into `buf`.
fn val_str<'a>(buf: Option<&'a Arc<str>>, v: &'a Val) -> &'a str {
    match v {
        Val::At(a, b) => &buf.expect("ranges only with a buffer")[*a as usize..*b as usize],
        Val::Own(s) => s,
    }
}

/// A value as a [`Text`], sharing `buf` when it is a range of it.
fn val_text(buf: Option<&Arc<str>>, v: &Val) -> Text {
    match v {
        Val::At(a, b) => Text::slice(
            buf.expect("ranges only with a buffer"),
            *a as usize,
            *b as usize,
        ),
        Val::Own(s) => Text::owned(s),
    }
}

fn is_typed(k: Known) -> bool {
    matches!(
        k,
        Known::VIA | Known::FROM | Known::TO | Known::CONTACT | Known::CONTENT_LENGTH
    )
}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Empty headers to parse into: `add_parsed` is given the buffer its `Val::At` ranges
    /// point into, and [`Headers::set_buf`] hands it over once parsing is done (one
    /// reference to it fewer to count while parsing).
    pub(crate) fn parsing() -> Headers {
        // Filled in on the heap: building the fields first and boxing them would copy them.
        let mut f: Box<Fields> = Box::default();
        f.entries = Vec::with_capacity(16);
        Headers { f }
    }

    /// Hands over the buffer the parsed ranges point into.
    pub(crate) fn set_buf(&mut self, buf: Arc<str>) {
        self.f.buf = Some(buf);
    }

    /// Whether a raw-kept header of that name is present (no buffer needed).
    pub(crate) fn has(&self, k: Known) -> bool {
        self.f
            .entries
            .iter()
            .any(|e| matches!(e.name, Name::Known(n) if n == k))
    }

    fn s<'a>(&'a self, v: &'a Val) -> &'a str {
        match v {
            Val::At(a, b) => {
                &self.f.buf.as_ref().expect("ranges only with a buffer")[*a as usize..*b as usize]
            }
            Val::Own(s) => s,
        }
    }

    fn name_str<'a>(&'a self, n: &'a Name) -> &'a str {
        match n {
            Name::Known(k) => k.as_str(),
            Name::Other(v) => self.s(v),
        }
    }

    fn is(&self, e: &Entry, key: &Key<'_>) -> bool {
        match (&e.name, key) {
            (Name::Known(a), Key::Known(b)) => a == b,
            (Name::Other(a), Key::Other(b)) => self.s(a).eq_ignore_ascii_case(b),
            _ => false,
        }
    }

    /// Adds one header line (`value` trimmed and unfolded), checking what decides
    /// validity. Offsets in the error are relative to the value.
    /// `buf`: what `Val::At` ranges point into (while parsing, before [`Headers::set_buf`]).
    pub(crate) fn add_parsed(
        &mut self,
        buf: Option<&Arc<str>>,
        name: Name,
        value: Val,
    ) -> PResult<()> {
        let k = match name {
            Name::Known(k) => k,
            Name::Other(_) => {
                self.f.entries.push(Entry { name, value });
                return Ok(());
            }
        };
        if !is_typed(k) {
            self.check_single(k)?;
            if matches!(k, Known::ROUTE | Known::RECORD_ROUTE) {
                let text = val_text(buf, &value);
                let parts = split_commas(text.as_str().as_bytes())?;
                let mut text = Some(text);
                for (n, &(a, z)) in parts.iter().enumerate() {
                    let t = take_part(&mut text, n + 1 == parts.len(), a, z);
                    NameAddr::parse_text(t).map_err(|f| f.shift(a))?;
                }
            }
            let s = val_str(buf, &value);
            check_value(k, s)?;
            if k == Known::CSEQ {
                self.f.cseq = Some(CSeq::parse(s)?);
            }
            self.f.entries.push(Entry { name, value });
            return Ok(());
        }
        let text = val_text(buf, &value);
        let s = text.as_str();
        match k {
            Known::VIA => Via::parse_list(text, &mut self.f.vias)?,
            Known::FROM | Known::TO => {
                let slot = if k == Known::FROM {
                    &mut self.f.from
                } else {
                    &mut self.f.to
                };
                if slot.is_some() {
                    return Err(Fail::new(0, "a single From and a single To"));
                }
                NameAddr::parse_into(text, slot)?;
            }
            Known::CONTACT => {
                if s == "*" {
                    if self.f.contacts != Contacts::None {
                        return Err(Fail::new(0, "'*' as the only Contact"));
                    }
                    self.f.contacts = Contacts::Star;
                    return Ok(());
                }
                let list = match &mut self.f.contacts {
                    Contacts::Star => return Err(Fail::new(0, "'*' as the only Contact")),
                    Contacts::List(l) => l,
                    none @ Contacts::None => {
                        *none = Contacts::List(SmallVec::new());
                        let Contacts::List(l) = none else {
                            unreachable!("just set to a list")
                        };
                        l
                    }
                };
                let parts = split_commas(s.as_bytes())?;
                let mut text = Some(text);
                for (n, &(a, z)) in parts.iter().enumerate() {
                    if a == z {
                        return Err(Fail::new(a, "a Contact value"));
                    }
                    let t = take_part(&mut text, n + 1 == parts.len(), a, z);
                    let mut slot = None;
                    NameAddr::parse_into(t, &mut slot).map_err(|f| f.shift(a))?;
                    list.push(slot.expect("set when parsed"));
                }
            }
            _ => {
                if self.f.content_length.is_some() {
                    return Err(Fail::new(0, "a single Content-Length"));
                }
                let n = check_number(s, u32::MAX as u64, "a Content-Length number")?;
                self.f.content_length = Some((n as usize, value));
            }
        }
        Ok(())
    }

    /// A single-valued header may appear once.
    fn check_single(&mut self, k: Known) -> PResult<()> {
        if matches!(
            k,
            Known::CALL_ID | Known::CSEQ | Known::MAX_FORWARDS | Known::CONTENT_TYPE
        ) {
            let bit = 1u64 << k.index();
            if self.f.seen & bit != 0 {
                return Err(Fail::new(0, "a single-valued header only once"));
            }
            self.f.seen |= bit;
        }
        Ok(())
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
            Key::Known(Known::VIA) => self.f.vias.iter().map(Via::as_str).collect(),
            Key::Known(Known::FROM) => self.f.from.iter().map(NameAddr::as_str).collect(),
            Key::Known(Known::TO) => self.f.to.iter().map(NameAddr::as_str).collect(),
            Key::Known(Known::CONTACT) => match &self.f.contacts {
                Contacts::None => SmallVec::new(),
                Contacts::Star => smallvec::smallvec!["*"],
                Contacts::List(l) => l.iter().map(NameAddr::as_str).collect(),
            },
            Key::Known(Known::CONTENT_LENGTH) => self
                .f
                .content_length
                .iter()
                .map(|(_, v)| self.s(v))
                .collect(),
            _ => SmallVec::new(),
        };
        out.extend(
            self.f
                .entries
                .iter()
                .filter(|e| self.is(e, &key))
                .map(|e| self.s(&e.value)),
        );
        out.into_iter()
    }

    /// Appends a header. Via, From, To, Contact and Content-Length values are parsed into
    /// their typed form; one that does not parse is kept verbatim (printed, but not seen by
    /// the typed accessors). CR and LF in the value are replaced by spaces.
    pub fn push(&mut self, name: &str, value: impl AsRef<str>) {
        let value = clean(value.as_ref());
        let name = self.name_of(name);
        if let Name::Known(k) = name {
            if is_typed(k) {
                let mut typed = self.clone_typed(k);
                if typed
                    .add_parsed(None, name.clone(), Val::own(&value))
                    .is_ok()
                {
                    self.take_typed(k, typed);
                    return;
                }
            } else if k == Known::CSEQ && self.f.cseq.is_none() {
                self.f.cseq = CSeq::parse(&value).ok();
            }
        }
        self.f.entries.push(Entry {
            name,
            value: Val::own(&value),
        });
    }

    fn name_of(&self, name: &str) -> Name {
        match Known::lookup(name) {
            Some(k) => Name::Known(k),
            None => Name::Other(Val::own(name)),
        }
    }

    /// Inserts a header before the others of its name (e.g. a new top Via or Route).
    pub fn push_front(&mut self, name: &str, value: impl AsRef<str>) {
        let key = Key::of(name);
        match key {
            Key::Known(Known::VIA) => {
                let below = std::mem::take(&mut self.f.vias);
                self.push("Via", value);
                self.f.vias.extend(below);
            }
            Key::Known(k) if is_typed(k) => self.push(name, value),
            _ => {
                let at = self
                    .f
                    .entries
                    .iter()
                    .position(|e| self.is(e, &key))
                    .unwrap_or(0);
                let value = clean(value.as_ref());
                if matches!(key, Key::Known(Known::CSEQ)) {
                    self.f.cseq = CSeq::parse(&value).ok();
                }
                let name = self.name_of(name);
                self.f.entries.insert(
                    at,
                    Entry {
                        name,
                        value: Val::own(&value),
                    },
                );
            }
        }
    }

    /// Removes every header of that name.
    pub fn remove(&mut self, name: &str) {
        let key = Key::of(name);
        match key {
            Key::Known(Known::VIA) => self.f.vias.clear(),
            Key::Known(Known::FROM) => self.f.from = None,
            Key::Known(Known::TO) => self.f.to = None,
            Key::Known(Known::CONTACT) => self.f.contacts = Contacts::None,
            Key::Known(Known::CONTENT_LENGTH) => self.f.content_length = None,
            Key::Known(Known::CSEQ) => self.f.cseq = None,
            _ => {}
        }
        let mut entries = std::mem::take(&mut self.f.entries);
        entries.retain(|e| !self.is(e, &key));
        self.f.entries = entries;
    }

    /// Replaces every header of that name with one value.
    pub fn set(&mut self, name: &str, value: impl AsRef<str>) {
        let key = Key::of(name);
        let at = self.f.entries.iter().position(|e| self.is(e, &key));
        self.remove(name);
        match at {
            Some(at) if !self.typed_key(name) => {
                let value = clean(value.as_ref());
                if Known::lookup(name) == Some(Known::CSEQ) {
                    self.f.cseq = CSeq::parse(&value).ok();
                }
                let name = self.name_of(name);
                self.f.entries.insert(
                    at,
                    Entry {
                        name,
                        value: Val::own(&value),
                    },
                );
            }
            _ => self.push(name, value),
        }
    }

    fn typed_key(&self, name: &str) -> bool {
        Known::lookup(name).is_some_and(is_typed)
    }

    /// True when no header is present.
    pub fn is_empty(&self) -> bool {
        self.f.vias.is_empty()
            && self.f.from.is_none()
            && self.f.to.is_none()
            && self.f.contacts == Contacts::None
            && self.f.content_length.is_none()
            && self.f.entries.is_empty()
    }

    /// Every header as `(name, value)` in printing order (Content-Length left out).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let vias = self.f.vias.iter().map(|v| ("Via", v.as_str()));
        let from = self.f.from.iter().map(|v| ("From", v.as_str()));
        let to = self.f.to.iter().map(|v| ("To", v.as_str()));
        let contact: SmallVec<[&str; 2]> = match &self.f.contacts {
            Contacts::None => SmallVec::new(),
            Contacts::Star => smallvec::smallvec!["*"],
            Contacts::List(l) => l.iter().map(NameAddr::as_str).collect(),
        };
        let rest = self
            .f
            .entries
            .iter()
            .map(|e| (self.name_str(&e.name), self.s(&e.value)));
        vias.chain(from)
            .chain(to)
            .chain(contact.into_iter().map(|c| ("Contact", c)))
            .chain(rest)
    }

    /// A copy holding only the typed field `k`, to try a parse into.
    fn clone_typed(&self, k: Known) -> Headers {
        let mut h = Headers::new();
        match k {
            Known::VIA => h.f.vias = self.f.vias.clone(),
            Known::CONTACT => h.f.contacts = self.f.contacts.clone(),
            _ => {}
        }
        h
    }

    fn take_typed(&mut self, k: Known, from: Headers) {
        match k {
            Known::VIA => self.f.vias = from.f.vias,
            Known::FROM => self.f.from = from.f.from,
            Known::TO => self.f.to = from.f.to,
            Known::CONTACT => self.f.contacts = from.f.contacts,
            _ => self.f.content_length = from.f.content_length,
        }
    }

    /// The headers a response copies from its request (RFC 3261 §8.2.6.2): every Via,
    /// From, To, Call-ID and CSeq.
    pub(crate) fn for_response(&self) -> Headers {
        Headers {
            f: Box::new(Fields {
                buf: self.f.buf.clone(),
                vias: self.f.vias.clone(),
                from: self.f.from.clone(),
                to: self.f.to.clone(),
                cseq: self.f.cseq.clone(),
                entries: self
                    .f
                    .entries
                    .iter()
                    .filter(|e| matches!(e.name, Name::Known(Known::CALL_ID | Known::CSEQ)))
                    .cloned()
                    .collect(),
                ..Fields::default()
            }),
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
        let mut digits = [0u8; 20];
        let mut n = body_len;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&digits[i..]);
        out.extend_from_slice(b"\r\n");
    }

    pub(crate) fn raw(&self, k: Known) -> Option<&str> {
        self.f
            .entries
            .iter()
            .find(|e| matches!(e.name, Name::Known(n) if n == k))
            .map(|e| self.s(&e.value))
    }

    pub(crate) fn raw_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let key = Key::of(name);
        let out: SmallVec<[&'a str; 2]> = self
            .f
            .entries
            .iter()
            .filter(|e| self.is(e, &key))
            .map(|e| self.s(&e.value))
            .collect();
        out.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(h: &mut Headers, n: &str, v: &str) -> PResult<()> {
        let name = h.name_of(n);
        h.add_parsed(None, name, Val::own(v))
    }

    fn parsed(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            add(&mut h, n, v).unwrap();
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
        assert!(add(&mut h, "cseq", "2 INVITE").is_err());
        let mut h = parsed(&[("To", "<sip:a@b>")]);
        assert!(add(&mut h, "t", "<sip:c@d>").is_err());
        let mut h = parsed(&[("l", "0")]);
        assert!(add(&mut h, "Content-Length", "0").is_err());
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
    fn call_id_faults_found_at_every_place() {
        for len in 1..24 {
            let good = "a".repeat(len);
            assert!(check_call_id(&good).is_ok());
            for at in 0..len {
                for bad in [' ', '\t', '\x01', '\x7f'] {
                    let mut v: Vec<char> = good.chars().collect();
                    v[at] = bad;
                    let s: String = v.into_iter().collect();
                    assert_eq!(check_call_id(&s).map_err(|f| f.at), Err(at), "{s:?}");
                }
                let mut v: Vec<char> = good.chars().collect();
                v[at] = '\u{e9}';
                let s: String = v.into_iter().collect();
                assert!(check_call_id(&s).is_ok(), "{s:?}");
            }
        }
    }

    #[test]
    fn bad_values_are_errors() {
        let mut h = Headers::new();
        assert!(add(&mut h, "Max-Forwards", "300").is_err());
        assert!(add(&mut h, "CSeq", "36893488147419103232 REGISTER").is_err());
        assert!(add(&mut h, "Content-Length", "-999").is_err());
        assert!(add(&mut h, "Call-ID", "a b").is_err());
        assert!(add(&mut h, "Via", "SIP/2.0/UDP h;;,;,,").is_err());
    }
}
