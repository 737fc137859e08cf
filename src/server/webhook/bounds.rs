//! Bounds on the work one webhook request can cause before it is authenticated.
//!
//! Parsing is the only step that runs on an unauthenticated body (the signature check
//! needs the workspace, and the workspace is named inside the body). It is linear in
//! the body's size, and bounded:
//! - bodies up to 3 MiB (`MAX_BODY_BYTES`, 413 beyond) and at most
//!   [`MAX_ITEMS_PER_DELIVERY`](super::payload::MAX_ITEMS_PER_DELIVERY) items (413);
//! - a body over [`OFFLOAD_BYTES`] is parsed on the blocking pool, not on an async
//!   worker, so two 3 MiB bodies in flight cannot starve `/healthz` or other requests
//!   on a 2-core machine; at most [`LARGE_PARSES`] such parses run at once and the rest
//!   wait their turn without holding a thread.
//! - route look-ups are cached, misses included (`WorkspaceDirectory`).

use super::payload::{self, Delivery, ParseError};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    LazyLock,
};
use tokio::sync::Semaphore;

/// Bodies larger than this are parsed off the async workers (a 64 KiB body parses in
/// well under a millisecond in a release build; a 3 MiB one takes tens).
pub const OFFLOAD_BYTES: usize = 64 * 1024;
/// Large bodies parsed at the same time (the machine has few cores; more would only
/// queue on the CPU and hold more memory).
pub const LARGE_PARSES: usize = 2;

static LARGE_PARSE_PERMITS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(LARGE_PARSES));
static LARGE_PARSES_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How many large bodies are being parsed right now (observability and tests).
pub fn large_parses_running() -> usize {
    LARGE_PARSES_RUNNING.load(Ordering::SeqCst)
}

/// Parses a delivery; large bodies on the blocking pool, at most [`LARGE_PARSES`] at once.
pub async fn parse(body: axum::body::Bytes, event: Option<String>) -> Result<Delivery, ParseError> {
    if body.len() <= OFFLOAD_BYTES {
        return payload::parse(&body, event.as_deref());
    }
    let _permit = LARGE_PARSE_PERMITS.acquire().await.expect("the semaphore is never closed");
    let parsed = tokio::task::spawn_blocking(move || {
        LARGE_PARSES_RUNNING.fetch_add(1, Ordering::SeqCst);
        let parsed = payload::parse(&body, event.as_deref());
        LARGE_PARSES_RUNNING.fetch_sub(1, Ordering::SeqCst);
        parsed
    })
    .await;
    parsed.unwrap_or_else(|err| {
        // The parser never panics (property-tested); if it ever did, refuse this body only.
        tracing::error!(error = %err, "webhook parser failed");
        Err(ParseError { path: String::new(), problem: "the body could not be read".into(), over_limit: false })
    })
}

/// The phone_number_id a body that could not be parsed seems to be for, looked for
/// where each format puts it (top level, `conversation`, the first batch entry, the
/// first Meta change). Only used to count the refusal in that workspace's health, after
/// its signature checks out. Large bodies are read on the blocking pool, like parsing.
pub async fn route_hint(body: axum::body::Bytes) -> Option<String> {
    fn find(body: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let id = |v: Option<&serde_json::Value>| -> Option<String> {
            match v? {
                serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                serde_json::Value::Number(n) if n.is_u64() => Some(n.to_string()),
                _ => None,
            }
        };
        let single = |v: &serde_json::Value| {
            id(v.get("phone_number_id")).or_else(|| id(v.get("conversation").and_then(|c| c.get("phone_number_id"))))
        };
        single(&value).or_else(|| value.get("data").and_then(|d| d.get(0)).and_then(single)).or_else(|| {
            let change = value.get("entry")?.get(0)?.get("changes")?.get(0)?;
            id(change.get("value")?.get("metadata")?.get("phone_number_id"))
        })
    }
    if body.len() <= OFFLOAD_BYTES {
        return find(&body);
    }
    let _permit = LARGE_PARSE_PERMITS.acquire().await.ok()?;
    tokio::task::spawn_blocking(move || find(&body)).await.ok().flatten()
}
