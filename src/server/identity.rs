//! Who a customer is: the identifiers one inbound item carries, and how they find (or
//! make) the one lead of that person.
//!
//! The rules (ARCHITECTURE.md, "One person, one lead"):
//! - A lead has a set of identities (`lead_identities`): phone numbers (one primary),
//!   BSUIDs and parent BSUIDs. Each belongs to at most one lead of a workspace (the
//!   table's primary key, on both engines). The username is a label on the lead.
//! - Matching order: BSUID, parent BSUID, phone, then the Kapso conversation id already
//!   linked to a lead. An item whose identifiers point at *different* leads ties them
//!   together: they are one person, merged automatically (`merge.rs`; the earlier lead
//!   survives) and the merge is recorded.
//! - Identifiers a matched lead lacks are added to it; a phone added to a lead without
//!   one becomes its primary number.
//! - `leads.phone_normalized` stays the lead's unique key: its primary phone, else
//!   `bsuid:<id>`, else `merged:<lead id>` once merged. It is always one of the lead's own
//!   identities, so it can never collide where the identities do not.
//!
//! Concurrency. SQLite: one writer, nothing interleaves. PostgreSQL (several
//! connections, several replicas): before looking anything up, an item takes a
//! transaction-scoped advisory lock per identifier, in one global order (sorted keys),
//! so two items naming the same person run one after the other and cannot deadlock on
//! those locks; whatever still races (a manual create, a merge on another lead) ends in
//! a unique violation or a lead found merged, and the item is retried whole.

use crate::server::db::Engine;
use crate::server::{
    ids::LeadId,
    merge::{self, MergeBy},
    phone::{display_key, CustomerKey, E164},
    store::{Exec, StoreError},
    webhook::payload::Customer,
};

/// The kinds of identity a lead can have (`lead_identities.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Bsuid,
    ParentBsuid,
    Phone,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Phone => "phone",
            Kind::Bsuid => "bsuid",
            Kind::ParentBsuid => "parent_bsuid",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "phone" => Some(Kind::Phone),
            "bsuid" => Some(Kind::Bsuid),
            "parent_bsuid" => Some(Kind::ParentBsuid),
            _ => None,
        }
    }
}

/// A phone identity: E.164 when libphonenumber accepts the number, else its bare digits
/// (kept so a message from an odd number is not lost).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneId {
    pub value: String,
    pub valid: bool,
}

impl PhoneId {
    /// Reads a WhatsApp (international) number; `None` when it has no digits.
    pub fn from_whatsapp(raw: &str) -> Option<PhoneId> {
        match CustomerKey::from_whatsapp(Some(raw), None)? {
            CustomerKey::Phone(e164) => Some(PhoneId { value: e164.as_str().to_string(), valid: true }),
            CustomerKey::UncheckedDigits(digits) => Some(PhoneId { value: digits, valid: false }),
            CustomerKey::BusinessScoped(_) => None,
        }
    }

    pub fn typed(e164: &E164) -> PhoneId {
        PhoneId { value: e164.as_str().to_string(), valid: true }
    }

    /// The digits without `+` (`leads.phone_digits`, for prefix search).
    pub fn digits(&self) -> &str {
        self.value.trim_start_matches('+')
    }
}

/// Every identifier one item names, parsed once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identifiers {
    pub bsuid: Option<String>,
    pub parent_bsuid: Option<String>,
    pub phone: Option<PhoneId>,
    /// A label, not a key.
    pub username: Option<String>,
}

/// BSUIDs are `CC.` plus alphanumerics; anything else with a dot or letters is still
/// kept as written (trimmed), since it is WhatsApp's key, not ours to judge.
fn clean_id(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim).filter(|id| !id.is_empty() && id.len() <= 160).map(str::to_string)
}

/// `@dewi.kue`, however it arrived (`dewi.kue`, ` @dewi.kue `).
pub fn clean_username(raw: Option<&str>) -> Option<String> {
    let name = raw?.trim().trim_start_matches('@').trim();
    (!name.is_empty() && name.chars().count() <= 64 && !name.chars().any(char::is_whitespace))
        .then(|| format!("@{name}"))
}

impl Identifiers {
    pub fn of(customer: &Customer) -> Identifiers {
        let mut bsuid = clean_id(customer.business_scoped_id.as_deref());
        let mut parent_bsuid = clean_id(customer.parent_business_scoped_id.as_deref());
        // A parent id (`US.ENT.…`) given where a BSUID was expected is a parent id.
        if bsuid.as_deref().is_some_and(is_parent_id) && parent_bsuid.is_none() {
            parent_bsuid = bsuid.take();
        }
        Identifiers {
            bsuid,
            parent_bsuid,
            phone: customer.phone.as_deref().and_then(PhoneId::from_whatsapp),
            username: clean_username(customer.username.as_deref()),
        }
    }

