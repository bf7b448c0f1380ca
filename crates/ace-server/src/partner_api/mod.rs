//! The Partner API: `POST /`, awsJson 1.0, `X-Amz-Target: AWSPartnerCentralSelling.<Op>`.
//!
//! A request goes: body (≤ 1 MiB) → SigV4 (USE-3) → quota (USE-5) → content type → operation
//! → JSON → model validation → the operation's handler, which loads, calls the domain rule,
//! and commits the change with its events in one transaction.

mod auth;
mod bulk_jobs;
mod checks;
mod customer_accounts;
mod engagements;
mod extensions;
mod feed;
mod invitations;
mod opportunities;
mod opportunity_search;
mod peer_invitations;
pub mod program;
mod referral_obligations;
mod registry;
pub(crate) mod snapshots;
mod solutions;
mod tags;
mod tasks;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tracing::Instrument;

use ace_domain::audit::AuditEntry;
use ace_domain::ids::Catalog;
use ace_domain::model::{FieldError, FieldErrorCode, Model};
use ace_domain::quota::OperationClass;
use ace_domain::security::Signal;
use ace_store::{BatchOutcome, StoreError, WriteBatch};

use crate::app::security;
use crate::error::ApiError;
use crate::{governance, AppState};

pub use crate::app::auth_guard::FAILURES_MAX;
pub use registry::{Operation, Service, Spec, Subject};

pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

pub use crate::app::Caller;

/// One validated request, ready for its handler.
pub struct Request {
    pub state: AppState,
    pub caller: Caller,
    pub operation: Operation,
    /// `AWS` when the operation carries no catalog (Tag operations read it from the ARN).
    pub catalog: Catalog,
    pub input: Map<String, Value>,
    /// Set once the request's write carried its own `partner.write` audit entry.
    audited: Arc<AtomicBool>,
    /// A bulk job's row (issue 20): its result is written in the same transaction as the
    /// row's change, so a row is never applied twice.
    bulk_row: Option<(ace_domain::bulk::RowResult, Arc<AtomicBool>)>,
}

pub enum Output {
    Json(Value),
    /// Operations with no output shape answer an empty body (digest §1.3).
    Empty,
}

impl Output {
    /// A typed response of `operation`, kept to what its output shape declares (unknown members
    /// and nulls never reach the wire). Handlers build their answer as a `Serialize` type and
    /// end with this.
    pub fn of<T: serde::Serialize>(operation: Operation, response: &T) -> ApiResult {
        let value = serde_json::to_value(response)
            .map_err(|e| ApiError::Internal(format!("{}: the response does not serialise: {e}", operation.name())))?;
        let model = operation.model();
        Ok(Output::Json(match model.operation_output(operation.name()) {
            Some(shape) => model.project(shape, &value),
            None => value,
        }))
    }
}

pub type ApiResult = Result<Output, ApiError>;

/// The response of an operation whose output shape has no members: `{}`.
#[derive(serde::Serialize)]
pub struct NoMembers {}

pub async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    extensions: Extensions,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let started = std::time::Instant::now();
    let address = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut seen = Seen { operation: Operation::from_target(target), catalog: None, watched: None };
    let operation = seen.operation.map_or("unknown", Operation::name);
    // Every log line of the request carries the id its response's `x-amzn-RequestId` has.
    let span = tracing::info_span!("request", request_id = %request_id, operation);
    let outcome = process(state.clone(), address, &method, &uri, &headers, body, &mut seen).instrument(span).await;
    if let Some((partner, input)) = seen.watched.take() {
        // Issue 25: an integration check judges on what it saw, recorded before the answer.
        let (error, output) = match &outcome {
            Ok(Output::Json(v)) => (None, v.clone()),
            Ok(Output::Empty) => (None, Value::Null),
            // The refusal as the integration read it (its `ErrorList` names the field and code).
            Err(e) => (Some(e.aws_code().0.to_string()), e.body()),
        };
        crate::app::checks::observe(&state, &partner, &request_id, operation, input, error, output).await;
    }
    let label = match &outcome {
        Ok(_) => "ok",
        Err(e) => e.aws_code().0,
    };
    let seconds = started.elapsed().as_secs_f64();
    crate::metrics::request(operation, label, seen.catalog.map_or("none", Catalog::as_str), seconds);
    tracing::debug!(request_id = %request_id, operation, outcome = label, ms = seconds * 1000.0, "request");
    let mut response = match outcome {
        Ok(Output::Json(v)) => (StatusCode::OK, v.to_string()).into_response(),
        Ok(Output::Empty) => StatusCode::OK.into_response(),
        Err(e) => return e.into_response_with_id(&request_id),
    };
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    response
}

