//! Resource snapshots and snapshot jobs (issue 19), as every edge uses them. The decisions
//! (templates, revisions, who sees what, job states) are `ace_domain::snapshot`'s; this loads
//! what they need and puts the outcome into the caller's batch.
//!
//! **Jobs follow changes in the change's own transaction.** Every batch that changes an
//! opportunity passes through [`follow`] before it commits (the partner API's
//! `Request::commit`, the operator's review): each running job of that opportunity adds the new
//! revision its template sees, or nothing when its template sees no change. So a committed
//! change has exactly one revision per running job — a crash cannot lose one or take one twice,
//! on any number of nodes — and a stopped job takes none. The opportunity's optimistic lock
//! orders its changes; the snapshot key orders the revisions; the job's version orders the job.

use ace_domain::engagement::{Member, OPERATOR_ACCOUNT};
use ace_domain::events::OutboxEvent;
use ace_domain::ids::Catalog;
use ace_domain::opportunity::Opportunity;
use ace_domain::partner::PartnerProfile;
use ace_domain::snapshot::{diff, next_revision, template, Association, Change, Snapshot, SnapshotJob, Template};
use ace_domain::time::Instant;
use ace_store::{StoreResult, WriteBatch};
use serde_json::json;

use super::engagements::load_as_member;
use super::AppError;
use crate::AppState;

/// `GetSellingSystemSettings`/`PutSellingSystemSettings`: a partner's settings in one catalog.
fn settings_key(partner_id: &str, catalog: Catalog) -> String {
    format!("selling-system/{partner_id}/{catalog}")
}

/// The role a partner named for its snapshot jobs in `catalog`.
pub async fn job_role(state: &AppState, partner_id: &str, catalog: Catalog) -> Result<Option<String>, AppError> {
    let raw = state.store.get_setting(&settings_key(partner_id, catalog)).await?;
    Ok(raw.and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok()).and_then(|v| v["RoleArn"].as_str().map(String::from)))
}

/// Records (or, with `None`, clears) the role, in the caller's batch.
pub fn put_job_role(batch: &mut WriteBatch, partner_id: &str, catalog: Catalog, role_arn: Option<&str>) {
    batch.settings.push((settings_key(partner_id, catalog), json!({ "RoleArn": role_arn }).to_string()));
}

/// The latest snapshot of a key, counting one this batch already takes.
async fn latest(
    state: &AppState,
    batch: &WriteBatch,
    catalog: Catalog,
    engagement_id: &str,
    resource_id: &str,
    template: &str,
) -> StoreResult<Option<Snapshot>> {
    let pending = batch
        .insert_snapshots
        .iter()
        .filter(|s| {
            s.catalog == catalog && s.engagement_id == engagement_id && s.resource_id == resource_id && s.template == template
        })
        .max_by_key(|s| s.revision);
    match pending {
        Some(s) => Ok(Some(s.clone())),
        None => state.store.get_resource_snapshot(catalog, engagement_id, resource_id, template, None).await,
    }
}

