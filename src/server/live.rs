//! Live updates: after a change commits, the leads it touched are announced to every
//! open page of their workspace over Server-Sent Events (`GET /api/live`).
//!
//! In one process a broadcast channel carries the announcements. With PostgreSQL,
//! where several replicas may serve one workspace, they travel through
//! `NOTIFY leadline_live` instead, so a delivery taken by one replica reaches pages
//! open on every replica.

use crate::server::{
    auth::SignedIn,
    db::{Db, Engine},
    http::AppState,
    webhook::ingest::{DeliveryReport, Outcome},
};
use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
    routing::get,
    Router,
};
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::{convert::Infallible, time::Duration};
use tokio::sync::broadcast;

const CHANNEL: &str = "leadline_live";
/// A stream ends after this long and the browser reconnects, so a session that ended
/// (signed out, removed from the workspace) stops receiving updates.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

/// One lead changed in a way an open Database or Inbox page should show.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeadChanged {
    pub workspace_id: String,
    pub lead_id: String,
    /// The lead did not exist before this change.
    pub created: bool,
}

#[derive(Clone)]
pub struct LiveHub {
    local: broadcast::Sender<LeadChanged>,
    /// PostgreSQL: announcements go through NOTIFY (and come back through the relay).
    postgres: Option<Db>,
}

impl LiveHub {
    /// A hub for this process; with PostgreSQL it also starts the relay that listens
    /// for other replicas' announcements.
    pub async fn start(db: &Db, database_url: Option<&str>) -> LiveHub {
        // Slow subscribers that fall this far behind are told to resynchronise.
        let (local, _) = broadcast::channel(1024);
        let postgres = match (db.engine, database_url) {
            (Engine::Postgres, Some(url)) => match relay_notifications(url, local.clone()).await {
                Ok(()) => Some(db.clone()),
                Err(err) => {
                    tracing::warn!(error = %err, "no live relay; live updates stay within this process");
                    None
                }
            },
            _ => None,
        };
        LiveHub { local, postgres }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LeadChanged> {
        self.local.subscribe()
    }

    pub fn publish(&self, change: LeadChanged) {
        match &self.postgres {
            None => {
                // No subscriber is not an error: nobody has a page open.
                let _ = self.local.send(change);
            }
            Some(db) => {
                let pool = db.pool.clone();
                let payload = serde_json::to_string(&change).unwrap_or_default();
                tokio::spawn(async move {
                    let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&pool).await;
                    if let Err(err) = sent {
                        tracing::warn!(error = %err, "live update not announced");
                    }
                });
            }
        }
    }

    /// Announces every lead a committed delivery created or changed.
    pub fn publish_delivery(&self, report: &DeliveryReport) {
        for item in &report.results {
            if !matches!(item.outcome, Outcome::Created | Outcome::Updated) {
                continue;
            }
            if let (Some(workspace_id), Some(lead_id)) = (&item.workspace_id, &item.lead_id) {
                self.publish(LeadChanged {
                    workspace_id: workspace_id.to_string(),
                    lead_id: lead_id.clone(),
                    created: item.lead_created,
                });
            }
        }
    }
}

/// Listens for every replica's announcements (`NOTIFY leadline_live`) and passes them
/// to this process's subscribers. The listener reconnects by itself after a failure.
async fn relay_notifications(url: &str, relay: broadcast::Sender<LeadChanged>) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(notification) => {
                    if let Ok(change) = serde_json::from_str::<LeadChanged>(notification.payload()) {
                        let _ = relay.send(change);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "live relay lost its connection; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/live", get(stream))
}

/// `GET /api/live`: the signed-in member's workspace's changes, as `lead` events
/// (`{"lead_id": …, "created": …}`), or `resync` when this stream fell behind.
async fn stream(
    State(state): State<AppState>,
    SignedIn(member): SignedIn,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let workspace_id = member.workspace.id.to_string();
    let receiver = state.live.subscribe();
    let ends_at = tokio::time::Instant::now() + STREAM_LIFETIME;
    let events = futures::stream::unfold((receiver, workspace_id), move |(mut receiver, workspace_id)| async move {
        loop {
            let next = tokio::time::timeout_at(ends_at, receiver.recv()).await;
            let event = match next {
                Err(_) => return None,
                Ok(Ok(change)) if change.workspace_id == workspace_id => Event::default()
                    .event("lead")
                    .data(serde_json::json!({ "lead_id": change.lead_id, "created": change.created }).to_string()),
                Ok(Ok(_)) => continue,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => Event::default().event("resync").data("{}"),
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            };
            return Some((Ok(event), (receiver, workspace_id)));
        }
    });
    Sse::new(crate::server::metrics::counted_stream(events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
