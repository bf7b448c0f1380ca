//! The integration check over the partner API (issue 25): `AcePartner.StartIntegrationCheck`,
//! `GetIntegrationCheck`, `ListIntegrationChecks` — the caller's own runs, in the Sandbox
//! (`app::checks`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use ace_domain::ids::Catalog;
use ace_domain::model::{FieldError, FieldErrorCode};

use super::{page_in_memory, ApiResult, Output, Request};
use crate::app::checks as use_case;
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartRequest {
    #[serde(default)]
    scenarios: Vec<String>,
    step_timeout_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRequest {
    identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    next_token: Option<String>,
}

/// Integration checks run in the Sandbox only: a run never touches the `AWS` catalog.
fn sandbox_only(r: &Request) -> Result<(), ApiError> {
    if r.catalog == Catalog::Sandbox {
        return Ok(());
    }
    Err(ApiError::request_validation(vec![FieldError::new(
        "Catalog",
        FieldErrorCode::InvalidEnumValue,
        "Catalog: integration checks run in the Sandbox catalog only",
    )]))
}

pub async fn start(r: Request) -> ApiResult {
    sandbox_only(&r)?;
    let input: StartRequest = r.parse()?;
    let ask = use_case::NewRun {
        partner_id: r.caller.partner.id.clone(),
        scenarios: input.scenarios,
        step_timeout_ms: input.step_timeout_seconds.map(|s| s * 1000),
    };
    let run = use_case::start(&r.state, ask, r.write_entry()).await?;
    r.audited();
    Ok(Output::Json(use_case::partner_report(&run)))
}

pub async fn get(r: Request) -> ApiResult {
    sandbox_only(&r)?;
    let input: GetRequest = r.parse()?;
    let run = use_case::get_own(&r.state, &r.caller.partner.id, &input.identifier).await?;
    Ok(Output::Json(use_case::partner_report(&run)))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ChecksPage {
    integration_checks: Vec<Value>,
    next_token: Option<String>,
}

pub async fn list(r: Request) -> ApiResult {
    sandbox_only(&r)?;
    let input: ListRequest = r.parse()?;
    let runs = use_case::list(&r.state, Some(&r.caller.partner.id)).await?;
    // A summary is the report's members that `IntegrationCheckSummary` declares.
    let summaries: Vec<Value> = runs.iter().map(use_case::partner_report).collect();
    let (page, next) = page_in_memory(&r.state, &r.page_fingerprint(), summaries, r.page_size(50), input.next_token.as_deref())?;
    r.respond(&ChecksPage { integration_checks: page, next_token: next })
}
