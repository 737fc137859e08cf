//! Who is asking.
//!
//! - The JSON API: a workspace's bearer token ([`ApiWorkspace`]).
//! - The browser: a session cookie ([`Member`]). Sessions live in the database (every
//!   replica sees them), the cookie holds a random token whose SHA-256 is the key, and a
//!   session ends when idle for [`IDLE_TIMEOUT`] or [`ABSOLUTE_TIMEOUT`] after sign-in.
//!   Signing in always makes a new session (a planted cookie is never promoted).
//! - The webhook: its signature only (see `webhook/`).

use crate::model::Role;
use crate::server::{
    accounts,
    clock::now_ms,
    error::{AppError, AppResult},
    http::AppState,
    ids::{UserId, WorkspaceId},
    secrets,
    workspaces::{self, Workspace},
};
use axum::{
    extract::{ConnectInfo, Form, FromRequestParts, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Router,
};
use serde::Deserialize;
use sqlx::Row;
use std::{net::SocketAddr, sync::Arc, time::Duration};

pub const SESSION_COOKIE: &str = "leadline_session";
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3 * 24 * 3600);
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);
/// `last_seen_at` is refreshed at most this often, not on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Sign-in failures allowed per account and per client address in [`FAILURE_WINDOW`].
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(sign_in))
        .route("/logout", post(sign_out))
        .route("/workspace", post(switch_workspace))
}

// ---- The JSON API's bearer token ----

/// The workspace whose API token the request carries (`Authorization: Bearer …`).
pub struct ApiWorkspace(pub Arc<Workspace>);

impl FromRequestParts<AppState> for ApiWorkspace {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AppError::Unauthorized("send the workspace API token as `Authorization: Bearer <token>`".into())
            })?;
        let workspace = workspaces::find_by_api_token(&state.db, token)
            .await?
            .ok_or_else(|| AppError::Unauthorized("unknown API token".into()))?;
        Ok(ApiWorkspace(Arc::new(workspace)))
    }
}

// ---- Sessions ----

/// A signed-in person working in one workspace.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub workspace: Arc<Workspace>,
}

impl Member {
    pub fn require(&self, allowed: bool, what: &str) -> AppResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("your role ({}) may not {what}", self.role)))
        }
    }
}

fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The member a request's session cookie belongs to, if the session is live and its
/// workspace membership still exists.
pub async fn member_from_headers(state: &AppState, headers: &HeaderMap) -> AppResult<Option<Member>> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let digest = secrets::sha256_hex(token);
    let row = sqlx::query(
        "SELECT s.user_id, s.workspace_id, s.last_seen_at, s.expires_at, u.email, m.role \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         JOIN memberships m ON m.user_id = s.user_id AND m.workspace_id = s.workspace_id \
         WHERE s.token_sha256 = $1",
    )
    .bind(&digest)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = now_ms();
    let last_seen: i64 = row.try_get("last_seen_at")?;
    let expires: i64 = row.try_get("expires_at")?;
    if expires <= now || last_seen + IDLE_TIMEOUT.as_millis() as i64 <= now {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(&digest).execute(&state.db.pool).await?;
        return Ok(None);
    }
    if now - last_seen > TOUCH_EVERY_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_sha256 = $2")
            .bind(now)
            .bind(&digest)
            .execute(&state.db.pool)
            .await?;
    }
    let workspace_id = WorkspaceId::from_db(row.try_get("workspace_id")?);
    let Some(workspace) = workspaces::find(&state.db, &workspace_id).await? else { return Ok(None) };
    let Some(role) = Role::parse(&row.try_get::<String, _>("role")?) else { return Ok(None) };
    Ok(Some(Member {
        user_id: UserId::from_db(row.try_get("user_id")?),
        email: row.try_get("email")?,
        role,
        workspace: Arc::new(workspace),
    }))
}

/// Axum extractor for routes that need a signed-in member (401 otherwise).
pub struct SignedIn(pub Member);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        member_from_headers(state, &parts.headers)
            .await?
            .map(SignedIn)
            .ok_or_else(|| AppError::Unauthorized("sign in first".into()))
    }
}

/// Starts a session: a new random token, never one the browser presented.
pub async fn start_session(state: &AppState, user_id: &UserId, workspace_id: &WorkspaceId) -> AppResult<String> {
    let token = secrets::random_hex(32);
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (token_sha256, user_id, workspace_id, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(secrets::sha256_hex(&token))
    .bind(user_id.as_str())
    .bind(workspace_id.as_str())
    .bind(now)
    .bind(now + ABSOLUTE_TIMEOUT.as_millis() as i64)
    .execute(&state.db.pool)
    .await?;
    // Housekeeping: expired sessions of anyone.
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now - IDLE_TIMEOUT.as_millis() as i64)
        .execute(&state.db.pool)
        .await?;
    Ok(token)
}

async fn end_session(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    if let Some(token) = cookie_value(headers, SESSION_COOKIE) {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
            .bind(secrets::sha256_hex(token))
            .execute(&state.db.pool)
            .await?;
    }
    Ok(())
}

/// Whether the browser reached us over https (directly or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    let forwarded =
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"));
    forwarded || crate::server::config::public_base_url().starts_with("https://")
}

