//! Writing leads by hand: create (JSON API), manual edits with their history.

use super::{find, LeadRecord};
use crate::model::{clean_manual_name, LeadStatus};
use crate::server::{
    clock::now_ms,
    db::Db,
    error::{AppError, AppResult},
    identity::{self, Identifiers, Kind, PhoneId},
    ids::LeadId,
    phone::E164,
    store::{Exec, PgExec, StoreError},
    workspaces::Workspace,
};
use serde::Serialize;
use sqlx::Row;

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
    New(Box<LeadRecord>),
    /// The number already belongs to this lead.
    Existing(LeadId),
}

/// Creates a lead for a typed number, unless the number already belongs to a lead (as
/// its primary number or another one). Takes the same identity lock as the webhook's
/// ingest on PostgreSQL, so a typed lead and a first message of the same number make one.
pub async fn create(db: &Db, workspace: &Workspace, new: NewLead) -> AppResult<Created> {
    let phone = E164::parse_typed(&new.phone, workspace.region).map_err(|e| AppError::Unprocessable(e.to_string()))?;
    let name = match new.name.as_deref() {
        Some(raw) => clean_manual_name(raw).map_err(|e| AppError::Unprocessable(e.to_string()))?,
        None => None,
    };
    let id = LeadId::generate();
    let now = now_ms();
    let ids = Identifiers { phone: Some(PhoneId::typed(&phone)), ..Identifiers::default() };
    let mut conn = PgExec::on(db.pool.acquire().await?, db.engine);
    conn.begin_scope().await?;
    let created: Result<Option<String>, StoreError> = async {
        identity::lock_identities(&mut conn, workspace.id.as_str(), &ids.keys()).await?;
        if let Some(existing) = identity::find_lead(&mut conn, workspace.id.as_str(), &ids, None).await? {
            return Ok(Some(existing));
        }
        let inserted = conn
            .execute(
                "INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_digits, phone_valid, name, \
                 lead_status, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $8, 1, $5, $6, 'manual', $7, $7) \
                 ON CONFLICT (workspace_id, phone_normalized) DO NOTHING",
                &[
                    id.as_str().into(),
                    workspace.id.as_str().into(),
                    new.phone.trim().into(),
                    phone.as_str().into(),
                    name.as_deref().into(),
                    new.lead_status.unwrap_or_default().as_str().into(),
                    now.into(),
                    phone.digits().into(),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Shape("a lead holds this number as its key but not as an identity".into()));
        }
        identity::add_identities(
            &mut conn,
            workspace.id.as_str(),
            id.as_str(),
            &ids,
            &[Kind::Phone],
            Some(new.phone.trim()),
            identity::PhoneRole::Primary,
            now,
        )
        .await?;
        Ok(None)
    }
    .await;
    match created {
        Ok(Some(existing)) => {
            conn.end_scope(false).await?;
            Ok(Created::Existing(LeadId::from_db(existing)))
        }
        Ok(None) => {
            conn.end_scope(true).await?;
            let lead = find(db, workspace, &id).await?.ok_or_else(|| AppError::Internal("lead vanished".into()))?;
            Ok(Created::New(Box::new(lead)))
        }
        Err(err) => {
            let _ = conn.end_scope(false).await;
            Err(err.into())
        }
    }
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
    let current = sqlx::query("SELECT name, lead_status, merged_into FROM leads WHERE workspace_id = $1 AND id = $2")
        .bind(workspace.id.as_str())
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
    if let Some(survivor) = current.try_get::<Option<String>, _>("merged_into")? {
        return Err(AppError::Merged(survivor));
    }
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
