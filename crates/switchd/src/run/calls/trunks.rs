//! Outbound trunks in call control: their REGISTER and OPTIONS transactions, and calls
//! placed through their gateways with failover.

use std::time::Instant;

use switchyard_sip::Response;
use switchyard_sip::transaction::TsxKey;
use switchyard_sip::transport::{Source, Transport};

use super::legs::Sip;
use super::*;
use crate::api::{GatewayView, RegistrationView, TrunkView};
use crate::run::trunk::{
    CallEvent, HealthEvent, RegistrationEvent, RegistrationState, TrunkEvent, TrunkStatus,
};

/// What the API shows of a trunk at `now` (instants become seconds from now).
pub(super) fn trunk_view(status: TrunkStatus, now: Instant) -> TrunkView {
    let secs = |t: Instant| t.saturating_duration_since(now).as_secs();
    TrunkView {
        name: status.name,
        gateways: status
            .gateways
            .into_iter()
            .map(|g| GatewayView {
                uri: g.uri,
                address: g.address.to_string(),
                up: g.up,
                misses: g.misses,
            })
            .collect(),
        registration: status.registration.map(|r| match r {
            RegistrationState::Registering => RegistrationView {
                state: "registering",
                gateway: None,
                expires_in_s: None,
                last_status: None,
                failures: 0,
                retry_in_s: None,
            },
            RegistrationState::Registered { gateway, expires } => RegistrationView {
                state: "registered",
                gateway: Some(gateway.to_string()),
                expires_in_s: Some(secs(expires)),
                last_status: None,
                failures: 0,
                retry_in_s: None,
            },
            RegistrationState::Failing {
                status,
                failures,
                retry_at,
                registered_until,
            } => RegistrationView {
                state: "failing",
                gateway: None,
                expires_in_s: registered_until.map(secs),
                last_status: status,
                failures,
                retry_in_s: Some(secs(retry_at)),
            },
        }),
    }
}

impl Calls {
    fn trunk_source(&self, gateway: SocketAddr) -> Source {
        Source {
            transport: Transport::Udp,
            remote: gateway,
            local: self.sip_local.unwrap_or(gateway),
            conn: None,
        }
    }

    /// Sends what the trunks want sent and logs what they report.
    pub(super) fn pump_trunks(&mut self, sip: &mut Sip<'_>, now: Instant) {
        let names: Vec<String> = self.trunks.keys().cloned().collect();
        for name in names {
            while let Some(out) = self.trunks.get_mut(&name).and_then(|t| t.poll_request()) {
                let source = self.trunk_source(out.destination);
                if let Some(key) = sip.send_request(now, out.request, source) {
                    self.trunk_keys.insert(key, name.clone());
                }
            }
            let Some(trunk) = self.trunks.get_mut(&name) else {
                continue;
            };
            let mut events = Vec::new();
            while let Some(ev) = trunk.poll_event() {
                match ev {
                    TrunkEvent::Health(h) => {
                        tracing::info!(trunk = name, "gateway health: {h:?}");
                        let (address, up) = match h {
                            HealthEvent::Down { address } => (address, false),
                            HealthEvent::Up { address } => (address, true),
                        };
                        events.push(ApiEvent::GatewayHealth {
                            trunk: name.clone(),
                            gateway: address.to_string(),
                            up,
                        });
                    }
                    TrunkEvent::Registration(r) => {
                        tracing::info!(trunk = name, "trunk registration: {r:?}");
                        events.push(match r {
                            RegistrationEvent::Registered { gateway, .. } => {
                                ApiEvent::TrunkRegistration {
                                    trunk: name.clone(),
                                    state: "registered",
                                    gateway: Some(gateway.to_string()),
                                    status: None,
                                }
                            }
                            RegistrationEvent::Failed { status, .. } => {
                                ApiEvent::TrunkRegistration {
                                    trunk: name.clone(),
                                    state: "failing",
                                    gateway: None,
                                    status,
                                }
                            }
                        });
                    }
                }
            }
            for ev in events {
                self.emit(ev);
            }
        }
    }

    pub(super) fn trunks_timeout(&mut self, sip: &mut Sip<'_>, now: Instant) {
        for t in self.trunks.values_mut() {
            if t.poll_timeout().is_some_and(|d| d <= now) {
                t.handle_timeout(now);
            }
        }
        self.pump_trunks(sip, now);
    }

    /// A response for a trunk's own REGISTER or OPTIONS; false when it is not one.
    pub(super) fn trunk_response(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        key: &TsxKey,
        resp: &Response,
    ) -> bool {
        let Some(name) = self.trunk_keys.get(key).cloned() else {
            return false;
        };
        if resp.status >= 200 {
            self.trunk_keys.remove(key);
        }
        if let Some(t) = self.trunks.get_mut(&name) {
            t.handle_response(now, resp);
        }
        self.pump_trunks(sip, now);
        true
    }

