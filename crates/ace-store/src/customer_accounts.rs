//! Customer accounts (issue 20): the rows behind `ace_domain::customer_account`, and the
//! operator's customer records they are matched against (the pipeline, any stage: a won deal
//! is still a customer). Every change of an account must still see the version it read.

use ace_domain::customer_account::{CustomerAccount, Status};
use ace_domain::identity::{CustomerIdentity, PipelineRecord};
use ace_domain::ids::Catalog;

use crate::sql::{Database, Tx};
use crate::store::{from_json, to_json};
use crate::{StoreError, StoreResult, WriteBatch};

/// The batch's customer-account changes, inside its transaction.
pub(crate) async fn apply(tx: &mut Box<dyn Tx>, batch: &WriteBatch) -> StoreResult<()> {
    for a in &batch.insert_customer_accounts {
        tx.exec(
            "INSERT INTO customer_accounts (catalog, id, partner_id, status, created_ms, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                a.catalog.as_str().into(),
                a.id.as_str().into(),
                a.partner_id.as_str().into(),
                a.status.as_str().into(),
                a.created.timestamp_millis().into(),
                a.version.into(),
                to_json(a)?.into(),
            ],
        )
        .await?;
    }
    for a in &batch.update_customer_accounts {
        let next = CustomerAccount { version: a.version + 1, ..a.clone() };
        let n = tx
            .exec(
                "UPDATE customer_accounts SET status = $3, version = $4, doc = $5 WHERE catalog = $1 AND id = $2 AND version = $6",
                &[
                    a.catalog.as_str().into(),
                    a.id.as_str().into(),
                    a.status.as_str().into(),
                    next.version.into(),
                    to_json(&next)?.into(),
                    a.version.into(),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("customer account {} changed since it was read", a.id)));
        }
    }
    for (catalog, id) in &batch.delete_customer_accounts {
        tx.exec("DELETE FROM customer_accounts WHERE catalog = $1 AND id = $2", &[catalog.as_str().into(), id.as_str().into()])
            .await?;
    }
    Ok(())
}

pub(crate) async fn get(db: &dyn Database, catalog: Catalog, id: &str) -> StoreResult<Option<CustomerAccount>> {
    let mut r = db.reader().await?;
    let rows = r
        .query("SELECT doc FROM customer_accounts WHERE catalog = $1 AND id = $2", &[catalog.as_str().into(), id.into()])
        .await?;
    rows.first().map(|row| from_json(&row.text(0)?)).transpose()
}

/// A partner's accounts in a catalog, oldest first.
pub(crate) async fn of_partner(db: &dyn Database, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<CustomerAccount>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM customer_accounts WHERE partner_id = $1 AND catalog = $2 ORDER BY created_ms, id",
            &[partner_id.into(), catalog.as_str().into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// Accounts still waiting for matching, oldest first.
pub(crate) async fn pending(db: &dyn Database, limit: usize) -> StoreResult<Vec<CustomerAccount>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM customer_accounts WHERE status = $1 ORDER BY created_ms, id LIMIT $2",
            &[Status::Pending.as_str().into(), (limit as i64).into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// The operator's customer records (any stage) that may match `identity`, chosen as SUB-2
/// chooses its candidates, as whole records.
pub(crate) async fn customer_records(
    db: &dyn Database,
    identity: &CustomerIdentity,
    limit: usize,
) -> StoreResult<Vec<PipelineRecord>> {
    let mut r = db.reader().await?;
    let columns = "external_id, '', ident_company, ident_domain, ident_duns, ident_country, ident_name";
    let candidates = crate::candidates::conflict_candidates(
        &mut r,
        "operator-pipeline",
        columns,
        "pipeline_records WHERE 1 = 1",
        vec![],
        identity,
        limit,
    )
    .await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut params = Vec::with_capacity(candidates.len());
    let ids = crate::store::placeholders(&mut params, candidates.iter().map(|c| c.record_id.as_str().into()));
    let rows =
        r.query(&format!("SELECT doc FROM pipeline_records WHERE external_id IN ({ids}) ORDER BY external_id"), &params).await?;
    let records = rows.iter().map(|row| from_json(&row.text(0)?)).collect::<StoreResult<Vec<PipelineRecord>>>()?;
    Ok(records)
}
