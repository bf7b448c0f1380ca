//! Engagement invitations: how a partner receives the operator's referrals through the Selling
//! API (digest §3.3) — rejected, expired and revoked referrals are gone: not found — and, through
//! `peer_invitations`, the invitations partners send each other (issue 18).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use ace_domain::engagement::{engagement_arn, member_added_detail, Member, OPERATOR_ACCOUNT};
use ace_domain::events::OutboxEvent;
use ace_domain::ids::opportunity_id;
use ace_domain::model::Model;
use ace_domain::opportunity::Opportunity;
use ace_domain::referral::{AuditRead, Referral, ReferralStatus};
use ace_store::{BatchOutcome, StoreError, WriteBatch};

use super::opportunities::{idempotency_key, replay, request_hash};
use super::tasks::current_task;
use super::{in_memory_page, peer_invitations, wanted, ApiResult, Output, Request, Sort};
use crate::app::engagements::member_events;
use crate::error::ApiError;
use crate::referrals::invitation_view;

const ACCEPT_TASK_KIND: &str = "engagement-by-accepting-invitation-task";

/// `engi-…` or its ARN.
fn invitation_id(identifier: &str) -> &str {
    identifier.rsplit('/').next().unwrap_or(identifier)
}

/// The caller's visible referral in the request's catalog, or not found (USE-4, REF-3).
pub async fn load(r: &Request, identifier: &str) -> Result<Referral, ApiError> {
    let id = invitation_id(identifier);
    match r.tenant().referral(id).await? {
        Some(referral) if referral.status.visible_to_partner() => Ok(referral),
        _ => Err(r.not_found("Engagement invitation", id)),
    }
}

/// What accepting a referral publishes (digest §3.6): `Engagement Invitation Accepted` and
/// `Engagement Member Added`, to the partner.
fn accepted_events(r: &Request, referral: &Referral, member: &Member) -> Vec<OutboxEvent> {
    let account = &r.caller.partner.account_id;
    let mut events =
        vec![crate::referrals::invitation_event(&r.state, "Engagement Invitation Accepted", referral, account, r.state.now())];
    let detail = member_added_detail(referral.catalog, &referral.engagement_id, account, &r.caller.partner.name);
    let resource = engagement_arn(referral.catalog, &referral.engagement_id);
    events.extend(member_events(
        &r.state,
        referral.catalog,
        std::slice::from_ref(member),
        "Engagement Member Added",
        &resource,
        &detail,
    ));
    events
}

/// The caller as a member of the referral's engagement: it joins by accepting (issue 18).
fn joins(r: &Request, referral: &Referral) -> Member {
    Member {
        catalog: referral.catalog,
        engagement_id: referral.engagement_id.clone(),
        account_id: r.caller.partner.account_id.clone(),
        partner_id: Some(r.caller.partner.id.clone()),
        joined: r.state.now(),
    }
}

