//! Why a use case did not do what it was asked. Each edge renders it its own way: the partner
//! API as an AWS error shape, the operator API as JSON with an HTTP status, the portal as a
//! message on the page. Storage trouble is never shown as it is: the edges log it and answer an
//! internal error.

use ace_domain::model::FieldError;
use ace_store::StoreError;

#[derive(Debug)]
pub enum AppError {
    /// Not acceptable as asked (operator API 400; a message at the portal's form).
    Invalid(String),
    /// What it names does not exist (or is not the caller's to see).
    NotFound(String),
    /// It conflicts with the state of things; `code` names the reason (operator API 409).
    Conflict {
        code: &'static str,
        message: String,
    },
    /// Refused by the program's rules, each field with why (the partner API's
    /// `BUSINESS_VALIDATION_FAILED` with its `ErrorList`; operator API 400).
    Rules(Vec<FieldError>),
    Store(StoreError),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::Invalid(message.into())
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Conflict { code, message: message.into() }
    }

    /// The message for people; storage trouble is not described.
    pub fn message(&self) -> String {
        match self {
            AppError::Invalid(m) | AppError::NotFound(m) | AppError::Conflict { message: m, .. } => m.clone(),
            AppError::Rules(fields) => fields.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; "),
            AppError::Store(_) => "internal error; see the server log".into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("not found".into()),
            // The store's own refusals (a version moved on, a key taken, a limit) are answers.
            StoreError::Conflict(message) => AppError::Conflict { code: "conflict", message },
            StoreError::Unsupported(message) => AppError::Invalid(message),
            // Logged here, once: the edges answer an internal error without the cause.
            other => {
                tracing::error!(error = %other, "storage error in a use case");
                AppError::Store(other)
            }
        }
    }
}
