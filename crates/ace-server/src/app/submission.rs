//! Submission: the pre-screen (SUB-2 … SUB-6), shared by SubmitOpportunity, an update that
//! submits, and StartEngagementFromOpportunityTask: the domain decides, this loads what it needs.

use ace_domain::opportunity::{apply_review, Opportunity, ReviewAction};
use ace_domain::submission::{
    conflict_findings, find_conflicts, prescreen_applies, prescreen_with, AttestationBasis, Finding, FindingCode, ReviewReason,
};
use ace_domain::time::Instant;

use super::AppError;
use crate::AppState;

/// A limit on everything: at most this many exact-identifier matches are read per source.
const CANDIDATES_MAX: usize = 500;

/// What the pre-screen found in a submission it let through: the findings for the reviewer,
/// and what satisfied SUB-3 and SUB-4.
pub struct Screened {
    findings: Vec<Finding>,
    basis: Option<AttestationBasis>,
}

/// Refuses the submission with every blocking finding, or returns what the reviewer is to see.
/// A standing attestation counts when the operator allows it (issue 22).
pub async fn screen(state: &AppState, o: &Opportunity) -> Result<Screened, AppError> {
    if !prescreen_applies(o.catalog) {
        return Ok(Screened { findings: Vec::new(), basis: None });
    }
    let published = published_statement_versions(state).await?;
    let standing = super::standing::in_force(state, &o.partner_id).await?;
    let (blocking, basis) = prescreen_with(o, o.review.attestation.as_ref(), standing.as_ref(), &published);
    if !blocking.is_empty() {
        return Err(AppError::Rules(blocking.iter().map(Finding::to_field_error).collect()));
    }
    let identity = o.identity();
    let mut candidates = state.store.find_pipeline_candidates(&identity, CANDIDATES_MAX).await?;
    candidates.extend(state.store.find_submission_candidates(o.catalog, &identity, &o.partner_id, CANDIDATES_MAX).await?);
    Ok(Screened { findings: conflict_findings(find_conflicts(o, &candidates)), basis: Some(basis) })
}

/// Records what the pre-screen found on a submitted opportunity and, when the operator chose
/// so, rejects an already-pursued one at once.
pub async fn record_findings(state: &AppState, o: &mut Opportunity, screened: Screened, now: Instant) -> Result<(), AppError> {
    let Screened { findings, basis } = screened;
    let already_pursued = findings.iter().any(|f| f.code == FindingCode::AlreadyPursued);
    o.review.basis = basis;
    o.review.findings = findings;
    if already_pursued && super::settings::auto_reject_already_pursued(state).await? {
        apply_review(
            o,
            ReviewAction::Reject,
            "pre-screen",
            Some("The operator is already pursuing this customer.".into()),
            Some(ReviewReason::AlreadyPursued),
            now,
        )
        .map_err(|e| AppError::from(ace_store::StoreError::Other(format!("the pre-screen's rejection did not apply: {e}"))))?;
    }
    Ok(())
}

/// The versions of the consent statement the operator has published (SUB-3).
pub async fn published_statement_versions(state: &AppState) -> Result<Vec<String>, AppError> {
    Ok(state.store.list_consent_statements().await?.into_iter().map(|s| s.version).collect())
}
