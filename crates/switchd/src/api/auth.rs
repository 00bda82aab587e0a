//! The API key check in front of every route: `Authorization: Bearer KEY`, `X-API-Key: KEY`,
//! or (on the event stream only, since browsers cannot set headers on a WebSocket)
//! `?api_key=KEY`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared};

/// The one path that also takes the key in its query string.
pub(super) const EVENTS_PATH: &str = "/api/v1/events";

/// Middleware: passes the request on when it carries the key, answers 401 otherwise.
pub(super) async fn require_key(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = presented_key(&request);
    match presented {
        Some(key) if same_key(key.as_bytes(), shared.api_key.as_bytes()) => next.run(request).await,
        presented => {
            tracing::info!(
                path = request.uri().path(),
                key_given = presented.is_some(),
                "API request refused: no valid key"
            );
            let error = if presented.is_some() {
                "wrong API key"
            } else {
                "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY"
            };
            let mut response = ApiError::new(401, error).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// The key the request presents, if any.
fn presented_key(request: &Request) -> Option<String> {
    if let Some(key) = header_key(request.headers()) {
        return Some(key);
    }
    if request.uri().path() == EVENTS_PATH {
        let query = Query::<HashMap<String, String>>::try_from_uri(request.uri()).ok()?;
        return query.0.get("api_key").cloned();
    }
    None
}

/// The key from `Authorization: Bearer`, else from `X-API-Key` (so a proxy's own
/// `Authorization` scheme does not hide it).
fn header_key(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().to_owned());
    bearer.or_else(|| {
        let value = headers.get("x-api-key")?.to_str().ok()?;
        Some(value.trim().to_owned())
    })
}

/// Compares keys in time that depends only on their lengths, not on where they differ.
pub(super) fn same_key(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(presented.len() != expected.len());
    for (i, &e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(!e);
        diff |= p ^ e;
    }
    std::hint::black_box(diff) == 0
}
