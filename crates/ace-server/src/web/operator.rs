//! The rest of the operator console: partners with their eligibility at a glance and in
//! detail, referral creation behind the eligibility gate (REF-1), removal (REM-1), the
//! suppression list (REF-5), terms publishing with acceptance status (MOD-2, MOD-3) and the
//! audit log with its verification (USE-4). Each action is the operator API's own function,
//! recorded under the staff member's address.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::audit::{action, AuditEntry};
use ace_domain::eligibility::EligibilityReport;
use ace_domain::partner::PartnerProfile;

use super::portal::when;
use super::session::{self, StaffForm, Viewer};
use super::{not_found, page, Fields, Nav, WebError};
use crate::app::{governance, referrals};
use crate::AppState;

/// Who manages partners: referrals, removal, the suppression list.
const PARTNER_MANAGERS: [&str; 2] = ["admin", "partner-manager"];
const ADMINS: [&str; 1] = ["admin"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/partners", get(partners))
        .route("/console/partners/{id}", get(partner))
        .route("/console/partners/{id}/referrals", post(refer))
        .route("/console/partners/{id}/remove", post(remove))
        .route("/console/suppression", get(suppression))
        .route("/console/engagements", get(engagements))
        .route("/console/engagements/{id}/snapshots", get(snapshots))
        .route("/console/terms", get(terms).post(publish))
        .route("/console/audit", get(audit))
}

fn actor(viewer: &Viewer) -> String {
    format!("operator:{}", viewer.account.email)
}

// ---------------------------------------------------------------------------------------------

struct PartnerRow {
    id: String,
    name: String,
    path: String,
    tier: String,
    segment: String,
    eligible: bool,
    unmet: usize,
    removed: String,
}

#[derive(Template)]
#[template(path = "console_partners.html")]
struct PartnersPage {
    nav: Option<Nav>,
    rows: Vec<PartnerRow>,
}

fn removed(p: &PartnerProfile) -> String {
    p.removal.as_ref().map(|r| format!("removed from {}", r.scope.as_str())).unwrap_or_default()
}

async fn partners(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    let reports = crate::app::eligibility::all_reports(&state, state.now(), state.now()).await?;
    let rows = crate::app::admin::partners(&state)
        .await?
        .iter()
        .map(|p| {
            let report = reports.iter().find(|r| r.partner_id == p.id);
            PartnerRow {
                id: p.id.clone(),
                name: p.name.clone(),
                path: format!("{:?}", p.path).to_lowercase(),
                tier: format!("{:?}", p.tier).to_lowercase(),
                segment: report.and_then(|r| r.segment).map(|s| s.as_str().to_string()).unwrap_or_default(),
                eligible: report.is_some_and(|r| r.eligible),
                unmet: report.map_or(0, |r| r.requirements.iter().filter(|q| !q.met).count()),
                removed: removed(p),
            }
        })
        .collect();
    Ok(page(StatusCode::OK, &PartnersPage { nav: Some(viewer.nav("partners", "Partners")), rows }))
}

#[derive(Template)]
#[template(path = "console_partner.html")]
struct PartnerPage {
    nav: Option<Nav>,
    csrf: String,
    id: String,
    name: String,
    facts: Vec<(String, String)>,
    report: EligibilityReport,
    can_manage: bool,
    removed: String,
    form: Fields,
    notice: Option<String>,
    /// A refused referral or removal, shown in its own section above the form it came from.
    refer_error: Option<String>,
    remove_error: Option<String>,
}

/// Which of the partner page's forms was refused, and why.
enum Refused {
    Referral(String),
    Removal(String),
}

