//! The dialog state of RFC 3261 §12 and what follows from it.

use std::collections::VecDeque;
use std::time::Instant;

use super::requests::{SUPPORTED_OPTION_TAGS, check_require, reject};
use super::session_timer::{SessionTimer, SessionTimerConfig, min_se_too_small};
use super::{DialogError, DialogKey, Tag};
use crate::transaction::{Branch, Transport};
use crate::{CSeq, Method, NameAddr, Request, Response, Uri, Via};

/// Which side of the dialog-creating INVITE we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Uac,
    Uas,
}

/// RFC 3261 §12: early (after a 1xx with a To tag), confirmed (after a 2xx), terminated
/// (BYE sent or received, a non-2xx final to the INVITE, or 481/408 to a request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

/// What a dialog tells its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogEvent {
    /// We are the session refresher and half the interval has passed: send `method`
    /// (UPDATE when the peer allows it, else re-INVITE with the current SDP), built with
    /// [`Dialog::request`].
    RefreshDue { method: Method },
    /// The session expired without a refresh (RFC 4028 §10): send BYE
    /// ([`Dialog::request`] with [`Method::Bye`]) and end the call.
    SessionExpired,
}

/// The transport and sent-by this side puts in the Via of the requests it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalVia {
    transport: Transport,
    sent_by: String,
}

impl LocalVia {
    /// `sent_by` is `host` or `host:port` (IPv6 in brackets).
    pub fn new(transport: Transport, sent_by: &str) -> Result<LocalVia, DialogError> {
        let v = LocalVia {
            transport,
            sent_by: sent_by.to_owned(),
        };
        v.try_via(&Branch::new("z9hG4bKcheck"))
            .map_err(|e| DialogError::Via(e.to_string()))?;
        Ok(v)
    }

    fn try_via(&self, branch: &Branch) -> Result<Via, crate::ParseError> {
        Via::parse(&format!(
            "SIP/2.0/{} {};branch={branch}",
            self.transport.as_str(),
            self.sent_by
        ))
    }

    /// The Via for a request with this branch.
    pub fn via(&self, branch: &Branch) -> Via {
        self.try_via(branch)
            .expect("sent-by was checked in LocalVia::new and branches are tokens")
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }
}

