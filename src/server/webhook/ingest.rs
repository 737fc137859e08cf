//! Where a webhook becomes a lead.
//!
//! [`apply_delivery`] takes a parsed, routed, signature-checked delivery and writes what
//! it reports, item by item, on a connection the caller has put in the right transaction
//! state (see `commit.rs`). Each item runs in its own transaction scope (a SAVEPOINT
//! inside SQLite's group transaction, a transaction of its own on PostgreSQL), so an
//! item that turns out to be a repeat is rolled back whole and leaves no trace.
//!
//! The rules, per inbound message:
//! 1. find the customer's one lead by its identities (`identity.rs`: BSUID, then parent
//!    BSUID, then phone, then the Kapso conversation already linked), creating it for a
//!    new person and merging leads the message shows to be one person; add identifiers the
//!    lead lacks; refresh the WhatsApp profile name and username (`kapso_name`,
//!    `username`), never touch the manual `name`, move `last_activity_at` forward; a
//!    `user_changed_number` / `user_changed_user_id` system message adds the new identity;
//! 2. upsert the conversation: unread + 1, last message time and preview (a Kapso
//!    conversation that belongs to another lead ties the two: they are merged);
//! 3. insert the message, `ON CONFLICT (workspace_id, kapso_message_id) DO NOTHING`;
//!    if it was already there, the delivery is a repeat: roll the item back, so neither
//!    activity nor unread count moves.
//!
//! Statuses and outbound messages never create leads and never move `last_activity_at`
//! (a status may link the recipient's phone and BSUID on the lead it belongs to).
//! Every statement touches the lead row before the conversation row, so concurrent
//! PostgreSQL transactions lock in one order; what still collides (a deadlock, a unique
//! key claimed first, a lead merged meanwhile) is retried whole.

use super::payload::{ConversationEvent, DeliveryStatus, Direction, Event, Format, Item, MessageEvent, StatusEvent};
use crate::server::{
    clock::now_ms,
    db::Engine,
    identity::{self, Identifiers},
    ids::{ConversationId, DeliveryId, MessageId, WorkspaceId},
    merge::{self, MergeBy},
    store::{Exec, StoreError},
    workspaces::Workspace,
};
use serde::Serialize;
use std::sync::Arc;

/// A delivery ready to be written: every item routed to its workspace (or `None` when
/// its `phone_number_id` belongs to no workspace) and the raw body for the log.
#[derive(Debug)]
pub struct Submission {
    pub delivery_id: DeliveryId,
    /// The workspace the delivery log row belongs to (the first routed item's).
    pub workspace_id: WorkspaceId,
    pub items: Vec<(Option<Arc<Workspace>>, Item)>,
    /// The raw body, compressed for the delivery log (`log::pack`).
    pub packed_body: Vec<u8>,
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
    /// Leads merged into `lead_id` by this item (open pages drop their rows; not part of the answer).
    #[serde(skip)]
    pub absorbed: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// An error notice from WhatsApp, counted in the workspace's webhook health.
    Recorded,
}

impl ItemReport {
    pub(super) fn new(index: usize, kind: &'static str, outcome: Outcome) -> Self {
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
            absorbed: Vec::new(),
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

/// Runs an idempotent write again when PostgreSQL fails it for a reason that retrying
/// cures: a deadlock or serialization failure, or a concurrent copy of the same message
/// that committed first.
macro_rules! retrying {
    ($conn:ident, $attempt:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            match $attempt.await {
                Err(err)
                    if tries < 8
                        && $conn.can_race()
                        && err.is_retryable()
                        && !($conn.grouped() && err.aborts_group()) =>
                {
                    // Let the transaction that won finish before running again.
                    tokio::time::sleep(std::time::Duration::from_millis(tries * 3)).await;
                    continue;
                }
                other => break other,
            }
        }
    }};
}

