//! The delivery log: every acknowledged delivery's raw body and what became of each of
//! its items, kept for `DELIVERY_RETENTION_DAYS` so any delivery can be shown and
//! replayed (`leadline deliveries show|replay`).
//!
//! It was half of the bytes stored per message (`scripts/soak`: 1,027 of 1,990), so the
//! body is kept compressed in `packed_body`, by the request before it queues for the
//! writer — the single writer does no extra work:
//! - **zstd with a dictionary** (since the version after 0011): the dictionary
//!   (`log_dictionary.jsonl`) is one sample delivery of every documented format, so a
//!   Kapso body of ~530 bytes packs to ~150 (deflate: ~270) in a tenth of deflate's CPU
//!   time (`scripts/bench` profile: deflate's per-call table setup was ~15 % of the
//!   server's CPU per delivery). Its frames carry dictionary id 0 (a raw-content
//!   dictionary), so the file must never change: a better dictionary later is added
//!   beside it with an id of its own, which zstd writes into every frame.
//! - **deflate** (rows written by the version with migration 0011): read as they are.
//!   A zstd frame's first four bytes can never begin a deflate stream (they would be a
//!   stored block whose length check fails), so the two are told apart by them.
//! - Rows written before 0011 (`raw_body` text, no `packed_body`) are read as they are.
//!
//! The outcome (what each item did) is known only inside the writer's transaction, so
//! compressing it there would cost the single writer (zstd: ~5 µs for 250 bytes).
//! Instead each item is kept as a JSON array of its fields in a fixed order, without the
//! field names: ~90 bytes less per item (a one-message delivery: ~190 → ~100 bytes in
//! `scripts/soak`), serialized as cheaply as the objects were. Reading
//! ([`outcome_json`]) turns it back into the objects the webhook answers with; rows
//! written before (objects) are read as they are.
//!
//! Upgrading loses no delivery.

use super::ingest::{ItemReport, Outcome, Submission};
use crate::server::{
    clock::now_ms,
    db::Db,
    error::AppError,
    ids::DeliveryId,
    store::{Exec, StoreError},
};
use flate2::{Decompress, FlushDecompress, Status};
use sqlx::Row as _;
use std::{cell::RefCell, io::Read, sync::LazyLock};

/// The largest body a packed log entry may unpack to: the webhook's own limit.
const MAX_UNPACKED: usize = super::MAX_BODY_BYTES;

/// Sample deliveries, one per documented format, most common last (zstd finds recent
/// dictionary bytes cheapest). Never edit: every body packed since is read with it.
const DICTIONARY: &[u8] = include_bytes!("log_dictionary.jsonl");
/// zstd's level 3 (its default): measured on a 534-byte Kapso body, 151 bytes in 2 µs;
/// level 6 made 124 bytes in 6 µs.
const LEVEL: i32 = 3;
/// Every zstd frame starts so (RFC 8878, 3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

static ENCODER_DICTIONARY: LazyLock<zstd::dict::EncoderDictionary<'static>> =
    LazyLock::new(|| zstd::dict::EncoderDictionary::copy(DICTIONARY, LEVEL));
static DECODER_DICTIONARY: LazyLock<zstd::dict::DecoderDictionary<'static>> =
    LazyLock::new(|| zstd::dict::DecoderDictionary::copy(DICTIONARY));

thread_local! {
    // A compression context is some hundred KB to set up; each thread keeps one.
    static COMPRESSOR: RefCell<zstd::bulk::Compressor<'static>> = RefCell::new(
        zstd::bulk::Compressor::with_prepared_dictionary(&ENCODER_DICTIONARY)
            .expect("a zstd context with the built-in dictionary"),
    );
}

/// Compresses a delivery's raw body for the log.
pub fn pack(body: &[u8]) -> Vec<u8> {
    COMPRESSOR.with(|cell| cell.borrow_mut().compress(body).expect("zstd compresses into a buffer of its own sizing"))
}

/// Unpacks a logged body (zstd or, from older rows, deflate); `None` if it is corrupt,
/// cut short, or would exceed the webhook's own limit.
pub fn unpack(packed: &[u8]) -> Option<Vec<u8>> {
    if packed.starts_with(&ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::with_prepared_dictionary(packed, &DECODER_DICTIONARY).ok()?;
        let mut out = Vec::with_capacity(packed.len() * 4);
        decoder.take(MAX_UNPACKED as u64 + 1).read_to_end(&mut out).ok()?;
        return (out.len() <= MAX_UNPACKED).then_some(out);
    }
    inflate(packed)
}

