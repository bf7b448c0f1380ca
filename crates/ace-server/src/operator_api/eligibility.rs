//! Referral eligibility for the operator (ELIG-2, ELIG-3): reports as of any instant, the
//! versioned configuration, further requirements and their per-partner values.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use ace_domain::eligibility::{FurtherRequirement, Segment};
use ace_domain::partner::Program;
use ace_domain::time::{format_timestamp, from_millis, parse_timestamp, Instant};

use ace_store::{AdminWrite, WriteBatch};

use super::{authorize, done, done_created, ok, parse_body, parse_programs, views, OpResult, OperatorCall, OperatorError};
use crate::app::eligibility;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/eligibility", get(all))
        .route("/eligibility/{id}", get(one))
        .route("/eligibility/{id}/history", get(history))
        .route("/eligibility-config", get(show_config).put(update_config))
        .route("/requirements", get(list_requirements).post(add_requirement))
        .route("/partners/{id}/requirements/{requirement}", put(set_requirement))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AsOfQuery {
    as_of: Option<String>,
}

fn as_of(state: &AppState, q: &AsOfQuery) -> Result<Instant, OperatorError> {
    match &q.as_of {
        None => Ok(state.now()),
        Some(s) => parse_timestamp(&Value::String(s.clone()))
            .ok_or_else(|| OperatorError::bad_request(format!("as_of {s:?} is not an RFC 3339 date-time"))),
    }
}

#[utoipa::path(get, path = "/eligibility", tag = "operator", summary = "Every partner's referral eligibility (ELIG-2)", params(AsOfQuery), responses((status = 200, description = "success", body = views::Reports)))]
async fn all(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<AsOfQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let reports = eligibility::all_reports(&state, as_of(&state, &q)?, state.now()).await?;
    ok(views::Reports { reports })
}

#[utoipa::path(get, path = "/eligibility/{id}", tag = "operator", summary = "One partner's eligibility report: each requirement met or not, with its figures; as_of uses the profile and configuration in force then", params(("id" = String, Path), AsOfQuery), responses((status = 200, description = "success")))]
async fn one(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, Query(q): Query<AsOfQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let at = as_of(&state, &q)?;
    match eligibility::report(&state, &id, at).await? {
        Some(report) => ok(serde_json::to_value(report).unwrap_or(Value::Null)),
        None => Err(OperatorError::not_found(format!("partner {id} did not exist at {}", format_timestamp(at)))),
    }
}

#[utoipa::path(get, path = "/eligibility/{id}/history", tag = "operator", summary = "Recorded changes of the partner's eligibility, with their causes", params(("id" = String, Path)), responses((status = 200, description = "success", body = views::EligibilityHistory)))]
async fn history(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    let history = eligibility::history(&state, Some(&id))
        .await?
        .into_iter()
        .map(|c| views::EligibilityChangeView {
            at: format_timestamp(from_millis(c.at_ms)),
            eligible: c.eligible,
            cause: c.cause,
            unmet: c.unmet,
        })
        .collect();
    ok(views::EligibilityHistory { history })
}

async fn config_view(state: &AppState) -> Result<views::ConfigView, OperatorError> {
    let versions = eligibility::config_versions(state).await?;
    let now = state.now();
    let current = ace_domain::eligibility::in_force_at(&versions, now).cloned().unwrap_or_default();
    let effective = versions.iter().filter(|(t, _)| *t <= now).map(|(t, _)| *t).max();
    Ok(views::ConfigView { config: current, effective_from: effective.map(format_timestamp), versions: versions.len() })
}