/// Writes every item of `submission`, then its log row.
pub async fn apply_delivery<E: Exec>(conn: &mut E, submission: &Submission) -> Result<DeliveryReport, StoreError> {
    let items = &submission.items;
    let mut results = Vec::with_capacity(items.len());
    let mut index = 0;
    while index < items.len() {
        let (workspace, item) = &items[index];
        let Some(workspace) = workspace else {
            results.push(ItemReport::ignored(
                index,
                kind_of(&item.event),
                format!(
                    "no workspace is connected to phone_number_id {}",
                    item.phone_number_id.as_deref().unwrap_or("(none)")
                ),
            ));
            index += 1;
            continue;
        };
        match inbound_run(items, index) {
            Some(run) => {
                let end = index + run.messages.len();
                results.extend(retrying!(conn, apply_inbound_run(conn, workspace, &run))?);
                index = end;
            }
            None => {
                results.push(retrying!(conn, apply_item(conn, workspace, index, &item.event))?);
                index += 1;
            }
        }
    }
    super::log::write(conn, submission, &results).await?;
    Ok(DeliveryReport { delivery_id: submission.delivery_id.to_string(), results })
}

fn kind_of(event: &Event) -> &'static str {
    match event {
        Event::Message(_) => "message",
        Event::Status(_) => "status",
        Event::Conversation(_) => "conversation",
        Event::Ignored { .. } => "event",
        Event::ErrorNotice(_) => "error",
    }
}

/// What an item's scope ends with.
enum Applied {
    Keep(ItemReport),
    /// The item turned out to be a repeat: undo whatever it did and answer this.
    Undo(ItemReport),
}

/// One item that is not an inbound message, in a scope of its own.
async fn apply_item<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    index: usize,
    event: &Event,
) -> Result<ItemReport, StoreError> {
    conn.begin_scope().await?;
    let applied = match event {
        Event::Message(message) => outbound_message(conn, workspace, index, message).await,
        Event::Status(status) => status_update(conn, workspace, index, status).await,
        Event::Conversation(conversation) => conversation_update(conn, workspace, index, conversation).await,
        Event::Ignored { reason } => Ok(Applied::Keep(ItemReport::ignored(index, "event", reason.clone()))),
        Event::ErrorNotice(notice) => {
            super::health::record_notice(conn, &workspace.id, notice, now_ms()).await.map(|()| {
                let report = ItemReport::new(index, "error", Outcome::Recorded);
                Applied::Keep(ItemReport { reason: Some(notice.describe()), ..report })
            })
        }
    };
    match applied {
        Ok(Applied::Keep(report)) => {
            conn.end_scope(true).await?;
            Ok(report)
        }
        Ok(Applied::Undo(report)) => {
            conn.end_scope(false).await?;
            Ok(report)
        }
        Err(err) => {
            let _ = conn.end_scope(false).await;
            Err(err)
        }
    }
}

/// Consecutive inbound messages of one customer in one conversation, as Kapso batches
/// them: written with one lead update and one conversation update. A message announcing
/// an identity change is a run of its own.
struct InboundRun<'a> {
    ids: Identifiers,
    first_index: usize,
    messages: Vec<&'a MessageEvent>,
}

/// The run of inbound messages that starts at `start`, if the item there is one that
/// names its customer (an identifier, or at least a Kapso conversation).
fn inbound_run(items: &[(Option<Arc<Workspace>>, Item)], start: usize) -> Option<InboundRun<'_>> {
    let inbound = |i: usize| match &items[i] {
        (Some(ws), Item { event: Event::Message(m), .. }) if m.direction == Direction::Inbound => Some((ws, m)),
        _ => None,
    };
    let (workspace, first) = inbound(start)?;
    let ids = first.customer.ids.clone();
    if ids.is_empty() && first.kapso_conversation_id.is_none() {
        return None;
    }
    let mut messages = vec![first];
    if first.customer.changed_to.is_none() {
        for i in start + 1..items.len() {
            match inbound(i) {
                Some((ws, m))
                    if ws.id == workspace.id
                        && m.kapso_conversation_id == first.kapso_conversation_id
                        && m.customer.changed_to.is_none()
                        && m.customer.ids == ids =>
                {
                    messages.push(m)
                }
                _ => break,
            }
        }
    }
    Some(InboundRun { ids, first_index: start, messages })
}