fn is_target_refresh(m: &Method) -> bool {
    matches!(
        m,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

/// One dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    key: DialogKey,
    role: Role,
    state: DialogState,
    local: NameAddr,
    remote: NameAddr,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    remote_target: Uri,
    route_set: Vec<NameAddr>,
    local_contact: NameAddr,
    local_via: LocalVia,
    st_config: SessionTimerConfig,
    session_timer: Option<SessionTimer>,
    peer_allows_update: bool,
    /// Our re-INVITE or UPDATE awaits its final response (RFC 3261 §14.1).
    pending_out: bool,
    /// The peer's re-INVITE or UPDATE awaits our final response (§14.2).
    pending_in: bool,
    events: VecDeque<DialogEvent>,
}

fn first_contact(headers: &crate::Headers) -> Option<NameAddr> {
    headers.contacts().as_slice().first().cloned()
}

impl Dialog {
    /// The UAC's dialog, from our INVITE and a 1xx (early) or 2xx (confirmed) response
    /// carrying a To tag (RFC 3261 §12.1.2): route set from Record-Route reversed, remote
    /// target from Contact.
    pub fn uac(
        now: Instant,
        invite: &Request,
        resp: &Response,
        local_via: LocalVia,
        st_config: SessionTimerConfig,
    ) -> Result<Dialog, DialogError> {
        if !(101..300).contains(&resp.status) {
            return Err(DialogError::NotDialogCreating(resp.status));
        }
        let call_id = invite.headers.call_id().ok_or(DialogError::NoCallId)?;
        let local = invite.headers.from().ok_or(DialogError::NoAddress)?.clone();
        let remote = resp.headers.to().ok_or(DialogError::NoAddress)?.clone();
        let local_tag = local.tag().ok_or(DialogError::NoFromTag)?;
        let remote_tag = remote.tag().ok_or(DialogError::NoToTag)?;
        let cseq = invite.headers.cseq().ok_or(DialogError::NoCSeq)?;
        let local_contact = first_contact(&invite.headers).ok_or(DialogError::NoContact)?;
        let remote_target = match first_contact(&resp.headers) {
            Some(c) => c.uri().clone(),
            None if resp.status < 200 => invite.uri.clone(),
            None => return Err(DialogError::NoContact),
        };
        let mut route_set = resp.headers.record_routes();
        route_set.reverse();
        let mut dialog = Dialog {
            key: DialogKey::new(call_id, local_tag, remote_tag),
            role: Role::Uac,
            state: DialogState::Early,
            local,
            remote,
            local_cseq: cseq.seq,
            remote_cseq: None,
            remote_target,
            route_set,
            local_contact,
            local_via,
            st_config,
            session_timer: None,
            peer_allows_update: false,
            pending_out: false,
            pending_in: false,
            events: VecDeque::new(),
        };
        dialog.note_allow(resp);
        if resp.status >= 200 {
            dialog.state = DialogState::Confirmed;
            dialog.session_timer = SessionTimer::negotiate_uac(resp)
                .map(|(interval, we)| SessionTimer::start(now, interval, we));
        }
        Ok(dialog)
    }

    /// The UAS's dialog for a dialog-creating request (RFC 3261 §12.1.1): our tag
    /// `local_tag` goes into To, route set from Record-Route in order, remote target from
    /// Contact. It is early until [`response`](Self::response) builds a 2xx.
    pub fn uas(
        invite: &Request,
        local_tag: &Tag,
        local_contact: NameAddr,
        local_via: LocalVia,
        st_config: SessionTimerConfig,
    ) -> Result<Dialog, DialogError> {
        let call_id = invite.headers.call_id().ok_or(DialogError::NoCallId)?;
        let remote = invite.headers.from().ok_or(DialogError::NoAddress)?.clone();
        let mut local = invite.headers.to().ok_or(DialogError::NoAddress)?.clone();
        local.set_tag(local_tag.as_str());
        let remote_tag = remote.tag().ok_or(DialogError::NoFromTag)?;
        let cseq = invite.headers.cseq().ok_or(DialogError::NoCSeq)?;
        let remote_target = first_contact(&invite.headers)
            .ok_or(DialogError::NoContact)?
            .uri()
            .clone();
        let peer_allows_update = invite.headers.allow().contains(&"UPDATE");
        Ok(Dialog {
            key: DialogKey::new(call_id, local_tag.as_str(), remote_tag),
            role: Role::Uas,
            state: DialogState::Early,
            local,
            remote,
            local_cseq: 0,
            remote_cseq: Some(cseq.seq),
            remote_target,
            route_set: invite.headers.record_routes(),
            local_contact,
            local_via,
            st_config,
            session_timer: None,
            peer_allows_update,
            pending_out: false,
            pending_in: false,
            events: VecDeque::new(),
        })
    }

    fn note_allow(&mut self, resp: &Response) {
        let allow = resp.headers.allow();
        if !allow.is_empty() {
            self.peer_allows_update = allow.contains(&"UPDATE");
        }
    }

    pub fn key(&self) -> &DialogKey {
        &self.key
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The CSeq number of the last request we sent in this dialog (0 before the first for
    /// a UAS).
    pub fn local_cseq(&self) -> u32 {
        self.local_cseq
    }

    pub fn remote_cseq(&self) -> Option<u32> {
        self.remote_cseq
    }

    /// Where in-dialog requests are addressed (the peer's Contact).
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// Route set, in the order Route headers get it.
    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// The negotiated session timer, if any.
    pub fn session_timer(&self) -> Option<&SessionTimer> {
        self.session_timer.as_ref()
    }

    /// Where to send in-dialog requests: the first Route, else the remote target. The
    /// caller resolves it (RFC 3263) or uses a known flow to it.
    pub fn next_hop(&self) -> &Uri {
        self.route_set
            .first()
            .map_or(&self.remote_target, |r| r.uri())
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1) with a new local CSeq (except for
    /// ACK and CANCEL), the route set, and a Via with `branch`. A re-INVITE or UPDATE
    /// carries the session timer; a BYE terminates the dialog.
    pub fn request(&mut self, method: Method, branch: &Branch) -> Request {
        if !matches!(method, Method::Ack | Method::Cancel) {
            self.local_cseq += 1;
        }
        let mut req = self.base_request(method.clone(), self.local_cseq, branch);
        if matches!(method, Method::Invite | Method::Update) {
            req.headers.push("Supported", "timer");
            if let Some(st) = &mut self.session_timer {
                let refresher = if st.we_refresh { "uac" } else { "uas" };
                req.headers.push(
                    "Session-Expires",
                    format!("{};refresher={refresher}", st.interval),
                );
                req.headers
                    .push("Min-SE", self.st_config.min_se.to_string());
                if st.we_refresh {
                    st.refresh_sent();
                }
            }
        }
        if matches!(method, Method::Invite | Method::Update) {
            self.pending_out = true;
        }
        if method == Method::Bye {
            self.terminate();
        }
        req
    }

    /// The ACK for a 2xx to the INVITE with CSeq number `invite_cseq` (RFC 3261
    /// §13.2.2.4), built by the UAC core; send it with
    /// [`TransactionLayer::send_ack`](crate::transaction::TransactionLayer::send_ack).
    pub fn ack(&self, invite_cseq: u32, branch: &Branch) -> Request {
        self.base_request(Method::Ack, invite_cseq, branch)
    }

    fn base_request(&self, method: Method, seq: u32, branch: &Branch) -> Request {
        // Loose routing when the first route has `lr` (or there is none); strict routing
        // (RFC 2543 proxies) puts the first route in the Request-URI and the remote
        // target last.
        let strict = self
            .route_set
            .first()
            .is_some_and(|r| r.uri().param("lr").is_none());
        let (uri, routes): (Uri, Vec<String>) = if strict {
            let mut routes: Vec<String> =
                self.route_set[1..].iter().map(|r| r.to_string()).collect();
            routes.push(format!("<{}>", self.remote_target));
            (self.route_set[0].uri().clone(), routes)
        } else {
            (
                self.remote_target.clone(),
                self.route_set.iter().map(|r| r.to_string()).collect(),
            )
        };
        let mut req = Request::new(method.clone(), uri);
        req.headers.push_via(self.local_via.via(branch));
        for r in routes {
            req.headers.push("Route", r);
        }
        req.headers.push("Max-Forwards", "70");
        req.headers.push("From", self.local.to_string());
        req.headers.push("To", self.remote.to_string());
        req.headers.push("Call-ID", self.key.call_id.as_str());
        req.headers.push(
            "CSeq",
            CSeq {
                seq,
                method: method.clone(),
            }
            .to_string(),
        );
        if is_target_refresh(&method) {
            req.headers.push("Contact", self.local_contact.to_string());
        }
        req
    }

    /// Checks a request received in this dialog (RFC 3261 §12.2.2): `Err` carries the
    /// response to send instead of handling it — 481 after the dialog ended, 500 for a
    /// CSeq lower than the last one, 420 for `Require` we lack (`100rel`), 422 for a
    /// Session-Expires below our Min-SE, 491 for a re-INVITE or UPDATE crossing ours
    /// (glare, §14.1) and 500 with Retry-After for one arriving before we answered the
    /// previous (§14.2). A re-INVITE or UPDATE updates the remote target; a BYE
    /// terminates the dialog.
    pub fn handle_request(&mut self, req: &Request) -> Result<(), Box<Response>> {
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if self.state == DialogState::Terminated {
            return Err(Box::new(reject(
                req,
                481,
                "Call/Transaction Does Not Exist",
            )));
        }
        let Some(cseq) = req.headers.cseq() else {
            return Err(Box::new(reject(req, 400, "Missing CSeq")));
        };
        if self.remote_cseq.is_some_and(|r| cseq.seq < r) {
            return Err(Box::new(reject(req, 500, "CSeq Out of Order")));
        }
        self.remote_cseq = Some(cseq.seq);
        if let Some(resp) = check_require(req, SUPPORTED_OPTION_TAGS) {
            return Err(Box::new(resp));
        }
        let offer = matches!(req.method, Method::Invite | Method::Update);
        if offer && self.pending_out {
            return Err(Box::new(reject(req, 491, "Request Pending")));
        }
        if offer && self.pending_in {
            let mut resp = reject(req, 500, "Previous Request Pending");
            // §14.2 asks for a random 0-10 s; the CSeq spreads retries without a generator.
            resp.headers
                .push("Retry-After", (cseq.seq % 10 + 1).to_string());
            return Err(Box::new(resp));
        }
        if offer && let Some(resp) = min_se_too_small(req, &self.st_config) {
            return Err(Box::new(resp));
        }
        if offer {
            self.pending_in = true;
        }
        if is_target_refresh(&req.method)
            && let Some(c) = first_contact(&req.headers)
        {
            self.remote_target = c.uri().clone();
        }
        if req.method == Method::Bye {
            self.terminate();
        }
        Ok(())
    }

    /// Builds our response to `req` (the dialog-creating INVITE or an in-dialog request):
    /// our To tag, Contact on 1xx/2xx to INVITE and UPDATE, the Record-Route of the
    /// dialog-creating INVITE, and for a 2xx to INVITE or UPDATE the session timer (which
    /// restarts: this is how a refresh from the peer lands).
    pub fn response(&mut self, now: Instant, req: &Request, status: u16, reason: &str) -> Response {
        let mut resp = Response::for_request(req, status, reason);
        if let Some(to) = resp.headers.to_mut()
            && to.tag().is_none()
        {
            to.set_tag(self.key.local_tag.as_str());
        }
        let invite_or_update = matches!(req.method, Method::Invite | Method::Update);
        let creating = req.method == Method::Invite && self.state == DialogState::Early;
        if invite_or_update && status >= 200 {
            self.pending_in = false;
        }
        if invite_or_update && (101..300).contains(&status) {
            if creating {
                for rr in req.headers.get_all("Record-Route") {
                    resp.headers.push("Record-Route", rr);
                }
            }
            resp.headers.push("Contact", self.local_contact.to_string());
        }
        if invite_or_update && (200..300).contains(&status) {
            self.session_timer = SessionTimer::negotiate_uas(req, &self.st_config)
                .map(|(interval, we)| SessionTimer::start(now, interval, we));
            if let Some(st) = &self.session_timer {
                st.decorate_uas_response(req, &mut resp);
            }
            if creating {
                self.state = DialogState::Confirmed;
            }
        } else if creating && status >= 300 {
            self.terminate();
        }
        resp
    }

    /// Follows a response to a request we sent in this dialog (or to the dialog-creating
    /// INVITE): confirms an early dialog (recomputing the route set), updates the remote
    /// target on a 2xx to a target refresh, restarts the session timer, and terminates the
    /// dialog on a 481 or 408 (RFC 3261 §12.2.1.2) or a failed dialog-creating INVITE.
    pub fn handle_response(&mut self, now: Instant, resp: &Response) {
        let Some(cseq) = resp.headers.cseq() else {
            return;
        };
        let method = cseq.method;
        if matches!(method, Method::Invite | Method::Update) && resp.status >= 200 {
            self.pending_out = false;
        }
        if matches!(resp.status, 481 | 408) {
            self.terminate();
            return;
        }
        if !(200..300).contains(&resp.status) {
            if method == Method::Invite && resp.status >= 300 && self.state == DialogState::Early {
                self.terminate();
            }
            return;
        }
        self.note_allow(resp);
        if method == Method::Invite && self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
            let mut rs = resp.headers.record_routes();
            rs.reverse();
            self.route_set = rs;
        }
        if is_target_refresh(&method)
            && let Some(c) = first_contact(&resp.headers)
        {
            self.remote_target = c.uri().clone();
        }
        if matches!(method, Method::Invite | Method::Update) {
            self.session_timer = SessionTimer::negotiate_uac(resp)
                .map(|(interval, we)| SessionTimer::start(now, interval, we));
        }
    }

    /// A request we sent in this dialog got no response at all (Timer B or F, or a
    /// transport error): RFC 3261 §12.2.1.2 ends the dialog, as for 408. The caller still
    /// sends BYE when the dialog carried a call.
    pub fn handle_request_failure(&mut self) {
        self.pending_out = false;
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = DialogState::Terminated;
        self.session_timer = None;
    }

    /// The next session timer deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session_timer.as_ref().map(SessionTimer::next_deadline)
    }

    /// Fires the session timer deadlines due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(st) = &mut self.session_timer else {
            return;
        };
        if st.expire_at() <= now {
            self.session_timer = None;
            self.events.push_back(DialogEvent::SessionExpired);
            return;
        }
        if st.refresh_at().is_some_and(|r| r <= now) {
            st.refresh_sent();
            let method = if self.peer_allows_update {
                Method::Update
            } else {
                Method::Invite
            };
            self.events.push_back(DialogEvent::RefreshDue { method });
        }
    }

    /// Next event for the dialog's user.
    pub fn poll_event(&mut self) -> Option<DialogEvent> {
        self.events.pop_front()
    }
}