/// What a request turned out to be, for its metrics: the operation its target names (read once)
/// and, once its body is decoded, its catalog; and, when an integration check watches its
/// partner in the Sandbox (issue 25), the partner and the input, to record with the outcome.
struct Seen {
    operation: Option<Operation>,
    catalog: Option<Catalog>,
    watched: Option<(String, Value)>,
}

async fn read_body(headers: &HeaderMap, body: Body, body_timeout: std::time::Duration) -> Result<Bytes, ApiError> {
    let declared = headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, BODY_LIMIT_BYTES)).await {
        Ok(read) => read.map_err(|_| ApiError::PayloadTooLarge),
        Err(_) => Err(ApiError::RequestTimeout),
    }
}

/// The awsJson body of `operation`, decoded and checked against the API model: the catalog it
/// names and the input. Pure: the fuzz target `decode` drives it with arbitrary bytes.
pub fn decode_input(operation: Operation, body: &[u8]) -> Result<(Catalog, Map<String, Value>), ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::Serialization("The request body is not valid UTF-8.".into()))?;
    let raw: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(text).map_err(|e| ApiError::Serialization(format!("The request body is not valid JSON: {e}")))?
    };
    if !raw.is_object() {
        return Err(ApiError::Serialization("The request body must be a JSON object.".into()));
    }
    let model = operation.model();
    let shape = model.operation_input(operation.name()).expect("implemented operations have an input shape");
    let input = match model.validate(shape, &raw) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ApiError::Serialization("The request body must be a JSON object.".into())),
        Err(fields) => return Err(ApiError::request_validation(fields)),
    };
    let catalog = if operation.has_catalog() {
        let name = input.get("Catalog").and_then(Value::as_str).unwrap_or("");
        Catalog::parse(name).ok_or_else(|| {
            ApiError::request_validation(vec![FieldError::new(
                "Catalog",
                FieldErrorCode::InvalidEnumValue,
                format!("Catalog: {name:?} is not one of: AWS, Sandbox"),
            )])
        })?
    } else {
        Catalog::Aws
    };
    Ok((catalog, input))
}

async fn process(
    state: AppState,
    address: Option<IpAddr>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    seen: &mut Seen,
) -> ApiResult {
    let address_subject = address.map(security::address_subject);
    let now_ms = state.wall_clock_ms();
    // USE-2: a blocked address is refused before anything else is done for it.
    state.probes.check(&address_subject.as_deref().into_iter().collect::<Vec<_>>(), now_ms)?;
    let body = read_body(headers, body, state.settings.connections.body_read_timeout).await?;
    let caller = match auth::authenticate(&state, method, uri, headers, &body, address).await {
        Ok(caller) => caller,
        Err(e) => {
            auth::record_failure(&state, address, headers, &e).await;
            return Err(e);
        }
    };
    let key_subject = security::key_subject(&caller.user.access_key_id);
    let mut subjects: Vec<&str> = vec![&key_subject];
    subjects.extend(address_subject.as_deref());
    state.probes.check(&subjects, now_ms)?;

    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    // An operation this server does not serve is charged as a read: it is answered, not done.
    let operation = seen.operation;
    let class = operation.map_or(OperationClass::Read, Operation::class);
    let draw = operation.map_or(ace_domain::quota::Meter::Class(class), Operation::meter);
    if let Err(limit) = state.quotas.admit(&caller.partner.id, draw, now_ms).await? {
        crate::metrics::throttled(match draw {
            ace_domain::quota::Meter::Operation { name, .. } => name,
            ace_domain::quota::Meter::Class(OperationClass::Read) => "reads",
            ace_domain::quota::Meter::Class(OperationClass::Write) => "writes",
        });
        return Err(ApiError::Throttling(limit));
    }

    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim().to_ascii_lowercase().starts_with("application/x-amz-json-1.0") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be application/x-amz-json-1.0, not {content_type:?}"
        )));
    }
    let Some(operation) = operation else {
        security::signal(&state, &subjects, Signal::UnknownOperation, Some(&caller.partner.id)).await;
        let selling_name = target.strip_prefix(Service::Selling.target_prefix());
        return Err(if let Some(operation_name) = selling_name.filter(|name| Model::get().has_operation(name)) {
            ApiError::UnknownOperation(format!("{operation_name} is not implemented by this server"))
        } else {
            ApiError::UnknownOperation(format!("Unknown operation {target:?}"))
        });
    };

    let (catalog, input) = decode_input(operation, &body)?;
    seen.catalog = Some(catalog);
    if catalog == Catalog::Sandbox && state.checks.watching(&caller.partner.id) {
        seen.watched = Some((caller.partner.id.clone(), Value::Object(input.clone())));
    }
    execute(&state, &caller, operation, class, catalog, input, &subjects, None).await
}

