//! The statement executor the webhook's ingest code is written against, so the same
//! SQL and the same logic run on both engines:
//!
//! - [`PgExec`]: a pooled sqlx connection to PostgreSQL. Concurrent requests (and
//!   replicas) each hold one; every item is a transaction of its own.
//! - [`SqliteExec`]: the SQLite ingest writer's own rusqlite connection, in a dedicated
//!   thread (see `webhook/commit.rs`). Statements run in that thread, prepared once and
//!   cached: sqlx's SQLite driver hands every statement to a worker thread and back,
//!   and on the single writer's serial path those two thread hand-offs per statement
//!   (tens of microseconds under load) would cap ingest far below what SQLite can do.
//!
//! Statements are written once, with `$n` placeholders, for both engines.

use crate::server::db::Engine;
use sqlx::{any::AnyRow, pool::PoolConnection, Any, Row as _};
use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

/// A value bound to a statement parameter, borrowed: binding copies nothing.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Blob(Option<&'a [u8]>),
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(value: &'a [u8]) -> Self {
        Arg::Blob(Some(value))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(value: &'a str) -> Self {
        Arg::Text(Some(value))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(value: &'a String) -> Self {
        Arg::Text(Some(value))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Arg::Text(value)
    }
}

impl From<i64> for Arg<'_> {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Arg::Text(text) => text.to_sql(),
            Arg::Int(int) => int.to_sql(),
            Arg::Blob(blob) => blob.to_sql(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("unexpected result: {0}")]
    Shape(String),
    /// A concurrent transaction stored the same message first (PostgreSQL): roll back
    /// and run the item again.
    #[error("a concurrent delivery of the same message won")]
    RaceLost,
    /// The ingest code panicked on this delivery (a bug): it is rolled back and refused
    /// alone, and the writer goes on with the next.
    #[error("the writer failed on this delivery: {0}")]
    Panicked(String),
}

impl StoreError {
    /// The error for a panic caught in the ingest code (its message, when it has one).
    pub fn panicked(panic: Box<dyn std::any::Any + Send>) -> StoreError {
        let message =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        StoreError::Panicked(message.unwrap_or_default())
    }

    /// The database could not be reached or is busy: worth retrying later (503).
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Sqlx(err) => crate::server::db::is_unavailable(err),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => matches!(
                err.code,
                DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen | OutOfMemory
            ),
            _ => false,
        }
    }

    /// PostgreSQL gave up on the transaction (deadlock victim, serialization failure):
    /// locks taken earlier in it stay held until it ends, so inside a group transaction
    /// the whole group must end before anything is tried again.
    pub fn aborts_group(&self) -> bool {
        matches!(self, StoreError::Sqlx(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("40P01") | Some("40001")))
    }

    /// Running the same (idempotent) write again will cure it: PostgreSQL chose the
    /// transaction as a deadlock victim or failed it for serialization, or a concurrent
    /// copy of the same message won.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::RaceLost => true,
            StoreError::Sqlx(sqlx::Error::Database(db)) => {
                // Deadlock, serialization failure, or a unique key another transaction
                // claimed between our look-up and our insert (lead identities).
                matches!(db.code().as_deref(), Some("40P01") | Some("40001") | Some("23505"))
            }
            _ => false,
        }
    }
}

/// A result row, read by column position.
pub enum Row {
    Any(AnyRow),
    Values(Vec<rusqlite::types::Value>),
}

