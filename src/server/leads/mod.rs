//! Leads: the queries behind the Database view and the JSON API, and the API's routes.
//!
//! Every query takes the workspace id as its first filter: a lead id from another
//! workspace finds nothing and answers 404, exactly like an id that never existed.
//!
//! - this file: a lead as stored (with its identities) and finding one;
//! - `query.rs`: the Database listing (filters, sorts, cursors);
//! - `store.rs`: create and manual edits with their history;
//! - `merge.rs`: merging two leads by hand (preview, the person's choices, audit);
//! - `api.rs`: the JSON API routes.

mod api;
mod merge;
pub mod query;
mod store;

pub use api::{lead_id_from_path, publish_merge, router, LeadJson, DEFAULT_PAGE_SIZE};
pub use merge::{merge_by_person, merges, preview_merge, MergePreview, MergeRecord, MergeRequest};
pub use query::{filters, list, Filters, LeadQuery, LeadSlice, SortKey, Walk};
pub use store::{changes, create, update, Actor, ChangeRecord, Created, LeadChanges, NewLead};

use crate::model::{LeadSource, LeadStatus};
use crate::server::{
    db::Db,
    error::AppResult,
    identity::{short_bsuid, IdentityRecord, Kind},
    ids::LeadId,
    phone::display_key,
    workspaces::Workspace,
};
use sqlx::{any::AnyRow, Row};

/// A lead as stored, with what its conversations add (unread count, inbox link).
#[derive(Clone, Debug)]
pub struct LeadRecord {
    pub id: LeadId,
    pub phone_raw: String,
    pub phone_normalized: String,
    pub phone_valid: bool,
    pub name: Option<String>,
    pub kapso_name: Option<String>,
    pub lead_status: LeadStatus,
    pub source: LeadSource,
    pub kapso_conversation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_activity_at: Option<i64>,
    pub unread_count: i64,
    /// What `/inbox/{…}` takes for this lead: its Kapso conversation id, or for leads that
    /// only wrote in Meta's format, the id of the conversation made for them.
    pub inbox_ref: Option<String>,
    /// The WhatsApp username (`@dewi.kue`), a label.
    pub username: Option<String>,
    /// Set when this lead was merged into another (its id answers with that one).
    pub merged_into: Option<String>,
    /// Phones (primary first), then parent BSUIDs, then BSUIDs.
    pub identities: Vec<IdentityRecord>,
    /// The customer's latest message (WhatsApp's 24-hour window runs from it).
    pub last_inbound_at: Option<i64>,
    /// The oldest message of the customer not answered yet; `None`: nobody waits.
    pub awaiting_reply_since: Option<i64>,
    activity_sort: i64,
    name_sort: String,
}

impl LeadRecord {
    /// Manual name ‖ WhatsApp profile name ‖ `@username` ‖ the primary number ‖
    /// "WhatsApp user ·1234" (the end of the BSUID).
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.kapso_name.clone())
            .or_else(|| self.username.clone())
            .or_else(|| self.primary_phone().map(display_key))
            .or_else(|| self.business_scoped_user_id().map(short_bsuid))
            .unwrap_or_else(|| self.phone_display())
    }

    /// The primary number formatted for people, or the stored key for a lead that
    /// shared no number (its BSUID).
    pub fn phone_display(&self) -> String {
        match self.primary_phone() {
            Some(phone) => display_key(phone),
            None => display_key(&self.phone_normalized),
        }
    }

    /// Every number of the lead, primary first.
    pub fn phones(&self) -> Vec<&str> {
        self.identities.iter().filter(|i| i.kind == Kind::Phone.as_str()).map(|i| i.value.as_str()).collect()
    }

    pub fn primary_phone(&self) -> Option<&str> {
        self.identities
            .iter()
            .find(|i| i.kind == Kind::Phone.as_str() && i.primary)
            .or_else(|| self.identities.iter().find(|i| i.kind == Kind::Phone.as_str()))
            .map(|i| i.value.as_str())
    }

    pub fn business_scoped_user_id(&self) -> Option<&str> {
        self.identities.iter().find(|i| i.kind == Kind::Bsuid.as_str()).map(|i| i.value.as_str())
    }

    pub fn parent_business_scoped_user_id(&self) -> Option<&str> {
        self.identities.iter().find(|i| i.kind == Kind::ParentBsuid.as_str()).map(|i| i.value.as_str())
    }

    /// No number shared: reached through WhatsApp's user id only.
    pub fn has_no_number(&self) -> bool {
        self.primary_phone().is_none()
    }
}

