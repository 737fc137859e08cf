//! What the pages exchange with the server: the shapes (shared by both halves) and the
//! server functions. Every server function starts by resolving the signed-in member
//! (`server::web::member`), so each one checks access on its own; their bodies live in
//! `server::web`.

use crate::model::{LeadSource, LeadStatus, Role};
use leptos::prelude::*;
use leptos::server_fn::{codec::JsonEncoding, error::FromServerFnError, error::ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a server function refused; the message is shown to the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UiError {
    SignedOut,
    Forbidden(String),
    NotFound(String),
    Invalid(String),
    Unavailable(String),
    Failed(String),
}

impl fmt::Display for UiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UiError::SignedOut => f.write_str("You are signed out. Sign in again."),
            UiError::Forbidden(m)
            | UiError::NotFound(m)
            | UiError::Invalid(m)
            | UiError::Unavailable(m)
            | UiError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for UiError {}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        UiError::Failed(value.to_string())
    }
}

/// The signed-in person and the workspace they are working in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    pub role: Role,
    pub workspace: WorkspaceInfo,
    pub workspaces: Vec<WorkspaceChoice>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceInfo {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    pub region: String,
    pub phone_number_id: String,
    /// The full URL to paste into Kapso.
    pub webhook_url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceChoice {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// One row of the Database view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadRow {
    pub id: String,
    pub display_name: String,
    /// Typed by staff; `None` means the WhatsApp name (or the phone) shows.
    pub manual_name: Option<String>,
    /// The WhatsApp profile name.
    pub profile_name: Option<String>,
    /// International format, e.g. `+62 812-3456-7890`.
    pub phone: String,
    pub status: LeadStatus,
    pub source: LeadSource,
    pub last_activity_ms: Option<i64>,
    /// The same instant in the workspace's time zone, for the tooltip.
    pub last_activity_local: Option<String>,
    pub last_activity_iso: Option<String>,
    pub created_ms: i64,
    pub created_local: String,
    pub created_iso: String,
    /// `/inbox/{kapso_conversation_id}` when the lead has a conversation.
    pub inbox_path: Option<String>,
    pub unread: i64,
}

impl LeadRow {
    /// The profile name shown small beside a manual name that differs from it.
    pub fn profile_aside(&self) -> Option<String> {
        match (&self.manual_name, &self.profile_name) {
            (Some(manual), Some(profile)) if manual != profile => Some(profile.clone()),
            _ => None,
        }
    }
}

/// What the Database view shows; mirrors its URL (`/leads?q=…&status=…&sort=…&order=…`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeadsQuery {
    pub q: String,
    pub status: String,
    pub sort: String,
    pub order: String,
    pub cursor: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    Activity,
    Name,
    Created,
}

impl LeadsQuery {
    pub fn sort_column(&self) -> SortColumn {
        match self.sort.as_str() {
            "name" => SortColumn::Name,
            "created" => SortColumn::Created,
            _ => SortColumn::Activity,
        }
    }

    pub fn descending(&self) -> bool {
        match self.order.as_str() {
            "asc" => false,
            "desc" => true,
            _ => self.sort_column() != SortColumn::Name,
        }
    }

    /// The URL of this view, optionally starting after `cursor`.
    pub fn href(&self, cursor: Option<&str>) -> String {
        let mut params = Vec::new();
        let encode = |s: &str| -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                    b' ' => "+".to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        if !self.q.is_empty() {
            params.push(format!("q={}", encode(&self.q)));
        }
        if !self.status.is_empty() {
            params.push(format!("status={}", encode(&self.status)));
        }
        if !self.sort.is_empty() {
            params.push(format!("sort={}", encode(&self.sort)));
        }
        if !self.order.is_empty() {
            params.push(format!("order={}", encode(&self.order)));
        }
        if let Some(cursor) = cursor {
            params.push(format!("cursor={}", encode(cursor)));
        }
        if params.is_empty() {
            "/leads".into()
        } else {
            format!("/leads?{}", params.join("&"))
        }
    }

