//! Invitations between partners (issue 18), behind the same operations as the operator's
//! referrals (`invitations.rs` asks here first): the sender and the receiver both read one,
//! anyone else gets not found (USE-4); only the receiver answers it; accepting makes it a member
//! of the engagement; rejected and expired invitations stay readable with that status.

use serde::Serialize;
use serde_json::{json, Value};

use ace_domain::engagement::{
    invitation_arn, member_added_detail, opportunity_document_of_invitation, EngagementError, Member, PartnerInvitation,
};
use ace_domain::events::OutboxEvent;
use ace_domain::ids::opportunity_id;
use ace_domain::model::{FieldError, FieldErrorCode, Model};
use ace_domain::opportunity::{Opportunity, Origin};
use ace_domain::time::format_timestamp;
use ace_store::{BatchOutcome, IdempotencyKey, StoreError, WriteBatch};

use super::opportunities::replay;
use super::tasks::current_task;
use super::{ApiResult, Output, Request};
use crate::app::engagements::{invitation_events, member_events};
use crate::error::ApiError;

/// The invitation `id` names, if the caller sent or received it in the request's catalog.
pub async fn find(r: &Request, id: &str) -> Result<Option<PartnerInvitation>, ApiError> {
    Ok(r.tenant().partner_invitation(id).await?)
}

/// An engagement invitation as the Selling API shows it (the members its list and get share).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InvitationView {
    id: String,
    arn: String,
    catalog: &'static str,
    engagement_id: String,
    engagement_title: String,
    engagement_description: String,
    invitation_date: String,
    expiration_date: String,
    status: &'static str,
    payload_type: String,
    payload: Value,
    sender_aws_account_id: String,
    sender_company_name: String,
    participant_type: &'static str,
    receiver: ReceiverView,
    invitation_message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection_reason: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiverView {
    account: ReceiverAccount,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiverAccount {
    aws_account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias: Option<String>,
}

/// The invitation as the Selling API shows it to the caller.
pub async fn view(r: &Request, i: &PartnerInvitation) -> Result<Value, ApiError> {
    let engagement = crate::app::engagements::find(&r.state, i.catalog, &i.engagement_id).await?;
    let view = InvitationView {
        id: i.id.clone(),
        arn: invitation_arn(i.catalog, &i.id),
        catalog: i.catalog.as_str(),
        engagement_id: i.engagement_id.clone(),
        engagement_title: engagement.as_ref().map(|e| e.title.clone()).unwrap_or_default(),
        engagement_description: engagement.as_ref().map(|e| e.description.clone()).unwrap_or_default(),
        invitation_date: format_timestamp(i.invited_at),
        expiration_date: format_timestamp(i.expires_at),
        status: i.status_at(r.state.now()).as_str(),
        payload_type: i.payload_type.clone(),
        payload: i.payload.clone(),
        sender_aws_account_id: i.sender.account_id.clone(),
        sender_company_name: i.sender.company_name.clone(),
        participant_type: if i.sender.partner_id == r.caller.partner.id { "SENDER" } else { "RECEIVER" },
        receiver: ReceiverView {
            account: ReceiverAccount { aws_account_id: i.receiver.account_id.clone(), alias: i.receiver_alias.clone() },
        },
        invitation_message: i.message.clone(),
        rejection_reason: i.rejection_reason.clone(),
    };
    serde_json::to_value(view).map_err(|e| ApiError::Internal(format!("an invitation's view does not serialise: {e}")))
}

/// The invitations the caller sent (`sent`) or received.
pub async fn list_views(r: &Request, sent: bool) -> Result<Vec<Value>, ApiError> {
    let mut views = Vec::new();
    for i in r.tenant().invitations(sent).await? {
        views.push(view(r, &i).await?);
    }
    Ok(views)
}

pub async fn get(r: &Request, i: &PartnerInvitation) -> ApiResult {
    Ok(Output::Json(Model::get().project("GetEngagementInvitationResponse", &view(r, i).await?)))
}

fn receiver_only(r: &Request, i: &PartnerInvitation) -> Result<(), ApiError> {
    if i.receiver.partner_id == r.caller.partner.id {
        return Ok(());
    }
    Err(ApiError::business_validation(vec![FieldError::new(
        "Identifier",
        FieldErrorCode::ActionNotPermitted,
        format!("Identifier: invitation {} is answered by its receiver, account {}", i.id, i.receiver.account_id),
    )]))
}

fn refused(e: EngagementError) -> ApiError {
    ApiError::Conflict(e.to_string())
}

fn joins(i: &PartnerInvitation, now: ace_domain::time::Instant) -> Member {
    Member {
        catalog: i.catalog,
        engagement_id: i.engagement_id.clone(),
        account_id: i.receiver.account_id.clone(),
        partner_id: Some(i.receiver.partner_id.clone()),
        joined: now,
    }
}

async fn save(r: &Request, batch: WriteBatch) -> Result<BatchOutcome, ApiError> {
    r.commit(batch).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict("The invitation changed meanwhile; get it again.".into()),
        other => other.into(),
    })
}

