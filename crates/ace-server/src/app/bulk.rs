//! Bulk jobs (issue 20), as every edge uses them: start one, run it, read it.
//!
//! **A job runs in the background.** A start commits the job `SUBMITTED` and starts it at once;
//! every node looks for unfinished jobs nobody holds every few seconds ([`run_forever`]), so a
//! job survives a restart. One node runs a job at a time: it holds the job's lease, renewed as
//! it goes, and another node takes the job over only once the lease has lapsed.
//!
//! **The file is read once.** It is fetched (`crate::bulk::fetch`), read as a template
//! (`ace_domain::bulk::parse`) and kept with the job; a file that cannot be read or is no
//! template fails the job as a whole, with the reason, before any row is applied.
//!
//! **Each row is the single-record operation.** A row goes through
//! `app::operations::Runner::invoke_bulk_row` as the job's user — while that user may still write (active,
//! its partner not removed from the program, REM-1) — with the model check, the handler, the
//! program's rules and the audit exactly as a signed `CreateOpportunity`, `UpdateOpportunity`
//! or `CreateCustomerAccount` would. Its result (success with the record's id) is committed in
//! the same transaction as its change; a failure is recorded with the operation's error code
//! and message. A resumed job runs only the rows without a result, and a create row carries
//! the `ClientToken` `JOB-LINE`, so a row is never applied twice. A customer account a row
//! created is matched as any other (`customer_accounts`). Rows run [`IN_FLIGHT`] at a time so
//! their commits share transactions (group commit).
//!
//! **Quotas**: each row counts against the partner's daily write quota (USE-5), as a write
//! call would; when it is spent, the job waits (still `IN_PROGRESS`) and goes on once it has
//! room again. The per-second rate does not apply to rows: the job paces itself.

use std::collections::HashSet;
use std::sync::Arc;

use ace_domain::bulk::{BulkJob, JobKind, JobStatus, RecordStatus, RowResult, ID_BODY_CHARS, ID_PREFIX};
use ace_domain::ids::Catalog;
use ace_store::{StoreError, WriteBatch};
use serde_json::{json, Value};

use super::{AppError, Caller};
use crate::AppState;

/// How long a node's hold on a job lasts without renewal.
const LEASE_MS: i64 = 20_000;

/// How many rows run at once: enough that their commits fill group commits.
pub const IN_FLIGHT: usize = 256;

/// Unfinished jobs a node looks at per pass.
const UNFINISHED_PER_RUN: usize = 20;

pub fn new_id() -> String {
    crate::referrals::new_id(ID_PREFIX, ID_BODY_CHARS)
}

/// A job of the caller's in the catalog; anyone else's, or none, is not found (USE-4).
pub async fn load(state: &AppState, caller: &Caller, kind: JobKind, catalog: Catalog, id: &str) -> Result<BulkJob, AppError> {
    match state.store.get_bulk_job(id).await? {
        Some(job) if job.partner_id == caller.partner.id && job.kind == kind && job.catalog == catalog => Ok(job),
        _ => Err(AppError::NotFound(format!("Bulk job {id} was not found in catalog {catalog}"))),
    }
}

/// A job as it stands: the job and (succeeded, failed) so far.
pub async fn progress(state: &AppState, job: &BulkJob) -> Result<(i64, i64), AppError> {
    Ok(state.store.bulk_job_counts(&job.id).await?)
}

/// The caller's jobs of a kind in the catalog, newest first: one (`id`), of one status, or all.
pub async fn of_partner(
    state: &AppState,
    caller: &Caller,
    kind: JobKind,
    catalog: Catalog,
    id: Option<&str>,
    status: Option<JobStatus>,
) -> Result<Vec<BulkJob>, AppError> {
    let mut jobs = state.store.list_bulk_jobs(Some(&caller.partner.id), kind, Some(catalog)).await?;
    jobs.retain(|j| id.is_none_or(|id| j.id == id) && status.is_none_or(|s| j.status == s));
    Ok(jobs)
}

/// A job's results in file order after line `after_row`, of one status or all, at most `limit`.
pub async fn results(
    state: &AppState,
    job: &BulkJob,
    status: Option<RecordStatus>,
    after_row: i64,
    limit: usize,
) -> Result<Vec<RowResult>, AppError> {
    Ok(state.store.bulk_job_results(&job.id, status, after_row, limit).await?)
}

