//! Resource snapshots and snapshot jobs (issue 19): CreateResourceSnapshot,
//! GetResourceSnapshot, ListResourceSnapshots, the six job operations,
//! Get/PutSellingSystemSettings and ListEngagementResourceAssociations. Templates, revisions,
//! audiences and job states are `ace_domain::snapshot`'s; loading and following changes is
//! `app::snapshots`'.

use crate::app::tenant::Tenant;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use ace_domain::engagement::Member;
use ace_domain::ids::{opportunity_arn, Catalog};
use ace_domain::model::{FieldError, FieldErrorCode};
use ace_domain::opportunity::Opportunity;
use ace_domain::opportunity::{check_tags, Tag};
use ace_domain::referral::AuditRead;
use ace_domain::snapshot::{
    existing_job, job_role_arn, template, Association, JobError, JobStatus, Snapshot, SnapshotJob, Template, OPPORTUNITY,
    SUMMARY_TEMPLATE,
};
use ace_domain::time::format_timestamp;
use ace_store::{StoreError, WriteBatch};

use super::engagements::{commit_claiming, replayed};
use super::opportunities::load;
use super::{in_memory_page, wanted, ApiResult, NoMembers, Output, Request, Sort};
use crate::app::engagements::load_as_member;
use crate::app::snapshots::{job_role, load_job, load_visible, put_job_role, run, take};
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnapshotKey {
    engagement_identifier: String,
    resource_type: String,
    resource_identifier: String,
    resource_snapshot_template_identifier: String,
    #[serde(default)]
    revision: Option<i64>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateResourceSnapshotResponse {
    arn: String,
    revision: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetResourceSnapshotResponse<'a> {
    arn: String,
    catalog: Catalog,
    created_at: String,
    created_by: &'a str,
    engagement_id: &'a str,
    payload: &'a Value,
    resource_id: &'a str,
    resource_snapshot_template_name: &'a str,
    resource_type: &'a str,
    revision: i64,
    target_member_accounts: &'a [String],
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResourceSnapshotsRequest {
    engagement_identifier: String,
    created_by: Option<String>,
    resource_identifier: Option<String>,
    resource_snapshot_template_identifier: Option<String>,
    resource_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceSnapshotSummary {
    arn: String,
    created_by: String,
    resource_id: String,
    resource_snapshot_template_name: String,
    resource_type: String,
    revision: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobIdentified {
    resource_snapshot_job_identifier: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateResourceSnapshotJobResponse {
    arn: String,
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetResourceSnapshotJobResponse<'a> {
    arn: String,
    catalog: Catalog,
    created_at: String,
    engagement_id: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_failure: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_successful_execution_date: Option<String>,
    resource_arn: String,
    resource_id: &'a str,
    resource_snapshot_template_name: &'a str,
    resource_type: &'a str,
    status: JobStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResourceSnapshotJobsRequest {
    engagement_identifier: Option<String>,
    status: Option<JobStatus>,
    sort: Option<Sort>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceSnapshotJobSummary {
    arn: String,
    engagement_id: String,
    id: String,
    status: JobStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutSellingSystemSettingsRequest {
    resource_snapshot_job_role_identifier: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SellingSystemSettings {
    catalog: Catalog,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_snapshot_job_role_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEngagementResourceAssociationsRequest {
    created_by: Option<String>,
    engagement_identifier: Option<String>,
    resource_identifier: Option<String>,
    resource_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EngagementResourceAssociationSummary {
    catalog: Catalog,
    created_by: String,
    engagement_id: String,
    resource_id: String,
    resource_type: String,
}

/// The template the request names, or `ValidationException` naming the field.
fn template_of(key: &SnapshotKey) -> Result<&'static Template, ApiError> {
    template(&key.resource_snapshot_template_identifier, &key.resource_type).map_err(|e| ApiError::request_validation(vec![e]))
}

/// An optional filter member: absent takes everything, else the value must be equal.
fn matches(filter: &Option<String>, value: &str) -> bool {
    filter.as_deref().is_none_or(|f| f == value)
}

fn job_refused(e: JobError) -> ApiError {
    ApiError::Conflict(e.to_string())
}

fn stale(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::Conflict("The resource snapshot job or its opportunity changed meanwhile; retry.".into())
        }
        other => other.into(),
    }
}

pub async fn create_snapshot(r: Request) -> ApiResult {
    if let Some(previous) = replayed(&r).await? {
        return Ok(Output::Json(previous));
    }
    let key: SnapshotKey = r.parse()?;
    let t = template_of(&key)?;
    let (engagement, members) = load_as_member(&r.state, &r.caller.partner, r.catalog, &key.engagement_identifier).await?;
    let o = load(&r, &key.resource_identifier).await?;
    let mut batch = WriteBatch::default();
    let now = r.state.now();
    let account = r.caller.partner.account_id.clone();
    let current = take(&r.state, &mut batch, t, &o, &account, &engagement.id, &members, None, now).await?.ok_or_else(|| {
        ApiError::business_validation(vec![FieldError::new(
            "ResourceSnapshotTemplateIdentifier",
            FieldErrorCode::InvalidResourceState,
            format!(
                "ResourceSnapshotTemplateIdentifier: {} shows the operator's view of {}, which it has once it is submitted",
                t.name, o.id
            ),
        )])
    })?;
    let response = serde_json::to_value(CreateResourceSnapshotResponse { arn: current.arn(), revision: current.revision })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    commit_claiming(&r, batch, response, "Another revision of this snapshot was taken meanwhile; retry.").await
}

/// REF-1: a snapshot of an opportunity made from a referral carries the referral's contact; a
/// read of it is audited like `GetOpportunity`'s.
async fn contact_read(r: &Request, s: &Snapshot) -> Result<Option<AuditRead>, ApiError> {
    let has_contact =
        |v: &Value| v.pointer("/OpportunitySummary/Customer/Contacts").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
    if !has_contact(&s.payload) {
        return Ok(None);
    }
    let o = Tenant::new(&r.state, &s.partner_id, s.catalog).opportunity(&s.resource_id).await?;
    Ok(o.and_then(|o| o.referral_id).map(|referral_id| AuditRead {
        referral_id,
        partner_id: r.caller.partner.id.clone(),
        actor: r.caller.user.name.clone(),
        at: r.state.now(),
        what: format!("GetResourceSnapshot {} revision {}", s.resource_id, s.revision),
    }))
}

pub async fn get_snapshot(r: Request) -> ApiResult {
    let key: SnapshotKey = r.parse()?;
    template_of(&key)?;
    let s = load_visible(
        &r.state,
        &r.caller.partner,
        r.catalog,
        &key.engagement_identifier,
        &key.resource_identifier,
        &key.resource_snapshot_template_identifier,
        key.revision,
    )
    .await?;
    if let Some(read) = contact_read(&r, &s).await? {
        r.commit(WriteBatch { audit_reads: vec![read], ..Default::default() }).await?;
    }
    r.respond(&GetResourceSnapshotResponse {
        arn: s.arn(),
        catalog: s.catalog,
        created_at: format_timestamp(s.created_at),
        created_by: &s.created_by,
        engagement_id: &s.engagement_id,
        payload: &s.payload,
        resource_id: &s.resource_id,
        resource_snapshot_template_name: &s.template,
        resource_type: &s.resource_type,
        revision: s.revision,
        target_member_accounts: &s.target_accounts,
    })
}

pub async fn list_snapshots(r: Request) -> ApiResult {
    let input: ListResourceSnapshotsRequest = r.parse()?;
    let (engagement, _) = load_as_member(&r.state, &r.caller.partner, r.catalog, &input.engagement_identifier).await?;
    let items: Vec<ResourceSnapshotSummary> = crate::app::snapshots::of_engagement(&r.state, r.catalog, &engagement.id)
        .await?
        .into_iter()
        .filter(|s| s.visible_to(&r.caller.partner.account_id))
        .filter(|s| {
            matches(&input.created_by, &s.created_by)
                && matches(&input.resource_identifier, &s.resource_id)
                && matches(&input.resource_snapshot_template_identifier, &s.template)
                && matches(&input.resource_type, &s.resource_type)
        })
        .map(|s| ResourceSnapshotSummary {
            arn: s.arn(),
            created_by: s.created_by,
            resource_id: s.resource_id,
            resource_snapshot_template_name: s.template,
            resource_type: s.resource_type,
            revision: s.revision,
        })
        .collect();
    in_memory_page(&r, items, "ResourceSnapshotSummaries")
}

pub async fn create_job(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new resource snapshot jobs").await?;
    if let Some(previous) = replayed(&r).await? {
        return Ok(Output::Json(previous));
    }
    let key: SnapshotKey = r.parse()?;
    let t = template_of(&key)?;
    let errors = check_tags(&[], &key.tags, "Tags");
    if !errors.is_empty() {
        return Err(ApiError::request_validation(errors));
    }
    let (engagement, _) = load_as_member(&r.state, &r.caller.partner, r.catalog, &key.engagement_identifier).await?;
    let o = load(&r, &key.resource_identifier).await?;
    let jobs = r.tenant().snapshot_jobs().await?;
    if let Some(j) = existing_job(&jobs, &engagement.id, &o.id, t.name) {
        return Err(ApiError::Conflict(format!(
            "Resource snapshot job {} already keeps the {} snapshot of {} in engagement {}",
            j.id, t.name, o.id, engagement.id
        )));
    }
    let job = new_job(&r, &engagement.id, &o, t, JobStatus::Stopped, key.tags).await?;
    let now = job.created_at;
    let response = serde_json::to_value(CreateResourceSnapshotJobResponse { arn: job.arn(), id: job.id.clone() })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let association = Association {
        catalog: r.catalog,
        engagement_id: engagement.id,
        resource_type: t.resource_type.to_string(),
        resource_id: o.id,
        created_by: r.caller.partner.account_id.clone(),
        partner_id: r.caller.partner.id.clone(),
        created_at: now,
    };
    let batch = WriteBatch { insert_snapshot_jobs: vec![job], associate_resources: vec![association], ..Default::default() };
    commit_claiming(&r, batch, response, "The engagement or the opportunity changed meanwhile; retry.").await
}

/// A new job of the caller's over `o` in an engagement, recording the role its selling system
/// settings name.
async fn new_job(
    r: &Request,
    engagement_id: &str,
    o: &Opportunity,
    t: &Template,
    status: JobStatus,
    tags: Vec<Tag>,
) -> Result<SnapshotJob, ApiError> {
    Ok(SnapshotJob {
        catalog: o.catalog,
        id: crate::referrals::new_id("job-", 13),
        partner_id: o.partner_id.clone(),
        account_id: r.caller.partner.account_id.clone(),
        engagement_id: engagement_id.to_string(),
        resource_type: t.resource_type.to_string(),
        resource_id: o.id.clone(),
        template: t.name.to_string(),
        status,
        created_at: r.state.now(),
        last_success: None,
        last_failure: None,
        role_arn: job_role(&r.state, &r.caller.partner.id, o.catalog).await?,
        tags,
        version: 1,
    })
}

/// Starts `job` into `batch`: it takes the snapshot its template sees now (a new revision only
/// when something changed since the last one).
async fn start_into(r: &Request, batch: &mut WriteBatch, mut job: SnapshotJob) -> Result<(), ApiError> {
    job.start().map_err(job_refused)?;
    let (_, members) = load_as_member(&r.state, &r.caller.partner, job.catalog, &job.engagement_id).await?;
    let o = load(r, &job.resource_id).await?;
    run(&r.state, batch, &mut job, &o, &members, r.state.now()).await?;
    batch.update_snapshot_jobs.push(job);
    Ok(())
}

/// The running `OpportunitySummaryView` job, and its first snapshot, with which
/// StartEngagementFromOpportunityTask and the referral-accepting task share `o` into an
/// engagement with `members` (the engagement and its new members may not be stored yet).
pub struct Shared {
    pub job_id: String,
    writes: WriteBatch,
}

impl Shared {
    /// Adds the job, its snapshot, the association and the snapshot's event to `batch`; the
    /// caller chooses where in its events they go (digest §3.6 orders them).
    pub fn add_to(self, batch: &mut WriteBatch) {
        let w = self.writes;
        batch.insert_snapshot_jobs.extend(w.insert_snapshot_jobs);
        batch.insert_snapshots.extend(w.insert_snapshots);
        batch.associate_resources.extend(w.associate_resources);
        batch.events.extend(w.events);
    }
}

pub async fn following_job(r: &Request, engagement_id: &str, o: &Opportunity, members: &[Member]) -> Result<Shared, ApiError> {
    let t = template(SUMMARY_TEMPLATE, OPPORTUNITY).map_err(|e| ApiError::Internal(e.message))?;
    let mut job = new_job(r, engagement_id, o, t, JobStatus::Running, Vec::new()).await?;
    let mut writes = WriteBatch::default();
    let now = job.created_at;
    run(&r.state, &mut writes, &mut job, o, members, now).await?;
    let job_id = job.id.clone();
    writes.insert_snapshot_jobs.push(job);
    Ok(Shared { job_id, writes })
}

pub async fn start_job(r: Request) -> ApiResult {
    let input: JobIdentified = r.parse()?;
    let job = load_job(&r.state, &r.caller.partner, r.catalog, &input.resource_snapshot_job_identifier).await?;
    let mut batch = WriteBatch::default();
    start_into(&r, &mut batch, job).await?;
    r.commit(batch).await.map_err(stale)?;
    r.respond(&NoMembers {})
}

pub async fn stop_job(r: Request) -> ApiResult {
    let input: JobIdentified = r.parse()?;
    let mut job = load_job(&r.state, &r.caller.partner, r.catalog, &input.resource_snapshot_job_identifier).await?;
    job.stop().map_err(job_refused)?;
    r.commit(WriteBatch { update_snapshot_jobs: vec![job], ..Default::default() }).await.map_err(stale)?;
    r.respond(&NoMembers {})
}

pub async fn delete_job(r: Request) -> ApiResult {
    let input: JobIdentified = r.parse()?;
    let job = load_job(&r.state, &r.caller.partner, r.catalog, &input.resource_snapshot_job_identifier).await?;
    job.check_delete().map_err(job_refused)?;
    r.commit(WriteBatch { delete_snapshot_jobs: vec![job], ..Default::default() }).await.map_err(stale)?;
    r.respond(&NoMembers {})
}

pub async fn get_job(r: Request) -> ApiResult {
    let input: JobIdentified = r.parse()?;
    let j = load_job(&r.state, &r.caller.partner, r.catalog, &input.resource_snapshot_job_identifier).await?;
    r.respond(&GetResourceSnapshotJobResponse {
        arn: j.arn(),
        catalog: j.catalog,
        created_at: format_timestamp(j.created_at),
        engagement_id: &j.engagement_id,
        id: &j.id,
        last_failure: j.last_failure.as_deref(),
        last_successful_execution_date: j.last_success.map(format_timestamp),
        resource_arn: opportunity_arn(&j.account_id, j.catalog, &j.resource_id),
        resource_id: &j.resource_id,
        resource_snapshot_template_name: &j.template,
        resource_type: &j.resource_type,
        status: j.status,
    })
}

pub async fn list_jobs(r: Request) -> ApiResult {
    let input: ListResourceSnapshotJobsRequest = r.parse()?;
    let mut jobs = r.tenant().snapshot_jobs().await?;
    jobs.retain(|j| {
        wanted(input.engagement_identifier.as_slice(), &j.engagement_id) && input.status.is_none_or(|s| s == j.status)
    });
    if Sort::descending(&input.sort) {
        jobs.reverse();
    }
    let items: Vec<ResourceSnapshotJobSummary> = jobs
        .into_iter()
        .map(|j| ResourceSnapshotJobSummary { arn: j.arn(), engagement_id: j.engagement_id, id: j.id, status: j.status })
        .collect();
    in_memory_page(&r, items, "ResourceSnapshotJobSummaries")
}

pub async fn get_settings(r: Request) -> ApiResult {
    let role = job_role(&r.state, &r.caller.partner.id, r.catalog).await?;
    r.respond(&SellingSystemSettings { catalog: r.catalog, resource_snapshot_job_role_arn: role })
}

pub async fn put_settings(r: Request) -> ApiResult {
    let input: PutSellingSystemSettingsRequest = r.parse()?;
    let role = input
        .resource_snapshot_job_role_identifier
        .map(|identifier| job_role_arn(&identifier, &r.caller.partner.account_id))
        .transpose()
        .map_err(|e| ApiError::request_validation(vec![e]))?;
    let mut batch = WriteBatch::default();
    put_job_role(&mut batch, &r.caller.partner.id, r.catalog, role.as_deref());
    r.commit(batch).await?;
    r.respond(&SellingSystemSettings { catalog: r.catalog, resource_snapshot_job_role_arn: role })
}

pub async fn list_associations(r: Request) -> ApiResult {
    let input: ListEngagementResourceAssociationsRequest = r.parse()?;
    let items: Vec<EngagementResourceAssociationSummary> = r
        .tenant()
        .engagement_resources()
        .await?
        .into_iter()
        .filter(|a| {
            matches(&input.created_by, &a.created_by)
                && wanted(input.engagement_identifier.as_slice(), &a.engagement_id)
                && matches(&input.resource_identifier, &a.resource_id)
                && matches(&input.resource_type, &a.resource_type)
        })
        .map(|a| EngagementResourceAssociationSummary {
            catalog: a.catalog,
            created_by: a.created_by,
            engagement_id: a.engagement_id,
            resource_id: a.resource_id,
            resource_type: a.resource_type,
        })
        .collect();
    in_memory_page(&r, items, "EngagementResourceAssociationSummaries")
}