async fn save(r: &Request, referral: Referral, members: Vec<Member>, events: Vec<OutboxEvent>) -> Result<(), ApiError> {
    let batch = WriteBatch { update_referrals: vec![referral], add_engagement_members: members, events, ..Default::default() };
    r.commit(batch).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict("The invitation changed meanwhile; get it again.".into()),
        other => other.into(),
    })?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEngagementInvitationsRequest {
    participant_type: String,
    #[serde(default)]
    status: Vec<String>,
    #[serde(default)]
    payload_type: Vec<String>,
    #[serde(default)]
    engagement_identifier: Vec<String>,
    #[serde(default)]
    sender_aws_account_id: Vec<String>,
    sort: Option<Sort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InvitationRequest {
    identifier: String,
    rejection_reason: Option<String>,
}

pub async fn list(r: Request) -> ApiResult {
    let input: ListEngagementInvitationsRequest = r.parse()?;
    let account = r.caller.partner.account_id.clone();
    // Referrals are sent by the operator: for them the partner is only ever the receiver.
    let receiver = input.participant_type == "RECEIVER";
    let matches = |status: &str, payload: &str, engagement: &str, sender: &str| {
        wanted(&input.status, status)
            && wanted(&input.payload_type, payload)
            && wanted(&input.engagement_identifier, engagement)
            && wanted(&input.sender_aws_account_id, sender)
    };
    let mut items: Vec<Value> = if receiver {
        r.tenant()
            .visible_referrals()
            .await?
            .iter()
            .filter(|x| matches(x.status.as_str(), x.kind.payload_type(), &x.engagement_id, OPERATOR_ACCOUNT))
            .map(|x| Model::get().project("EngagementInvitationSummary", &invitation_view(x, &account)))
            .collect()
    } else {
        Vec::new()
    };
    // Invitations between partners, sent or received (issue 18).
    for v in peer_invitations::list_views(&r, !receiver).await? {
        let field = |name: &str| v[name].as_str().unwrap_or_default().to_string();
        if matches(&field("Status"), &field("PayloadType"), &field("EngagementId"), &field("SenderAwsAccountId")) {
            items.push(Model::get().project("EngagementInvitationSummary", &v));
        }
    }
    // By InvitationDate (the one sort the model offers); timestamps in one format sort as text.
    items.sort_by(|a, b| a["InvitationDate"].as_str().cmp(&b["InvitationDate"].as_str()));
    if Sort::descending(&input.sort) {
        items.reverse();
    }
    in_memory_page(&r, items, "EngagementInvitationSummaries")
}

pub async fn get(r: Request) -> ApiResult {
    let input: InvitationRequest = r.parse()?;
    if let Some(i) = peer_invitations::find(&r, invitation_id(&input.identifier)).await? {
        return peer_invitations::get(&r, &i).await;
    }
    let referral = load(&r, &input.identifier).await?;
    Ok(Output::Json(
        Model::get().project("GetEngagementInvitationResponse", &invitation_view(&referral, &r.caller.partner.account_id)),
    ))
}

pub async fn accept(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new engagements").await?;
    let input: InvitationRequest = r.parse()?;
    if let Some(i) = peer_invitations::find(&r, invitation_id(&input.identifier)).await? {
        return peer_invitations::accept(&r, i).await;
    }
    let mut referral = load(&r, &input.identifier).await?;
    referral.accept(r.state.now()).map_err(|e| ApiError::Conflict(e.to_string()))?;
    let member = joins(&r, &referral);
    let events = accepted_events(&r, &referral, &member);
    save(&r, referral, vec![member], events).await?;
    Ok(Output::Empty)
}

pub async fn reject(r: Request) -> ApiResult {
    let input: InvitationRequest = r.parse()?;
    if let Some(i) = peer_invitations::find(&r, invitation_id(&input.identifier)).await? {
        return peer_invitations::reject(&r, i, input.rejection_reason).await;
    }
    let mut referral = load(&r, &input.identifier).await?;
    referral.reject(input.rejection_reason, r.state.now()).map_err(|e| match e {
        ace_domain::referral::ReferralError::ReasonRequired => {
            ApiError::business_validation(vec![ace_domain::model::FieldError::new(
                "RejectionReason",
                ace_domain::model::FieldErrorCode::RequiredFieldMissing,
                "RejectionReason is required for referrals in the AWS catalog, e.g. \"Unable to support\"",
            )])
        }
        other => ApiError::Conflict(other.to_string()),
    })?;
    let rejected = crate::referrals::invitation_event(
        &r.state,
        "Engagement Invitation Rejected",
        &referral,
        &r.caller.partner.account_id,
        r.state.now(),
    );
    save(&r, referral, vec![], vec![rejected]).await?;
    Ok(Output::Empty)
}

/// The partner opportunity an accepted referral becomes: the full, unmasked data.
pub(super) fn opportunity_from(referral: &Referral, number: i64, now: ace_domain::time::Instant) -> Opportunity {
    let mut account = json!({"CompanyName": referral.customer.company_name, "WebsiteUrl": referral.customer.website,
                             "Address": {"CountryCode": referral.customer.country}});
    if let Some(industry) = &referral.customer.industry {
        account["Industry"] = json!(industry);
    }
    let mut contact = Map::new();
    if let Some(name) = &referral.contact.name {
        let mut parts = name.splitn(2, ' ');
        contact.insert("FirstName".into(), json!(parts.next().unwrap_or_default()));
        if let Some(last) = parts.next() {
            contact.insert("LastName".into(), json!(last));
        }
    }
    for (key, value) in
        [("Email", &referral.contact.email), ("Phone", &referral.contact.phone), ("BusinessTitle", &referral.contact.title)]
    {
        if let Some(v) = value {
            contact.insert(key.into(), json!(v));
        }
    }
    let contacts = if contact.is_empty() { json!([]) } else { json!([Value::Object(contact)]) };
    let mut project = Map::new();
    if let Some(t) = &referral.title {
        project.insert("Title".into(), json!(t));
    }
    if let Some(p) = &referral.problem {
        project.insert("CustomerBusinessProblem".into(), json!(p));
    }
    let mut document = json!({
        "Customer": {"Account": account, "Contacts": contacts},
        "LifeCycle": {"Stage": "Prospect"},
        "Project": project,
        "OpportunityType": "Net New Business",
    });
    // The Sandbox's simulated referral keeps every member of the payload it was simulated from
    // (issue 22); the program's own review state is the opportunity's, not the payload's.
    if let (Some(simulated), Some(doc)) = (&referral.simulated, document.as_object_mut()) {
        doc.extend(simulated.clone());
        if let Some(lifecycle) = doc.get_mut("LifeCycle").and_then(Value::as_object_mut) {
            for member in ["ReviewStatus", "ReviewComments", "ReviewStatusReason"] {
                lifecycle.remove(member);
            }
        }
    }
    Opportunity {
        referral_id: Some(referral.id.clone()),
        ..Opportunity::new(
            referral.catalog,
            opportunity_id(number),
            referral.partner_id.clone(),
            document.as_object().cloned().unwrap_or_default(),
            referral.kind.opportunity_origin(),
            now,
        )
    }
}

/// Accepts the invitation and creates the partner opportunity from it, idempotent by ClientToken.
pub async fn start_by_accepting(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new engagements").await?;
    let key = idempotency_key(&r);
    let hash = request_hash(&r.input);
    if let Some(existing) = r.claimed(&key).await? {
        return current_task(&r, &replay(&existing, &hash)?).await;
    }
    let input: InvitationRequest = r.parse()?;
    if let Some(i) = peer_invitations::find(&r, invitation_id(&input.identifier)).await? {
        return peer_invitations::start_by_accepting(&r, i, key, hash, ACCEPT_TASK_KIND).await;
    }
    let mut referral = load(&r, &input.identifier).await?;
    let now = r.state.now();
    let newly_accepted = referral.status == ReferralStatus::Pending;
    if newly_accepted {
        referral.accept(now).map_err(|e| ApiError::Conflict(e.to_string()))?;
    }
    if referral.opportunity_id.is_some() {
        return Err(ApiError::Conflict(format!("invitation {} was already turned into an opportunity", referral.id)));
    }
    let number = match referral.reserved_opportunity_id.as_deref().and_then(ace_domain::ids::opportunity_number) {
        Some(reserved) => reserved,
        None => r.state.next_opportunity_number().await?,
    };
    let opportunity = opportunity_from(&referral, number, now);
    referral.opportunity_id = Some(opportunity.id.clone());
    let member = joins(&r, &referral);
    let events = if newly_accepted { accepted_events(&r, &referral, &member) } else { Vec::new() };
    let mut batch = WriteBatch { events, ..Default::default() };
    // Issue 19: the new opportunity is shared back into the referral's engagement by a running
    // snapshot job, whose id reads back.
    let mut members = crate::app::engagements::members(&r.state, r.catalog, &referral.engagement_id).await?;
    members.push(member.clone());
    let shared = super::snapshots::following_job(&r, &referral.engagement_id, &opportunity, &members).await?;
    batch.add_engagement_members.push(member);
    let members = json!({"EngagementInvitationId": referral.id, "ResourceSnapshotJobId": shared.job_id});
    let summary = super::tasks::opportunity_task(&r, &mut batch, (key, &hash), ACCEPT_TASK_KIND, opportunity, members);
    shared.add_to(&mut batch);
    batch.update_referrals.push(referral);
    match r.commit(batch).await {
        Ok(BatchOutcome::Committed) => Ok(Output::Json(summary)),
        Ok(BatchOutcome::Replayed(existing)) => current_task(&r, &replay(&existing, &hash)?).await,
        Err(StoreError::Conflict(_)) => {
            Err(ApiError::Conflict("The invitation changed meanwhile; retry with the same ClientToken.".into()))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAcceptTasksRequest {
    #[serde(default)]
    task_identifier: Vec<String>,
    #[serde(default)]
    opportunity_identifier: Vec<String>,
    #[serde(default)]
    engagement_invitation_identifier: Vec<String>,
    #[serde(default)]
    task_status: Vec<String>,
    sort: Option<Sort>,
}

pub async fn list_accept_tasks(r: Request) -> ApiResult {
    let input: ListAcceptTasksRequest = r.parse()?;
    let mut tasks: Vec<Value> = super::tasks::of_kind(&r, ACCEPT_TASK_KIND)
        .await?
        .into_iter()
        .map(|t| t.summary)
        .filter(|s| {
            wanted(&input.task_identifier, s["TaskId"].as_str().unwrap_or(""))
                && wanted(&input.opportunity_identifier, s["OpportunityId"].as_str().unwrap_or(""))
                && wanted(&input.engagement_invitation_identifier, s["EngagementInvitationId"].as_str().unwrap_or(""))
                && wanted(&input.task_status, s["TaskStatus"].as_str().unwrap_or(""))
        })
        .collect();
    if Sort::descending(&input.sort) {
        tasks.reverse();
    }
    in_memory_page(&r, tasks, "TaskSummaries")
}

/// REF-1: a read of a referral's contact data, for the audit.
pub fn contact_read(r: &Request, o: &Opportunity, what: &str) -> Option<AuditRead> {
    let referral_id = o.referral_id.clone()?;
    let has_contacts =
        o.document.get("Customer").and_then(|c| c.get("Contacts")).and_then(Value::as_array).is_some_and(|c| !c.is_empty());
    has_contacts.then(|| AuditRead {
        referral_id,
        partner_id: r.caller.partner.id.clone(),
        actor: r.caller.user.name.clone(),
        at: r.state.now(),
        what: format!("{what} {}", o.id),
    })
}
