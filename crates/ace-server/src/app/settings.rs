//! The operator's settings that more than one edge or use case reads.

use super::AppError;
use crate::AppState;

/// SUB-2: whether a submission whose customer the operator already pursues is rejected at once
/// (`true`) or flagged for the reviewer.
pub const AUTO_REJECT_ALREADY_PURSUED: &str = "review.auto_reject_already_pursued";

/// SUB-2: the operator's choice of [`AUTO_REJECT_ALREADY_PURSUED`] (off unless set).
pub async fn auto_reject_already_pursued(state: &AppState) -> Result<bool, AppError> {
    Ok(state.store.get_setting(AUTO_REJECT_ALREADY_PURSUED).await?.as_deref() == Some("true"))
}
