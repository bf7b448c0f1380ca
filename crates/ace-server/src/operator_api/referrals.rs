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
use serde_json::{json, Value};

use ace_domain::business_days::HolidayCalendar;
use ace_domain::ids::Catalog;
use ace_domain::referral::{Referral, ReferralContact, ReferralCustomer, ReferralKind, ReferralRequest};
use ace_domain::time::format_timestamp;

use super::{authorize, created, ok, parse_body, OpResult, OperatorError};
use crate::referrals::{self, Refusal};
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInput {
    partner: String,
    kind: String,
    company: String,
    website: String,
    country: String,
    industry: Option<String>,
    title: Option<String>,
    problem: Option<String>,
    contact_name: Option<String>,
    contact_email: Option<String>,
    contact_phone: Option<String>,
    contact_title: Option<String>,
    catalog: Option<String>,
}

/// The operator's view: everything, including the contact. List views leave the contact out.
fn view(r: &Referral, with_contact: bool) -> Value {
    let mut v = json!({
        "Id": r.id, "EngagementId": r.engagement_id, "Catalog": r.catalog.as_str(), "PartnerId": r.partner_id,
        "Kind": r.kind, "Status": r.status.as_str(), "Customer": r.customer, "Title": r.title, "Problem": r.problem,
        "InvitationDate": format_timestamp(r.provided_at), "ExpirationDate": format_timestamp(r.expires_at),
        "ContactDeadline": format_timestamp(r.contact_deadline), "ContactMet": r.contact_met(),
        "ContactRecord": r.contact_record, "OpportunityId": r.opportunity_id, "RemindersSent": r.reminders_sent,
        "FlaggedAt": r.flagged_at, "RevokedAt": r.revoked_at, "RevocationReason": r.revocation_reason,
        "Retention": r.retention, "RejectionReason": r.rejection_reason, "DataDeleted": r.data_deleted,
    });
    if with_contact {
        v["Contact"] = json!(r.contact);
    }
    v
}

fn check(input: &CreateInput) -> Result<(), OperatorError> {
    if input.company.trim().is_empty() || input.company.chars().count() > 120 {
        return Err(OperatorError::bad_request("company must be 1-120 characters"));
    }
    if ace_domain::identity::registrable_domain(&input.website).is_none() {
        return Err(OperatorError::bad_request(format!("website {:?} has no registrable domain", input.website)));
    }
    if input.country.len() != 2 || !input.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(OperatorError::bad_request(format!("country {:?} must be an ISO code such as DE", input.country)));
    }
    let model = ace_domain::model::Model::get();
    if let Some(email) = &input.contact_email {
        model
            .validate("Email", &json!(email))
            .map_err(|_| OperatorError::bad_request(format!("contact email {email:?} is not valid (lower case)")))?;
    }
    if let Some(phone) = &input.contact_phone {
        model
            .validate("PhoneNumber", &json!(phone))
            .map_err(|_| OperatorError::bad_request(format!("contact phone {phone:?} must be E.164, e.g. +14155550100")))?;
    }
    if let Some(industry) = &input.industry {
        model
            .validate("Industry", &json!(industry))
            .map_err(|_| OperatorError::bad_request(format!("unknown industry {industry:?}")))?;
    }
    Ok(())
}

async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> OpResult {
    authorize(&state, &headers).await?;
    let input: CreateInput = parse_body(&body)?;
    created(create_referral(&state, input).await?)
}