/// Step 1's lead update: activity forward, the latest conversation for "Open in Inbox",
/// the reply clock (`$4` the run's latest message time, `$5` its earliest: see `replies`).
/// A lead merged away meanwhile matches no row (the run is retried and finds the survivor).
const TOUCH_LEAD: &str = "\
UPDATE leads SET
    kapso_conversation_id = COALESCE($2, kapso_conversation_id),
    last_activity_at = CASE WHEN last_activity_at IS NULL OR last_activity_at < $3 THEN $3 ELSE last_activity_at END,
    last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at < $4 THEN $4 ELSE last_inbound_at END,
    awaiting_reply_since = CASE
        WHEN awaiting_reply_since IS NOT NULL AND awaiting_reply_since <= $5 THEN awaiting_reply_since
        WHEN $5 > COALESCE(last_outbound_at, 0) THEN $5
        ELSE awaiting_reply_since END,
    updated_at = $3
WHERE id = $1 AND merged_into IS NULL
RETURNING kapso_name, username";

/// The profile name and username are rewritten apart, only when they changed: writing
/// them unchanged with every message would rewrite the name indexes each time.
const REFRESH_LABELS: &str =
    "UPDATE leads SET kapso_name = COALESCE($1, kapso_name), username = COALESCE($2, username) WHERE id = $3";

/// Writes a run of inbound messages: repeats are skipped, and if nothing is new nothing
/// is written at all (no activity bump, no unread bump). Otherwise, in one scope: the
/// lead (step 1), the conversation (step 2: unread + the number of new messages), and
/// each new message (step 3).
async fn apply_inbound_run<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    run: &InboundRun<'_>,
) -> Result<Vec<ItemReport>, StoreError> {
    let mut fresh: Vec<usize> = Vec::new();
    for (offset, message) in run.messages.iter().enumerate() {
        let repeated_in_run = run.messages[..offset].iter().any(|earlier| earlier.wamid == message.wamid);
        if !repeated_in_run && !message_exists(conn, workspace, &message.wamid).await? {
            fresh.push(offset);
        }
    }
    let report = |offset: usize, outcome: Outcome| {
        let message = run.messages[offset];
        let mut report = ItemReport::new(run.first_index + offset, "message", outcome);
        report.kapso_message_id = Some(message.wamid.clone());
        report.kapso_conversation_id = message.kapso_conversation_id.clone();
        report
    };
    let Some(&latest) = fresh.last() else {
        let kapso_id = run.messages[0].kapso_conversation_id.as_deref();
        let lead_id = identity::find_lead(conn, workspace.id.as_str(), &run.ids, kapso_id).await?;
        return Ok((0..run.messages.len())
            .map(|offset| {
                let duplicate = report(offset, Outcome::Duplicate);
                match &lead_id {
                    Some(id) => duplicate.touching(workspace, id),
                    None => duplicate,
                }
            })
            .collect());
    };

    // PostgreSQL: a transaction per run. SQLite: the writer's group transaction already
    // covers it, and nobody else writes in between.
    let scoped = conn.engine() == Engine::Postgres;
    if scoped {
        conn.begin_scope().await?;
    }
    let written = write_inbound_run(conn, workspace, run, &fresh, latest).await;
    if scoped {
        match &written {
            Ok(Some(_)) => conn.end_scope(true).await?,
            _ => {
                let _ = conn.end_scope(false).await;
            }
        }
    }
    let Some(Written { lead_id, created: lead_created, absorbed }) = written? else {
        return Ok((0..run.messages.len())
            .map(|offset| ItemReport {
                outcome: Outcome::Ignored,
                reason: Some(
                    "the message names no phone number or WhatsApp user id, and its conversation belongs to no lead"
                        .into(),
                ),
                ..report(offset, Outcome::Ignored)
            })
            .collect());
    };
    Ok((0..run.messages.len())
        .map(|offset| {
            let is_fresh = fresh.contains(&offset);
            let mut item = report(offset, if is_fresh { Outcome::Created } else { Outcome::Duplicate });
            item.lead_created = lead_created && Some(&offset) == fresh.first();
            if Some(&offset) == fresh.first() {
                item.absorbed = absorbed.clone();
            }
            item.touching(workspace, &lead_id)
        })
        .collect())
}

/// The lead a run of messages landed on.
struct Written {
    lead_id: String,
    created: bool,
    /// Leads the run showed to be the same person, merged into `lead_id`.
    absorbed: Vec<String>,
}

