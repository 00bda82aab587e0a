//! The HTTP API (axum): REST for agents, queues, calls, CDRs and voicemail, and a
//! WebSocket event stream. Every request carries the configured API key.
//!
//! The API never touches call state itself: it asks the call control loop through
//! [`ApiRequest`]s (each with a reply channel) and relays the loop's [`ApiEvent`]s to
//! WebSocket clients. CDR and voicemail queries read the database directly.
//!
//! Routes, authentication and the event stream are described for users in `docs/api.md`.
//! Layout: [`auth`] checks the key, [`routes`] holds the REST handlers and the route
//! table, [`events`] the WebSocket, [`records`] the storage queries behind a trait so
//! tests can serve from a stub.
#![allow(dead_code)] // Test-only helpers (the route list, stand-ins) and error constructors not every route needs.
// Until the daemon loop calls `serve` and builds the requests' answers, much of this is
// reached only from the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

mod auth;
mod events;
mod metrics;
mod records;
mod routes;
#[cfg(test)]
mod tests;

pub(crate) use self::records::Records;

/// How long a request waits for call control's answer before it gets 503.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Event stream clients served at once; more get 503 (each costs a task and a buffer).
const MAX_STREAMS: usize = 1024;

/// An answer from call control: the JSON to return, or an error with its HTTP status.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// An error answer: `{"error": "..."}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ApiError {
    /// HTTP status (404 unknown agent/queue/call, 409 not possible in this state, 400 bad
    /// input).
    #[serde(skip)]
    pub(crate) status: u16,
    pub(crate) error: String,
}

impl ApiError {
    /// An error with this status and message.
    pub(crate) fn new(status: u16, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
        }
    }

    /// 400: the request is malformed.
    pub(crate) fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError::new(400, error)
    }

    /// 404: no such agent, queue, call, record or route.
    pub(crate) fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(404, error)
    }

    /// 409: not possible in the current state.
    pub(crate) fn conflict(error: impl Into<String>) -> ApiError {
        ApiError::new(409, error)
    }

    /// 503: call control is not answering (stopping, or too busy).
    pub(crate) fn unavailable(error: impl Into<String>) -> ApiError {
        ApiError::new(503, error)
    }

    /// 500: something failed inside (the storage, a file).
    pub(crate) fn internal(error: impl Into<String>) -> ApiError {
        ApiError::new(500, error)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.error)
    }
}

impl std::error::Error for ApiError {}

