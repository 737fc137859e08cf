//! Who is asking. For the JSON API: a workspace's bearer token.

use crate::server::{error::AppError, http::AppState, workspaces::{self, Workspace}};
use axum::{extract::FromRequestParts, http::request::Parts};
use std::sync::Arc;

/// The workspace whose API token the request carries (`Authorization: Bearer …`).
pub struct ApiWorkspace(pub Arc<Workspace>);

impl FromRequestParts<AppState> for ApiWorkspace {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AppError::Unauthorized("send the workspace API token as `Authorization: Bearer <token>`".into()))?;
        let workspace = workspaces::find_by_api_token(&state.db, token)
            .await?
            .ok_or_else(|| AppError::Unauthorized("unknown API token".into()))?;
        Ok(ApiWorkspace(Arc::new(workspace)))
    }
}
