//! Where a webhook becomes a lead.
//!
//! [`apply_delivery`] takes a parsed, routed, signature-checked delivery and writes what
//! it reports, item by item, on a connection the caller has put in the right transaction
//! state (see `commit.rs`). Each item runs in its own transaction scope (a SAVEPOINT
//! inside SQLite's group transaction, a transaction of its own on PostgreSQL), so an
//! item that turns out to be a repeat is rolled back whole and leaves no trace.
//!
//! The rules, per inbound message:
//! 1. find-or-create the lead by its phone key (`ON CONFLICT` on the unique
//!    `(workspace_id, phone_normalized)`, so concurrent first messages from one new
//!    number make one lead), refresh the WhatsApp profile name (`kapso_name`), never
//!    touch the manual `name`, move `last_activity_at` forward;
//! 2. upsert the conversation: unread + 1, last message time and preview;
//! 3. insert the message, `ON CONFLICT (workspace_id, kapso_message_id) DO NOTHING`;
//!    if it was already there, the delivery is a repeat: roll the item back, so neither
//!    activity nor unread count moves.
//!
//! Statuses and outbound messages never create leads and never move `last_activity_at`.
//! Every statement touches the lead row before the conversation row, so concurrent
//! PostgreSQL transactions lock in one order and cannot deadlock each other.

use super::payload::{ConversationEvent, DeliveryStatus, Direction, Event, Format, Item, MessageEvent, StatusEvent};
use crate::server::{
    clock::now_ms,
    ids::{ConversationId, DeliveryId, LeadId, MessageId, WorkspaceId},
    phone::CustomerKey,
    workspaces::Workspace,
};
use serde::Serialize;
use sqlx::{AnyConnection, Connection, Row};
use std::sync::Arc;

/// A delivery ready to be written: every item routed to its workspace (or `None` when
/// its `phone_number_id` belongs to no workspace) and the raw body for the log.
#[derive(Debug)]
pub struct Submission {
    pub delivery_id: DeliveryId,
    /// The workspace the delivery log row belongs to (the first routed item's).
    pub workspace_id: WorkspaceId,
    pub items: Vec<(Option<Arc<Workspace>>, Item)>,
    pub raw_body: String,
    pub idempotency_key: Option<String>,
    pub event: Option<String>,
    pub format: Format,
    pub received_at: i64,
}

/// What the webhook answers: one entry per item, in delivery order.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryReport {
    pub delivery_id: String,
    pub results: Vec<ItemReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemReport {
    pub index: usize,
    /// message | status | conversation | event
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kapso_message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kapso_conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lead_created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Workspace of the lead touched, for the live-update fan-out (not part of the answer).
    #[serde(skip)]
    pub workspace_id: Option<WorkspaceId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Stored for the first time.
    Created,
    /// Seen before: nothing changed.
    Duplicate,
    /// An existing row moved forward (status, conversation state).
    Updated,
    /// Known, and what the item says is not newer than what is stored.
    Unchanged,
    /// Understood but not acted on; `reason` says why.
    Ignored,
}

impl ItemReport {
    fn new(index: usize, kind: &'static str, outcome: Outcome) -> Self {
        ItemReport {
            index,
            kind,
            outcome,
            kapso_message_id: None,
            kapso_conversation_id: None,
            lead_id: None,
            lead_created: false,
            reason: None,
            workspace_id: None,
        }
    }

    fn ignored(index: usize, kind: &'static str, reason: impl Into<String>) -> Self {
        ItemReport { reason: Some(reason.into()), ..Self::new(index, kind, Outcome::Ignored) }
    }

    fn touching(mut self, workspace: &Workspace, lead_id: &str) -> Self {
        self.workspace_id = Some(workspace.id.clone());
        self.lead_id = Some(lead_id.to_string());
        self
    }
}

/// Writes every item of `submission`, then its log row, on `conn`.
pub async fn apply_delivery(conn: &mut AnyConnection, submission: &Submission) -> Result<DeliveryReport, sqlx::Error> {
    let mut results = Vec::with_capacity(submission.items.len());
    for (index, (workspace, item)) in submission.items.iter().enumerate() {
        let report = match workspace {
            None => ItemReport::ignored(
                index,
                kind_of(&item.event),
                format!(
                    "no workspace is connected to phone_number_id {}",
                    item.phone_number_id.as_deref().unwrap_or("(none)")
                ),
            ),
            Some(workspace) => apply_item_with_retry(conn, workspace, index, &item.event).await?,
        };
        results.push(report);
    }
    log_delivery(conn, submission, &results).await?;
    Ok(DeliveryReport { delivery_id: submission.delivery_id.to_string(), results })
}

