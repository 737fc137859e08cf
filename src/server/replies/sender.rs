//! The background sender: claims due replies, posts them to Kapso at a bounded rate per
//! workspace, and records each outcome (rules 2 and 3 in `mod.rs`). One per process;
//! on PostgreSQL several replicas' senders share the outbox without sending a reply twice.

use super::{
    kapso::{KapsoClient, SendOutcome},
    store::{self, Claimed, Settled},
    ReplyConfig,
};
use crate::server::{clock::now_ms, db::Db, live::LeadChanged, live::LiveHub};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{sync::Notify, task::JoinSet};

/// Requests in flight at once per process (over all workspaces).
const MAX_IN_FLIGHT: usize = 16;
/// How often interrupted claims are looked for.
const RECOVERY_EVERY: Duration = Duration::from_secs(5);

/// The outbox as the rest of the app sees it: where to wake the sender, the client for
/// template lists, the settings.
#[derive(Clone)]
pub struct Outbox {
    pub config: Arc<ReplyConfig>,
    pub client: KapsoClient,
    wake: Arc<Notify>,
    /// This process's name on its claims.
    id: String,
    pacer: Arc<Pacer>,
}

impl Outbox {
    pub fn new(config: ReplyConfig) -> Outbox {
        Outbox {
            client: KapsoClient::new(&config),
            pacer: Arc::new(Pacer::new(config.rate_per_second)),
            config: Arc::new(config),
            wake: Arc::new(Notify::new()),
            id: format!("{}-{}", std::process::id(), crate::server::secrets::random_hex(6)),
        }
    }

    /// A reply was queued here: send it now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts this process's sender (unless `LEADLINE_SENDER=off`).
    pub fn start(&self, db: Db, live: LiveHub) {
        if !self.config.enabled {
            tracing::info!("reply sender off in this process (LEADLINE_SENDER=off)");
            return;
        }
        let outbox = self.clone();
        tokio::spawn(async move { outbox.run(db, live).await });
    }

    async fn run(self, db: Db, live: LiveHub) {
        let poll = self.config.retry_base.clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut recovered_at: Option<Instant> = None;
        loop {
            if recovered_at.is_none_or(|at| at.elapsed() >= RECOVERY_EVERY) {
                recovered_at = Some(Instant::now());
                let cutoff = now_ms() - self.config.lease().as_millis() as i64;
                match store::recover_interrupted(&db, &self.id, cutoff).await {
                    Ok(touched) => {
                        for (workspace_id, lead_id) in touched {
                            live.publish(LeadChanged { workspace_id, lead_id, created: false });
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "could not look for interrupted replies"),
                }
            }
            let free = MAX_IN_FLIGHT - in_flight.len();
            let mut claimed_all = false;
            if free > 0 {
                match store::claim(&db, &self.id, free as i64).await {
                    Ok(jobs) => {
                        claimed_all = jobs.len() == free;
                        for job in jobs {
                            let (outbox, db, live) = (self.clone(), db.clone(), live.clone());
                            in_flight.spawn(async move { outbox.send_one(&db, &live, job).await });
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "could not claim replies to send"),
                }
            }
            if claimed_all && in_flight.len() < MAX_IN_FLIGHT {
                continue;
            }
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn send_one(&self, db: &Db, live: &LiveHub, job: Claimed) {
        let outcome = match store::credentials(db, &job.workspace_id).await {
            Ok((phone_number_id, Some(key))) => {
                self.pacer.wait(&job.workspace_id).await;
                self.client.send(&phone_number_id, &key, &job.request).await
            }
            Ok((_, None)) => SendOutcome::Refused {
                reason: "no Kapso API key is set for this workspace; an owner can add it in Settings".into(),
                key_refused: false,
            },
            Err(err) => SendOutcome::Transient { reason: format!("database: {err}"), retry_after: None },
        };
        let label = match &outcome {
            SendOutcome::Sent { .. } => "sent",
            SendOutcome::Refused { .. } => "refused",
            SendOutcome::Transient { .. } => "transient",
            SendOutcome::Unclear { .. } => "unclear",
        };
        metrics::counter!("leadline_reply_attempts_total", "outcome" => label).increment(1);
        let gave_up;
        let settled = match &outcome {
            SendOutcome::Sent { wamid } => Settled::Sent { wamid },
            SendOutcome::Refused { reason, key_refused } => Settled::Failed { reason, key_refused: *key_refused },
            SendOutcome::Unclear { reason } => Settled::Unknown { reason },
            SendOutcome::Transient { reason, retry_after } if job.attempts < self.config.max_attempts => {
                let wait = self.config.backoff(job.attempts).max(retry_after.unwrap_or_default());
                Settled::RetryAt { at: now_ms() + wait.as_millis() as i64, reason }
            }
            SendOutcome::Transient { reason, .. } => {
                gave_up = format!("{reason} — gave up after {} attempts", job.attempts);
                Settled::Failed { reason: &gave_up, key_refused: false }
            }
        };
        tracing::info!(message = %job.message_id, attempt = job.attempts, outcome = label, "reply send attempt");
        match store::settle(db, &job, settled).await {
            Ok(Some(lead_id)) => {
                live.publish(LeadChanged { workspace_id: job.workspace_id.clone(), lead_id, created: false })
            }
            Ok(None) => {}
            // The claim stays `sending` and becomes `unknown` when its lease ends: what
            // Kapso did is not on record, so it must not be sent again by itself.
            Err(err) => tracing::error!(message = %job.message_id, error = %err, "could not record a send's outcome"),
        }
    }
}

/// Spaces each workspace's sends `1 / rate` apart (a reservation per send, so concurrent
/// sends of one workspace queue up instead of bursting).
struct Pacer {
    gap: Duration,
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    fn new(rate_per_second: f64) -> Pacer {
        Pacer { gap: Duration::from_secs_f64(1.0 / rate_per_second), next: Mutex::new(HashMap::new()) }
    }

    fn reserve(&self, workspace_id: &str, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if next.len() > 10_000 {
            next.retain(|_, at| *at > now);
        }
        let slot = next.get(workspace_id).copied().filter(|at| *at > now).unwrap_or(now);
        next.insert(workspace_id.to_string(), slot + self.gap);
        slot
    }

    async fn wait(&self, workspace_id: &str) {
        let slot = self.reserve(workspace_id, Instant::now());
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_spaces_one_workspace_and_not_another() {
        let pacer = Pacer::new(10.0);
        let now = Instant::now();
        assert_eq!(pacer.reserve("a", now), now);
        assert_eq!(pacer.reserve("a", now), now + Duration::from_millis(100));
        assert_eq!(pacer.reserve("a", now), now + Duration::from_millis(200));
        assert_eq!(pacer.reserve("b", now), now);
        // After a quiet spell the next send goes at once.
        assert_eq!(pacer.reserve("a", now + Duration::from_secs(5)), now + Duration::from_secs(5));
    }
}
