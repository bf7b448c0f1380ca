//! Sign-in, sessions and CSRF. A session is a random cookie (`HttpOnly`, `SameSite=Strict`,
//! `Secure` unless served on loopback) whose SHA-256 is stored with the session's CSRF token.
//! Every request re-reads the account, its user and its partner: a disabled user or a removed
//! partner is signed out at the next click (USE-1, REM-1). Failed sign-ins count per e-mail
//! address like failed signatures per key, and lock it out the same way (USE-3).

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde_json::json;

use ace_domain::audit::{action, AuditEntry};
use ace_store::{PortalAccount, PortalSession, UserStatus};

use super::{page, Fields, Nav, WebError};
use crate::app::accounts::SESSION_MS;
use crate::app::auth_guard::{sign_in_address_subject, FailureLimit};
use crate::app::{accounts, password, AppError, Caller};
use crate::{crypto, AppState};

pub const SESSION_COOKIE: &str = "ace_session";
/// The login form's double-submit token (there is no session yet to hold one).
const LOGIN_COOKIE: &str = "ace_login";

/// Operator staff roles, and what each may do in the console.
pub use crate::app::accounts::STAFF_ROLES;

/// The signed-in person of a request.
pub struct Viewer {
    pub account: PortalAccount,
    pub session: PortalSession,
    /// A partner's user acts as this caller of the partner API.
    pub caller: Option<Caller>,
}

impl Viewer {
    pub fn nav(&self, section: &'static str, _title: &str) -> Nav {
        let who = match &self.caller {
            Some(c) => format!("{} · {}", c.partner.name, c.user.name),
            None => format!("operator · {}", self.account.role),
        };
        Nav {
            email: self.account.email.clone(),
            who,
            csrf: self.session.csrf.clone(),
            partner: self.caller.is_some(),
            staff: self.caller.is_none(),
            role: self.account.role.clone(),
            section,
        }
    }

    /// CSRF: the form must carry this session's token.
    pub fn check_form(&self, form: &Fields) -> Result<(), WebError> {
        let sent = form.get("_csrf");
        if sent.is_empty() || !crypto::constant_time_eq(sent.as_bytes(), self.session.csrf.as_bytes()) {
            return Err(WebError::Forbidden);
        }
        Ok(())
    }

    pub fn is_staff(&self, roles: &[&str]) -> bool {
        self.caller.is_none() && roles.contains(&self.account.role.as_str())
    }

    /// Staff in one of `roles`, or the page that says there is nothing here.
    pub fn require_role(&self, roles: &[&str]) -> Result<(), WebError> {
        if self.is_staff(roles) {
            Ok(())
        } else {
            Err(WebError::NotFound)
        }
    }
}

async fn read_form(request: axum::extract::Request, state: &AppState) -> Result<(Viewer, Fields), WebError> {
    let (parts, body) = request.into_parts();
    let viewer = require(state, &parts.headers).await?;
    let request = axum::extract::Request::from_parts(parts, body);
    let Form(pairs) = <Form<Vec<(String, String)>> as axum::extract::FromRequest<AppState>>::from_request(request, state)
        .await
        .map_err(|e| WebError::Message(StatusCode::BAD_REQUEST, format!("The form could not be read: {e}")))?;
    let form = Fields(pairs);
    viewer.check_form(&form)?;
    Ok((viewer, form))
}

/// A form posted by a signed-in partner user, its CSRF token checked.
pub struct PartnerForm {
    pub viewer: Viewer,
    pub caller: Caller,
    pub form: Fields,
}

impl axum::extract::FromRequest<AppState> for PartnerForm {
    type Rejection = WebError;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, WebError> {
        let (viewer, form) = read_form(request, state).await?;
        let caller = viewer.caller.clone().ok_or(WebError::NotFound)?;
        Ok(PartnerForm { viewer, caller, form })
    }
}

