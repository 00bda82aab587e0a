//! The checks a UAS makes at the top of request handling (RFC 3261 §8.2), before any
//! method-specific work: method, Request-URI scheme, To tag, Require, body type, Accept.
//!
//! ```
//! use switchyard_sip::uas::{UasPolicy, validate};
//! use switchyard_sip::{Message, Method};
//!
//! let policy = UasPolicy::default();
//! let wire = b"OPTIONS nobodyKnowsThisScheme:opaque SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n\
//!     To: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\nCall-ID: c1\r\n\
//!     CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//! let Ok(Message::Request(req)) = Message::parse(wire) else { panic!() };
//! let answer = validate(&req, &policy, |_| false).unwrap_err();
//! assert_eq!(answer.status, 416);
//! ```

use crate::{Method, Request, Response, Scheme};

/// What the server implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UasPolicy {
    /// Methods served; other known methods get 405, unknown ones 501. Both carry Allow.
    pub allow: Vec<Method>,
    /// Option-tags understood in `Require` (others: 420 with Unsupported).
    pub supported: Vec<String>,
    /// Body types accepted (others: 415 with Accept).
    pub accept: Vec<String>,
}

impl Default for UasPolicy {
    fn default() -> Self {
        UasPolicy {
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Register,
            ],
            // Nothing is claimed until it is implemented (e.g. `timer` once calls are
            // served with session timers).
            supported: Vec::new(),
            accept: vec!["application/sdp".into()],
        }
    }
}

impl UasPolicy {
    /// The `Allow` header value.
    pub fn allow_header(&self) -> String {
        join(self.allow.iter().map(Method::as_str))
    }

    /// The `Supported` header value.
    pub fn supported_header(&self) -> String {
        join(self.supported.iter().map(String::as_str))
    }

    /// The `Accept` header value.
    pub fn accept_header(&self) -> String {
        join(self.accept.iter().map(String::as_str))
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Whether a request must never be answered (ACK: RFC 3261 §17.1.1.3; an ACK matching no
/// transaction is simply dropped).
pub fn is_unanswerable(req: &Request) -> bool {
    req.method == Method::Ack
}

/// Checks a request against the policy. `Err` carries the answer (boxed: it is large) (built with
/// [`Response::for_request`] plus the headers the status needs: Allow, Unsupported,
/// Accept). `in_dialog` says whether a request with a To tag matches an existing dialog.
/// ACKs are not answered: check [`is_unanswerable`] first.
pub fn validate(
    req: &Request,
    policy: &UasPolicy,
    in_dialog: impl Fn(&Request) -> bool,
) -> Result<(), Box<Response>> {
    let reject = |status: u16, reason: &str| Box::new(Response::for_request(req, status, reason));

    // §8.2.1: method inspection.
    if matches!(req.method, Method::Extension(_)) {
        let mut r = reject(501, "Not Implemented");
        r.headers.push("Allow", policy.allow_header());
        return Err(r);
    }
    if !policy.allow.contains(&req.method) {
        let mut r = reject(405, "Method Not Allowed");
        r.headers.push("Allow", policy.allow_header());
        return Err(r);
    }

    // §8.2.2.1: the Request-URI.
    if !matches!(req.uri.scheme(), Scheme::Sip | Scheme::Sips) {
        return Err(reject(416, "Unsupported URI Scheme"));
    }
    // §10.3 step 3 for a registrar: the AOR must be a SIP URI (a proxy would forward).
    if req.method == Method::Register {
        let sip = |n: Option<&crate::NameAddr>| {
            n.is_some_and(|n| matches!(n.uri().scheme(), Scheme::Sip | Scheme::Sips))
        };
        if !sip(req.headers.to()) || !sip(req.headers.from()) {
            return Err(reject(400, "Bad Request (To and From must be SIP URIs)"));
        }
    }

    // §8.2.2.2 / §12.2.2: a To tag names a dialog, which must exist.
    let has_to_tag = req.headers.to().is_some_and(|to| to.tag().is_some());
    if has_to_tag && !in_dialog(req) {
        return Err(reject(481, "Call/Transaction Does Not Exist"));
    }

    // §8.2.2.3: Require (never applied to CANCEL, whose Require is ignored).
    if req.method != Method::Cancel {
        let unsupported: Vec<&str> = req
            .headers
            .require()
            .into_iter()
            .filter(|tag| {
                !policy
                    .supported
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(tag.trim()))
            })
            .collect();
        if !unsupported.is_empty() {
            let mut r = reject(420, "Bad Extension");
            r.headers.push("Unsupported", unsupported.join(", "));
            return Err(r);
        }
    }

    // §8.2.3: the body must be of a type we understand.
    if !req.body.is_empty()
        && let Some(ct) = req.headers.content_type()
    {
        let media = media_type(ct);
        let known = policy.accept.iter().any(|a| a.eq_ignore_ascii_case(media))
            || media.eq_ignore_ascii_case("multipart/mixed");
        if !known {
            let mut r = reject(415, "Unsupported Media Type");
            r.headers.push("Accept", policy.accept_header());
            return Err(r);
        }
    }

    // §21.4.7: a session answer must be in a type the caller accepts.
    if req.method == Method::Invite && req.headers.get("Accept").is_some() {
        let accepts = req.headers.accept();
        let ok = accepts.iter().any(|a| {
            policy
                .accept
                .iter()
                .any(|ours| media_range_matches(media_type(a), ours))
        });
        if !ok {
            let mut r = reject(406, "Not Acceptable");
            r.headers.push("Accept", policy.accept_header());
            return Err(r);
        }
    }
    Ok(())
}

/// `type/subtype` without parameters.
fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// Whether a media range (`*/*`, `application/*`, `application/sdp`) covers `ours`.
fn media_range_matches(range: &str, ours: &str) -> bool {
    if range == "*/*" || range.eq_ignore_ascii_case(ours) {
        return true;
    }
    match (range.split_once('/'), ours.split_once('/')) {
        (Some((rt, "*")), Some((ot, _))) => rt.eq_ignore_ascii_case(ot),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
