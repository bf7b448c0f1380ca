//! SearchOpportunities (issue 20), as every edge uses it: the caller's own opportunities whose
//! words hold the keyword's terms (through the engine's full-text index) and that pass the
//! filter. What a term, a filter and an order are is `ace_domain::opportunity_search`'s.

use ace_domain::ids::Catalog;
use ace_domain::opportunity_search::{self as search, Entry, Filter};
use ace_domain::partner::PartnerProfile;

use super::AppError;
use crate::AppState;

/// The search entries of `partner`'s opportunities in `catalog` that match `terms` (every one
/// a word's beginning; all of them without terms) and pass the (checked) `filter`. Unordered.
pub async fn find(
    state: &AppState,
    partner: &PartnerProfile,
    catalog: Catalog,
    terms: Option<&[String]>,
    filter: Option<&Filter>,
) -> Result<Vec<Entry>, AppError> {
    let mut entries = state.store.search_opportunities(&partner.id, catalog, terms).await?;
    if let Some(f) = filter {
        entries.retain(|e| search::matches(f, e));
    }
    Ok(entries)
}