    /// Whether the item names anyone at all (a username alone names nobody).
    pub fn is_empty(&self) -> bool {
        self.bsuid.is_none() && self.parent_bsuid.is_none() && self.phone.is_none()
    }

    /// The identities as (kind, value), in matching order.
    pub fn keys(&self) -> Vec<(Kind, &str)> {
        let mut keys = Vec::with_capacity(3);
        if let Some(id) = &self.bsuid {
            keys.push((Kind::Bsuid, id.as_str()));
        }
        if let Some(id) = &self.parent_bsuid {
            keys.push((Kind::ParentBsuid, id.as_str()));
        }
        if let Some(phone) = &self.phone {
            keys.push((Kind::Phone, phone.value.as_str()));
        }
        keys
    }

    /// The unique key (`leads.phone_normalized`) a new lead of these identifiers gets.
    fn lead_key(&self) -> Option<String> {
        match (&self.phone, &self.bsuid, &self.parent_bsuid) {
            (Some(phone), _, _) => Some(phone.value.clone()),
            (None, Some(id), _) | (None, None, Some(id)) => Some(format!("bsuid:{id}")),
            (None, None, None) => None,
        }
    }

    /// For logs: the phone masked, or the kind of id.
    pub fn masked(&self) -> String {
        match (&self.phone, &self.bsuid) {
            (Some(phone), _) => crate::server::telemetry::mask_phone(&phone.value),
            (None, Some(_)) => "bsuid".into(),
            (None, None) => "parent bsuid".into(),
        }
    }
}

fn is_parent_id(id: &str) -> bool {
    id.split('.').nth(1) == Some("ENT")
}

/// How the item's lead was found.
pub struct Resolved {
    pub lead_id: String,
    pub created: bool,
    /// Leads this delivery showed to be the same person, merged into `lead_id`.
    pub absorbed: Vec<String>,
}

/// The advisory-lock key of one identity (PostgreSQL): 64 bits of SHA-256 over the
/// workspace, kind and value.
fn lock_key(workspace_id: &str, kind: Kind, value: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(workspace_id.as_bytes())
        .chain_update([0])
        .chain_update(kind.as_str().as_bytes())
        .chain_update([0])
        .chain_update(value.as_bytes())
        .finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// PostgreSQL: serializes every transaction that names any of these identities (see
/// the module notes). Locks are taken in ascending key order, and released at commit.
pub async fn lock_identities<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    keys: &[(Kind, &str)],
) -> Result<(), StoreError> {
    if conn.engine() != Engine::Postgres {
        return Ok(());
    }
    let mut locks: Vec<i64> = keys.iter().map(|(kind, value)| lock_key(workspace_id, *kind, value)).collect();
    locks.sort_unstable();
    locks.dedup();
    for key in locks {
        conn.query("SELECT pg_advisory_xact_lock($1)", &[key.into()]).await?;
    }
    Ok(())
}

/// One primary-key look-up per kind (a single `OR` of the three made SQLite walk every
/// identity of the workspace instead).
const FIND_IDENTITIES: &str = "\
SELECT kind, lead_id FROM lead_identities WHERE workspace_id = $1 AND kind = 'bsuid' AND value = $2
UNION ALL SELECT kind, lead_id FROM lead_identities WHERE workspace_id = $1 AND kind = 'parent_bsuid' AND value = $3
UNION ALL SELECT kind, lead_id FROM lead_identities WHERE workspace_id = $1 AND kind = 'phone' AND value = $4";

/// The leads these identities belong to, in matching order (BSUID, parent, phone), and
/// which identities are not known yet.
pub async fn find_leads<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    ids: &Identifiers,
) -> Result<(Vec<String>, Vec<Kind>), StoreError> {
    let rows = conn
        .query(
            FIND_IDENTITIES,
            &[
                workspace_id.into(),
                ids.bsuid.as_deref().into(),
                ids.parent_bsuid.as_deref().into(),
                ids.phone.as_ref().map(|p| p.value.as_str()).into(),
            ],
        )
        .await?;
    let mut found: Vec<(Kind, String)> = Vec::with_capacity(rows.len());
    for row in rows {
        let kind = Kind::parse(&row.text(0)?).ok_or_else(|| StoreError::Shape("unknown identity kind".into()))?;
        found.push((kind, row.text(1)?));
    }
    found.sort();
    let mut leads: Vec<String> = Vec::with_capacity(found.len());
    for (_, lead) in &found {
        if !leads.contains(lead) {
            leads.push(lead.clone());
        }
    }
    let missing =
        ids.keys().into_iter().map(|(kind, _)| kind).filter(|kind| !found.iter().any(|(k, _)| k == kind)).collect();
    Ok((leads, missing))
}

