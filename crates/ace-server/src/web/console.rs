//! The operator console: the review queue and the review page (SUB-1, SUB-2). Decisions go
//! through the operator API's own `decide_as`, so the console and `ace review` apply one rule;
//! each is audited under the staff member's name (USE-4).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::audit::{action, AuditEntry};
use ace_domain::opportunity::ReviewAction;
use ace_domain::submission::ReviewReason;

use super::session::{self, Viewer};
use super::{not_found, page, Fields, Nav, WebError};
use crate::operator_api::review;
use crate::AppState;

/// Who may decide on submissions.
const REVIEWERS: [&str; 2] = ["admin", "reviewer"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue))
        .route("/console/reviews/{id}", get(show))
        .route("/console/reviews/{id}/decision", post(decide))
}

async fn staff(state: &AppState, headers: &HeaderMap) -> Result<Viewer, WebError> {
    let viewer = session::require(state, headers).await?;
    if viewer.is_staff(&session::STAFF_ROLES) {
        Ok(viewer)
    } else {
        Err(WebError::NotFound)
    }
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

struct QueueRow {
    id: String,
    partner: String,
    company: String,
    title: String,
    status: String,
    age_hours: String,
    findings: usize,
}

#[derive(Template)]
#[template(path = "console_queue.html")]
struct QueuePage {
    nav: Option<Nav>,
    status: String,
    rows: Vec<QueueRow>,
}

#[derive(Deserialize, Default)]
struct QueueQuery {
    status: Option<String>,
}

async fn queue(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<QueueQuery>) -> Result<Response, WebError> {
    let viewer = staff(&state, &headers).await?;
    let status = q.status.unwrap_or_else(|| "submitted".into());
    let wanted = review::statuses(Some(&status)).map_err(|e| WebError::Message(StatusCode::BAD_REQUEST, e.message().into()))?;
    let now_ms = state.now().timestamp_millis();
    let rows = state
        .store
        .list_review_queue(&wanted, review::QUEUE_MAX)
        .await?
        .iter()
        .map(|o| {
            let item = review::queue_item(o, now_ms);
            QueueRow {
                id: text(&item, "id"),
                partner: text(&item, "partner_id"),
                company: text(&item, "company_name"),
                title: text(&item, "title"),
                status: text(&item, "review_status"),
                age_hours: text(&item, "age_hours"),
                findings: item["findings"].as_array().map_or(0, Vec::len),
            }
        })
        .collect();
    Ok(page(StatusCode::OK, &QueuePage { nav: Some(viewer.nav("queue", "Review queue")), status, rows }))
}

struct FindingView {
    rule: String,
    code: String,
    field: String,
    message: String,
    /// SUB-2: the record it matched, beside this one.
    matched: Option<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "console_review.html")]
struct ReviewPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    partner: String,
    status: String,
    company: String,
    website: String,
    country: String,
    title: String,
    problem: String,
    submitted_at: String,
    presales: String,
    decision_maker: String,
    consent: String,
    findings: Vec<FindingView>,
    history: Vec<(String, String, String, String)>,
    reasons: Vec<String>,
    can_decide: bool,
    error: Option<String>,
}

async fn review_page(state: &AppState, viewer: &Viewer, id: &str, error: Option<String>) -> Result<Response, WebError> {
    let detail = match review::review_detail(state, id).await {
        Ok(d) => d,
        Err(_) => return Ok(not_found(Some(viewer.nav("queue", "")))),
    };
    let o = &detail["opportunity"];
    let at = |v: &Value, path: &str| -> String {
        path.split('.').try_fold(v, |v, k| v.get(k)).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let a = &detail["attestation"];
    let consent = match a.get("CustomerConsent") {
        Some(c) if !c.is_null() => format!(
            "{} on {} by {} (statement {})",
            at(c, "Method"),
            at(c, "ObtainedAt").chars().take(10).collect::<String>(),
            at(c, "ObtainedBy"),
            at(c, "StatementVersion")
        ),
        _ => String::new(),
    };
    let findings = detail["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| FindingView {
            rule: text(f, "rule"),
            code: text(f, "code"),
            field: text(f, "field"),
            message: text(f, "message"),
            matched: f.get("conflict").filter(|c| !c.is_null()).map(|c| {
                (
                    text(c, "source"),
                    text(c, "record_id"),
                    text(c, "company_name"),
                    format!("{} {}", text(c, "partner_id"), c["reason"]),
                )
            }),
        })
        .collect();
    let history = detail["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| (text(h, "at"), text(h, "status"), text(h, "by"), text(h, "comment")))
        .collect();
    let summary = &detail["summary"];
    let status = text(summary, "review_status");
    Ok(page(
        if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK },
        &ReviewPage {
            nav: Some(viewer.nav("queue", "Review")),
            csrf: viewer.session.csrf.clone(),
            id: id.into(),
            partner: text(summary, "partner_id"),
            can_decide: viewer.is_staff(&REVIEWERS) && matches!(status.as_str(), "Submitted" | "In review" | "Action Required"),
            status,
            company: at(o, "Customer.Account.CompanyName"),
            website: at(o, "Customer.Account.WebsiteUrl"),
            country: at(o, "Customer.Account.Address.CountryCode"),
            title: at(o, "Project.Title"),
            problem: at(o, "Project.CustomerBusinessProblem"),
            submitted_at: text(summary, "submitted_at"),
            presales: at(a, "PreSalesEffort.Description"),
            decision_maker: at(a, "PreSalesEffort.DecisionMakerEngaged"),
            consent,
            findings,
            history,
            reasons: ReviewReason::ALL.iter().map(|r| r.as_str().to_string()).collect(),
            error,
        },
    ))
}

async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, WebError> {
    let viewer = staff(&state, &headers).await?;
    review_page(&state, &viewer, &id, None).await
}

async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let viewer = staff(&state, &headers).await?;
    let form = Fields(form);
    viewer.check_form(&form)?;
    if !viewer.is_staff(&REVIEWERS) {
        return review_page(&state, &viewer, &id, Some("Only reviewers and admins decide on submissions.".into())).await;
    }
    let decision = match form.get("decision") {
        "start" => ReviewAction::StartReview,
        "approve" => ReviewAction::Approve,
        "action-required" => ReviewAction::RequestAction,
        "reject" => ReviewAction::Reject,
        other => return review_page(&state, &viewer, &id, Some(format!("Unknown decision {other:?}."))).await,
    };
    let reviewer = viewer.account.email.clone();
    let comment = form.text("comment");
    let reason = form.text("reason");
    match review::decide_as(&state, &reviewer, &id, decision, comment, reason.as_deref()).await {
        Ok(item) => {
            let mut entry = AuditEntry::new(
                state.now(),
                format!("operator:{reviewer}"),
                action::OPERATOR,
                json!({"console": "review", "opportunity": id, "decision": form.get("decision"), "status": item["review_status"]}),
            );
            entry.partner_id = item["partner_id"].as_str().map(String::from);
            state.store.commit(ace_store::WriteBatch { audit: vec![entry], ..Default::default() }).await?;
            Ok(Redirect::to(&format!("/console/reviews/{id}")).into_response())
        }
        Err(e) => review_page(&state, &viewer, &id, Some(e.message().to_string())).await,
    }
}
