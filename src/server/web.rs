//! The server side of the pages' server functions (`app::api`): resolve the signed-in
//! member, check their role, call the same queries the JSON API uses, and shape the
//! results for the browser (times in the workspace's zone, display names, links).

use crate::app::api::*;
use crate::model::{clean_manual_name, DeliveryStatus, Direction, LeadStatus, Role};
use crate::server::{
    accounts,
    auth::{self, Member},
    clock::{local_display, local_time, now_ms, rfc3339},
    conversations::{self, ConversationRecord},
    error::AppError,
    http::AppState,
    ids::{LeadId, UserId},
    leads::{self, Actor, LeadChanges, LeadQuery, LeadRecord, SortKey},
    live::LeadChanged,
    messages,
    phone::display_key,
    webhook::payload::media_label,
    workspaces::{self, NewWorkspace, Rotation, Workspace, WEBHOOK_PATH},
};
use axum::http::{header, request::Parts, StatusCode};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// Page size of the Database view and the Inbox list.
pub const PAGE_SIZE: usize = 50;

pub(crate) fn state() -> Result<AppState, UiError> {
    use_context::<AppState>().ok_or_else(|| UiError::Failed("server state missing".into()))
}

fn request_parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// True while answering a server function's own HTTP request (not rendering a page
/// that calls it in-process).
fn answering_server_fn() -> bool {
    request_parts().is_some_and(|p| p.uri.path().starts_with("/api/"))
}

/// Turns an error into what the browser sees, with the HTTP status that names it when
/// the server function was called over HTTP.
pub(crate) fn refuse(err: AppError) -> UiError {
    err.log();
    if answering_server_fn() {
        if let Some(response) = use_context::<ResponseOptions>() {
            response.set_status(err.status());
        }
    }
    match err {
        AppError::Unauthorized(_) => UiError::SignedOut,
        AppError::Forbidden(m) => UiError::Forbidden(m),
        AppError::NotFound(m) => UiError::NotFound(m),
        AppError::BadRequest(m) | AppError::Unprocessable(m) => UiError::Invalid(m),
        AppError::Conflict { message, .. } => UiError::Invalid(message),
        AppError::Unavailable(m) | AppError::TooManyRequests(m) => UiError::Unavailable(m),
        other => match other.status() {
            StatusCode::SERVICE_UNAVAILABLE => UiError::Unavailable(other.public_message()),
            StatusCode::CONFLICT => UiError::Invalid(other.public_message()),
            _ => UiError::Failed(other.public_message()),
        },
    }
}

/// Secrets issued by a plain form post, held for the page load that follows it, since
/// without JavaScript the server function's answer is never shown. Held in memory, by
/// user, for a few minutes at most; once a page has shown them they stay only for
/// [`RevealedOnce::SHOWN_FOR`], because rendering one page may ask twice. A replica
/// that did not issue them has none; the page then says new ones can be issued.
#[derive(Clone)]
pub struct RevealedOnce<T = RevealedSecrets>(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<UserId, Held<T>>>>,
);

impl<T> Default for RevealedOnce<T> {
    fn default() -> Self {
        RevealedOnce(Default::default())
    }
}

struct Held<T> {
    secrets: T,
    held_at: std::time::Instant,
    first_shown: Option<std::time::Instant>,
}

/// How long a page may show held secrets again after first showing them.
const SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(2);

impl RevealedOnce {
    pub const SHOWN_FOR: std::time::Duration = SHOWN_FOR;
}

impl<T: Clone> RevealedOnce<T> {
    const KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(300);

    pub(crate) fn hold(&self, user: &UserId, secrets: T) {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        held.retain(|_, entry| entry.held_at.elapsed() < Self::KEPT_FOR);
        held.insert(user.clone(), Held { secrets, held_at: std::time::Instant::now(), first_shown: None });
    }

    pub(crate) fn take(&self, user: &UserId) -> Option<T> {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = held.get_mut(user)?;
        let shown_at = *entry.first_shown.get_or_insert_with(std::time::Instant::now);
        if entry.held_at.elapsed() < Self::KEPT_FOR && shown_at.elapsed() < SHOWN_FOR {
            return Some(entry.secrets.clone());
        }
        held.remove(user);
        None
    }
}

