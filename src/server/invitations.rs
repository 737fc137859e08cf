//! Invitations: how people join a workspace. Nobody chooses or learns another person's
//! password.
//!
//! An owner or admin invites an email with a role (admins cannot invite owners) and
//! gets a one-time link (`/invite?token=…`, only the token's SHA-256 is stored, valid
//! for [`INVITE_LIFETIME`], revocable, listed in Settings while pending). Creating an
//! invitation looks nothing up about the email, so Settings answers the same whether or
//! not it has an account. The person who opens the link either creates their account
//! with their own password, or signs in with the password of the account that email
//! already has; either way they join the workspace the link is for, and only it.
//!
//! Why this closes the pre-claim attack: an account alone opens nothing. Whoever
//! creates an account for someone else's email through their own workspace's invitation
//! gets into that workspace only; another workspace is joined only with *its* link,
//! which its admin hands to the real person.

use crate::model::Role;
use crate::server::{
    accounts,
    clock::now_ms,
    db::{is_unique_violation, Db},
    error::{AppError, AppResult},
    http::AppState,
    ids::{UserId, WorkspaceId},
    secrets,
    sign_in::{self, ClientAddress, Credentials},
};
use axum::{
    extract::{Form, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Router,
};
use serde::Deserialize;
use sqlx::Row;
use std::time::Duration;

pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn router() -> Router<AppState> {
    Router::new().route("/invite/accept", post(accept))
}

#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteStatus {
    Open,
    Accepted,
    Revoked,
    Expired,
}

impl Invitation {
    pub fn status(&self, now: i64) -> InviteStatus {
        if self.accepted_at.is_some() {
            InviteStatus::Accepted
        } else if self.revoked_at.is_some() {
            InviteStatus::Revoked
        } else if self.expires_at <= now {
            InviteStatus::Expired
        } else {
            InviteStatus::Open
        }
    }
}