/// The lead a Kapso conversation already belongs to.
pub async fn conversation_lead<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    kapso_conversation_id: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_one(
        "SELECT lead_id FROM conversations WHERE workspace_id = $1 AND kapso_conversation_id = $2",
        &[workspace_id.into(), kapso_conversation_id.into()],
    )
    .await?
    .map(|row| row.text(0))
    .transpose()
}

/// Finds the one lead of a customer without creating or changing anything (outbound
/// messages, conversation events): by identity, else by the Kapso conversation.
pub async fn find_lead<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    ids: &Identifiers,
    kapso_conversation_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if !ids.is_empty() {
        let (leads, _) = find_leads(conn, workspace_id, ids).await?;
        if let Some(lead) = leads.into_iter().next() {
            return Ok(Some(lead));
        }
    }
    match kapso_conversation_id {
        Some(kapso_id) => conversation_lead(conn, workspace_id, kapso_id).await,
        None => Ok(None),
    }
}

/// A new lead is written whole, by one INSERT: its identity, its labels and its first
/// activity. (Inserting it bare and updating it three times made four row versions —
/// on PostgreSQL each with an entry in every index of `leads`.)
const INSERT_LEAD: &str = "\
INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_digits, phone_valid, lead_status, source,
                   created_at, updated_at, kapso_name, username, kapso_conversation_id, last_activity_at,
                   last_inbound_at, awaiting_reply_since)
VALUES ($1, $2, $3, $4, $5, $6, 'new', 'whatsapp', $7, $7, $8, $9, $10, $7, $11, $12)
ON CONFLICT (workspace_id, phone_normalized) DO NOTHING";

/// What a lead created by a run of inbound messages starts with.
pub struct FirstContact<'a> {
    pub kapso_name: Option<&'a str>,
    pub username: Option<&'a str>,
    pub kapso_conversation_id: Option<&'a str>,
    /// WhatsApp's time of the run's latest message.
    pub last_inbound_at: i64,
    /// Of its earliest: the customer has been waiting for an answer since then.
    pub awaiting_reply_since: i64,
}

const INSERT_IDENTITY: &str = "\
INSERT INTO lead_identities (workspace_id, kind, value, lead_id, is_primary, created_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, kind, value) DO NOTHING";

/// Finds the lead of an inbound item, creating it or merging leads as its identifiers
/// demand, and adds the identifiers the lead lacks. `None` when the item names nobody
/// and its conversation is not linked to a lead. Must run inside the item's transaction.
pub async fn resolve<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    ids: &Identifiers,
    raw_phone: Option<&str>,
    first: &FirstContact<'_>,
    now: i64,
) -> Result<Option<Resolved>, StoreError> {
    let kapso_conversation_id = first.kapso_conversation_id;
    let keys = ids.keys();
    lock_identities(conn, workspace_id, &keys).await?;
    let (mut leads, missing) =
        if keys.is_empty() { (Vec::new(), Vec::new()) } else { find_leads(conn, workspace_id, ids).await? };
    if leads.is_empty() || keys.is_empty() {
        // Conversation-id continuity: nothing known names this person yet, but Kapso's
        // conversation does.
        if let Some(kapso_id) = kapso_conversation_id {
            if let Some(lead) = conversation_lead(conn, workspace_id, kapso_id).await? {
                leads.push(lead);
            }
        }
    }
    let mut absorbed = Vec::new();
    let (lead_id, created) = match leads.len() {
        0 => {
            let Some(key) = ids.lead_key() else { return Ok(None) };
            let lead_id = LeadId::generate().into_string();
            let phone = ids.phone.as_ref();
            let inserted = conn
                .execute(
                    INSERT_LEAD,
                    &[
                        lead_id.as_str().into(),
                        workspace_id.into(),
                        raw_phone.filter(|_| phone.is_some()).unwrap_or(&key).into(),
                        key.as_str().into(),
                        phone.map(PhoneId::digits).into(),
                        i64::from(phone.is_some_and(|p| p.valid)).into(),
                        now.into(),
                        first.kapso_name.into(),
                        first.username.into(),
                        first.kapso_conversation_id.into(),
                        first.last_inbound_at.into(),
                        Some(first.awaiting_reply_since).filter(|&at| at > 0).into(),
                    ],
                )
                .await?;
            if inserted == 0 {
                // Only on PostgreSQL, when something that takes no identity lock (a lead
                // typed by a person) claimed the key first: run the item again.
                return Err(StoreError::RaceLost);
            }
            (lead_id, true)
        }
        1 => (leads.remove(0), false),
        _ => {
            let merged = merge::merge_all(conn, workspace_id, &leads, &MergeBy::automatic(), now).await?;
            absorbed = merged.absorbed;
            (merged.survivor, false)
        }
    };
    if created {
        let every: Vec<Kind> = keys.iter().map(|(kind, _)| *kind).collect();
        add_identities(conn, workspace_id, &lead_id, ids, &every, raw_phone, PhoneRole::AlreadyKey, now).await?;
    } else if !missing.is_empty() {
        add_identities(conn, workspace_id, &lead_id, ids, &missing, raw_phone, PhoneRole::IfNone, now).await?;
    }
    Ok(Some(Resolved { lead_id, created, absorbed }))
}