/// Every result of a job, of one status or all, in file order (read a page at a time).
pub async fn all_results(state: &AppState, job_id: &str, status: Option<RecordStatus>) -> Result<Vec<RowResult>, AppError> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |r: &RowResult| r.row);
        let page = state.store.bulk_job_results(job_id, status, after, 10_000).await?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

/// `DeletedCount` of a customer-account job: the accounts its rows created that have since been
/// deleted (the ones still there are its successes less these).
pub async fn deleted_count(state: &AppState, caller: &Caller, job: &BulkJob) -> Result<i64, AppError> {
    let created = all_results(state, &job.id, Some(RecordStatus::Succeeded)).await?;
    if created.is_empty() {
        return Ok(0);
    }
    let present: HashSet<String> =
        super::customer_accounts::of_partner(state, &caller.partner, job.catalog).await?.into_iter().map(|a| a.id).collect();
    Ok(created.iter().filter(|r| r.resource_id.as_ref().is_some_and(|id| !present.contains(id))).count() as i64)
}

/// Starts running `job_id` in the background (after its commit).
pub fn start_running(state: &AppState, job_id: String) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&state, &job_id).await {
            tracing::warn!(error = ?e, job = %job_id, "bulk job stopped; it is resumed once its lease lapses");
        }
    });
}

/// Runs the unfinished jobs no live node holds.
pub async fn resume(state: &AppState) -> Result<Vec<String>, AppError> {
    let now_ms = state.wall_clock_ms();
    let mut ran = Vec::new();
    for job in state.store.unfinished_bulk_jobs(UNFINISHED_PER_RUN).await? {
        if job.lease.as_ref().is_some_and(|(_, until)| *until > now_ms) {
            continue;
        }
        start_running(state, job.id.clone());
        ran.push(format!("bulk job {} resumed", job.id));
    }
    Ok(ran)
}

