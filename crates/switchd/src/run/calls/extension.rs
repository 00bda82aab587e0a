//! Phone-to-phone calls: a registered phone dials another phone's extension.
//!
//! The caller's INVITE is held (100, then 180 as the far end rings) while an INVITE goes to
//! every registered contact of the dialled phone at once. The first 2xx wins: the other
//! forks get CANCEL ("Call completed elsewhere"), the caller gets our 200, and the two legs
//! are bridged in the media server like an agent call. When no fork answers, the caller
//! gets the best of their final answers (RFC 3261 §16.7): a 6xx as it came, else busy
//! (486) if any phone was busy, else 408 when no phone answered at all (RFC 3398: cause
//! 18, "no user responding") and 480 when they rang, refused or the ring timeout passed
//! (cause 19, "no answer from user").
//!
//! While the call lasts, from the first ring to the end, both phones are busy: an agent
//! logged in on either is not offered queue calls (the distributor is told the device is
//! unavailable, and available again at the end if it is still registered). The same goes
//! for a phone a dialplan's transfer rings or is connected to, from its INVITE until the
//! transfer fails or the call ends, and for a phone that placed a call into a dialplan
//! (dialled the DID or an IVR), for that call's life.
//!
//! A phone already in a call (either side of another phone-to-phone call, ringing for a
//! queue call or connected to one through the agent logged in on it, ringing or connected
//! for a dialplan's transfer, itself calling into a dialplan) is not rung: the caller gets
//! 486 Busy Here at once and the CDR says `failed`, hung up by the callee for `busy`, as
//! when the phone itself answers 486. A dialplan's transfer to such a phone fails the
//! same way (see `device_busy`).

use std::collections::HashMap;
use std::time::Instant;

use switchyard_sip::transport::Source;
use switchyard_sip::{Request, Response};

use super::legs::Sip;
use super::*;

/// The `Reason` of the CANCEL to the forks that lost the race (RFC 3326).
const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// A call to another phone: the dialled extension and its ringing contacts.
pub(super) struct ExtensionCall {
    /// The dialled device (SIP user).
    pub(super) device: String,
    /// INVITEs still ringing, by fork number.
    pub(super) forks: HashMap<u32, Leg>,
    /// Final answers of the forks that failed.
    pub(super) failures: Vec<u16>,
    /// Whether some fork sent a provisional answer other than 100 (it rang).
    pub(super) rang: bool,
    /// Until a fork answers: when ringing gives up.
    pub(super) ring_until: Option<Instant>,
}

/// The final answer for the caller when every fork failed (RFC 3261 §16.7 response
/// selection, with RFC 3398's cause mapping for the no-answer cases).
fn best_failure(failures: &[u16], rang: bool) -> (u16, &'static str, &'static str) {
    if let Some(&s) = failures.iter().find(|s| (600..700).contains(*s)) {
        return match s {
            600 => (600, "Busy Everywhere", "busy"),
            603 => (603, "Decline", "declined"),
            _ => (s, "Call Failed", "declined"),
        };
    }
    if failures.iter().any(|s| matches!(s, 486 | 600)) {
        return (486, "Busy Here", "busy");
    }
    if !rang && !failures.is_empty() && failures.iter().all(|&s| s == 408) {
        return (408, "Request Timeout", "no-response");
    }
    (480, "Temporarily Unavailable", "no-answer")
}

