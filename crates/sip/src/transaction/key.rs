//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::{Method, Request, Response, Via};

/// The RFC 3261 magic cookie that opens every branch made by an RFC 3261 element.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A Via `branch` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Branch(Box<str>);

impl Branch {
    /// Wraps a branch value as received or generated.
    pub fn new(value: &str) -> Branch {
        Branch(value.into())
    }

    /// The branch text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the branch starts with the magic cookie and has something after it, so
    /// RFC 3261 matching applies (a bare cookie does not count: RFC 4475 badbranch).
    pub fn is_rfc3261(&self) -> bool {
        Branch::is_rfc3261_str(&self.0)
    }

    fn is_rfc3261_str(b: &str) -> bool {
        b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE)
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a message cannot be given a transaction key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No Via header field.
    #[error("message has no Via")]
    NoVia,
    /// No (parsable) CSeq header field.
    #[error("message has no CSeq")]
    NoCSeq,
    /// RFC 2543 matching needs the Call-ID.
    #[error("message has no Call-ID")]
    NoCallId,
    /// A response whose top Via has no RFC 3261 branch cannot match any client transaction
    /// of ours (every request we send carries one).
    #[error("response has no RFC 3261 branch")]
    NoBranch,
}

/// The key a transaction is found by.
///
/// RFC 3261 matching uses the top Via's branch and sent-by plus the method, where an ACK
/// shares the key of its INVITE and a CANCEL has its own. Requests from RFC 2543 elements
/// (no magic cookie in the branch, or the bare cookie) are matched on Request-URI, To tag,
/// From tag, Call-ID, CSeq and the whole top Via.
///
/// Cloning is cheap (the key is shared), so events and transmits carry it freely.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TsxKey(Arc<KeyKind>);

#[derive(Debug, PartialEq, Eq)]
enum KeyKind {
    Rfc3261 {
        /// The branch, then the lower-cased sent-by host of the top Via: one inline buffer
        /// for the usual lengths, so a lookup among many transactions touches one cache
        /// line fewer per field.
        text: SmallVec<[u8; 64]>,
        branch_len: usize,
        /// Explicit or default sent-by port.
        port: u16,
        method: Method,
    },
    Rfc2543(Rfc2543Key),
}

impl KeyKind {
    fn branch_host(&self) -> Option<(&[u8], &[u8])> {
        match self {
            KeyKind::Rfc3261 {
                text, branch_len, ..
            } => Some(text.split_at(*branch_len)),
            KeyKind::Rfc2543(_) => None,
        }
    }
}

/// Hashes exactly like [`KeyRef`], so that a borrowed key finds an owned one.
impl Hash for KeyKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyKind::Rfc3261 {
                text,
                branch_len,
                port,
                method,
            } => {
                let (branch, host) = text.split_at(*branch_len);
                hash_3261(state, branch, host, *port, method)
            }
            KeyKind::Rfc2543(k) => {
                state.write_u8(1);
                k.hash(state);
            }
        }
    }
}

fn hash_3261<H: Hasher>(state: &mut H, branch: &[u8], host: &[u8], port: u16, method: &Method) {
    state.write_u8(0);
    state.write(branch);
    state.write_u8(0xff);
    state.write(host);
    state.write_u16(port);
    method.hash(state);
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rfc2543Key {
    request_uri: String,
    to_tag: Option<String>,
    from_tag: Option<String>,
    call_id: String,
    cseq: u32,
    method: Method,
    top_via: String,
}

static INVITE: Method = Method::Invite;

/// An ACK belongs to the INVITE transaction.
fn tsx_method(m: &Method) -> &Method {
    match m {
        Method::Ack => &INVITE,
        other => other,
    }
}

fn sent_by(via: &Via) -> (Cow<'_, str>, u16) {
    let host = via.host_str();
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    let port = via.port().unwrap_or_else(|| {
        if via.transport().eq_ignore_ascii_case("TLS") {
            5061
        } else {
            5060
        }
    });
    (host, port)
}

/// An RFC 3261 key borrowed from a message: looks a transaction up without allocating.
#[derive(Debug)]
pub(crate) struct KeyRef<'a> {
    branch: &'a str,
    host: Cow<'a, str>,
    port: u16,
    method: &'a Method,
}

impl<'a> KeyRef<'a> {
    /// The borrowed key of a request, when RFC 3261 matching applies to it.
    pub(crate) fn for_request(req: &'a Request) -> Option<KeyRef<'a>> {
        let via = req.headers.top_via()?;
        let branch = via.branch()?;
        if !Branch::is_rfc3261_str(branch) {
            return None;
        }
        let (host, port) = sent_by(via);
        Some(KeyRef {
            branch,
            host,
            port,
            method: tsx_method(&req.method),
        })
    }

    /// The borrowed key of a response, with the CSeq method given by the caller (the
    /// message only hands out an owned CSeq).
    pub(crate) fn for_response(resp: &'a Response, method: &'a Method) -> Option<KeyRef<'a>> {
        let via = resp.headers.top_via()?;
        let branch = via.branch()?;
        if !Branch::is_rfc3261_str(branch) {
            return None;
        }
        let (host, port) = sent_by(via);
        Some(KeyRef {
            branch,
            host,
            port,
            method,
        })
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_3261(
            state,
            self.branch.as_bytes(),
            self.host.as_bytes(),
            self.port,
            self.method,
        );
    }
}

