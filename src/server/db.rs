//! The database handle: one `sqlx::AnyPool` over SQLite (default) or PostgreSQL.
//!
//! Why `AnyPool` and portable SQL rather than a store per engine: the schema keeps to
//! TEXT and BIGINT (see migrations/), every statement is written once with `$n`
//! placeholders and `ON CONFLICT … RETURNING`, which both engines speak, and so one code
//! path serves both and the integration suite exercising it on both proves it. The
//! few places where the engines must behave differently (how webhook writes are
//! committed, LISTEN/NOTIFY) branch on [`Engine`], not on SQL dialect.

use futures::future::BoxFuture;
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
    AnyPool, Executor,
};
use std::{borrow::Cow, path::Path, str::FromStr, time::Duration};

/// Where the database lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/leadline.db";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub engine: Engine,
    url: String,
}

/// The file behind a `sqlite://` URL (`None` for in-memory databases).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got `{0}`)")]
    UnsupportedUrl(String),
    #[error("cannot create the directory for the SQLite file {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens the pool and applies pending migrations. SQLite files (and their directory)
    /// are created on first start.
    pub async fn open(url: &str) -> Result<Db, DbSetupError> {
        sqlx::any::install_default_drivers();
        let engine = engine_of(url)?;
        let url = match engine {
            Engine::Sqlite => prepare_sqlite_url(url)?,
            Engine::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(DbSetupError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match engine {
                Engine::Sqlite => 8,
                Engine::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(DbSetupError::Connect)?;
        let db = Db { pool, engine, url };
        db.migrate().await?;
        Ok(db)
    }

    pub async fn migrate(&self) -> Result<(), DbSetupError> {
        let migrator = Migrator::new(EmbeddedMigrations { up_to: i64::MAX, skip: None }).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Applies every pending migration except `version`: for a test of a migration that
    /// only rewrites data, a database in today's shape whose data is still as the
    /// version before wrote it ([`Db::migrate`] applies `version` afterwards).
    pub async fn migrate_all_but(&self, version: i64) -> Result<(), DbSetupError> {
        let migrator = Migrator::new(EmbeddedMigrations { up_to: i64::MAX, skip: Some(version) }).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Opens a database with only the migrations before `version` applied: what an older
    /// leadline left behind, for migration tests.
    pub async fn open_before(url: &str, version: i64) -> Result<Db, DbSetupError> {
        sqlx::any::install_default_drivers();
        let engine = engine_of(url)?;
        let url = match engine {
            Engine::Sqlite => prepare_sqlite_url(url)?,
            Engine::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(DbSetupError::Connect)?;
        let pool =
            AnyPoolOptions::new().max_connections(2).connect_with(options).await.map_err(DbSetupError::Connect)?;
        Migrator::new(EmbeddedMigrations { up_to: version - 1, skip: None }).await?.run(&pool).await?;
        Ok(Db { pool, engine, url })
    }

    /// The SQLite database file, for the ingest writer's own connection.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        match self.engine {
            Engine::Sqlite => sqlite_file(&self.url),
            Engine::Postgres => None,
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }
}

/// WAL lets readers (pages, API) run beside the one writer; `synchronous = FULL` makes
/// every commit durable on disk before we acknowledge a delivery, which the ingest
/// writer pays for once per group of deliveries rather than once per delivery.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

fn engine_of(url: &str) -> Result<Engine, DbSetupError> {
    if url.starts_with("sqlite:") {
        Ok(Engine::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Engine::Postgres)
    } else {
        Err(DbSetupError::UnsupportedUrl(url.to_string()))
    }
}

/// Makes sure the SQLite file's directory exists and the file is created if missing.
fn prepare_sqlite_url(url: &str) -> Result<String, DbSetupError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| DbSetupError::CreateDir { path: dir.display().to_string(), source })?;
        }
    }
    let mode = if query.contains("mode=") { String::new() } else { "mode=rwc".to_string() };
    let query = [query, &mode].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("&");
    Ok(format!("sqlite://{path}?{query}"))
}

