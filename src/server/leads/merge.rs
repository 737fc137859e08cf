//! Merging two leads by hand (the API's `POST /api/v1/leads/{id}/merge`, the Database's
//! "Merge"): a preview of what is kept, the person's pick when the statuses differ, and
//! the merge itself (`server::merge`, the same statements automatic merges run), in one
//! transaction. Never across workspaces: another workspace's id is not found (404).

use super::{find, Actor, LeadRecord};
use crate::model::LeadStatus;
use crate::server::{
    clock::now_ms,
    db::Db,
    error::{AppError, AppResult},
    ids::LeadId,
    merge::{self as core, LeadFacts, MergeBy},
    store::{Exec, PgExec, StoreError},
    workspaces::Workspace,
};
use serde::Serialize;
use sqlx::Row;

/// What a merge of two leads would keep, shown before anyone confirms.
#[derive(Clone, Debug, Serialize)]
pub struct MergePreview {
    /// The lead that stays (created first); its id keeps working.
    pub survivor_id: String,
    /// The lead that goes; its id will answer with the survivor.
    pub merged_id: String,
    pub display_name: String,
    pub name: Option<String>,
    pub kapso_name: Option<String>,
    pub username: Option<String>,
    pub phones: Vec<String>,
    pub business_scoped_user_ids: Vec<String>,
    /// The status both have, or `null` when they differ and the person must pick.
    pub lead_status: Option<LeadStatus>,
    /// The two statuses when they differ (the person picks one), else empty.
    pub status_choices: Vec<LeadStatus>,
    pub messages: i64,
    pub conversations: i64,
    pub undoable: bool,
}

/// A person's merge request: the two leads and, when their statuses differ, the pick.
pub struct MergeRequest {
    pub id: LeadId,
    pub other_id: LeadId,
    pub lead_status: Option<LeadStatus>,
}

/// Both leads, live, in this workspace; the survivor first.
async fn pair(db: &Db, workspace: &Workspace, a: &LeadId, b: &LeadId) -> AppResult<(LeadRecord, LeadRecord)> {
    if a == b {
        return Err(AppError::Unprocessable("a lead cannot be merged with itself: other_id is the same lead".into()));
    }
    let first = find(db, workspace, a).await?.ok_or_else(|| AppError::not_found("lead"))?;
    let second = find(db, workspace, b).await?.ok_or_else(|| AppError::not_found("other lead"))?;
    for lead in [&first, &second] {
        if let Some(survivor) = &lead.merged_into {
            return Err(AppError::Merged(survivor.clone()));
        }
    }
    Ok(if (first.created_at, &first.id) <= (second.created_at, &second.id) { (first, second) } else { (second, first) })
}

pub async fn preview_merge(db: &Db, workspace: &Workspace, a: &LeadId, b: &LeadId) -> AppResult<MergePreview> {
    let (survivor, merged) = pair(db, workspace, a, b).await?;
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM messages WHERE lead_id = $1 OR lead_id = $2) AS messages, \
         (SELECT COUNT(*) FROM conversations WHERE lead_id = $1 OR lead_id = $2) AS conversations",
    )
    .bind(survivor.id.as_str())
    .bind(merged.id.as_str())
    .fetch_one(&db.pool)
    .await?;
    let newer = merged.last_activity_at.unwrap_or(0) > survivor.last_activity_at.unwrap_or(0);
    let pick = |ours: &Option<String>, theirs: &Option<String>| {
        if newer {
            theirs.clone().or(ours.clone())
        } else {
            ours.clone().or(theirs.clone())
        }
    };
    let mut phones: Vec<String> = survivor.phones().iter().map(|p| p.to_string()).collect();
    phones.extend(merged.phones().iter().map(|p| p.to_string()));
    let bsuids = [&survivor, &merged]
        .iter()
        .flat_map(|l| l.identities.iter().filter(|i| i.kind != "phone").map(|i| i.value.clone()))
        .collect();
    let name = survivor.name.clone().or(merged.name.clone());
    let kapso_name = pick(&survivor.kapso_name, &merged.kapso_name);
    let username = pick(&survivor.username, &merged.username);
    let display_name = name.clone().or(kapso_name.clone()).or(username.clone()).unwrap_or_else(|| {
        if survivor.has_no_number() {
            merged.display_name()
        } else {
            survivor.display_name()
        }
    });
    let same_status = survivor.lead_status == merged.lead_status;
    Ok(MergePreview {
        survivor_id: survivor.id.to_string(),
        merged_id: merged.id.to_string(),
        display_name,
        name,
        kapso_name,
        username,
        phones,
        business_scoped_user_ids: bsuids,
        lead_status: same_status.then_some(survivor.lead_status),
        status_choices: if same_status { Vec::new() } else { vec![survivor.lead_status, merged.lead_status] },
        messages: counts.try_get("messages")?,
        conversations: counts.try_get("conversations")?,
        undoable: false,
    })
}