const SELECT: &str = "SELECT i.id, i.workspace_id, w.name AS workspace_name, i.email, i.role, u.email AS invited_by, \
     i.created_at, i.expires_at, i.accepted_at, i.revoked_at \
     FROM invitations i JOIN workspaces w ON w.id = i.workspace_id LEFT JOIN users u ON u.id = i.invited_by";

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Invitation> {
    Ok(Invitation {
        id: row.try_get("id")?,
        workspace_id: WorkspaceId::from_db(row.try_get("workspace_id")?),
        workspace_name: row.try_get("workspace_name")?,
        email: row.try_get("email")?,
        role: Role::parse(&row.try_get::<String, _>("role")?)
            .ok_or_else(|| AppError::Internal("unknown role in invitations".into()))?,
        invited_by: row.try_get("invited_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        accepted_at: row.try_get("accepted_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// A new invitation and its one-time token (shown once; only its digest is kept). A
/// pending invitation of the same email to the same workspace is replaced.
pub async fn create(
    db: &Db,
    workspace_id: &WorkspaceId,
    email: &str,
    role: Role,
    invited_by: &UserId,
) -> AppResult<(Invitation, String)> {
    let email = accounts::normalize_email(email)?;
    let already_member = sqlx::query(
        "SELECT 1 AS one FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.workspace_id = $1 AND u.email = $2",
    )
    .bind(workspace_id.as_str())
    .bind(&email)
    .fetch_optional(&db.pool)
    .await?;
    if already_member.is_some() {
        return Err(AppError::Conflict {
            message: format!("{email} is already a member of this workspace"),
            existing_id: None,
        });
    }
    let token = secrets::random_hex(32);
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE workspace_id = $2 AND email = $3 \
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(workspace_id.as_str())
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO invitations (id, workspace_id, email, role, token_sha256, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(workspace_id.as_str())
    .bind(&email)
    .bind(role.as_str())
    .bind(secrets::sha256_hex(&token))
    .bind(invited_by.as_str())
    .bind(now)
    .bind(now + INVITE_LIFETIME.as_millis() as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let invitation = sqlx::query(&format!("{SELECT} WHERE i.id = $1")).bind(&id).fetch_one(&db.pool).await?;
    Ok((from_row(&invitation)?, token))
}

/// The workspace's invitations still waiting to be accepted, newest first.
pub async fn pending(db: &Db, workspace_id: &WorkspaceId) -> AppResult<Vec<Invitation>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
         AND i.expires_at > $2 ORDER BY i.created_at DESC LIMIT 200"
    ))
    .bind(workspace_id.as_str())
    .bind(now_ms())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes a pending invitation of this workspace (404 for any other).
pub async fn revoke(db: &Db, workspace_id: &WorkspaceId, id: &str) -> AppResult<Invitation> {
    let revoked = sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND workspace_id = $3 \
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(workspace_id.as_str())
    .execute(&db.pool)
    .await?
    .rows_affected();
    if revoked == 0 {
        return Err(AppError::not_found("invitation"));
    }
    let row = sqlx::query(&format!("{SELECT} WHERE i.id = $1")).bind(id).fetch_one(&db.pool).await?;
    from_row(&row)
}

pub async fn find(db: &Db, id: &str, workspace_id: &WorkspaceId) -> AppResult<Option<Invitation>> {
    let row = sqlx::query(&format!("{SELECT} WHERE i.id = $1 AND i.workspace_id = $2"))
        .bind(id)
        .bind(workspace_id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The invitation a link's token stands for, whatever its status.
pub async fn find_by_token(db: &Db, token: &str) -> AppResult<Option<Invitation>> {
    let token = token.trim();
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row = sqlx::query(&format!("{SELECT} WHERE i.token_sha256 = $1"))
        .bind(secrets::sha256_hex(token))
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Uses up an open invitation for `user_id` and makes them a member, in one
/// transaction; false when the invitation was not open any more (used, revoked,
/// expired, or raced). An existing membership keeps its role.
async fn consume(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    invitation: &Invitation,
    token: &str,
    user_id: &UserId,
) -> AppResult<bool> {
    let now = now_ms();
    let used = sqlx::query(
        "UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE token_sha256 = $3 \
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(user_id.as_str())
    .bind(secrets::sha256_hex(token))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if used != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (workspace_id, user_id) DO NOTHING",
    )
    .bind(invitation.workspace_id.as_str())
    .bind(user_id.as_str())
    .bind(invitation.role.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

// ---- POST /invite/accept (a plain form) ----

#[derive(Deserialize)]
struct AcceptForm {
    token: String,
    /// `create` (a new account) or `sign_in` (the email's existing account).
    mode: String,
    password: String,
    #[serde(default)]
    password_confirm: String,
}

fn back(token: &str, error: &str) -> Response {
    Redirect::to(&format!("/invite?token={}&error={error}", crate::url::encode(token))).into_response()
}

/// Accepts an invitation: creates the invitee's account with their own password, or
/// checks the password of the account the email already has (under the sign-in
/// limits), then signs them in to the invited workspace.
async fn accept(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> AppResult<Response> {
    let token = form.token.trim().to_string();
    if token.len() > 128 {
        return Ok(Redirect::to("/invite?error=closed").into_response());
    }
    let Some(invitation) = find_by_token(&state.db, &token).await? else { return Ok(back(&token, "closed")) };
    if invitation.status(now_ms()) != InviteStatus::Open {
        return Ok(back(&token, "closed"));
    }
    if form.password.len() > sign_in::MAX_PASSWORD_INPUT {
        return Ok(back(&token, "weak"));
    }
    let user_id = match form.mode.as_str() {
        "create" => {
            if form.password != form.password_confirm {
                return Ok(back(&token, "mismatch"));
            }
            if accounts::check_password(&form.password).is_err() {
                return Ok(back(&token, "weak"));
            }
            if accounts::find_user_by_email(&state.db, &invitation.email).await?.is_some() {
                return Ok(back(&token, "exists"));
            }
            let hash = match state.password_gate.hash(&form.password).await {
                Ok(hash) => hash,
                Err(err @ AppError::TooManyRequests(_)) => return Ok(sign_in::busy(err)),
                Err(err) => return Err(err),
            };
            let user_id = UserId::generate();
            let now = now_ms();
            let mut tx = state.db.pool.begin().await?;
            let created = sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(user_id.as_str())
            .bind(&invitation.email)
            .bind(&hash)
            .bind(now)
            .execute(&mut *tx)
            .await;
            match created {
                Ok(_) => {}
                Err(err) if is_unique_violation(&err) => return Ok(back(&token, "exists")),
                Err(err) => return Err(err.into()),
            }
            if !consume(&mut tx, &invitation, &token, &user_id).await? {
                return Ok(back(&token, "closed"));
            }
            tx.commit().await?;
            tracing::info!(workspace = %invitation.workspace_id, user = %user_id, "invitation accepted with a new account");
            user_id
        }
        "sign_in" => {
            let user = match sign_in::check_credentials(&state, &address, &invitation.email, &form.password).await {
                Ok(Credentials::Valid(user)) => user,
                Ok(Credentials::Wrong) => return Ok(back(&token, "wrong")),
                Ok(Credentials::Limited) => return Ok(back(&token, "too_many")),
                Err(err @ AppError::TooManyRequests(_)) => return Ok(sign_in::busy(err)),
                Err(err) => return Err(err),
            };
            let mut tx = state.db.pool.begin().await?;
            if !consume(&mut tx, &invitation, &token, &user.id).await? {
                return Ok(back(&token, "closed"));
            }
            tx.commit().await?;
            tracing::info!(workspace = %invitation.workspace_id, user = %user.id, "invitation accepted by an existing account");
            user.id
        }
        _ => return Ok(back(&token, "closed")),
    };
    sign_in::signed_in_response(&state, &headers, &user_id, &invitation.workspace_id, "/leads").await
}