#[utoipa::path(get, path = "/eligibility-config", tag = "operator", summary = "The eligibility configuration in force (ELIG-3)", responses((status = 200, description = "success", body = views::ConfigView)))]
async fn show_config(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(config_view(&state).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfigInput {
    validated_min: Option<u32>,
    window_months: Option<u32>,
    referral_update_days: Option<u32>,
    referral_fresh_percent_min: Option<u32>,
    programs: Option<Vec<String>>,
}

/// A configuration change is a new version, in force from now; past evaluations keep theirs.
/// Committed with its audit entry; every partner is then re-evaluated under it.
async fn save_config(
    state: &AppState,
    call: &OperatorCall,
    status: StatusCode,
    config: ace_domain::eligibility::EligibilityConfig,
    cause: &str,
) -> Result<(), OperatorError> {
    let write = AdminWrite::PutEligibilityConfig { effective_ms: state.now().timestamp_millis(), config };
    call.commit(state, status, WriteBatch { admin: vec![write], ..Default::default() }).await?;
    eligibility::sweep_after(state, cause).await;
    Ok(())
}

#[utoipa::path(put, path = "/eligibility-config", tag = "operator", summary = "Change thresholds or the program list: a new version, in force from now", request_body = ConfigInput, responses((status = 200, description = "success", body = views::ConfigView)))]
async fn update_config(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: ConfigInput = parse_body(&body)?;
    let mut config = eligibility::config_at(&state, state.now()).await?;
    if let Some(v) = input.validated_min {
        config.validated_min = v;
    }
    if let Some(v) = input.window_months {
        if !(1..=120).contains(&v) {
            return Err(OperatorError::bad_request("window_months must be 1-120"));
        }
        config.window_months = v;
    }
    if let Some(v) = input.referral_update_days {
        if !(1..=3650).contains(&v) {
            return Err(OperatorError::bad_request("referral_update_days must be 1-3650"));
        }
        config.referral_update_days = v;
    }
    if let Some(v) = input.referral_fresh_percent_min {
        if v > 100 {
            return Err(OperatorError::bad_request("referral_fresh_percent_min must be 0-100"));
        }
        config.referral_fresh_percent_min = v;
    }
    if let Some(programs) = input.programs {
        let mut parsed: Vec<Program> = parse_programs(&programs)?;
        parsed.sort();
        parsed.dedup();
        if parsed.is_empty() {
            return Err(OperatorError::bad_request("at least one program is needed for ELIG-2.1 (c)"));
        }
        config.programs = parsed;
    }
    save_config(&state, &call, StatusCode::OK, config, "eligibility configuration changed").await?;
    done(config_view(&state).await?)
}

#[utoipa::path(get, path = "/requirements", tag = "operator", summary = "Further requirements per segment (ELIG-2.x (e))", responses((status = 200, description = "success", body = views::Requirements)))]
async fn list_requirements(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    let config = eligibility::config_at(&state, state.now()).await?;
    ok(views::Requirements { requirements: config.further })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RequirementInput {
    id: String,
    segment: String,
    description: String,
}

/// ELIG-2.x (e): a further requirement the operator defines for a segment.
#[utoipa::path(post, path = "/requirements", tag = "operator", summary = "Define a further requirement", request_body = RequirementInput, responses((status = 201, description = "success")))]
async fn add_requirement(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: RequirementInput = parse_body(&body)?;
    let id_ok = !input.id.is_empty() && input.id.len() <= 64 && input.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(OperatorError::bad_request("requirement id must be 1-64 characters of letters, digits and -"));
    }
    let segment = Segment::parse(&input.segment)
        .ok_or_else(|| OperatorError::bad_request(format!("unknown segment {:?}; use select, advanced or isv", input.segment)))?;
    if input.description.trim().is_empty() || input.description.len() > 500 {
        return Err(OperatorError::bad_request("the description must be 1-500 characters"));
    }
    let mut config = eligibility::config_at(&state, state.now()).await?;
    if config.further.iter().any(|f| f.id == input.id && f.segment == segment) {
        return Err(OperatorError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("requirement {} already exists for {}", input.id, segment.as_str()),
        ));
    }
    let requirement = FurtherRequirement { id: input.id, segment, description: input.description };
    config.further.push(requirement.clone());
    save_config(&state, &call, StatusCode::CREATED, config, &format!("requirement {} added", requirement.id)).await?;
    done_created(serde_json::to_value(requirement).unwrap_or(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MetInput {
    met: bool,
}

#[utoipa::path(put, path = "/partners/{id}/requirements/{requirement}", tag = "operator", summary = "Set whether the partner meets a further requirement", params(("id" = String, Path), ("requirement" = String, Path)), request_body = MetInput, responses((status = 200, description = "success", body = ace_domain::partner::PartnerProfile)))]
async fn set_requirement(
    State(state): State<AppState>,
    Path((id, requirement)): Path<(String, String)>,
    call: OperatorCall,
    body: Bytes,
) -> OpResult {
    let input: MetInput = parse_body(&body)?;
    let config = eligibility::config_at(&state, state.now()).await?;
    if !config.further.iter().any(|f| f.id == requirement) {
        return Err(OperatorError::not_found(format!("no requirement {requirement}; see `ace requirement list`")));
    }
    let mut partner = crate::app::partners::load(&state, &id).await?;
    partner.further_requirements.insert(requirement.clone(), input.met);
    let view = partner.clone();
    let write = AdminWrite::UpdatePartner { profile: partner, effective_ms: state.now().timestamp_millis() };
    call.commit(&state, StatusCode::OK, WriteBatch { admin: vec![write], ..Default::default() }).await?;
    eligibility::refresh_after(&state, &id, &format!("requirement {requirement} set to {}", input.met)).await;
    done(view)
}