async fn write_inbound_run<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    run: &InboundRun<'_>,
    fresh: &[usize],
    latest: usize,
) -> Result<Option<Written>, StoreError> {
    let now = now_ms();
    let last = run.messages[latest];
    let workspace_id = workspace.id.as_str();
    let profile_name = fresh.iter().rev().find_map(|&o| run.messages[o].customer.profile_name.as_deref());
    let username = run.ids.username.as_deref();
    let kapso_id = last.kapso_conversation_id.as_deref();
    let raw_phone = last.customer.phone.as_deref();
    // WhatsApp's time of the messages (never in the future), else when they reached us.
    let sent_at = |offset: usize| run.messages[offset].provider_timestamp.map_or(now, |at| at.min(now));
    let latest_at = fresh.iter().map(|&o| sent_at(o)).max().unwrap_or(now);
    let earliest_at = fresh.iter().map(|&o| sent_at(o)).min().unwrap_or(now);
    let first = identity::FirstContact {
        kapso_name: profile_name,
        username,
        kapso_conversation_id: kapso_id,
        last_inbound_at: latest_at,
        awaiting_reply_since: earliest_at,
    };
    let Some(resolved) = identity::resolve(conn, workspace_id, &run.ids, raw_phone, &first, now).await? else {
        return Ok(None);
    };
    let mut lead_id = resolved.lead_id;
    let mut absorbed = resolved.absorbed;
    if !resolved.created {
        // (A lead created just now was written with all of this.)
        let lead = conn
            .query_one(
                TOUCH_LEAD,
                &[lead_id.as_str().into(), kapso_id.into(), now.into(), latest_at.into(), earliest_at.into()],
            )
            .await?
            .ok_or(StoreError::RaceLost)?;
        let (stored_name, stored_username) = (lead.opt_text(0)?, lead.opt_text(1)?);
        let name_changed = profile_name.is_some_and(|name| stored_name.as_deref() != Some(name));
        let username_changed = username.is_some_and(|name| stored_username.as_deref() != Some(name));
        if name_changed || username_changed {
            conn.execute(REFRESH_LABELS, &[profile_name.into(), username.into(), lead_id.as_str().into()]).await?;
        }
    }
    if let Some(change) = &last.customer.changed_to {
        let new = Identifiers::of(&crate::server::webhook::payload::Customer {
            phone: change.phone.clone(),
            business_scoped_id: change.business_scoped_id.clone(),
            ..Default::default()
        });
        let merged = identity::apply_change(conn, workspace_id, &lead_id, &new, true, now).await?;
        lead_id = merged.survivor;
        absorbed.extend(merged.absorbed);
    }
    let (conversation_id, conversation_lead) = record_in_conversation(
        conn,
        workspace,
        &lead_id,
        kapso_id,
        last.conversation_status.as_deref(),
        &last.preview,
        fresh.len() as i64,
        now,
    )
    .await?;
    if conversation_lead != lead_id {
        // Kapso's conversation already belongs to another lead: the same customer.
        let leads = [lead_id.clone(), conversation_lead];
        let merged = merge::merge_all(conn, workspace_id, &leads, &MergeBy::automatic(), now).await?;
        lead_id = merged.survivor;
        absorbed.extend(merged.absorbed);
    }
    for &offset in fresh {
        if !insert_message(conn, workspace, &lead_id, &conversation_id, run.messages[offset], now).await? {
            // Only on PostgreSQL: a concurrent delivery of the same message committed
            // after our check. Roll back and run again; it will count as a repeat.
            return Err(StoreError::RaceLost);
        }
    }
    tracing::debug!(
        customer = %run.ids.masked(),
        text = %last.content.as_deref().map(crate::server::telemetry::mask_text).unwrap_or_default(),
        messages = fresh.len(),
        "inbound messages stored"
    );
    Ok(Some(Written { lead_id, created: resolved.created, absorbed }))
}

