//! `AcePartner.PutWebhook` / `ListWebhooks` / `DeleteWebhook` / `ListEvents`: a partner's own
//! event deliveries. A partner sees and manages only its own (USE-4).

use serde_json::{json, Value};

use ace_domain::time::format_timestamp;
use ace_domain::webhook::WebhookOwner;

use super::{ApiResult, Output, Request};
use crate::error::ApiError;
use crate::webhooks::SubscribeError;

fn owner(r: &Request) -> WebhookOwner {
    WebhookOwner::Partner(r.caller.partner.id.clone())
}

pub async fn put_webhook(r: Request) -> ApiResult {
    let types: Vec<String> = r
        .input
        .get("EventTypes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    let include_changes = r.input.get("IncludeChanges").and_then(Value::as_bool).unwrap_or(false);
    let (hook, secret) =
        match crate::webhooks::subscribe(&r.state, owner(&r), r.required("Url"), types, None, include_changes).await {
            Ok(created) => created,
            Err(SubscribeError::Refused(why)) => {
                return Err(ApiError::business_validation(vec![ace_domain::model::FieldError::new(
                    "Url",
                    ace_domain::model::FieldErrorCode::InvalidValue,
                    format!("Url: {why}"),
                )]))
            }
            Err(SubscribeError::Limit(why)) => return Err(ApiError::ServiceQuotaExceeded(why)),
            Err(SubscribeError::Store(e)) => return Err(e.into()),
        };
    Ok(Output::Json(json!({"WebhookId": hook.id, "Secret": secret})))
}

pub async fn list_webhooks(r: Request) -> ApiResult {
    let hooks: Vec<Value> = r
        .state
        .store
        .list_webhooks(Some(&owner(&r).key()))
        .await?
        .iter()
        .map(|(h, _)| json!({"WebhookId": h.id, "Url": h.url, "EventTypes": h.event_types, "CreatedAt": format_timestamp(h.created_at)}))
        .collect();
    Ok(Output::Json(json!({"Webhooks": hooks})))
}

pub async fn delete_webhook(r: Request) -> ApiResult {
    let id = r.required("WebhookId").to_string();
    let mine = r.state.store.list_webhooks(Some(&owner(&r).key())).await?.iter().any(|(h, _)| h.id == id);
    if !mine || !r.state.store.delete_webhook(&id).await? {
        return Err(ApiError::ResourceNotFound(format!("Webhook {id} was not found")));
    }
    Ok(Output::Json(json!({})))
}

pub async fn list_events(r: Request) -> ApiResult {
    let bad = |field: &str, message: &str| {
        ApiError::request_validation(vec![ace_domain::model::FieldError::new(
            field,
            ace_domain::model::FieldErrorCode::InvalidValue,
            message,
        )])
    };
    let mut after = match r.str("AfterEventSeq") {
        Some(s) => {
            s.parse::<i64>().map_err(|_| bad("AfterEventSeq", "AfterEventSeq must be an EventSeq from an earlier answer"))?
        }
        None => 0,
    };
    if let Some(id) = r.str("AfterEventId") {
        after = r
            .state
            .store
            .event_seq(&r.caller.partner.id, id)
            .await?
            .ok_or_else(|| bad("AfterEventId", "AfterEventId must be the id of one of your events"))?;
    }
    let catalog = match r.str("Catalog") {
        Some(c) => Some(ace_domain::ids::Catalog::parse(c).ok_or_else(|| bad("Catalog", "Catalog must be AWS or Sandbox"))?),
        None => None,
    };
    let limit = r.input.get("MaxResults").and_then(Value::as_u64).unwrap_or(100) as usize;
    let events = r.state.store.list_partner_events(&r.caller.partner.id, after, limit).await?;
    let last = events.last().map(|(seq, _)| seq.to_string());
    let items: Vec<Value> = events
        .into_iter()
        .filter(|(_, e)| {
            // Events about the partner itself (eligibility …) carry no catalog of their own.
            let catalog_of_event = e.envelope["detail"]["catalog"].as_str();
            catalog.is_none_or(|c| catalog_of_event.is_none_or(|x| x == c.as_str()))
        })
        .map(|(seq, e)| json!({"EventSeq": seq.to_string(), "EventId": e.id, "Event": e.envelope.to_string()}))
        .collect();
    let mut out = json!({"Events": items});
    if let Some(last) = last {
        out["LastEventSeq"] = json!(last);
    }
    Ok(Output::Json(out))
}
