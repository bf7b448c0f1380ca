//! Webhook subscriptions (the partner API's `PutWebhook`, the operator API, the portal): the
//! URL guard, the secret and the cap per partner. Delivery is `crate::webhooks`.

use ace_domain::audit::AuditEntry;
use ace_domain::webhook::{Webhook, WebhookOwner};
use ace_store::{AdminWrite, StoreError, WriteBatch};

use crate::AppState;

/// Why a subscription was not created.
#[derive(Debug)]
pub enum SubscribeError {
    /// The URL or secret is not acceptable; the message says why.
    Refused(String),
    /// The partner holds as many subscriptions as it may.
    Limit(String),
    Store(StoreError),
}

impl From<StoreError> for SubscribeError {
    fn from(e: StoreError) -> Self {
        SubscribeError::Store(e)
    }
}

/// Creates a subscription for `owner`, the partner API's `PutWebhook` and the operator's alike,
/// committed with `audit`; its deliveries start with the next event. Returns the secret, shown once.
pub async fn subscribe(
    state: &AppState,
    owner: WebhookOwner,
    url: &str,
    event_types: Vec<String>,
    secret: Option<String>,
    include_changes: bool,
    audit: Vec<AuditEntry>,
) -> Result<(Webhook, String), SubscribeError> {
    let settings = &state.settings.delivery;
    crate::webhooks::check_target(url, settings.allow_private, owner == WebhookOwner::Operator)
        .await
        .map_err(SubscribeError::Refused)?;
    let secret = secret.unwrap_or_else(crate::webhooks::new_secret);
    if secret.len() < 16 {
        return Err(SubscribeError::Refused("a webhook secret must be at least 16 characters".into()));
    }
    if let WebhookOwner::Partner(partner) = &owner {
        let held = state.store.list_webhooks(Some(&owner.key())).await?.len();
        if held >= settings.max_per_partner {
            return Err(SubscribeError::Limit(format!(
                "partner {partner} already has {held} webhook subscriptions, the most it may hold; delete one first"
            )));
        }
    }
    let hook = Webhook {
        id: crate::referrals::new_id("wh-", 13),
        owner,
        url: url.to_string(),
        event_types,
        secret_encrypted: state.server_key.encrypt(&secret),
        created_at: state.now(),
        include_changes,
    };
    let cursor_seq = state.store.max_event_seq().await?;
    let audit = audit.into_iter().map(|entry| entry.detail_with("webhook", &hook.id)).collect();
    let write = AdminWrite::InsertWebhook { webhook: hook.clone(), cursor_seq };
    state.store.commit(WriteBatch { admin: vec![write], audit, ..Default::default() }).await?;
    Ok((hook, secret))
}

/// Deletes `owner`'s subscription `id`; another owner's is as if it did not exist (false).
pub async fn unsubscribe(state: &AppState, owner: &WebhookOwner, id: &str) -> Result<bool, StoreError> {
    let mine = state.store.list_webhooks(Some(&owner.key())).await?.iter().any(|(h, _)| h.id == id);
    Ok(mine && state.store.delete_webhook(id).await?)
}

/// The subscriptions of `owner` (every owner's when `None`), each with its delivery cursor.
pub async fn subscriptions(state: &AppState, owner: Option<&WebhookOwner>) -> Result<Vec<(Webhook, i64)>, StoreError> {
    state.store.list_webhooks(owner.map(WebhookOwner::key).as_deref()).await
}

/// The delivery attempts of subscription `id`, at most `limit`.
pub async fn deliveries(state: &AppState, id: &str, limit: usize) -> Result<Vec<ace_store::DeliveryAttempt>, StoreError> {
    state.store.list_deliveries(id, limit).await
}