fn kind_of(event: &Event) -> &'static str {
    match event {
        Event::Message(_) => "message",
        Event::Status(_) => "status",
        Event::Conversation(_) => "conversation",
        Event::Ignored { .. } => "event",
    }
}

/// What an item's scope ends with.
enum Applied {
    Keep(ItemReport),
    /// The item turned out to be a repeat: undo whatever it did and answer this.
    Undo(ItemReport),
}

async fn apply_item_with_retry(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    index: usize,
    event: &Event,
) -> Result<ItemReport, sqlx::Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply_item_in_scope(conn, workspace, index, event).await {
            // PostgreSQL may pick this transaction as a deadlock victim or fail it for
            // serialization; the item is idempotent, so simply run it again.
            Err(err) if attempt < 4 && is_transient_conflict(&err) => continue,
            other => return other,
        }
    }
}

async fn apply_item_in_scope(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    index: usize,
    event: &Event,
) -> Result<ItemReport, sqlx::Error> {
    let mut scope = conn.begin().await?;
    let applied = match event {
        Event::Message(message) => match message.direction {
            Direction::Inbound => inbound_message(&mut scope, workspace, index, message).await,
            Direction::Outbound => outbound_message(&mut scope, workspace, index, message).await,
        },
        Event::Status(status) => status_update(&mut scope, workspace, index, status).await,
        Event::Conversation(conversation) => conversation_update(&mut scope, workspace, index, conversation).await,
        Event::Ignored { reason } => Ok(Applied::Keep(ItemReport::ignored(index, "event", reason.clone()))),
    };
    match applied {
        Ok(Applied::Keep(report)) => {
            scope.commit().await?;
            Ok(report)
        }
        Ok(Applied::Undo(report)) => {
            scope.rollback().await?;
            Ok(report)
        }
        Err(err) => {
            // Dropping the scope rolls it back; an explicit rollback reports errors.
            let _ = scope.rollback().await;
            Err(err)
        }
    }
}

fn is_transient_conflict(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01") | Some("40001")))
}

const UPSERT_LEAD_FOR_INBOUND: &str = "\
INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_valid, kapso_name, lead_status, source,
                   kapso_conversation_id, created_at, updated_at, last_activity_at)
VALUES ($1, $2, $3, $4, $5, $6, 'new', 'whatsapp', $7, $8, $8, $8)
ON CONFLICT (workspace_id, phone_normalized) DO UPDATE SET
    kapso_name = COALESCE(excluded.kapso_name, leads.kapso_name),
    kapso_conversation_id = COALESCE(excluded.kapso_conversation_id, leads.kapso_conversation_id),
    last_activity_at = CASE
        WHEN leads.last_activity_at IS NULL OR leads.last_activity_at < excluded.last_activity_at
        THEN excluded.last_activity_at ELSE leads.last_activity_at END,
    updated_at = excluded.updated_at
RETURNING id";

async fn inbound_message(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    index: usize,
    message: &MessageEvent,
) -> Result<Applied, sqlx::Error> {
    let mut report = ItemReport::new(index, "message", Outcome::Created);
    report.kapso_message_id = Some(message.wamid.clone());
    report.kapso_conversation_id = message.kapso_conversation_id.clone();
    let Some(key) = customer_key(&message.customer) else {
        return Ok(Applied::Keep(ItemReport {
            reason: Some("the message names no sender (no phone number and no user id)".into()),
            outcome: Outcome::Ignored,
            ..report
        }));
    };
    let now = now_ms();
    let proposed = LeadId::generate();
    let lead_id: String = sqlx::query(UPSERT_LEAD_FOR_INBOUND)
        .bind(proposed.as_str())
        .bind(workspace.id.as_str())
        .bind(raw_identity(&message.customer, &key))
        .bind(key.as_str())
        .bind(i64::from(key.is_valid_phone()))
        .bind(message.customer.profile_name.as_deref())
        .bind(message.kapso_conversation_id.as_deref())
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
    report.lead_created = lead_id == proposed.as_str();
    let conversation_id = record_in_conversation(conn, workspace, &lead_id, message, 1, now).await?;
    let inserted = insert_message(conn, workspace, &lead_id, &conversation_id, message, now).await?;
    let report = report.touching(workspace, &lead_id);
    if inserted {
        Ok(Applied::Keep(report))
    } else {
        Ok(Applied::Undo(ItemReport { outcome: Outcome::Duplicate, lead_created: false, ..report }))
    }
}

