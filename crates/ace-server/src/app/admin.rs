//! The operator's side: one commit path for the operator's own changes (USE-4: each one a
//! single transaction that carries its audit entry), and the records the operator API and the
//! console read (partners, users and keys, quotas, the outbox, security events).

use ace_domain::events::OutboxEvent;
use ace_domain::partner::PartnerProfile;
use ace_domain::quota::QuotaLimits;
use ace_domain::security::SecurityEvent;
use ace_store::{AccessKeyRecord, BatchOutcome, OperatorToken, StoreError, UserRecord, WriteBatch};

use super::AppError;
use crate::{crypto, AppState};

/// Commits an operator's change with its audit entry, in one transaction. A batch without an
/// entry is refused: an operator's change is never made unrecorded (USE-4).
pub async fn commit(state: &AppState, batch: WriteBatch) -> Result<BatchOutcome, AppError> {
    if batch.audit.is_empty() {
        return Err(AppError::from(StoreError::Other("an operator's change without its audit entry".into())));
    }
    Ok(state.store.commit(batch).await?)
}

/// The operator token `token` is, if it is one (only its hash is stored).
pub async fn operator_token(state: &AppState, token: &str) -> Result<Option<OperatorToken>, AppError> {
    Ok(state.store.find_operator_token(&crypto::sha256_hex(token.trim().as_bytes())).await?)
}

pub async fn partners(state: &AppState) -> Result<Vec<PartnerProfile>, AppError> {
    Ok(state.store.list_partners().await?)
}

pub async fn users(state: &AppState, partner_id: &str) -> Result<Vec<UserRecord>, AppError> {
    Ok(state.store.list_users(partner_id).await?)
}

pub async fn access_keys(state: &AppState, partner_id: &str, user: &str) -> Result<Vec<AccessKeyRecord>, AppError> {
    Ok(state.store.list_access_keys(partner_id, user).await?)
}

/// The next number of `sequence` (solutions are numbered program-wide).
pub async fn next_number(state: &AppState, sequence: &str) -> Result<i64, AppError> {
    Ok(state.store.next_sequence(sequence).await?)
}

/// USE-5: the limits in force for `partner` (or the default for every partner) and where they
/// come from: the partner's own, the operator's default, or the built-in one.
pub async fn effective_quota(state: &AppState, partner: Option<&str>) -> Result<(QuotaLimits, &'static str), AppError> {
    if let Some(p) = partner {
        if let Some(l) = state.store.get_quota(Some(p)).await? {
            return Ok((l, "partner"));
        }
    }
    Ok(match state.store.get_quota(None).await? {
        Some(l) => (l, "default"),
        None => (QuotaLimits::default(), "built-in"),
    })
}

/// The outbox after `after`, oldest first.
pub async fn events(state: &AppState, after: i64, limit: usize) -> Result<Vec<(i64, OutboxEvent)>, AppError> {
    Ok(state.store.list_events(after, limit).await?)
}

/// USE-2, USE-3: blocks and lockouts since `since_ms`, newest first.
pub async fn security_events(state: &AppState, since_ms: i64, limit: usize) -> Result<Vec<SecurityEvent>, AppError> {
    Ok(state.store.list_security_events(since_ms, limit).await?)
}

/// An online, consistent copy of the SQLite database at `path` (a new file).
pub async fn backup_to(state: &AppState, path: &std::path::Path) -> Result<(), AppError> {
    Ok(state.store.backup_to(path).await?)
}

/// The console's dashboard: opportunities of `catalog` counted by stage and review status.
pub async fn opportunity_counts(
    state: &AppState,
    catalog: ace_domain::ids::Catalog,
) -> Result<Vec<(String, String, i64)>, AppError> {
    Ok(state.store.opportunity_counts(catalog).await?)
}

/// The console's dashboard: submissions of `catalog` since `since_ms`, by week and status.
pub async fn submissions_by_week(
    state: &AppState,
    catalog: ace_domain::ids::Catalog,
    since_ms: i64,
) -> Result<Vec<(i64, String, i64)>, AppError> {
    Ok(state.store.submissions_by_week(catalog, since_ms).await?)
}
