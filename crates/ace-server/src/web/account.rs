//! The partner's own standing and settings: the eligibility scorecard (ELIG-2, REF-6/7), the
//! program terms with acceptance (MOD-3), the user's access keys (USE-1) and the partner's
//! webhooks. As elsewhere, each page is the API operation (or the operator API function for
//! keys, scoped to the signed-in user) and nothing more.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::audit::{action, AuditEntry};
use ace_domain::time::{format_timestamp, from_millis};
use ace_store::UserStatus;

use super::portal::{call, partner, text_at, when};
use super::session::PartnerForm;
use super::{page, FormErrors, Nav, WebError};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/eligibility", get(eligibility))
        .route("/portal/terms", get(terms).post(accept_terms))
        .route("/portal/keys", get(keys).post(create_key))
        .route("/portal/keys/{key}/{action}", post(change_key))
        .route("/portal/webhooks", get(webhooks).post(create_webhook))
        .route("/portal/webhooks/{id}/delete", post(delete_webhook))
}

// ---------------------------------------------------------------------------------------------

struct Requirement {
    id: String,
    met: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "eligibility.html")]
struct EligibilityPage {
    nav: Option<Nav>,
    eligible: bool,
    segment: String,
    as_of: String,
    next_drop_out: String,
    validated_in_window: Option<i64>,
    requirements: Vec<Requirement>,
}

