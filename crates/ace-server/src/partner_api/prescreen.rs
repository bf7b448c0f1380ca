//! The pre-screen of a submission (SUB-2 … SUB-6), shared by SubmitOpportunity and
//! StartEngagementFromOpportunityTask: the domain decides, this loads what it needs.

use ace_domain::opportunity::{apply_review, Opportunity, ReviewAction};
use ace_domain::submission::{
    conflict_findings, find_conflicts, prescreen, prescreen_applies, Finding, FindingCode, ReviewReason,
};
use ace_domain::time::Instant;

use super::Request;
use crate::error::ApiError;

/// A limit on everything: at most this many exact-identifier matches are read per source.
const CANDIDATES_MAX: usize = 500;
use crate::app::settings::AUTO_REJECT_ALREADY_PURSUED;

/// Refuses the submission with every blocking finding, or returns the findings for the reviewer.
pub async fn screen(r: &Request, o: &Opportunity) -> Result<Vec<Finding>, ApiError> {
    if !prescreen_applies(o.catalog) {
        return Ok(Vec::new());
    }
    let published = super::extensions::published_statement_versions(r).await?;
    let blocking = prescreen(o, o.review.attestation.as_ref(), &published);
    if !blocking.is_empty() {
        return Err(ApiError::business_validation(blocking.iter().map(Finding::to_field_error).collect()));
    }
    let identity = o.identity();
    let mut candidates = r.state.store.find_pipeline_candidates(&identity, CANDIDATES_MAX).await?;
    candidates.extend(r.state.store.find_submission_candidates(o.catalog, &identity, &o.partner_id, CANDIDATES_MAX).await?);
    Ok(conflict_findings(find_conflicts(o, &candidates)))
}

/// Records the findings on a submitted opportunity and, when the operator chose so, rejects an
/// already-pursued one at once.
pub async fn record_findings(r: &Request, o: &mut Opportunity, findings: Vec<Finding>, now: Instant) -> Result<(), ApiError> {
    let already_pursued = findings.iter().any(|f| f.code == FindingCode::AlreadyPursued);
    o.review.findings = findings;
    if already_pursued && r.state.store.get_setting(AUTO_REJECT_ALREADY_PURSUED).await?.as_deref() == Some("true") {
        apply_review(
            o,
            ReviewAction::Reject,
            "pre-screen",
            Some("The operator is already pursuing this customer.".into()),
            Some(ReviewReason::AlreadyPursued),
            now,
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok(())
}
