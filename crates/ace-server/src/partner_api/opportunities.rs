//! Opportunity operations. Each loads, asks `ace_domain::opportunity` what to do, and commits
//! the change with its `Opportunity Created/Updated` event in one transaction.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use ace_domain::events::{opportunity_event, OutboxEvent};
use ace_domain::ids::opportunity_id;
use ace_domain::listing::{Cursor, OpportunityQuery};
use ace_domain::model::{FieldError, Model};
use ace_domain::opportunity::{
    self as rules, empty_related, is_sandbox_solution, AssociationChange, Opportunity, Origin, UpdatePlan,
};
use ace_domain::time::{format_timestamp, parse_timestamp, Instant};
use ace_store::{BatchOutcome, IdempotencyKey, IdempotencyRecord, StoreError, WriteBatch};

use super::{invalid_next_token, ApiResult, Identified, Output, Request};
use crate::error::ApiError;
use crate::AppState;

pub fn event(state: &AppState, detail_type: &str, o: &Opportunity, account_id: &str, time: Instant) -> OutboxEvent {
    opportunity_event(detail_type, state.new_event_id(), o, account_id, time)
}

/// Loads an opportunity of the caller in the request's catalog. Another partner's, or another
/// catalog's, is *not found* (USE-4), never *forbidden*.
pub async fn load(r: &Request, id: &str) -> Result<Opportunity, ApiError> {
    r.tenant().opportunity(id).await?.ok_or_else(|| r.not_found("Opportunity", id))
}

/// Commits an updated opportunity that must still have `current`'s LastModifiedDate, with an
/// `Opportunity Updated` event that knows what changed.
async fn save(r: &Request, current: &Opportunity, updated: Opportunity) -> Result<(), ApiError> {
    let mut e = event(&r.state, "Opportunity Updated", &updated, &r.caller.partner.account_id, updated.last_modified);
    e.changes = rules::opportunity_changes(current, &updated);
    let expected = current.last_modified.timestamp_millis();
    // Issue 25: a partner's update that gives it another CRM identifier claims it, or fails.
    let claim = updated
        .partner_identifier()
        .filter(|new| Some(*new) != current.partner_identifier())
        .map(|new| (updated.catalog, updated.id_number(), new.to_string()));
    let batch = WriteBatch {
        claim_identifiers: claim.iter().cloned().collect(),
        update_opportunities: vec![(updated, expected)],
        events: vec![e],
        ..Default::default()
    };
    match r.commit(batch).await {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict(cause)) if claim.is_some() => {
            // Taken meanwhile by another of the partner's opportunities: refused as the check
            // before would have refused it; otherwise the opportunity itself changed.
            let identifier = claim.as_ref().map(|(_, _, i)| i.as_str());
            refuse_duplicate_identifier(r, identifier, Some(&current.id)).await?;
            Err(conflict_message(StoreError::Conflict(cause)))
        }
        Err(e) => Err(conflict_message(e)),
    }
}

fn conflict_message(e: ace_store::StoreError) -> ApiError {
    match e {
        ace_store::StoreError::Conflict(_) => ApiError::Conflict(
            "The opportunity was modified by another request. Get the latest version and retry with its LastModifiedDate.".into(),
        ),
        other => other.into(),
    }
}

/// The canonical hash of a request for idempotency: the validated input without the token.
pub fn request_hash(input: &Map<String, Value>) -> String {
    let mut canonical = input.clone();
    canonical.remove("ClientToken");
    crate::crypto::sha256_hex(Value::Object(canonical).to_string().as_bytes())
}

pub fn idempotency_key(r: &Request) -> IdempotencyKey {
    IdempotencyKey {
        partner_id: r.caller.partner.id.clone(),
        catalog: r.catalog,
        operation: r.operation.name().to_string(),
        client_token: r.required("ClientToken").to_string(),
    }
}

pub fn token_conflict() -> ApiError {
    ApiError::Conflict("Conflicting client token submitted for a new request body.".into())
}

