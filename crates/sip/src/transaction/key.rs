//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).

use std::fmt;

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
        self.0.len() > MAGIC_COOKIE.len() && self.0.starts_with(MAGIC_COOKIE)
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TsxKey(KeyKind);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyKind {
    Rfc3261 {
        branch: Branch,
        /// Lower-cased host and explicit-or-default port of the top Via.
        sent_by: Box<str>,
        method: Method,
    },
    Rfc2543(Box<Rfc2543Key>),
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

/// An ACK belongs to the INVITE transaction.
fn tsx_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        other => other.clone(),
    }
}

fn sent_by(via: &Via) -> Box<str> {
    let host = via.host_str().to_ascii_lowercase();
    let port = via.port().unwrap_or_else(|| {
        if via.transport().eq_ignore_ascii_case("TLS") {
            5061
        } else {
            5060
        }
    });
    format!("{host}:{port}").into_boxed_str()
}

impl TsxKey {
    /// The key of the server transaction a received request belongs to.
    pub fn for_request(req: &Request) -> Result<TsxKey, KeyError> {
        let via = req.headers.top_via().ok_or(KeyError::NoVia)?;
        let branch = via.branch().map(Branch::new);
        match branch {
            Some(branch) if branch.is_rfc3261() => Ok(TsxKey(KeyKind::Rfc3261 {
                branch,
                sent_by: sent_by(via),
                method: tsx_method(&req.method),
            })),
            _ => {
                let cseq = req.headers.cseq().ok_or(KeyError::NoCSeq)?;
                let call_id = req.headers.call_id().ok_or(KeyError::NoCallId)?;
                Ok(TsxKey(KeyKind::Rfc2543(Box::new(Rfc2543Key {
                    request_uri: req.uri.to_string(),
                    to_tag: req.headers.to().and_then(|t| t.tag()).map(str::to_owned),
                    from_tag: req.headers.from().and_then(|t| t.tag()).map(str::to_owned),
                    call_id: call_id.to_owned(),
                    cseq: cseq.seq,
                    method: tsx_method(&req.method),
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
        let branch = via.branch().map(Branch::new).ok_or(KeyError::NoBranch)?;
        if !branch.is_rfc3261() {
            return Err(KeyError::NoBranch);
        }
        Ok(TsxKey(KeyKind::Rfc3261 {
            branch,
            sent_by: sent_by(via),
            method: cseq.method,
        }))
    }

    /// The transaction method (INVITE for an ACK's key).
    pub fn method(&self) -> &Method {
        match &self.0 {
            KeyKind::Rfc3261 { method, .. } => method,
            KeyKind::Rfc2543(k) => &k.method,
        }
    }

    /// The branch, for RFC 3261 keys.
    pub fn branch(&self) -> Option<&Branch> {
        match &self.0 {
            KeyKind::Rfc3261 { branch, .. } => Some(branch),
            KeyKind::Rfc2543(_) => None,
        }
    }

    /// True for a key made by the RFC 2543 fallback.
    pub fn is_rfc2543(&self) -> bool {
        matches!(self.0, KeyKind::Rfc2543(_))
    }

    /// The same key for another method: a CANCEL's key turned into the key of the INVITE
    /// it cancels.
    pub fn with_method(&self, method: Method) -> TsxKey {
        let mut k = self.clone();
        match &mut k.0 {
            KeyKind::Rfc3261 { method: m, .. } => *m = method,
            KeyKind::Rfc2543(r) => r.method = method,
        }
        k
    }

    /// For RFC 2543 keys: the same key without a To tag (an ACK carries the tag our
    /// response added, the INVITE had none). `None` for RFC 3261 keys or keys without a To
    /// tag.
    pub(crate) fn without_to_tag(&self) -> Option<TsxKey> {
        match &self.0 {
            KeyKind::Rfc2543(r) if r.to_tag.is_some() => {
                let mut r = r.clone();
                r.to_tag = None;
                Some(TsxKey(KeyKind::Rfc2543(r)))
            }
            _ => None,
        }
    }

    /// The To tag an RFC 2543 key was made with.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        match &self.0 {
            KeyKind::Rfc2543(r) => r.to_tag.as_deref(),
            KeyKind::Rfc3261 { .. } => None,
        }
    }
}

impl fmt::Display for TsxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeyKind::Rfc3261 {
                branch,
                sent_by,
                method,
            } => write!(f, "{method} {branch} {sent_by}"),
            KeyKind::Rfc2543(r) => write!(f, "{} rfc2543 {} {}", r.method, r.call_id, r.cseq),
        }
    }
}