/// What accepting publishes: `Engagement Invitation Accepted` to both parties, `Engagement
/// Member Added` to every partner member, the newcomer included.
async fn accepted_events(r: &Request, i: &PartnerInvitation, newcomer: &Member) -> Result<Vec<OutboxEvent>, ApiError> {
    let mut events = invitation_events(&r.state, i, "Engagement Invitation Accepted");
    let mut members = crate::app::engagements::members(&r.state, i.catalog, &i.engagement_id).await?;
    members.push(newcomer.clone());
    let detail = member_added_detail(i.catalog, &i.engagement_id, &i.receiver.account_id, &i.receiver.company_name);
    let resource = ace_domain::engagement::engagement_arn(i.catalog, &i.engagement_id);
    events.extend(member_events(&r.state, i.catalog, &members, "Engagement Member Added", &resource, &detail));
    Ok(events)
}

pub async fn accept(r: &Request, mut i: PartnerInvitation) -> ApiResult {
    receiver_only(r, &i)?;
    let now = r.state.now();
    i.accept(now).map_err(refused)?;
    let member = joins(&i, now);
    let events = accepted_events(r, &i, &member).await?;
    let batch =
        WriteBatch { update_partner_invitations: vec![i], add_engagement_members: vec![member], events, ..Default::default() };
    save(r, batch).await?;
    Ok(Output::Empty)
}

pub async fn reject(r: &Request, mut i: PartnerInvitation, reason: Option<String>) -> ApiResult {
    receiver_only(r, &i)?;
    i.reject(reason, r.state.now()).map_err(refused)?;
    let events = invitation_events(&r.state, &i, "Engagement Invitation Rejected");
    save(r, WriteBatch { update_partner_invitations: vec![i], events, ..Default::default() }).await?;
    Ok(Output::Empty)
}

/// Accepts the invitation (if still pending) and makes the receiver's opportunity from its
/// payload's customer and project, once.
pub async fn start_by_accepting(
    r: &Request,
    mut i: PartnerInvitation,
    key: IdempotencyKey,
    hash: String,
    task_kind: &str,
) -> ApiResult {
    receiver_only(r, &i)?;
    let now = r.state.now();
    let mut batch = WriteBatch::default();
    if i.status_at(now) != ace_domain::engagement::InvitationStatus::Accepted {
        i.accept(now).map_err(refused)?;
        let member = joins(&i, now);
        batch.events = accepted_events(r, &i, &member).await?;
        batch.add_engagement_members.push(member);
    }
    if i.opportunity_id.is_some() {
        return Err(ApiError::Conflict(format!("invitation {} was already turned into an opportunity", i.id)));
    }
    let number = r.state.next_opportunity_number().await?;
    let opportunity = Opportunity::new(
        i.catalog,
        opportunity_id(number),
        r.caller.partner.id.clone(),
        opportunity_document_of_invitation(&i.payload),
        Origin::PartnerReferral,
        now,
    );
    i.opportunity_id = Some(opportunity.id.clone());
    let summary = super::tasks::opportunity_task(
        r,
        &mut batch,
        (key, &hash),
        task_kind,
        opportunity,
        json!({"EngagementInvitationId": i.id}),
    );
    batch.update_partner_invitations.push(i);
    match save(r, batch).await? {
        BatchOutcome::Committed => Ok(Output::Json(summary)),
        BatchOutcome::Replayed(existing) => current_task(r, &replay(&existing, &hash)?).await,
    }
}
