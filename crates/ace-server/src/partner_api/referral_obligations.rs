//! `AcePartner.*` for referrals: record the contact (REF-2), read the obligations (REF-3,
//! REF-7), the outreach text (REF-4), relay an opt-out (REF-5), attest retention (REM-3).

use crate::app::tenant::Tenant;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use ace_domain::model::{FieldError, FieldErrorCode};
use ace_domain::referral::{
    domain_suppression_key, email_suppression_key, outreach_template, parse_channel, scoped_suppression_key, Referral,
    RetentionAttestation, RetentionReason, Suppression,
};
use ace_domain::time::{format_timestamp, parse_timestamp};
use ace_store::{StoreError, WriteBatch};

use super::{ApiResult, Output, Request};
use crate::error::ApiError;

/// Which referral an operation is about: its invitation, or the opportunity accepted from it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Target {
    invitation_identifier: Option<String>,
    opportunity_identifier: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordContactRequest {
    #[serde(flatten)]
    target: Target,
    channel: String,
    contacted_at: Option<Value>,
    #[serde(default)]
    acting_in_own_name: bool,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttestRetentionRequest {
    #[serde(flatten)]
    target: Target,
    reason: String,
    evidence: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RelayOptOutRequest {
    #[serde(flatten)]
    target: Target,
    channel: String,
    received_at: Option<Value>,
    scope: String,
}

/// The referral named by `InvitationIdentifier`, or by the opportunity accepted from it.
async fn target(r: &Request, t: &Target) -> Result<Referral, ApiError> {
    if let Some(invitation) = &t.invitation_identifier {
        return super::invitations::load(r, invitation).await;
    }
    let Some(opportunity) = &t.opportunity_identifier else {
        return Err(ApiError::request_validation(vec![FieldError::new(
            "InvitationIdentifier",
            FieldErrorCode::RequiredFieldMissing,
            "InvitationIdentifier or OpportunityIdentifier is required",
        )]));
    };
    let o = super::opportunities::load(r, opportunity).await?;
    let referral_id = o.referral_id.ok_or_else(|| r.not_found("Referral for opportunity", opportunity))?;
    super::invitations::load(r, &referral_id).await
}

async fn save(r: &Request, batch: WriteBatch) -> Result<(), ApiError> {
    r.commit(batch).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict("The referral changed meanwhile; retry.".into()),
        other => other.into(),
    })?;
    Ok(())
}

