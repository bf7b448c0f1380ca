//! Records as the Selling API shows them: the partner API answers with these, and the operator
//! API shows a partner's records the way the partner sees them.

use serde_json::{json, Value};

use ace_domain::ids::opportunity_arn;
use ace_domain::model::Model;
use ace_domain::opportunity::Opportunity;
use ace_domain::submission::EvidenceRequest;
use ace_domain::time::{format_timestamp, Instant};

/// The GetOpportunity view of a record.
pub fn opportunity(o: &Opportunity, account_id: &str) -> Value {
    let mut v = Value::Object(o.document.clone());
    v["Id"] = json!(o.id);
    v["Arn"] = json!(opportunity_arn(account_id, o.catalog, &o.id));
    v["Catalog"] = json!(o.catalog.as_str());
    v["CreatedDate"] = json!(format_timestamp(o.created));
    v["LastModifiedDate"] = json!(format_timestamp(o.last_modified));
    v["RelatedEntityIdentifiers"] = Value::Object(o.related.clone());
    v
}

pub fn evidence_request(e: &EvidenceRequest) -> Value {
    let ts = |t: Option<Instant>| t.map(format_timestamp);
    let v = json!({
        "RequestId": e.id, "Catalog": e.catalog.as_str(), "OpportunityIdentifier": e.opportunity_id, "Status": e.status.as_str(),
        "Message": e.message, "RequestedAt": format_timestamp(e.requested_at), "Evidence": e.evidence,
        "EvidenceSha256": e.evidence_sha256, "AnsweredAt": ts(e.answered_at), "AnsweredBy": e.answered_by, "ClosedAt": ts(e.closed_at),
    });
    Model::ace_partner().project("EvidenceRequest", &v)
}
