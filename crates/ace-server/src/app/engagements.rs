//! Engagements (issue 18), as every edge reads them: only members see an engagement, its
//! contexts and its members (USE-4); to anyone else it does not exist. The decisions on what a
//! member may change are `ace_domain::engagement`'s.

use ace_domain::engagement::{
    engagement_id, referral_context, referral_context_has_contact, referral_title, Context, Engagement, Member, OPERATOR_ACCOUNT,
};
use ace_domain::ids::Catalog;
use ace_domain::partner::PartnerProfile;
use ace_domain::referral::Referral;

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
    Ok(state.store.list_partners().await?.into_iter().find(|p| p.account_id == account_id))
}
