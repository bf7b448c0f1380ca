//! The operator API: JSON under `/operator/v1/…`, bearer-token auth. The `ace` CLI's operator
//! commands are thin clients of it; its OpenAPI document is served at `openapi.json`.

mod bulk_jobs;
mod checks;
pub(crate) mod eligibility;
mod engagements;
pub(crate) mod governance;
mod openapi;
pub(crate) mod referrals;
pub(crate) mod review;
mod views;
pub mod webhooks;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use ace_domain::audit::AuditEntry;
use ace_domain::ids::{solution_id, Catalog};
use ace_domain::partner::{PartnerPath, PartnerProfile, Program, Tier};
use ace_domain::time::{format_timestamp, from_millis, parse_duration};
use ace_store::{AdminWrite, OperatorToken, SolutionRecord, StoreError, UserRecord, UserStatus, WriteBatch};

use crate::crypto;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .route("/partners", get(list_partners).post(add_partner))
        .route("/partners/{id}", get(show_partner).patch(update_partner))
        .route("/partners/{id}/users", get(list_users).post(add_user))
        .route("/partners/{id}/users/{name}/rotate-key", post(rotate_key))
        .route("/partners/{id}/users/{name}/disable", post(disable_user))
        .route("/partners/{id}/users/{name}/keys", get(list_keys).post(create_key))
        .route("/partners/{id}/users/{name}/keys/{key}", axum::routing::delete(delete_key))
        .route("/partners/{id}/users/{name}/keys/{key}/activate", post(activate_key))
        .route("/partners/{id}/users/{name}/keys/{key}/deactivate", post(deactivate_key))
        .route("/partners/{id}/solutions", get(list_solutions).post(add_solution))
        .route("/staff", post(add_staff))
        .route("/clock", get(show_clock))
        .route("/clock/advance", post(advance_clock))
        .route("/quotas", get(show_quota).put(set_quota))
        .route("/events", get(list_events))
        .merge(review::router())
        .merge(eligibility::router())
        .merge(referrals::router())
        .merge(engagements::router())
        .merge(bulk_jobs::router())
        .merge(checks::router())
        .merge(webhooks::router())
        .merge(governance::router())
}

/// Marks a response whose handler committed its audit entry with its change.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

impl Audited {
    pub fn wrap(mut response: Response) -> Response {
        response.extensions_mut().insert(Audited);
        response
    }
}

/// Who an operator token is in the audit log.
pub fn operator_actor(token: &OperatorToken) -> String {
    format!("operator:{}", token.name)
}

/// An authorised operator request (bearer token checked) and what it is, for the audit entry
/// its write commits with (USE-4). Every handler that changes something takes one.
pub struct OperatorCall {
    pub token: OperatorToken,
    method: Method,
    path: String,
}

impl axum::extract::FromRequestParts<AppState> for OperatorCall {
    type Rejection = OperatorError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = authorize(state, &parts.headers).await?;
        let path = match parts.extensions.get::<axum::extract::OriginalUri>() {
            Some(original) => original.path().to_string(),
            None => parts.uri.path().to_string(),
        };
        Ok(OperatorCall { token, method: parts.method.clone(), path })
    }
}

impl OperatorCall {
    /// The operator in the audit log.
    pub fn actor(&self) -> String {
        operator_actor(&self.token)
    }

    /// USE-4: the entry of this action — who, the method and path, and the partner or referral
    /// the path names — with `detail` merged into it.
    pub fn audit(&self, state: &AppState, status: StatusCode, detail: Value) -> AuditEntry {
        let mut what = json!({"method": self.method.as_str(), "path": self.path, "status": status.as_u16()});
        if let (Value::Object(what), Value::Object(more)) = (&mut what, detail) {
            what.extend(more);
        }
        let mut entry = AuditEntry::new(state.now(), self.actor(), ace_domain::audit::action::OPERATOR, what);
        let segments: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        let after =
            |name: &str| segments.iter().position(|s| *s == name).and_then(|i| segments.get(i + 1)).map(|s| s.to_string());
        entry.partner_id = after("partners");
        entry.referral_id = after("referrals");
        entry
    }

    /// The entry of this action when the call itself says all there is to say.
    pub fn entry(&self, state: &AppState, status: StatusCode) -> AuditEntry {
        self.audit(state, status, Value::Object(Default::default()))
    }

