//! `POST /api/webhook/kapso`: Kapso (and Meta-format) deliveries in;
//! `GET /api/webhook/kapso`: Meta's verification handshake.
//!
//! The order of checks is the order of cost, and nothing is written before the last:
//! content type (415) → size (413) → shape (400) → route by phone_number_id (404) →
//! signature on the raw bytes (401) → commit (`commit.rs`, 503 if the database is down)
//! → 200 with what happened to each item.

pub mod bounds;
pub mod commit;
pub mod health;
pub mod ingest;
pub mod log;
pub mod payload;
mod pg_group;
pub mod signature;

use crate::server::{
    clock::now_ms,
    error::{AppError, AppResult},
    http::AppState,
    ids::DeliveryId,
    workspaces::{self, Workspace, WEBHOOK_PATH},
};
use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use commit::CommitError;
use ingest::{DeliveryReport, Submission};
use std::{collections::HashMap, sync::Arc};

/// Meta allows payloads up to 3 MB; anything larger is refused unread.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(WEBHOOK_PATH, post(receive).get(verification_handshake))
        .layer(axum::middleware::from_fn(crate::server::metrics::track_webhook))
}

#[tracing::instrument(name = "webhook", skip_all, fields(delivery_id, items, format))]
async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> AppResult<Json<DeliveryReport>> {
    require_json(&headers)?;
    let bytes = read_body(body, &headers).await?;
    let event = header_text(&headers, "x-webhook-event");
    let delivery = match bounds::parse(bytes.clone(), event.map(str::to_string)).await {
        Ok(delivery) => delivery,
        Err(err) => return Err(refused_unread(&state, &bytes, &headers, err).await),
    };
    crate::server::metrics::delivery_format(delivery.format.as_str());

    let routed = route(&state, delivery.items).await?;
    let primary = routed.iter().find_map(|(ws, _)| ws.clone()).expect("route() returns at least one workspace");
    if let Err(err) = authenticate(&state, &routed, &bytes, &headers).await {
        if let AppError::Unauthorized(reason) = &err {
            let code = format!("401 {}", reason.split(':').next().unwrap_or(reason));
            state.webhook_refusals.refused(&state.db, &primary.id, &code, reason).await;
        }
        return Err(err);
    }

    let delivery_id = DeliveryId::generate();
    let span = tracing::Span::current();
    span.record("delivery_id", delivery_id.as_str());
    span.record("items", routed.len());
    span.record("format", delivery.format.as_str());
    let submission = Submission {
        delivery_id,
        workspace_id: primary.id.clone(),
        items: routed,
        packed_body: pack_for_log(&bytes).await,
        idempotency_key: header_text(&headers, "x-idempotency-key").map(str::to_string),
        event: delivery.event,
        format: delivery.format,
        received_at: now_ms(),
    };
    let report = state.committer.commit(submission).await.map_err(|err| match err {
        CommitError::Unavailable(why) => {
            tracing::warn!(error = %why, "delivery not stored; asking the sender to retry");
            AppError::Unavailable("the database is unavailable; the delivery was not stored, retry".into())
        }
        CommitError::Failed(why) => {
            tracing::error!(error = %why, "delivery not stored");
            AppError::Internal("the delivery could not be stored".into())
        }
    })?;
    state.live.publish_delivery(&report);
    tracing::info!(
        created = report.results.iter().filter(|r| r.outcome == ingest::Outcome::Created).count(),
        duplicates = report.results.iter().filter(|r| r.outcome == ingest::Outcome::Duplicate).count(),
        "delivery stored"
    );
    Ok(Json(report))
}

/// A body that could not be read (400) or holds too many items (413). If it is
/// well-formed JSON that names a workspace and carries that workspace's valid
/// signature, the refusal is counted in the workspace's Webhook health: it came from
/// Kapso (or Meta), so the business should know. Anything else is only logged.
async fn refused_unread(state: &AppState, bytes: &Bytes, headers: &HeaderMap, err: payload::ParseError) -> AppError {
    let (status, refusal) = if err.over_limit {
        (413, AppError::TooManyItems(err.to_string()))
    } else {
        (400, AppError::BadRequest(err.to_string()))
    };
    let hint = bounds::route_hint(bytes.clone()).await;
    if let Some(phone_number_id) = hint {
        if let Ok(Some(workspace)) = state.workspaces.lookup(&phone_number_id).await {
            if signature::check(&workspace.webhook_secret, bytes, headers) == signature::Verdict::Valid {
                let reason = err.to_string();
                let code = health::refusal_code(status, &reason);
                state.webhook_refusals.refused(&state.db, &workspace.id, &code, &reason).await;
            }
        }
    }
    refusal
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn require_json(headers: &HeaderMap) -> AppResult<()> {
    let content_type = header_text(headers, header::CONTENT_TYPE.as_str()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType(format!(
            "Content-Type must be application/json (got `{}`)",
            if content_type.is_empty() { "nothing" } else { content_type }
        )))
    }
}

