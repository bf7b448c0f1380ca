//! StartEngagementFromOpportunityTask and its list. The steps run inline and the task is
//! recorded COMPLETE (or FAILED with a ReasonCode), as production often answers (digest §3.4).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use ace_domain::engagement::{project_context_of, title_of, ContextType, Engagement, Member, OPERATOR_ACCOUNT};
use ace_domain::ids::{base36, task_arn};
use ace_domain::model::FieldErrorCode;
use ace_domain::opportunity as rules;
use ace_domain::opportunity::Opportunity;
use ace_domain::time::format_timestamp;
use ace_store::{BatchOutcome, IdempotencyKey, IdempotencyRecord, TaskRecord, WriteBatch};

use super::opportunities::{event, idempotency_key, load, replay, request_hash};
use super::{in_memory_page, wanted, ApiResult, Output, Request, Sort};
use crate::error::ApiError;

const TASK_KIND: &str = "engagement-from-opportunity-task";

fn new_id(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", base36(&crate::crypto::random_bytes(len), len))
}

/// `StartEngagementFromOpportunityTask`'s summary, as stored with the task and answered.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FromOpportunitySummary {
    task_id: String,
    task_arn: String,
    start_time: String,
    opportunity_id: String,
    task_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    engagement_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    engagement_invitation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_snapshot_job_id: Option<String>,
}

