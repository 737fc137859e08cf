//! The crate's one error type for HTTP: every handler returns `Result<_, AppError>`, and
//! every refusal becomes a JSON body `{"error": "<code>", "message": "<why>"}` with the
//! status that names the problem.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed: bad JSON, wrong shape, bad query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (signature, bearer token).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing in the caller's workspace (also what another workspace's ids answer).
    #[error("{0}")]
    NotFound(String),
    /// The thing already exists; `existing_id` says which one.
    #[error("{message}")]
    Conflict { message: String, existing_id: Option<String> },
    /// Well-formed but refused: an invalid phone number, a name too long.
    #[error("{0}")]
    Unprocessable(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A webhook delivery holding more items than one delivery may (413).
    #[error("{0}")]
    TooManyItems(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The database is unreachable or overloaded: try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The lead was merged into another one, which answers for it from now on.
    #[error("this lead was merged into {0}")]
    Merged(String),
    #[error("{0}")]
    Internal(String),
    /// A database error, kept whole for the log. What the client is told comes from what
    /// it is (`public_message`): unreachable or busy → 503, a unique constraint → 409
    /// naming what already exists, anything else → 500 "internal error". Logged once,
    /// where the answer is made (`into_response`, `web::refuse`).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The same for the ingest's own statements (rusqlite, or an unexpected result).
    #[error("database error: {0}")]
    Store(crate::server::store::StoreError),
}

/// What a unique constraint's violation means to the person who caused it, by the
/// constraint's name (PostgreSQL) or the columns SQLite names in its message.
fn conflict_message(err: &sqlx::Error) -> &'static str {
    let sqlx::Error::Database(db) = err else { return "already exists" };
    let named = db.constraint().unwrap_or_default();
    let message = db.message();
    let is = |constraint: &str, sqlite_columns: &str| named == constraint || message.contains(sqlite_columns);
    if is("leads_one_per_phone", "leads.workspace_id, leads.phone_normalized") {
        "a lead with this phone number already exists"
    } else if is("lead_identities_once", "lead_identities.workspace_id, lead_identities.kind") {
        "this phone number or WhatsApp user id already belongs to another lead"
    } else if is("users_email_key", "users.email") {
        "an account with this email already exists"
    } else if is("workspaces_phone_number_id_key", "workspaces.phone_number_id") {
        "this WhatsApp phone number id already belongs to a workspace"
    } else {
        "already exists"
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PayloadTooLarge(_) | AppError::TooManyItems(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Merged(_) => StatusCode::GONE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Database(err) if crate::server::db::is_unavailable(err) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Database(err) if crate::server::db::is_unique_violation(err) => StatusCode::CONFLICT,
            AppError::Store(err) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Database(_) | AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict { .. } => "conflict",
            AppError::Unprocessable(_) => "unprocessable",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::TooManyItems(_) => "too_many_items",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::TooManyRequests(_) => "too_many_requests",
            AppError::Unavailable(_) => "unavailable",
            AppError::Merged(_) => "merged",
            AppError::Internal(_) => "internal",
            AppError::Database(_) | AppError::Store(_) => match self.status() {
                StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                StatusCode::CONFLICT => "conflict",
                _ => "internal",
            },
        }
    }

    /// What the client is told: the message, except that a database error never shows
    /// its statement or driver text.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Database(err) if crate::server::db::is_unique_violation(err) => conflict_message(err).into(),
            AppError::Database(_) | AppError::Store(_) => match self.status() {
                StatusCode::SERVICE_UNAVAILABLE => "the database is unavailable; try again shortly".into(),
                _ => "internal error".into(),
            },
            other => other.to_string(),
        }
    }

    /// Logs a database error with its cause (and counts it), once, where the answer is
    /// made. Other errors are the client's and are not logged here.
    pub fn log(&self) {
        let (unavailable, unique) = match self {
            AppError::Database(err) => {
                (crate::server::db::is_unavailable(err), crate::server::db::is_unique_violation(err))
            }
            AppError::Store(err) => (err.is_unavailable(), false),
            _ => return,
        };
        if unique {
            tracing::debug!(error = %self, "unique constraint refused a write");
            return;
        }
        crate::server::metrics::database_error(unavailable);
        if unavailable {
            tracing::warn!(error = %self, "database unavailable");
        } else {
            tracing::error!(error = %self, "database error");
        }
    }

    pub fn not_found(what: &str) -> AppError {
        AppError::NotFound(format!("{what} not found"))
    }
}

impl From<crate::server::store::StoreError> for AppError {
    fn from(err: crate::server::store::StoreError) -> AppError {
        match err {
            crate::server::store::StoreError::Sqlx(err) => AppError::Database(err),
            other => AppError::Store(other),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let mut body = json!({ "error": self.code(), "message": self.public_message() });
        if let AppError::Conflict { existing_id: Some(id), .. } = &self {
            body["existing_id"] = json!(id);
        }
        if let AppError::Merged(survivor) = &self {
            body["merged_into"] = json!(survivor);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
