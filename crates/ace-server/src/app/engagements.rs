//! Engagements (issue 18), as every edge reads them: only members see an engagement, its
//! contexts and its members (USE-4); to anyone else it does not exist. The decisions on what a
//! member may change are `ace_domain::engagement`'s.

use ace_domain::audit::AuditEntry;
use ace_domain::engagement::{
    engagement_id, referral_context, referral_context_has_contact, referral_title, Context, Engagement, EngagementGroup, Member,
    OPERATOR_ACCOUNT,
};
use ace_domain::ids::Catalog;
use ace_domain::partner::PartnerProfile;
use ace_domain::referral::Referral;
use ace_domain::time::format_timestamp;
use ace_store::WriteBatch;
use serde_json::json;

use super::AppError;
use crate::AppState;

/// The operator's side as a member shows it.
pub const OPERATOR_COMPANY: &str = "Amazon Web Services";
pub const OPERATOR_WEBSITE: &str = "https://aws.amazon.com";

/// The not-found answer for an engagement, the same whether it does not exist or the caller is
/// no member of it.
pub fn not_found(catalog: Catalog, id: &str) -> AppError {
    AppError::NotFound(format!("Engagement {id} was not found in catalog {catalog}"))
}

/// The engagement `identifier` (an id or ARN) names, with its members, if `partner` is one of
/// them (USE-4).
pub async fn load_as_member(
    state: &AppState,
    partner: &PartnerProfile,
    catalog: Catalog,
    identifier: &str,
) -> Result<(Engagement, Vec<Member>), AppError> {
    let id = engagement_id(identifier);
    let Some(engagement) = state.store.get_engagement(catalog, id).await? else {
        return Err(not_found(catalog, id));
    };
    let members = state.store.list_engagement_members(catalog, id).await?;
    if !members.iter().any(|m| m.partner_id.as_deref() == Some(partner.id.as_str())) {
        return Err(not_found(catalog, id));
    }
    Ok((engagement, members))
}

/// Engagement `id` of `catalog`, if there is one (the caller decides who may see it).
pub async fn find(state: &AppState, catalog: Catalog, id: &str) -> Result<Option<Engagement>, AppError> {
    Ok(state.store.get_engagement(catalog, id).await?)
}

/// The members of engagement `id` (the caller has shown that it may see them).
pub async fn members(state: &AppState, catalog: Catalog, id: &str) -> Result<Vec<Member>, AppError> {
    Ok(state.store.list_engagement_members(catalog, id).await?)
}

/// A member as the Selling API shows it: its account, and the company behind it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberView {
    pub account_id: String,
    pub company_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
}

pub async fn member_views(state: &AppState, members: &[Member]) -> Result<Vec<MemberView>, AppError> {
    let mut views = Vec::with_capacity(members.len());
    for m in members {
        let view = match &m.partner_id {
            None if m.account_id == OPERATOR_ACCOUNT => MemberView {
                account_id: m.account_id.clone(),
                company_name: OPERATOR_COMPANY.into(),
                website_url: Some(OPERATOR_WEBSITE.into()),
            },
            None => MemberView { account_id: m.account_id.clone(), company_name: m.account_id.clone(), website_url: None },
            Some(partner_id) => {
                let name = state.store.get_partner(partner_id).await?.map(|p| p.name).unwrap_or_else(|| m.account_id.clone());
                MemberView { account_id: m.account_id.clone(), company_name: name, website_url: None }
            }
        };
        views.push(view);
    }
    Ok(views)
}

/// An engagement as its members read it.
pub struct EngagementView {
    pub title: String,
    pub contexts: Vec<Context>,
    /// The referral behind it when its context names a customer contact (REF-1: the read is
    /// audited).
    pub contact_of: Option<Referral>,
}

