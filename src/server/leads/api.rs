//! The JSON API's lead routes (`/api/v1/leads…`).

use super::*;
use crate::model::{clean_manual_name, LeadSource, LeadStatus};
use crate::server::{
    auth::ApiWorkspace,
    clock::rfc3339,
    error::{AppError, AppResult},
    http::{AppState, JsonBody},
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Deserializer, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/leads", get(list_leads).post(create_lead))
        .route("/api/v1/leads/{id}", get(get_lead).patch(update_lead))
        .route("/api/v1/leads/{id}/merge", get(preview_merge_lead).post(merge_lead))
}

/// A lead as the JSON API shows it. `phone_normalized` (and `phone`) are the primary
/// number, `null` for a lead that shared none; `phones` lists every number, primary first.
#[derive(Debug, Serialize)]
pub struct LeadJson {
    pub id: String,
    pub display_name: String,
    pub name: Option<String>,
    pub kapso_name: Option<String>,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub phone_raw: Option<String>,
    pub phone_normalized: Option<String>,
    pub phone_valid: bool,
    pub phones: Vec<String>,
    pub business_scoped_user_id: Option<String>,
    pub parent_business_scoped_user_id: Option<String>,
    pub lead_status: LeadStatus,
    pub source: LeadSource,
    pub last_activity_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub kapso_conversation_id: Option<String>,
    pub unread_count: i64,
    pub inbox_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

impl From<&LeadRecord> for LeadJson {
    fn from(lead: &LeadRecord) -> Self {
        let primary = lead.primary_phone().map(str::to_string);
        LeadJson {
            id: lead.id.to_string(),
            display_name: lead.display_name(),
            name: lead.name.clone(),
            kapso_name: lead.kapso_name.clone(),
            username: lead.username.clone(),
            phone: primary.as_deref().map(crate::server::phone::display_key),
            phone_raw: primary.as_ref().map(|_| lead.phone_raw.clone()),
            phone_valid: primary.as_ref().is_some_and(|p| p.starts_with('+')),
            phone_normalized: primary,
            phones: lead.phones().into_iter().map(str::to_string).collect(),
            business_scoped_user_id: lead.business_scoped_user_id().map(str::to_string),
            parent_business_scoped_user_id: lead.parent_business_scoped_user_id().map(str::to_string),
            lead_status: lead.lead_status,
            source: lead.source,
            last_activity_at: lead.last_activity_at.map(rfc3339),
            created_at: rfc3339(lead.created_at),
            updated_at: rfc3339(lead.updated_at),
            kapso_conversation_id: lead.kapso_conversation_id.clone(),
            unread_count: lead.unread_count,
            inbox_path: lead.inbox_ref.as_ref().map(|r| format!("/inbox/{r}")),
            merged_into: lead.merged_into.clone(),
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
    needs_reply: Option<String>,
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
    let needs_reply = super::query::is_on(params.needs_reply.as_deref());
    let sort = match params.sort.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => SortKey::parse(s).ok_or_else(|| {
            AppError::BadRequest(format!("unknown sort `{s}`: use last_activity, name, created or waiting"))
        })?,
        None if needs_reply => SortKey::Waiting,
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
        &LeadQuery {
            search: params.q,
            status,
            needs_reply,
            sort,
            descending,
            cursor: params.cursor,
            limit,
            only: None,
        },
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
    if let Some(survivor) = lead.merged_into {
        return Err(AppError::Merged(survivor));
    }
    Ok(Json(LeadJson::from(&lead)))
}

#[derive(Debug, Deserialize)]
struct MergeParams {
    other_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    other_id: String,
    lead_status: Option<String>,
}

/// `GET /api/v1/leads/{id}/merge?other_id=…`: what merging would keep.
async fn preview_merge_lead(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    Path(id): Path<String>,
    params: Result<Query<MergeParams>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Json<MergePreview>> {
    let Query(params) = params.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let id = lead_id_from_path(&id)?;
    let other = params.other_id.ok_or_else(|| AppError::BadRequest("other_id is required".into()))?;
    let other = LeadId::parse(&other).ok_or_else(|| AppError::not_found("other lead"))?;
    Ok(Json(preview_merge(&state.db, &workspace, &id, &other).await?))
}

/// `POST /api/v1/leads/{id}/merge {"other_id": …, "lead_status"?: …}`: merges the two
/// leads; answers the survivor (whichever was created first).
async fn merge_lead(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MergeBody>,
) -> AppResult<Json<LeadJson>> {
    let id = lead_id_from_path(&id)?;
    let other_id = LeadId::parse(&body.other_id).ok_or_else(|| AppError::not_found("other lead"))?;
    let lead_status = match body.lead_status.as_deref() {
        Some(s) => Some(LeadStatus::parse(s).ok_or_else(|| AppError::Unprocessable(status_choices(s)))?),
        None => None,
    };
    let request = MergeRequest { id, other_id, lead_status };
    let survivor = merge_by_person(&state.db, &workspace, &request, &Actor::ApiToken).await?;
    publish_merge(&state, &workspace, &survivor, &request);
    Ok(Json(LeadJson::from(&survivor)))
}

/// Both leads changed: the survivor's row updates, the merged one's disappears.
pub fn publish_merge(
    state: &AppState,
    workspace: &crate::server::workspaces::Workspace,
    survivor: &LeadRecord,
    request: &MergeRequest,
) {
    for id in [&request.id, &request.other_id] {
        state.live.publish(crate::server::live::LeadChanged {
            workspace_id: workspace.id.to_string(),
            lead_id: id.to_string(),
            created: false,
        });
    }
    let _ = survivor;
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
                Json(LeadJson::from(lead.as_ref())),
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
