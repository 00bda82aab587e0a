//! `GET /api/v1/events`: the WebSocket event stream. Each [`ApiEvent`] goes out as one JSON
//! text message. A client too slow to keep up loses the oldest events and is told how many
//! with `{"type":"lagged","missed":N}`; the stream then goes on. Pings are answered by the
//! WebSocket layer; the server pings too, and drops a client that stays silent (no pong)
//! or stops taking messages. Optional filters: `?types=call_offered,agent_state` and `?agent=ID`
//! (only that agent's events, and the end of calls offered to it).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::{ApiError, ApiEvent, Shared};

/// How event streams are kept alive and how long the server waits on a client.
#[derive(Debug, Clone, Copy)]
pub(super) struct Keepalive {
    /// The server pings every client this often.
    pub(super) ping_every: Duration,
    /// A client that sent nothing (not even a pong) for this long is dropped: its
    /// connection is probably gone (a laptop put to sleep, a dropped network).
    pub(super) idle_limit: Duration,
    /// A client that does not take a message within this long is dropped.
    pub(super) send_timeout: Duration,
}

/// The daemon's keep-alive: proxies commonly close connections idle for 60 s.
pub(super) const KEEPALIVE: Keepalive = Keepalive {
    ping_every: Duration::from_secs(30),
    idle_limit: Duration::from_secs(75),
    send_timeout: Duration::from_secs(30),
};

/// The stream's query string (the key, `api_key`, is checked before).
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventParams {
    /// Comma-separated event types to send; all when absent.
    types: Option<String>,
    /// Only events about this agent.
    agent: Option<String>,
}

/// Upgrades to a WebSocket and streams events. The subscription starts before the upgrade
/// answer, so a client that got its 101 misses nothing sent after.
pub(super) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(err) => {
            return ApiError::new(err.status().as_u16(), err.body_text()).into_response();
        }
    };
    let params = match params {
        Ok(Query(params)) => params,
        Err(err) => return ApiError::bad_request(err.body_text()).into_response(),
    };
    let filter = match Filter::new(params) {
        Ok(filter) => filter,
        Err(err) => return err.into_response(),
    };
    let Ok(permit) = shared.streams.clone().try_acquire_owned() else {
        return ApiError::unavailable("too many event stream clients").into_response();
    };
    let events = shared.events.subscribe();
    let stopping = shared.stopping.clone();
    let keepalive = shared.keepalive;
    ws.on_upgrade(move |socket| async move {
        stream(socket, events, stopping, filter, keepalive).await;
        drop(permit);
    })
}

/// Which events a client wants.
#[derive(Debug, Default)]
struct Filter {
    types: Option<HashSet<String>>,
    agent: Option<String>,
    /// Calls offered to `agent`, whose end it is sent.
    calls: HashSet<String>,
}

/// Every event type, as in the `type` field.
const TYPES: &[&str] = &[
    "call_started",
    "call_offered",
    "call_connected",
    "call_ended",
    "agent_state",
    "queue_changed",
    "gateway_health",
    "trunk_registration",
];

impl Filter {
    fn new(params: EventParams) -> Result<Filter, ApiError> {
        let types = match params.types {
            None => None,
            Some(list) => {
                let mut types = HashSet::new();
                for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !TYPES.contains(&t) {
                        return Err(ApiError::bad_request(format!(
                            "types: unknown event type {t:?} (known: {})",
                            TYPES.join(", ")
                        )));
                    }
                    types.insert(t.to_owned());
                }
                Some(types)
            }
        };
        Ok(Filter {
            types,
            agent: params.agent,
            calls: HashSet::new(),
        })
    }

    /// Whether to send `event` (and keeps track of the agent's calls).
    fn wants(&mut self, event: &ApiEvent) -> bool {
        if let Some(types) = &self.types
            && !types.contains(event_type(event))
        {
            return false;
        }
        let Some(agent) = &self.agent else {
            return true;
        };
        match event {
            ApiEvent::CallOffered { call, agent: a, .. }
            | ApiEvent::CallConnected { call, agent: a, .. } => {
                if a == agent {
                    self.calls.insert(call.clone());
                    true
                } else {
                    false
                }
            }
            ApiEvent::AgentState { agent: a, .. } => a == agent,
            ApiEvent::CallEnded { call, .. } => self.calls.remove(call),
            ApiEvent::CallStarted { .. }
            | ApiEvent::QueueChanged { .. }
            | ApiEvent::GatewayHealth { .. }
            | ApiEvent::TrunkRegistration { .. } => false,
        }
    }
}

/// The `type` field of an event.
fn event_type(event: &ApiEvent) -> &'static str {
    match event {
        ApiEvent::CallStarted { .. } => "call_started",
        ApiEvent::CallOffered { .. } => "call_offered",
        ApiEvent::CallConnected { .. } => "call_connected",
        ApiEvent::CallEnded { .. } => "call_ended",
        ApiEvent::AgentState { .. } => "agent_state",
        ApiEvent::QueueChanged { .. } => "queue_changed",
        ApiEvent::GatewayHealth { .. } => "gateway_health",
        ApiEvent::TrunkRegistration { .. } => "trunk_registration",
    }
}

/// Relays events to one client until it leaves, the events end or the server stops.
async fn stream(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<ApiEvent>,
    mut stopping: watch::Receiver<bool>,
    mut filter: Filter,
    keepalive: Keepalive,
) {
    let mut ping =
        tokio::time::interval_at(Instant::now() + keepalive.ping_every, keepalive.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        let message = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if !filter.wants(&event) {
                        continue;
                    }
                    match serde_json::to_string(&event) {
                        Ok(text) => Message::Text(text.into()),
                        Err(err) => {
                            tracing::error!("encoding an API event: {err}");
                            continue;
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!("an event stream client lagged by {missed} events");
                    let text = serde_json::json!({ "type": "lagged", "missed": missed });
                    Message::Text(text.to_string().into())
                }
                Err(RecvError::Closed) => {
                    close(&mut socket, "the server is stopping", keepalive).await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                // Pings are answered below us; what clients send is not used, but shows
                // they are there.
                Some(Ok(_)) => {
                    last_heard = Instant::now();
                    continue;
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() >= keepalive.idle_limit {
                    tracing::debug!("dropping an event stream client that stopped answering");
                    return;
                }
                Message::Ping(axum::body::Bytes::new())
            },
            () = stopped(&mut stopping) => {
                close(&mut socket, "the server is stopping", keepalive).await;
                return;
            }
        };
        match tokio::time::timeout(keepalive.send_timeout, socket.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::debug!("dropping an event stream client that stopped reading");
                return;
            }
        }
    }
}

/// Resolves when the server stops (or is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Says goodbye with 1001 (going away), waiting on the client no longer than for a message.
async fn close(socket: &mut WebSocket, reason: &'static str, keepalive: Keepalive) {
    let frame = CloseFrame {
        code: close_code::AWAY,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(
        keepalive.send_timeout,
        socket.send(Message::Close(Some(frame))),
    )
    .await;
}
