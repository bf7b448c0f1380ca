//! The batch write path: a [`WriteBatch`] applied in one transaction — records, their events
//! in the outbox, the audit chain, the idempotency claim — and what runs after a commit. (The
//! store's few other transactions — portal sessions and invitations, operator tokens, sequence
//! numbers, a key's last use, expired idempotency records — are in `store`.)

use ace_domain::audit::{self, AuditEntry, StoredAuditEntry};
use ace_domain::events::OutboxEvent;
use ace_domain::ids::{opportunity_number, Catalog};
use ace_domain::opportunity::Opportunity;
use ace_domain::referral::Referral;
use ace_domain::submission::is_active_submission;

use crate::candidates::identity_params;
use crate::sealing;
use crate::sql::{Database, Param, Tx};
use crate::store::{from_json, to_json};
use crate::{
    BatchOutcome, DeliveryAttempt, IdempotencyKey, IdempotencyRecord, StoreError, StoreResult, WriteBatch,
    IDEMPOTENCY_RETENTION_MS,
};

pub(crate) async fn insert_delivery(tx: &mut Box<dyn Tx>, attempt: &DeliveryAttempt) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO deliveries (webhook_id, event_seq, event_id, attempt, at_ms, outcome, http_status, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            attempt.webhook_id.as_str().into(),
            attempt.event_seq.into(),
            attempt.event_id.as_str().into(),
            attempt.attempt.into(),
            attempt.at_ms.into(),
            attempt.outcome.as_str().into(),
            attempt.http_status.into(),
            attempt.error.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) const INSERT_OPPORTUNITY: &str =
    "INSERT INTO opportunities (catalog, id_number, partner_id, review_status, stage, company_key, created_ms, modified_ms, target_close, doc, \
     submitted_ms, ident_domain, ident_duns, ident_country, ident_prefix, approved_ms, origin, ident_name, ident_company, \
     conflict_active, crm_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, CASE WHEN $17 = 'Partner Referral' OR NOT EXISTS (SELECT 1 FROM opportunities c WHERE c.partner_id = $3 \
     AND c.catalog = $1 AND c.crm_id = $21) THEN $21 END)";

/// The indexed columns of an opportunity, derived from the record (one source of truth).
pub(crate) fn opportunity_params(o: &Opportunity) -> StoreResult<Vec<Param>> {
    let [domain, duns, country, prefix, name] = identity_params(&o.identity());
    Ok(vec![
        o.catalog.as_str().into(),
        o.id_number().into(),
        o.partner_id.as_str().into(),
        o.review_status().as_str().into(),
        o.stage().unwrap_or("").into(),
        o.company_name_key().into(),
        o.created.timestamp_millis().into(),
        o.last_modified.timestamp_millis().into(),
        o.target_close_date().unwrap_or("").into(),
        to_json(o)?.into(),
        o.submission.as_ref().map_or(0, |s| s.submitted_at.timestamp_millis()).into(),
        domain,
        duns,
        country,
        prefix,
        o.approved_at.map_or(0, |t| t.timestamp_millis()).into(),
        o.origin.as_str().into(),
        name,
        o.company_name().unwrap_or("").into(),
        i64::from(is_active_submission(o)).into(),
        // Issue 25: its CRM identifier, which a partner's own create claims or fails (the
        // unique index `opportunities_by_crm_id`, an insert of origin `Partner Referral`), and
        // any other write claims when no other opportunity of the partner holds it.
        o.partner_identifier().into(),
    ])
}

