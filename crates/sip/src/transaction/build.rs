//! Requests the transaction layer builds itself: the ACK for a non-2xx final response
//! (RFC 3261 §17.1.1.3) and CANCEL (§9.1); and serialization to bytes.

use bytes::Bytes;

use crate::{CSeq, Method, Request, Response};

pub(crate) fn request_bytes(req: &Request) -> Bytes {
    let mut out = Vec::with_capacity(512 + req.body.len());
    req.write_to(&mut out);
    Bytes::from(out)
}

pub(crate) fn response_bytes(resp: &Response) -> Bytes {
    let mut out = Vec::with_capacity(256 + resp.body.len());
    resp.write_to(&mut out);
    Bytes::from(out)
}

/// The headers a CANCEL and a non-2xx ACK share with the INVITE: one Via (the INVITE's
/// top Via, same branch), Route set, Max-Forwards, From, Call-ID, and the CSeq number.
fn in_transaction(invite: &Request, method: Method) -> Request {
    let mut req = Request::new(method.clone(), invite.uri.clone());
    if let Some(via) = invite.headers.top_via() {
        req.headers.push_via(via.clone());
    }
    for route in invite.headers.get_all("Route") {
        req.headers.push("Route", route);
    }
    req.headers.push("Max-Forwards", "70");
    if let Some(from) = invite.headers.get("From") {
        req.headers.push("From", from);
    }
    req
}

fn finish(mut req: Request, invite: &Request, to: Option<&str>, method: Method) -> Request {
    if let Some(to) = to {
        req.headers.push("To", to);
    }
    if let Some(call_id) = invite.headers.call_id() {
        req.headers.push("Call-ID", call_id);
    }
    let seq = invite.headers.cseq().map_or(1, |c| c.seq);
    req.headers.push("CSeq", CSeq { seq, method }.to_string());
    req
}

/// RFC 3261 §17.1.1.3: To from the response (with its tag), everything else from the
/// INVITE.
pub(crate) fn ack_for(invite: &Request, response: &Response) -> Request {
    let req = in_transaction(invite, Method::Ack);
    finish(req, invite, response.headers.get("To"), Method::Ack)
}

/// RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via as the
/// INVITE.
pub(crate) fn cancel_for(invite: &Request) -> Request {
    let req = in_transaction(invite, Method::Cancel);
    finish(req, invite, invite.headers.get("To"), Method::Cancel)
}