/// Reads the body, refusing anything over the limit with 413. The rest of an oversized
/// body is read and thrown away (up to [`DRAIN_LIMIT`]) so the sender, still writing,
/// receives the 413 rather than a reset connection.
async fn read_body(body: Body, headers: &HeaderMap) -> AppResult<Bytes> {
    const DRAIN_LIMIT: usize = 4 * MAX_BODY_BYTES;
    let declared = header_text(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    let mut collected = Vec::with_capacity(declared.unwrap_or(0).min(MAX_BODY_BYTES as u64) as usize);
    let mut seen = 0usize;
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| AppError::BadRequest(format!("could not read the request body: {err}")))?;
        seen += chunk.len();
        if seen <= MAX_BODY_BYTES {
            collected.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_BODY_BYTES || declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(AppError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    Ok(Bytes::from(collected))
}

type Routed = Vec<(Option<Arc<Workspace>>, payload::Item)>;

/// Finds each item's workspace by its phone_number_id. Items that name none belong to
/// the delivery's workspace; a delivery in which no item names a known number is 404.
async fn route(state: &AppState, items: Vec<payload::Item>) -> AppResult<Routed> {
    let mut found: HashMap<String, Option<Arc<Workspace>>> = HashMap::new();
    for item in &items {
        if let Some(id) = &item.phone_number_id {
            if !found.contains_key(id) {
                let workspace = state.workspaces.lookup(id).await?;
                found.insert(id.clone(), workspace);
            }
        }
    }
    if found.is_empty() {
        return Err(AppError::BadRequest(
            "the delivery names no phone_number_id, so it cannot be routed to a workspace".into(),
        ));
    }
    let known: Vec<&Arc<Workspace>> = found.values().flatten().collect();
    let Some(&first) = known.first() else {
        let mut ids: Vec<&String> = found.keys().collect();
        ids.sort();
        let ids = ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        return Err(AppError::NotFound(format!("no workspace is connected to phone_number_id {ids}")));
    };
    let fallback = (known.len() == 1).then(|| first.clone());
    Ok(items
        .into_iter()
        .map(|item| {
            let workspace = match &item.phone_number_id {
                Some(id) => found.get(id).cloned().flatten(),
                None => fallback.clone(),
            };
            (workspace, item)
        })
        .collect())
}

/// Every workspace a delivery writes to must accept its signature. A signature that
/// fails against a cached secret is tried once more against the stored one, so a secret
/// rotated by another process takes effect at once.
async fn authenticate(state: &AppState, routed: &Routed, body: &[u8], headers: &HeaderMap) -> AppResult<()> {
    let mut checked: Vec<&str> = Vec::new();
    for workspace in routed.iter().filter_map(|(ws, _)| ws.as_ref()) {
        if checked.contains(&workspace.id.as_str()) {
            continue;
        }
        checked.push(workspace.id.as_str());
        let mut verdict = signature::check(&workspace.webhook_secret, body, headers);
        if verdict == signature::Verdict::Invalid {
            if let Some(fresh) = state.workspaces.refresh(&workspace.phone_number_id).await? {
                verdict = signature::check(&fresh.webhook_secret, body, headers);
            }
        }
        match verdict {
            signature::Verdict::Valid => {}
            signature::Verdict::Missing if workspace.allow_unsigned_webhooks => {}
            signature::Verdict::Missing => {
                return Err(AppError::Unauthorized(
                    "missing signature: send X-Webhook-Signature (hex HMAC-SHA256 of the body) or X-Hub-Signature-256"
                        .into(),
                ))
            }
            signature::Verdict::Invalid => {
                tracing::warn!(workspace = %workspace.id, "webhook signature mismatch");
                return Err(AppError::Unauthorized("invalid signature".into()));
            }
        }
    }
    Ok(())
}

/// Compresses the body for the delivery log here, in the request, so the single writer
/// does not; a large one on the blocking pool.
async fn pack_for_log(bytes: &Bytes) -> Vec<u8> {
    if bytes.len() <= bounds::OFFLOAD_BYTES {
        return log::pack(bytes);
    }
    let bytes = bytes.clone();
    tokio::task::spawn_blocking(move || log::pack(&bytes)).await.expect("compressing does not panic")
}

#[derive(serde::Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription check: echo the challenge when the verify token is one of ours.
async fn verification_handshake(
    State(state): State<AppState>,
    query: Result<Query<Handshake>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(handshake)) = query else {
        return (StatusCode::FORBIDDEN, "verification failed").into_response();
    };
    let (Some("subscribe"), Some(token), Some(challenge)) =
        (handshake.mode.as_deref(), handshake.verify_token.as_deref(), handshake.challenge)
    else {
        return (StatusCode::FORBIDDEN, "verification failed").into_response();
    };
    match workspaces::find_by_verify_token(&state.db, token).await {
        Ok(Some(_)) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response(),
        Ok(None) => (StatusCode::FORBIDDEN, "verification failed").into_response(),
        Err(err) => err.into_response(),
    }
}
