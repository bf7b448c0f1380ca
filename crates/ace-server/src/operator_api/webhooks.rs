//! Webhook subscriptions for the operator: its own (every event) or on a partner's behalf.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use ace_domain::time::format_timestamp;
use ace_domain::webhook::{Webhook, WebhookOwner};

use super::{authorize, created, ok, parse_body, OpResult, OperatorError};
use crate::app::webhooks::SubscribeError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(add))
        .route("/webhooks/{id}", axum::routing::delete(remove))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route("/webhooks/{id}/replay", post(replay))
}

pub fn view(hook: &Webhook, cursor: i64) -> Value {
    json!({
        "id": hook.id, "owner": hook.owner, "url": hook.url, "event_types": hook.event_types, "include_changes": hook.include_changes,
        "created": format_timestamp(hook.created_at), "cursor_seq": cursor,
    })
}

#[derive(Deserialize)]
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

async fn add(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> OpResult {
    authorize(&state, &headers).await?;
    let input: AddInput = parse_body(&body)?;
    let owner = match input.partner {
        Some(p) => {
            crate::app::partners::load(&state, &p).await?;
            WebhookOwner::Partner(p)
        }
        None => WebhookOwner::Operator,
    };
    let (hook, secret) =
        match crate::app::webhooks::subscribe(&state, owner, &input.url, input.event_types, input.secret, input.include_changes)
            .await
        {
            Ok(created) => created,
            Err(SubscribeError::Refused(why)) => return Err(OperatorError::bad_request(why)),
            Err(SubscribeError::Limit(why)) => return Err(OperatorError::new(StatusCode::CONFLICT, "limit", why)),
            Err(SubscribeError::Store(e)) => return Err(e.into()),
        };
    let mut v = view(&hook, 0);
    v["secret"] = json!(secret);
    created(v)
}

#[derive(Deserialize)]
struct ListQuery {
    partner: Option<String>,
}

async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let owner = q.partner.map(|p| WebhookOwner::Partner(p).key());
    let hooks: Vec<Value> = state.store.list_webhooks(owner.as_deref()).await?.iter().map(|(h, c)| view(h, *c)).collect();
    ok(json!({"webhooks": hooks}))
}

async fn remove(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    if !state.store.delete_webhook(&id).await? {
        return Err(OperatorError::not_found(format!("webhook {id} does not exist")));
    }
    ok(json!({"deleted": id}))
}

async fn deliveries(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(json!({"deliveries": state.store.list_deliveries(&id, 10_000).await?}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    /// Redeliver every event after this outbox sequence number.
    since_seq: i64,
}

async fn replay(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> OpResult {
    authorize(&state, &headers).await?;
    let input: ReplayInput = parse_body(&body)?;
    if !state.store.set_webhook_cursor(&id, input.since_seq.max(0)).await? {
        return Err(OperatorError::not_found(format!("webhook {id} does not exist")));
    }
    ok(json!({"webhook": id, "replaying_after_seq": input.since_seq.max(0)}))
}
