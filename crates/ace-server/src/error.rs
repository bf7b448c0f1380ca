//! The one table that maps errors to the AWS wire shape (digest §1.4–1.5): `__type`, HTTP
//! status, modeled members. Every client error of the Selling API is HTTP 400, as production.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use ace_domain::model::FieldError;
use ace_store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationReason {
    /// Bad shape, type or format.
    RequestValidationFailed,
    /// Violates a business rule.
    BusinessValidationFailed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    Validation {
        reason: ValidationReason,
        message: String,
        fields: Vec<FieldError>,
    },
    ResourceNotFound(String),
    Conflict(String),
    AccessDenied(String),
    Throttling(String),
    ServiceQuotaExceeded(String),
    /// The cause is logged with the request id; the client sees a generic message.
    Internal(String),
    Serialization(String),
    UnknownOperation(String),
    UnsupportedMediaType(String),
    PayloadTooLarge,
    /// The body did not arrive in time (a slow client holding the connection).
    RequestTimeout,
    MissingAuthenticationToken,
    IncompleteSignature(String),
    UnrecognizedClient,
    InvalidSignature(String),
}

impl ApiError {
    pub fn request_validation(fields: Vec<FieldError>) -> ApiError {
        ApiError::validation(ValidationReason::RequestValidationFailed, fields)
    }

    pub fn business_validation(fields: Vec<FieldError>) -> ApiError {
        ApiError::validation(ValidationReason::BusinessValidationFailed, fields)
    }

    /// The message repeats the field facts: the CLI shows only the message.
    fn validation(reason: ValidationReason, fields: Vec<FieldError>) -> ApiError {
        let details: Vec<String> = fields.iter().take(5).map(|f| f.message.clone()).collect();
        let more = if fields.len() > 5 { format!(" (and {} more)", fields.len() - 5) } else { String::new() };
        let message = format!(
            "{} validation error{} detected: {}{more}",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" },
            details.join("; ")
        );
        ApiError::Validation { reason, message, fields }
    }

    /// `(__type, HTTP status)`.
    pub fn aws_code(&self) -> (&'static str, StatusCode) {
        match self {
            ApiError::Validation { .. } => ("ValidationException", StatusCode::BAD_REQUEST),
            ApiError::ResourceNotFound(_) => ("ResourceNotFoundException", StatusCode::BAD_REQUEST),
            ApiError::Conflict(_) => ("ConflictException", StatusCode::BAD_REQUEST),
            ApiError::AccessDenied(_) => ("AccessDeniedException", StatusCode::BAD_REQUEST),
            ApiError::Throttling(_) => ("ThrottlingException", StatusCode::BAD_REQUEST),
            ApiError::ServiceQuotaExceeded(_) => ("ServiceQuotaExceededException", StatusCode::BAD_REQUEST),
            ApiError::Internal(_) => ("InternalServerException", StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::Serialization(_) => ("SerializationException", StatusCode::BAD_REQUEST),
            ApiError::UnknownOperation(_) => ("UnknownOperationException", StatusCode::NOT_FOUND),
            ApiError::UnsupportedMediaType(_) => ("UnsupportedMediaTypeException", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ApiError::PayloadTooLarge => ("RequestEntityTooLargeException", StatusCode::PAYLOAD_TOO_LARGE),
            ApiError::RequestTimeout => ("RequestTimeoutException", StatusCode::REQUEST_TIMEOUT),
            ApiError::MissingAuthenticationToken => ("MissingAuthenticationTokenException", StatusCode::FORBIDDEN),
            ApiError::IncompleteSignature(_) => ("IncompleteSignatureException", StatusCode::FORBIDDEN),
            ApiError::UnrecognizedClient => ("UnrecognizedClientException", StatusCode::FORBIDDEN),
            ApiError::InvalidSignature(_) => ("InvalidSignatureException", StatusCode::FORBIDDEN),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Validation { message, .. } => message.clone(),
            ApiError::ResourceNotFound(m)
            | ApiError::Conflict(m)
            | ApiError::AccessDenied(m)
            | ApiError::Throttling(m)
            | ApiError::ServiceQuotaExceeded(m)
            | ApiError::Serialization(m)
            | ApiError::UnknownOperation(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::IncompleteSignature(m)
            | ApiError::InvalidSignature(m) => m.clone(),
            ApiError::Internal(_) => "An internal error occurred. Try again later.".into(),
            ApiError::PayloadTooLarge => "The request body is larger than 1 MiB.".into(),
            ApiError::RequestTimeout => "The request body did not arrive in time.".into(),
            ApiError::MissingAuthenticationToken => "Missing Authentication Token".into(),
            ApiError::UnrecognizedClient => "The security token included in the request is invalid.".into(),
        }
    }

    pub fn body(&self) -> Value {
        let (code, _) = self.aws_code();
        let message = self.message();
        let mut body = json!({"__type": code, "Message": message, "message": message});
        if let ApiError::Validation { reason, fields, .. } = self {
            body["Reason"] = json!(match reason {
                ValidationReason::RequestValidationFailed => "REQUEST_VALIDATION_FAILED",
                ValidationReason::BusinessValidationFailed => "BUSINESS_VALIDATION_FAILED",
            });
            body["ErrorList"] = fields
                .iter()
                .map(|f| {
                    let mut e = json!({"Message": f.message, "Code": f.code.as_str()});
                    if !f.field_name.is_empty() {
                        e["FieldName"] = json!(f.field_name);
                    }
                    e
                })
                .collect();
        }
        body
    }

    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let (code, status) = self.aws_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(request_id, cause = %cause, "internal error");
        }
        let mut response = (status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", v);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::ResourceNotFound("The resource was not found.".into()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Unavailable(m) | StoreError::Other(m) | StoreError::Unsupported(m) => ApiError::Internal(m),
        }
    }
}

/// The partner API's row of the application layer's error table: storage trouble stays
/// internal (logged where it happened, answered without its text).
impl From<crate::app::AppError> for ApiError {
    fn from(e: crate::app::AppError) -> Self {
        use crate::app::AppError;
        match e {
            AppError::Invalid(message) => {
                ApiError::Validation { reason: ValidationReason::BusinessValidationFailed, message, fields: vec![] }
            }
            AppError::NotFound(m) => ApiError::ResourceNotFound(m),
            AppError::Conflict { message, .. } => ApiError::Conflict(message),
            AppError::Rules(fields) => ApiError::business_validation(fields),
            AppError::Store(_) => ApiError::Internal("storage error (logged by the use case)".into()),
        }
    }
}