/// `Set-Cookie` for a session token: HttpOnly, SameSite=Lax, Secure over https.
pub fn session_cookie(token: &str, headers: &HeaderMap) -> HeaderValue {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        ABSOLUTE_TIMEOUT.as_secs()
    ))
    .expect("hex tokens are valid header values")
}

pub fn clear_session_cookie(headers: &HeaderMap) -> HeaderValue {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"))
        .expect("valid header value")
}

/// A local path to continue to after signing in; anything else (other sites,
/// `//host`, schemes) becomes the Database view.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/login") =>
        {
            path.to_string()
        }
        _ => "/leads".to_string(),
    }
}

/// The client's address: the socket peer, or with `TRUST_PROXY=1` the first
/// `X-Forwarded-For` entry.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let trust_proxy = std::env::var("TRUST_PROXY").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(ClientAddress(match (trust_proxy, forwarded, peer) {
            (true, Some(forwarded), _) => forwarded,
            (_, _, Some(peer)) => peer,
            _ => "unknown".to_string(),
        }))
    }
}

async fn recent_failures(state: &AppState, subject: &str) -> AppResult<i64> {
    let since = now_ms() - FAILURE_WINDOW.as_millis() as i64;
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM sign_in_failures WHERE subject = $1 AND failed_at > $2")
        .bind(subject)
        .bind(since)
        .fetch_one(&state.db.pool)
        .await?
        .try_get("n")?)
}

async fn record_failure(state: &AppState, subjects: &[&str]) -> AppResult<()> {
    crate::server::metrics::sign_in_failed();
    let now = now_ms();
    for subject in subjects {
        sqlx::query("INSERT INTO sign_in_failures (subject, failed_at) VALUES ($1, $2)")
            .bind(*subject)
            .bind(now)
            .execute(&state.db.pool)
            .await?;
    }
    sqlx::query("DELETE FROM sign_in_failures WHERE failed_at < $1")
        .bind(now - 24 * 3600 * 1000)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// Where the sign-in page is, with a reason to show and what was typed.
fn back_to_sign_in(error: &str, email: &str, next: Option<&str>) -> Response {
    let mut url = format!("/login?error={error}&email={}", urlencode(email));
    if let Some(next) = next {
        url.push_str(&format!("&next={}", urlencode(next)));
    }
    Redirect::to(&url).into_response()
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /login` (a plain form, works without JavaScript). Every refusal says the
/// same thing, whether or not the account exists.
async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> AppResult<Response> {
    let email = form.email.trim().to_lowercase();
    let next = form.next.as_deref().filter(|n| !n.is_empty());
    let by_account = format!("account:{email}");
    let by_address = format!("address:{address}");
    if recent_failures(&state, &by_account).await? >= MAX_FAILURES_PER_ACCOUNT
        || recent_failures(&state, &by_address).await? >= MAX_FAILURES_PER_ADDRESS
    {
        tracing::warn!(address = %address, "sign-in rate limited");
        return Ok(back_to_sign_in("too_many", &email, next));
    }
    let user = accounts::find_user_by_email(&state.db, &email).await?;
    let verified = accounts::verify_password(user.as_ref().map(|u| u.password_hash.clone()), form.password).await;
    let (Some(user), true) = (user, verified) else {
        record_failure(&state, &[&by_account, &by_address]).await?;
        return Ok(back_to_sign_in("invalid", &email, next));
    };
    let Some((workspace_id, _, _)) = accounts::workspaces_of(&state.db, &user.id).await?.into_iter().next() else {
        return Ok(back_to_sign_in("no_workspace", &email, next));
    };
    sqlx::query("DELETE FROM sign_in_failures WHERE subject = $1").bind(&by_account).execute(&state.db.pool).await?;
    // A session cookie the browser already had (perhaps planted) is ended, not reused.
    end_session(&state, &headers).await?;
    let token = start_session(&state, &user.id, &workspace_id).await?;
    tracing::info!(user = %user.id, "signed in");
    let mut response = Redirect::to(&safe_next(next)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&token, &headers));
    Ok(response)
}

/// `POST /logout`.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    end_session(&state, &headers).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, clear_session_cookie(&headers));
    Ok(response)
}

#[derive(Deserialize)]
struct SwitchForm {
    workspace_id: String,
}

/// `POST /workspace`: work in another of one's workspaces.
async fn switch_workspace(
    State(state): State<AppState>,
    SignedIn(member): SignedIn,
    headers: HeaderMap,
    Form(form): Form<SwitchForm>,
) -> AppResult<Response> {
    let target = WorkspaceId::parse(&form.workspace_id).ok_or_else(|| AppError::not_found("workspace"))?;
    if accounts::role_in(&state.db, &target, &member.user_id).await?.is_none() {
        return Err(AppError::not_found("workspace"));
    }
    let token = cookie_value(&headers, SESSION_COOKIE).unwrap_or_default();
    sqlx::query("UPDATE sessions SET workspace_id = $1 WHERE token_sha256 = $2")
        .bind(target.as_str())
        .bind(secrets::sha256_hex(token))
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, "/leads")]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/inbox/abc?x=1")), "/inbox/abc?x=1");
        for hostile in ["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/login"] {
            assert_eq!(safe_next(Some(hostile)), "/leads", "{hostile}");
        }
        assert_eq!(safe_next(None), "/leads");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; leadline_session=abc; b=2"));
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "c"), None);
    }
}
