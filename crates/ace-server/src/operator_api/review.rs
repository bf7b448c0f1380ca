//! The operator's side of submissions: the review queue and decisions (SUB-1), consent
//! statements and evidence requests (SUB-4), the operator's own pipeline (SUB-2), settings.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::identity::PipelineRecord;
use ace_domain::ids::base36;
use ace_domain::opportunity::ReviewAction;
use ace_domain::submission::{EvidenceRequest, EvidenceStatus};
use ace_store::{AdminWrite, ConsentStatement, WriteBatch};

use super::{authorize, done, done_created, ok, parse_body, views, OpResult, OperatorCall, OperatorError};
use crate::app::review;
use crate::app::settings::AUTO_REJECT_ALREADY_PURSUED;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review", get(list_queue))
        .route("/review/{id}", get(show))
        .route("/review/{id}/start", post(start))
        .route("/review/{id}/approve", post(approve))
        .route("/review/{id}/action-required", post(action_required))
        .route("/review/{id}/reject", post(reject))
        .route("/review/{id}/next-steps", post(add_next_steps))
        .route("/consent/statements", get(list_statements).post(publish_statement))
        .route("/consent/requests", get(list_evidence_requests).post(request_evidence))
        .route("/consent/requests/{id}/close", post(close_evidence_request))
        .route("/pipeline", get(list_pipeline).post(import_pipeline))
        .route("/settings", get(show_settings).put(update_settings))
        .route("/partners/{id}/standing-attestation", get(show_standing).post(file_standing).delete(withdraw_standing))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StandingInput {
    /// A published consent statement version (SUB-4).
    consent_statement: String,
    /// The partner's statement of its consent practice: the filed document's text.
    statement: String,
}

/// Issue 22: the partner's standing attestation (SUB-3, SUB-4), and whether the policy lets
/// submissions rely on it.
#[utoipa::path(get, path = "/partners/{id}/standing-attestation", tag = "operator", summary = "The partner's standing attestation (SUB-3, SUB-4; issue 22) and whether the policy lets submissions rely on it", params(("id" = String, Path)), responses((status = 200, description = "success", body = views::StandingView)))]
async fn show_standing(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    let (on_file, policy_allows) = crate::app::standing::view(&state, &id).await?;
    ok(views::StandingView { partner: id, standing_attestation: on_file, policy_allows })
}

#[utoipa::path(post, path = "/partners/{id}/standing-attestation", tag = "operator", summary = "File (or replace) the partner's standing attestation: consent obtained before every submission under a published consent statement, evidence produced on request", params(("id" = String, Path)), request_body = StandingInput, responses((status = 201, description = "success")))]
async fn file_standing(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: StandingInput = parse_body(&body)?;
    let filed = crate::app::standing::file(&state, &call.actor(), &id, &input.consent_statement, &input.statement).await?;
    done_created(filed)
}

#[utoipa::path(delete, path = "/partners/{id}/standing-attestation", tag = "operator", summary = "Withdraw the partner's standing attestation", params(("id" = String, Path)), responses((status = 200, description = "success", body = views::Withdrawn)))]
async fn withdraw_standing(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall) -> OpResult {
    let withdrawn = crate::app::standing::withdraw(&state, &call.actor(), &id).await?;
    done(views::Withdrawn { partner: id, withdrawn })
}

/// Records per import request; the CLI sends larger files in chunks of this size.
pub const IMPORT_BATCH_MAX: usize = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct QueueQuery {
    status: Option<String>,
}

#[utoipa::path(get, path = "/review", tag = "operator", summary = "The review queue, oldest submission first, with age and pre-screen findings (SUB-1)", params(QueueQuery), responses((status = 200, description = "success", body = views::Queue)))]
async fn list_queue(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<QueueQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let wanted = review::statuses(q.status.as_deref())?;
    let now_ms = state.now().timestamp_millis();
    let items: Vec<Value> =
        review::queue(&state, &wanted, review::QUEUE_MAX).await?.iter().map(|o| review::queue_item(o, now_ms)).collect();
    ok(views::Queue { items })
}

#[utoipa::path(get, path = "/review/{id}", tag = "operator", summary = "One submission: document, partner, attestation (consent record), findings with conflict matches, history, evidence requests", params(("id" = String, Path)), responses((status = 200, description = "success")))]
async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(review::review_detail(&state, &id).await?)
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionInput {
    comment: Option<String>,
    reason: Option<String>,
}