/// A form posted by operator staff (any role: handlers check theirs), its CSRF token checked.
pub struct StaffForm {
    pub viewer: Viewer,
    pub form: Fields,
}

impl axum::extract::FromRequest<AppState> for StaffForm {
    type Rejection = WebError;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, WebError> {
        let (viewer, form) = read_form(request, state).await?;
        viewer.require_role(&STAFF_ROLES)?;
        Ok(StaffForm { viewer, form })
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session of a request, if it has a live one whose account still has access.
pub async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, WebError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let Some((session, account)) = accounts::session(state, id).await? else { return Ok(None) };
    let caller = match partner_caller(state, &account).await? {
        Access::Partner(caller) => Some(*caller),
        Access::Staff => None,
        Access::Denied(_) => return Ok(None),
    };
    Ok(Some(Viewer { account, session, caller }))
}

enum Access {
    Partner(Box<Caller>),
    Staff,
    Denied(String),
}

async fn partner_caller(state: &AppState, account: &PortalAccount) -> Result<Access, WebError> {
    let (Some(partner_id), Some(user_name)) = (&account.partner_id, &account.user_name) else {
        return Ok(if STAFF_ROLES.contains(&account.role.as_str()) {
            Access::Staff
        } else {
            Access::Denied("This account has no role.".into())
        });
    };
    let user = crate::app::keys::find_user(state, partner_id, user_name).await?;
    let partner = crate::app::partners::find(state, partner_id).await?;
    match (user, partner) {
        (Some(user), Some(partner)) if user.status == UserStatus::Active && partner.has_access() => {
            Ok(Access::Partner(Box::new(Caller { partner, user })))
        }
        (Some(_), Some(partner)) if !partner.has_access() => {
            Ok(Access::Denied(format!("{} has been removed from the ACE program.", partner.name)))
        }
        _ => Ok(Access::Denied("This account is disabled.".into())),
    }
}

/// Signed in, or sent to the sign-in page.
pub async fn require(state: &AppState, headers: &HeaderMap) -> Result<Viewer, WebError> {
    viewer(state, headers).await?.ok_or(WebError::SignIn)
}

/// Operator staff in one of `roles`; anyone else signed in sees the page that says there is
/// nothing here.
pub async fn require_staff(state: &AppState, headers: &HeaderMap, roles: &[&str]) -> Result<Viewer, WebError> {
    let viewer = require(state, headers).await?;
    viewer.require_role(roles)?;
    Ok(viewer)
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    csrf: String,
    email: String,
    error: Option<String>,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Served on loopback (a developer's machine, the tests) a cookie cannot be `Secure`: browsers
/// would not send it back over plain HTTP.
fn secure_attribute(headers: &HeaderMap) -> &'static str {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let loopback = ["127.0.0.1", "localhost", "[::1]"].iter().any(|l| host == *l || host.starts_with(&format!("{l}:")));
    if loopback {
        ""
    } else {
        "; Secure"
    }
}

fn set_cookie(response: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn login_page(headers: &HeaderMap, status: StatusCode, email: String, error: Option<String>) -> Response {
    let csrf = random_token();
    let mut response = page(status, &LoginPage { nav: None, csrf: csrf.clone(), email, error });
    set_cookie(
        &mut response,
        format!("{LOGIN_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600{}", secure_attribute(headers)),
    );
    response
}

pub async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(Some(_)) = viewer(&state, &headers).await {
        return Redirect::to("/").into_response();
    }
    login_page(&headers, StatusCode::OK, String::new(), None)
}

const SIGN_IN_FAILED: &str = "The e-mail address or the password is not right.";

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let form = Fields(form);
    let email = form.get("email").trim().to_lowercase();
    let sent = form.get("_csrf");
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if sent.is_empty() || !crypto::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return login_page(&headers, StatusCode::FORBIDDEN, email, Some("The form expired; please sign in again.".into()));
    }
    match sign_in(&state, peer.ip(), &email, form.get("password")).await {
        Ok((account, id)) => signed_in(&headers, &account, &id),
        Err(SignInError::Refused(message)) => login_page(&headers, StatusCode::UNAUTHORIZED, email, Some(message)),
        Err(SignInError::Web(e)) => e.into_response(),
    }
}

