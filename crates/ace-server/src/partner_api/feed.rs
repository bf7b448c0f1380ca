//! `AcePartner.PutWebhook` / `ListWebhooks` / `DeleteWebhook` / `ListEvents`: a partner's own
//! event deliveries. A partner sees and manages only its own (USE-4).

use serde_json::{json, Value};

use ace_domain::time::format_timestamp;
use ace_domain::webhook::WebhookOwner;

use super::{ApiResult, Output, Request};
use crate::error::ApiError;

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
    let (hook, secret) = crate::operator_api::webhooks::create(
        &r.state,
        owner(&r),
        r.required("Url"),
        types,
        None,
        r.input.get("IncludeChanges").and_then(Value::as_bool).unwrap_or(false),
    )
    .await
    .map_err(|m| {
        ApiError::business_validation(vec![ace_domain::model::FieldError::new(
            "Url",
            ace_domain::model::FieldErrorCode::InvalidValue,
            format!("Url: {m}"),
        )])
    })?;
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
    let after = match r.str("AfterEventSeq") {
        Some(s) => s.parse::<i64>().map_err(|_| {
            ApiError::request_validation(vec![ace_domain::model::FieldError::new(
                "AfterEventSeq",
                ace_domain::model::FieldErrorCode::InvalidValue,
                "AfterEventSeq must be an EventSeq from an earlier answer",
            )])
        })?,
        None => 0,
    };
    let limit = r.input.get("MaxResults").and_then(Value::as_u64).unwrap_or(100) as usize;
    let events = r.state.store.list_partner_events(&r.caller.partner.id, after, limit).await?;
    let last = events.last().map(|(seq, _)| seq.to_string());
    let items: Vec<Value> =
        events.into_iter().map(|(seq, e)| json!({"EventSeq": seq.to_string(), "Event": e.envelope.to_string()})).collect();
    let mut out = json!({"Events": items});
    if let Some(last) = last {
        out["LastEventSeq"] = json!(last);
    }
    Ok(Output::Json(out))
}
