//! Standing attestations (issue 22, SUB-3, SUB-4): a partner's filed promise that customer
//! consent is obtained before every submission under a published consent statement, with
//! evidence produced on request. With one on file, and the operator's policy allowing it, a CRM
//! that speaks only the Selling API submits with `SubmitOpportunity` alone; the rules stay the
//! domain's (`submission::prescreen_with`).

use ace_domain::audit::{action, AuditEntry};
use ace_domain::submission::StandingAttestation;
use ace_domain::time::format_timestamp;
use ace_store::WriteBatch;
use serde_json::json;

use super::AppError;
use crate::AppState;

/// The operator's policy: `allowed` (default) or `not-allowed`.
pub const POLICY_SETTING: &str = "review.standing_attestation";

fn key(partner_id: &str) -> String {
    format!("standing-attestation/{partner_id}")
}

/// The partner's standing attestation on file, whatever the policy.
pub async fn on_file(state: &AppState, partner_id: &str) -> Result<Option<StandingAttestation>, AppError> {
    let raw = state.store.get_setting(&key(partner_id)).await?;
    Ok(raw.and_then(|r| serde_json::from_str::<Option<StandingAttestation>>(&r).ok().flatten()))
}

/// Whether the operator accepts standing attestations.
pub async fn allowed(state: &AppState) -> Result<bool, AppError> {
    Ok(state.store.get_setting(POLICY_SETTING).await?.as_deref() != Some("not-allowed"))
}

/// The standing attestation a submission may rely on: on file, and allowed by the policy.
pub async fn in_force(state: &AppState, partner_id: &str) -> Result<Option<StandingAttestation>, AppError> {
    if !allowed(state).await? {
        return Ok(None);
    }
    on_file(state, partner_id).await
}

/// A partner's standing attestation on file and whether the policy lets submissions rely on it;
/// `NotFound` for a partner that does not exist.
pub async fn view(state: &AppState, partner_id: &str) -> Result<(Option<StandingAttestation>, bool), AppError> {
    require_partner(state, partner_id).await?;
    Ok((on_file(state, partner_id).await?, allowed(state).await?))
}

async fn require_partner(state: &AppState, partner_id: &str) -> Result<(), AppError> {
    match state.store.get_partner(partner_id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound(format!("partner {partner_id} not found"))),
    }
}

/// Files (or replaces) a partner's standing attestation, with its audit entry, in one
/// transaction. The consent statement must be a published version (SUB-4).
pub async fn file(
    state: &AppState,
    actor: &str,
    partner_id: &str,
    consent_statement_version: &str,
    statement: &str,
) -> Result<StandingAttestation, AppError> {
    require_partner(state, partner_id).await?;
    let published: Vec<String> = state.store.list_consent_statements().await?.into_iter().map(|s| s.version).collect();
    if !published.iter().any(|v| v == consent_statement_version) {
        return Err(AppError::invalid(format!(
            "consent statement {consent_statement_version:?} was never published; published: {}",
            if published.is_empty() { "none".to_string() } else { published.join(", ") }
        )));
    }
    if statement.trim().is_empty() {
        return Err(AppError::invalid("the attestation's statement (the file) is empty"));
    }
    let now = state.now();
    let attestation = StandingAttestation {
        partner_id: partner_id.to_string(),
        consent_statement_version: consent_statement_version.to_string(),
        statement: statement.to_string(),
        statement_sha256: crate::crypto::sha256_hex(statement.as_bytes()),
        recorded_by: actor.to_string(),
        recorded_at: format_timestamp(now),
    };
    let doc = serde_json::to_string(&attestation).map_err(|e| AppError::invalid(e.to_string()))?;
    let detail = json!({"standing_attestation": "filed", "consent_statement": consent_statement_version,
                        "statement_sha256": attestation.statement_sha256});
    let entry = AuditEntry::new(now, actor, action::OPERATOR, detail).partner(partner_id);
    state.store.commit(WriteBatch { settings: vec![(key(partner_id), doc)], audit: vec![entry], ..Default::default() }).await?;
    Ok(attestation)
}

/// Withdraws it; `false` when there was none; `NotFound` for a partner that does not exist.
pub async fn withdraw(state: &AppState, actor: &str, partner_id: &str) -> Result<bool, AppError> {
    require_partner(state, partner_id).await?;
    if on_file(state, partner_id).await?.is_none() {
        return Ok(false);
    }
    let entry =
        AuditEntry::new(state.now(), actor, action::OPERATOR, json!({"standing_attestation": "withdrawn"})).partner(partner_id);
    state
        .store
        .commit(WriteBatch { settings: vec![(key(partner_id), "null".into())], audit: vec![entry], ..Default::default() })
        .await?;
    Ok(true)
}
