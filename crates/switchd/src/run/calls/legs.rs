//! The SIP side of call control: new calls, in-dialog requests, responses to our
//! INVITEs, and ending calls.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use switchyard_ivr::Interpreter;
use switchyard_media::sdp::Direction;
use switchyard_sip::dialog::{Dialog, Tag};
use switchyard_sip::transaction::{TransactionLayer, TsxKey};
use switchyard_sip::transport::Source;
use switchyard_sip::{Method, NameAddr, Request, Response};

use super::*;
use crate::run::core::PeerBook;

/// What call control borrows from the SIP core for one operation.
pub(crate) struct Sip<'a> {
    pub(crate) layer: &'a mut TransactionLayer,
    pub(crate) registrar: &'a mut switchyard_sip::registrar::Registrar,
    pub(crate) peers: &'a mut PeerBook,
    pub(crate) domain: &'a str,
    pub(crate) token: &'a mut dyn FnMut() -> String,
}

impl Sip<'_> {
    fn token(&mut self) -> String {
        (self.token)()
    }

    /// Sends a request in a new client transaction to `dest` (its socket remembered so the
    /// answer and later requests use the same way).
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        req: Request,
        dest: Source,
    ) -> Option<TsxKey> {
        self.peers.touch(now, dest);
        match self
            .layer
            .send_request(now, req, dest.remote, tsx_transport(dest.transport))
        {
            Ok(key) => Some(key),
            Err(err) => {
                tracing::debug!("request not sent: {err}");
                None
            }
        }
    }

    pub(crate) fn respond(&mut self, now: Instant, key: &TsxKey, mut resp: Response) {
        if resp.headers.get("Server").is_none() {
            resp.headers.push("Server", "Switchyard");
        }
        if let Err(err) = self.layer.send_response(now, key, resp) {
            tracing::debug!("answer not sent: {err}");
        }
    }

    /// A plain answer outside any dialog, with a To tag on final answers.
    pub(crate) fn reject(
        &mut self,
        now: Instant,
        key: &TsxKey,
        req: &Request,
        status: u16,
        reason: &str,
    ) {
        let mut resp = Response::for_request(req, status, reason);
        if status > 100
            && let Some(to) = resp.headers.to_mut()
            && to.tag().is_none()
        {
            let tag = self.token();
            to.set_tag(&tag);
        }
        self.respond(now, key, resp);
    }
}

/// The Contact we put in our requests and answers on a socket.
fn our_contact(local: SocketAddr, transport: switchyard_sip::transport::Transport) -> String {
    match transport {
        switchyard_sip::transport::Transport::Tcp => {
            format!("<sip:switchyard@{};transport=tcp>", host_port(local))
        }
        switchyard_sip::transport::Transport::Udp => {
            format!("<sip:switchyard@{}>", host_port(local))
        }
    }
}

/// The user part of a URI-ish header, else empty.
/// The display name of a From (or To), unquoted; empty when there is none.
fn display_name(na: Option<&NameAddr>) -> String {
    na.and_then(|n| n.display_name())
        .unwrap_or("")
        .trim_matches('"')
        .to_owned()
}

fn user_of(na: Option<&NameAddr>) -> String {
    na.and_then(|n| n.uri().user())
        .map(percent_decode)
        .unwrap_or_default()
}

/// Undoes `%XX` escapes in a URI's user part (a DID may arrive as `%2B86...`). Written
/// here because the message layer keeps URIs as received and this is the only place that
/// needs the decoded number; invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b.get(i + 2).copied().unwrap_or(b'x') as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A number as E.164 for a trunk: `+` kept, the national prefix replaced by the country
/// code, `00` taken as the international prefix.
pub(super) fn normalise(number: &str, inbound: Option<&config::Inbound>) -> String {
    let n: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    if n.starts_with('+') {
        return n;
    }
    if let Some(rest) = n.strip_prefix("00") {
        return format!("+{rest}");
    }
    if let Some(ib) = inbound
        && let Some(cc) = &ib.country_code
    {
        if let Some(np) = &ib.national_prefix
            && !np.is_empty()
            && let Some(rest) = n.strip_prefix(np.as_str())
        {
            return format!("+{cc}{rest}");
        }
        if n.starts_with(cc.as_str()) && n.len() > 10 {
            return format!("+{n}");
        }
    }
    n
}