/// Inflates a body deflated by the version with migration 0011.
fn inflate(packed: &[u8]) -> Option<Vec<u8>> {
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

/// One item's outcome as the log keeps it: [`ItemReport`]'s answered fields, in order.
type StoredItem<S> = (usize, S, Outcome, Option<S>, Option<S>, Option<S>, bool, Option<S>);

/// The fields of an [`ItemReport`] in a stored item, in order.
const STORED_FIELDS: [&str; 8] =
    ["index", "type", "outcome", "kapso_message_id", "kapso_conversation_id", "lead_id", "lead_created", "reason"];

/// A delivery's outcome as the log keeps it (see the module's comment).
pub fn stored_outcome(results: &[ItemReport]) -> String {
    let items: Vec<StoredItem<&str>> = results
        .iter()
        .map(|r| {
            (
                r.index,
                r.kind,
                r.outcome,
                r.kapso_message_id.as_deref(),
                r.kapso_conversation_id.as_deref(),
                r.lead_id.as_deref(),
                r.lead_created,
                r.reason.as_deref(),
            )
        })
        .collect();
    serde_json::to_string(&items).unwrap_or_else(|_| "[]".into())
}

/// A logged outcome as the webhook answered it (a list of objects), whichever way the
/// row keeps it; `None` if it is neither.
pub fn outcome_json(stored: &str) -> Option<serde_json::Value> {
    if let Ok(items) = serde_json::from_str::<Vec<StoredItem<String>>>(stored) {
        let objects = items.into_iter().map(|item| {
            let value = serde_json::to_value(item).unwrap_or_default();
            let fields = value.as_array().into_iter().flatten().zip(STORED_FIELDS);
            // The answer leaves out absent fields and a false `lead_created`.
            let present = fields.filter(|(v, _)| !v.is_null() && **v != serde_json::Value::Bool(false));
            serde_json::Value::Object(present.map(|(v, name)| (name.to_string(), v.clone())).collect())
        });
        return Some(serde_json::Value::Array(objects.collect()));
    }
    serde_json::from_str(stored).ok()
}

/// Writes the delivery's log row, inside the delivery's transaction.
pub(super) async fn write<E: Exec>(
    conn: &mut E,
    submission: &Submission,
    results: &[ItemReport],
) -> Result<(), StoreError> {
    let outcome = stored_outcome(results);
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
        assert!(bomb.starts_with(&ZSTD_MAGIC) && bomb.len() < 1024, "{} bytes", bomb.len());
        assert_eq!(unpack(&bomb), None);
        let mut wrong_magic = packed.clone();
        wrong_magic[4] ^= 0xff;
        assert_eq!(unpack(&wrong_magic), None);
    }

    /// What the version with migration 0011 wrote: raw deflate.
    fn deflated(body: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn bodies_deflated_by_the_previous_version_still_unpack() {
        let body = include_bytes!("../../../tests/fixtures/kapso/v2-batch-message-received.json");
        assert_eq!(unpack(&deflated(body)).unwrap(), body);
        assert_eq!(unpack(&deflated(b"")), Some(Vec::new()));
        // Incompressible bodies make stored deflate blocks: still deflate, not zstd.
        let noise: Vec<u8> = (0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert_eq!(unpack(&deflated(&noise)).unwrap(), noise);
        assert_eq!(unpack(&deflated(&vec![b'a'; MAX_UNPACKED + 1])), None);
    }

    #[test]
    fn outcomes_are_kept_without_field_names_and_read_back_as_answered() {
        let results = [
            ItemReport {
                kapso_message_id: Some("wamid.HBgNNjI4MTU1NTEyMzQ1NhUCABIYFDNBQjk0RkE3".into()),
                kapso_conversation_id: Some("9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4".into()),
                lead_id: Some("019b0000-1111-7222-8333-444455556666".into()),
                lead_created: true,
                ..ItemReport::new(0, "message", Outcome::Created)
            },
            ItemReport {
                reason: Some("no stored message has \"this\" id".into()),
                ..ItemReport::new(1, "status", Outcome::Ignored)
            },
            ItemReport::new(2, "message", Outcome::Duplicate),
        ];
        let answered = serde_json::to_string(&results).unwrap();
        let stored = stored_outcome(&results);
        // Measured: 394 → 294 bytes (a message item loses ~90 bytes of names; the others
        // less, as absent fields are written as nulls).
        assert!(stored.len() + 90 < answered.len(), "{} → {}: {stored}", answered.len(), stored.len());
        assert_eq!(outcome_json(&stored), Some(serde_json::from_str(&answered).unwrap()));
        // Rows written before keep the objects; nothing at all reads as an empty list.
        assert_eq!(outcome_json(&answered), Some(serde_json::from_str(&answered).unwrap()));
        assert_eq!(stored_outcome(&[]), "[]");
        assert_eq!(outcome_json("[]"), Some(serde_json::json!([])));
        assert_eq!(outcome_json("not json"), None);
    }

    #[test]
    fn a_delivery_not_in_the_dictionary_packs_to_well_under_half() {
        // Another customer, message and conversation than any sample in the dictionary.
        let body = br#"{"message":{"id":"wamid.HBgNNjI4MTM5OTg4Nzc2NhUCABIYIDNBMEQ5","timestamp":"1795123456","type":"text","text":{"body":"Kak, ukuran L warna hitam masih ada? Kirim ke Bandung berapa ongkirnya?"},"kapso":{"direction":"inbound","status":"received","has_media":false,"content":"Kak, ukuran L warna hitam masih ada? Kirim ke Bandung berapa ongkirnya?"}},"conversation":{"id":"7c1e2f9a-55d1-4c1b-9a0e-3f4b2d8c6e11","phone_number":"+6281399887766","status":"active","phone_number_id":"987654321098765","kapso":{"contact_name":"Rina Wulandari"}},"is_new_conversation":false,"phone_number_id":"987654321098765"}"#;
        let packed = pack(body);
        // Measured: 599 → 195 bytes (deflate: 343).
        let (zstd, deflate) = (packed.len(), deflated(body).len());
        assert!(zstd * 100 < body.len() * 40, "{} → {zstd}", body.len());
        assert!(zstd * 100 < deflate * 70, "zstd {zstd}, deflate {deflate}");
        assert_eq!(unpack(&packed).unwrap(), body);
    }
}
