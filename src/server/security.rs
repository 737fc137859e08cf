//! Browser-facing protections applied to every response and request:
//! - cross-site request refusal for cookie-authenticated state changes (CSRF), on top of
//!   SameSite=Lax cookies: a POST/PUT/PATCH/DELETE must come from our own origin, as
//!   the browser attests with `Sec-Fetch-Site` or `Origin`;
//! - security headers (the page's Content-Security-Policy, which needs the per-request
//!   nonce of the hydration script, is set by the app shell; see `app::shell`):
//!   `Cache-Control: no-store` on everything but the static bundle (pages, server
//!   functions and the JSON API carry customer data and secrets, and a shared computer's
//!   back button or a proxy must not keep them), and HSTS when `PUBLIC_URL` is https;
//! - [`SecurityConfig`]: what the environment says about https and proxies (`TRUST_PROXY`).

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use ipnet::IpNet;
use std::net::IpAddr;

/// Security-relevant settings, read from the environment once at start.
#[derive(Clone, Debug)]
pub struct SecurityConfig {
    /// `PUBLIC_URL` starts with `https://`: HSTS is sent and the session cookie is a
    /// `__Host-` cookie (Secure, Path=/, no Domain: no subdomain can set or shadow it).
    pub https: bool,
    pub trust_proxy: TrustProxy,
    /// At most this many argon2 checks run at once (`MAX_PASSWORD_CHECKS`, default 4);
    /// each holds ~19 MiB and a core for a while.
    pub max_password_checks: usize,
}

impl SecurityConfig {
    pub fn from_env() -> Result<SecurityConfig, String> {
        let public_url = std::env::var("PUBLIC_URL").unwrap_or_default();
        let max_password_checks = match std::env::var("MAX_PASSWORD_CHECKS") {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("MAX_PASSWORD_CHECKS must be a positive number (got `{v}`)"))?,
            _ => 4,
        };
        Ok(SecurityConfig {
            https: public_url.trim().to_ascii_lowercase().starts_with("https://"),
            trust_proxy: TrustProxy::parse(&std::env::var("TRUST_PROXY").unwrap_or_default())?,
            max_password_checks,
        })
    }
}

/// Which `X-Forwarded-For` entry names the client (`TRUST_PROXY`).
///
/// Each proxy appends the address it received the request from, so only entries at the
/// right end were written by our proxies; everything to their left was written by the
/// client and may be anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustProxy {
    /// Unset, `0` or `false`: the socket peer is the client; `X-Forwarded-For` is ignored.
    Nobody,
    /// `TRUST_PROXY=<n>` (`true` = 1): n proxies stand in front; the client is the entry
    /// the nearest-to-client of them added, the n-th from the right.
    Hops(usize),
    /// `TRUST_PROXY=10.0.0.0/8,192.168.1.7`: proxies are the peers in these networks; the
    /// client is the right-most entry not in them (read only when the peer is one).
    Networks(Vec<IpNet>),
}

impl TrustProxy {
    pub fn parse(value: &str) -> Result<TrustProxy, String> {
        let value = value.trim();
        if value.is_empty() || value == "0" || value.eq_ignore_ascii_case("false") {
            return Ok(TrustProxy::Nobody);
        }
        if value.eq_ignore_ascii_case("true") {
            return Ok(TrustProxy::Hops(1));
        }
        if let Ok(hops) = value.parse::<usize>() {
            return Ok(TrustProxy::Hops(hops));
        }
        value
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>().or_else(|_| part.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    format!(
                        "TRUST_PROXY must be a number of proxies or a list of networks like 10.0.0.0/8 (got `{part}`)"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustProxy::Networks)
    }

    /// The client's address, from the socket peer and the `X-Forwarded-For` headers.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let forwarded = || -> Vec<Option<IpAddr>> {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .flat_map(|v| v.to_str().unwrap_or("garbage").split(','))
                .map(|entry| entry.trim().parse::<IpAddr>().ok())
                .collect()
        };
        match self {
            TrustProxy::Nobody => peer,
            TrustProxy::Hops(0) => peer,
            TrustProxy::Hops(hops) => {
                let entries = forwarded();
                if entries.is_empty() {
                    return peer;
                }
                // Fewer entries than proxies: all of them were written by our proxies.
                let index = entries.len().saturating_sub(*hops);
                entries[index]
            }
            TrustProxy::Networks(networks) => {
                let trusted = |ip: &IpAddr| networks.iter().any(|net| net.contains(ip));
                let peer = peer?;
                if !trusted(&peer) {
                    return Some(peer);
                }
                let mut client = peer;
                for entry in forwarded().into_iter().rev() {
                    let entry = entry?;
                    client = entry;
                    if !trusted(&entry) {
                        break;
                    }
                }
                Some(client)
            }
        }
    }
}

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

/// The static bundle and files of `public/`, the only responses a cache may keep.
fn cacheable(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg"
}

pub async fn security_headers(
    State(config): State<std::sync::Arc<SecurityConfig>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let cacheable = cacheable(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if config.https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
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

    fn forwarded(value: &'static str) -> HeaderMap {
        headers(&[("x-forwarded-for", value)])
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_client_is_the_entry_our_nearest_proxy_wrote() {
        let peer = ip("10.0.0.2");
        // The client wrote "6.6.6.6"; our one proxy appended the address it saw.
        let spoofed = forwarded("6.6.6.6, 203.0.113.9");
        assert_eq!(TrustProxy::Nobody.client(peer, &spoofed), peer);
        assert_eq!(TrustProxy::parse("1").unwrap().client(peer, &spoofed), ip("203.0.113.9"));
        assert_eq!(TrustProxy::parse("true").unwrap().client(peer, &spoofed), ip("203.0.113.9"));
        assert_eq!(TrustProxy::parse("2").unwrap().client(peer, &spoofed), ip("6.6.6.6"));
        assert_eq!(TrustProxy::Hops(1).client(peer, &HeaderMap::new()), peer);
        let networks = TrustProxy::parse("10.0.0.0/8, 192.168.1.7").unwrap();
        assert_eq!(networks.client(peer, &spoofed), ip("203.0.113.9"));
        assert_eq!(networks.client(peer, &forwarded("6.6.6.6, 203.0.113.9, 192.168.1.7")), ip("203.0.113.9"));
        // A peer outside the proxies' networks is the client, whatever it wrote.
        assert_eq!(networks.client(ip("198.51.100.1"), &spoofed), ip("198.51.100.1"));
        // Garbage where our proxy's entry should be: no address (counted as one bucket).
        assert_eq!(TrustProxy::Hops(1).client(peer, &forwarded("6.6.6.6, nonsense")), None);
        assert!(TrustProxy::parse("10.0.0.0/33").is_err());
        assert!(TrustProxy::parse("yes please").is_err());
        assert_eq!(TrustProxy::parse("").unwrap(), TrustProxy::Nobody);
    }

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
