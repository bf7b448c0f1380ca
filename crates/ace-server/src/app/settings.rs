//! Keys of the operator's settings that more than one edge reads.

/// SUB-2: whether a submission whose customer the operator already pursues is rejected at once
/// (`true`) or flagged for the reviewer.
pub const AUTO_REJECT_ALREADY_PURSUED: &str = "review.auto_reject_already_pursued";
