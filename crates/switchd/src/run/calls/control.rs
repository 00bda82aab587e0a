//! The logic of a call: the dialplan's actions, the distributor's actions, media events,
//! deadlines, and the end of a call with its record.

use std::time::{Duration, Instant};

use switchyard_ivr::{Action, Event as IvrEvent, QueueOutcome, TransferTarget};
use switchyard_sip::transport::Source;
use switchyard_sip::{Method, Response};

use super::legs::{Sip, answer_of};
use super::*;

/// A customer-system request from the dialplan, for the loop to run.
#[derive(Debug, Clone)]
pub(crate) struct LookupJob {
    pub(crate) call: u64,
    pub(crate) post: bool,
    pub(crate) url: String,
    pub(crate) body: Option<String>,
    pub(crate) timeout: Duration,
}

impl Calls {
    /// Runs the call's interpreter until it waits, carrying out its actions.
    pub(super) fn run_ivr(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        loop {
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            let Some(interp) = call.interp.as_mut() else {
                return;
            };
            let Some(action) = interp.poll_action() else {
                call.ivr_deadline = interp.poll_timeout().map(|t| {
                    let d = t.duration_since(self.wall_start);
                    self.epoch + Duration::try_from(d).unwrap_or_default()
                });
                if interp.is_finished() && call.phase == Phase::Ivr {
                    // The dialplan ran out of steps without hanging up.
                    self.hangup(sip, now, id, "system", "dialplan-end");
                }
                return;
            };
            self.ivr_action(sip, now, id, action);
        }
    }

    fn feed_ivr(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64, ev: IvrEvent) {
        let wall = self.wall(now);
        if let Some(interp) = self.calls.get_mut(&id).and_then(|c| c.interp.as_mut()) {
            interp.handle_event(wall, ev);
        }
        self.run_ivr(sip, now, id);
        self.reschedule(id);
    }

