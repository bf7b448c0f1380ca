//! Bulk jobs (issue 20): the job (a version column: a change must still see the version it
//! read, so two nodes never both run it), its file as read (in parts, so a restarted job reads
//! the same bytes whatever happened to the source since), and one result per row, keyed by the
//! row: a row's result is written in the same transaction as the row's change, so a row is
//! never applied twice and a resumed job skips what has a result.

use ace_domain::bulk::{BulkJob, JobKind, RecordStatus, RowResult};
use ace_domain::ids::Catalog;

use crate::sql::{Database, Tx};
use crate::store::{from_json, to_json};
use crate::{StoreError, StoreResult, WriteBatch};

/// How much of a file one row of `bulk_job_files` holds.
const FILE_PART_BYTES: usize = 1024 * 1024;

/// The batch's bulk-job changes, inside its transaction.
pub(crate) async fn apply(tx: &mut Box<dyn Tx>, batch: &WriteBatch) -> StoreResult<()> {
    for job in &batch.insert_bulk_jobs {
        tx.exec(
            "INSERT INTO bulk_jobs (id, kind, catalog, partner_id, status, created_ms, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                job.id.as_str().into(),
                job.kind.as_str().into(),
                job.catalog.as_str().into(),
                job.partner_id.as_str().into(),
                job.status.as_str().into(),
                job.created_at.timestamp_millis().into(),
                job.version.into(),
                to_json(job)?.into(),
            ],
        )
        .await?;
    }
    for job in &batch.update_bulk_jobs {
        let next = BulkJob { version: job.version + 1, ..job.clone() };
        let n = tx
            .exec(
                "UPDATE bulk_jobs SET status = $2, version = $3, doc = $4 WHERE id = $1 AND version = $5",
                &[
                    job.id.as_str().into(),
                    job.status.as_str().into(),
                    next.version.into(),
                    to_json(&next)?.into(),
                    job.version.into(),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("bulk job {} changed since it was read", job.id)));
        }
    }
    for (job_id, text) in &batch.put_bulk_files {
        tx.exec("DELETE FROM bulk_job_files WHERE job_id = $1", &[job_id.as_str().into()]).await?;
        for (part, chunk) in chunks(text).into_iter().enumerate() {
            tx.exec(
                "INSERT INTO bulk_job_files (job_id, part, text) VALUES ($1, $2, $3)",
                &[job_id.as_str().into(), (part as i64).into(), chunk.into()],
            )
            .await?;
        }
    }
    for r in &batch.insert_bulk_results {
        // A row that has its result already was done (by this transaction's twin on another
        // node, say): the first result stands.
        tx.exec(
            "INSERT INTO bulk_job_results (job_id, row_no, status, doc) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job_id, row_no) DO NOTHING",
            &[r.job_id.as_str().into(), r.row.into(), r.status.as_str().into(), to_json(r)?.into()],
        )
        .await?;
    }
    Ok(())
}

/// `text` in parts of at most [`FILE_PART_BYTES`], cut at character boundaries.
fn chunks(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(FILE_PART_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        parts.push(&rest[..end]);
        rest = &rest[end..];
    }
    parts
}

pub(crate) async fn get(db: &dyn Database, id: &str) -> StoreResult<Option<BulkJob>> {
    let mut r = db.reader().await?;
    let rows = r.query("SELECT doc FROM bulk_jobs WHERE id = $1", &[id.into()]).await?;
    rows.first().map(|row| from_json(&row.text(0)?)).transpose()
}

/// Jobs newest first: a partner's of a kind in a catalog, or (`partner_id` None) everyone's.
pub(crate) async fn list(
    db: &dyn Database,
    partner_id: Option<&str>,
    kind: JobKind,
    catalog: Option<Catalog>,
) -> StoreResult<Vec<BulkJob>> {
    let mut r = db.reader().await?;
    let rows = match (partner_id, catalog) {
        (Some(p), Some(c)) => {
            r.query(
                "SELECT doc FROM bulk_jobs WHERE partner_id = $1 AND kind = $2 AND catalog = $3 ORDER BY created_ms DESC, id",
                &[p.into(), kind.as_str().into(), c.as_str().into()],
            )
            .await?
        }
        (Some(p), None) => {
            r.query(
                "SELECT doc FROM bulk_jobs WHERE partner_id = $1 AND kind = $2 ORDER BY created_ms DESC, id",
                &[p.into(), kind.as_str().into()],
            )
            .await?
        }
        _ => r.query("SELECT doc FROM bulk_jobs WHERE kind = $1 ORDER BY created_ms DESC, id", &[kind.as_str().into()]).await?,
    };
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// Jobs not finished, oldest first: what the jobs loop runs.
pub(crate) async fn unfinished(db: &dyn Database, limit: usize) -> StoreResult<Vec<BulkJob>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM bulk_jobs WHERE status IN ('SUBMITTED', 'IN_PROGRESS') ORDER BY created_ms LIMIT $1",
            &[(limit as i64).into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

pub(crate) async fn file(db: &dyn Database, job_id: &str) -> StoreResult<Option<String>> {
    let mut r = db.reader().await?;
    let rows = r.query("SELECT text FROM bulk_job_files WHERE job_id = $1 ORDER BY part", &[job_id.into()]).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut text = String::new();
    for row in rows {
        text.push_str(&row.text(0)?);
    }
    Ok(Some(text))
}

/// The rows of a job that have their result.
pub(crate) async fn done_rows(db: &dyn Database, job_id: &str) -> StoreResult<Vec<i64>> {
    let mut r = db.reader().await?;
    let rows = r.query("SELECT row_no FROM bulk_job_results WHERE job_id = $1", &[job_id.into()]).await?;
    rows.iter().map(|row| row.int(0)).collect()
}

/// (succeeded, failed) of a job's results so far.
pub(crate) async fn counts(db: &dyn Database, job_id: &str) -> StoreResult<(i64, i64)> {
    let mut r = db.reader().await?;
    let rows =
        r.query("SELECT status, COUNT(*) FROM bulk_job_results WHERE job_id = $1 GROUP BY status", &[job_id.into()]).await?;
    let (mut ok, mut failed) = (0, 0);
    for row in rows {
        match row.text(0)?.as_str() {
            "SUCCEEDED" => ok = row.int(1)?,
            _ => failed = row.int(1)?,
        }
    }
    Ok((ok, failed))
}

/// A job's results in row order after `after_row`, of one status or all, at most `limit`.
pub(crate) async fn results(
    db: &dyn Database,
    job_id: &str,
    status: Option<RecordStatus>,
    after_row: i64,
    limit: usize,
) -> StoreResult<Vec<RowResult>> {
    let mut r = db.reader().await?;
    let rows = match status {
        Some(s) => {
            r.query(
                "SELECT doc FROM bulk_job_results WHERE job_id = $1 AND status = $2 AND row_no > $3 ORDER BY row_no LIMIT $4",
                &[job_id.into(), s.as_str().into(), after_row.into(), (limit as i64).into()],
            )
            .await?
        }
        None => {
            r.query(
                "SELECT doc FROM bulk_job_results WHERE job_id = $1 AND row_no > $2 ORDER BY row_no LIMIT $3",
                &[job_id.into(), after_row.into(), (limit as i64).into()],
            )
            .await?
        }
    };
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_cut_into_parts_at_character_boundaries() {
        let text = "é".repeat(FILE_PART_BYTES); // two bytes each
        let parts = chunks(&text);
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.len() <= FILE_PART_BYTES));
        assert!(chunks("").is_empty());
    }
}
