//! The partner portal: pipeline, opportunity pages (create, edit, attest, submit) and the
//! referral inbox (accept, reject, record the contact). Each action is one or two partner API
//! operations through [`invoke`]; refusals come back as the API's field errors and are shown
//! next to the fields they name.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Datelike;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use ace_domain::ids::Catalog;
use ace_domain::model::Model;
use ace_domain::time::format_timestamp;

use super::session::{self, PartnerForm, Viewer};
use super::{not_found, page, Fields, FormErrors, Nav, WebError};
use crate::app::Caller;
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(pipeline))
        .route("/portal/opportunities", post(create))
        .route("/portal/opportunities/new", get(new_form))
        .route("/portal/opportunities/{id}", get(show).post(update))
        .route("/portal/opportunities/{id}/attestation", post(attest))
        .route("/portal/opportunities/{id}/submit", post(submit))
        .route("/portal/opportunities/{id}/solution", post(associate))
        .route("/portal/referrals", get(referrals))
        .route("/portal/referrals/{id}", get(referral))
        .route("/portal/referrals/{id}/accept", post(accept))
        .route("/portal/referrals/{id}/reject", post(reject))
        .route("/portal/referrals/{id}/contact", post(contact))
        .route("/portal/referrals/{id}/opt-out", post(opt_out))
}

/// A partner's user, or the page that says there is nothing here (staff have no pipeline).
pub(super) async fn partner(state: &AppState, headers: &HeaderMap) -> Result<(Viewer, Caller), WebError> {
    let viewer = session::require(state, headers).await?;
    match viewer.caller.clone() {
        Some(caller) => Ok((viewer, caller)),
        None => Err(WebError::NotFound),
    }
}

/// Runs the Selling API's `operation` for the portal's user (`app::operations`): the same quota,
/// model check, handler and audit as a signed request. An operation without output answers null.
pub(super) async fn call(state: &AppState, caller: &Caller, operation: &str, input: Value) -> Result<Value, ApiError> {
    Ok(crate::app::operations::invoke(state, caller, operation, input).await?.unwrap_or(Value::Null))
}

fn catalog_of(name: Option<&str>) -> Catalog {
    name.and_then(Catalog::parse).unwrap_or(Catalog::Aws)
}

/// A value for a URL's query string.
pub(super) fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An API timestamp for people: `2026-12-03 05:00 UTC`.
pub fn when(timestamp: &str) -> String {
    match ace_domain::time::parse_timestamp(&Value::String(timestamp.to_string())) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => timestamp.to_string(),
    }
}

pub(super) fn text_at<'a>(v: &'a Value, path: &str) -> &'a str {
    path.split('.').try_fold(v, |v, k| v.get(k)).and_then(Value::as_str).unwrap_or("")
}

