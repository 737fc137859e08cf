//! Workspaces: one business, its Kapso number, its secrets and its defaults.

use crate::server::{
    clock::now_ms,
    db::Db,
    error::{AppError, AppResult},
    ids::WorkspaceId,
    phone::Region,
    secrets,
};
use serde::Serialize;
use sqlx::{any::AnyRow, Row};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

/// The path Kapso (and Meta) deliver to; one path serves every workspace because each
/// delivery names its `phone_number_id`.
pub const WEBHOOK_PATH: &str = "/api/webhook/kapso";

#[derive(Clone, Debug)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub phone_number_id: String,
    pub webhook_secret: String,
    pub region: Region,
    pub time_zone: String,
    pub allow_unsigned_webhooks: bool,
    pub created_at: i64,
}

/// What `workspace list` prints: everything but secrets.
#[derive(Debug, Serialize)]
pub struct WorkspaceSummary {
    pub id: String,
    pub name: String,
    pub phone_number_id: String,
    pub region: String,
    pub time_zone: String,
    pub allow_unsigned_webhooks: bool,
    pub webhook_path: &'static str,
    pub created_at: String,
}

impl Workspace {
    pub fn summary(&self) -> WorkspaceSummary {
        WorkspaceSummary {
            id: self.id.to_string(),
            name: self.name.clone(),
            phone_number_id: self.phone_number_id.clone(),
            region: self.region.code().to_string(),
            time_zone: self.time_zone.clone(),
            allow_unsigned_webhooks: self.allow_unsigned_webhooks,
            webhook_path: WEBHOOK_PATH,
            created_at: crate::server::clock::rfc3339(self.created_at),
        }
    }
}

pub struct NewWorkspace {
    pub name: String,
    pub phone_number_id: String,
    pub region: String,
    pub time_zone: String,
    pub allow_unsigned_webhooks: bool,
}

/// Secrets shown once, when made; afterwards only the webhook secret is readable (it
/// has to be, to check signatures) and the tokens exist only as digests.
#[derive(Debug, Serialize, Default)]
pub struct IssuedSecrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
}

const COLUMNS: &str = "id, name, kapso_phone_number_id, webhook_secret, default_region, time_zone, \
                       allow_unsigned_webhooks, created_at";