    /// Commits `batch` with this action's entry (answered `status`): the change and its audit
    /// entry in one transaction.
    pub async fn commit(&self, state: &AppState, status: StatusCode, mut batch: WriteBatch) -> Result<(), OperatorError> {
        batch.audit.push(self.entry(state, status));
        crate::app::admin::commit(state, batch).await?;
        Ok(())
    }
}

/// USE-4: every operator action that changes something commits its audit entry in its own
/// transaction (see [`OperatorCall`]); a successful write answered without one is a bug, and is
/// logged as one (`tests/it/operator_audit.rs` proves every write route commits its entry).
pub async fn audit_actions(request: axum::extract::Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = next.run(request).await;
    if response.status().is_success() && response.extensions().get::<Audited>().is_none() {
        tracing::error!(%method, %path, "an operator write answered without committing its audit entry");
    }
    response
}

/// An operator API error: HTTP status, a stable code, a message for people.
#[derive(Debug)]
pub struct OperatorError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl OperatorError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> OperatorError {
        OperatorError { status, code, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> OperatorError {
        OperatorError::new(StatusCode::BAD_REQUEST, "invalid-request", message)
    }

    /// The message for people (the web console shows it).
    pub fn message(&self) -> &str {
        &self.message
    }

    fn internal() -> OperatorError {
        OperatorError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }

    fn not_found(message: impl Into<String>) -> OperatorError {
        OperatorError::new(StatusCode::NOT_FOUND, "not-found", message)
    }
}

impl From<crate::app::AppError> for OperatorError {
    fn from(e: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match e {
            AppError::Invalid(m) => OperatorError::bad_request(m),
            AppError::NotFound(m) => OperatorError::not_found(m),
            AppError::Conflict { code, message } => OperatorError::new(StatusCode::CONFLICT, code, message),
            rules @ AppError::Rules(_) => OperatorError::bad_request(rules.message()),
            AppError::Store(_) => OperatorError::internal(),
        }
    }
}

impl IntoResponse for OperatorError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

impl From<StoreError> for OperatorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => OperatorError::not_found("not found"),
            StoreError::Conflict(m) => OperatorError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Unsupported(m) => OperatorError::bad_request(m),
            StoreError::Unavailable(m) | StoreError::Other(m) => {
                tracing::error!(cause = %m, "operator API storage error");
                OperatorError::internal()
            }
        }
    }
}

type OpResult = Result<Response, OperatorError>;

/// Bearer-token check: the token's SHA-256 must be on record.
async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<OperatorToken, OperatorError> {
    let unauthorized =
        || OperatorError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid operator bearer token is required");
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    crate::app::admin::operator_token(state, token).await?.ok_or_else(unauthorized)
}

fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, OperatorError> {
    serde_json::from_slice(body).map_err(|e| OperatorError::bad_request(format!("invalid request body: {e}")))
}

fn ok<T: Serialize>(v: T) -> OpResult {
    Ok(Json(v).into_response())
}

/// A write's answer: its audit entry was committed with it ([`Audited`]).
fn done<T: Serialize>(v: T) -> OpResult {
    Ok(Audited::wrap(Json(v).into_response()))
}

/// A write's answer with 201 Created.
fn done_created<T: Serialize>(v: T) -> OpResult {
    Ok(Audited::wrap((StatusCode::CREATED, Json(v)).into_response()))
}