/// Sets (or, for `None`, removes) the member at a dotted path, creating objects on the way.
fn set_path(v: &mut Value, path: &str, value: Option<Value>) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut node = v;
    for p in parts {
        if !node.get(p).is_some_and(Value::is_object) {
            if value.is_none() {
                return;
            }
            node[p] = json!({});
        }
        node = &mut node[p];
    }
    match (value, node.as_object_mut()) {
        (Some(x), Some(map)) => {
            map.insert(last.to_string(), x);
        }
        (None, Some(map)) => {
            map.remove(last);
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Pipeline

#[derive(Deserialize, Default)]
struct PipelineQuery {
    catalog: Option<String>,
    stage: Option<String>,
    review: Option<String>,
    company: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<String>,
}

struct Row {
    id: String,
    company: String,
    stage: String,
    review: String,
    target_close: String,
    modified: String,
}

#[derive(Template)]
#[template(path = "pipeline.html")]
struct PipelinePage {
    nav: Option<Nav>,
    catalog: String,
    stage: String,
    review: String,
    company: String,
    sort: String,
    order: String,
    stages: Vec<String>,
    reviews: Vec<String>,
    sorts: Vec<String>,
    rows: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
}

const PAGE_SIZE: u64 = 50;

async fn pipeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PipelineQuery>,
) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let catalog = catalog_of(q.catalog.as_deref());
    let sort = q.sort.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "LastModifiedDate".into());
    let order = if q.order.as_deref() == Some("ASCENDING") { "ASCENDING" } else { "DESCENDING" };
    let mut input = json!({
        "Catalog": catalog.as_str(), "MaxResults": PAGE_SIZE, "Sort": {"SortBy": sort, "SortOrder": order},
    });
    let nonempty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(stage) = nonempty(&q.stage) {
        input["LifeCycleStage"] = json!([stage]);
    }
    if let Some(review) = nonempty(&q.review) {
        input["LifeCycleReviewStatus"] = json!([review]);
    }
    if let Some(company) = nonempty(&q.company) {
        input["CustomerCompanyName"] = json!([company]);
    }
    if let Some(token) = nonempty(&q.page) {
        input["NextToken"] = json!(token);
    }
    let (rows, next, error) = match call(&state, &caller, "ListOpportunities", input).await {
        Ok(out) => {
            let rows = out["OpportunitySummaries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| Row {
                    id: text_at(o, "Id").into(),
                    company: text_at(o, "Customer.Account.CompanyName").into(),
                    stage: text_at(o, "LifeCycle.Stage").into(),
                    review: text_at(o, "LifeCycle.ReviewStatus").into(),
                    target_close: text_at(o, "LifeCycle.TargetCloseDate").into(),
                    modified: when(text_at(o, "LastModifiedDate")),
                })
                .collect();
            let next = out["NextToken"].as_str().map(|token| {
                let keep = |k: &str, v: &Option<String>| format!("&{k}={}", query_value(v.as_deref().unwrap_or("")));
                format!(
                    "/portal?catalog={}{}{}{}&sort={}&order={order}&page={}",
                    catalog.as_str(),
                    keep("stage", &q.stage),
                    keep("review", &q.review),
                    keep("company", &q.company),
                    query_value(&sort),
                    query_value(token)
                )
            });
            (rows, next, None)
        }
        Err(e) => (Vec::new(), None, Some(super::api_message(&e))),
    };
    let model = Model::get();
    let values = |shape: &str| model.enum_values(shape).map(<[String]>::to_vec).unwrap_or_default();
    Ok(page(
        if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK },
        &PipelinePage {
            nav: Some(viewer.nav("pipeline", "Pipeline")),
            catalog: catalog.as_str().into(),
            stage: q.stage.unwrap_or_default(),
            review: q.review.unwrap_or_default(),
            company: q.company.unwrap_or_default(),
            sort,
            order: order.into(),
            stages: values("Stage"),
            reviews: values("ReviewStatus"),
            sorts: values("OpportunitySortName"),
            rows,
            next,
            error,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Opportunity form

/// One input of a form, named by its API field path so that field errors land next to it.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `url`, `date`, `textarea`, `select`.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<String>,
    pub required: bool,
    pub help: String,
    pub error: Option<String>,
    /// Shown but not editable (the review state locks the record).
    pub disabled: bool,
}

/// The opportunity fields the portal edits; everything else in the record is kept as it is.
const OPPORTUNITY_FIELDS: [(&str, &str, &str, bool, &str); 12] = [
    ("Customer.Account.CompanyName", "Customer company", "text", true, ""),
    ("Customer.Account.WebsiteUrl", "Customer website", "text", false, "e.g. https://example.com"),
    ("Customer.Account.Industry", "Industry", "select", false, ""),
    ("Customer.Account.Address.CountryCode", "Country", "select", false, ""),
    ("Customer.Account.Address.StateOrRegion", "State or region", "text", false, "Needed to submit a US customer."),
    ("Customer.Account.Address.City", "City", "text", false, ""),
    ("Customer.Account.Address.PostalCode", "Postal code", "text", false, ""),
    ("Project.Title", "Project title", "text", false, ""),
    (
        "Project.CustomerBusinessProblem",
        "Customer business problem",
        "textarea",
        false,
        "The business need, in the customer's terms. No personal data (SUB-5).",
    ),
    ("LifeCycle.Stage", "Stage", "select", false, ""),
    ("LifeCycle.TargetCloseDate", "Target close date", "date", false, ""),
    ("LifeCycle.NextSteps", "Next steps", "textarea", false, ""),
];

fn options_for(name: &str) -> Vec<String> {
    let shape = match name {
        "Customer.Account.Industry" => "Industry",
        "Customer.Account.Address.CountryCode" => "CountryCode",
        "LifeCycle.Stage" => "Stage",
        _ => return Vec::new(),
    };
    let mut values = Model::get().enum_values(shape).map(<[String]>::to_vec).unwrap_or_default();
    if shape == "CountryCode" {
        values.sort();
    }
    values
}

/// The form's fields, filled from `values` (a submitted form, or the record as stored).
fn opportunity_fields(value_of: impl Fn(&str) -> String, errors: &FormErrors) -> Vec<Field> {
    OPPORTUNITY_FIELDS
        .iter()
        .map(|(name, label, kind, required, help)| Field {
            name,
            label,
            kind,
            value: value_of(name),
            options: options_for(name),
            required: *required,
            help: help.to_string(),
            error: errors.field(name).cloned(),
            disabled: false,
        })
        .collect()
}

/// The form's values written into an opportunity document.
fn apply_form(document: &mut Value, form: &Fields) {
    for (name, ..) in OPPORTUNITY_FIELDS {
        set_path(document, name, form.text(name).map(Value::String));
    }
}

fn field_names() -> Vec<&'static str> {
    OPPORTUNITY_FIELDS.iter().map(|f| f.0).collect()
}