    /// The URL that sorts by `column`: the other direction when already sorted by it.
    pub fn sort_href(&self, column: &str) -> String {
        let current = self.sort_column();
        let target = match column {
            "name" => SortColumn::Name,
            "created" => SortColumn::Created,
            _ => SortColumn::Activity,
        };
        let order = if current == target {
            if self.descending() {
                "asc"
            } else {
                "desc"
            }
        } else if target == SortColumn::Name {
            "asc"
        } else {
            "desc"
        };
        LeadsQuery { sort: column.to_string(), order: order.to_string(), cursor: String::new(), ..self.clone() }
            .href(None)
    }

    /// Whether the view is the default one (newest activity first, no filter), where
    /// live updates can put new and active leads on top.
    pub fn is_activity_feed(&self) -> bool {
        self.sort_column() == SortColumn::Activity
            && self.descending()
            && self.q.trim().is_empty()
            && self.status.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadsPage {
    pub rows: Vec<LeadRow>,
    pub next_cursor: Option<String>,
    pub total: i64,
    pub now_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadChange {
    pub actor: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub at_local: String,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadDetail {
    pub lead: LeadRow,
    pub changes: Vec<LeadChange>,
    pub messages: i64,
    pub now_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationRow {
    /// What `/inbox/{…}` takes: the Kapso conversation id (or ours, for Meta-only leads).
    pub inbox_ref: String,
    pub lead_id: String,
    pub display_name: String,
    pub phone: String,
    pub preview: String,
    pub last_message_ms: Option<i64>,
    pub last_message_local: Option<String>,
    pub last_message_iso: Option<String>,
    pub unread: i64,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationsPage {
    pub rows: Vec<ConversationRow>,
    pub next_cursor: Option<String>,
    pub now_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quoted {
    pub from_customer: bool,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub inbound: bool,
    pub kind: String,
    /// `[Image]`, `[Voice message]`… for anything but plain text.
    pub label: Option<String>,
    pub text: Option<String>,
    pub media_url: Option<String>,
    pub quoted: Option<Quoted>,
    pub at_ms: i64,
    /// Full date and time in the workspace's zone (tooltip) and just the time (shown).
    pub at_local: String,
    pub at_time: String,
    pub at_iso: String,
    /// Outbound delivery status.
    pub status: Option<String>,
    pub status_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub conversation: ConversationRow,
    pub lead: LeadRow,
    pub messages: Vec<MessageView>,
    pub now_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub joined_local: String,
    pub is_me: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingsView {
    pub workspace: WorkspaceInfo,
    pub my_role: Role,
    pub members: Vec<MemberView>,
    /// Secrets a plain form post (no JavaScript) just rotated, shown once.
    pub revealed: Option<RevealedSecrets>,
}

/// Secrets shown once, right after they are made.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RevealedSecrets {
    pub webhook_url: String,
    pub webhook_secret: Option<String>,
    pub verify_token: Option<String>,
    pub api_token: Option<String>,
}

#[server(endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, UiError> {
    crate::server::web::me().await
}

#[server(endpoint = "leads/list")]
pub async fn list_leads(query: LeadsQuery) -> Result<LeadsPage, UiError> {
    crate::server::web::list_leads(query).await
}

/// One lead as the Database view would show it under `query`, or `None` when the
/// query's filters exclude it (used by live updates). A lead of another workspace is
/// not found.
#[server(endpoint = "leads/row")]
pub async fn fetch_lead_row(id: String, query: LeadsQuery) -> Result<Option<LeadRow>, UiError> {
    crate::server::web::lead_row(id, query).await
}

/// Sets (or with an empty name, clears) a lead's manual name.
#[server(endpoint = "leads/rename")]
pub async fn rename_lead(lead_id: String, name: String) -> Result<LeadRow, UiError> {
    crate::server::web::update_lead(lead_id, Some(name), None).await
}

#[server(endpoint = "leads/status")]
pub async fn set_lead_status(lead_id: String, lead_status: String) -> Result<LeadRow, UiError> {
    crate::server::web::update_lead(lead_id, None, Some(lead_status)).await
}

/// The plain HTML form used without JavaScript: name and status together.
#[server(endpoint = "leads/edit")]
pub async fn edit_lead(lead_id: String, name: String, lead_status: String) -> Result<LeadRow, UiError> {
    crate::server::web::update_lead(lead_id, Some(name), Some(lead_status)).await
}

#[server(endpoint = "leads/detail")]
pub async fn fetch_lead_detail(id: String) -> Result<LeadDetail, UiError> {
    crate::server::web::lead_detail(id).await
}

#[server(endpoint = "inbox/list")]
pub async fn list_conversations(q: String, cursor: String) -> Result<ConversationsPage, UiError> {
    crate::server::web::list_conversations(q, cursor).await
}

/// The thread of a conversation (the lead's whole history), marked read.
#[server(endpoint = "inbox/open")]
pub async fn open_thread(conversation: String) -> Result<Thread, UiError> {
    crate::server::web::open_thread(conversation).await
}

#[server(endpoint = "settings")]
pub async fn workspace_settings() -> Result<SettingsView, UiError> {
    crate::server::web::settings().await
}

#[server(endpoint = "settings/add-member")]
pub async fn add_member(email: String, role: String, password: String) -> Result<(), UiError> {
    crate::server::web::add_member(email, role, password).await
}

#[server(endpoint = "settings/remove-member")]
pub async fn remove_member(user_id: String) -> Result<(), UiError> {
    crate::server::web::remove_member(user_id).await
}

/// `which`: webhook_secret, verify_token or api_token.
#[server(endpoint = "settings/rotate")]
pub async fn rotate_secret(which: String) -> Result<RevealedSecrets, UiError> {
    crate::server::web::rotate_secret(which).await
}

/// Secrets the first-run setup just issued through a plain form post (no JavaScript),
/// once; `None` afterwards.
#[server(endpoint = "setup/revealed")]
pub async fn take_revealed_secrets() -> Result<Option<RevealedSecrets>, UiError> {
    crate::server::web::take_revealed_secrets().await
}

#[server(endpoint = "setup/status")]
pub async fn setup_open(token: String) -> Result<bool, UiError> {
    crate::server::web::setup_open(token).await
}

#[server(endpoint = "setup/complete")]
#[allow(clippy::too_many_arguments)]
pub async fn complete_setup(
    token: String,
    workspace_name: String,
    phone_number_id: String,
    region: String,
    time_zone: String,
    email: String,
    password: String,
) -> Result<RevealedSecrets, UiError> {
    crate::server::web::complete_setup(token, workspace_name, phone_number_id, region, time_zone, email, password).await
}

// ---- CSV import (issue 12); bodies in server::csv_import_web ----

/// The import page's data: mapping and preview, the dry run when `check`, or the result.
/// Column fields are 0-based numbers, empty for "ignore" (all empty: the guessed mapping).
#[server(endpoint = "import/view")]
pub async fn import_view(
    id: String,
    phone: String,
    name: String,
    status: String,
    fill_empty_names: String,
    set_status: String,
    check: bool,
) -> Result<crate::app::import::ImportView, UiError> {
    let form = crate::server::csv_import_web::MappingForm {
        phone: Some(phone).filter(|p| !p.is_empty()),
        name: Some(name),
        status: Some(status),
        fill_empty_names: Some(fill_empty_names),
        set_status: Some(set_status),
    };
    let (state, member) = crate::server::web::member().await?;
    crate::server::csv_import_web::view(&state, &member, &id, &form, check).await.map_err(|err| match err {
        crate::server::error::AppError::Unauthorized(_) => UiError::SignedOut,
        crate::server::error::AppError::Forbidden(m) => UiError::Forbidden(m),
        crate::server::error::AppError::NotFound(m) => UiError::NotFound(m),
        crate::server::error::AppError::BadRequest(m) | crate::server::error::AppError::Unprocessable(m) => {
            UiError::Invalid(m)
        }
        crate::server::error::AppError::Unavailable(m) => UiError::Unavailable(m),
        other => UiError::Failed(other.to_string()),
    })
}
