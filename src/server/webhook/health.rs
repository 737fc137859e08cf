//! Webhook health: what WhatsApp reports as going wrong, and what leadline refused.
//!
//! - **Error notices** are WhatsApp's `errors[]`: on a change of their own
//!   (`value.errors[]`, e.g. 130429 "Rate limit hit"), on a status (why a send failed),
//!   on a message (an unsupported type). They are acknowledged like everything else,
//!   logged with code and title only (never the details, which may quote a customer),
//!   kept in the delivery log, and counted per workspace in `webhook_health` inside the
//!   delivery's own transaction.
//! - **Refused deliveries** (4xx after routing: a bad signature, a shape leadline cannot
//!   read, too many items) are counted too, so an owner sees "Kapso's deliveries are
//!   failing" before customers notice. Refusals cost the sender nothing but a request,
//!   so they are counted in memory and written at most once per second per
//!   (workspace, reason): a flood of forged requests cannot turn into a flood of writes.
//!   Deliveries that route to no workspace are logged only (they belong to nobody).
//!
//! Both live in one table keyed by (workspace, kind, code) with a count and the last
//! time seen, so it stays small whatever arrives.

use crate::server::{
    db::Db,
    error::AppResult,
    ids::WorkspaceId,
    store::{Exec, StoreError},
};
use serde_json::Value;
use sqlx::Row;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// One of WhatsApp's error objects: `{code, title, message, error_data: {details}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorNotice {
    pub code: Option<i64>,
    pub title: String,
    pub details: Option<String>,
}

/// The most error objects read from one `errors[]` (WhatsApp sends one).
const NOTICES_PER_ARRAY: usize = 10;
/// Titles and details are cut to this many characters.
const TEXT_CHARS: usize = 300;

/// Reads an `errors[]` array leniently: anything that is not an error object is skipped.
pub fn read_notices(errors: Option<&Value>) -> Vec<ErrorNotice> {
    let Some(errors) = errors.and_then(Value::as_array) else { return Vec::new() };
    errors
        .iter()
        .take(NOTICES_PER_ARRAY)
        .filter_map(|error| {
            let code = error.get("code").and_then(|c| c.as_i64().or_else(|| c.as_str()?.trim().parse().ok()));
            let text = |v: Option<&Value>| {
                v.and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()).map(|t| cut(t, TEXT_CHARS))
            };
            let title = text(error.get("title")).or_else(|| text(error.get("message")));
            let details = text(error.get("error_data").and_then(|d| d.get("details")));
            if code.is_none() && title.is_none() {
                return None;
            }
            Some(ErrorNotice { code, title: title.unwrap_or_else(|| "WhatsApp error".into()), details })
        })
        .collect()
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl ErrorNotice {
    /// The key of the notice in `webhook_health`: its code, or its title without one.
    pub fn key(&self) -> String {
        match self.code {
            Some(code) => code.to_string(),
            None => cut(&self.title, 80),
        }
    }

    /// "130429 Rate limit hit", for the delivery log and replies.
    pub fn describe(&self) -> String {
        match self.code {
            Some(code) => format!("{code} {}", self.title),
            None => self.title.clone(),
        }
    }
}

const UPSERT: &str = "\
INSERT INTO webhook_health (workspace_id, kind, code, title, seen_count, first_seen, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (workspace_id, kind, code) DO UPDATE SET
    title = excluded.title,
    seen_count = webhook_health.seen_count + excluded.seen_count,
    last_seen = CASE WHEN webhook_health.last_seen < excluded.last_seen
                THEN excluded.last_seen ELSE webhook_health.last_seen END";