/// Shows freshly issued secrets: returned to the hydrated page, or, for a plain form
/// post, held for the page the browser is sent to.
fn reveal(state: &AppState, user: &UserId, secrets: RevealedSecrets, page: &str) -> RevealedSecrets {
    if posted_without_javascript() {
        state.revealed.hold(user, secrets.clone());
        leptos_axum::redirect(page);
    }
    secrets
}

/// The secrets held for the signed-in member by [`reveal`], once.
pub async fn take_revealed_secrets() -> Result<Option<RevealedSecrets>, UiError> {
    let (state, member) = member().await?;
    Ok(state.revealed.take(&member.user_id))
}

/// The signed-in member, or `SignedOut` (401 over HTTP).
pub async fn member() -> Result<(AppState, Member), UiError> {
    let state = state()?;
    let parts = request_parts().ok_or_else(|| refuse(AppError::Unauthorized("sign in first".into())))?;
    match auth::member_from_headers(&state, &parts.headers).await {
        Ok(Some(member)) => Ok((state, member)),
        Ok(None) => Err(refuse(AppError::Unauthorized("sign in first".into()))),
        Err(err) => Err(refuse(err)),
    }
}

/// The address people reach this server at: `PUBLIC_URL`, else what the browser used.
pub fn public_url() -> String {
    if std::env::var("PUBLIC_URL").is_ok_and(|v| !v.trim().is_empty()) {
        return crate::server::config::public_base_url();
    }
    match request_parts() {
        Some(parts) => {
            let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1:3000");
            let https = state().is_ok_and(|state| auth::is_https(&state, &parts.headers));
            let scheme = if https { "https" } else { "http" };
            format!("{scheme}://{host}")
        }
        None => crate::server::config::public_base_url(),
    }
}

pub(crate) fn workspace_info(workspace: &Workspace) -> WorkspaceInfo {
    WorkspaceInfo {
        id: workspace.id.to_string(),
        name: workspace.name.clone(),
        time_zone: workspace.time_zone.clone(),
        region: workspace.region.code().to_string(),
        phone_number_id: workspace.phone_number_id.clone(),
        webhook_url: format!("{}{WEBHOOK_PATH}", public_url()),
    }
}

pub fn lead_view(record: &LeadRecord, workspace: &Workspace) -> LeadRow {
    LeadRow {
        id: record.id.to_string(),
        display_name: record.display_name(),
        manual_name: record.name.clone(),
        profile_name: record.kapso_name.clone(),
        phone: record.primary_phone().map(display_key).unwrap_or_default(),
        username: record.username.clone(),
        no_number: record.has_no_number(),
        status: record.lead_status,
        source: record.source,
        last_activity_ms: record.last_activity_at,
        last_activity_local: record.last_activity_at.map(|ms| local_display(ms, &workspace.time_zone)),
        last_activity_iso: record.last_activity_at.map(rfc3339),
        created_ms: record.created_at,
        created_local: local_display(record.created_at, &workspace.time_zone),
        created_iso: rfc3339(record.created_at),
        inbox_path: record.inbox_ref.as_ref().map(|r| format!("/inbox/{}", crate::url::encode(r))),
        unread: record.unread_count,
        waiting_since_ms: record.awaiting_reply_since,
        window_closes_ms: record.last_inbound_at.map(|at| at + crate::server::replies::WINDOW_MS),
    }
}

pub async fn me() -> Result<Option<Me>, UiError> {
    let state = state()?;
    let Some(parts) = request_parts() else { return Ok(None) };
    let Some(member) = auth::member_from_headers(&state, &parts.headers).await.map_err(refuse)? else {
        return Ok(None);
    };
    let workspaces = accounts::workspaces_of(&state.db, &member.user_id)
        .await
        .map_err(refuse)?
        .into_iter()
        .map(|(id, name, role)| WorkspaceChoice { id: id.to_string(), name, role })
        .collect();
    Ok(Some(Me {
        email: member.email.clone(),
        role: member.role,
        workspace: workspace_info(&member.workspace),
        workspaces,
        needs_reply: crate::server::replies::store::needs_reply_count(&state.db, &member.workspace.id)
            .await
            .map_err(refuse)?,
    }))
}

