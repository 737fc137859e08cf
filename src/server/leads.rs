//! Leads: the queries behind the Database view and the JSON API, and the API's routes.
//!
//! Every query takes the workspace id as its first filter: a lead id from another
//! workspace finds nothing and answers 404, exactly like an id that never existed.

use crate::model::{clean_manual_name, LeadSource, LeadStatus};
use crate::server::{
    auth::ApiWorkspace,
    clock::{now_ms, rfc3339},
    db::Db,
    error::{AppError, AppResult},
    http::{AppState, JsonBody},
    ids::LeadId,
    phone::{display_key, search_prefixes, E164},
    workspaces::Workspace,
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::{any::AnyRow, Row};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/leads", get(list_leads).post(create_lead))
        .route("/api/v1/leads/{id}", get(get_lead).patch(update_lead))
}

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
    activity_sort: i64,
    name_sort: String,
}

impl LeadRecord {
    /// Manual name, else WhatsApp profile name, else the phone number.
    pub fn display_name(&self) -> String {
        self.name.clone().or_else(|| self.kapso_name.clone()).unwrap_or_else(|| self.phone_display())
    }

    pub fn phone_display(&self) -> String {
        display_key(&self.phone_normalized)
    }
}

const LEAD_COLUMNS: &str = "l.id, l.phone_raw, l.phone_normalized, l.phone_valid, l.name, l.kapso_name, \
    l.lead_status, l.source, l.kapso_conversation_id, l.created_at, l.updated_at, l.last_activity_at, \
    l.activity_sort, l.name_sort, \
    (SELECT CAST(COALESCE(SUM(c.unread_count), 0) AS BIGINT) FROM conversations c WHERE c.lead_id = l.id) AS unread_count, \
    COALESCE(l.kapso_conversation_id, (SELECT COALESCE(c.kapso_conversation_id, c.id) FROM conversations c \
        WHERE c.lead_id = l.id ORDER BY COALESCE(c.last_message_at, 0) DESC, c.created_at DESC LIMIT 1)) AS inbox_ref";

fn lead_from_row(row: &AnyRow) -> Result<LeadRecord, sqlx::Error> {
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
        activity_sort: row.try_get("activity_sort")?,
        name_sort: row.try_get("name_sort")?,
    })
}

pub async fn find(db: &Db, workspace: &Workspace, id: &LeadId) -> AppResult<Option<LeadRecord>> {
    let row = sqlx::query(&format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.workspace_id = $1 AND l.id = $2"))
        .bind(workspace.id.as_str())
        .bind(id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(lead_from_row).transpose()?)
}

/// The orders the Database view offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    LastActivity,
    Name,
    Created,
}

impl SortKey {
    pub fn parse(text: &str) -> Option<SortKey> {
        match text {
            "last_activity" | "activity" => Some(SortKey::LastActivity),
            "name" => Some(SortKey::Name),
            "created" | "created_at" => Some(SortKey::Created),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::LastActivity => "last_activity",
            SortKey::Name => "name",
            SortKey::Created => "created",
        }
    }

    /// Newest first for times, A→Z for names.
    pub fn default_descending(self) -> bool {
        !matches!(self, SortKey::Name)
    }

