//! PostgreSQL adapter: a pool of connections, used for reads and writes alike. PostgreSQL
//! groups concurrent commits itself, so writers are not serialised here.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::NoTls;

use crate::sql::{Cell, Database, Dialect, Param, Row, Tx};
use crate::{StoreError, StoreResult};

/// How long a new connection may take to open.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a request waits for a pooled connection when every one is busy.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long one round trip to PostgreSQL (a statement, `BEGIN`, `COMMIT`) may take by default.
pub const ROUND_TRIP_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

pub struct PostgresDatabase {
    pool: Pool,
    /// Past it a round trip fails and its connection is given up (issue 24): a stalled
    /// network or database holds no request longer than this.
    bound: std::time::Duration,
}

/// Connects to `url`. With `schema`, everything lives in that schema (created when missing):
/// tests use one schema each so they never share rows.
pub async fn connect(
    url: &str,
    schema: Option<&str>,
    pool_size: usize,
    bound: std::time::Duration,
) -> StoreResult<PostgresDatabase> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
    if let Some(schema) = schema {
        if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Other(format!("invalid schema name {schema:?}")));
        }
        let (client, connection) = config.connect(NoTls).await.map_err(unavailable)?;
        let task = tokio::spawn(connection);
        client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await.map_err(driver)?;
        drop(client);
        let _ = task.await;
        config.options(format!("-c search_path={schema}"));
    }
    // A database that does not answer fails a request within these bounds rather than holding
    // it (issue 24): a connection attempt, and a wait for a free pooled connection. On the
    // server, a transaction left open by a connection the node gave up ends after the bound.
    config.connect_timeout(CONNECT_TIMEOUT);
    let options = format!(
        "{} -c idle_in_transaction_session_timeout={}",
        config.get_options().unwrap_or_default(),
        bound.as_millis().max(1)
    );
    config.options(options.trim());
    // A connection a firewall or NAT dropped without a word is found by TCP keepalives within
    // about a minute, rather than by the request that next takes it from the pool.
    config
        .keepalives(true)
        .keepalives_idle(std::time::Duration::from_secs(30))
        .keepalives_interval(std::time::Duration::from_secs(10))
        .keepalives_retries(3);
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let pool = Pool::builder(manager)
        .max_size(pool_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .wait_timeout(Some(POOL_WAIT))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    // Fail now, with the reason, rather than on the first request.
    drop(pool.get().await.map_err(|e| StoreError::Unavailable(format!("connecting to PostgreSQL: {e}")))?);
    Ok(PostgresDatabase { pool, bound })
}

fn unavailable(e: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn driver(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // A unique key taken (see the SQLite adapter): our words, not the driver's.
        if code == "23505" {
            return StoreError::Conflict(crate::DUPLICATE_KEY.into());
        }
        if code.starts_with("08") || code == "57P01" {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Other(format!("{}: {}", db.code().code(), db.message()));
    }
    if e.is_closed() {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Other(e.to_string())
}

struct PgTx {
    client: Option<Object>,
    open_transaction: bool,
    bound: std::time::Duration,
}

impl PgTx {
    fn client(&self) -> StoreResult<&Object> {
        self.client.as_ref().ok_or_else(|| StoreError::Unavailable("the connection was given up".into()))
    }

    /// A round trip that took longer than the bound: its connection may be mid-reply, so it is
    /// detached from the pool and dropped, never reused (its socket closes once the pending
    /// reply arrives or the peer is found dead; the server ends a transaction left open on it
    /// after `idle_in_transaction_session_timeout`, set to the same bound, so locks it held —
    /// the audit chain's head — do not stay taken).
    fn give_up(&mut self) -> StoreError {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
        self.open_transaction = false;
        StoreError::Unavailable(format!("PostgreSQL did not answer within {:?}", self.bound))
    }
}

fn bind(params: &[Param]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Int(n) => Box::new(*n),
                Param::Text(s) => Box::new(s.clone()),
                Param::NullText => Box::new(Option::<String>::None),
                Param::NullInt => Box::new(Option::<i64>::None),
            }
        })
        .collect()
}

