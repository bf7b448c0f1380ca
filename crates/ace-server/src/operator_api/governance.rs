//! The operator's side of program governance: terms versions and their acceptance (MOD-2 …
//! MOD-4), termination (MOD-1), the support contact (USE-6), the audit log and its
//! verification (USE-4), and the probe blocks (USE-2).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::audit::{action, AuditEntry};
use ace_domain::events::partner_event;
use ace_domain::program::{self, SupportContact, Termination};
use ace_domain::terms;
use ace_domain::time::format_timestamp;
use ace_store::{AdminWrite, WriteBatch};

use super::{authorize, done, done_created, ok, parse_body, views, OpResult, OperatorCall, OperatorError};
use crate::app::governance as use_case;
use crate::governance::{self as gov, SUPPORT_CONTACT_KEY, TERMINATION_KEY};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/terms", get(list_terms).post(publish_terms))
        .route("/terms/{version}", get(show_terms))
        .route("/terms/{version}/acceptance", get(acceptance))
        .route("/program", get(show_program))
        .route("/program/terminate", post(terminate))
        .route("/program/termination", axum::routing::delete(cancel_termination))
        .route("/program/support-contact", put(set_support_contact))
        .route("/audit/log", get(audit_log))
        .route("/audit/verify", get(audit_verify))
        .route("/security/events", get(security_events))
        .route("/security/unblock", post(unblock))
        .route("/partners/{id}/remove", post(remove_partner))
        .route("/partners/{id}/reinstate", post(reinstate_partner))
        .route("/backup", post(backup))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BackupInput {
    to: String,
}