/// An outbound message (the business wrote, from Kapso or from us): records it on a lead
/// that already exists, or moves its delivery status forward.
async fn outbound_message<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    index: usize,
    message: &MessageEvent,
) -> Result<Applied, StoreError> {
    let mut report = ItemReport::new(index, "message", Outcome::Updated);
    report.kapso_message_id = Some(message.wamid.clone());
    report.kapso_conversation_id = message.kapso_conversation_id.clone();
    for notice in &message.notices {
        super::health::record_notice(conn, &workspace.id, notice, now_ms()).await?;
    }
    if let Some(status) = message.status {
        match advance_status(conn, workspace, &message.wamid, status, message.status_error.as_deref()).await? {
            StatusChange::Advanced(lead_id) => return Ok(Applied::Keep(report.touching(workspace, &lead_id))),
            StatusChange::NotNewer(_) => {
                return Ok(Applied::Keep(ItemReport { outcome: Outcome::Unchanged, ..report }))
            }
            StatusChange::UnknownMessage => {}
        }
    } else if message_exists(conn, workspace, &message.wamid).await? {
        return Ok(Applied::Keep(ItemReport { outcome: Outcome::Duplicate, ..report }));
    }
    let ids = &message.customer.ids;
    let lead_id =
        identity::find_lead(conn, workspace.id.as_str(), ids, message.kapso_conversation_id.as_deref()).await?;
    let Some(lead_id) = lead_id else {
        return Ok(Applied::Keep(ItemReport {
            outcome: Outcome::Ignored,
            reason: Some("no lead has this number or user id; outbound messages never create leads".into()),
            ..report
        }));
    };
    let now = now_ms();
    if let Some(kapso_id) = &message.kapso_conversation_id {
        link_conversation(conn, &lead_id, kapso_id, now).await?;
    }
    let (conversation_id, _) = record_in_conversation(
        conn,
        workspace,
        &lead_id,
        message.kapso_conversation_id.as_deref(),
        message.conversation_status.as_deref(),
        &message.preview,
        0,
        now,
    )
    .await?;
    let inserted = insert_message(conn, workspace, &lead_id, &conversation_id, message, now).await?;
    let report = ItemReport { outcome: Outcome::Created, ..report.touching(workspace, &lead_id) };
    if inserted {
        // Sent from elsewhere (Kapso's inbox, an automation): the customer was answered.
        let at = message.provider_timestamp.map_or(now, |at| at.min(now));
        crate::server::replies::store::answered(conn, &lead_id, at).await?;
        Ok(Applied::Keep(report))
    } else {
        Ok(Applied::Undo(ItemReport { outcome: Outcome::Duplicate, ..report }))
    }
}

async fn status_update<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    index: usize,
    status: &StatusEvent,
) -> Result<Applied, StoreError> {
    let mut report = ItemReport::new(index, "status", Outcome::Updated);
    report.kapso_message_id = Some(status.wamid.clone());
    for notice in &status.notices {
        super::health::record_notice(conn, &workspace.id, notice, now_ms()).await?;
    }
    let change = advance_status(conn, workspace, &status.wamid, status.status, status.error.as_deref()).await?;
    // The recipient's phone and BSUID together name one person: link them on the lead
    // the message belongs to (the cheapest phone ↔ BSUID link there is).
    let recipient = &status.recipient.ids;
    let mut merged = None;
    if let (StatusChange::Advanced(lead_id) | StatusChange::NotNewer(lead_id), false) = (&change, recipient.is_empty())
    {
        merged = Some(identity::apply_change(conn, workspace.id.as_str(), lead_id, recipient, false, now_ms()).await?);
    }
    let report = match merged {
        Some(merged) if !merged.absorbed.is_empty() => {
            ItemReport { absorbed: merged.absorbed, ..report.touching(workspace, &merged.survivor) }
        }
        _ => report,
    };
    Ok(Applied::Keep(match change {
        StatusChange::Advanced(lead_id) if report.lead_id.is_none() => report.touching(workspace, &lead_id),
        StatusChange::Advanced(_) => report,
        StatusChange::NotNewer(_) => ItemReport { outcome: Outcome::Unchanged, ..report },
        StatusChange::UnknownMessage => ItemReport {
            outcome: Outcome::Ignored,
            reason: Some("no stored message has this id; statuses never create leads or messages".into()),
            ..report
        },
    }))
}