fn lead_query(query: &LeadsQuery, only: Option<LeadId>) -> Result<LeadQuery, AppError> {
    let status = match query.status.trim() {
        "" => None,
        s => Some(LeadStatus::parse(s).ok_or_else(|| AppError::BadRequest(format!("unknown status `{s}`")))?),
    };
    let needs_reply = query.needs_reply();
    let sort = match query.sort.trim() {
        "" if needs_reply => SortKey::Waiting,
        "" => SortKey::LastActivity,
        s => SortKey::parse(s).ok_or_else(|| AppError::BadRequest(format!("unknown sort `{s}`")))?,
    };
    Ok(LeadQuery {
        search: Some(query.q.clone()).filter(|q| !q.trim().is_empty()),
        status,
        needs_reply,
        sort,
        descending: query.descending(),
        cursor: Some(query.cursor.clone()).filter(|c| !c.is_empty()),
        limit: PAGE_SIZE,
        only,
    })
}

pub async fn list_leads(query: LeadsQuery) -> Result<LeadList, UiError> {
    let (state, member) = member().await?;
    let lead_query = lead_query(&query, None).map_err(refuse)?;
    let page = leads::list(&state.db, &member.workspace, &lead_query).await.map_err(refuse)?;
    Ok(LeadList {
        rows: page.leads.iter().map(|l| lead_view(l, &member.workspace)).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
        now_ms: now_ms(),
    })
}

pub async fn lead_row(id: String, query: LeadsQuery) -> Result<Option<LeadRow>, UiError> {
    let (state, member) = member().await?;
    let id = LeadId::parse(&id).ok_or_else(|| refuse(AppError::not_found("lead")))?;
    if leads::find(&state.db, &member.workspace, &id).await.map_err(refuse)?.is_none() {
        return Err(refuse(AppError::not_found("lead")));
    }
    let query = LeadsQuery { cursor: String::new(), ..query };
    let lead_query = lead_query(&query, Some(id)).map_err(refuse)?;
    let page = leads::list(&state.db, &member.workspace, &lead_query).await.map_err(refuse)?;
    Ok(page.leads.first().map(|l| lead_view(l, &member.workspace)))
}

/// Whether a server function was posted by a plain HTML form (no JavaScript): the
/// browser then follows a redirect instead of reading the returned value.
pub(crate) fn posted_without_javascript() -> bool {
    answering_server_fn()
        && request_parts().is_some_and(|parts| {
            parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
        })
}

/// The page a plain HTML form post (no JavaScript) came from, to send it back to.
fn plain_form_post() -> Option<String> {
    let referer = request_parts()?.headers.get(header::REFERER)?.to_str().ok()?.to_string();
    posted_without_javascript().then_some(referer)
}

pub async fn update_lead(
    lead_id: String,
    name: Option<String>,
    lead_status: Option<String>,
) -> Result<LeadRow, UiError> {
    let result = update_lead_inner(lead_id.clone(), name, lead_status).await;
    if let (Err(err), Some(referer)) = (&result, plain_form_post()) {
        // Without JavaScript the page reloads; it shows why the edit was refused.
        let separator = if referer.contains('?') { '&' } else { '?' };
        leptos_axum::redirect(&format!(
            "{referer}{separator}edit_error={}&edit_lead={}",
            crate::url::encode(&err.to_string()),
            crate::url::encode(&lead_id)
        ));
    }
    result
}

async fn update_lead_inner(
    lead_id: String,
    name: Option<String>,
    lead_status: Option<String>,
) -> Result<LeadRow, UiError> {
    let (state, member) = member().await?;
    let id = LeadId::parse(&lead_id).ok_or_else(|| refuse(AppError::not_found("lead")))?;
    let changes = LeadChanges {
        name: match name {
            Some(raw) => Some(clean_manual_name(&raw).map_err(|e| refuse(AppError::Unprocessable(e.to_string())))?),
            None => None,
        },
        lead_status: match lead_status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(
                LeadStatus::parse(s).ok_or_else(|| refuse(AppError::Unprocessable(format!("unknown status `{s}`"))))?,
            ),
            None => None,
        },
    };
    let actor = Actor::User { id: member.user_id.clone(), email: member.email.clone() };
    let lead = leads::update(&state.db, &member.workspace, &id, &changes, &actor).await.map_err(refuse)?;
    state.live.publish(LeadChanged {
        workspace_id: member.workspace.id.to_string(),
        lead_id: lead.id.to_string(),
        created: false,
    });
    Ok(lead_view(&lead, &member.workspace))
}

