//! SUB-1: the review queue and the reviewer's decisions — for the operator API and the web
//! console alike.

use serde_json::{json, Value};

use ace_domain::audit::AuditEntry;
use ace_domain::identity::PipelineRecord;
use ace_domain::opportunity::{apply_review, Opportunity, ReviewAction, ReviewStatus};
use ace_domain::submission::{EvidenceRequest, ReviewReason};
use ace_domain::time::{format_timestamp, from_millis};
use ace_store::{StoreError, WriteBatch};

use super::AppError;
use crate::AppState;

/// A limit on everything: the queue shows at most this many at once.
pub const QUEUE_MAX: usize = 1000;
pub fn statuses(filter: Option<&str>) -> Result<Vec<ReviewStatus>, AppError> {
    use ReviewStatus as S;
    Ok(match filter.unwrap_or("submitted") {
        "submitted" => vec![S::Submitted],
        "in-review" => vec![S::InReview],
        "action-required" => vec![S::ActionRequired],
        "all" => vec![S::Submitted, S::InReview, S::ActionRequired, S::Approved, S::Rejected],
        other => {
            return Err(AppError::invalid(format!("unknown status {other:?}; use submitted, in-review, action-required or all")))
        }
    })
}

pub fn queue_item(o: &Opportunity, now_ms: i64) -> Value {
    let submitted_ms = o.submission.as_ref().map(|s| s.submitted_at.timestamp_millis());
    json!({
        "id": o.id,
        "catalog": o.catalog.as_str(),
        "partner_id": o.partner_id,
        "company_name": o.company_name(),
        "title": o.document.get("Project").and_then(|p| p.get("Title")),
        "review_status": o.review_status().as_str(),
        "submitted_at": submitted_ms.map(|ms| format_timestamp(from_millis(ms))),
        "age_hours": submitted_ms.map(|ms| (now_ms - ms).max(0) / 3_600_000),
        "findings": o.review.findings,
    })
}

pub async fn load(state: &AppState, id: &str) -> Result<Opportunity, AppError> {
    state.store.get_opportunity_by_id(id).await?.ok_or_else(|| AppError::NotFound(format!("opportunity {id} does not exist")))
}

/// What a reviewer sees of one submission: the operator API's `review show` and the console's
/// review page.
pub async fn review_detail(state: &AppState, id: &str) -> Result<Value, AppError> {
    let o = load(state, id).await?;
    let partner = state.store.get_partner(&o.partner_id).await?;
    let account = partner.as_ref().map(|p| p.account_id.clone()).unwrap_or_default();
    let evidence: Vec<Value> = state
        .store
        .list_evidence_requests(Some(&o.partner_id))
        .await?
        .iter()
        .filter(|e| e.opportunity_id == o.id)
        .map(crate::app::views::evidence_request)
        .collect();
    let now_ms = state.now().timestamp_millis();
    Ok(json!({
        "summary": queue_item(&o, now_ms),
        "opportunity": crate::app::views::opportunity(&o, &account),
        "partner": partner,
        "attestation": o.review.attestation,
        // Issue 22: what satisfied SUB-3 and SUB-4 — this opportunity's attestation, or the
        // partner's standing one (with the standard fields) — and the standing one on file.
        "attestation_basis": o.review.basis,
        "standing_attestation": crate::app::standing::on_file(state, &o.partner_id).await?,
        "findings": o.review.findings,
        "history": o.review.history,
        "aws_next_steps": o.review.aws_next_steps,
        "evidence_requests": evidence,
    }))
}

fn parse_reason(reason: Option<&str>) -> Result<Option<ReviewReason>, AppError> {
    reason
        .map(|r| {
            ReviewReason::parse(r).ok_or_else(|| {
                let valid: Vec<&str> = ReviewReason::ALL.iter().map(|r| r.as_str()).collect();
                AppError::invalid(format!("unknown reason {r:?}; valid reasons: {}", valid.join(", ")))
            })
        })
        .transpose()
}

/// SUB-1: `reviewer` decides on `id`; the operator API and the web console both come here.
pub async fn decide_as(
    state: &AppState,
    reviewer: &str,
    id: &str,
    action: ReviewAction,
    comment: Option<String>,
    reason: Option<&str>,
    audit: AuditEntry,
) -> Result<Value, AppError> {
    let current = load(state, id).await?;
    let now = state.now();
    let decision = Decision { action, comment, reason, event_id: state.new_event_id() };
    let updated = decide_in(state, reviewer, current, decision, audit, WriteBatch::default()).await?;
    Ok(queue_item(&updated, now.timestamp_millis()))
}

/// A reviewer's decision: the action, its comment and reason, and the id its
/// `Opportunity Updated` event takes (an integration check binds it before the decision commits).
pub struct Decision<'a> {
    pub action: ReviewAction,
    pub comment: Option<String>,
    pub reason: Option<&'a str>,
    pub event_id: String,
}