/// One operation on behalf of a signed-in portal user (issue 8): the same quota, model check,
/// handler, audit and participation as a signed request, so no rule lives only in the web UI.
/// `input` is the operation's awsJson body.
pub async fn invoke(state: &AppState, caller: &Caller, operation: Operation, input: Value) -> ApiResult {
    let key_subject = security::key_subject(&caller.user.access_key_id);
    let subjects = [key_subject.as_str()];
    state.probes.check(&subjects, state.wall_clock_ms())?;
    let class = operation.class();
    if let Err(limit) = state.quotas.admit(&caller.partner.id, operation.meter(), state.wall_clock_ms()).await? {
        return Err(ApiError::Throttling(limit));
    }
    let (catalog, input) = decode_input(operation, input.to_string().as_bytes())?;
    execute(state, caller, operation, class, catalog, input, &subjects, None).await
}

/// The partner API's operations as the application layer runs them for the portal's partner
/// pages and a bulk job's rows (`app::operations`), named by their wire names.
pub struct Runner;

fn answer(outcome: ApiResult) -> crate::app::operations::Answer {
    outcome.map(|output| match output {
        Output::Json(v) => Some(v),
        Output::Empty => None,
    })
}

fn named(operation: &str) -> Result<Operation, ApiError> {
    Operation::named(operation).ok_or_else(|| ApiError::UnknownOperation(format!("{operation} is not served by this server")))
}

type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl crate::app::operations::Runner for Runner {
    fn serves(&self, operation: &str) -> bool {
        Operation::named(operation).is_some()
    }

    fn invoke<'a>(
        &'a self,
        state: &'a AppState,
        caller: &'a Caller,
        operation: &'a str,
        input: Value,
    ) -> Boxed<'a, crate::app::operations::Answer> {
        Box::pin(async move { answer(invoke(state, caller, named(operation)?, input).await) })
    }

    fn invoke_bulk_row<'a>(
        &'a self,
        state: &'a AppState,
        caller: &'a Caller,
        operation: &'a str,
        input: Value,
        result: ace_domain::bulk::RowResult,
    ) -> Boxed<'a, (crate::app::operations::Answer, bool)> {
        Box::pin(async move {
            match named(operation) {
                Ok(op) => {
                    let (outcome, recorded) = invoke_bulk_row(state, caller, op, input, result).await;
                    (answer(outcome), recorded)
                }
                Err(e) => (Err(e), false),
            }
        })
    }
}

