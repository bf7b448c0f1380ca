//! Referrals for the operator: create (behind the eligibility gate and suppression list),
//! list, show, revoke; the suppression list (REF-5); the audit of contact reads (REF-1);
//! holiday calendars for the contact deadline (REF-3).

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use ace_domain::business_days::HolidayCalendar;
use ace_store::{AdminWrite, WriteBatch};

use super::{authorize, done, done_created, ok, parse_body, views, OpResult, OperatorCall, OperatorError};
use crate::app::referrals as use_case;
use crate::referrals;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/referrals", get(list).post(create))
        .route("/referrals/{id}", get(show))
        .route("/referrals/{id}/revoke", post(revoke))
        .route("/suppression", get(list_suppression))
        .route("/audit", get(audit))
        .route("/calendars/{name}", get(show_calendar).put(import_calendar))
}

#[utoipa::path(post, path = "/referrals", tag = "operator", summary = "Refer a lead or opportunity to a partner; refused when it is not eligible (ELIG-2, REF-6) or the contact is suppressed (REF-5)", request_body = use_case::CreateInput, responses((status = 201, description = "success")))]
async fn create(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: use_case::CreateInput = parse_body(&body)?;
    let audit = call.entry(&state, StatusCode::CREATED);
    done_created(use_case::create_referral(&state, input, audit).await?)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    partner: Option<String>,
    status: Option<String>,
}

/// REF-1: lists never carry contact data.
#[utoipa::path(get, path = "/referrals", tag = "operator", summary = "Referrals, oldest first, without contact data (REF-1)", params(ListQuery), responses((status = 200, description = "success", body = views::Referrals)))]
async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let items: Vec<Value> = use_case::list(&state, q.partner.as_deref(), 10_000)
        .await?
        .iter()
        .filter(|r| q.status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(r.status.as_str())))
        .map(|r| use_case::view(r, false))
        .collect();
    ok(views::Referrals { referrals: items })
}

#[utoipa::path(get, path = "/referrals/{id}", tag = "operator", summary = "One referral with its contact, deadlines and contact record", params(("id" = String, Path)), responses((status = 200, description = "success")))]
async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(use_case::view(&use_case::load(&state, &id).await?, true))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeInput {
    reason: Option<String>,
}

/// REM-1, REM-2: revoke one referral; the partner loses it and is told to delete its copies.
#[utoipa::path(post, path = "/referrals/{id}/revoke", tag = "operator", summary = "Revoke a referral (REM-1, REM-2): the partner loses it and is told to delete its copies", params(("id" = String, Path)), request_body = RevokeInput, responses((status = 200, description = "success")))]
async fn revoke(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: RevokeInput = if body.is_empty() { RevokeInput::default() } else { parse_body(&body)? };
    let referral = use_case::load(&state, &id).await?;
    let reason = input.reason.unwrap_or_else(|| "revoked by the operator".into());
    // The domain decides whether it can be revoked (REM-1); a refusal names the status.
    referral
        .revoke(state.now(), &reason)
        .map_err(|e| OperatorError::new(StatusCode::CONFLICT, "conflict", format!("{id}: {e}")))?;
    let audit = call.entry(&state, StatusCode::OK).partner(&referral.partner_id);
    if !referrals::revoke(&state, &referral, &reason, vec![audit]).await? {
        return Err(OperatorError::new(StatusCode::CONFLICT, "conflict", "the referral changed meanwhile; retry"));
    }
    done(use_case::view(&use_case::load(&state, &id).await?, false))
}

#[utoipa::path(get, path = "/suppression", tag = "operator", summary = "The suppression list (REF-5): hashed e-mails and company domains", responses((status = 200, description = "success", body = views::Suppressions)))]
async fn list_suppression(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(views::Suppressions { suppressions: use_case::suppressions(&state).await? })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    referral: String,
}

#[utoipa::path(get, path = "/audit", tag = "operator", summary = "Recorded reads of a referral's contact data (REF-1)", params(AuditQuery), responses((status = 200, description = "success", body = views::ContactReads)))]
async fn audit(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<AuditQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(views::ContactReads { reads: use_case::contact_reads(&state, &q.referral).await? })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CalendarInput {
    dates: Vec<String>,
}

#[utoipa::path(put, path = "/calendars/{name}", tag = "operator", summary = "Import a holiday calendar", params(("name" = String, Path)), request_body = CalendarInput, responses((status = 200, description = "success", body = views::CalendarImported)))]
async fn import_calendar(State(state): State<AppState>, Path(name): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    if HolidayCalendar::built_in(&name, 2000, 2000).is_some() {
        return Err(OperatorError::bad_request(format!("{name} is a built-in calendar computed by rule")));
    }
    let input: CalendarInput = parse_body(&body)?;
    let mut dates = BTreeSet::new();
    for (i, d) in input.dates.iter().enumerate() {
        let date = ace_domain::time::parse_date(d.trim())
            .ok_or_else(|| OperatorError::bad_request(format!("date {} ({d:?}) is not YYYY-MM-DD", i + 1)))?;
        dates.insert(date);
    }
    let calendar = HolidayCalendar { name: name.clone(), dates };
    let count = calendar.dates.len();
    call.commit(&state, StatusCode::OK, WriteBatch { admin: vec![AdminWrite::PutCalendar(calendar)], ..Default::default() })
        .await?;
    done(views::CalendarImported { name, dates: count })
}

#[utoipa::path(get, path = "/calendars/{name}", tag = "operator", summary = "A holiday calendar (built-in us-federal, or imported)", params(("name" = String, Path)), responses((status = 200, description = "success", body = views::CalendarView)))]
async fn show_calendar(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    let calendar = use_case::calendar(&state, &name).await?;
    ok(views::CalendarView { name: calendar.name, dates: calendar.dates })
}
