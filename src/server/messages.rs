//! Messages of a lead: the thread the Inbox shows and the API lists, oldest first.

use crate::model::{DeliveryStatus, Direction};
use crate::server::{
    auth::ApiWorkspace,
    clock::rfc3339,
    db::Db,
    error::{AppError, AppResult},
    http::AppState,
    ids::LeadId,
    leads::{self, lead_id_from_path},
    workspaces::Workspace,
};
use axum::{
    extract::{Path, Query, State},
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, Row};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/leads/{id}/messages", get(list_messages))
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageRecord {
    pub id: String,
    pub kapso_message_id: String,
    pub direction: Direction,
    #[serde(rename = "type")]
    pub message_type: String,
    pub content: Option<String>,
    pub media_url: Option<String>,
    pub reply_to_kapso_message_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub status_error: Option<String>,
    /// WhatsApp's time of the message, or when it reached us if the delivery had none.
    #[serde(skip)]
    pub sent_at_ms: i64,
    #[serde(skip)]
    pub received_at_ms: i64,
    pub conversation_id: Option<String>,
    /// Contact cards shared in the message (`type = "contacts"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_contacts: Option<serde_json::Value>,
    /// The same cards as stored (JSON text), for the Inbox.
    #[serde(skip)]
    pub shared_contacts_json: Option<String>,
}

const MESSAGE_COLUMNS: &str = "m.id, m.kapso_message_id, m.direction, m.message_type, m.content, m.media_url, \
    m.reply_to_kapso_message_id, m.status, m.status_error, m.received_at, m.conversation_id, m.shared_contacts, \
    COALESCE(m.provider_timestamp, m.received_at) AS sent_at";

fn message_from_row(row: &AnyRow) -> Result<MessageRecord, sqlx::Error> {
    let shared_contacts: Option<String> = row.try_get("shared_contacts")?;
    Ok(MessageRecord {
        id: row.try_get("id")?,
        kapso_message_id: row.try_get("kapso_message_id")?,
        direction: {
            let text: String = row.try_get("direction")?;
            Direction::parse(&text).ok_or_else(|| sqlx::Error::Decode(format!("unknown direction `{text}`").into()))?
        },
        message_type: row.try_get("message_type")?,
        content: row.try_get("content")?,
        media_url: row.try_get("media_url")?,
        reply_to_kapso_message_id: row.try_get("reply_to_kapso_message_id")?,
        status: {
            let text: Option<String> = row.try_get("status")?;
            text.map(|text| {
                DeliveryStatus::parse(&text)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown delivery status `{text}`").into()))
            })
            .transpose()?
        },
        status_error: row.try_get("status_error")?,
        sent_at_ms: row.try_get("sent_at")?,
        received_at_ms: row.try_get("received_at")?,
        conversation_id: row.try_get("conversation_id")?,
        shared_contacts: shared_contacts.as_deref().and_then(|json| serde_json::from_str(json).ok()),
        shared_contacts_json: shared_contacts,
    })
}

pub struct MessagePage {
    pub messages: Vec<MessageRecord>,
    pub next_cursor: Option<String>,
}

/// A lead's messages in the order they were written, `limit` at a time after `cursor`.
pub async fn for_lead(
    db: &Db,
    workspace: &Workspace,
    lead_id: &LeadId,
    cursor: Option<&str>,
    limit: usize,
) -> AppResult<MessagePage> {
    let after = cursor.map(decode_cursor).transpose()?;
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.workspace_id = $1 AND m.lead_id = $2");
    if after.is_some() {
        sql.push_str(" AND (COALESCE(m.provider_timestamp, m.received_at), m.id) > ($3, $4)");
    }
    sql.push_str(&format!(" ORDER BY COALESCE(m.provider_timestamp, m.received_at), m.id LIMIT {}", limit + 1));
    let mut query = sqlx::query(&sql).bind(workspace.id.as_str()).bind(lead_id.as_str());
    if let Some((at, id)) = &after {
        query = query.bind(*at).bind(id.clone());
    }
    let rows = query.fetch_all(&db.pool).await?;
    let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if messages.len() > limit {
        messages.truncate(limit);
        messages.last().map(|m| crate::server::cursor::encode(&[&m.sent_at_ms.to_string(), &m.id]))
    } else {
        None
    };
    Ok(MessagePage { messages, next_cursor })
}

/// A lead's latest `limit` messages, in the order they were written.
/// How many messages a lead has (the lead page's count).
pub async fn count_for_lead(db: &Db, workspace: &Workspace, lead_id: &LeadId) -> AppResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE workspace_id = $1 AND lead_id = $2")
        .bind(workspace.id.as_str())
        .bind(lead_id.as_str())
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("n")?)
}

pub async fn latest_for_lead(
    db: &Db,
    workspace: &Workspace,
    lead_id: &LeadId,
    limit: usize,
) -> AppResult<Vec<MessageRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.workspace_id = $1 AND m.lead_id = $2 \
         ORDER BY COALESCE(m.provider_timestamp, m.received_at) DESC, m.id DESC LIMIT {limit}"
    ))
    .bind(workspace.id.as_str())
    .bind(lead_id.as_str())
    .fetch_all(&db.pool)
    .await?;
    let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
    messages.reverse();
    Ok(messages)
}

fn decode_cursor(cursor: &str) -> AppResult<(i64, String)> {
    let [at, id] = crate::server::cursor::decode::<2>(cursor)?;
    Ok((at.parse().map_err(|_| crate::server::cursor::invalid())?, id))
}

#[derive(Serialize)]
struct MessageJson {
    #[serde(flatten)]
    record: MessageRecord,
    sent_at: String,
    received_at: String,
}

#[derive(Deserialize)]
struct Params {
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
struct MessagesResponse {
    messages: Vec<MessageJson>,
    next_cursor: Option<String>,
}

async fn list_messages(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    Path(id): Path<String>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<MessagesResponse>> {
    let Query(params) = params.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let lead_id = lead_id_from_path(&id)?;
    // The lead must be this workspace's: otherwise 404, never an empty list.
    leads::find(&state.db, &workspace, &lead_id).await?.ok_or_else(|| AppError::not_found("lead"))?;
    let limit = match params.limit.as_deref() {
        None | Some("") => 200,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(AppError::BadRequest("limit must be a whole number from 1 to 1000".into())),
        },
    };
    let page = for_lead(&state.db, &workspace, &lead_id, params.cursor.as_deref(), limit).await?;
    Ok(Json(MessagesResponse {
        messages: page
            .messages
            .into_iter()
            .map(|record| MessageJson {
                sent_at: rfc3339(record.sent_at_ms),
                received_at: rfc3339(record.received_at_ms),
                record,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