async fn partner_page(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    form: Fields,
    notice: Option<String>,
    refused: Option<Refused>,
) -> Result<Response, WebError> {
    let Some(p) = crate::app::partners::find(state, id).await? else { return Ok(not_found(Some(viewer.nav("partners", "")))) };
    let Some(report) = crate::app::eligibility::report(state, id, state.now()).await? else {
        return Ok(not_found(Some(viewer.nav("partners", ""))));
    };
    let facts = vec![
        ("Path and tier".into(), format!("{:?} · {:?}", p.path, p.tier).to_lowercase()),
        ("Programs".into(), p.programs.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")),
        ("Listed in the Partner Solutions Finder".into(), if p.psf_listed { "yes" } else { "no" }.into()),
        ("Privacy policy".into(), p.privacy_policy.clone().unwrap_or_else(|| "none given".into())),
        (
            "Time zone and holidays".into(),
            format!("{} · {}", p.timezone, p.holiday_calendar.as_deref().unwrap_or("no holiday calendar")),
        ),
        ("Approved for referrals".into(), if p.referrals_approved { "yes" } else { "no" }.into()),
    ];
    let status = if refused.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    let (refer_error, remove_error) = match refused {
        Some(Refused::Referral(e)) => (Some(e), None),
        Some(Refused::Removal(e)) => (None, Some(e)),
        None => (None, None),
    };
    Ok(page(
        status,
        &PartnerPage {
            nav: Some(viewer.nav("partners", "Partner")),
            csrf: viewer.session.csrf.clone(),
            id: p.id.clone(),
            name: p.name.clone(),
            facts,
            report,
            can_manage: viewer.is_staff(&PARTNER_MANAGERS),
            removed: removed(&p),
            form,
            notice,
            refer_error,
            remove_error,
        },
    ))
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

async fn partner(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    let notice = q.done.map(|d| match d.strip_prefix("referred-") {
        Some(referral) => format!("Referral {referral} sent; the partner is notified and has 3 business days to make contact."),
        None => format!("Done: {d}."),
    });
    partner_page(&state, &viewer, &id, Fields::default(), notice, None).await
}

async fn refer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm { viewer, form }: StaffForm,
) -> Result<Response, WebError> {
    viewer.require_role(&PARTNER_MANAGERS)?;
    let optional = |name: &str| form.text(name).map(Value::String).unwrap_or(Value::Null);
    let input = json!({
        "partner": id, "kind": form.get("kind"), "company": form.get("company").trim(), "website": form.get("website").trim(),
        "country": form.get("country").trim(), "industry": optional("industry"), "title": optional("title"),
        "problem": optional("problem"), "contact_name": optional("contact_name"), "contact_email": optional("contact_email"),
        "contact_phone": optional("contact_phone"),
    });
    // USE-4: the referral commits with its audit entry (which the referral's id is added to).
    let entry = AuditEntry::new(state.now(), actor(&viewer), action::OPERATOR, json!({"console": "referral"})).partner(&id);
    let outcome = match serde_json::from_value::<referrals::CreateInput>(input) {
        Ok(input) => referrals::create_referral(&state, input, entry).await,
        Err(e) => Err(crate::app::AppError::invalid(e.to_string())),
    };
    match outcome {
        Ok(created) => {
            let referral = created["Id"].as_str().unwrap_or_default().to_string();
            Ok(Redirect::to(&format!("/console/partners/{id}?done=referred-{referral}")).into_response())
        }
        Err(e) => partner_page(&state, &viewer, &id, form, None, Some(Refused::Referral(e.message()))).await,
    }
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm { viewer, form }: StaffForm,
) -> Result<Response, WebError> {
    viewer.require_role(&PARTNER_MANAGERS)?;
    if !form.checked("confirm") {
        let refused = Some(Refused::Removal("Tick the box to confirm the removal.".to_string()));
        return partner_page(&state, &viewer, &id, form, None, refused).await;
    }
    let input = governance::RemoveInput { scope: form.get("scope").to_string(), reason: form.text("reason") };
    match governance::remove(&state, &actor(&viewer), &id, input).await {
        Ok(v) => {
            let revoked = v["referrals_revoked"].as_array().map_or(0, Vec::len);
            Ok(Redirect::to(&format!("/console/partners/{id}?done=removed, {revoked} referral(s) revoked")).into_response())
        }
        Err(e) => partner_page(&state, &viewer, &id, form, None, Some(Refused::Removal(e.message()))).await,
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console_suppression.html")]
struct SuppressionPage {
    nav: Option<Nav>,
    rows: Vec<(String, String, String, String, String)>,
}

async fn suppression(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &PARTNER_MANAGERS).await?;
    let rows = crate::app::referrals::suppressions(&state)
        .await?
        .into_iter()
        .map(|s| {
            let received = s.received_at.format("%Y-%m-%d %H:%M UTC").to_string();
            (s.key, s.partner_id, s.referral_id, s.channel, received)
        })
        .collect();
    Ok(page(StatusCode::OK, &SuppressionPage { nav: Some(viewer.nav("suppression", "Suppression list")), rows }))
}

// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console_engagements.html")]
struct EngagementsPage {
    nav: Option<Nav>,
    /// (id, catalog, title, context types, members, created by, created)
    rows: Vec<(String, String, String, String, String, String, String)>,
    /// (id, name, industries, countries)
    groups: Vec<(String, String, String, String)>,
}

/// Issue 18: every engagement of the program (the operator's side is in all of them), and the
/// engagement groups partners list and search in.
async fn engagements(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &PARTNER_MANAGERS).await?;
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let rows = crate::app::engagements::operator_list(&state, None)
        .await?
        .iter()
        .map(|e| {
            let kinds = e["context_types"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).collect::<Vec<_>>();
            (
                text(e, "id"),
                text(e, "catalog"),
                text(e, "title"),
                kinds.join(", "),
                e["members"].to_string(),
                text(e, "created_by"),
                text(e, "created"),
            )
        })
        .collect();
    let any = |list: &[String]| if list.is_empty() { "any".to_string() } else { list.join(", ") };
    let groups = crate::app::engagements::groups(&state)
        .await?
        .into_iter()
        .map(|g| (g.id.clone(), g.name.clone(), any(&g.industries), any(&g.countries)))
        .collect();
    Ok(page(StatusCode::OK, &EngagementsPage { nav: Some(viewer.nav("engagements", "Engagements")), rows, groups }))
}

/// One revision on the console: what it is, and each change since the revision before it as
/// (path, before, after).
struct RevisionRow {
    resource: String,
    template: String,
    revision: i64,
    created: String,
    created_by: String,
    targets: String,
    changes: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "console_snapshots.html")]