/// Merges two leads as a person asked, and returns the survivor. Refused: the same lead
/// twice (422), a lead of another workspace (404), a lead already merged (410), differing
/// statuses without a pick (409, naming both).
pub async fn merge_by_person(
    db: &Db,
    workspace: &Workspace,
    request: &MergeRequest,
    actor: &Actor,
) -> AppResult<LeadRecord> {
    let (survivor, merged) = pair(db, workspace, &request.id, &request.other_id).await?;
    let mut conn = PgExec::on(db.pool.acquire().await?, db.engine);
    conn.begin_scope().await?;
    let done = merge_in_transaction(&mut conn, workspace, &survivor.id, &merged.id, request.lead_status, actor).await;
    match done {
        Ok(()) => conn.end_scope(true).await?,
        Err(_) => {
            let _ = conn.end_scope(false).await;
        }
    }
    done?;
    find(db, workspace, &survivor.id).await?.ok_or_else(|| AppError::not_found("lead"))
}

async fn merge_in_transaction(
    conn: &mut PgExec,
    workspace: &Workspace,
    survivor_id: &LeadId,
    merged_id: &LeadId,
    status: Option<LeadStatus>,
    actor: &Actor,
) -> AppResult<()> {
    // Lock both rows in id order (the order every merge takes), then look again: another
    // merge may have got there first.
    let mut ids = [survivor_id.as_str(), merged_id.as_str()];
    ids.sort();
    let mut locked: Vec<LeadFacts> = Vec::with_capacity(2);
    for id in ids {
        let lead =
            core::lock_lead(conn, workspace.id.as_str(), id).await?.ok_or_else(|| AppError::not_found("lead"))?;
        if let Some(survivor) = &lead.merged_into {
            return Err(AppError::Merged(survivor.clone()));
        }
        locked.push(lead);
    }
    locked.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let merged = locked.pop().expect("two leads");
    let survivor = locked.pop().expect("two leads");
    let picked = match status {
        Some(status) => Some(status.as_str().to_string()),
        None if survivor.lead_status == merged.lead_status => None,
        None => {
            return Err(AppError::Conflict {
                message: format!(
                    "the leads have different statuses ({} and {}): pass lead_status to pick the one to keep",
                    survivor.lead_status, merged.lead_status
                ),
                existing_id: None,
            })
        }
    };
    let by = MergeBy {
        actor_user_id: match actor {
            Actor::User { id, .. } => Some(id.clone()),
            Actor::ApiToken => None,
        },
        actor_label: match actor {
            Actor::User { email, .. } => email.clone(),
            Actor::ApiToken => "API token".into(),
        },
        reason: "manual",
        status: picked.or(Some(survivor.lead_status.clone())),
    };
    core::merge_locked(conn, workspace.id.as_str(), survivor, &merged, &by, now_ms()).await.map_err(
        |err| match err {
            StoreError::RaceLost => {
                AppError::Conflict { message: "the leads changed meanwhile; try again".into(), existing_id: None }
            }
            other => other.into(),
        },
    )?;
    Ok(())
}

/// One merge in a lead's history (lead page, API).
#[derive(Clone, Debug, Serialize)]
pub struct MergeRecord {
    pub merged_id: String,
    pub actor: String,
    pub reason: String,
    pub merged_name: Option<String>,
    pub merged_at: i64,
}

pub async fn merges(db: &Db, workspace: &Workspace, id: &LeadId) -> AppResult<Vec<MergeRecord>> {
    let rows = sqlx::query(
        "SELECT merged_id, actor_label, reason, merged_snapshot, merged_at FROM lead_merges \
         WHERE workspace_id = $1 AND survivor_id = $2 ORDER BY merged_at DESC, id DESC LIMIT 200",
    )
    .bind(workspace.id.as_str())
    .bind(id.as_str())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let snapshot: String = row.try_get("merged_snapshot")?;
            let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap_or_default();
            let merged_name = ["name", "kapso_name", "username"]
                .iter()
                .find_map(|key| snapshot.get(*key).and_then(|v| v.as_str()).map(str::to_string));
            Ok(MergeRecord {
                merged_id: row.try_get("merged_id")?,
                actor: row.try_get("actor_label")?,
                reason: row.try_get("reason")?,
                merged_name,
                merged_at: row.try_get("merged_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}
