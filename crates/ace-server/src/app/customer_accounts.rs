//! Customer accounts (issue 20), as every edge uses them. The decisions (what a match is, when
//! an account is a duplicate, what an update does) are `ace_domain::customer_account`'s; this
//! loads what they need and commits the outcome.
//!
//! **Matching runs after the write.** A create or an update commits the account as `PENDING`
//! and starts its matching at once in the background; the jobs loop matches whatever is still
//! pending (after a restart, say). Matching writes under the version it read, so a partner's
//! update meanwhile wins and the stale result is dropped: the update has started a match of its
//! own. Two nodes matching one account write one result.

use ace_domain::customer_account::{decide, CustomerAccount, Status, ID_BODY_CHARS, ID_PREFIX};
use ace_domain::ids::{Catalog, ResourceArn};
use ace_domain::partner::PartnerProfile;
use ace_store::{StoreError, WriteBatch};

use super::AppError;
use crate::AppState;

/// The operator's records considered for one account, at most (as SUB-2 reads candidates).
const CANDIDATES_MAX: usize = 50;

/// Pending accounts the jobs loop matches per run.
const PENDING_PER_RUN: usize = 1_000;

pub fn new_id() -> String {
    crate::referrals::new_id(ID_PREFIX, ID_BODY_CHARS)
}

/// The caller's account named by `identifier` (an id or an ARN); anyone else's, or none, is not
/// found (USE-4).
pub async fn load(
    state: &AppState,
    partner: &PartnerProfile,
    catalog: Catalog,
    identifier: &str,
) -> Result<CustomerAccount, AppError> {
    let not_found = || AppError::NotFound(format!("Customer account {identifier} was not found in catalog {catalog}"));
    let id = if identifier.starts_with("arn:") {
        let arn = ResourceArn::parse(identifier).ok_or_else(not_found)?;
        if arn.resource_type != "customer-account" || arn.catalog != catalog || arn.account_id != partner.account_id {
            return Err(not_found());
        }
        arn.resource_id
    } else {
        identifier.to_string()
    };
    match state.store.get_customer_account(catalog, &id).await? {
        Some(a) if a.partner_id == partner.id => Ok(a),
        _ => Err(not_found()),
    }
}

/// The partner's accounts in a catalog, oldest first (searches filter and sort them).
pub async fn of_partner(state: &AppState, partner: &PartnerProfile, catalog: Catalog) -> Result<Vec<CustomerAccount>, AppError> {
    Ok(state.store.list_customer_accounts(&partner.id, catalog).await?)
}

/// Matches one account if it is still pending; returns the status it ended with, or `None` when
/// it was not pending or changed meanwhile (whoever changed it matches it again).
pub async fn match_one(state: &AppState, catalog: Catalog, id: &str) -> Result<Option<Status>, AppError> {
    let Some(mut account) = state.store.get_customer_account(catalog, id).await? else { return Ok(None) };
    if account.status != Status::Pending {
        return Ok(None);
    }
    let own = state.store.list_customer_accounts(&account.partner_id, catalog).await?;
    let records = state.store.find_customer_records(&account.data.identity(), CANDIDATES_MAX).await?;
    account.settle(decide(&account, &own, &records));
    let status = account.status;
    match state.store.commit(WriteBatch { update_customer_accounts: vec![account], ..Default::default() }).await {
        Ok(_) => Ok(Some(status)),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Starts matching one account in the background; what fails here is left pending for the
/// jobs loop.
pub fn start_matching(state: &AppState, catalog: Catalog, id: String) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = match_one(&state, catalog, &id).await {
            tracing::warn!(account = %id, error = ?e, "customer account matching failed; the jobs loop retries it");
        }
    });
}

/// The jobs loop's part: matches what is still pending, oldest first.
pub async fn match_pending(state: &AppState) -> Result<Vec<String>, AppError> {
    let mut done = Vec::new();
    for account in state.store.pending_customer_accounts(PENDING_PER_RUN).await? {
        if let Some(status) = match_one(state, account.catalog, &account.id).await? {
            done.push(format!("customer account {} matched: {}", account.id, status.as_str()));
        }
    }
    Ok(done)
}
