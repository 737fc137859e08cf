//! The delivery log: every acknowledged delivery's raw body and what became of each of
//! its items, kept for `DELIVERY_RETENTION_DAYS` so any delivery can be shown and
//! replayed (`leadline deliveries show|replay`).
//!
//! It was half of the bytes stored per message (`scripts/soak`: 1,027 of 1,990), so the
//! body is kept deflate-compressed (`packed_body`, about half the size for Kapso's JSON),
//! compressed by the request before it queues for the writer — the single writer does no
//! extra work. Rows written before (`raw_body` text, no `packed_body`) are read as they
//! are: upgrading loses no delivery.

use super::ingest::{ItemReport, Submission};
use crate::server::{
    clock::now_ms,
    db::Db,
    error::AppError,
    ids::DeliveryId,
    store::{Exec, StoreError},
};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use sqlx::Row as _;
use std::cell::RefCell;

/// The largest body a packed log entry may unpack to: the webhook's own limit.
const MAX_UNPACKED: usize = super::MAX_BODY_BYTES;

thread_local! {
    // A deflate state is a few hundred KB to set up; each thread keeps one and resets it.
    static COMPRESSOR: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(6), false));
}

/// Deflates a delivery's raw body for the log.
pub fn pack(body: &[u8]) -> Vec<u8> {
    COMPRESSOR.with(|cell| {
        let mut compressor = cell.borrow_mut();
        compressor.reset();
        let mut out = Vec::with_capacity(body.len() / 2 + 64);
        loop {
            let consumed = compressor.total_in() as usize;
            out.reserve(body.len() / 4 + 64);
            let status = compressor
                .compress_vec(&body[consumed..], &mut out, FlushCompress::Finish)
                .expect("deflate into a growing buffer cannot fail");
            if status == Status::StreamEnd {
                return out;
            }
        }
    })
}

/// Inflates a logged body; `None` if it is corrupt, cut short, or would exceed the
/// webhook's own limit.
pub fn unpack(packed: &[u8]) -> Option<Vec<u8>> {
    let mut inflater = Decompress::new(false);
    let mut out = Vec::with_capacity(packed.len() * 3);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(1024));
        }
        let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
        let input = &packed[before_in as usize..];
        let status = inflater.decompress_vec(input, &mut out, FlushDecompress::None).ok()?;
        if out.len() > MAX_UNPACKED {
            return None;
        }
        if status == Status::StreamEnd {
            return Some(out);
        }
        if (inflater.total_in(), inflater.total_out()) == (before_in, before_out) {
            // Room to write and yet no progress: the input ended before the stream did.
            return None;
        }
    }
}

/// Writes the delivery's log row, inside the delivery's transaction.
pub(super) async fn write<E: Exec>(
    conn: &mut E,
    submission: &Submission,
    results: &[ItemReport],
) -> Result<(), StoreError> {
    let outcome = serde_json::to_string(results).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO webhook_deliveries (id, workspace_id, idempotency_key, event, format, raw_body, packed_body, \
         received_at, outcome) VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8) \
         ON CONFLICT (workspace_id, idempotency_key) DO NOTHING",
        &[
            submission.delivery_id.as_str().into(),
            submission.workspace_id.as_str().into(),
            submission.idempotency_key.as_deref().into(),
            submission.event.as_deref().into(),
            submission.format.as_str().into(),
            submission.packed_body.as_slice().into(),
            submission.received_at.into(),
            (&outcome).into(),
        ],
    )
    .await?;
    Ok(())
}

/// A logged delivery, its body unpacked.
pub struct Logged {
    pub workspace_id: String,
    pub event: Option<String>,
    pub format: String,
    pub raw_body: String,
    pub received_at: i64,
    pub outcome: String,
}

