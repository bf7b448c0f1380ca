//! Program governance as the operator decides it, from the operator API or the web console:
//! removal (REM-1), terms versions and their acceptance (MOD-2 … MOD-4), and the audit log with
//! its verification (USE-4).

use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::audit::{action, AuditEntry, ChainBreak, ChainVerifier, StoredAuditEntry};
use ace_domain::events::partner_event;
use ace_domain::partner::{Removal, RemovalScope};
use ace_domain::terms::{self, TermsVersion};
use ace_domain::time::{format_timestamp, from_millis, parse_timestamp, Instant};
use ace_store::{AdminWrite, AuditFilter, WriteBatch};

use super::AppError;
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveInput {
    pub scope: String,
    pub reason: Option<String>,
}

pub fn parse_scope(scope: &str) -> Result<RemovalScope, AppError> {
    RemovalScope::parse(scope).ok_or_else(|| AppError::invalid(format!("scope {scope:?} is not one of: referrals, all")))
}

/// REM-1 as `actor` (an operator token or a console user).
pub async fn remove(state: &AppState, actor: &str, id: &str, input: RemoveInput) -> Result<Value, AppError> {
    let scope = parse_scope(&input.scope)?;
    let mut partner = super::partners::load(state, id).await?;
    let now = state.now();
    let removal = Removal { scope, reason: input.reason.clone(), at: now, by: actor.to_string() };
    partner.remove(removal).map_err(|e| AppError::conflict("conflict", e.to_string()))?;
    // The decision — the partner's removal, its audit entry and (removed from the whole program)
    // the end of its engagement memberships — is one transaction. Its referrals are revoked
    // after it, each in a transaction of its own with its deletion record (REM-2): should a
    // revocation fail, repeating the command finishes the work (it is idempotent).
    let entry = AuditEntry::new(now, actor, action::PARTNER_REMOVED, json!({"scope": scope.as_str(), "reason": input.reason}))
        .partner(id);
    let end_memberships_of = if scope == RemovalScope::All { vec![id.to_string()] } else { vec![] };
    let write = AdminWrite::UpdatePartner { profile: partner, effective_ms: now.timestamp_millis() };
    state.store.commit(WriteBatch { admin: vec![write], audit: vec![entry], end_memberships_of, ..Default::default() }).await?;
    let reason = format!(
        "REM-1: partner removed from {}{}",
        if scope == RemovalScope::All { "the program" } else { "referrals" },
        input.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    );
    let mut revoked = Vec::new();
    for listed in state.store.list_referrals(Some(id), 100_000).await? {
        // A referral the partner is acting on right now changes under us: read it again.
        let mut current = Some(listed);
        for _ in 0..5 {
            let Some(referral) = current.take().filter(|r| r.status.visible_to_partner()) else { break };
            if crate::referrals::revoke(state, &referral, &reason, Vec::new()).await? {
                revoked.push(referral.id);
                break;
            }
            current = state.store.get_referral(&referral.id).await?;
        }
        if current.as_ref().is_some_and(|r| r.status.visible_to_partner()) {
            return Err(AppError::conflict("conflict", "a referral kept changing; run the removal again"));
        }
    }
    crate::app::eligibility::refresh_after(state, id, "partner removed").await;
    Ok(json!({"partner": id, "scope": scope.as_str(), "referrals_revoked": revoked}))
}

pub fn parse_time(field: &str, value: &str) -> Result<Instant, AppError> {
    parse_timestamp(&Value::String(value.to_string()))
        .ok_or_else(|| AppError::invalid(format!("{field} {value:?} is not an RFC 3339 timestamp, e.g. 2027-01-01T00:00:00Z")))
}