/// SUB-1: `reviewer` decides on `current` (as read), committing the decision with whatever
/// `batch` already holds (an integration check's step, issue 25) in one transaction.
pub async fn decide_in(
    state: &AppState,
    reviewer: &str,
    current: Opportunity,
    decision: Decision<'_>,
    audit: AuditEntry,
    batch: WriteBatch,
) -> Result<Opportunity, AppError> {
    let reason = parse_reason(decision.reason)?;
    let mut updated = current.clone();
    let now = state.now();
    apply_review(&mut updated, decision.action, reviewer, decision.comment, reason, now)
        .map_err(|e| AppError::conflict("invalid-transition", e.to_string()))?;
    let audit = audit.detail_with("review_status", updated.review_status().as_str());
    commit_operator_change(state, &current, &updated, decision.event_id, audit, batch).await?;
    if updated.catalog == ace_domain::ids::Catalog::Aws {
        let cause = format!("review of {}: {}", updated.id, updated.review_status().as_str());
        crate::app::eligibility::refresh_after(state, &updated.partner_id, &cause).await;
    }
    Ok(updated)
}

/// AWS's seller adds its next steps to `current` (as read), which `GetAwsOpportunitySummary`
/// then shows, committed with whatever `batch` holds (an integration check's step) and the
/// `Opportunity Updated` event `event_id`, in one transaction. The domain decides whether it
/// may be (only where AWS has a view of the opportunity) and what is kept.
pub async fn add_next_steps_in(
    state: &AppState,
    current: Opportunity,
    next_steps: &str,
    event_id: String,
    audit: AuditEntry,
    batch: WriteBatch,
) -> Result<Opportunity, AppError> {
    let mut updated = current.clone();
    updated.add_aws_next_steps(next_steps, state.now()).map_err(AppError::Invalid)?;
    commit_operator_change(state, &current, &updated, event_id, audit.detail_with("aws_next_steps", next_steps), batch).await?;
    Ok(updated)
}

/// Commits the operator's change of `current` into `updated` with whatever `batch` holds, its
/// `Opportunity Updated` event `event_id` and its audit entry, in one transaction; the
/// partner's running snapshot jobs see it in the same one (issue 19).
async fn commit_operator_change(
    state: &AppState,
    current: &Opportunity,
    updated: &Opportunity,
    event_id: String,
    audit: AuditEntry,
    mut batch: WriteBatch,
) -> Result<(), AppError> {
    let account = state.store.get_partner(&updated.partner_id).await?.map(|p| p.account_id).unwrap_or_default();
    let event = ace_domain::events::opportunity_event("Opportunity Updated", event_id, updated, &account, updated.last_modified);
    batch.update_opportunities.push((updated.clone(), current.last_modified.timestamp_millis()));
    batch.events.push(event);
    batch.audit.push(audit.partner(&updated.partner_id));
    super::snapshots::follow(state, &mut batch).await?;
    state.store.commit(batch).await.map_err(|e| match e {
        StoreError::Conflict(_) => AppError::conflict("conflict", "the opportunity changed meanwhile; retry"),
        other => other.into(),
    })?;
    Ok(())
}

/// AWS's next steps on `id`, added by the operator (`POST /review/{id}/next-steps`).
pub async fn add_next_steps(state: &AppState, id: &str, next_steps: &str, audit: AuditEntry) -> Result<Value, AppError> {
    let current = load(state, id).await?;
    let updated = add_next_steps_in(state, current, next_steps, state.new_event_id(), audit, WriteBatch::default()).await?;
    Ok(queue_item(&updated, state.now().timestamp_millis()))
}

/// SUB-1: the review queue in `statuses`, oldest submission first, at most `limit`.
pub async fn queue(state: &AppState, statuses: &[ReviewStatus], limit: usize) -> Result<Vec<Opportunity>, AppError> {
    Ok(state.store.list_review_queue(statuses, limit).await?)
}

/// SUB-4: the published consent statement versions.
pub async fn consent_statements(state: &AppState) -> Result<Vec<ace_store::ConsentStatement>, AppError> {
    Ok(state.store.list_consent_statements().await?)
}

/// SUB-3: the evidence requests of `partner` (every partner's when `None`).
pub async fn evidence_requests(state: &AppState, partner: Option<&str>) -> Result<Vec<EvidenceRequest>, AppError> {
    Ok(state.store.list_evidence_requests(partner).await?)
}

pub async fn evidence_request(state: &AppState, id: &str) -> Result<EvidenceRequest, AppError> {
    state.store.get_evidence_request(id).await?.ok_or_else(|| AppError::NotFound(format!("evidence request {id} does not exist")))
}

/// SUB-2: how many of `records` an import would insert and update.
pub async fn pipeline_import_counts(state: &AppState, records: &[PipelineRecord]) -> Result<(usize, usize), AppError> {
    Ok(state.store.pipeline_import_counts(records).await?)
}

/// SUB-2: the operator's own pipeline, at most `limit` records.
pub async fn pipeline(state: &AppState, limit: usize) -> Result<Vec<PipelineRecord>, AppError> {
    Ok(state.store.list_pipeline_records(limit).await?)
}