/// Takes a snapshot of `o` (owned by `owner_account`) into the batch, with its event and (the
/// first time) the engagement–resource association. Answers the snapshot now current — the new
/// revision, or the latest when nothing changed — or `None` when the template has nothing to
/// show yet.
#[allow(clippy::too_many_arguments)]
pub async fn take(
    state: &AppState,
    batch: &mut WriteBatch,
    t: &'static Template,
    o: &Opportunity,
    owner_account: &str,
    engagement_id: &str,
    members: &[Member],
    job_id: Option<&str>,
    now: Instant,
) -> StoreResult<Option<Snapshot>> {
    let Some(payload) = t.payload(o) else {
        return Ok(None);
    };
    let mut candidate = Snapshot {
        catalog: o.catalog,
        engagement_id: engagement_id.to_string(),
        resource_type: t.resource_type.to_string(),
        resource_id: o.id.clone(),
        template: t.name.to_string(),
        revision: 0,
        created_by: owner_account.to_string(),
        partner_id: o.partner_id.clone(),
        created_at: now,
        target_accounts: t.targets(owner_account, members),
        payload,
        job_id: job_id.map(String::from),
    };
    let latest = latest(state, batch, o.catalog, engagement_id, &o.id, t.name).await?;
    let Some(revision) = next_revision(latest.as_ref(), &candidate) else {
        return Ok(latest);
    };
    candidate.revision = revision;
    if revision == 1 {
        batch.associate_resources.push(Association {
            catalog: o.catalog,
            engagement_id: engagement_id.to_string(),
            resource_type: t.resource_type.to_string(),
            resource_id: o.id.clone(),
            created_by: owner_account.to_string(),
            partner_id: o.partner_id.clone(),
            created_at: now,
        });
    }
    batch.events.extend(snapshot_events(state, &candidate, members));
    batch.insert_snapshots.push(candidate.clone());
    Ok(Some(candidate))
}

/// `Engagement Resource Snapshot Created` to each partner the snapshot is shared with
/// (digest §3.6).
fn snapshot_events(state: &AppState, s: &Snapshot, members: &[Member]) -> Vec<OutboxEvent> {
    let detail = json!({
        "catalog": s.catalog.as_str(),
        "resourceSnapshot": {
            "arn": s.arn(), "engagementId": s.engagement_id, "resourceType": s.resource_type, "resourceId": s.resource_id,
            "createdBy": s.created_by, "targetMemberAccounts": s.target_accounts, "resourceSnapshotTemplateName": s.template,
        },
    });
    let audience: Vec<Member> = members.iter().filter(|m| s.target_accounts.contains(&m.account_id)).cloned().collect();
    super::engagements::member_events(state, s.catalog, &audience, "Engagement Resource Snapshot Created", &s.arn(), &detail)
}

/// Issue 19: before a batch commits, every running job of each opportunity it changes takes
/// its revision into the same batch (see the module's note).
pub async fn follow(state: &AppState, batch: &mut WriteBatch) -> StoreResult<()> {
    if batch.update_opportunities.is_empty() {
        return Ok(());
    }
    let changed: Vec<Opportunity> = batch.update_opportunities.iter().map(|(o, _)| o.clone()).collect();
    for o in changed {
        for mut job in state.store.running_snapshot_jobs(o.catalog, &o.id).await? {
            if batch.update_snapshot_jobs.iter().any(|j| j.id == job.id && j.catalog == job.catalog) {
                continue; // this batch already decided about the job (it started or stopped it)
            }
            let members = state.store.list_engagement_members(o.catalog, &job.engagement_id).await?;
            run(state, batch, &mut job, &o, &members, state.now()).await?;
            batch.update_snapshot_jobs.push(job);
        }
    }
    Ok(())
}

/// One run of `job` over `o` into `batch`: the snapshot its template sees now — a new revision
/// only when something changed — recorded on the job (the caller puts the job in the batch). A
/// job whose owner left the engagement stops instead (`SnapshotJob::may_run_among`).
pub async fn run(
    state: &AppState,
    batch: &mut WriteBatch,
    job: &mut SnapshotJob,
    o: &Opportunity,
    members: &[Member],
    now: Instant,
) -> StoreResult<()> {
    if !job.may_run_among(members) {
        return Ok(());
    }
    let t = template(&job.template, &job.resource_type).map_err(|e| ace_store::StoreError::Other(e.message))?;
    let (account, engagement, id) = (job.account_id.clone(), job.engagement_id.clone(), job.id.clone());
    let took = take(state, batch, t, o, &account, &engagement, members, Some(&id), now).await?.is_some();
    job.ran(took, now);
    Ok(())
}

