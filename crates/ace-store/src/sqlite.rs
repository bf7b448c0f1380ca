//! SQLite adapter: one writer connection (SQLite allows one writer at a time) and a few
//! readers, all in WAL mode. Statements run on the calling task; each takes microseconds.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::sql::{Cell, Database, Dialect, Param, Row, Tx};
use crate::{StoreError, StoreResult};

const READERS: usize = 4;
/// The writer's page cache in KiB (negative `cache_size` is KiB): SQLite's own is 2 MiB. The
/// server's memory grows with the database until the writer's cache is full (the soak's warm-up).
pub const WRITER_CACHE_KIB: i64 = 65_536;

pub struct SqliteDatabase {
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    scrub_owed: std::sync::atomic::AtomicBool,
    /// The first I/O error of the writer (issue 24), once there was one: from then on no write
    /// begins. After a failed `fsync` or write the kernel may have dropped the pages it could not
    /// store and a later `fsync` reports success over the hole; SQLite cannot tell, so the file
    /// is no longer trusted for writes. Reads go on; a restart (after the storage is sound
    /// again) recovers from the WAL what reached the disk.
    failed_io: Arc<OnceLock<String>>,
    /// The WAL file, whose size decides when the writer checkpoints.
    wal: Arc<std::path::PathBuf>,
}

/// The writer checkpoints the WAL into the database once it holds this much (SQLite's own
/// automatic checkpoint, 1,000 pages, is switched off: it ignores a failed `fsync`).
const CHECKPOINT_AT_BYTES: u64 = 4 << 20;

/// Is this SQLite's "disk I/O error" (any `SQLITE_IOERR_*`)? A full disk is not: it is
/// refused, and writes resume once there is room again.
fn io_failure(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, message) => {
            f.code == rusqlite::ErrorCode::SystemIoFailure || message.as_deref().is_some_and(|m| m.contains("disk I/O error"))
        }
        _ => false,
    }
}

/// Latches the writer's first I/O failure, saying so once in the log.
fn latch_io_failure(failed_io: &OnceLock<String>, e: &rusqlite::Error) {
    if failed_io.set(e.to_string()).is_ok() {
        tracing::error!(
            error = %e,
            "the database file failed an I/O operation: writes are stopped (not ready) until the server is restarted on sound storage"
        );
    }
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
            // Checkpoints are the writer's own (`SqliteTx::commit`): SQLite's automatic one
            // swallows its errors, a failed `fsync` of the database file included (issue 24).
            conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(driver)?;
            // The WAL is cut back to nothing when a write restarts it after a complete
            // checkpoint, so its size is what was written since: the checkpoint's trigger.
            conn.pragma_update(None, "journal_size_limit", 0).map_err(driver)?;
            // The writer's page cache: 64 MiB (SQLite's default is 2 MiB), so the interior
            // pages of a large database's indexes stay in memory instead of being read again
            // from the OS for every group commit.
            conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB).map_err(driver)?;
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
    Ok(SqliteDatabase {
        writer,
        readers,
        next_reader: AtomicUsize::new(0),
        scrub_owed: Default::default(),
        failed_io: Default::default(),
        wal: Arc::new(std::path::PathBuf::from(format!("{}-wal", path.display()))),
    })
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
    /// The writer's I/O failure latch and WAL file (`None` on readers).
    failed_io: Option<(Arc<OnceLock<String>>, Arc<std::path::PathBuf>)>,
}

impl SqliteTx {
    /// `driver`, and an I/O failure of the writer latched.
    fn fail(&self, e: rusqlite::Error) -> StoreError {
        if let Some((latch, _)) = self.failed_io.as_ref().filter(|_| io_failure(&e)) {
            latch_io_failure(latch, &e);
        }
        driver(e)
    }

    fn run_exec(&self, sql: &str, params: &[Param]) -> StoreResult<u64> {
        let mut stmt = self.conn.prepare_cached(&rewrite(sql)).map_err(|e| self.fail(e))?;
        let n = stmt.execute(rusqlite::params_from_iter(params.iter().map(to_sql))).map_err(|e| self.fail(e))?;
        Ok(n as u64)
    }

    fn run_query(&self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(&rewrite(sql)).map_err(|e| self.fail(e))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(to_sql))).map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.fail(e))? {
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

    /// After a commit: copies the WAL into the database once it has grown past
    /// [`CHECKPOINT_AT_BYTES`]. The commit stands either way (it is in the WAL, synced); a
    /// checkpoint that fails on I/O latches the failure, and no write begins after it.
    fn checkpoint_when_due(&self) {
        let Some((latch, wal)) = &self.failed_io else { return };
        if std::fs::metadata(wal.as_path()).map_or(0, |m| m.len()) < CHECKPOINT_AT_BYTES {
            return;
        }
        let checkpoint = self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
        match checkpoint {
            Ok(_) => {}
            Err(e) if io_failure(&e) => latch_io_failure(latch, &e),
            Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed; the next commit tries again"),
        }
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
            self.conn.execute_batch("COMMIT").map_err(|e| self.fail(e))?;
            self.open_transaction = false;
            self.checkpoint_when_due();
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
        self.health().map_err(StoreError::Unavailable)?;
        let conn = self.writer.clone().lock_owned().await;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(driver)?;
        Ok(Box::new(SqliteTx {
            conn,
            open_transaction: true,
            deferring: false,
            deferred: Vec::new(),
            failed_io: Some((self.failed_io.clone(), self.wal.clone())),
        }))
    }

    fn health(&self) -> Result<(), String> {
        match self.failed_io.get() {
            Some(cause) => Err(format!(
                "writes are stopped: the database file failed an I/O operation ({cause}); restart the server once the storage is sound"
            )),
            None => Ok(()),
        }
    }

    async fn reader(&self) -> StoreResult<Box<dyn Tx>> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let conn = self.readers[i].clone().lock_owned().await;
        Ok(Box::new(SqliteTx { conn, open_transaction: false, deferring: false, deferred: Vec::new(), failed_io: None }))
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
        let (busy, _, _): (i64, i64, i64) = checkpoint.map_err(|e| {
            if io_failure(&e) {
                latch_io_failure(&self.failed_io, &e);
            }
            driver(e)
        })?;
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
