//! Linking two dialogs into one back-to-back call, and carrying requests and responses
//! from one leg to the other.
//!
//! [`Links`] maps each dialog to its peer leg, so that call control finds the other side
//! of a BYE or re-INVITE in one lookup. [`forward_request`] builds the request for the
//! other leg from the one that arrived (Max-Forwards decremented, 483 when it would reach
//! zero, so loops through the B2BUA die), [`forward_response`] the answer back.

use std::collections::HashMap;
use std::time::Instant;

use crate::dialog::{Dialog, DialogKey};
use crate::transaction::Branch;
use crate::{NameAddr, Request, Response, Uri, Via};

/// Max-Forwards of a request that carried none (RFC 3261 §8.1.1.6).
pub const DEFAULT_MAX_FORWARDS: u8 = 70;

/// Identifies one linked call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(u64);

/// Which leg of a linked call a dialog is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The leg that called in.
    A,
    /// The leg we called out.
    B,
}

/// Dialog pairs of the B2BUA's calls.
#[derive(Debug, Default, Clone)]
pub struct Links {
    next: u64,
    by_dialog: HashMap<DialogKey, (LinkId, Leg)>,
    calls: HashMap<LinkId, [DialogKey; 2]>,
}

impl Links {
    pub fn new() -> Links {
        Links::default()
    }

    /// Ties dialog `a` (inbound) and `b` (outbound) into one call. A dialog already
    /// linked is unlinked from its old peer first.
    pub fn link(&mut self, a: DialogKey, b: DialogKey) -> LinkId {
        self.unlink(&a);
        self.unlink(&b);
        self.next += 1;
        let id = LinkId(self.next);
        self.by_dialog.insert(a.clone(), (id, Leg::A));
        self.by_dialog.insert(b.clone(), (id, Leg::B));
        self.calls.insert(id, [a, b]);
        id
    }

    /// The other leg of the call `dialog` is in.
    pub fn peer(&self, dialog: &DialogKey) -> Option<&DialogKey> {
        let (id, leg) = self.by_dialog.get(dialog)?;
        let pair = self.calls.get(id)?;
        Some(match leg {
            Leg::A => &pair[1],
            Leg::B => &pair[0],
        })
    }

    /// The call and leg of `dialog`.
    pub fn leg(&self, dialog: &DialogKey) -> Option<(LinkId, Leg)> {
        self.by_dialog.get(dialog).copied()
    }

    /// Both dialogs of a call, A leg first.
    pub fn call(&self, id: LinkId) -> Option<&[DialogKey; 2]> {
        self.calls.get(&id)
    }

    /// Removes the call `dialog` is in; returns both legs (A first).
    pub fn unlink(&mut self, dialog: &DialogKey) -> Option<[DialogKey; 2]> {
        let (id, _) = self.by_dialog.get(dialog)?;
        let pair = self.calls.remove(id)?;
        for k in &pair {
            self.by_dialog.remove(k);
        }
        Some(pair)
    }

    /// Number of linked calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

/// The Max-Forwards the request for the other leg gets, or the 483 to answer with when
/// it would reach zero.
pub fn decrement_max_forwards(incoming: &Request) -> Result<u8, Box<Response>> {
    let mf = incoming
        .headers
        .max_forwards()
        .unwrap_or(DEFAULT_MAX_FORWARDS);
    match mf.checked_sub(1) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(Box::new(Response::for_request(
            incoming,
            483,
            "Too Many Hops",
        ))),
    }
}

/// What the outgoing leg of a new call is made of: B2BUA legs share no Call-ID or tags.
#[derive(Debug, Clone)]
pub struct NewLeg<'a> {
    /// Request-URI of the outgoing request.
    pub target: Uri,
    /// From, with our new tag.
    pub from: NameAddr,
    /// To, without a tag.
    pub to: NameAddr,
    pub call_id: &'a str,
    pub contact: NameAddr,
    /// Top Via, with a fresh branch.
    pub via: Via,
}

/// Builds the dialog-creating request of the outgoing leg (normally the INVITE to an
/// agent or a trunk) from the one that arrived: same method, body and Content-Type, CSeq
/// 1, Max-Forwards one lower. `Err` is the answer for the incoming request instead (483).
pub fn new_leg_request(incoming: &Request, leg: NewLeg<'_>) -> Result<Request, Box<Response>> {
    let mf = decrement_max_forwards(incoming)?;
    let mut req = Request::new(incoming.method.clone(), leg.target);
    req.headers.push_via(leg.via);
    req.headers.set_max_forwards(mf);
    req.headers.push("From", leg.from.to_string());
    req.headers.push("To", leg.to.to_string());
    req.headers.push("Call-ID", leg.call_id);
    req.headers.push(
        "CSeq",
        crate::CSeq {
            seq: 1,
            method: incoming.method.clone(),
        }
        .to_string(),
    );
    req.headers.push("Contact", leg.contact.to_string());
    copy_body(&incoming.headers, &incoming.body, &mut req.headers);
    req.body = incoming.body.clone();
    Ok(req)
}

/// Builds the in-dialog request for the peer leg (`out`) from one received on the other
/// leg (BYE, re-INVITE, UPDATE, INFO, ...): the peer dialog's own CSeq, route set, tags
/// and Call-ID; the incoming body and Content-Type; Max-Forwards one lower. `Err` is the
/// answer for the incoming request instead (483).
pub fn forward_request(
    incoming: &Request,
    out: &mut Dialog,
    branch: &Branch,
) -> Result<Request, Box<Response>> {
    let mf = decrement_max_forwards(incoming)?;
    let mut req = out.request(incoming.method.clone(), branch);
    req.headers.set_max_forwards(mf);
    copy_body(&incoming.headers, &incoming.body, &mut req.headers);
    req.body = incoming.body.clone();
    Ok(req)
}

/// Builds our answer on leg `dialog` to `request` (received on that leg) from the
/// response that came back on the peer leg: same status, reason and body.
pub fn forward_response(
    now: Instant,
    from_peer: &Response,
    dialog: &mut Dialog,
    request: &Request,
) -> Response {
    let mut resp = dialog.response(now, request, from_peer.status, &from_peer.reason);
    copy_body(&from_peer.headers, &from_peer.body, &mut resp.headers);
    resp.body = from_peer.body.clone();
    resp
}

fn copy_body(from: &crate::Headers, body: &[u8], to: &mut crate::Headers) {
    to.remove("Content-Type");
    if !body.is_empty()
        && let Some(ct) = from.content_type()
    {
        to.set("Content-Type", ct);
    }
}