/// The stored answer to a repeated ClientToken, or a conflict when the body differs.
pub fn replay(existing: &IdempotencyRecord, hash: &str) -> Result<Value, ApiError> {
    if existing.request_hash == hash {
        Ok(existing.response.clone())
    } else {
        Err(token_conflict())
    }
}

pub async fn create(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new opportunities and submissions").await?;
    let key = idempotency_key(&r);
    let hash = request_hash(&r.input);
    if let Some(existing) = r.claimed(&key).await? {
        return Ok(Output::Json(replay(&existing, &hash)?));
    }
    let now = r.state.now();
    let planned = rules::plan_create(r.catalog, &r.input, now).map_err(ApiError::business_validation)?;
    refuse_duplicate_identifier(&r, rules::identifier_of(&planned.document), None).await?;
    let number = r.state.next_opportunity_number().await?;
    if planned.origin == Origin::AwsReferral {
        return simulate_referral(&r, planned, opportunity_id(number), key, hash).await;
    }
    let opportunity = Opportunity {
        catalog: r.catalog,
        id: opportunity_id(number),
        partner_id: r.caller.partner.id.clone(),
        document: planned.document,
        origin: planned.origin,
        created: now,
        last_modified: now,
        related: empty_related(),
        tags: planned.tags,
        submission: None,
        approved_at: None,
        review: Default::default(),
        referral_id: None,
    };
    let response = serde_json::to_value(Written {
        id: opportunity.id.clone(),
        last_modified_date: format_timestamp(now),
        partner_opportunity_identifier: opportunity.document.get("PartnerOpportunityIdentifier").cloned(),
    })
    .map_err(|e| ApiError::Internal(format!("CreateOpportunity: the response does not serialise: {e}")))?;
    let e = event(&r.state, "Opportunity Created", &opportunity, &r.caller.partner.account_id, now);
    let batch = WriteBatch {
        idempotency: Some(IdempotencyRecord {
            key,
            request_hash: hash.clone(),
            response: response.clone(),
            created_ms: now.timestamp_millis(),
        }),
        insert_opportunities: vec![opportunity],
        events: vec![e],
        ..Default::default()
    };
    let identifier = batch.insert_opportunities.first().and_then(|o| o.partner_identifier().map(str::to_string));
    commit_claiming_token(&r, batch, &hash, response, identifier.as_deref()).await
}

/// Issue 25: a CRM identifier held by another of the partner's opportunities in this catalog
/// (other than `own`) is refused, naming the one that holds it.
async fn refuse_duplicate_identifier(r: &Request, identifier: Option<&str>, own: Option<&str>) -> Result<(), ApiError> {
    let Some(identifier) = identifier else { return Ok(()) };
    match r.tenant().opportunity_identified_as(identifier).await? {
        Some(holder) if Some(holder.as_str()) != own => {
            Err(ApiError::business_validation(vec![rules::duplicate_identifier(identifier, &holder)]))
        }
        _ => Ok(()),
    }
}