/// Appends an event to the outbox. Its sequence number is drawn under the audit head row's
/// lock, held to commit, so events become visible in sequence order (see `apply_batch`); the
/// lock is taken here so that no path can insert an event without it.
pub(crate) async fn insert_event(tx: &mut Box<dyn Tx>, e: &OutboxEvent) -> StoreResult<()> {
    tx.exec("UPDATE audit_head SET seq = seq WHERE id = 1", &[]).await?;
    tx.exec(
        "INSERT INTO events (id, partner_id, catalog, detail_type, resource, time_ms, envelope, changes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            e.id.as_str().into(),
            e.partner_id.as_str().into(),
            e.catalog.as_str().into(),
            e.detail_type.as_str().into(),
            e.resource.as_str().into(),
            e.time.timestamp_millis().into(),
            to_json(&e.envelope)?.into(),
            to_json(&e.changes)?.into(),
        ],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn read_idempotency(tx: &mut Box<dyn Tx>, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>> {
    let rows = tx
        .query(
            "SELECT request_hash, response, created_ms FROM idempotency WHERE partner_id = $1 AND catalog = $2 AND operation = $3 AND token = $4",
            &[
                key.partner_id.as_str().into(),
                key.catalog.as_str().into(),
                key.operation.as_str().into(),
                key.client_token.as_str().into(),
            ],
        )
        .await?;
    rows.first()
        .map(|r| {
            Ok(IdempotencyRecord {
                key: key.clone(),
                request_hash: r.text(0)?,
                response: from_json(&r.text(1)?)?,
                created_ms: r.int(2)?,
            })
        })
        .transpose()
}

/// REF-7: a referral opportunity's state at each change, for eligibility as of any instant. A
/// change that does not move `LastModifiedDate` (tags) adds nothing.
pub(crate) async fn record_referral_activity(tx: &mut Box<dyn Tx>, o: &Opportunity) -> StoreResult<()> {
    if o.origin != ace_domain::opportunity::Origin::AwsReferral || o.catalog != Catalog::Aws {
        return Ok(());
    }
    tx.exec(
        "INSERT INTO referral_activity (opportunity_number, partner_id, at_ms, stage) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (opportunity_number, at_ms) DO UPDATE SET stage = excluded.stage",
        &[
            o.id_number().into(),
            o.partner_id.as_str().into(),
            o.last_modified.timestamp_millis().into(),
            o.stage().unwrap_or("").into(),
        ],
    )
    .await?;
    Ok(())
}

/// Writes one batch inside an open transaction; the caller commits. A taken idempotency key
/// stops the batch and returns the stored record (nothing else is written).
pub(crate) async fn apply_batch(
    tx: &mut Box<dyn Tx>,
    batch: &WriteBatch,
    wrap: Option<&sealing::KeyWrap>,
) -> StoreResult<BatchOutcome> {
    if let Some(idem) = &batch.idempotency {
        let k = &idem.key;
        // A token whose record has expired (issue 22) is claimed anew: the record is replaced.
        let claimed = tx
            .exec(
                "INSERT INTO idempotency (partner_id, catalog, operation, token, request_hash, response, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (partner_id, catalog, operation, token) DO UPDATE \
                 SET request_hash = excluded.request_hash, response = excluded.response, created_ms = excluded.created_ms \
                 WHERE idempotency.created_ms <= $8",
                &[
                    k.partner_id.as_str().into(),
                    k.catalog.as_str().into(),
                    k.operation.as_str().into(),
                    k.client_token.as_str().into(),
                    idem.request_hash.as_str().into(),
                    to_json(&idem.response)?.into(),
                    idem.created_ms.into(),
                    (idem.created_ms - IDEMPOTENCY_RETENTION_MS).into(),
                ],
            )
            .await?;
        if claimed == 0 {
            let existing = read_idempotency(tx, k).await?.ok_or(StoreError::NotFound)?;
            return Ok(BatchOutcome::Replayed(existing));
        }
    }
    for o in &batch.insert_opportunities {
        tx.exec(INSERT_OPPORTUNITY, &opportunity_params(o)?).await?;
        record_referral_activity(tx, o).await?;
    }
    for (o, expected_modified_ms) in &batch.update_opportunities {
        let mut params = opportunity_params(o)?;
        params.push(Param::Int(*expected_modified_ms));
        let n = tx
            .exec(
                "UPDATE opportunities SET partner_id = $3, review_status = $4, stage = $5, company_key = $6, created_ms = $7, \
                 modified_ms = $8, target_close = $9, doc = $10, submitted_ms = $11, ident_domain = $12, ident_duns = $13, \
                 ident_country = $14, ident_prefix = $15, approved_ms = $16, origin = $17, ident_name = $18, \
                 ident_company = $19, conflict_active = $20, crm_id = CASE WHEN crm_id = $21 OR NOT EXISTS \
                 (SELECT 1 FROM opportunities c WHERE c.partner_id = $3 AND c.catalog = $1 AND c.crm_id = $21 \
                 AND c.id_number <> $2) THEN $21 END WHERE catalog = $1 AND id_number = $2 AND modified_ms = $22",
                &params,
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("opportunity {} changed since it was read", o.id)));
        }
        record_referral_activity(tx, o).await?;
    }
    for (catalog, number, identifier) in &batch.claim_identifiers {
        tx.exec(
            "UPDATE opportunities SET crm_id = $3 WHERE catalog = $1 AND id_number = $2",
            &[catalog.as_str().into(), (*number).into(), identifier.as_str().into()],
        )
        .await?;
    }
    for t in &batch.put_tasks {
        let params: Vec<Param> = vec![
            t.catalog.as_str().into(),
            t.id.as_str().into(),
            t.partner_id.as_str().into(),
            t.opportunity_id.as_str().into(),
            t.start_ms.into(),
            to_json(t)?.into(),
        ];
        tx.exec(
            "INSERT INTO tasks (catalog, id, partner_id, opportunity_id, start_ms, doc) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (catalog, id) DO UPDATE SET doc = $6",
            &params,
        )
        .await?;
    }
    for referral in &batch.insert_referrals {
        let key = sealing::new_data_key();
        let stored = sealing::store_key(wrap, &referral.id, &key)?;
        tx.exec(
            "INSERT INTO referral_keys (referral_id, data_key) VALUES ($1, $2)",
            &[referral.id.as_str().into(), stored.as_str().into()],
        )
        .await?;
        tx.exec(
            "INSERT INTO referrals (id, partner_id, catalog, status, provided_ms, version, doc, due_ms) VALUES ($1, $2, $3, $4, $5, 1, $6, $7)",
            &[
                referral.id.as_str().into(),
                referral.partner_id.as_str().into(),
                referral.catalog.as_str().into(),
                referral.status.as_str().into(),
                referral.provided_at.timestamp_millis().into(),
                sealing::seal(&Referral { version: 1, ..referral.clone() }, &key)?.into(),
                due_param(referral),
            ],
        )
        .await?;
    }
    for referral in &batch.update_referrals {
        let next = Referral { version: referral.version + 1, ..referral.clone() };
        let doc = if next.data_deleted || batch.shred_referrals.contains(&next.id) {
            to_json(&next.without_customer_data())?
        } else {
            let keys = tx.query("SELECT data_key FROM referral_keys WHERE referral_id = $1", &[next.id.as_str().into()]).await?;
            let key = match keys.first() {
                Some(row) => sealing::load_key(wrap, &next.id, &row.text(0)?)?,
                // Written before sealing existed: sealed from this write on.
                None => {
                    let key = sealing::new_data_key();
                    let stored = sealing::store_key(wrap, &next.id, &key)?;
                    tx.exec(
                        "INSERT INTO referral_keys (referral_id, data_key) VALUES ($1, $2)",
                        &[next.id.as_str().into(), stored.as_str().into()],
                    )
                    .await?;
                    key
                }
            };
            sealing::seal(&next, &key)?
        };
        let n = tx
            .exec(
                "UPDATE referrals SET status = $2, version = $3, doc = $4, due_ms = $6 WHERE id = $1 AND version = $5",
                &[
                    referral.id.as_str().into(),
                    referral.status.as_str().into(),
                    next.version.into(),
                    doc.into(),
                    referral.version.into(),
                    due_param(&next),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("referral {} changed since it was read", referral.id)));
        }
    }
    crate::engagements::apply(tx, batch).await?;
    crate::snapshots::apply(tx, batch).await?;
    crate::customer_accounts::apply(tx, batch).await?;
    crate::search::apply(tx, batch).await?;
    crate::bulk::apply(tx, batch).await?;
    crate::checks::apply(tx, batch).await?;
    crate::admin::apply(tx, &batch.admin).await?;
    for id in &batch.shred_referrals {
        tx.exec("DELETE FROM referral_keys WHERE referral_id = $1", &[id.as_str().into()]).await?;
    }
    for (catalog, id) in &batch.delete_opportunities {
        if let Some(number) = opportunity_number(id) {
            tx.exec("DELETE FROM opportunities WHERE catalog = $1 AND id_number = $2", &[catalog.as_str().into(), number.into()])
                .await?;
            crate::search::remove(tx, *catalog, number).await?;
            // REM-2: no trace of it stays, its activity history included.
            if *catalog == Catalog::Aws {
                tx.exec("DELETE FROM referral_activity WHERE opportunity_number = $1", &[number.into()]).await?;
            }
        }
    }
    for suppression in &batch.suppressions {
        tx.exec(
            "INSERT INTO suppressions (key, created_ms, doc) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
            &[suppression.key.as_str().into(), suppression.recorded_at.timestamp_millis().into(), to_json(suppression)?.into()],
        )
        .await?;
    }
    for v in &batch.terms_versions {
        tx.exec(
            "INSERT INTO terms_versions (version, effective_ms, doc) VALUES ($1, $2, $3)",
            &[v.version.into(), v.effective.timestamp_millis().into(), to_json(v)?.into()],
        )
        .await?;
    }
    // MOD-3: the first acceptance of a version stands; only an acceptance that was actually
    // recorded is audited.
    let mut accepted = Vec::new();
    for a in &batch.terms_acceptances {
        let n = tx
            .exec(
                "INSERT INTO terms_acceptances (version, partner_id, at_ms, doc) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (version, partner_id) DO NOTHING",
                &[a.version.into(), a.partner_id.as_str().into(), a.at.timestamp_millis().into(), to_json(a)?.into()],
            )
            .await?;
        if n == 1 {
            let detail = serde_json::json!({"version": a.version, "method": a.method.as_str(), "operation": a.operation});
            accepted.push(
                AuditEntry::new(a.at, format!("partner:{}/{}", a.partner_id, a.user), audit::action::TERMS_ACCEPTED, detail)
                    .partner(&a.partner_id),
            );
        }
    }
    for (key, value) in &batch.settings {
        tx.exec(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
            &[key.as_str().into(), value.as_str().into()],
        )
        .await?;
    }
    // REF-1: reads of referral contact data go into the chained log like everything else.
    let reads = batch.audit_reads.iter().map(|read| {
        AuditEntry::new(read.at, read.actor.as_str(), audit::action::CONTACT_READ, serde_json::json!({"what": read.what}))
            .partner(&read.partner_id)
            .referral(&read.referral_id)
    });
    let entries: Vec<AuditEntry> = reads.chain(accepted).chain(batch.audit.iter().cloned()).collect();
    append_audit(tx, &entries).await?;
    if !batch.events.is_empty() {
        // Outbox sequence numbers are drawn under the head row's lock, held to commit: events
        // become visible in sequence order, so a dispatcher's cursor never passes an event of
        // a transaction still running (PostgreSQL commits writers concurrently; SQLite has one).
        for e in &batch.events {
            insert_event(tx, e).await?;
        }
    }
    Ok(BatchOutcome::Committed)
}

