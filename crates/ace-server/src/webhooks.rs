//! The event dispatcher: delivers the outbox to webhook subscriptions, at least once, in order
//! per subscription, signed. Each subscription is delivered by one task holding a lease in the
//! store, so several nodes never deliver the same subscription concurrently, and a slow or
//! dead endpoint delays only its own subscription.
//!
//! Signature scheme (like Stripe's): header `Ace-Signature: t=<unix seconds>,v1=<hex>` where
//! `v1 = HMAC-SHA256(secret, "<t>.<raw body>")`; also `Ace-Event-Id`, `Ace-Webhook-Id`,
//! `Ace-Delivery-Attempt`. Receivers should reject timestamps older than 5 minutes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use ace_domain::events::OutboxEvent;
use ace_domain::webhook::{
    backoff, check_address, check_url, eventbridge_target, EventBridgeTarget, UrlCheck, Webhook, WebhookOwner,
};
use ace_store::DeliveryAttempt;

use crate::AppState;

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub retry_base: TimeDelta,
    pub retry_cap: TimeDelta,
    /// After this long failing, an event is parked as dead and the subscription moves on.
    pub retry_window: TimeDelta,
    pub timeout: Duration,
    /// Whether webhook URLs may point at private-range addresses (SSRF guard).
    pub allow_private: bool,
    /// Subscriptions one partner may hold at once.
    pub max_per_partner: usize,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_base: TimeDelta::seconds(1),
            retry_cap: TimeDelta::minutes(10),
            retry_window: TimeDelta::hours(24),
            timeout: Duration::from_secs(10),
            allow_private: false,
            max_per_partner: MAX_PER_PARTNER_DEFAULT,
        }
    }
}

/// Subscriptions a partner may hold at once unless the operator says otherwise: each is work
/// for the dispatcher, whoever's events it waits for.
pub const MAX_PER_PARTNER_DEFAULT: usize = 10;

/// The SSRF guard (issue 21): the URL's own check, then every address its name resolves to.
pub async fn check_target(url: &str, allow_private: bool, operator: bool) -> Result<(), String> {
    match check_url(url, allow_private, operator)? {
        UrlCheck::Done => Ok(()),
        UrlCheck::Resolve { host, port } => resolve_checked(&host, port, allow_private).await.map(|_| ()),
    }
}

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The addresses `host` resolves to, when every one of them may be delivered to.
pub async fn resolve_checked(host: &str, port: u16, allow_private: bool) -> Result<Vec<std::net::SocketAddr>, String> {
    // A resolver that does not answer must not hold a request (or a delivery) for long.
    let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| format!("the host {host} did not resolve within {} s", RESOLVE_TIMEOUT.as_secs()))?;
    let addresses: Vec<std::net::SocketAddr> = lookup.map_err(|e| format!("the host {host} does not resolve ({e})"))?.collect();
    if addresses.is_empty() {
        return Err(format!("the host {host} resolves to no address"));
    }
    for address in &addresses {
        check_address(address.ip(), allow_private).map_err(|m| format!("{host} resolves to {m}"))?;
    }
    Ok(addresses)
}

/// The delivery client's resolver: a name is resolved once, here, and the connection goes only
/// to the addresses checked here (no second resolution for DNS rebinding to slip through).
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addresses = resolve_checked(name.as_str(), 0, allow_private)
                .await
                .map_err(|m| -> Box<dyn std::error::Error + Send + Sync> { m.into() })?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The HTTP client deliveries go through: no redirects, a timeout, the guarded resolver.
pub fn delivery_client(settings: &DeliverySettings) -> reqwest::Result<reqwest::Client> {
    guarded_client(settings.timeout, settings.allow_private)
}

/// A client that goes only to addresses the SSRF guard allows, follows no redirect and gives
/// up after `timeout` (webhook deliveries; bulk job files, issue 20).
pub fn guarded_client(timeout: Duration, allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
}

const LEASE: TimeDelta = TimeDelta::seconds(60);
const BATCH: usize = 100;

pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn new_secret() -> String {
    use base64::Engine;
    format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes(24)))
}

struct Dispatcher {
    state: AppState,
    node: String,
    http: reqwest::Client,
    running: Mutex<HashSet<String>>,
}