struct SnapshotsPage {
    nav: Option<Nav>,
    engagement: String,
    catalog: String,
    rows: Vec<RevisionRow>,
}

#[derive(Deserialize)]
struct CatalogQuery {
    catalog: Option<String>,
}

/// Issue 19: the snapshots shared with the operator's side in one engagement, each revision
/// beside the one before it.
async fn snapshots(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CatalogQuery>,
) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &PARTNER_MANAGERS).await?;
    let nav = Some(viewer.nav("engagements", "Engagements"));
    let catalog = match q.catalog.as_deref().map(ace_domain::ids::Catalog::parse) {
        None => None,
        Some(Some(c)) => Some(c),
        Some(None) => return Ok(not_found(nav)),
    };
    let side = |v: &Option<Value>| match v {
        None => "(none)".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let (catalog, revisions) = match crate::app::snapshots::operator_history(&state, catalog, &id).await {
        Ok(found) => found,
        Err(crate::app::AppError::NotFound(_)) => return Ok(not_found(nav)),
        Err(e) => return Err(e.into()),
    };
    let rows = revisions
        .into_iter()
        .map(|r| RevisionRow {
            resource: format!("{} {}", r.resource_type, r.resource_id),
            template: r.template,
            revision: r.revision,
            created: r.created_at,
            created_by: r.created_by,
            targets: r.target_accounts.join(", "),
            changes: r.changes.iter().map(|c| (c.path.clone(), side(&c.before), side(&c.after))).collect(),
        })
        .collect();
    Ok(page(StatusCode::OK, &SnapshotsPage { nav, engagement: id, catalog: catalog.as_str().into(), rows }))
}

// ---------------------------------------------------------------------------------------------

struct TermsRow {
    version: i64,
    status: String,
    effective: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "console_terms.html")]
struct TermsPage {
    nav: Option<Nav>,
    csrf: String,
    rows: Vec<TermsRow>,
    /// The current version's acceptance: (partner, how, when, by) and who has not acted yet.
    current: Option<i64>,
    accepted: Vec<(String, String, String, String)>,
    not_yet: Vec<String>,
    can_publish: bool,
    form: Fields,
    notice: Option<String>,
    error: Option<String>,
}

