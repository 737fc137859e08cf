//! Online backups and restores: `leadline backup --to FILE`, `leadline restore --from FILE`.
//!
//! Why these mechanisms:
//! - SQLite: `VACUUM INTO` copies the database as one read transaction sees it, so the
//!   copy is consistent (every committed delivery up to that moment, nothing half
//!   written) while the ingest writer keeps committing beside it in WAL mode. The copy
//!   is compact and has no WAL of its own: it is one self-contained file.
//! - A restore copies a backup *into* the database through SQLite's online backup API,
//!   which takes the write lock and replaces every page in one step, so a reader never
//!   sees half of the old and half of the new database. It refuses while another
//!   process has the database open unless `--force` is given (the running server would
//!   otherwise keep serving from caches of the database it had).
//! - PostgreSQL: `pg_dump --format=custom` (a consistent snapshot taken in one
//!   repeatable-read transaction, while the server runs) and `pg_restore`. These tools
//!   ship with PostgreSQL and must match the server's major version.

use crate::server::db::{Db, Engine};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists: choose a new file name (a backup never overwrites a file)")]
    TargetExists(PathBuf),
    #[error("{0} does not exist")]
    MissingSource(PathBuf),
    #[error("{0} is not a leadline backup: {1}")]
    NotABackup(PathBuf, String),
    #[error(
        "the database is in use by another process (a running `leadline serve`?): stop it first, or pass --force \
         to replace its contents while it runs"
    )]
    InUse,
    #[error("the database already holds {0} workspace(s): pass --force to replace it with the backup")]
    NotEmpty(i64),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Tool(String),
}

/// What a finished backup or restore reports (printed as JSON by the CLI).
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    pub engine: &'static str,
    pub file: String,
    pub bytes: u64,
    pub workspaces: i64,
    pub leads: i64,
    pub messages: i64,
    pub elapsed_ms: u64,
}

/// Writes a consistent copy of the running database to `to`.
pub async fn backup(db: &Db, url: &str, to: &Path) -> Result<Summary, BackupError> {
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_path_buf()));
    }
    let started = std::time::Instant::now();
    match db.engine {
        Engine::Sqlite => {
            let source =
                db.sqlite_path().ok_or_else(|| BackupError::Tool("an in-memory database has no backup".into()))?;
            let target = to.to_path_buf();
            tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
                let conn = rusqlite::Connection::open_with_flags(&source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                conn.execute("VACUUM INTO ?1", [target.to_string_lossy().as_ref()])?;
                Ok(())
            })
            .await
            .map_err(|e| BackupError::Tool(e.to_string()))??;
            let counts = sqlite_counts(to)?;
            Ok(summary("sqlite", to, counts, started))
        }
        Engine::Postgres => {
            let counts = pg_counts(db).await?;
            run_tool(Command::new("pg_dump").args(["--format=custom", "--no-owner", "--file"]).arg(to).arg(url))?;
            Ok(summary("postgres", to, counts, started))
        }
    }
}

