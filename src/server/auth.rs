//! Who is asking.
//!
//! - The JSON API: a workspace's bearer token ([`ApiWorkspace`]).
//! - The browser: a session cookie ([`Member`]). Sessions live in the database (every
//!   replica sees them), the cookie holds a random token whose SHA-256 is the key, and a
//!   session ends when idle for [`IDLE_TIMEOUT`] or [`ABSOLUTE_TIMEOUT`] after sign-in.
//!   Signing in always makes a new session (a planted cookie is never promoted).
//! - The webhook: its signature only (see `webhook/`).
//!
//! Every path that ends someone's sessions (sign-out, sign out everywhere, a password
//! change or reset, removal from a workspace) goes through [`end_sessions`], so whatever
//! else must stop with a session (live streams) has one place to hook into.

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
    extract::{Form, FromRequestParts, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Router,
};
use serde::Deserialize;
use sqlx::Row;
use std::{sync::Arc, time::Duration};

pub const SESSION_COOKIE: &str = "leadline_session";
/// The cookie's name when `PUBLIC_URL` is https: browsers only accept a `__Host-` cookie
/// that is Secure, for Path=/ and without a Domain, so no subdomain can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-leadline_session";
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3 * 24 * 3600);
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);
/// `last_seen_at` is refreshed at most this often, not on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/logout", post(sign_out))
        .route("/logout/everywhere", post(sign_out_everywhere))
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

pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
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
    let Some(token) = session_token(state, headers) else {
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

/// The session token the browser presented, under this deployment's cookie name.
pub fn session_token<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    cookie_value(headers, cookie_name(state)).filter(|t| !t.is_empty())
}

/// Which of a person's sessions [`end_sessions`] ends.
#[derive(Clone, Copy)]
pub enum EndSessions<'a> {
    /// The one this browser holds (sign-out); its token.
    This(&'a str),
    /// Every session but this browser's (a password change keeps you signed in here).
    AllBut(&'a str),
    /// Every session of the person (sign out everywhere, a password reset).
    All,
    /// The sessions working in one workspace (removal from it).
    InWorkspace(&'a WorkspaceId),
}

/// Ends sessions of `user_id`: the one place every "sign this person out" path goes
/// through (hook here anything that must stop with a session, like live streams).
/// Returns how many sessions ended.
pub async fn end_sessions(state: &AppState, user_id: &UserId, which: EndSessions<'_>) -> AppResult<u64> {
    let (sql, other, label) = match which {
        EndSessions::This(token) => {
            ("DELETE FROM sessions WHERE user_id = $1 AND token_sha256 = $2", secrets::sha256_hex(token), "this")
        }
        EndSessions::AllBut(token) => (
            "DELETE FROM sessions WHERE user_id = $1 AND token_sha256 <> $2",
            secrets::sha256_hex(token),
            "all but this",
        ),
        EndSessions::All => ("DELETE FROM sessions WHERE user_id = $1 AND $2 = ''", String::new(), "all"),
        EndSessions::InWorkspace(workspace) => {
            ("DELETE FROM sessions WHERE user_id = $1 AND workspace_id = $2", workspace.to_string(), "workspace")
        }
    };
    let ended = sqlx::query(sql).bind(user_id.as_str()).bind(other).execute(&state.db.pool).await?.rows_affected();
    // Their live streams end too, on every replica (pages still signed in reconnect).
    match which {
        EndSessions::This(token) => state.live.end_streams_for_session(&secrets::sha256_hex(token)),
        EndSessions::AllBut(_) | EndSessions::All => state.live.end_streams_for_user(user_id),
        EndSessions::InWorkspace(workspace) => state.live.end_streams_for_member(workspace, user_id),
    }
    tracing::info!(user = %user_id, which = label, ended, "sessions ended");
    Ok(ended)
}

/// Ends the session this browser presents, if any (whoever it belongs to).
pub async fn end_this_session(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    let Some(token) = session_token(state, headers) else { return Ok(()) };
    let owner = sqlx::query("SELECT user_id FROM sessions WHERE token_sha256 = $1")
        .bind(secrets::sha256_hex(token))
        .fetch_optional(&state.db.pool)
        .await?;
    if let Some(row) = owner {
        let user_id = UserId::from_db(row.try_get("user_id")?);
        end_sessions(state, &user_id, EndSessions::This(token)).await?;
    }
    Ok(())
}

/// Whether the browser reached us over https (directly or through a proxy that says so).
pub fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    let forwarded =
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"));
    forwarded || state.security.https
}

/// The session cookie's name: `__Host-` prefixed when `PUBLIC_URL` is https.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.security.https {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// `Set-Cookie` for a session token: HttpOnly, SameSite=Lax, Secure over https.
pub fn session_cookie(state: &AppState, token: &str, headers: &HeaderMap) -> HeaderValue {
    let secure = if is_https(state, headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie_name(state),
        ABSOLUTE_TIMEOUT.as_secs()
    ))
    .expect("hex tokens are valid header values")
}

