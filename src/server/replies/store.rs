//! The outbox's SQL: writing a reply, claiming and recording sends, retries, and the
//! lead's reply clock. Written against `store::Exec` so the same statements run on both
//! engines (and the reply clock is shared with the webhook's ingest).

use super::{Window, MAX_TEXT_CHARS};
use crate::server::{
    clock::now_ms,
    db::{Db, Engine},
    error::{AppError, AppResult},
    ids::{ConversationId, MessageId},
    store::{Exec, PgExec, StoreError},
};

/// An outbound message newer than the oldest unanswered inbound one answers it (and
/// everything before it); if the customer wrote again after it, they wait since then.
pub const ANSWERED: &str = "\
UPDATE leads SET
    last_outbound_at = CASE WHEN last_outbound_at IS NULL OR last_outbound_at < $2 THEN $2 ELSE last_outbound_at END,
    awaiting_reply_since = CASE
        WHEN awaiting_reply_since IS NULL OR awaiting_reply_since > $2 THEN awaiting_reply_since
        WHEN last_inbound_at > $2 THEN last_inbound_at
        ELSE NULL END
WHERE id = $1";

pub async fn answered<E: Exec>(conn: &mut E, lead_id: &str, at: i64) -> Result<(), StoreError> {
    conn.execute(ANSWERED, &[lead_id.into(), at.into()]).await?;
    Ok(())
}

/// How many leads of the workspace wait for an answer, counted up to
/// [`NEEDS_REPLY_COUNT_CAP`] (the navigation shows "999+" beyond): every page load asks,
/// so the work is bounded however many wait. The partial index `leads_needs_reply`
/// holds exactly them.
pub async fn needs_reply_count(db: &Db, workspace_id: &crate::server::ids::WorkspaceId) -> AppResult<i64> {
    let (count,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM leads WHERE workspace_id = $1 AND awaiting_reply_since IS NOT NULL \
         AND merged_into IS NULL LIMIT {NEEDS_REPLY_COUNT_CAP}) AS waiting"
    ))
    .bind(workspace_id.as_str())
    .fetch_one(&db.pool)
    .await?;
    Ok(count)
}

pub const NEEDS_REPLY_COUNT_CAP: i64 = 1000;

/// What a person (or an integrator) asked to send.
#[derive(Clone, Debug)]
pub enum ReplyBody {
    Text(String),
    Template { name: String, language: String, params: Vec<String>, rendered: String },
}

pub struct NewReply<'a> {
    pub workspace_id: &'a str,
    pub lead_id: &'a str,
    pub created_by: Option<&'a str>,
    pub client_key: Option<&'a str>,
    pub body: ReplyBody,
}

#[derive(Debug)]
pub struct Queued {
    pub message_id: String,
    pub lead_id: String,
    /// The same `client_key` was queued before: nothing new was written.
    pub repeated: bool,
}

/// Who a lead is on WhatsApp, for the send request: its primary number (digits), or a
/// business-scoped user id when it has no number.
pub enum Recipient {
    Phone(String),
    UserId(String),
}

impl Recipient {
    fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        map.insert("messaging_product".into(), "whatsapp".into());
        match self {
            Recipient::Phone(digits) => map.insert("to".into(), digits.as_str().into()),
            Recipient::UserId(id) => map.insert("recipient".into(), id.as_str().into()),
        };
        map
    }
}

/// The JSON body Kapso gets, fixed when the reply is written.
pub fn request_body(recipient: &Recipient, body: &ReplyBody) -> String {
    let mut map = recipient.fields();
    match body {
        ReplyBody::Text(text) => {
            map.insert("type".into(), "text".into());
            map.insert("text".into(), serde_json::json!({ "body": text }));
        }
        ReplyBody::Template { name, language, params, .. } => {
            map.insert("type".into(), "template".into());
            let mut template = serde_json::json!({ "name": name, "language": { "code": language } });
            if !params.is_empty() {
                let parameters: Vec<_> =
                    params.iter().map(|p| serde_json::json!({ "type": "text", "text": p })).collect();
                template["components"] = serde_json::json!([{ "type": "body", "parameters": parameters }]);
            }
            map.insert("template".into(), template);
        }
    }
    serde_json::Value::Object(map).to_string()
}