pub async fn load(db: &Db, id: &str) -> Result<Logged, AppError> {
    let missing = || AppError::NotFound(format!("no delivery `{id}`"));
    let id = DeliveryId::parse(id).ok_or_else(missing)?;
    let row = sqlx::query(
        "SELECT workspace_id, event, format, raw_body, packed_body, received_at, outcome \
         FROM webhook_deliveries WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(missing)?;
    let raw_body = match row.try_get::<Option<Vec<u8>>, _>("packed_body")? {
        Some(packed) => unpack(&packed)
            .map(|body| String::from_utf8_lossy(&body).into_owned())
            .ok_or_else(|| AppError::Internal(format!("the logged body of delivery `{id}` cannot be read")))?,
        None => row.try_get("raw_body")?,
    };
    Ok(Logged {
        workspace_id: row.try_get("workspace_id")?,
        event: row.try_get("event")?,
        format: row.try_get("format")?,
        raw_body,
        received_at: row.try_get("received_at")?,
        outcome: row.try_get("outcome")?,
    })
}

/// How long logged deliveries are kept, in days (`DELIVERY_RETENTION_DAYS`,
/// default 30; 0 keeps them forever). The leads and messages they made stay regardless.
pub fn retention_days() -> u64 {
    std::env::var("DELIVERY_RETENTION_DAYS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(30)
}

/// Deletes logged deliveries older than the retention period, every hour, in small
/// batches so the ingest writer never waits long for the lock.
pub fn spawn_pruning(db: Db) {
    let days = retention_days();
    if days == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every_hour.tick().await;
            let cutoff = now_ms() - (days as i64) * 24 * 3600 * 1000;
            match prune(&db, cutoff).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, days, "old webhook deliveries pruned"),
                Err(err) => tracing::warn!(error = %err, "pruning webhook deliveries failed"),
            }
        }
    });
}

/// Rows one statement deletes: a short write transaction of its own.
const PRUNE_BATCH: i64 = 500;
/// The pause after each batch. It hands the write lock back to the ingest writer: SQLite
/// has one writer, and a million-row sweep run back to back kept ingest waiting in
/// SQLite's busy handler (scripts/soak --sweep measures it). On PostgreSQL it spreads
/// the sweep's WAL and vacuum work.
const PRUNE_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

pub async fn prune(db: &Db, cutoff: i64) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    for row in sqlx::query("SELECT id FROM workspaces").fetch_all(&db.pool).await? {
        let workspace: String = row.try_get("id")?;
        loop {
            let batch = sqlx::query(
                "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
                 WHERE workspace_id = $1 AND received_at < $2 LIMIT $3)",
            )
            .bind(&workspace)
            .bind(cutoff)
            .bind(PRUNE_BATCH)
            .execute(&db.pool)
            .await?
            .rows_affected();
            removed += batch;
            if batch < PRUNE_BATCH as u64 {
                break;
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_come_back_byte_for_byte_and_smaller() {
        let body = br#"{"message":{"id":"wamid.X","timestamp":"1700000000","type":"text","text":{"body":"Halo kak, masih ada stok?"}},"conversation":{"id":"c-1","phone_number":"+6281234567890","phone_number_id":"123456789012345"},"phone_number_id":"123456789012345"}"#;
        let packed = pack(body);
        assert!(packed.len() < body.len(), "{} → {}", body.len(), packed.len());
        assert_eq!(unpack(&packed).unwrap(), body);
        // The thread's compressor is reused: a second body is packed on its own.
        assert_eq!(unpack(&pack(b"{}")).unwrap(), b"{}");
        let empty = pack(b"");
        assert_eq!(unpack(&empty), Some(Vec::new()), "packed empty body: {empty:?}");
        let large = "x".repeat(2_000_000);
        assert_eq!(unpack(&pack(large.as_bytes())).unwrap(), large.as_bytes());
    }

    #[test]
    fn corrupt_or_oversized_entries_are_refused() {
        let packed = pack(b"{\"a\":1}");
        assert_eq!(unpack(&packed[..packed.len() - 2]), None);
        assert_eq!(unpack(b"not deflate at all"), None);
        let bomb = pack(&vec![b'a'; MAX_UNPACKED + 1]);
        assert_eq!(unpack(&bomb), None);
    }
}