impl Calls {
    /// Whether call control takes this request (else the core serves it: REGISTER,
    /// OPTIONS outside dialogs, ...).
    pub(crate) fn wants(&self, req: &Request) -> bool {
        match req.method {
            Method::Invite | Method::Bye | Method::Info | Method::Update | Method::Refer => true,
            Method::Options | Method::Notify | Method::Message => {
                req.headers.to().and_then(|t| t.tag()).is_some() && self.dialog_of(req).is_some()
            }
            _ => false,
        }
    }

    /// Whether a request with a To tag belongs to one of our calls' dialogs.
    pub(crate) fn knows_dialog(&self, req: &Request) -> bool {
        self.dialog_of(req).is_some()
    }

    fn dialog_of(&self, req: &Request) -> Option<(u64, Side)> {
        let call_id = req.headers.call_id()?;
        let local = req.headers.to()?.tag()?;
        let remote = req.headers.from()?.tag()?;
        self.by_dialog
            .get(&(call_id.to_owned(), local.to_owned(), remote.to_owned()))
            .copied()
    }

    /// A new request for call control, from `source`, in server transaction `key`.
    pub(crate) fn handle_request(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: TsxKey,
        source: Source,
        req: &Request,
    ) {
        let in_dialog = req.headers.to().and_then(|t| t.tag()).is_some();
        if !in_dialog {
            if req.method == Method::Invite {
                self.new_invite(sip, now, key, source, req);
            } else {
                sip.reject(now, &key, req, 481, "Call/Transaction Does Not Exist");
            }
            return;
        }
        let Some((id, side)) = self.dialog_of(req) else {
            tracing::debug!(
                method = req.method.as_str(),
                "no dialog for an in-dialog request"
            );
            sip.reject(now, &key, req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        self.in_dialog(sip, now, key, id, side, req);
        self.reschedule(id);
    }

    fn trunk_for(&self, ip: IpAddr) -> Option<&config::Trunk> {
        self.config.trunks.iter().find(|t| {
            t.inbound
                .as_ref()
                .is_some_and(|ib| ib.from.iter().any(|c| c.contains(ip)))
        })
    }

    fn new_invite(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: TsxKey,
        source: Source,
        req: &Request,
    ) {
        if let Some(trunk) = self.trunk_for(source.remote.ip()).cloned() {
            if self.draining {
                sip.reject(now, &key, req, 503, "Service Unavailable");
                return;
            }
            let inbound = trunk.inbound.as_ref().expect("trunk_for checks inbound");
            let raw = match inbound.did_from {
                config::DidSource::RequestUri => {
                    req.uri.user().map(percent_decode).unwrap_or_default()
                }
                config::DidSource::To => user_of(req.headers.to()),
                config::DidSource::Diversion => req
                    .headers
                    .get("Diversion")
                    .and_then(|d| NameAddr::parse(d).ok())
                    .and_then(|n| n.uri().user().map(percent_decode))
                    .unwrap_or_else(|| req.uri.user().map(percent_decode).unwrap_or_default()),
            };
            let info = ivr::CallInfo {
                to: normalise(&raw, Some(inbound)),
                from: normalise(&user_of(req.headers.from()), Some(inbound)),
                caller_name: display_name(req.headers.from()),
                trunk: trunk.name.clone(),
            };
            self.start_call(sip, now, key, source, req, info, &trunk.name, None);
            return;
        }
        // Phones authenticate.
        let user = match sip.registrar.authenticate(now, req, source.remote.ip()) {
            Ok(user) => user,
            Err(challenge) => {
                let mut c = *challenge;
                if let Some(to) = c.headers.to_mut()
                    && to.tag().is_none()
                {
                    let tag = sip.token();
                    to.set_tag(&tag);
                }
                sip.respond(now, &key, c);
                return;
            }
        };
        // Shutting down: no new calls, feature-code calls included.
        if self.draining {
            sip.reject(now, &key, req, 503, "Service Unavailable");
            return;
        }
        let dialled = req.uri.user().map(percent_decode).unwrap_or_default();
        if self.feature_code(sip, now, &key, source, req, &user, &dialled) {
            return;
        }
        // A phone dialling a number served by a dialplan (e.g. the DID): run it as if the
        // call came in, on the trunk whose dialplan routes it.
        let inbound = self
            .config
            .trunks
            .iter()
            .filter_map(|t| t.inbound.as_ref().map(|ib| (t.name.clone(), ib.clone())))
            .collect::<Vec<_>>();
        for (name, ib) in inbound {
            let info = ivr::CallInfo {
                to: normalise(&dialled, Some(&ib)),
                from: user.clone(),
                caller_name: display_name(req.headers.from()),
                trunk: name.clone(),
            };
            let routes = self
                .dialplans
                .get(&name)
                .is_some_and(|d| d.current().route(&info).is_some());
            if routes {
                self.start_call(sip, now, key, source, req, info, &name, Some(&user));
                return;
            }
        }
        // Another phone's extension: ring it.
        if self.config.devices.iter().any(|d| d.user == dialled) {
            let caller_name = display_name(req.headers.from());
            self.call_extension(sip, now, key, source, req, &user, &dialled, caller_name);
        } else {
            sip.reject(now, &key, req, 404, "Not Found");
        }
    }

    /// Answers the INVITE with our media and starts the dialplan. `phone` is the
    /// registered phone that placed the call (`None` for a trunk's caller): it is busy
    /// until the call ends.
    #[allow(clippy::too_many_arguments)]
    fn start_call(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: TsxKey,
        source: Source,
        req: &Request,
        info: ivr::CallInfo,
        trunk: &str,
        phone: Option<&str>,
    ) {
        let Some(slot) = self.dialplans.get(trunk) else {
            sip.reject(now, &key, req, 404, "Not Found");
            return;
        };
        let interp = match Interpreter::new(slot.current(), &info, self.wall(now)) {
            Ok(i) => i,
            Err(no_route) => {
                tracing::info!("{no_route}");
                sip.reject(now, &key, req, 404, "Not Found");
                return;
            }
        };
        let Some(leg) = self.answer_leg(sip, now, &key, source, req) else {
            return;
        };
        let id = self.next_call;
        self.next_call += 1;
        let name = format!("c{id}");
        // The answer waits for what the dialplan does first: a prompt or a menu answers
        // (183 first with early media), a transfer rings the far end and answers when
        // it does, a hang-up refuses the call.
        sip.respond(now, &key, Response::for_request(req, 100, "Trying"));
        tracing::info!(
            call = name,
            caller = info.from,
            did = info.to,
            trunk = info.trunk,
            "call started"
        );
        self.emit_call_started(&name, &info);
        let wall = self.wall(now);
        let call = Call {
            interp: Some(interp),
            caller_device: phone.map(str::to_owned),
            ..self.configured_call(id, Phase::Ivr, leg, info, wall, now)
        };
        self.register_call(call, key);
        // A phone calling in is busy from now until the call ends (see `hangup`): nothing
        // rings it and the agent logged in on it is offered no queue call meanwhile.
        if let Some(phone) = phone {
            self.phone_call_started(sip, now, &[phone]);
        }
        self.run_ivr(sip, now, id);
        // A dialplan that waits (a pause, a lookup) before anything else answers now; only
        // a transfer ringing the far end leaves the caller unanswered.
        if self
            .calls
            .get(&id)
            .is_some_and(|c| c.phase == Phase::Ivr && !c.caller.answered)
        {
            self.ensure_media(sip, now, id);
        }
        self.reschedule(id);
    }

    /// Opens our media for an incoming INVITE and builds its leg (its dialog not yet
    /// answered). Answers the INVITE itself on failure.
    pub(super) fn answer_leg(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        source: Source,
        req: &Request,
    ) -> Option<Leg> {
        let media = self.new_leg_id();
        let local_rtp = match self.media.open(media) {
            Ok(a) => a,
            Err(err) => {
                tracing::warn!("no RTP port for a new call: {err}");
                sip.reject(now, key, req, 503, "Service Unavailable");
                return None;
            }
        };
        let mut sdp = sdp_session(rand::random());
        let local = local_media(local_rtp, Direction::SendRecv);
        let (negotiated, body) = if req.body.is_empty() {
            // No offer in the INVITE: we offer in the answer; the ACK answers.
            (None, sdp.create_offer(&local).to_string())
        } else {
            let Some(offer) = parse_sdp(&req.body) else {
                self.media.close(media);
                sip.reject(now, key, req, 400, "Bad SDP");
                return None;
            };
            match sdp.create_answer(&offer, &local) {
                Ok((answer, neg)) => (Some(neg), answer.to_string()),
                Err(err) => {
                    tracing::info!("no common codec: {err}");
                    self.media.close(media);
                    sip.reject(now, key, req, 488, "Not Acceptable Here");
                    return None;
                }
            }
        };
        if let Some(neg) = &negotiated {
            self.media.configure(media, leg_params(neg, source.remote));
        }
        let contact = our_contact(source.local, source.transport);
        let tag = Tag::new(&sip.token());
        let dialog = local_via(&source).and_then(|via| {
            Dialog::uas(
                req,
                &tag,
                NameAddr::parse(&contact).ok()?,
                via,
                session_timer_config(&self.config),
            )
            .ok()
        });
        let Some(dialog) = dialog else {
            self.media.close(media);
            sip.reject(now, key, req, 400, "Bad Request");
            return None;
        };
        Some(Leg {
            body,
            media,
            peer: source,
            dialog: Some(dialog),
            sdp,
            local_rtp,
            negotiated,
            invite: req.clone(),
            invite_key: key.clone(),
            answered: false,
            cancelled: false,
            held: false,
        })
    }

    /// Our answer (`status` 183 or 200) to the leg's INVITE, with SDP.
    pub(super) fn leg_answer(
        &mut self,
        now: Instant,
        leg: &mut Leg,
        req: &Request,
        status: u16,
    ) -> Option<Response> {
        let dialog = leg.dialog.as_mut()?;
        Some(sdp_response(now, dialog, req, &leg.body, status))
    }

    /// A new call under the configuration's limits: it ends after `[calls] max_duration`
    /// and is recorded once connected if `[calls] record` says so.
    pub(super) fn configured_call(
        &self,
        id: u64,
        phase: Phase,
        caller: Leg,
        info: ivr::CallInfo,
        wall: jiff::Timestamp,
        now: Instant,
    ) -> Call {
        let max_end = now + self.config.calls.max_duration;
        Call {
            record: self.config.calls.record,
            ..Call::new(id, phase, caller, info, wall, max_end)
        }
    }

    pub(super) fn register_call(&mut self, call: Call, server_key: TsxKey) {
        let id = call.id;
        if let Some(d) = &call.caller.dialog {
            self.by_dialog.insert(dialog_map_key(d), (id, Side::Caller));
        }
        self.by_media.insert(call.caller.media, (id, Side::Caller));
        self.by_server_invite.insert(server_key, id);
        self.calls.insert(id, Box::new(call));
    }

    fn in_dialog(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: TsxKey,
        id: u64,
        side: Side,
        req: &Request,
    ) {
        let Some(mut call) = self.calls.remove(&id) else {
            sip.reject(now, &key, req, 481, "Call/Transaction Does Not Exist");
            return;
        };
        let outcome = self.in_dialog_call(sip, now, &key, &mut call, side, req);
        self.calls.insert(id, call);
        if let Some((by, reason)) = outcome {
            self.hangup(sip, now, id, by, &reason);
        }
    }

    /// Handles an in-dialog request on one leg; returns a hang-up to do.
    fn in_dialog_call(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        call: &mut Call,
        side: Side,
        req: &Request,
    ) -> Option<(&'static str, String)> {
        let leg = match side {
            Side::Caller => &mut call.caller,
            Side::Agent(_) => &mut call.agent.as_mut()?.1,
            Side::Outbound => call.outbound.as_mut()?,
        };
        let dialog = leg.dialog.as_mut()?;
        if let Err(resp) = dialog.handle_request(req) {
            tracing::debug!(status = resp.status, state = ?dialog.state(), "in-dialog request refused");
            sip.respond(now, key, *resp);
            return None;
        }
        match req.method {
            Method::Bye => {
                let resp = dialog.response(now, req, 200, "OK");
                sip.respond(now, key, resp);
                let by = match side {
                    Side::Caller => "caller",
                    Side::Outbound if call.extension.is_some() => "callee",
                    _ => "agent",
                };
                Some((by, "bye".to_owned()))
            }
            Method::Invite | Method::Update => {
                let mut body = None;
                let mut hold_change = None;
                if !req.body.is_empty() {
                    let Some(offer) = parse_sdp(&req.body) else {
                        let resp = dialog.response(now, req, 488, "Not Acceptable Here");
                        sip.respond(now, key, resp);
                        return None;
                    };
                    match leg
                        .sdp
                        .create_answer(&offer, &local_media(leg.local_rtp, Direction::SendRecv))
                    {
                        Ok((answer, neg)) => {
                            let held = neg.remote_hold;
                            self.media
                                .configure(leg.media, leg_params(&neg, leg.peer.remote));
                            leg.negotiated = Some(neg);
                            body = Some(answer.to_string());
                            if held != leg.held {
                                leg.held = held;
                                hold_change = Some(held);
                                // Re-borrow below: the hold changes what the other leg hears.
                            }
                        }
                        Err(_) => {
                            let resp = dialog.response(now, req, 488, "Not Acceptable Here");
                            sip.respond(now, key, resp);
                            return None;
                        }
                    }
                } else if req.method == Method::Invite {
                    // An offer-less re-INVITE: we offer in the 2xx (RFC 3261 §14.2).
                    body = Some(
                        leg.sdp
                            .create_offer(&local_media(leg.local_rtp, Direction::SendRecv))
                            .to_string(),
                    );
                }
                let mut resp = leg.dialog.as_mut()?.response(now, req, 200, "OK");
                resp.headers.push("Allow", ALLOW);
                if let Some(b) = body {
                    resp.headers.push("Content-Type", "application/sdp");
                    resp.body = b.into_bytes().into();
                }
                sip.respond(now, key, resp);
                if let Some(held) = hold_change {
                    self.hold_changed(call, side, held);
                }
                None
            }
            Method::Info => {
                let resp = dialog.response(now, req, 200, "OK");
                sip.respond(now, key, resp);
                let ct = req.headers.content_type().unwrap_or("");
                if side == Side::Caller
                    && let Ok(d) = switchyard_media::dtmf::info::parse_info(ct, &req.body)
                {
                    self.pending_dtmf.push((call.id, d.digit.to_char()));
                }
                None
            }
            _ => {
                let resp = dialog.response(now, req, 200, "OK");
                sip.respond(now, key, resp);
                None
            }
        }
    }

    /// One side of a bridged call put the other on hold, or took them off it: the held
    /// party hears music instead of silence (the queue's music when the call came
    /// through one), then the bridge again. The agent's hold plays to the caller; a
    /// caller's hold (from the phone on the trunk) plays to the agent or far end.
    fn hold_changed(&mut self, call: &mut Call, side: Side, held: bool) {
        let bridged = match call.phase {
            Phase::Connected => call.agent.as_ref().map(|(_, l)| l.media),
            Phase::Outbound => call.outbound.as_ref().map(|l| l.media),
            _ => return,
        };
        let Some(bridged) = bridged else { return };
        let (holder, listener) = match side {
            Side::Caller => (call.caller.media, bridged),
            Side::Agent(_) | Side::Outbound => (bridged, call.caller.media),
        };
        let who = match side {
            Side::Caller => "agent",
            _ => "caller",
        };
        if held {
            tracing::info!(call = call.name, "{who} on hold");
            self.media.unbridge(listener);
            if let Some(f) = self.music_file(call) {
                let id = self.play_id();
                self.media.play(listener, id, vec![f], true, false);
            }
        } else {
            tracing::info!(call = call.name, "{who} off hold");
            self.media.stop(listener);
            self.media.bridge(listener, holder);
        }
    }

    pub(super) fn play_id(&mut self) -> u32 {
        self.next_play = self.next_play.wrapping_add(1).max(1_000_000);
        self.next_play
    }

    /// An ACK for a 2xx we sent.
    pub(crate) fn handle_ack(&mut self, now: Instant, req: &Request) {
        let Some((id, side)) = self.dialog_of(req) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let leg = match side {
            Side::Caller => &mut call.caller,
            _ => return,
        };
        if leg.negotiated.is_none()
            && !req.body.is_empty()
            && let Some(answer) = parse_sdp(&req.body)
            && let Ok(neg) = leg.sdp.apply_answer(&answer)
        {
            self.media
                .configure(leg.media, leg_params(&neg, leg.peer.remote));
            leg.negotiated = Some(neg);
        }
        call.ack_deadline = None;
        let _ = now;
        self.reschedule(id);
    }

    /// The caller's CANCEL reached an INVITE we had not answered with 200 (early media).
    pub(crate) fn handle_cancelled(&mut self, sip: &mut Sip<'_>, now: Instant, invite: &TsxKey) {
        let Some(&id) = self.by_server_invite.get(invite) else {
            return;
        };
        if let Some(call) = self.calls.get_mut(&id) {
            if call.caller.answered {
                return;
            }
            if let Some(d) = call.caller.dialog.as_mut() {
                let resp = d.response(now, &call.caller.invite, 487, "Request Terminated");
                sip.respond(now, invite, resp);
            }
            call.caller.answered = true;
            call.caller.dialog = None;
        }
        self.hangup(sip, now, id, "caller", "cancel");
    }

    /// A transaction timer: the caller never ACKed our 200 (Timer L/H), or one of our
    /// requests got no answer.
    pub(crate) fn handle_tsx_timeout(&mut self, sip: &mut Sip<'_>, now: Instant, key: &TsxKey) {
        if let Some(&id) = self.by_server_invite.get(key) {
            let acked = self
                .calls
                .get(&id)
                .is_some_and(|c| c.ack_deadline.is_none() && c.caller.answered);
            if !acked {
                self.hangup(sip, now, id, "system", "no-ack");
            }
            return;
        }
        if self.trunk_failure(sip, now, key) {
            return;
        }
        if let Some(purpose) = self.by_client.remove(key) {
            if let ClientPurpose::Outbound(id) = purpose
                && self.trunk_call_failure(sip, now, id, key)
            {
                return;
            }
            self.client_failed(sip, now, purpose, 408);
        }
        if let Some((leg, offer)) = self.orphans.remove(key) {
            self.media.close(leg.media);
            self.orphan_ended(sip, now, offer);
        }
    }

    /// A response to one of our requests.
    pub(crate) fn handle_response(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        resp: &Response,
    ) {
        if self.trunk_response(sip, now, key, resp) {
            return;
        }
        let Some(&purpose) = self.by_client.get(key) else {
            // An INVITE of a call already gone: a crossing 2xx gets ACK and BYE; the
            // distributor learns when a ringing phone's INVITE ended.
            if let Some((leg, offer)) = self.orphans.remove(key) {
                if resp.status < 200 {
                    self.orphans.insert(key.clone(), (leg, offer));
                    return;
                }
                if (200..300).contains(&resp.status) {
                    self.ack_and_bye(sip, now, key, leg, resp);
                } else {
                    self.media.close(leg.media);
                }
                self.orphan_ended(sip, now, offer);
            }
            return;
        };
        if resp.status >= 200 {
            self.by_client.remove(key);
        }
        match purpose {
            ClientPurpose::Offer(id, offer) => self.offer_response(sip, now, key, id, offer, resp),
            ClientPurpose::Outbound(id) => self.outbound_response(sip, now, key, id, resp),
            ClientPurpose::Fork(id, fork) => self.fork_response(sip, now, key, id, fork, resp),
            ClientPurpose::InDialog(id, side) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    let leg = match side {
                        Side::Caller => Some(&mut call.caller),
                        Side::Agent(_) => call.agent.as_mut().map(|(_, l)| l),
                        Side::Outbound => call.outbound.as_mut(),
                    };
                    if let Some(leg) = leg
                        && let Some(d) = leg.dialog.as_mut()
                    {
                        d.handle_response(now, resp);
                        let is_invite = resp
                            .headers
                            .cseq()
                            .is_some_and(|c| c.method == Method::Invite);
                        if is_invite && (200..300).contains(&resp.status) {
                            let branch = sip.layer.new_branch();
                            let seq = resp.headers.cseq().map_or(1, |c| c.seq);
                            let ack = d.ack(seq, &branch);
                            sip.layer.send_ack(
                                now,
                                key,
                                ack,
                                leg.peer.remote,
                                tsx_transport(leg.peer.transport),
                            );
                            if !resp.body.is_empty()
                                && let Some(answer) = parse_sdp(&resp.body)
                                && let Ok(neg) = leg.sdp.apply_answer(&answer)
                            {
                                self.media
                                    .configure(leg.media, leg_params(&neg, leg.peer.remote));
                                leg.negotiated = Some(neg);
                            }
                        }
                    }
                    if matches!(resp.status, 408 | 481)
                        && resp.headers.cseq().is_some_and(|c| c.method != Method::Bye)
                    {
                        self.hangup(sip, now, id, "system", "dialog-gone");
                    }
                }
                self.reschedule(id);
            }
        }
    }