pub fn clear_session_cookie(state: &AppState, headers: &HeaderMap) -> HeaderValue {
    let secure = if is_https(state, headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", cookie_name(state)))
        .expect("valid header value")
}

/// A local path to continue to after signing in; anything else becomes the Database view.
///
/// Accepted: a path that resolves against our own origin to our own origin, made only of
/// visible ASCII (no control characters, whitespace or backslashes, not even
/// percent-encoded ones in the path: browsers drop tabs and newlines and read `\\` as `/`, so
/// `/\t/evil.example` would become `//evil.example`), not starting with `//`, and not the
/// sign-in page itself. The path is returned re-serialised by the URL parser.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(local_path).unwrap_or_else(|| "/leads".to_string())
}

fn local_path(next: &str) -> Option<String> {
    const ORIGIN: &str = "http://leadline.invalid";
    let forbidden = |c: char| c.is_control() || c.is_whitespace() || c == '\\' || !c.is_ascii();
    if next.len() > 2048 || !next.starts_with('/') || next.starts_with("//") || next.chars().any(forbidden) {
        return None;
    }
    // Encoded variants (`/%09/evil.example`, `/%5C…`, `/%2F/…`) in the path too; the
    // query may hold encoded spaces (a search for "budi s").
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    if decoded.chars().any(forbidden) || decoded.starts_with("//") {
        return None;
    }
    let base = url::Url::parse(ORIGIN).ok()?;
    let resolved = base.join(next).ok()?;
    if resolved.origin() != base.origin() || resolved.path().starts_with("//") {
        return None;
    }
    let path = &resolved[url::Position::BeforePath..url::Position::AfterQuery];
    (!path.starts_with("/login")).then(|| path.to_string())
}

/// `POST /logout`.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    end_this_session(&state, &headers).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, clear_session_cookie(&state, &headers));
    Ok(response)
}

/// `POST /logout/everywhere`: ends every session of the signed-in person, on every
/// device, this one included.
async fn sign_out_everywhere(
    State(state): State<AppState>,
    SignedIn(member): SignedIn,
    headers: HeaderMap,
) -> AppResult<Response> {
    end_sessions(&state, &member.user_id, EndSessions::All).await?;
    let mut response = Redirect::to("/login?notice=signed_out_everywhere").into_response();
    response.headers_mut().insert(header::SET_COOKIE, clear_session_cookie(&state, &headers));
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
    let token = session_token(&state, &headers).unwrap_or_default();
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
        assert_eq!(safe_next(Some("/leads?q=budi%20s&status=hot")), "/leads?q=budi%20s&status=hot");
        for hostile in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "/login",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%5c/evil.example",
            "/%2F/evil.example",
            "/\n/evil.example",
            "/leads\r\nSet-Cookie: x=1",
            "/ /evil.example",
            "/%E2%80%A8x",
            "/\u{a0}/evil.example",
            "",
            "leads",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/leads", "{hostile:?}");
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