/// An outbound message (the business wrote, from Kapso or from us): records it on a lead
/// that already exists, or moves its delivery status forward.
async fn outbound_message(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    index: usize,
    message: &MessageEvent,
) -> Result<Applied, sqlx::Error> {
    let mut report = ItemReport::new(index, "message", Outcome::Updated);
    report.kapso_message_id = Some(message.wamid.clone());
    report.kapso_conversation_id = message.kapso_conversation_id.clone();
    if let Some(status) = message.status {
        match advance_status(conn, workspace, &message.wamid, status, message.status_error.as_deref()).await? {
            StatusChange::Advanced(lead_id) => return Ok(Applied::Keep(report.touching(workspace, &lead_id))),
            StatusChange::NotNewer => return Ok(Applied::Keep(ItemReport { outcome: Outcome::Unchanged, ..report })),
            StatusChange::UnknownMessage => {}
        }
    } else if message_exists(conn, workspace, &message.wamid).await? {
        return Ok(Applied::Keep(ItemReport { outcome: Outcome::Duplicate, ..report }));
    }
    let lead_id = match customer_key(&message.customer) {
        Some(key) => find_lead_id(conn, workspace, &key).await?,
        None => None,
    };
    let Some(lead_id) = lead_id else {
        return Ok(Applied::Keep(ItemReport {
            outcome: Outcome::Ignored,
            reason: Some("no lead has this number; outbound messages never create leads".into()),
            ..report
        }));
    };
    let now = now_ms();
    if let Some(kapso_id) = &message.kapso_conversation_id {
        link_conversation(conn, &lead_id, kapso_id, now).await?;
    }
    let conversation_id = record_in_conversation(conn, workspace, &lead_id, message, 0, now).await?;
    let inserted = insert_message(conn, workspace, &lead_id, &conversation_id, message, now).await?;
    let report = ItemReport { outcome: Outcome::Created, ..report.touching(workspace, &lead_id) };
    if inserted {
        Ok(Applied::Keep(report))
    } else {
        Ok(Applied::Undo(ItemReport { outcome: Outcome::Duplicate, ..report }))
    }
}

async fn status_update(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    index: usize,
    status: &StatusEvent,
) -> Result<Applied, sqlx::Error> {
    let mut report = ItemReport::new(index, "status", Outcome::Updated);
    report.kapso_message_id = Some(status.wamid.clone());
    Ok(Applied::Keep(
        match advance_status(conn, workspace, &status.wamid, status.status, status.error.as_deref()).await? {
            StatusChange::Advanced(lead_id) => report.touching(workspace, &lead_id),
            StatusChange::NotNewer => ItemReport { outcome: Outcome::Unchanged, ..report },
            StatusChange::UnknownMessage => ItemReport {
                outcome: Outcome::Ignored,
                reason: Some("no stored message has this id; statuses never create leads or messages".into()),
                ..report
            },
        },
    ))
}

async fn conversation_update(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    index: usize,
    event: &ConversationEvent,
) -> Result<Applied, sqlx::Error> {
    let mut report = ItemReport::new(index, "conversation", Outcome::Updated);
    report.kapso_conversation_id = Some(event.kapso_conversation_id.clone());
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE conversations SET status = COALESCE($1, status), updated_at = $2 \
         WHERE workspace_id = $3 AND kapso_conversation_id = $4 RETURNING lead_id",
    )
    .bind(event.status.as_deref())
    .bind(now)
    .bind(workspace.id.as_str())
    .bind(&event.kapso_conversation_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = updated {
        let lead_id: String = row.try_get("lead_id")?;
        return Ok(Applied::Keep(report.touching(workspace, &lead_id)));
    }
    let lead_id = match customer_key(&event.customer) {
        Some(key) => find_lead_id(conn, workspace, &key).await?,
        None => None,
    };
    let Some(lead_id) = lead_id else {
        return Ok(Applied::Keep(ItemReport {
            outcome: Outcome::Ignored,
            reason: Some("no lead has this number yet; its first message will create the lead".into()),
            ..report
        }));
    };
    link_conversation(conn, &lead_id, &event.kapso_conversation_id, now).await?;
    sqlx::query(
        "INSERT INTO conversations (id, workspace_id, lead_id, kapso_conversation_id, status, unread_count, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, COALESCE($5, 'active'), 0, $6, $6) \
         ON CONFLICT (workspace_id, kapso_conversation_id) DO NOTHING",
    )
    .bind(ConversationId::generate().as_str())
    .bind(workspace.id.as_str())
    .bind(&lead_id)
    .bind(&event.kapso_conversation_id)
    .bind(event.status.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Applied::Keep(ItemReport { outcome: Outcome::Created, ..report.touching(workspace, &lead_id) }))
}