pub async fn lead_detail(id: String) -> Result<LeadDetail, UiError> {
    let (state, member) = member().await?;
    let id = LeadId::parse(&id).ok_or_else(|| refuse(AppError::not_found("lead")))?;
    let mut lead = leads::find(&state.db, &member.workspace, &id)
        .await
        .map_err(refuse)?
        .ok_or_else(|| refuse(AppError::not_found("lead")))?;
    if let Some(survivor) = lead.merged_into.clone() {
        // Old links to a merged lead lead to the one it was merged into.
        leptos_axum::redirect(&format!("/leads/{}", crate::url::encode(&survivor)));
        let survivor = LeadId::parse(&survivor).ok_or_else(|| refuse(AppError::not_found("lead")))?;
        lead = leads::find(&state.db, &member.workspace, &survivor)
            .await
            .map_err(refuse)?
            .ok_or_else(|| refuse(AppError::not_found("lead")))?;
    }
    let id = lead.id.clone();
    let changes = leads::changes(&state.db, &member.workspace, &id)
        .await
        .map_err(refuse)?
        .into_iter()
        .map(|c| LeadChange {
            at_local: local_display(c.changed_at, &member.workspace.time_zone),
            at_ms: c.changed_at,
            actor: c.actor,
            field: c.field,
            old_value: c.old_value,
            new_value: c.new_value,
        })
        .collect();
    let count = messages::count_for_lead(&state.db, &member.workspace, &id).await.map_err(refuse)?;
    let (identities, merges) =
        crate::server::web_merge::identities_and_merges(&state, &member.workspace, &lead).await.map_err(refuse)?;
    Ok(LeadDetail {
        lead: lead_view(&lead, &member.workspace),
        changes,
        messages: count,
        now_ms: now_ms(),
        identities,
        merges,
    })
}

fn conversation_view(record: &ConversationRecord, workspace: &Workspace) -> ConversationRow {
    let profile = record.kapso_name.clone().or_else(|| record.username.clone());
    let key = &record.phone_normalized;
    let phone = match key.strip_prefix("bsuid:") {
        Some(bsuid) => crate::server::identity::short_bsuid(bsuid),
        None => display_key(key),
    };
    let last = record.last_message_at;
    ConversationRow {
        inbox_ref: record.kapso_conversation_id.clone().unwrap_or_else(|| record.id.clone()),
        lead_id: record.lead_id.clone(),
        display_name: record.name.clone().or(profile).unwrap_or_else(|| phone.clone()),
        phone,
        preview: record.last_message_preview.clone().unwrap_or_default(),
        last_message_ms: last,
        last_message_local: last.map(|ms| local_display(ms, &workspace.time_zone)),
        last_message_iso: last.map(rfc3339),
        unread: record.unread_count,
        status: record.status.clone(),
    }
}

pub async fn list_conversations(q: String, cursor: String) -> Result<ConversationsPage, UiError> {
    let (state, member) = member().await?;
    let workspace = &member.workspace;
    let search = Some(q).filter(|q| !q.trim().is_empty());
    let after = decode_conversation_cursor(&cursor);
    let records =
        conversations::page(&state.db, workspace, search, after, PAGE_SIZE + 1).await.map_err(|e| refuse(e.into()))?;
    let next_cursor = (records.len() > PAGE_SIZE)
        .then(|| &records[PAGE_SIZE - 1])
        .map(|last| crate::server::cursor::encode(&[&last.last_message_at.unwrap_or_default().to_string(), &last.id]));
    let rows = records.iter().take(PAGE_SIZE).map(|record| conversation_view(record, workspace)).collect();
    Ok(ConversationsPage { rows, next_cursor, now_ms: now_ms() })
}