/// The Sandbox simulator (digest §3.5): an `AWS Referral` opportunity arrives as a PENDING
/// invitation from `aws`, invisible to GetOpportunity until accepted; the id answered now is
/// the one the opportunity takes then. Suppressed contacts are refused here too (REF-5).
async fn simulate_referral(
    r: &Request,
    planned: rules::NewOpportunity,
    reserved_id: String,
    key: ace_store::IdempotencyKey,
    hash: String,
) -> ApiResult {
    let doc = Value::Object(planned.document);
    let text = |path: &[&str]| -> Option<String> {
        let mut v = &doc;
        for p in path {
            v = v.get(*p)?;
        }
        v.as_str().map(str::to_string)
    };
    let contact = doc.pointer("/Customer/Contacts/0").cloned().unwrap_or(Value::Null);
    let field = |k: &str| contact.get(k).and_then(Value::as_str).map(str::to_string);
    let name = [field("FirstName"), field("LastName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let new = ace_domain::referral::ReferralRequest {
        partner_id: r.caller.partner.id.clone(),
        catalog: r.catalog,
        kind: ace_domain::referral::ReferralKind::Opportunity,
        customer: ace_domain::referral::ReferralCustomer {
            company_name: text(&["Customer", "Account", "CompanyName"]).unwrap_or_else(|| "Sandbox customer".into()),
            website: text(&["Customer", "Account", "WebsiteUrl"]).unwrap_or_else(|| "https://example.com".into()),
            country: text(&["Customer", "Account", "Address", "CountryCode"]).unwrap_or_else(|| "US".into()),
            industry: text(&["Customer", "Account", "Industry"]),
        },
        title: text(&["Project", "Title"]),
        problem: text(&["Project", "CustomerBusinessProblem"]),
        contact: ace_domain::referral::ReferralContact {
            name: (!name.is_empty()).then_some(name),
            email: field("Email"),
            phone: field("Phone"),
            title: field("BusinessTitle"),
        },
    };
    let mut referral = match crate::referrals::build(&r.state, &r.caller.partner, new).await? {
        Ok(referral) => referral,
        Err(crate::referrals::Refusal::Suppressed(message)) => {
            return Err(ApiError::business_validation(vec![FieldError::new(
                "Customer.Contacts",
                ace_domain::model::FieldErrorCode::InvalidValue,
                message,
            )]))
        }
        Err(_) => return Err(ApiError::Internal("a Sandbox simulation cannot be refused otherwise".into())),
    };
    referral.reserved_opportunity_id = Some(reserved_id.clone());
    // Issue 22: everything the partner sent reaches the invitation and the opportunity.
    referral.simulated = doc.as_object().cloned();
    let now = referral.provided_at;
    let response = json!({"Id": reserved_id, "LastModifiedDate": format_timestamp(now)});
    let event = crate::referrals::created_event(&r.state, &referral, &r.caller.partner.account_id);
    let (engagement, operator) = ace_domain::engagement::referral_engagement(&referral);
    let batch = WriteBatch {
        insert_engagements: vec![engagement],
        add_engagement_members: vec![operator],
        idempotency: Some(IdempotencyRecord {
            key,
            request_hash: hash.clone(),
            response: response.clone(),
            created_ms: now.timestamp_millis(),
        }),
        insert_referrals: vec![referral],
        events: vec![event],
        ..Default::default()
    };
    commit_claiming_token(r, batch, &hash, response, None).await
}

/// Commits a batch that claims a ClientToken: the answer is `response`, or — when a concurrent
/// request with the same token won the race — what that request answered. A batch that claims
/// a CRM `identifier` and finds it taken by a create that committed meanwhile (the store's
/// unique claim) is refused as the check before it would have refused it.
async fn commit_claiming_token(
    r: &Request,
    batch: WriteBatch,
    hash: &str,
    response: Value,
    identifier: Option<&str>,
) -> ApiResult {
    match r.commit(batch).await {
        Ok(BatchOutcome::Committed) => Ok(Output::Json(response)),
        Ok(BatchOutcome::Replayed(existing)) => Ok(Output::Json(replay(&existing, hash)?)),
        Err(StoreError::Conflict(cause)) => {
            refuse_duplicate_identifier(r, identifier, None).await?;
            Err(ApiError::Conflict(cause))
        }
        Err(e) => Err(e.into()),
    }
}

pub use crate::app::views::opportunity as view;

/// What `CreateOpportunity` and `UpdateOpportunity` answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Written {
    id: String,
    last_modified_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_opportunity_identifier: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OpportunityPage {
    opportunity_summaries: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubmitOpportunityRequest {
    identifier: String,
    involvement_type: String,
    visibility: Option<String>,
}

/// AssociateOpportunity and DisassociateOpportunity.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationRequest {
    opportunity_identifier: String,
    related_entity_type: String,
    related_entity_identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssignOpportunityRequest {
    identifier: String,
    assignee: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetAwsOpportunitySummaryRequest {
    related_opportunity_identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PageToken {
    next_token: Option<String>,
}

pub async fn get(r: Request) -> ApiResult {
    let Identified { identifier } = r.parse()?;
    let o = load(&r, &identifier).await?;
    // REF-1: every read of a referral's contact data is recorded.
    if let Some(read) = super::invitations::contact_read(&r, &o, "GetOpportunity") {
        r.commit(WriteBatch { audit_reads: vec![read], ..Default::default() }).await?;
    }
    Ok(Output::Json(Model::get().project("GetOpportunityResponse", &view(&o, &r.caller.partner.account_id))))
}

pub async fn update(r: Request) -> ApiResult {
    let Identified { identifier: id } = r.parse()?;
    let current = load(&r, &id).await?;
    let claimed = r.input.get("LastModifiedDate").and_then(parse_timestamp);
    if claimed != Some(current.last_modified) {
        return Err(ApiError::Conflict(format!(
            "LastModifiedDate does not match the opportunity's ({}). It was modified since you read it: get it again and retry.",
            format_timestamp(current.last_modified)
        )));
    }
    let now = r.state.now();
    let plan = rules::plan_update(&current, &r.input, now).map_err(ApiError::business_validation)?;
    if let UpdatePlan::Replace { document, .. } = &plan {
        let identifier = rules::identifier_of(document);
        if identifier != current.partner_identifier() {
            refuse_duplicate_identifier(&r, identifier, Some(&current.id)).await?;
        }
    }
    let mut updated = current.clone();
    match plan {
        UpdatePlan::Replace { document, review } => {
            updated.document = document;
            if let Some(status) = review {
                // An answer to Action Required is a resubmission: it is pre-screened again.
                let findings = crate::app::submission::screen(&r.state, &updated).await?;
                updated.set_review(status, None, None, now);
                crate::app::submission::record_findings(&r.state, &mut updated, findings, now).await?;
            }
        }
        UpdatePlan::SimulateReview { status, comments, reason } => updated.set_review(status, comments, reason, now),
    }
    updated.last_modified = current.next_modified(now);
    save(&r, &current, updated.clone()).await?;
    r.respond(&Written {
        id: updated.id,
        last_modified_date: format_timestamp(updated.last_modified),
        partner_opportunity_identifier: None,
    })
}

pub async fn list(r: Request) -> ApiResult {
    let mut query = OpportunityQuery::from_request(&r.caller.partner.id, r.catalog, &r.input);
    let fingerprint = query.fingerprint();
    if let PageToken { next_token: Some(token) } = r.parse()? {
        let payload = r.state.open_next_token(&token, &fingerprint)?;
        let cursor: Cursor = serde_json::from_value(payload).map_err(|_| invalid_next_token())?;
        query.after = Some(cursor);
    }
    let mut rows = r.tenant().opportunities(&query).await?;
    let more = rows.len() > query.page_size;
    rows.truncate(query.page_size);
    let account = &r.caller.partner.account_id;
    let opportunity_summaries = rows.iter().map(|o| Model::get().project("OpportunitySummary", &view(o, account))).collect();
    let next_token = rows.last().filter(|_| more).map(|last| {
        let cursor = query.sort_by.cursor_after(last);
        r.state.seal_next_token(&fingerprint, serde_json::to_value(cursor).unwrap_or(Value::Null))
    });
    let page = serde_json::to_value(OpportunityPage { opportunity_summaries, next_token })
        .map_err(|e| ApiError::Internal(format!("ListOpportunities: the page does not serialise: {e}")))?;
    Ok(Output::Json(page))
}

pub async fn submit(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new opportunities and submissions").await?;
    let input: SubmitOpportunityRequest = r.parse()?;
    let current = load(&r, &input.identifier).await?;
    let now = r.state.now();
    let next = rules::check_submission(&current).map_err(ApiError::business_validation)?;
    let findings = crate::app::submission::screen(&r.state, &current).await?;
    let mut updated = current.submitted(next, input.involvement_type, input.visibility, now);
    crate::app::submission::record_findings(&r.state, &mut updated, findings, now).await?;
    save(&r, &current, updated).await?;
    Ok(Output::Empty)
}

async fn solution_exists(r: &Request, id: &str) -> Result<bool, ApiError> {
    if is_sandbox_solution(r.catalog, id) {
        return Ok(true);
    }
    Ok(r.tenant().solutions().await?.iter().any(|s| s.id == id))
}

/// The model pattern of the related-entity identifier, checked per type.
fn check_related_identifier(entity_type: &str, identifier: &str) -> Result<(), ApiError> {
    let shape = match entity_type {
        "AwsMarketplaceOffers" => "AwsMarketplaceOfferIdentifier",
        "AwsMarketplaceOfferSets" => "AwsMarketplaceOfferSetIdentifier",
        "Solutions" => "SolutionIdentifier",
        _ => return Ok(()),
    };
    Model::get().validate(shape, &json!(identifier)).map(|_| ()).map_err(|fields| {
        ApiError::request_validation(
            fields
                .into_iter()
                .map(|f| FieldError::new("RelatedEntityIdentifier", f.code, format!("RelatedEntityIdentifier{}", f.message)))
                .collect(),
        )
    })
}

pub async fn associate(r: Request) -> ApiResult {
    let AssociationRequest {
        opportunity_identifier: id,
        related_entity_type: entity_type,
        related_entity_identifier: identifier,
    } = r.parse()?;
    check_related_identifier(&entity_type, &identifier)?;
    let current = load(&r, &id).await?;
    if entity_type == "Solutions" && !solution_exists(&r, &identifier).await? {
        return Err(r.not_found("Solution", &identifier));
    }
    let mut updated = current.clone();
    match rules::associate(&mut updated.related, &entity_type, &identifier) {
        Ok(AssociationChange::Unchanged) => return Ok(Output::Empty),
        Ok(AssociationChange::Changed) => {}
        Err(field) => return Err(ApiError::business_validation(vec![field])),
    }
    updated.last_modified = current.next_modified(r.state.now());
    save(&r, &current, updated).await?;
    Ok(Output::Empty)
}

pub async fn disassociate(r: Request) -> ApiResult {
    let AssociationRequest {
        opportunity_identifier: id,
        related_entity_type: entity_type,
        related_entity_identifier: identifier,
    } = r.parse()?;
    let current = load(&r, &id).await?;
    let mut updated = current.clone();
    if !rules::disassociate(&mut updated.related, &entity_type, &identifier) {
        return Err(ApiError::ResourceNotFound(format!("{identifier} is not associated with opportunity {id} as {entity_type}")));
    }
    updated.last_modified = current.next_modified(r.state.now());
    save(&r, &current, updated).await?;
    Ok(Output::Empty)
}

pub async fn assign(r: Request) -> ApiResult {
    let AssignOpportunityRequest { identifier: id, assignee } = r.parse()?;
    let current = load(&r, &id).await?;
    let mut updated = current.clone();
    updated.document.insert("OpportunityTeam".into(), json!([assignee]));
    updated.last_modified = current.next_modified(r.state.now());
    save(&r, &current, updated).await?;
    Ok(Output::Empty)
}

/// The operator's side of a submitted opportunity. Before submission there is none: not found.
pub async fn get_aws_summary(r: Request) -> ApiResult {
    let GetAwsOpportunitySummaryRequest { related_opportunity_identifier: id } = r.parse()?;
    let o = load(&r, &id).await?;
    let Some(out) = rules::aws_view(&o) else {
        return Err(ApiError::ResourceNotFound(format!(
            "Opportunity {id} has not been submitted, so the operator has no view of it yet"
        )));
    };
    Ok(Output::Json(Model::get().project("GetAwsOpportunitySummaryResponse", &out)))
}