enum SignInError {
    Refused(String),
    Web(WebError),
}

impl From<WebError> for SignInError {
    fn from(e: WebError) -> Self {
        SignInError::Web(e)
    }
}

impl From<AppError> for SignInError {
    fn from(e: AppError) -> Self {
        SignInError::Web(e.into())
    }
}

/// Checks the password and opens a session; returns the account and the cookie value.
async fn sign_in(
    state: &AppState,
    address: std::net::IpAddr,
    email: &str,
    password_given: &str,
) -> Result<(PortalAccount, String), SignInError> {
    // USE-3: failures count against the account and, whatever e-mail each names, against the
    // client's network; either locked refuses before any password is hashed.
    let guard_key = format!("portal:{email}");
    let network_key = sign_in_address_subject(address);
    let now_ms = state.wall_clock_ms();
    if state.auth_guard.locked_until(&guard_key, FailureLimit::CREDENTIAL, now_ms).is_some() {
        audit_failure(state, address, email, None, true).await;
        return Err(SignInError::Refused(
            "Too many failed sign-ins for this address: it is locked for 15 minutes (USE-3).".into(),
        ));
    }
    if state.auth_guard.locked_until(&network_key, FailureLimit::SIGN_IN_ADDRESS, now_ms).is_some() {
        audit_failure(state, address, email, None, true).await;
        return Err(SignInError::Refused(
            "Too many failed sign-ins from your network: sign-in is paused for 15 minutes (USE-3).".into(),
        ));
    }
    // Counted as failures before the password is checked, so attempts sent at once cannot all
    // pass the limit; a right password takes its count back.
    state.auth_guard.record_failure(&guard_key, now_ms);
    state.auth_guard.record_failure(&network_key, now_ms);
    let account = accounts::account(state, email).await?;
    let stored = account.as_ref().map_or(password::decoy(), |a| a.password_hash.as_str()).to_string();
    let given = password_given.to_string();
    let matches = password::verify_bounded(&state.password_slots, given, stored).await;
    let Some(account) = account.as_ref().filter(|_| matches).cloned() else {
        let locked = state.auth_guard.locked_until(&guard_key, FailureLimit::CREDENTIAL, now_ms).is_some();
        audit_failure(state, address, email, account.and_then(|a| a.partner_id), locked).await;
        return Err(SignInError::Refused(SIGN_IN_FAILED.into()));
    };
    state.auth_guard.withdraw(&network_key, now_ms);
    state.auth_guard.record_success(&guard_key);
    if let Access::Denied(why) = partner_caller(state, &account).await? {
        return Err(SignInError::Refused(why));
    }
    let id = open_session(state, &account).await?;
    Ok((account, id))
}

/// A new session for `account`; returns the cookie's value.
async fn open_session(state: &AppState, account: &PortalAccount) -> Result<String, crate::app::AppError> {
    let id = random_token();
    accounts::open_session(state, account, &id, random_token()).await?;
    Ok(id)
}

/// The response that signs `account` in with session cookie `id` and sends it to its start page.
fn signed_in(headers: &HeaderMap, account: &PortalAccount, id: &str) -> Response {
    let target = if account.partner_id.is_some() { "/portal" } else { "/console" };
    let mut response = Redirect::to(target).into_response();
    set_cookie(
        &mut response,
        format!(
            "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
            SESSION_MS / 1000,
            secure_attribute(headers)
        ),
    );
    set_cookie(&mut response, format!("{LOGIN_COOKIE}=; Path=/; Max-Age=0"));
    response
}