#[derive(Template)]
#[template(path = "opportunity_new.html")]
struct NewOpportunityPage {
    nav: Option<Nav>,
    csrf: String,
    catalog: String,
    client_token: String,
    fields: Vec<Field>,
    solutions: Vec<(String, String)>,
    solution: String,
    general: Vec<String>,
}

async fn solutions(state: &AppState, caller: &Caller, catalog: Catalog) -> Vec<(String, String)> {
    let input = json!({"Catalog": catalog.as_str(), "MaxResults": 100, "Status": ["Active"]});
    match call(state, caller, "ListSolutions", input).await {
        Ok(out) => out["SolutionSummaries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| (text_at(s, "Id").to_string(), format!("{} ({})", text_at(s, "Name"), text_at(s, "Category"))))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[derive(Deserialize, Default)]
struct CatalogQuery {
    catalog: Option<String>,
}

async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CatalogQuery>,
) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let catalog = catalog_of(q.catalog.as_deref());
    let defaults = |name: &str| if name == "LifeCycle.Stage" { "Prospect".to_string() } else { String::new() };
    Ok(page(
        StatusCode::OK,
        &NewOpportunityPage {
            nav: Some(viewer.nav("new", "New opportunity")),
            csrf: viewer.session.csrf.clone(),
            catalog: catalog.as_str().into(),
            // The form's idempotency token: submitting the same form twice creates one record.
            client_token: uuid::Uuid::new_v4().to_string(),
            fields: opportunity_fields(defaults, &FormErrors::default()),
            solutions: solutions(&state, &caller, catalog).await,
            solution: String::new(),
            general: Vec::new(),
        },
    ))
}

async fn create(State(state): State<AppState>, PartnerForm { viewer, caller, form }: PartnerForm) -> Result<Response, WebError> {
    let catalog = catalog_of(Some(form.get("catalog")));
    let mut input = json!({"Catalog": catalog.as_str(), "ClientToken": form.get("client_token")});
    apply_form(&mut input, &form);
    let outcome = match call(&state, &caller, "CreateOpportunity", input).await {
        Ok(created) => {
            let id = text_at(&created, "Id").to_string();
            match form.text("solution") {
                Some(solution) => {
                    let associate = json!({
                        "Catalog": catalog.as_str(), "OpportunityIdentifier": id,
                        "RelatedEntityType": "Solutions", "RelatedEntityIdentifier": solution,
                    });
                    call(&state, &caller, "AssociateOpportunity", associate).await.map(|_| id)
                }
                None => Ok(id),
            }
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(id) => Ok(Redirect::to(&format!("/portal/opportunities/{id}?catalog={}", catalog.as_str())).into_response()),
        Err(e) => {
            let mut known = field_names();
            known.push("RelatedEntityIdentifier");
            let errors = FormErrors::from_api(&e, &known);
            Ok(page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &NewOpportunityPage {
                    nav: Some(viewer.nav("new", "New opportunity")),
                    csrf: viewer.session.csrf.clone(),
                    catalog: catalog.as_str().into(),
                    client_token: uuid::Uuid::new_v4().to_string(),
                    fields: opportunity_fields(|n| form.get(n).to_string(), &errors),
                    solutions: solutions(&state, &caller, catalog).await,
                    solution: form.get("solution").into(),
                    general: errors.general.into_iter().chain(errors.by_field.get("RelatedEntityIdentifier").cloned()).collect(),
                },
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One opportunity

#[derive(Template)]
#[template(path = "opportunity.html")]
struct OpportunityPage {
    nav: Option<Nav>,
    csrf: String,
    catalog: String,
    id: String,
    company: String,
    review_status: String,
    review_comments: String,
    last_modified: String,
    /// Why the record cannot be edited now, if it cannot.
    locked: Option<String>,
    fields: Vec<Field>,
    attestation: Vec<Field>,
    attested_by: Option<String>,
    /// The consent statement in force, which a consent given now refers to (SUB-4).
    statement_version: String,
    activities: Vec<(String, bool)>,
    sensitive_data_consent: bool,
    can_submit: bool,
    /// The partner's solutions associated with the record, and those it could add.
    associated: Vec<String>,
    solutions: Vec<(String, String)>,
    solution_error: Option<String>,
    notice: Option<String>,
    general: Vec<String>,
}

const ATTESTATION_FIELDS: [&str; 6] = [
    "PreSalesEffort.Description",
    "PreSalesEffort.DecisionMakerEngaged",
    "PreSalesEffort.LastMeetingDate",
    "CustomerConsent.Method",
    "CustomerConsent.ObtainedAt",
    "CustomerConsent.ObtainedBy",
];
const ACTIVITIES: [&str; 5] = ["Workshop", "Architecture review", "Proof of concept", "Demo", "Executive briefing"];

struct PageInput<'a> {
    form: Option<&'a Fields>,
    errors: FormErrors,
    notice: Option<String>,
}

async fn opportunity_page(
    state: &AppState,
    viewer: &Viewer,
    caller: &Caller,
    catalog: Catalog,
    id: &str,
    input: PageInput<'_>,
) -> Result<Response, WebError> {
    let got = call(state, caller, "GetOpportunity", json!({"Catalog": catalog.as_str(), "Identifier": id})).await?;
    // The attestation is read from the partner's own record (its API operation answers
    // not-found until there is one, which USE-2 would count as probing).
    let record =
        crate::app::tenant::Tenant::new(state, &caller.partner.id, catalog).opportunity(id).await?.ok_or(WebError::NotFound)?;
    let attestation = record.review.attestation.as_ref().map(|a| serde_json::to_value(a).unwrap_or(Value::Null));
    let review_status = text_at(&got, "LifeCycle.ReviewStatus").to_string();
    let stored_value = |name: &str| text_at(&got, name).to_string();
    let fields = match input.form {
        Some(form) if input.form.is_some_and(|f| f.get("_form") == "opportunity") => {
            opportunity_fields(|n| form.get(n).to_string(), &input.errors)
        }
        _ => opportunity_fields(stored_value, &input.errors),
    };
    let attestation_form = input.form.filter(|f| f.get("_form") == "attestation");
    let attested = |path: &str| attestation.as_ref().map(|a| text_at(a, path).to_string()).unwrap_or_default();
    let attestation_fields: Vec<Field> = ATTESTATION_FIELDS
        .iter()
        .map(|name| {
            let (label, kind, required, help) = match *name {
                "PreSalesEffort.Description" => {
                    ("Pre-sales effort", "textarea", true, "What your team did with the customer (SUB-3).")
                }
                "PreSalesEffort.DecisionMakerEngaged" => ("Decision maker engaged", "text", true, "Their role, e.g. CIO."),
                "PreSalesEffort.LastMeetingDate" => ("Last meeting", "date", false, ""),
                "CustomerConsent.Method" => ("How the customer consented", "select", true, "SUB-4"),
                "CustomerConsent.ObtainedAt" => ("Consent obtained on", "date", true, ""),
                _ => ("Consent obtained by", "text", true, "The person at your company."),
            };
            let value = match attestation_form {
                Some(f) => f.get(name).to_string(),
                None if *name == "CustomerConsent.ObtainedAt" => attested(name).chars().take(10).collect(),
                None => attested(name),
            };
            Field {
                name,
                label,
                kind,
                value,
                options: if *name == "CustomerConsent.Method" {
                    ["Email", "Form", "Verbal", "Signed"].map(String::from).to_vec()
                } else {
                    Vec::new()
                },
                required,
                help: help.to_string(),
                error: input.errors.field(name).cloned(),
                disabled: false,
            }
        })
        .collect();
    let chosen: Vec<String> = match attestation_form {
        Some(f) => f.all("PreSalesEffort.Activities"),
        None => attestation
            .as_ref()
            .and_then(|a| a["PreSalesEffort"]["Activities"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
    };
    let activities = ACTIVITIES.iter().map(|a| (a.to_string(), chosen.iter().any(|c| c == a))).collect();
    let sensitive = match attestation_form {
        Some(f) => f.checked("SensitiveDataConsent"),
        None => attestation.as_ref().is_some_and(|a| a["SensitiveDataConsent"] == json!(true)),
    };
    let statement_version = crate::app::review::consent_statements(state)
        .await?
        .into_iter()
        .max_by_key(|s| s.published_ms)
        .map(|s| s.version)
        .unwrap_or_default();
    let associated: Vec<String> = got["RelatedEntityIdentifiers"]["Solutions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let solutions: Vec<(String, String)> =
        solutions(state, caller, catalog).await.into_iter().filter(|(id, _)| !associated.contains(id)).collect();
    // SUB-1: the domain says what the review state and stage leave editable, field by field.
    use ace_domain::opportunity::ReviewAction;
    let review = record.review_status();
    let locked = ace_domain::opportunity::update_refusal(review).map(|_| match review {
        ace_domain::opportunity::ReviewStatus::Rejected => {
            "Rejected: a rejected opportunity cannot be changed (SUB-1).".to_string()
        }
        status => format!(
            "{}: the operator is reviewing this opportunity, so it cannot be changed until the review ends (SUB-1).",
            status.as_str()
        ),
    });
    let mut fields = fields;
    for f in &mut fields {
        // The whole record locked: said once above the form. One field locked: said at it.
        f.disabled = locked.is_some();
        if let Some(why) = locked.is_none().then(|| ace_domain::opportunity::field_lock(&record, f.name)).flatten() {
            f.disabled = true;
            f.help = why;
        }
    }
    let status = if input.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(page(
        status,
        &OpportunityPage {
            nav: Some(viewer.nav("pipeline", "Opportunity")),
            csrf: viewer.session.csrf.clone(),
            catalog: catalog.as_str().into(),
            id: id.into(),
            company: text_at(&got, "Customer.Account.CompanyName").into(),
            // SUB-1: the attestation and submission are offered where the domain's review machine
            // lets the partner (re)submit: a first submission, or an answer to Action Required.
            can_submit: locked.is_none()
                && [ReviewAction::Submit, ReviewAction::AnswerActionRequired]
                    .into_iter()
                    .any(|action| ace_domain::opportunity::review_transition(review, action).is_some()),
            review_status,
            review_comments: text_at(&got, "LifeCycle.ReviewComments").into(),
            last_modified: text_at(&got, "LastModifiedDate").into(),
            locked,
            fields,
            attestation: attestation_fields,
            attested_by: attestation.as_ref().and_then(|a| a["RecordedBy"].as_str().map(String::from)),
            statement_version,
            activities,
            sensitive_data_consent: sensitive,
            associated,
            solutions,
            solution_error: input.errors.field("RelatedEntityIdentifiers").cloned(),
            notice: input.notice,
            general: input.errors.general,
        },
    ))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let notice = q.done.as_deref().map(|d| match d {
        "updated" => "Saved.".to_string(),
        "attested" => "Attestation recorded.".to_string(),
        "submitted" => "Submitted for review. The operator will validate it.".to_string(),
        "associated" => "Solution associated.".to_string(),
        _ => String::new(),
    });
    let catalog = catalog_of(q.catalog.as_deref());
    let input = PageInput { form: None, errors: FormErrors::default(), notice: notice.filter(|n| !n.is_empty()) };
    match opportunity_page(&state, &viewer, &caller, catalog, &id, input).await {
        Err(WebError::NotFound) => Ok(not_found(Some(viewer.nav("", "")))),
        other => other,
    }
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    catalog: Option<String>,
    done: Option<String>,
}

fn done(id: &str, catalog: Catalog, what: &str) -> Response {
    Redirect::to(&format!("/portal/opportunities/{id}?catalog={}&done={what}", catalog.as_str())).into_response()
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let catalog = catalog_of(Some(form.get("catalog")));
    let current = call(&state, &caller, "GetOpportunity", json!({"Catalog": catalog.as_str(), "Identifier": id})).await?;
    // UpdateOpportunity replaces the record: start from what is stored, change what the form
    // edits, and send the LastModifiedDate the form was rendered with (a change meanwhile is a
    // ConflictException, not a silent overwrite).
    let updatable = Model::get().operation_input("UpdateOpportunity").unwrap_or("UpdateOpportunityRequest");
    let mut input = Value::Object(Map::new());
    for (k, v) in current.as_object().into_iter().flatten() {
        if Model::get().member_shape(updatable, k).is_some() {
            input[k] = v.clone();
        }
    }
    if let Some(life_cycle) = input.get_mut("LifeCycle").and_then(Value::as_object_mut) {
        life_cycle.retain(|k, _| matches!(k.as_str(), "Stage" | "TargetCloseDate" | "NextSteps" | "ClosedLostReason"));
    }
    apply_form(&mut input, &form);
    input["Catalog"] = json!(catalog.as_str());
    input["Identifier"] = json!(id);
    input["LastModifiedDate"] = json!(form.get("last_modified"));
    let outcome = call(&state, &caller, "UpdateOpportunity", input).await;
    let write = Write { catalog, id: &id, done: "updated", known: &field_names(), form: Some(&form) };
    after_write(&state, &viewer, &caller, outcome, write).await
}

/// One of the opportunity page's writes.
struct Write<'a> {
    catalog: Catalog,
    id: &'a str,
    /// The notice to show once done.
    done: &'static str,
    /// The form's fields an error may name.
    known: &'a [&'a str],
    /// What was typed, to show again with the errors.
    form: Option<&'a Fields>,
}

/// Back to the opportunity page: with the notice when the write was done, with each error at its
/// field when it was refused.
async fn after_write(
    state: &AppState,
    viewer: &Viewer,
    caller: &Caller,
    outcome: Result<Value, ApiError>,
    w: Write<'_>,
) -> Result<Response, WebError> {
    match outcome {
        Ok(_) => Ok(done(w.id, w.catalog, w.done)),
        Err(ApiError::ResourceNotFound(_)) => Err(WebError::NotFound),
        Err(e) => {
            let errors = FormErrors::from_api(&e, w.known);
            opportunity_page(state, viewer, caller, w.catalog, w.id, PageInput { form: w.form, errors, notice: None }).await
        }
    }
}

async fn attest(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let catalog = catalog_of(Some(form.get("catalog")));
    let mut input = json!({"Catalog": catalog.as_str(), "OpportunityIdentifier": id});
    for name in ATTESTATION_FIELDS {
        let value = form.text(name).map(|v| match name {
            // A date picked in the browser is a day; the API wants a moment.
            "CustomerConsent.ObtainedAt" if v.len() == 10 => format!("{v}T00:00:00Z"),
            _ => v,
        });
        set_path(&mut input, name, value.map(Value::String));
    }
    let activities = form.all("PreSalesEffort.Activities");
    if !activities.is_empty() {
        set_path(&mut input, "PreSalesEffort.Activities", Some(json!(activities)));
    }
    if input.get("CustomerConsent").is_some() {
        set_path(&mut input, "CustomerConsent.StatementVersion", Some(json!(form.get("statement_version"))));
    }
    if form.checked("SensitiveDataConsent") {
        input["SensitiveDataConsent"] = json!(true);
    }
    let outcome = call(&state, &caller, "PutSubmissionAttestation", input).await;
    let mut known: Vec<&str> = ATTESTATION_FIELDS.to_vec();
    known.extend(["PreSalesEffort", "CustomerConsent"]);
    let write = Write { catalog, id: &id, done: "attested", known: &known, form: Some(&form) };
    after_write(&state, &viewer, &caller, outcome, write).await
}

async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let catalog = catalog_of(Some(form.get("catalog")));
    let input = json!({"Catalog": catalog.as_str(), "Identifier": id, "InvolvementType": "Co-Sell"});
    let outcome = call(&state, &caller, "SubmitOpportunity", input).await;
    // The pre-screen's findings name fields of the record and of the attestation.
    let mut known = field_names();
    known.extend(ATTESTATION_FIELDS);
    known.extend(["PreSalesEffort", "CustomerConsent", "RelatedEntityIdentifiers"]);
    let write = Write { catalog, id: &id, done: "submitted", known: &known, form: None };
    after_write(&state, &viewer, &caller, outcome, write).await
}

// ---------------------------------------------------------------------------------------------
// Referrals

struct InvitationRow {
    id: String,
    title: String,
    status: String,
    invited: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "referrals.html")]
struct ReferralsPage {
    nav: Option<Nav>,
    rows: Vec<InvitationRow>,
    notice: Option<String>,
}

async fn referrals(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let input = json!({"Catalog": "AWS", "ParticipantType": "RECEIVER", "MaxResults": 100});
    let out = call(&state, &caller, "ListEngagementInvitations", input).await?;
    let rows = out["EngagementInvitationSummaries"]
        .as_array()
        .into_iter()
        .flatten()
        // Invitations from other partners are on the engagements page.
        .filter(|i| text_at(i, "SenderAwsAccountId") == ace_domain::engagement::OPERATOR_ACCOUNT)
        .map(|i| InvitationRow {
            id: text_at(i, "Id").into(),
            title: text_at(i, "EngagementTitle").into(),
            status: text_at(i, "Status").into(),
            invited: when(text_at(i, "InvitationDate")),
            expires: when(text_at(i, "ExpirationDate")),
        })
        .collect();
    let notice = (q.done.as_deref() == Some("opted-out"))
        .then(|| "The opt-out is relayed: the customer is on the program's suppression list and the referral is closed.".into());
    Ok(page(StatusCode::OK, &ReferralsPage { nav: Some(viewer.nav("referrals", "Referrals")), rows, notice }))
}

#[derive(Template)]
#[template(path = "referral.html")]
struct ReferralPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    status: String,
    title: String,
    company: String,
    problem: String,
    contact: String,
    opportunity_id: String,
    acceptance_deadline: String,
    contact_deadline: String,
    /// Machine-readable, for the live countdown.
    deadline_iso: String,
    business_days_left: Option<u32>,
    contact_met: bool,
    contacted_at: String,
    now: String,
    outreach: String,
    channels: Vec<String>,
    notice: Option<String>,
    errors: FormErrors,
}

async fn referral_page(
    state: &AppState,
    viewer: &Viewer,
    caller: &Caller,
    id: &str,
    notice: Option<String>,
    errors: FormErrors,
) -> Result<Response, WebError> {
    let invitation = call(state, caller, "GetEngagementInvitation", json!({"Catalog": "AWS", "Identifier": id})).await?;
    let obligations =
        call(state, caller, "GetReferralObligations", json!({"Catalog": "AWS", "InvitationIdentifier": id})).await?;
    let o = &obligations["Obligations"];
    let status = text_at(&invitation, "Status").to_string();
    let opportunity_id = text_at(o, "OpportunityIdentifier").to_string();
    // Customer data is shown only once accepted; before that the API itself withholds it.
    let (company, problem, contact) = if opportunity_id.is_empty() {
        let payload = &invitation["Payload"];
        let customer = payload["OpportunityInvitation"].get("Customer").unwrap_or(&payload["LeadInvitation"]["Customer"]);
        (text_at(customer, "CompanyName").to_string(), String::new(), String::new())
    } else {
        let got = call(state, caller, "GetOpportunity", json!({"Catalog": "AWS", "Identifier": opportunity_id})).await?;
        let c = &got["Customer"]["Contacts"][0];
        let name = format!("{} {}", text_at(c, "FirstName"), text_at(c, "LastName"));
        let contact = [name.trim(), text_at(c, "Email"), text_at(c, "Phone")]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" · ");
        (text_at(&got, "Customer.Account.CompanyName").into(), text_at(&got, "Project.CustomerBusinessProblem").into(), contact)
    };
    let outreach = if status == "ACCEPTED" {
        call(state, caller, "GetOutreachTemplate", json!({"Catalog": "AWS", "InvitationIdentifier": id}))
            .await
            .map(|t| format!("Subject: {}\n\n{}", text_at(&t, "EmailSubject"), text_at(&t, "EmailBody")))
            .unwrap_or_default()
    } else {
        String::new()
    };
    // REF-3 in the partner's own business days.
    let now = state.now();
    let deadline = ace_domain::time::parse_timestamp(&o["ContactDeadline"]);
    let business_days_left = match deadline {
        Some(deadline) => {
            let tz: chrono_tz::Tz = caller.partner.timezone.parse().unwrap_or(chrono_tz::UTC);
            let holidays = crate::referrals::calendar(state, caller.partner.holiday_calendar.as_deref(), now.year()).await?;
            Some(ace_domain::business_days::business_days_left(now, deadline, tz, &holidays))
        }
        None => None,
    };
    let channels = Model::ace_partner()
        .member_shape("RecordReferralContactRequest", "Channel")
        .and_then(|s| Model::ace_partner().enum_values(s))
        .map(<[String]>::to_vec)
        .unwrap_or_else(|| vec!["Email".into(), "Phone".into()]);
    Ok(page(
        if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY },
        &ReferralPage {
            nav: Some(viewer.nav("referrals", "Referral")),
            csrf: viewer.session.csrf.clone(),
            id: id.into(),
            title: text_at(&invitation, "EngagementTitle").into(),
            status,
            company,
            problem,
            contact,
            opportunity_id,
            acceptance_deadline: when(text_at(o, "AcceptanceDeadline")),
            contact_deadline: when(text_at(o, "ContactDeadline")),
            business_days_left,
            contact_met: o["ContactMet"] == json!(true),
            contacted_at: when(text_at(o, "ContactedAt")),
            deadline_iso: text_at(o, "ContactDeadline").into(),
            now: format_timestamp(now),
            outreach,
            channels,
            notice,
            errors,
        },
    ))
}

async fn referral(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let (viewer, caller) = partner(&state, &headers).await?;
    let notice = match q.done.as_deref() {
        Some("accepted") => Some("Accepted. Contact the customer within 3 business days (REF-3).".to_string()),
        Some("contacted") => Some("Contact recorded.".to_string()),
        _ => None,
    };
    match referral_page(&state, &viewer, &caller, &id, notice, FormErrors::default()).await {
        Err(WebError::NotFound) => Ok(not_found(Some(viewer.nav("", "")))),
        other => other,
    }
}

/// After one of the referral page's actions: `done` when it was done, 404 when the referral is
/// not the caller's, the page again with each refusal at its field otherwise.
async fn after_referral_write(
    state: &AppState,
    viewer: &Viewer,
    caller: &Caller,
    id: &str,
    outcome: Result<Value, ApiError>,
    done: Response,
    known: &[&str],
) -> Result<Response, WebError> {
    match outcome {
        Ok(_) => Ok(done),
        Err(ApiError::ResourceNotFound(_)) => Err(WebError::NotFound),
        Err(e) => referral_page(state, viewer, caller, id, None, FormErrors::from_api(&e, known)).await,
    }
}

fn referral_done(id: &str, what: &str) -> Response {
    Redirect::to(&format!("/portal/referrals/{id}?done={what}")).into_response()
}

async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, .. }: PartnerForm,
) -> Result<Response, WebError> {
    let input = json!({"Catalog": "AWS", "Identifier": id, "ClientToken": format!("portal-accept-{id}")});
    let outcome = call(&state, &caller, "StartEngagementByAcceptingInvitationTask", input).await;
    after_referral_write(&state, &viewer, &caller, &id, outcome, referral_done(&id, "accepted"), &[]).await
}