/// REF-3 and REF-7 as the partner sees them.
/// The `ReferralObligations` shape of the AcePartner model.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Obligations {
    invitation_identifier: String,
    opportunity_identifier: Option<String>,
    status: &'static str,
    invitation_date: String,
    acceptance_deadline: String,
    contact_deadline: String,
    contact_met: bool,
    contacted_at: Option<String>,
    contact_channel: Option<String>,
    reminders_sent: Vec<String>,
    last_update: Option<String>,
    update_fresh: bool,
    fresh_within_days: u32,
    retention_attested: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ObligationsResponse {
    obligations: Obligations,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OptOutResponse {
    suppressed: bool,
    referral_closed: bool,
}

const OPTED_OUT: OptOutResponse = OptOutResponse { suppressed: true, referral_closed: true };

async fn obligations(r: &Request, referral: &Referral) -> ApiResult {
    let config = crate::app::eligibility::config_at(&r.state, r.state.now()).await?;
    let mut last_update = referral.last_partner_update;
    if let Some(id) = &referral.opportunity_id {
        if let Some(o) = Tenant::new(&r.state, &referral.partner_id, referral.catalog).opportunity(id).await? {
            last_update = last_update.max(Some(o.last_modified));
        }
    }
    let fresh = last_update.is_some_and(|t| ace_domain::eligibility::update_is_fresh(t, r.state.now(), &config));
    r.respond(&ObligationsResponse {
        obligations: Obligations {
            invitation_identifier: referral.id.clone(),
            opportunity_identifier: referral.opportunity_id.clone(),
            status: referral.status.as_str(),
            invitation_date: format_timestamp(referral.provided_at),
            acceptance_deadline: format_timestamp(referral.expires_at),
            contact_deadline: format_timestamp(referral.contact_deadline),
            contact_met: referral.contact_met(),
            contacted_at: referral.contact_record.as_ref().map(|c| format_timestamp(c.contacted_at)),
            contact_channel: referral.contact_record.as_ref().map(|c| format!("{:?}", c.channel)),
            reminders_sent: referral.reminders_sent.iter().map(|t| format_timestamp(*t)).collect(),
            last_update: last_update.map(format_timestamp),
            update_fresh: fresh,
            fresh_within_days: config.referral_update_days,
            retention_attested: referral.retention.is_some(),
        },
    })
}

fn refused(field: &str, message: String) -> ApiError {
    ApiError::business_validation(vec![FieldError::new(field, FieldErrorCode::InvalidValue, message)])
}

pub async fn record_contact(r: Request) -> ApiResult {
    let input: RecordContactRequest = r.parse()?;
    let mut referral = target(&r, &input.target).await?;
    let channel = parse_channel(&input.channel).map_err(|e| refused("Channel", e.to_string()))?;
    let contacted_at = input.contacted_at.as_ref().and_then(parse_timestamp).unwrap_or_else(|| r.state.now());
    let (own_name, note) = (input.acting_in_own_name, input.note);
    referral.record_contact(channel, contacted_at, own_name, &r.caller.user.name, note, r.state.now()).map_err(|e| match e {
        ace_domain::referral::ReferralError::NotAccepted => ApiError::Conflict(e.to_string()),
        ace_domain::referral::ReferralError::NotInOwnName => refused("ActingInOwnName", e.to_string()),
        other => refused("ContactedAt", other.to_string()),
    })?;
    save(&r, WriteBatch { update_referrals: vec![referral.clone()], ..Default::default() }).await?;
    obligations(&r, &Referral { version: referral.version + 1, ..referral }).await
}

pub async fn get_obligations(r: Request) -> ApiResult {
    let referral = target(&r, &r.parse()?).await?;
    obligations(&r, &referral).await
}

pub async fn attest_retention(r: Request) -> ApiResult {
    let input: AttestRetentionRequest = r.parse()?;
    let mut referral = target(&r, &input.target).await?;
    let reason = match input.reason.as_str() {
        "CustomerPermission" => RetentionReason::CustomerPermission,
        _ => RetentionReason::IndependentSource,
    };
    referral.retention = Some(RetentionAttestation {
        reason,
        evidence: input.evidence,
        attested_by: r.caller.user.name.clone(),
        attested_at: r.state.now(),
    });
    save(&r, WriteBatch { update_referrals: vec![referral.clone()], ..Default::default() }).await?;
    obligations(&r, &referral).await
}

pub async fn outreach(r: Request) -> ApiResult {
    let referral = target(&r, &r.parse()?).await?;
    let links = crate::referrals::unsubscribe_links(&r.state).await?;
    let template = outreach_template(&r.caller.partner.name, "AWS", &referral.customer.company_name, &links);
    Ok(Output::Json(serde_json::to_value(template).unwrap_or(Value::Null)))
}

/// REF-5: the customer asked to be left alone. Idempotent: a repeated relay of a referral this
/// partner already closed by opt-out answers the same.
pub async fn relay_opt_out(r: Request) -> ApiResult {
    let input: RelayOptOutRequest = r.parse()?;
    let referral = match target(&r, &input.target).await {
        Ok(referral) => referral,
        Err(not_found @ ApiError::ResourceNotFound(_)) => {
            let id = input.target.invitation_identifier.as_deref().map(|i| i.rsplit('/').next().unwrap_or(i).to_string());
            return match id {
                Some(id) => match r.tenant().referral(&id).await? {
                    Some(x) if x.revocation_reason.as_deref() == Some(OPT_OUT_REASON) => r.respond(&OPTED_OUT),
                    _ => Err(not_found),
                },
                None => Err(not_found),
            };
        }
        Err(e) => return Err(e),
    };
    let channel = input.channel;
    let received_at = input.received_at.as_ref().and_then(parse_timestamp).unwrap_or_else(|| r.state.now());
    let key = match (input.scope.as_str(), &referral.contact.email) {
        ("Contact", Some(email)) => Some(email_suppression_key(email)),
        _ => domain_suppression_key(&referral.customer.website),
    };
    let Some(key) = key else {
        return Err(refused("Scope", "the referral has no contact e-mail or company domain to suppress".into()));
    };
    let key = scoped_suppression_key(referral.catalog, &referral.partner_id, &key);
    let suppression = Suppression {
        key,
        referral_id: referral.id.clone(),
        partner_id: r.caller.partner.id.clone(),
        received_at,
        channel,
        recorded_at: r.state.now(),
    };
    let account = r.caller.partner.account_id.clone();
    let detail =
        json!({"engagementInvitationId": referral.id, "scope": input.scope, "receivedAt": format_timestamp(received_at)});
    let notice = ace_domain::events::partner_event(
        "Customer Opt-Out Relayed",
        r.state.new_event_id(),
        &referral.partner_id,
        &account,
        detail,
        r.state.now(),
    );
    save(&r, WriteBatch { suppressions: vec![suppression], events: vec![notice], ..Default::default() }).await?;
    crate::referrals::revoke(&r.state, &referral, OPT_OUT_REASON, Vec::new()).await?;
    r.respond(&OPTED_OUT)
}

pub const OPT_OUT_REASON: &str = "REF-5: the customer asked not to be contacted";
