//! Integration checks in the portal and the operator console (issue 25). A partner starts a
//! run of its CRM integration against the published scenarios, watches it progress (the page's
//! script fetches the report again every few seconds while the run is going; without it, a
//! reload does) and prints its report; every read and the start
//! are partner API operations through `portal::call` (quotas, isolation and audit as a signed
//! request's). The console lists every partner's runs and shows any report.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::portal::{call, partner, text_at, when};
use super::session::{self, PartnerForm};
use super::{page, Nav, WebError};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/checks", get(list).post(start))
        .route("/portal/checks/{id}", get(show))
        .route("/console/checks", get(console_list))
        .route("/console/checks/{id}", get(console_show))
}

pub struct RunRow {
    pub id: String,
    pub partner: String,
    pub status: String,
    pub passed: i64,
    pub failed: i64,
    pub created: String,
}

pub struct ScenarioOption {
    pub name: &'static str,
    pub title: &'static str,
}

#[derive(Template)]
#[template(path = "checks.html")]
struct ChecksPage {
    nav: Option<Nav>,
    /// The console's list (every partner's, linked to the console's report).
    console: bool,
    runs: Vec<RunRow>,
    scenarios: Vec<ScenarioOption>,
    csrf: String,
    error: String,
}

pub struct StepRow {
    pub step: i64,
    pub title: String,
    pub side: String,
    pub status: String,
    pub message: String,
    pub request_ids: Vec<String>,
    pub at: String,
}

pub struct ScenarioReport {
    pub name: String,
    pub title: String,
    pub rules: String,
    pub status: String,
    pub steps: Vec<StepRow>,
}

#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage {
    nav: Option<Nav>,
    id: String,
    partner: String,
    status: String,
    running: bool,
    passed: i64,
    failed: i64,
    created: String,
    updated: String,
    timeout: String,
    scenarios: Vec<ScenarioReport>,
    back: &'static str,
}

fn row(r: &Value) -> RunRow {
    RunRow {
        id: text_at(r, "Id").to_string(),
        partner: text_at(r, "PartnerId").to_string(),
        status: text_at(r, "Status").to_string(),
        passed: r["Passed"].as_i64().unwrap_or(0),
        failed: r["Failed"].as_i64().unwrap_or(0),
        created: when(text_at(r, "CreatedAt")),
    }
}

fn report_page(nav: Option<Nav>, r: &Value, back: &'static str) -> CheckPage {
    let scenarios = r["Scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| ScenarioReport {
            name: text_at(s, "Name").to_string(),
            title: text_at(s, "Title").to_string(),
            rules: s["Rules"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            status: text_at(s, "Status").to_string(),
            steps: s["Steps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|st| StepRow {
                    step: st["Step"].as_i64().unwrap_or(0),
                    title: text_at(st, "Title").to_string(),
                    side: text_at(st, "Side").to_string(),
                    status: text_at(st, "Status").to_string(),
                    message: text_at(st, "Message").to_string(),
                    request_ids: st["RequestIds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                    at: when(text_at(st, "At")),
                })
                .collect(),
        })
        .collect();
    let status = text_at(r, "Status").to_string();
    CheckPage {
        nav,
        id: text_at(r, "Id").to_string(),
        partner: text_at(r, "PartnerId").to_string(),
        running: status == "Running",
        status,
        passed: r["Passed"].as_i64().unwrap_or(0),
        failed: r["Failed"].as_i64().unwrap_or(0),
        created: when(text_at(r, "CreatedAt")),
        updated: when(text_at(r, "UpdatedAt")),
        timeout: format!("{} min", r["StepTimeoutSeconds"].as_i64().unwrap_or(0) / 60),
        scenarios,
        back,
    }
}

fn options() -> Vec<ScenarioOption> {
    ace_domain::check::SCENARIOS.iter().map(|s| ScenarioOption { name: s.name, title: s.title }).collect()
}

async fn list_page(state: &AppState, headers: &HeaderMap, error: String) -> Result<Response, WebError> {
    let (viewer, caller) = partner(state, headers).await?;
    let out = call(state, &caller, "ListIntegrationChecks", json!({"Catalog": "Sandbox", "MaxResults": 100})).await?;
    let runs = out["IntegrationChecks"].as_array().into_iter().flatten().map(row).collect();
    let status = if error.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok(page(
        status,
        &ChecksPage {
            nav: Some(viewer.nav("checks", "Integration check")),
            console: false,
            runs,
            scenarios: options(),
            csrf: viewer.session.csrf.clone(),
            error,
        },
    ))
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    list_page(&state, &headers, String::new()).await
}

async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    PartnerForm { caller, form, .. }: PartnerForm,
) -> Result<Response, WebError> {
    let mut input = json!({"Catalog": "Sandbox", "Scenarios": form.all("scenario")});
    if let Some(minutes) = form.text("minutes") {
        match minutes.trim().parse::<i64>() {
            Ok(m) if (1..=1440).contains(&m) => input["StepTimeoutSeconds"] = json!(m * 60),
            _ => return list_page(&state, &headers, "Minutes per step: a whole number from 1 to 1440.".into()).await,
        }
    }
    match call(&state, &caller, "StartIntegrationCheck", input).await {
        Ok(run) => Ok(Redirect::to(&format!("/portal/checks/{}", text_at(&run, "Id"))).into_response()),
        Err(ApiError::Conflict(m)) => list_page(&state, &headers, m).await,
        Err(e) => Err(e.into()),
    }
}

async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let run = match call(&state, &caller, "GetIntegrationCheck", json!({"Catalog": "Sandbox", "Identifier": id})).await {
        Ok(run) => run,
        Err(ApiError::ResourceNotFound(_) | ApiError::Validation { .. }) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    Ok(page(StatusCode::OK, &report_page(Some(viewer.nav("checks", "Integration check")), &run, "/portal/checks")))
}

/// The operator's staff: every partner's runs.
async fn console_list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    let runs = crate::app::checks::list(&state, None).await?;
    let runs = runs.iter().map(|r| row(&crate::app::checks::partner_report(r))).collect();
    let page_data = ChecksPage {
        nav: Some(viewer.nav("checks", "Integration checks")),
        console: true,
        runs,
        scenarios: Vec::new(),
        csrf: viewer.session.csrf.clone(),
        error: String::new(),
    };
    Ok(page(StatusCode::OK, &page_data))
}

async fn console_show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    let run = match crate::app::checks::get(&state, &id).await {
        Ok(run) => run,
        Err(crate::app::AppError::NotFound(_)) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let report = crate::app::checks::partner_report(&run);
    Ok(page(StatusCode::OK, &report_page(Some(viewer.nav("checks", "Integration checks")), &report, "/console/checks")))
}