    pub(super) fn trunk_failure(&mut self, sip: &mut Sip<'_>, now: Instant, key: &TsxKey) -> bool {
        let Some(name) = self.trunk_keys.remove(key) else {
            return false;
        };
        if let Some(t) = self.trunks.get_mut(&name) {
            t.handle_tsx_failure(now, key);
        }
        self.pump_trunks(sip, now);
        true
    }

    /// Places the call's outbound leg (built, not sent) through `trunk`.
    pub(super) fn place_via_trunk(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        trunk: &str,
        mut leg: Leg,
    ) -> bool {
        let Some(t) = self.trunks.get_mut(trunk) else {
            self.media.close(leg.media);
            return false;
        };
        let mut template = leg.invite.clone();
        template.headers.remove("Via");
        let oc = t.call(now, template);
        self.by_media.insert(leg.media, (id, Side::Outbound));
        leg.answered = false;
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        call.outbound = Some(leg);
        call.trunk_call = Some(oc);
        call.phase = Phase::Outbound;
        self.pump_outbound(sip, now, id);
        true
    }

    /// Carries out what the call's gateway attempts ask for.
    pub(super) fn pump_outbound(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        loop {
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            let Some(oc) = call.trunk_call.as_mut() else {
                return;
            };
            let Some(ev) = oc.poll_event() else {
                break;
            };
            match ev {
                CallEvent::Send(attempt) => {
                    let source = self.trunk_source(attempt.gateway);
                    tracing::info!(call = id, gateway = %attempt.gateway, "trying gateway");
                    if let Some(key) = sip.send_request(now, attempt.request, source) {
                        self.by_client.insert(key, ClientPurpose::Outbound(id));
                    }
                }
                CallEvent::Cancel { key, .. } => {
                    let _ = sip.layer.cancel(now, &key);
                }
                CallEvent::Provisional { response, .. } => {
                    if response.status > 100 {
                        self.caller_ringing(sip, now, id);
                    }
                }
                CallEvent::Connected { attempt, response } => {
                    let Some((invite, gateway)) = oc.invite(attempt).map(|(r, g)| (r.clone(), g))
                    else {
                        continue;
                    };
                    let Ok(key) = TsxKey::for_request(&invite) else {
                        continue;
                    };
                    if let Some(leg) = call.outbound.as_mut() {
                        leg.invite = invite;
                        leg.invite_key = key.clone();
                        leg.peer = Source {
                            remote: gateway,
                            ..leg.peer
                        };
                    }
                    self.outbound_connected(sip, now, &key, id, &response);
                }
                CallEvent::Failed { status } => {
                    call.trunk_call = None;
                    self.outbound_failed(sip, now, id, status);
                    return;
                }
                CallEvent::Surplus2xx {
                    attempt,
                    key,
                    response,
                } => {
                    let Some((invite, gateway)) = oc.invite(attempt).map(|(r, g)| (r.clone(), g))
                    else {
                        continue;
                    };
                    let mut leg = control::placeholder_leg(&invite, &key);
                    leg.peer = self.trunk_source(gateway);
                    leg.media = u64::MAX;
                    self.ack_and_bye(sip, now, &key, leg, &response);
                }
            }
        }
        self.reschedule(id);
    }

    /// A response to one of the call's gateway attempts.
    pub(super) fn trunk_call_response(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        resp: &Response,
    ) -> bool {
        let Some(oc) = self.calls.get_mut(&id).and_then(|c| c.trunk_call.as_mut()) else {
            return false;
        };
        oc.handle_response(now, resp);
        self.pump_outbound(sip, now, id);
        true
    }

    pub(super) fn trunk_call_failure(
        &mut self,
        sip: &mut Sip<'_>,
        now: Instant,
        id: u64,
        key: &TsxKey,
    ) -> bool {
        let Some(oc) = self.calls.get_mut(&id).and_then(|c| c.trunk_call.as_mut()) else {
            return false;
        };
        oc.handle_tsx_failure(now, key);
        self.pump_outbound(sip, now, id);
        true
    }

    pub(super) fn trunk_call_timeout(&mut self, sip: &mut Sip<'_>, now: Instant, id: u64) {
        let Some(oc) = self.calls.get_mut(&id).and_then(|c| c.trunk_call.as_mut()) else {
            return;
        };
        if oc.poll_timeout().is_some_and(|t| t <= now) {
            oc.handle_timeout(now);
            self.pump_outbound(sip, now, id);
        }
    }
}
