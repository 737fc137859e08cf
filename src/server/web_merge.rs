//! Server side of the Database's "Merge" (the `leads/merge*` server functions in
//! `app::api`) and the lead page's identities and merge history. Kept apart from
//! `web.rs`; the rules live in `leads::merge` and `server::merge`.

use crate::app::api::{IdentityView, MergePreviewView, MergeView, UiError};
use crate::model::LeadStatus;
use crate::server::{
    clock::local_display,
    error::{AppError, AppResult},
    http::AppState,
    ids::LeadId,
    leads::{self, Actor, LeadRecord, MergeRequest},
    web::{member, posted_without_javascript, refuse},
    workspaces::Workspace,
};

fn lead_id(raw: &str, what: &str) -> Result<LeadId, UiError> {
    LeadId::parse(raw).ok_or_else(|| refuse(AppError::not_found(what)))
}

pub async fn preview(lead_id_text: String, other_id: String) -> Result<MergePreviewView, UiError> {
    let (state, member) = member().await?;
    let (a, b) = (lead_id(&lead_id_text, "lead")?, lead_id(&other_id, "other lead")?);
    let preview = leads::preview_merge(&state.db, &member.workspace, &a, &b).await.map_err(refuse)?;
    let name_of = |id: &str| {
        let db = state.db.clone();
        let workspace = member.workspace.clone();
        let id = id.to_string();
        async move {
            let id = LeadId::parse(&id).ok_or_else(|| AppError::not_found("lead"))?;
            Ok::<_, AppError>(leads::find(&db, &workspace, &id).await?.map(|l| l.display_name()).unwrap_or_default())
        }
    };
    let survivor_name = name_of(&preview.survivor_id).await.map_err(refuse)?;
    let merged_name = name_of(&preview.merged_id).await.map_err(refuse)?;
    Ok(MergePreviewView {
        survivor_id: preview.survivor_id,
        merged_id: preview.merged_id,
        survivor_name,
        merged_name,
        display_name: preview.display_name,
        phones: preview.phones.iter().map(|p| crate::server::phone::display_key(p)).collect(),
        user_ids: preview.business_scoped_user_ids,
        username: preview.username,
        lead_status: preview.lead_status,
        status_choices: preview.status_choices,
        messages: preview.messages,
        conversations: preview.conversations,
    })
}

/// Merges and returns the survivor's id. Without JavaScript the form post is redirected
/// to the survivor's page (or back to the preview with the reason when refused).
pub async fn merge(lead_id_text: String, other_id: String, lead_status: String) -> Result<String, UiError> {
    let result = merge_inner(&lead_id_text, &other_id, &lead_status).await;
    if posted_without_javascript() {
        match &result {
            Ok(survivor) => leptos_axum::redirect(&format!("/leads/{}", crate::url::encode(survivor))),
            Err(err) => leptos_axum::redirect(&format!(
                "/leads/merge?a={}&b={}&error={}",
                crate::url::encode(&lead_id_text),
                crate::url::encode(&other_id),
                crate::url::encode(&err.to_string())
            )),
        }
    }
    result
}

async fn merge_inner(lead_id_text: &str, other_id: &str, lead_status: &str) -> Result<String, UiError> {
    let (state, member) = member().await?;
    let request = MergeRequest {
        id: lead_id(lead_id_text, "lead")?,
        other_id: lead_id(other_id, "other lead")?,
        lead_status: match lead_status.trim() {
            "" => None,
            s => Some(
                LeadStatus::parse(s).ok_or_else(|| refuse(AppError::Unprocessable(format!("unknown status `{s}`"))))?,
            ),
        },
    };
    let actor = Actor::User { id: member.user_id.clone(), email: member.email.clone() };
    let survivor = leads::merge_by_person(&state.db, &member.workspace, &request, &actor).await.map_err(refuse)?;
    leads::publish_merge(&state, &member.workspace, &survivor, &request);
    Ok(survivor.id.to_string())
}

/// The lead page's list of identities and its merge history.
pub async fn identities_and_merges(
    state: &AppState,
    workspace: &Workspace,
    lead: &LeadRecord,
) -> AppResult<(Vec<IdentityView>, Vec<MergeView>)> {
    let identities = lead
        .identities
        .iter()
        .map(|i| IdentityView { kind: i.kind.to_string(), display: i.display.clone(), primary: i.primary })
        .collect();
    let merges = leads::merges(&state.db, workspace, &lead.id)
        .await?
        .into_iter()
        .map(|m| MergeView {
            merged_id: m.merged_id,
            merged_name: m.merged_name,
            actor: m.actor,
            reason: m.reason,
            at_local: local_display(m.merged_at, &workspace.time_zone),
            at_ms: m.merged_at,
        })
        .collect();
    Ok((identities, merges))
}
