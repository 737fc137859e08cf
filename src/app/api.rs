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
    /// Leads waiting for an answer (the navigation's count).
    #[serde(default)]
    pub needs_reply: i64,
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
    /// International format, e.g. `+62 812-3456-7890`; empty when no number was shared.
    pub phone: String,
    /// The WhatsApp username (`@dewi.kue`), when the customer has one.
    pub username: Option<String>,
    /// Reached through WhatsApp's user id only: no phone number shared.
    pub no_number: bool,
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
    /// Since when the customer waits for an answer (their oldest unanswered message).
    #[serde(default)]
    pub waiting_since_ms: Option<i64>,
    /// When WhatsApp's 24-hour window closes (or closed), from their latest message.
    #[serde(default)]
    pub window_closes_ms: Option<i64>,
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
    /// `1`: only leads waiting for an answer, longest-waiting first.
    pub needs_reply: String,
}

/// The Database's sort orders: the one vocabulary both halves parse.
pub use crate::model::SortKey;

impl LeadsQuery {
    pub fn sort_column(&self) -> SortKey {
        match SortKey::parse(&self.sort) {
            Some(key) => key,
            None if self.sort.is_empty() && self.needs_reply() => SortKey::Waiting,
            None => SortKey::LastActivity,
        }
    }

    pub fn needs_reply(&self) -> bool {
        matches!(self.needs_reply.trim(), "1" | "true" | "yes" | "on")
    }

    pub fn descending(&self) -> bool {
        match self.order.as_str() {
            "asc" => false,
            "desc" => true,
            _ => self.sort_column().default_descending(),
        }
    }

    /// The URL of this view, optionally starting after `cursor`.
    pub fn href(&self, cursor: Option<&str>) -> String {
        let mut params = Vec::new();
        let encode = crate::url::encode;
        if !self.q.is_empty() {
            params.push(format!("q={}", encode(&self.q)));
        }
        if !self.status.is_empty() {
            params.push(format!("status={}", encode(&self.status)));
        }
        if self.needs_reply() {
            params.push("needs_reply=1".to_string());
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
            "name" => SortKey::Name,
            "created" => SortKey::Created,
            _ => SortKey::LastActivity,
        };
        let order = if current == target {
            if self.descending() {
                "asc"
            } else {
                "desc"
            }
        } else if target == SortKey::Name {
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
        self.sort_column() == SortKey::LastActivity
            && self.descending()
            && self.q.trim().is_empty()
            && self.status.is_empty()
            && !self.needs_reply()
    }
}

/// What the Database shows of a `LeadsQuery`: a page of rows (the next after
/// `next_cursor`), how many leads match in all, and the server's clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadList {
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
    /// Every phone number (primary first) and WhatsApp user id of the lead.
    pub identities: Vec<IdentityView>,
    /// Leads merged into this one, newest first.
    pub merges: Vec<MergeView>,
}

/// One identity of a lead, for the lead page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentityView {
    /// phone | bsuid | parent_bsuid
    pub kind: String,
    pub display: String,
    pub primary: bool,
}

/// One merge in a lead's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeView {
    pub merged_id: String,
    pub merged_name: Option<String>,
    pub actor: String,
    /// automatic | manual
    pub reason: String,
    pub at_local: String,
    pub at_ms: i64,
}

/// What merging two leads would keep (the Database's merge preview).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergePreviewView {
    pub survivor_id: String,
    pub merged_id: String,
    pub survivor_name: String,
    pub merged_name: String,
    pub display_name: String,
    pub phones: Vec<String>,
    pub user_ids: Vec<String>,
    pub username: Option<String>,
    /// The status both share, or `None` when the person must pick from `status_choices`.
    pub lead_status: Option<LeadStatus>,
    pub status_choices: Vec<LeadStatus>,
    pub messages: i64,
    pub conversations: i64,
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
    /// Contact cards shared in the message (`kind == "contacts"`).
    #[serde(default)]
    pub contacts: Vec<ContactCardView>,
    /// Our reply failed (or its outcome is unknown): a person may send it again.
    #[serde(default)]
    pub can_retry: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub conversation: ConversationRow,
    pub lead: LeadRow,
    pub messages: Vec<MessageView>,
    pub now_ms: i64,
    pub reply: ReplyView,
}

