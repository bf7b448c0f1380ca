//! TagResource, UntagResource, ListTagsForResource on the caller's opportunities, resource
//! snapshot jobs and customer accounts. Tagging moves no LastModifiedDate.

use serde::{Deserialize, Serialize};

use ace_domain::customer_account::CustomerAccount;
use ace_domain::ids::ResourceArn;
use ace_domain::opportunity::{check_tags, merge_tags, Opportunity, Tag};
use ace_domain::snapshot::SnapshotJob;
use ace_store::WriteBatch;

use super::{ApiResult, NoMembers, Request};
use crate::app::snapshots::load_job;
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

/// What tags attach to: the caller's account-scoped resources (digest §5) — opportunities,
/// resource snapshot jobs and customer accounts.
#[allow(clippy::large_enum_variant)] // one lives for one request
enum Tagged {
    Opportunity(Opportunity),
    Job(SnapshotJob),
    CustomerAccount(CustomerAccount),
}

impl Tagged {
    fn tags(&self) -> &Vec<Tag> {
        match self {
            Tagged::Opportunity(o) => &o.tags,
            Tagged::Job(j) => &j.tags,
            Tagged::CustomerAccount(a) => &a.tags,
        }
    }

    fn tags_mut(&mut self) -> &mut Vec<Tag> {
        match self {
            Tagged::Opportunity(o) => &mut o.tags,
            Tagged::Job(j) => &mut j.tags,
            Tagged::CustomerAccount(a) => &mut a.tags,
        }
    }
}

/// The caller's resource named by `arn`; anything else is not found (USE-4).
async fn resource(r: &Request, arn: &str) -> Result<Tagged, ApiError> {
    let not_found = || ApiError::ResourceNotFound(format!("Resource {arn} was not found"));
    let parsed = ResourceArn::parse(arn).ok_or_else(not_found)?;
    if parsed.account_id != r.caller.partner.account_id {
        return Err(not_found());
    }
    match parsed.resource_type.as_str() {
        "opportunity" => {
            let o = crate::app::tenant::Tenant::new(&r.state, &r.caller.partner.id, parsed.catalog)
                .opportunity(&parsed.resource_id)
                .await?;
            o.map(Tagged::Opportunity).ok_or_else(not_found)
        }
        "resource-snapshot-job" => load_job(&r.state, &r.caller.partner, parsed.catalog, &parsed.resource_id)
            .await
            .map(Tagged::Job)
            .map_err(|_| not_found()),
        "customer-account" => crate::app::customer_accounts::load(&r.state, &r.caller.partner, parsed.catalog, arn)
            .await
            .map(Tagged::CustomerAccount)
            .map_err(|_| not_found()),
        _ => Err(not_found()),
    }
}

async fn save_tags(r: &Request, updated: Tagged) -> Result<(), ApiError> {
    let batch = match updated {
        Tagged::Opportunity(o) => {
            let expected = o.last_modified.timestamp_millis();
            WriteBatch { update_opportunities: vec![(o, expected)], ..Default::default() }
        }
        Tagged::Job(j) => WriteBatch { update_snapshot_jobs: vec![j], ..Default::default() },
        Tagged::CustomerAccount(a) => WriteBatch { update_customer_accounts: vec![a], ..Default::default() },
    };
    r.commit(batch).await.map_err(|e| match e {
        ace_store::StoreError::Conflict(_) => ApiError::Conflict("The resource was modified concurrently; retry.".into()),
        other => other.into(),
    })?;
    Ok(())
}

pub async fn tag(r: Request) -> ApiResult {
    let input: TagResourceRequest = r.parse()?;
    let mut o = resource(&r, &input.resource_arn).await?;
    let errors = check_tags(o.tags(), &input.tags, "Tags");
    if !errors.is_empty() {
        return Err(ApiError::request_validation(errors));
    }
    merge_tags(o.tags_mut(), input.tags);
    save_tags(&r, o).await?;
    r.respond(&NoMembers {})
}

pub async fn untag(r: Request) -> ApiResult {
    let input: UntagResourceRequest = r.parse()?;
    let mut o = resource(&r, &input.resource_arn).await?;
    let before = o.tags().len();
    o.tags_mut().retain(|t| !input.tag_keys.contains(&t.key));
    if o.tags().len() != before {
        save_tags(&r, o).await?;
    }
    r.respond(&NoMembers {})
}

pub async fn list(r: Request) -> ApiResult {
    let input: ListTagsForResourceRequest = r.parse()?;
    let o = resource(&r, &input.resource_arn).await?;
    r.respond(&ListTagsForResourceResponse { tags: o.tags().clone() })
}
