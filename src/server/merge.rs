//! Merging two leads that are one person: automatically when one delivery names
//! identifiers of both (`identity.rs`), or by staff (`POST /api/v1/leads/{id}/merge`,
//! the Database's "Merge").
//!
//! What is kept: the lead created first survives (its id stays the one people know); a
//! manual name wins over profile names (the survivor's if both have one); profile name,
//! username and "Open in Inbox" come from the lead that wrote last; activity is the later
//! of the two. The status is not guessed: a person merging picks it when the two differ;
//! an automatic merge keeps the survivor's unless that is still `new`.
//! What moves: conversations, messages, identities, the history of manual changes and of
//! earlier merges. The merged lead's row stays, marked `merged_into`, so its id keeps
//! answering (410 in the API, a redirect on its page); its unique key is released.
//! Each merge is recorded in `lead_merges` (who, when, which ids, what the merged lead was).
//!
//! Written once against `store::Exec`, so the webhook's ingest (inside its item's
//! transaction) and the API (in a transaction of its own) run the same statements. Lead
//! rows are locked first, in id order, before anything that hangs off them.

use crate::server::{
    identity::{IdentityRecord, Kind},
    ids::{LeadId, UserId},
    store::{Exec, Row, StoreError},
};
use serde_json::json;

/// Who merges, and with which status when the two leads' statuses differ.
#[derive(Clone, Debug)]
pub struct MergeBy {
    pub actor_user_id: Option<UserId>,
    pub actor_label: String,
    /// `automatic` | `manual`
    pub reason: &'static str,
    /// The status the person picked; `None` lets the rule above decide.
    pub status: Option<String>,
}

impl MergeBy {
    pub fn automatic() -> MergeBy {
        MergeBy { actor_user_id: None, actor_label: "WhatsApp (same person)".into(), reason: "automatic", status: None }
    }
}

/// A lead row as merging needs it.
#[derive(Clone, Debug)]
pub struct LeadFacts {
    pub id: String,
    pub name: Option<String>,
    pub kapso_name: Option<String>,
    pub username: Option<String>,
    pub lead_status: String,
    pub created_at: i64,
    pub last_activity_at: Option<i64>,
    pub kapso_conversation_id: Option<String>,
    pub merged_into: Option<String>,
    pub phone_normalized: String,
}

impl LeadFacts {
    fn from_row(row: &Row) -> Result<LeadFacts, StoreError> {
        Ok(LeadFacts {
            id: row.text(0)?,
            name: row.opt_text(1)?,
            kapso_name: row.opt_text(2)?,
            username: row.opt_text(3)?,
            lead_status: row.text(4)?,
            created_at: row.int(5)?,
            last_activity_at: row.opt_int(6)?,
            kapso_conversation_id: row.opt_text(7)?,
            merged_into: row.opt_text(8)?,
            phone_normalized: row.text(9)?,
        })
    }

    fn has_phone(&self) -> bool {
        !self.phone_normalized.starts_with("bsuid:") && !self.phone_normalized.starts_with("merged:")
    }

    /// Which of two leads survives a merge: the one created first (then the smaller id).
    pub fn survives_over(&self, other: &LeadFacts) -> bool {
        (self.created_at, &self.id) <= (other.created_at, &other.id)
    }
}

/// Locks a lead row (PostgreSQL: until the transaction ends) and reads it.
const LOCK_LEAD: &str = "\
UPDATE leads SET updated_at = updated_at WHERE workspace_id = $1 AND id = $2
RETURNING id, name, kapso_name, username, lead_status, created_at, last_activity_at, kapso_conversation_id,
          merged_into, phone_normalized";

const MERGE_REPLY_CLOCK: &str = "\
UPDATE leads SET
    last_inbound_at = (SELECT MAX(last_inbound_at) FROM leads WHERE id IN ($1, $2)),
    last_outbound_at = (SELECT MAX(last_outbound_at) FROM leads WHERE id IN ($1, $2)),
    awaiting_reply_since = (SELECT MIN(awaiting_reply_since) FROM leads WHERE id IN ($1, $2))
WHERE id = $1";

pub async fn lock_lead<E: Exec>(conn: &mut E, workspace_id: &str, id: &str) -> Result<Option<LeadFacts>, StoreError> {
    conn.query_one(LOCK_LEAD, &[workspace_id.into(), id.into()]).await?.map(|row| LeadFacts::from_row(&row)).transpose()
}

/// What an automatic merge left: the lead that goes on, and the leads merged into it
/// (open pages drop their rows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub survivor: String,
    pub absorbed: Vec<String>,
}

impl Merged {
    /// Nothing merged: `lead_id` goes on alone.
    pub fn alone(lead_id: &str) -> Merged {
        Merged { survivor: lead_id.to_string(), absorbed: Vec::new() }
    }
}

/// Merges every lead of `leads` into the one created first. A lead found merged
/// meanwhile means another transaction got there first: the caller retries.
pub async fn merge_all<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    leads: &[String],
    by: &MergeBy,
    now: i64,
) -> Result<Merged, StoreError> {
    let mut ids: Vec<&String> = leads.iter().collect();
    ids.sort();
    ids.dedup();
    let mut facts = Vec::with_capacity(ids.len());
    for id in ids {
        let lead = lock_lead(conn, workspace_id, id).await?.ok_or(StoreError::RaceLost)?;
        if lead.merged_into.is_some() {
            return Err(StoreError::RaceLost);
        }
        facts.push(lead);
    }
    facts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut survivor = facts.remove(0);
    let mut absorbed = Vec::with_capacity(facts.len());
    for merged in facts {
        survivor = merge_locked(conn, workspace_id, survivor, &merged, by, now).await?;
        absorbed.push(merged.id);
    }
    Ok(Merged { survivor: survivor.id, absorbed })
}

