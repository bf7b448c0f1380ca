//! The operator console: the review queue and the review page (SUB-1, SUB-2). Decisions go
//! through the operator API's own `decide_as`, so the console and `ace review` apply one rule;
//! each is audited under the staff member's name (USE-4).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::audit::{action, AuditEntry};
use ace_domain::opportunity::ReviewAction;
use ace_domain::submission::ReviewReason;

use super::session::{self, StaffForm, Viewer};
use super::{not_found, page, Nav, WebError};
use crate::app::review;
use crate::AppState;

/// Who may decide on submissions.
const REVIEWERS: [&str; 2] = ["admin", "reviewer"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue))
        .route("/console/dashboard", get(dashboard))
        .route("/console/reviews/{id}", get(show))
        .route("/console/reviews/{id}/decision", post(decide))
        .route("/console/reviews/{id}/next-steps", post(next_steps))
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
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    let status = q.status.unwrap_or_else(|| "submitted".into());
    let wanted = review::statuses(Some(&status)).map_err(|e| WebError::Message(StatusCode::BAD_REQUEST, e.message()))?;
    let now_ms = state.now().timestamp_millis();
    let rows = review::queue(&state, &wanted, review::QUEUE_MAX)
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
    /// AWS's own next steps, newest first: (when, what).
    aws_next_steps: Vec<(String, String)>,
    /// Reviewers and admins add AWS's next steps whatever the review status (the domain refuses
    /// where AWS has no view of the opportunity).
    can_add_next_steps: bool,
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
    let aws_next_steps =
        detail["aws_next_steps"].as_array().into_iter().flatten().rev().map(|n| (text(n, "at"), text(n, "value"))).collect();
    let history = detail["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| (text(h, "at"), text(h, "status"), text(h, "by"), text(h, "comment")))
        .collect();
    let summary = &detail["summary"];
    let status = text(summary, "review_status");
    // Issue 22: what satisfied SUB-3 and SUB-4 (`standing`: the partner's standing attestation).
    let (presales_basis, consent_basis) = (at(&detail, "attestation_basis.presales"), at(&detail, "attestation_basis.consent"));
    Ok(page(
        if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK },
        &ReviewPage {
            nav: Some(viewer.nav("queue", "Review")),
            csrf: viewer.session.csrf.clone(),
            id: id.into(),
            partner: text(summary, "partner_id"),
            can_add_next_steps: viewer.is_staff(&REVIEWERS),
            can_decide: viewer.is_staff(&REVIEWERS) && matches!(status.as_str(), "Submitted" | "In review" | "Action Required"),
            status,
            company: at(o, "Customer.Account.CompanyName"),
            website: at(o, "Customer.Account.WebsiteUrl"),
            country: at(o, "Customer.Account.Address.CountryCode"),
            title: at(o, "Project.Title"),
            problem: at(o, "Project.CustomerBusinessProblem"),
            submitted_at: text(summary, "submitted_at"),
            presales: match presales_basis.as_str() {
                // Issue 22: under a standing attestation the effort is in the standard fields.
                "standing" => format!(
                    "{} — from the Selling API's fields under the partner's standing attestation",
                    o["Project"]["SalesActivities"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => at(a, "PreSalesEffort.Description"),
            },
            decision_maker: match presales_basis.as_str() {
                "standing" => o["Customer"]["Contacts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|c| c["BusinessTitle"].as_str())
                    .unwrap_or("")
                    .to_string(),
                _ => at(a, "PreSalesEffort.DecisionMakerEngaged"),
            },
            consent: match consent_basis.as_str() {
                "standing" => format!(
                    "the partner's standing attestation (statement {}, filed {})",
                    at(&detail, "standing_attestation.consent_statement_version"),
                    at(&detail, "standing_attestation.recorded_at").chars().take(10).collect::<String>()
                ),
                _ => consent,
            },
            findings,
            history,
            reasons: ReviewReason::ALL.iter().map(|r| r.as_str().to_string()).collect(),
            aws_next_steps,
            error,
        },
    ))
}

async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, WebError> {
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    review_page(&state, &viewer, &id, None).await
}

async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm { viewer, form }: StaffForm,
) -> Result<Response, WebError> {
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
    // USE-4: the decision commits with its audit entry (the partner and new status are added).
    let entry = AuditEntry::new(
        state.now(),
        format!("operator:{reviewer}"),
        action::OPERATOR,
        json!({"console": "review", "opportunity": id, "decision": form.get("decision")}),
    );
    match review::decide_as(&state, &reviewer, &id, decision, comment, reason.as_deref(), entry).await {
        Ok(_) => Ok(Redirect::to(&format!("/console/reviews/{id}")).into_response()),
        Err(e) => review_page(&state, &viewer, &id, Some(e.message())).await,
    }
}

/// AWS's next steps added from the review page (`ace review next-steps` on the console).
async fn next_steps(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm { viewer, form }: StaffForm,
) -> Result<Response, WebError> {
    if !viewer.is_staff(&REVIEWERS) {
        return review_page(&state, &viewer, &id, Some("Only reviewers and admins add AWS's next steps.".into())).await;
    }
    let entry = AuditEntry::new(
        state.now(),
        format!("operator:{}", viewer.account.email),
        action::OPERATOR,
        json!({"console": "review", "opportunity": id, "decision": "next-steps"}),
    );
    match review::add_next_steps(&state, &id, form.get("next_steps"), entry).await {
        Ok(_) => Ok(Redirect::to(&format!("/console/reviews/{id}")).into_response()),
        Err(e) => review_page(&state, &viewer, &id, Some(e.message())).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Dashboard: pictures drawn on the server as SVG, readable without JavaScript.

/// Width of the bar area, in SVG units.
const BAR_AREA: f64 = 300.0;
const LABEL_WIDTH: f64 = 290.0;
const ROW: i64 = 32;

struct Bar {
    label: String,
    value: i64,
    width: f64,
    y: i64,
    text_y: i64,
    value_x: f64,
}

struct Chart {
    id: &'static str,
    title: String,
    /// What the picture says, in words (also its accessible description).
    summary: String,
    bars: Vec<Bar>,
    height: i64,
}

fn chart(id: &'static str, title: &str, summary: String, rows: Vec<(String, i64)>) -> Chart {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let bars = rows
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let width = (value as f64 / max * BAR_AREA).max(if value > 0 { 2.0 } else { 0.0 });
            let y = i as i64 * ROW + 4;
            Bar { label, value, width, y, text_y: y + 18, value_x: LABEL_WIDTH + width + 6.0 }
        })
        .collect::<Vec<_>>();
    Chart { id, title: title.into(), summary, height: bars.len() as i64 * ROW + 8, bars }
}

/// One week's column of a trend.
struct Column {
    week: String,
    /// The figure as the table shows it ("–" when there is none).
    shown: String,
    x: i64,
    y: f64,
    height: f64,
}

/// A figure over the last weeks (issue 22): columns drawn on the server, and the same numbers
/// in a table beside them for whoever does not see the picture.
struct Trend {
    id: &'static str,
    title: String,
    summary: String,
    unit: &'static str,
    columns: Vec<Column>,
}

const TREND_HEIGHT: f64 = 160.0;
const TREND_COLUMN: i64 = 72;

fn trend(id: &'static str, title: &str, summary: String, unit: &'static str, weeks: Vec<(String, Option<f64>)>) -> Trend {
    let max = weeks.iter().filter_map(|w| w.1).fold(0.0_f64, f64::max).max(1.0);
    let columns = weeks
        .into_iter()
        .enumerate()
        .map(|(i, (week, value))| {
            let height = value.map_or(0.0, |v| (v / max * TREND_HEIGHT).max(if v > 0.0 { 2.0 } else { 0.0 }));
            Column {
                week,
                shown: value.map_or_else(|| "–".to_string(), |v| format!("{}", (v * 10.0).round() / 10.0)),
                x: i as i64 * TREND_COLUMN + 8,
                y: TREND_HEIGHT + 24.0 - height,
                height,
            }
        })
        .collect();
    Trend { id, title: title.into(), summary, unit, columns }
}

fn median_of(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

#[derive(Template)]
#[template(path = "console_dashboard.html")]
struct DashboardPage {
    nav: Option<Nav>,
    charts: Vec<Chart>,
    trends: Vec<Trend>,
    label_width: f64,
}

/// How many of the latest decided submissions the median review time is taken over.
const REVIEW_SAMPLE: usize = 1_000;
/// How many referrals the contact compliance is computed over.
const REFERRAL_SAMPLE: usize = 10_000;

async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    use ace_domain::opportunity::ReviewStatus;
    let viewer = session::require_staff(&state, &headers, &session::STAFF_ROLES).await?;
    let now = state.now();
    let counts = crate::app::admin::opportunity_counts(&state, ace_domain::ids::Catalog::Aws).await?;
    let stages = ace_domain::model::Model::get().enum_values("Stage").map(<[String]>::to_vec).unwrap_or_default();
    let mut by_stage: Vec<(String, i64)> =
        stages.iter().map(|s| (s.clone(), counts.iter().filter(|c| &c.0 == s).map(|c| c.2).sum())).collect();
    let unstaged: i64 = counts.iter().filter(|c| !stages.contains(&c.0)).map(|c| c.2).sum();
    if unstaged > 0 {
        by_stage.push(("No stage yet".into(), unstaged));
    }
    let by_review: Vec<(String, i64)> = ReviewStatus::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), counts.iter().filter(|c| c.1 == r.as_str()).map(|c| c.2).sum()))
        .collect();
    let total: i64 = counts.iter().map(|c| c.2).sum();

    let decided = review::queue(&state, &[ReviewStatus::Approved, ReviewStatus::Rejected], REVIEW_SAMPLE).await?;
    let mut hours: Vec<i64> = decided.iter().filter_map(|o| o.review_time()).map(|d| d.num_hours()).collect();
    hours.sort_unstable();
    let median = hours.get(hours.len() / 2).copied();

    let referrals = crate::app::referrals::list(&state, None, REFERRAL_SAMPLE).await?;
    let compliance = ace_domain::referral::ContactCompliance::of(&referrals, now);

    let reports = crate::app::eligibility::all_reports(&state, now, now).await?;
    let by_segment: Vec<(String, i64)> = ace_domain::eligibility::Segment::ALL
        .iter()
        .map(|segment| {
            let of = reports.iter().filter(|r| r.segment == Some(*segment));
            let all = of.clone().count();
            let noun = if all == 1 { "partner" } else { "partners" };
            (format!("{} ({all} {noun})", segment.as_str()), of.filter(|r| r.eligible).count() as i64)
        })
        .collect();

    // Submissions of the last 8 weeks (weeks counted from the epoch, which began on a Thursday).
    const WEEK_MS: i64 = 7 * 86_400_000;
    let this_week = now.timestamp_millis() / WEEK_MS;
    let weekly = crate::app::admin::submissions_by_week(&state, ace_domain::ids::Catalog::Aws, (this_week - 7) * WEEK_MS).await?;
    let by_week: Vec<(String, i64)> = (this_week - 7..=this_week)
        .map(|week| {
            let of = |status: Option<&str>| -> i64 {
                weekly.iter().filter(|w| w.0 == week && status.is_none_or(|s| w.1 == s)).map(|w| w.2).sum()
            };
            let start = ace_domain::time::from_millis(week * WEEK_MS).format("%b %d");
            let label = format!("{start}: {} approved, {} rejected", of(Some("Approved")), of(Some("Rejected")));
            (label, of(None))
        })
        .collect();
    let submitted: i64 = by_week.iter().map(|w| w.1).sum();

    // Issue 22: the program's figures over the same weeks.
    let weeks: Vec<i64> = (this_week - 7..=this_week).collect();
    let week_label = |week: i64| ace_domain::time::from_millis(week * WEEK_MS).format("%b %d").to_string();
    let week_of = |t: ace_domain::time::Instant| t.timestamp_millis().div_euclid(WEEK_MS);
    let submitted_by_week: Vec<(String, Option<f64>)> = weeks
        .iter()
        .map(|w| (week_label(*w), Some(weekly.iter().filter(|x| x.0 == *w).map(|x| x.2).sum::<i64>() as f64)))
        .collect();
    let approved_by_week: Vec<(String, Option<f64>)> = weeks
        .iter()
        .map(|w| {
            (week_label(*w), Some(decided.iter().filter(|o| o.approved_at.is_some_and(|t| week_of(t) == *w)).count() as f64))
        })
        .collect();
    let review_hours_by_week: Vec<(String, Option<f64>)> = weeks
        .iter()
        .map(|w| {
            let mut hours: Vec<f64> = decided
                .iter()
                .filter_map(|o| Some((o.submission.as_ref()?.submitted_at, o.review_time()?)))
                .filter(|(submitted, took)| week_of(*submitted + *took) == *w)
                .map(|(_, took)| took.num_minutes() as f64 / 60.0)
                .collect();
            (week_label(*w), median_of(&mut hours))
        })
        .collect();
    let compliance_by_week: Vec<(String, Option<f64>)> = weeks
        .iter()
        .map(|w| {
            let of_week = referrals.iter().filter(|r| week_of(r.provided_at) == *w);
            (week_label(*w), ace_domain::referral::ContactCompliance::of(of_week, now).percent().map(f64::from))
        })
        .collect();
    let outcomes: Vec<(String, i64)> = [
        ace_domain::referral::ReferralStatus::Pending,
        ace_domain::referral::ReferralStatus::Accepted,
        ace_domain::referral::ReferralStatus::Rejected,
        ace_domain::referral::ReferralStatus::Expired,
        ace_domain::referral::ReferralStatus::Revoked,
    ]
    .into_iter()
    .map(|s| (s.as_str().to_lowercase(), referrals.iter().filter(|r| r.status == s).count() as i64))
    .collect();
    let trends = vec![
        trend(
            "submitted-weekly",
            "Submissions per week",
            format!("{submitted} submissions in the last 8 weeks."),
            "submissions",
            submitted_by_week,
        ),
        trend(
            "approved-weekly",
            "Approvals per week",
            format!("{} approvals in the last 8 weeks.", approved_by_week.iter().filter_map(|w| w.1).sum::<f64>()),
            "approvals",
            approved_by_week,
        ),
        trend(
            "review-weekly",
            "Median review time per week (by decision week)",
            "Hours from submission to the operator's decision; – where nothing was decided.".into(),
            "hours",
            review_hours_by_week,
        ),
        trend(
            "contact-weekly",
            "REF-3 contact compliance per week (by referral week)",
            "Per cent of the week's referrals that were due and contacted within 3 business days; – where none was due.".into(),
            "per cent",
            compliance_by_week,
        ),
    ];
    let charts = vec![
        chart("funnel", "Pipeline by stage (AWS catalog)", format!("{total} opportunities in all."), by_stage),
        chart(
            "reviews",
            "Review status",
            match median {
                Some(h) => format!("Median review time: {h} h, over the latest {} decided submissions.", hours.len()),
                None => "No decisions yet.".into(),
            },
            by_review,
        ),
        chart(
            "weekly",
            "Submissions by week, with their outcome so far",
            format!("{submitted} submissions in the last 8 weeks."),
            by_week,
        ),
        chart(
            "contact",
            "Referral contact within 3 business days (REF-3)",
            match compliance.percent() {
                Some(p) => {
                    format!("{p}% of {} referrals due were contacted in time; {} revoked.", compliance.due, compliance.revoked)
                }
                None => "No referral was due yet.".into(),
            },
            vec![
                ("Contacted in time".into(), compliance.contacted_in_time as i64),
                ("Late or not contacted".into(), (compliance.due - compliance.contacted_in_time) as i64),
                ("Revoked".into(), compliance.revoked as i64),
            ],
        ),
        chart("outcomes", "Referrals by outcome", format!("{} referrals in all.", referrals.len()), outcomes),
        chart(
            "eligible",
            "Partners eligible for referrals, by segment",
            format!("{} of {} partners eligible.", reports.iter().filter(|r| r.eligible).count(), reports.len()),
            by_segment,
        ),
    ];
    Ok(page(
        StatusCode::OK,
        &DashboardPage { nav: Some(viewer.nav("dashboard", "Dashboard")), charts, trends, label_width: LABEL_WIDTH },
    ))
}