/// An online, consistent copy of the SQLite database, written by the server to `to` (an
/// absolute path on the server's machine that does not exist yet). Its audit entry is committed
/// once the copy exists; should that fail, the copy is removed: a copy of the customer data is
/// never left unrecorded, and a refused backup (an existing file, PostgreSQL) records none.
#[utoipa::path(post, path = "/backup", tag = "operator", summary = "Write an online, consistent copy of the SQLite database to a new file on the server's machine", request_body = BackupInput, responses((status = 200, description = "success", body = views::Backup)))]
async fn backup(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: BackupInput = parse_body(&body)?;
    let path = std::path::PathBuf::from(&input.to);
    if !path.is_absolute() {
        return Err(OperatorError::bad_request(format!("{:?} is not an absolute path (the server writes it)", input.to)));
    }
    crate::app::admin::backup_to(&state, &path).await?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if let Err(e) = call.commit(&state, StatusCode::OK, WriteBatch::default()).await {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    done(views::Backup { path: input.to, bytes })
}

/// REM-1: removes a partner from referrals or from the whole program, without notice. Its open
/// referrals are revoked with their data deleted (REM-2); with `all`, every credential of the
/// partner is refused from the next request on. Its own opportunities stay with the operator.
#[utoipa::path(post, path = "/partners/{id}/remove", tag = "operator", summary = "Remove a partner from referrals or from the whole program (REM-1): open referrals revoked with their data deleted; with `all`, every credential refused", params(("id" = String, Path)), request_body = use_case::RemoveInput, responses((status = 200, description = "success")))]
async fn remove_partner(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: use_case::RemoveInput = parse_body(&body)?;
    done(use_case::remove(&state, &call.actor(), &id, input).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReinstateInput {
    scope: String,
}

/// Undoes what can be undone: access and eligibility come back; revoked referrals and deleted
/// data do not.
#[utoipa::path(post, path = "/partners/{id}/reinstate", tag = "operator", summary = "Undo a removal: access and eligibility return; revoked referrals and deleted data do not", params(("id" = String, Path)), request_body = ReinstateInput, responses((status = 200, description = "success", body = views::Reinstated)))]
async fn reinstate_partner(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: ReinstateInput = parse_body(&body)?;
    let scope = use_case::parse_scope(&input.scope)?;
    let mut partner = crate::app::partners::load(&state, &id).await?;
    let current = partner.reinstate(scope).map_err(|e| OperatorError::new(StatusCode::CONFLICT, "conflict", e.to_string()))?;
    let now = state.now();
    let entry = AuditEntry::new(
        now,
        call.actor(),
        action::PARTNER_REINSTATED,
        json!({"scope": scope.as_str(), "was": current.scope.as_str()}),
    )
    .partner(&id);
    let write = AdminWrite::UpdatePartner { profile: partner, effective_ms: now.timestamp_millis() };
    crate::app::admin::commit(&state, WriteBatch { admin: vec![write], audit: vec![entry], ..Default::default() }).await?;
    crate::app::eligibility::refresh_after(&state, &id, "partner reinstated").await;
    done(views::Reinstated {
        partner: id,
        reinstated: scope.as_str(),
        not_restored: "revoked referrals and the data deleted with them",
    })
}

/// MOD-2, MOD-4: a new version, effective on posting or on its stated date; every partner's
/// event stream gets `Program Terms Changed`; the publication is audited (a backdated one says so).
#[utoipa::path(post, path = "/terms", tag = "operator", summary = "Publish a terms version, effective on posting or on a later date; partners are told (MOD-2, MOD-4)", request_body = use_case::PublishInput, responses((status = 201, description = "success")))]
async fn publish_terms(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: use_case::PublishInput = parse_body(&body)?;
    done_created(use_case::publish(&state, &call.actor(), input).await?)
}

#[utoipa::path(get, path = "/terms", tag = "operator", summary = "Published terms versions with their status: current, upcoming, superseded (MOD-2)", responses((status = 200, description = "success", body = views::Terms)))]
async fn list_terms(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    let now = state.now();
    let versions = use_case::versions(&state).await?;
    let current = terms::current(&versions, now).map(|v| v.version);
    let items: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut view = use_case::terms_view(v, false);
            view["status"] = json!(match (Some(v.version) == current, v.effective > now) {
                (true, _) => "current",
                (false, true) => "upcoming",
                (false, false) => "superseded",
            });
            view
        })
        .collect();
    ok(views::Terms { terms: items })
}

#[utoipa::path(get, path = "/terms/{version}", tag = "operator", summary = "One version with its text; `current` names the one in force", params(("version" = String, Path)), responses((status = 200, description = "success")))]
async fn show_terms(State(state): State<AppState>, headers: HeaderMap, Path(version): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(use_case::terms_view(&use_case::find_version(&state, &version).await?, true))
}

/// MOD-3: who accepted a version, how and when, and who has not acted since it took effect.
#[utoipa::path(get, path = "/terms/{version}/acceptance", tag = "operator", summary = "Who accepted a version, how (explicitly or by continued participation, MOD-3) and when; who has not", params(("version" = String, Path)), responses((status = 200, description = "success")))]
async fn acceptance(State(state): State<AppState>, headers: HeaderMap, Path(version): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(use_case::acceptance_of(&state, &version).await?)
}

#[utoipa::path(get, path = "/program", tag = "operator", summary = "The program's status, termination, current terms and support contact", responses((status = 200, description = "success", body = views::ProgramView)))]
async fn show_program(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    let now = state.now();
    state.governance.invalidate();
    let termination = gov::termination(&state).await?;
    let versions = use_case::versions(&state).await?;
    ok(views::ProgramView {
        status: program::status(termination.as_ref(), now).as_str(),
        termination: termination.map(|t| views::TerminationView {
            effective: format_timestamp(t.effective),
            reason: t.reason,
            decided_at: format_timestamp(t.decided_at),
            decided_by: t.decided_by,
        }),
        current_terms: terms::current(&versions, now).map(|v| v.version),
        support_contact: gov::support_contact(&state).await?,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TerminateInput {
    effective: String,
    reason: Option<String>,
    #[serde(default)]
    backdate: bool,
}

fn termination_error(e: program::TerminationError) -> OperatorError {
    match e {
        program::TerminationError::InPast(_) => OperatorError::bad_request(e.to_string()),
        _ => OperatorError::new(StatusCode::CONFLICT, "program-terminated", e.to_string()),
    }
}

/// MOD-1: the program ends on `effective`: submissions and referrals stop, partners are told now.
#[utoipa::path(post, path = "/program/terminate", tag = "operator", summary = "End the program on a date (MOD-1): submissions and referrals stop, partners are told", request_body = TerminateInput, responses((status = 200, description = "success", body = views::ProgramStatus)))]
async fn terminate(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: TerminateInput = parse_body(&body)?;
    let now = state.now();
    let effective = if input.effective == "now" { now } else { use_case::parse_time("effective", &input.effective)? };
    state.governance.invalidate();
    let existing = gov::termination(&state).await?;
    program::check_terminate(existing.as_ref(), effective, now, input.backdate).map_err(termination_error)?;
    let termination = Termination { effective, reason: input.reason, decided_at: now, decided_by: call.actor() };
    let mut events = Vec::new();
    for partner in crate::app::admin::partners(&state).await? {
        let detail = json!({"effectiveDate": format_timestamp(effective), "reason": termination.reason});
        events.push(partner_event("Program Terminated", state.new_event_id(), &partner.id, &partner.account_id, detail, now));
    }
    let entry = AuditEntry::new(
        now,
        call.actor(),
        action::PROGRAM_TERMINATION,
        json!({"effective": format_timestamp(effective), "reason": termination.reason, "partners_told": events.len()}),
    );
    let doc = serde_json::to_string(&termination).map_err(|e| OperatorError::bad_request(e.to_string()))?;
    let change = WriteBatch { settings: vec![(TERMINATION_KEY.into(), doc)], events, audit: vec![entry], ..Default::default() };
    crate::app::admin::commit(&state, change).await?;
    state.governance.invalidate();
    done(views::ProgramStatus {
        status: program::status(Some(&termination), now).as_str(),
        effective: Some(format_timestamp(effective)),
    })
}

/// A termination not yet in effect can be called off; one in effect cannot.
#[utoipa::path(delete, path = "/program/termination", tag = "operator", summary = "Call off a termination that is not yet in effect", responses((status = 200, description = "success", body = views::ProgramStatus)))]
async fn cancel_termination(State(state): State<AppState>, call: OperatorCall) -> OpResult {
    let now = state.now();
    state.governance.invalidate();
    let Some(existing) = gov::termination(&state).await? else {
        return Err(OperatorError::not_found("no termination is scheduled"));
    };
    program::check_cancel(&existing, now).map_err(termination_error)?;
    let mut events = Vec::new();
    for partner in crate::app::admin::partners(&state).await? {
        let detail = json!({"cancelledEffectiveDate": format_timestamp(existing.effective)});
        events.push(partner_event(
            "Program Termination Cancelled",
            state.new_event_id(),
            &partner.id,
            &partner.account_id,
            detail,
            now,
        ));
    }
    let entry = AuditEntry::new(
        now,
        call.actor(),
        action::PROGRAM_TERMINATION,
        json!({"cancelled": format_timestamp(existing.effective)}),
    );
    crate::app::admin::commit(
        &state,
        WriteBatch { settings: vec![(TERMINATION_KEY.into(), "null".into())], events, audit: vec![entry], ..Default::default() },
    )
    .await?;
    state.governance.invalidate();
    done(views::ProgramStatus { status: program::ProgramStatus::Active.as_str(), effective: None })
}

/// USE-6: the contact partners see in `GetSupportContact` and the portal.
#[utoipa::path(put, path = "/program/support-contact", tag = "operator", summary = "Publish the support contact partners see (USE-6)", request_body = SupportContact, responses((status = 200, description = "success", body = SupportContact)))]
async fn set_support_contact(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let contact: SupportContact = parse_body(&body)?;
    contact.validate().map_err(OperatorError::bad_request)?;
    let doc = serde_json::to_string(&contact).map_err(|e| OperatorError::bad_request(e.to_string()))?;
    let entry = AuditEntry::new(state.now(), call.actor(), action::SUPPORT_CONTACT, json!(contact));
    let change = WriteBatch { settings: vec![(SUPPORT_CONTACT_KEY.into(), doc)], audit: vec![entry], ..Default::default() };
    crate::app::admin::commit(&state, change).await?;
    done(contact)
}

/// USE-4: the audit log, filtered, oldest first; `after` pages on.
#[utoipa::path(get, path = "/audit/log", tag = "operator", summary = "The hash-chained audit log, oldest first (USE-4)", params(use_case::AuditQuery), responses((status = 200, description = "success")))]
async fn audit_log(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<use_case::AuditQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(use_case::audit_entries(&state, q).await?)
}

/// Reads the whole chain in pages and checks it against its head.
#[utoipa::path(get, path = "/audit/verify", tag = "operator", summary = "Check the audit chain; names the first altered, removed or reordered entry", responses((status = 200, description = "success")))]
async fn audit_verify(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(use_case::verify(&state).await?)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SecurityQuery {
    since: Option<String>,
    limit: Option<usize>,
}

/// USE-2: keys and addresses blocked for probing, and USE-3: keys locked out by failed
/// signatures (with the networks they came from), newest first.
#[utoipa::path(get, path = "/security/events", tag = "operator", summary = "Keys and addresses blocked for probing (USE-2), newest first", params(SecurityQuery), responses((status = 200, description = "success", body = views::SecurityEvents)))]
async fn security_events(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<SecurityQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let since_ms = q.since.as_deref().map(|s| use_case::parse_time("since", s)).transpose()?.map_or(0, |t| t.timestamp_millis());
    let now_ms = state.wall_clock_ms();
    let events = crate::app::admin::security_events(&state, since_ms, q.limit.unwrap_or(100)).await?;
    let events = events
        .into_iter()
        .map(|e| views::SecurityEventView {
            at: format_timestamp(e.at),
            subject: e.subject,
            signal: e.signal.as_str(),
            count: e.count,
            blocked_until: format_timestamp(e.blocked_until),
            active: e.blocked_until.timestamp_millis() > now_ms,
            partner_id: e.partner_id,
            addresses: e.addresses,
        })
        .collect();
    ok(views::SecurityEvents { events })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UnblockInput {
    subject: String,
}

/// Lifts a probe block on this node (blocks live in each node's memory).
#[utoipa::path(post, path = "/security/unblock", tag = "operator", summary = "Lift a probe block on this node", request_body = UnblockInput, responses((status = 200, description = "success", body = views::Unblocked)))]
async fn unblock(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: UnblockInput = parse_body(&body)?;
    if !input.subject.starts_with("key:") && !input.subject.starts_with("address:") {
        return Err(OperatorError::bad_request("subject must be key:<access key id> or address:<client address>"));
    }
    // Recorded before it is done: a block is never lifted unrecorded.
    let entry = AuditEntry::new(state.now(), call.actor(), action::OPERATOR, json!({"unblock": input.subject}));
    crate::app::admin::commit(&state, WriteBatch { audit: vec![entry], ..Default::default() }).await?;
    // A probe block (USE-2) and a lockout by failures (USE-3) are both lifted.
    let subject = crate::app::security::normalise_subject(&input.subject);
    let unblocked = state.probes.unblock(&subject);
    let lifted = state.auth_guard.lift(&subject, state.wall_clock_ms()) || unblocked;
    done(views::Unblocked { subject: input.subject, lifted })
}
