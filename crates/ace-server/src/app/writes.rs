//! A partner's write as one unit of work (USE-4): the change, the snapshot revisions it causes
//! (issue 19), the row result of the bulk job it belongs to, and its `partner.write` audit entry
//! naming the records it touched, committed in one transaction. The partner API runs every
//! operation through here; the portal's partner pages run the same operations.

use serde_json::{json, Value};

use ace_domain::audit::{self, AuditEntry};
use ace_domain::bulk::RowResult;
use ace_domain::ids::Catalog;
use ace_store::{BatchOutcome, IdempotencyKey, IdempotencyRecord, StoreResult, WriteBatch};

use super::Caller;
use crate::{governance, AppState};

/// One operation of one caller in one catalog.
#[derive(Clone, Copy)]
pub struct Write<'a> {
    pub caller: &'a Caller,
    /// The operation's wire name, as the audit entry names it.
    pub operation: &'static str,
    pub catalog: Catalog,
    /// Whether it is a write (USE-5's class): reads are not audited here.
    pub audited: bool,
}

impl Write<'_> {
    /// USE-4: the audit entry of the write, naming the records `batch` touches.
    pub fn audit_entry(&self, state: &AppState, batch: &WriteBatch) -> AuditEntry {
        let mut opportunities: Vec<&str> = batch.insert_opportunities.iter().map(|o| o.id.as_str()).collect();
        opportunities.extend(batch.update_opportunities.iter().map(|(o, _)| o.id.as_str()));
        let referrals: Vec<&str> = batch.update_referrals.iter().map(|r| r.id.as_str()).collect();
        let mut detail = json!({"operation": self.operation, "catalog": self.catalog.as_str()});
        if !opportunities.is_empty() {
            detail["opportunities"] = json!(opportunities);
        }
        if !referrals.is_empty() {
            detail["referrals"] = json!(referrals);
        }
        let engagements: Vec<&str> = batch
            .insert_engagements
            .iter()
            .map(|e| e.id.as_str())
            .chain(batch.update_engagements.iter().map(|(e, _)| e.id.as_str()))
            .collect();
        if !engagements.is_empty() {
            detail["engagements"] = Value::from(engagements);
        }
        let mut entry =
            AuditEntry::new(state.now(), governance::partner_actor(self.caller), audit::action::PARTNER_WRITE, detail)
                .partner(&self.caller.partner.id);
        if let [referral] = referrals.as_slice() {
            entry.referral_id = Some(referral.to_string());
        }
        entry
    }

    /// Commits `batch` with the write's audit entry in one transaction; running snapshot jobs of
    /// the opportunities it changes take their revisions in it too. A bulk job's `row` is
    /// recorded with the id of the record the batch changed (returns whether it was).
    pub async fn commit(
        &self,
        state: &AppState,
        mut batch: WriteBatch,
        row: Option<&RowResult>,
    ) -> StoreResult<(BatchOutcome, bool)> {
        super::snapshots::follow(state, &mut batch).await?;
        let mut recorded = false;
        if let Some(result) = row {
            let changed = batch
                .insert_opportunities
                .first()
                .map(|o| &o.id)
                .or(batch.update_opportunities.first().map(|(o, _)| &o.id))
                .or(batch.insert_customer_accounts.first().map(|a| &a.id));
            if let Some(id) = changed {
                batch.insert_bulk_results.push(RowResult { resource_id: Some(id.clone()), ..result.clone() });
                recorded = true;
            }
        }
        if self.audited {
            batch.audit.push(self.audit_entry(state, &batch));
        }
        Ok((state.store.commit(batch).await?, recorded))
    }

    /// Audits a write whose handler committed nothing of its own (the change is already made:
    /// trouble here is logged, never answered, or a client would retry a write that happened).
    pub async fn audit_alone(&self, state: &AppState) {
        let entry = self.audit_entry(state, &WriteBatch::default());
        if let Err(e) = state.store.commit(WriteBatch { audit: vec![entry], ..Default::default() }).await {
            tracing::error!(error = %e, operation = self.operation, "could not audit a partner write");
        }
    }
}

/// The record of a `ClientToken` that still stands (issue 22): an expired one is as if the token
/// had never been used, and the write that claims it anew replaces it.
pub async fn claimed(state: &AppState, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>> {
    let record = state.store.get_idempotency(key).await?;
    Ok(record.filter(|r| r.is_live(state.now().timestamp_millis())))
}
