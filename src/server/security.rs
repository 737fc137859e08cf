//! Browser-facing protections applied to every response and request:
//! - cross-site request refusal for cookie-authenticated state changes (CSRF), on top of
//!   SameSite=Lax cookies: a POST/PUT/PATCH/DELETE must come from our own origin, as
//!   the browser attests with `Sec-Fetch-Site` or `Origin`;
//! - security headers (the page's Content-Security-Policy, which needs the per-request
//!   nonce of the hydration script, is set by the app shell; see `app::shell`).

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};

/// Routes that authenticate with something other than a cookie (a signature, a bearer
/// token) and so cannot be forged by another site.
fn authenticated_without_cookies(path: &str) -> bool {
    path.starts_with("/api/webhook/") || path.starts_with("/api/v1/")
}

/// Whether the browser says the request comes from our own pages.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site.eq_ignore_ascii_case("same-origin");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")).unwrap_or("");
    let public = crate::server::config::public_base_url();
    (!host.is_empty() && origin_host == host) || origin == public
}

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && !authenticated_without_cookies(request.uri().path()) && !same_origin(request.headers()) {
        tracing::warn!(path = %request.uri().path(), "cross-site request refused");
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({
                "error": "forbidden",
                "message": "cross-site request refused: state-changing requests must come from leadline's own pages"
            })),
        )
            .into_response();
    }
    next.run(request).await
}

pub async fn security_headers(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        // Pages set their own policy (with the script nonce); everything else may not
        // run or embed anything.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    response
}

/// The policy for pages: scripts only from us or carrying this response's nonce (the
/// hydration bootstrap), wasm compilation allowed, no framing, forms only to us.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_our_own_pages_may_change_state() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[("origin", "http://crm.example:3000"), ("host", "crm.example:3000")])));
        assert!(!same_origin(&headers(&[("origin", "http://evil.example"), ("host", "crm.example:3000")])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "crm.example:3000")])));
        assert!(!same_origin(&headers(&[("host", "crm.example:3000")])));
    }
}
