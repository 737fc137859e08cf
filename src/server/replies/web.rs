//! The replies' server side for pages (composer, Retry, templates, Settings → Kapso) and
//! for integrators (`POST /api/v1/leads/{id}/replies`). Every call is scoped to the
//! caller's workspace; the key is only ever shown masked.

use super::kapso::{fill, Template};
use super::store::{self, NewReply, ReplyBody};
use crate::app::api::{KapsoSettingsView, ReplyView, TemplateView, UiError};
use crate::model::Role;
use crate::server::{
    auth::ApiWorkspace,
    clock::now_ms,
    db::Db,
    error::{AppError, AppResult},
    http::{AppState, JsonBody},
    ids::{LeadId, WorkspaceId},
    leads::lead_id_from_path,
    live::LeadChanged,
    web::{member, posted_without_javascript, refuse},
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::post,
    Json, Router,
};
use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/leads/{id}/replies", post(api_reply))
}

/// Where a reply's answer sends a plain form post: back to its thread.
fn back_to(inbox_ref: &str, problem: Option<&str>) {
    let mut path = format!("/inbox/{}", crate::url::encode(inbox_ref));
    if let Some(code) = problem {
        path.push_str(&format!("?reply_error={code}"));
    }
    leptos_axum::redirect(&path);
}

/// The composer's per-reply key, if it sent a usable one.
fn client_key(raw: &str) -> Option<&str> {
    let key = raw.trim();
    (!key.is_empty() && key.len() <= 64).then_some(key)
}

/// The key, the WhatsApp Business Account id and Kapso's last refusal of the key.
async fn kapso_row(db: &Db, workspace_id: &WorkspaceId) -> AppResult<(Option<String>, Option<String>, Option<String>)> {
    Ok(sqlx::query_as("SELECT kapso_api_key, kapso_waba_id, kapso_key_error FROM workspaces WHERE id = $1")
        .bind(workspace_id.as_str())
        .fetch_one(&db.pool)
        .await?)
}

/// A short code for the composer to explain a refusal after a plain form post.
fn problem_code(err: &AppError) -> &'static str {
    match err {
        AppError::Conflict { existing_id: None, .. } => "window_closed",
        AppError::Unprocessable(m) if m.contains("empty") => "empty",
        AppError::Unprocessable(m) if m.contains("characters") => "too_long",
        AppError::Unprocessable(_) => "no_recipient",
        AppError::Conflict { .. } => "not_failed",
        _ => "failed",
    }
}

fn publish(state: &AppState, workspace_id: &WorkspaceId, lead_id: &str) {
    state.live.publish(LeadChanged {
        workspace_id: workspace_id.to_string(),
        lead_id: lead_id.to_string(),
        created: false,
    });
}

/// 404 for a lead of another workspace (before anything else is said about this one).
async fn ensure_lead(db: &Db, workspace_id: &str, lead_id: &LeadId) -> AppResult<()> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM leads WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(lead_id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    found.map(|_| ()).ok_or_else(|| AppError::NotFound("lead not found".into()))
}

async fn require_key(db: &Db, workspace_id: &str) -> AppResult<()> {
    match store::credentials(db, workspace_id).await? {
        (_, Some(_)) => Ok(()),
        (_, None) => Err(AppError::Conflict {
            message: "replies are not set up: an owner adds the Kapso API key in Settings".into(),
            existing_id: Some(String::new()),
        }),
    }
}

/// The composer's send (a hydrated page, or a plain form post that lands back on the thread).
pub async fn send_reply(lead_id: String, text: String, client_key: String, back: String) -> Result<String, UiError> {
    let (state, member) = member().await?;
    let result = async {
        let text = store::check_text(&text)?;
        let lead = LeadId::parse(&lead_id).ok_or_else(|| AppError::NotFound("lead not found".into()))?;
        ensure_lead(&state.db, member.workspace.id.as_str(), &lead).await?;
        require_key(&state.db, member.workspace.id.as_str()).await?;
        store::enqueue(
            &state.db,
            NewReply {
                workspace_id: member.workspace.id.as_str(),
                lead_id: lead.as_str(),
                created_by: Some(member.user_id.as_str()),
                client_key: self::client_key(&client_key),
                body: ReplyBody::Text(text),
            },
        )
        .await
    }
    .await;
    finish_send(&state, &member.workspace.id, result, &back)
}

