//! The API served on 127.0.0.1:0 with a fake call control loop and stub records.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::{self, Message, stream::MaybeTlsStream};

use super::routes::{ROUTES, parse_time};
use super::*;
use crate::store::{Cdr, CdrQuery, QueueLogRow, Voicemail};

const KEY: &str = "test-key-0123456789";

/// Stub storage: fixed records, and the last CDR query it was asked.
#[derive(Default)]
struct Stub {
    cdrs: Vec<Cdr>,
    voicemails: Vec<Voicemail>,
    last_query: Arc<Mutex<Option<CdrQuery>>>,
}

impl Records for Stub {
    fn cdrs(&self, query: &CdrQuery) -> anyhow::Result<Vec<Cdr>> {
        *self.last_query.lock().unwrap() = Some(query.clone());
        Ok(self.cdrs.clone())
    }

    fn cdr(&self, id: &str) -> anyhow::Result<Option<Cdr>> {
        Ok(self.cdrs.iter().find(|c| c.id == id).cloned())
    }

    fn queue_log(&self, call: Option<&str>, limit: u32) -> anyhow::Result<Vec<QueueLogRow>> {
        let row = QueueLogRow {
            time_ms: 1,
            call: call.map(str::to_owned),
            queue: Some("sales".into()),
            agent: None,
            event: "enter".into(),
            data: json!({ "limit": limit }),
        };
        Ok(vec![row])
    }

    fn voicemails(&self, mailbox: Option<&str>) -> anyhow::Result<Vec<Voicemail>> {
        Ok(self
            .voicemails
            .iter()
            .filter(|v| mailbox.is_none_or(|m| v.mailbox == m))
            .cloned()
            .collect())
    }

    fn voicemail(&self, id: &str) -> anyhow::Result<Option<Voicemail>> {
        Ok(self.voicemails.iter().find(|v| v.id == id).cloned())
    }
}

fn agent_view(id: &str) -> AgentView {
    AgentView {
        id: id.into(),
        name: format!("Agent {id}"),
        state: "logged_out".into(),
        pause_reason: None,
        device: None,
        device_registered: false,
        on_phone_call: false,
        skills: vec![SkillLevel {
            skill: "sales".into(),
            level: 5,
        }],
        call: None,
        calls_answered: 0,
    }
}

fn no_agent(id: &str) -> ApiError {
    ApiError::not_found(format!("no agent {id}"))
}

/// A call control loop that keeps agents 1001 and 1002, a queue `sales` and a call `c1`.
async fn fake_control(mut requests: mpsc::Receiver<ApiRequest>) {
    let mut agents: BTreeMap<String, AgentView> = ["1001", "1002"]
        .into_iter()
        .map(|id| (id.to_owned(), agent_view(id)))
        .collect();
    while let Some(request) = requests.recv().await {
        match request {
            ApiRequest::ListAgents(reply) => {
                let _ = reply.send(Ok(agents.values().cloned().collect()));
            }
            ApiRequest::Agent(id, reply) => {
                let _ = reply.send(agents.get(&id).cloned().ok_or_else(|| no_agent(&id)));
            }
            ApiRequest::AgentLogin {
                agent,
                device,
                reply,
            } => {
                let answer = match agents.get_mut(&agent) {
                    None => Err(no_agent(&agent)),
                    Some(a) if a.state != "logged_out" => {
                        Err(ApiError::conflict(format!("agent {agent} is logged in")))
                    }
                    Some(a) => {
                        a.state = "available".into();
                        a.device = Some(device.unwrap_or_else(|| agent.clone()));
                        a.device_registered = true;
                        Ok(a.clone())
                    }
                };
                let _ = reply.send(answer);
            }
            ApiRequest::AgentLogout { agent, reply } => {
                let answer = agents
                    .get_mut(&agent)
                    .ok_or_else(|| no_agent(&agent))
                    .map(|a| {
                        a.state = "logged_out".into();
                        a.device = None;
                        a.clone()
                    });
                let _ = reply.send(answer);
            }
            ApiRequest::AgentPause {
                agent,
                reason,
                reply,
            } => {
                let answer = agents
                    .get_mut(&agent)
                    .ok_or_else(|| no_agent(&agent))
                    .map(|a| {
                        a.state = "paused".into();
                        a.pause_reason = Some(reason);
                        a.clone()
                    });
                let _ = reply.send(answer);
            }
            ApiRequest::AgentUnpause { agent, reply } => {
                let answer = agents
                    .get_mut(&agent)
                    .ok_or_else(|| no_agent(&agent))
                    .map(|a| {
                        a.state = "available".into();
                        a.pause_reason = None;
                        a.clone()
                    });
                let _ = reply.send(answer);
            }
            ApiRequest::ListQueues(reply) => {
                let _ = reply.send(Ok(vec![queue_view()]));
            }
            ApiRequest::Queue(name, reply) => {
                let answer = if name == "sales" {
                    Ok(queue_view())
                } else {
                    Err(ApiError::not_found(format!("no queue {name}")))
                };
                let _ = reply.send(answer);
            }
            ApiRequest::ListCalls(reply) => {
                let _ = reply.send(Ok(vec![call_view("connected")]));
            }
            ApiRequest::HangupCall { call, reply } => {
                let answer = if call == "c1" {
                    Ok(call_view("ending"))
                } else {
                    Err(ApiError::not_found(format!("no call {call}")))
                };
                let _ = reply.send(answer);
            }
            ApiRequest::ListTrunks(reply) => {
                let _ = reply.send(Ok(vec![trunk_view()]));
            }
            ApiRequest::Trunk(name, reply) => {
                let answer = if name == "carrier" {
                    Ok(trunk_view())
                } else {
                    Err(ApiError::not_found(format!("no outbound trunk {name}")))
                };
                let _ = reply.send(answer);
            }
            ApiRequest::Health(reply) => {
                let _ = reply.send(Ok(crate::api::HealthView {
                    status: "ok",
                    active_calls: 0,
                    rtp_ports_in_use: 0,
                    agents_logged_in: agents.len(),
                    media: crate::api::MediaView::default(),
                    calls_ended: [("answered", 7), ("abandoned", 2)].into(),
                }));
            }
            ApiRequest::Reload(reply) => {
                let _ = reply.send(Ok(ReloadView {
                    dialplans: vec!["default".into()],
                }));
            }
        }
    }
}