/// The engagement as members read it: a referral's title and context rendered from the sealed
/// referral (left out once its data is deleted, REM-2).
pub async fn view(state: &AppState, engagement: &Engagement) -> Result<EngagementView, AppError> {
    let referral = match &engagement.referral_id {
        Some(id) => state.store.get_referral(id).await?,
        None => None,
    };
    let mut contexts = Vec::with_capacity(engagement.contexts.len());
    for c in &engagement.contexts {
        if !c.payload.is_null() {
            contexts.push(c.clone());
        } else if let Some(payload) = referral.as_ref().and_then(referral_context) {
            contexts.push(Context { payload, ..c.clone() });
        }
    }
    let title = match &referral {
        Some(r) => referral_title(r),
        None => engagement.title.clone(),
    };
    Ok(EngagementView { title, contexts, contact_of: referral.filter(referral_context_has_contact) })
}

/// The partner an AWS account id names, if any.
pub async fn partner_by_account(state: &AppState, account_id: &str) -> Result<Option<PartnerProfile>, AppError> {
    Ok(state.store.get_partner_by_account(account_id).await?)
}

/// Where the engagement groups are kept: one setting, a JSON list.
const GROUPS_SETTING: &str = "engagements.groups";

pub async fn groups(state: &AppState) -> Result<Vec<EngagementGroup>, AppError> {
    match state.store.get_setting(GROUPS_SETTING).await? {
        Some(doc) => serde_json::from_str(&doc).map_err(|e| AppError::Store(ace_store::StoreError::Other(e.to_string()))),
        None => Ok(Vec::new()),
    }
}

pub async fn group(state: &AppState, id: &str) -> Result<Option<EngagementGroup>, AppError> {
    Ok(groups(state).await?.into_iter().find(|g| g.id == id))
}

/// What the operator gives to add a group (`ace engagement group add`).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub industries: Vec<String>,
    #[serde(default)]
    pub countries: Vec<String>,
}

/// Adds (or redefines) a group, with its audit entry, in one transaction.
pub async fn put_group(state: &AppState, actor: &str, input: GroupInput) -> Result<EngagementGroup, AppError> {
    let group = EngagementGroup::new(&input.id, &input.name, input.description, input.industries, input.countries, state.now())
        .map_err(AppError::Invalid)?;
    let mut all = groups(state).await?;
    all.retain(|g| g.id != group.id);
    all.push(group.clone());
    save_groups(state, actor, all, json!({"group": group.id, "change": "put"})).await?;
    Ok(group)
}

pub async fn remove_group(state: &AppState, actor: &str, id: &str) -> Result<(), AppError> {
    let mut all = groups(state).await?;
    let before = all.len();
    all.retain(|g| g.id != id);
    if all.len() == before {
        return Err(AppError::NotFound(format!("engagement group {id} does not exist")));
    }
    save_groups(state, actor, all, json!({"group": id, "change": "remove"})).await
}

async fn save_groups(
    state: &AppState,
    actor: &str,
    all: Vec<EngagementGroup>,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    let doc = serde_json::to_string(&all).map_err(|e| AppError::Store(ace_store::StoreError::Other(e.to_string())))?;
    let entry = AuditEntry::new(state.now(), actor, ace_domain::audit::action::OPERATOR, detail);
    state
        .store
        .commit(WriteBatch { settings: vec![(GROUPS_SETTING.into(), doc)], audit: vec![entry], ..Default::default() })
        .await?;
    Ok(())
}

/// An engagement as the operator sees it (`ace engagement show`): the operator's side is in
/// every engagement the program knows, so it reads them all.
pub async fn operator_view(state: &AppState, catalog: Catalog, id: &str) -> Result<serde_json::Value, AppError> {
    let engagement =
        state.store.get_engagement(catalog, engagement_id(id)).await?.ok_or_else(|| not_found(catalog, engagement_id(id)))?;
    let shown = view(state, &engagement).await?;
    let members = member_views(state, &state.store.list_engagement_members(catalog, &engagement.id).await?).await?;
    let invitations: Vec<serde_json::Value> = state
        .store
        .list_engagement_invitations(catalog, &engagement.id)
        .await?
        .iter()
        .map(|i| {
            json!({"id": i.id, "sender": i.sender.account_id, "receiver": i.receiver.account_id, "payload_type": i.payload_type,
                   "status": i.status_at(state.now()).as_str(), "invited": format_timestamp(i.invited_at)})
        })
        .collect();
    Ok(json!({
        "id": engagement.id, "catalog": catalog.as_str(), "title": shown.title, "description": engagement.description,
        "created": format_timestamp(engagement.created), "created_by": engagement.created_by,
        "modified": format_timestamp(engagement.modified), "referral": engagement.referral_id,
        "contexts": shown.contexts, "members": members, "invitations": invitations,
    }))
}

