//! Engagements (issue 18): CreateEngagement, GetEngagement, ListEngagements,
//! ListEngagementMembers, CreateEngagementContext, UpdateEngagementContext,
//! StartOpportunityFromEngagementTask, ListOpportunityFromEngagementTasks. A partner creates an
//! engagement and is its first member; only members see it (USE-4); what it shares is screened
//! (SUB-5). The decisions are `ace_domain::engagement`'s; reads go through `app::engagements`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use ace_domain::engagement::{
    apply_lead_update, check_engagement_text, check_invitation_text, check_partner_context, check_receiver, engagement_arn,
    engagement_event_detail, engagement_id, opportunity_document_of, prospecting_result, ContextType, Engagement,
    EngagementError, InvitationStatus, Member, PartnerInvitation, Party, ProspectingRefusal, OPERATOR_ACCOUNT,
};
use ace_domain::engagement_search as search;
use ace_domain::ids::Catalog;
use ace_domain::ids::{opportunity_id, task_arn};
use ace_domain::model::{FieldError, FieldErrorCode};
use ace_domain::opportunity::{check_tags, merge_tags, Opportunity, Origin, Tag};
use ace_domain::referral::{AuditRead, ReferralContact, ReferralCustomer, ReferralKind, ReferralRequest};
use ace_domain::time::{format_timestamp, parse_timestamp};
use ace_store::{BatchOutcome, IdempotencyRecord, StoreError, TaskRecord, WriteBatch};

use super::opportunities::{idempotency_key, replay, request_hash};
use super::tasks::{is_kind, of_kind};
use super::{in_memory_page, in_memory_page_of, page_of, wanted, ApiResult, Identified, Output, Request, SearchSort, Sort};
use crate::app::engagements::{invitation_events, load_as_member, member_events, member_views, view};
use crate::error::ApiError;