/// The composer under a thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyView {
    pub lead_id: String,
    /// The thread's address (`/inbox/{inbox_ref}`), where a plain form post returns.
    pub inbox_ref: String,
    /// A fresh key for the next reply: a form submitted twice queues it once.
    pub client_key: String,
    /// WhatsApp's 24-hour window: free text is allowed.
    pub window_open: bool,
    pub window_closes_ms: Option<i64>,
    /// A Kapso API key is saved.
    pub can_send: bool,
    /// Kapso's last refusal of the key.
    pub key_problem: Option<String>,
    /// Templates can be listed (key and WhatsApp Business Account id saved).
    pub templates_configured: bool,
    /// The viewer may set replies up (Settings → Kapso).
    pub is_owner: bool,
    /// When the window is closed: the approved templates to offer (loaded with the
    /// thread, so the composer needs no second request), or why they could not be listed.
    #[serde(default)]
    pub templates: Vec<TemplateView>,
    #[serde(default)]
    pub templates_error: Option<String>,
}

/// An approved template the composer offers when the window is closed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateView {
    pub name: String,
    pub language: String,
    pub category: String,
    pub body: String,
    pub params: usize,
}

/// Settings → Kapso (owners).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KapsoSettingsView {
    /// `••••abcd`, or `None` when no key is saved.
    pub key_masked: Option<String>,
    pub waba_id: Option<String>,
    pub key_problem: Option<String>,
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
    /// Invitations not yet accepted (owners and admins see them).
    pub invitations: Vec<PendingInvitation>,
    /// The link a plain form post (no JavaScript) just created, shown once.
    pub issued_invitation: Option<IssuedInvitation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingInvitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    pub expires_local: String,
}

/// A new invitation's one-time link, shown once to the person who made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssuedInvitation {
    pub email: String,
    pub role: Role,
    pub url: String,
    pub expires_local: String,
}

/// What an invitation link shows before it is accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvitationView {
    pub workspace_name: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    /// open, accepted, revoked or expired.
    pub status: String,
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
pub async fn list_leads(query: LeadsQuery) -> Result<LeadList, UiError> {
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
    crate::server::team::settings().await
}

#[server(endpoint = "settings/remove-member")]
pub async fn remove_member(user_id: String) -> Result<(), UiError> {
    crate::server::team::remove_member(user_id).await
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

// ---- Shared contact cards and webhook health (issue 16) ----

/// A contact card a customer shared, as the Inbox thread shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactCardView {
    pub name: String,
    pub org: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<ContactPhoneView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactPhoneView {
    /// Position on the card (what "Add as lead" posts back).
    pub index: usize,
    /// International format when the number is valid, else as written.
    pub display: String,
    pub kind: Option<String>,
    /// Whether the number is valid, so it can become a lead.
    pub addable: bool,
    /// The lead this number already belongs to.
    pub lead_id: Option<String>,
}

/// What "Add as lead" did: the lead (new, or the one the number belonged to).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactLead {
    pub lead_id: String,
    pub created: bool,
    /// `/leads/{id}`
    pub path: String,
}

/// Makes a number of a shared contact card a lead, or finds the lead it belongs to.
/// Posted by a plain form (no JavaScript) it redirects to the lead.
#[server(endpoint = "inbox/contact-lead")]
pub async fn add_contact_lead(message_id: String, card: usize, phone: usize) -> Result<ContactLead, UiError> {
    crate::server::delivery_web::add_contact_lead(message_id, card, phone).await
}

/// One line of Settings → Webhook health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthLine {
    /// `error_notice` (WhatsApp reported it) or `refused` (leadline answered 4xx).
    pub kind: String,
    pub code: String,
    pub title: String,
    pub count: i64,
    pub last_seen_ms: i64,
    pub last_seen_local: String,
    pub last_seen_iso: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookHealthView {
    pub lines: Vec<HealthLine>,
    pub now_ms: i64,
}