/// Checks what a person typed before anything is written.
pub fn check_text(text: &str) -> AppResult<String> {
    let text = text.trim_end().trim_start_matches(['\n', '\r']).to_string();
    if text.trim().is_empty() {
        return Err(AppError::Unprocessable("the reply is empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(AppError::Unprocessable(format!("a WhatsApp message holds at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(text)
}

fn preview(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(119).collect::<String>())
    } else {
        line
    }
}

/// Commits the transaction when `result` is a success, rolls it back otherwise.
async fn close<T>(mut conn: PgExec, result: AppResult<T>) -> AppResult<T> {
    match result {
        Ok(value) => {
            conn.end_scope(true).await?;
            Ok(value)
        }
        Err(err) => {
            let _ = conn.end_scope(false).await;
            Err(err)
        }
    }
}

async fn begin(db: &Db) -> AppResult<PgExec> {
    let mut conn = PgExec::on(db.pool.acquire().await?, db.engine);
    conn.begin_scope().await?;
    Ok(conn)
}

/// The lead a reply goes to (following merges), its window and its recipient.
pub async fn reply_target<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    lead_id: &str,
) -> AppResult<(String, Window, Recipient)> {
    let mut id = lead_id.to_string();
    for _ in 0..8 {
        let row = conn
            .query_one(
                "SELECT merged_into, last_inbound_at FROM leads WHERE workspace_id = $1 AND id = $2",
                &[workspace_id.into(), id.as_str().into()],
            )
            .await?
            .ok_or_else(|| AppError::NotFound("lead not found".into()))?;
        if let Some(survivor) = row.opt_text(0)? {
            id = survivor;
            continue;
        }
        let window = Window::at(row.opt_int(1)?, now_ms());
        let identities = conn
            .query(
                "SELECT kind, value FROM lead_identities WHERE lead_id = $1 AND kind IN ('phone', 'bsuid') \
                 ORDER BY CASE WHEN kind = 'phone' THEN 0 ELSE 1 END, is_primary DESC, created_at LIMIT 1",
                &[id.as_str().into()],
            )
            .await?;
        let recipient = match identities.first() {
            Some(row) if row.text(0)? == "phone" => {
                Recipient::Phone(row.text(1)?.chars().filter(char::is_ascii_digit).collect())
            }
            Some(row) => Recipient::UserId(row.text(1)?),
            None => {
                return Err(AppError::Unprocessable("this lead has no WhatsApp number or user id to send to".into()))
            }
        };
        return Ok((id, window, recipient));
    }
    Err(AppError::NotFound("lead not found".into()))
}

pub fn window_closed() -> AppError {
    AppError::Conflict {
        message: "WhatsApp's 24-hour window is closed: the customer's last message is more than 24 hours old, \
                  so only an approved template can be sent"
            .into(),
        existing_id: None,
    }
}

/// Rule 1: the reply and its outbox row, in one transaction. A `client_key` already
/// used in the workspace answers with the reply it queued.
pub async fn enqueue(db: &Db, reply: NewReply<'_>) -> AppResult<Queued> {
    if let Some(found) = by_client_key(db, reply.workspace_id, reply.client_key).await? {
        return Ok(found);
    }
    let mut conn = begin(db).await?;
    let written = write_reply(&mut conn, &reply).await;
    match close(conn, written).await {
        Ok(queued) => Ok(queued),
        // The same form submitted twice at once: the other one won.
        Err(err) => match by_client_key(db, reply.workspace_id, reply.client_key).await? {
            Some(found) => Ok(found),
            None => Err(err),
        },
    }
}