/// One row of a bulk job (issue 20) as `caller`'s `operation`: the same model check, handler,
/// rules and audit as a signed request. Its rate is the job's, not the per-second quota's (the
/// job counts its rows against the daily one). When the row's change commits, `result` (its
/// success, with the record's id) commits with it and the answer's flag says so.
pub async fn invoke_bulk_row(
    state: &AppState,
    caller: &Caller,
    operation: Operation,
    input: Value,
    result: ace_domain::bulk::RowResult,
) -> (ApiResult, bool) {
    let recorded = Arc::new(AtomicBool::new(false));
    let key_subject = security::key_subject(&caller.user.access_key_id);
    let outcome = match decode_input(operation, input.to_string().as_bytes()) {
        Ok((catalog, input)) => {
            let row = Some((result, recorded.clone()));
            execute(state, caller, operation, operation.class(), catalog, input, &[key_subject.as_str()], row).await
        }
        Err(e) => Err(e),
    };
    (outcome, recorded.load(Ordering::Relaxed))
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    state: &AppState,
    caller: &Caller,
    operation: Operation,
    class: OperationClass,
    catalog: Catalog,
    input: Map<String, Value>,
    subjects: &[&str],
    bulk_row: Option<(ace_domain::bulk::RowResult, Arc<AtomicBool>)>,
) -> ApiResult {
    let audited = Arc::new(AtomicBool::new(false));
    let request =
        Request { state: state.clone(), caller: caller.clone(), operation, catalog, input, audited: audited.clone(), bulk_row };
    let outcome = registry::dispatch(request).await;
    match &outcome {
        // Not-found on a resource id is how scanners look; the program's own documents (terms,
        // support contact) being unpublished yet is not.
        Err(ApiError::ResourceNotFound(_)) if operation.spec().subject == Subject::Records => {
            security::signal(state, subjects, Signal::NotFound, Some(&caller.partner.id)).await;
        }
        Ok(_) => {
            if class == OperationClass::Write && !audited.load(Ordering::Relaxed) {
                unit(caller, operation, catalog).audit_alone(state).await;
            }
            if let Err(e) = governance::observe_participation(state, caller, operation.name()).await {
                tracing::error!(error = ?e, "could not record acceptance by continued participation");
            }
        }
        Err(_) => {}
    }
    outcome
}

/// The operation as the application layer's unit of work.
fn unit(caller: &Caller, operation: Operation, catalog: Catalog) -> crate::app::writes::Write<'_> {
    crate::app::writes::Write {
        caller,
        operation: operation.name(),
        catalog,
        audited: operation.class() == OperationClass::Write,
    }
}

impl Request {
    /// The request's `partner.write` audit entry, for a use case that commits it with its own
    /// change; [`Request::audited`] then says it was.
    pub fn write_entry(&self) -> AuditEntry {
        unit(&self.caller, self.operation, self.catalog).audit_entry(&self.state, &WriteBatch::default())
    }

    /// The request's audit entry was committed (by a use case given [`Request::write_entry`]).
    pub fn audited(&self) {
        self.audited.store(true, Ordering::Relaxed);
    }

    /// Commits the request's change with its `partner.write` audit entry, in one transaction
    /// (`app::writes`).
    pub async fn commit(&self, batch: WriteBatch) -> Result<BatchOutcome, StoreError> {
        let row = self.bulk_row.as_ref().map(|(result, _)| result);
        let (outcome, recorded) = unit(&self.caller, self.operation, self.catalog).commit(&self.state, batch, row).await?;
        if let (true, Some((_, flag))) = (recorded, &self.bulk_row) {
            flag.store(true, Ordering::Relaxed);
        }
        // A replayed idempotent call wrote nothing new; the original was audited.
        self.audited.store(true, Ordering::Relaxed);
        Ok(outcome)
    }

    /// The input as the operation's typed request (`#[serde(rename_all = "PascalCase")]`
    /// structs named after the model's shapes). The model check has run, so required members
    /// are there and every value is of its shape: a mismatch is this server's bug.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_value(Value::Object(self.input.clone()))
            .map_err(|e| ApiError::Internal(format!("{}: the validated input does not fit its type: {e}", self.operation.name())))
    }

    /// A typed response of this request's operation (see [`Output::of`]).
    pub fn respond<T: serde::Serialize>(&self, response: &T) -> ApiResult {
        Output::of(self.operation, response)
    }

    /// The record of a `ClientToken` that still stands (`app::writes::claimed`).
    pub async fn claimed(&self, key: &ace_store::IdempotencyKey) -> Result<Option<ace_store::IdempotencyRecord>, StoreError> {
        crate::app::writes::claimed(&self.state, key).await
    }

    /// The caller's own records in the request's catalog (USE-4).
    pub fn tenant(&self) -> crate::app::tenant::Tenant<'_> {
        crate::app::tenant::Tenant::new(&self.state, &self.caller.partner.id, self.catalog)
    }

    pub fn str(&self, member: &str) -> Option<&str> {
        self.input.get(member).and_then(Value::as_str)
    }

    /// A required string member (the model check already ensured it is there).
    pub fn required(&self, member: &str) -> &str {
        self.str(member).unwrap_or_default()
    }

    pub fn not_found(&self, what: &str, id: &str) -> ApiError {
        ApiError::ResourceNotFound(format!("{what} {id} was not found in catalog {}", self.catalog))
    }
}

