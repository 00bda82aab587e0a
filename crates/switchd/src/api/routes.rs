//! The REST routes and their handlers. Call-control routes ask the control loop and wait
//! for its answer; record routes query the database on a blocking thread.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use super::auth::{EVENTS_PATH, require_key};
use super::{
    AgentView, ApiError, ApiRequest, CallView, QueueView, Records, ReloadView, Reply, Shared,
    TrunkView, events, metrics as exposition,
};
use crate::store::{Cdr, CdrQuery, QueueLogRow, Voicemail};

/// Every route, as a method and an example path (tests walk this list: each must need the
/// key and each must exist).
pub(super) const ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/api/v1/health"),
    (Method::GET, "/api/v1/agents"),
    (Method::GET, "/api/v1/agents/1001"),
    (Method::POST, "/api/v1/agents/1001/login"),
    (Method::POST, "/api/v1/agents/1001/logout"),
    (Method::POST, "/api/v1/agents/1001/pause"),
    (Method::POST, "/api/v1/agents/1001/unpause"),
    (Method::GET, "/api/v1/queues"),
    (Method::GET, "/api/v1/queues/sales"),
    (Method::GET, "/api/v1/calls"),
    (Method::DELETE, "/api/v1/calls/c1"),
    (Method::GET, "/api/v1/cdrs"),
    (Method::GET, "/api/v1/cdrs/c1"),
    (Method::GET, "/api/v1/queue-log"),
    (Method::GET, "/api/v1/voicemail"),
    (Method::GET, "/api/v1/voicemail/vm1"),
    (Method::GET, "/api/v1/voicemail/vm1/audio"),
    (Method::GET, "/api/v1/trunks"),
    (Method::GET, "/api/v1/trunks/carrier"),
    (Method::POST, "/api/v1/reload"),
    (Method::GET, EVENTS_PATH),
    (Method::GET, "/metrics"),
];

/// CDRs returned when the query gives no `limit`.
const DEFAULT_CDR_LIMIT: u32 = 100;
/// The most CDRs one query returns.
const MAX_CDR_LIMIT: u32 = 1000;
/// Queue log rows returned when the query gives no `limit`, and the most.
const DEFAULT_LOG_LIMIT: u32 = 100;
const MAX_LOG_LIMIT: u32 = 1000;

/// The API's router, every route behind the key check (unknown paths too).
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/agents", get(list_agents))
        .route("/api/v1/agents/{id}", get(agent))
        .route("/api/v1/agents/{id}/login", post(login))
        .route("/api/v1/agents/{id}/logout", post(logout))
        .route("/api/v1/agents/{id}/pause", post(pause))
        .route("/api/v1/agents/{id}/unpause", post(unpause))
        .route("/api/v1/queues", get(list_queues))
        .route("/api/v1/queues/{name}", get(queue))
        .route("/api/v1/calls", get(list_calls))
        .route("/api/v1/calls/{id}", delete(hang_up))
        .route("/api/v1/cdrs", get(cdrs))
        .route("/api/v1/cdrs/{id}", get(cdr))
        .route("/api/v1/queue-log", get(queue_log))
        .route("/api/v1/voicemail", get(voicemails))
        .route("/api/v1/voicemail/{id}", get(voicemail))
        .route("/api/v1/voicemail/{id}/audio", get(voicemail_audio))
        .route("/api/v1/trunks", get(list_trunks))
        .route("/api/v1/trunks/{name}", get(trunk))
        .route("/api/v1/reload", post(reload))
        .route(EVENTS_PATH, get(events::upgrade))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            require_key,
        ))
        .with_state(shared)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The route's one path parameter (agent id, queue name, call or message id); a JSON 400