/// `ListEngagementMembers` answers five members a page unless asked otherwise (the model).
const MEMBERS_PAGE_DEFAULT: usize = 5;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContextDetails {
    #[serde(rename = "Type")]
    kind: ContextType,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEngagementRequest {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    contexts: Vec<ContextDetails>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEngagementResponse {
    arn: String,
    id: String,
    modified_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContextView<'a> {
    id: &'a str,
    #[serde(rename = "Type")]
    kind: ContextType,
    payload: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetEngagementResponse<'a> {
    arn: String,
    id: &'a str,
    title: &'a str,
    description: &'a str,
    created_at: String,
    created_by: &'a str,
    modified_at: String,
    modified_by: &'a str,
    member_count: usize,
    contexts: Vec<ContextView<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EngagementSummary {
    arn: String,
    id: String,
    title: String,
    created_at: String,
    created_by: String,
    modified_at: String,
    modified_by: String,
    member_count: i64,
    context_types: Vec<ContextType>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEngagementsRequest {
    #[serde(default)]
    context_types: Vec<ContextType>,
    #[serde(default)]
    exclude_context_types: Vec<ContextType>,
    #[serde(default)]
    created_by: Vec<String>,
    #[serde(default)]
    exclude_created_by: Vec<String>,
    #[serde(default)]
    engagement_identifier: Vec<String>,
    sort: Option<Sort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEngagementContextRequest {
    engagement_identifier: String,
    #[serde(rename = "Type")]
    kind: ContextType,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateEngagementContextRequest {
    engagement_identifier: String,
    context_identifier: String,
    engagement_last_modified_at: Value,
    #[serde(rename = "Type")]
    kind: ContextType,
    payload: Value,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContextChanged {
    context_id: String,
    engagement_arn: String,
    engagement_id: String,
    engagement_last_modified_at: String,
}

/// The domain's refusals as the Selling API answers them.
fn refused(e: EngagementError, engagement: &str) -> ApiError {
    match e {
        EngagementError::Invalid(fields) => ApiError::business_validation(fields),
        EngagementError::TooManyContexts => ApiError::ServiceQuotaExceeded(e.to_string()),
        EngagementError::ContextNotFound(id) => {
            ApiError::ResourceNotFound(format!("Context {id} was not found in engagement {engagement}"))
        }
        EngagementError::Stale { .. } => ApiError::Conflict(e.to_string()),
    }
}

fn member(r: &Request, engagement: &Engagement) -> Member {
    Member {
        catalog: r.catalog,
        engagement_id: engagement.id.clone(),
        account_id: r.caller.partner.account_id.clone(),
        partner_id: Some(r.caller.partner.id.clone()),
        joined: engagement.created,
    }
}

/// Commits an idempotent write: a repeated ClientToken with the same body answers what the
/// first call answered; with another body, ConflictException.
pub(super) async fn commit_once(r: &Request, batch: WriteBatch, response: Value) -> ApiResult {
    commit_claiming(r, batch, response, "The engagement changed meanwhile; get it and retry.").await
}

/// [`commit_once`], saying `conflict` when what it read changed meanwhile.
pub(super) async fn commit_claiming(r: &Request, mut batch: WriteBatch, response: Value, conflict: &str) -> ApiResult {
    let hash = request_hash(&r.input);
    batch.idempotency = Some(IdempotencyRecord {
        key: idempotency_key(r),
        request_hash: hash.clone(),
        response: response.clone(),
        created_ms: r.state.now().timestamp_millis(),
    });
    match r.commit(batch).await {
        Ok(BatchOutcome::Committed) => Ok(Output::Json(response)),
        Ok(BatchOutcome::Replayed(existing)) => Ok(Output::Json(replay(&existing, &hash)?)),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(conflict.into())),
        Err(e) => Err(e.into()),
    }
}

/// A repeated ClientToken is answered before anything is decided again.
pub(super) async fn replayed(r: &Request) -> Result<Option<Value>, ApiError> {
    match r.claimed(&idempotency_key(r)).await? {
        Some(existing) => Ok(Some(replay(&existing, &request_hash(&r.input))?)),
        None => Ok(None),
    }
}

pub async fn create(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new engagements").await?;
    if let Some(previous) = replayed(&r).await? {
        return Ok(Output::Json(previous));
    }
    let input: CreateEngagementRequest = r.parse()?;
    if r.catalog == Catalog::Sandbox {
        if let [lead] = input.contexts.as_slice() {
            if lead.kind == ContextType::Lead {
                return simulate_lead(&r, &lead.payload).await;
            }
        }
    }
    let id = crate::referrals::new_id("eng-", 14);
    check_engagement_text(&input.title, &input.description).map_err(|e| refused(e, &id))?;
    let mut contexts = Vec::with_capacity(input.contexts.len());
    for (i, c) in input.contexts.into_iter().enumerate() {
        check_partner_context(&format!("Contexts[{i}]"), c.kind, &c.payload).map_err(|e| refused(e, &id))?;
        contexts.push((c.kind, c.payload));
    }
    let now = r.state.now();
    let engagement = Engagement::new(r.catalog, id, input.title, input.description, contexts, &r.caller.partner.account_id, now)
        .map_err(|e| refused(e, ""))?;
    let response = serde_json::to_value(CreateEngagementResponse {
        arn: engagement.arn(),
        id: engagement.id.clone(),
        modified_at: format_timestamp(engagement.modified),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let creator = member(&r, &engagement);
    let events = member_events(
        &r.state,
        r.catalog,
        std::slice::from_ref(&creator),
        "Engagement Created",
        &engagement.arn(),
        &engagement_event_detail(&engagement, true),
    );
    let batch =
        WriteBatch { add_engagement_members: vec![creator], insert_engagements: vec![engagement], events, ..Default::default() };
    commit_once(&r, batch, response).await
}

/// The Sandbox's simulated lead (as its simulated opportunity referral, digest §3.5): a
/// `CreateEngagement` with one `Lead` context arrives as the operator's lead referral to the
/// caller — a pending `LeadInvitation` from `aws` into the engagement answered now, which the
/// caller joins by accepting. Suppressed contacts are refused here too (REF-5).
async fn simulate_lead(r: &Request, payload: &Value) -> ApiResult {
    let lead = &payload["Lead"];
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let customer = &lead["Customer"];
    let contact = &lead["Interactions"][0]["Contact"];
    let name = [text(&contact["FirstName"]), text(&contact["LastName"])].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let request = ReferralRequest {
        partner_id: r.caller.partner.id.clone(),
        catalog: r.catalog,
        kind: ReferralKind::Lead,
        customer: ReferralCustomer {
            company_name: text(&customer["CompanyName"]).unwrap_or_else(|| "Sandbox customer".into()),
            website: text(&customer["WebsiteUrl"]).unwrap_or_else(|| "https://example.com".into()),
            country: text(&customer["Address"]["CountryCode"]).unwrap_or_else(|| "US".into()),
            industry: text(&customer["Industry"]),
        },
        title: None,
        problem: text(&lead["Interactions"][0]["BusinessProblem"]),
        contact: ReferralContact {
            name: (!name.is_empty()).then_some(name),
            email: text(&contact["Email"]),
            phone: text(&contact["Phone"]),
            title: text(&contact["BusinessTitle"]),
        },
    };
    let referral = match crate::referrals::build(&r.state, &r.caller.partner, request).await? {
        Ok(referral) => referral,
        Err(crate::referrals::Refusal::Suppressed(message)) => {
            return Err(ApiError::business_validation(vec![FieldError::new(
                "Contexts[0].Payload.Lead.Interactions",
                FieldErrorCode::InvalidValue,
                message,
            )]))
        }
        Err(_) => return Err(ApiError::Internal("a Sandbox simulation cannot be refused otherwise".into())),
    };
    let (engagement, operator) = ace_domain::engagement::referral_engagement(&referral);
    let response = serde_json::to_value(CreateEngagementResponse {
        arn: engagement.arn(),
        id: engagement.id.clone(),
        modified_at: format_timestamp(engagement.modified),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let batch = WriteBatch {
        events: vec![crate::referrals::created_event(&r.state, &referral, &r.caller.partner.account_id)],
        insert_referrals: vec![referral],
        insert_engagements: vec![engagement],
        add_engagement_members: vec![operator],
        ..Default::default()
    };
    commit_once(r, batch, response).await
}

pub async fn get(r: Request) -> ApiResult {
    let input: Identified = r.parse()?;
    let (e, members) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.identifier).await?;
    let view = view(&r.state, &e).await?;
    if let Some(referral) = view.contact_of {
        // REF-1: a read of a referral's contact data is audited, like GetOpportunity's.
        let read = AuditRead {
            referral_id: referral.id,
            partner_id: r.caller.partner.id.clone(),
            actor: r.caller.user.name.clone(),
            at: r.state.now(),
            what: format!("GetEngagement {}", e.id),
        };
        r.commit(WriteBatch { audit_reads: vec![read], ..Default::default() }).await?;
    }
    r.respond(&GetEngagementResponse {
        arn: e.arn(),
        id: &e.id,
        title: &view.title,
        description: &e.description,
        created_at: format_timestamp(e.created),
        created_by: &e.created_by,
        modified_at: format_timestamp(e.modified),
        modified_by: &e.modified_by,
        member_count: members.len(),
        contexts: view.contexts.iter().map(|c| ContextView { id: &c.id, kind: c.kind, payload: &c.payload }).collect(),
    })
}

pub async fn list(r: Request) -> ApiResult {
    let input: ListEngagementsRequest = r.parse()?;
    let wanted_ids: Vec<&str> = input.engagement_identifier.iter().map(|i| engagement_id(i)).collect();
    let mut engagements = r.tenant().engagements().await?;
    for (e, _) in engagements.iter_mut().filter(|(e, _)| e.referral_id.is_some()) {
        e.title = view(&r.state, e).await?.title;
    }
    let mut items: Vec<EngagementSummary> = engagements
        .into_iter()
        .filter(|(e, _)| {
            let types = e.context_types();
            (input.context_types.is_empty() || input.context_types.iter().any(|t| types.contains(t)))
                && !input.exclude_context_types.iter().any(|t| types.contains(t))
                && (input.created_by.is_empty() || input.created_by.contains(&e.created_by))
                && !input.exclude_created_by.contains(&e.created_by)
                && (wanted_ids.is_empty() || wanted_ids.contains(&e.id.as_str()))
        })
        .map(|(e, member_count)| EngagementSummary {
            arn: e.arn(),
            context_types: e.context_types(),
            created_at: format_timestamp(e.created),
            modified_at: format_timestamp(e.modified),
            id: e.id,
            title: e.title,
            created_by: e.created_by,
            modified_by: e.modified_by,
            member_count,
        })
        .collect();
    // Oldest first; `CreatedDate` is the one sort the model offers.
    if Sort::descending(&input.sort) {
        items.reverse();
    }
    in_memory_page(&r, items, "EngagementSummaryList")
}

pub async fn list_members(r: Request) -> ApiResult {
    let input: Identified = r.parse()?;
    let (_, members) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.identifier).await?;
    let views = member_views(&r.state, &members).await?;
    in_memory_page_of(&r, views, "EngagementMemberList", MEMBERS_PAGE_DEFAULT)
}

pub async fn create_context(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new engagements").await?;
    if let Some(previous) = replayed(&r).await? {
        return Ok(Output::Json(previous));
    }
    let input: CreateEngagementContextRequest = r.parse()?;
    let (mut engagement, members) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.engagement_identifier).await?;
    check_partner_context("", input.kind, &input.payload).map_err(|e| refused(e, &engagement.id))?;
    let expected = engagement.modified.timestamp_millis();
    let context_id = engagement
        .add_context(input.kind, input.payload, &r.caller.partner.account_id, r.state.now())
        .map_err(|e| refused(e, &engagement.id))?;
    let response = serde_json::to_value(ContextChanged {
        context_id,
        engagement_arn: engagement.arn(),
        engagement_id: engagement.id.clone(),
        engagement_last_modified_at: format_timestamp(engagement.modified),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let events = updated_events(&r, &engagement, &members);
    commit_once(&r, WriteBatch { update_engagements: vec![(engagement, expected)], events, ..Default::default() }, response).await
}

/// `Engagement Updated`, to every partner member.
fn updated_events(r: &Request, engagement: &Engagement, members: &[Member]) -> Vec<ace_domain::events::OutboxEvent> {
    member_events(
        &r.state,
        r.catalog,
        members,
        "Engagement Updated",
        &engagement.arn(),
        &engagement_event_detail(engagement, false),
    )
}

pub async fn update_context(r: Request) -> ApiResult {
    let input: UpdateEngagementContextRequest = r.parse()?;
    let (mut engagement, members) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.engagement_identifier).await?;
    let expected_at = parse_timestamp(&input.engagement_last_modified_at)
        .ok_or_else(|| ApiError::Internal("EngagementLastModifiedAt passed the model check but does not parse".into()))?;
    let expected = engagement.modified.timestamp_millis();
    let mut batch = WriteBatch::default();
    if engagement.is_referral_context(&input.context_identifier) {
        // A lead the operator referred: what the partner now knows of the customer goes into
        // the (sealed) referral the context is rendered from.
        let now = r.state.now();
        engagement
            .touch_referral_context(&input.context_identifier, expected_at, input.kind, &r.caller.partner.account_id, now)
            .map_err(|e| refused(e, &engagement.id))?;
        let referral_id = engagement.referral_id.clone().unwrap_or_default();
        let mut referral =
            r.tenant().referral(&referral_id).await?.filter(|x| x.status.visible_to_partner() && !x.data_deleted).ok_or_else(
                || ApiError::ResourceNotFound(format!("Engagement {} was not found in catalog {}", engagement.id, r.catalog)),
            )?;
        apply_lead_update(&mut referral, &input.payload).map_err(|e| refused(e, &engagement.id))?;
        batch.update_referrals.push(referral);
    } else {
        check_partner_context("", input.kind, &input.payload).map_err(|e| refused(e, &engagement.id))?;
        engagement
            .update_context(
                &input.context_identifier,
                expected_at,
                input.kind,
                input.payload,
                &r.caller.partner.account_id,
                r.state.now(),
            )
            .map_err(|e| refused(e, &engagement.id))?;
    }
    let response = ContextChanged {
        context_id: input.context_identifier,
        engagement_arn: engagement_arn(r.catalog, &engagement.id),
        engagement_id: engagement.id.clone(),
        engagement_last_modified_at: format_timestamp(engagement.modified),
    };
    batch.events = updated_events(&r, &engagement, &members);
    batch.update_engagements.push((engagement, expected));
    match r.commit(batch).await {
        Ok(_) => r.respond(&response),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(
            "The engagement was modified meanwhile: EngagementLastModifiedAt is stale; get it again.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

const FROM_ENGAGEMENT_TASK: &str = "opportunity-from-engagement-task";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartOpportunityFromEngagementTaskRequest {
    identifier: String,
    context_identifier: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// Turns a context of the caller's engagement into an opportunity of the caller: a referral's
/// context into the referral's opportunity (as accepting it by task would; once), a
/// `CustomerProject` into a new one with its customer and project. Idempotent by ClientToken.
pub async fn start_opportunity_task(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new opportunities").await?;
    let key = idempotency_key(&r);
    let hash = request_hash(&r.input);
    if let Some(existing) = r.claimed(&key).await? {
        return super::tasks::current_task(&r, &replay(&existing, &hash)?).await;
    }
    let input: StartOpportunityFromEngagementTaskRequest = r.parse()?;
    let (engagement, _) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.identifier).await?;
    let context = engagement.context(&input.context_identifier).ok_or_else(|| {
        ApiError::ResourceNotFound(format!("Context {} was not found in engagement {}", input.context_identifier, engagement.id))
    })?;
    let tag_errors = check_tags(&[], &input.tags, "Tags");
    if !tag_errors.is_empty() {
        return Err(ApiError::business_validation(tag_errors));
    }
    let now = r.state.now();
    let number = r.state.next_opportunity_number().await?;
    let mut batch = WriteBatch::default();
    let mut opportunity = match engagement.referral_id.as_ref().filter(|_| engagement.is_referral_context(&context.id)) {
        Some(referral_id) => {
            let mut referral = r
                .tenant()
                .referral(referral_id)
                .await?
                .filter(|x| x.status.visible_to_partner())
                .ok_or_else(|| ApiError::ResourceNotFound(format!("Engagement {} was not found", engagement.id)))?;
            if referral.opportunity_id.is_some() {
                return Err(ApiError::Conflict(format!(
                    "context {} of engagement {} was already turned into an opportunity",
                    context.id, engagement.id
                )));
            }
            let opportunity = super::invitations::opportunity_from(&referral, number, now);
            referral.opportunity_id = Some(opportunity.id.clone());
            batch.update_referrals.push(referral);
            opportunity
        }
        _ if context.kind == ContextType::CustomerProject => Opportunity::new(
            r.catalog,
            opportunity_id(number),
            r.caller.partner.id.clone(),
            opportunity_document_of(&context.payload),
            Origin::PartnerReferral,
            now,
        ),
        _ => {
            return Err(ApiError::business_validation(vec![FieldError::new(
                "ContextIdentifier",
                FieldErrorCode::InvalidValue,
                format!("ContextIdentifier: a {} context does not become an opportunity", context.kind.as_str()),
            )]))
        }
    };
    merge_tags(&mut opportunity.tags, input.tags);
    let summary = super::tasks::opportunity_task(
        &r,
        &mut batch,
        (key, &hash),
        FROM_ENGAGEMENT_TASK,
        opportunity,
        json!({"EngagementId": engagement.id, "ContextId": context.id}),
    );
    match r.commit(batch).await {
        Ok(BatchOutcome::Committed) => r.respond(&summary),
        Ok(BatchOutcome::Replayed(existing)) => super::tasks::current_task(&r, &replay(&existing, &hash)?).await,
        Err(StoreError::Conflict(_)) => {
            Err(ApiError::Conflict("The engagement's referral changed meanwhile; retry with the same ClientToken.".into()))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListOpportunityFromEngagementTasksRequest {
    #[serde(default)]
    task_identifier: Vec<String>,
    #[serde(default)]
    opportunity_identifier: Vec<String>,
    #[serde(default)]
    engagement_identifier: Vec<String>,
    #[serde(default)]
    context_identifier: Vec<String>,
    #[serde(default)]
    task_status: Vec<String>,
    sort: Option<Sort>,
}

pub async fn list_opportunity_tasks(r: Request) -> ApiResult {
    let input: ListOpportunityFromEngagementTasksRequest = r.parse()?;
    let wanted = |filter: &[String], value: &Value| wanted(filter, value.as_str().unwrap_or_default());
    let mut tasks: Vec<Value> = of_kind(&r, FROM_ENGAGEMENT_TASK)
        .await?
        .into_iter()
        .map(|t| t.summary)
        .filter(|s| {
            wanted(&input.task_identifier, &s["TaskId"])
                && wanted(&input.opportunity_identifier, &s["OpportunityId"])
                && wanted(&input.engagement_identifier, &s["EngagementId"])
                && wanted(&input.context_identifier, &s["ContextId"])
                && wanted(&input.task_status, &s["TaskStatus"])
        })
        .collect();
    if Sort::descending(&input.sort) {
        tasks.reverse();
    }
    in_memory_page(&r, tasks, "TaskSummaries")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEngagementInvitationRequest {
    engagement_identifier: String,
    invitation: InvitationInput,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InvitationInput {
    message: String,
    receiver: ReceiverInput,
    payload: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiverInput {
    account: AccountReceiver,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccountReceiver {
    aws_account_id: String,
    alias: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEngagementInvitationResponse {
    arn: String,
    id: String,
}

/// The Sandbox's simulated operator side: an invitation to `aws` is accepted by it at once, and
/// `aws` becomes a member (as Partner Central's Sandbox answers for AWS).
async fn simulate_operator_acceptance(
    r: &Request,
    engagement: Engagement,
    members: Vec<Member>,
    invitation: InvitationInput,
) -> ApiResult {
    if members.iter().any(|m| m.account_id == OPERATOR_ACCOUNT) {
        return Err(refused(
            EngagementError::Invalid(vec![FieldError::new(
                "Invitation.Receiver.Account.AwsAccountId",
                FieldErrorCode::InvalidValue,
                "Invitation.Receiver.Account.AwsAccountId: aws is already a member of the engagement",
            )]),
            &engagement.id,
        ));
    }
    check_invitation_text(&invitation.message, &invitation.payload).map_err(|e| refused(e, &engagement.id))?;
    let now = r.state.now();
    let payload_type = invitation.payload.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
    let record = PartnerInvitation {
        id: crate::referrals::new_id("engi-", 13),
        catalog: r.catalog,
        engagement_id: engagement.id.clone(),
        sender: Party {
            partner_id: r.caller.partner.id.clone(),
            account_id: r.caller.partner.account_id.clone(),
            company_name: r.caller.partner.name.clone(),
        },
        receiver: Party {
            partner_id: String::new(),
            account_id: OPERATOR_ACCOUNT.into(),
            company_name: crate::app::engagements::OPERATOR_COMPANY.into(),
        },
        receiver_alias: invitation.receiver.account.alias,
        message: invitation.message,
        payload_type,
        payload: invitation.payload,
        status: InvitationStatus::Accepted,
        invited_at: now,
        expires_at: now,
        decided_at: Some(now),
        rejection_reason: None,
        opportunity_id: None,
        version: 1,
    };
    let member = Member {
        catalog: r.catalog,
        engagement_id: engagement.id.clone(),
        account_id: OPERATOR_ACCOUNT.into(),
        partner_id: None,
        joined: now,
    };
    let response = serde_json::to_value(CreateEngagementInvitationResponse {
        arn: ace_domain::engagement::invitation_arn(r.catalog, &record.id),
        id: record.id.clone(),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let batch =
        WriteBatch { insert_partner_invitations: vec![record], add_engagement_members: vec![member], ..Default::default() };
    commit_once(r, batch, response).await
}

/// Invites another partner into an engagement of the caller's (issue 18): to an account of the
/// program, not the caller's own, not removed (REM-1), not a member yet; what it shares screened
/// (SUB-5). The receiver is told through its event feed. Idempotent by ClientToken.
pub async fn create_invitation(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new engagements").await?;
    if let Some(previous) = replayed(&r).await? {
        return Ok(Output::Json(previous));
    }
    let input: CreateEngagementInvitationRequest = r.parse()?;
    let (engagement, members) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.engagement_identifier).await?;
    let account = input.invitation.receiver.account.aws_account_id.clone();
    if r.catalog == Catalog::Sandbox && account == OPERATOR_ACCOUNT {
        return simulate_operator_acceptance(&r, engagement, members, input.invitation).await;
    }
    let receiver = crate::app::engagements::partner_by_account(&r.state, &account).await?;
    let already_member = members.iter().any(|m| m.account_id == account);
    check_receiver(&r.caller.partner.account_id, &account, receiver.as_ref(), already_member)
        .map_err(|e| refused(e, &engagement.id))?;
    let receiver = receiver.ok_or_else(|| ApiError::Internal("check_receiver passed an unknown account".into()))?;
    check_invitation_text(&input.invitation.message, &input.invitation.payload).map_err(|e| refused(e, &engagement.id))?;
    let payload_type = input.invitation.payload.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
    let pending = r.tenant().invitations(true).await?;
    let now = r.state.now();
    if pending.iter().any(|i| {
        i.engagement_id == engagement.id && i.receiver.account_id == account && i.status_at(now) == InvitationStatus::Pending
    }) {
        return Err(ApiError::Conflict(format!("account {account} already has a pending invitation to {}", engagement.id)));
    }
    let days = crate::referrals::acceptance_days(&r.state).await?;
    let invitation = PartnerInvitation {
        id: crate::referrals::new_id("engi-", 13),
        catalog: r.catalog,
        engagement_id: engagement.id.clone(),
        sender: Party {
            partner_id: r.caller.partner.id.clone(),
            account_id: r.caller.partner.account_id.clone(),
            company_name: r.caller.partner.name.clone(),
        },
        receiver: Party { partner_id: receiver.id.clone(), account_id: account, company_name: receiver.name.clone() },
        receiver_alias: input.invitation.receiver.account.alias,
        message: input.invitation.message,
        payload_type,
        payload: input.invitation.payload,
        status: InvitationStatus::Pending,
        invited_at: now,
        expires_at: now + chrono::TimeDelta::days(days),
        decided_at: None,
        rejection_reason: None,
        opportunity_id: None,
        version: 1,
    };
    let events = invitation_events(&r.state, &invitation, "Engagement Invitation Created");
    let response = serde_json::to_value(CreateEngagementInvitationResponse {
        arn: ace_domain::engagement::invitation_arn(r.catalog, &invitation.id),
        id: invitation.id.clone(),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let batch = WriteBatch { insert_partner_invitations: vec![invitation], events, ..Default::default() };
    commit_once(&r, batch, response).await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SearchEngagementsRequest {
    filter: Option<search::Filter>,
    keyword: Option<String>,
    group_id: Option<String>,
    sort: Option<SearchSort>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EngagementSearchSummary {
    arn: String,
    id: String,
    title: String,
    description: String,
    created_at: String,
    created_by: String,
    modified_at: String,
    modified_by: String,
    member_count: usize,
    contexts: Vec<OwnedContextView>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OwnedContextView {
    id: String,
    #[serde(rename = "Type")]
    kind: ContextType,
    payload: Value,
}

/// SearchEngagements over the caller's engagements (USE-4): the filter tree, the keyword over
/// their words, an operator's engagement group, the sort. Reads of a lead's contact are
/// audited (REF-1), as GetEngagement's.
pub async fn search(r: Request) -> ApiResult {
    let input: SearchEngagementsRequest = r.parse()?;
    if let Some(filter) = &input.filter {
        search::check(filter, "Filter").map_err(ApiError::request_validation)?;
    }
    let group = match &input.group_id {
        Some(id) => Some(
            crate::app::engagements::group(&r.state, id)
                .await?
                .ok_or_else(|| ApiError::ResourceNotFound(format!("Engagement group {id} was not found")))?,
        ),
        None => None,
    };
    let mut rows = Vec::new();
    let mut summaries = std::collections::HashMap::new();
    let mut reads = std::collections::HashMap::new();
    for (e, _) in r.tenant().engagements().await? {
        let shown = view(&r.state, &e).await?;
        if group.as_ref().is_some_and(|g| !g.includes(&shown.contexts)) {
            continue;
        }
        let members = crate::app::engagements::members(&r.state, r.catalog, &e.id).await?;
        let text = std::iter::once(shown.title.clone())
            .chain(std::iter::once(e.description.clone()))
            .chain(shown.contexts.iter().map(|c| c.payload.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        let row = search::Searchable {
            id: e.id.clone(),
            title: shown.title.clone(),
            members: members.iter().map(|m| m.account_id.clone()).collect(),
            created: e.created,
            modified: e.modified,
            text,
        };
        let passes = input.filter.as_ref().is_none_or(|f| search::matches(f, &row))
            && input.keyword.as_deref().is_none_or(|k| search::keyword_matches(k, &row));
        if !passes {
            continue;
        }
        if let Some(referral) = &shown.contact_of {
            reads.insert(
                e.id.clone(),
                AuditRead {
                    referral_id: referral.id.clone(),
                    partner_id: r.caller.partner.id.clone(),
                    actor: r.caller.user.name.clone(),
                    at: r.state.now(),
                    what: format!("SearchEngagements {}", e.id),
                },
            );
        }
        summaries.insert(
            e.id.clone(),
            EngagementSearchSummary {
                arn: e.arn(),
                id: e.id.clone(),
                title: shown.title,
                description: e.description.clone(),
                created_at: format_timestamp(e.created),
                created_by: e.created_by.clone(),
                modified_at: format_timestamp(e.modified),
                modified_by: e.modified_by.clone(),
                member_count: members.len(),
                contexts: shown
                    .contexts
                    .into_iter()
                    .map(|c| OwnedContextView { id: c.id, kind: c.kind, payload: c.payload })
                    .collect(),
            },
        );
        rows.push(row);
    }
    let (by, descending) = input.sort.map_or(("CreatedAt".to_string(), false), |s| (s.sort_by, s.sort_order == "DESCENDING"));
    search::sort(&mut rows, &by, descending);
    let items: Vec<EngagementSearchSummary> = rows.iter().filter_map(|row| summaries.remove(&row.id)).collect();
    let (page, next) = page_of(&r, items, 20)?;
    // REF-1: the reads audited are those of the contacts this page shows.
    let shown: Vec<AuditRead> = page.iter().filter_map(|s| reads.remove(&s.id)).collect();
    if !shown.is_empty() {
        r.commit(WriteBatch { audit_reads: shown, ..Default::default() }).await?;
    }
    r.respond(&EngagementSearchPage { engagement_search_summaries: page, next_token: next })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EngagementSearchPage {
    engagement_search_summaries: Vec<EngagementSearchSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEngagementGroupsRequest {
    #[serde(default)]
    engagement_group_identifiers: Vec<String>,
    readiness_level: Option<String>,
    sort: Option<SearchSort>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EngagementGroupSummary {
    arn: String,
    catalog: &'static str,
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    id: String,
    name: String,
    updated_at: String,
}

/// The operator's engagement groups, each with how many of the caller's engagements it holds.
/// Groups carry no readiness level: asking for one finds none.
pub async fn list_groups(r: Request) -> ApiResult {
    let input: ListEngagementGroupsRequest = r.parse()?;
    let mut shown = Vec::new();
    for (e, _) in r.tenant().engagements().await? {
        shown.push(view(&r.state, &e).await?.contexts);
    }
    let mut items: Vec<(EngagementGroupSummary, ace_domain::time::Instant)> = crate::app::engagements::groups(&r.state)
        .await?
        .into_iter()
        .filter(|_| input.readiness_level.is_none())
        .filter(|g| {
            input.engagement_group_identifiers.is_empty()
                || input.engagement_group_identifiers.iter().any(|i| i.rsplit('/').next() == Some(g.id.as_str()))
        })
        .map(|g| {
            let summary = EngagementGroupSummary {
                arn: format!(
                    "arn:aws:partnercentral:{}::catalog/{}/engagement-group/{}",
                    ace_domain::ids::REGION,
                    r.catalog,
                    g.id
                ),
                catalog: r.catalog.as_str(),
                count: shown.iter().filter(|contexts| g.includes(contexts)).count(),
                description: g.description.clone(),
                id: g.id.clone(),
                name: g.name.clone(),
                updated_at: format_timestamp(g.updated),
            };
            (summary, g.updated)
        })
        .collect();
    let (by, descending) = input.sort.map_or(("UpdatedAt".to_string(), false), |s| (s.sort_by, s.sort_order == "DESCENDING"));
    items.sort_by(|(a, at), (b, bt)| {
        let ordering = if by == "Count" { a.count.cmp(&b.count) } else { at.cmp(bt) };
        let ordering = ordering.then_with(|| a.id.cmp(&b.id));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    in_memory_page(&r, items.into_iter().map(|(s, _)| s).collect(), "EngagementGroupSummaries")
}

const PROSPECTING_TASK: &str = "prospecting-from-engagement-task";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartProspectingRequest {
    identifiers: Vec<String>,
    task_name: String,
}

/// StartProspectingFromEngagementTask: each engagement of the caller's it names gets a
/// `ProspectingResult` context — its customer as a prospecting lead, stamped with the task —
/// in one transaction; an engagement it cannot take (not the caller's, no customer, five
/// contexts) is reported `FAILED` with its reason, and the others go ahead. Runs inline and is
/// recorded `COMPLETED`, idempotent by ClientToken.
pub async fn start_prospecting_task(r: Request) -> ApiResult {
    let key = idempotency_key(&r);
    let hash = request_hash(&r.input);
    if let Some(existing) = r.claimed(&key).await? {
        return prospecting_answer(&r, &replay(&existing, &hash)?).await;
    }
    let input: StartProspectingRequest = r.parse()?;
    let now = r.state.now();
    let task_id = crate::referrals::new_id("task-", 14);
    let task = json!({
        "TaskId": task_id, "TaskArn": task_arn(r.catalog, PROSPECTING_TASK, &task_id), "TaskName": input.task_name,
        "StartTime": format_timestamp(now), "EndTime": format_timestamp(now),
    });
    let mut batch = WriteBatch::default();
    let mut results = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for identifier in &input.identifiers {
        let id = engagement_id(identifier).to_string();
        if !seen.insert(id.clone()) {
            continue;
        }
        let outcome = match load_as_member(&r.state, &r.caller.partner, r.catalog, &id).await {
            Err(crate::app::AppError::NotFound(_)) => Err(ProspectingRefusal::NotFound),
            Err(e) => return Err(e.into()),
            Ok((mut engagement, members)) => {
                let shown = view(&r.state, &engagement).await?;
                match prospecting_result(&shown.contexts, &task) {
                    Ok(payload) => {
                        let expected = engagement.modified.timestamp_millis();
                        let context = engagement
                            .add_context(ContextType::ProspectingResult, payload, &r.caller.partner.account_id, now)
                            .map_err(|e| refused(e, &id))?;
                        batch.events.extend(updated_events(&r, &engagement, &members));
                        batch.update_engagements.push((engagement, expected));
                        Ok(context)
                    }
                    Err(refusal) => Err(refusal),
                }
            }
        };
        results.push(match outcome {
            Ok(context) => json!({"EngagementIdentifier": id, "Status": "COMPLETED", "ContextId": context}),
            Err(refusal) => json!({"EngagementIdentifier": id, "Status": "FAILED", "ReasonCode": refusal.reason_code(),
                                   "Message": format!("{} was not turned into a prospecting lead", id)}),
        });
    }
    let mut summary = task.clone();
    summary["TaskStatus"] = json!("COMPLETED");
    summary["Identifiers"] = json!(input.identifiers);
    summary["Engagements"] = json!(results);
    batch.put_tasks.push(TaskRecord {
        catalog: r.catalog,
        id: task_id.clone(),
        partner_id: r.caller.partner.id.clone(),
        opportunity_id: String::new(),
        start_ms: now.timestamp_millis(),
        summary: summary.clone(),
    });
    batch.idempotency = Some(IdempotencyRecord {
        key,
        request_hash: hash.clone(),
        response: json!({"TaskId": task_id}),
        created_ms: now.timestamp_millis(),
    });
    match r.commit(batch).await {
        Ok(BatchOutcome::Committed) => r.respond(&summary),
        Ok(BatchOutcome::Replayed(existing)) => prospecting_answer(&r, &replay(&existing, &hash)?).await,
        Err(StoreError::Conflict(_)) => {
            Err(ApiError::Conflict("An engagement changed while the task ran; retry with the same ClientToken.".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The stored task a ClientToken or TaskIdentifier names, answered as Start's or Get's output.
async fn prospecting_answer(r: &Request, response: &Value) -> ApiResult {
    let task_id = response["TaskId"].as_str().unwrap_or_default();
    let task = r
        .tenant()
        .task(task_id)
        .await?
        .filter(|t| is_kind(&t.summary, PROSPECTING_TASK))
        .ok_or_else(|| ApiError::ResourceNotFound(format!("Task {task_id} was not found in catalog {}", r.catalog)))?;
    r.respond(&task.summary)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetProspectingRequest {
    task_identifier: String,
}

pub async fn get_prospecting_task(r: Request) -> ApiResult {
    let input: GetProspectingRequest = r.parse()?;
    prospecting_answer(&r, &json!({"TaskId": input.task_identifier})).await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListProspectingRequest {
    #[serde(default)]
    task_identifier: Vec<String>,
    #[serde(default)]
    task_name: Vec<String>,
    start_after: Option<Value>,
    start_before: Option<Value>,
    sort: Option<SearchSort>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProspectingTaskSummary {
    completed_engagement_count: usize,
    failed_engagement_count: usize,
    total_engagement_count: usize,
    start_time: Value,
    end_time: Value,
    task_arn: Value,
    task_id: Value,
    task_name: Value,
}

pub async fn list_prospecting_tasks(r: Request) -> ApiResult {
    let input: ListProspectingRequest = r.parse()?;
    let after = input.start_after.as_ref().and_then(parse_timestamp);
    let before = input.start_before.as_ref().and_then(parse_timestamp);
    let mut items: Vec<(ProspectingTaskSummary, i64)> = of_kind(&r, PROSPECTING_TASK)
        .await?
        .into_iter()
        .filter(|t| {
            let s = &t.summary;
            let at = ace_domain::time::from_millis(t.start_ms);
            (input.task_identifier.is_empty() || input.task_identifier.iter().any(|i| Some(i.as_str()) == s["TaskId"].as_str()))
                && (input.task_name.is_empty() || input.task_name.iter().any(|n| Some(n.as_str()) == s["TaskName"].as_str()))
                && after.is_none_or(|a| at >= a)
                && before.is_none_or(|b| at < b)
        })
        .map(|t| {
            let s = t.summary;
            let engagements = s["Engagements"].as_array().cloned().unwrap_or_default();
            let count = |status: &str| engagements.iter().filter(|e| e["Status"] == status).count();
            let summary = ProspectingTaskSummary {
                completed_engagement_count: count("COMPLETED"),
                failed_engagement_count: count("FAILED"),
                total_engagement_count: engagements.len(),
                start_time: s["StartTime"].clone(),
                end_time: s["EndTime"].clone(),
                task_arn: s["TaskArn"].clone(),
                task_id: s["TaskId"].clone(),
                task_name: s["TaskName"].clone(),
            };
            (summary, t.start_ms)
        })
        .collect();
    let (by, descending) = input.sort.map_or(("StartTime".to_string(), false), |s| (s.sort_by, s.sort_order == "DESCENDING"));
    items.sort_by(|(a, at), (b, bt)| {
        let ordering = match by.as_str() {
            "TaskName" => a.task_name.as_str().cmp(&b.task_name.as_str()),
            "FailedEngagementCount" => a.failed_engagement_count.cmp(&b.failed_engagement_count),
            _ => at.cmp(bt),
        }
        .then_with(|| a.task_id.as_str().cmp(&b.task_id.as_str()));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    in_memory_page(&r, items.into_iter().map(|(s, _)| s).collect(), "TaskSummaries")
}
