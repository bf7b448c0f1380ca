//! The partner's engagements in the portal (issue 18): its engagements with their members and
//! contexts, invitations from and to other partners (accept, reject), and turning a context —
//! an accepted lead, a shared project — into an opportunity. Each action is a partner API
//! operation through `portal::call`, so quotas, validation, audit and the rules are a signed
//! request's.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::portal::{call, partner, query_value, text_at, when};
use super::session::PartnerForm;
use super::{not_found, page, Nav, WebError};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/engagements", get(list))
        .route("/portal/engagements/{id}", get(show))
        .route("/portal/engagements/{id}/contexts/{context}/opportunity", post(to_opportunity))
        .route("/portal/engagement-invitations/{id}/{action}", post(answer))
}

struct EngagementRow {
    id: String,
    title: String,
    kinds: String,
    members: String,
    created_by: String,
}

struct InvitationRow {
    id: String,
    engagement: String,
    other: String,
    status: String,
    invited: String,
}

#[derive(Template)]
#[template(path = "engagements.html")]
struct EngagementsPage {
    nav: Option<Nav>,
    csrf: String,
    engagements: Vec<EngagementRow>,
    received: Vec<InvitationRow>,
    sent: Vec<InvitationRow>,
    notice: Option<String>,
}

fn invitations(out: &Value, received: bool) -> Vec<InvitationRow> {
    out["EngagementInvitationSummaries"]
        .as_array()
        .into_iter()
        .flatten()
        // The operator's referrals have their own inbox.
        .filter(|i| text_at(i, "SenderAwsAccountId") != ace_domain::engagement::OPERATOR_ACCOUNT)
        .map(|i| InvitationRow {
            id: text_at(i, "Id").into(),
            engagement: text_at(i, "EngagementId").into(),
            other: if received {
                format!("{} ({})", text_at(i, "SenderCompanyName"), text_at(i, "SenderAwsAccountId"))
            } else {
                text_at(i, "Receiver.Account.AwsAccountId").into()
            },
            status: text_at(i, "Status").into(),
            invited: when(text_at(i, "InvitationDate")),
        })
        .collect()
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let out = call(&state, &caller, "ListEngagements", json!({"Catalog": "AWS", "MaxResults": 100})).await?;
    let engagements = out["EngagementSummaryList"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| EngagementRow {
            id: text_at(e, "Id").into(),
            title: text_at(e, "Title").into(),
            kinds: e["ContextTypes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            members: e["MemberCount"].as_i64().unwrap_or(0).to_string(),
            created_by: text_at(e, "CreatedBy").into(),
        })
        .collect();
    let mut lists = Vec::new();
    for participant in ["RECEIVER", "SENDER"] {
        let input = json!({"Catalog": "AWS", "ParticipantType": participant, "MaxResults": 100});
        lists.push(call(&state, &caller, "ListEngagementInvitations", input).await?);
    }
    let csrf = viewer.session.csrf.clone();
    Ok(page(
        StatusCode::OK,
        &EngagementsPage {
            nav: Some(viewer.nav("engagements", "Engagements")),
            csrf,
            engagements,
            received: invitations(&lists[0], true),
            sent: invitations(&lists[1], false),
            notice: None,
        },
    ))
}

struct ContextRow {
    id: String,
    kind: String,
    summary: String,
    convertible: bool,
}

#[derive(Template)]
#[template(path = "engagement.html")]
struct EngagementPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    title: String,
    description: String,
    created: String,
    members: Vec<(String, String)>,
    contexts: Vec<ContextRow>,
    error: Option<String>,
}

/// One line about a context for people: its customer, and its project or lead.
fn summarise(kind: &str, payload: &Value) -> String {
    let body = &payload[kind];
    let customer = text_at(body, "Customer.CompanyName");
    let detail = match kind {
        "CustomerProject" => format!("{} — {}", text_at(body, "Project.Title"), text_at(body, "Project.BusinessProblem")),
        "Lead" => {
            let contact = &body["Interactions"][0]["Contact"];
            let who = format!("{} {}", text_at(contact, "FirstName"), text_at(contact, "LastName"));
            [who.trim(), text_at(contact, "Email"), text_at(contact, "Phone")]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" · ")
        }
        "ProspectingResult" => format!("prospecting lead: {}", text_at(body, "Aws.Customer.AccountName")),
        _ => String::new(),
    };
    [customer, detail.as_str()].iter().filter(|s| !s.trim().is_empty()).copied().collect::<Vec<_>>().join(": ")
}

