//! The Inbox's queries: a workspace's conversations newest first (keyset pages, with the
//! Database's search applied to their leads), one conversation by Kapso's id or ours, and
//! marking a customer's conversations read. Shaping them for the page (names, local
//! times) is `web.rs`'s job; these only read and write rows.

use crate::server::{
    db::Db,
    ids::LeadId,
    leads::{self, LeadQuery},
    workspaces::Workspace,
};
use sqlx::Row;

/// A conversation with what the Inbox shows of its lead.
pub struct ConversationRecord {
    pub id: String,
    pub kapso_conversation_id: Option<String>,
    pub lead_id: String,
    pub last_message_at: Option<i64>,
    pub last_message_preview: Option<String>,
    pub unread_count: i64,
    pub status: String,
    pub name: Option<String>,
    pub kapso_name: Option<String>,
    pub username: Option<String>,
    pub phone_normalized: String,
}

const COLUMNS: &str = "c.id, c.kapso_conversation_id, c.lead_id, c.last_message_at, \
    c.last_message_preview, c.unread_count, c.status, l.name, l.kapso_name, l.username, l.phone_normalized";

fn record(row: &sqlx::any::AnyRow) -> Result<ConversationRecord, sqlx::Error> {
    Ok(ConversationRecord {
        id: row.try_get("id")?,
        kapso_conversation_id: row.try_get("kapso_conversation_id")?,
        lead_id: row.try_get("lead_id")?,
        last_message_at: row.try_get("last_message_at")?,
        last_message_preview: row.try_get("last_message_preview")?,
        unread_count: row.try_get("unread_count")?,
        status: row.try_get("status")?,
        name: row.try_get("name")?,
        kapso_name: row.try_get("kapso_name")?,
        username: row.try_get("username")?,
        phone_normalized: row.try_get("phone_normalized")?,
    })
}

/// Up to `limit` conversations with a message, newest first, after the keyset position
/// `after` (last message time, id), whose lead matches `search` as the Database would.
pub async fn page(
    db: &Db,
    workspace: &Workspace,
    search: Option<String>,
    after: Option<(i64, String)>,
    limit: usize,
) -> Result<Vec<ConversationRecord>, sqlx::Error> {
    let search = LeadQuery { search, ..LeadQuery::default() };
    let filters = leads::filters(workspace, &search);
    let mut sql = format!(
        "SELECT {COLUMNS} FROM conversations c JOIN leads l ON l.id = c.lead_id \
         WHERE c.workspace_id = $1 AND c.last_message_at IS NOT NULL{}",
        filters.sql
    );
    let next = filters.binds.len() + 2;
    if after.is_some() {
        sql.push_str(&format!(" AND (c.last_message_at, c.id) < (${next}, ${})", next + 1));
    }
    sql.push_str(&format!(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT {limit}"));
    let mut query = sqlx::query(&sql).bind(workspace.id.as_str());
    for value in &filters.binds {
        query = query.bind(value);
    }
    if let Some((at, id)) = after {
        query = query.bind(at).bind(id);
    }
    query.fetch_all(&db.pool).await?.iter().map(record).collect()
}

/// One conversation, named by Kapso's conversation id (the Inbox's links) or by ours.
pub async fn find(db: &Db, workspace: &Workspace, reference: &str) -> Result<Option<ConversationRecord>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM conversations c JOIN leads l ON l.id = c.lead_id \
         WHERE c.workspace_id = $1 AND (c.kapso_conversation_id = $2 OR c.id = $2) \
         ORDER BY CASE WHEN c.kapso_conversation_id = $2 THEN 0 ELSE 1 END LIMIT 1"
    ))
    .bind(workspace.id.as_str())
    .bind(reference)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(record).transpose()
}

/// Marks every conversation of the lead read; whether any was unread.
pub async fn mark_read(db: &Db, workspace: &Workspace, lead_id: &LeadId) -> Result<bool, sqlx::Error> {
    let marked = sqlx::query(
        "UPDATE conversations SET unread_count = 0 WHERE workspace_id = $1 AND lead_id = $2 AND unread_count > 0",
    )
    .bind(workspace.id.as_str())
    .bind(lead_id.as_str())
    .execute(&db.pool)
    .await?;
    Ok(marked.rows_affected() > 0)
}
