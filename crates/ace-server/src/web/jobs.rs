//! The partner's bulk jobs in the portal (issue 20): every job with its progress and, once it
//! has finished, a link to its report. Each read is a partner API operation through
//! `portal::call` (the list operations; the report URL operation when the link is followed),
//! so quotas, isolation (USE-4) and audit are a signed request's.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::portal::{call, partner, text_at, when};
use super::{page, Nav, WebError};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/portal/jobs", get(list)).route("/portal/jobs/{kind}/{id}/report", get(report))
}

struct JobRow {
    id: String,
    /// `opportunities` or `customer-accounts`: the report link's path segment.
    kind: &'static str,
    what: &'static str,
    file: String,
    status: String,
    processed: i64,
    total: i64,
    failed: i64,
    created: String,
    failure_reason: String,
    finished: bool,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    nav: Option<Nav>,
    jobs: Vec<JobRow>,
}

fn row(j: &Value, kind: &'static str, id_member: &str, created_member: &str) -> JobRow {
    let count = |k: &str| j[k].as_i64().unwrap_or(0);
    let status = text_at(j, "Status").to_string();
    JobRow {
        id: text_at(j, id_member).into(),
        kind,
        what: if kind == "opportunities" {
            if text_at(j, "OperationType") == "BULK_UPDATE" {
                "Opportunity updates"
            } else {
                "Opportunities"
            }
        } else {
            "Customer accounts"
        },
        file: text_at(j, "FileName").into(),
        finished: status == "COMPLETED" || status == "FAILED",
        status,
        processed: count("ProcessedRecords"),
        total: count("TotalRecords"),
        failed: count("FailureCount"),
        created: when(text_at(j, created_member)),
        failure_reason: text_at(j, "FailureReason").into(),
    }
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let opportunities = call(&state, &caller, "ListOpportunityBulkJobs", json!({"Catalog": "AWS", "MaxResults": 100})).await?;
    let accounts = call(&state, &caller, "ListCustomerAccountBulkJobs", json!({"Catalog": "AWS", "MaxResults": 100})).await?;
    let mut jobs: Vec<(String, JobRow)> = Vec::new();
    for j in opportunities["OpportunityBulkJobSummaries"].as_array().into_iter().flatten() {
        jobs.push((text_at(j, "CreatedAt").into(), row(j, "opportunities", "JobId", "CreatedAt")));
    }
    for j in accounts["items"].as_array().into_iter().flatten() {
        jobs.push((text_at(j, "CreatedAt").into(), row(j, "customer-accounts", "Id", "CreatedAt")));
    }
    // Newest first, whichever kind.
    jobs.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(page(
        StatusCode::OK,
        &JobsPage { nav: Some(viewer.nav("jobs", "Bulk jobs")), jobs: jobs.into_iter().map(|(_, j)| j).collect() },
    ))
}

/// Follows a finished job's report link (made on request: it lasts 15 minutes).
async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (_, caller) = partner(&state, &headers).await?;
    let out = match kind.as_str() {
        "opportunities" => {
            let input = json!({"Catalog": "AWS", "JobId": id, "ReportFormat": "CSV", "ReportType": "ALL_RECORDS"});
            call(&state, &caller, "GetOpportunityBulkJobReportUrl", input).await?
        }
        "customer-accounts" => {
            let input = json!({"Catalog": "AWS", "Identifier": id, "ReportType": "ALL_RECORDS"});
            call(&state, &caller, "GetCustomerAccountBulkJobReportUrl", input).await?
        }
        _ => return Err(WebError::NotFound),
    };
    match out["Url"].as_str() {
        Some(url) => Ok(Redirect::to(url).into_response()),
        None => Err(WebError::NotFound),
    }
}
