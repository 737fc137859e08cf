//! PostgreSQL: several replicas may serve one workspace, so announcements travel through
//! `NOTIFY leadline_live` and every replica's relay (`LISTEN`) hands them to its own
//! streams. One NOTIFY carries a whole coalescing window (all workspaces, split only to
//! stay under PostgreSQL's 8,000-byte payload limit); the relay routes each workspace's
//! part to that workspace's channel, and drops parts no stream here watches.

use super::hub::{coalesce, Inner, Revocation};
use crate::server::db::{Db, Engine};
use serde::{Deserialize, Serialize};
use std::{collections::HashMap, sync::Weak, time::Duration};

const CHANNEL: &str = "leadline_live";
/// PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7_000;

/// What one NOTIFY says.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Notice {
    /// Leads changed: `(workspace id, [(lead id, created)])`, in the order they changed.
    Leads { workspaces: Vec<(String, Vec<(String, bool)>)> },
    /// Streams matching this end.
    End { revocation: Revocation },
}

#[derive(Clone)]
pub(super) struct Relay {
    pool: sqlx::AnyPool,
}

impl Relay {
    pub fn new(db: &Db) -> Relay {
        Relay { pool: db.pool.clone() }
    }

    /// Sends one window's changes, coalesced per workspace, in as few NOTIFYs as fit.
    pub async fn announce_leads(&self, batch: HashMap<String, Vec<(String, bool)>>) {
        for payload in payloads(batch) {
            self.notify(payload).await;
        }
    }

    pub fn announce_end(&self, revocation: Revocation) {
        let relay = self.clone();
        let payload = serde_json::to_string(&Notice::End { revocation }).expect("a notice serializes");
        tokio::spawn(async move { relay.notify(payload).await });
    }

    async fn notify(&self, payload: String) {
        let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&self.pool).await;
        if let Err(err) = sent {
            tracing::warn!(error = %err, "live update not announced");
        }
    }
}

/// The NOTIFY payloads for one window: every workspace's coalesced changes, packed
/// into payloads under [`MAX_PAYLOAD`] bytes.
fn payloads(batch: HashMap<String, Vec<(String, bool)>>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<(String, Vec<(String, bool)>)> = Vec::new();
    let mut size = 0;
    let mut flush = |current: &mut Vec<(String, Vec<(String, bool)>)>, size: &mut usize| {
        if !current.is_empty() {
            let notice = Notice::Leads { workspaces: std::mem::take(current) };
            out.push(serde_json::to_string(&notice).expect("a notice serializes"));
        }
        *size = 0;
    };
    for (workspace_id, changes) in batch {
        let mut leads = Vec::new();
        for event in coalesce(changes) {
            // `["<lead id>",true],` plus the workspace's own entry.
            let cost = event.lead_id.len() + 10;
            if size + cost + workspace_id.len() + 10 > MAX_PAYLOAD {
                if !leads.is_empty() {
                    current.push((workspace_id.clone(), std::mem::take(&mut leads)));
                }
                flush(&mut current, &mut size);
            }
            if leads.is_empty() {
                size += workspace_id.len() + 10;
            }
            size += cost;
            leads.push((event.lead_id, event.created));
        }
        if !leads.is_empty() {
            current.push((workspace_id, leads));
        }
    }
    flush(&mut current, &mut size);
    out
}

/// With PostgreSQL (and its URL), a listener on the live channel; `None` otherwise or
/// when it cannot connect (live updates then stay within this process).
pub(super) async fn listen(db: &Db, database_url: Option<&str>) -> Option<sqlx::postgres::PgListener> {
    let (Engine::Postgres, Some(url)) = (db.engine, database_url) else { return None };
    let listener = async {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match listener.await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, "no live relay; live updates stay within this process");
            None
        }
    }
}

/// Passes every replica's announcements to this process's streams. The listener
/// reconnects by itself; after a reconnection every stream here is told to resync,
/// since announcements may have been missed meanwhile.
pub(super) fn spawn_relay(mut listener: sqlx::postgres::PgListener, hub: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let received = listener.try_recv().await;
            let Some(inner) = hub.upgrade() else { return };
            match received {
                Ok(Some(notification)) => match serde_json::from_str::<Notice>(notification.payload()) {
                    Ok(Notice::Leads { workspaces }) => {
                        for (workspace_id, changes) in workspaces {
                            inner.deliver_local(&workspace_id, changes);
                        }
                    }
                    Ok(Notice::End { revocation }) => inner.end_local(&revocation),
                    Err(err) => tracing::warn!(error = %err, "unreadable live announcement ignored"),
                },
                Ok(None) => {
                    tracing::warn!("live relay reconnected; open pages resynchronise");
                    inner.resync_all();
                }
                Err(err) => {
                    drop(inner);
                    tracing::warn!(error = %err, "live relay lost its connection; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_is_one_notice_unless_it_would_not_fit() {
        let mut batch = HashMap::new();
        batch.insert("w1".to_string(), vec![("a".to_string(), true), ("a".to_string(), false)]);
        batch.insert("w2".to_string(), vec![("b".to_string(), false)]);
        let one = payloads(batch);
        assert_eq!(one.len(), 1);
        let Notice::Leads { mut workspaces } = serde_json::from_str(&one[0]).unwrap() else { panic!() };
        workspaces.sort();
        assert_eq!(
            workspaces,
            vec![("w1".to_string(), vec![("a".to_string(), true)]), ("w2".to_string(), vec![("b".to_string(), false)])]
        );

        let many: Vec<(String, bool)> =
            (0..1_000).map(|i| (format!("0190c0de-0000-7000-8000-{i:012}"), false)).collect();
        let split = payloads(HashMap::from([("w1".to_string(), many)]));
        assert!(split.len() > 1);
        let mut total = 0;
        for payload in &split {
            assert!(payload.len() < 8_000, "{}", payload.len());
            let Notice::Leads { workspaces } = serde_json::from_str(payload).unwrap() else { panic!() };
            total += workspaces.iter().map(|(_, leads)| leads.len()).sum::<usize>();
        }
        assert_eq!(total, 1_000);
    }
}