impl hashbrown::Equivalent<TsxKey> for KeyRef<'_> {
    fn equivalent(&self, key: &TsxKey) -> bool {
        match &*key.0 {
            KeyKind::Rfc3261 {
                text,
                branch_len,
                port,
                method,
            } => {
                let (branch, host) = text.split_at(*branch_len);
                *port == self.port
                    && branch == self.branch.as_bytes()
                    && host == self.host.as_bytes()
                    && method == self.method
            }
            KeyKind::Rfc2543(_) => false,
        }
    }
}

impl TsxKey {
    fn rfc3261(branch: &str, via: &Via, method: &Method) -> TsxKey {
        let (host, port) = sent_by(via);
        let mut text = SmallVec::with_capacity(branch.len() + host.len());
        text.extend_from_slice(branch.as_bytes());
        text.extend_from_slice(host.as_bytes());
        TsxKey(Arc::new(KeyKind::Rfc3261 {
            text,
            branch_len: branch.len(),
            port,
            method: method.clone(),
        }))
    }

    /// The key of the server transaction a received request belongs to.
    pub fn for_request(req: &Request) -> Result<TsxKey, KeyError> {
        let via = req.headers.top_via().ok_or(KeyError::NoVia)?;
        match via.branch() {
            Some(branch) if Branch::is_rfc3261_str(branch) => {
                Ok(TsxKey::rfc3261(branch, via, tsx_method(&req.method)))
            }
            _ => {
                let cseq = req.headers.cseq().ok_or(KeyError::NoCSeq)?;
                let call_id = req.headers.call_id().ok_or(KeyError::NoCallId)?;
                let tag = |n: Option<&crate::NameAddr>| n.and_then(|t| t.tag()).map(str::to_owned);
                Ok(TsxKey(Arc::new(KeyKind::Rfc2543(Rfc2543Key {
                    request_uri: req.uri.to_string(),
                    to_tag: tag(req.headers.to()),
                    from_tag: tag(req.headers.from()),
                    call_id: call_id.to_owned(),
                    cseq: cseq.seq,
                    method: tsx_method(&req.method).clone(),
                    top_via: via.to_string(),
                }))))
            }
        }
    }

    /// The key of the client transaction a received response belongs to: top Via branch
    /// and sent-by, and the CSeq method.
    pub fn for_response(resp: &Response) -> Result<TsxKey, KeyError> {
        let via = resp.headers.top_via().ok_or(KeyError::NoVia)?;
        let cseq = resp.headers.cseq().ok_or(KeyError::NoCSeq)?;
        match via.branch() {
            Some(branch) if Branch::is_rfc3261_str(branch) => {
                Ok(TsxKey::rfc3261(branch, via, &cseq.method))
            }
            _ => Err(KeyError::NoBranch),
        }
    }

    /// The transaction method (INVITE for an ACK's key).
    pub fn method(&self) -> &Method {
        match &*self.0 {
            KeyKind::Rfc3261 { method, .. } => method,
            KeyKind::Rfc2543(k) => &k.method,
        }
    }

    /// The branch, for RFC 3261 keys.
    pub fn branch(&self) -> Option<&str> {
        let (branch, _) = self.0.branch_host()?;
        Some(std::str::from_utf8(branch).expect("built from a &str"))
    }

    /// The lower-cased sent-by host, for RFC 3261 keys.
    fn host(&self) -> Option<&str> {
        let (_, host) = self.0.branch_host()?;
        Some(std::str::from_utf8(host).expect("built from a &str"))
    }

    /// True for a key made by the RFC 2543 fallback.
    pub fn is_rfc2543(&self) -> bool {
        matches!(*self.0, KeyKind::Rfc2543(_))
    }

    /// The same key for another method: a CANCEL's key turned into the key of the INVITE
    /// it cancels.
    pub fn with_method(&self, method: Method) -> TsxKey {
        let kind = match &*self.0 {
            KeyKind::Rfc3261 {
                text,
                branch_len,
                port,
                ..
            } => KeyKind::Rfc3261 {
                text: text.clone(),
                branch_len: *branch_len,
                port: *port,
                method,
            },
            KeyKind::Rfc2543(r) => KeyKind::Rfc2543(Rfc2543Key {
                method,
                ..r.clone()
            }),
        };
        TsxKey(Arc::new(kind))
    }

    /// For RFC 2543 keys: the same key without a To tag (an ACK carries the tag our
    /// response added, the INVITE had none). `None` for RFC 3261 keys or keys without a To
    /// tag.
    pub(crate) fn without_to_tag(&self) -> Option<TsxKey> {
        match &*self.0 {
            KeyKind::Rfc2543(r) if r.to_tag.is_some() => {
                Some(TsxKey(Arc::new(KeyKind::Rfc2543(Rfc2543Key {
                    to_tag: None,
                    ..r.clone()
                }))))
            }
            _ => None,
        }
    }

    /// The To tag an RFC 2543 key was made with.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        match &*self.0 {
            KeyKind::Rfc2543(r) => r.to_tag.as_deref(),
            KeyKind::Rfc3261 { .. } => None,
        }
    }
}

impl fmt::Display for TsxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            KeyKind::Rfc3261 { port, method, .. } => write!(
                f,
                "{method} {} {}:{port}",
                self.branch().unwrap_or_default(),
                self.host().unwrap_or_default()
            ),
            KeyKind::Rfc2543(r) => write!(f, "{} rfc2543 {} {}", r.method, r.call_id, r.cseq),
        }
    }
}