impl Row {
    pub fn text(&self, index: usize) -> Result<String, StoreError> {
        self.opt_text(index)?.ok_or_else(|| StoreError::Shape(format!("column {index} is NULL")))
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self {
            Row::Any(row) => Ok(row.try_get(index)?),
            Row::Values(values) => match values.get(index) {
                Some(rusqlite::types::Value::Text(text)) => Ok(Some(text.clone())),
                Some(rusqlite::types::Value::Null) => Ok(None),
                other => Err(StoreError::Shape(format!("column {index} is not text: {other:?}"))),
            },
        }
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self {
            Row::Any(row) => Ok(row.try_get(index)?),
            Row::Values(values) => match values.get(index) {
                Some(rusqlite::types::Value::Integer(int)) => Ok(Some(*int)),
                Some(rusqlite::types::Value::Null) => Ok(None),
                other => Err(StoreError::Shape(format!("column {index} is not an integer: {other:?}"))),
            },
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, StoreError> {
        match self {
            Row::Any(row) => Ok(row.try_get(index)?),
            Row::Values(values) => match values.get(index) {
                Some(rusqlite::types::Value::Integer(int)) => Ok(*int),
                other => Err(StoreError::Shape(format!("column {index} is not an integer: {other:?}"))),
            },
        }
    }
}

/// Runs statements. Scopes nest an item's writes inside whatever transaction the
/// executor is in (a transaction on PostgreSQL, a savepoint on the SQLite writer).
#[allow(async_fn_in_trait)]
pub trait Exec {
    fn engine(&self) -> Engine;
    /// Writing inside a larger transaction that other work shares (PostgreSQL group
    /// commit): a deadlock cannot be cured by retrying one item there.
    fn grouped(&self) -> bool {
        false
    }
    /// Whether another transaction can change what this one read before it writes, so
    /// that running an item again may succeed. Not for SQLite's single ingest writer: it
    /// holds the write lock from its first statement to its commit.
    fn can_race(&self) -> bool {
        true
    }
    async fn query(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError>;
    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    async fn begin_scope(&mut self) -> Result<(), StoreError>;
    async fn end_scope(&mut self, commit: bool) -> Result<(), StoreError>;

    async fn query_one(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args).await?.into_iter().next())
    }
}

// ---- A pooled sqlx connection: PostgreSQL ingest, and merges requested by people ----

/// A pooled sqlx connection. A scope is a transaction; if the executor is dropped
/// inside one (the request was cancelled), the connection is closed rather than handed
/// back to the pool mid-transaction. PostgreSQL's ingest writes through one; so do
/// merges asked for by people (on SQLite too, in a `BEGIN IMMEDIATE` transaction that
/// waits for the ingest writer like any other writer).
pub struct PgExec {
    conn: PoolConnection<Any>,
    in_scope: bool,
    engine: Engine,
    /// Inside a group transaction (`webhook/pg_group.rs`): scopes are savepoints.
    grouped: bool,
    /// Group mode: statements that open a transaction or a savepoint, not sent yet. They
    /// cannot fail on their own in a healthy transaction, so they travel with whatever is
    /// sent next, in one round trip (`BEGIN; SET LOCAL …; SAVEPOINT delivery; SAVEPOINT
    /// item` cost four before).
    deferred: Vec<&'static str>,
}

impl PgExec {
    pub fn new(conn: PoolConnection<Any>) -> Self {
        PgExec::on(conn, Engine::Postgres)
    }

    pub fn on(conn: PoolConnection<Any>, engine: Engine) -> Self {
        PgExec { conn, in_scope: false, engine, grouped: false, deferred: Vec::new() }
    }

    /// A PostgreSQL connection for a group transaction, which the caller opens and
    /// ends with [`PgExec::run`]; each scope inside it is a savepoint.
    pub fn grouped(conn: PoolConnection<Any>) -> Self {
        let mut exec = PgExec::on(conn, Engine::Postgres);
        exec.grouped = true;
        exec
    }

    /// Runs a transaction-control statement (`BEGIN`, `SAVEPOINT …`, `COMMIT`…),
    /// remembering whether a transaction is open (dropped inside one, the connection is
    /// closed, not pooled). In group mode the opening ones are deferred (see `deferred`);
    /// the rest (`ROLLBACK TO …`, `COMMIT`) are sent at once, after them, so an error is
    /// always seen where it happened.
    pub async fn run(&mut self, sql: &'static str) -> Result<(), StoreError> {
        match sql {
            // Counted as open from here: dropped before its end, the connection closes.
            "BEGIN" => self.in_scope = true,
            // Whatever was deferred is undone anyway (and would fail first in an aborted
            // transaction, keeping the `ROLLBACK` from running).
            "ROLLBACK" => self.deferred.clear(),
            _ => {}
        }
        self.deferred.push(sql);
        let opening = sql == "BEGIN" || sql.starts_with("SAVEPOINT ") || sql.starts_with("SET LOCAL ");
        if self.grouped && opening {
            return Ok(());
        }
        self.send_deferred().await?;
        if matches!(sql, "COMMIT" | "ROLLBACK") {
            self.in_scope = false;
        }
        Ok(())
    }

    /// Sends the deferred statements, if any, in one simple-protocol round trip.
    async fn send_deferred(&mut self) -> Result<(), StoreError> {
        match self.deferred.len() {
            0 => Ok(()),
            1 => {
                let sql = self.deferred.pop().unwrap_or_default();
                sqlx::query(sql).execute(&mut *self.conn).await?;
                Ok(())
            }
            _ => {
                let batch = std::mem::take(&mut self.deferred).join("; ");
                let conn: &mut sqlx::AnyConnection = &mut self.conn;
                sqlx::Executor::execute(conn, batch.as_str()).await?;
                Ok(())
            }
        }
    }

    fn prepare<'a>(sql: &'static str, args: &[Arg<'a>]) -> sqlx::query::Query<'a, Any, sqlx::any::AnyArguments<'a>> {
        let (text, used) = compacted(sql);
        used.iter().fold(sqlx::query(text), |query, n| match args[n - 1] {
            Arg::Text(text) => query.bind(text),
            Arg::Int(int) => query.bind(int),
            Arg::Blob(blob) => query.bind(blob),
        })
    }
}

impl Drop for PgExec {
    fn drop(&mut self) {
        if self.in_scope {
            self.conn.close_on_drop();
        }
    }
}

impl Exec for PgExec {
    fn engine(&self) -> Engine {
        self.engine
    }