/// One batch, one transaction (PostgreSQL; SQLite goes through [`crate::group`]).
pub(crate) async fn commit_one(
    db: &dyn Database,
    batch: WriteBatch,
    wrap: Option<&sealing::KeyWrap>,
) -> StoreResult<BatchOutcome> {
    let mut tx = db.begin().await?;
    let outcome = apply_batch(&mut tx, &batch, wrap).await?;
    if outcome == BatchOutcome::Committed {
        tx.commit().await?;
        after_commit(db, std::slice::from_ref(&batch)).await;
    }
    Ok(outcome)
}

/// Deleted data must not linger in the WAL either. The batches are committed: a scrub that
/// fails is not reported as a failed write; it is owed, and retried after the next commit.
pub(crate) async fn after_commit(db: &dyn Database, batches: &[WriteBatch]) {
    if wants_scrub(db, batches) {
        scrub(db).await;
    }
}

/// Whether committed batches deleted data (or an earlier scrub is still owed).
pub(crate) fn wants_scrub(db: &dyn Database, batches: &[WriteBatch]) -> bool {
    db.scrub_owed() || batches.iter().any(|b| !b.shred_referrals.is_empty() || !b.delete_opportunities.is_empty())
}

pub(crate) async fn scrub(db: &dyn Database) {
    if let Err(e) = db.scrub().await {
        tracing::warn!(error = %e, "could not scrub the database after a deletion");
    }
}