/// Adds identities to a lead. A phone becomes primary when the lead has none, or when
/// `make_primary` (a number change). An identity that meanwhile belongs to another lead
/// is a lost race (PostgreSQL): the item is retried.
#[allow(clippy::too_many_arguments)]
pub async fn add_identities<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    lead_id: &str,
    ids: &Identifiers,
    kinds: &[Kind],
    raw_phone: Option<&str>,
    phone_role: PhoneRole,
    now: i64,
) -> Result<(), StoreError> {
    for (kind, value) in ids.keys().into_iter().filter(|(kind, _)| kinds.contains(kind)) {
        let primary = i64::from(phone_role == PhoneRole::AlreadyKey && kind == Kind::Phone);
        let inserted = conn
            .execute(
                INSERT_IDENTITY,
                &[workspace_id.into(), kind.as_str().into(), value.into(), lead_id.into(), primary.into(), now.into()],
            )
            .await?;
        if inserted == 0 {
            let owner = conn
                .query_one(
                    "SELECT lead_id FROM lead_identities WHERE workspace_id = $1 AND kind = $2 AND value = $3",
                    &[workspace_id.into(), kind.as_str().into(), value.into()],
                )
                .await?;
            match owner {
                Some(row) if row.text(0)? == lead_id => {}
                _ => return Err(StoreError::RaceLost),
            }
        }
    }
    if let (Some(phone), true) = (&ids.phone, kinds.contains(&Kind::Phone)) {
        match phone_role {
            PhoneRole::IfNone => set_primary_phone(conn, lead_id, phone, raw_phone, false, now).await?,
            PhoneRole::Primary => set_primary_phone(conn, lead_id, phone, raw_phone, true, now).await?,
            PhoneRole::AlreadyKey => {}
        }
    }
    Ok(())
}

/// What an added phone becomes on its lead.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PhoneRole {
    /// The primary number if the lead has none yet.
    IfNone,
    /// The primary number (a number change, a number typed by a person).
    Primary,
    /// The lead was just inserted with this phone as its key: it is recorded as the
    /// primary one and the lead row needs no update.
    AlreadyKey,
}

