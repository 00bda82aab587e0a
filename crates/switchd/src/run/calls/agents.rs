//! Agents: logging in on any phone (feature codes and the API), their phones'
//! registrations, and the API's views of agents, queues and calls.

use std::time::Instant;

use switchyard_sip::Request;
use switchyard_sip::transaction::TsxKey;
use switchyard_sip::transport::Source;

use super::control::agent_state_name;
use super::legs::Sip;
use super::*;
use crate::api::{
    AgentCounts, AgentView, ApiError, CallView, QueueToday, QueueView, SkillLevel, WaitingCall,
};

fn not_found(what: &str) -> ApiError {
    ApiError {
        status: 404,
        error: format!("no {what}"),
    }
}

impl Calls {
    /// Logs in the agents the configuration logs in at start.
    pub(crate) fn startup(&mut self, sip: &mut Sip<'_>, now: Instant) {
        let logins: Vec<(usize, String)> = self
            .agents
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.config.login_on.clone().map(|d| (i, d)))
            .collect();
        for (i, device) in logins {
            self.login(sip, now, i, device);
        }
        self.drain_acd(sip, now);
    }

    fn login(&mut self, sip: &mut Sip<'_>, now: Instant, i: usize, device: String) {
        let acd_now = self.acd_now(now);
        // One agent per device: whoever was on it logs out.
        let others: Vec<usize> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(j, a)| *j != i && a.device.as_deref() == Some(&device))
            .map(|(j, _)| j)
            .collect();
        for j in others {
            self.logout(now, j);
        }
        let id = self.agents[i].id;
        self.agents[i].device = Some(device.clone());
        // The device's state first: the login itself may offer a waiting call at once.
        let reachable = self.device_reachable(sip, now, &device);
        let ev = if reachable {
            acd::Event::AgentDeviceAvailable(id)
        } else {
            acd::Event::AgentDeviceUnavailable(id)
        };
        let _ = self.acd.handle_event(acd_now, ev);
        let _ = self.acd.handle_event(acd_now, acd::Event::AgentLogin(id));
        tracing::info!(
            agent = self.agents[i].config.id,
            device,
            reachable,
            "agent logged in"
        );
    }

    fn logout(&mut self, now: Instant, i: usize) {
        let acd_now = self.acd_now(now);
        let id = self.agents[i].id;
        self.agents[i].device = None;
        let _ = self.acd.handle_event(acd_now, acd::Event::AgentLogout(id));
        tracing::info!(agent = self.agents[i].config.id, "agent logged out");
    }

    /// Whether calls may be offered on `device`: it is registered and not on a call other
    /// than a queue call (see `on_phone_call`).
    fn device_reachable(&self, sip: &Sip<'_>, now: Instant, device: &str) -> bool {
        !self.on_phone_call.contains_key(device)
            && !sip.registrar.bindings().bindings(now, device).is_empty()
    }

    /// Whether agent `i` is logged in on a device that is on a call other than a queue
    /// call: a phone-to-phone call, a dialplan's transfer to it, its own call into a
    /// dialplan.
    fn agent_on_phone_call(&self, i: usize) -> bool {
        self.agents[i]
            .device
            .as_ref()
            .is_some_and(|d| self.on_phone_call.contains_key(d))
    }

    /// Sends agent `i`'s state (distributor state, and whether its phone is on a call
    /// other than a queue call) to event stream clients.
    pub(super) fn emit_agent_state(&self, i: usize) {
        let a = &self.agents[i];
        let (state, reason) = agent_state_name(&self.acd.agent_state(a.id));
        let on_phone_call = self.agent_on_phone_call(i);
        tracing::info!(agent = a.config.id, state, on_phone_call, "agent state");
        self.emit(ApiEvent::AgentState {
            agent: a.config.id.clone(),
            state: state.to_owned(),
            reason,
            on_phone_call,
        });
    }

    /// `device` started its first call other than a queue call or ended its last: event
    /// stream clients hear it of the agents logged in on it (before any offer the end
    /// allows).
    pub(super) fn phone_call_flag_changed(&self, device: &str) {
        for i in 0..self.agents.len() {
            if self.agents[i].device.as_deref() == Some(device) {
                self.emit_agent_state(i);
            }
        }
    }

    /// A phone's registration changed, or it started or ended a call other than a queue
    /// call: agents logged in on it become (un)reachable.
    pub(crate) fn device_changed(&mut self, sip: &mut Sip<'_>, now: Instant, device: &str) {
        let acd_now = self.acd_now(now);
        let reachable = self.device_reachable(sip, now, device);
        let ids: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|a| a.device.as_deref() == Some(device))
            .map(|a| a.id)
            .collect();
        for id in ids {
            if self.acd.agent_device_available(id) != reachable {
                let ev = if reachable {
                    acd::Event::AgentDeviceAvailable(id)
                } else {
                    acd::Event::AgentDeviceUnavailable(id)
                };
                let _ = self.acd.handle_event(acd_now, ev);
            }
        }
        self.drain_acd(sip, now);
    }

    /// `*45<agent>*<pin>` (login), `*46` (logout), `*47` (pause), `*48` (unpause) dialled
    /// from a registered phone. Returns whether `dialled` was a feature code.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn feature_code(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        source: Source,
        req: &Request,
        device: &str,
        dialled: &str,
    ) -> bool {
        let codes = self.config.feature_codes.clone();
        let acd_now = self.acd_now(now);
        let on_device = self
            .agents
            .iter()
            .position(|a| a.device.as_deref() == Some(device));
        let prompt = if let Some(rest) = dialled.strip_prefix(codes.login.as_str()) {
            let (agent, pin) = rest.split_once('*').unwrap_or((rest, ""));
            match self.agent_by_name.get(agent).copied() {
                Some(i) if self.agents[i].config.pin == pin => {
                    self.login(sip, now, i, device.to_owned());
                    "agent_logged_in"
                }
                _ => {
                    tracing::info!(device, agent, "agent login refused");
                    "login_failed"
                }
            }
        } else if dialled == codes.logout {
            match on_device {
                Some(i) => {
                    self.logout(now, i);
                    "agent_logged_out"
                }
                None => "login_failed",
            }
        } else if dialled == codes.pause {
            match on_device {
                Some(i) => {
                    let id = self.agents[i].id;
                    let _ = self
                        .acd
                        .handle_event(acd_now, acd::Event::AgentPause(id, "phone".to_owned()));
                    "agent_paused"
                }
                None => "login_failed",
            }
        } else if dialled == codes.unpause {
            match on_device {
                Some(i) => {
                    let id = self.agents[i].id;
                    let _ = self.acd.handle_event(acd_now, acd::Event::AgentUnpause(id));
                    "agent_ready"
                }
                None => "login_failed",
            }
        } else {
            return false;
        };
        self.drain_acd(sip, now);
        // Answer, say how it went, hang up.
        let Some(mut leg) = self.answer_leg(sip, now, key, source, req) else {
            return true;
        };
        let Some(resp) = self.leg_answer(now, &mut leg, req, 200) else {
            self.media.close(leg.media);
            sip.reject(now, key, req, 500, "Server Internal Error");
            return true;
        };
        leg.answered = true;
        sip.respond(now, key, resp);
        let id = self.next_call;
        self.next_call += 1;
        let wall = self.wall(now);
        let info = ivr::CallInfo {
            to: dialled.to_owned(),
            from: device.to_owned(),
            caller_name: String::new(),
            trunk: "phone".to_owned(),
        };
        let call = Call {
            // Hang up even if the prompt cannot be played.
            ivr_deadline: Some(now + Duration::from_secs(8)),
            answer_wall: Some(wall),
            disposition: Some("feature"),
            ..Call::new(
                id,
                Phase::Feature,
                leg,
                info,
                wall,
                now + Duration::from_secs(60),
            )
        };
        let media = call.caller.media;
        let file = self.prompt_file(&call, prompt);
        self.register_call(call, key.clone());
        let play = self.play_id();
        match file {
            Some(f) => self.media.play(media, play, vec![f], false, false),
            None => self.media.tone(media, Tone::Beep),
        }
        self.reschedule(id);
        true
    }

    fn agent_view(&self, now: Instant, i: usize, sip: &Sip<'_>) -> AgentView {
        let a = &self.agents[i];
        let state = self.acd.agent_state(a.id);
        let (name, reason) = agent_state_name(&state);
        let call = match &state {
            acd::AgentState::Reserved(c) | acd::AgentState::OnCall(c) => {
                self.calls.get(&c.0).map(|x| x.name.clone())
            }
            _ => None,
        };
        AgentView {
            id: a.config.id.clone(),
            name: a.config.name.clone(),
            state: name.to_owned(),
            pause_reason: reason,
            device: a.device.clone(),
            device_registered: a
                .device
                .as_ref()
                .is_some_and(|d| !sip.registrar.bindings().bindings(now, d).is_empty()),
            on_phone_call: self.agent_on_phone_call(i),
            skills: a
                .config
                .skills
                .iter()
                .map(|(s, l)| SkillLevel {
                    skill: s.clone(),
                    level: *l,
                })
                .collect(),
            call,
            calls_answered: a.calls_answered,
        }
    }

    fn queue_view(&self, now: Instant, qid: acd::QueueId) -> Option<QueueView> {
        let name = self.queue_names.get(&qid)?.clone();
        let acd_now = self.acd_now(now);
        let waiting = self
            .acd
            .waiting_calls(qid)
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let call = self.calls.get(&c.0)?;
                Some(WaitingCall {
                    call: call.name.clone(),
                    caller: call.info.from.clone(),
                    position: i as u32 + 1,
                    waited_s: call
                        .queued_at
                        .map_or(0.0, |t| now.duration_since(t).as_secs_f64()),
                    priority: self.acd.call_info(c).map_or(0, |ci| i64::from(ci.priority)),
                })
            })
            .collect();
        let live = self.acd.queue_live(qid, acd_now);
        let mut counts = AgentCounts::default();
        let mut today = QueueToday::default();
        if let Some(cfg) = self.acd.queue_config(qid) {
            today.sl_threshold_s = cfg.sl_threshold.as_secs_f64();
        }
        for (i, a) in self.agents.iter().enumerate() {
            let eligible = self.acd.queue_config(qid).is_some_and(|q| {
                q.skills.iter().all(|r| {
                    a.config.skills.iter().any(|(s, l)| {
                        self.acd.skill_name(r.skill) == Some(s.as_str()) && *l >= r.min_level
                    })
                })
            });
            if !eligible {
                continue;
            }
            match self.acd.agent_state(a.id) {
                acd::AgentState::LoggedOut => counts.logged_out += 1,
                // Ready, but busy on a call that is not a queue call: offered nothing until
                // it ends.
                acd::AgentState::Available if self.agent_on_phone_call(i) => {
                    counts.on_phone_call += 1
                }
                acd::AgentState::Available => counts.available += 1,
                acd::AgentState::Reserved(_) => counts.ringing += 1,
                acd::AgentState::OnCall(_) => counts.on_call += 1,
                acd::AgentState::WrapUp => counts.wrap_up += 1,
                acd::AgentState::Paused(_) => counts.paused += 1,
            }
        }
        let _ = live;
        if let Some(stats) = self.acd.queue_stats(qid) {
            // Since local midnight: the distributor's 15-minute intervals that start
            // after it (an interval straddling midnight counts for the new day).
            let wall = self.wall(now);
            let zoned = wall.to_zoned(jiff::tz::TimeZone::system());
            let since_midnight = zoned
                .start_of_day()
                .ok()
                .and_then(|m| Duration::try_from(wall.duration_since(m.timestamp())).ok())
                .unwrap_or_default();
            let midnight = acd_now.saturating_sub(since_midnight);
            let mut t = acd::stats::QueueStats::default();
            for (start, s) in stats.intervals() {
                if start + self.acd.config().stats_interval <= midnight {
                    continue;
                }
                t.offered += s.offered;
                t.answered += s.answered;
                t.answered_in_sl += s.answered_in_sl;
                t.abandoned += s.abandoned;
                t.short_abandoned += s.short_abandoned;
                t.answered_wait += s.answered_wait;
            }
            today.offered = t.offered;
            today.answered = t.answered;
            // Short abandons are abandons too (only service level leaves them out).
            today.abandoned = t.abandoned + t.short_abandoned;
            today.service_level = t.service_level();
            today.average_speed_of_answer_s = t.asa().map(|d| d.as_secs_f64());
        }
        Some(QueueView {
            name,
            waiting,
            agents: counts,
            today,
        })
    }

    fn call_view(&self, call: &Call) -> CallView {
        let state = match call.phase {
            Phase::Ivr => "ivr",
            Phase::Queued if !call.offers.is_empty() => "ringing",
            Phase::Queued => "queued",
            Phase::Outbound if call.extension.as_ref().is_some_and(|e| !e.forks.is_empty()) => {
                "ringing"
            }
            Phase::Connected | Phase::Outbound => "connected",
            Phase::Voicemail => "voicemail",
            Phase::Feature => "feature",
            Phase::Ended => "ending",
        };
        CallView {
            id: call.name.clone(),
            caller: call.info.from.clone(),
            did: call.info.to.clone(),
            trunk: call.info.trunk.clone(),
            state: state.to_owned(),
            queue: call.queue.clone(),
            agent: call
                .agent
                .as_ref()
                .and_then(|(a, _)| self.agents.iter().find(|x| x.id == *a))
                .map(|a| a.config.id.clone()),
            start_ms: unix_ms(call.start_wall),
            answer_ms: call.answer_wall.map(unix_ms),
        }
    }

    fn agent_index(&self, id: &str) -> Result<usize, ApiError> {
        self.agent_by_name
            .get(id)
            .copied()
            .ok_or_else(|| not_found("such agent"))
    }

    /// Answers an API request.
    pub(crate) fn handle_api(&mut self, sip: &mut Sip<'_>, now: Instant, req: ApiRequest) {
        let acd_now = self.acd_now(now);
        match req {
            ApiRequest::ListAgents(reply) => {
                let v = (0..self.agents.len())
                    .map(|i| self.agent_view(now, i, sip))
                    .collect();
                let _ = reply.send(Ok(v));
            }
            ApiRequest::Agent(id, reply) => {
                let r = self.agent_index(&id).map(|i| self.agent_view(now, i, sip));
                let _ = reply.send(r);
            }
            ApiRequest::AgentLogin {
                agent,
                device,
                reply,
            } => {
                let r = self.agent_index(&agent).and_then(|i| {
                    let device = device
                        .or_else(|| self.agents[i].config.login_on.clone())
                        .or_else(|| self.agents[i].device.clone())
                        .ok_or(ApiError {
                            status: 400,
                            error: "say on which device (extension) the agent logs in".into(),
                        })?;
                    if !self.config.devices.iter().any(|d| d.user == device) {
                        return Err(not_found("such device"));
                    }
                    self.login(sip, now, i, device);
                    Ok(i)
                });
                self.drain_acd(sip, now);
                let _ = reply.send(r.map(|i| self.agent_view(now, i, sip)));
            }
            ApiRequest::AgentLogout { agent, reply } => {
                let r = self.agent_index(&agent).inspect(|&i| self.logout(now, i));
                self.drain_acd(sip, now);
                let _ = reply.send(r.map(|i| self.agent_view(now, i, sip)));
            }
            ApiRequest::AgentPause {
                agent,
                reason,
                reply,
            } => {
                let r = self.agent_index(&agent).and_then(|i| {
                    let id = self.agents[i].id;
                    self.acd
                        .handle_event(acd_now, acd::Event::AgentPause(id, reason))
                        .map_err(|e| ApiError {
                            status: 409,
                            error: e.to_string(),
                        })?;
                    Ok(i)
                });
                self.drain_acd(sip, now);
                let _ = reply.send(r.map(|i| self.agent_view(now, i, sip)));
            }
            ApiRequest::AgentUnpause { agent, reply } => {
                let r = self.agent_index(&agent).and_then(|i| {
                    let id = self.agents[i].id;
                    self.acd
                        .handle_event(acd_now, acd::Event::AgentUnpause(id))
                        .map_err(|e| ApiError {
                            status: 409,
                            error: e.to_string(),
                        })?;
                    Ok(i)
                });
                self.drain_acd(sip, now);
                let _ = reply.send(r.map(|i| self.agent_view(now, i, sip)));
            }
            ApiRequest::ListQueues(reply) => {
                let mut ids: Vec<acd::QueueId> = self.queue_names.keys().copied().collect();
                ids.sort();
                let v = ids
                    .into_iter()
                    .filter_map(|q| self.queue_view(now, q))
                    .collect();
                let _ = reply.send(Ok(v));
            }
            ApiRequest::Queue(name, reply) => {
                let r = self
                    .acd
                    .queue_id(&name)
                    .and_then(|q| self.queue_view(now, q))
                    .ok_or_else(|| not_found("such queue"));
                let _ = reply.send(r);
            }
            ApiRequest::ListTrunks(reply) => {
                let mut v: Vec<_> = self
                    .trunks
                    .values()
                    .map(|t| super::trunks::trunk_view(t.status(), now))
                    .collect();
                v.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(Ok(v));
            }
            ApiRequest::Trunk(name, reply) => {
                let r = self
                    .trunks
                    .get(&name)
                    .map(|t| super::trunks::trunk_view(t.status(), now))
                    .ok_or_else(|| not_found("such outbound trunk"));
                let _ = reply.send(r);
            }
            ApiRequest::ListCalls(reply) => {
                let mut v: Vec<CallView> = self.calls.values().map(|c| self.call_view(c)).collect();
                v.sort_by_key(|c| c.start_ms);
                let _ = reply.send(Ok(v));
            }
            ApiRequest::HangupCall { call, reply } => {
                let id = self.calls.values().find(|c| c.name == call).map(|c| c.id);
                match id {
                    Some(id) => {
                        let view = self.call_view(&self.calls[&id]);
                        self.hangup(sip, now, id, "system", "api");
                        let _ = reply.send(Ok(view));
                    }
                    None => {
                        let _ = reply.send(Err(not_found("such call")));
                    }
                }
            }
            ApiRequest::Health(reply) => {
                let _ = reply.send(Ok(crate::api::HealthView {
                    status: if self.draining { "draining" } else { "ok" },
                    active_calls: self.calls.len(),
                    rtp_ports_in_use: self.media.ports_in_use(),
                    agents_logged_in: self.agents.iter().filter(|a| a.device.is_some()).count(),
                    media: self.media.counters(),
                    calls_ended: self.ended.clone(),
                }));
            }
            ApiRequest::Reload(reply) => {
                let r = self.reload(sip, now);
                let _ = reply.send(r);
            }
        }
    }

    /// Recompiles every trunk's dialplan; calls in progress keep the version they
    /// started with.
    pub(crate) fn reload_dialplans(&mut self) -> Result<crate::api::ReloadView, ApiError> {
        let mut done = Vec::new();
        let known = self.config.known();
        for t in &self.config.trunks {
            let Some(ib) = &t.inbound else { continue };
            let Some(slot) = self.dialplans.get_mut(&t.name) else {
                continue;
            };
            let source = std::fs::read_to_string(&ib.dialplan).map_err(|e| ApiError {
                status: 500,
                error: format!("reading {}: {e}", ib.dialplan.display()),
            })?;
            let base = ib.dialplan.parent().unwrap_or(Path::new("."));
            let exists = |p: &Path| p.is_file();
            let env = ivr::Env {
                base_dir: base,
                prompt_exists: Some(&exists),
                known: Some(&known),
            };
            slot.reload(&ib.dialplan.display().to_string(), &source, &env)
                .map_err(|d| ApiError {
                    status: 422,
                    error: d.to_string(),
                })?;
            tracing::info!(trunk = t.name, file = %ib.dialplan.display(), "dialplan reloaded");
            done.push(ib.dialplan.display().to_string());
        }
        Ok(crate::api::ReloadView { dialplans: done })
    }
}