async fn eligibility(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let report = call(&state, &caller, "GetReferralEligibility", json!({})).await?;
    let requirements = report["Requirements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Requirement { id: text_at(r, "Id").into(), met: r["Met"] == json!(true), detail: text_at(r, "Detail").into() })
        .collect();
    Ok(page(
        StatusCode::OK,
        &EligibilityPage {
            nav: Some(viewer.nav("eligibility", "Eligibility")),
            eligible: report["Eligible"] == json!(true),
            segment: text_at(&report, "Segment").into(),
            as_of: when(text_at(&report, "AsOf")),
            next_drop_out: when(text_at(&report, "NextDropOut")),
            validated_in_window: report["ValidatedInWindow"].as_i64(),
            requirements,
        },
    ))
}

// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage {
    nav: Option<Nav>,
    csrf: String,
    published: bool,
    version: i64,
    effective: String,
    summary: String,
    text: String,
    sha256: String,
    program_status: String,
    termination: String,
    accepted: Option<String>,
    upcoming: Vec<(i64, String, String)>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

async fn terms(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let current = match call(&state, &caller, "GetCurrentTerms", json!({})).await {
        Ok(v) => Some(v),
        // Nothing published yet is a state of the program, not an error.
        Err(ApiError::ResourceNotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let t = current.unwrap_or(Value::Null);
    let accepted = t.get("Acceptance").filter(|a| a.is_object()).map(|a| {
        let how = if text_at(a, "Method") == "EXPLICIT" { "accepted" } else { "accepted by continuing to take part" };
        format!("{how} on {} by {}", when(text_at(a, "AcceptedAt")), text_at(a, "AcceptedBy"))
    });
    let upcoming = t["UpcomingVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| (u["Version"].as_i64().unwrap_or(0), when(text_at(u, "EffectiveDate")), text_at(u, "Summary").to_string()))
        .collect();
    Ok(page(
        StatusCode::OK,
        &TermsPage {
            nav: Some(viewer.nav("terms", "Program terms")),
            csrf: viewer.session.csrf.clone(),
            published: t.is_object(),
            version: t["Version"].as_i64().unwrap_or(0),
            effective: when(text_at(&t, "EffectiveDate")),
            summary: text_at(&t, "Summary").into(),
            text: text_at(&t, "Text").into(),
            sha256: text_at(&t, "Sha256").into(),
            program_status: text_at(&t, "ProgramStatus").into(),
            termination: when(text_at(&t, "TerminationDate")),
            accepted,
            upcoming,
            notice: (q.done.as_deref() == Some("accepted")).then(|| "Thank you: your acceptance is recorded.".to_string()),
        },
    ))
}

async fn accept_terms(
    State(state): State<AppState>,
    PartnerForm { caller, form, .. }: PartnerForm,
) -> Result<Response, WebError> {
    let version: i64 =
        form.get("version").parse().map_err(|_| WebError::Message(StatusCode::BAD_REQUEST, "No terms version given.".into()))?;
    call(&state, &caller, "AcceptTerms", json!({"TermsVersion": version})).await?;
    Ok(Redirect::to("/portal/terms?done=accepted").into_response())
}

// ---------------------------------------------------------------------------------------------

struct KeyRow {
    id: String,
    active: bool,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    nav: Option<Nav>,
    csrf: String,
    user: String,
    keys: Vec<KeyRow>,
    can_create: bool,
    /// A new key's secret: shown once, right after it was made.
    created: Option<(String, String)>,
    error: Option<String>,
}

async fn keys_page(
    state: &AppState,
    viewer: &super::Viewer,
    caller: &crate::app::Caller,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let keys: Vec<KeyRow> = crate::app::admin::access_keys(state, &caller.partner.id, &caller.user.name)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.access_key_id,
            active: k.status == UserStatus::Active,
            created: format_timestamp(from_millis(k.created_ms)).chars().take(10).collect(),
            last_used: k.last_used_ms.map(|ms| when(&format_timestamp(from_millis(ms)))).unwrap_or_else(|| "never".into()),
        })
        .collect();
    Ok(page(
        if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK },
        &KeysPage {
            nav: Some(viewer.nav("keys", "Access keys")),
            csrf: viewer.session.csrf.clone(),
            user: caller.user.name.clone(),
            can_create: keys.len() < ace_domain::partner::ACCESS_KEYS_PER_USER,
            keys,
            created,
            error,
        },
    ))
}

async fn keys(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    keys_page(&state, &viewer, &caller, None, None).await
}

/// USE-4: a user's change to their own keys, audited under their name with the change.
fn key_audit(state: &AppState, caller: &crate::app::Caller, what: &str, key: Option<&str>) -> AuditEntry {
    let detail = json!({"portal": "keys", "action": what, "key": key});
    AuditEntry::new(state.now(), crate::governance::partner_actor(caller), action::PARTNER_WRITE, detail)
        .partner(&caller.partner.id)
}

async fn create_key(
    State(state): State<AppState>,
    PartnerForm { viewer, caller, .. }: PartnerForm,
) -> Result<Response, WebError> {
    let audit = key_audit(&state, &caller, "create", None);
    match crate::app::keys::new_key(&state, &caller.partner.id, &caller.user.name, audit).await {
        Ok(pair) => keys_page(&state, &viewer, &caller, Some(pair), None).await,
        Err(e) => keys_page(&state, &viewer, &caller, None, Some(e.message())).await,
    }
}

async fn change_key(
    State(state): State<AppState>,
    Path((key, action)): Path<(String, String)>,
    PartnerForm { viewer, caller, .. }: PartnerForm,
) -> Result<Response, WebError> {
    let (id, user) = (&caller.partner.id, &caller.user.name);
    // Only the user's own keys: another key id is not found, whoever's it is.
    crate::app::keys::user_key(&state, id, user, &key).await.map_err(|_| WebError::NotFound)?;
    let outcome = match action.as_str() {
        // A key that may have leaked: a new one at once, and this one stops working.
        "replace" => match crate::app::keys::new_key(&state, id, user, key_audit(&state, &caller, "replace", Some(&key))).await {
            Ok(pair) => {
                let audit = key_audit(&state, &caller, "deactivate", Some(&key));
                if let Err(e) = crate::app::keys::set_key_status_of(&state, id, user, &key, UserStatus::Disabled, audit).await {
                    return keys_page(&state, &viewer, &caller, Some(pair), Some(e.message())).await;
                }
                return keys_page(&state, &viewer, &caller, Some(pair), None).await;
            }
            Err(e) => Err(e),
        },
        "activate" => {
            let audit = key_audit(&state, &caller, "activate", Some(&key));
            crate::app::keys::set_key_status_of(&state, id, user, &key, UserStatus::Active, audit).await.map(|_| ())
        }
        "deactivate" => {
            let audit = key_audit(&state, &caller, "deactivate", Some(&key));
            crate::app::keys::set_key_status_of(&state, id, user, &key, UserStatus::Disabled, audit).await.map(|_| ())
        }
        "delete" => crate::app::keys::delete_key(&state, id, user, &key, key_audit(&state, &caller, "delete", Some(&key))).await,
        _ => return Err(WebError::NotFound),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/portal/keys").into_response()),
        Err(e) => keys_page(&state, &viewer, &caller, None, Some(e.message())).await,
    }
}

// ---------------------------------------------------------------------------------------------

struct WebhookRow {
    id: String,
    url: String,
    events: String,
    created: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Option<Nav>,
    csrf: String,
    hooks: Vec<WebhookRow>,
    url: String,
    /// A new subscription's signing secret: shown once.
    created: Option<(String, String)>,
    errors: FormErrors,
}

async fn webhooks_page(
    state: &AppState,
    viewer: &super::Viewer,
    caller: &crate::app::Caller,
    url: String,
    created: Option<(String, String)>,
    errors: FormErrors,
) -> Result<Response, WebError> {
    let listed = call(state, caller, "ListWebhooks", json!({})).await?;
    let hooks = listed["Webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| WebhookRow {
            id: text_at(w, "WebhookId").into(),
            url: text_at(w, "Url").into(),
            events: w["EventTypes"]
                .as_array()
                .map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "all events".into()),
            created: when(text_at(w, "CreatedAt")),
        })
        .collect();
    Ok(page(
        if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY },
        &WebhooksPage {
            nav: Some(viewer.nav("webhooks", "Webhooks")),
            csrf: viewer.session.csrf.clone(),
            hooks,
            url,
            created,
            errors,
        },
    ))
}

async fn webhooks(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    webhooks_page(&state, &viewer, &caller, String::new(), None, FormErrors::default()).await
}

async fn create_webhook(
    State(state): State<AppState>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let url = form.get("Url").trim().to_string();
    match call(&state, &caller, "PutWebhook", json!({"Url": url})).await {
        Ok(v) => {
            let created = Some((text_at(&v, "WebhookId").to_string(), text_at(&v, "Secret").to_string()));
            webhooks_page(&state, &viewer, &caller, String::new(), created, FormErrors::default()).await
        }
        Err(e) => webhooks_page(&state, &viewer, &caller, url, None, FormErrors::from_api(&e, &["Url"])).await,
    }
}

async fn delete_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { caller, .. }: PartnerForm,
) -> Result<Response, WebError> {
    call(&state, &caller, "DeleteWebhook", json!({"WebhookId": id})).await?;
    Ok(Redirect::to("/portal/webhooks").into_response())
}