/// REF-1 behind the eligibility gate and the suppression list (REF-5); the operator API and the
/// console both come here.
pub(crate) async fn create_referral(state: &AppState, input: CreateInput) -> Result<Value, OperatorError> {
    check(&input)?;
    let kind = match input.kind.as_str() {
        "lead" => ReferralKind::Lead,
        "opportunity" => ReferralKind::Opportunity,
        other => return Err(OperatorError::bad_request(format!("kind {other:?} must be lead or opportunity"))),
    };
    let catalog_name = input.catalog.clone().unwrap_or_else(|| "AWS".into());
    let catalog =
        Catalog::parse(&catalog_name).ok_or_else(|| OperatorError::bad_request(format!("unknown catalog {catalog_name:?}")))?;
    let new = ReferralRequest {
        partner_id: input.partner.clone(),
        catalog,
        kind,
        customer: ReferralCustomer {
            company_name: input.company,
            website: input.website,
            country: input.country,
            industry: input.industry,
        },
        title: input.title,
        problem: input.problem,
        contact: ReferralContact {
            name: input.contact_name,
            email: input.contact_email,
            phone: input.contact_phone,
            title: input.contact_title,
        },
    };
    match referrals::create(state, new).await? {
        Ok(referral) => Ok(view(&referral, true)),
        Err(Refusal::PartnerNotFound) => Err(OperatorError::not_found(format!("partner {} does not exist", input.partner))),
        Err(Refusal::NotEligible(report)) => {
            let unmet: Vec<String> =
                report.requirements.iter().filter(|r| !r.met).map(|r| format!("{} ({})", r.id, r.detail)).collect();
            Err(OperatorError::new(
                StatusCode::CONFLICT,
                "not-eligible",
                format!("partner {} may not receive referrals: {}", input.partner, unmet.join("; ")),
            ))
        }
        Err(Refusal::Suppressed(message)) => Err(OperatorError::new(StatusCode::CONFLICT, "suppressed", message)),
        Err(Refusal::ProgramTerminated(message)) => Err(OperatorError::new(StatusCode::CONFLICT, "program-terminated", message)),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    partner: Option<String>,
    status: Option<String>,
}

/// REF-1: lists never carry contact data.
async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let items: Vec<Value> = state
        .store
        .list_referrals(q.partner.as_deref(), 10_000)
        .await?
        .iter()
        .filter(|r| q.status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(r.status.as_str())))
        .map(|r| view(r, false))
        .collect();
    ok(json!({"referrals": items}))
}

async fn load(state: &AppState, id: &str) -> Result<Referral, OperatorError> {
    state.store.get_referral(id).await?.ok_or_else(|| OperatorError::not_found(format!("referral {id} does not exist")))
}

async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(view(&load(&state, &id).await?, true))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeInput {
    reason: Option<String>,
}

/// REM-1, REM-2: revoke one referral; the partner loses it and is told to delete its copies.
async fn revoke(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> OpResult {
    authorize(&state, &headers).await?;
    let input: RevokeInput = if body.is_empty() { RevokeInput::default() } else { parse_body(&body)? };
    let referral = load(&state, &id).await?;
    if !referral.status.visible_to_partner() {
        return Err(OperatorError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("referral {id} is already {}", referral.status.as_str()),
        ));
    }
    let reason = input.reason.unwrap_or_else(|| "revoked by the operator".into());
    if !referrals::revoke(&state, &referral, &reason).await? {
        return Err(OperatorError::new(StatusCode::CONFLICT, "conflict", "the referral changed meanwhile; retry"));
    }
    ok(view(&load(&state, &id).await?, false))
}

async fn list_suppression(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(json!({"suppressions": state.store.list_suppressions().await?}))
}

#[derive(Deserialize)]
struct AuditQuery {
    referral: String,
}

async fn audit(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<AuditQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(json!({"reads": state.store.list_audit_reads(&q.referral).await?}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarInput {
    dates: Vec<String>,
}

async fn import_calendar(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>, body: Bytes) -> OpResult {
    authorize(&state, &headers).await?;
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
    state.store.put_calendar(&calendar).await?;
    ok(json!({"name": name, "dates": calendar.dates.len()}))
}

async fn show_calendar(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    let year = chrono::Datelike::year(&state.now());
    let calendar = match HolidayCalendar::built_in(&name, year, year + 1) {
        Some(c) => c,
        None => state.store.get_calendar(&name).await?.ok_or_else(|| OperatorError::not_found(format!("no calendar {name}")))?,
    };
    ok(json!({"name": calendar.name, "dates": calendar.dates}))
}
