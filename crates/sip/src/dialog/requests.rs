//! UAS checks that come before a request is accepted, shared by in-dialog and initial
//! requests.

use crate::{Request, Response};

/// Option-tags this stack implements. `100rel` (RFC 3262, PRACK) is not among them yet, so
/// `Require: 100rel` is refused.
pub const SUPPORTED_OPTION_TAGS: &[&str] = &["timer"];

/// RFC 3261 §8.2.2.3: a request that requires an extension we do not support gets 420 Bad
/// Extension listing them in `Unsupported` (the caller adds the To tag for a
/// dialog-creating request). `None` when every required tag is in `supported`.
pub fn check_require(req: &Request, supported: &[&str]) -> Option<Response> {
    if req.method == crate::Method::Ack || req.method == crate::Method::Cancel {
        // §8.2.2.3: never answered 420 (ACK has no response, CANCEL must go through).
        return None;
    }
    let missing: Vec<&str> = req
        .headers
        .require()
        .into_iter()
        .filter(|tag| !supported.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut resp = reject(req, 420, "Bad Extension");
    resp.headers.push("Unsupported", missing.join(", "));
    Some(resp)
}

/// A response to `req` with the headers §8.2.6 copies, nothing more.
pub fn reject(req: &Request, status: u16, reason: &str) -> Response {
    Response::for_request(req, status, reason)
}
