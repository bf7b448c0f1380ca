//! Loads what the domain's eligibility rules need, as of an instant, and keeps each partner's
//! eligibility history (with a `Partner Eligibility Changed` event) up to date.

use std::collections::HashMap;

use serde_json::json;

use ace_domain::eligibility::{
    evaluate, in_force_at, window_start, EligibilityConfig, EligibilityReport, OpenReferral, PartnerFacts,
};
use ace_domain::events::partner_event;
use ace_domain::opportunity::stage_is_terminal;
use ace_domain::partner::PartnerProfile;
use ace_domain::time::{from_millis, Instant};
use ace_store::{EligibilityChange, ReferralActivity, StoreResult};

use crate::AppState;

/// Operator setting: when the daily re-evaluation last ran (program clock, ms).
pub const LAST_SWEEP_SETTING: &str = "jobs.eligibility_sweep_ms";

pub async fn config_versions(state: &AppState) -> StoreResult<Vec<(Instant, EligibilityConfig)>> {
    Ok(state.store.eligibility_config_versions().await?.into_iter().map(|(ms, c)| (from_millis(ms), c)).collect())
}

/// ELIG-3: the configuration in force at `as_of` (the built-in defaults before the first change).
pub async fn config_at(state: &AppState, as_of: Instant) -> StoreResult<EligibilityConfig> {
    Ok(in_force_at(&config_versions(state).await?, as_of).cloned().unwrap_or_default())
}

/// The partner's profile as it was at `as_of`; `None` when it did not exist yet (or at all).
pub async fn profile_at(state: &AppState, partner_id: &str, as_of: Instant) -> StoreResult<Option<PartnerProfile>> {
    let store = state.store.as_ref();
    // Every profile change is stored as a version (`AdminWrite::InsertPartner`, `UpdatePartner`).
    let versions = store.partner_versions(Some(partner_id), as_of.timestamp_millis()).await?;
    Ok(versions.into_iter().last().map(|(_, profile)| profile))
}

fn open_referrals(activity: &[ReferralActivity], as_of: Instant) -> Vec<OpenReferral> {
    activity
        .iter()
        .filter(|a| !stage_is_terminal(&a.stage))
        .map(|a| OpenReferral {
            opportunity_id: a.opportunity_id.clone(),
            last_update: from_millis(a.last_update_ms.min(as_of.timestamp_millis())),
        })
        .collect()
}

/// One partner's report at `as_of`; `None` when the partner did not exist then.
pub async fn report(state: &AppState, partner_id: &str, as_of: Instant) -> StoreResult<Option<EligibilityReport>> {
    let store = state.store.as_ref();
    let Some(profile) = profile_at(state, partner_id, as_of).await? else { return Ok(None) };
    let config = config_at(state, as_of).await?;
    let start = window_start(as_of, config.window_months);
    let approvals: Vec<Instant> = store
        .approvals(Some(partner_id), start.timestamp_millis(), as_of.timestamp_millis())
        .await?
        .into_iter()
        .map(|(_, ms)| from_millis(ms))
        .collect();
    // As the referral updates were at `as_of`, not as they are today (issue 22).
    let referrals = open_referrals(&store.referral_activity_as_of(Some(partner_id), as_of.timestamp_millis()).await?, as_of);
    let facts = PartnerFacts { profile: &profile, approvals: &approvals, open_referrals: &referrals };
    Ok(Some(evaluate(&facts, &config, as_of)))
}

/// Every partner's report at `as_of`, from three bulk reads. Referral activity in the past is
/// read as it was then (issue 22); at `now` or later, from the opportunities as they are.
pub async fn all_reports(state: &AppState, as_of: Instant, now: Instant) -> StoreResult<Vec<EligibilityReport>> {
    let store = state.store.as_ref();
    let config = config_at(state, as_of).await?;
    let mut profiles: HashMap<String, PartnerProfile> = HashMap::new();
    for (_, p) in store.partner_versions(None, as_of.timestamp_millis()).await? {
        profiles.insert(p.id.clone(), p); // oldest first: the last one wins
    }
    let start = window_start(as_of, config.window_months);
    let mut approvals: HashMap<String, Vec<Instant>> = HashMap::new();
    for (partner, ms) in store.approvals(None, start.timestamp_millis(), as_of.timestamp_millis()).await? {
        approvals.entry(partner).or_default().push(from_millis(ms));
    }
    let mut activity: HashMap<String, Vec<ReferralActivity>> = HashMap::new();
    let current = if as_of >= now {
        store.referral_activity(None).await?
    } else {
        store.referral_activity_as_of(None, as_of.timestamp_millis()).await?
    };
    for a in current {
        activity.entry(a.partner_id.clone()).or_default().push(a);
    }
    let mut reports: Vec<EligibilityReport> = profiles
        .values()
        .map(|profile| {
            let referrals = open_referrals(activity.get(&profile.id).map_or(&[][..], Vec::as_slice), as_of);
            let approvals = approvals.get(&profile.id).map_or(&[][..], Vec::as_slice);
            evaluate(&PartnerFacts { profile, approvals, open_referrals: &referrals }, &config, as_of)
        })
        .collect();
    reports.sort_by(|a, b| a.partner_id.cmp(&b.partner_id));
    Ok(reports)
}