async fn engagement_page(
    state: &AppState,
    viewer: &super::session::Viewer,
    caller: &crate::app::Caller,
    id: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let got = match call(state, caller, "GetEngagement", json!({"Catalog": "AWS", "Identifier": id})).await {
        Err(ApiError::ResourceNotFound(_)) => return Ok(not_found(Some(viewer.nav("engagements", "")))),
        other => other?,
    };
    let members =
        call(state, caller, "ListEngagementMembers", json!({"Catalog": "AWS", "Identifier": id, "MaxResults": 10})).await?;
    let contexts = got["Contexts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let kind = text_at(c, "Type").to_string();
            ContextRow {
                id: text_at(c, "Id").into(),
                summary: summarise(&kind, &c["Payload"]),
                convertible: kind == "Lead" || kind == "CustomerProject",
                kind,
            }
        })
        .collect();
    Ok(page(
        StatusCode::OK,
        &EngagementPage {
            nav: Some(viewer.nav("engagements", "")),
            csrf: viewer.session.csrf.clone(),
            id: id.into(),
            title: text_at(&got, "Title").into(),
            description: text_at(&got, "Description").into(),
            created: format!("{} by {}", when(text_at(&got, "CreatedAt")), text_at(&got, "CreatedBy")),
            members: members["EngagementMemberList"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| (text_at(m, "CompanyName").to_string(), text_at(m, "AccountId").to_string()))
                .collect(),
            contexts,
            error,
        },
    ))
}

async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    engagement_page(&state, &viewer, &caller, &id, None).await
}

/// StartOpportunityFromEngagementTask, once per context (the ClientToken is the context's).
async fn to_opportunity(
    State(state): State<AppState>,
    Path((id, context)): Path<(String, String)>,
    PartnerForm { viewer, caller, .. }: PartnerForm,
) -> Result<Response, WebError> {
    let input = json!({"Catalog": "AWS", "Identifier": id, "ContextIdentifier": context,
                       "ClientToken": format!("portal-{id}-{context}")});
    match call(&state, &caller, "StartOpportunityFromEngagementTask", input).await {
        Ok(task) => {
            let opportunity = text_at(&task, "OpportunityId");
            Ok(Redirect::to(&format!("/portal/opportunities/{}?catalog=AWS", query_value(opportunity))).into_response())
        }
        Err(ApiError::ResourceNotFound(_)) => Ok(not_found(Some(viewer.nav("engagements", "")))),
        Err(e @ (ApiError::Conflict(_) | ApiError::Validation { .. })) => {
            let message = match &e {
                ApiError::Conflict(m) | ApiError::Validation { message: m, .. } => m.clone(),
                _ => String::new(),
            };
            engagement_page(&state, &viewer, &caller, &id, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Accepts or rejects an invitation from another partner.
async fn answer(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let (operation, mut input) = match action.as_str() {
        "accept" => ("AcceptEngagementInvitation", json!({"Catalog": "AWS", "Identifier": id})),
        "reject" => ("RejectEngagementInvitation", json!({"Catalog": "AWS", "Identifier": id})),
        _ => return Ok(not_found(Some(viewer.nav("engagements", "")))),
    };
    if let Some(reason) = form.text("RejectionReason") {
        input["RejectionReason"] = json!(reason);
    }
    match call(&state, &caller, operation, input).await {
        Ok(_) => Ok(Redirect::to("/portal/engagements").into_response()),
        Err(ApiError::ResourceNotFound(_)) => Ok(not_found(Some(viewer.nav("engagements", "")))),
        Err(e) => Err(e.into()),
    }
}