fn customer_key(customer: &super::payload::Customer) -> Option<CustomerKey> {
    CustomerKey::from_whatsapp(customer.phone.as_deref(), customer.business_scoped_id.as_deref())
}

/// What `phone_raw` keeps: the number as it arrived, or the user id for senders without one.
fn raw_identity(customer: &super::payload::Customer, key: &CustomerKey) -> String {
    match (&customer.phone, key) {
        (Some(phone), CustomerKey::Phone(_) | CustomerKey::UncheckedDigits(_)) => phone.clone(),
        _ => key.as_str(),
    }
}

async fn find_lead_id(conn: &mut AnyConnection, workspace: &Workspace, key: &CustomerKey) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT id FROM leads WHERE workspace_id = $1 AND phone_normalized = $2")
        .bind(workspace.id.as_str())
        .bind(key.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.try_get("id")).transpose()
}

/// Points a lead without a conversation at this one (locks the lead row first, see the
/// module notes on lock order).
async fn link_conversation(conn: &mut AnyConnection, lead_id: &str, kapso_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE leads SET kapso_conversation_id = COALESCE(kapso_conversation_id, $1), updated_at = $2 WHERE id = $3",
    )
    .bind(kapso_id)
    .bind(now)
    .bind(lead_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const UPSERT_CONVERSATION: &str = "\
INSERT INTO conversations (id, workspace_id, lead_id, kapso_conversation_id, status, unread_count,
                           last_message_at, last_message_preview, created_at, updated_at)
VALUES ($1, $2, $3, $4, COALESCE($5, 'active'), $6, $7, $8, $7, $7)
ON CONFLICT (workspace_id, kapso_conversation_id) DO UPDATE SET
    unread_count = conversations.unread_count + excluded.unread_count,
    last_message_preview = CASE
        WHEN conversations.last_message_at IS NULL OR conversations.last_message_at <= excluded.last_message_at
        THEN excluded.last_message_preview ELSE conversations.last_message_preview END,
    last_message_at = CASE
        WHEN conversations.last_message_at IS NULL OR conversations.last_message_at <= excluded.last_message_at
        THEN excluded.last_message_at ELSE conversations.last_message_at END,
    status = excluded.status,
    updated_at = excluded.updated_at
RETURNING id";