async fn terms_page(
    state: &AppState,
    viewer: &Viewer,
    form: Fields,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let now = state.now();
    let versions = crate::app::governance::versions(state).await?;
    let current = ace_domain::terms::current(&versions, now).map(|v| v.version);
    let rows = versions
        .iter()
        .rev()
        .map(|v| TermsRow {
            version: v.version,
            status: if Some(v.version) == current {
                "current".into()
            } else if v.effective > now {
                "upcoming".into()
            } else {
                "superseded".into()
            },
            effective: v.effective.format("%Y-%m-%d %H:%M UTC").to_string(),
            summary: v.summary.clone().unwrap_or_default(),
        })
        .collect();
    let (mut accepted, mut not_yet) = (Vec::new(), Vec::new());
    if let Some(version) = current {
        let status = governance::acceptance_of(state, &version.to_string())
            .await
            .map_err(|e| WebError::Message(StatusCode::INTERNAL_SERVER_ERROR, e.message()))?;
        for a in status["accepted"].as_array().into_iter().flatten() {
            let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            accepted.push((text("partner_id"), text("method"), when(&text("at")), text("user")));
        }
        not_yet = status["not_yet"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(String::from)).collect();
    }
    Ok(page(
        if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK },
        &TermsPage {
            nav: Some(viewer.nav("terms", "Terms")),
            csrf: viewer.session.csrf.clone(),
            rows,
            current,
            accepted,
            not_yet,
            can_publish: viewer.is_staff(&ADMINS),
            form,
            notice,
            error,
        },
    ))
}

async fn terms(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    let notice = q.done.map(|v| format!("Version {v} published; every partner's event stream is told (MOD-2)."));
    terms_page(&state, &viewer, Fields::default(), notice, None).await
}

async fn publish(State(state): State<AppState>, StaffForm { viewer, form }: StaffForm) -> Result<Response, WebError> {
    viewer.require_role(&ADMINS)?;
    let effective = form.text("effective").map(|d| if d.len() == 10 { format!("{d}T00:00:00Z") } else { d });
    let input = governance::PublishInput {
        text: form.get("text").to_string(),
        effective,
        summary: form.text("summary"),
        backdate: false,
    };
    match governance::publish(&state, &actor(&viewer), input).await {
        Ok(v) => Ok(Redirect::to(&format!("/console/terms?done={}", v["version"])).into_response()),
        Err(e) => terms_page(&state, &viewer, form, None, Some(e.message())).await,
    }
}

// ---------------------------------------------------------------------------------------------

struct AuditRow {
    seq: String,
    at: String,
    actor: String,
    action: String,
    partner: String,
    referral: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console_audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    partner: String,
    action: String,
    referral: String,
    verified: Option<String>,
    broken: Option<String>,
    rows: Vec<AuditRow>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    partner: Option<String>,
    action: Option<String>,
    referral: Option<String>,
    after: Option<i64>,
}

const AUDIT_PAGE: usize = 100;

async fn audit(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<AuditQuery>) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &ADMINS).await?;
    let nonempty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let query = governance::AuditQuery {
        partner: nonempty(&q.partner),
        referral: nonempty(&q.referral),
        action: nonempty(&q.action),
        after: q.after,
        limit: Some(AUDIT_PAGE),
        ..Default::default()
    };
    let internal = |e: crate::app::AppError| WebError::Message(StatusCode::INTERNAL_SERVER_ERROR, e.message());
    let log = governance::audit_entries(&state, query).await.map_err(internal)?;
    let check = governance::verify(&state).await.map_err(internal)?;
    let (verified, broken) = if check["ok"] == json!(true) {
        (Some(format!("{} entries, chained up to head {}", check["entries"], check["head"]["seq"])), None)
    } else {
        (None, Some(format!("broken at entry {}: {}", check["broken_at"], check["reason"].as_str().unwrap_or(""))))
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let rows = log["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| AuditRow {
            seq: text(&e["seq"]),
            at: when(&text(&e["at"])),
            actor: text(&e["actor"]),
            action: text(&e["action"]),
            partner: text(&e["partner_id"]),
            referral: text(&e["referral_id"]),
            detail: text(&e["detail"]),
        })
        .collect();
    let keep = |k: &str, v: &Option<String>| format!("&{k}={}", super::portal::query_value(v.as_deref().unwrap_or("")));
    let next = log["next_after"].as_i64().map(|after| {
        format!(
            "/console/audit?after={after}{}{}{}",
            keep("partner", &q.partner),
            keep("action", &q.action),
            keep("referral", &q.referral)
        )
    });
    Ok(page(
        StatusCode::OK,
        &AuditPage {
            nav: Some(viewer.nav("audit", "Audit log")),
            partner: q.partner.unwrap_or_default(),
            action: q.action.unwrap_or_default(),
            referral: q.referral.unwrap_or_default(),
            verified,
            broken,
            rows,
            next,
        },
    ))
}
