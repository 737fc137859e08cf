//! How far a running CSV import is, for the page's progress bar
//! (`GET /import/{id}/progress`, Server-Sent Events).
//!
//! The import itself is one transaction in the request that confirmed it (a plain form
//! post, so it works without JavaScript); with JavaScript the page opens this stream as
//! it submits and shows a `<progress>` until the answer replaces the page. The import
//! counts rows into atomics as it goes; the stream reads them five times a second. A
//! stream polls only while its own import is running or about to: it ends with `done`
//! once the import is stored, `failed` when the import ended without being stored (the
//! page that answers says why), and after `MAX_STREAM` whatever happens.

pub use crate::model::{ImportProgress as Snapshot, ImportStage as Stage};
use crate::server::{
    auth::member_from_headers,
    error::{AppError, AppResult},
    http::AppState,
};
use axum::{
    body::{Body, Bytes},
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, AtomicU8, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// How often a stream looks at its import.
const POLL: Duration = Duration::from_millis(200);
/// No progress stream outlives this (an import of the largest file takes seconds).
const MAX_STREAM: Duration = Duration::from_secs(10 * 60);
/// How long a stream waits for its import to start (the form's post is on its way).
const MAX_WAIT_TO_START: Duration = Duration::from_secs(30);

/// One running import's counters.
#[derive(Debug, Default)]
pub struct Progress {
    stage: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// Enters `stage`, with `total` steps to go.
    pub fn stage(&self, stage: Stage, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        let index = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
        self.stage.store(index as u8, Ordering::Release);
    }

    pub fn advance(&self, steps: u64) {
        self.done.fetch_add(steps, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let stage = Stage::ALL.get(self.stage.load(Ordering::Acquire) as usize).copied().unwrap_or(Stage::Saving);
        let total = self.total.load(Ordering::Relaxed);
        Snapshot { stage, done: self.done.load(Ordering::Relaxed).min(total), total }
    }
}

/// The imports running in this process, by upload id.
#[derive(Clone, Default)]
pub struct Running {
    imports: Arc<Mutex<HashMap<String, Arc<Progress>>>>,
}

/// Holds an import's place in `Running`; dropping it (the import ended, however) frees it.
pub struct Registration {
    running: Running,
    id: String,
    pub progress: Arc<Progress>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.running.lock().remove(&self.id);
    }
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Progress>>> {
        self.imports.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers the import of upload `id` (its id is unique: one per upload).
    pub fn start(&self, id: &str) -> Registration {
        let progress = Arc::new(Progress::default());
        self.lock().insert(id.to_string(), progress.clone());
        Registration { running: self.clone(), id: id.to_string(), progress }
    }

    fn get(&self, id: &str) -> Option<Arc<Progress>> {
        self.lock().get(id).cloned()
    }
}

/// Whether upload `id` of the workspace was imported: `None` if there is no such upload.
async fn imported(state: &AppState, workspace_id: &str, id: &str) -> AppResult<Option<bool>> {
    use sqlx::Row;
    let row = sqlx::query("SELECT status FROM csv_imports WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get::<String, _>("status")? == "imported"),
        None => None,
    })
}

fn event(name: &str, data: &impl Serialize) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// `GET /import/{id}/progress`: `progress` events (`{"stage", "done", "total"}`) while
/// the import runs, then `done` or `failed`; `waiting` until it starts.
pub async fn stream(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> AppResult<Response> {
    let member =
        member_from_headers(&state, &headers).await?.ok_or_else(|| AppError::Unauthorized("sign in first".into()))?;
    member.require(member.role.can_manage_members(), "import leads")?;
    let workspace_id = member.workspace.id.to_string();
    if imported(&state, &workspace_id, &id).await?.is_none() {
        return Err(AppError::not_found("import"));
    }
    let started = tokio::time::Instant::now();
    let events = futures::stream::unfold(Some((false, None::<Snapshot>)), move |memory| {
        let (state, workspace_id, id) = (state.clone(), workspace_id.clone(), id.clone());
        async move {
            let (mut seen_running, last) = memory?;
            loop {
                if started.elapsed() > MAX_STREAM {
                    return None;
                }
                if let Some(progress) = state.csv_imports.get(&id) {
                    seen_running = true;
                    let now = progress.snapshot();
                    if last != Some(now) {
                        return Some((event("progress", &now), Some((true, Some(now)))));
                    }
                } else {
                    // Not running here: finished, not started yet, or running on another replica.
                    match imported(&state, &workspace_id, &id).await {
                        Ok(Some(true)) => return Some((event("done", &serde_json::json!({})), None)),
                        Ok(Some(false)) if seen_running => {
                            return Some((event("failed", &serde_json::json!({})), None))
                        }
                        Ok(Some(false)) if started.elapsed() > MAX_WAIT_TO_START => return None,
                        Ok(Some(false)) if last.is_none() && !seen_running => {
                            let waiting = Snapshot { stage: Stage::Matching, done: 0, total: 0 };
                            return Some((event("waiting", &waiting), Some((false, Some(waiting)))));
                        }
                        Ok(Some(false)) => {}
                        Ok(None) | Err(_) => return None,
                    }
                }
                tokio::time::sleep(POLL).await;
            }
        }
    });
    let body =
        futures::StreamExt::chain(futures::stream::once(async { Bytes::from_static(b"retry: 2000\n\n") }), events);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        Body::from_stream(futures::StreamExt::map(body, Ok::<_, std::convert::Infallible>)),
    )
        .into_response())
}