/// The files in migrations/, compiled into the binary so it runs from anywhere. A test
/// checks that every file in the folder is listed here.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "ingest foundation", include_str!("../../migrations/0001_ingest_foundation.sql")),
    (2, "access control", include_str!("../../migrations/0002_access_control.sql")),
    (3, "phone search", include_str!("../../migrations/0003_phone_search.sql")),
    (4, "name search", include_str!("../../migrations/0004_name_search.sql")),
    (5, "status filter", include_str!("../../migrations/0005_status_filter.sql")),
    (6, "security hardening", include_str!("../../migrations/0006_security_hardening.sql")),
    (7, "lead identities", include_str!("../../migrations/0007_lead_identities.sql")),
    (8, "delivery health", include_str!("../../migrations/0008_delivery_health.sql")),
    (9, "csv imports", include_str!("../../migrations/0009_csv_imports.sql")),
    (10, "replies", include_str!("../../migrations/0010_replies.sql")),
    (11, "compact delivery log", include_str!("../../migrations/0011_compact_delivery_log.sql")),
    (12, "ascending time indexes", include_str!("../../migrations/0012_ascending_time_indexes.sql")),
    (13, "short workspace ids", include_str!("../../migrations/0013_short_workspace_ids.sql")),
];

/// The embedded migrations up to a version, perhaps but one (all of them in production).
#[derive(Debug)]
struct EmbeddedMigrations {
    up_to: i64,
    skip: Option<i64>,
}

impl MigrationSource<'static> for EmbeddedMigrations {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .filter(|(version, _, _)| *version <= self.up_to && Some(*version) != self.skip)
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// True when the error means the database could not be reached or is overloaded, as
/// opposed to a statement that is wrong: the caller answers 503 so the sender retries.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13),
            // SQLITE_CANTOPEN (14); PostgreSQL: class 08 (connection), 53 (resources),
            // 57P (operator intervention, e.g. shutdown), a lock or statement timeout
            // (55P03, 57014: someone else holds what we need; later it may be free).
            matches!(code.as_ref(), "5" | "6" | "10" | "13" | "14" | "55P03" | "57014")
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
        }
        _ => false,
    }
}

/// True for a unique-constraint violation (SQLite 2067/1555, PostgreSQL 23505).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "list every file of migrations/ in MIGRATIONS");
        let mut listed = MIGRATIONS.to_vec();
        listed.sort_by_key(|(version, _, _)| *version);
        for (file, (version, _, sql)) in files.iter().zip(listed) {
            assert!(file.starts_with(&format!("{version:04}_")), "{file} is not version {version}");
            let on_disk =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(file)).unwrap();
            assert_eq!(&on_disk, sql);
        }
    }

    /// The start of each shipped migration's SHA-384 (the checksum sqlx stores in every
    /// database that applied it, over the whole file, comments included).
    const SHIPPED: [(i64, &str); 13] = [
        (1, "49f8bf1691514ebb"),
        (2, "2b78c36cf1f7b3c5"),
        (3, "517fc7233dcc116e"),
        (4, "ab6cd58c49a401d0"),
        (5, "d8671b380b46d332"),
        (6, "b7d0dd4d4b18c6ac"),
        (7, "e31c3bb1aa279c82"),
        (8, "5ee95efcaaab17a9"),
        (9, "9868e595ad6cf1fe"),
        (10, "cf06e622d7dfd60b"),
        (11, "17607bc43886e8e8"),
        (12, "d373d17b08d99854"),
        (13, "8c4f4f753fc8ee48"),
    ];

    // Editing a migration that has shipped, even one word of a comment, makes every
    // database that applied it refuse to start ("migration N was previously applied but
    // has been modified"). Change the schema with a new migration instead; a new one is
    // added here once it ships.
    #[test]
    fn shipped_migrations_never_change() {
        use sha2::{Digest, Sha384};
        for (version, checksum) in SHIPPED {
            let (_, _, sql) = MIGRATIONS.iter().find(|(v, _, _)| *v == version).expect("a shipped migration is kept");
            let digest = hex::encode(Sha384::digest(sql.as_bytes()));
            assert!(digest.starts_with(checksum), "migration {version} changed after it shipped (now {digest})");
        }
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(prepare_sqlite_url("sqlite::memory:").unwrap(), "sqlite://:memory:?mode=rwc");
        let dir = std::env::temp_dir().join(format!("leadline-url-{}", std::process::id()));
        let url = format!("sqlite://{}/x/leadline.db", dir.display());
        assert_eq!(prepare_sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.join("x").is_dir());
        std::fs::remove_dir_all(dir).unwrap();
        assert!(engine_of("mysql://x").is_err());
    }
}
