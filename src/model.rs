//! Vocabulary shared by the server and the browser: the closed sets of values a lead
//! can take. Both halves parse and print them through these types only.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a lead is in the sales pipeline, set by sales staff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    #[default]
    New,
    Hot,
    Warm,
    Cold,
    Client,
    Lost,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 6] =
        [LeadStatus::New, LeadStatus::Hot, LeadStatus::Warm, LeadStatus::Cold, LeadStatus::Client, LeadStatus::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Hot => "hot",
            LeadStatus::Warm => "warm",
            LeadStatus::Cold => "cold",
            LeadStatus::Client => "client",
            LeadStatus::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a lead came to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeadSource {
    Whatsapp,
    Manual,
    Import,
}

impl LeadSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadSource::Whatsapp => "whatsapp",
            LeadSource::Manual => "manual",
            LeadSource::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [LeadSource::Whatsapp, LeadSource::Manual, LeadSource::Import].into_iter().find(|source| source.as_str() == s)
    }
}

impl fmt::Display for LeadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a member may do in a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including members and secrets.
    Owner,
    /// Manages members (not owners) and edits leads.
    Admin,
    /// Reads and edits leads, uses the inbox.
    Agent,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == s)
    }

    pub fn can_manage_members(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    pub fn can_manage_secrets(self) -> bool {
        self == Role::Owner
    }

    /// Admins manage agents and admins; only owners grant or take away ownership.
    pub fn can_assign(self, role: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => role != Role::Owner,
            Role::Agent => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most characters a manual name may have.
pub const NAME_MAX_CHARS: usize = 120;

/// Why a manually typed name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    TooLong,
    ControlCharacter,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::TooLong => write!(f, "a name may have at most {NAME_MAX_CHARS} characters"),
            NameProblem::ControlCharacter => f.write_str("a name may not contain control characters"),
        }
    }
}

/// The one rule for names typed by people, used by the JSON API, the server functions
/// and the browser (which checks before it sends): trimmed, 1–120 characters, no control
/// characters. Empty after trimming means "no manual name" (`None`), which makes the
/// WhatsApp profile name show again.
pub fn clean_manual_name(input: &str) -> Result<Option<String>, NameProblem> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().any(char::is_control) {
        return Err(NameProblem::ControlCharacter);
    }
    if trimmed.chars().count() > NAME_MAX_CHARS {
        return Err(NameProblem::TooLong);
    }
    Ok(Some(trimmed.to_string()))
}

/// One lead changed (new, new activity, edited, read), as the live stream announces it
/// (`event: lead`): the server writes it once per change, the browser reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadEvent {
    pub lead_id: String,
    /// The lead did not exist before this change.
    pub created: bool,
}

/// Who wrote a message: the customer (`inbound`) or the business (`outbound`). Parsed
/// once, at the edge (a delivery, a database row), so no `"inbound"` string travels inward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

/// Where an outbound message stands, as `messages.status` stores it and the JSON API and
/// the Inbox show it: our reply waiting to be sent (`queued`), WhatsApp's statuses in the
/// order they advance (`pending` to `failed`), or `unknown` (leadline stopped while
/// sending it). The webhook reads WhatsApp's own names into it
/// (`webhook::payload::delivery_status`); only stored names parse here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Queued,
    Pending,
    Sent,
    Delivered,
    Read,
    Failed,
    Unknown,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        Some(match text {
            "queued" => DeliveryStatus::Queued,
            "pending" => DeliveryStatus::Pending,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "failed" => DeliveryStatus::Failed,
            "unknown" => DeliveryStatus::Unknown,
            _ => return None,
        })
    }

    /// `messages.status_rank`: a status from WhatsApp replaces only a lower one, so a late
    /// "delivered" after "read" changes nothing. Our own `queued` and `unknown` are 0.
    pub fn rank(self) -> i64 {
        match self {
            DeliveryStatus::Queued | DeliveryStatus::Unknown => 0,
            DeliveryStatus::Pending => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Delivered => 3,
            DeliveryStatus::Read => 4,
            DeliveryStatus::Failed => 5,
        }
    }
}

/// The orders the Database view offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    LastActivity,
    Name,
    Created,
    /// Longest-waiting first: only leads that need a reply (`needs_reply`).
    Waiting,
}

impl SortKey {
    pub fn parse(text: &str) -> Option<SortKey> {
        match text {
            "last_activity" | "activity" => Some(SortKey::LastActivity),
            "name" => Some(SortKey::Name),
            "created" | "created_at" => Some(SortKey::Created),
            "waiting" => Some(SortKey::Waiting),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::LastActivity => "last_activity",
            SortKey::Name => "name",
            SortKey::Created => "created",
            SortKey::Waiting => "waiting",
        }
    }

    /// Newest first for times, A→Z for names.
    pub fn default_descending(self) -> bool {
        !matches!(self, SortKey::Name | SortKey::Waiting)
    }
}

/// The steps of a CSV import, in order (its progress bar's `event: progress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStage {
    /// Looking up which numbers are leads already.
    Matching,
    /// Creating the new leads.
    Creating,
    /// Filling names and statuses of matching leads, as asked.
    Updating,
    /// Committing.
    Saving,
}

impl ImportStage {
    pub const ALL: [ImportStage; 4] =
        [ImportStage::Matching, ImportStage::Creating, ImportStage::Updating, ImportStage::Saving];
}

/// How far a running import is: `done` of `total` steps of `stage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportProgress {
    pub stage: ImportStage,
    pub done: u64,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sort_key_reads_back_from_its_name_and_aliases_agree() {
        for key in [SortKey::LastActivity, SortKey::Name, SortKey::Created, SortKey::Waiting] {
            assert_eq!(SortKey::parse(key.as_str()), Some(key));
        }
        assert_eq!(SortKey::parse("activity"), Some(SortKey::LastActivity));
        assert_eq!(SortKey::parse("created_at"), Some(SortKey::Created));
        assert_eq!(SortKey::parse("Name"), None);
        assert!(SortKey::LastActivity.default_descending() && !SortKey::Name.default_descending());
    }

    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(LeadStatus::parse("HOT"), None);
    }

    #[test]
    fn delivery_statuses_keep_their_stored_and_json_names_and_ranks() {
        use DeliveryStatus::*;
        let all = [
            (Queued, "queued", 0),
            (Pending, "pending", 1),
            (Sent, "sent", 2),
            (Delivered, "delivered", 3),
            (Read, "read", 4),
            (Failed, "failed", 5),
            (Unknown, "unknown", 0),
        ];
        for (status, name, rank) in all {
            assert_eq!(status.as_str(), name);
            assert_eq!(DeliveryStatus::parse(name), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(name));
            assert_eq!(status.rank(), rank, "{name}");
        }
        // WhatsApp's other names are the webhook's to read, not stored ones.
        assert_eq!(DeliveryStatus::parse("played"), None);
        assert_eq!(DeliveryStatus::parse("Read"), None);
    }

    #[test]
    fn manual_names_are_trimmed_and_bounded() {
        assert_eq!(clean_manual_name("  Budi  "), Ok(Some("Budi".into())));
        assert_eq!(clean_manual_name("   "), Ok(None));
        assert_eq!(clean_manual_name("a\u{7}b"), Err(NameProblem::ControlCharacter));
        assert_eq!(clean_manual_name("line\nbreak"), Err(NameProblem::ControlCharacter));
        let longest = "é".repeat(NAME_MAX_CHARS);
        assert_eq!(clean_manual_name(&longest), Ok(Some(longest.clone())));
        assert_eq!(clean_manual_name(&format!("{longest}x")), Err(NameProblem::TooLong));
    }
}