/// SUB-1: one review decision, stored with its `Opportunity Updated` event and audit entry.
async fn decide(state: &AppState, call: &OperatorCall, id: &str, action: ReviewAction, body: &Bytes) -> OpResult {
    let input: DecisionInput = if body.is_empty() { DecisionInput::default() } else { parse_body(body)? };
    let audit = call.audit(state, StatusCode::OK, json!({"opportunity": id}));
    done(review::decide_as(state, &call.token.name, id, action, input.comment, input.reason.as_deref(), audit).await?)
}

#[utoipa::path(post, path = "/review/{id}/start", tag = "operator", summary = "Submitted → In review", params(("id" = String, Path)), request_body = DecisionInput, responses((status = 200, description = "success")))]
async fn start(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    decide(&state, &call, &id, ReviewAction::StartReview, &body).await
}

#[utoipa::path(post, path = "/review/{id}/approve", tag = "operator", summary = "Approve (validate); records the approval time", params(("id" = String, Path)), request_body = DecisionInput, responses((status = 200, description = "success")))]
async fn approve(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    decide(&state, &call, &id, ReviewAction::Approve, &body).await
}

#[utoipa::path(post, path = "/review/{id}/action-required", tag = "operator", summary = "Send back to the partner; comment required", params(("id" = String, Path)), request_body = DecisionInput, responses((status = 200, description = "success")))]
async fn action_required(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    decide(&state, &call, &id, ReviewAction::RequestAction, &body).await
}

