//! Integration checks for the operator (issue 25): start one for a partner, read any run's
//! report, list them (`app::checks`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use ace_domain::time::parse_duration;

use super::{authorize, done, done_created, ok, parse_body, OpResult, OperatorCall, OperatorError};
use crate::app::checks as use_case;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checks", get(list).post(start))
        .route("/checks/{id}", get(show))
        .route("/checks/{id}/cancel", axum::routing::post(cancel))
}

/// What the operator asks a run to do.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    partner_id: String,
    /// Scenario names; every scenario when empty.
    #[serde(default)]
    scenarios: Vec<String>,
    /// How long each expectation may take, e.g. `10m`, `90s`, `1h` (10 minutes when absent).
    step_timeout: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    partner: Option<String>,
}

#[utoipa::path(post, path = "/checks", tag = "operator", summary = "Start an integration check (issue 25) for a partner in the Sandbox: the published scenarios (all, or those named), each step judged on what the partner's credentials are seen doing", request_body = StartInput, responses((status = 201, description = "success")))]
async fn start(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: StartInput = parse_body(&body)?;
    let step_timeout_ms = match input.step_timeout.as_deref().map(parse_duration).transpose() {
        Ok(timeout) => timeout.map(|t| t.num_milliseconds()),
        Err(e) => return Err(OperatorError::bad_request(format!("step timeout: {e}"))),
    };
    let ask = use_case::NewRun { partner_id: input.partner_id, scenarios: input.scenarios, step_timeout_ms };
    let entry = call.entry(&state, StatusCode::CREATED);
    let run = use_case::start(&state, ask, entry).await?;
    done_created(use_case::report(&run))
}

#[utoipa::path(get, path = "/checks", tag = "operator", summary = "Integration checks, newest first, every partner's or one's", params(ListQuery), responses((status = 200, description = "success", body = super::views::Checks)))]
async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let runs = use_case::list(&state, q.partner.as_deref()).await?;
    ok(super::views::Checks { checks: runs.iter().map(use_case::report).collect() })
}

#[utoipa::path(get, path = "/checks/{id}", tag = "operator", summary = "One integration check's report: each scenario and step, passed, failed (what was expected, what happened, the request ids) or timed out", params(("id" = String, Path)), responses((status = 200, description = "success")))]
async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(use_case::report(&use_case::get(&state, &id).await?))
}

#[utoipa::path(post, path = "/checks/{id}/cancel", tag = "operator", summary = "Stop a running integration check: every step not taken yet is skipped, saying so; a run that has ended is answered as it is", params(("id" = String, Path)), responses((status = 200, description = "success")))]
async fn cancel(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall) -> OpResult {
    let entry = call.entry(&state, StatusCode::OK);
    let run = use_case::cancel(&state, &id, entry).await?;
    done(use_case::report(&run))
}