pub(crate) const LEAD_COLUMNS: &str = "l.id, l.username, l.merged_into, l.phone_raw, l.phone_normalized, l.phone_valid, l.name, l.kapso_name, \
    l.lead_status, l.source, l.kapso_conversation_id, l.created_at, l.updated_at, l.last_activity_at, \
    l.activity_sort, l.name_sort, l.last_inbound_at, l.awaiting_reply_since, \
    (SELECT CAST(COALESCE(SUM(c.unread_count), 0) AS BIGINT) FROM conversations c WHERE c.lead_id = l.id) AS unread_count, \
    COALESCE(l.kapso_conversation_id, (SELECT COALESCE(c.kapso_conversation_id, c.id) FROM conversations c \
        WHERE c.lead_id = l.id ORDER BY COALESCE(c.last_message_at, 0) DESC, c.created_at DESC LIMIT 1)) AS inbox_ref";

pub(crate) fn lead_from_row(row: &AnyRow) -> Result<LeadRecord, sqlx::Error> {
    let status: String = row.try_get("lead_status")?;
    let source: String = row.try_get("source")?;
    Ok(LeadRecord {
        id: LeadId::from_db(row.try_get("id")?),
        phone_raw: row.try_get("phone_raw")?,
        phone_normalized: row.try_get("phone_normalized")?,
        phone_valid: row.try_get::<i64, _>("phone_valid")? != 0,
        name: row.try_get("name")?,
        kapso_name: row.try_get("kapso_name")?,
        lead_status: LeadStatus::parse(&status).unwrap_or_default(),
        source: LeadSource::parse(&source).unwrap_or(LeadSource::Whatsapp),
        kapso_conversation_id: row.try_get("kapso_conversation_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_activity_at: row.try_get("last_activity_at")?,
        unread_count: row.try_get("unread_count")?,
        inbox_ref: row.try_get("inbox_ref")?,
        username: row.try_get("username")?,
        merged_into: row.try_get("merged_into")?,
        identities: Vec::new(),
        last_inbound_at: row.try_get("last_inbound_at")?,
        awaiting_reply_since: row.try_get("awaiting_reply_since")?,
        activity_sort: row.try_get("activity_sort")?,
        name_sort: row.try_get("name_sort")?,
    })
}

/// A lead by id, merged or not (callers decide what a merged lead answers).
pub async fn find(db: &Db, workspace: &Workspace, id: &LeadId) -> AppResult<Option<LeadRecord>> {
    let row = sqlx::query(&format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.workspace_id = $1 AND l.id = $2"))
        .bind(workspace.id.as_str())
        .bind(id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut leads = vec![lead_from_row(&row)?];
    attach_identities(db, workspace, &mut leads).await?;
    Ok(leads.pop())
}

/// Fills in each lead's identities with one query for the whole page. The workspace
/// check is written `(workspace_id || '') = $1` so that SQLite walks `lead_identities_by_lead`
/// for the page's ids rather than the primary key's every identity of the workspace
/// (35 ms → 0.1 ms per page at 100,000 leads); the rows are still scoped to it.
pub(crate) async fn attach_identities(db: &Db, workspace: &Workspace, leads: &mut [LeadRecord]) -> AppResult<()> {
    if leads.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (0..leads.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT lead_id, kind, value, is_primary FROM lead_identities WHERE (workspace_id || '') = $1 AND lead_id IN ({}) \
         ORDER BY kind DESC, is_primary DESC, created_at, value",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(workspace.id.as_str());
    for lead in leads.iter() {
        query = query.bind(lead.id.as_str());
    }
    for row in query.fetch_all(&db.pool).await? {
        let lead_id: String = row.try_get("lead_id")?;
        let kind: String = row.try_get("kind")?;
        let Some(kind) = Kind::parse(&kind) else { continue };
        let record = IdentityRecord::new(kind, row.try_get("value")?, row.try_get::<i64, _>("is_primary")? == 1);
        if let Some(lead) = leads.iter_mut().find(|l| l.id.as_str() == lead_id) {
            lead.identities.push(record);
        }
    }
    Ok(())
}