async fn by_client_key(db: &Db, workspace_id: &str, client_key: Option<&str>) -> AppResult<Option<Queued>> {
    let Some(key) = client_key else { return Ok(None) };
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT o.message_id, m.lead_id FROM outbox o JOIN messages m ON m.id = o.message_id \
         WHERE o.workspace_id = $1 AND o.client_key = $2",
    )
    .bind(workspace_id)
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(message_id, lead_id)| Queued { message_id, lead_id, repeated: true }))
}

async fn write_reply(conn: &mut PgExec, reply: &NewReply<'_>) -> AppResult<Queued> {
    let (lead_id, window, recipient) = reply_target(conn, reply.workspace_id, reply.lead_id).await?;
    let (message_type, content) = match &reply.body {
        ReplyBody::Text(text) => {
            if !window.is_open() {
                return Err(window_closed());
            }
            ("text", text.clone())
        }
        ReplyBody::Template { rendered, .. } => ("template", rendered.clone()),
    };
    let now = now_ms();
    let conversation = conn
        .query_one(
            "SELECT id FROM conversations WHERE lead_id = $1 \
             ORDER BY COALESCE(last_message_at, 0) DESC, created_at DESC LIMIT 1",
            &[lead_id.as_str().into()],
        )
        .await?;
    let conversation_id = match conversation {
        Some(row) => row.text(0)?,
        None => {
            let id = ConversationId::generate().into_string();
            conn.execute(
                "INSERT INTO conversations (id, workspace_id, lead_id, kapso_conversation_id, status, unread_count, \
                 last_message_at, last_message_preview, created_at, updated_at) \
                 VALUES ($1, $2, $3, NULL, 'active', 0, NULL, NULL, $4, $4)",
                &[id.as_str().into(), reply.workspace_id.into(), lead_id.as_str().into(), now.into()],
            )
            .await?;
            id
        }
    };
    conn.execute(
        "UPDATE conversations SET last_message_at = $2, last_message_preview = $3, updated_at = $2 WHERE id = $1",
        &[conversation_id.as_str().into(), now.into(), preview(&content).as_str().into()],
    )
    .await?;
    let message_id = MessageId::generate().into_string();
    let placeholder = format!("leadline:{message_id}");
    conn.execute(
        "INSERT INTO messages (id, workspace_id, lead_id, conversation_id, kapso_message_id, direction, message_type, \
         content, received_at, status, status_rank) \
         VALUES ($1, $2, $3, $4, $5, 'outbound', $6, $7, $8, 'queued', 0)",
        &[
            message_id.as_str().into(),
            reply.workspace_id.into(),
            lead_id.as_str().into(),
            conversation_id.as_str().into(),
            placeholder.as_str().into(),
            message_type.into(),
            content.as_str().into(),
            now.into(),
        ],
    )
    .await?;
    let request = request_body(&recipient, &reply.body);
    conn.execute(
        "INSERT INTO outbox (message_id, workspace_id, state, request, attempts, next_attempt_at, client_key, \
         created_by, created_at, updated_at) VALUES ($1, $2, 'queued', $3, 0, $4, $5, $6, $4, $4)",
        &[
            message_id.as_str().into(),
            reply.workspace_id.into(),
            request.as_str().into(),
            now.into(),
            reply.client_key.into(),
            reply.created_by.into(),
        ],
    )
    .await?;
    answered(conn, &lead_id, now).await?;
    Ok(Queued { message_id, lead_id, repeated: false })
}

/// A claimed reply, ready to post.
#[derive(Debug)]
pub struct Claimed {
    pub message_id: String,
    pub workspace_id: String,
    pub request: String,
    pub attempts: i64,
}

