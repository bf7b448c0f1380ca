//! Bulk jobs (issue 20): StartOpportunityBulkJob, ListOpportunityBulkJobs,
//! ListOpportunityBulkJobResults, GetOpportunityBulkJobReportUrl, and the customer-account
//! jobs' StartCustomerAccountBulkJob, GetCustomerAccountBulkJob, ListCustomerAccountBulkJobs,
//! ListCustomerAccountBulkJobResults, GetCustomerAccountBulkJobReportUrl. What a job is and how
//! it runs is `ace_domain::bulk`'s and `app::bulk`'s; files and reports are `crate::bulk`'s.

use serde::{Deserialize, Serialize};

use ace_domain::bulk::{BulkJob, JobKind, JobStatus, RecordStatus};
use ace_domain::model::{FieldError, FieldErrorCode};
use ace_domain::time::format_timestamp;
use ace_store::WriteBatch;

use super::engagements::{commit_claiming, replayed};
use super::{ApiResult, Output, Request};
use crate::app::bulk::{deleted_count, load, new_id, of_partner, progress, results as results_of, start_running};
use crate::bulk::{report_link, ReportType};
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartOpportunityBulkJobRequest {
    #[serde(rename = "FileURI")]
    file_uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StartOpportunityBulkJobResponse {
    job_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListOpportunityBulkJobsRequest {
    job_id: Option<String>,
    status: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOpportunityBulkJobsResponse {
    opportunity_bulk_job_summaries: Vec<JobSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobSummary {
    job_id: String,
    status: &'static str,
    total_records: i64,
    processed_records: i64,
    success_count: i64,
    failure_count: i64,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    file_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_type: Option<&'static str>,
}

impl JobSummary {
    pub fn of(job: &BulkJob, (succeeded, failed): (i64, i64)) -> JobSummary {
        JobSummary {
            job_id: job.id.clone(),
            status: job.status.as_str(),
            total_records: job.total_records,
            processed_records: succeeded + failed,
            success_count: succeeded,
            failure_count: failed,
            created_at: format_timestamp(job.created_at),
            started_at: job.started_at.map(format_timestamp),
            completed_at: job.completed_at.map(format_timestamp),
            failure_reason: job.failure_reason.clone(),
            file_name: job.file_name(),
            operation_type: job.operation_type.map(|o| o.as_str()),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListOpportunityBulkJobResultsRequest {
    job_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOpportunityBulkJobResultsResponse {
    results: Vec<ResultView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResultView {
    request_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetOpportunityBulkJobReportUrlRequest {
    job_id: String,
    report_format: String,
    report_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetOpportunityBulkJobReportUrlResponse {
    report_status: &'static str,
    report_type: &'static str,
    report_format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
}

pub async fn start(r: Request) -> ApiResult {
    let input: StartOpportunityBulkJobRequest = r.parse()?;
    begin(&r, JobKind::Opportunity, "FileURI", &input.file_uri, |job| StartOpportunityBulkJobResponse { job_id: job.id.clone() })
        .await
}

/// Starts a job of `kind` on the file `uri` names (`member`: the input member naming it): a
/// `ClientToken` seen before answers as it did; a URI that can never be read is refused now
/// (one that fails when read fails the job); the job is committed `SUBMITTED` and starts
/// running at once.
async fn begin<T: Serialize>(
    r: &Request,
    kind: JobKind,
    member: &str,
    uri: &str,
    answer: impl FnOnce(&BulkJob) -> T,
) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new bulk jobs").await?;
    if let Some(previous) = replayed(r).await? {
        return Ok(Output::Json(previous));
    }
    crate::bulk::source(&r.state.settings.files, uri, &r.caller.partner.account_id).map_err(|why| {
        ApiError::request_validation(vec![FieldError::new(member, FieldErrorCode::InvalidValue, format!("{member}: {why}"))])
    })?;
    let client_token = r.str("ClientToken").unwrap_or_default().to_string();
    let job = BulkJob::new(
        new_id(),
        kind,
        r.catalog,
        &r.caller.partner.id,
        &r.caller.user.access_key_id,
        &client_token,
        uri,
        r.state.now(),
    );
    let Output::Json(response) = r.respond(&answer(&job))? else {
        return Err(ApiError::Internal(format!("{} answers a body", r.operation.name())));
    };
    let id = job.id.clone();
    let output = commit_claiming(
        r,
        WriteBatch { insert_bulk_jobs: vec![job], ..Default::default() },
        response,
        "The job could not be recorded; retry.",
    )
    .await?;
    // A replayed token wrote nothing: running finds no job by the new id and does nothing.
    start_running(&r.state, id);
    Ok(output)
}

pub async fn list(r: Request) -> ApiResult {
    let input: ListOpportunityBulkJobsRequest = r.parse()?;
    let status = input.status.as_deref().and_then(JobStatus::parse);
    let jobs = of_partner(&r.state, &r.caller, JobKind::Opportunity, r.catalog, input.job_id.as_deref(), status).await?;
    let (page, next_token) = super::page_of(&r, jobs, 20)?;
    let mut summaries = Vec::with_capacity(page.len());
    for job in &page {
        summaries.push(JobSummary::of(job, progress(&r.state, job).await?));
    }
    r.respond(&ListOpportunityBulkJobsResponse { opportunity_bulk_job_summaries: summaries, next_token })
}

/// Where a page of results starts: after this row of the file.
#[derive(Serialize, Deserialize)]
struct ResultCursor {
    after_row: i64,
}

pub async fn results(r: Request) -> ApiResult {
    let input: ListOpportunityBulkJobResultsRequest = r.parse()?;
    let job = load(&r.state, &r.caller, JobKind::Opportunity, r.catalog, &input.job_id).await?;
    page_of_results(&r, &job).await
}

/// A page of a job's results in file order (`Status`, `MaxResults` and `NextToken` as the
/// request has them), under a sealed token bound to the request.
async fn page_of_results(r: &Request, job: &BulkJob) -> ApiResult {
    let status = r.str("Status").and_then(RecordStatus::parse);
    let after_row = r.page_cursor::<ResultCursor>()?.map_or(0, |c| c.after_row);
    let size = r.page_size(20);
    let mut rows = results_of(&r.state, job, status, after_row, size + 1).await?;
    let more = rows.len() > size;
    rows.truncate(size);
    let next_token = match (more, rows.last()) {
        (true, Some(last)) => Some(r.next_page_token(&ResultCursor { after_row: last.row })),
        _ => None,
    };
    let results = rows
        .into_iter()
        .map(|row| ResultView {
            request_id: row.request_id,
            status: row.status.as_str(),
            resource_identifier: row.resource_id,
            error_code: row.error_code,
            error_message: row.error_message,
        })
        .collect();
    r.respond(&ListOpportunityBulkJobResultsResponse { results, next_token })
}

pub async fn report_url(r: Request) -> ApiResult {
    let input: GetOpportunityBulkJobReportUrlRequest = r.parse()?;
    let job = load(&r.state, &r.caller, JobKind::Opportunity, r.catalog, &input.job_id).await?;
    let kind = input.report_type.as_deref().and_then(ReportType::parse).unwrap_or(ReportType::FailedRecords);
    // "A report is available only after the job is COMPLETED or FAILED."
    let report = if job.status.is_finished() { report_of(&r, &job, kind).await } else { Report::status("NOT_STARTED") };
    r.respond(&GetOpportunityBulkJobReportUrlResponse {
        report_status: report.status,
        report_type: kind.as_str(),
        report_format: input.report_format,
        url: report.url,
        expires_at: report.expires_at,
        failure_reason: report.failure_reason,
    })
}

/// A finished job's report as a report URL operation answers it.
struct Report {
    status: &'static str,
    url: Option<String>,
    expires_at: Option<String>,
    failure_reason: Option<String>,
}

impl Report {
    fn status(status: &'static str) -> Report {
        Report { status, url: None, expires_at: None, failure_reason: None }
    }
}

/// The link to a finished job's report of `kind`, for 15 minutes — or why there is none.
async fn report_of(r: &Request, job: &BulkJob, kind: ReportType) -> Report {
    if job.report_expired(r.state.now()) {
        return Report::status("EXPIRED");
    }
    match report_link(&r.state, &r.caller.partner.account_id, &job.id, kind).await {
        Ok((url, expires)) => {
            Report { status: "AVAILABLE", url: Some(url), expires_at: Some(format_timestamp(expires)), failure_reason: None }
        }
        Err(reason) => {
            tracing::warn!(job = %job.id, %reason, "a bulk job report could not be made");
            Report { failure_reason: Some("The report could not be made now; ask again.".into()), ..Report::status("FAILED") }
        }
    }
}

// ---- Customer-account bulk jobs: the same jobs, their own wire shapes. ----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartCustomerAccountBulkJobRequest {
    file_uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StartCustomerAccountBulkJobResponse {
    arn: String,
    id: String,
    status: &'static str,
    created_at: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Identified {
    identifier: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerAccountJobView {
    arn: String,
    id: String,
    status: &'static str,
    total_records: i64,
    processed_records: i64,
    success_count: i64,
    failure_count: i64,
    deleted_count: i64,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    file_name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CustomerAccountBulkJobFilter {
    identifier: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListCustomerAccountBulkJobsRequest {
    #[serde(default)]
    filter: CustomerAccountBulkJobFilter,
}

#[derive(Serialize)]
struct ListCustomerAccountBulkJobsResponse {
    items: Vec<CustomerAccountJobView>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetCustomerAccountBulkJobReportUrlRequest {
    identifier: String,
    report_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCustomerAccountBulkJobReportUrlResponse {
    report_status: &'static str,
    report_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
}

/// The job id an `Identifier` names (an id, or an ARN of the caller's account and catalog).
fn job_id_of(r: &Request, identifier: &str) -> Result<String, ApiError> {
    if !identifier.starts_with("arn:") {
        return Ok(identifier.to_string());
    }
    let not_found = || ApiError::ResourceNotFound(format!("Bulk job {identifier} was not found in catalog {}", r.catalog));
    let arn = ace_domain::ids::ResourceArn::parse(identifier).ok_or_else(not_found)?;
    if arn.resource_type != "customer-account-bulk-job"
        || arn.catalog != r.catalog
        || arn.account_id != r.caller.partner.account_id
    {
        return Err(not_found());
    }
    Ok(arn.resource_id)
}

async fn load_customer_account_job(r: &Request, identifier: &str) -> Result<BulkJob, ApiError> {
    let id = job_id_of(r, identifier)?;
    Ok(load(&r.state, &r.caller, JobKind::CustomerAccount, r.catalog, &id).await?)
}

/// The job as the API shows it. `DeletedCount`: the accounts its rows created that have since
/// been deleted (the accounts still there are `SuccessCount - DeletedCount`).
async fn customer_account_job_view(r: &Request, job: &BulkJob) -> Result<CustomerAccountJobView, ApiError> {
    let (succeeded, failed) = progress(&r.state, job).await?;
    let deleted = deleted_count(&r.state, &r.caller, job).await?;
    Ok(CustomerAccountJobView {
        arn: ace_domain::bulk::customer_account_job_arn(&r.caller.partner.account_id, job.catalog, &job.id),
        id: job.id.clone(),
        status: job.status.as_str(),
        total_records: job.total_records,
        processed_records: succeeded + failed,
        success_count: succeeded,
        failure_count: failed,
        deleted_count: deleted,
        created_at: format_timestamp(job.created_at),
        completed_at: job.completed_at.map(format_timestamp),
        failure_reason: job.failure_reason.clone(),
        file_name: job.file_name(),
    })
}

pub async fn start_customer_accounts(r: Request) -> ApiResult {
    let input: StartCustomerAccountBulkJobRequest = r.parse()?;
    let account_id = r.caller.partner.account_id.clone();
    begin(&r, JobKind::CustomerAccount, "FileUri", &input.file_uri, |job| StartCustomerAccountBulkJobResponse {
        arn: ace_domain::bulk::customer_account_job_arn(&account_id, job.catalog, &job.id),
        id: job.id.clone(),
        status: job.status.as_str(),
        created_at: format_timestamp(job.created_at),
    })
    .await
}

pub async fn get_customer_accounts(r: Request) -> ApiResult {
    let input: Identified = r.parse()?;
    let job = load_customer_account_job(&r, &input.identifier).await?;
    r.respond(&customer_account_job_view(&r, &job).await?)
}

pub async fn list_customer_accounts(r: Request) -> ApiResult {
    let input: ListCustomerAccountBulkJobsRequest = r.parse()?;
    let status = input.filter.status.as_deref().and_then(JobStatus::parse);
    // An ARN of another account or catalog names none of the caller's jobs.
    let jobs = match input.filter.identifier.as_deref().map(|i| job_id_of(&r, i)).transpose() {
        Ok(id) => of_partner(&r.state, &r.caller, JobKind::CustomerAccount, r.catalog, id.as_deref(), status).await?,
        Err(_) => Vec::new(),
    };
    let (page, next_token) = super::page_of(&r, jobs, 20)?;
    let mut items = Vec::with_capacity(page.len());
    for job in &page {
        items.push(customer_account_job_view(&r, job).await?);
    }
    r.respond(&ListCustomerAccountBulkJobsResponse { items, next_token })
}

pub async fn results_customer_accounts(r: Request) -> ApiResult {
    let input: Identified = r.parse()?;
    let job = load_customer_account_job(&r, &input.identifier).await?;
    page_of_results(&r, &job).await
}

pub async fn report_url_customer_accounts(r: Request) -> ApiResult {
    let input: GetCustomerAccountBulkJobReportUrlRequest = r.parse()?;
    let job = load_customer_account_job(&r, &input.identifier).await?;
    if !job.status.is_finished() {
        return Err(ApiError::Conflict(format!(
            "bulk job {} is {}: its report is made once it has finished",
            job.id,
            job.status.as_str()
        )));
    }
    let kind = input.report_type.as_deref().and_then(ReportType::parse).unwrap_or(ReportType::FailedRecords);
    let report = report_of(&r, &job, kind).await;
    r.respond(&GetCustomerAccountBulkJobReportUrlResponse {
        report_status: report.status,
        report_type: kind.as_str(),
        url: report.url,
        expires_at: report.expires_at,
        failure_reason: report.failure_reason,
    })
}