/// Records the report when it changes the partner's eligibility (or is its first), with a
/// `Partner Eligibility Changed` event.
async fn record_if_changed(state: &AppState, report: &EligibilityReport, last: Option<bool>, cause: &str) -> StoreResult<bool> {
    if last == Some(report.eligible) {
        return Ok(false);
    }
    let unmet: Vec<String> = report.requirements.iter().filter(|r| !r.met).map(|r| r.id.clone()).collect();
    let change = EligibilityChange {
        partner_id: report.partner_id.clone(),
        at_ms: report.as_of.timestamp_millis(),
        eligible: report.eligible,
        cause: cause.to_string(),
        unmet: unmet.clone(),
    };
    let account = state.store.get_partner(&report.partner_id).await?.map(|p| p.account_id).unwrap_or_default();
    let detail = json!({"partnerId": report.partner_id, "eligible": report.eligible, "cause": cause, "unmetRequirements": unmet});
    let event =
        partner_event("Partner Eligibility Changed", state.new_event_id(), &report.partner_id, &account, detail, report.as_of);
    let recorded = state.store.record_eligibility(&change, &event).await?;
    if recorded {
        crate::metrics::eligibility_change(report.eligible);
    }
    Ok(recorded)
}

/// Re-evaluates one partner now (after an event that can change its eligibility).
pub async fn refresh(state: &AppState, partner_id: &str, cause: &str) -> StoreResult<()> {
    let Some(report) = report(state, partner_id, state.now()).await? else { return Ok(()) };
    let last = state.store.eligibility_history(Some(partner_id)).await?.last().map(|c| c.eligible);
    record_if_changed(state, &report, last, cause).await.map(|_| ())
}

/// Re-evaluates a partner after a committed change that may move its eligibility (ELIG-2). The
/// change stands either way: a failure here is logged, and the daily sweep records what this
/// one could not.
pub async fn refresh_after(state: &AppState, partner_id: &str, cause: &str) {
    if let Err(e) = refresh(state, partner_id, cause).await {
        tracing::error!(partner = partner_id, error = %e, "could not re-evaluate eligibility after a change; the sweep will");
    }
}

/// [`sweep`] after a committed change of the configuration; a failure is logged (see [`refresh_after`]).
pub async fn sweep_after(state: &AppState, cause: &str) {
    if let Err(e) = sweep(state, cause).await {
        tracing::error!(error = %e, "could not re-evaluate eligibility after a change; the daily sweep will");
    }
}

/// Re-evaluates every partner now; returns how many changed.
pub async fn sweep(state: &AppState, cause: &str) -> StoreResult<usize> {
    let now = state.now();
    let mut last: HashMap<String, bool> = HashMap::new();
    for change in state.store.eligibility_history(None).await? {
        last.insert(change.partner_id, change.eligible); // oldest first
    }
    let mut changed = 0;
    for report in all_reports(state, now, now).await? {
        if record_if_changed(state, &report, last.get(&report.partner_id).copied(), cause).await? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// The referral gate (ELIG-2, REF-6): `Err` carries the report that explains the refusal.
pub async fn referral_gate(
    state: &AppState,
    partner_id: &str,
) -> StoreResult<Result<EligibilityReport, Option<EligibilityReport>>> {
    Ok(match report(state, partner_id, state.now()).await? {
        Some(r) if r.eligible => Ok(r),
        other => Err(other),
    })
}

/// The recorded changes of `partner_id`'s eligibility (every partner's when `None`), oldest first.
pub async fn history(state: &AppState, partner_id: Option<&str>) -> StoreResult<Vec<EligibilityChange>> {
    state.store.eligibility_history(partner_id).await
}