/// Counts an error notice, inside the delivery's transaction, and logs it (code and
/// title only).
pub async fn record_notice<E: Exec>(
    conn: &mut E,
    workspace_id: &WorkspaceId,
    notice: &ErrorNotice,
    now: i64,
) -> Result<(), StoreError> {
    tracing::warn!(
        workspace = %workspace_id,
        code = notice.code,
        title = %notice.title,
        "WhatsApp error notice"
    );
    conn.execute(
        UPSERT,
        &[
            workspace_id.as_str().into(),
            "error_notice".into(),
            (&notice.key()).into(),
            notice.title.as_str().into(),
            1i64.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Refusals counted in memory and written at most once per [`REFUSAL_FLUSH`] per
/// (workspace, reason).
#[derive(Clone, Default)]
pub struct RefusalLog(Arc<Mutex<HashMap<(String, String), Pending>>>);

struct Pending {
    title: String,
    unwritten: i64,
    last_write: Option<Instant>,
}

pub const REFUSAL_FLUSH: Duration = Duration::from_secs(1);
/// Distinct (workspace, reason) pairs held in memory; reasons are a small fixed set,
/// so this is only reached if something is badly wrong, and then the oldest go.
const MAX_PENDING: usize = 4096;

impl RefusalLog {
    /// Counts a refused delivery of `workspace_id`: `code` is the status and reason
    /// ("401 invalid signature"), `title` the message shown to owners. Writes when the
    /// last write of this pair is over a second old; otherwise the count waits for the
    /// next refusal of the pair (or is written by [`RefusalLog::flush`]).
    pub async fn refused(&self, db: &Db, workspace_id: &WorkspaceId, code: &str, title: &str) {
        tracing::info!(workspace = %workspace_id, reason = %code, "webhook delivery refused");
        let due = {
            let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if pending.len() >= MAX_PENDING {
                pending.retain(|_, p| p.unwritten > 0);
                if pending.len() >= MAX_PENDING {
                    pending.clear();
                }
            }
            let entry = pending.entry((workspace_id.to_string(), code.to_string())).or_insert_with(|| Pending {
                title: String::new(),
                unwritten: 0,
                last_write: None,
            });
            entry.title = title.to_string();
            entry.unwritten += 1;
            if entry.last_write.is_none_or(|at| at.elapsed() >= REFUSAL_FLUSH) {
                entry.last_write = Some(Instant::now());
                Some((std::mem::take(&mut entry.unwritten), entry.title.clone()))
            } else {
                None
            }
        };
        if let Some((count, title)) = due {
            write_refusal(db, workspace_id.as_str(), code, &title, count).await;
        }
    }

    /// Writes every count still held in memory (tests; shutdown).
    pub async fn flush(&self, db: &Db) {
        let due: Vec<_> = {
            let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
            pending
                .iter_mut()
                .filter(|(_, p)| p.unwritten > 0)
                .map(|((ws, code), p)| {
                    p.last_write = Some(Instant::now());
                    (ws.clone(), code.clone(), p.title.clone(), std::mem::take(&mut p.unwritten))
                })
                .collect()
        };
        for (workspace, code, title, count) in due {
            write_refusal(db, &workspace, &code, &title, count).await;
        }
    }
}

async fn write_refusal(db: &Db, workspace_id: &str, code: &str, title: &str, count: i64) {
    let written = sqlx::query(UPSERT)
        .bind(workspace_id)
        .bind("refused")
        .bind(cut(code, 120))
        .bind(cut(title, TEXT_CHARS))
        .bind(count)
        .bind(crate::server::clock::now_ms())
        .execute(&db.pool)
        .await;
    if let Err(err) = written {
        // Diagnostics only: a refusal that cannot be counted must not turn into a 5xx.
        tracing::warn!(error = %err, "could not count a refused delivery");
    }
}

/// One line of the Webhook health panel.
#[derive(Clone, Debug)]
pub struct HealthRecord {
    pub kind: String,
    pub code: String,
    pub title: String,
    pub count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// The workspace's most recent notices and refusals, newest first.
pub async fn recent(db: &Db, workspace_id: &WorkspaceId, limit: i64) -> AppResult<Vec<HealthRecord>> {
    let rows = sqlx::query(
        "SELECT kind, code, title, seen_count, first_seen, last_seen FROM webhook_health \
         WHERE workspace_id = $1 ORDER BY last_seen DESC, code LIMIT $2",
    )
    .bind(workspace_id.as_str())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| {
            Ok(HealthRecord {
                kind: row.try_get("kind")?,
                code: row.try_get("code")?,
                title: row.try_get("title")?,
                count: row.try_get("seen_count")?,
                first_seen: row.try_get("first_seen")?,
                last_seen: row.try_get("last_seen")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The refusal key of a parse error: its status and the problem with indexes taken out,
/// so `data[7].message.id` and `data[9].message.id` count as one reason.
pub fn refusal_code(status: u16, reason: &str) -> String {
    let mut out = String::with_capacity(reason.len() + 4);
    out.push_str(&status.to_string());
    out.push(' ');
    let mut in_index = false;
    for c in reason.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' if in_index => in_index = false,
            _ if in_index => {}
            c if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            c => out.push(c),
        }
    }
    cut(&out, 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_read_leniently() {
        let errors = serde_json::json!([
            {"code": 130429, "title": "Rate limit hit", "message": "Rate limit hit",
             "error_data": {"details": "Cloud API message throughput has been reached."}},
            "not an error",
            {"message": "no code here"},
            {}
        ]);
        let notices = read_notices(Some(&errors));
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0].describe(), "130429 Rate limit hit");
        assert_eq!(notices[0].details.as_deref(), Some("Cloud API message throughput has been reached."));
        assert_eq!(notices[1].key(), "no code here");
        assert!(read_notices(Some(&serde_json::json!({"code": 1}))).is_empty());
        assert!(read_notices(None).is_empty());
    }

    #[test]
    fn refusal_codes_do_not_grow_with_indexes_or_numbers() {
        assert_eq!(
            refusal_code(400, "data[17].message.id: expected a string, found a number"),
            "400 data[].message.id: expected a string, found a number"
        );
        assert_eq!(refusal_code(400, "line 1 column 5123"), refusal_code(400, "line 3 column 9"));
    }
}
