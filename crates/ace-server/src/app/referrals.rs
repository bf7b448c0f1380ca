//! Referring a lead or opportunity to a partner (REF-1), behind the eligibility gate (ELIG-2,
//! REF-6) and the suppression list (REF-5): the operator API and the web console both come here.

use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::audit::AuditEntry;
use ace_domain::ids::Catalog;
use ace_domain::referral::{Referral, ReferralContact, ReferralCustomer, ReferralKind, ReferralRequest};
use ace_domain::time::format_timestamp;

use super::AppError;
use crate::referrals::Refusal;
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    partner: String,
    kind: String,
    company: String,
    website: String,
    country: String,
    industry: Option<String>,
    title: Option<String>,
    problem: Option<String>,
    contact_name: Option<String>,
    contact_email: Option<String>,
    contact_phone: Option<String>,
    contact_title: Option<String>,
    catalog: Option<String>,
}

/// The operator's view: everything, including the contact. List views leave the contact out.
pub fn view(r: &Referral, with_contact: bool) -> Value {
    let mut v = json!({
        "Id": r.id, "EngagementId": r.engagement_id, "Catalog": r.catalog.as_str(), "PartnerId": r.partner_id,
        "Kind": r.kind, "Status": r.status.as_str(), "Customer": r.customer, "Title": r.title, "Problem": r.problem,
        "InvitationDate": format_timestamp(r.provided_at), "ExpirationDate": format_timestamp(r.expires_at),
        "ContactDeadline": format_timestamp(r.contact_deadline), "ContactMet": r.contact_met(),
        "ContactRecord": r.contact_record, "OpportunityId": r.opportunity_id, "RemindersSent": r.reminders_sent,
        "FlaggedAt": r.flagged_at, "RevokedAt": r.revoked_at, "RevocationReason": r.revocation_reason,
        "Retention": r.retention, "RejectionReason": r.rejection_reason, "DataDeleted": r.data_deleted,
    });
    if with_contact {
        v["Contact"] = json!(r.contact);
    }
    v
}

pub fn check(input: &CreateInput) -> Result<(), AppError> {
    if input.company.trim().is_empty() || input.company.chars().count() > 120 {
        return Err(AppError::invalid("company must be 1-120 characters"));
    }
    if ace_domain::identity::registrable_domain(&input.website).is_none() {
        return Err(AppError::invalid(format!("website {:?} has no registrable domain", input.website)));
    }
    if input.country.len() != 2 || !input.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(AppError::invalid(format!("country {:?} must be an ISO code such as DE", input.country)));
    }
    let model = ace_domain::model::Model::get();
    if let Some(email) = &input.contact_email {
        model
            .validate("Email", &json!(email))
            .map_err(|_| AppError::invalid(format!("contact email {email:?} is not valid (lower case)")))?;
    }
    if let Some(phone) = &input.contact_phone {
        model
            .validate("PhoneNumber", &json!(phone))
            .map_err(|_| AppError::invalid(format!("contact phone {phone:?} must be E.164, e.g. +14155550100")))?;
    }
    if let Some(industry) = &input.industry {
        model.validate("Industry", &json!(industry)).map_err(|_| AppError::invalid(format!("unknown industry {industry:?}")))?;
    }
    Ok(())
}

/// REF-1 behind the eligibility gate and the suppression list (REF-5); the operator API and the
/// console both come here, each with the audit entry the referral commits with (USE-4).
pub async fn create_referral(state: &AppState, input: CreateInput, audit: AuditEntry) -> Result<Value, AppError> {
    check(&input)?;
    let kind = match input.kind.as_str() {
        "lead" => ReferralKind::Lead,
        "opportunity" => ReferralKind::Opportunity,
        other => return Err(AppError::invalid(format!("kind {other:?} must be lead or opportunity"))),
    };
    let catalog_name = input.catalog.clone().unwrap_or_else(|| "AWS".into());
    let catalog = Catalog::parse(&catalog_name).ok_or_else(|| AppError::invalid(format!("unknown catalog {catalog_name:?}")))?;
    let new = ReferralRequest {
        partner_id: input.partner.clone(),
        catalog,
        kind,
        customer: ReferralCustomer {
            company_name: input.company,
            website: input.website,
            country: input.country,
            industry: input.industry,
        },
        title: input.title,
        problem: input.problem,
        contact: ReferralContact {
            name: input.contact_name,
            email: input.contact_email,
            phone: input.contact_phone,
            title: input.contact_title,
        },
    };
    match crate::referrals::create(state, new, vec![audit]).await? {
        Ok(referral) => Ok(view(&referral, true)),
        Err(Refusal::PartnerNotFound) => Err(AppError::NotFound(format!("partner {} does not exist", input.partner))),
        Err(Refusal::NotEligible(report)) => {
            let unmet: Vec<String> =
                report.requirements.iter().filter(|r| !r.met).map(|r| format!("{} ({})", r.id, r.detail)).collect();
            Err(AppError::conflict(
                "not-eligible",
                format!("partner {} may not receive referrals: {}", input.partner, unmet.join("; ")),
            ))
        }
        Err(Refusal::Suppressed(message)) => Err(AppError::conflict("suppressed", message)),
        Err(Refusal::ProgramTerminated(message)) => Err(AppError::conflict("program-terminated", message)),
    }
}

/// Referrals, oldest first, of `partner` or of every partner (the operator's view).
pub async fn list(state: &AppState, partner: Option<&str>, limit: usize) -> Result<Vec<Referral>, AppError> {
    Ok(state.store.list_referrals(partner, limit).await?)
}

/// Referral `id`, whatever its status.
pub async fn load(state: &AppState, id: &str) -> Result<Referral, AppError> {
    state.store.get_referral(id).await?.ok_or_else(|| AppError::NotFound(format!("referral {id} does not exist")))
}

/// REF-5: the suppression list (hashed e-mails and company domains).
pub async fn suppressions(state: &AppState) -> Result<Vec<ace_domain::referral::Suppression>, AppError> {
    Ok(state.store.list_suppressions().await?)
}

/// REF-1: the recorded reads of referral `id`'s contact data.
pub async fn contact_reads(state: &AppState, id: &str) -> Result<Vec<ace_domain::referral::AuditRead>, AppError> {
    Ok(state.store.list_audit_reads(id).await?)
}

/// REF-3: the holiday calendar `name`: a built-in one computed by rule for this year and the
/// next, or one the operator imported.
pub async fn calendar(state: &AppState, name: &str) -> Result<ace_domain::business_days::HolidayCalendar, AppError> {
    let year = chrono::Datelike::year(&state.now());
    if let Some(c) = ace_domain::business_days::HolidayCalendar::built_in(name, year, year + 1) {
        return Ok(c);
    }
    state.store.get_calendar(name).await?.ok_or_else(|| AppError::NotFound(format!("no calendar {name}")))
}
