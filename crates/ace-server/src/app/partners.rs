//! Partners as the operator manages them.

use ace_domain::audit::AuditEntry;
use ace_domain::partner::PartnerProfile;
use ace_store::{AdminWrite, StoreError, WriteBatch};

use super::AppError;
use crate::AppState;

/// The partner, if there is one with this id.
pub async fn load(state: &AppState, id: &str) -> Result<PartnerProfile, AppError> {
    state.store.get_partner(id).await?.ok_or_else(|| AppError::NotFound(format!("partner {id} does not exist")))
}

/// The partner, if there is one with this id (`None` is for the caller to judge).
pub async fn find(state: &AppState, id: &str) -> Result<Option<PartnerProfile>, AppError> {
    Ok(state.store.get_partner(id).await?)
}

/// Adds `profile` (validated) with `audit`, in one transaction. A partner id already taken is a
/// conflict; a fresh random account id that collides with another is drawn again.
pub async fn add(state: &AppState, mut profile: PartnerProfile, audit: AuditEntry) -> Result<PartnerProfile, AppError> {
    let exists = || AppError::conflict("conflict", format!("partner {} already exists", profile.id));
    if find(state, &profile.id).await?.is_some() {
        return Err(exists());
    }
    let now_ms = state.now().timestamp_millis();
    for _ in 0..5 {
        let batch = WriteBatch {
            admin: vec![AdminWrite::InsertPartner { profile: profile.clone(), created_ms: now_ms }],
            audit: vec![audit.clone()],
            ..Default::default()
        };
        match state.store.commit(batch).await {
            Ok(_) => {
                crate::app::eligibility::refresh_after(state, &profile.id, "partner added").await;
                return Ok(profile);
            }
            Err(StoreError::Conflict(_)) if find(state, &profile.id).await?.is_none() => {
                profile.account_id = crate::crypto::new_account_id();
            }
            Err(StoreError::Conflict(_)) => return Err(exists()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict("conflict", "could not allocate an account id"))
}
