//! Events in the EventBridge shape Partner Central publishes (digest §3.6). Each state change
//! appends one to the outbox in the same transaction as the change.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids::{opportunity_arn, Catalog, REGION};
use crate::opportunity::Opportunity;
use crate::time::{format_timestamp, Instant};

pub const SOURCE: &str = "aws.partnercentral-selling";

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
    }
}