/// One page of a list built in memory (solutions, tasks, evidence requests) as
/// `{result_key: [...], "NextToken"?}`. The token is bound to the caller, the operation and the
/// filters it was issued for.
pub fn in_memory_page<T: serde::Serialize>(r: &Request, items: Vec<T>, result_key: &str) -> ApiResult {
    in_memory_page_of(r, items, result_key, 20)
}

/// [`in_memory_page`] for an operation whose page size defaults to `default_page_size`.
pub fn in_memory_page_of<T: serde::Serialize>(
    r: &Request,
    items: Vec<T>,
    result_key: &str,
    default_page_size: usize,
) -> ApiResult {
    let (page, next) = page_of(r, items, default_page_size)?;
    let mut out = serde_json::json!({ result_key: page });
    if let Some(next) = next {
        out["NextToken"] = Value::String(next);
    }
    Ok(Output::Json(out))
}

/// The page of `items` the request asks for, and the token of the next one, for a handler that
/// must know which items it answers (e.g. to audit only their reads).
pub fn page_of<T>(r: &Request, items: Vec<T>, default_page_size: usize) -> Result<(Vec<T>, Option<String>), ApiError> {
    page_in_memory(&r.state, &r.page_fingerprint(), items, r.page_size(default_page_size), r.str("NextToken"))
}

impl Request {
    /// What the request's page tokens are bound to: the partner, the operation and every input
    /// member but the paging ones, so a token serves only the same request by the same partner.
    fn page_fingerprint(&self) -> String {
        let mut filters = self.input.clone();
        filters.remove("NextToken");
        filters.remove("MaxResults");
        format!("{}:{}:{}", self.caller.partner.id, self.operation.name(), opportunities::request_hash(&filters))
    }

    /// `MaxResults`, or the operation's default.
    pub fn page_size(&self, default: usize) -> usize {
        self.input.get("MaxResults").and_then(Value::as_u64).map_or(default, |n| n as usize)
    }

    /// The keyset cursor the request's `NextToken` carries; `None` on a first page.
    pub fn page_cursor<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        let Some(token) = self.str("NextToken") else { return Ok(None) };
        let payload = self.state.open_next_token(token, &self.page_fingerprint())?;
        serde_json::from_value(payload).map(Some).map_err(|_| invalid_next_token())
    }

    /// The sealed `NextToken` of the page after the one ending at `cursor`.
    pub fn next_page_token<T: serde::Serialize>(&self, cursor: &T) -> String {
        self.state.seal_next_token(&self.page_fingerprint(), serde_json::json!(cursor))
    }
}

/// Pagination over an in-memory list: the token carries the offset and is bound to the
/// request it came from.
fn page_in_memory<T>(
    state: &AppState,
    fingerprint: &str,
    items: Vec<T>,
    page_size: usize,
    next_token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let offset = match next_token {
        Some(token) => {
            let cursor = state.open_next_token(token, fingerprint)?;
            cursor.get("offset").and_then(Value::as_u64).ok_or_else(invalid_next_token)? as usize
        }
        None => 0,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(page_size).collect();
    let next = (offset + page.len() < total)
        .then(|| state.seal_next_token(fingerprint, serde_json::json!({"offset": offset + page.len()})));
    Ok((page, next))
}

/// A list filter: empty takes everything; an id or an ARN ending in it matches.
pub fn wanted(filter: &[String], value: &str) -> bool {
    filter.is_empty() || filter.iter().any(|w| w == value || w.rsplit('/').next() == Some(value))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sort {
    pub sort_order: String,
}

/// A search's `Sort` (`SearchEngagements`, `SearchOpportunities`): a field and an order.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchSort {
    pub sort_by: String,
    pub sort_order: String,
}

impl Sort {
    pub fn descending(sort: &Option<Sort>) -> bool {
        sort.as_ref().is_some_and(|s| s.sort_order == "DESCENDING")
    }
}

/// The member naming the resource an operation acts on (`Identifier`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Identified {
    pub identifier: String,
}

pub fn invalid_next_token() -> ApiError {
    ApiError::request_validation(vec![FieldError::new(
        "NextToken",
        FieldErrorCode::InvalidValue,
        "NextToken: the token is invalid, expired, or was issued for a different request",
    )])
}
