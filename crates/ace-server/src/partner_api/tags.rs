//! TagResource, UntagResource, ListTagsForResource on the caller's opportunities. Tags are not
//! part of the opportunity document: they do not move its LastModifiedDate.

use serde_json::{json, Value};

use ace_domain::ids::ResourceArn;
use ace_domain::opportunity::{check_tags, merge_tags, Opportunity, Tag};
use ace_store::WriteBatch;

use super::{ApiResult, Output, Request};
use crate::error::ApiError;

/// The caller's opportunity named by `ResourceArn`; anything else is not found (USE-4).
async fn resource(r: &Request) -> Result<Opportunity, ApiError> {
    let arn = r.required("ResourceArn");
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
    let mut o = resource(&r).await?;
    let added: Vec<Tag> = serde_json::from_value(r.input.get("Tags").cloned().unwrap_or(json!([])))
        .map_err(|e| ApiError::Serialization(format!("Tags: {e}")))?;
    let errors = check_tags(&o.tags, &added, "Tags");
    if !errors.is_empty() {
        return Err(ApiError::request_validation(errors));
    }
    merge_tags(&mut o.tags, added);
    save_tags(&r, o).await?;
    Ok(Output::Json(json!({})))
}

pub async fn untag(r: Request) -> ApiResult {
    let mut o = resource(&r).await?;
    let keys: Vec<String> = r
        .input
        .get("TagKeys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    let before = o.tags.len();
    o.tags.retain(|t| !keys.contains(&t.key));
    if o.tags.len() != before {
        save_tags(&r, o).await?;
    }
    Ok(Output::Json(json!({})))
}

pub async fn list(r: Request) -> ApiResult {
    let o = resource(&r).await?;
    Ok(Output::Json(json!({"Tags": o.tags})))
}
