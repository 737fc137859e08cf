//! Server side of the pages' server functions for shared contact cards ("Add as lead"
//! in the Inbox) and the Webhook health panel in Settings. Kept apart from `web.rs` so
//! each stays readable; the same rules apply: resolve the member first, check the role,
//! call the queries, shape the answer.

use crate::app::api::{ContactLead, HealthLine, UiError, WebhookHealthView};
use crate::server::{
    clock::{local_display, now_ms, rfc3339},
    contact_cards,
    error::AppError,
    live::LeadChanged,
    web::member,
    webhook::health,
};
use axum::http::{header, request::Parts};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// Lines the Webhook health panel shows.
const HEALTH_LINES: i64 = 50;

/// A refusal as the browser sees it, with its HTTP status when called over HTTP.
fn refuse(err: AppError) -> UiError {
    let over_http = use_context::<Parts>().is_some_and(|parts| parts.uri.path().starts_with("/api/"));
    if let (true, Some(response)) = (over_http, use_context::<ResponseOptions>()) {
        response.set_status(err.status());
    }
    match err {
        AppError::Unauthorized(_) => UiError::SignedOut,
        AppError::Forbidden(m) => UiError::Forbidden(m),
        AppError::NotFound(m) => UiError::NotFound(m),
        AppError::BadRequest(m) | AppError::Unprocessable(m) => UiError::Invalid(m),
        AppError::Conflict { message, .. } => UiError::Invalid(message),
        AppError::Unavailable(m) | AppError::TooManyRequests(m) => UiError::Unavailable(m),
        other => UiError::Failed(other.to_string()),
    }
}

/// A plain HTML form post (no JavaScript) asks for HTML; the hydrated page asks for JSON.
fn posted_without_javascript() -> bool {
    use_context::<Parts>().is_some_and(|parts| {
        parts.uri.path().starts_with("/api/")
            && parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
    })
}

pub async fn add_contact_lead(message_id: String, card: usize, phone: usize) -> Result<ContactLead, UiError> {
    let (state, member) = member().await?;
    let added =
        contact_cards::add_as_lead(&state.db, &member.workspace, &message_id, card, phone).await.map_err(refuse)?;
    if added.created {
        state.live.publish(LeadChanged {
            workspace_id: member.workspace.id.to_string(),
            lead_id: added.lead_id.clone(),
            created: true,
        });
    }
    if posted_without_javascript() {
        leptos_axum::redirect(&added.path);
    }
    Ok(added)
}

pub async fn webhook_health() -> Result<WebhookHealthView, UiError> {
    let (state, member) = member().await?;
    member.require(member.role.can_manage_secrets(), "see the webhook's health").map_err(refuse)?;
    let zone = &member.workspace.time_zone;
    let lines = health::recent(&state.db, &member.workspace.id, HEALTH_LINES)
        .await
        .map_err(refuse)?
        .into_iter()
        .map(|record| HealthLine {
            kind: record.kind,
            code: record.code,
            title: record.title,
            count: record.count,
            last_seen_ms: record.last_seen,
            last_seen_local: local_display(record.last_seen, zone),
            last_seen_iso: rfc3339(record.last_seen),
        })
        .collect();
    Ok(WebhookHealthView { lines, now_ms: now_ms() })
}