/// Makes `phone` the lead's primary number when asked to, or when the lead has none yet;
/// the lead's key and search digits follow it.
async fn set_primary_phone<E: Exec>(
    conn: &mut E,
    lead_id: &str,
    phone: &PhoneId,
    raw_phone: Option<&str>,
    force: bool,
    now: i64,
) -> Result<(), StoreError> {
    let has_primary = conn
        .query_one(
            "SELECT 1 FROM lead_identities WHERE lead_id = $1 AND kind = 'phone' AND is_primary = 1",
            &[lead_id.into()],
        )
        .await?
        .is_some();
    if has_primary && !force {
        return Ok(());
    }
    conn.execute(
        "UPDATE lead_identities SET is_primary = CASE WHEN value = $2 THEN 1 ELSE 0 END WHERE lead_id = $1 AND kind = 'phone'",
        &[lead_id.into(), phone.value.as_str().into()],
    )
    .await?;
    conn.execute(
        "UPDATE leads SET phone_normalized = $2, phone_digits = $3, phone_valid = $4, phone_raw = $5, updated_at = $6 \
         WHERE id = $1",
        &[
            lead_id.into(),
            phone.value.as_str().into(),
            phone.digits().into(),
            i64::from(phone.valid).into(),
            raw_phone.unwrap_or(&phone.value).into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Applies an announced identity change (`user_changed_number`, `user_changed_user_id`)
/// to the lead of its sender: the new identity joins the lead (a new number becomes
/// primary when `new_number_is_primary`; the old one stays listed). Also links the
/// identities a status names to the lead of its message. If the new identity already has a lead of its own
/// (its messages arrived before the event), the two are merged. Replays find everything
/// already in place and change nothing.
pub async fn apply_change<E: Exec>(
    conn: &mut E,
    workspace_id: &str,
    lead_id: &str,
    new: &Identifiers,
    new_number_is_primary: bool,
    now: i64,
) -> Result<merge::Merged, StoreError> {
    let keys = new.keys();
    if keys.is_empty() {
        return Ok(merge::Merged::alone(lead_id));
    }
    lock_identities(conn, workspace_id, &keys).await?;
    let (others, missing) = find_leads(conn, workspace_id, new).await?;
    let mut leads = vec![lead_id.to_string()];
    leads.extend(others.into_iter().filter(|other| other != lead_id));
    let merged = if leads.len() > 1 {
        merge::merge_all(conn, workspace_id, &leads, &MergeBy::automatic(), now).await?
    } else {
        merge::Merged::alone(lead_id)
    };
    let survivor = merged.survivor.as_str();
    add_identities(conn, workspace_id, survivor, new, &missing, None, PhoneRole::IfNone, now).await?;
    if let (Some(phone), true) = (&new.phone, new_number_is_primary) {
        set_primary_phone(conn, survivor, phone, None, true, now).await?;
    }
    Ok(merged)
}

/// One identity of a lead, as the lead page and the API show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IdentityRecord {
    pub kind: &'static str,
    pub value: String,
    pub primary: bool,
    /// How people read it: `+62 812-3456-7890` for a number, the id as it is otherwise.
    pub display: String,
}

impl IdentityRecord {
    pub fn new(kind: Kind, value: String, primary: bool) -> IdentityRecord {
        let display = match kind {
            Kind::Phone => display_key(&value),
            _ => value.clone(),
        };
        IdentityRecord { kind: kind.as_str(), value, primary, display }
    }
}

/// "WhatsApp user ·3F9A": how a lead with neither name nor number nor username is called.
pub fn short_bsuid(bsuid: &str) -> String {
    let tail: String = bsuid.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("WhatsApp user ·{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_kept_with_one_at_sign() {
        assert_eq!(clean_username(Some("dewi.kue")).as_deref(), Some("@dewi.kue"));
        assert_eq!(clean_username(Some(" @dewi.kue ")).as_deref(), Some("@dewi.kue"));
        assert_eq!(clean_username(Some("@")), None);
        assert_eq!(clean_username(Some("two words")), None);
    }

    #[test]
    fn identifiers_read_every_kind_and_sort_out_parent_ids() {
        let customer = Customer {
            phone: Some("6281234567890".into()),
            business_scoped_id: Some(" ID.ENT.1234 ".into()),
            username: Some("dewi".into()),
            ..Customer::default()
        };
        let ids = Identifiers::of(&customer);
        assert_eq!(ids.phone, Some(PhoneId { value: "+6281234567890".into(), valid: true }));
        assert_eq!(ids.bsuid, None);
        assert_eq!(ids.parent_bsuid.as_deref(), Some("ID.ENT.1234"));
        assert_eq!(ids.username.as_deref(), Some("@dewi"));
        assert_eq!(ids.lead_key().as_deref(), Some("+6281234567890"));
        let only_id = Identifiers::of(&Customer { business_scoped_id: Some("ID.77".into()), ..Customer::default() });
        assert_eq!(only_id.lead_key().as_deref(), Some("bsuid:ID.77"));
        assert!(Identifiers::of(&Customer { username: Some("x".into()), ..Customer::default() }).is_empty());
    }

    #[test]
    fn lock_keys_differ_by_workspace_kind_and_value() {
        let a = lock_key("w1", Kind::Phone, "+62");
        assert_eq!(a, lock_key("w1", Kind::Phone, "+62"));
        assert_ne!(a, lock_key("w2", Kind::Phone, "+62"));
        assert_ne!(a, lock_key("w1", Kind::Bsuid, "+62"));
    }

    #[test]
    fn short_bsuids_keep_the_tail() {
        assert_eq!(short_bsuid("ID.77700011122233344"), "WhatsApp user ·3344");
    }
}