/// A bad cursor shows the first page (the Inbox's "more" link is the only maker of one).
fn decode_conversation_cursor(cursor: &str) -> Option<(i64, String)> {
    let [at, id] = crate::server::cursor::decode::<2>(cursor).ok()?;
    Some((at.parse().ok()?, id))
}

/// How many of a lead's latest messages a thread shows.
const THREAD_MESSAGES: usize = 300;

pub async fn open_thread(conversation: String) -> Result<Thread, UiError> {
    let (state, member) = member().await?;
    let workspace = &member.workspace;
    let record = conversations::find(&state.db, workspace, conversation.trim())
        .await
        .map_err(|e| refuse(e.into()))?
        .ok_or_else(|| refuse(AppError::NotFound("conversation not found".into())))?;
    let mut view = conversation_view(&record, workspace);
    let lead_id = LeadId::from_db(view.lead_id.clone());
    // Opening the thread reads every conversation of this customer. Rendering
    // `GET /inbox/{id}` does this too, so a cross-site link to a signed-in person's
    // conversation marks it read: an accepted choice (documented in README): it only
    // clears an unread count of a conversation they may see, and opening is reading.
    // Nothing else changes state on a GET.
    if conversations::mark_read(&state.db, workspace, &lead_id).await.map_err(|e| refuse(e.into()))? {
        view.unread = 0;
        state.live.publish(LeadChanged {
            workspace_id: workspace.id.to_string(),
            lead_id: lead_id.to_string(),
            created: false,
        });
    }
    let lead = leads::find(&state.db, workspace, &lead_id)
        .await
        .map_err(refuse)?
        .ok_or_else(|| refuse(AppError::NotFound("conversation not found".into())))?;
    let records = messages::latest_for_lead(&state.db, workspace, &lead_id, THREAD_MESSAGES).await.map_err(refuse)?;
    let by_wamid: std::collections::HashMap<&str, &messages::MessageRecord> =
        records.iter().map(|m| (m.kapso_message_id.as_str(), m)).collect();
    let stored_cards: Vec<_> = records.iter().map(|m| (m.id.clone(), m.shared_contacts_json.clone())).collect();
    let mut cards = crate::server::contact_cards::views(&state.db, workspace, &stored_cards).await.map_err(refuse)?;
    let messages = records
        .iter()
        .map(|m| MessageView {
            id: m.id.clone(),
            inbound: m.direction == Direction::Inbound,
            kind: m.message_type.clone(),
            // Our own templates read as what the customer got, marked as a template.
            label: if m.message_type == "template" && m.direction == Direction::Outbound {
                Some("[Template]".to_string())
            } else {
                media_label(&m.message_type, false).map(str::to_string)
            },
            text: m.content.clone(),
            // Only web links: a `javascript:` URL in a delivery must not become a link.
            media_url: m.media_url.clone().filter(|url| url.starts_with("https://") || url.starts_with("http://")),
            quoted: m.reply_to_kapso_message_id.as_deref().map(|reply_to| match by_wamid.get(reply_to) {
                Some(original) => Quoted {
                    from_customer: original.direction == Direction::Inbound,
                    text: original
                        .content
                        .clone()
                        .or_else(|| media_label(&original.message_type, false).map(str::to_string))
                        .unwrap_or_default(),
                },
                None => Quoted { from_customer: false, text: String::new() },
            }),
            at_ms: m.sent_at_ms,
            at_local: local_display(m.sent_at_ms, &workspace.time_zone),
            at_time: local_time(m.sent_at_ms, &workspace.time_zone),
            at_iso: rfc3339(m.sent_at_ms),
            status: m.status.map(|status| status.as_str().to_string()),
            status_error: m.status_error.clone(),
            contacts: cards.remove(&m.id).unwrap_or_default(),
            // Only our replies that never got a wamid: failed before Kapso took them,
            // or interrupted (unknown).
            can_retry: m.direction == Direction::Outbound
                && matches!(m.status, Some(DeliveryStatus::Failed | DeliveryStatus::Unknown))
                && m.kapso_message_id.starts_with("leadline:"),
        })
        .collect();
    let mut reply = crate::server::replies::web::reply_view(
        &state,
        &workspace.id,
        lead.id.as_str(),
        lead.last_inbound_at,
        &view.inbox_ref,
    )
    .await
    .map_err(refuse)?;
    reply.is_owner = member.role == crate::model::Role::Owner;
    Ok(Thread { conversation: view, lead: lead_view(&lead, workspace), messages, now_ms: now_ms(), reply })
}