    fn column(self) -> &'static str {
        match self {
            SortKey::LastActivity => "l.activity_sort",
            SortKey::Name => "l.name_sort",
            SortKey::Created => "l.created_at",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct LeadQuery {
    pub search: Option<String>,
    pub status: Option<LeadStatus>,
    pub sort: SortKey,
    pub descending: bool,
    pub cursor: Option<String>,
    pub limit: usize,
    /// Only this lead (does it match the other filters?).
    pub only: Option<LeadId>,
}

pub struct LeadPage {
    pub leads: Vec<LeadRecord>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// A position in a sorted listing: the sort key and id of the last row shown. Opaque to
/// clients (hex), and tied to the order it was made for.
#[derive(Debug, PartialEq, Eq)]
enum CursorKey {
    Number(i64),
    Text(String),
}

fn encode_cursor(sort: SortKey, descending: bool, lead: &LeadRecord) -> String {
    let key = match sort {
        SortKey::LastActivity => lead.activity_sort.to_string(),
        SortKey::Created => lead.created_at.to_string(),
        SortKey::Name => lead.name_sort.clone(),
    };
    hex::encode(format!("{}|{}|{}|{}", sort.as_str(), if descending { "d" } else { "a" }, lead.id, key))
}

fn decode_cursor(cursor: &str, sort: SortKey, descending: bool) -> AppResult<(CursorKey, String)> {
    let invalid = || AppError::BadRequest("invalid cursor: pass back next_cursor exactly as received".into());
    let text = String::from_utf8(hex::decode(cursor.trim()).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let mut parts = text.splitn(4, '|');
    let (Some(sort_name), Some(direction), Some(id), Some(key)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if sort_name != sort.as_str() || direction != if descending { "d" } else { "a" } {
        return Err(AppError::BadRequest("the cursor belongs to another sort order; start again without it".into()));
    }
    let id = LeadId::parse(id).ok_or_else(invalid)?.into_string();
    let key = match sort {
        SortKey::Name => CursorKey::Text(key.to_string()),
        _ => CursorKey::Number(key.parse().map_err(|_| invalid())?),
    };
    Ok((key, id))
}

/// Both names of a lead, lowercased, as indexed by `leads_by_names`
/// (migrations/0004_name_search.sql); it must stay identical to the index's expression.
const NAMES_EXPRESSION: &str = "LOWER(COALESCE(l.name, '') || ' ' || COALESCE(l.kapso_name, ''))";

/// Escapes LIKE wildcards so a search for `50%` means those three characters.
fn like_pattern(fragment: &str) -> String {
    let mut escaped = String::with_capacity(fragment.len() + 2);
    escaped.push('%');
    for c in fragment.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// Filters shared by the page query, its count and the Inbox's search (which joins
/// leads as `l` too), with their bind values in order after the workspace id ($1).
pub struct Filters {
    pub sql: String,
    pub binds: Vec<String>,
    /// Whether a search narrows the rows (then sorting the matches beats walking the
    /// sort index past every lead that does not match).
    pub searching: bool,
}

/// How a phone search matches stored numbers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PhoneMatch {
    /// The digits begin the number (index range; the usual case).
    Prefix,
    /// The digits appear anywhere in it (a scan; tried when no number begins so).
    Anywhere,
}

/// The first digit string after every string that begins with `prefix`
/// (`629` → `63`); `None` when there is none (`999`).
fn after_prefix(prefix: &str) -> Option<String> {
    let mut digits: Vec<u8> = prefix.bytes().collect();
    while let Some(last) = digits.pop() {
        if last < b'9' {
            digits.push(last + 1);
            return String::from_utf8(digits).ok();
        }
    }
    None
}

pub fn filters(workspace: &Workspace, query: &LeadQuery) -> Filters {
    filters_matching(workspace, query, PhoneMatch::Prefix)
}

fn filters_matching(workspace: &Workspace, query: &LeadQuery, phone_match: PhoneMatch) -> Filters {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let mut searching = false;
    if let Some(id) = &query.only {
        binds.push(id.to_string());
        sql.push_str(&format!(" AND l.id = ${}", binds.len() + 1));
    }
    if let Some(status) = query.status {
        binds.push(status.as_str().to_string());
        sql.push_str(&format!(" AND l.lead_status = ${}", binds.len() + 1));
    }
    if let Some(search) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        searching = true;
        let prefixes = search_prefixes(search, workspace.region);
        if prefixes.is_empty() {
            // A name: the manual or the WhatsApp one, anywhere in it. The engine lowers
            // the search as it lowered the names (SQLite folds only ASCII, PostgreSQL all
            // of Unicode), so a name is found as it is written on either.
            binds.push(like_pattern(search));
            sql.push_str(&format!(" AND {NAMES_EXPRESSION} LIKE LOWER(${}) ESCAPE '\\'", binds.len() + 1));
        } else if phone_match == PhoneMatch::Prefix {
            let mut ranges = Vec::new();
            for prefix in prefixes {
                let upper = after_prefix(&prefix);
                binds.push(prefix);
                let low = binds.len() + 1;
                match upper {
                    Some(upper) => {
                        binds.push(upper);
                        ranges.push(format!("(l.phone_digits >= ${low} AND l.phone_digits < ${})", binds.len() + 1));
                    }
                    None => ranges.push(format!("l.phone_digits >= ${low}")),
                }
            }
            sql.push_str(&format!(" AND ({})", ranges.join(" OR ")));
        } else {
            let digits = prefixes.into_iter().next().unwrap_or_default();
            binds.push(like_pattern(&digits));
            sql.push_str(&format!(" AND l.phone_digits LIKE ${} ESCAPE '\\'", binds.len() + 1));
        }
    }
    Filters { sql, binds, searching }
}

pub async fn list(db: &Db, workspace: &Workspace, query: &LeadQuery) -> AppResult<LeadPage> {
    let page = list_matching(db, workspace, query, PhoneMatch::Prefix).await?;
    let phone_search = query.search.as_deref().is_some_and(|q| !search_prefixes(q.trim(), workspace.region).is_empty());
    if page.total == 0 && phone_search {
        // No number begins with these digits: look for them anywhere in the numbers.
        return list_matching(db, workspace, query, PhoneMatch::Anywhere).await;
    }
    Ok(page)
}

async fn list_matching(
    db: &Db,
    workspace: &Workspace,
    query: &LeadQuery,
    phone_match: PhoneMatch,
) -> AppResult<LeadPage> {
    let limit = query.limit.clamp(1, 500);
    let filters = filters_matching(workspace, query, phone_match);
    let column = query.sort.column();
    let (order, compare) = if query.descending { ("DESC", "<") } else { ("ASC", ">") };
    let cursor = query.cursor.as_deref().map(|c| decode_cursor(c, query.sort, query.descending)).transpose()?;

    let mut sql = format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.workspace_id = $1{}", filters.sql);
    let next_param = filters.binds.len() + 2;
    if cursor.is_some() {
        sql.push_str(&format!(" AND ({column}, l.id) {compare} (${next_param}, ${})", next_param + 1));
    }
    // Sorting by an expression keeps the planner from walking the sort index when a
    // search narrows the rows: finding the few matches first and sorting them is far
    // cheaper. (`+ 0` / `|| ''` leave the order as it is, on both engines.)
    let sort_by = match (filters.searching, query.sort) {
        (false, _) => column.to_string(),
        (true, SortKey::Name) => format!("({column} || '')"),
        (true, _) => format!("({column} + 0)"),
    };
    sql.push_str(&format!(" ORDER BY {sort_by} {order}, l.id {order} LIMIT {}", limit + 1));

    let mut page_query = sqlx::query(&sql).bind(workspace.id.as_str());
    for value in &filters.binds {
        page_query = page_query.bind(value);
    }
    if let Some((key, id)) = &cursor {
        page_query = match key {
            CursorKey::Number(n) => page_query.bind(*n),
            CursorKey::Text(t) => page_query.bind(t.clone()),
        }
        .bind(id.clone());
    }
    let count_sql = format!("SELECT COUNT(*) AS total FROM leads l WHERE l.workspace_id = $1{}", filters.sql);
    let mut count_query = sqlx::query(&count_sql).bind(workspace.id.as_str());
    for value in &filters.binds {
        count_query = count_query.bind(value);
    }
    // The count walks every matching lead while the page stops after one; on two
    // pooled connections they run side by side, so the page costs the slower of them.
    let (rows, count) = futures::try_join!(page_query.fetch_all(&db.pool), count_query.fetch_one(&db.pool))?;
    let total: i64 = count.try_get("total")?;
    let mut leads = rows.iter().map(lead_from_row).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if leads.len() > limit {
        leads.truncate(limit);
        leads.last().map(|last| encode_cursor(query.sort, query.descending, last))
    } else {
        None
    };
    Ok(LeadPage { leads, next_cursor, total })
}

/// Who made a manual change; recorded with it.
#[derive(Clone, Debug)]
pub enum Actor {
    ApiToken,
    User { id: crate::server::ids::UserId, email: String },
}

impl Actor {
    fn user_id(&self) -> Option<&str> {
        match self {
            Actor::ApiToken => None,
            Actor::User { id, .. } => Some(id.as_str()),
        }
    }

    fn label(&self) -> &str {
        match self {
            Actor::ApiToken => "API token",
            Actor::User { email, .. } => email,
        }
    }
}

/// A change to a lead's manual fields. `name: Some(None)` clears the manual name.
#[derive(Clone, Debug, Default)]
pub struct LeadChanges {
    pub name: Option<Option<String>>,
    pub lead_status: Option<LeadStatus>,
}

pub struct NewLead {
    pub phone: String,
    pub name: Option<String>,
    pub lead_status: Option<LeadStatus>,
}

pub enum Created {
    New(LeadRecord),
    /// The number already belongs to this lead.
    Existing(LeadId),
}

pub async fn create(db: &Db, workspace: &Workspace, new: NewLead) -> AppResult<Created> {
    let phone = E164::parse_typed(&new.phone, workspace.region).map_err(|e| AppError::Unprocessable(e.to_string()))?;
    let name = match new.name.as_deref() {
        Some(raw) => clean_manual_name(raw).map_err(|e| AppError::Unprocessable(e.to_string()))?,
        None => None,
    };
    let id = LeadId::generate();
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_digits, phone_valid, name, lead_status, \
         source, created_at, updated_at) VALUES ($1, $2, $3, $4, $8, 1, $5, $6, 'manual', $7, $7) \
         ON CONFLICT (workspace_id, phone_normalized) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(workspace.id.as_str())
    .bind(new.phone.trim())
    .bind(phone.as_str())
    .bind(name.as_deref())
    .bind(new.lead_status.unwrap_or_default().as_str())
    .bind(now)
    .bind(phone.digits())
    .execute(&db.pool)
    .await?;
    if inserted.rows_affected() == 0 {
        let existing: String = sqlx::query("SELECT id FROM leads WHERE workspace_id = $1 AND phone_normalized = $2")
            .bind(workspace.id.as_str())
            .bind(phone.as_str())
            .fetch_one(&db.pool)
            .await?
            .try_get("id")?;
        return Ok(Created::Existing(LeadId::from_db(existing)));
    }
    let lead = find(db, workspace, &id).await?.ok_or_else(|| AppError::Internal("lead vanished".into()))?;
    Ok(Created::New(lead))
}

/// Applies manual edits and records each real change (who, when, old → new) in the
/// lead's history. Webhooks never call this: a name typed here is never overwritten
/// by a WhatsApp profile name.
pub async fn update(
    db: &Db,
    workspace: &Workspace,
    id: &LeadId,
    changes: &LeadChanges,
    actor: &Actor,
) -> AppResult<LeadRecord> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    // Touching the row first takes its write lock (PostgreSQL), so two people editing
    // at once record their changes one after the other with correct old values.
    let touched = sqlx::query("UPDATE leads SET updated_at = updated_at WHERE workspace_id = $1 AND id = $2")
        .bind(workspace.id.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    if touched.rows_affected() == 0 {
        return Err(AppError::not_found("lead"));
    }
    let current = sqlx::query("SELECT name, lead_status FROM leads WHERE workspace_id = $1 AND id = $2")
        .bind(workspace.id.as_str())
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let old_name: Option<String> = current.try_get("name")?;
    let old_status: String = current.try_get("lead_status")?;
    let mut edits: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
    if let Some(name) = &changes.name {
        if *name != old_name {
            edits.push(("name", old_name.clone(), name.clone()));
        }
    }
    if let Some(status) = changes.lead_status {
        if status.as_str() != old_status {
            edits.push(("lead_status", Some(old_status.clone()), Some(status.as_str().to_string())));
        }
    }
    for (field, old_value, new_value) in &edits {
        let column_update = match *field {
            "name" => "UPDATE leads SET name = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4",
            _ => "UPDATE leads SET lead_status = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4",
        };
        sqlx::query(column_update)
            .bind(new_value.as_deref())
            .bind(now)
            .bind(workspace.id.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO lead_changes (id, workspace_id, lead_id, actor_user_id, actor_label, field, old_value, new_value, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(workspace.id.as_str())
        .bind(id.as_str())
        .bind(actor.user_id())
        .bind(actor.label())
        .bind(*field)
        .bind(old_value.as_deref())
        .bind(new_value.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    find(db, workspace, id).await?.ok_or_else(|| AppError::not_found("lead"))
}

/// One entry of a lead's history of manual changes.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeRecord {
    pub actor: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub changed_at: i64,
}

pub async fn changes(db: &Db, workspace: &Workspace, id: &LeadId) -> AppResult<Vec<ChangeRecord>> {
    let rows = sqlx::query(
        "SELECT actor_label, field, old_value, new_value, changed_at FROM lead_changes \
         WHERE workspace_id = $1 AND lead_id = $2 ORDER BY changed_at DESC, id DESC LIMIT 200",
    )
    .bind(workspace.id.as_str())
    .bind(id.as_str())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ChangeRecord {
                actor: row.try_get("actor_label")?,
                field: row.try_get("field")?,
                old_value: row.try_get("old_value")?,
                new_value: row.try_get("new_value")?,
                changed_at: row.try_get("changed_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

// ---- JSON API ----

/// A lead as the JSON API shows it.
#[derive(Debug, Serialize)]
pub struct LeadJson {
    pub id: String,
    pub display_name: String,
    pub name: Option<String>,
    pub kapso_name: Option<String>,
    pub phone: String,
    pub phone_raw: String,
    pub phone_normalized: String,
    pub phone_valid: bool,
    pub lead_status: LeadStatus,
    pub source: LeadSource,
    pub last_activity_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub kapso_conversation_id: Option<String>,
    pub unread_count: i64,
    pub inbox_path: Option<String>,
}

impl From<&LeadRecord> for LeadJson {
    fn from(lead: &LeadRecord) -> Self {
        LeadJson {
            id: lead.id.to_string(),
            display_name: lead.display_name(),
            name: lead.name.clone(),
            kapso_name: lead.kapso_name.clone(),
            phone: lead.phone_display(),
            phone_raw: lead.phone_raw.clone(),
            phone_normalized: lead.phone_normalized.clone(),
            phone_valid: lead.phone_valid,
            lead_status: lead.lead_status,
            source: lead.source,
            last_activity_at: lead.last_activity_at.map(rfc3339),
            created_at: rfc3339(lead.created_at),
            updated_at: rfc3339(lead.updated_at),
            kapso_conversation_id: lead.kapso_conversation_id.clone(),
            unread_count: lead.unread_count,
            inbox_path: lead.inbox_ref.as_ref().map(|r| format!("/inbox/{r}")),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListParams {
    q: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
struct ListResponse {
    leads: Vec<LeadJson>,
    next_cursor: Option<String>,
    total: i64,
}

pub const DEFAULT_PAGE_SIZE: usize = 50;

async fn list_leads(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<ListResponse>> {
    let Query(params) = params.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(LeadStatus::parse(s).ok_or_else(|| AppError::BadRequest(status_choices(s)))?),
        None => None,
    };
    let sort = match params.sort.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => SortKey::parse(s)
            .ok_or_else(|| AppError::BadRequest(format!("unknown sort `{s}`: use last_activity, name or created")))?,
        None => SortKey::default(),
    };
    let descending = match params.order.as_deref() {
        None | Some("") => sort.default_descending(),
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(AppError::BadRequest(format!("unknown order `{other}`: use asc or desc"))),
    };
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => return Err(AppError::BadRequest("limit must be a whole number from 1 to 500".into())),
        },
    };
    let page = list(
        &state.db,
        &workspace,
        &LeadQuery { search: params.q, status, sort, descending, cursor: params.cursor, limit, only: None },
    )
    .await?;
    Ok(Json(ListResponse {
        leads: page.leads.iter().map(LeadJson::from).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

fn status_choices(given: &str) -> String {
    let names: Vec<&str> = LeadStatus::ALL.iter().map(|s| s.as_str()).collect();
    format!("unknown lead_status `{given}`: use one of {}", names.join(", "))
}

/// Reads a lead id from the path; anything that is not an id is simply not found.
pub fn lead_id_from_path(raw: &str) -> AppResult<LeadId> {
    LeadId::parse(raw).ok_or_else(|| AppError::not_found("lead"))
}

async fn get_lead(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    Path(id): Path<String>,
) -> AppResult<Json<LeadJson>> {
    let id = lead_id_from_path(&id)?;
    let lead = find(&state.db, &workspace, &id).await?.ok_or_else(|| AppError::not_found("lead"))?;
    Ok(Json(LeadJson::from(&lead)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateLeadBody {
    phone: String,
    name: Option<String>,
    lead_status: Option<String>,
}

async fn create_lead(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    JsonBody(body): JsonBody<CreateLeadBody>,
) -> AppResult<impl IntoResponse> {
    let lead_status = match body.lead_status.as_deref() {
        Some(s) => Some(LeadStatus::parse(s).ok_or_else(|| AppError::Unprocessable(status_choices(s)))?),
        None => None,
    };
    match create(&state.db, &workspace, NewLead { phone: body.phone, name: body.name, lead_status }).await {
        Ok(Created::New(lead)) => {
            state.live.publish(crate::server::live::LeadChanged {
                workspace_id: workspace.id.to_string(),
                lead_id: lead.id.to_string(),
                created: true,
            });
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, format!("/api/v1/leads/{}", lead.id))],
                Json(LeadJson::from(&lead)),
            ))
        }
        Ok(Created::Existing(existing)) => Err(AppError::Conflict {
            message: "a lead with this phone number already exists".into(),
            existing_id: Some(existing.to_string()),
        }),
        Err(err) => Err(err),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateLeadBody {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    lead_status: Option<String>,
}

/// Tells `"name": null` (clear it) from no `name` at all (leave it).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

async fn update_lead(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateLeadBody>,
) -> AppResult<Json<LeadJson>> {
    let id = lead_id_from_path(&id)?;
    let changes = LeadChanges {
        name: match body.name {
            Some(Some(raw)) => Some(clean_manual_name(&raw).map_err(|e| AppError::Unprocessable(e.to_string()))?),
            Some(None) => Some(None),
            None => None,
        },
        lead_status: match body.lead_status.as_deref() {
            Some(s) => Some(LeadStatus::parse(s).ok_or_else(|| AppError::Unprocessable(status_choices(s)))?),
            None => None,
        },
    };
    let lead = update(&state.db, &workspace, &id, &changes, &Actor::ApiToken).await?;
    state.live.publish(crate::server::live::LeadChanged {
        workspace_id: workspace.id.to_string(),
        lead_id: lead.id.to_string(),
        created: false,
    });
    Ok(Json(LeadJson::from(&lead)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_end_after_every_extension() {
        assert_eq!(after_prefix("6281").as_deref(), Some("6282"));
        assert_eq!(after_prefix("629").as_deref(), Some("63"));
        assert_eq!(after_prefix("999"), None);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
