//! Delivery signatures: HMAC-SHA256 of the raw request body with the workspace's
//! webhook secret, compared in constant time (`Mac::verify_slice`).
//!
//! Kapso sends `X-Webhook-Signature: <hex>`; Meta-format deliveries carry
//! `X-Hub-Signature-256: sha256=<hex>`. Either one verifying is enough.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const KAPSO_HEADER: &str = "x-webhook-signature";
pub const META_HEADER: &str = "x-hub-signature-256";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// No signature header at all.
    Missing,
    /// A signature was sent and it does not match (or is not hex).
    Invalid,
}

pub fn check(secret: &str, body: &[u8], headers: &HeaderMap) -> Verdict {
    let presented: Vec<&str> = [KAPSO_HEADER, META_HEADER]
        .iter()
        .filter_map(|name| headers.get(*name))
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect();
    if presented.is_empty() {
        return Verdict::Missing;
    }
    let matches = presented.iter().any(|value| {
        let hex_digest = value.strip_prefix("sha256=").unwrap_or(value);
        let Ok(expected) = hex::decode(hex_digest) else { return false };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    });
    if matches {
        Verdict::Valid
    } else {
        Verdict::Invalid
    }
}

/// The hex signature Kapso would send for `body`; used by tests, the benchmark and
/// `leadline deliveries replay`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn both_header_styles_verify() {
        let body = br#"{"a":1}"#;
        let sig = sign("s3cret", body);
        assert_eq!(check("s3cret", body, &headers(KAPSO_HEADER, &sig)), Verdict::Valid);
        assert_eq!(check("s3cret", body, &headers(META_HEADER, &format!("sha256={sig}"))), Verdict::Valid);
        assert_eq!(check("s3cret", body, &headers(KAPSO_HEADER, &sig.to_uppercase())), Verdict::Valid);
    }

    #[test]
    fn anything_else_is_refused() {
        let body = br#"{"a":1}"#;
        let sig = sign("s3cret", body);
        assert_eq!(check("other", body, &headers(KAPSO_HEADER, &sig)), Verdict::Invalid);
        assert_eq!(check("s3cret", br#"{"a":2}"#, &headers(KAPSO_HEADER, &sig)), Verdict::Invalid);
        assert_eq!(check("s3cret", body, &headers(KAPSO_HEADER, "zz")), Verdict::Invalid);
        assert_eq!(check("s3cret", body, &headers(KAPSO_HEADER, &sig[..10])), Verdict::Invalid);
        assert_eq!(check("s3cret", body, &HeaderMap::new()), Verdict::Missing);
    }
}