/// when it cannot be read (bad percent-encoding).
struct Id(String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Id, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(err) => Err(ApiError::new(err.status().as_u16(), err.body_text())),
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "method not allowed on this route")
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    if shared.control.is_closed() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "stopping" })),
        )
            .into_response();
    }
    match ask(&shared, ApiRequest::Health).await {
        Ok(view) => view.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /metrics`: one exposition from the views the routes above serve.
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let views = async {
        let health = ask(&shared, ApiRequest::Health).await?.0;
        let agents = ask(&shared, ApiRequest::ListAgents).await?.0;
        let queues = ask(&shared, ApiRequest::ListQueues).await?.0;
        let calls = ask(&shared, ApiRequest::ListCalls).await?.0;
        let trunks = ask(&shared, ApiRequest::ListTrunks).await?.0;
        Ok::<_, ApiError>(exposition::render(
            &health, &agents, &queues, &calls, &trunks,
        ))
    };
    match views.await {
        Ok(text) => ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], text).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn ask<T>(
    shared: &Shared,
    request: impl FnOnce(Reply<T>) -> ApiRequest,
) -> Result<Json<T>, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let exchange = async {
        shared
            .control
            .send(request(tx))
            .await
            .map_err(|_| ApiError::unavailable("call control is not running"))?;
        rx.await
            .map_err(|_| ApiError::unavailable("call control dropped the request"))?
    };
    match tokio::time::timeout(shared.reply_timeout, exchange).await {
        Ok(answer) => answer.map(Json),
        Err(_) => Err(ApiError::unavailable(
            "call control did not answer in time; try again",
        )),
    }
}

async fn list_agents(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<AgentView>> {
    ask(&shared, ApiRequest::ListAgents).await
}

async fn agent(State(shared): State<Arc<Shared>>, Id(id): Id) -> ApiResult<AgentView> {
    ask(&shared, |reply| ApiRequest::Agent(id, reply)).await
}

/// `POST /agents/{id}/login` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    device: Option<String>,
}

/// `POST /agents/{id}/pause` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: Option<String>,
}

/// Parses an optional JSON body: empty is the default.
fn optional_body<T: Default + for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|err| ApiError::bad_request(format!("body: {err}")))
}

async fn login(
    State(shared): State<Arc<Shared>>,
    Id(agent): Id,
    body: Bytes,
) -> ApiResult<AgentView> {
    let body: LoginBody = optional_body(&body)?;
    ask(&shared, |reply| ApiRequest::AgentLogin {
        agent,
        device: body.device,
        reply,
    })
    .await
}

async fn logout(State(shared): State<Arc<Shared>>, Id(agent): Id) -> ApiResult<AgentView> {
    ask(&shared, |reply| ApiRequest::AgentLogout { agent, reply }).await
}

async fn pause(
    State(shared): State<Arc<Shared>>,
    Id(agent): Id,
    body: Bytes,
) -> ApiResult<AgentView> {
    let body: PauseBody = optional_body(&body)?;
    ask(&shared, |reply| ApiRequest::AgentPause {
        agent,
        reason: body.reason.unwrap_or_default(),
        reply,
    })
    .await
}

async fn unpause(State(shared): State<Arc<Shared>>, Id(agent): Id) -> ApiResult<AgentView> {
    ask(&shared, |reply| ApiRequest::AgentUnpause { agent, reply }).await
}

async fn list_queues(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<QueueView>> {
    ask(&shared, ApiRequest::ListQueues).await
}

async fn queue(State(shared): State<Arc<Shared>>, Id(name): Id) -> ApiResult<QueueView> {
    ask(&shared, |reply| ApiRequest::Queue(name, reply)).await
}

async fn list_trunks(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<TrunkView>> {
    ask(&shared, ApiRequest::ListTrunks).await
}

async fn trunk(State(shared): State<Arc<Shared>>, Id(name): Id) -> ApiResult<TrunkView> {
    ask(&shared, |reply| ApiRequest::Trunk(name, reply)).await
}

async fn list_calls(State(shared): State<Arc<Shared>>) -> ApiResult<Vec<CallView>> {
    ask(&shared, ApiRequest::ListCalls).await
}

async fn hang_up(State(shared): State<Arc<Shared>>, Id(call): Id) -> ApiResult<CallView> {
    ask(&shared, |reply| ApiRequest::HangupCall { call, reply }).await
}

async fn reload(State(shared): State<Arc<Shared>>) -> ApiResult<ReloadView> {
    ask(&shared, ApiRequest::Reload).await
}

/// Runs a database query on a blocking thread.
async fn read<T: Send + 'static>(
    shared: &Shared,
    query: impl FnOnce(&dyn Records) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let records = shared.records.clone();
    let outcome = tokio::task::spawn_blocking(move || query(records.as_ref())).await;
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => {
            tracing::warn!("API storage query failed: {err:#}");
            Err(ApiError::internal(format!(
                "reading the database failed: {err:#}"
            )))
        }
        Err(err) => {
            tracing::error!("API storage query panicked: {err}");
            Err(ApiError::internal("reading the database failed"))
        }
    }
}

/// Turns a query string rejection into a JSON 400.
fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params
        .map(|Query(params)| params)
        .map_err(|err| ApiError::bad_request(err.body_text()))
}

/// `GET /cdrs` query string.
#[derive(Debug, Deserialize)]
struct CdrParams {
    since: Option<String>,
    until: Option<String>,
    queue: Option<String>,
    agent: Option<String>,
    caller: Option<String>,
    disposition: Option<String>,
    limit: Option<u32>,
}

async fn cdrs(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<CdrParams>, QueryRejection>,
) -> ApiResult<Vec<Cdr>> {
    let params = query(params)?;
    let filter = CdrQuery {
        since_ms: params
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until_ms: params
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        queue: params.queue,
        agent: params.agent,
        caller: params.caller,
        disposition: params.disposition,
        limit: Some(params.limit.unwrap_or(DEFAULT_CDR_LIMIT).min(MAX_CDR_LIMIT)),
    };
    read(&shared, move |records| records.cdrs(&filter))
        .await
        .map(Json)
}

async fn cdr(State(shared): State<Arc<Shared>>, Id(id): Id) -> ApiResult<Cdr> {
    let found = read(&shared, {
        let id = id.clone();
        move |records| records.cdr(&id)
    })
    .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no CDR for call {id}")))
}

/// A time in a query string: Unix milliseconds, an RFC 3339 time
/// (`2026-11-22T09:00:00Z`), or a date (`2026-11-22`, local midnight).
pub(super) fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(time) = text.parse::<jiff::Timestamp>() {
        return Ok(time.as_millisecond());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && let Ok(midnight) = date.to_zoned(jiff::tz::TimeZone::system())
    {
        return Ok(midnight.timestamp().as_millisecond());
    }
    Err(ApiError::bad_request(format!(
        "{name}: expected Unix milliseconds, an RFC 3339 time such as 2026-11-22T09:00:00Z, \
         or a date such as 2026-11-22; got {text:?}"
    )))
}

/// `GET /queue-log` query string.
#[derive(Debug, Deserialize)]
struct LogParams {
    call: Option<String>,
    limit: Option<u32>,
}

async fn queue_log(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> ApiResult<Vec<QueueLogRow>> {
    let params = query(params)?;
    let limit = params.limit.unwrap_or(DEFAULT_LOG_LIMIT).min(MAX_LOG_LIMIT);
    read(&shared, move |records| {
        records.queue_log(params.call.as_deref(), limit)
    })
    .await
    .map(Json)
}

/// `GET /voicemail` query string.
#[derive(Debug, Deserialize)]
struct VoicemailParams {
    mailbox: Option<String>,
}

/// A voicemail message with the path of its audio.
#[derive(Debug, Serialize)]
pub(super) struct VoicemailView {
    #[serde(flatten)]
    message: Voicemail,
    /// Where to fetch the WAV from this API.
    audio_url: String,
}

impl From<Voicemail> for VoicemailView {
    fn from(message: Voicemail) -> VoicemailView {
        let audio_url = format!("/api/v1/voicemail/{}/audio", message.id);
        VoicemailView { message, audio_url }
    }
}

async fn voicemails(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<VoicemailParams>, QueryRejection>,
) -> ApiResult<Vec<VoicemailView>> {
    let params = query(params)?;
    let messages = read(&shared, move |records| {
        records.voicemails(params.mailbox.as_deref())
    })
    .await?;
    Ok(Json(
        messages.into_iter().map(VoicemailView::from).collect(),
    ))
}

async fn find_voicemail(shared: &Shared, id: String) -> Result<Voicemail, ApiError> {
    let found = read(shared, {
        let id = id.clone();
        move |records| records.voicemail(&id)
    })
    .await?;
    found.ok_or_else(|| ApiError::not_found(format!("no voicemail message {id}")))
}

async fn voicemail(State(shared): State<Arc<Shared>>, Id(id): Id) -> ApiResult<VoicemailView> {
    find_voicemail(&shared, id).await.map(|m| Json(m.into()))
}

async fn voicemail_audio(
    State(shared): State<Arc<Shared>>,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let message = find_voicemail(&shared, id).await?;
    let audio = match tokio::fs::read(&message.path).await {
        Ok(audio) => audio,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "voicemail message {} has no audio file",
                message.id
            )));
        }
        Err(err) => {
            tracing::warn!("reading voicemail audio {}: {err}", message.path);
            return Err(ApiError::internal(format!(
                "reading the audio of voicemail message {} failed",
                message.id
            )));
        }
    };
    let name: String = message
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let disposition = format!("inline; filename=\"{name}.wav\"");
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        audio,
    )
        .into_response())
}