pub async fn rotate_secret(which: String) -> Result<RevealedSecrets, UiError> {
    let (state, member) = member().await?;
    member.require(member.role.can_manage_secrets(), "rotate secrets").map_err(refuse)?;
    let rotation = match which.as_str() {
        "webhook_secret" => Rotation { webhook_secret: true, ..Rotation::default() },
        "verify_token" => Rotation { verify_token: true, ..Rotation::default() },
        "api_token" => Rotation { api_token: true, ..Rotation::default() },
        other => return Err(refuse(AppError::BadRequest(format!("unknown secret `{other}`")))),
    };
    let issued = workspaces::rotate(&state.db, &member.workspace.id, rotation).await.map_err(refuse)?;
    state.workspaces.invalidate();
    tracing::info!(workspace = %member.workspace.id, which = %which, "secret rotated");
    let secrets = RevealedSecrets {
        webhook_url: format!("{}{WEBHOOK_PATH}", public_url()),
        webhook_secret: issued.webhook_secret,
        verify_token: issued.verify_token,
        api_token: issued.api_token,
    };
    Ok(reveal(&state, &member.user_id, secrets, "/settings"))
}

pub async fn setup_open(token: String) -> Result<bool, UiError> {
    let state = state()?;
    accounts::setup_token_is_open(&state.db, token.trim()).await.map_err(refuse)
}

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
    let state = state()?;
    let token = token.trim().to_string();
    if !accounts::setup_token_is_open(&state.db, &token).await.map_err(refuse)? {
        return Err(refuse(AppError::Forbidden("this setup link has been used; sign in instead".into())));
    }
    // Everything that can be refused is checked before the link is used up.
    let email = accounts::normalize_email(&email).map_err(refuse)?;
    accounts::check_password(&password).map_err(refuse)?;
    if workspaces::find_by_phone_number_id(&state.db, phone_number_id.trim()).await.map_err(refuse)?.is_some() {
        return Err(refuse(AppError::Unprocessable("this phone number ID already belongs to a workspace".into())));
    }
    let new = NewWorkspace {
        name: workspace_name,
        phone_number_id,
        region: if region.trim().is_empty() { "ID".into() } else { region },
        time_zone: if time_zone.trim().is_empty() { "Asia/Jakarta".into() } else { time_zone },
        allow_unsigned_webhooks: false,
    };
    workspaces::validate(&new).map_err(refuse)?;
    if !accounts::consume_setup_token(&state.db, &token).await.map_err(refuse)? {
        return Err(refuse(AppError::Forbidden("this setup link has been used; sign in instead".into())));
    }
    let (workspace, issued) = workspaces::create(&state.db, new).await.map_err(refuse)?;
    let user_id = accounts::create_user(&state.db, &email, &password).await.map_err(refuse)?;
    accounts::set_membership(&state.db, &workspace.id, &user_id, Role::Owner).await.map_err(refuse)?;
    let session = auth::start_session(&state, &user_id, &workspace.id).await.map_err(refuse)?;
    if let (Some(response), Some(parts)) = (use_context::<ResponseOptions>(), request_parts()) {
        response.insert_header(header::SET_COOKIE, auth::session_cookie(&state, &session, &parts.headers));
    }
    tracing::info!(workspace = %workspace.id, "first workspace and owner created");
    let secrets = RevealedSecrets {
        webhook_url: format!("{}{WEBHOOK_PATH}", public_url()),
        webhook_secret: issued.webhook_secret,
        verify_token: issued.verify_token,
        api_token: issued.api_token,
    };
    Ok(reveal(&state, &user_id, secrets, "/setup/done"))
}
