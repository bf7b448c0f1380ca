//! The storage engine's own ceiling, for `ace bench`: the same opportunity rows, the same
//! schema and indexes, the same durability setting, written straight through the SQL adapter —
//! no server, no validation, no events, no group commit — one row per transaction or many.

use std::path::Path;
use std::time::{Duration, Instant};

use ace_domain::opportunity::Opportunity;

use crate::store::{opportunity_params, INSERT_OPPORTUNITY};
use crate::{SqlStore, StoreResult};

/// Inserts `opportunities` into a fresh SQLite database in `data_dir` (migrated like the
/// server's), `per_transaction` rows per transaction, and returns the time the inserts took.
pub async fn sqlite_inserts(
    data_dir: &Path,
    synchronous: &str,
    opportunities: &[Opportunity],
    per_transaction: usize,
) -> StoreResult<Duration> {
    let store = SqlStore::open_sqlite(data_dir, synchronous).await?;
    store.timed_inserts(opportunities, per_transaction).await
}

/// The same against PostgreSQL, in `schema` (created and migrated).
pub async fn postgres_inserts(
    url: &str,
    schema: &str,
    opportunities: &[Opportunity],
    per_transaction: usize,
) -> StoreResult<Duration> {
    let store = SqlStore::open_postgres(url, Some(schema), 4).await?;
    store.timed_inserts(opportunities, per_transaction).await
}

impl SqlStore {
    async fn timed_inserts(&self, opportunities: &[Opportunity], per_transaction: usize) -> StoreResult<Duration> {
        let started = Instant::now();
        for chunk in opportunities.chunks(per_transaction.max(1)) {
            let mut tx = self.db.begin().await?;
            for o in chunk {
                tx.exec(INSERT_OPPORTUNITY, &opportunity_params(o)?).await?;
            }
            tx.commit().await?;
        }
        Ok(started.elapsed())
    }
}

/// Drops a schema the benchmark created (and everything in it).
pub async fn drop_postgres_schema(url: &str, schema: &str) -> StoreResult<()> {
    if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(crate::StoreError::Other(format!("invalid schema name {schema:?}")));
    }
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| crate::StoreError::Unavailable(e.to_string()))?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .map_err(|e| crate::StoreError::Other(e.to_string()))
}