    fn orphan_ended(&mut self, sip: &mut Sip<'_>, now: Instant, offer: Option<(u64, AgentId)>) {
        if let Some((id, agent)) = offer {
            let acd_now = self.acd_now(now);
            let _ = self
                .acd
                .handle_event(acd_now, acd::Event::OfferEnded(CallId(id), agent));
            self.drain_acd(sip, now);
        }
    }

    fn client_failed(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        purpose: ClientPurpose,
        status: u16,
    ) {
        match purpose {
            ClientPurpose::Offer(id, offer) => {
                let resp = Response::new(status, "Request Timeout");
                self.offer_final(sip, now, id, offer, &resp);
            }
            ClientPurpose::Outbound(id) => {
                self.outbound_failed(sip, now, id, status);
            }
            ClientPurpose::Fork(id, fork) => self.fork_failed(sip, now, id, fork, status),
            ClientPurpose::InDialog(id, _) => {
                // A BYE or re-INVITE unanswered: the dialog is gone (RFC 3261 §12.2.1.2).
                if self.calls.get(&id).is_some_and(|c| c.phase != Phase::Ended) {
                    self.hangup(sip, now, id, "system", "no-answer-in-dialog");
                }
            }
        }
    }

    /// ACKs a 2xx for a leg we no longer want and hangs it up at once.
    pub(super) fn ack_and_bye(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        leg: Leg,
        resp: &Response,
    ) {
        let Some(via) = local_via(&leg.peer) else {
            return;
        };
        let Ok(mut dialog) = Dialog::uac(
            now,
            &leg.invite,
            resp,
            via,
            session_timer_config(&self.config),
        ) else {
            return;
        };
        let branch = sip.layer.new_branch();
        let seq = leg.invite.headers.cseq().map_or(1, |c| c.seq);
        let ack = dialog.ack(seq, &branch);
        sip.layer.send_ack(
            now,
            key,
            ack,
            leg.peer.remote,
            tsx_transport(leg.peer.transport),
        );
        let branch = sip.layer.new_branch();
        let bye = dialog.request(Method::Bye, &branch);
        sip.send_request(now, bye, leg.peer);
        self.media.close(leg.media);
        self.by_media.remove(&leg.media);
    }

