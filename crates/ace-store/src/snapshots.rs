//! Resource snapshots, snapshot jobs and engagement–resource associations (issue 19): the rows
//! behind `ace_domain::snapshot`. A snapshot row is written once and never updated; its key
//! (engagement, resource, template, revision) makes a revision number taken twice a conflict,
//! so two writers racing for the same next revision cannot both win.

use ace_domain::ids::Catalog;
use ace_domain::snapshot::{Association, Snapshot, SnapshotJob};

use crate::sql::{Database, Tx};
use crate::store::{from_json, to_json};
use crate::{StoreError, StoreResult, WriteBatch};

/// The batch's snapshot changes, inside its transaction.
pub(crate) async fn apply(tx: &mut Box<dyn Tx>, batch: &WriteBatch) -> StoreResult<()> {
    for s in &batch.insert_snapshots {
        let n = tx
            .exec(
                "INSERT INTO resource_snapshots (catalog, engagement_id, resource_id, template, revision, partner_id, created_ms, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (catalog, engagement_id, resource_id, template, revision) DO NOTHING",
                &[
                    s.catalog.as_str().into(),
                    s.engagement_id.as_str().into(),
                    s.resource_id.as_str().into(),
                    s.template.as_str().into(),
                    s.revision.into(),
                    s.partner_id.as_str().into(),
                    s.created_at.timestamp_millis().into(),
                    to_json(s)?.into(),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "revision {} of the {} snapshot of {} was taken meanwhile",
                s.revision, s.template, s.resource_id
            )));
        }
    }
    for a in &batch.associate_resources {
        tx.exec(
            "INSERT INTO engagement_resources (catalog, engagement_id, resource_type, resource_id, partner_id, created_ms, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (catalog, engagement_id, resource_type, resource_id) DO NOTHING",
            &[
                a.catalog.as_str().into(),
                a.engagement_id.as_str().into(),
                a.resource_type.as_str().into(),
                a.resource_id.as_str().into(),
                a.partner_id.as_str().into(),
                a.created_at.timestamp_millis().into(),
                to_json(a)?.into(),
            ],
        )
        .await?;
    }
    for j in &batch.insert_snapshot_jobs {
        tx.exec(
            "INSERT INTO snapshot_jobs (catalog, id, partner_id, engagement_id, resource_id, status, created_ms, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                j.catalog.as_str().into(),
                j.id.as_str().into(),
                j.partner_id.as_str().into(),
                j.engagement_id.as_str().into(),
                j.resource_id.as_str().into(),
                j.status.as_str().into(),
                j.created_at.timestamp_millis().into(),
                j.version.into(),
                to_json(j)?.into(),
            ],
        )
        .await?;
    }
    for j in &batch.update_snapshot_jobs {
        let next = SnapshotJob { version: j.version + 1, ..j.clone() };
        let n = tx
            .exec(
                "UPDATE snapshot_jobs SET status = $3, version = $4, doc = $5 WHERE catalog = $1 AND id = $2 AND version = $6",
                &[
                    j.catalog.as_str().into(),
                    j.id.as_str().into(),
                    j.status.as_str().into(),
                    next.version.into(),
                    to_json(&next)?.into(),
                    j.version.into(),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("resource snapshot job {} changed since it was read", j.id)));
        }
    }
    for j in &batch.delete_snapshot_jobs {
        let n = tx
            .exec(
                "DELETE FROM snapshot_jobs WHERE catalog = $1 AND id = $2 AND version = $3",
                &[j.catalog.as_str().into(), j.id.as_str().into(), j.version.into()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("resource snapshot job {} changed since it was read", j.id)));
        }
    }
    // REM-2: an opportunity removed from the partner's reach takes its snapshots and its
    // associations with it (its jobs stay, stopped by the caller, to say why).
    for (catalog, id) in &batch.delete_opportunities {
        for table in ["resource_snapshots", "engagement_resources"] {
            tx.exec(
                &format!("DELETE FROM {table} WHERE catalog = $1 AND resource_id = $2"),
                &[catalog.as_str().into(), id.as_str().into()],
            )
            .await?;
        }
    }
    Ok(())
}

/// A revision of one snapshot, the latest when `revision` is `None`.
pub(crate) async fn get(
    db: &dyn Database,
    catalog: Catalog,
    engagement_id: &str,
    resource_id: &str,
    template: &str,
    revision: Option<i64>,
) -> StoreResult<Option<Snapshot>> {
    let mut r = db.reader().await?;
    let base =
        "SELECT doc FROM resource_snapshots WHERE catalog = $1 AND engagement_id = $2 AND resource_id = $3 AND template = $4";
    let rows = match revision {
        Some(n) => {
            r.query(
                &format!("{base} AND revision = $5"),
                &[catalog.as_str().into(), engagement_id.into(), resource_id.into(), template.into(), n.into()],
            )
            .await?
        }
        None => {
            r.query(
                &format!("{base} ORDER BY revision DESC LIMIT 1"),
                &[catalog.as_str().into(), engagement_id.into(), resource_id.into(), template.into()],
            )
            .await?
        }
    };
    rows.first().map(|row| from_json(&row.text(0)?)).transpose()
}

/// Every snapshot in an engagement, by resource, template and revision.
pub(crate) async fn list(db: &dyn Database, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<Snapshot>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM resource_snapshots WHERE catalog = $1 AND engagement_id = $2 ORDER BY resource_id, template, revision",
            &[catalog.as_str().into(), engagement_id.into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

pub(crate) async fn get_job(db: &dyn Database, catalog: Catalog, id: &str) -> StoreResult<Option<SnapshotJob>> {
    let mut r = db.reader().await?;
    let rows =
        r.query("SELECT doc FROM snapshot_jobs WHERE catalog = $1 AND id = $2", &[catalog.as_str().into(), id.into()]).await?;
    rows.first().map(|row| from_json(&row.text(0)?)).transpose()
}

/// A partner's jobs in a catalog, oldest first.
pub(crate) async fn jobs_of_partner(db: &dyn Database, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<SnapshotJob>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM snapshot_jobs WHERE partner_id = $1 AND catalog = $2 ORDER BY created_ms, id",
            &[partner_id.into(), catalog.as_str().into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// The running jobs that follow one resource.
pub(crate) async fn running_jobs_of(db: &dyn Database, catalog: Catalog, resource_id: &str) -> StoreResult<Vec<SnapshotJob>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM snapshot_jobs WHERE catalog = $1 AND resource_id = $2 AND status = 'Running' ORDER BY created_ms, id",
            &[catalog.as_str().into(), resource_id.into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// The resources associated with the engagements `partner_id` is a member of, oldest first.
pub(crate) async fn associations_of_member(
    db: &dyn Database,
    partner_id: &str,
    catalog: Catalog,
) -> StoreResult<Vec<Association>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT a.doc FROM engagement_members m JOIN engagement_resources a \
             ON a.catalog = m.catalog AND a.engagement_id = m.engagement_id \
             WHERE m.partner_id = $1 AND m.catalog = $2 ORDER BY a.created_ms, a.engagement_id, a.resource_id",
            &[partner_id.into(), catalog.as_str().into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}