async fn conversation_update<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    index: usize,
    event: &ConversationEvent,
) -> Result<Applied, StoreError> {
    let mut report = ItemReport::new(index, "conversation", Outcome::Updated);
    report.kapso_conversation_id = Some(event.kapso_conversation_id.clone());
    let now = now_ms();
    let updated = conn
        .query_one(
            "UPDATE conversations SET status = COALESCE($1, status), updated_at = $2 \
             WHERE workspace_id = $3 AND kapso_conversation_id = $4 RETURNING lead_id",
            &[
                event.status.as_deref().into(),
                now.into(),
                workspace.id.as_str().into(),
                event.kapso_conversation_id.as_str().into(),
            ],
        )
        .await?;
    if let Some(row) = updated {
        return Ok(Applied::Keep(report.touching(workspace, &row.text(0)?)));
    }
    let ids = &event.customer.ids;
    let lead_id =
        if ids.is_empty() { None } else { identity::find_lead(conn, workspace.id.as_str(), ids, None).await? };
    let Some(lead_id) = lead_id else {
        return Ok(Applied::Keep(ItemReport {
            outcome: Outcome::Ignored,
            reason: Some("no lead has this number yet; its first message will create the lead".into()),
            ..report
        }));
    };
    link_conversation(conn, &lead_id, &event.kapso_conversation_id, now).await?;
    let conversation_id = ConversationId::generate();
    conn.execute(
        "INSERT INTO conversations (id, workspace_id, lead_id, kapso_conversation_id, status, unread_count, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, COALESCE($5, 'active'), 0, $6, $6) \
         ON CONFLICT (workspace_id, kapso_conversation_id) DO NOTHING",
        &[
            conversation_id.as_str().into(),
            workspace.id.as_str().into(),
            lead_id.as_str().into(),
            event.kapso_conversation_id.as_str().into(),
            event.status.as_deref().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(Applied::Keep(ItemReport { outcome: Outcome::Created, ..report.touching(workspace, &lead_id) }))
}

/// Points a lead without a conversation at this one (locks the lead row first, see the
/// module notes on lock order).
async fn link_conversation<E: Exec>(conn: &mut E, lead_id: &str, kapso_id: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE leads SET kapso_conversation_id = COALESCE(kapso_conversation_id, $1), updated_at = $2 WHERE id = $3",
        &[kapso_id.into(), now.into(), lead_id.into()],
    )
    .await?;
    Ok(())
}

/// Step 2 with a Kapso conversation id: count messages into it.
const UPSERT_KAPSO_CONVERSATION: &str = "\
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
    status = COALESCE($5, conversations.status),
    updated_at = excluded.updated_at
RETURNING id, lead_id";

/// Counts messages into a conversation (`unread` more unread, the preview and time of
/// the latest) and returns its id and its lead: the Kapso conversation when the delivery
/// names one (its lead may be another: the caller decides); otherwise (Meta's format) the
/// lead's latest conversation, or a new one without a Kapso id.
#[allow(clippy::too_many_arguments)]
async fn record_in_conversation<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    lead_id: &str,
    kapso_conversation_id: Option<&str>,
    status: Option<&str>,
    preview: &str,
    unread: i64,
    now: i64,
) -> Result<(String, String), StoreError> {
    if let Some(kapso_id) = kapso_conversation_id {
        let proposed = ConversationId::generate();
        let row = conn
            .query_one(
                UPSERT_KAPSO_CONVERSATION,
                &[
                    proposed.as_str().into(),
                    workspace.id.as_str().into(),
                    lead_id.into(),
                    kapso_id.into(),
                    status.into(),
                    unread.into(),
                    now.into(),
                    preview.into(),
                ],
            )
            .await?
            .ok_or_else(|| StoreError::Shape("the conversation upsert returned no row".into()))?;
        return Ok((row.text(0)?, row.text(1)?));
    }
    let latest = conn
        .query_one(
            "SELECT id FROM conversations WHERE lead_id = $1 \
             ORDER BY COALESCE(last_message_at, 0) DESC, created_at DESC LIMIT 1",
            &[lead_id.into()],
        )
        .await?;
    if let Some(row) = latest {
        let id = row.text(0)?;
        conn.execute(
            "UPDATE conversations SET unread_count = unread_count + $1, \
             last_message_preview = CASE WHEN last_message_at IS NULL OR last_message_at <= $2 THEN $3 ELSE last_message_preview END, \
             last_message_at = CASE WHEN last_message_at IS NULL OR last_message_at <= $2 THEN $2 ELSE last_message_at END, \
             updated_at = $2 WHERE id = $4",
            &[unread.into(), now.into(), preview.into(), id.as_str().into()],
        )
        .await?;
        return Ok((id, lead_id.to_string()));
    }
    let id = ConversationId::generate().into_string();
    conn.execute(
        "INSERT INTO conversations (id, workspace_id, lead_id, kapso_conversation_id, status, unread_count, \
         last_message_at, last_message_preview, created_at, updated_at) \
         VALUES ($1, $2, $3, NULL, 'active', $4, $5, $6, $5, $5)",
        &[id.as_str().into(), workspace.id.as_str().into(), lead_id.into(), unread.into(), now.into(), preview.into()],
    )
    .await?;
    Ok((id, lead_id.to_string()))
}

