//! `AcePartner.GetCurrentTerms`, `AcceptTerms` (MOD-1 … MOD-4) and `GetSupportContact` (USE-6):
//! what a partner needs to know about the program itself.

use serde_json::{json, Value};

use ace_domain::model::{FieldError, FieldErrorCode, Model};
use ace_domain::program;
use ace_domain::terms::{self, Acceptance, AcceptanceMethod};
use ace_domain::time::format_timestamp;
use ace_store::WriteBatch;

use super::{ApiResult, Output, Request};
use crate::error::ApiError;
use crate::governance;

fn acceptance_view(a: &Acceptance) -> Value {
    json!({"Method": a.method.as_str(), "AcceptedAt": format_timestamp(a.at), "AcceptedBy": a.user, "Operation": a.operation})
}

fn version_member(r: &Request) -> Option<i64> {
    r.input.get("TermsVersion").and_then(Value::as_i64)
}

pub async fn get_current_terms(r: Request) -> ApiResult {
    let now = r.state.now();
    let versions = r.state.governance.terms(r.state.store.as_ref(), r.state.wall_clock_ms()).await?;
    let shown = match version_member(&r) {
        Some(n) => versions
            .iter()
            .find(|v| v.version == n)
            .ok_or_else(|| ApiError::ResourceNotFound(format!("Terms version {n} has not been published")))?,
        None => terms::current(&versions, now).ok_or_else(|| {
            ApiError::ResourceNotFound(match terms::upcoming(&versions, now).first() {
                Some(next) => format!(
                    "No program terms are in force yet; version {} takes effect {}",
                    next.version,
                    format_timestamp(next.effective)
                ),
                None => "The operator has not published program terms yet".to_string(),
            })
        })?,
    };
    let acceptance = r.state.store.list_terms_acceptances(Some(shown.version), Some(&r.caller.partner.id)).await?;
    let termination = r.state.governance.termination(r.state.store.as_ref(), r.state.wall_clock_ms()).await?;
    let upcoming: Vec<Value> = terms::upcoming(&versions, now)
        .into_iter()
        .map(|v| json!({"Version": v.version, "EffectiveDate": format_timestamp(v.effective), "Summary": v.summary}))
        .collect();
    let v = json!({
        "Version": shown.version, "EffectiveDate": format_timestamp(shown.effective), "PublishedDate": format_timestamp(shown.published),
        "Summary": shown.summary, "Text": shown.text, "Sha256": shown.sha256,
        "Acceptance": acceptance.first().map(acceptance_view), "UpcomingVersions": upcoming,
        "ProgramStatus": program::status(termination.as_ref(), now).as_str(),
        "TerminationDate": termination.as_ref().map(|t| format_timestamp(t.effective)),
    });
    Ok(Output::Json(Model::ace_partner().project("GetCurrentTermsResponse", &v)))
}

/// MOD-3: an explicit acceptance. Accepting a version already accepted (in any way) answers the
/// acceptance on record: the first one stands.
pub async fn accept_terms(r: Request) -> ApiResult {
    let version = version_member(&r).unwrap_or_default();
    let now = r.state.now();
    let versions = r.state.governance.terms(r.state.store.as_ref(), r.state.wall_clock_ms()).await?;
    if !versions.iter().any(|v| v.version == version) {
        return Err(ApiError::ResourceNotFound(format!("Terms version {version} has not been published")));
    }
    terms::check_acceptable(&versions, version, now).map_err(|message| {
        ApiError::business_validation(vec![FieldError::new("TermsVersion", FieldErrorCode::InvalidResourceState, message)])
    })?;
    let partner_id = r.caller.partner.id.clone();
    if r.state.store.list_terms_acceptances(Some(version), Some(&partner_id)).await?.is_empty() {
        let acceptance = Acceptance {
            version,
            partner_id: partner_id.clone(),
            method: AcceptanceMethod::Explicit,
            at: now,
            user: r.caller.user.name.clone(),
            operation: r.operation.name().to_string(),
        };
        r.commit(WriteBatch { terms_acceptances: vec![acceptance], ..Default::default() }).await?;
    }
    let on_record = r.state.store.list_terms_acceptances(Some(version), Some(&partner_id)).await?;
    let acceptance = on_record
        .first()
        .ok_or_else(|| ApiError::Internal(format!("the acceptance of terms version {version} was not stored")))?;
    Ok(Output::Json(json!({"Version": version, "Acceptance": acceptance_view(acceptance)})))
}

pub async fn get_support_contact(r: Request) -> ApiResult {
    let contact = governance::support_contact(r.state.store.as_ref())
        .await?
        .ok_or_else(|| ApiError::ResourceNotFound("The operator has not published a support contact yet".into()))?;
    let v = json!({"Email": contact.email, "Phone": contact.phone, "Url": contact.url, "Hours": contact.hours});
    Ok(Output::Json(Model::ace_partner().project("GetSupportContactResponse", &v)))
}
