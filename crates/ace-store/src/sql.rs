//! The seam between shared query text and the two drivers. Queries use `$1, $2, …`
//! placeholders (PostgreSQL's; the SQLite adapter rewrites them to `?1, ?2, …`).

use async_trait::async_trait;

use crate::StoreResult;

/// A bound parameter. Nulls carry their type because PostgreSQL checks it.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Text(String),
    NullText,
    NullInt,
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_string())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Param::NullText, Param::from)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Int(i64),
    Text(String),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    pub fn text(&self, i: usize) -> StoreResult<String> {
        match self.0.get(i) {
            Some(Cell::Text(s)) => Ok(s.clone()),
            other => Err(crate::StoreError::Other(format!("column {i}: expected text, got {other:?}"))),
        }
    }

    pub fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        match self.0.get(i) {
            Some(Cell::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn int(&self, i: usize) -> StoreResult<i64> {
        match self.0.get(i) {
            Some(Cell::Int(n)) => Ok(*n),
            other => Err(crate::StoreError::Other(format!("column {i}: expected integer, got {other:?}"))),
        }
    }
}

/// One connection, inside a transaction when it came from [`Database::begin`].
#[async_trait]
pub trait Tx: Send {
    fn dialect(&self) -> Dialect;
    async fn exec(&mut self, sql: &str, params: &[Param]) -> StoreResult<u64>;
    async fn query(&mut self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>>;
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    /// Runs `sql` now, or, while the transaction defers (see [`Tx::set_deferring`]), at the
    /// next [`Tx::flush_deferred`] or commit, in the order deferred. For writes no later
    /// statement of the transaction reads: SQLite's FTS5 flushes its pending words at every
    /// statement journal, so its writes go last, together, or each row makes its own segment.
    async fn exec_deferred(&mut self, sql: &'static str, params: Vec<Param>) -> StoreResult<()> {
        self.exec(sql, &params).await.map(|_| ())
    }

    /// From now on [`Tx::exec_deferred`] defers (engines that gain nothing from it ignore this).
    fn set_deferring(&mut self, _deferring: bool) {}

    /// Runs what was deferred.
    async fn flush_deferred(&mut self) -> StoreResult<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The auto-numbered key of the outbox.
    pub fn serial_primary_key(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }
}

#[async_trait]
pub trait Database: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// A write transaction (serialised with other writers on SQLite).
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;
    /// A connection for reads, outside any transaction.
    async fn reader(&self) -> StoreResult<Box<dyn Tx>>;
    /// After deleting data (REM-2): make sure no copy lingers in the database's own files.
    async fn scrub(&self) -> StoreResult<()> {
        Ok(())
    }
    /// A scrub did not finish (readers were busy): the next commit runs it again.
    fn scrub_owed(&self) -> bool {
        false
    }
    /// Why the database takes no writes now (SQLite after an I/O error of its file), if so.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
}