/// Counts a message into its conversation and returns the conversation's id. Kapso
/// deliveries name the conversation; Meta-format ones do not, and join the lead's
/// latest conversation (or start one without a Kapso id).
async fn record_in_conversation(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    lead_id: &str,
    message: &MessageEvent,
    unread_increment: i64,
    now: i64,
) -> Result<String, sqlx::Error> {
    if let Some(kapso_id) = &message.kapso_conversation_id {
        return sqlx::query(UPSERT_CONVERSATION)
            .bind(ConversationId::generate().as_str())
            .bind(workspace.id.as_str())
            .bind(lead_id)
            .bind(kapso_id)
            .bind(message.conversation_status.as_deref())
            .bind(unread_increment)
            .bind(now)
            .bind(&message.preview)
            .fetch_one(&mut *conn)
            .await?
            .try_get("id");
    }
    let latest = sqlx::query(
        "SELECT id FROM conversations WHERE lead_id = $1 \
         ORDER BY COALESCE(last_message_at, 0) DESC, created_at DESC LIMIT 1",
    )
    .bind(lead_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = latest {
        let id: String = row.try_get("id")?;
        sqlx::query(
            "UPDATE conversations SET unread_count = unread_count + $1, \
             last_message_preview = CASE WHEN last_message_at IS NULL OR last_message_at <= $2 THEN $3 ELSE last_message_preview END, \
             last_message_at = CASE WHEN last_message_at IS NULL OR last_message_at <= $2 THEN $2 ELSE last_message_at END, \
             updated_at = $2 WHERE id = $4",
        )
        .bind(unread_increment)
        .bind(now)
        .bind(&message.preview)
        .bind(&id)
        .execute(&mut *conn)
        .await?;
        return Ok(id);
    }
    let id = ConversationId::generate();
    sqlx::query(
        "INSERT INTO conversations (id, workspace_id, lead_id, kapso_conversation_id, status, unread_count, \
         last_message_at, last_message_preview, created_at, updated_at) \
         VALUES ($1, $2, $3, NULL, 'active', $4, $5, $6, $5, $5)",
    )
    .bind(id.as_str())
    .bind(workspace.id.as_str())
    .bind(lead_id)
    .bind(unread_increment)
    .bind(now)
    .bind(&message.preview)
    .execute(&mut *conn)
    .await?;
    Ok(id.into_string())
}

/// Inserts the message unless its id is already stored; `false` means it was.
async fn insert_message(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    lead_id: &str,
    conversation_id: &str,
    message: &MessageEvent,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let status = message.status.filter(|_| message.direction == Direction::Outbound);
    let result = sqlx::query(
        "INSERT INTO messages (id, workspace_id, lead_id, conversation_id, kapso_message_id, direction, message_type, \
         content, media_url, reply_to_kapso_message_id, provider_timestamp, received_at, status, status_rank, status_error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (workspace_id, kapso_message_id) DO NOTHING",
    )
    .bind(MessageId::generate().as_str())
    .bind(workspace.id.as_str())
    .bind(lead_id)
    .bind(conversation_id)
    .bind(&message.wamid)
    .bind(message.direction.as_str())
    .bind(&message.message_type)
    .bind(message.content.as_deref())
    .bind(message.media_url.as_deref())
    .bind(message.reply_to.as_deref())
    .bind(message.provider_timestamp)
    .bind(now)
    .bind(status.map(DeliveryStatus::as_str))
    .bind(status.map_or(0, DeliveryStatus::rank))
    .bind(message.status_error.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

async fn message_exists(conn: &mut AnyConnection, workspace: &Workspace, wamid: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 AS one FROM messages WHERE workspace_id = $1 AND kapso_message_id = $2")
        .bind(workspace.id.as_str())
        .bind(wamid)
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

enum StatusChange {
    /// The status moved forward; the message belongs to this lead.
    Advanced(String),
    /// The message is known and already at this status or a later one.
    NotNewer,
    UnknownMessage,
}

/// Moves an outbound message's status forward, never backwards: a late "delivered"
/// after "read" changes nothing.
async fn advance_status(
    conn: &mut AnyConnection,
    workspace: &Workspace,
    wamid: &str,
    status: DeliveryStatus,
    error: Option<&str>,
) -> Result<StatusChange, sqlx::Error> {
    let advanced = sqlx::query(
        "UPDATE messages SET status = $1, status_rank = $2, status_error = COALESCE($3, status_error) \
         WHERE workspace_id = $4 AND kapso_message_id = $5 AND direction = 'outbound' AND status_rank < $2 \
         RETURNING lead_id",
    )
    .bind(status.as_str())
    .bind(status.rank())
    .bind(error)
    .bind(workspace.id.as_str())
    .bind(wamid)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = advanced {
        return Ok(StatusChange::Advanced(row.try_get("lead_id")?));
    }
    Ok(if message_exists(conn, workspace, wamid).await? {
        StatusChange::NotNewer
    } else {
        StatusChange::UnknownMessage
    })
}

async fn log_delivery(conn: &mut AnyConnection, submission: &Submission, results: &[ItemReport]) -> Result<(), sqlx::Error> {
    let outcome = serde_json::to_string(results).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, workspace_id, idempotency_key, event, format, raw_body, received_at, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (workspace_id, idempotency_key) DO NOTHING",
    )
    .bind(submission.delivery_id.as_str())
    .bind(submission.workspace_id.as_str())
    .bind(submission.idempotency_key.as_deref())
    .bind(submission.event.as_deref())
    .bind(submission.format.as_str())
    .bind(&submission.raw_body)
    .bind(submission.received_at)
    .bind(outcome)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
