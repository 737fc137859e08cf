//! Signing in with a password, and the limits that make guessing one slow.
//!
//! - Every attempt is *reserved* before the password is checked: one conditional UPSERT
//!   per subject (the account, the client address) counts it, and refuses once the
//!   window's limit is reached, atomically on both engines (PostgreSQL locks the row of
//!   the conflicting key and re-checks the condition; SQLite runs one writer at a time).
//!   A successful sign-in gives its reservations back. So 60 concurrent guesses for one
//!   account get at most [`MAX_ATTEMPTS_PER_ACCOUNT`] hash checks, not 60.
//! - Every argon2 computation (checks and new hashes) goes through the [`PasswordGate`]:
//!   at most `MAX_PASSWORD_CHECKS` at once; a request that cannot get a slot quickly is
//!   answered 429 instead of queueing ~19 MiB of work each.
//! - Inputs are bounded before anything is stored or hashed: an email of at most 254
//!   bytes, a password of at most [`MAX_PASSWORD_INPUT`] bytes.
//! - The client address is the socket peer, or with `TRUST_PROXY` the entry our own
//!   proxies wrote in `X-Forwarded-For` (see `security::TrustProxy`).

use crate::server::{
    accounts, auth,
    clock::now_ms,
    error::{AppError, AppResult},
    http::AppState,
    secrets,
};
use axum::{
    extract::{ConnectInfo, Form, FromRequestParts, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::post,
    Json, Router,
};
use serde::Deserialize;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::Semaphore;

/// Attempts allowed per account and per client address in [`ATTEMPT_WINDOW`]; a
/// successful sign-in does not count.
pub const MAX_ATTEMPTS_PER_ACCOUNT: i64 = 5;
pub const MAX_ATTEMPTS_PER_ADDRESS: i64 = 20;
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Longer passwords are refused before hashing (new passwords: `accounts::PASSWORD_MAX_CHARS`).
pub const MAX_PASSWORD_INPUT: usize = 1024;
pub const MAX_EMAIL_INPUT: usize = 254;
/// How long a request waits for an argon2 slot before it is answered 429.
const GATE_WAIT: Duration = Duration::from_millis(250);

pub fn router() -> Router<AppState> {
    Router::new().route("/login", post(sign_in))
}

// ---- The argon2 gate ----

/// Bounds the argon2 work running at once, and counts it (the count is what tests of
/// the limits assert on).
#[derive(Clone)]
pub struct PasswordGate {
    slots: Arc<Semaphore>,
    checks: Arc<AtomicU64>,
    running: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
}

impl PasswordGate {
    pub fn new(slots: usize) -> PasswordGate {
        PasswordGate {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            checks: Default::default(),
            running: Default::default(),
            most_at_once: Default::default(),
        }
    }

    /// Password checks done since start.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::SeqCst)
    }

    /// The most argon2 computations that ever ran at once.
    pub fn most_at_once(&self) -> usize {
        self.most_at_once.load(Ordering::SeqCst)
    }

    async fn run<T>(&self, work: impl std::future::Future<Output = T>) -> AppResult<T> {
        let _permit = tokio::time::timeout(GATE_WAIT, self.slots.acquire())
            .await
            .map_err(|_| AppError::TooManyRequests("too many sign-ins at once; try again in a moment".into()))?
            .map_err(|_| AppError::Unavailable("shutting down".into()))?;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        let out = work.await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(out)
    }

    /// Checks a password against a stored hash (`None`: an unknown account, checked
    /// against a dummy hash so timing reveals nothing). 429 when the gate is full.
    pub async fn verify(&self, stored: Option<String>, password: &str) -> AppResult<bool> {
        if password.len() > MAX_PASSWORD_INPUT {
            return Ok(false);
        }
        let password = password.to_string();
        self.run(async {
            self.checks.fetch_add(1, Ordering::SeqCst);
            accounts::verify_password(stored, password).await
        })
        .await
    }

    /// Hashes a new password (after `accounts::check_password`).
    pub async fn hash(&self, password: &str) -> AppResult<String> {
        accounts::check_password(password)?;
        let password = password.to_string();
        self.run(accounts::hash_password(password)).await?
    }
}

// ---- Attempt reservations ----

/// Counts one attempt for `subject` unless its window already holds `max`; false when
/// refused. One statement: concurrent attempts cannot all read a count below the limit.
pub async fn reserve_attempt(state: &AppState, subject: &str, max: i64) -> AppResult<bool> {
    let now = now_ms();
    let window_closed_before = now - ATTEMPT_WINDOW.as_millis() as i64;
    let reserved = sqlx::query(
        "INSERT INTO sign_in_attempts (subject, window_start, attempts) VALUES ($1, $2, 1) \
         ON CONFLICT (subject) DO UPDATE SET \
           attempts = CASE WHEN sign_in_attempts.window_start <= $3 THEN 1 ELSE sign_in_attempts.attempts + 1 END, \
           window_start = CASE WHEN sign_in_attempts.window_start <= $3 THEN $2 ELSE sign_in_attempts.window_start END \
         WHERE sign_in_attempts.window_start <= $3 OR sign_in_attempts.attempts < $4 \
         RETURNING attempts",
    )
    .bind(subject)
    .bind(now)
    .bind(window_closed_before)
    .bind(max)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(reserved.is_some())
}