fn trunk_view() -> crate::api::TrunkView {
    crate::api::TrunkView {
        name: "carrier".into(),
        gateways: vec![crate::api::GatewayView {
            uri: "sip:127.0.0.1:5070".into(),
            address: "127.0.0.1:5070".into(),
            up: true,
            misses: 0,
        }],
        registration: None,
    }
}

fn queue_view() -> QueueView {
    QueueView {
        name: "sales".into(),
        waiting: vec![WaitingCall {
            call: "c2".into(),
            caller: "+8613800000000".into(),
            position: 1,
            waited_s: 12.5,
            priority: 0,
        }],
        agents: AgentCounts {
            available: 1,
            ..AgentCounts::default()
        },
        today: QueueToday::default(),
    }
}

fn call_view(state: &str) -> CallView {
    CallView {
        id: "c1".into(),
        caller: "+8613800000000".into(),
        did: "+861058000000".into(),
        trunk: "carrier".into(),
        state: state.into(),
        queue: Some("sales".into()),
        agent: Some("1001".into()),
        start_ms: 1_000,
        answer_ms: Some(2_000),
    }
}

/// A running API with its event sender and shutdown trigger.
struct Api {
    addr: SocketAddr,
    events: broadcast::Sender<ApiEvent>,
    stop: Option<oneshot::Sender<()>>,
    http: reqwest::Client,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("X-API-Key", KEY)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    fn stop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
    }
}

/// Options for [`start`].
struct Setup {
    records: Stub,
    reply_timeout: Duration,
    max_streams: usize,
    keepalive: events::Keepalive,
    event_capacity: usize,
    /// The control loop; `None`: [`fake_control`].
    control: Option<Box<dyn FnOnce(mpsc::Receiver<ApiRequest>) + Send>>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            records: Stub::default(),
            reply_timeout: REPLY_TIMEOUT,
            max_streams: MAX_STREAMS,
            keepalive: events::KEEPALIVE,
            event_capacity: 64,
            control: None,
        }
    }
}

