//! `GET /api/live`: the signed-in member's workspace's changes as Server-Sent Events:
//! `lead` (`model::LeadEvent`), `resync` (this page fell behind or missed announcements:
//! reload what it shows; also the first event when `?since=<ms>`, the time the page's
//! data was read, is older than the workspace's last change) and `end` (the session or membership ended). Over a cap the
//! answer is 429 with a message; the page asks `admission` why its stream closed and
//! shows it instead of reconnecting in a loop.

use super::hub::{Refusal, Viewer};
use crate::server::{
    auth,
    error::{AppError, AppResult},
    http::AppState,
    secrets,
};
use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use std::convert::Infallible;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/live", get(stream))
}

/// The key of the request's session (SHA-256 of its cookie's token, as stored in
/// `sessions`), which the per-session cap and `end_streams_for_session` use.
pub fn session_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.ends_with(auth::SESSION_COOKIE))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .map(secrets::sha256_hex)
}

async fn viewer(state: &AppState, headers: &HeaderMap) -> AppResult<Viewer> {
    let signed_out = || AppError::Unauthorized("sign in first".into());
    let member = auth::member_from_headers(state, headers).await?.ok_or_else(signed_out)?;
    Ok(Viewer {
        workspace_id: member.workspace.id.to_string(),
        user_id: member.user_id.to_string(),
        session: session_key(headers).ok_or_else(signed_out)?,
    })
}

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Ended => AppError::Unauthorized("sign in first".into()).into_response(),
        full => {
            let mut response = AppError::TooManyRequests(full.to_string()).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            response
        }
    }
}

/// `?since=<ms>`: when the page's data was read (the `now_ms` it was rendered with).
fn since(query: Option<&str>) -> AppResult<Option<i64>> {
    let Some(query) = query else { return Ok(None) };
    let mut since = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "since" {
            let ms = value.trim().parse::<i64>().ok().filter(|ms| *ms >= 0).ok_or_else(|| {
                AppError::BadRequest(format!("since must be milliseconds since 1970 (a whole number), not `{value}`"))
            })?;
            since = Some(ms);
        }
    }
    Ok(since)
}

async fn stream(State(state): State<AppState>, RawQuery(query): RawQuery, headers: HeaderMap) -> AppResult<Response> {
    let checked_at = tokio::time::Instant::now();
    let since = since(query.as_deref())?;
    let viewer = viewer(&state, &headers).await?;
    let live = match state.live.open(viewer, checked_at, since) {
        Ok(live) => live,
        Err(refusal) => return Ok(refused(refusal)),
    };
    let body = Body::from_stream(crate::server::metrics::counted_stream(futures::StreamExt::map(
        live.into_bytes(),
        Ok::<_, Infallible>,
    )));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        body,
    )
        .into_response())
}

/// Whether the signed-in member's page could open a live stream now: `None` if so,
/// else the message to show (the browser asks after its stream closed for good).
pub async fn admission(state: &AppState, headers: &HeaderMap) -> AppResult<Option<String>> {
    let viewer = viewer(state, headers).await?;
    Ok(state.live.admission(&viewer).map(|refusal| refusal.to_string()))
}
