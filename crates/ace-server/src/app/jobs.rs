//! Background jobs on the program clock. Each is idempotent and runs when due: from a loop
//! every minute of real time, and at once when a test clock is advanced.

use std::time::Duration;

use chrono::TimeDelta;

use crate::app::eligibility::{sweep, LAST_SWEEP_SETTING};
use crate::AppState;

const ELIGIBILITY_SWEEP_EVERY: TimeDelta = TimeDelta::hours(24);

/// Runs every job that is due; returns what ran, for the operator.
pub async fn run_due(state: &AppState) -> Vec<String> {
    let mut ran = Vec::new();
    // REF-3: referral deadlines, expiries and reminders, every run.
    match crate::referrals::sweep(state).await {
        Ok(done) => {
            crate::metrics::job_run("referral-sweep", done.len());
            ran.extend(done);
        }
        Err(e) => tracing::warn!(error = %e, "jobs: referral sweep failed"),
    }
    // Customer accounts still waiting for matching (issue 20), e.g. after a restart.
    match crate::app::customer_accounts::match_pending(state).await {
        Ok(done) => {
            crate::metrics::job_run("customer-account-matching", done.len());
            ran.extend(done);
        }
        Err(e) => tracing::warn!(error = ?e, "jobs: customer account matching failed"),
    }
    // Invitations between partners left unanswered (issue 18).
    let expired = crate::app::engagements::expire_invitations(state).await;
    let now = state.now();
    let last_ms = match state.store.get_setting(LAST_SWEEP_SETTING).await {
        Ok(v) => v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "jobs: cannot read the last sweep time");
            return ran;
        }
    };
    if now.timestamp_millis() - last_ms >= ELIGIBILITY_SWEEP_EVERY.num_milliseconds() {
        match sweep(state, "daily re-evaluation").await {
            Ok(changed) => {
                crate::metrics::job_run("eligibility-sweep", changed);
                if let Err(e) = state.store.put_setting(LAST_SWEEP_SETTING, &now.timestamp_millis().to_string()).await {
                    tracing::warn!(error = %e, "jobs: cannot record the sweep time");
                }
                ran.push(format!("eligibility sweep: {changed} partner(s) changed"));
            }
            Err(e) => tracing::warn!(error = %e, "jobs: eligibility sweep failed"),
        }
    }
    match expired {
        Ok(done) => {
            crate::metrics::job_run("invitation-expiry", done.len());
            ran.extend(done);
        }
        Err(e) => tracing::warn!(error = ?e, "jobs: invitation expiry sweep failed"),
    }
    // Expired ClientToken records (issue 22), a thousand at a time.
    let before_ms = state.now().timestamp_millis() - ace_store::IDEMPOTENCY_RETENTION_MS;
    let mut removed = 0;
    for _ in 0..100 {
        match state.store.delete_expired_idempotency(before_ms, 1_000).await {
            Ok(n) => {
                removed += n;
                if n < 1_000 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "jobs: expiring client tokens failed");
                break;
            }
        }
    }
    crate::metrics::job_run("client-token-expiry", removed);
    if removed > 0 {
        ran.push(format!("client tokens: {removed} expired record(s) removed"));
    }
    ran
}

/// The loop `ace serve` runs until shutdown.
pub async fn run_forever(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        for line in run_due(&state).await {
            tracing::info!("{line}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