#[derive(askama::Template)]
#[template(path = "invite.html")]
struct InvitePage {
    nav: Option<Nav>,
    csrf: String,
    token: String,
    email: String,
    error: Option<String>,
}

fn invite_page(headers: &HeaderMap, status: StatusCode, token: &str, email: String, error: Option<String>) -> Response {
    let csrf = random_token();
    let mut response = page(status, &InvitePage { nav: None, csrf: csrf.clone(), token: token.to_string(), email, error });
    set_cookie(
        &mut response,
        format!("{LOGIN_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600{}", secure_attribute(headers)),
    );
    response
}

const INVITATION_GONE: &str = "This invitation link was already used or has expired. Ask the operator for a new one.";

/// `GET /invite/{token}`: choose a password for the account the operator prepared.
pub async fn invite_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    match accounts::invitation(&state, &token).await {
        Ok(Some(i)) if i.expires_ms > state.wall_clock_ms() => invite_page(&headers, StatusCode::OK, &token, i.email, None),
        Ok(_) => invite_page(&headers, StatusCode::GONE, &token, String::new(), Some(INVITATION_GONE.into())),
        Err(e) => WebError::from(e).into_response(),
    }
}

pub async fn redeem_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(token): axum::extract::Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let form = Fields(form);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    let sent = form.get("_csrf");
    if sent.is_empty() || !crypto::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return WebError::Forbidden.into_response();
    }
    let email = match accounts::invitation(&state, &token).await {
        Ok(Some(i)) => i.email,
        Ok(None) => return invite_page(&headers, StatusCode::GONE, &token, String::new(), Some(INVITATION_GONE.into())),
        Err(e) => return WebError::from(e).into_response(),
    };
    let password = form.get("password").to_string();
    if password != form.get("confirm") {
        return invite_page(&headers, StatusCode::UNPROCESSABLE_ENTITY, &token, email, Some("The two passwords differ.".into()));
    }
    if let Err(why) = password::check_strength(&password) {
        return invite_page(&headers, StatusCode::UNPROCESSABLE_ENTITY, &token, email, Some(format!("Not accepted: {why}.")));
    }
    let hash = match tokio::task::spawn_blocking(move || password::hash(&password)).await {
        Ok(Ok(hash)) => hash,
        _ => {
            return WebError::Message(StatusCode::INTERNAL_SERVER_ERROR, "Could not set the password; try again.".into())
                .into_response()
        }
    };
    let account = match accounts::redeem(&state, &token, &hash).await {
        Ok(account) => account,
        Err(AppError::NotFound(_)) => {
            return invite_page(&headers, StatusCode::GONE, &token, String::new(), Some(INVITATION_GONE.into()))
        }
        Err(AppError::Conflict { .. }) => {
            let message = format!("{email} already has an account: sign in instead.");
            return invite_page(&headers, StatusCode::CONFLICT, &token, email, Some(message));
        }
        Err(e) => return WebError::from(e).into_response(),
    };
    match open_session(&state, &account).await {
        Ok(id) => signed_in(&headers, &account, &id),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// USE-3, USE-4: a failed sign-in is audited with the address it came from.
async fn audit_failure(state: &AppState, address: std::net::IpAddr, email: &str, partner: Option<String>, locked: bool) {
    let mut entry = AuditEntry::new(
        state.now(),
        format!("client:{address}"),
        if locked { action::AUTH_LOCKOUT } else { action::AUTH_FAILURE },
        json!({"error": "PortalSignInFailed", "email": email, "locked": locked}),
    );
    entry.partner_id = partner;
    crate::app::keys::record_failure(state, entry, None).await;
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>) -> Response {
    if let Ok(Some(v)) = viewer(&state, &headers).await {
        if v.check_form(&Fields(form)).is_err() {
            return WebError::Forbidden.into_response();
        }
        if let Err(e) = accounts::close_session(&state, &v.session.id_hash).await {
            return WebError::from(e).into_response();
        }
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(&mut response, format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"));
    response
}