    async fn query(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        self.send_deferred().await?;
        let rows = Self::prepare(sql, args).fetch_all(&mut *self.conn).await?;
        Ok(rows.into_iter().map(Row::Any).collect())
    }

    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        self.send_deferred().await?;
        Ok(Self::prepare(sql, args).execute(&mut *self.conn).await?.rows_affected())
    }

    fn grouped(&self) -> bool {
        self.grouped
    }

    async fn begin_scope(&mut self) -> Result<(), StoreError> {
        if self.grouped {
            return self.run("SAVEPOINT item").await;
        }
        let begin = if self.engine == Engine::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
        sqlx::query(begin).execute(&mut *self.conn).await?;
        self.in_scope = true;
        Ok(())
    }

    async fn end_scope(&mut self, commit: bool) -> Result<(), StoreError> {
        if self.grouped {
            // No `RELEASE`: a savepoint left open costs nothing until the group's
            // `COMMIT`, and a later one of the same name shadows it, so `ROLLBACK TO`
            // always undoes the latest item only. One round trip less per item.
            return if commit { Ok(()) } else { self.run("ROLLBACK TO SAVEPOINT item").await };
        }
        sqlx::query(if commit { "COMMIT" } else { "ROLLBACK" }).execute(&mut *self.conn).await?;
        self.in_scope = false;
        Ok(())
    }
}

/// PostgreSQL prepares each statement with exactly the parameters it uses, so a
/// statement written against a shared argument list is renumbered densely
/// (`… $10 … $2 … $10` → `… $1 … $2 … $1`, bound from arguments 10 and 2). Cached per
/// statement.
/// A statement renumbered densely, and which argument each new placeholder binds.
type Compacted = (String, Vec<usize>);

fn compacted(sql: &'static str) -> &'static Compacted {
    static CACHE: OnceLock<Mutex<HashMap<usize, &'static Compacted>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = sql.as_ptr() as usize;
    if let Some(found) = cache.lock().unwrap().get(&key) {
        return found;
    }
    let made: &'static (String, Vec<usize>) = Box::leak(Box::new(compact_parameters(sql)));
    cache.lock().unwrap().insert(key, made);
    made
}

fn compact_parameters(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut used: Vec<usize> = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            digits.push(d);
            chars.next();
        }
        let n: usize = digits.parse().expect("`$` in a statement must start a parameter");
        let position = used.iter().position(|&u| u == n).unwrap_or_else(|| {
            used.push(n);
            used.len() - 1
        });
        out.push_str(&format!("${}", position + 1));
    }
    (out, used)
}

// ---- SQLite (the ingest writer's connection) ----

/// The SQLite ingest writer's connection. Group transactions are managed by the writer
/// (`webhook/commit.rs`); scopes are savepoints inside them.
pub struct SqliteExec<'c> {
    pub conn: &'c rusqlite::Connection,
}

/// `$n` → `?n`: SQLite's own numbered-parameter syntax, bound by position n.
fn sqlite_text(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqliteExec<'_> {
    fn prepared(&self, sql: &str, args: &[Arg<'_>]) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let mut statement = self.conn.prepare_cached(&sqlite_text(sql))?;
        for position in 1..=statement.parameter_count().min(args.len()) {
            statement.raw_bind_parameter(position, args[position - 1])?;
        }
        Ok(statement)
    }
}

impl Exec for SqliteExec<'_> {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn can_race(&self) -> bool {
        false
    }

    async fn query(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.prepared(sql, args)?;
        let columns = statement.column_count();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns).map(|i| row.get::<_, rusqlite::types::Value>(i)).collect::<Result<_, _>>()?;
            out.push(Row::Values(values));
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        Ok(self.prepared(sql, args)?.raw_execute()? as u64)
    }

    async fn begin_scope(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT item")?;
        Ok(())
    }

    async fn end_scope(&mut self, commit: bool) -> Result<(), StoreError> {
        self.conn.execute_batch(if commit { "RELEASE item" } else { "ROLLBACK TO item; RELEASE item" })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_in_order_of_first_use() {
        let (sql, used) = compact_parameters("SELECT $10, $2 WHERE x = $10 AND y = $12");
        assert_eq!(sql, "SELECT $1, $2 WHERE x = $1 AND y = $3");
        assert_eq!(used, [10, 2, 12]);
        assert_eq!(sqlite_text("x = $10 AND y = $2"), "x = ?10 AND y = ?2");
    }
}