/// A snapshot `partner` may read: it is a member of the engagement and the snapshot is its own
/// or shared with it (USE-4); otherwise it does not exist.
pub async fn load_visible(
    state: &AppState,
    partner: &PartnerProfile,
    catalog: Catalog,
    engagement_id: &str,
    resource_id: &str,
    template: &str,
    revision: Option<i64>,
) -> Result<Snapshot, AppError> {
    load_as_member(state, partner, catalog, engagement_id).await?;
    let found = state.store.get_resource_snapshot(catalog, engagement_id, resource_id, template, revision).await?;
    match found {
        Some(s) if s.visible_to(&partner.account_id) => Ok(s),
        _ => Err(AppError::NotFound(format!(
            "No {template} snapshot{} of {resource_id} in engagement {engagement_id} was found in catalog {catalog}",
            revision.map(|n| format!(" revision {n}")).unwrap_or_default()
        ))),
    }
}

/// Every snapshot of engagement `id`, oldest first (the caller filters what its reader may see).
pub async fn of_engagement(state: &AppState, catalog: Catalog, id: &str) -> Result<Vec<Snapshot>, AppError> {
    Ok(state.store.list_resource_snapshots(catalog, id).await?)
}

/// A job of `partner` (another partner's does not exist for it).
pub async fn load_job(state: &AppState, partner: &PartnerProfile, catalog: Catalog, id: &str) -> Result<SnapshotJob, AppError> {
    match state.store.get_snapshot_job(catalog, id).await? {
        Some(j) if j.partner_id == partner.id => Ok(j),
        _ => Err(AppError::NotFound(format!("Resource snapshot job {id} was not found in catalog {catalog}"))),
    }
}

/// One revision as the operator reads it, with what changed since the revision before it.
#[derive(Debug, serde::Serialize)]
pub struct RevisionView {
    pub arn: String,
    pub resource_type: String,
    pub resource_id: String,
    pub template: String,
    pub revision: i64,
    pub created_by: String,
    pub created_at: String,
    pub target_accounts: Vec<String>,
    pub job_id: Option<String>,
    pub payload: serde_json::Value,
    /// Against the previous revision of the same resource and template (empty for the first).
    pub changes: Vec<Change>,
}

/// The snapshots of an engagement the operator's side sees — those shared with it — by
/// resource, template and revision, each beside the one before it; with the engagement's
/// catalog, which may be left to find (engagement ids are random across catalogs).
pub async fn operator_history(
    state: &AppState,
    catalog: Option<Catalog>,
    engagement_id: &str,
) -> Result<(Catalog, Vec<RevisionView>), AppError> {
    let mut found = None;
    for c in catalog.map_or(vec![Catalog::Aws, Catalog::Sandbox], |c| vec![c]) {
        if state.store.get_engagement(c, engagement_id).await?.is_some() {
            found = Some(c);
            break;
        }
    }
    let Some(catalog) = found else {
        return Err(super::engagements::not_found(catalog.unwrap_or(Catalog::Aws), engagement_id));
    };
    let all = state.store.list_resource_snapshots(catalog, engagement_id).await?;
    let shared: Vec<Snapshot> = all.into_iter().filter(|s| s.visible_to(OPERATOR_ACCOUNT)).collect();
    let mut out: Vec<RevisionView> = Vec::with_capacity(shared.len());
    for (i, s) in shared.iter().enumerate() {
        let previous =
            i.checked_sub(1).map(|p| &shared[p]).filter(|p| p.resource_id == s.resource_id && p.template == s.template);
        out.push(RevisionView {
            arn: s.arn(),
            resource_type: s.resource_type.clone(),
            resource_id: s.resource_id.clone(),
            template: s.template.clone(),
            revision: s.revision,
            created_by: s.created_by.clone(),
            created_at: ace_domain::time::format_timestamp(s.created_at),
            target_accounts: s.target_accounts.clone(),
            job_id: s.job_id.clone(),
            payload: s.payload.clone(),
            changes: previous.map(|p| diff(&p.payload, &s.payload)).unwrap_or_default(),
        });
    }
    Ok((catalog, out))
}