fn parse_programs(names: &[String]) -> Result<Vec<Program>, OperatorError> {
    names
        .iter()
        .map(|n| {
            Program::parse(n).ok_or_else(|| {
                let valid: Vec<&str> = Program::ALL.iter().map(|p| p.as_str()).collect();
                OperatorError::bad_request(format!("unknown program {n:?}; valid programs: {}", valid.join(", ")))
            })
        })
        .collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PartnerInput {
    id: String,
    name: String,
    path: PartnerPath,
    tier: Tier,
    #[serde(default)]
    programs: Vec<String>,
    #[serde(default)]
    psf_listed: bool,
    #[serde(default)]
    isv_path_confirmed: bool,
    privacy_policy: Option<String>,
    timezone: Option<String>,
    holiday_calendar: Option<String>,
    #[serde(default)]
    referrals_approved: bool,
}

#[utoipa::path(post, path = "/partners", tag = "operator", summary = "Add a partner (a 12-digit account id is assigned)", request_body = PartnerInput, responses((status = 201, description = "success", body = PartnerProfile)))]
async fn add_partner(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: PartnerInput = parse_body(&body)?;
    let mut programs = parse_programs(&input.programs)?;
    programs.sort();
    programs.dedup();
    let profile = PartnerProfile {
        id: input.id,
        name: input.name,
        path: input.path,
        tier: input.tier,
        account_id: crypto::new_account_id(),
        programs,
        psf_listed: input.psf_listed,
        isv_path_confirmed: input.isv_path_confirmed,
        privacy_policy: input.privacy_policy,
        timezone: input.timezone.unwrap_or_else(|| "UTC".into()),
        holiday_calendar: input.holiday_calendar,
        referrals_approved: input.referrals_approved,
        further_requirements: Default::default(),
        removal: None,
    };
    profile.validate().map_err(|e| OperatorError::bad_request(e.to_string()))?;
    // The partner's id is in the body, not the path: the entry names it itself.
    let entry = call.entry(&state, StatusCode::CREATED).partner(&profile.id);
    done_created(crate::app::partners::add(&state, profile, entry).await?)
}

#[utoipa::path(get, path = "/partners/{id}", tag = "operator", summary = "Show a partner", params(("id" = String, Path)), responses((status = 200, description = "success", body = PartnerProfile)))]
async fn show_partner(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(crate::app::partners::load(&state, &id).await?)
}

#[utoipa::path(get, path = "/partners", tag = "operator", summary = "List partners", responses((status = 200, description = "success", body = views::Partners)))]
async fn list_partners(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(views::Partners { partners: crate::app::admin::partners(&state).await? })
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PartnerPatch {
    name: Option<String>,
    path: Option<PartnerPath>,
    tier: Option<Tier>,
    #[serde(default)]
    add_programs: Vec<String>,
    #[serde(default)]
    remove_programs: Vec<String>,
    psf_listed: Option<bool>,
    isv_path_confirmed: Option<bool>,
    privacy_policy: Option<String>,
    #[serde(default)]
    clear_privacy_policy: bool,
    timezone: Option<String>,
    holiday_calendar: Option<String>,
    #[serde(default)]
    clear_holiday_calendar: bool,
    referrals_approved: Option<bool>,
}

#[utoipa::path(patch, path = "/partners/{id}", tag = "operator", summary = "Update a partner", params(("id" = String, Path)), request_body = PartnerPatch, responses((status = 200, description = "success", body = PartnerProfile)))]
async fn update_partner(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let patch: PartnerPatch = parse_body(&body)?;
    let mut p = crate::app::partners::load(&state, &id).await?;
    if let Some(v) = patch.name {
        p.name = v;
    }
    if let Some(v) = patch.path {
        p.path = v;
    }
    if let Some(v) = patch.tier {
        p.tier = v;
    }
    let removed = parse_programs(&patch.remove_programs)?;
    p.programs.retain(|x| !removed.contains(x));
    p.programs.extend(parse_programs(&patch.add_programs)?);
    p.programs.sort();
    p.programs.dedup();
    if let Some(v) = patch.psf_listed {
        p.psf_listed = v;
    }
    if let Some(v) = patch.isv_path_confirmed {
        p.isv_path_confirmed = v;
    }
    if patch.clear_privacy_policy {
        p.privacy_policy = None;
    }
    if let Some(v) = patch.privacy_policy {
        p.privacy_policy = Some(v);
    }
    if let Some(v) = patch.timezone {
        p.timezone = v;
    }
    if patch.clear_holiday_calendar {
        p.holiday_calendar = None;
    }
    if let Some(v) = patch.holiday_calendar {
        p.holiday_calendar = Some(v);
    }
    if let Some(v) = patch.referrals_approved {
        p.referrals_approved = v;
    }
    p.validate().map_err(|e| OperatorError::bad_request(e.to_string()))?;
    let write = AdminWrite::UpdatePartner { profile: p.clone(), effective_ms: state.now().timestamp_millis() };
    call.commit(&state, StatusCode::OK, WriteBatch { admin: vec![write], ..Default::default() }).await?;
    crate::app::eligibility::refresh_after(&state, &p.id, "partner updated").await;
    done(p)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserInput {
    name: String,
    /// Optional portal sign-in for the user (issue 8): an email with either a password or
    /// `invite` (a one-time link with which the user chooses a password).
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    invite: bool,
}

/// How long an invitation link works.
const INVITATION_MS: i64 = 7 * 24 * 3_600_000;

/// A one-time sign-up link for `email`: the token (shown once) and when it expires, and the
/// invitation to store (its token as a hash).
fn invite(state: &AppState, email: &str, role: &str, partner: Option<(&str, &str)>) -> (String, String, AdminWrite) {
    let token = hex::encode(crypto::random_bytes(32));
    let now_ms = state.wall_clock_ms();
    let invitation = ace_store::PortalInvitation {
        token_hash: crypto::sha256_hex(token.as_bytes()),
        email: email.to_string(),
        role: role.to_string(),
        partner_id: partner.map(|p| p.0.to_string()),
        user_name: partner.map(|p| p.1.to_string()),
        created_ms: now_ms,
        expires_ms: now_ms + INVITATION_MS,
    };
    let expires = format_timestamp(from_millis(invitation.expires_ms));
    (token, expires, AdminWrite::InsertPortalInvitation(invitation))
}

enum PortalSignIn {
    None,
    Account(ace_store::PortalAccount),
    Invite(String),
}

/// A portal account's e-mail and password hash, checked before anything is stored.
async fn portal_credentials(email: &str, password: &str) -> Result<(String, String), OperatorError> {
    let email = crate::app::accounts::check_email(email).map_err(OperatorError::bad_request)?;
    crate::app::password::check_strength(password).map_err(OperatorError::bad_request)?;
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || crate::app::password::hash(&password))
        .await
        .map_err(|e| OperatorError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| OperatorError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((email, hash))
}

/// Refuses an e-mail that already signs in to the portal.
async fn check_new_portal_email(state: &AppState, email: &str) -> Result<(), OperatorError> {
    if crate::app::accounts::account(state, email).await?.is_some() {
        return Err(OperatorError::new(StatusCode::CONFLICT, "conflict", format!("{email} already signs in to the portal")));
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StaffInput {
    email: String,
    role: String,
    password: Option<String>,
    #[serde(default)]
    invite: bool,
}

/// Operator staff who sign in to the web console: admin, reviewer or partner-manager.
#[utoipa::path(post, path = "/staff", tag = "operator", summary = "Add operator staff who sign in to the web console (admin token only)", request_body = StaffInput, responses((status = 201, description = "success", body = views::StaffView)))]
async fn add_staff(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    if call.token.role != "admin" {
        return Err(OperatorError::new(StatusCode::FORBIDDEN, "forbidden", "only an admin token may add operator staff"));
    }
    let input: StaffInput = parse_body(&body)?;
    if !crate::app::accounts::STAFF_ROLES.contains(&input.role.as_str()) {
        return Err(OperatorError::bad_request(format!(
            "unknown role {:?}; valid roles: {}",
            input.role,
            crate::app::accounts::STAFF_ROLES.join(", ")
        )));
    }
    let password = match (input.password.as_deref(), input.invite) {
        (Some(password), false) => password,
        (None, true) => {
            let email = crate::app::accounts::check_email(&input.email).map_err(OperatorError::bad_request)?;
            check_new_portal_email(&state, &email).await?;
            let (token, expires, write) = invite(&state, &email, &input.role, None);
            call.commit(&state, StatusCode::CREATED, WriteBatch { admin: vec![write], ..Default::default() }).await?;
            return done_created(views::StaffView {
                email,
                role: input.role,
                invitation_token: Some(token),
                invitation_expires: Some(expires),
            });
        }
        _ => return Err(OperatorError::bad_request("give either a password or invite")),
    };
    let (email, password_hash) = portal_credentials(&input.email, password).await?;
    check_new_portal_email(&state, &email).await?;
    let account = ace_store::PortalAccount {
        email: email.clone(),
        password_hash,
        role: input.role.clone(),
        partner_id: None,
        user_name: None,
        created_ms: state.now().timestamp_millis(),
    };
    let batch = WriteBatch { admin: vec![AdminWrite::InsertPortalAccount(account)], ..Default::default() };
    call.commit(&state, StatusCode::CREATED, batch)
        .await
        .map_err(|e| duplicate_as(e, format!("{email} already signs in to the portal")))?;
    done_created(views::StaffView { email, role: input.role, invitation_token: None, invitation_expires: None })
}

/// A conflict answered in the action's own words (a key taken between the check and the write).
fn duplicate_as(e: OperatorError, message: String) -> OperatorError {
    if e.status == StatusCode::CONFLICT {
        OperatorError::new(StatusCode::CONFLICT, "conflict", message)
    } else {
        e
    }
}

fn check_user_name(name: &str) -> Result<(), OperatorError> {
    let ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(OperatorError::bad_request(format!(
            "user name {name:?} is invalid: use 1-64 characters of letters, digits and . _ @ + -"
        )))
    }
}

/// USE-1: each user gets a key pair of their own; the secret is shown once, stored encrypted.
#[utoipa::path(post, path = "/partners/{id}/users", tag = "operator", summary = "Add a user; the response holds its access key pair, shown once (USE-1); with email and password it can also sign in to the web portal", params(("id" = String, Path)), request_body = UserInput, responses((status = 201, description = "success", body = views::KeyPair)))]
async fn add_user(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: UserInput = parse_body(&body)?;
    check_user_name(&input.name)?;
    crate::app::partners::load(&state, &id).await?;
    let taken =
        || OperatorError::new(StatusCode::CONFLICT, "conflict", format!("partner {id} already has a user {}", input.name));
    if crate::app::keys::find_user(&state, &id, &input.name).await?.is_some() {
        return Err(taken());
    }
    let portal = match (input.email.as_deref(), input.password.as_deref(), input.invite) {
        (Some(email), None, true) => {
            let email = crate::app::accounts::check_email(email).map_err(OperatorError::bad_request)?;
            check_new_portal_email(&state, &email).await?;
            PortalSignIn::Invite(email)
        }
        (Some(email), Some(password), false) => {
            let (email, password_hash) = portal_credentials(email, password).await?;
            check_new_portal_email(&state, &email).await?;
            PortalSignIn::Account(ace_store::PortalAccount {
                email,
                password_hash,
                role: "partner".into(),
                partner_id: Some(id.clone()),
                user_name: Some(input.name.clone()),
                created_ms: state.now().timestamp_millis(),
            })
        }
        (None, None, false) => PortalSignIn::None,
        _ => return Err(OperatorError::bad_request("a portal sign-in needs an email and either a password or invite")),
    };
    let (access_key_id, secret) = crypto::new_access_key_pair();
    let user = UserRecord {
        partner_id: id.clone(),
        name: input.name.clone(),
        access_key_id: access_key_id.clone(),
        secret_encrypted: state.server_key.encrypt(&secret),
        status: UserStatus::Active,
        created_ms: state.now().timestamp_millis(),
    };
    let mut out = views::KeyPair::new(&id, &input.name, access_key_id, secret);
    // The user, its key and its portal sign-in: one transaction with the audit entry.
    let mut writes = vec![AdminWrite::InsertUser(user)];
    match portal {
        PortalSignIn::None => {}
        PortalSignIn::Account(account) => {
            out.email = Some(account.email.clone());
            writes.push(AdminWrite::InsertPortalAccount(account));
        }
        PortalSignIn::Invite(email) => {
            let (token, expires, write) = invite(&state, &email, "partner", Some((&id, &input.name)));
            out.email = Some(email);
            out.invitation_token = Some(token);
            out.invitation_expires = Some(expires);
            writes.push(write);
        }
    }
    call.commit(&state, StatusCode::CREATED, WriteBatch { admin: writes, ..Default::default() }).await?;
    done_created(out)
}

#[utoipa::path(get, path = "/partners/{id}/users", tag = "operator", summary = "List a partner's users", params(("id" = String, Path)), responses((status = 200, description = "success", body = views::Users)))]
async fn list_users(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    crate::app::partners::load(&state, &id).await?;
    let users = crate::app::admin::users(&state, &id).await?.iter().map(views::UserView::from).collect();
    ok(views::Users { users })
}

/// USE-1: rotation replaces the key pair; the old key stops working at once.
#[utoipa::path(post, path = "/partners/{id}/users/{name}/rotate-key", tag = "operator", summary = "Replace the user's key pair; the old key stops working at once (USE-1)", params(("id" = String, Path), ("name" = String, Path)), responses((status = 200, description = "success", body = views::KeyPair)))]
async fn rotate_key(State(state): State<AppState>, Path((id, name)): Path<(String, String)>, call: OperatorCall) -> OpResult {
    let user = crate::app::keys::user(&state, &id, &name).await?;
    let (access_key_id, secret) = crypto::new_access_key_pair();
    // `created_ms` here dates the new key; the user row keeps its own creation time.
    let rotated = UserRecord {
        access_key_id: access_key_id.clone(),
        secret_encrypted: state.server_key.encrypt(&secret),
        created_ms: state.now().timestamp_millis(),
        ..user.clone()
    };
    let write = AdminWrite::UpdateUser { previous_access_key_id: user.access_key_id, user: rotated };
    call.commit(&state, StatusCode::OK, WriteBatch { admin: vec![write], ..Default::default() }).await?;
    done(views::KeyPair::new(&id, &name, access_key_id, secret))
}

/// USE-1: revocation; the key is refused from the next request on.
#[utoipa::path(post, path = "/partners/{id}/users/{name}/disable", tag = "operator", summary = "Disable the user; its key is refused from the next request (USE-1)", params(("id" = String, Path), ("name" = String, Path)), responses((status = 200, description = "success", body = views::UserView)))]
async fn disable_user(State(state): State<AppState>, Path((id, name)): Path<(String, String)>, call: OperatorCall) -> OpResult {
    let user = crate::app::keys::user(&state, &id, &name).await?;
    let disabled = UserRecord { status: UserStatus::Disabled, ..user.clone() };
    let write = AdminWrite::UpdateUser { previous_access_key_id: user.access_key_id, user: disabled.clone() };
    call.commit(&state, StatusCode::OK, WriteBatch { admin: vec![write], ..Default::default() }).await?;
    done(views::UserView::from(&disabled))
}

#[utoipa::path(get, path = "/partners/{id}/users/{name}/keys", tag = "operator", summary = "A user's access keys with status and last use (USE-1)", params(("id" = String, Path), ("name" = String, Path)), responses((status = 200, description = "success", body = views::Keys)))]
async fn list_keys(State(state): State<AppState>, headers: HeaderMap, Path((id, name)): Path<(String, String)>) -> OpResult {
    authorize(&state, &headers).await?;
    crate::app::keys::user(&state, &id, &name).await?;
    let keys = crate::app::admin::access_keys(&state, &id, &name).await?.iter().map(views::KeyView::from).collect();
    ok(views::Keys { keys })
}

/// USE-1: a second key, as in IAM, so a CRM can switch keys without downtime; two at most.
#[utoipa::path(post, path = "/partners/{id}/users/{name}/keys", tag = "operator", summary = "Create a further access key (two per user at most, as IAM); the secret is shown once", params(("id" = String, Path), ("name" = String, Path)), responses((status = 201, description = "success", body = views::KeyPair)))]
async fn create_key(State(state): State<AppState>, Path((id, name)): Path<(String, String)>, call: OperatorCall) -> OpResult {
    let audit = call.entry(&state, StatusCode::CREATED);
    let (access_key_id, secret) = crate::app::keys::new_key(&state, &id, &name, audit).await?;
    done_created(views::KeyPair::new(&id, &name, access_key_id, secret))
}

async fn set_key_status(state: &AppState, call: &OperatorCall, id: &str, name: &str, key: &str, status: UserStatus) -> OpResult {
    let audit = call.entry(state, StatusCode::OK);
    done(views::KeyView::from(&crate::app::keys::set_key_status_of(state, id, name, key, status, audit).await?))
}

#[utoipa::path(post, path = "/partners/{id}/users/{name}/keys/{key}/activate", tag = "operator", summary = "Activate an access key", params(("id" = String, Path), ("name" = String, Path), ("key" = String, Path)), responses((status = 200, description = "success", body = views::KeyView)))]
async fn activate_key(
    State(state): State<AppState>,
    Path((id, name, key)): Path<(String, String, String)>,
    call: OperatorCall,
) -> OpResult {
    set_key_status(&state, &call, &id, &name, &key, UserStatus::Active).await
}

/// USE-1: a deactivated key is refused from the next request on, and can be activated again.
#[utoipa::path(post, path = "/partners/{id}/users/{name}/keys/{key}/deactivate", tag = "operator", summary = "Deactivate an access key: refused from the next request on", params(("id" = String, Path), ("name" = String, Path), ("key" = String, Path)), responses((status = 200, description = "success", body = views::KeyView)))]
async fn deactivate_key(
    State(state): State<AppState>,
    Path((id, name, key)): Path<(String, String, String)>,
    call: OperatorCall,
) -> OpResult {
    set_key_status(&state, &call, &id, &name, &key, UserStatus::Disabled).await
}

#[utoipa::path(delete, path = "/partners/{id}/users/{name}/keys/{key}", tag = "operator", summary = "Delete an access key", params(("id" = String, Path), ("name" = String, Path), ("key" = String, Path)), responses((status = 200, description = "success", body = views::Deleted)))]
async fn delete_key(
    State(state): State<AppState>,
    Path((id, name, key)): Path<(String, String, String)>,
    call: OperatorCall,
) -> OpResult {
    let audit = call.entry(&state, StatusCode::OK);
    crate::app::keys::delete_key(&state, &id, &name, &key, audit).await?;
    done(views::Deleted { deleted: key })
}

/// Solution categories Partner Central documents.
pub const SOLUTION_CATEGORIES: [&str; 10] = [
    "Software Product",
    "Consulting Service",
    "Hardware Product",
    "Communications Product",
    "Professional Service",
    "Managed Service",
    "Value-Added Resale AWS Service",
    "Distribution Service",
    "Training Service",
    "Merger and Acquisition Advising Service",
];

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SolutionInput {
    name: String,
    category: String,
    status: Option<String>,
    catalog: Option<String>,
}

#[utoipa::path(post, path = "/partners/{id}/solutions", tag = "operator", summary = "Add a solution", params(("id" = String, Path)), request_body = SolutionInput, responses((status = 201, description = "success", body = views::SolutionView)))]
async fn add_solution(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: SolutionInput = parse_body(&body)?;
    crate::app::partners::load(&state, &id).await?;
    if input.name.trim().is_empty() || input.name.chars().count() > 255 {
        return Err(OperatorError::bad_request("solution name must be 1-255 characters"));
    }
    if !SOLUTION_CATEGORIES.contains(&input.category.as_str()) {
        return Err(OperatorError::bad_request(format!(
            "unknown category {:?}; valid categories: {}",
            input.category,
            SOLUTION_CATEGORIES.join(", ")
        )));
    }
    let status = input.status.unwrap_or_else(|| "Active".into());
    if !["Active", "Inactive", "Draft"].contains(&status.as_str()) {
        return Err(OperatorError::bad_request(format!("unknown status {status:?}; valid: Active, Inactive, Draft")));
    }
    let catalog_name = input.catalog.unwrap_or_else(|| "AWS".into());
    let catalog = Catalog::parse(&catalog_name)
        .ok_or_else(|| OperatorError::bad_request(format!("unknown catalog {catalog_name:?}; valid: AWS, Sandbox")))?;
    let number = crate::app::admin::next_number(&state, "solution").await?;
    let solution = SolutionRecord {
        catalog,
        id: solution_id(number),
        partner_id: id,
        name: input.name,
        category: input.category,
        status,
        created_ms: state.now().timestamp_millis(),
    };
    let view = views::SolutionView::from(&solution);
    call.commit(
        &state,
        StatusCode::CREATED,
        WriteBatch { admin: vec![AdminWrite::InsertSolution(solution)], ..Default::default() },
    )
    .await?;
    done_created(view)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CatalogQuery {
    catalog: Option<String>,
}

#[utoipa::path(get, path = "/partners/{id}/solutions", tag = "operator", summary = "List a partner's solutions", params(("id" = String, Path), CatalogQuery), responses((status = 200, description = "success", body = views::Solutions)))]
async fn list_solutions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CatalogQuery>,
) -> OpResult {
    authorize(&state, &headers).await?;
    crate::app::partners::load(&state, &id).await?;
    let mut out = Vec::new();
    for catalog in [Catalog::Aws, Catalog::Sandbox] {
        if q.catalog.as_deref().is_none_or(|c| c == catalog.as_str()) {
            out.extend(
                crate::app::tenant::Tenant::new(&state, &id, catalog).solutions().await?.iter().map(views::SolutionView::from),
            );
        }
    }
    ok(views::Solutions { solutions: out })
}

fn clock_view(state: &AppState) -> views::ClockView {
    views::ClockView { now: format_timestamp(state.now()), test_clock: state.clock.is_test_clock(), jobs_run: None }
}

#[utoipa::path(get, path = "/clock", tag = "operator", summary = "The program clock, and whether it is a test clock", responses((status = 200, description = "success", body = views::ClockView)))]
async fn show_clock(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(clock_view(&state))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AdvanceInput {
    duration: String,
}

#[utoipa::path(post, path = "/clock/advance", tag = "operator", summary = "Move a test clock forward (refused without --test-clock)", request_body = AdvanceInput, responses((status = 200, description = "success", body = views::ClockView)))]
async fn advance_clock(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: AdvanceInput = parse_body(&body)?;
    let by = parse_duration(&input.duration).map_err(OperatorError::bad_request)?;
    if !state.clock.is_test_clock() {
        let e = crate::clock::ClockError::NotATestClock;
        return Err(OperatorError::new(StatusCode::CONFLICT, "not-a-test-clock", e.to_string()));
    }
    if by < chrono::TimeDelta::zero() {
        return Err(OperatorError::bad_request(crate::clock::ClockError::Backwards.to_string()));
    }
    // The move is recorded before it is made: the entry is dated at the old time.
    call.commit(&state, StatusCode::OK, WriteBatch::default()).await?;
    state.clock.advance(by).map_err(|e| OperatorError::new(StatusCode::CONFLICT, "not-a-test-clock", e.to_string()))?;
    // Jobs run as soon as the clock moves past their due time.
    let ran = crate::app::jobs::run_due(&state).await;
    done(views::ClockView { jobs_run: Some(ran), ..clock_view(&state) })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PartnerQuery {
    partner: Option<String>,
}

#[utoipa::path(get, path = "/quotas", tag = "operator", summary = "Quota limits in force (USE-5), for every partner or for one", params(PartnerQuery), responses((status = 200, description = "success", body = views::QuotaView)))]
async fn show_quota(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<PartnerQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    if let Some(p) = &q.partner {
        crate::app::partners::load(&state, p).await?;
    }
    let (limits, source) = crate::app::admin::effective_quota(&state, q.partner.as_deref()).await?;
    ok(views::QuotaView::new(q.partner.as_deref().unwrap_or("default"), &limits, source))
}

/// New quota limits (USE-5); a limit left out keeps its value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct QuotaInput {
    /// The partner whose limits these are; without it, the default of every partner.
    partner: Option<String>,
    #[schema(schema_with = limit_schema)]
    reads_per_second: Option<Value>,
    #[schema(schema_with = limit_schema)]
    writes_per_second: Option<Value>,
    #[schema(schema_with = limit_schema)]
    reads_per_day: Option<Value>,
    #[schema(schema_with = limit_schema)]
    writes_per_day: Option<Value>,
}

/// A limit's schema: a positive integer, or `"unlimited"`.
fn limit_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
            .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["unlimited"])))
            .build(),
    )
}

