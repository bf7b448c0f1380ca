//! SQLite adapter: one writer connection (SQLite allows one writer at a time) and a few
//! readers, all in WAL mode. Statements run on the calling task; each takes microseconds.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::sql::{Cell, Database, Dialect, Param, Row, Tx};
use crate::{StoreError, StoreResult};

const READERS: usize = 4;

pub struct SqliteDatabase {
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    scrub_owed: std::sync::atomic::AtomicBool,
}

/// `synchronous`: `FULL` (each commit reaches the disk before it is acknowledged) or `NORMAL`.
pub fn open(path: &Path, synchronous: &str) -> StoreResult<SqliteDatabase> {
    let synchronous = match synchronous.to_ascii_uppercase().as_str() {
        s @ ("FULL" | "NORMAL" | "EXTRA") => s.to_string(),
        other => return Err(StoreError::Other(format!("unknown SQLite synchronous setting {other:?}"))),
    };
    let open_one = |write: bool| -> StoreResult<Connection> {
        let conn = Connection::open(path).map_err(|e| StoreError::Unavailable(format!("opening {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(driver)?;
        if write {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(driver)?;
            // REM-2: deleted rows are overwritten with zeros, not left in free pages.
            conn.pragma_update(None, "secure_delete", "ON").map_err(driver)?;
            // The writer's page cache: 64 MiB (SQLite's default is 2 MiB), so the interior
            // pages of a large database's indexes stay in memory instead of being read again
            // from the OS for every group commit.
            conn.pragma_update(None, "cache_size", -65_536).map_err(driver)?;
            // REM-2 after a crash: a deletion committed just before it may not have been
            // scrubbed yet (the scrub follows the commit); its old page images leave the WAL now.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "could not checkpoint the WAL on opening");
            }
        }
        conn.pragma_update(None, "synchronous", &synchronous).map_err(driver)?;
        // Statement and savepoint sub-journals in memory: they only ever serve a rollback
        // inside an open transaction, and on disk they cost a write of every page a group
        // commit's savepoint touches.
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(driver)?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(conn)
    };
    let writer = Arc::new(Mutex::new(open_one(true)?));
    let readers = (0..READERS).map(|_| open_one(false).map(|c| Arc::new(Mutex::new(c)))).collect::<StoreResult<_>>()?;
    Ok(SqliteDatabase { writer, readers, next_reader: AtomicUsize::new(0), scrub_owed: Default::default() })
}

fn driver(e: rusqlite::Error) -> StoreError {
    match &e {
        // A unique key taken: the one constraint a caller can meet by racing another; every
        // other violation is this server's bug. The same answer as PostgreSQL's, in our words.
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(crate::DUPLICATE_KEY.into())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// `$7` → `?7`: SQLite's numbered parameters bind by number, whatever their order in the text.
fn rewrite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    for c in sql.chars() {
        out.push(if c == '$' { '?' } else { c });
    }
    out
}

fn to_sql(p: &Param) -> SqlValue {
    match p {
        Param::Int(n) => SqlValue::Integer(*n),
        Param::Text(s) => SqlValue::Text(s.clone()),
        Param::NullText | Param::NullInt => SqlValue::Null,
    }
}

struct SqliteTx {
    conn: OwnedMutexGuard<Connection>,
    open_transaction: bool,
    deferring: bool,
    deferred: Vec<(&'static str, Vec<Param>)>,
}

impl SqliteTx {
    fn run_exec(&self, sql: &str, params: &[Param]) -> StoreResult<u64> {
        let mut stmt = self.conn.prepare_cached(&rewrite(sql)).map_err(driver)?;
        let n = stmt.execute(rusqlite::params_from_iter(params.iter().map(to_sql))).map_err(driver)?;
        Ok(n as u64)
    }

    fn run_query(&self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(&rewrite(sql)).map_err(driver)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(to_sql))).map_err(driver)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(driver)? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match row.get_ref(i).map_err(driver)? {
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Null => Cell::Null,
                    ValueRef::Real(f) => Cell::Int(f as i64),
                    ValueRef::Blob(b) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }
}

#[async_trait]
impl Tx for SqliteTx {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn exec(&mut self, sql: &str, params: &[Param]) -> StoreResult<u64> {
        self.run_exec(sql, params)
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>> {
        self.run_query(sql, params)
    }

    async fn exec_deferred(&mut self, sql: &'static str, params: Vec<Param>) -> StoreResult<()> {
        if self.deferring {
            self.deferred.push((sql, params));
            return Ok(());
        }
        self.run_exec(sql, &params).map(|_| ())
    }

    fn set_deferring(&mut self, deferring: bool) {
        self.deferring = deferring;
    }

    async fn flush_deferred(&mut self) -> StoreResult<()> {
        for (sql, params) in std::mem::take(&mut self.deferred) {
            self.run_exec(sql, &params)?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.flush_deferred().await?;
        if self.open_transaction {
            self.conn.execute_batch("COMMIT").map_err(driver)?;
            self.open_transaction = false;
        }
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open_transaction {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[async_trait]
impl Database for SqliteDatabase {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let conn = self.writer.clone().lock_owned().await;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(driver)?;
        Ok(Box::new(SqliteTx { conn, open_transaction: true, deferring: false, deferred: Vec::new() }))
    }

    async fn reader(&self) -> StoreResult<Box<dyn Tx>> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let conn = self.readers[i].clone().lock_owned().await;
        Ok(Box::new(SqliteTx { conn, open_transaction: false, deferring: false, deferred: Vec::new() }))
    }

    /// Copies the WAL into the database (whose deleted cells `secure_delete` zeroed) and
    /// truncates it, so the pre-deletion page images in the WAL are gone too. A reader in the
    /// middle of a long read can keep the WAL from being truncated; the next scrub retries.
    async fn scrub(&self) -> StoreResult<()> {
        let conn = self.writer.lock().await;
        // Writers wait while this runs: give readers a moment, not the full busy timeout.
        conn.busy_timeout(std::time::Duration::from_millis(100)).map_err(driver)?;
        let checkpoint = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)));
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(driver)?;
        // Owed until it succeeds: set now, cleared only by a checkpoint that truncated.
        self.scrub_owed.store(true, Ordering::Relaxed);
        let (busy, _, _): (i64, i64, i64) = checkpoint.map_err(driver)?;
        if busy != 0 {
            tracing::warn!("the WAL could not be truncated after a deletion (a reader was busy); retried after the next commit");
            return Ok(());
        }
        self.scrub_owed.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn scrub_owed(&self) -> bool {
        self.scrub_owed.load(Ordering::Relaxed)
    }
}