/// Appends entries to the hash chain. The head row is updated first, so concurrent writers
/// (several nodes on PostgreSQL) queue on its row lock and the chain stays one line.
pub(crate) async fn append_audit(tx: &mut Box<dyn Tx>, entries: &[AuditEntry]) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = entries.len() as i64;
    let rows = tx.query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash", &[n.into()]).await?;
    let head = rows.first().ok_or_else(|| StoreError::Other("the audit head row is missing".into()))?;
    let (last_seq, mut prev_hash) = (head.int(0)?, head.text(1)?);
    for (i, entry) in entries.iter().enumerate() {
        let stored = StoredAuditEntry::chain(last_seq - n + 1 + i as i64, &prev_hash, entry);
        tx.exec(
            "INSERT INTO audit_log (seq, at_ms, actor, action, partner_id, referral_id, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                stored.seq.into(),
                stored.at_ms.into(),
                stored.actor.as_str().into(),
                stored.action.as_str().into(),
                stored.partner_id.as_deref().into(),
                stored.referral_id.as_deref().into(),
                stored.detail.as_str().into(),
                stored.prev_hash.as_str().into(),
                stored.hash.as_str().into(),
            ],
        )
        .await?;
        prev_hash = stored.hash;
    }
    tx.exec("UPDATE audit_head SET hash = $1 WHERE id = 1", &[prev_hash.into()]).await?;
    Ok(())
}

/// REF-3: when the sweep should next look at a referral (NULL: never).
pub(crate) fn due_param(r: &Referral) -> Param {
    match ace_domain::referral::sweep_after(r) {
        Some(t) => Param::Int(t.timestamp_millis()),
        None => Param::NullInt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 25: the insert's strict claim of a CRM identifier is for the partner's own
    /// opportunities, named in the SQL by the origin's stored text.
    #[test]
    fn the_strict_claim_of_a_crm_identifier_names_the_partners_own_origin() {
        let own = ace_domain::opportunity::Origin::PartnerReferral.as_str();
        assert!(INSERT_OPPORTUNITY.contains(&format!("$17 = '{own}'")), "{INSERT_OPPORTUNITY}");
    }
}