/// Merges `merged` into `survivor`, both already locked; returns the survivor as it now is.
pub async fn merge_locked<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    survivor: LeadFacts,
    merged: &LeadFacts,
    by: &MergeBy,
    now: i64,
) -> Result<LeadFacts, StoreError> {
    let (s, m) = (survivor.id.as_str(), merged.id.as_str());
    let merged_identities = identities(conn, m).await?;
    let snapshot = json!({
        "name": merged.name,
        "kapso_name": merged.kapso_name,
        "username": merged.username,
        "lead_status": merged.lead_status,
        "created_at": merged.created_at,
        "last_activity_at": merged.last_activity_at,
        "identities": merged_identities,
    })
    .to_string();

    for statement in [
        "UPDATE conversations SET lead_id = $1 WHERE lead_id = $2",
        "UPDATE messages SET lead_id = $1 WHERE lead_id = $2",
        "UPDATE lead_changes SET lead_id = $1 WHERE lead_id = $2",
        "UPDATE lead_merges SET survivor_id = $1 WHERE survivor_id = $2",
        "UPDATE leads SET merged_into = $1 WHERE merged_into = $2",
        "UPDATE lead_identities SET lead_id = $1, is_primary = 0 WHERE lead_id = $2",
    ] {
        conn.execute(statement, &[s.into(), m.into()]).await?;
    }
    // Release the merged lead's key before the survivor may take it over.
    conn.execute(
        "UPDATE leads SET merged_into = $1, phone_normalized = 'merged:' || id, phone_digits = NULL, updated_at = $3 \
         WHERE id = $2",
        &[s.into(), m.into(), now.into()],
    )
    .await?;

    let merged_is_newer = merged.last_activity_at.unwrap_or(0) > survivor.last_activity_at.unwrap_or(0);
    let newer_first = |ours: &Option<String>, theirs: &Option<String>| {
        if merged_is_newer {
            theirs.clone().or(ours.clone())
        } else {
            ours.clone().or(theirs.clone())
        }
    };
    let status = match &by.status {
        Some(picked) => picked.clone(),
        None if survivor.lead_status == "new" => merged.lead_status.clone(),
        None => survivor.lead_status.clone(),
    };
    let updated = LeadFacts {
        name: survivor.name.clone().or(merged.name.clone()),
        kapso_name: newer_first(&survivor.kapso_name, &merged.kapso_name),
        username: newer_first(&survivor.username, &merged.username),
        kapso_conversation_id: newer_first(&survivor.kapso_conversation_id, &merged.kapso_conversation_id),
        last_activity_at: survivor.last_activity_at.max(merged.last_activity_at),
        lead_status: status,
        ..survivor.clone()
    };
    conn.execute(
        "UPDATE leads SET name = $2, kapso_name = $3, username = $4, kapso_conversation_id = $5, last_activity_at = $6, \
         lead_status = $7, updated_at = $8 WHERE id = $1",
        &[
            s.into(),
            updated.name.as_deref().into(),
            updated.kapso_name.as_deref().into(),
            updated.username.as_deref().into(),
            updated.kapso_conversation_id.as_deref().into(),
            updated.last_activity_at.into(),
            updated.lead_status.as_str().into(),
            now.into(),
        ],
    )
    .await?;
    // The reply clock: the later window, and whoever waits longest still waits.
    conn.execute(MERGE_REPLY_CLOCK, &[s.into(), m.into()]).await?;
    let mut updated = updated;
    if !survivor.has_phone() {
        // The survivor had no number: the merged lead's primary number becomes its own.
        if let Some(phone) = merged_identities.iter().find(|i| i.kind == "phone" && i.primary) {
            conn.execute(
                "UPDATE lead_identities SET is_primary = 1 WHERE lead_id = $1 AND kind = 'phone' AND value = $2",
                &[s.into(), phone.value.as_str().into()],
            )
            .await?;
            conn.execute(
                "UPDATE leads SET phone_normalized = $2, phone_digits = $3, phone_valid = $4, phone_raw = $2 WHERE id = $1",
                &[
                    s.into(),
                    phone.value.as_str().into(),
                    phone.value.trim_start_matches('+').into(),
                    i64::from(phone.value.starts_with('+')).into(),
                ],
            )
            .await?;
            updated.phone_normalized = phone.value.clone();
        }
    }
    conn.execute(
        "INSERT INTO lead_merges (id, workspace_id, survivor_id, merged_id, actor_user_id, actor_label, reason, \
         merged_snapshot, merged_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            LeadId::generate().as_str().into(),
            workspace_id.into(),
            s.into(),
            m.into(),
            by.actor_user_id.as_ref().map(UserId::as_str).into(),
            by.actor_label.as_str().into(),
            by.reason.into(),
            snapshot.as_str().into(),
            now.into(),
        ],
    )
    .await?;
    tracing::info!(survivor = %s, merged = %m, reason = by.reason, "leads merged");
    Ok(updated)
}

/// A lead's identities, primary phone first.
pub async fn identities<E: Exec>(conn: &mut E, lead_id: &str) -> Result<Vec<IdentityRecord>, StoreError> {
    let rows = conn
        .query(
            "SELECT kind, value, is_primary FROM lead_identities WHERE lead_id = $1 \
             ORDER BY kind DESC, is_primary DESC, created_at, value",
            &[lead_id.into()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let kind = Kind::parse(&row.text(0)?).ok_or_else(|| StoreError::Shape("unknown identity kind".into()))?;
            Ok(IdentityRecord::new(kind, row.text(1)?, row.int(2)? == 1))
        })
        .collect()
}
