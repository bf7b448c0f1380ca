//! `AcePartner.*`: the operations the Selling API has no fields for (SUB-3, SUB-4, SUB-5,
//! SUB-6), on the same endpoint with the same protocol and credentials. Their model is
//! `models/ace-partner/<version>/service-2.json`, which botocore loads as it is.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use ace_domain::model::Model;
use ace_domain::opportunity::ReviewStatus;
use ace_domain::submission::{check_attestation, Attestation};
use ace_domain::time::format_timestamp;
use ace_store::WriteBatch;

use super::opportunities::load;
use super::{in_memory_page, ApiResult, Output, Request};
use crate::error::ApiError;

/// The attestation in its API shape.
fn attestation_view(a: &Attestation) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.retain(|_, value| !value.is_null());
    }
    Model::ace_partner().project("SubmissionAttestation", &v)
}

/// What `PutSubmissionAttestation` and `GetSubmissionAttestation` answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttestationResponse {
    catalog: &'static str,
    opportunity_identifier: String,
    attestation: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EvidenceRequestResponse {
    evidence_request: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OpportunityRef {
    opportunity_identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEvidenceRequestsRequest {
    #[serde(default)]
    status: Vec<String>,
    opportunity_identifier: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RespondToEvidenceRequest {
    request_id: String,
    evidence: String,
    evidence_sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetReferralEligibilityRequest {
    as_of: Option<Value>,
}

pub async fn put_attestation(r: Request) -> ApiResult {
    let OpportunityRef { opportunity_identifier: id } = r.parse()?;
    let current = load(&r, &id).await?;
    let status = current.review_status();
    if !matches!(status, ReviewStatus::PendingSubmission | ReviewStatus::ActionRequired) {
        return Err(ApiError::business_validation(vec![ace_domain::model::FieldError::new(
            "OpportunityIdentifier",
            ace_domain::model::FieldErrorCode::InvalidResourceState,
            format!("the attestation is part of the submission and cannot change while the review status is {}", status.as_str()),
        )]));
    }
    let now = r.state.now();
    let mut fields: Map<String, Value> = r
        .input
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "Catalog" | "OpportunityIdentifier"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    fields.insert("RecordedBy".into(), json!(r.caller.user.name));
    fields.insert("RecordedAt".into(), json!(format_timestamp(now)));
    let attestation: Attestation =
        serde_json::from_value(Value::Object(fields)).map_err(|e| ApiError::Serialization(format!("attestation: {e}")))?;
    let errors = check_attestation(&attestation, &crate::app::submission::published_statement_versions(&r.state).await?, now);
    if !errors.is_empty() {
        return Err(ApiError::business_validation(errors));
    }
    let mut updated = current.clone();
    updated.review.attestation = Some(attestation.clone());
    // Not part of the Selling API document: LastModifiedDate stays, so CRM syncs do not conflict.
    let expected = current.last_modified.timestamp_millis();
    r.commit(WriteBatch { update_opportunities: vec![(updated, expected)], ..Default::default() }).await.map_err(
        |e| match e {
            ace_store::StoreError::Conflict(_) => {
                ApiError::Conflict("The opportunity changed while the attestation was saved; retry.".into())
            }
            other => other.into(),
        },
    )?;
    r.respond(&AttestationResponse {
        catalog: r.catalog.as_str(),
        opportunity_identifier: id,
        attestation: attestation_view(&attestation),
    })
}

pub async fn get_attestation(r: Request) -> ApiResult {
    let OpportunityRef { opportunity_identifier: id } = r.parse()?;
    let o = load(&r, &id).await?;
    let attestation = o
        .review
        .attestation
        .as_ref()
        .ok_or_else(|| ApiError::ResourceNotFound(format!("Opportunity {id} has no submission attestation yet")))?;
    r.respond(&AttestationResponse {
        catalog: r.catalog.as_str(),
        opportunity_identifier: id,
        attestation: attestation_view(attestation),
    })
}

pub use crate::app::views::evidence_request as evidence_view;

pub async fn list_evidence_requests(r: Request) -> ApiResult {
    let ListEvidenceRequestsRequest { status: wanted_status, opportunity_identifier: opportunity } = r.parse()?;
    let items: Vec<Value> = r
        .tenant()
        .evidence_requests()
        .await?
        .iter()
        .filter(|e| opportunity.as_deref().is_none_or(|o| o == e.opportunity_id))
        .filter(|e| wanted_status.is_empty() || wanted_status.iter().any(|s| s == e.status.as_str()))
        .map(evidence_view)
        .collect();
    in_memory_page(&r, items, "EvidenceRequests")
}

pub async fn respond_to_evidence_request(r: Request) -> ApiResult {
    let RespondToEvidenceRequest { request_id: id, evidence, evidence_sha256: sha } = r.parse()?;
    let not_found = || ApiError::ResourceNotFound(format!("Evidence request {id} was not found in catalog {}", r.catalog));
    let mut request = r.tenant().evidence_request(&id).await?.ok_or_else(not_found)?;
    request.respond(evidence, sha, &r.caller.user.name, r.state.now()).map_err(|e| ApiError::Conflict(e.to_string()))?;
    // The answer and its audit entry are one transaction.
    r.commit(ace_store::WriteBatch {
        admin: vec![ace_store::AdminWrite::PutEvidenceRequest(request.clone())],
        ..Default::default()
    })
    .await?;
    r.respond(&EvidenceRequestResponse { evidence_request: evidence_view(&request) })
}

/// The caller's own eligibility report; another partner's is never reachable (USE-4).
pub async fn get_referral_eligibility(r: Request) -> ApiResult {
    let input: GetReferralEligibilityRequest = r.parse()?;
    let as_of = input.as_of.as_ref().and_then(ace_domain::time::parse_timestamp).unwrap_or_else(|| r.state.now());
    let report = crate::app::eligibility::report(&r.state, &r.caller.partner.id, as_of).await?.ok_or_else(|| {
        ApiError::ResourceNotFound(format!("no eligibility as of {}: the partner did not exist yet", format_timestamp(as_of)))
    })?;
    let mut v = serde_json::to_value(&report).unwrap_or(Value::Null);
    v["AsOf"] = json!(format_timestamp(report.as_of));
    if let Some(t) = report.next_drop_out {
        v["NextDropOut"] = json!(format_timestamp(t));
    }
    Ok(Output::Json(Model::ace_partner().project("GetReferralEligibilityResponse", &v)))
}