    /// Sends the 200 of a call answered with early media (183) so far.
    pub(super) fn ensure_answered(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        let wall = self.wall(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.caller.answered {
            return;
        }
        let resp = answer_of(now, &mut call.caller, 200);
        call.caller.answered = true;
        call.answer_wall = Some(wall);
        // 64·T1, as RFC 6026's Timer L.
        call.ack_deadline = Some(now + Duration::from_secs(32));
        if let Some(resp) = resp {
            sip.respond(now, &call.caller.invite_key, resp);
        }
        self.reschedule(id);
    }

    /// Lets the caller hear media: the 200, or with early media configured a 183 with our
    /// SDP (the 200 follows when the dialplan needs the caller).
    pub(super) fn ensure_media(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        let early = self.config.calls.early_media;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.caller.answered || call.early_sent {
            return;
        }
        if !early {
            self.ensure_answered(sip, now, id);
            return;
        }
        call.early_sent = true;
        if let Some(resp) = answer_of(now, &mut call.caller, 183) {
            sip.respond(now, &call.caller.invite_key, resp);
        }
    }

    /// The far end of a transfer rings: so does the caller, if not answered yet.
    pub(super) fn caller_ringing(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.caller.answered || call.early_sent {
            return;
        }
        let caller = &mut call.caller;
        if let Some(d) = caller.dialog.as_mut() {
            let resp = d.response(now, &caller.invite, 180, "Ringing");
            sip.respond(now, &caller.invite_key, resp);
        }
    }

    fn ivr_action(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64, action: Action) {
        match &action {
            Action::Play { .. } | Action::StopPlayback { .. } => self.ensure_media(sip, now, id),
            Action::Collect { .. }
            | Action::Queue { .. }
            | Action::Voicemail { .. }
            | Action::Record { .. }
            | Action::Callback { .. } => self.ensure_answered(sip, now, id),
            // A transfer answers when the far end does; the rest need no media.
            Action::Transfer { .. }
            | Action::SetVariable { .. }
            | Action::Lookup { .. }
            | Action::Hangup { .. }
            | Action::Fault { .. } => {}
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if matches!(
            action,
            Action::Queue { .. }
                | Action::Voicemail { .. }
                | Action::Transfer { .. }
                | Action::Callback { .. }
        ) {
            // A new attempt to serve the caller: its outcome is what the CDR tells.
            call.transfer_failed = None;
        }
        let leg = call.caller.media;
        match action {
            Action::Play {
                id: play,
                prompts,
                barge_in,
            } => {
                call.ivr_play = Some(play);
                let files = prompts.into_iter().map(|p| p.file).collect();
                self.media.play(leg, play, files, false, barge_in);
            }
            Action::StopPlayback { id: play } => {
                if call.ivr_play == Some(play) {
                    call.ivr_play = None;
                    self.media.stop(leg);
                }
            }
            Action::Collect { .. } => {}
            Action::SetVariable { name, value } => {
                call.variables
                    .insert(name.to_string(), serde_json::Value::String(value));
            }
            Action::Record { on } => {
                call.record = on;
            }
            Action::Lookup {
                method,
                url,
                body,
                timeout,
            } => {
                self.lookups.push_back(LookupJob {
                    call: id,
                    post: method == ivr::Method::Post,
                    url,
                    body,
                    timeout,
                });
            }
            Action::Queue {
                queue,
                skills,
                priority,
                max_wait,
                callback_after: _,
            } => self.enqueue(sip, now, id, &queue, &skills, priority, max_wait),
            Action::Callback { queue, number } => {
                tracing::info!(
                    call = call.name,
                    queue = &*queue,
                    number,
                    "callback accepted"
                );
                call.long_wait_pending = false;
                if call.in_acd {
                    let acd_now = self.acd_now(now);
                    let _ = self
                        .acd
                        .handle_event(acd_now, acd::Event::CallbackAccepted(CallId(id)));
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.in_acd = false;
                        c.disposition = Some("callback");
                    }
                    self.drain_acd(sip, now);
                }
            }
            Action::Transfer { target } => self.transfer(sip, now, id, target),
            Action::Voicemail { mailbox } => self.start_voicemail(sip, now, id, &mailbox, true),
            Action::Hangup { cause } => {
                call.interp = None;
                // After a failed transfer, the far end's answer is why the call ends.
                let reason = match call.transfer_failed {
                    Some(status) => transfer_failed_reason(status),
                    None => format!("dialplan:{}", cause.name()),
                };
                if !call.caller.answered {
                    // Not answered (a transfer that failed, early media): refuse the call
                    // with the cause's SIP status instead of answering it.
                    let status = match cause {
                        ivr::HangupCause::Busy => 486,
                        ivr::HangupCause::Rejected => 603,
                        ivr::HangupCause::Unavailable => 503,
                        ivr::HangupCause::Failure => 500,
                        ivr::HangupCause::Normal | ivr::HangupCause::NoAnswer => 480,
                    };
                    let req = call.caller.invite.clone();
                    let key = call.caller.invite_key.clone();
                    if let Some(d) = call.caller.dialog.as_mut() {
                        let resp = d.response(now, &req, status, "Call Ended");
                        sip.respond(now, &key, resp);
                    }
                    call.caller.answered = true;
                    call.caller.dialog = None;
                }
                self.hangup(sip, now, id, "system", &reason);
            }
            Action::Fault { message } => {
                tracing::warn!(call = call.name, "dialplan fault: {message}");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        queue: &str,
        skills: &[ivr::Skill],
        priority: i64,
        max_wait: Option<Duration>,
    ) {
        let acd_now = self.acd_now(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // Back from a long-wait menu: the place was kept.
        if call.in_acd && call.long_wait_pending {
            call.long_wait_pending = false;
            call.phase = Phase::Queued;
            self.play_music(id);
            return;
        }
        let Some(qid) = self.acd.queue_id(queue) else {
            tracing::warn!(
                call = call.name,
                queue,
                "the dialplan queues to an unknown queue"
            );
            self.feed_ivr(sip, now, id, IvrEvent::QueueResult(QueueOutcome::Failed));
            return;
        };
        let mut enq = acd::Enqueue::new(CallId(id), qid);
        enq.priority = priority.clamp(0, 255) as u8;
        enq.skills = skills
            .iter()
            .map(|s| acd::SkillReq {
                skill: self.acd.skill(&s.name),
                min_level: s.min_level,
            })
            .collect();
        enq.caller = Some(call.info.from.clone());
        enq.max_wait = max_wait;
        call.phase = Phase::Queued;
        call.queue = Some(queue.to_owned());
        call.queued_at = Some(now);
        call.in_acd = true;
        tracing::info!(call = call.name, queue, "queued");
        if let Err(err) = self
            .acd
            .handle_event(acd_now, acd::Event::CallEnqueued(enq))
        {
            tracing::warn!("queue {queue} refused the call: {err}");
            if let Some(c) = self.calls.get_mut(&id) {
                c.in_acd = false;
            }
            self.feed_ivr(sip, now, id, IvrEvent::QueueResult(QueueOutcome::Failed));
            return;
        }
        self.play_music(id);
        self.emit_queue(qid);
        self.drain_acd(sip, now);
    }

    fn emit_queue(&self, qid: acd::QueueId) {
        if let Some(name) = self.queue_names.get(&qid) {
            let waiting = self.acd.waiting_calls(qid).len() as u32;
            self.emit(ApiEvent::QueueChanged {
                queue: name.clone(),
                waiting,
            });
        }
    }

    /// The call's music: its queue's own, else the shipped music on hold.
    pub(super) fn music_file(&self, call: &Call) -> Option<Arc<Path>> {
        let music = call
            .queue
            .as_ref()
            .and_then(|q| self.config.queues.iter().find(|c| &c.name == q))
            .map_or(MUSIC, |q| q.music.as_str());
        self.prompt_file(call, music)
            .or_else(|| self.prompt_file(call, MUSIC))
    }

    fn play_music(&mut self, id: u64) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let leg = call.caller.media;
        match self.music_file(call) {
            Some(f) => {
                let play = self.play_id();
                self.media.play(leg, play, vec![f], true, false);
            }
            None => self.media.tone(leg, Tone::Ringback),
        }
    }

    /// Carries out everything the distributor decided.
    pub(crate) fn drain_acd(&mut self, sip: &mut Sip<'_>, now: Instant) {
        while let Some(action) = self.acd.poll_action() {
            self.acd_action(sip, now, action);
        }
    }

    fn acd_action(&mut self, sip: &mut Sip<'_>, now: Instant, action: acd::Action) {
        match action {
            acd::Action::Offer {
                call,
                agents,
                ring_timeout: _,
                callback: _,
            } => {
                for agent in agents {
                    self.offer(sip, now, call.0, agent);
                }
            }
            acd::Action::CancelOffer {
                call,
                agent,
                reason,
            } => self.cancel_offer(sip, now, call.0, agent, reason),
            acd::Action::Connected {
                call,
                agent,
                waited,
            } => self.connected(sip, now, call.0, agent, waited),
            acd::Action::Announce {
                call,
                position,
                estimated_wait,
            } => self.announce(call.0, position, estimated_wait),
            acd::Action::OfferCallback {
                call,
                estimated_wait,
            } => {
                if let Some(c) = self.calls.get_mut(&call.0)
                    && c.phase == Phase::Queued
                    && c.interp.is_some()
                {
                    c.long_wait_pending = true;
                    c.phase = Phase::Ivr;
                    let leg = c.caller.media;
                    self.media.stop(leg);
                    self.feed_ivr(
                        sip,
                        now,
                        call.0,
                        IvrEvent::QueueResult(QueueOutcome::LongWait {
                            estimated: estimated_wait,
                        }),
                    );
                }
            }
            acd::Action::Overflow {
                call,
                queue,
                reason,
                target,
            } => self.overflow(sip, now, call.0, queue, reason, target),
            acd::Action::AgentStateChanged { agent, .. } => {
                if let Some(i) = self.agents.iter().position(|a| a.id == agent) {
                    self.emit_agent_state(i);
                }
            }
            acd::Action::Log(entry) => self.log_entry(entry),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn log_entry(&mut self, entry: acd::QueueLogEntry) {
        use acd::LogKind as K;
        let ms = |d: Duration| d.as_millis() as i64;
        let (event, data) = match &entry.kind {
            K::Enter { priority, position } => (
                "enter",
                serde_json::json!({ "priority": priority, "position": position }),
            ),
            K::Offer => ("offer", serde_json::json!({})),
            K::RingNoAnswer { ring, outcome } => (
                "ring_no_answer",
                serde_json::json!({ "ring_ms": ms(*ring), "outcome": format!("{outcome:?}").to_lowercase() }),
            ),
            K::Connect { wait, ring } => (
                "connect",
                serde_json::json!({ "wait_ms": ms(*wait), "ring_ms": ms(*ring) }),
            ),
            K::Complete { by, wait, talk } => (
                "complete",
                serde_json::json!({ "by": format!("{by:?}").to_lowercase(), "wait_ms": ms(*wait), "talk_ms": ms(*talk) }),
            ),
            K::Transfer { target, wait, talk } => (
                "transfer",
                serde_json::json!({ "target": target, "wait_ms": ms(*wait), "talk_ms": ms(*talk) }),
            ),
            K::WrapUpEnd { wrap } => ("wrap_up_end", serde_json::json!({ "wrap_ms": ms(*wrap) })),
            K::Abandon {
                position,
                entry_position,
                wait,
            } => (
                "abandon",
                serde_json::json!({ "position": position, "entry_position": entry_position, "wait_ms": ms(*wait) }),
            ),
            other => (
                log_kind_name(other),
                serde_json::json!({ "detail": format!("{other:?}") }),
            ),
        };
        let time = self.wall_start + jiff::SignedDuration::try_from(entry.time).unwrap_or_default();
        let row = store::QueueLogRow {
            time_ms: unix_ms(time),
            call: entry.call.and_then(|c| {
                self.calls
                    .get(&c.0)
                    .map(|x| x.name.clone())
                    .or(Some(format!("c{}", c.0)))
            }),
            queue: entry.queue.and_then(|q| self.queue_names.get(&q).cloned()),
            agent: entry.agent.and_then(|a| {
                self.agents
                    .iter()
                    .find(|x| x.id == a)
                    .map(|x| x.config.id.clone())
            }),
            event: event.to_owned(),
            data,
        };
        self.store.write(Record::QueueLog(row));
    }

    fn offer(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64, agent: AgentId) {
        let acd_now = self.acd_now(now);
        let device = self
            .agents
            .iter()
            .find(|a| a.id == agent)
            .and_then(|a| a.device.clone());
        let binding = device
            .as_ref()
            .and_then(|d| sip.registrar.bindings().bindings(now, d).into_iter().next());
        let (Some(device), Some(binding), Some(call)) = (device, binding, self.calls.get(&id))
        else {
            let _ = self
                .acd
                .handle_event(acd_now, acd::Event::AgentNoAnswer(CallId(id), agent));
            return;
        };
        let caller = call.info.from.clone();
        let caller_name = call.info.caller_name.clone();
        let name = call.name.clone();
        let to = format!("<sip:{device}@{}>", sip.domain);
        let extra = [
            ("X-Switchyard-Call", name.clone()),
            ("X-Switchyard-Queue", call.queue.clone().unwrap_or_default()),
        ];
        let dest: Source = binding.source;
        let Some(leg) = self.outgoing_leg(
            sip,
            &binding.contact,
            &to,
            &caller,
            &caller_name,
            dest,
            &extra,
        ) else {
            let _ = self
                .acd
                .handle_event(acd_now, acd::Event::AgentNoAnswer(CallId(id), agent));
            return;
        };
        let req = leg.invite.clone();
        let Some(key) = sip.send_request(now, req, leg.peer) else {
            self.media.close(leg.media);
            let _ = self
                .acd
                .handle_event(acd_now, acd::Event::AgentNoAnswer(CallId(id), agent));
            return;
        };
        let offer_no = self.next_offer;
        self.next_offer += 1;
        let mut leg = leg;
        leg.invite_key = key.clone();
        self.by_client
            .insert(key, ClientPurpose::Offer(id, offer_no));
        self.by_media.insert(leg.media, (id, Side::Agent(offer_no)));
        let call = self.calls.get_mut(&id).expect("checked above");
        tracing::info!(call = name, device, "offering to agent");
        let waited = call
            .queued_at
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        let event = ApiEvent::CallOffered {
            call: name,
            agent: self
                .agents
                .iter()
                .find(|a| a.id == agent)
                .map(|a| a.config.id.clone())
                .unwrap_or_default(),
            device: device.clone(),
            caller: call.info.from.clone(),
            caller_name: call.info.caller_name.clone(),
            did: call.info.to.clone(),
            queue: call.queue.clone().unwrap_or_default(),
            waited_s: waited,
            variables: {
                // The screen pop shows the language the caller chose, too.
                let mut v = call.variables.clone();
                if let Some(i) = call.interp.as_ref() {
                    v.entry("language")
                        .or_insert_with(|| serde_json::Value::String(i.language().to_owned()));
                }
                v
            },
        };
        call.offers.insert(
            offer_no,
            Offer {
                agent,
                device,
                leg,
                started: now,
            },
        );
        self.emit(event);
    }

    fn cancel_offer(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        agent: AgentId,
        reason: acd::CancelReason,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        for offer in call.offers.values_mut().filter(|o| o.agent == agent) {
            if offer.leg.cancelled || offer.leg.answered {
                continue;
            }
            offer.leg.cancelled = true;
            let reason = match reason {
                acd::CancelReason::CompletedElsewhere => {
                    Some("SIP;cause=200;text=\"Call completed elsewhere\"")
                }
                _ => None,
            };
            if let Err(err) = sip
                .layer
                .cancel_with_reason(now, &offer.leg.invite_key, reason)
            {
                tracing::debug!("CANCEL not sent: {err}");
            }
        }
    }

    /// A response to an INVITE ringing an agent.
    pub(super) fn offer_response(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        id: u64,
        offer_no: u32,
        resp: &Response,
    ) {
        if resp.status < 200 {
            return;
        }
        if resp.status >= 300 {
            self.offer_final(sip, now, id, offer_no, resp);
            return;
        }
        let acd_now = self.acd_now(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(mut offer) = call.offers.remove(&offer_no) else {
            return;
        };
        if offer.leg.cancelled || call.phase != Phase::Queued {
            // A 200 crossing our CANCEL: ACK and BYE; the distributor learns the INVITE
            // ended, and never offered the call to anyone else meanwhile.
            let agent = offer.agent;
            self.ack_and_bye(sip, now, key, offer.leg, resp);
            let _ = self
                .acd
                .handle_event(acd_now, acd::Event::OfferEnded(CallId(id), agent));
            self.drain_acd(sip, now);
            return;
        }
        if !self.confirm_leg(sip, now, key, &mut offer.leg, resp) {
            let agent = offer.agent;
            self.media.close(offer.leg.media);
            let _ = self
                .acd
                .handle_event(acd_now, acd::Event::AgentNoAnswer(CallId(id), agent));
            self.drain_acd(sip, now);
            return;
        }
        let agent = offer.agent;
        if let Some(d) = &offer.leg.dialog {
            self.by_dialog
                .insert(dialog_map_key(d), (id, Side::Agent(offer_no)));
        }
        let call = self.calls.get_mut(&id).expect("checked above");
        call.offers.insert(offer_no, offer);
        let _ = self
            .acd
            .handle_event(acd_now, acd::Event::AgentAnswered(CallId(id), agent));
        self.drain_acd(sip, now);
        self.reschedule(id);
    }

    /// An INVITE to an agent ended without an answer.
    pub(super) fn offer_final(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        offer_no: u32,
        resp: &Response,
    ) {
        let acd_now = self.acd_now(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(offer) = call.offers.remove(&offer_no) else {
            return;
        };
        self.media.close(offer.leg.media);
        self.by_media.remove(&offer.leg.media);
        let ev = if offer.leg.cancelled {
            acd::Event::OfferEnded(CallId(id), offer.agent)
        } else {
            tracing::info!(
                call = call.name,
                device = offer.device,
                status = resp.status,
                rang_ms = now.duration_since(offer.started).as_millis() as u64,
                "agent did not answer"
            );
            match resp.status {
                486 | 600 => acd::Event::AgentBusy(CallId(id), offer.agent),
                603 => acd::Event::AgentRejected(CallId(id), offer.agent),
                _ => acd::Event::AgentNoAnswer(CallId(id), offer.agent),
            }
        };
        if call.in_acd || offer.leg.cancelled {
            let _ = self.acd.handle_event(acd_now, ev);
        }
        self.drain_acd(sip, now);
    }

    fn connected(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        agent: AgentId,
        waited: Duration,
    ) {
        let wall = self.wall(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(&no) = call
            .offers
            .iter()
            .find(|(_, o)| o.agent == agent && o.leg.answered)
            .map(|(n, _)| n)
        else {
            return;
        };
        let offer = call.offers.remove(&no).expect("found above");
        call.phase = Phase::Connected;
        call.wait = Some(waited);
        call.connected_at = Some(now);
        call.connected_wall = Some(wall);
        call.disposition = Some("answered");
        call.interp = None;
        call.ivr_deadline = None;
        let caller_leg = call.caller.media;
        let agent_leg = offer.leg.media;
        self.media.stop(caller_leg);
        self.media.bridge(caller_leg, agent_leg);
        call.start_recording(&mut self.media, &self.config.storage.path, wall);
        let agent_name = self
            .agents
            .iter_mut()
            .find(|a| a.id == agent)
            .map(|a| {
                a.calls_answered += 1;
                a.config.id.clone()
            })
            .unwrap_or_default();
        let call = self.calls.get_mut(&id).expect("checked above");
        tracing::info!(
            call = call.name,
            agent = agent_name,
            waited_ms = waited.as_millis() as u64,
            "connected"
        );
        let event = ApiEvent::CallConnected {
            call: call.name.clone(),
            agent: agent_name,
            queue: call.queue.clone().unwrap_or_default(),
        };
        call.agent = Some((agent, offer.leg));
        self.emit(event);
        let _ = sip;
        self.reschedule(id);
    }

    fn announce(&mut self, id: u64, position: u32, estimated: Option<Duration>) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.phase != Phase::Queued {
            return;
        }
        let mut files = Vec::new();
        let mut push = |this: &Calls, name: &str| {
            if let Some(f) = this.prompt_file(call, name) {
                files.push(f);
            }
        };
        if position <= 1 {
            push(self, "next_in_line");
        } else {
            push(self, "position");
            for p in number_prompts(position) {
                push(self, &p);
            }
        }
        if let Some(ewt) = estimated {
            let minutes = ewt.as_secs().div_ceil(60);
            push(self, "estimated_wait");
            if minutes <= 1 {
                push(self, "less_than_a_minute");
            } else {
                for p in number_prompts(minutes as u32) {
                    push(self, &p);
                }
                push(self, "minutes");
            }
        }
        if files.is_empty() {
            return;
        }
        let leg = call.caller.media;
        let play = self.play_id();
        if let Some(c) = self.calls.get_mut(&id) {
            c.announcing = Some(play);
        }
        self.media.play(leg, play, files, false, false);
    }

    fn overflow(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        queue: acd::QueueId,
        reason: acd::ExitReason,
        target: acd::OverflowTarget,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.in_acd = false;
        tracing::info!(
            call = call.name,
            ?reason,
            ?target,
            "left the queue unanswered"
        );
        self.emit_queue(queue);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let outcome = match reason {
            acd::ExitReason::Timeout => QueueOutcome::Timeout,
            acd::ExitReason::Full => QueueOutcome::Full,
            acd::ExitReason::Empty => QueueOutcome::NoAgents,
            #[allow(unreachable_patterns)]
            _ => QueueOutcome::Timeout,
        };
        match target {
            acd::OverflowTarget::Queue(_) => {
                // The distributor moved the call itself.
                if let Some(c) = self.calls.get_mut(&id) {
                    c.in_acd = true;
                }
            }
            acd::OverflowTarget::Voicemail(mailbox) => {
                self.start_voicemail(sip, now, id, &mailbox, false);
            }
            acd::OverflowTarget::External(spec) => {
                let (number, trunk) = spec.split_once('@').unwrap_or((&spec, ""));
                self.transfer(
                    sip,
                    now,
                    id,
                    TransferTarget::Number {
                        number: number.to_owned(),
                        trunk: trunk.into(),
                    },
                );
            }
            acd::OverflowTarget::Dialplan | acd::OverflowTarget::Callback => {
                let has_ivr = call.interp.is_some();
                if has_ivr {
                    call.phase = Phase::Ivr;
                    let leg = call.caller.media;
                    self.media.stop(leg);
                    self.feed_ivr(sip, now, id, IvrEvent::QueueResult(outcome));
                } else {
                    self.hangup(sip, now, id, "system", "queue-exit");
                }
            }
        }
    }

    /// Plays the greeting and a beep, then records the caller into `mailbox`.
    pub(super) fn start_voicemail(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        mailbox: &str,
        from_dialplan: bool,
    ) {
        self.ensure_answered(sip, now, id);
        let wall = self.wall(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.phase = Phase::Voicemail;
        call.disposition = Some("voicemail");
        let dir = self
            .config
            .storage
            .path
            .join("voicemail")
            .join(sanitize(mailbox));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!(
            "{}-{}.wav",
            wall.strftime("%Y%m%d-%H%M%S"),
            call.name
        ));
        let leg = call.caller.media;
        // The dialplan plays its own greeting before `voicemail`; an overflow plays the
        // configured one.
        let greeting_name = self.config.voicemail.greeting.clone();
        let greeting = if from_dialplan {
            None
        } else {
            let call = self.calls.get(&id).expect("checked above");
            self.prompt_file(call, &greeting_name)
        };
        let play = self.play_id();
        let call = self.calls.get_mut(&id).expect("checked above");
        call.voicemail = Some(VoicemailRun {
            mailbox: mailbox.to_owned(),
            path,
            greeting: Some(play),
            started: None,
            from_dialplan,
        });
        tracing::info!(call = call.name, mailbox, "voicemail");
        match greeting {
            Some(f) => self.media.play(leg, play, vec![f], false, false),
            None => self.begin_recording(id),
        }
    }

    fn begin_recording(&mut self, id: u64) {
        let max = self.config.voicemail.max_length;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let leg = call.caller.media;
        let Some(vm) = call.voicemail.as_mut() else {
            return;
        };
        vm.greeting = None;
        vm.started = Some(Instant::now());
        self.media.tone(leg, Tone::Beep);
        self.media
            .record(leg, vm.path.clone(), RecordMode::Leg, Some(max));
    }

    /// Transfers the caller: an outbound leg to a number through a trunk, or to a phone
    /// (an extension, or the one an agent is logged in on). A transfer to a phone fails
    /// with 480 when it is not registered (or the agent is logged out) and with 486 when
    /// it is already in a call (see `device_busy`), without ringing it. A phone it rings
    /// is busy (`Call::transferred_to`) until the transfer fails or the call ends.
    fn transfer(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64, target: TransferTarget) {
        let (uri, dest, to, device) = match &target {
            TransferTarget::Number { number, trunk } => {
                let gw = self
                    .config
                    .trunks
                    .iter()
                    .find(|t| t.name == **trunk)
                    .and_then(|t| t.outbound.as_ref())
                    .and_then(|o| o.gateways.iter().min_by_key(|g| g.priority).cloned());
                let Some(gw) = gw else {
                    tracing::warn!("transfer through trunk {trunk}: no outbound gateway");
                    self.outbound_failed(sip, now, id, 503);
                    return;
                };
                let uri = format!("sip:{}@{}", sanitize_number(number), host_port(gw.address));
                let Some(call) = self.calls.get(&id) else {
                    return;
                };
                let caller = call.info.from.clone();
                let caller_name = call.info.caller_name.clone();
                let dest = Source {
                    transport: switchyard_sip::transport::Transport::Udp,
                    remote: gw.address,
                    local: self.sip_local.unwrap_or(gw.address),
                    conn: None,
                };
                let to = format!("<{uri}>");
                let Some(leg) = self.outgoing_leg(sip, &uri, &to, &caller, &caller_name, dest, &[])
                else {
                    self.outbound_failed(sip, now, id, 500);
                    return;
                };
                // An answered caller hears ringback from us; one not answered yet hears
                // the far end's ringing through our 180.
                let caller_leg = self
                    .calls
                    .get(&id)
                    .filter(|c| c.caller.answered || c.early_sent)
                    .map(|c| c.caller.media);
                if self.place_via_trunk(sip, now, id, trunk, leg) {
                    tracing::info!(call = id, target = uri, trunk = &**trunk, "transferring");
                    if let Some(l) = caller_leg {
                        self.media.tone(l, Tone::Ringback);
                    }
                } else {
                    self.outbound_failed(sip, now, id, 503);
                }
                return;
            }
            TransferTarget::Extension(ext) | TransferTarget::Agent(ext) => {
                let device = match &target {
                    TransferTarget::Agent(a) => self
                        .agent_by_name
                        .get(a)
                        .and_then(|&i| self.agents[i].device.clone()),
                    _ => Some(ext.clone()),
                };
                let binding = device.and_then(|d| {
                    let b = sip
                        .registrar
                        .bindings()
                        .bindings(now, &d)
                        .into_iter()
                        .next()?;
                    Some((d, b))
                });
                let Some((device, b)) = binding else {
                    self.outbound_failed(sip, now, id, 480);
                    return;
                };
                // A phone already in a call is busy, as it is for a phone dialling it:
                // the transfer fails as if it had answered 486, and nothing rings it.
                if self.device_busy(&device) {
                    tracing::info!(call = format!("c{id}"), device, "transfer target busy");
                    self.outbound_failed(sip, now, id, 486);
                    return;
                }
                (
                    b.contact.clone(),
                    b.source,
                    format!("<sip:{device}@{}>", sip.domain),
                    device,
                )
            }
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let caller = call.info.from.clone();
        let caller_name = call.info.caller_name.clone();
        let Some(mut leg) = self.outgoing_leg(sip, &uri, &to, &caller, &caller_name, dest, &[])
        else {
            self.outbound_failed(sip, now, id, 500);
            return;
        };
        let Some(key) = sip.send_request(now, leg.invite.clone(), leg.peer) else {
            self.media.close(leg.media);
            self.outbound_failed(sip, now, id, 503);
            return;
        };
        leg.invite_key = key.clone();
        self.by_client.insert(key, ClientPurpose::Outbound(id));
        self.by_media.insert(leg.media, (id, Side::Outbound));
        let call = self.calls.get_mut(&id).expect("checked above");
        call.phase = Phase::Outbound;
        let caller_leg = call.caller.media;
        let heard = call.caller.answered || call.early_sent;
        call.outbound = Some(leg);
        call.transferred_to = Some(device.clone());
        tracing::info!(call = call.name, target = uri, device, "transferring");
        if heard {
            self.media.tone(caller_leg, Tone::Ringback);
        }
        // The phone is busy from its INVITE until the transfer fails or the call ends.
        self.phone_call_started(sip, now, &[&device]);
    }

    pub(super) fn outbound_response(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        id: u64,
        resp: &Response,
    ) {
        if self.trunk_call_response(sip, now, id, resp) {
            return;
        }
        if resp.status < 200 {
            if resp.status > 100 {
                self.caller_ringing(sip, now, id);
            }
            return;
        }
        if resp.status >= 300 {
            self.outbound_failed(sip, now, id, resp.status);
            return;
        }
        self.outbound_connected(sip, now, key, id, resp);
    }

    /// The outbound leg answered: bridge it to the caller.
    pub(super) fn outbound_connected(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        id: u64,
        resp: &Response,
    ) {
        let wall = self.wall(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(mut leg) = call.outbound.take() else {
            return;
        };
        if !self.confirm_leg(sip, now, key, &mut leg, resp) {
            self.media.close(leg.media);
            self.outbound_failed(sip, now, id, 500);
            return;
        }
        if let Some(d) = &leg.dialog {
            self.by_dialog
                .insert(dialog_map_key(d), (id, Side::Outbound));
        }
        let leg_media = leg.media;
        self.calls.get_mut(&id).expect("checked above").outbound = Some(leg);
        self.ensure_answered(sip, now, id);
        let call = self.calls.get_mut(&id).expect("checked above");
        let caller_leg = call.caller.media;
        self.media.stop(caller_leg);
        self.media.bridge(caller_leg, leg_media);
        call.connected_at = Some(now);
        call.connected_wall = Some(wall);
        if call.disposition.is_none() {
            call.disposition = Some("transferred");
        }
        // Recorded from here to the end of the call, like an agent's call (the far end
        // on the right).
        call.start_recording(&mut self.media, &self.config.storage.path, wall);
        tracing::info!(call = call.name, "transfer connected");
        self.feed_ivr(sip, now, id, IvrEvent::TransferResult { connected: true });
        if let Some(c) = self.calls.get_mut(&id) {
            c.interp = None;
            c.ivr_deadline = None;
        }
        self.reschedule(id);
    }

    pub(super) fn outbound_failed(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        status: u16,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(leg) = call.outbound.take() {
            self.by_media.remove(&leg.media);
            self.media.close(leg.media);
        }
        tracing::info!(call = call.name, status, "transfer failed");
        if let Some(device) = call.transferred_to.take() {
            self.phone_call_left(sip, now, &device);
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.interp.is_some() {
            call.transfer_failed = Some(status);
            call.phase = Phase::Ivr;
            let leg = call.caller.media;
            self.media.stop(leg);
            self.feed_ivr(sip, now, id, IvrEvent::TransferResult { connected: false });
        } else {
            self.hangup(sip, now, id, "system", &transfer_failed_reason(status));
        }
    }

    /// A lookup finished.
    pub(crate) fn lookup_result(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        result: Result<String, String>,
    ) {
        if self.calls.contains_key(&id) {
            self.feed_ivr(sip, now, id, IvrEvent::LookupResult(result));
        }
    }

    /// Something the media thread reported.
    pub(crate) fn media_event(&mut self, sip: &mut Sip<'_>, now: Instant, ev: MediaEvent) {
        let leg = match &ev {
            MediaEvent::Dtmf { leg, .. }
            | MediaEvent::PlaybackDone { leg, .. }
            | MediaEvent::Inactive { leg }
            | MediaEvent::RecordingDone { leg, .. } => *leg,
        };
        let Some(&(id, side)) = self.by_media.get(&leg) else {
            // Voicemail recordings finish after their leg closed: look them up by path.
            if let MediaEvent::RecordingDone { path, duration, .. } = ev {
                self.voicemail_recorded(sip, now, None, path, duration);
            }
            return;
        };
        match ev {
            MediaEvent::Dtmf { digit, .. } => {
                if side == Side::Caller {
                    self.caller_dtmf(sip, now, id, digit);
                }
            }
            MediaEvent::PlaybackDone { id: play, .. } => {
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if call.announcing == Some(play) {
                    call.announcing = None;
                    if call.phase == Phase::Queued {
                        self.play_music(id);
                    }
                } else if call
                    .voicemail
                    .as_ref()
                    .is_some_and(|v| v.greeting == Some(play))
                {
                    self.begin_recording(id);
                } else if call.phase == Phase::Feature {
                    self.hangup(sip, now, id, "system", "feature-code");
                } else if call.ivr_play == Some(play) {
                    call.ivr_play = None;
                    self.feed_ivr(sip, now, id, IvrEvent::PlaybackDone { id: play });
                }
            }
            MediaEvent::Inactive { .. } => {
                let held = self.calls.get(&id).is_some_and(|c| {
                    c.caller.held
                        || c.agent.as_ref().is_some_and(|(_, l)| l.held)
                        || c.outbound.as_ref().is_some_and(|l| l.held)
                });
                if !held {
                    tracing::info!(call = id, "no media: ending the call");
                    self.hangup(sip, now, id, "system", "inactivity");
                }
            }
            MediaEvent::RecordingDone { path, duration, .. } => {
                let is_vm = self
                    .calls
                    .get(&id)
                    .and_then(|c| c.voicemail.as_ref())
                    .is_some_and(|v| v.path == path);
                if is_vm {
                    self.voicemail_recorded(sip, now, Some(id), path, duration);
                }
            }
        }
        self.reschedule(id);
    }

    fn caller_dtmf(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64, digit: char) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match call.phase {
            Phase::Ivr => self.feed_ivr(sip, now, id, IvrEvent::Dtmf(digit)),
            Phase::Voicemail if digit == '#' => {
                let leg = call.caller.media;
                if call.voicemail.as_ref().is_some_and(|v| v.started.is_some()) {
                    self.media.stop_recording(leg);
                }
            }
            _ => {}
        }
    }

    /// Pending INFO digits (collected while the call was borrowed).
    pub(crate) fn flush_dtmf(&mut self, sip: &mut Sip<'_>, now: Instant) {
        for (id, digit) in std::mem::take(&mut self.pending_dtmf) {
            self.caller_dtmf(sip, now, id, digit);
        }
    }

    fn voicemail_recorded(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: Option<u64>,
        path: PathBuf,
        duration: Duration,
    ) {
        let (call_name, caller, mailbox, from_dialplan, time) =
            match id.and_then(|i| self.calls.get_mut(&i)) {
                Some(call) => {
                    let Some(vm) = call.voicemail.take() else {
                        return;
                    };
                    (
                        call.name.clone(),
                        call.info.from.clone(),
                        vm.mailbox,
                        vm.from_dialplan,
                        self.wall(now),
                    )
                }
                None => match self.finished_voicemail.remove(&path) {
                    Some(v) => v,
                    None => return,
                },
            };
        let vm = store::Voicemail {
            id: format!("vm-{}-{}", call_name, unix_ms(time)),
            mailbox,
            caller,
            call: call_name.clone(),
            time_ms: unix_ms(time),
            duration_ms: duration.as_millis() as i64,
            path: path.display().to_string(),
        };
        tracing::info!(
            call = call_name,
            mailbox = vm.mailbox,
            duration_ms = vm.duration_ms,
            "voicemail stored"
        );
        self.store.write(Record::Voicemail(vm));
        if let Some(id) = id {
            if from_dialplan && self.calls.get(&id).is_some_and(|c| c.interp.is_some()) {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.phase = Phase::Ivr;
                }
                self.feed_ivr(sip, now, id, IvrEvent::VoicemailDone);
            } else {
                self.hangup(sip, now, id, "system", "voicemail-done");
            }
        }
    }

    /// Deadlines due at `now`: the distributor's, then each call's.
    pub(crate) fn handle_timeout(&mut self, sip: &mut Sip<'_>, now: Instant) {
        let acd_now = self.acd_now(now);
        self.acd.handle_timeout(acd_now);
        self.drain_acd(sip, now);
        self.trunks_timeout(sip, now);
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.remove(&(t, id));
            if let Some(c) = self.calls.get_mut(&id) {
                c.next_deadline = None;
            }
            self.call_timeout(sip, now, id);
            self.reschedule(id);
        }
    }

    fn call_timeout(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.max_end <= now {
            tracing::info!(call = call.name, "maximum call duration reached");
            self.hangup(sip, now, id, "system", "max-duration");
            return;
        }
        if call.ack_deadline.is_some_and(|t| t <= now) {
            tracing::info!(call = call.name, "no ACK for our answer");
            self.hangup(sip, now, id, "system", "no-ack");
            return;
        }
        self.trunk_call_timeout(sip, now, id);
        self.extension_timeout(sip, now, id);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.ivr_deadline.is_some_and(|t| t <= now) {
            call.ivr_deadline = None;
            if call.phase == Phase::Feature {
                self.hangup(sip, now, id, "system", "feature-code");
                return;
            }
            self.feed_ivr(sip, now, id, IvrEvent::Timeout);
        }
        // Session timers on each leg.
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let mut expired = false;
        let mut refresh: Vec<(Side, Method)> = Vec::new();
        {
            let mut legs: Vec<(Side, &mut Leg)> = vec![(Side::Caller, &mut call.caller)];
            if let Some((_, l)) = call.agent.as_mut() {
                legs.push((Side::Agent(0), l));
            }
            if let Some(l) = call.outbound.as_mut() {
                legs.push((Side::Outbound, l));
            }
            for (side, leg) in legs {
                if let Some(d) = leg.dialog.as_mut() {
                    d.handle_timeout(now);
                    while let Some(ev) = d.poll_event() {
                        match ev {
                            DialogEvent::SessionExpired => expired = true,
                            DialogEvent::RefreshDue { method } => refresh.push((side, method)),
                        }
                    }
                }
            }
        }
        for (side, method) in refresh {
            let leg = match side {
                Side::Caller => Some(&mut call.caller),
                Side::Agent(_) => call.agent.as_mut().map(|(_, l)| l),
                Side::Outbound => call.outbound.as_mut(),
            };
            let Some(leg) = leg else { continue };
            let Some(d) = leg.dialog.as_mut() else {
                continue;
            };
            let branch = sip.layer.new_branch();
            let mut req = d.request(method.clone(), &branch);
            if method == Method::Invite {
                let body = leg
                    .sdp
                    .create_offer(&local_media(leg.local_rtp, Direction::SendRecv))
                    .to_string();
                req.headers.push("Content-Type", "application/sdp");
                req.body = body.into_bytes().into();
            }
            if let Some(k) = sip.send_request(now, req, leg.peer) {
                self.by_client.insert(k, ClientPurpose::InDialog(id, side));
            }
        }
        self.calls.insert(id, call);
        if expired {
            tracing::info!(call = id, "session expired without refresh");
            self.hangup(sip, now, id, "system", "session-expired");
        }
    }

    /// Ends a call: BYE to every answered leg, CANCEL to ringing phones, the distributor
    /// and the dialplan told, media closed, the CDR written.
    pub(crate) fn hangup(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        by: &'static str,
        reason: &str,
    ) {
        let acd_now = self.acd_now(now);
        let wall = self.wall(now);
        // An extension's phones still ringing: CANCEL.
        self.cancel_forks(sip, now, id, None);
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if call.phase == Phase::Ended {
            self.calls.insert(id, call);
            return;
        }
        let prior_phase = call.phase;
        call.phase = Phase::Ended;
        call.hangup_by.get_or_insert(by);
        call.hangup_reason.get_or_insert_with(|| reason.to_owned());
        // The caller's leg.
        if by != "caller" {
            if call.caller.answered {
                self.bye(sip, now, id, Side::Caller, &mut call.caller, None);
            } else if let Some(d) = call.caller.dialog.as_mut() {
                let req = call.caller.invite.clone();
                let resp = d.response(now, &req, 480, "Temporarily Unavailable");
                sip.respond(now, &call.caller.invite_key, resp);
            }
        }
        // The agent's leg.
        if let Some((_, leg)) = call.agent.as_mut()
            && by != "agent"
        {
            self.bye(sip, now, id, Side::Agent(0), leg, None);
        }
        if let Some(mut oc) = call.trunk_call.take() {
            oc.cancel(now);
            while let Some(ev) = oc.poll_event() {
                if let crate::run::trunk::CallEvent::Cancel { key, .. } = ev {
                    let _ = sip.layer.cancel(now, &key);
                    self.by_client.remove(&key);
                }
            }
            if let Some(leg) = call.outbound.as_ref()
                && !leg.answered
            {
                self.media.close(leg.media);
                self.by_media.remove(&leg.media);
                call.outbound = None;
            }
        }
        if let Some(leg) = call.outbound.as_mut() {
            if leg.answered {
                if !(matches!(by, "agent" | "callee") && prior_phase == Phase::Outbound) {
                    self.bye(sip, now, id, Side::Outbound, leg, None);
                }
            } else {
                let _ = sip.layer.cancel(now, &leg.invite_key);
                self.by_client.remove(&leg.invite_key);
                self.orphans
                    .insert(leg.invite_key.clone(), (clone_leg_for_orphan(leg), None));
            }
        }
        // The distributor.
        if call.in_acd {
            let ev = if prior_phase == Phase::Connected {
                let party = if by == "agent" {
                    acd::Party::Agent
                } else {
                    acd::Party::Caller
                };
                acd::Event::CallEnded(CallId(id), party)
            } else {
                acd::Event::CallerHungUp(CallId(id))
            };
            let _ = self.acd.handle_event(acd_now, ev);
            call.in_acd = false;
        }
        // Phones still ringing: CANCEL (the distributor asked already when it knew).
        for (_, offer) in call.offers.drain() {
            self.by_media.remove(&offer.leg.media);
            if offer.leg.answered {
                // Answered but not connected yet: hang it up.
                let mut leg = offer.leg;
                self.media.close(leg.media);
                self.bye(sip, now, id, Side::Agent(0), &mut leg, None);
                let _ = self
                    .acd
                    .handle_event(acd_now, acd::Event::OfferEnded(CallId(id), offer.agent));
                continue;
            }
            if !offer.leg.cancelled {
                let _ = sip.layer.cancel(now, &offer.leg.invite_key);
            }
            // The media stays open until the INVITE ends (a crossing 2xx is ACKed).
            self.by_client.remove(&offer.leg.invite_key);
            self.orphans.insert(
                offer.leg.invite_key.clone(),
                (offer.leg, Some((id, offer.agent))),
            );
        }
        if let Some(interp) = call.interp.as_mut() {
            interp.handle_event(wall, IvrEvent::Hangup);
        }
        // Media.
        let mut legs = vec![call.caller.media];
        if let Some((_, l)) = &call.agent {
            legs.push(l.media);
        }
        if let Some(l) = &call.outbound {
            legs.push(l.media);
        }
        if let Some(vm) = call.voicemail.take()
            && vm.started.is_some()
        {
            {
                self.finished_voicemail.insert(
                    vm.path.clone(),
                    (
                        call.name.clone(),
                        call.info.from.clone(),
                        vm.mailbox,
                        false,
                        wall,
                    ),
                );
            }
        }
        for l in legs {
            self.media.close(l);
            self.by_media.remove(&l);
        }
        // Maps.
        for d in [
            call.caller.dialog.as_ref(),
            call.agent.as_ref().and_then(|(_, l)| l.dialog.as_ref()),
            call.outbound.as_ref().and_then(|l| l.dialog.as_ref()),
        ]
        .into_iter()
        .flatten()
        {
            self.by_dialog.remove(&dialog_map_key(d));
        }
        self.by_server_invite.remove(&call.caller.invite_key);
        if let Some(t) = call.next_deadline.take() {
            self.timers.remove(&(t, id));
        }
        // The record.
        let disposition = call.disposition.unwrap_or(match prior_phase {
            Phase::Queued => "abandoned",
            Phase::Ivr => "ivr",
            Phase::Feature => "feature",
            Phase::Outbound => "failed",
            _ => "ivr",
        });
        // A caller who hangs up while the dialled phone rings abandoned the call.
        let unanswered_extension = call.extension.is_some() && call.connected_at.is_none();
        let disposition =
            if (prior_phase == Phase::Queued || unanswered_extension) && by == "caller" {
                "abandoned"
            } else {
                disposition
            };
        let end_ms = unix_ms(wall);
        let billable = call
            .connected_wall
            .map_or(0, |c| end_ms - unix_ms(c))
            .max(0);
        let agent = call
            .agent
            .as_ref()
            .and_then(|(a, _)| self.agents.iter().find(|x| x.id == *a))
            .map(|a| a.config.id.clone());
        let wait = call
            .wait
            .or_else(|| call.queued_at.map(|q| now.duration_since(q)))
            .map(|d| d.as_millis() as i64);
        let cdr = store::Cdr {
            id: call.name.clone(),
            sip_call_id: call
                .caller
                .invite
                .headers
                .call_id()
                .unwrap_or("")
                .to_owned(),
            caller: call.info.from.clone(),
            caller_name: call.info.caller_name.clone(),
            did: call.info.to.clone(),
            trunk: call.info.trunk.clone(),
            start_ms: unix_ms(call.start_wall),
            answer_ms: call.answer_wall.map(unix_ms),
            end_ms,
            duration_ms: end_ms - unix_ms(call.start_wall),
            billable_ms: billable,
            disposition: disposition.to_owned(),
            queue: call.queue.clone(),
            agent,
            wait_ms: wait,
            hangup_by: call.hangup_by.unwrap_or(by).to_owned(),
            hangup_reason: call.hangup_reason.clone().unwrap_or_default(),
            recording: call.recording.as_ref().map(|p| p.display().to_string()),
            variables: serde_json::Value::Object(call.variables.clone()),
        };
        tracing::info!(
            call = call.name,
            disposition,
            by = cdr.hangup_by,
            reason = cdr.hangup_reason,
            duration_ms = cdr.duration_ms,
            "call ended"
        );
        self.emit(ApiEvent::CallEnded {
            call: call.name.clone(),
            disposition: disposition.to_owned(),
            hangup_by: cdr.hangup_by.clone(),
        });
        self.store.write(Record::Cdr(Box::new(cdr)));
        *self.ended.entry(disposition).or_default() += 1;
        if let Some(q) = call.queue.as_ref().and_then(|q| self.acd.queue_id(q)) {
            self.emit_queue(q);
        }
        self.phone_call_ended(sip, now, &call);
        self.drain_acd(sip, now);
    }
}

/// The CDR's `hangup_reason` for a call that ended because its transfer failed with the far
/// end's (or, when no far end answered, our) final `status`: `transfer-failed:486`.
fn transfer_failed_reason(status: u16) -> String {
    format!("transfer-failed:{status}")
}

/// Stands in for the caller's leg while it is being answered.
pub(super) fn placeholder_leg(req: &switchyard_sip::Request, key: &TsxKey) -> Leg {
    Leg {
        media: 0,
        peer: Source {
            transport: switchyard_sip::transport::Transport::Udp,
            remote: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            local: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            conn: None,
        },
        dialog: None,
        sdp: sdp_session(0),
        local_rtp: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        negotiated: None,
        invite: req.clone(),
        invite_key: key.clone(),
        answered: false,
        cancelled: false,
        held: false,
        body: String::new(),
    }
}

fn clone_leg_for_orphan(leg: &Leg) -> Leg {
    let mut l = placeholder_leg(&leg.invite, &leg.invite_key);
    l.peer = leg.peer;
    l.media = leg.media;
    l
}

fn sanitize(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if s.is_empty() || s.starts_with('.') {
        "mailbox".to_owned()
    } else {
        s
    }
}

fn sanitize_number(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'))
        .collect()
}

/// Prompt names that say a number (the shipped prompts have 0-20, tens, hundred, ...).
pub(super) fn number_prompts(n: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut n = n;
    if n >= 1000 {
        out.extend(number_prompts(n / 1000));
        out.push("thousand".to_owned());
        n %= 1000;
        if n == 0 {
            return out;
        }
    }
    if n >= 100 {
        out.push((n / 100).to_string());
        out.push("hundred".to_owned());
        n %= 100;
        if n == 0 {
            return out;
        }
    }
    if n <= 20 {
        out.push(n.to_string());
    } else {
        out.push((n / 10 * 10).to_string());
        if !n.is_multiple_of(10) {
            out.push((n % 10).to_string());
        }
    }
    out
}

pub(super) fn agent_state_name(s: &acd::AgentState) -> (&'static str, Option<String>) {
    match s {
        acd::AgentState::LoggedOut => ("logged_out", None),
        acd::AgentState::Available => ("available", None),
        acd::AgentState::Reserved(_) => ("ringing", None),
        acd::AgentState::OnCall(_) => ("on_call", None),
        acd::AgentState::WrapUp => ("wrap_up", None),
        acd::AgentState::Paused(r) => ("paused", Some(r.clone())),
    }
}

fn log_kind_name(k: &acd::LogKind) -> &'static str {
    use acd::LogKind as K;
    match k {
        K::Exit { .. } => "exit",
        K::CallbackAccepted => "callback",
        K::Pause { .. } => "pause",
        K::Unpause => "unpause",
        K::Login => "login",
        K::Logout => "logout",
        _ => "other",
    }
}