/// A limit in a request: a number, or `"unlimited"`.
fn parse_limit(field: &str, v: &Value) -> Result<Option<u32>, OperatorError> {
    match v {
        Value::String(s) if s == "unlimited" => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .filter(|n| *n >= 1 && *n <= u64::from(u32::MAX))
            .map(|n| Some(n as u32))
            .ok_or_else(|| OperatorError::bad_request(format!("{field} must be a positive integer or \"unlimited\""))),
        _ => Err(OperatorError::bad_request(format!("{field} must be a positive integer or \"unlimited\""))),
    }
}

#[utoipa::path(put, path = "/quotas", tag = "operator", summary = "Set quota limits for every partner, or for one with \"partner\"", request_body = QuotaInput, responses((status = 200, description = "success", body = views::QuotaView)))]
async fn set_quota(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: QuotaInput = parse_body(&body)?;
    let partner = input.partner;
    if let Some(p) = &partner {
        crate::app::partners::load(&state, p).await?;
    }
    let (mut limits, _) = crate::app::admin::effective_quota(&state, partner.as_deref()).await?;
    for (field, slot, value) in [
        ("reads_per_second", &mut limits.reads_per_second, input.reads_per_second),
        ("writes_per_second", &mut limits.writes_per_second, input.writes_per_second),
        ("reads_per_day", &mut limits.reads_per_day, input.reads_per_day),
        ("writes_per_day", &mut limits.writes_per_day, input.writes_per_day),
    ] {
        if let Some(value) = value {
            *slot = parse_limit(field, &value)?;
        }
    }
    let write = AdminWrite::SetQuota { partner_id: partner.clone(), limits };
    let mut entry = call.entry(&state, StatusCode::OK);
    entry.partner_id = partner.clone();
    crate::app::admin::commit(&state, WriteBatch { admin: vec![write], audit: vec![entry], ..Default::default() }).await?;
    state.quotas.invalidate();
    done(views::QuotaView::new(
        partner.as_deref().unwrap_or("default"),
        &limits,
        if partner.is_some() { "partner" } else { "default" },
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    after: Option<i64>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/events", tag = "operator", summary = "The event outbox, oldest first", params(EventsQuery), responses((status = 200, description = "success", body = views::Events)))]
async fn list_events(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<EventsQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let events = crate::app::admin::events(&state, q.after.unwrap_or(0), limit).await?;
    ok(views::Events { events: events.into_iter().map(views::EventItem::from).collect() })
}
