//! TagResource, UntagResource, ListTagsForResource on the caller's opportunities. Tags are not
//! part of the opportunity document: they do not move its LastModifiedDate.

use serde::{Deserialize, Serialize};

use ace_domain::ids::ResourceArn;
use ace_domain::opportunity::{check_tags, merge_tags, Opportunity, Tag};
use ace_store::WriteBatch;

use super::{ApiResult, NoMembers, Request};
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceRequest {
    resource_arn: String,
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceRequest {
    resource_arn: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForResourceRequest {
    resource_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForResourceResponse {
    tags: Vec<Tag>,
}

/// The caller's opportunity named by `arn`; anything else is not found (USE-4).
async fn resource(r: &Request, arn: &str) -> Result<Opportunity, ApiError> {
    let not_found = || ApiError::ResourceNotFound(format!("Resource {arn} was not found"));
    let parsed = ResourceArn::parse(arn).ok_or_else(not_found)?;
    if parsed.resource_type != "opportunity" || parsed.account_id != r.caller.partner.account_id {
        return Err(not_found());
    }
    r.state.store.get_opportunity(&r.caller.partner.id, parsed.catalog, &parsed.resource_id).await?.ok_or_else(not_found)
}

async fn save_tags(r: &Request, updated: Opportunity) -> Result<(), ApiError> {
    let expected = updated.last_modified.timestamp_millis();
    let batch = WriteBatch { update_opportunities: vec![(updated, expected)], ..Default::default() };
    r.commit(batch).await.map_err(|e| match e {
        ace_store::StoreError::Conflict(_) => ApiError::Conflict("The resource was modified concurrently; retry.".into()),
        other => other.into(),
    })?;
    Ok(())
}

pub async fn tag(r: Request) -> ApiResult {
    let input: TagResourceRequest = r.parse()?;
    let mut o = resource(&r, &input.resource_arn).await?;
    let errors = check_tags(&o.tags, &input.tags, "Tags");
    if !errors.is_empty() {
        return Err(ApiError::request_validation(errors));
    }
    merge_tags(&mut o.tags, input.tags);
    save_tags(&r, o).await?;
    r.respond(&NoMembers {})
}

pub async fn untag(r: Request) -> ApiResult {
    let input: UntagResourceRequest = r.parse()?;
    let mut o = resource(&r, &input.resource_arn).await?;
    let before = o.tags.len();
    o.tags.retain(|t| !input.tag_keys.contains(&t.key));
    if o.tags.len() != before {
        save_tags(&r, o).await?;
    }
    r.respond(&NoMembers {})
}

pub async fn list(r: Request) -> ApiResult {
    let input: ListTagsForResourceRequest = r.parse()?;
    let o = resource(&r, &input.resource_arn).await?;
    r.respond(&ListTagsForResourceResponse { tags: o.tags })
}