async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let mut input = json!({"Catalog": "AWS", "Identifier": id});
    if let Some(reason) = form.text("RejectionReason") {
        input["RejectionReason"] = json!(reason);
    }
    let outcome = call(&state, &caller, "RejectEngagementInvitation", input).await;
    let done = Redirect::to("/portal/referrals").into_response();
    after_referral_write(&state, &viewer, &caller, &id, outcome, done, &["RejectionReason"]).await
}

async fn contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let mut input = json!({
        "Catalog": "AWS", "InvitationIdentifier": id, "Channel": form.get("Channel"),
        "ContactedAt": format_timestamp(state.now()), "ActingInOwnName": form.checked("ActingInOwnName"),
    });
    if let Some(note) = form.text("Note") {
        input["Note"] = json!(note);
    }
    let outcome = call(&state, &caller, "RecordReferralContact", input).await;
    let known = ["Channel", "ActingInOwnName", "Note", "ContactedAt"];
    after_referral_write(&state, &viewer, &caller, &id, outcome, referral_done(&id, "contacted"), &known).await
}

/// REF-5: the customer asked not to be contacted; the partner relays it and the referral closes.
async fn opt_out(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let input = json!({
        "Catalog": "AWS", "InvitationIdentifier": id, "Scope": form.get("Scope"), "Channel": form.get("OptOutChannel"),
        "ReceivedAt": format_timestamp(state.now()),
    });
    let outcome = call(&state, &caller, "RelayOptOut", input).await;
    let done = Redirect::to("/portal/referrals?done=opted-out").into_response();
    after_referral_write(&state, &viewer, &caller, &id, outcome, done, &["Scope"]).await
}

/// A solution of the partner's, associated with the opportunity (a submission needs one).
async fn associate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PartnerForm { viewer, caller, form }: PartnerForm,
) -> Result<Response, WebError> {
    let catalog = catalog_of(Some(form.get("catalog")));
    let input = json!({"Catalog": catalog.as_str(), "OpportunityIdentifier": id, "RelatedEntityType": "Solutions",
                       "RelatedEntityIdentifier": form.get("solution")});
    let outcome = call(&state, &caller, "AssociateOpportunity", input).await;
    let write = Write {
        catalog,
        id: &id,
        done: "associated",
        known: &["RelatedEntityIdentifier", "RelatedEntityIdentifiers"],
        form: None,
    };
    after_write(&state, &viewer, &caller, outcome, write).await
}