fn finish_send(
    state: &AppState,
    workspace_id: &WorkspaceId,
    result: AppResult<store::Queued>,
    back: &str,
) -> Result<String, UiError> {
    match result {
        Ok(queued) => {
            if !queued.repeated {
                state.outbox.wake();
                publish(state, workspace_id, &queued.lead_id);
            }
            if posted_without_javascript() {
                back_to(back, None);
            }
            Ok(queued.message_id)
        }
        Err(err) => {
            if posted_without_javascript() {
                back_to(back, Some(problem_code(&err)));
            }
            Err(refuse(err))
        }
    }
}

/// A template send: the template must be one of the workspace's approved ones, with
/// every parameter filled in.
pub async fn send_template(
    lead_id: String,
    template: String,
    params: Vec<String>,
    client_key: String,
    back: String,
) -> Result<String, UiError> {
    let (state, member) = member().await?;
    let result = async {
        let lead = LeadId::parse(&lead_id).ok_or_else(|| AppError::NotFound("lead not found".into()))?;
        ensure_lead(&state.db, member.workspace.id.as_str(), &lead).await?;
        require_key(&state.db, member.workspace.id.as_str()).await?;
        let (name, language) = template.split_once('|').unwrap_or((template.as_str(), ""));
        let templates = templates_of(&state, &member.workspace.id).await?;
        let chosen = templates
            .iter()
            .find(|t| t.name == name && (language.is_empty() || t.language == language))
            .ok_or_else(|| AppError::Unprocessable(format!("no approved template is called `{name}`")))?;
        let params: Vec<String> = params.into_iter().map(|p| p.trim().to_string()).collect();
        if params.len() < chosen.params || params[..chosen.params].iter().any(String::is_empty) {
            return Err(AppError::Unprocessable(format!("the template needs {} values filled in", chosen.params)));
        }
        if params.iter().any(|p| p.chars().count() > 1024) {
            return Err(AppError::Unprocessable("a template value holds at most 1024 characters".into()));
        }
        let params = params[..chosen.params].to_vec();
        store::enqueue(
            &state.db,
            NewReply {
                workspace_id: member.workspace.id.as_str(),
                lead_id: lead.as_str(),
                created_by: Some(member.user_id.as_str()),
                client_key: self::client_key(&client_key),
                body: ReplyBody::Template {
                    name: chosen.name.clone(),
                    language: chosen.language.clone(),
                    rendered: fill(&chosen.body, &params),
                    params,
                },
            },
        )
        .await
    }
    .await;
    finish_send(&state, &member.workspace.id, result, &back)
}

/// A person's Retry of a failed or unknown reply.
pub async fn retry_reply(message_id: String, back: String) -> Result<(), UiError> {
    let (state, member) = member().await?;
    let result = store::retry(&state.db, member.workspace.id.as_str(), message_id.trim()).await;
    match result {
        Ok(lead_id) => {
            state.outbox.wake();
            publish(&state, &member.workspace.id, &lead_id);
            if posted_without_javascript() {
                back_to(&back, None);
            }
            Ok(())
        }
        Err(err) => {
            if posted_without_javascript() {
                back_to(&back, Some(problem_code(&err)));
            }
            Err(refuse(err))
        }
    }
}

type TemplateCache = Mutex<HashMap<String, (Instant, Vec<Template>)>>;

/// Templates change rarely; each workspace's list is asked of Kapso at most once a minute.
async fn templates_of(state: &AppState, workspace_id: &WorkspaceId) -> AppResult<Vec<Template>> {
    static CACHE: OnceLock<TemplateCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((at, list)) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(workspace_id.as_str()) {
        if at.elapsed() < Duration::from_secs(60) {
            return Ok(list.clone());
        }
    }
    let (Some(key), Some(waba), _) = kapso_row(&state.db, workspace_id).await? else {
        return Err(AppError::Conflict {
            message: "templates are not set up: an owner adds the Kapso API key and the WhatsApp Business \
                      Account id in Settings"
                .into(),
            existing_id: Some(String::new()),
        });
    };
    let list = state.outbox.client.templates(&waba, &key).await.map_err(AppError::Unavailable)?;
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(workspace_id.to_string(), (Instant::now(), list.clone()));
    Ok(list)
}