/// Step 3: inserts a message unless its id is already stored; `false` means it was.
async fn insert_message<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    lead_id: &str,
    conversation_id: &str,
    message: &MessageEvent,
    now: i64,
) -> Result<bool, StoreError> {
    let status = message.status.filter(|_| message.direction == Direction::Outbound);
    let id = MessageId::generate();
    let shared_contacts = (!message.shared_contacts.is_empty())
        .then(|| serde_json::to_string(&message.shared_contacts).unwrap_or_default());
    let inserted = conn
        .execute(
            "INSERT INTO messages (id, workspace_id, lead_id, conversation_id, kapso_message_id, direction, message_type, \
             content, media_url, reply_to_kapso_message_id, provider_timestamp, received_at, status, status_rank, status_error, \
             shared_contacts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (workspace_id, kapso_message_id) DO NOTHING",
            &[
                id.as_str().into(),
                workspace.id.as_str().into(),
                lead_id.into(),
                conversation_id.into(),
                message.wamid.as_str().into(),
                message.direction.as_str().into(),
                message.message_type.as_str().into(),
                message.content.as_deref().into(),
                message.media_url.as_deref().into(),
                message.reply_to.as_deref().into(),
                message.provider_timestamp.into(),
                now.into(),
                status.map(DeliveryStatus::as_str).into(),
                status.map_or(0, DeliveryStatus::rank).into(),
                message.status_error.as_deref().into(),
                shared_contacts.as_deref().into(),
            ],
        )
        .await?;
    Ok(inserted == 1)
}

async fn message_exists<E: Exec>(conn: &mut E, workspace: &Workspace, wamid: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_one(
            "SELECT 1 FROM messages WHERE workspace_id = $1 AND kapso_message_id = $2",
            &[workspace.id.as_str().into(), wamid.into()],
        )
        .await?
        .is_some())
}

enum StatusChange {
    /// The status moved forward; the message belongs to this lead.
    Advanced(String),
    /// The message is known and already at this status or a later one; its lead.
    NotNewer(String),
    UnknownMessage,
}

/// Moves an outbound message's status forward, never backwards: a late "delivered"
/// after "read" changes nothing.
async fn advance_status<E: Exec>(
    conn: &mut E,
    workspace: &Workspace,
    wamid: &str,
    status: DeliveryStatus,
    error: Option<&str>,
) -> Result<StatusChange, StoreError> {
    let advanced = conn
        .query_one(
            "UPDATE messages SET status = $1, status_rank = $2, status_error = COALESCE($3, status_error) \
             WHERE workspace_id = $4 AND kapso_message_id = $5 AND direction = 'outbound' AND status_rank < $2 \
             RETURNING lead_id",
            &[status.as_str().into(), status.rank().into(), error.into(), workspace.id.as_str().into(), wamid.into()],
        )
        .await?;
    if let Some(row) = advanced {
        return Ok(StatusChange::Advanced(row.text(0)?));
    }
    let known = conn
        .query_one(
            "SELECT lead_id FROM messages WHERE workspace_id = $1 AND kapso_message_id = $2",
            &[workspace.id.as_str().into(), wamid.into()],
        )
        .await?;
    Ok(match known {
        Some(row) => StatusChange::NotNewer(row.text(0)?),
        None => StatusChange::UnknownMessage,
    })
}