/// How often a node looks for bulk jobs no node is running.
pub const RESUME_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The loop `ace serve` runs until shutdown: resumes unfinished jobs no live node holds
/// (after a restart, or a node that died holding one), whatever the program clock.
pub async fn run_forever(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        match resume(&state).await {
            Ok(resumed) => resumed.iter().for_each(|line| tracing::info!("{line}")),
            Err(e) => tracing::warn!(error = ?e, "resuming bulk jobs failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RESUME_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Takes the job's lease (`renewing`: renews the one this run holds); `None` when a run holds
/// it — another node's, or another task's of this node (the start and the resume loop may both
/// try) — or the job changed since it was read.
async fn hold(state: &AppState, mut job: BulkJob, renewing: bool) -> Result<Option<BulkJob>, AppError> {
    let now_ms = state.wall_clock_ms();
    let held = job.lease.as_ref().is_some_and(|(_, until)| *until > now_ms);
    let ours = job.lease.as_ref().is_some_and(|(node, _)| node.as_str() == &*state.node_id);
    if held && !(renewing && ours) {
        return Ok(None);
    }
    job.lease = Some((state.node_id.to_string(), now_ms + LEASE_MS));
    if job.status == JobStatus::Submitted {
        job.status = JobStatus::InProgress;
        job.started_at = Some(state.now());
    }
    match state.store.commit(WriteBatch { update_bulk_jobs: vec![job.clone()], ..Default::default() }).await {
        Ok(_) => Ok(Some(BulkJob { version: job.version + 1, ..job })),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn finish(state: &AppState, mut job: BulkJob, failure: Option<String>) -> Result<(), AppError> {
    let now = state.now();
    match failure {
        Some(reason) => job.fail(reason, now),
        None => job.complete(now),
    }
    state.store.commit(WriteBatch { update_bulk_jobs: vec![job], ..Default::default() }).await?;
    Ok(())
}

/// The caller a job's rows are written as: its user, while it may still write as a signed
/// request would (the user active, its partner not removed from the program, REM-1).
async fn caller_of(state: &AppState, job: &BulkJob) -> Result<Option<Caller>, AppError> {
    let Some(user) = state.store.get_user_by_access_key(&job.access_key_id).await? else { return Ok(None) };
    let Some(partner) = state.store.get_partner(&job.partner_id).await? else { return Ok(None) };
    if user.status != ace_store::UserStatus::Active || !partner.has_access() {
        return Ok(None);
    }
    Ok(Some(Caller { partner, user }))
}

/// Runs a job until it is finished, its lease is lost, or the daily write quota is spent.
pub async fn run(state: &AppState, job_id: &str) -> Result<(), AppError> {
    let Some(job) = state.store.get_bulk_job(job_id).await? else { return Ok(()) };
    if job.status.is_finished() {
        return Ok(());
    }
    let Some(mut job) = hold(state, job, false).await? else { return Ok(()) };
    let Some(caller) = caller_of(state, &job).await? else {
        let reason =
            "the user who started the job can no longer write (removed or disabled, or its partner removed from the program)";
        return finish(state, job, Some(reason.into())).await;
    };
    // The file, read once and kept with the job: a resumed run reads the same bytes.
    let (text, fresh) = match state.store.bulk_job_file(&job.id).await? {
        Some(text) => (text, false),
        None => {
            let fetched = match crate::bulk::source(&state.settings.files, &job.file_uri, &caller.partner.account_id) {
                Ok(source) => crate::bulk::fetch(&state.settings.files, &source).await,
                Err(reason) => Err(reason),
            };
            let bytes = match fetched {
                Ok(bytes) => bytes,
                Err(reason) => return finish(state, job, Some(reason)).await,
            };
            match String::from_utf8(bytes) {
                Ok(text) => (text, true),
                // `parse` says which byte is not UTF-8.
                Err(e) => {
                    let reason = ace_domain::bulk::parse(job.kind, e.as_bytes()).err().unwrap_or_default();
                    return finish(state, job, Some(reason)).await;
                }
            }
        }
    };
    let parsed = match ace_domain::bulk::parse(job.kind, text.as_bytes()) {
        Ok(p) => p,
        Err(reason) => return finish(state, job, Some(reason)).await,
    };
    if fresh {
        job.file_sha256 = Some(crate::crypto::sha256_hex(text.as_bytes()));
        job.total_records = parsed.rows.len() as i64;
        job.operation_type = Some(parsed.operation_type);
        let batch = WriteBatch {
            update_bulk_jobs: vec![job.clone()],
            put_bulk_files: vec![(job.id.clone(), text)],
            ..Default::default()
        };
        match state.store.commit(batch).await {
            Ok(_) => job.version += 1,
            Err(StoreError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    let done: HashSet<i64> = state.store.bulk_job_done_rows(&job.id).await?.into_iter().collect();
    let name = job.kind.operation(parsed.operation_type);
    if !state.operations.serves(name) {
        return finish(state, job, Some(format!("{name} is not served"))).await;
    }
    let operation = name;
    let caller = Arc::new(caller);
    let mut pending = parsed.rows.into_iter().filter(|r| !done.contains(&r.line));
    let mut running = tokio::task::JoinSet::new();
    let mut last_renewal = state.wall_clock_ms();
    loop {
        while running.len() < IN_FLIGHT {
            let Some(row) = pending.next() else { break };
            let daily = state.quotas.admit_daily_write(&caller.partner.id, state.wall_clock_ms()).await?;
            if let Err(limit) = daily {
                tracing::info!(job = %job.id, %limit, "bulk job waits for the daily write quota");
                while running.join_next().await.is_some() {}
                release(state, job).await?;
                return Ok(());
            }
            let (state, caller, job_id, catalog) = (state.clone(), caller.clone(), job.id.clone(), job.catalog);
            running.spawn(async move { apply_row(&state, &caller, operation, &job_id, catalog, row).await });
        }
        let Some(joined) = running.join_next().await else { break };
        // A row that could not be recorded (storage trouble) stops the run; it is retried.
        joined.map_err(|e| AppError::Store(StoreError::Other(format!("a bulk row task failed: {e}"))))??;
        if state.wall_clock_ms() - last_renewal > LEASE_MS / 4 {
            match hold(state, job.clone(), true).await? {
                Some(renewed) => job = renewed,
                None => {
                    while running.join_next().await.is_some() {}
                    return Ok(());
                }
            }
            last_renewal = state.wall_clock_ms();
        }
    }
    finish(state, job, None).await
}

/// Lets the job go for now (the daily quota is spent): another run picks it up later.
async fn release(state: &AppState, mut job: BulkJob) -> Result<(), AppError> {
    job.lease = None;
    match state.store.commit(WriteBatch { update_bulk_jobs: vec![job], ..Default::default() }).await {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Applies one row and records its result.
async fn apply_row(
    state: &AppState,
    caller: &Caller,
    operation: &'static str,
    job_id: &str,
    catalog: Catalog,
    row: ace_domain::bulk::Row,
) -> Result<(), AppError> {
    let mut result = RowResult {
        job_id: job_id.to_string(),
        row: row.line,
        request_id: row.request_id.chars().take(255).collect(),
        status: RecordStatus::Succeeded,
        error_code: None,
        error_message: None,
        resource_id: None,
    };
    if !row.errors.is_empty() {
        result.status = RecordStatus::Failed;
        result.error_code = Some("ValidationException".into());
        result.error_message = Some(row.errors.join("; "));
    } else {
        let mut input = Value::Object(row.input);
        input["Catalog"] = json!(catalog.as_str());
        if matches!(operation, "CreateOpportunity" | "CreateCustomerAccount") {
            input["ClientToken"] = json!(format!("{job_id}-{}", row.line));
        }
        let (outcome, recorded) = state.operations.invoke_bulk_row(state, caller, operation, input, result.clone()).await;
        match outcome {
            Ok(_) if recorded => return Ok(()),
            Ok(output) => {
                // A create answered from its ClientToken (applied before, its result lost with
                // a crash of another kind) or a write that changed no opportunity.
                if let Some(v) = &output {
                    result.resource_id = v.get("Id").and_then(Value::as_str).map(String::from);
                }
            }
            // Storage trouble is not the row's fault: stop, and retry the row later.
            Err(crate::error::ApiError::Internal(cause)) => return Err(AppError::Store(StoreError::Unavailable(cause))),
            Err(e) => {
                result.status = RecordStatus::Failed;
                result.error_code = Some(e.aws_code().0.to_string());
                result.error_message = Some(e.message());
            }
        }
    }
    state.store.commit(WriteBatch { insert_bulk_results: vec![result], ..Default::default() }).await?;
    Ok(())
}

/// A job as the operator sees it: whose, what, how far, and why it failed.
fn operator_summary(job: &BulkJob, (succeeded, failed): (i64, i64)) -> Value {
    let ts = |t: Option<ace_domain::time::Instant>| t.map(ace_domain::time::format_timestamp);
    json!({
        "id": job.id, "kind": job.kind.as_str(), "catalog": job.catalog.as_str(), "partner": job.partner_id,
        "status": job.status.as_str(), "operation_type": job.operation_type.map(|o| o.as_str()),
        "file_name": job.file_name(), "file_uri": job.file_uri, "file_sha256": job.file_sha256,
        "total_records": job.total_records, "processed_records": succeeded + failed,
        "succeeded": succeeded, "failed": failed,
        "created": ace_domain::time::format_timestamp(job.created_at), "started": ts(job.started_at), "completed": ts(job.completed_at),
        "failure_reason": job.failure_reason, "running_on": job.lease.as_ref().map(|(node, _)| node.clone()),
    })
}

/// Every job (issue 20, `ace job list`), newest first: all partners', or one's.
pub async fn operator_list(state: &AppState, partner: Option<&str>) -> Result<Vec<Value>, AppError> {
    let mut jobs = state.store.list_bulk_jobs(partner, JobKind::Opportunity, None).await?;
    jobs.extend(state.store.list_bulk_jobs(partner, JobKind::CustomerAccount, None).await?);
    jobs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    let mut out = Vec::with_capacity(jobs.len());
    for job in &jobs {
        out.push(operator_summary(job, state.store.bulk_job_counts(&job.id).await?));
    }
    Ok(out)
}

/// One job (`ace job show`), with its first failed records.
pub async fn operator_view(state: &AppState, id: &str) -> Result<Value, AppError> {
    let job = state.store.get_bulk_job(id).await?.ok_or_else(|| AppError::NotFound(format!("bulk job {id} does not exist")))?;
    let mut v = operator_summary(&job, state.store.bulk_job_counts(&job.id).await?);
    let failed = state.store.bulk_job_results(&job.id, Some(RecordStatus::Failed), 0, 20).await?;
    v["first_failures"] = failed
        .iter()
        .map(|r| json!({"line": r.row, "request_id": r.request_id, "error_code": r.error_code, "error_message": r.error_message}))
        .collect();
    Ok(v)
}
