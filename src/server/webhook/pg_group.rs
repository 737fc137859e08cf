//! PostgreSQL group commit: what the SQLite writer does for one file, done for a shared
//! server.
//!
//! A transaction per delivery costs PostgreSQL a commit each — a WAL flush, and the
//! per-transaction work around it — and that, not the statements, dominated its CPU.
//! So deliveries queue for a few writer tasks; each takes every delivery waiting, writes
//! them in one transaction — a savepoint per delivery, and per item inside it, so one
//! delivery that cannot be written is rolled back alone while the others commit — and
//! answers them all after the single `COMMIT`.
//!
//! Deliveries are given to writers by customer (the first item's phone digits, BSUID or
//! conversation), so one customer's messages are written in order by one writer and two
//! writers of this process never wait on each other's rows. Across replicas they still
//! may: a deadlock or serialization failure aborts the whole group (a savepoint cannot
//! undo the locks earlier deliveries of the group hold), and its deliveries are then
//! written one transaction each, with the usual retries. Lock waits are bounded by
//! `lock_timeout`, so a group never outlives the requests waiting for it by much; a
//! group that cannot commit answers 503 and Kapso retries (deduplicated on arrival).

use super::{
    commit::{CommitError, Job},
    ingest::{apply_delivery, DeliveryReport, Submission},
    payload::Event,
};
use crate::server::{
    db::Db,
    store::{PgExec, StoreError},
};
use std::hash::{Hash, Hasher};
use tokio::sync::mpsc;

/// Writer tasks per process (`PG_WRITERS` overrides; see README for the measurements).
pub const WRITERS: usize = 4;
/// Most savepoints one group transaction opens (one per delivery, one per item).
/// PostgreSQL caches 64 subtransactions per backend; past that, every snapshot other
/// sessions take must look subtransactions up on disk (a known cliff), so a group stays
/// under it. A delivery with more items than that still goes, alone.
const MAX_SAVEPOINTS: usize = 60;
/// Deliveries that may wait per writer before requests wait to enqueue.
const QUEUE_DEPTH: usize = 4096;
/// A group waits at most this long for a row or table lock another session holds
/// (then answers 503; requests give up at 8 s).
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '5s'";

/// The writers' queues; a delivery goes to the one its customer belongs to.
#[derive(Clone)]
pub struct Writers(Vec<mpsc::Sender<Job>>);

impl Writers {
    pub fn start(db: &Db) -> Result<Writers, StoreError> {
        let writers = writer_count(std::env::var("PG_WRITERS").ok().as_deref()).map_err(StoreError::Shape)?;
        Ok(Writers(
            (0..writers)
                .map(|_| {
                    let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
                    tokio::spawn(group_writer(db.clone(), receiver));
                    sender
                })
                .collect(),
        ))
    }

    pub fn queue_for(&self, submission: &Submission) -> &mpsc::Sender<Job> {
        &self.0[(customer_key(submission) % self.0.len() as u64) as usize]
    }
}

/// `PG_WRITERS`: unset or empty means [`WRITERS`]; otherwise 1 to 64.
fn writer_count(setting: Option<&str>) -> Result<usize, String> {
    match setting.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(WRITERS),
        Some(text) => match text.parse::<usize>() {
            Ok(n @ 1..=64) => Ok(n),
            _ => Err(format!("PG_WRITERS must be a number of writer tasks from 1 to 64, not `{text}`")),
        },
    }
}