pub async fn reply_templates() -> Result<Vec<TemplateView>, UiError> {
    let (state, member) = member().await?;
    let list = templates_of(&state, &member.workspace.id).await.map_err(refuse)?;
    Ok(list
        .into_iter()
        .map(|t| TemplateView {
            name: t.name,
            language: t.language,
            category: t.category,
            body: t.body,
            params: t.params,
        })
        .collect())
}

/// The composer's state for one lead's thread; with the window closed, the templates
/// to offer instead (Kapso's list, cached a minute per workspace).
pub async fn reply_view(
    state: &AppState,
    workspace_id: &WorkspaceId,
    lead_id: &str,
    last_inbound_at: Option<i64>,
    inbox_ref: &str,
) -> AppResult<ReplyView> {
    let (key, waba, problem) = kapso_row(&state.db, workspace_id).await?;
    let window = super::Window::at(last_inbound_at, now_ms());
    let templates_configured = key.is_some() && waba.is_some();
    let (templates, templates_error) = if templates_configured && !window.is_open() {
        match templates_of(state, workspace_id).await {
            Ok(list) => (list.into_iter().map(template_view).collect(), None),
            Err(err) => (Vec::new(), Some(err.to_string())),
        }
    } else {
        (Vec::new(), None)
    };
    Ok(ReplyView {
        lead_id: lead_id.to_string(),
        inbox_ref: inbox_ref.to_string(),
        client_key: crate::server::secrets::random_hex(12),
        window_open: window.is_open(),
        window_closes_ms: window.closes_at(),
        can_send: key.is_some(),
        key_problem: problem,
        templates_configured,
        is_owner: false,
        templates,
        templates_error,
    })
}

fn template_view(t: Template) -> TemplateView {
    TemplateView { name: t.name, language: t.language, category: t.category, body: t.body, params: t.params }
}

// ---- Settings → Kapso ----

pub struct SavedKapso {
    pub key_masked: Option<String>,
    pub waba_id: Option<String>,
}

fn mask(key: &str) -> String {
    let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("••••{tail}")
}