pub fn terms_view(v: &TermsVersion, with_text: bool) -> Value {
    let mut out = json!({
        "version": v.version, "effective": format_timestamp(v.effective), "published": format_timestamp(v.published),
        "published_by": v.published_by, "summary": v.summary, "sha256": v.sha256, "backdated": v.backdated,
        "bytes": v.text.len(),
    });
    if with_text {
        out["text"] = json!(v.text);
    }
    out
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishInput {
    pub text: String,
    pub effective: Option<String>,
    pub summary: Option<String>,
    #[serde(default)]
    pub backdate: bool,
}

/// MOD-2, MOD-4 as `actor`.
pub async fn publish(state: &AppState, actor: &str, input: PublishInput) -> Result<Value, AppError> {
    let now = state.now();
    let effective = input.effective.as_deref().map(|e| parse_time("effective", e)).transpose()?;
    let effective = terms::check_publish(&input.text, input.summary.as_deref(), effective, now, input.backdate)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let version = state.store.next_sequence("terms").await?;
    let published = TermsVersion {
        version,
        effective,
        published: now,
        published_by: actor.to_string(),
        summary: input.summary.filter(|s| !s.trim().is_empty()),
        sha256: terms::sha256_hex(&input.text),
        text: input.text,
        backdated: effective < now,
    };
    let mut events = Vec::new();
    for partner in state.store.list_partners().await? {
        let detail = json!({"version": version, "effectiveDate": format_timestamp(effective), "summary": published.summary,
                            "sha256": published.sha256});
        events.push(partner_event("Program Terms Changed", state.new_event_id(), &partner.id, &partner.account_id, detail, now));
    }
    let entry = AuditEntry::new(
        now,
        actor,
        action::TERMS_PUBLISHED,
        json!({"version": version, "effective": format_timestamp(effective), "sha256": published.sha256,
               "backdated": published.backdated, "partners_told": events.len()}),
    );
    state
        .store
        .commit(WriteBatch { terms_versions: vec![published.clone()], events, audit: vec![entry], ..Default::default() })
        .await?;
    state.governance.invalidate();
    Ok(terms_view(&published, false))
}

pub async fn find_version(state: &AppState, version: &str) -> Result<TermsVersion, AppError> {
    let versions = state.store.list_terms_versions().await?;
    let found = if version == "current" {
        terms::current(&versions, state.now()).cloned()
    } else {
        let n: i64 = version
            .parse()
            .map_err(|_| AppError::invalid(format!("terms version {version:?} is not a number (or \"current\")")))?;
        versions.into_iter().find(|v| v.version == n)
    };
    found.ok_or_else(|| AppError::NotFound(format!("terms version {version} has not been published")))
}

pub async fn acceptance_of(state: &AppState, version: &str) -> Result<Value, AppError> {
    let v = find_version(state, version).await?;
    let accepted = state.store.list_terms_acceptances(Some(v.version), None).await?;
    let partners = state.store.list_partners().await?;
    let pending: Vec<&str> =
        partners.iter().map(|p| p.id.as_str()).filter(|id| !accepted.iter().any(|a| a.partner_id == *id)).collect();
    let items: Vec<Value> = accepted
        .iter()
        .map(|a| {
            json!({"partner_id": a.partner_id, "method": a.method.as_str(), "at": format_timestamp(a.at), "user": a.user,
                        "operation": a.operation})
        })
        .collect();
    Ok(json!({"version": v.version, "effective": format_timestamp(v.effective), "accepted": items, "not_yet": pending}))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub partner: Option<String>,
    pub referral: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<usize>,
}

pub fn audit_view(e: &StoredAuditEntry) -> Value {
    json!({
        "seq": e.seq, "at": format_timestamp(from_millis(e.at_ms)), "actor": e.actor, "action": e.action,
        "partner_id": e.partner_id, "referral_id": e.referral_id,
        "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::String(e.detail.clone())), "hash": e.hash,
    })
}

pub async fn audit_entries(state: &AppState, q: AuditQuery) -> Result<Value, AppError> {
    let since_ms = q.since.as_deref().map(|s| parse_time("since", s)).transpose()?.map(|t| t.timestamp_millis());
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let filter = AuditFilter {
        after_seq: q.after.unwrap_or(0),
        partner_id: q.partner,
        referral_id: q.referral,
        action: q.action,
        since_ms,
        limit,
    };
    let entries = state.store.list_audit(&filter).await?;
    let next = (entries.len() == limit).then(|| entries.last().map(|e| e.seq)).flatten();
    Ok(json!({"entries": entries.iter().map(audit_view).collect::<Vec<_>>(), "next_after": next}))
}

/// USE-4: the chain checked against its head.
pub async fn verify(state: &AppState) -> Result<Value, AppError> {
    // The head is read first: entries appended while the check runs lie beyond it.
    let (head_seq, head_hash) = state.store.audit_head().await?;
    let head = json!({"seq": head_seq, "hash": head_hash});
    Ok(match verify_chain(state, head_seq, &head_hash).await? {
        Ok(count) => json!({"ok": true, "entries": count, "head": head}),
        Err(b) => json!({"ok": false, "broken_at": b.seq, "reason": b.reason, "head": head}),
    })
}

pub async fn verify_chain(state: &AppState, head_seq: i64, head_hash: &str) -> Result<Result<u64, ChainBreak>, AppError> {
    const PAGE: usize = 10_000;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = state.store.list_audit(&AuditFilter { after_seq: after, limit: PAGE, ..Default::default() }).await?;
        for e in page.iter().take_while(|e| e.seq <= head_seq) {
            if let Err(b) = verifier.push(e) {
                return Ok(Err(b));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE && last.seq < head_seq => after = last.seq,
            _ => return Ok(verifier.finish((head_seq, head_hash))),
        }
    }
}

/// MOD-2: every published version of the terms, oldest first, as stored now (not the partner
/// API's few-seconds cache: the operator sees its own publication on any node at once).
pub async fn versions(state: &AppState) -> Result<Vec<TermsVersion>, AppError> {
    Ok(state.store.list_terms_versions().await?)
}