/// Gives a reservation back (the attempt succeeded, or was never checked).
pub async fn refund_attempt(state: &AppState, subject: &str) -> AppResult<()> {
    sqlx::query("UPDATE sign_in_attempts SET attempts = attempts - 1 WHERE subject = $1 AND attempts > 0")
        .bind(subject)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// Forgets an account's attempts (it signed in, or its password was reset).
pub async fn clear_attempts(state: &AppState, subject: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM sign_in_attempts WHERE subject = $1").bind(subject).execute(&state.db.pool).await?;
    Ok(())
}

/// The rate-limit key of an account: a digest, so typed emails are not stored.
pub fn account_subject(email: &str) -> String {
    format!("account:{}", &secrets::sha256_hex(email)[..32])
}

pub fn address_subject(address: &str) -> String {
    format!("address:{}", &secrets::sha256_hex(address)[..32])
}

/// Reserves an attempt for the account and the address; false when either is at its
/// limit.
pub async fn reserve_both(state: &AppState, account: &str, address: &str) -> AppResult<bool> {
    if !reserve_attempt(state, address, MAX_ATTEMPTS_PER_ADDRESS).await? {
        return Ok(false);
    }
    reserve_attempt(state, account, MAX_ATTEMPTS_PER_ACCOUNT).await
}

/// What a password check under the limits found.
pub enum Credentials {
    Valid(accounts::User),
    /// Wrong password, or no such account (indistinguishable to the caller's caller).
    Wrong,
    /// The account or the address is at its limit; no hash was checked.
    Limited,
}

/// Checks `password` for `email` under both limits. `Err(TooManyRequests)` when the
/// argon2 gate is full (the attempt is then not counted).
pub async fn check_credentials(state: &AppState, address: &str, email: &str, password: &str) -> AppResult<Credentials> {
    let by_account = account_subject(email);
    let by_address = address_subject(address);
    if !reserve_both(state, &by_account, &by_address).await? {
        tracing::warn!("sign-in rate limited");
        return Ok(Credentials::Limited);
    }
    let user = accounts::find_user_by_email(&state.db, email).await?;
    let verified = match state.password_gate.verify(user.as_ref().map(|u| u.password_hash.clone()), password).await {
        Ok(verified) => verified,
        Err(err) => {
            // Never checked: the attempt does not count.
            refund_attempt(state, &by_account).await?;
            refund_attempt(state, &by_address).await?;
            return Err(err);
        }
    };
    match (user, verified) {
        (Some(user), true) => {
            clear_attempts(state, &by_account).await?;
            refund_attempt(state, &by_address).await?;
            Ok(Credentials::Valid(user))
        }
        _ => {
            crate::server::metrics::sign_in_failed();
            sqlx::query("DELETE FROM sign_in_attempts WHERE window_start < $1")
                .bind(now_ms() - 24 * 3600 * 1000)
                .execute(&state.db.pool)
                .await?;
            Ok(Credentials::Wrong)
        }
    }
}

// ---- The client address ----

/// The client's address: the socket peer, or what `TRUST_PROXY` says our proxies saw.
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let client = state.security.trust_proxy.client(peer, &parts.headers);
        Ok(ClientAddress(client.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())))
    }
}

// ---- POST /login ----

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// Where the sign-in page is, with a reason to show and what was typed.
fn back_to_sign_in(error: &str, email: &str, next: Option<&str>) -> Response {
    let mut url = format!("/login?error={error}&email={}", crate::url::encode(email));
    if let Some(next) = next {
        url.push_str(&format!("&next={}", crate::url::encode(next)));
    }
    Redirect::to(&url).into_response()
}

/// 429 with `Retry-After`, for the argon2 gate being full.
pub fn busy(err: AppError) -> Response {
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, Json(serde_json::json!({ "error": err.code(), "message": err.to_string() })))
            .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `POST /login` (a plain form, works without JavaScript). Every refusal says the
/// same thing, whether or not the account exists.
async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> AppResult<Response> {
    let next = form.next.as_deref().filter(|n| !n.is_empty() && n.len() <= 2048);
    if form.email.len() > MAX_EMAIL_INPUT || form.password.len() > MAX_PASSWORD_INPUT {
        return Ok(back_to_sign_in("invalid", "", next));
    }
    let email = form.email.trim().to_lowercase();
    let user = match check_credentials(&state, &address, &email, &form.password).await {
        Ok(Credentials::Valid(user)) => user,
        Ok(Credentials::Wrong) => return Ok(back_to_sign_in("invalid", &email, next)),
        Ok(Credentials::Limited) => return Ok(back_to_sign_in("too_many", &email, next)),
        Err(err @ AppError::TooManyRequests(_)) => return Ok(busy(err)),
        Err(err) => return Err(err),
    };
    let Some((workspace_id, _, _)) = accounts::workspaces_of(&state.db, &user.id).await?.into_iter().next() else {
        return Ok(back_to_sign_in("no_workspace", &email, next));
    };
    signed_in_response(&state, &headers, &user.id, &workspace_id, &auth::safe_next(next)).await
}

/// Ends whatever session the browser presented (perhaps planted: never promoted),
/// starts a new one and sends the browser to `to`.
pub async fn signed_in_response(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &crate::server::ids::UserId,
    workspace_id: &crate::server::ids::WorkspaceId,
    to: &str,
) -> AppResult<Response> {
    auth::end_this_session(state, headers).await?;
    let token = auth::start_session(state, user_id, workspace_id).await?;
    tracing::info!(user = %user_id, "signed in");
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(header::SET_COOKIE, auth::session_cookie(state, &token, headers));
    Ok(response)
}
