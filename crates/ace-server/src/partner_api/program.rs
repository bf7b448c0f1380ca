//! `AcePartner.GetCurrentTerms`, `AcceptTerms` (MOD-1 … MOD-4) and `GetSupportContact` (USE-6):
//! what a partner needs to know about the program itself.

use serde::{Deserialize, Serialize};

use ace_domain::model::{FieldError, FieldErrorCode};
use ace_domain::program;
use ace_domain::terms::{self, Acceptance, AcceptanceMethod};
use ace_domain::time::format_timestamp;
use ace_store::WriteBatch;

use super::{ApiResult, Request};
use crate::error::ApiError;
use crate::governance;

/// `GetCurrentTermsRequest` and `AcceptTermsRequest` (`models/ace-partner`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TermsInput {
    terms_version: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AcceptanceView {
    method: &'static str,
    accepted_at: String,
    accepted_by: String,
    operation: String,
}

impl From<&Acceptance> for AcceptanceView {
    fn from(a: &Acceptance) -> Self {
        AcceptanceView {
            method: a.method.as_str(),
            accepted_at: format_timestamp(a.at),
            accepted_by: a.user.clone(),
            operation: a.operation.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UpcomingVersion {
    version: i64,
    effective_date: String,
    summary: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCurrentTermsResponse {
    version: i64,
    effective_date: String,
    published_date: String,
    summary: Option<String>,
    text: String,
    sha256: String,
    acceptance: Option<AcceptanceView>,
    upcoming_versions: Vec<UpcomingVersion>,
    program_status: &'static str,
    termination_date: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AcceptTermsResponse {
    version: i64,
    acceptance: AcceptanceView,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetSupportContactResponse {
    email: String,
    phone: Option<String>,
    url: Option<String>,
    hours: Option<String>,
}

pub async fn get_current_terms(r: Request) -> ApiResult {
    let input: TermsInput = r.parse()?;
    let now = r.state.now();
    let versions = governance::published_terms(&r.state).await?;
    let shown = match input.terms_version {
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
    let acceptance = governance::acceptances(&r.state, Some(shown.version), Some(&r.caller.partner.id)).await?;
    let termination = governance::termination(&r.state).await?;
    let upcoming_versions = terms::upcoming(&versions, now)
        .into_iter()
        .map(|v| UpcomingVersion {
            version: v.version,
            effective_date: format_timestamp(v.effective),
            summary: v.summary.clone(),
        })
        .collect();
    r.respond(&GetCurrentTermsResponse {
        version: shown.version,
        effective_date: format_timestamp(shown.effective),
        published_date: format_timestamp(shown.published),
        summary: shown.summary.clone(),
        text: shown.text.clone(),
        sha256: shown.sha256.clone(),
        acceptance: acceptance.first().map(AcceptanceView::from),
        upcoming_versions,
        program_status: program::status(termination.as_ref(), now).as_str(),
        termination_date: termination.as_ref().map(|t| format_timestamp(t.effective)),
    })
}

/// MOD-3: an explicit acceptance. Accepting a version already accepted (in any way) answers the
/// acceptance on record: the first one stands.
pub async fn accept_terms(r: Request) -> ApiResult {
    let version = r.parse::<TermsInput>()?.terms_version.unwrap_or_default();
    let now = r.state.now();
    let versions = governance::published_terms(&r.state).await?;
    if !versions.iter().any(|v| v.version == version) {
        return Err(ApiError::ResourceNotFound(format!("Terms version {version} has not been published")));
    }
    terms::check_acceptable(&versions, version, now).map_err(|message| {
        ApiError::business_validation(vec![FieldError::new("TermsVersion", FieldErrorCode::InvalidResourceState, message)])
    })?;
    let partner_id = r.caller.partner.id.clone();
    if governance::acceptances(&r.state, Some(version), Some(&partner_id)).await?.is_empty() {
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
    let on_record = governance::acceptances(&r.state, Some(version), Some(&partner_id)).await?;
    let acceptance = on_record
        .first()
        .ok_or_else(|| ApiError::Internal(format!("the acceptance of terms version {version} was not stored")))?;
    r.respond(&AcceptTermsResponse { version, acceptance: acceptance.into() })
}

pub async fn get_support_contact(r: Request) -> ApiResult {
    let contact = governance::support_contact(&r.state)
        .await?
        .ok_or_else(|| ApiError::ResourceNotFound("The operator has not published a support contact yet".into()))?;
    r.respond(&GetSupportContactResponse { email: contact.email, phone: contact.phone, url: contact.url, hours: contact.hours })
}