/// Runs until `shutdown` changes: every half second, and at once when this node commits
/// events, starts a delivery task for each subscription that has none on this node.
pub async fn run_forever(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let settings = state.settings.delivery.clone();
    let http = match delivery_client(&settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; no deliveries");
            return;
        }
    };
    let events_committed = state.store.events_committed();
    let dispatcher =
        Arc::new(Dispatcher { state, node: uuid::Uuid::new_v4().to_string(), http, running: Mutex::new(HashSet::new()) });
    loop {
        let woken = events_committed.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        // Only subscriptions with events past their cursor are read and get a task (a lease
        // write and a read): an idle subscription costs nothing (issue 21).
        let behind = match dispatcher.state.store.max_event_seq().await {
            Ok(newest) => {
                crate::metrics::outbox_head(newest);
                dispatcher.state.store.list_webhooks_behind(newest).await.inspect(|hooks| {
                    for (hook, cursor) in hooks {
                        crate::metrics::webhook_lag(&hook.id, newest - cursor);
                    }
                })
            }
            Err(e) => Err(e),
        };
        match behind {
            Ok(hooks) => {
                for (hook, _) in hooks {
                    let fresh = dispatcher.running.lock().expect("running lock").insert(hook.id.clone());
                    if fresh {
                        let d = dispatcher.clone();
                        tokio::spawn(async move {
                            let id = hook.id.clone();
                            if let Err(e) = d.deliver_pending(hook).await {
                                tracing::warn!(webhook = %id, error = %e, "webhooks: delivery stopped");
                            }
                            d.running.lock().expect("running lock").remove(&id);
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhooks: cannot list subscriptions"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = woken => {}
            _ = shutdown.changed() => return,
        }
    }
}

impl Dispatcher {
    async fn claim(&self, id: &str) -> ace_store::StoreResult<bool> {
        let now = self.state.wall_clock();
        self.state.store.claim_webhook(id, &self.node, now.timestamp_millis(), (now + LEASE).timestamp_millis()).await
    }

    /// Delivers everything after the subscription's cursor, in order; returns when caught up.
    async fn deliver_pending(&self, hook: Webhook) -> ace_store::StoreResult<()> {
        if !self.claim(&hook.id).await? {
            return Ok(()); // another node holds it
        }
        let Some(secret) = self.state.server_key.decrypt(&hook.secret_encrypted) else {
            return Err(ace_store::StoreError::Other(format!("cannot decrypt the secret of {}", hook.id)));
        };
        loop {
            let cursor =
                match self.state.store.list_webhooks(Some(&hook.owner.key())).await?.into_iter().find(|(h, _)| h.id == hook.id) {
                    Some((_, c)) => c,
                    None => return Ok(()), // deleted
                };
            // Every event up to `newest` is committed (outbox inserts are visible in sequence
            // order), so when none of them is this subscription's the cursor moves past them all.
            let newest = self.state.store.max_event_seq().await?;
            let events = match &hook.owner {
                WebhookOwner::Partner(p) => self.state.store.list_partner_events(p, cursor, BATCH).await?,
                WebhookOwner::Operator => self.state.store.list_events(cursor, BATCH).await?,
            };
            if events.is_empty() {
                if newest > cursor {
                    self.state.store.complete_deliveries(&hook.id, &self.node, &[], newest).await?;
                }
                crate::metrics::webhook_lag(&hook.id, 0);
                return Ok(());
            }
            // One transaction per run of events: their final attempts, and the cursor past the
            // last of them (events the subscription does not want included).
            let mut done = Vec::new();
            let mut before = cursor;
            for (seq, event) in events {
                if hook.matches(&event) {
                    match self.deliver_one(&hook, &secret, seq, &event, &mut done, before).await? {
                        Some(last_attempt) => done.push(last_attempt),
                        None => return Ok(()), // lost the lease, or deleted
                    }
                }
                before = seq;
            }
            if !self.state.store.complete_deliveries(&hook.id, &self.node, &done, before).await? {
                return Ok(());
            }
        }
    }

    /// One event, retried with backoff until delivered or parked as dead: its last attempt,
    /// for the caller to record with the run. Before the first retry, the run so far (`done`,
    /// up to `before`) is recorded, so a long retry holds back nothing already delivered.
    /// `None` when this node lost the subscription meanwhile.
    async fn deliver_one(
        &self,
        hook: &Webhook,
        secret: &str,
        seq: i64,
        event: &OutboxEvent,
        done: &mut Vec<DeliveryAttempt>,
        before: i64,
    ) -> ace_store::StoreResult<Option<DeliveryAttempt>> {
        let body = ace_domain::events::delivered_envelope(event, hook.include_changes).to_string().into_bytes();
        let started = self.state.wall_clock();
        let settings = &self.state.settings.delivery;
        for attempt in 1.. {
            let now = self.state.wall_clock();
            let timestamp = now.timestamp();
            let signature = format!("t={timestamp},v1={}", sign(secret, timestamp, &body));
            // The guard again at each delivery: a subscription made before a rule tightened, or
            // an address literal (which no resolver sees), is refused here too.
            let operator = hook.owner == WebhookOwner::Operator;
            let refused = check_url(&hook.url, settings.allow_private, operator).err();
            let (status, error) = match (refused, eventbridge_target(&hook.url)) {
                (Some(why), _) => (0, format!("refused: {why}")),
                (None, Some(target)) => put_events(&target, &self.state.settings.region, event, &body).await,
                (None, None) => {
                    let result = self
                        .http
                        .post(&hook.url)
                        .header("content-type", "application/json")
                        .header("ace-signature", signature)
                        .header("ace-event-id", &event.id)
                        .header("ace-webhook-id", &hook.id)
                        .header("ace-delivery-attempt", attempt.to_string())
                        .body(body.clone())
                        .send()
                        .await;
                    match result {
                        Ok(response) => (i64::from(response.status().as_u16()), String::new()),
                        Err(e) => (0, e.to_string().chars().take(300).collect()),
                    }
                }
            };
            let delivered = (200..300).contains(&status);
            let gave_up = !delivered && self.state.wall_clock() - started >= settings.retry_window;
            let outcome = if delivered {
                "delivered"
            } else if gave_up {
                "dead"
            } else {
                "failed"
            };
            crate::metrics::webhook_attempt(outcome);
            // Issue 25: a watched partner's integration acknowledging a Sandbox event is
            // something an integration check sees it do.
            if delivered
                && event.catalog == ace_domain::ids::Catalog::Sandbox
                && matches!(&hook.owner, WebhookOwner::Partner(p) if *p == event.partner_id)
                && self.state.checks.watching(&event.partner_id)
            {
                let input = serde_json::json!({"EventId": event.id, "DetailType": event.detail_type, "Identifier": event.resource.rsplit('/').next()});
                crate::app::checks::observe(
                    &self.state,
                    &event.partner_id,
                    &format!("webhook:{}", event.id),
                    crate::app::checks::WEBHOOK_ACKNOWLEDGED,
                    input,
                    None,
                    serde_json::Value::Null,
                )
                .await;
            }
            let record = DeliveryAttempt {
                webhook_id: hook.id.clone(),
                event_seq: seq,
                event_id: event.id.clone(),
                attempt: attempt as i64,
                at_ms: now.timestamp_millis(),
                outcome: outcome.into(),
                http_status: status,
                error: if error.is_empty() && !delivered { format!("HTTP {status}") } else { error },
            };
            if delivered || gave_up {
                return Ok(Some(record));
            }
            if !self.state.store.complete_deliveries(&hook.id, &self.node, done, before).await? {
                return Ok(None);
            }
            done.clear();
            self.state.store.record_delivery(&record).await?;
            let jitter: f64 = rand::thread_rng().gen();
            let mut wait = backoff(attempt, settings.retry_base, settings.retry_cap, jitter);
            // Wait in steps well inside the lease, renewing it, so no other node takes the
            // subscription over while this one is only waiting to retry.
            while wait > TimeDelta::zero() {
                let step = wait.min(LEASE / 3);
                tokio::time::sleep(step.to_std().unwrap_or(Duration::from_secs(1))).await;
                wait -= step;
                if !self.claim(&hook.id).await? {
                    return Ok(None);
                }
            }
        }
        Ok(None) // attempts are counted by an unbounded range: not reached
    }
}

/// The EventBridge sink: one `PutEvents` entry per event, credentials from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). Retries are ours.
async fn put_events(target: &EventBridgeTarget, region: &str, event: &OutboxEvent, body: &[u8]) -> (i64, String) {
    use aws_sdk_eventbridge as eb;
    let envelope: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let credentials = match (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
        (Ok(key), Ok(secret)) => {
            eb::config::Credentials::new(key, secret, std::env::var("AWS_SESSION_TOKEN").ok(), None, "environment")
        }
        _ => eb::config::Credentials::new("ACE-NO-CREDENTIALS", "none", None, None, "none"),
    };
    let mut config = eb::Config::builder()
        .behavior_version(eb::config::BehaviorVersion::latest())
        .region(eb::config::Region::new(region.to_string()))
        .credentials_provider(credentials)
        .retry_config(eb::config::retry::RetryConfig::disabled());
    if let Some(endpoint) = &target.endpoint {
        config = config.endpoint_url(endpoint);
    }
    let client = eb::Client::from_conf(config.build());
    let resources: Vec<String> = envelope["resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let entry = eb::types::PutEventsRequestEntry::builder()
        .source(envelope["source"].as_str().unwrap_or_default())
        .detail_type(event.detail_type.clone())
        .detail(envelope["detail"].to_string())
        .event_bus_name(target.bus.clone())
        .set_resources(Some(resources))
        .build();
    match client.put_events().entries(entry).send().await {
        Ok(out) if out.failed_entry_count() == 0 => (200, String::new()),
        Ok(out) => (500, format!("PutEvents: {} entry failed", out.failed_entry_count())),
        Err(e) => (0, format!("PutEvents: {}", eb::error::DisplayErrorContext(&e)).chars().take(300).collect()),
    }
}
