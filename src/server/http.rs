//! The HTTP application: shared state, the router that assembles every module's routes
//! beside Leptos's pages and server functions, and `serve` with graceful shutdown.

use crate::app::{shell, App};
use crate::server::{
    assets, auth,
    db::Db,
    error::AppError,
    invitations, leads,
    live::{self, LiveHub},
    messages, passwords,
    security::{self, SecurityConfig},
    sign_in::{self, PasswordGate},
    webhook::{self, commit::Committer},
    workspaces::WorkspaceDirectory,
};
use axum::{
    body::Body,
    extract::{FromRef, FromRequest, Request, State},
    http::{header, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use http_body_util::BodyExt;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tower_http::trace::TraceLayer;

/// Everything a handler or server function needs, cloned cheaply per request.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub workspaces: WorkspaceDirectory,
    pub committer: Committer,
    pub live: LiveHub,
    pub leptos_options: LeptosOptions,
    pub revealed: crate::server::web::RevealedOnce,
    /// Refused webhook deliveries, counted for Settings → Webhook health.
    pub webhook_refusals: crate::server::webhook::health::RefusalLog,
    /// Invitation links made by a plain form post, held for the page that follows.
    pub issued_invitations: crate::server::web::RevealedOnce<crate::app::api::IssuedInvitation>,
    /// HSTS, the cookie's name, `TRUST_PROXY` (see `security`).
    pub security: std::sync::Arc<SecurityConfig>,
    /// Bounds and counts argon2 work (see `sign_in`).
    pub password_gate: PasswordGate,
    /// Replies waiting to go out through Kapso, and this process's sender (see `replies`).
    pub outbox: crate::server::replies::sender::Outbox,
    /// CSV imports running in this process, for their progress bars.
    pub csv_imports: crate::server::csv_import_progress::Running,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// `database_url` lets PostgreSQL deployments relay live updates between replicas.
    pub async fn new(
        db: Db,
        leptos_options: LeptosOptions,
        database_url: Option<&str>,
    ) -> Result<AppState, crate::server::store::StoreError> {
        let replies = crate::server::replies::ReplyConfig::from_env().unwrap_or_else(|problem| {
            // `leadline serve` refuses to start on this (see `cli`).
            tracing::error!(%problem, "reply settings ignored");
            crate::server::replies::ReplyConfig::default()
        });
        Self::with_replies(db, leptos_options, database_url, replies).await
    }

    /// The same with the reply sender's settings chosen by the caller (tests point it at
    /// a fake Kapso).
    pub async fn with_replies(
        db: Db,
        mut leptos_options: LeptosOptions,
        database_url: Option<&str>,
        replies: crate::server::replies::ReplyConfig,
    ) -> Result<AppState, crate::server::store::StoreError> {
        let committer = Committer::start(&db).await?;
        let security = SecurityConfig::from_env().unwrap_or_else(|problem| {
            // `leadline serve` refuses to start on this (see `cli`); library users get a warning.
            tracing::error!(%problem, "security settings ignored");
            SecurityConfig { https: false, trust_proxy: security::TrustProxy::Nobody, max_password_checks: 4 }
        });
        crate::server::assets::apply(&mut leptos_options);
        let live = LiveHub::start(&db, database_url).await;
        let outbox = crate::server::replies::sender::Outbox::new(replies);
        outbox.start(db.clone(), live.clone());
        Ok(AppState {
            outbox,
            password_gate: PasswordGate::new(security.max_password_checks),
            security: std::sync::Arc::new(security),
            workspaces: WorkspaceDirectory::new(db.clone()),
            committer,
            live,
            leptos_options,
            revealed: Default::default(),
            webhook_refusals: Default::default(),
            issued_invitations: Default::default(),
            csv_imports: Default::default(),
            db,
        })
    }
}

impl AppState {
    /// The same state with other security settings (tests, embedders).
    pub fn with_security(mut self, security: SecurityConfig) -> AppState {
        self.password_gate = PasswordGate::new(security.max_password_checks);
        self.security = std::sync::Arc::new(security);
        self
    }
}

/// The whole application as one router, so tests can drive it in-process.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .merge(webhook::router())
        .merge(leads::router())
        .merge(messages::router())
        .merge(crate::server::replies::web::router())
        .merge(auth::router())
        .merge(sign_in::router())
        .merge(invitations::router())
        .merge(passwords::router())
        .merge(live::router())
        .merge(assets::router(&state.leptos_options))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::server::metrics::router())
        .merge(crate::server::csv_export::router())
        .merge(crate::server::csv_import_web::router())
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(security::refuse_cross_site))
        .layer(axum::middleware::from_fn_with_state(state.security.clone(), security::security_headers))
        .layer(assets::compression())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
            // The path only: query strings can hold searched phone numbers.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(serde_json::json!({ "status": "ready" }))),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "message": "the database is not reachable" })),
        ),
    }
}

/// A JSON request body, refused with a JSON error naming the problem: 415 for another
/// content type, 413 when too large, 400 for malformed JSON or a wrong shape.
pub struct JsonBody<T>(pub T);

const MAX_JSON_BODY: usize = 1024 * 1024;

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !content_type.starts_with("application/json") {
            return Err(AppError::UnsupportedMediaType("Content-Type must be application/json".into()));
        }
        let body = http_body_util::Limited::new(request.into_body(), MAX_JSON_BODY)
            .collect()
            .await
            .map_err(|_| AppError::PayloadTooLarge(MAX_JSON_BODY))?
            .to_bytes();
        serde_json::from_slice(&body)
            .map(JsonBody)
            .map_err(|err| AppError::BadRequest(format!("invalid JSON body: {err}")))
    }
}

/// Serves until Ctrl-C or SIGTERM, then lets requests in flight finish (so every
/// delivery already being written is committed and answered) before exiting.
pub async fn serve(state: AppState) -> std::io::Result<()> {
    webhook::log::spawn_pruning(state.db.clone());
    let addr = state.leptos_options.site_addr;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    crate::server::metrics::spawn_listener().await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "leadline listening");
    let base = match std::env::var("PUBLIC_URL") {
        Ok(url) if !url.trim().is_empty() => crate::server::config::public_base_url(),
        _ => format!("http://{local}"),
    };
    println!("leadline is serving {base}");
    println!("Kapso webhook URL: {base}{}", crate::server::workspaces::WEBHOOK_PATH);
    if crate::server::accounts::user_count(&state.db).await.unwrap_or(1) == 0 {
        if let Ok(token) = crate::server::accounts::issue_setup_token(&state.db).await {
            println!(
                "First run: nobody has an account yet. Open this one-time link to create your workspace and owner:"
            );
            println!("  {base}/setup?token={token}");
        }
    }
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            term.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
