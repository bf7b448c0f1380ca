//! The web portal (issue 8): a partner's sales team and the operator's staff in a browser,
//! served by `ace serve` itself. Pages are rendered on the server from askama templates
//! (checked at compile time, auto-escaped) and work as plain HTML forms without JavaScript.
//!
//! No rule lives here: partner pages act through [`partner_api::invoke`] — the same quota,
//! model validation, handlers, audit and tenant scoping as a signed API request — and the
//! console through the operator API's own functions. This module turns forms into API input
//! and API errors into messages next to the fields they concern.

mod account;
mod checks;
mod console;
mod engagements;
mod jobs;
mod operator;
mod portal;
mod session;

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::AppState;

pub use session::{Viewer, SESSION_COOKIE};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/invite/{token}", get(session::invite_form).post(session::redeem_invite))
        .route("/static/app.css", get(|| asset(include_str!("../../templates/app.css"), "text/css; charset=utf-8")))
        .route("/static/app.js", get(|| asset(include_str!("../../templates/app.js"), "text/javascript; charset=utf-8")))
        .merge(portal::router())
        .merge(engagements::router())
        .merge(jobs::router())
        .merge(checks::router())
        .merge(account::router())
        .merge(console::router())
        .merge(operator::router())
}

/// `GET /`: where a person lands — their own start page, or the sign-in form.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::viewer(&state, &headers).await {
        Ok(Some(v)) if v.caller.is_some() => Redirect::to("/portal").into_response(),
        Ok(Some(_)) => Redirect::to("/console").into_response(),
        Ok(None) => Redirect::to("/login").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

/// What the page header shows and every form needs.
pub struct Nav {
    pub email: String,
    pub who: String,
    /// The session's CSRF token: every form carries it back.
    pub csrf: String,
    pub partner: bool,
    pub staff: bool,
    /// Staff role (`admin`, `reviewer`, `partner-manager`); `partner` for partner users.
    pub role: String,
    pub section: &'static str,
}

/// Renders a page; pages are HTML with the headers every page gets.
pub fn page<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => with_page_headers((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "could not render a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "could not render the page").into_response()
        }
    }
}

/// Pages may not be framed (clickjacking), run only their own script, and are never cached:
/// they show one tenant's data.
fn with_page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    nav: Option<Nav>,
    title: String,
    message: String,
}

/// The page for anything a person may not see or that does not exist: the same for both, so
/// another partner's URL tells nothing.
pub fn not_found(nav: Option<Nav>) -> Response {
    page(
        StatusCode::NOT_FOUND,
        &MessagePage { nav, title: "Not found".into(), message: "There is nothing here, or it is not yours to see.".into() },
    )
}

pub async fn fallback(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let nav = session::viewer(&state, &headers).await.ok().flatten().map(|v| v.nav("", ""));
    not_found(nav)
}

/// Something went wrong that the person cannot fix by changing the form.
#[derive(Debug)]
pub enum WebError {
    NotFound,
    /// The session is missing, expired, or its user or partner has lost access.
    SignIn,
    /// A form without this session's CSRF token.
    Forbidden,
    Message(StatusCode, String),
}

impl From<ace_store::StoreError> for WebError {
    fn from(e: ace_store::StoreError) -> Self {
        tracing::error!(error = %e, "portal storage error");
        WebError::Message(StatusCode::INTERNAL_SERVER_ERROR, "The service could not complete this; try again.".into())
    }
}

/// A use case's refusal, shown on the page; storage trouble logged, not shown.
impl From<crate::app::AppError> for WebError {
    fn from(e: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match e {
            AppError::Store(_) => {
                WebError::Message(StatusCode::INTERNAL_SERVER_ERROR, "The service could not complete this; try again.".into())
            }
            AppError::NotFound(_) => WebError::NotFound,
            AppError::Invalid(m) => WebError::Message(StatusCode::BAD_REQUEST, m),
            AppError::Conflict { message, .. } => WebError::Message(StatusCode::CONFLICT, message),
            rules @ AppError::Rules(_) => WebError::Message(StatusCode::BAD_REQUEST, rules.message()),
        }
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::ResourceNotFound(_) => WebError::NotFound,
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "portal request failed");
                WebError::Message(StatusCode::INTERNAL_SERVER_ERROR, "The service could not complete this; try again.".into())
            }
            other => WebError::Message(StatusCode::BAD_REQUEST, api_message(&other)),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::NotFound => not_found(None),
            WebError::SignIn => Redirect::to("/login").into_response(),
            WebError::Forbidden => page(
                StatusCode::FORBIDDEN,
                &MessagePage {
                    nav: None,
                    title: "Form expired".into(),
                    message: "This form did not come from your current session. Go back, reload the page and try again.".into(),
                },
            ),
            WebError::Message(status, message) => {
                page(status, &MessagePage { nav: None, title: "Could not complete this".into(), message })
            }
        }
    }
}

/// The message of an API error, for a person.
pub fn api_message(e: &ApiError) -> String {
    match e {
        ApiError::Validation { message, .. }
        | ApiError::Conflict(message)
        | ApiError::AccessDenied(message)
        | ApiError::Throttling(message)
        | ApiError::ServiceQuotaExceeded(message)
        | ApiError::Serialization(message) => message.clone(),
        ApiError::ResourceNotFound(_) => "Not found.".into(),
        _ => "The service could not complete this; try again.".into(),
    }
}

/// A submitted form: every name with every value, in order (checkboxes repeat a name).
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The value with surrounding spaces removed; `None` when empty.
    pub fn text(&self, name: &str) -> Option<String> {
        let v = self.get(name).trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }
}

/// Errors of a form, by the field they concern (API field paths such as
/// `Project.CustomerBusinessProblem`), and those that concern no field.
#[derive(Debug, Default)]
pub struct FormErrors {
    pub by_field: HashMap<String, String>,
    pub general: Vec<String>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.general.is_empty()
    }

    pub fn field(&self, name: &str) -> Option<&String> {
        self.by_field.get(name)
    }

    /// Places each field error of `e` next to the field the form has for it (`known`); the
    /// rest go on top of the form.
    pub fn from_api(e: &ApiError, known: &[&str]) -> FormErrors {
        let mut errors = FormErrors::default();
        match e {
            ApiError::Validation { fields, message, .. } => {
                for f in fields {
                    let name = f.field_name.trim_start_matches('.');
                    let place = known.iter().find(|k| name == **k || name.starts_with(&format!("{k}.")));
                    match place {
                        Some(k) if !errors.by_field.contains_key(*k) => {
                            errors.by_field.insert(k.to_string(), f.message.clone());
                        }
                        Some(k) => {
                            let joined = format!("{} {}", errors.by_field[*k], f.message);
                            errors.by_field.insert(k.to_string(), joined);
                        }
                        None => errors.general.push(f.message.clone()),
                    }
                }
                if fields.is_empty() {
                    errors.general.push(message.clone());
                }
            }
            other => errors.general.push(api_message(other)),
        }
        errors
    }
}

/// A CSS class from a status ("Action Required" → `action-required`).
pub fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}