impl Calls {
    /// An authenticated phone `user` dialled `device`, another configured phone: rings
    /// every registered contact of it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call_extension(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: TsxKey,
        source: Source,
        req: &Request,
        user: &str,
        device: &str,
        caller_name: String,
    ) {
        if user == device {
            // Calling oneself: the phone is busy with this very call. 486 is what a phone
            // shows as "busy" and is true; 482 (Loop Detected) would blame the routing.
            sip.reject(now, &key, req, 486, "Busy Here");
            return;
        }
        let bindings = sip.registrar.bindings().bindings(now, device);
        if bindings.is_empty() {
            tracing::info!(device, "extension not registered");
            sip.reject(now, &key, req, 480, "Temporarily Unavailable");
            return;
        }
        // A phone already in a call (a queue call of the agent on it, ringing for one, or
        // another phone-to-phone call) is busy: no call waiting in a contact centre.
        let busy = self.device_busy(device);
        let Some(leg) = self.answer_leg(sip, now, &key, source, req) else {
            return;
        };
        sip.respond(now, &key, Response::for_request(req, 100, "Trying"));
        let id = self.next_call;
        self.next_call += 1;
        let name = format!("c{id}");
        let info = ivr::CallInfo {
            to: device.to_owned(),
            from: user.to_owned(),
            caller_name,
            trunk: "phone".to_owned(),
        };
        tracing::info!(
            call = name,
            device,
            contacts = bindings.len(),
            busy,
            "calling extension"
        );
        self.emit_call_started(&name, &info);
        let wall = self.wall(now);
        let call = Call {
            // A busy phone's call rings nothing, so it keeps no phone busy either.
            extension: (!busy).then(|| ExtensionCall {
                device: device.to_owned(),
                forks: HashMap::new(),
                failures: Vec::new(),
                rang: false,
                ring_until: Some(now + self.config.calls.ring_timeout),
            }),
            ..self.configured_call(id, Phase::Outbound, leg, info, wall, now)
        };
        self.register_call(call, key);
        if busy {
            // Recorded as a phone that answered 486 would be (see `extension_failed`).
            tracing::info!(call = name, device, "extension busy");
            self.refuse_caller(sip, now, id, 486, "Busy Here");
            if let Some(c) = self.calls.get_mut(&id) {
                c.disposition = Some("failed");
            }
            self.hangup(sip, now, id, "callee", "busy");
            return;
        }
        // Both phones are busy from now until the call ends (see `hangup`).
        self.phone_call_started(sip, now, &[user, device]);
        let to = format!("<sip:{device}@{}>", sip.domain);
        let from_name = self.calls[&id].info.caller_name.clone();
        let mut forks = HashMap::new();
        for b in bindings {
            let Some(mut leg) =
                self.outgoing_leg(sip, &b.contact, &to, user, &from_name, b.source, &[])
            else {
                continue;
            };
            let Some(k) = sip.send_request(now, leg.invite.clone(), leg.peer) else {
                self.media.close(leg.media);
                continue;
            };
            leg.invite_key = k.clone();
            let no = self.next_offer;
            self.next_offer += 1;
            self.by_client.insert(k, ClientPurpose::Fork(id, no));
            forks.insert(no, leg);
        }
        if forks.is_empty() {
            self.extension_failed(sip, now, id);
            return;
        }
        if let Some(ext) = self.calls.get_mut(&id).and_then(|c| c.extension.as_mut()) {
            ext.forks = forks;
        }
        self.reschedule(id);
    }

    /// A response to the INVITE of fork `fork` of call `id`.
    pub(super) fn fork_response(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        id: u64,
        fork: u32,
        resp: &Response,
    ) {
        if resp.status < 200 {
            // The caller hears the first phone that rings (one 180, however many ring).
            if resp.status > 100
                && let Some(ext) = self.calls.get_mut(&id).and_then(|c| c.extension.as_mut())
                && !ext.rang
            {
                ext.rang = true;
                self.caller_ringing(sip, now, id);
            }
            return;
        }
        let Some(ext) = self.calls.get_mut(&id).and_then(|c| c.extension.as_mut()) else {
            return;
        };
        let Some(mut leg) = ext.forks.remove(&fork) else {
            return;
        };
        if resp.status >= 300 {
            ext.failures.push(resp.status);
            let done = ext.forks.is_empty();
            self.media.close(leg.media);
            if done {
                self.extension_failed(sip, now, id);
            }
            return;
        }
        if !self.confirm_leg(sip, now, key, &mut leg, resp) {
            // An answer we cannot make a dialog of: hang it up, count it as failed.
            self.ack_and_bye(sip, now, key, leg, resp);
            self.fork_failed(sip, now, id, fork, 500);
            return;
        }
        self.extension_answered(sip, now, id, leg);
    }

    /// Fork `fork` of call `id` ended without an answer (`status`; 408 for no response).
    pub(super) fn fork_failed(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        fork: u32,
        status: u16,
    ) {
        let Some(ext) = self.calls.get_mut(&id).and_then(|c| c.extension.as_mut()) else {
            return;
        };
        if let Some(leg) = ext.forks.remove(&fork) {
            self.media.close(leg.media);
        }
        ext.failures.push(status);
        if ext.forks.is_empty() {
            self.extension_failed(sip, now, id);
        }
    }

    /// The first fork answered: the others are cancelled, the caller answered and
    /// bridged to it.
    fn extension_answered(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64, leg: Leg) {
        let wall = self.wall(now);
        self.cancel_forks(sip, now, id, Some(COMPLETED_ELSEWHERE));
        if let Some(d) = &leg.dialog {
            self.by_dialog
                .insert(dialog_map_key(d), (id, Side::Outbound));
        }
        self.by_media.insert(leg.media, (id, Side::Outbound));
        let leg_media = leg.media;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.outbound = Some(leg);
        if let Some(ext) = call.extension.as_mut() {
            ext.ring_until = None;
        }
        self.ensure_answered(sip, now, id);
        let call = self.calls.get_mut(&id).expect("checked above");
        let caller_leg = call.caller.media;
        self.media.stop(caller_leg);
        self.media.bridge(caller_leg, leg_media);
        call.connected_at = Some(now);
        call.connected_wall = Some(wall);
        call.disposition = Some("answered");
        call.start_recording(&mut self.media, &self.config.storage.path, wall);
        let device = call.extension.as_ref().map(|e| e.device.clone());
        tracing::info!(call = call.name, device, "extension answered");
        self.reschedule(id);
    }

    /// CANCELs every fork still ringing; each stays open as an orphan until its INVITE
    /// ends (a 2xx crossing the CANCEL gets ACK and BYE).
    pub(super) fn cancel_forks(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        reason: Option<&str>,
    ) {
        let Some(ext) = self.calls.get_mut(&id).and_then(|c| c.extension.as_mut()) else {
            return;
        };
        for (_, mut leg) in ext.forks.drain() {
            leg.cancelled = true;
            if let Err(err) = sip.layer.cancel_with_reason(now, &leg.invite_key, reason) {
                tracing::debug!("CANCEL not sent: {err}");
            }
            self.by_client.remove(&leg.invite_key);
            self.orphans.insert(leg.invite_key.clone(), (leg, None));
        }
    }

    /// No fork answered: the caller gets the best failure, the call ends.
    fn extension_failed(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (failures, rang) = call
            .extension
            .as_ref()
            .map(|e| (e.failures.clone(), e.rang))
            .unwrap_or_default();
        let (status, text, reason) = best_failure(&failures, rang);
        tracing::info!(call = call.name, status, "extension not reached");
        self.refuse_caller(sip, now, id, status, text);
        if let Some(c) = self.calls.get_mut(&id) {
            c.disposition = Some("failed");
        }
        self.hangup(sip, now, id, "callee", reason);
    }

    /// The ring timeout of a call to an extension passed: the forks are cancelled, the
    /// caller gets 480 (the phone rang), or 408 when no phone even said it rings.
    pub(super) fn extension_timeout(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        let Some(ext) = self.calls.get(&id).and_then(|c| c.extension.as_ref()) else {
            return;
        };
        if ext.ring_until.is_none_or(|t| t > now) {
            return;
        }
        let (status, text, reason) = if ext.rang {
            (480, "Temporarily Unavailable", "no-answer")
        } else {
            (408, "Request Timeout", "no-response")
        };
        self.cancel_forks(sip, now, id, None);
        if let Some(c) = self.calls.get_mut(&id) {
            tracing::info!(call = c.name, status, "extension did not answer");
            c.disposition = Some("failed");
        }
        self.refuse_caller(sip, now, id, status, text);
        self.hangup(sip, now, id, "system", reason);
    }

    /// Whether `device` is in a call: on a phone-to-phone call (either side), ringing for
    /// a queue call, the phone of the agent connected to one, ringing or connected for a
    /// dialplan's transfer, or the caller of a call in a dialplan. Whichever of its
    /// registered contacts carries the call, the whole device is busy.
    pub(super) fn device_busy(&self, device: &str) -> bool {
        if self.on_phone_call.contains_key(device) {
            return true;
        }
        let agent_device = |agent: AgentId| {
            self.agents
                .iter()
                .find(|a| a.id == agent)
                .and_then(|a| a.device.as_deref())
        };
        self.calls.values().any(|c| {
            c.phase != Phase::Ended
                && (c.offers.values().any(|o| o.device == device)
                    || c.agent
                        .as_ref()
                        .is_some_and(|(a, _)| agent_device(*a) == Some(device))
                    || c.transferred_to.as_deref() == Some(device)
                    || c.caller_device.as_deref() == Some(device))
        })
    }

    /// `devices` are now on a call that is not a queue call (a phone-to-phone call, a
    /// dialplan's transfer to them, a call they placed into a dialplan): agents logged in
    /// on them are offered nothing until it ends.
    pub(super) fn phone_call_started(&mut self, sip: &mut Sip<'_>, now: Instant, devices: &[&str]) {
        for device in devices {
            let n = self.on_phone_call.entry((*device).to_owned()).or_default();
            *n += 1;
            if *n == 1 {
                self.phone_call_flag_changed(device);
            }
            self.device_changed(sip, now, device);
        }
    }

    /// `device` left one of the calls `phone_call_started` counted: it is free again
    /// unless on another such call, and agents logged in on it are offered calls again if
    /// it is still registered.
    pub(super) fn phone_call_left(&mut self, sip: &mut Sip<'_>, now: Instant, device: &str) {
        if let Some(n) = self.on_phone_call.get_mut(device) {
            *n -= 1;
            if *n == 0 {
                self.on_phone_call.remove(device);
                self.phone_call_flag_changed(device);
            }
        }
        self.device_changed(sip, now, device);
    }

    /// Call `call` ended: the phones it kept busy (both phones of a phone-to-phone call,
    /// the phone its transfer rang or was connected to, the phone that placed it) are
    /// free again (see `phone_call_left`).
    pub(super) fn phone_call_ended(&mut self, sip: &mut Sip<'_>, now: Instant, call: &Call) {
        let mut devices: Vec<&str> = Vec::new();
        if let Some(ext) = &call.extension {
            devices.extend([call.info.from.as_str(), ext.device.as_str()]);
        }
        devices.extend(call.transferred_to.as_deref());
        devices.extend(call.caller_device.as_deref());
        for device in devices {
            self.phone_call_left(sip, now, device);
        }
    }

    /// Sends a final failure to a caller not answered yet (the call then ends without a
    /// BYE to them).
    fn refuse_caller(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64, status: u16, text: &str) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.caller.answered {
            return;
        }
        let req = call.caller.invite.clone();
        let key = call.caller.invite_key.clone();
        if let Some(d) = call.caller.dialog.as_mut() {
            let resp = d.response(now, &req, status, text);
            sip.respond(now, &key, resp);
        }
        call.caller.answered = true;
        call.caller.dialog = None;
    }
}

#[cfg(test)]
mod tests {
    use super::best_failure;

    #[test]
    fn busy_wins_over_no_answer_and_a_decline_over_busy() {
        assert_eq!(best_failure(&[486, 486], true).0, 486);
        assert_eq!(best_failure(&[480, 486, 487], true).0, 486);
        assert_eq!(best_failure(&[486, 603], true).0, 603);
        assert_eq!(best_failure(&[600], false).0, 600);
    }

    #[test]
    fn phones_that_never_answered_give_408_and_ringing_ones_480() {
        assert_eq!(best_failure(&[408, 408], false).0, 408);
        assert_eq!(best_failure(&[408], true).0, 480);
        assert_eq!(best_failure(&[404, 408], false).0, 480);
        assert_eq!(best_failure(&[], false).0, 480);
    }
}