#[async_trait]
impl Tx for PgTx {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn exec(&mut self, sql: &str, params: &[Param]) -> StoreResult<u64> {
        let bound = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
        let client = self.client()?;
        let round_trip = async {
            let stmt = client.prepare_cached(sql).await.map_err(driver)?;
            client.execute(&stmt, &refs).await.map_err(driver)
        };
        match tokio::time::timeout(self.bound, round_trip).await {
            Ok(done) => done,
            Err(_) => Err(self.give_up()),
        }
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>> {
        let bound = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
        let client = self.client()?;
        let round_trip = async {
            let stmt = client.prepare_cached(sql).await.map_err(driver)?;
            client.query(&stmt, &refs).await.map_err(driver)
        };
        let rows = match tokio::time::timeout(self.bound, round_trip).await {
            Ok(done) => done?,
            Err(_) => return Err(self.give_up()),
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let cell = match *column.type_() {
                    Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(driver)?.map(Cell::Int),
                    Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(driver)?.map(|n| Cell::Int(n.into())),
                    _ => row.try_get::<_, Option<String>>(i).map_err(driver)?.map(Cell::Text),
                };
                cells.push(cell.unwrap_or(Cell::Null));
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        // A transaction whose connection was given up commits nothing.
        self.client()?;
        if self.open_transaction {
            // A COMMIT past the bound may yet have committed: the write is in doubt, reported
            // as a failure (a client retries with its ClientToken).
            match tokio::time::timeout(self.bound, self.client()?.batch_execute("COMMIT")).await {
                Ok(done) => done.map_err(driver)?,
                Err(_) => return Err(self.give_up()),
            }
            self.open_transaction = false;
        }
        Ok(())
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if self.open_transaction {
            if let Some(client) = self.client.take() {
                // A connection must never go back to the pool inside a transaction.
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    let bound = self.bound;
                    handle.spawn(async move {
                        // Bounded like every round trip: a stalled connection is given up, not
                        // held (and its pool slot with it) until the network recovers.
                        match tokio::time::timeout(bound, client.batch_execute("ROLLBACK")).await {
                            Ok(Ok(_)) => {}
                            _ => drop(Object::take(client)),
                        }
                    });
                } else {
                    let _ = Object::take(client);
                }
            }
        }
    }
}

#[async_trait]
impl Database for PostgresDatabase {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let client = self.pool.get().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Counted open before `BEGIN` is sent: a caller dropped while it is in flight rolls back
        // (a `ROLLBACK` outside a transaction is only a warning), so no connection returns to
        // the pool inside a transaction.
        let mut tx = PgTx { client: Some(client), open_transaction: true, bound: self.bound };
        match tokio::time::timeout(self.bound, tx.client()?.batch_execute("BEGIN")).await {
            Ok(done) => done.map_err(driver)?,
            Err(_) => return Err(tx.give_up()),
        }
        Ok(Box::new(tx))
    }

    async fn reader(&self) -> StoreResult<Box<dyn Tx>> {
        let client = self.pool.get().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Box::new(PgTx { client: Some(client), open_transaction: false, bound: self.bound }))
    }

    /// Vacuums the data-key table, so a destroyed key does not linger in a dead tuple (the
    /// table is small: one row per live referral). The WAL keeps its copy until recycled.
    async fn scrub(&self) -> StoreResult<()> {
        let client = self.pool.get().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        match tokio::time::timeout(self.bound, client.batch_execute("VACUUM referral_keys")).await {
            Ok(done) => done.map_err(driver),
            Err(_) => {
                drop(Object::take(client));
                Err(StoreError::Unavailable(format!("PostgreSQL did not answer within {:?}", self.bound)))
            }
        }
    }
}
