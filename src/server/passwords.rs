//! A person's own password: changing it (the current one is required, and every other
//! session ends), and the operator's one-time reset link (`leadline user
//! reset-password --email …` prints it; whoever runs the machine hands the link over,
//! never a password). Both are plain forms that work without JavaScript.

use crate::server::{
    accounts,
    auth::{self, EndSessions, SignedIn},
    clock::now_ms,
    db::Db,
    error::{AppError, AppResult},
    http::AppState,
    ids::UserId,
    secrets,
    sign_in::{self, ClientAddress, Credentials},
};
use axum::{
    extract::{Form, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Router,
};
use serde::Deserialize;
use sqlx::Row;
use std::time::Duration;

/// How long an operator's reset link works.
pub const RESET_LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub fn router() -> Router<AppState> {
    Router::new().route("/account/password", post(change_password)).route("/reset-password", post(reset_password))
}

async fn set_password(db: &Db, user_id: &UserId, hash: &str) -> AppResult<()> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now_ms())
        .bind(user_id.as_str())
        .execute(&db.pool)
        .await?;
    Ok(())
}

// ---- Changing one's own password ----

#[derive(Deserialize)]
struct ChangeForm {
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

fn back_to_account(code: &str) -> Response {
    Redirect::to(&format!("/account?error={code}")).into_response()
}

/// `POST /account/password`: the current password (checked under the sign-in limits),
/// then the new one twice. Every other session of the person ends; this one stays.
async fn change_password(
    State(state): State<AppState>,
    SignedIn(member): SignedIn,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<ChangeForm>,
) -> AppResult<Response> {
    if form.new_password != form.new_password_confirm {
        return Ok(back_to_account("mismatch"));
    }
    if form.new_password.len() > sign_in::MAX_PASSWORD_INPUT || accounts::check_password(&form.new_password).is_err() {
        return Ok(back_to_account("weak"));
    }
    match sign_in::check_credentials(&state, &address, &member.email, &form.current_password).await {
        Ok(Credentials::Valid(user)) if user.id == member.user_id => {}
        Ok(Credentials::Limited) => return Ok(back_to_account("too_many")),
        Ok(_) => return Ok(back_to_account("wrong")),
        Err(err @ AppError::TooManyRequests(_)) => return Ok(sign_in::busy(err)),
        Err(err) => return Err(err),
    }
    let hash = match state.password_gate.hash(&form.new_password).await {
        Ok(hash) => hash,
        Err(err @ AppError::TooManyRequests(_)) => return Ok(sign_in::busy(err)),
        Err(err) => return Err(err),
    };
    set_password(&state.db, &member.user_id, &hash).await?;
    let this = auth::session_token(&state, &headers).unwrap_or_default().to_string();
    auth::end_sessions(&state, &member.user_id, EndSessions::AllBut(&this)).await?;
    tracing::info!(user = %member.user_id, "password changed");
    Ok(Redirect::to("/account?done=password").into_response())
}

// ---- The operator's reset link ----

/// A one-time reset token for the account of `email` (only its digest is stored).
/// Earlier unused links of the account stop working.
pub async fn issue_reset(db: &Db, email: &str) -> AppResult<(UserId, String)> {
    let email = accounts::normalize_email(email)?;
    let user = accounts::find_user_by_email(db, &email)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no account has the email {email}")))?;
    let token = secrets::random_hex(32);
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user.id.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO password_resets (token_sha256, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(secrets::sha256_hex(&token))
        .bind(user.id.as_str())
        .bind(now)
        .bind(now + RESET_LIFETIME.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((user.id, token))
}

/// The email of the account an unused, unexpired reset token is for.
pub async fn reset_is_open(db: &Db, token: &str) -> AppResult<Option<String>> {
    let token = token.trim();
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT u.email FROM password_resets r JOIN users u ON u.id = r.user_id \
         WHERE r.token_sha256 = $1 AND r.used_at IS NULL AND r.expires_at > $2",
    )
    .bind(secrets::sha256_hex(token))
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| r.try_get("email")).transpose()?)
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    new_password: String,
    new_password_confirm: String,
}

/// `POST /reset-password`: sets the new password, uses up the link, ends every session
/// of the account (whoever knew the old password is out) and forgets its failed
/// sign-ins.
async fn reset_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    let token = form.token.trim().to_string();
    if token.len() > 128 {
        return Ok(Redirect::to("/reset-password?error=closed").into_response());
    }
    let back = |code: &str| {
        Redirect::to(&format!("/reset-password?token={}&error={code}", crate::url::encode(&token))).into_response()
    };
    if form.new_password != form.new_password_confirm {
        return Ok(back("mismatch"));
    }
    if form.new_password.len() > sign_in::MAX_PASSWORD_INPUT || accounts::check_password(&form.new_password).is_err() {
        return Ok(back("weak"));
    }
    if reset_is_open(&state.db, &token).await?.is_none() {
        return Ok(back("closed"));
    }
    let hash = match state.password_gate.hash(&form.new_password).await {
        Ok(hash) => hash,
        Err(err @ AppError::TooManyRequests(_)) => return Ok(sign_in::busy(err)),
        Err(err) => return Err(err),
    };
    let now = now_ms();
    let used = sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE token_sha256 = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id",
    )
    .bind(now)
    .bind(secrets::sha256_hex(&token))
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = used else { return Ok(back("closed")) };
    let user_id = UserId::from_db(row.try_get("user_id")?);
    set_password(&state.db, &user_id, &hash).await?;
    auth::end_sessions(&state, &user_id, EndSessions::All).await?;
    if let Some(user) = sqlx::query("SELECT email FROM users WHERE id = $1")
        .bind(user_id.as_str())
        .fetch_optional(&state.db.pool)
        .await?
    {
        sign_in::clear_attempts(&state, &sign_in::account_subject(&user.try_get::<String, _>("email")?)).await?;
    }
    tracing::info!(user = %user_id, "password reset with an operator's link");
    let mut response = Redirect::to("/login?notice=password_reset").into_response();
    response.headers_mut().insert(header::SET_COOKIE, auth::clear_session_cookie(&state, &headers));
    Ok(response)
}
