//! Events in the EventBridge shape Partner Central publishes (digest §3.6). Each state change
//! appends one to the outbox in the same transaction as the change.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids::{opportunity_arn, Catalog, REGION};
use crate::opportunity::Opportunity;
use crate::time::{format_timestamp, Instant};

pub const SOURCE: &str = "aws.partnercentral-selling";
/// The source of this system's own event types (eligibility, revocation, terms …).
pub const OWN_SOURCE: &str = "ace.pipeline-manager";

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// The dedup id consumers key on (the envelope's `id`).
    pub id: String,
    pub partner_id: String,
    pub catalog: Catalog,
    pub detail_type: String,
    /// The resource the event is about; delivery keeps order per resource.
    pub resource: String,
    pub time: Instant,
    /// The whole EventBridge envelope.
    pub envelope: Value,
    /// What changed (field paths), for subscriptions that asked for richer payloads.
    #[serde(default)]
    pub changes: Vec<String>,
}

/// `Opportunity Created` / `Opportunity Updated`: only the id is sent, as in production.
pub fn opportunity_event(
    detail_type: &str,
    event_id: String,
    opportunity: &Opportunity,
    account_id: &str,
    time: Instant,
) -> OutboxEvent {
    let arn = opportunity_arn(account_id, opportunity.catalog, &opportunity.id);
    let envelope = json!({
        "version": "1",
        "id": event_id,
        "detail-type": detail_type,
        "source": SOURCE,
        "account": account_id,
        "time": format_timestamp(time),
        "region": REGION,
        "resources": [arn],
        "detail": {"schemaVersion": "1", "catalog": opportunity.catalog.as_str(), "opportunity": {"identifier": opportunity.id}},
    });
    OutboxEvent {
        id: event_id,
        partner_id: opportunity.partner_id.clone(),
        catalog: opportunity.catalog,
        detail_type: detail_type.to_string(),
        resource: arn,
        time,
        envelope,
        changes: Vec::new(),
    }
}

/// The envelope a subscription receives: with `detail.changedFields` when it asked for them.
pub fn delivered_envelope(event: &OutboxEvent, include_changes: bool) -> Value {
    let mut envelope = event.envelope.clone();
    if include_changes && !event.changes.is_empty() {
        envelope["detail"]["changedFields"] = json!(event.changes);
    }
    envelope
}

/// An event of this system's own about a partner, e.g. `Partner Eligibility Changed`.
pub fn partner_event(
    detail_type: &str,
    event_id: String,
    partner_id: &str,
    account_id: &str,
    detail: serde_json::Value,
    time: Instant,
) -> OutboxEvent {
    partner_event_in(Catalog::Aws, detail_type, event_id, partner_id, account_id, detail, time)
}

/// An event of this system's own about a partner's record in `catalog` (a revoked referral's
/// `Engagement Invitation Revoked` and `Data Deletion Required`: a Sandbox referral's are the
/// Sandbox's).
pub fn partner_event_in(
    catalog: Catalog,
    detail_type: &str,
    event_id: String,
    partner_id: &str,
    account_id: &str,
    detail: serde_json::Value,
    time: Instant,
) -> OutboxEvent {
    let resource = format!("partner/{partner_id}");
    feed_event(OWN_SOURCE, detail_type, event_id, partner_id, account_id, catalog, resource, detail, time)
}

/// One event to one partner's feed, in the EventBridge envelope.
#[allow(clippy::too_many_arguments)]
fn feed_event(
    source: &str,
    detail_type: &str,
    event_id: String,
    partner_id: &str,
    account_id: &str,
    catalog: Catalog,
    resource: String,
    detail: serde_json::Value,
    time: Instant,
) -> OutboxEvent {
    let envelope = json!({
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": format_timestamp(time),
        "region": REGION,
        "resources": [resource],
        "detail": detail,
    });
    OutboxEvent {
        id: event_id,
        partner_id: partner_id.to_string(),
        catalog,
        detail_type: detail_type.to_string(),
        resource,
        time,
        envelope,
        changes: Vec::new(),
    }
}

/// An event Partner Central publishes about an engagement or an invitation between partners
/// (`Engagement Created`, `Engagement Member Added`, `Engagement Invitation Accepted`, …), to
/// one partner's feed, in the shape of the developer guide (digest §3.6).
#[allow(clippy::too_many_arguments)]
pub fn selling_event(
    detail_type: &str,
    event_id: String,
    partner_id: &str,
    account_id: &str,
    catalog: Catalog,
    resource: String,
    detail: serde_json::Value,
    time: Instant,
) -> OutboxEvent {
    feed_event(SOURCE, detail_type, event_id, partner_id, account_id, catalog, resource, detail, time)
}
