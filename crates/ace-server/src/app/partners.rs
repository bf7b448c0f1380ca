//! Partners as the operator manages them.

use ace_domain::partner::PartnerProfile;

use super::AppError;
use crate::AppState;

/// The partner, if there is one with this id.
pub async fn load(state: &AppState, id: &str) -> Result<PartnerProfile, AppError> {
    state.store.get_partner(id).await?.ok_or_else(|| AppError::NotFound(format!("partner {id} does not exist")))
}
