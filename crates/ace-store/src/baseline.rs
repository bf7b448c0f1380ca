//! The storage engine's own ceiling, for `ace bench`: the same opportunity rows, the same
//! schema and indexes, the same durability setting, written straight through the SQL adapter —
//! no server, no validation, no events, no group commit — one row per transaction or many; and
//! the store's own ceiling for a bulk job's rows ([`full_writes`]: each row's whole write
//! through the store's write path, no server, no validation).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ace_domain::audit::AuditEntry;
use ace_domain::bulk::{RecordStatus, RowResult};
use ace_domain::events::opportunity_event;
use ace_domain::opportunity::Opportunity;

use crate::write::{opportunity_params, INSERT_OPPORTUNITY};
use crate::{IdempotencyKey, IdempotencyRecord, SqlStore, Store, StoreResult, WriteBatch};

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

/// The store's own ceiling for what one bulk-job create writes (issue 20): for each of
/// `opportunities`, the opportunity (with its search entry and words), its `Opportunity
/// Created` event, its `ClientToken`, its audit entry and its row result, each as one
/// [`WriteBatch`] committed through the store's write path, `in_flight` at a time (on SQLite
/// they share group commits, as the bulk job's rows do) — no server, no validation. Returns
/// the time the writes took.
pub async fn full_writes(store: Arc<SqlStore>, opportunities: Vec<Opportunity>, in_flight: usize) -> StoreResult<Duration> {
    let job = "bulkjob-baseline";
    // Built as they are sent, as a job builds its rows' writes (30,000 built ahead would be
    // 150 MB of the harness's memory).
    let batches = opportunities.into_iter().enumerate().map(|(line, o)| {
        let event = opportunity_event("Opportunity Created", format!("baseline-{line}"), &o, "123456789012", o.created);
        let response = serde_json::json!({"Id": o.id});
        let detail =
            serde_json::json!({"operation": "CreateOpportunity", "catalog": o.catalog.as_str(), "opportunities": [o.id]});
        let audit =
            AuditEntry::new(o.created, format!("partner:{}/bench", o.partner_id), "partner.write", detail).partner(&o.partner_id);
        WriteBatch {
            idempotency: Some(IdempotencyRecord {
                key: IdempotencyKey {
                    partner_id: o.partner_id.clone(),
                    catalog: o.catalog,
                    operation: "CreateOpportunity".into(),
                    client_token: format!("{job}-{line}"),
                },
                request_hash: format!("{line:064}"),
                response,
                created_ms: o.created.timestamp_millis(),
            }),
            insert_bulk_results: vec![RowResult {
                job_id: job.into(),
                row: line as i64 + 2,
                request_id: format!("r-{line}"),
                status: RecordStatus::Succeeded,
                error_code: None,
                error_message: None,
                resource_id: Some(o.id.clone()),
            }],
            insert_opportunities: vec![o],
            events: vec![event],
            audit: vec![audit],
            ..Default::default()
        }
    });
    let started = Instant::now();
    let mut pending = batches;
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < in_flight.max(1) {
            let Some(batch) = pending.next() else { break };
            let store = store.clone();
            running.spawn(async move { store.commit(batch).await });
        }
        let Some(joined) = running.join_next().await else { break };
        joined.map_err(|e| crate::StoreError::Other(format!("a baseline write failed: {e}")))??;
    }
    Ok(started.elapsed())
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
