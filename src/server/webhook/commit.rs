//! How a delivery is committed before it is acknowledged, per engine.
//!
//! SQLite has one writer at a time and makes a commit durable with an fsync, so one
//! task owns the write connection and commits *groups*: it takes every delivery waiting
//! in its queue, writes each inside its own SAVEPOINT of one transaction, commits once
//! (one fsync for the group) and only then answers each waiting request. A delivery
//! whose writing fails is rolled back to its savepoint alone; a failed commit fails the
//! whole group, and every request in it answers 503 so Kapso retries.
//!
//! PostgreSQL takes concurrent writers (several replicas may share it), so each request
//! writes on a pooled connection; each item commits in a transaction of its own.

use super::ingest::{apply_delivery, DeliveryReport, Submission};
use crate::server::db::{Db, Engine};
use sqlx::{AnyConnection, Connection};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most deliveries one SQLite transaction carries.
const MAX_GROUP: usize = 256;
/// Deliveries that may wait for the SQLite writer before new requests wait to enqueue.
const QUEUE_DEPTH: usize = 4096;
/// A request gives up (503, Kapso retries) if its delivery is not committed by then,
/// comfortably inside Kapso's 10 s.
const COMMIT_DEADLINE: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("could not store the delivery: {0}")]
    Failed(String),
}

impl From<sqlx::Error> for CommitError {
    fn from(err: sqlx::Error) -> Self {
        if crate::server::db::is_unavailable(&err) {
            CommitError::Unavailable(err.to_string())
        } else {
            CommitError::Failed(err.to_string())
        }
    }
}

struct Job {
    submission: Submission,
    reply: oneshot::Sender<Result<DeliveryReport, CommitError>>,
}

#[derive(Clone)]
pub struct Committer(Path);

#[derive(Clone)]
enum Path {
    /// SQLite: deliveries queue for the single writer task.
    GroupCommit(mpsc::Sender<Job>),
    /// PostgreSQL: each request writes on a pooled connection.
    Direct(Db),
}

impl Committer {
    pub async fn start(db: &Db) -> Result<Committer, sqlx::Error> {
        match db.engine {
            Engine::Postgres => Ok(Committer(Path::Direct(db.clone()))),
            Engine::Sqlite => {
                let conn = db.dedicated_connection().await?;
                let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
                tokio::spawn(group_writer(db.clone(), conn, receiver));
                Ok(Committer(Path::GroupCommit(sender)))
            }
        }
    }

    /// Writes the delivery and returns once it is durably committed.
    pub async fn commit(&self, submission: Submission) -> Result<DeliveryReport, CommitError> {
        match &self.0 {
            Path::Direct(db) => {
                let mut conn = db.pool.acquire().await?;
                tokio::time::timeout(COMMIT_DEADLINE, apply_delivery(&mut conn, &submission))
                    .await
                    .map_err(|_| CommitError::Unavailable("the database did not answer in time".into()))?
                    .map_err(CommitError::from)
            }
            Path::GroupCommit(queue) => {
                let (reply, answer) = oneshot::channel();
                let waited = tokio::time::timeout(COMMIT_DEADLINE, async {
                    queue
                        .send(Job { submission, reply })
                        .await
                        .map_err(|_| CommitError::Unavailable("the writer has stopped".into()))?;
                    answer.await.map_err(|_| CommitError::Unavailable("the writer has stopped".into()))?
                })
                .await;
                waited.map_err(|_| CommitError::Unavailable("the database is too busy; retry".into()))?
            }
        }
    }
}

async fn group_writer(db: Db, mut conn: AnyConnection, mut queue: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let started = std::time::Instant::now();
        let outcomes = commit_group(&mut conn, &group).await;
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        tracing::debug!(deliveries = group.len(), failed, elapsed_us = started.elapsed().as_micros() as u64, "group committed");
        if failed == group.len() {
            // The connection itself may be broken (file replaced, disk error): start afresh.
            if let Ok(fresh) = db.dedicated_connection().await {
                conn = fresh;
            }
        }
        for (job, outcome) in group.drain(..).zip(outcomes) {
            let _ = job.reply.send(outcome);
        }
    }
}

async fn commit_group(conn: &mut AnyConnection, group: &[Job]) -> Vec<Result<DeliveryReport, CommitError>> {
    let fail_all = |err: sqlx::Error| {
        tracing::error!(error = %err, deliveries = group.len(), "group commit failed");
        group.iter().map(|_| Err(CommitError::from(clone_error(&err)))).collect()
    };
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(err) => return fail_all(err),
    };
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        let written = async {
            let mut savepoint = tx.begin().await?;
            match apply_delivery(&mut savepoint, &job.submission).await {
                Ok(report) => {
                    savepoint.commit().await?;
                    Ok(report)
                }
                Err(err) => {
                    savepoint.rollback().await?;
                    Err(err)
                }
            }
        }
        .await;
        if let Err(err) = &written {
            tracing::error!(error = %err, delivery = %job.submission.delivery_id, "delivery rolled back");
        }
        outcomes.push(written.map_err(CommitError::from));
    }
    match tx.commit().await {
        Ok(()) => outcomes,
        Err(err) => fail_all(err),
    }
}

/// `sqlx::Error` is not `Clone`; keep what the HTTP answer needs (is it worth a retry?).
fn clone_error(err: &sqlx::Error) -> sqlx::Error {
    if crate::server::db::is_unavailable(err) {
        sqlx::Error::PoolTimedOut
    } else {
        sqlx::Error::Protocol(err.to_string())
    }
}
