//! The figures an operator runs a server by (issue 22), in the Prometheus text format at
//! `/metrics` on a listener of its own (`ace serve --metrics-listen 127.0.0.1:9464`, off by
//! default). Recorded through the `metrics` facade — a no-op until [`install`] has run — and
//! exposed by `metrics-exporter-prometheus`.
//!
//! | family | kind | labels |
//! |---|---|---|
//! | `ace_requests_total`, `ace_request_seconds` | counter, histogram | `operation`, `outcome` (`ok` or the error type), `catalog` |
//! | `ace_throttles_total` | counter | `meter` |
//! | `ace_security_blocks_total` | counter | `signal` (USE-2 blocks, USE-3 lockouts) |
//! | `ace_store_commit_seconds` | histogram | `result` (`committed`, `replayed`, `conflict`, `error`) |
//! | `ace_store_commit_group_batches`, `ace_store_commit_queue_depth` | histogram, gauge | — (SQLite's group commit) |
//! | `ace_outbox_head_seq` | gauge | — (the newest event) |
//! | `ace_webhook_lag_events` | gauge | `subscription` (events not yet delivered) |
//! | `ace_webhook_attempts_total` | counter | `outcome` (`delivered`, `failed`, `dead`) |
//! | `ace_job_runs_total`, `ace_job_actions_total` | counter | `job` |
//! | `ace_eligibility_changes_total` | counter | `eligible` |

use std::sync::OnceLock;

use axum::routing::get;
use axum::Router;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, in seconds: a cached read takes well under a millisecond, a commit group a
/// few, an overloaded server hundreds.
const SECONDS_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Installs the process's recorder (once; later calls answer the same handle).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("one metrics recorder per process");
        describe();
        handle
    })
}

fn describe() {
    describe_counter!("ace_requests_total", "Partner API requests, by operation, outcome and catalog");
    describe_histogram!("ace_request_seconds", Unit::Seconds, "Partner API request latency, by operation, outcome and catalog");
    describe_counter!("ace_throttles_total", "Requests refused by a quota (USE-5), by the meter they drew on");
    describe_counter!("ace_security_blocks_total", "Keys and addresses blocked for probing (USE-2) or locked out (USE-3)");
    describe_histogram!("ace_store_commit_seconds", Unit::Seconds, "Time a write waits for its commit, by result");
    describe_histogram!("ace_store_commit_group_batches", "Writes committed together in one transaction (SQLite group commit)");
    describe_gauge!("ace_store_commit_queue_depth", "Writes waiting for the next commit group (SQLite)");
    describe_gauge!("ace_outbox_head_seq", "Sequence number of the newest outbox event");
    describe_gauge!("ace_webhook_lag_events", "Outbox events a webhook subscription has not been sent yet");
    describe_counter!(
        "ace_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (dead: parked after the retry window)"
    );
    describe_counter!("ace_job_runs_total", "Background job runs, by job");
    describe_counter!("ace_job_actions_total", "What background job runs did (reminders, revocations, expiries, sweeps), by job");
    describe_counter!("ace_eligibility_changes_total", "Partner eligibility changes (ELIG-2), by the new state");
}

/// The exposition, as a scrape reads it.
pub fn render() -> String {
    let handle = install();
    handle.run_upkeep();
    handle.render()
}

/// The metrics listener's routes.
pub fn router() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render()) }),
    )
}

pub fn request(operation: &'static str, outcome: &'static str, catalog: &'static str, seconds: f64) {
    let labels = [("operation", operation), ("outcome", outcome), ("catalog", catalog)];
    counter!("ace_requests_total", &labels).increment(1);
    histogram!("ace_request_seconds", &labels).record(seconds);
}

pub fn throttled(meter: &'static str) {
    counter!("ace_throttles_total", "meter" => meter).increment(1);
}

pub fn blocked(signal: &'static str) {
    counter!("ace_security_blocks_total", "signal" => signal).increment(1);
}

pub fn outbox_head(seq: i64) {
    gauge!("ace_outbox_head_seq").set(seq as f64);
}

pub fn webhook_lag(subscription: &str, events: i64) {
    gauge!("ace_webhook_lag_events", "subscription" => subscription.to_string()).set(events.max(0) as f64);
}

pub fn webhook_attempt(outcome: &'static str) {
    counter!("ace_webhook_attempts_total", "outcome" => outcome).increment(1);
}

pub fn job_run(job: &'static str, actions: usize) {
    counter!("ace_job_runs_total", "job" => job).increment(1);
    counter!("ace_job_actions_total", "job" => job).increment(actions as u64);
}

pub fn eligibility_change(eligible: bool) {
    counter!("ace_eligibility_changes_total", "eligible" => if eligible { "true" } else { "false" }).increment(1);
}