    /// Sends BYE on a leg whose dialog is up.
    pub(super) fn bye(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        side: Side,
        leg: &mut Leg,
        reason: Option<&str>,
    ) {
        let Some(d) = leg.dialog.as_mut() else {
            return;
        };
        if d.state() == switchyard_sip::dialog::DialogState::Terminated {
            return;
        }
        let branch = sip.layer.new_branch();
        let mut bye = d.request(Method::Bye, &branch);
        if let Some(r) = reason {
            bye.headers.push("Reason", r);
        }
        if let Some(k) = sip.send_request(now, bye, leg.peer) {
            self.by_client.insert(k, ClientPurpose::InDialog(id, side));
        }
    }

    /// Builds a new outgoing INVITE leg to `target` (a contact URI) via `dest`, with our
    /// offer. Returns the leg and the request.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn outgoing_leg(
        &mut self,
        sip: &mut Sip<'_>,
        target: &str,
        to: &str,
        from_user: &str,
        from_name: &str,
        dest: Source,
        extra: &[(&str, String)],
    ) -> Option<Leg> {
        let media = self.new_leg_id();
        let local_rtp = match self.media.open(media) {
            Ok(a) => a,
            Err(err) => {
                tracing::warn!("no RTP port for an outgoing leg: {err}");
                return None;
            }
        };
        let mut sdp = sdp_session(rand::random());
        let offer = sdp
            .create_offer(&local_media(local_rtp, Direction::SendRecv))
            .to_string();
        let local = if dest.local.ip().is_unspecified() || dest.local.port() == 0 {
            self.sip_local
                .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)))
        } else {
            dest.local
        };
        let dest = Source { local, ..dest };
        let contact = our_contact(local, dest.transport);
        let branch = sip.layer.new_branch();
        let tag = sip.token();
        let call_id = format!("{}@{}", sip.token(), sip.domain.trim_matches(['[', ']']));
        let name = if from_name.is_empty() {
            String::new()
        } else {
            format!("\"{}\" ", from_name.replace(['"', '\\', '\r', '\n'], ""))
        };
        let mut text = format!(
            "INVITE {target} SIP/2.0\r\n\
             Via: SIP/2.0/{} {};branch={};rport\r\n\
             Max-Forwards: 70\r\n\
             From: {name}<sip:{}@{}>;tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: {contact}\r\n\
             Allow: {ALLOW}\r\n\
             Supported: timer\r\n\
             Session-Expires: {}\r\n\
             Min-SE: 90\r\n\
             Content-Type: application/sdp\r\n",
            dest.transport,
            host_port(local),
            branch.as_str(),
            sanitize_user(from_user),
            sip.domain,
            self.config.calls.session_expires,
        );
        for (name, value) in extra {
            text.push_str(&format!("{name}: {}\r\n", value.replace(['\r', '\n'], " ")));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{offer}", offer.len()));
        let Some((req, invite_key)) =
            parse_request(&text).and_then(|r| TsxKey::for_request(&r).ok().map(|k| (r, k)))
        else {
            tracing::warn!(target, "cannot build an INVITE to this target");
            self.media.close(media);
            return None;
        };
        Some(Leg {
            body: String::new(),
            media,
            peer: dest,
            dialog: None,
            sdp,
            local_rtp,
            negotiated: None,
            invite: req,
            invite_key,
            answered: false,
            cancelled: false,
            held: false,
        })
    }

    /// Confirms an outgoing leg on its 2xx: dialog, ACK, the answer's SDP into media.
    pub(super) fn confirm_leg(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        leg: &mut Leg,
        resp: &Response,
    ) -> bool {
        let Some(via) = local_via(&leg.peer) else {
            return false;
        };
        let Ok(dialog) = Dialog::uac(
            now,
            &leg.invite,
            resp,
            via,
            session_timer_config(&self.config),
        ) else {
            return false;
        };
        let branch = sip.layer.new_branch();
        let ack = dialog.ack(1, &branch);
        sip.layer.send_ack(
            now,
            key,
            ack,
            leg.peer.remote,
            tsx_transport(leg.peer.transport),
        );
        if let Some(answer) = parse_sdp(&resp.body)
            && let Ok(neg) = leg.sdp.apply_answer(&answer)
        {
            self.media
                .configure(leg.media, leg_params(&neg, leg.peer.remote));
            leg.negotiated = Some(neg);
        }
        leg.dialog = Some(dialog);
        leg.answered = true;
        true
    }
}

fn sanitize_user(u: &str) -> String {
    let s: String = u
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '*'))
        .collect();
    if s.is_empty() {
        "anonymous".to_owned()
    } else {
        s
    }
}

pub(super) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE";

/// The 200 (or 183) with our SDP answering the leg's own INVITE (no dialog: none).
pub(super) fn answer_of(now: Instant, leg: &mut Leg, status: u16) -> Option<Response> {
    let Leg {
        dialog,
        invite,
        body,
        ..
    } = leg;
    Some(sdp_response(now, dialog.as_mut()?, invite, body, status))
}

fn sdp_response(
    now: Instant,
    dialog: &mut Dialog,
    req: &Request,
    body: &str,
    status: u16,
) -> Response {
    let reason = if status == 183 {
        "Session Progress"
    } else {
        "OK"
    };
    let mut resp = dialog.response(now, req, status, reason);
    resp.headers.push("Allow", ALLOW);
    resp.headers.push("Content-Type", "application/sdp");
    resp.body = body.as_bytes().to_vec().into();
    resp
}
