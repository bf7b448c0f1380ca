//! Invitations between partners (issue 18), behind the same operations as the operator's
//! referrals (`invitations.rs` asks here first): the sender and the receiver both read one,
//! anyone else gets not found (USE-4); only the receiver answers it; accepting makes it a member
//! of the engagement; rejected and expired invitations stay readable with that status.

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

/// The invitation as the Selling API shows it to the caller.
pub async fn view(r: &Request, i: &PartnerInvitation) -> Result<Value, ApiError> {
    let engagement = crate::app::engagements::find(&r.state, i.catalog, &i.engagement_id).await?;
    let participant = if i.sender.partner_id == r.caller.partner.id { "SENDER" } else { "RECEIVER" };
    let mut receiver = json!({"AwsAccountId": i.receiver.account_id});
    if let Some(alias) = &i.receiver_alias {
        receiver["Alias"] = json!(alias);
    }
    let mut v = json!({
        "Id": i.id, "Arn": invitation_arn(i.catalog, &i.id), "Catalog": i.catalog.as_str(), "EngagementId": i.engagement_id,
        "EngagementTitle": engagement.as_ref().map(|e| e.title.clone()).unwrap_or_default(),
        "EngagementDescription": engagement.as_ref().map(|e| e.description.clone()).unwrap_or_default(),
        "InvitationDate": format_timestamp(i.invited_at), "ExpirationDate": format_timestamp(i.expires_at),
        "Status": i.status_at(r.state.now()).as_str(), "PayloadType": i.payload_type, "Payload": i.payload,
        "SenderAwsAccountId": i.sender.account_id, "SenderCompanyName": i.sender.company_name,
        "ParticipantType": participant, "Receiver": {"Account": receiver}, "InvitationMessage": i.message,
    });
    if let Some(reason) = &i.rejection_reason {
        v["RejectionReason"] = json!(reason);
    }
    Ok(v)
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
