//! Engagements (issue 18): CreateEngagement, GetEngagement, ListEngagements,
//! ListEngagementMembers, CreateEngagementContext, UpdateEngagementContext. A partner creates an
//! engagement and is its first member; only members see it (USE-4); what it shares is screened
//! (SUB-5). The decisions are `ace_domain::engagement`'s; reads go through `app::engagements`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use ace_domain::engagement::{
    check_engagement_text, check_partner_context, engagement_arn, engagement_id, ContextType, Engagement, EngagementError, Member,
};
use ace_domain::time::{format_timestamp, parse_timestamp};
use ace_store::{BatchOutcome, IdempotencyRecord, StoreError, WriteBatch};

use super::opportunities::{idempotency_key, replay, request_hash};
use super::{in_memory_page, in_memory_page_of, ApiResult, Output, Request};
use crate::app::engagements::{load_as_member, member_views};
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
struct Sort {
    sort_order: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Identified {
    identifier: String,
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
async fn commit_once(r: &Request, mut batch: WriteBatch, response: Value) -> ApiResult {
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
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict("The engagement changed meanwhile; get it and retry.".into())),
        Err(e) => Err(e.into()),
    }
}

/// A repeated ClientToken is answered before anything is decided again.
async fn replayed(r: &Request) -> Result<Option<Value>, ApiError> {
    match r.state.store.get_idempotency(&idempotency_key(r)).await? {
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
    let batch = WriteBatch {
        add_engagement_members: vec![member(&r, &engagement)],
        insert_engagements: vec![engagement],
        ..Default::default()
    };
    commit_once(&r, batch, response).await
}

pub async fn get(r: Request) -> ApiResult {
    let input: Identified = r.parse()?;
    let (e, members) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.identifier).await?;
    r.respond(&GetEngagementResponse {
        arn: e.arn(),
        id: &e.id,
        title: &e.title,
        description: &e.description,
        created_at: format_timestamp(e.created),
        created_by: &e.created_by,
        modified_at: format_timestamp(e.modified),
        modified_by: &e.modified_by,
        member_count: members.len(),
        contexts: e.contexts.iter().map(|c| ContextView { id: &c.id, kind: c.kind, payload: &c.payload }).collect(),
    })
}

pub async fn list(r: Request) -> ApiResult {
    let input: ListEngagementsRequest = r.parse()?;
    let wanted_ids: Vec<&str> = input.engagement_identifier.iter().map(|i| engagement_id(i)).collect();
    let mut items: Vec<EngagementSummary> = r
        .state
        .store
        .list_member_engagements(&r.caller.partner.id, r.catalog)
        .await?
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
    if input.sort.is_some_and(|s| s.sort_order == "DESCENDING") {
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
    let (mut engagement, _) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.engagement_identifier).await?;
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
    commit_once(&r, WriteBatch { update_engagements: vec![(engagement, expected)], ..Default::default() }, response).await
}

pub async fn update_context(r: Request) -> ApiResult {
    let input: UpdateEngagementContextRequest = r.parse()?;
    let (mut engagement, _) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.engagement_identifier).await?;
    let expected_at = parse_timestamp(&input.engagement_last_modified_at)
        .ok_or_else(|| ApiError::Internal("EngagementLastModifiedAt passed the model check but does not parse".into()))?;
    check_partner_context("", input.kind, &input.payload).map_err(|e| refused(e, &engagement.id))?;
    let expected = engagement.modified.timestamp_millis();
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
    let response = ContextChanged {
        context_id: input.context_identifier,
        engagement_arn: engagement_arn(r.catalog, &engagement.id),
        engagement_id: engagement.id.clone(),
        engagement_last_modified_at: format_timestamp(engagement.modified),
    };
    match r.commit(WriteBatch { update_engagements: vec![(engagement, expected)], ..Default::default() }).await {
        Ok(_) => r.respond(&response),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(
            "The engagement was modified meanwhile: EngagementLastModifiedAt is stale; get it again.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The engagement's id in an audit entry of a write (USE-4: the records it touched).
pub fn audit_detail(batch: &WriteBatch) -> Option<Value> {
    let ids: Vec<&str> = batch
        .insert_engagements
        .iter()
        .map(|e| e.id.as_str())
        .chain(batch.update_engagements.iter().map(|(e, _)| e.id.as_str()))
        .collect();
    (!ids.is_empty()).then(|| json!(ids))
}