/// Saves the key (`Some("")` or `None` keeps it; `clear` removes it) and the WABA id
/// (`Some("")` removes it).
pub async fn save_kapso_settings(
    db: &Db,
    workspace_id: &WorkspaceId,
    key: Option<&str>,
    waba_id: Option<&str>,
) -> AppResult<SavedKapso> {
    let key = key.map(str::trim);
    if let Some(key) = key.filter(|k| !k.is_empty()) {
        if key.len() > 512 || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AppError::Unprocessable(
                "the Kapso API key is up to 512 visible characters, without spaces".into(),
            ));
        }
    }
    let waba_id = waba_id.map(str::trim);
    if let Some(waba) = waba_id.filter(|w| !w.is_empty()) {
        if waba.len() > 32 || !waba.chars().all(|c| c.is_ascii_digit()) {
            return Err(AppError::Unprocessable("the WhatsApp Business Account id is a number".into()));
        }
    }
    let mut tx = db.pool.begin().await?;
    match key {
        Some("") => {
            sqlx::query(
                "UPDATE workspaces SET kapso_api_key = NULL, kapso_key_error = NULL, updated_at = $2 WHERE id = $1",
            )
            .bind(workspace_id.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        Some(key) => {
            sqlx::query(
                "UPDATE workspaces SET kapso_api_key = $2, kapso_key_error = NULL, updated_at = $3 WHERE id = $1",
            )
            .bind(workspace_id.as_str())
            .bind(key)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        None => {}
    }
    if let Some(waba) = waba_id {
        sqlx::query("UPDATE workspaces SET kapso_waba_id = $2 WHERE id = $1")
            .bind(workspace_id.as_str())
            .bind((!waba.is_empty()).then_some(waba))
            .execute(&mut *tx)
            .await?;
    }
    let (key, waba): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT kapso_api_key, kapso_waba_id FROM workspaces WHERE id = $1")
            .bind(workspace_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(SavedKapso { key_masked: key.as_deref().map(mask), waba_id: waba })
}

pub async fn kapso_settings_view(db: &Db, workspace_id: &WorkspaceId) -> AppResult<KapsoSettingsView> {
    let (key, waba, problem) = kapso_row(db, workspace_id).await?;
    Ok(KapsoSettingsView { key_masked: key.as_deref().map(mask), waba_id: waba, key_problem: problem })
}

/// Settings' Kapso form (owners). An empty key field keeps the saved key.
pub async fn save_kapso(api_key: String, waba_id: String, remove_key: bool) -> Result<KapsoSettingsView, UiError> {
    let (state, member) = member().await?;
    member.require(member.role == Role::Owner, "change how replies are sent").map_err(refuse)?;
    let key = if remove_key { Some("") } else { Some(api_key.as_str()).filter(|k| !k.trim().is_empty()) };
    let result = save_kapso_settings(&state.db, &member.workspace.id, key, Some(&waba_id)).await;
    match result {
        Ok(_) => {
            if posted_without_javascript() {
                leptos_axum::redirect("/settings?done=kapso");
            }
            kapso_settings_view(&state.db, &member.workspace.id).await.map_err(refuse)
        }
        Err(err) => {
            if posted_without_javascript() {
                leptos_axum::redirect("/settings?error=kapso");
            }
            Err(refuse(err))
        }
    }
}

pub async fn kapso_settings() -> Result<KapsoSettingsView, UiError> {
    let (state, member) = member().await?;
    member.require(member.role == Role::Owner, "see how replies are sent").map_err(refuse)?;
    kapso_settings_view(&state.db, &member.workspace.id).await.map_err(refuse)
}

// ---- The JSON API ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiReply {
    text: Option<String>,
    template: Option<ApiTemplate>,
    /// Makes a retried request harmless: the same key queues one reply.
    client_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiTemplate {
    name: String,
    language: String,
    #[serde(default)]
    params: Vec<String>,
}

/// `POST /api/v1/leads/{id}/replies`: queues a reply (202) and answers its message id;
/// its progress is the message's `status` in `GET /api/v1/leads/{id}/messages`.
async fn api_reply(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApiReply>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let lead = lead_id_from_path(&id)?;
    ensure_lead(&state.db, workspace.id.as_str(), &lead).await?;
    let reply = match (body.text, body.template) {
        (Some(text), None) => ReplyBody::Text(store::check_text(&text)?),
        (None, Some(t)) => {
            let templates = templates_of(&state, &workspace.id).await?;
            let chosen = templates.iter().find(|x| x.name == t.name && x.language == t.language).ok_or_else(|| {
                AppError::Unprocessable(format!("no approved template `{}` in `{}`", t.name, t.language))
            })?;
            if t.params.len() != chosen.params {
                return Err(AppError::Unprocessable(format!("the template takes {} params", chosen.params)));
            }
            ReplyBody::Template {
                rendered: fill(&chosen.body, &t.params),
                name: t.name,
                language: t.language,
                params: t.params,
            }
        }
        _ => return Err(AppError::BadRequest("send either `text` or `template`".into())),
    };
    require_key(&state.db, workspace.id.as_str()).await?;
    let key = body.client_key.as_deref().map(str::trim).filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > 64) {
        return Err(AppError::BadRequest("client_key is at most 64 characters".into()));
    }
    let queued = store::enqueue(
        &state.db,
        NewReply {
            workspace_id: workspace.id.as_str(),
            lead_id: lead.as_str(),
            created_by: None,
            client_key: key,
            body: reply,
        },
    )
    .await?;
    if !queued.repeated {
        state.outbox.wake();
        publish(&state, &workspace.id, &queued.lead_id);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "message_id": queued.message_id,
            "lead_id": queued.lead_id,
            "status": "queued",
            "repeated": queued.repeated,
        })),
    ))
}