/// Recent error notices and refused deliveries of the workspace (owners only).
#[server(endpoint = "settings/webhook-health")]
pub async fn webhook_health() -> Result<WebhookHealthView, UiError> {
    crate::server::delivery_web::webhook_health().await
}

// ---- Invitations and roles (issue 9) ----

/// Invites `email` with `role`; the answer (a one-time link) is the same whether or not
/// the email has an account.
#[server(endpoint = "settings/invite")]
pub async fn invite_member(email: String, role: String) -> Result<IssuedInvitation, UiError> {
    crate::server::team::invite(email, role).await
}

#[server(endpoint = "settings/revoke-invitation")]
pub async fn revoke_invitation(id: String) -> Result<(), UiError> {
    crate::server::team::revoke_invitation(id).await
}

/// Changes a member's role; a workspace always keeps an owner.
#[server(endpoint = "settings/role")]
pub async fn change_member_role(user_id: String, role: String) -> Result<(), UiError> {
    crate::server::team::change_role(user_id, role).await
}

/// What an invitation link is for (no session needed: the link is the credential).
#[server(endpoint = "invite/show")]
pub async fn show_invitation(token: String) -> Result<InvitationView, UiError> {
    crate::server::team::show_invitation(token).await
}

/// The email a password-reset link is for, if the link still works.
#[server(endpoint = "password-reset/check")]
pub async fn check_password_reset(token: String) -> Result<Option<String>, UiError> {
    crate::server::team::check_password_reset(token).await
}

#[server(endpoint = "leads/merge-preview")]
pub async fn preview_lead_merge(lead_id: String, other_id: String) -> Result<MergePreviewView, UiError> {
    crate::server::web_merge::preview(lead_id, other_id).await
}

/// Merges two leads (the Database's "Merge"). `lead_status` is the person's pick when the
/// two statuses differ (empty otherwise). Without JavaScript the form lands on the survivor.
#[server(endpoint = "leads/merge")]
pub async fn merge_leads(lead_id: String, other_id: String, lead_status: String) -> Result<String, UiError> {
    crate::server::web_merge::merge(lead_id, other_id, lead_status).await
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
    // `refuse` also sets the answer's status (a 404 is a 404, not a 500 with a NotFound body).
    crate::server::csv_import_web::view(&state, &member, &id, &form, check).await.map_err(crate::server::web::refuse)
}

#[server(endpoint = "inbox/reply")]
pub async fn send_reply(lead_id: String, text: String, client_key: String, back: String) -> Result<String, UiError> {
    crate::server::replies::web::send_reply(lead_id, text, client_key, back).await
}

/// `template` is `name|language`; `params` fill `{{1}}`, `{{2}}`… in order.
#[server(endpoint = "inbox/template")]
pub async fn send_template(
    lead_id: String,
    template: String,
    #[server(default)] params: Vec<String>,
    client_key: String,
    back: String,
) -> Result<String, UiError> {
    crate::server::replies::web::send_template(lead_id, template, params, client_key, back).await
}

#[server(endpoint = "inbox/retry")]
pub async fn retry_reply(message_id: String, back: String) -> Result<(), UiError> {
    crate::server::replies::web::retry_reply(message_id, back).await
}

#[server(endpoint = "inbox/templates")]
pub async fn reply_templates() -> Result<Vec<TemplateView>, UiError> {
    crate::server::replies::web::reply_templates().await
}

#[server(endpoint = "settings/kapso")]
pub async fn kapso_settings() -> Result<KapsoSettingsView, UiError> {
    crate::server::replies::web::kapso_settings().await
}

#[server(endpoint = "settings/kapso-save")]
pub async fn save_kapso(
    api_key: String,
    waba_id: String,
    #[server(default)] remove_key: bool,
) -> Result<KapsoSettingsView, UiError> {
    crate::server::replies::web::save_kapso(api_key, waba_id, remove_key).await
}

#[server(endpoint = "inbox/needs-reply-count")]
pub async fn needs_reply_count() -> Result<i64, UiError> {
    let (state, member) = crate::server::web::member().await?;
    crate::server::replies::store::needs_reply_count(&state.db, &member.workspace.id)
        .await
        .map_err(crate::server::web::refuse)
}