/// The engagements of the program (or of one partner), newest last, as the operator lists them.
pub async fn operator_list(state: &AppState, partner: Option<&str>) -> Result<Vec<serde_json::Value>, AppError> {
    let mut rows = Vec::new();
    for catalog in [Catalog::Aws, Catalog::Sandbox] {
        let listed = match partner {
            Some(p) => state.store.list_member_engagements(p, catalog).await?,
            None => state.store.list_engagements(catalog).await?,
        };
        for (e, members) in listed {
            let title = view(state, &e).await?.title;
            rows.push(json!({
                "id": e.id, "catalog": catalog.as_str(), "title": title, "created": format_timestamp(e.created),
                "created_by": e.created_by, "members": members,
                "context_types": e.context_types().iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            }));
        }
    }
    Ok(rows)
}

/// One event per partner member of an engagement (the operator's side has no feed): what
/// Partner Central publishes to each member's account.
pub fn member_events(
    state: &AppState,
    catalog: Catalog,
    members: &[Member],
    detail_type: &str,
    resource: &str,
    detail: &serde_json::Value,
) -> Vec<ace_domain::events::OutboxEvent> {
    members
        .iter()
        .filter_map(|m| m.partner_id.as_ref().map(|p| (p, &m.account_id)))
        .map(|(partner, account)| {
            ace_domain::events::selling_event(
                detail_type,
                state.new_event_id(),
                partner,
                account,
                catalog,
                resource.to_string(),
                detail.clone(),
                state.now(),
            )
        })
        .collect()
}

/// An `Engagement Invitation …` event to each party of an invitation between partners, each
/// with its own `participantType` (the simulated operator side has no feed).
pub fn invitation_events(
    state: &AppState,
    i: &ace_domain::engagement::PartnerInvitation,
    detail_type: &str,
) -> Vec<ace_domain::events::OutboxEvent> {
    let created = detail_type == "Engagement Invitation Created";
    [(&i.sender, "Sender"), (&i.receiver, "Receiver")]
        .into_iter()
        .filter(|(party, _)| !party.partner_id.is_empty())
        .map(|(party, participant)| {
            ace_domain::events::selling_event(
                detail_type,
                state.new_event_id(),
                &party.partner_id,
                &party.account_id,
                i.catalog,
                ace_domain::engagement::invitation_arn(i.catalog, &i.id),
                ace_domain::engagement::invitation_event_detail(i, participant, created),
                state.now(),
            )
        })
        .collect()
}

/// How many expired invitations one sweep handles at most; the next run takes the rest.
const EXPIRY_SWEEP_MAX: usize = 500;

/// Invitations between partners left unanswered past their date become EXPIRED, each with its
/// `Engagement Invitation Expired` event to both parties (digest §3.6). Safe on several nodes:
/// each update is conditional on the version read. Returns a line per invitation expired.
pub async fn expire_invitations(state: &AppState) -> Result<Vec<String>, AppError> {
    let now = state.now();
    let mut done = Vec::new();
    for mut invitation in state.store.expired_partner_invitations(now.timestamp_millis(), EXPIRY_SWEEP_MAX).await? {
        if !invitation.expire(now) {
            continue;
        }
        let events = invitation_events(state, &invitation, "Engagement Invitation Expired");
        let id = invitation.id.clone();
        let batch = WriteBatch { update_partner_invitations: vec![invitation], events, ..Default::default() };
        match state.store.commit(batch).await {
            Ok(_) => done.push(format!("expired invitation {id}")),
            // Another node, or the receiver answering at the last moment, got there first.
            Err(ace_store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}
