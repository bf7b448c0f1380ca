//! SearchOpportunities (issue 20), as every edge uses it: the caller's own opportunities whose
//! words hold the keyword's terms (through the engine's full-text index) and that pass the
//! filter, one page at a time. What a term, a filter and an order are is
//! `ace_domain::opportunity_search`'s.
//!
//! How a page is found: in an order the store keeps an index in (`LastModifiedDate`, the
//! default, `CreatedDate`, `OpportunityId`, `TargetCloseDate`), the store reads the partner's
//! opportunities in that order from the cursor on, in growing chunks, until the page is full,
//! the filter checked here against each. A keyword is first asked of the full-text index for
//! at most [`FEW_MATCHES`]` + 1` numbers: at most [`FEW_MATCHES`], the store reads those (its
//! plan starts from them); more, the keyword's condition goes into the ordered read itself, so
//! the engine meets both (PostgreSQL's planner with the words' statistics) — up to
//! [`SCAN_BUDGET_PAGES`] pages' worth of rows when a filter keeps few of them, past which the
//! matches are read and ordered here instead. Either way a page costs about a page (and at
//! most 2,001 numbers from the index), not every match read and ordered (the soak of issue 24
//! found a search climbing with the data when it was).
//! Any other order reads every match and orders them here.

use ace_domain::ids::Catalog;
use ace_domain::listing::OpportunityQuery;
use ace_domain::opportunity_search::{self as search, entry, Cursor, Entry, Filter};
use ace_domain::partner::PartnerProfile;

use super::AppError;
use crate::AppState;

/// A keyword with at most this many matches has them read by number; with more, the partner's
/// rows are read in order and checked against the matches.
pub const FEW_MATCHES: usize = 2_000;

/// The most rows read from the store's index at a time when paging through it in order: the
/// first read asks for the page (and one more), each further read for twice the last.
const SCAN_CHUNK_MAX: usize = 1_000;

/// How many pages' worth of rows a keyword of many matches may read in order before its
/// matches are read and ordered instead.
const SCAN_BUDGET_PAGES: usize = 50;

/// The search entries of `partner`'s opportunities in `catalog` that match `terms` (every one
/// a word's beginning; all of them without terms) and pass the (checked) `filter`. Unordered.
async fn find(
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

/// What a page of a search asks for.
pub struct PageRequest<'a> {
    pub terms: Option<&'a [String]>,
    pub filter: Option<&'a Filter>,
    /// A sort field of the model's `OpportunitySearchSortName`.
    pub by: &'a str,
    pub descending: bool,
    pub after: Option<&'a Cursor>,
    pub size: usize,
}

/// One page of the search in its order, after the cursor, and the cursor of the next page
/// when there is one.
pub async fn page(
    state: &AppState,
    partner: &PartnerProfile,
    catalog: Catalog,
    ask: PageRequest<'_>,
) -> Result<(Vec<Entry>, Option<Cursor>), AppError> {
    let size = ask.size.max(1);
    let Some(key) = search::scan_order(ask.by) else {
        // An order the store keeps no index in: every match is read and ordered here.
        let entries = find(state, partner, catalog, ask.terms, ask.filter).await?;
        return Ok(search::page(entries, ask.by, ask.descending, ask.after, size));
    };
    // Few matches: the store reads those numbers only, in order (its plan starts from them).
    // Many: the store reads the partner's rows in order with the keyword's condition in the
    // same read (the engine meets both; no more than `FEW_MATCHES + 1` numbers are asked for).
    let matches = match ask.terms {
        Some(terms) => Some(state.store.search_matches(&partner.id, catalog, terms, FEW_MATCHES + 1).await?),
        None => None,
    };
    let (id_numbers, words): (Vec<i64>, Option<&[String]>) = match (matches, ask.terms) {
        (Some(m), _) if m.is_empty() => return Ok((Vec::new(), None)),
        (Some(m), _) if m.len() <= FEW_MATCHES => (m, None),
        (Some(_), terms) => (Vec::new(), terms),
        (None, _) => (Vec::new(), None),
    };
    let after = match ask.after {
        // A cursor this server sealed always names an opportunity id.
        Some(c) => Some(c.in_listing().ok_or_else(|| AppError::Invalid("the NextToken names no opportunity".into()))?),
        None => None,
    };
    let mut query = OpportunityQuery {
        partner_id: partner.id.clone(),
        catalog,
        id_numbers,
        company_name_keys: Vec::new(),
        stages: Vec::new(),
        review_statuses: Vec::new(),
        created_after_ms: None,
        created_before_ms: None,
        modified_after_ms: None,
        modified_before_ms: None,
        target_close_after: None,
        target_close_before: None,
        sort_by: key,
        descending: ask.descending,
        page_size: size + 1,
        after,
    };
    let mut found = Vec::with_capacity(size + 1);
    let mut scanned = 0;
    'scan: loop {
        // Many matches, but the filter keeps few of them: reading them in order would cost more
        // than reading every match. Past the budget, read them and order them here.
        if words.is_some() && scanned > SCAN_BUDGET_PAGES * (size + 1) {
            let entries = find(state, partner, catalog, ask.terms, ask.filter).await?;
            return Ok(search::page(entries, ask.by, ask.descending, ask.after, size));
        }
        let mut rows = match words {
            Some(terms) => state.store.list_opportunities_matching(&query, terms).await?,
            None => state.store.list_opportunities(&query).await?,
        };
        let more = rows.len() > query.page_size;
        rows.truncate(query.page_size);
        scanned += rows.len();
        for o in &rows {
            let e = entry(o);
            if ask.filter.is_none_or(|f| search::matches(f, &e)) {
                found.push(e);
                if found.len() > size {
                    break 'scan;
                }
            }
        }
        match rows.last() {
            Some(last) if more => query.after = Some(key.cursor_after(last)),
            _ => break,
        }
        query.page_size = (query.page_size * 2).min(SCAN_CHUNK_MAX);
    }
    // Already in order and after the cursor: `page` only cuts it and names the next cursor.
    Ok(search::page(found, ask.by, ask.descending, None, size))
}