/// Which customer a delivery is about, as a hash: the first item's phone (its last nine
/// digits, so `+62 812…` and `0812…` agree), else its BSUID, else its conversation or
/// message id.
fn customer_key(submission: &Submission) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let Some((_, item)) = submission.items.first() else { return 0 };
    let (customer, fallback) = match &item.event {
        Event::Message(m) => (Some(&m.customer), m.kapso_conversation_id.as_deref().unwrap_or(&m.wamid)),
        Event::Status(s) => (Some(&s.recipient), s.wamid.as_str()),
        Event::Conversation(c) => (Some(&c.customer), c.kapso_conversation_id.as_str()),
        Event::Ignored { .. } | Event::ErrorNotice(_) => (None, ""),
    };
    let digits: Vec<u8> = customer
        .and_then(|c| c.phone.as_deref())
        .map(|p| p.bytes().filter(u8::is_ascii_digit).collect())
        .unwrap_or_default();
    if digits.len() >= 6 {
        digits[digits.len().saturating_sub(9)..].hash(&mut hasher);
    } else if let Some(bsuid) = customer.and_then(|c| c.business_scoped_id.as_deref()) {
        bsuid.hash(&mut hasher);
    } else {
        fallback.hash(&mut hasher);
    }
    hasher.finish()
}

fn savepoints_of(job: &Job) -> usize {
    1 + job.submission.items.len()
}

async fn group_writer(db: Db, mut queue: mpsc::Receiver<Job>) {
    let mut group: Vec<Job> = Vec::new();
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let mut savepoints = savepoints_of(&first);
        group.push(first);
        while let Ok(job) = queue.try_recv() {
            savepoints += savepoints_of(&job);
            if savepoints > MAX_SAVEPOINTS {
                next = Some(job);
                break;
            }
            group.push(job);
        }
        // A request that already gave up (503) will be retried by Kapso; skip its work.
        group.retain(|job| !job.reply.is_closed());
        if group.is_empty() {
            continue;
        }
        let started = std::time::Instant::now();
        let outcomes = match super::commit::caught(write_group(&db, &group)).await {
            Ok(outcomes) => outcomes,
            Err(err) if err.is_unavailable() => {
                tracing::warn!(error = %err, deliveries = group.len(), "group not committed; asking for retries");
                group.iter().map(|_| Err(CommitError::Unavailable(err.to_string()))).collect()
            }
            Err(err) => {
                tracing::warn!(error = %err, deliveries = group.len(), "group aborted; writing its deliveries one by one");
                let mut outcomes = Vec::with_capacity(group.len());
                for job in &group {
                    outcomes.push(super::commit::write_alone(&db, &job.submission).await);
                }
                outcomes
            }
        };
        super::commit::answer_group(&mut group, outcomes, started, queue.len());
    }
}

/// Writes the group in one transaction, a savepoint per delivery. `Err` when the group
/// as a whole could not commit (every delivery then needs another try); a delivery that
/// failed on its own is an `Err` inside the list, and the rest still commit.
async fn write_group(db: &Db, group: &[Job]) -> Result<Vec<Result<DeliveryReport, CommitError>>, StoreError> {
    let mut exec = PgExec::grouped(db.pool.acquire().await?);
    exec.run("BEGIN").await?;
    exec.run(LOCK_TIMEOUT).await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        exec.run("SAVEPOINT delivery").await?;
        // Savepoints are never released (see `PgExec::end_scope`): the next one of the
        // same name shadows this one until the group's `COMMIT`.
        match apply_delivery(&mut exec, &job.submission).await {
            Ok(report) => outcomes.push(Ok(report)),
            Err(err) if err.aborts_group() || err.is_unavailable() => {
                let _ = exec.run("ROLLBACK").await;
                return Err(err);
            }
            Err(err) => {
                tracing::error!(error = %err, delivery = %job.submission.delivery_id, "delivery not stored");
                exec.run("ROLLBACK TO SAVEPOINT delivery").await?;
                outcomes.push(Err(CommitError::Failed(err.to_string())));
            }
        }
    }
    exec.run("COMMIT").await?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_writers_is_a_small_positive_number_or_refused() {
        assert_eq!(writer_count(None), Ok(WRITERS));
        assert_eq!(writer_count(Some(" ")), Ok(WRITERS));
        assert_eq!(writer_count(Some("8")), Ok(8));
        for bad in ["0", "65", "-1", "four"] {
            let refused = writer_count(Some(bad)).unwrap_err();
            assert!(refused.contains("PG_WRITERS") && refused.contains(bad), "{refused}");
        }
    }
}