/// What the API asks of call control.
#[derive(Debug)]
pub(crate) enum ApiRequest {
    ListAgents(Reply<Vec<AgentView>>),
    Agent(String, Reply<AgentView>),
    /// Log the agent in on a device (extension); `None`: the agent's configured device.
    AgentLogin {
        agent: String,
        device: Option<String>,
        reply: Reply<AgentView>,
    },
    AgentLogout {
        agent: String,
        reply: Reply<AgentView>,
    },
    AgentPause {
        agent: String,
        reason: String,
        reply: Reply<AgentView>,
    },
    AgentUnpause {
        agent: String,
        reply: Reply<AgentView>,
    },
    ListQueues(Reply<Vec<QueueView>>),
    Queue(String, Reply<QueueView>),
    ListCalls(Reply<Vec<CallView>>),
    HangupCall {
        call: String,
        reply: Reply<CallView>,
    },
    /// Outbound trunks: gateway health and carrier registration.
    ListTrunks(Reply<Vec<TrunkView>>),
    Trunk(String, Reply<TrunkView>),
    /// Liveness and the counters that show nothing leaks.
    Health(Reply<HealthView>),
    /// Reload the configuration's dialplans (as SIGHUP does).
    Reload(Reply<ReloadView>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AgentView {
    pub(crate) id: String,
    pub(crate) name: String,
    /// `logged_out`, `available`, `ringing`, `on_call`, `wrap_up`, `paused`.
    pub(crate) state: String,
    pub(crate) pause_reason: Option<String>,
    /// The device (extension) the agent is logged in on.
    pub(crate) device: Option<String>,
    /// Whether that device is registered now.
    pub(crate) device_registered: bool,
    /// Whether that device is on a call that is not a queue call (a phone-to-phone call
    /// either way, a dialplan's transfer to it, or a call it placed into a dialplan): no
    /// queue call is offered until it ends, whatever `state` says (an agent keeps its
    /// distributor state, usually `available`, during such a call).
    pub(crate) on_phone_call: bool,
    pub(crate) skills: Vec<SkillLevel>,
    /// The call the agent is ringing for or talking on.
    pub(crate) call: Option<String>,
    pub(crate) calls_answered: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SkillLevel {
    pub(crate) skill: String,
    pub(crate) level: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct QueueView {
    pub(crate) name: String,
    pub(crate) waiting: Vec<WaitingCall>,
    /// Agents able to take this queue's calls, by state.
    pub(crate) agents: AgentCounts,
    pub(crate) today: QueueToday,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WaitingCall {
    pub(crate) call: String,
    pub(crate) caller: String,
    pub(crate) position: u32,
    pub(crate) waited_s: f64,
    pub(crate) priority: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct AgentCounts {
    pub(crate) available: u32,
    pub(crate) ringing: u32,
    pub(crate) on_call: u32,
    /// Agents ready for the queue but whose phone is on a call that is not a queue call
    /// ([`AgentView::on_phone_call`]): busy, offered nothing, not counted `available`.
    pub(crate) on_phone_call: u32,
    pub(crate) wrap_up: u32,
    pub(crate) paused: u32,
    pub(crate) logged_out: u32,
}

/// Since local midnight.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct QueueToday {
    pub(crate) offered: u64,
    pub(crate) answered: u64,
    pub(crate) abandoned: u64,
    /// Answered within the threshold / (offered − short abandons), 0–1; `None` before any call.
    pub(crate) service_level: Option<f64>,
    pub(crate) sl_threshold_s: f64,
    pub(crate) average_speed_of_answer_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CallView {
    pub(crate) id: String,
    pub(crate) caller: String,
    pub(crate) did: String,
    pub(crate) trunk: String,
    /// `ivr`, `queued`, `ringing`, `connected`, `voicemail`, `ending`.
    pub(crate) state: String,
    pub(crate) queue: Option<String>,
    pub(crate) agent: Option<String>,
    /// Unix milliseconds.
    pub(crate) start_ms: i64,
    pub(crate) answer_ms: Option<i64>,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HealthView {
    /// `ok`, or `draining` during a graceful shutdown.
    pub(crate) status: &'static str,
    pub(crate) active_calls: usize,
    /// RTP ports allocated now (back to 0 when no call is up).
    pub(crate) rtp_ports_in_use: usize,
    pub(crate) agents_logged_in: usize,
    /// The media thread's counters since start.
    pub(crate) media: MediaView,
    /// Calls ended since start, by their CDR's disposition.
    pub(crate) calls_ended: std::collections::BTreeMap<&'static str, u64>,
}

/// The media thread's counters since start (published every 100 ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct MediaView {
    /// RTP datagrams received on every leg, whichever path carried them.
    pub(crate) datagrams_received: u64,
    /// Whether the legs' RTP is taken off the UDP stack with AF_XDP (`[rtp] xdp`).
    pub(crate) xdp: bool,
    /// Of the datagrams received, those that came as AF_XDP frames.
    pub(crate) xdp_frames_received: u64,
    /// Bridged packets sent on from the frame they arrived in.
    pub(crate) xdp_frames_forwarded: u64,
    /// Generated packets (prompts, tones, keys) sent as new frames.
    pub(crate) xdp_frames_sent: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReloadView {
    pub(crate) dialplans: Vec<String>,
}

/// What WebSocket clients receive, as JSON with a `type` field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ApiEvent {
    CallStarted {
        call: String,
        caller: String,
        did: String,
        trunk: String,
    },
    /// Screen pop: the call rings this agent.
    CallOffered {
        call: String,
        agent: String,
        device: String,
        caller: String,
        caller_name: String,
        did: String,
        queue: String,
        waited_s: f64,
        /// What the IVR collected (customer name, account, language, ...).
        variables: serde_json::Map<String, serde_json::Value>,
    },
    CallConnected {
        call: String,
        agent: String,
        queue: String,
    },
    CallEnded {
        call: String,
        disposition: String,
        hangup_by: String,
    },
    /// An agent's distributor state changed, or its device started or ended a call that
    /// is not a queue call (then `state` is the same as before). Each carries both, so a
    /// wallboard keeps one record per agent from these events alone.
    AgentState {
        agent: String,
        state: String,
        reason: Option<String>,
        /// As [`AgentView::on_phone_call`].
        on_phone_call: bool,
    },
    QueueChanged {
        queue: String,
        waiting: u32,
    },
    /// A trunk's gateway answered its health checks again, or stopped answering.
    GatewayHealth {
        trunk: String,
        gateway: String,
        up: bool,
    },
    /// A trunk registered with its carrier (or refreshed), or a REGISTER failed.
    TrunkRegistration {
        trunk: String,
        /// `registered` or `failing`.
        state: &'static str,
        gateway: Option<String>,
        /// The carrier's final answer when it failed (`None`: no answer).
        status: Option<u16>,
    },
}

/// An outbound trunk as `GET /api/v1/trunks` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TrunkView {
    pub(crate) name: String,
    /// In the order calls try them (priority).
    pub(crate) gateways: Vec<GatewayView>,
    /// `None` when the trunk does not register with its carrier.
    pub(crate) registration: Option<RegistrationView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct GatewayView {
    pub(crate) uri: String,
    pub(crate) address: String,
    /// Whether the OPTIONS health checks find it answering (true until they find
    /// otherwise, and always when checks are off).
    pub(crate) up: bool,
    /// Health checks missed in a row.
    pub(crate) misses: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RegistrationView {
    /// `registering`, `registered` or `failing`.
    pub(crate) state: &'static str,
    /// Where the registration is held (when registered).
    pub(crate) gateway: Option<String>,
    /// Seconds the registration (or, while failing, the earlier one) still holds.
    pub(crate) expires_in_s: Option<u64>,
    /// The carrier's answer to the last failed REGISTER (`None`: none came).
    pub(crate) last_status: Option<u16>,
    /// Failed REGISTERs in a row.
    pub(crate) failures: u32,
    /// Seconds to the next try, while failing.
    pub(crate) retry_in_s: Option<u64>,
}

/// Everything the API serves from.
pub(crate) struct ApiContext {
    pub(crate) listen: SocketAddr,
    pub(crate) api_key: String,
    pub(crate) control: mpsc::Sender<ApiRequest>,
    pub(crate) events: broadcast::Sender<ApiEvent>,
    pub(crate) store: crate::store::Reader,
}

/// Binds the API's address (so startup can print it, or fail with a hint), spawns the
/// server on the current runtime (serving until `shutdown` resolves) and returns the bound
/// address.
pub(crate) async fn serve(
    ctx: ApiContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    let listener = bind(ctx.listen).await?;
    start(
        listener,
        Server {
            api_key: ctx.api_key,
            control: ctx.control,
            events: ctx.events,
            records: Arc::new(ctx.store),
            reply_timeout: REPLY_TIMEOUT,
            max_streams: MAX_STREAMS,
            keepalive: events::KEEPALIVE,
        },
        shutdown,
    )
}

/// Binds the API's TCP listener, saying what to do when the address is taken.
async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => Ok(listener),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => Err(anyhow::anyhow!(
            "the HTTP API address {listen} is already in use (is another switchyard running?); \
             stop that process or set another address in [http] listen"
        )),
        Err(err) => Err(err).with_context(|| format!("binding the HTTP API address {listen}")),
    }
}

/// What a running API server needs, from [`ApiContext`] or from a test.
struct Server {
    api_key: String,
    control: mpsc::Sender<ApiRequest>,
    events: broadcast::Sender<ApiEvent>,
    records: Arc<dyn Records>,
    reply_timeout: Duration,
    max_streams: usize,
    keepalive: events::Keepalive,
}

/// The state every handler shares.
struct Shared {
    api_key: String,
    control: mpsc::Sender<ApiRequest>,
    events: broadcast::Sender<ApiEvent>,
    /// The database's read side (queries run in `spawn_blocking`).
    records: Arc<dyn Records>,
    reply_timeout: Duration,
    /// Turns `true` when the server shuts down (WebSocket streams then close).
    stopping: watch::Receiver<bool>,
    /// One permit per open event stream.
    streams: Arc<tokio::sync::Semaphore>,
    keepalive: events::Keepalive,
}

/// Spawns the server on `listener` and returns its address.
fn start(
    listener: tokio::net::TcpListener,
    server: Server,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    anyhow::ensure!(
        !server.api_key.is_empty(),
        "refusing to serve the HTTP API without an API key"
    );
    let addr = listener
        .local_addr()
        .context("reading the HTTP API's bound address")?;
    let (stop_tx, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        api_key: server.api_key,
        control: server.control,
        events: server.events,
        records: server.records,
        reply_timeout: server.reply_timeout,
        stopping,
        streams: Arc::new(tokio::sync::Semaphore::new(server.max_streams)),
        keepalive: server.keepalive,
    });
    let app = routes::router(shared);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(err) = served {
            tracing::error!("the HTTP API stopped: {err}");
        }
    });
    tracing::info!("HTTP API on http://{addr}/api/v1/");
    Ok(addr)
}