#[utoipa::path(post, path = "/review/{id}/reject", tag = "operator", summary = "Reject; reason required", params(("id" = String, Path)), request_body = DecisionInput, responses((status = 200, description = "success")))]
async fn reject(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    decide(&state, &call, &id, ReviewAction::Reject, &body).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NextStepsInput {
    /// What AWS's seller will do next: 1 to 255 characters.
    next_steps: String,
}

#[utoipa::path(post, path = "/review/{id}/next-steps", tag = "operator", summary = "Add AWS's next steps to a submitted opportunity: GetAwsOpportunitySummary shows them (LifeCycle.NextSteps and its history), with an Opportunity Updated event", params(("id" = String, Path)), request_body = NextStepsInput, responses((status = 200, description = "success")))]
async fn add_next_steps(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: NextStepsInput = parse_body(&body)?;
    let audit = call.audit(&state, StatusCode::OK, json!({"opportunity": id}));
    done(review::add_next_steps(&state, &id, &input.next_steps, audit).await?)
}

#[utoipa::path(get, path = "/consent/statements", tag = "operator", summary = "Published consent statement versions (SUB-4)", responses((status = 200, description = "success", body = views::Statements)))]
async fn list_statements(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    let statements = review::consent_statements(&state).await?.iter().map(views::StatementView::from).collect();
    ok(views::Statements { statements })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StatementInput {
    version: String,
    text: String,
}

#[utoipa::path(post, path = "/consent/statements", tag = "operator", summary = "Publish a new version; published versions never change", request_body = StatementInput, responses((status = 201, description = "success", body = views::StatementView)))]
async fn publish_statement(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: StatementInput = parse_body(&body)?;
    let version_ok = !input.version.is_empty()
        && input.version.len() <= 64
        && input.version.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !version_ok {
        return Err(OperatorError::bad_request("version must be 1-64 characters of letters, digits and . _ -"));
    }
    if input.text.trim().is_empty() || input.text.len() > 20_000 {
        return Err(OperatorError::bad_request("the statement text must be 1-20000 characters"));
    }
    let statement = ConsentStatement { version: input.version, text: input.text, published_ms: state.now().timestamp_millis() };
    let view = views::StatementView::from(&statement);
    let taken = format!("statement version {} is already published; published versions never change", statement.version);
    let batch = WriteBatch { admin: vec![AdminWrite::InsertConsentStatement(statement)], ..Default::default() };
    call.commit(&state, StatusCode::CREATED, batch).await.map_err(|e| super::duplicate_as(e, taken))?;
    done_created(view)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EvidenceInput {
    opportunity_id: String,
    message: String,
}

fn evidence_operator_view(e: &EvidenceRequest) -> Value {
    let mut v = crate::app::views::evidence_request(e);
    v["PartnerId"] = json!(e.partner_id);
    v["RequestedBy"] = json!(e.requested_by);
    v
}

#[utoipa::path(post, path = "/consent/requests", tag = "operator", summary = "Ask the partner for evidence of consent", request_body = EvidenceInput, responses((status = 201, description = "success")))]
async fn request_evidence(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: EvidenceInput = parse_body(&body)?;
    if input.message.trim().is_empty() || input.message.len() > 2000 {
        return Err(OperatorError::bad_request("the message must be 1-2000 characters"));
    }
    let o = review::load(&state, &input.opportunity_id).await?;
    let request = EvidenceRequest {
        id: format!("evr-{}", base36(&crate::crypto::random_bytes(13), 13)),
        catalog: o.catalog,
        opportunity_id: o.id.clone(),
        partner_id: o.partner_id.clone(),
        status: EvidenceStatus::Open,
        message: input.message,
        requested_at: state.now(),
        requested_by: call.token.name.clone(),
        evidence: None,
        evidence_sha256: None,
        answered_at: None,
        answered_by: None,
        closed_at: None,
    };
    let view = evidence_operator_view(&request);
    let audit = call.audit(&state, StatusCode::CREATED, json!({"evidence_request": request.id})).partner(&request.partner_id);
    let batch = WriteBatch { admin: vec![AdminWrite::PutEvidenceRequest(request)], audit: vec![audit], ..Default::default() };
    crate::app::admin::commit(&state, batch).await?;
    done_created(view)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EvidenceQuery {
    opportunity: Option<String>,
    partner: Option<String>,
}

#[utoipa::path(get, path = "/consent/requests", tag = "operator", summary = "Evidence requests and answers", params(EvidenceQuery), responses((status = 200, description = "success", body = views::EvidenceRequests)))]
async fn list_evidence_requests(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<EvidenceQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let items: Vec<Value> = review::evidence_requests(&state, q.partner.as_deref())
        .await?
        .iter()
        .filter(|e| q.opportunity.as_deref().is_none_or(|o| o == e.opportunity_id))
        .map(evidence_operator_view)
        .collect();
    ok(views::EvidenceRequests { requests: items })
}

#[utoipa::path(post, path = "/consent/requests/{id}/close", tag = "operator", summary = "Close an evidence request; the request and answer are kept", params(("id" = String, Path)), responses((status = 200, description = "success")))]
async fn close_evidence_request(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall) -> OpResult {
    let mut request = review::evidence_request(&state, &id).await?;
    request.close(state.now()).map_err(|e| OperatorError::new(StatusCode::CONFLICT, "conflict", e.to_string()))?;
    let view = evidence_operator_view(&request);
    let audit = call.audit(&state, StatusCode::OK, json!({"evidence_request": request.id})).partner(&request.partner_id);
    let batch = WriteBatch { admin: vec![AdminWrite::PutEvidenceRequest(request)], audit: vec![audit], ..Default::default() };
    crate::app::admin::commit(&state, batch).await?;
    done(view)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportInput {
    /// Each checked on its own: a bad one is reported by index and skipped.
    #[schema(value_type = Vec<ace_domain::identity::PipelineRecord>, max_items = 1000)]
    records: Vec<Value>,
}

/// Imports pipeline records; each bad record is reported with its index and skipped.
#[utoipa::path(post, path = "/pipeline", tag = "operator", summary = "Import or update records by external id (at most 1000 per request); bad records are reported by index and skipped", request_body = ImportInput, responses((status = 200, description = "success", body = views::Imported)))]
async fn import_pipeline(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: ImportInput = parse_body(&body)?;
    if input.records.len() > IMPORT_BATCH_MAX {
        return Err(OperatorError::bad_request(format!("at most {IMPORT_BATCH_MAX} records per request")));
    }
    let mut good = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in input.records.into_iter().enumerate() {
        match serde_json::from_value::<PipelineRecord>(raw)
            .map_err(|e| e.to_string())
            .and_then(|r| ace_domain::identity::check_pipeline_record(&r).map(|()| r))
        {
            Ok(record) => good.push(record),
            Err(message) => errors.push(views::Refusal { index, message }),
        }
    }
    // Counted before the write: an import racing another of the same records may count one
    // as inserted that the other inserted first (the records are right either way).
    let (inserted, updated) = review::pipeline_import_counts(&state, &good).await?;
    let detail = json!({"inserted": inserted, "updated": updated, "refused": errors.len()});
    let audit = call.audit(&state, StatusCode::OK, detail);
    let batch = WriteBatch { admin: vec![AdminWrite::UpsertPipelineRecords(good)], audit: vec![audit], ..Default::default() };
    crate::app::admin::commit(&state, batch).await?;
    done(views::Imported { inserted, updated, errors })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LimitQuery {
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/pipeline", tag = "operator", summary = "The operator's own pipeline (SUB-2)", params(LimitQuery), responses((status = 200, description = "success", body = views::Pipeline)))]
async fn list_pipeline(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<LimitQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let records = review::pipeline(&state, q.limit.unwrap_or(1000).clamp(1, 100_000)).await?;
    ok(views::Pipeline { records })
}

async fn settings_view(state: &AppState) -> Result<views::SettingsView, OperatorError> {
    use crate::referrals as r;
    Ok(views::SettingsView {
        auto_reject_already_pursued: crate::app::settings::auto_reject_already_pursued(state).await?,
        standing_attestation: if crate::app::standing::allowed(state).await? { "allowed" } else { "not-allowed" },
        referral_missed_deadline_policy: format!("{:?}", r::policy(state).await?).to_lowercase(),
        referral_acceptance_days: r::acceptance_days(state).await?,
        referral_reminder_hours: r::reminder_hours(state).await?,
        referral_unsubscribe_links: r::unsubscribe_links(state).await?,
    })
}

#[utoipa::path(get, path = "/settings", tag = "operator", summary = "Review settings", responses((status = 200, description = "success", body = views::SettingsView)))]
async fn show_settings(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(settings_view(&state).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsInput {
    auto_reject_already_pursued: Option<bool>,
    /// `allowed` or `not-allowed` (issue 22).
    standing_attestation: Option<String>,
    /// `revoke` or `flag` (REF-3: the program says a missed deadline "may" revoke).
    referral_missed_deadline_policy: Option<String>,
    referral_acceptance_days: Option<u32>,
    referral_reminder_hours: Option<u32>,
    referral_unsubscribe_links: Option<Vec<String>>,
}

#[utoipa::path(put, path = "/settings", tag = "operator", summary = "Change review and referral settings", request_body = SettingsInput, responses((status = 200, description = "success", body = views::SettingsView)))]
async fn update_settings(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: SettingsInput = parse_body(&body)?;
    use crate::referrals as r;
    // Every value is checked before any is written, and they are written together: a request
    // with one bad value changes nothing.
    let mut changes: Vec<(String, String)> = Vec::new();
    if let Some(policy) = input.standing_attestation {
        if policy != "allowed" && policy != "not-allowed" {
            return Err(OperatorError::bad_request("standing_attestation must be allowed or not-allowed"));
        }
        changes.push((crate::app::standing::POLICY_SETTING.into(), policy));
    }
    if let Some(v) = input.auto_reject_already_pursued {
        changes.push((AUTO_REJECT_ALREADY_PURSUED.into(), if v { "true" } else { "false" }.into()));
    }
    if let Some(p) = input.referral_missed_deadline_policy {
        if p != "revoke" && p != "flag" {
            return Err(OperatorError::bad_request("referral_missed_deadline_policy must be revoke or flag"));
        }
        changes.push((r::POLICY_SETTING.into(), p));
    }
    if let Some(days) = input.referral_acceptance_days {
        if !(1..=365).contains(&days) {
            return Err(OperatorError::bad_request("referral_acceptance_days must be 1-365"));
        }
        changes.push((r::ACCEPTANCE_DAYS_SETTING.into(), days.to_string()));
    }
    if let Some(hours) = input.referral_reminder_hours {
        if !(1..=240).contains(&hours) {
            return Err(OperatorError::bad_request("referral_reminder_hours must be 1-240"));
        }
        changes.push((r::REMINDER_HOURS_SETTING.into(), hours.to_string()));
    }
    if let Some(links) = input.referral_unsubscribe_links {
        if links.iter().any(|l| !l.starts_with("https://")) {
            return Err(OperatorError::bad_request("unsubscribe links must be https URLs"));
        }
        let encoded = serde_json::to_string(&links).map_err(|e| OperatorError::bad_request(e.to_string()))?;
        changes.push((r::UNSUBSCRIBE_LINKS_SETTING.into(), encoded));
    }
    let names: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
    let audit = call.audit(&state, StatusCode::OK, json!({"settings": names}));
    crate::app::admin::commit(&state, WriteBatch { settings: changes, audit: vec![audit], ..Default::default() }).await?;
    done(settings_view(&state).await?)
}