/// Replaces the database's contents with the backup in `from`.
pub async fn restore(db: &Db, url: &str, from: &Path, force: bool) -> Result<Summary, BackupError> {
    if !from.exists() {
        return Err(BackupError::MissingSource(from.to_path_buf()));
    }
    let started = std::time::Instant::now();
    match db.engine {
        Engine::Sqlite => {
            let counts = sqlite_counts(from)?;
            let target = db.sqlite_path().ok_or_else(|| BackupError::Tool("cannot restore into memory".into()))?;
            // Our own pool holds the file open too; close it so only others count as "in use".
            db.pool.close().await;
            let source = from.to_path_buf();
            tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
                if !force {
                    // Our own pool's connections close on their worker threads a moment
                    // after `close()` returns: only a lock that stays is someone else's.
                    let mut tries = 0;
                    while sqlite_in_use(&target)? {
                        tries += 1;
                        if tries == 40 {
                            return Err(BackupError::InUse);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    let workspaces = sqlite_counts(&target).map(|c| c.0).unwrap_or(0);
                    if workspaces > 0 {
                        return Err(BackupError::NotEmpty(workspaces));
                    }
                }
                let mut conn = rusqlite::Connection::open(&target)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                conn.restore(rusqlite::DatabaseName::Main, &source, None::<fn(rusqlite::backup::Progress)>)?;
                Ok(())
            })
            .await
            .map_err(|e| BackupError::Tool(e.to_string()))??;
            Ok(summary("sqlite", from, counts, started))
        }
        Engine::Postgres => {
            // A database with workspaces is someone's live data: only --force replaces it.
            // (Other sessions cannot be told from this process's own pooled ones, so
            // PostgreSQL is not checked for "in use"; pg_restore waits for their locks.)
            if !force {
                let workspaces: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces").fetch_one(&db.pool).await?;
                if workspaces > 0 {
                    return Err(BackupError::NotEmpty(workspaces));
                }
            }
            db.pool.close().await;
            // --clean drops what the backup holds (the schema this binary migrated on
            // open included) before recreating it, in one transaction.
            run_tool(
                Command::new("pg_restore")
                    .args(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname"])
                    .arg(url)
                    .arg(from),
            )?;
            let fresh = sqlx::AnyPool::connect(url).await?;
            let counts = pg_counts_on(&fresh).await?;
            fresh.close().await;
            Ok(summary("postgres", from, counts, started))
        }
    }
}

fn summary(engine: &'static str, file: &Path, counts: (i64, i64, i64), started: std::time::Instant) -> Summary {
    Summary {
        engine,
        file: file.display().to_string(),
        bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
        workspaces: counts.0,
        leads: counts.1,
        messages: counts.2,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// Counts in a SQLite file, which also proves it is a readable leadline database.
fn sqlite_counts(file: &Path) -> Result<(i64, i64, i64), BackupError> {
    let not_backup = |why: String| BackupError::NotABackup(file.to_path_buf(), why);
    let conn = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| not_backup(e.to_string()))?;
    let check: String =
        conn.query_row("PRAGMA quick_check", [], |row| row.get(0)).map_err(|e| not_backup(e.to_string()))?;
    if check != "ok" {
        return Err(not_backup(format!("integrity check: {check}")));
    }
    let count = |table: &str| -> Result<i64, BackupError> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0))
            .map_err(|e| not_backup(format!("no {table} table ({e})")))
    };
    Ok((count("workspaces")?, count("leads")?, count("messages")?))
}

/// Whether another connection has the SQLite file open. In WAL mode every open
/// connection holds a shared lock on the file, so an exclusive lock is only granted
/// when nobody else has it open.
fn sqlite_in_use(file: &Path) -> Result<bool, BackupError> {
    if !file.exists() {
        return Ok(false);
    }
    let conn = rusqlite::Connection::open(file)?;
    // Answer at once; the caller decides how long to keep asking.
    conn.busy_timeout(std::time::Duration::ZERO)?;
    conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE")?;
    let locked = conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;");
    match locked {
        Ok(()) => Ok(false),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
        {
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}

async fn pg_counts(db: &Db) -> Result<(i64, i64, i64), BackupError> {
    pg_counts_on(&db.pool).await
}

async fn pg_counts_on(pool: &sqlx::AnyPool) -> Result<(i64, i64, i64), BackupError> {
    let mut counts = [0i64; 3];
    for (slot, table) in counts.iter_mut().zip(["workspaces", "leads", "messages"]) {
        *slot = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(pool).await?;
    }
    Ok((counts[0], counts[1], counts[2]))
}

fn run_tool(command: &mut Command) -> Result<(), BackupError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().map_err(|e| {
        BackupError::Tool(format!(
            "cannot run {program} (install the PostgreSQL client tools of the server's version): {e}"
        ))
    })?;
    if !output.status.success() {
        return Err(BackupError::Tool(format!("{program} failed: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    Ok(())
}