fn from_row(row: &AnyRow) -> Result<Workspace, sqlx::Error> {
    let region: String = row.try_get("default_region")?;
    Ok(Workspace {
        id: WorkspaceId::from_db(row.try_get("id")?),
        name: row.try_get("name")?,
        phone_number_id: row.try_get("kapso_phone_number_id")?,
        webhook_secret: row.try_get("webhook_secret")?,
        region: Region::parse(&region).map_err(|e| sqlx::Error::Decode(e.into()))?,
        time_zone: row.try_get("time_zone")?,
        allow_unsigned_webhooks: row.try_get::<i64, _>("allow_unsigned_webhooks")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

/// Checks a new workspace's fields; returns the cleaned name, number id and region.
pub fn validate(new: &NewWorkspace) -> AppResult<(String, String, Region)> {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(AppError::Unprocessable("a workspace name needs 1–120 printable characters".into()));
    }
    let phone_number_id = new.phone_number_id.trim().to_string();
    if phone_number_id.is_empty() || phone_number_id.len() > 64 || phone_number_id.chars().any(char::is_whitespace) {
        return Err(AppError::Unprocessable("phone_number_id must be Kapso's id of the number, without spaces".into()));
    }
    let region = Region::parse(&new.region).map_err(|e| AppError::Unprocessable(e.to_string()))?;
    if !crate::server::clock::valid_time_zone(new.time_zone.trim()) {
        return Err(AppError::Unprocessable(format!(
            "unknown time zone `{}`: use an IANA name such as Asia/Jakarta",
            new.time_zone
        )));
    }
    Ok((name, phone_number_id, region))
}

pub async fn create(db: &Db, new: NewWorkspace) -> AppResult<(Workspace, IssuedSecrets)> {
    let (name, phone_number_id, region) = validate(&new)?;
    let issued = IssuedSecrets {
        webhook_secret: Some(secrets::new_webhook_secret()),
        verify_token: Some(secrets::new_verify_token()),
        api_token: Some(secrets::new_api_token()),
    };
    let now = now_ms();
    // A workspace id has 48 random bits: a collision is rare but not impossible, and the
    // primary key reports it like a taken number, so a violation with the number free
    // is retried with another id.
    let mut attempts = 0;
    let id = loop {
        attempts += 1;
        let id = WorkspaceId::generate();
        let inserted = sqlx::query(
            "INSERT INTO workspaces (id, name, kapso_phone_number_id, webhook_secret, verify_token_sha256, \
             api_token_sha256, default_region, time_zone, allow_unsigned_webhooks, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(id.as_str())
        .bind(&name)
        .bind(&phone_number_id)
        .bind(issued.webhook_secret.as_deref())
        .bind(secrets::sha256_hex(issued.verify_token.as_deref().unwrap_or_default()))
        .bind(secrets::sha256_hex(issued.api_token.as_deref().unwrap_or_default()))
        .bind(region.code())
        .bind(new.time_zone.trim())
        .bind(i64::from(new.allow_unsigned_webhooks))
        .bind(now)
        .execute(&db.pool)
        .await;
        match inserted {
            Err(err) if crate::server::db::is_unique_violation(&err) => {
                if let Some(existing) = find_by_phone_number_id(db, &phone_number_id).await? {
                    return Err(AppError::Conflict {
                        message: format!("phone_number_id {phone_number_id} already belongs to a workspace"),
                        existing_id: Some(existing.id.to_string()),
                    });
                }
                if attempts == 3 {
                    return Err(err.into());
                }
            }
            other => {
                other?;
                break id;
            }
        }
    };
    let workspace = find(db, &id).await?.ok_or_else(|| AppError::Internal("workspace vanished".into()))?;
    Ok((workspace, issued))
}

pub async fn list(db: &Db) -> AppResult<Vec<Workspace>> {
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces ORDER BY created_at, id")).fetch_all(&db.pool).await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn find(db: &Db, id: &WorkspaceId) -> AppResult<Option<Workspace>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn find_by_phone_number_id(db: &Db, phone_number_id: &str) -> AppResult<Option<Workspace>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces WHERE kapso_phone_number_id = $1"))
        .bind(phone_number_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn find_by_api_token(db: &Db, token: &str) -> AppResult<Option<Workspace>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces WHERE api_token_sha256 = $1"))
        .bind(secrets::sha256_hex(token))
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

pub async fn find_by_verify_token(db: &Db, token: &str) -> AppResult<Option<Workspace>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM workspaces WHERE verify_token_sha256 = $1"))
        .bind(secrets::sha256_hex(token))
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Finds a workspace by its id or its Kapso phone_number_id (what an operator is
/// likely to have at hand).
pub async fn find_by_reference(db: &Db, reference: &str) -> AppResult<Option<Workspace>> {
    if let Some(id) = WorkspaceId::parse(reference) {
        if let Some(found) = find(db, &id).await? {
            return Ok(Some(found));
        }
    }
    find_by_phone_number_id(db, reference).await
}

/// Which secrets `rotate-secret` replaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rotation {
    pub webhook_secret: bool,
    pub verify_token: bool,
    pub api_token: bool,
}

pub async fn rotate(db: &Db, id: &WorkspaceId, rotation: Rotation) -> AppResult<IssuedSecrets> {
    let mut issued = IssuedSecrets::default();
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    if rotation.webhook_secret {
        let secret = secrets::new_webhook_secret();
        sqlx::query("UPDATE workspaces SET webhook_secret = $1, updated_at = $2 WHERE id = $3")
            .bind(&secret)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        issued.webhook_secret = Some(secret);
    }
    if rotation.verify_token {
        let token = secrets::new_verify_token();
        sqlx::query("UPDATE workspaces SET verify_token_sha256 = $1, updated_at = $2 WHERE id = $3")
            .bind(secrets::sha256_hex(&token))
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        issued.verify_token = Some(token);
    }
    if rotation.api_token {
        let token = secrets::new_api_token();
        sqlx::query("UPDATE workspaces SET api_token_sha256 = $1, updated_at = $2 WHERE id = $3")
            .bind(secrets::sha256_hex(&token))
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        issued.api_token = Some(token);
    }
    tx.commit().await?;
    Ok(issued)
}

/// Workspaces by Kapso phone_number_id, cached for the webhook's hot path for at most
/// [`CACHE_TTL`]. A miss, an expired entry, or a signature that fails against a cached
/// secret reads the database again, so a workspace created or a secret rotated by
/// another process (the CLI, another replica) takes effect within a second, and a
/// rotated-out secret stops working as soon.
///
/// Bounded for unauthenticated callers (the webhook routes before it can check a
/// signature): a number that belongs to no workspace is cached as a miss too, and
/// concurrent requests for one number share a single read, so each distinct
/// phone_number_id costs at most one database look-up per [`CACHE_TTL`] however many
/// requests name it. Re-reads after a failed signature are limited the same way. The
/// cache holds at most [`MAX_CACHED`] numbers; beyond that, expired entries go first.
#[derive(Clone)]
pub struct WorkspaceDirectory {
    db: Db,
    by_phone_number_id: Arc<RwLock<HashMap<String, Cached>>>,
    /// One lock per number being read, so concurrent misses wait for one read.
    reading: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    lookups: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone)]
struct Cached {
    fetched: Instant,
    workspace: Option<Arc<Workspace>>,
}

pub const CACHE_TTL: Duration = Duration::from_secs(1);
/// The youngest cached entry a failed signature re-reads.
pub const REREAD_AFTER: Duration = Duration::from_millis(250);
/// Numbers (known or not) the cache holds.
pub const MAX_CACHED: usize = 10_000;

impl WorkspaceDirectory {
    pub fn new(db: Db) -> Self {
        Self { db, by_phone_number_id: Arc::default(), reading: Arc::default(), lookups: Arc::default() }
    }

    /// Database reads made so far (tests count them).
    pub fn database_lookups(&self) -> u64 {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn cached(&self, phone_number_id: &str, max_age: Duration) -> Option<Option<Arc<Workspace>>> {
        let cache = self.by_phone_number_id.read().unwrap_or_else(|p| p.into_inner());
        let entry = cache.get(phone_number_id)?;
        (entry.fetched.elapsed() < max_age).then(|| entry.workspace.clone())
    }

    pub async fn lookup(&self, phone_number_id: &str) -> AppResult<Option<Arc<Workspace>>> {
        if let Some(found) = self.cached(phone_number_id, CACHE_TTL) {
            return Ok(found);
        }
        self.read_through(phone_number_id, CACHE_TTL).await
    }

    /// A workspace by its own id (not cached: operator commands only).
    pub async fn lookup_id(&self, id: &str) -> AppResult<Option<Arc<Workspace>>> {
        match WorkspaceId::parse(id) {
            Some(id) => Ok(find(&self.db, &id).await?.map(Arc::new)),
            None => Ok(None),
        }
    }

    /// Reads the workspace from the database again after a signature failed against the
    /// cached secret, unless it was read within [`REREAD_AFTER`]: a secret rotated by
    /// another process is picked up at once, and forged signatures for a known number
    /// cost at most a few reads per second.
    pub async fn refresh(&self, phone_number_id: &str) -> AppResult<Option<Arc<Workspace>>> {
        self.read_through(phone_number_id, REREAD_AFTER).await
    }

    /// Reads `phone_number_id` unless an entry younger than `max_age` is cached; one
    /// read at a time per number, and whoever waited for it uses its result.
    async fn read_through(&self, phone_number_id: &str, max_age: Duration) -> AppResult<Option<Arc<Workspace>>> {
        let lock = {
            let mut reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
            reading.entry(phone_number_id.to_string()).or_default().clone()
        };
        let result = {
            let _one_reader = lock.lock().await;
            match self.cached(phone_number_id, max_age) {
                Some(found) => Ok(found),
                None => self.read(phone_number_id).await,
            }
        };
        let mut reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map and this call hold the lock: nobody else is waiting on it.
        if Arc::strong_count(&lock) <= 2 {
            reading.remove(phone_number_id);
        }
        result
    }

    async fn read(&self, phone_number_id: &str) -> AppResult<Option<Arc<Workspace>>> {
        self.lookups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fresh = find_by_phone_number_id(&self.db, phone_number_id).await?.map(Arc::new);
        let mut cache = self.by_phone_number_id.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED && !cache.contains_key(phone_number_id) {
            cache.retain(|_, entry| entry.fetched.elapsed() < CACHE_TTL);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(phone_number_id.to_string(), Cached { fetched: Instant::now(), workspace: fresh.clone() });
        Ok(fresh)
    }

    /// Forgets everything cached (after a change made in this process).
    pub fn invalidate(&self) {
        self.by_phone_number_id.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
