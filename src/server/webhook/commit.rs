//! How a delivery is committed before it is acknowledged, per engine.
//!
//! SQLite has one writer at a time and makes a commit durable with an fsync, so one
//! thread owns the write connection and commits *groups*: it takes every delivery
//! waiting in its queue, writes them all in one transaction, commits once (one fsync
//! for the group) and only then answers each waiting request. A delivery that cannot be
//! written does not fail the others (see [`write_group`]); one that cannot be committed
//! answers 503 so Kapso retries. The thread runs statements itself (rusqlite, see
//! `store.rs` for why).
//!
//! PostgreSQL commits groups too, from a few writer tasks (several replicas may share
//! one server): see `pg_group.rs`. A delivery the group could not take is written in a
//! transaction of its own ([`write_alone`]).

use super::{
    ingest::{apply_delivery, DeliveryReport, Submission},
    pg_group::Writers,
};
use crate::server::{
    db::{Db, Engine},
    store::{PgExec, SqliteExec, StoreError},
};
use std::{path::PathBuf, time::Duration};
use tokio::sync::{mpsc, oneshot};

/// Most deliveries one SQLite transaction carries.
const MAX_GROUP: usize = 512;
/// Deliveries that may wait for the SQLite writer before new requests wait to enqueue.
const QUEUE_DEPTH: usize = 8192;
/// A request gives up (503, Kapso retries) if its delivery is not committed by then,
/// comfortably inside Kapso's 10 s.
const COMMIT_DEADLINE: Duration = Duration::from_secs(8);
/// How long the SQLite writer waits for another connection's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("could not store the delivery: {0}")]
    Failed(String),
}

impl From<StoreError> for CommitError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            CommitError::Unavailable(err.to_string())
        } else {
            CommitError::Failed(err.to_string())
        }
    }
}

pub(super) struct Job {
    pub submission: Submission,
    pub reply: oneshot::Sender<Result<DeliveryReport, CommitError>>,
}

#[derive(Clone)]
pub struct Committer(Path);

#[derive(Clone)]
enum Path {
    /// SQLite: deliveries queue for the single writer thread.
    GroupCommit(mpsc::Sender<Job>),
    /// PostgreSQL: deliveries queue for the writer task of their customer.
    PgGroups(Writers),
}

impl Committer {
    pub async fn start(db: &Db) -> Result<Committer, StoreError> {
        match (db.engine, db.sqlite_path()) {
            (Engine::Postgres, _) => Ok(Committer(Path::PgGroups(Writers::start(db)?))),
            (Engine::Sqlite, Some(path)) => {
                let conn = open_writer(&path)?;
                let checkpointer = open_writer(&path)?;
                std::thread::Builder::new()
                    .name("sqlite-checkpoint".into())
                    .spawn(move || checkpoint_loop(checkpointer))
                    .map_err(|e| StoreError::Shape(format!("cannot start the SQLite checkpointer: {e}")))?;
                let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
                std::thread::Builder::new()
                    .name("sqlite-ingest".into())
                    .spawn(move || group_writer(path, conn, receiver))
                    .map_err(|e| StoreError::Shape(format!("cannot start the SQLite writer: {e}")))?;
                Ok(Committer(Path::GroupCommit(sender)))
            }
            (Engine::Sqlite, None) => Err(StoreError::Shape("SQLite needs a database file, not :memory:".into())),
        }
    }