pub async fn start_from_opportunity(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new opportunities and submissions").await?;
    let key = idempotency_key(&r);
    let hash = request_hash(&r.input);
    if let Some(existing) = r.claimed(&key).await? {
        return current_task(&r, &replay(&existing, &hash)?).await;
    }
    let input: StartEngagementFromOpportunityTaskRequest = r.parse()?;
    let id = input.identifier;
    let current = load(&r, &id).await?;
    let now = r.state.now();
    let task_id = new_id("task-", 13);
    let mut summary = FromOpportunitySummary {
        task_arn: task_arn(r.catalog, TASK_KIND, &task_id),
        task_id: task_id.clone(),
        start_time: format_timestamp(now),
        opportunity_id: id.clone(),
        task_status: "COMPLETE",
        reason_code: None,
        message: None,
        engagement_id: None,
        engagement_invitation_id: None,
        resource_snapshot_job_id: None,
    };
    let mut batch = WriteBatch::default();
    match rules::check_submission(&current) {
        Err(fields) if fields.iter().any(|f| f.code == FieldErrorCode::InvalidResourceState) => {
            // Found up front: answered synchronously.
            return Err(ApiError::business_validation(fields));
        }
        Err(fields) => {
            let reasons: Vec<String> = fields.iter().map(|f| f.message.clone()).collect();
            summary.task_status = "FAILED";
            summary.reason_code = Some("OpportunityValidationFailed");
            summary.message = Some(reasons.join("; "));
        }
        Ok(next) => {
            // SUB-3 … SUB-6 refusals are found up front: answered synchronously.
            let findings = crate::app::submission::screen(&r.state, &current).await?;
            let submission = &input.aws_submission;
            let mut updated = current.submitted(next, submission.involvement_type.clone(), submission.visibility.clone(), now);
            crate::app::submission::record_findings(&r.state, &mut updated, findings, now).await?;
            // The engagement the opportunity is shared in, with the operator's side as its
            // other member (issue 18): the id answered here reads back with GetEngagement.
            let engagement = Engagement::new(
                r.catalog,
                new_id("eng-", 14),
                title_of(updated.document.get("Project").and_then(|p| p.get("Title")).and_then(Value::as_str).unwrap_or(&id)),
                String::new(),
                vec![(ContextType::CustomerProject, project_context_of(&updated.document))],
                &r.caller.partner.account_id,
                now,
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?;
            summary.engagement_id = Some(engagement.id.clone());
            let members: Vec<Member> =
                [(r.caller.partner.account_id.clone(), Some(r.caller.partner.id.clone())), (OPERATOR_ACCOUNT.to_string(), None)]
                    .into_iter()
                    .map(|(account, partner)| Member {
                        catalog: r.catalog,
                        engagement_id: engagement.id.clone(),
                        account_id: account,
                        partner_id: partner,
                        joined: now,
                    })
                    .collect();
            // Issue 19: the opportunity reaches the operator's side as a snapshot kept current
            // by a running job; both ids read back.
            let shared = super::snapshots::following_job(&r, &engagement.id, &updated, &members).await?;
            batch.add_engagement_members.extend(members);
            batch.insert_engagements.push(engagement);
            summary.engagement_invitation_id = Some(new_id("engi-", 13));
            summary.resource_snapshot_job_id = Some(shared.job_id.clone());
            batch.events.push(event(
                &r.state,
                "Opportunity Updated",
                &updated,
                &r.caller.partner.account_id,
                updated.last_modified,
            ));
            shared.add_to(&mut batch);
            batch.update_opportunities.push((updated, current.last_modified.timestamp_millis()));
        }
    }
    let summary = serde_json::to_value(summary)
        .map_err(|e| ApiError::Internal(format!("{}: the task summary does not serialise: {e}", r.operation.name())))?;
    let task = TaskRecord {
        catalog: r.catalog,
        id: task_id.clone(),
        partner_id: r.caller.partner.id.clone(),
        opportunity_id: id,
        start_ms: now.timestamp_millis(),
        summary: summary.clone(),
    };
    batch.put_tasks.push(task);
    batch.idempotency = Some(IdempotencyRecord {
        key,
        request_hash: hash.clone(),
        response: json!({"TaskId": task_id}),
        created_ms: now.timestamp_millis(),
    });
    match r.commit(batch).await {
        Ok(BatchOutcome::Committed) => Ok(Output::Json(summary)),
        Ok(BatchOutcome::Replayed(existing)) => current_task(&r, &replay(&existing, &hash)?).await,
        Err(ace_store::StoreError::Conflict(_)) => {
            Err(ApiError::Conflict("The opportunity was modified while the task ran. Retry with the same ClientToken.".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// A task that made `opportunity`, completed at once: its summary (`TaskId`, `TaskArn`,
/// `StartTime`, `TaskStatus`, `OpportunityId` and the task kind's own `members`) goes into the
/// batch with the task record, the ClientToken's claim, the opportunity and its `Opportunity
/// Created` event, so they commit together. Returns the summary.
pub fn opportunity_task(
    r: &Request,
    batch: &mut WriteBatch,
    claim: (IdempotencyKey, &str),
    kind: &str,
    opportunity: Opportunity,
    members: Value,
) -> Value {
    let now = r.state.now();
    let task_id = new_id("task-", 13);
    let mut summary = json!({
        "TaskId": task_id, "TaskArn": task_arn(r.catalog, kind, &task_id), "StartTime": format_timestamp(now),
        "TaskStatus": "COMPLETE", "OpportunityId": opportunity.id,
    });
    if let (Some(summary), Some(members)) = (summary.as_object_mut(), members.as_object()) {
        summary.extend(members.clone());
    }
    let (key, hash) = claim;
    batch.idempotency = Some(IdempotencyRecord {
        key,
        request_hash: hash.to_string(),
        response: json!({"TaskId": task_id}),
        created_ms: now.timestamp_millis(),
    });
    batch.events.push(event(&r.state, "Opportunity Created", &opportunity, &r.caller.partner.account_id, now));
    batch.put_tasks.push(TaskRecord {
        catalog: r.catalog,
        id: task_id,
        partner_id: r.caller.partner.id.clone(),
        opportunity_id: opportunity.id.clone(),
        start_ms: now.timestamp_millis(),
        summary: summary.clone(),
    });
    batch.insert_opportunities.push(opportunity);
    summary
}

/// Whether a stored task summary is of `kind` (every task kind shares one table; the kind is a
/// segment of the task's ARN).
pub fn is_kind(summary: &Value, kind: &str) -> bool {
    summary["TaskArn"].as_str().is_some_and(|a| a.contains(&format!("/{kind}/")))
}

/// The caller's tasks of `kind` in the request's catalog, oldest first.
pub async fn of_kind(r: &Request, kind: &str) -> Result<Vec<TaskRecord>, ApiError> {
    let tasks = r.tenant().tasks().await?;
    Ok(tasks.into_iter().filter(|t| is_kind(&t.summary, kind)).collect())
}

/// A repeated Start with the same ClientToken answers the task's current status (digest §1.10).
pub async fn current_task(r: &Request, response: &Value) -> ApiResult {
    let task_id = response["TaskId"].as_str().unwrap_or_default();
    let task = r
        .tenant()
        .task(task_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("idempotency record names missing task {task_id}")))?;
    Ok(Output::Json(task.summary))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartEngagementFromOpportunityTaskRequest {
    identifier: String,
    aws_submission: AwsSubmission,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AwsSubmission {
    involvement_type: String,
    visibility: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEngagementFromOpportunityTasksRequest {
    #[serde(default)]
    task_identifier: Vec<String>,
    #[serde(default)]
    opportunity_identifier: Vec<String>,
    #[serde(default)]
    engagement_identifier: Vec<String>,
    #[serde(default)]
    task_status: Vec<String>,
    sort: Option<Sort>,
}

pub async fn list_from_opportunity(r: Request) -> ApiResult {
    let input: ListEngagementFromOpportunityTasksRequest = r.parse()?;
    let mut tasks: Vec<Value> = of_kind(&r, TASK_KIND)
        .await?
        .into_iter()
        .map(|t| t.summary)
        .filter(|s| {
            wanted(&input.task_identifier, s["TaskId"].as_str().unwrap_or(""))
                && wanted(&input.opportunity_identifier, s["OpportunityId"].as_str().unwrap_or(""))
                && wanted(&input.engagement_identifier, s["EngagementId"].as_str().unwrap_or(""))
                && wanted(&input.task_status, s["TaskStatus"].as_str().unwrap_or(""))
        })
        .collect();
    if Sort::descending(&input.sort) {
        tasks.reverse();
    }
    in_memory_page(&r, tasks, "TaskSummaries")
}
