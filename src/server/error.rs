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
        }
    }

    pub fn not_found(what: &str) -> AppError {
        AppError::NotFound(format!("{what} not found"))
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> AppError {
        if !crate::server::db::is_unique_violation(&err) {
            crate::server::metrics::database_error(crate::server::db::is_unavailable(&err));
        }
        if crate::server::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            AppError::Unavailable("the database is unavailable; try again shortly".into())
        } else if crate::server::db::is_unique_violation(&err) {
            AppError::Conflict { message: "already exists".into(), existing_id: None }
        } else {
            tracing::error!(error = %err, "database error");
            AppError::Internal("internal error".into())
        }
    }
}

impl From<crate::server::store::StoreError> for AppError {
    fn from(err: crate::server::store::StoreError) -> AppError {
        match err {
            crate::server::store::StoreError::Sqlx(err) => err.into(),
            other if other.is_unavailable() => {
                AppError::Unavailable("the database is unavailable; try again shortly".into())
            }
            other => {
                tracing::error!(error = %other, "database error");
                AppError::Internal("internal error".into())
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        if let AppError::Conflict { existing_id: Some(id), .. } = &self {
            body["existing_id"] = json!(id);
        }
        if let AppError::Merged(survivor) = &self {
            body["merged_into"] = json!(survivor);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, AppError::Unavailable(_)) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