    /// Writes the delivery and returns once it is durably committed.
    pub async fn commit(&self, submission: Submission) -> Result<DeliveryReport, CommitError> {
        let queue = match &self.0 {
            Path::PgGroups(writers) => writers.queue_for(&submission),
            Path::GroupCommit(queue) => queue,
        };
        let (reply, answer) = oneshot::channel();
        let waited = tokio::time::timeout(COMMIT_DEADLINE, async {
            let stopped = || CommitError::Unavailable("the writer has stopped".into());
            queue.send(Job { submission, reply }).await.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
        .await;
        waited.map_err(|_| CommitError::Unavailable("the database is too busy; retry".into()))?
    }
}

/// Writes one delivery in transactions of its own on a pooled PostgreSQL connection
/// (each item its own, with retries): for deliveries whose group was aborted.
pub(super) async fn write_alone(db: &Db, submission: &Submission) -> Result<DeliveryReport, CommitError> {
    let written = tokio::time::timeout(
        COMMIT_DEADLINE,
        caught(async {
            let mut exec = PgExec::new(db.pool.acquire().await.map_err(StoreError::from)?);
            apply_delivery(&mut exec, submission).await
        }),
    )
    .await
    .map_err(|_| CommitError::Unavailable("the database did not answer in time".into()))?;
    written.map_err(CommitError::from)
}

/// Runs ingest work so that a panic in it (a bug) fails that work like an error would,
/// instead of ending the writer task and with it every later delivery.
pub(super) async fn caught<T>(work: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    use futures::FutureExt as _;
    std::panic::AssertUnwindSafe(work).catch_unwind().await.unwrap_or_else(|panic| Err(StoreError::panicked(panic)))
}

fn open_writer(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    // Checkpoints (copying the WAL back into the database file) are mostly done by the
    // checkpointer thread, off the commit path; the writer's own automatic checkpoint
    // then finds little left to copy, completes, and lets the WAL start over, so it stays
    // around 16 MB. (A larger page cache was measured slower: SQLite walks all of it at
    // the end of every transaction.) Pages are read through a memory map instead of
    // `pread` copies into that cache.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = 4000; PRAGMA mmap_size = 1073741824;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Copies committed WAL frames into the database file continually, without ever
/// blocking the writer (PASSIVE).
fn checkpoint_loop(conn: rusqlite::Connection) {
    loop {
        std::thread::sleep(Duration::from_millis(10));
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
    }
}

fn group_writer(path: PathBuf, mut conn: rusqlite::Connection, mut queue: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let outcomes = write_group(&conn, &group);
        let size = group.len();
        let failed = answer_group(&mut group, outcomes, started, queue.len());
        if failed == size {
            // The connection itself may be broken (file replaced, disk error): start afresh.
            if let Ok(fresh) = open_writer(&path) {
                conn = fresh;
            }
        }
    }
}

/// Counts and logs a written group (both engines' writers), then answers each waiting
/// request and empties the group. Returns how many deliveries failed.
pub(super) fn answer_group(
    group: &mut Vec<Job>,
    outcomes: Vec<Result<DeliveryReport, CommitError>>,
    started: std::time::Instant,
    still_queued: usize,
) -> usize {
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    crate::server::metrics::group_committed(group.len(), failed, still_queued);
    tracing::debug!(
        deliveries = group.len(),
        failed,
        elapsed_us = started.elapsed().as_micros() as u64,
        "group committed"
    );
    for (job, outcome) in group.drain(..).zip(outcomes) {
        let _ = job.reply.send(outcome);
    }
    failed
}

/// Writes the group in one transaction. If that fails, each delivery is tried again in
/// a transaction of its own, so one delivery that cannot be written does not take the
/// others down with it.
fn write_group(conn: &rusqlite::Connection, group: &[Job]) -> Vec<Result<DeliveryReport, CommitError>> {
    if group.len() > 1 {
        match write_in_one_transaction(conn, group) {
            Ok(reports) => return reports.into_iter().map(Ok).collect(),
            Err(err) => {
                tracing::warn!(error = %err, deliveries = group.len(), "group failed; writing its deliveries one by one")
            }
        }
    }
    group
        .iter()
        .map(|job| {
            let written = write_in_one_transaction(conn, std::slice::from_ref(job));
            if let Err(err) = &written {
                tracing::error!(error = %err, delivery = %job.submission.delivery_id, "delivery not stored");
            }
            written.map(|mut reports| reports.remove(0)).map_err(CommitError::from)
        })
        .collect()
}

fn write_in_one_transaction(conn: &rusqlite::Connection, jobs: &[Job]) -> Result<Vec<DeliveryReport>, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    // A panic in the ingest code must not end the writer thread (every later delivery
    // would be refused until a restart): it fails this transaction like an error does.
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut exec = SqliteExec { conn };
        let mut reports = Vec::with_capacity(jobs.len());
        for job in jobs {
            // The executor never waits: block_on just runs the shared async ingest code.
            reports.push(futures::executor::block_on(apply_delivery(&mut exec, &job.submission))?);
        }
        conn.execute_batch("COMMIT")?;
        Ok(reports)
    }))
    .unwrap_or_else(|panic| Err(StoreError::panicked(panic)));
    if written.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_ingest_work_becomes_that_works_error() {
        let panicking = caught(async {
            if std::hint::black_box(true) {
                panic!("an ingest bug");
            }
            Ok(())
        });
        match panicking.await {
            Err(StoreError::Panicked(message)) => assert_eq!(message, "an ingest bug"),
            other => panic!("{other:?}"),
        }
        assert_eq!(caught(async { Ok::<_, StoreError>(7) }).await.unwrap(), 7);
    }
}
