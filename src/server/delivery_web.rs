//! Server side of the pages' server functions for shared contact cards ("Add as lead"
//! in the Inbox) and the Webhook health panel in Settings. Kept apart from `web.rs` so
//! each stays readable; the same rules apply: resolve the member first, check the role,
//! call the queries, shape the answer.

use crate::app::api::{ContactLead, HealthLine, UiError, WebhookHealthView};
use crate::server::{
    clock::{local_display, now_ms, rfc3339},
    contact_cards,
    live::LeadChanged,
    web::{member, posted_without_javascript, refuse},
    webhook::health,
};

/// Lines the Webhook health panel shows.
const HEALTH_LINES: i64 = 50;

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
