//! `AcePartner.PutWebhook` / `ListWebhooks` / `DeleteWebhook` / `ListEvents`: a partner's own
//! event deliveries. A partner sees and manages only its own (USE-4).

use serde::{Deserialize, Serialize};

use ace_domain::ids::Catalog;
use ace_domain::model::{FieldError, FieldErrorCode};
use ace_domain::time::format_timestamp;
use ace_domain::webhook::WebhookOwner;

use super::{ApiResult, NoMembers, Request};
use crate::app::webhooks::SubscribeError;
use crate::error::ApiError;

fn owner(r: &Request) -> WebhookOwner {
    WebhookOwner::Partner(r.caller.partner.id.clone())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutWebhookRequest {
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    include_changes: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutWebhookResponse {
    webhook_id: String,
    secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WebhookSummary {
    webhook_id: String,
    url: String,
    event_types: Vec<String>,
    created_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListWebhooksResponse {
    webhooks: Vec<WebhookSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteWebhookRequest {
    webhook_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEventsRequest {
    after_event_seq: Option<String>,
    after_event_id: Option<String>,
    catalog: Option<String>,
    max_results: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FeedEvent {
    event_seq: String,
    event_id: String,
    /// The EventBridge-shaped event, as JSON text.
    event: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListEventsResponse {
    events: Vec<FeedEvent>,
    last_event_seq: Option<String>,
}

pub async fn put_webhook(r: Request) -> ApiResult {
    let input: PutWebhookRequest = r.parse()?;
    let subscribed = crate::app::webhooks::subscribe(
        &r.state,
        owner(&r),
        &input.url,
        input.event_types,
        None,
        input.include_changes,
        Vec::new(),
    )
    .await;
    let (hook, secret) = match subscribed {
        Ok(created) => created,
        Err(SubscribeError::Refused(why)) => {
            return Err(ApiError::business_validation(vec![FieldError::new(
                "Url",
                FieldErrorCode::InvalidValue,
                format!("Url: {why}"),
            )]))
        }
        Err(SubscribeError::Limit(why)) => return Err(ApiError::ServiceQuotaExceeded(why)),
        Err(SubscribeError::Store(e)) => return Err(e.into()),
    };
    r.respond(&PutWebhookResponse { webhook_id: hook.id, secret })
}

pub async fn list_webhooks(r: Request) -> ApiResult {
    let webhooks = crate::app::tenant::webhooks(&r.state, &r.caller.partner.id)
        .await?
        .into_iter()
        .map(|h| WebhookSummary {
            webhook_id: h.id,
            url: h.url,
            event_types: h.event_types,
            created_at: format_timestamp(h.created_at),
        })
        .collect();
    r.respond(&ListWebhooksResponse { webhooks })
}

pub async fn delete_webhook(r: Request) -> ApiResult {
    let id = r.parse::<DeleteWebhookRequest>()?.webhook_id;
    if !crate::app::webhooks::unsubscribe(&r.state, &owner(&r), &id).await? {
        return Err(ApiError::ResourceNotFound(format!("Webhook {id} was not found")));
    }
    r.respond(&NoMembers {})
}

pub async fn list_events(r: Request) -> ApiResult {
    let input: ListEventsRequest = r.parse()?;
    let bad = |field: &str, message: &str| {
        ApiError::request_validation(vec![FieldError::new(field, FieldErrorCode::InvalidValue, message)])
    };
    let mut after = match &input.after_event_seq {
        Some(s) => {
            s.parse::<i64>().map_err(|_| bad("AfterEventSeq", "AfterEventSeq must be an EventSeq from an earlier answer"))?
        }
        None => 0,
    };
    if let Some(id) = &input.after_event_id {
        after = crate::app::tenant::event_seq(&r.state, &r.caller.partner.id, id)
            .await?
            .ok_or_else(|| bad("AfterEventId", "AfterEventId must be the id of one of your events"))?;
    }
    let catalog = match &input.catalog {
        Some(c) => Some(Catalog::parse(c).ok_or_else(|| bad("Catalog", "Catalog must be AWS or Sandbox"))?),
        None => None,
    };
    let events = crate::app::tenant::events(&r.state, &r.caller.partner.id, after, input.max_results.unwrap_or(100)).await?;
    let last_event_seq = events.last().map(|(seq, _)| seq.to_string());
    let events = events
        .into_iter()
        .filter(|(_, e)| {
            // Events about the partner itself (eligibility …) carry no catalog of their own.
            let catalog_of_event = e.envelope["detail"]["catalog"].as_str();
            catalog.is_none_or(|c| catalog_of_event.is_none_or(|x| x == c.as_str()))
        })
        .map(|(seq, e)| FeedEvent { event_seq: seq.to_string(), event_id: e.id, event: e.envelope.to_string() })
        .collect();
    r.respond(&ListEventsResponse { events, last_event_seq })
}
