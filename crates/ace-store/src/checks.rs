//! Integration check runs and what they observed (issue 25): the rows behind
//! `ace_domain::check`. A run changes only under the version it was read at, so a step is
//! taken once however many nodes watch; observations are appended in the order they are seen,
//! and deleted when the partner's run ends (the report keeps the request ids).

use ace_domain::check::{CheckRun, Observation, RunStatus};

use crate::sql::{Database, Dialect, Tx};
use crate::store::{from_json, to_json};
use crate::{StoreError, StoreResult, WriteBatch};

/// The batch's check-run changes, inside its transaction.
pub(crate) async fn apply(tx: &mut Box<dyn Tx>, batch: &WriteBatch) -> StoreResult<()> {
    for run in &batch.insert_check_runs {
        tx.exec(
            "INSERT INTO check_runs (id, partner_id, status, created_ms, version, doc) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                run.id.as_str().into(),
                run.partner_id.as_str().into(),
                run.status.as_str().into(),
                run.created_ms.into(),
                run.version.into(),
                to_json(run)?.into(),
            ],
        )
        .await?;
    }
    for run in &batch.update_check_runs {
        let next = CheckRun { version: run.version + 1, ..run.clone() };
        let n = tx
            .exec(
                "UPDATE check_runs SET status = $2, version = $3, doc = $4 WHERE id = $1 AND version = $5",
                &[
                    run.id.as_str().into(),
                    run.status.as_str().into(),
                    next.version.into(),
                    to_json(&next)?.into(),
                    run.version.into(),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("check run {} changed since it was read", run.id)));
        }
        // A run that has ended keeps its report (with the request ids each result rests on);
        // what it observed goes (one run at a time per partner, so all of the partner's).
        if run.status != RunStatus::Running {
            tx.exec("DELETE FROM check_observations WHERE partner_id = $1", &[run.partner_id.as_str().into()]).await?;
        }
    }
    Ok(())
}

pub(crate) async fn get(db: &dyn Database, id: &str) -> StoreResult<Option<CheckRun>> {
    let mut r = db.reader().await?;
    let rows = r.query("SELECT doc FROM check_runs WHERE id = $1", &[id.into()]).await?;
    rows.first().map(|row| from_json(&row.text(0)?)).transpose()
}

/// Runs, newest first: a partner's, or everyone's.
pub(crate) async fn list(db: &dyn Database, partner_id: Option<&str>, limit: usize) -> StoreResult<Vec<CheckRun>> {
    let mut r = db.reader().await?;
    let rows = match partner_id {
        Some(p) => {
            r.query(
                "SELECT doc FROM check_runs WHERE partner_id = $1 ORDER BY created_ms DESC, id DESC LIMIT $2",
                &[p.into(), (limit as i64).into()],
            )
            .await?
        }
        None => {
            r.query("SELECT doc FROM check_runs ORDER BY created_ms DESC, id DESC LIMIT $1", &[(limit as i64).into()]).await?
        }
    };
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// Every run still going, oldest first.
pub(crate) async fn running(db: &dyn Database) -> StoreResult<Vec<CheckRun>> {
    let mut r = db.reader().await?;
    let rows = r
        .query("SELECT doc FROM check_runs WHERE status = $1 ORDER BY created_ms, id", &[RunStatus::Running.as_str().into()])
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// Appends what a partner's credentials did while a run of theirs is going; returns its place
/// in the order (`seq`), or `None` when no run is going (it ended meanwhile: nothing is kept).
/// On PostgreSQL the insert locks the running run's row first, so a partner's observations
/// commit in the order of their `seq` (a step's boundary never passes one still in flight)
/// and none lands after the run that ends deletes them; SQLite's one writer does both.
pub(crate) async fn observe(db: &dyn Database, partner_id: &str, o: &Observation) -> StoreResult<Option<i64>> {
    let lock = match db.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    let mut tx = db.begin().await?;
    let running = tx
        .query(
            &format!("SELECT id FROM check_runs WHERE partner_id = $1 AND status = $2{lock}"),
            &[partner_id.into(), RunStatus::Running.as_str().into()],
        )
        .await?;
    if running.is_empty() {
        return Ok(None);
    }
    let rows = tx
        .query(
            "INSERT INTO check_observations (partner_id, at_ms, doc) VALUES ($1, $2, $3) RETURNING seq",
            &[partner_id.into(), o.at_ms.into(), to_json(o)?.into()],
        )
        .await?;
    let seq = rows.first().ok_or(StoreError::NotFound)?.int(0)?;
    tx.commit().await?;
    Ok(Some(seq))
}

/// A partner's observations after `after_seq`, in order, each with its `seq`.
pub(crate) async fn observed(db: &dyn Database, partner_id: &str, after_seq: i64, limit: usize) -> StoreResult<Vec<Observation>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT seq, doc FROM check_observations WHERE partner_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[partner_id.into(), after_seq.into(), (limit as i64).into()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let mut o: Observation = from_json(&row.text(1)?)?;
            o.seq = row.int(0)?;
            Ok(o)
        })
        .collect()
}

/// The last of a partner's observations so far (0 when there is none).
pub(crate) async fn last_observed(db: &dyn Database, partner_id: &str) -> StoreResult<i64> {
    let mut r = db.reader().await?;
    let rows =
        r.query("SELECT COALESCE(MAX(seq), 0) FROM check_observations WHERE partner_id = $1", &[partner_id.into()]).await?;
    rows.first().map(|row| row.int(0)).transpose().map(Option::unwrap_or_default)
}
