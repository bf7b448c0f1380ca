//! Webhook subscriptions for the operator: its own (every event) or on a partner's behalf.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use ace_domain::webhook::WebhookOwner;

use super::{authorize, done, done_created, ok, parse_body, views, OpResult, OperatorCall, OperatorError};
use ace_store::{AdminWrite, WriteBatch};

use crate::app::webhooks::SubscribeError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(add))
        .route("/webhooks/{id}", axum::routing::delete(remove))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route("/webhooks/{id}/replay", post(replay))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddInput {
    partner: Option<String>,
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
    secret: Option<String>,
    /// Richer payloads: `detail.changedFields` on events that carry what changed.
    #[serde(default)]
    include_changes: bool,
}

#[utoipa::path(post, path = "/webhooks", tag = "operator", summary = "Subscribe a URL to the events of one partner, or of all (operator); the response holds the signing secret, shown once", request_body = AddInput, responses((status = 201, description = "success", body = views::WebhookView)))]
async fn add(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: AddInput = parse_body(&body)?;
    let mut audit = call.entry(&state, StatusCode::CREATED);
    let owner = match input.partner {
        Some(p) => {
            crate::app::partners::load(&state, &p).await?;
            audit.partner_id = Some(p.clone());
            WebhookOwner::Partner(p)
        }
        None => WebhookOwner::Operator,
    };
    let (url, types, secret) = (&input.url, input.event_types, input.secret);
    let (hook, secret) =
        match crate::app::webhooks::subscribe(&state, owner, url, types, secret, input.include_changes, vec![audit]).await {
            Ok(created) => created,
            Err(SubscribeError::Refused(why)) => return Err(OperatorError::bad_request(why)),
            Err(SubscribeError::Limit(why)) => return Err(OperatorError::new(StatusCode::CONFLICT, "limit", why)),
            Err(SubscribeError::Store(e)) => return Err(e.into()),
        };
    done_created(views::WebhookView { secret: Some(secret), ..views::WebhookView::new(&hook, 0) })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    partner: Option<String>,
}

#[utoipa::path(get, path = "/webhooks", tag = "operator", summary = "Webhook subscriptions", params(ListQuery), responses((status = 200, description = "success", body = views::Webhooks)))]
async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let owner = q.partner.map(WebhookOwner::Partner);
    let webhooks = crate::app::webhooks::subscriptions(&state, owner.as_ref())
        .await?
        .iter()
        .map(|(h, c)| views::WebhookView::new(h, *c))
        .collect();
    ok(views::Webhooks { webhooks })
}

/// Commits one change of a subscription with its audit entry; an unknown id is 404.
async fn change(state: &AppState, call: &OperatorCall, id: &str, write: AdminWrite) -> Result<(), OperatorError> {
    match call.commit(state, StatusCode::OK, WriteBatch { admin: vec![write], ..Default::default() }).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(OperatorError::not_found(format!("webhook {id} does not exist"))),
        other => other,
    }
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "operator", summary = "Delete a subscription", params(("id" = String, Path)), responses((status = 200, description = "success", body = views::Deleted)))]
async fn remove(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall) -> OpResult {
    change(&state, &call, &id, AdminWrite::DeleteWebhook { id: id.clone() }).await?;
    done(views::Deleted { deleted: id })
}

#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "operator", summary = "Delivery attempts: delivered, failed (retried) or dead (parked)", params(("id" = String, Path)), responses((status = 200, description = "success", body = views::Deliveries)))]
async fn deliveries(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(views::Deliveries { deliveries: crate::app::webhooks::deliveries(&state, &id, 10_000).await? })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    /// Redeliver every event after this outbox sequence number.
    since_seq: i64,
}

#[utoipa::path(post, path = "/webhooks/{id}/replay", tag = "operator", summary = "Redeliver every event after an outbox sequence number", params(("id" = String, Path)), request_body = ReplayInput, responses((status = 200, description = "success", body = views::Replaying)))]
async fn replay(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: ReplayInput = parse_body(&body)?;
    change(&state, &call, &id, AdminWrite::SetWebhookCursor { id: id.clone(), cursor_seq: input.since_seq.max(0) }).await?;
    done(views::Replaying { webhook: id, replaying_after_seq: input.since_seq.max(0) })
}