async fn start_api(setup: Setup) -> Api {
    let (control_tx, control_rx) = mpsc::channel(16);
    match setup.control {
        Some(control) => control(control_rx),
        None => {
            tokio::spawn(fake_control(control_rx));
        }
    }
    let (events, _) = broadcast::channel(setup.event_capacity);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = start(
        listener,
        Server {
            api_key: KEY.into(),
            control: control_tx,
            events: events.clone(),
            records: Arc::new(setup.records),
            reply_timeout: setup.reply_timeout,
            max_streams: setup.max_streams,
            keepalive: setup.keepalive,
        },
        async move {
            let _ = stop_rx.await;
        },
    )
    .unwrap();
    Api {
        addr,
        events,
        stop: Some(stop_tx),
        http: reqwest::Client::new(),
    }
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_key() {
    let api = start_api(Setup::default()).await;
    let mut paths: Vec<(Method, &str)> = ROUTES.to_vec();
    paths.push((Method::GET, "/api/v1/no-such-route"));
    paths.push((Method::GET, "/"));
    for (method, path) in paths {
        let attempts = [
            ("none", None),
            ("bearer", Some(("authorization", "Bearer wrong-key"))),
            ("x-api-key", Some(("x-api-key", "wrong-key"))),
            ("prefix", Some(("x-api-key", &KEY[..KEY.len() - 1]))),
            ("longer", Some(("x-api-key", &format!("{KEY}x")[..]))),
            (
                "basic",
                Some(("authorization", &format!("Basic {KEY}")[..])),
            ),
        ];
        for (what, header) in attempts {
            let mut request = api.http.request(method.clone(), api.url(path));
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 401, "{method} {path} ({what})");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["error"].is_string(),
                "{method} {path} ({what}): {body}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_from_the_control_loops_views() {
    let api = start_api(Setup::default()).await;
    let response = api
        .http
        .get(api.url("/metrics"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    // The fake loop: call c1 connected, c2 waiting 12.5 s in sales, agents 1001 and 1002
    // logged out, the carrier's gateway up.
    for want in [
        "switchyard_up 1",
        "switchyard_calls{state=\"connected\"} 1",
        "switchyard_calls_ended_total{disposition=\"answered\"} 7",
        "switchyard_calls_ended_total{disposition=\"abandoned\"} 2",
        "switchyard_agents{state=\"logged_out\"} 2",
        "switchyard_queue_waiting{queue=\"sales\"} 1",
        "switchyard_queue_longest_wait_seconds{queue=\"sales\"} 12.5",
        "switchyard_queue_agents{queue=\"sales\",state=\"available\"} 1",
        "switchyard_gateway_up{trunk=\"carrier\",gateway=\"sip:127.0.0.1:5070\"} 1",
    ] {
        assert!(text.lines().any(|l| l == want), "no `{want}` in\n{text}");
    }
}

#[tokio::test]
async fn every_listed_route_exists_behind_the_key() {
    let mut setup = Setup::default();
    setup
        .records
        .voicemails
        .push(voicemail("vm1", "/nonexistent/vm1.wav"));
    let api = start_api(setup).await;
    for (method, path) in ROUTES {
        let response = api
            .http
            .request(method.clone(), api.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(
            !matches!(status, 401 | 405) && !body.contains("no such route"),
            "{method} {path}: {status} {body}"
        );
    }
}

#[tokio::test]
async fn keys_are_taken_from_headers_and_from_the_event_streams_query_string() {
    let api = start_api(Setup::default()).await;
    let status = api
        .http
        .get(api.url(&format!("/api/v1/agents?api_key={KEY}")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let status = api
        .http
        .get(api.url("/api/v1/health"))
        .header("authorization", "Basic cHJveHk6cHJveHk=")
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "X-API-Key beside another Authorization scheme");
    let url = format!("ws://{}/api/v1/events?api_key={KEY}", api.addr);
    let ws = tokio::task::spawn_blocking(move || tungstenite::connect(url).map(|_| ()))
        .await
        .unwrap();
    assert!(ws.is_ok(), "{ws:?}");
    let url = format!("ws://{}/api/v1/events?api_key=wrong", api.addr);
    let ws = tokio::task::spawn_blocking(move || tungstenite::connect(url).map(|_| ()))
        .await
        .unwrap();
    match ws {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn agents_log_in_pause_unpause_and_log_out_through_call_control() {
    let api = start_api(Setup::default()).await;
    let (status, list) = api.get("/api/v1/agents").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], "1001");
    assert_eq!(
        list[0]["skills"][0],
        json!({ "skill": "sales", "level": 5 })
    );

    let (status, agent) = api
        .post("/api/v1/agents/1001/login", r#"{"device":"1002"}"#)
        .await;
    assert_eq!((status, &agent["state"]), (200, &json!("available")));
    assert_eq!(agent["device"], "1002");
    let (status, agent) = api.post("/api/v1/agents/1002/login", "").await;
    assert_eq!((status, &agent["device"]), (200, &json!("1002")));
    let (status, error) = api.post("/api/v1/agents/1002/login", "").await;
    assert_eq!(status, 409, "{error}");

    let (status, agent) = api
        .post("/api/v1/agents/1001/pause", r#"{"reason":"lunch"}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(agent["state"], "paused");
    assert_eq!(agent["pause_reason"], "lunch");
    let (_, agent) = api.get("/api/v1/agents/1001").await;
    assert_eq!(agent["state"], "paused");

    let (status, agent) = api.post("/api/v1/agents/1001/unpause", "").await;
    assert_eq!((status, &agent["state"]), (200, &json!("available")));
    assert_eq!(agent["pause_reason"], Value::Null);
    let (status, agent) = api.post("/api/v1/agents/1001/logout", "").await;
    assert_eq!((status, &agent["state"]), (200, &json!("logged_out")));
}

#[tokio::test]
async fn errors_carry_their_status_and_a_json_message() {
    let api = start_api(Setup::default()).await;
    let (status, body) = api.get("/api/v1/agents/9999").await;
    assert_eq!((status, body), (404, json!({ "error": "no agent 9999" })));
    let (status, body) = api.get("/api/v1/queues/nope").await;
    assert_eq!((status, body), (404, json!({ "error": "no queue nope" })));
    let (status, _) = api.get("/api/v1/queues/sales").await;
    assert_eq!(status, 200);
    let response = api
        .http
        .delete(api.url("/api/v1/calls/c9"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let (status, body) = api.get("/api/v1/no-such-route").await;
    assert_eq!((status, body), (404, json!({ "error": "no such route" })));
    let (status, body) = api.post("/api/v1/agents/1001/pause", "{not json").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("body:"),
        "{body}"
    );
    let (status, _) = api
        .post("/api/v1/agents/1001/login", r#"{"devise":"1"}"#)
        .await;
    assert_eq!(status, 400);
    let (status, body) = api.get("/api/v1/cdrs?since=yesterday").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("since"), "{body}");
    let (status, _) = api.get("/api/v1/cdrs?limit=-3").await;
    assert_eq!(status, 400);
    let (status, body) = api.get("/api/v1/agents/%FF").await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = api.get("/api/v1/events").await;
    assert!((400..500).contains(&status), "{status}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = api.get("/api/v1/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["rtp_ports_in_use"], 0, "{body}");
}

#[tokio::test]
async fn hanging_up_and_reloading_answer_with_call_controls_views() {
    let api = start_api(Setup::default()).await;
    let response = api
        .http
        .delete(api.url("/api/v1/calls/c1"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let call: Value = response.json().await.unwrap();
    assert_eq!(
        (&call["id"], &call["state"]),
        (&json!("c1"), &json!("ending"))
    );
    let (status, calls) = api.get("/api/v1/calls").await;
    assert_eq!((status, &calls[0]["did"]), (200, &json!("+861058000000")));
    let (status, reload) = api.post("/api/v1/reload", "").await;
    assert_eq!((status, reload), (200, json!({ "dialplans": ["default"] })));
}

#[tokio::test]
async fn call_control_that_does_not_answer_in_time_gives_503() {
    let (keep_tx, mut keep_rx) = mpsc::unbounded_channel();
    let setup = Setup {
        reply_timeout: Duration::from_millis(100),
        control: Some(Box::new(move |mut requests: mpsc::Receiver<ApiRequest>| {
            tokio::spawn(async move {
                // Holds every request (and its reply sender) without answering.
                while let Some(request) = requests.recv().await {
                    let _ = keep_tx.send(request);
                }
            });
        })),
        ..Setup::default()
    };
    let api = start_api(setup).await;
    let (status, body) = api.get("/api/v1/agents").await;
    assert_eq!(status, 503);
    assert!(
        body["error"].as_str().unwrap().contains("in time"),
        "{body}"
    );
    assert!(matches!(
        keep_rx.recv().await,
        Some(ApiRequest::ListAgents(_))
    ));
}

#[tokio::test]
async fn call_control_that_is_gone_gives_503() {
    let setup = Setup {
        control: Some(Box::new(drop)),
        ..Setup::default()
    };
    let api = start_api(setup).await;
    let (status, body) = api.get("/api/v1/queues").await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = api.get("/api/v1/health").await;
    assert_eq!((status, body), (503, json!({ "status": "stopping" })));
}

type Client = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

/// Connects a blocking WebSocket client (run it off the runtime).
async fn connect_events(api: &Api, query: &str) -> Client {
    let url = format!("ws://{}/api/v1/events?api_key={KEY}{query}", api.addr);
    tokio::task::spawn_blocking(move || {
        let (client, _) = tungstenite::connect(url).unwrap();
        if let MaybeTlsStream::Plain(stream) = client.get_ref() {
            // Only so that a broken server fails the test instead of hanging it.
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
        }
        client
    })
    .await
    .unwrap()
}

/// Reads `n` text messages as JSON.
async fn read_events(mut client: Client, n: usize) -> (Client, Vec<Value>) {
    tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        while got.len() < n {
            match client.read().unwrap() {
                Message::Text(text) => got.push(serde_json::from_str(&text).unwrap()),
                other => panic!("unexpected message {other:?}"),
            }
        }
        (client, got)
    })
    .await
    .unwrap()
}

fn agent_state(agent: &str, state: &str) -> ApiEvent {
    ApiEvent::AgentState {
        agent: agent.into(),
        state: state.into(),
        reason: None,
        on_phone_call: false,
    }
}

fn offered(call: &str, agent: &str) -> ApiEvent {
    let mut variables = serde_json::Map::new();
    variables.insert("account".into(), json!("A-1001"));
    ApiEvent::CallOffered {
        call: call.into(),
        agent: agent.into(),
        device: agent.into(),
        caller: "+8613800000000".into(),
        caller_name: "Li Lei".into(),
        did: "+861058000000".into(),
        queue: "sales".into(),
        waited_s: 3.5,
        variables,
    }
}

#[tokio::test]
async fn the_event_stream_relays_events_in_order() {
    let api = start_api(Setup::default()).await;
    let client = connect_events(&api, "").await;
    api.events.send(offered("c1", "1001")).unwrap();
    for i in 0..20 {
        api.events
            .send(agent_state(&format!("{i}"), "available"))
            .unwrap();
    }
    let (_client, got) = read_events(client, 21).await;
    assert_eq!(got[0]["type"], "call_offered");
    assert_eq!(got[0]["caller"], "+8613800000000");
    assert_eq!(got[0]["variables"]["account"], "A-1001");
    for (i, event) in got[1..].iter().enumerate() {
        assert_eq!(
            event,
            &json!({ "type": "agent_state", "agent": format!("{i}"), "state": "available", "reason": null, "on_phone_call": false })
        );
    }
}

#[tokio::test]
async fn a_lagging_client_is_told_how_many_events_it_missed_and_continues() {
    let api = start_api(Setup {
        event_capacity: 4,
        ..Setup::default()
    })
    .await;
    let client = connect_events(&api, "").await;
    // The test runtime has one thread: the stream's task cannot run while these are sent.
    for i in 0..10 {
        api.events
            .send(agent_state(&format!("{i}"), "paused"))
            .unwrap();
    }
    let (client, got) = read_events(client, 5).await;
    assert_eq!(got[0], json!({ "type": "lagged", "missed": 6 }));
    let agents: Vec<&str> = got[1..]
        .iter()
        .map(|e| e["agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["6", "7", "8", "9"]);
    api.events.send(agent_state("10", "available")).unwrap();
    let (_client, got) = read_events(client, 1).await;
    assert_eq!(got[0]["agent"], "10");
}

#[tokio::test]
async fn the_event_stream_answers_pings() {
    let api = start_api(Setup::default()).await;
    let mut client = connect_events(&api, "").await;
    let reply = tokio::task::spawn_blocking(move || {
        client
            .send(Message::Ping(b"are you there".to_vec().into()))
            .unwrap();
        client.read().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(reply, Message::Pong(b"are you there".to_vec().into()));
}

#[tokio::test]
async fn the_server_pings_event_stream_clients() {
    let api = start_api(Setup {
        keepalive: events::Keepalive {
            ping_every: Duration::from_millis(10),
            idle_limit: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
        },
        ..Setup::default()
    })
    .await;
    let mut client = connect_events(&api, "").await;
    let client = tokio::task::spawn_blocking(move || {
        // Reading answers each ping with a pong, which keeps the client on.
        for _ in 0..5 {
            assert!(matches!(client.read().unwrap(), Message::Ping(_)));
        }
        client
    })
    .await
    .unwrap();
    api.events.send(agent_state("1001", "available")).unwrap();
    let (_client, got) = tokio::task::spawn_blocking(move || {
        let mut client = client;
        loop {
            match client.read().unwrap() {
                Message::Ping(_) => continue,
                Message::Text(text) => {
                    break (client, serde_json::from_str::<Value>(&text).unwrap());
                }
                other => panic!("unexpected message {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got["agent"], "1001");
}

#[tokio::test]
async fn a_client_that_never_answers_pings_is_dropped() {
    use std::io::{Read, Write};
    let api = start_api(Setup {
        keepalive: events::Keepalive {
            ping_every: Duration::from_millis(10),
            idle_limit: Duration::from_millis(50),
            send_timeout: Duration::from_secs(10),
        },
        ..Setup::default()
    })
    .await;
    let addr = api.addr;
    let received = tokio::task::spawn_blocking(move || {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            tcp,
            "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .unwrap();
        // Never answers; reads until the server hangs up.
        let mut received = Vec::new();
        tcp.read_to_end(&mut received).unwrap();
        received
    })
    .await
    .unwrap();
    assert!(received.starts_with(b"HTTP/1.1 101"));
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    // Server frames: a ping is 0x89 0x00 (FIN, opcode 9, empty).
    assert!(
        received[head_end..].starts_with(&[0x89, 0x00]),
        "{received:?}"
    );
}

#[tokio::test]
async fn the_event_stream_filters_by_agent_and_type() {
    let api = start_api(Setup::default()).await;
    let client = connect_events(&api, "&agent=1001").await;
    let typed = connect_events(&api, "&types=call_offered").await;
    let events = [
        ApiEvent::CallStarted {
            call: "c1".into(),
            caller: "+8613800000000".into(),
            did: "+861058000000".into(),
            trunk: "carrier".into(),
        },
        offered("c1", "1002"),
        offered("c2", "1001"),
        agent_state("1002", "on_call"),
        agent_state("1001", "on_call"),
        ApiEvent::CallEnded {
            call: "c1".into(),
            disposition: "answered".into(),
            hangup_by: "caller".into(),
        },
        ApiEvent::CallEnded {
            call: "c2".into(),
            disposition: "answered".into(),
            hangup_by: "agent".into(),
        },
    ];
    for event in events {
        api.events.send(event).unwrap();
    }
    let (_client, got) = read_events(client, 3).await;
    let seen: Vec<(&str, &str)> = got
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["call"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("call_offered", "c2"),
            ("agent_state", "-"),
            ("call_ended", "c2")
        ]
    );
    let (_typed, got) = read_events(typed, 2).await;
    assert_eq!(
        (&got[0]["call"], &got[1]["call"]),
        (&json!("c1"), &json!("c2"))
    );

    let response = api
        .http
        .get(api.url("/api/v1/events?types=call_rung"))
        .bearer_auth(KEY)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn event_streams_beyond_the_limit_get_503() {
    let api = start_api(Setup {
        max_streams: 1,
        ..Setup::default()
    })
    .await;
    let _first = connect_events(&api, "").await;
    let url = format!("ws://{}/api/v1/events?api_key={KEY}", api.addr);
    let second = tokio::task::spawn_blocking(move || tungstenite::connect(url).map(|_| ()))
        .await
        .unwrap();
    match second {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
}

#[tokio::test]
async fn stopping_the_server_closes_event_streams_and_the_listener() {
    let mut api = start_api(Setup::default()).await;
    let mut client = connect_events(&api, "").await;
    api.stop();
    let message = tokio::task::spawn_blocking(move || client.read().unwrap())
        .await
        .unwrap();
    match message {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    let mut refused = false;
    for _ in 0..200 {
        if api
            .http
            .get(api.url("/api/v1/health"))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the listener still accepts after shutdown");
}

fn voicemail(id: &str, path: &str) -> Voicemail {
    Voicemail {
        id: id.into(),
        mailbox: "general".into(),
        caller: "+8613800000000".into(),
        call: "c1".into(),
        time_ms: 1_700_000_000_000,
        duration_ms: 4_000,
        path: path.into(),
    }
}

#[tokio::test]
async fn voicemail_is_listed_and_its_audio_served_as_wav() {
    let dir = std::env::temp_dir().join(format!("switchyard-api-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav_path = dir.join("vm1.wav");
    let wav = b"RIFF\x24\x00\x00\x00WAVEfmt fake audio".to_vec();
    std::fs::write(&wav_path, &wav).unwrap();
    let mut setup = Setup::default();
    setup
        .records
        .voicemails
        .push(voicemail("vm1", wav_path.to_str().unwrap()));
    let mut other = voicemail("vm2", "/nonexistent/vm2.wav");
    other.mailbox = "sales".into();
    setup.records.voicemails.push(other);
    let api = start_api(setup).await;

    let (status, list) = api.get("/api/v1/voicemail?mailbox=general").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "vm1");
    assert_eq!(list[0]["audio_url"], "/api/v1/voicemail/vm1/audio");
    let (status, list) = api.get("/api/v1/voicemail").await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 2));
    let (status, message) = api.get("/api/v1/voicemail/vm1").await;
    assert_eq!(
        (status, &message["caller"]),
        (200, &json!("+8613800000000"))
    );

    let response = api
        .http
        .get(api.url("/api/v1/voicemail/vm1/audio"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &wav[..]);

    let (status, _) = api.get("/api/v1/voicemail/vm2/audio").await;
    assert_eq!(status, 404);
    let (status, body) = api.get("/api/v1/voicemail/vm3").await;
    assert_eq!(
        (status, body),
        (404, json!({ "error": "no voicemail message vm3" }))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn cdr_queries_pass_their_filters_to_the_store() {
    let setup = Setup::default();
    let last_query = setup.records.last_query.clone();
    let api = start_api(setup).await;
    let (status, _) = api
        .get("/api/v1/cdrs?since=2026-11-22T09:00:00Z&until=1795000000000&queue=sales&agent=1001&caller=%2B8613800000000&disposition=answered&limit=5000")
        .await;
    assert_eq!(status, 200);
    let query = last_query.lock().unwrap().take().unwrap();
    assert_eq!(query.since_ms, Some(1_795_338_000_000));
    assert_eq!(query.until_ms, Some(1_795_000_000_000));
    assert_eq!(query.queue.as_deref(), Some("sales"));
    assert_eq!(query.agent.as_deref(), Some("1001"));
    assert_eq!(query.caller.as_deref(), Some("+8613800000000"));
    assert_eq!(query.disposition.as_deref(), Some("answered"));
    assert_eq!(query.limit, Some(1000));
    let (status, _) = api.get("/api/v1/cdrs").await;
    assert_eq!(status, 200);
    let query = last_query.lock().unwrap().take().unwrap();
    assert_eq!((query.since_ms, query.limit), (None, Some(100)));

    let (status, rows) = api.get("/api/v1/queue-log?call=c7").await;
    assert_eq!(status, 200);
    assert_eq!(rows[0]["call"], "c7");
    assert_eq!(rows[0]["data"]["limit"], 100);
}

fn cdr(id: &str) -> Cdr {
    Cdr {
        id: id.into(),
        sip_call_id: "a84b4c76e66710@127.0.0.2".into(),
        caller: "+8613800000000".into(),
        caller_name: "Li Lei".into(),
        did: "+861058000000".into(),
        trunk: "carrier".into(),
        start_ms: 1_000,
        answer_ms: Some(2_000),
        end_ms: 9_000,
        duration_ms: 8_000,
        billable_ms: 7_000,
        disposition: "answered".into(),
        queue: Some("sales".into()),
        agent: Some("1001".into()),
        wait_ms: Some(1_000),
        hangup_by: "caller".into(),
        hangup_reason: "bye".into(),
        recording: None,
        variables: json!({ "account": "A-1001" }),
    }
}

#[tokio::test]
async fn cdrs_are_listed_and_found_by_call() {
    let mut setup = Setup::default();
    setup.records.cdrs = vec![cdr("c1"), cdr("c2")];
    let api = start_api(setup).await;
    let (status, list) = api.get("/api/v1/cdrs").await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 2));
    assert_eq!(list[1]["variables"]["account"], "A-1001");
    let (status, one) = api.get("/api/v1/cdrs/c2").await;
    assert_eq!(
        (status, &one["id"], &one["billable_ms"]),
        (200, &json!("c2"), &json!(7000))
    );
    let (status, body) = api.get("/api/v1/cdrs/c3").await;
    assert_eq!(
        (status, body),
        (404, json!({ "error": "no CDR for call c3" }))
    );
}

#[test]
fn times_parse_as_milliseconds_rfc_3339_or_dates() {
    assert_eq!(parse_time("since", "1700000000000"), Ok(1_700_000_000_000));
    assert_eq!(
        parse_time("since", "2026-11-22T09:00:00+08:00"),
        Ok(1_795_309_200_000)
    );
    assert!(parse_time("since", "2026-11-22").is_ok());
    assert_eq!(parse_time("until", "soon").unwrap_err().status, 400);
}

#[test]
fn keys_compare_equal_only_when_identical() {
    use super::auth::same_key;
    assert!(same_key(b"secret", b"secret"));
    assert!(!same_key(b"secreT", b"secret"));
    assert!(!same_key(b"secre", b"secret"));
    assert!(!same_key(b"secrets", b"secret"));
    assert!(!same_key(b"", b"secret"));
}

#[tokio::test]
async fn a_taken_address_is_reported_with_a_hint() {
    let first = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let err = bind(first.local_addr().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
}

#[tokio::test]
async fn an_empty_key_is_refused() {
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (control, _) = mpsc::channel(1);
    let (events, _) = broadcast::channel(1);
    let server = Server {
        api_key: String::new(),
        control,
        events,
        records: Arc::new(Stub::default()),
        reply_timeout: REPLY_TIMEOUT,
        max_streams: 1,
        keepalive: events::KEEPALIVE,
    };
    assert!(start(listener, server, std::future::pending()).is_err());
}

/// The JSON examples in docs/api.md, each parsed.
fn doc_examples() -> Vec<Value> {
    let doc = include_str!("../../../../docs/api.md");
    let mut examples = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("```json\n") {
        let body = &rest[start + "```json\n".len()..];
        let end = body
            .find("```")
            .expect("an unterminated json block in docs/api.md");
        let example = serde_json::from_str(&body[..end])
            .unwrap_or_else(|err| panic!("docs/api.md: {err} in\n{}", &body[..end]));
        examples.push(example);
        rest = &body[end..];
    }
    examples
}

/// Asserts `doc` has the fields `real` has, recursively (free-form maps excepted).
fn assert_same_shape(path: &str, doc: &Value, real: &Value) {
    match (doc, real) {
        (Value::Object(d), Value::Object(r)) => {
            let dk: std::collections::BTreeSet<&String> = d.keys().collect();
            let rk: std::collections::BTreeSet<&String> = r.keys().collect();
            assert_eq!(dk, rk, "docs/api.md example at {path:?}");
            for (key, value) in r {
                if key != "variables" && key != "data" {
                    assert_same_shape(&format!("{path}.{key}"), &d[key], value);
                }
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            if let (Some(d), Some(r)) = (d.first(), r.first()) {
                assert_same_shape(&format!("{path}[0]"), d, r);
            }
        }
        _ => {}
    }
}

#[test]
fn the_documented_examples_have_the_fields_the_api_sends() {
    let mut agent = agent_view("1001");
    agent.pause_reason = Some("lunch".into());
    let mut call = call_view("connected");
    call.answer_ms = Some(1);
    let events = [
        offered("c1", "1001"),
        ApiEvent::CallStarted {
            call: "c1".into(),
            caller: "+8613800000000".into(),
            did: "+861058000000".into(),
            trunk: "carrier".into(),
        },
        ApiEvent::CallConnected {
            call: "c1".into(),
            agent: "1001".into(),
            queue: "sales".into(),
        },
        ApiEvent::CallEnded {
            call: "c1".into(),
            disposition: "answered".into(),
            hangup_by: "caller".into(),
        },
        agent_state("1001", "paused"),
        ApiEvent::QueueChanged {
            queue: "sales".into(),
            waiting: 3,
        },
        ApiEvent::GatewayHealth {
            trunk: "carrier".into(),
            gateway: "192.0.2.10:5060".into(),
            up: false,
        },
        ApiEvent::TrunkRegistration {
            trunk: "carrier".into(),
            state: "failing",
            gateway: None,
            status: Some(403),
        },
    ];
    let mut real: Vec<(&str, Value)> = vec![
        ("calls_answered", serde_json::to_value(&agent).unwrap()),
        ("today", serde_json::to_value(queue_view()).unwrap()),
        ("start_ms", serde_json::to_value(&call).unwrap()),
        ("sip_call_id", serde_json::to_value(cdr("c1")).unwrap()),
        (
            "audio_url",
            serde_json::to_value(super::routes::VoicemailView::from(voicemail("vm1", "x")))
                .unwrap(),
        ),
        ("dialplans", json!({ "dialplans": [] })),
        (
            "status",
            serde_json::to_value(crate::api::HealthView {
                status: "ok",
                active_calls: 0,
                rtp_ports_in_use: 0,
                agents_logged_in: 0,
                media: crate::api::MediaView::default(),
                calls_ended: [
                    "abandoned",
                    "answered",
                    "failed",
                    "transferred",
                    "voicemail",
                ]
                .map(|d| (d, 0))
                .into(),
            })
            .unwrap(),
        ),
        ("error", json!({ "error": "" })),
        ("gateways", {
            let mut t = serde_json::to_value(trunk_view()).unwrap();
            t["registration"] = serde_json::to_value(crate::api::RegistrationView {
                state: "registered",
                gateway: Some("192.0.2.11:5060".into()),
                expires_in_s: Some(1740),
                last_status: None,
                failures: 0,
                retry_in_s: None,
            })
            .unwrap();
            t
        }),
        ("missed", json!({ "type": "lagged", "missed": 1 })),
    ];
    let log = QueueLogRow {
        time_ms: 1,
        call: None,
        queue: None,
        agent: None,
        event: "enter".into(),
        data: json!({}),
    };
    real.push(("event", serde_json::to_value(log).unwrap()));
    let mut event_types_seen = Vec::new();
    for example in doc_examples() {
        let items = match &example {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for item in items {
            let object = item
                .as_object()
                .expect("examples are objects or arrays of them");
            let sample = if let Some(t) = object
                .get("type")
                .filter(|_| !object.contains_key("missed"))
            {
                event_types_seen.push(t.as_str().unwrap().to_owned());
                events
                    .iter()
                    .map(|e| serde_json::to_value(e).unwrap())
                    .find(|e| &e["type"] == t)
                    .unwrap_or_else(|| panic!("docs/api.md documents an unknown event type {t}"))
            } else if object.contains_key("sip_call_id") {
                real.iter()
                    .find(|(k, _)| *k == "sip_call_id")
                    .unwrap()
                    .1
                    .clone()
            } else {
                real.iter()
                    .find(|(key, _)| object.contains_key(*key))
                    .unwrap_or_else(|| panic!("docs/api.md: an example matching nothing: {item}"))
                    .1
                    .clone()
            };
            assert_same_shape("", &item, &sample);
        }
    }
    let documented: std::collections::BTreeSet<&str> =
        event_types_seen.iter().map(String::as_str).collect();
    for event in &events {
        let t = serde_json::to_value(event).unwrap()["type"].clone();
        assert!(
            documented.contains(t.as_str().unwrap()),
            "{t} is not documented"
        );
    }
    assert_eq!(
        event_types_seen[0], "call_offered",
        "the screen pop comes first"
    );
}