const CLAIM_POSTGRES: &str = "\
UPDATE outbox SET state = 'sending', claimed_at = $1, claimed_by = $2, attempts = attempts + 1, updated_at = $1
WHERE message_id IN (
    SELECT message_id FROM outbox WHERE state = 'queued' AND next_attempt_at <= $1
    ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING message_id, workspace_id, request, attempts";

/// SQLite has one writer at a time: the same statement is already exclusive.
const CLAIM_SQLITE: &str = "\
UPDATE outbox SET state = 'sending', claimed_at = $1, claimed_by = $2, attempts = attempts + 1, updated_at = $1
WHERE message_id IN (
    SELECT message_id FROM outbox WHERE state = 'queued' AND next_attempt_at <= $1
    ORDER BY next_attempt_at LIMIT $3)
RETURNING message_id, workspace_id, request, attempts";

/// Rule 2: up to `limit` due replies become `sending`, committed before any is posted.
pub async fn claim(db: &Db, sender: &str, limit: i64) -> AppResult<Vec<Claimed>> {
    let now = now_ms();
    // The sender polls every second. An `UPDATE` takes SQLite's one write lock even when
    // it matches nothing, and the ingest writer then waits in SQLite's busy handler (which
    // sleeps in steps of milliseconds); a read takes no lock, so look first.
    let due: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM outbox WHERE state = 'queued' AND next_attempt_at <= $1 LIMIT 1")
            .bind(now)
            .fetch_optional(&db.pool)
            .await?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let mut conn = PgExec::on(db.pool.acquire().await?, db.engine);
    let sql = if db.engine == Engine::Postgres { CLAIM_POSTGRES } else { CLAIM_SQLITE };
    let rows = conn.query(sql, &[now.into(), sender.into(), limit.into()]).await?;
    rows.iter()
        .map(|row| {
            Ok(Claimed {
                message_id: row.text(0)?,
                workspace_id: row.text(1)?,
                request: row.text(2)?,
                attempts: row.int(3)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()
        .map_err(Into::into)
}

/// When the next queued reply is due (to sleep until then).
pub async fn next_due(db: &Db) -> AppResult<Option<i64>> {
    let row: (Option<i64>,) =
        sqlx::query_as("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'queued'").fetch_one(&db.pool).await?;
    Ok(row.0)
}

/// The workspace's number and key, read for each send (a key changed in Settings is
/// used from the next send on).
pub async fn credentials(db: &Db, workspace_id: &str) -> AppResult<(String, Option<String>)> {
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT kapso_phone_number_id, kapso_api_key FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_one(&db.pool)
            .await?;
    Ok(row)
}

/// What happened to a claimed reply; returns its lead (for the live update).
pub enum Settled<'a> {
    Sent { wamid: &'a str },
    Failed { reason: &'a str, key_refused: bool },
    RetryAt { at: i64, reason: &'a str },
    Unknown { reason: &'a str },
}

pub async fn settle(db: &Db, claimed: &Claimed, outcome: Settled<'_>) -> AppResult<Option<String>> {
    let mut conn = begin(db).await?;
    let result = settle_in(&mut conn, claimed, outcome).await;
    close(conn, result).await
}

async fn settle_in(conn: &mut PgExec, claimed: &Claimed, outcome: Settled<'_>) -> AppResult<Option<String>> {
    let now = now_ms();
    let id = claimed.message_id.as_str();
    let workspace = claimed.workspace_id.as_str();
    match outcome {
        Settled::Sent { wamid } => {
            // Rule 4: Kapso's webhook may have reported this send before we recorded its
            // wamid; fold that copy into our row, keeping the furthest status.
            let copy = conn
                .query_one(
                    "SELECT id, status, status_rank, status_error FROM messages \
                     WHERE workspace_id = $1 AND kapso_message_id = $2 AND id <> $3",
                    &[workspace.into(), wamid.into(), id.into()],
                )
                .await?;
            let (mut status, mut rank, mut error) = ("sent".to_string(), 2_i64, None);
            if let Some(copy) = copy {
                let copy_rank = copy.int(2)?;
                if copy_rank > rank {
                    (status, rank, error) = (copy.opt_text(1)?.unwrap_or(status), copy_rank, copy.opt_text(3)?);
                }
                conn.execute("DELETE FROM messages WHERE id = $1", &[copy.text(0)?.as_str().into()]).await?;
            }
            conn.execute(
                "UPDATE outbox SET state = 'sent', last_error = NULL, updated_at = $2 WHERE message_id = $1",
                &[id.into(), now.into()],
            )
            .await?;
            conn.execute(
                "UPDATE workspaces SET kapso_key_error = NULL WHERE id = $1 AND kapso_key_error IS NOT NULL",
                &[workspace.into()],
            )
            .await?;
            let lead = conn
                .query_one(
                    "UPDATE messages SET kapso_message_id = $2, status = $3, status_rank = $4, status_error = $5 \
                     WHERE id = $1 RETURNING lead_id",
                    &[id.into(), wamid.into(), status.as_str().into(), rank.into(), error.as_deref().into()],
                )
                .await?;
            lead.map(|row| row.text(0)).transpose().map_err(Into::into)
        }
        Settled::Failed { reason, key_refused } => {
            if key_refused {
                conn.execute(
                    "UPDATE workspaces SET kapso_key_error = $2 WHERE id = $1",
                    &[workspace.into(), reason.into()],
                )
                .await?;
            }
            finish(conn, id, "failed", 5, reason, now).await
        }
        Settled::Unknown { reason } => finish(conn, id, "unknown", 0, reason, now).await,
        Settled::RetryAt { at, reason } => {
            conn.execute(
                "UPDATE outbox SET state = 'queued', next_attempt_at = $2, last_error = $3, updated_at = $4 \
                 WHERE message_id = $1",
                &[id.into(), at.into(), reason.into(), now.into()],
            )
            .await?;
            let lead = conn
                .query_one(
                    "UPDATE messages SET status_error = $2 WHERE id = $1 RETURNING lead_id",
                    &[id.into(), format!("Retrying: {reason}").as_str().into()],
                )
                .await?;
            lead.map(|row| row.text(0)).transpose().map_err(Into::into)
        }
    }
}

async fn finish(
    conn: &mut PgExec,
    id: &str,
    state: &'static str,
    rank: i64,
    reason: &str,
    now: i64,
) -> AppResult<Option<String>> {
    // `state` is one of two literals; the statements stay static.
    let outbox = if state == "failed" {
        "UPDATE outbox SET state = 'failed', last_error = $2, updated_at = $3 WHERE message_id = $1"
    } else {
        "UPDATE outbox SET state = 'unknown', last_error = $2, updated_at = $3 WHERE message_id = $1"
    };
    conn.execute(outbox, &[id.into(), reason.into(), now.into()]).await?;
    let lead = conn
        .query_one(
            "UPDATE messages SET status = $2, status_rank = $3, status_error = $4 \
             WHERE id = $1 AND status_rank < 2 RETURNING lead_id",
            &[id.into(), state.into(), rank.into(), reason.into()],
        )
        .await?;
    lead.map(|row| row.text(0)).transpose().map_err(Into::into)
}

pub const INTERRUPTED: &str = "leadline stopped while sending this reply, so it may or may not have reached \
     the customer. Check in WhatsApp, then resend if needed.";

/// Rule 3: claims older than `cutoff` (or every claim not made by `sender`, on SQLite
/// at start: one process writes there) become `unknown`. Returns (workspace, lead) pairs.
pub async fn recover_interrupted(db: &Db, sender: &str, cutoff: i64) -> AppResult<Vec<(String, String)>> {
    let stale: Vec<(String,)> = sqlx::query_as(
        "SELECT message_id FROM outbox WHERE state = 'sending' AND (claimed_at < $1 OR claimed_by IS NULL OR \
         ($2 = 1 AND claimed_by <> $3))",
    )
    .bind(cutoff)
    .bind(i64::from(db.engine == Engine::Sqlite))
    .bind(sender)
    .fetch_all(&db.pool)
    .await?;
    let mut touched = Vec::new();
    for (message_id,) in stale {
        let claimed = Claimed { message_id, workspace_id: String::new(), request: String::new(), attempts: 0 };
        let mut conn = begin(db).await?;
        // Only if still `sending`: another replica may have settled it meanwhile.
        let still = conn
            .query_one(
                "UPDATE outbox SET state = 'unknown', last_error = $2, updated_at = $3 \
                 WHERE message_id = $1 AND state = 'sending' RETURNING workspace_id",
                &[claimed.message_id.as_str().into(), INTERRUPTED.into(), now_ms().into()],
            )
            .await?;
        let Some(row) = still else {
            conn.end_scope(false).await?;
            continue;
        };
        let workspace = row.text(0)?;
        let lead = finish(&mut conn, &claimed.message_id, "unknown", 0, INTERRUPTED, now_ms()).await?;
        conn.end_scope(true).await?;
        tracing::warn!(message = %claimed.message_id, "reply interrupted while sending: marked unknown");
        if let Some(lead) = lead {
            touched.push((workspace, lead));
        }
    }
    Ok(touched)
}

/// A person's Retry of a failed or unknown reply: queued again, from the first attempt.
pub async fn retry(db: &Db, workspace_id: &str, message_id: &str) -> AppResult<String> {
    let mut conn = begin(db).await?;
    let result = retry_in(&mut conn, workspace_id, message_id).await;
    close(conn, result).await
}

async fn retry_in(conn: &mut PgExec, workspace_id: &str, message_id: &str) -> AppResult<String> {
    let row = conn
        .query_one(
            "SELECT o.state, m.lead_id, m.message_type FROM outbox o JOIN messages m ON m.id = o.message_id \
             WHERE o.workspace_id = $1 AND o.message_id = $2",
            &[workspace_id.into(), message_id.into()],
        )
        .await?
        .ok_or_else(|| AppError::NotFound("no reply of this workspace has this id".into()))?;
    let (state, lead_id, kind) = (row.text(0)?, row.text(1)?, row.text(2)?);
    if state != "failed" && state != "unknown" {
        return Err(AppError::Conflict {
            message: format!("only a failed reply can be sent again; this one is {state}"),
            existing_id: Some(message_id.to_string()),
        });
    }
    if kind == "text" {
        let (_, window, _) = reply_target(conn, workspace_id, &lead_id).await?;
        if !window.is_open() {
            return Err(window_closed());
        }
    }
    let now = now_ms();
    conn.execute(
        "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = $2, last_error = NULL, claimed_at = NULL, \
         claimed_by = NULL, updated_at = $2 WHERE message_id = $1",
        &[message_id.into(), now.into()],
    )
    .await?;
    conn.execute(
        "UPDATE messages SET status = 'queued', status_rank = 0, status_error = NULL WHERE id = $1",
        &[message_id.into()],
    )
    .await?;
    Ok(lead_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_kapsos_documented_body() {
        let body = request_body(&Recipient::Phone("6281234567890".into()), &ReplyBody::Text("Halo!".into()));
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"messaging_product": "whatsapp", "to": "6281234567890", "type": "text", "text": {"body": "Halo!"}})
        );
        let template = ReplyBody::Template {
            name: "follow_up".into(),
            language: "id".into(),
            params: vec!["Ani".into()],
            rendered: "Halo Ani".into(),
        };
        let value: serde_json::Value =
            serde_json::from_str(&request_body(&Recipient::UserId("ID.123".into()), &template)).unwrap();
        assert_eq!(value["recipient"], "ID.123");
        assert!(value.get("to").is_none());
        assert_eq!(value["template"]["components"][0]["parameters"][0]["text"], "Ani");
    }

    #[test]
    fn typed_text_is_checked() {
        assert!(check_text("  \n ").is_err());
        assert_eq!(check_text("\nHalo\nkak  \n").unwrap(), "Halo\nkak");
        assert!(check_text(&"x".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }
}
