#![recursion_limit = "256"]
//! The HTTP edge of the ACE Pipeline Manager: the Partner API (awsJson 1.0 + SigV4, wire
//! compatible with the Partner Central Selling API), the operator API, health endpoints, and
//! start-up (bootstrap, serve with graceful shutdown).

pub mod app;
pub mod bulk;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod governance;
pub mod metrics;
pub mod operator_api;
pub mod partner_api;
pub mod referrals;
pub mod sigv4;
pub mod web;
pub mod webhooks;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;

use ace_domain::time::Instant;
use ace_store::{OperatorToken, Store};

use crate::app::auth_guard::AuthGuard;
use crate::app::quota::QuotaGate;
use crate::app::security;
use crate::clock::Clock;
use crate::crypto::ServerKey;
use crate::error::ApiError;

/// Settings the server itself needs (the CLI resolves flags, environment and config file).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The SigV4 region requests must be scoped to.
    pub region: String,
    /// How webhook deliveries are retried and guarded.
    pub delivery: webhooks::DeliverySettings,
    /// USE-2: when a probing key or address is blocked.
    pub probe_policy: ace_domain::security::ProbePolicy,
    /// What one client connection may hold.
    pub connections: ConnectionLimits,
    /// Where bulk job files are read from and reports go (issue 20).
    pub files: bulk::FileSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            region: ace_domain::ids::REGION.to_string(),
            delivery: webhooks::DeliverySettings::default(),
            probe_policy: Default::default(),
            connections: ConnectionLimits::default(),
            files: bulk::FileSettings::default(),
        }
    }
}

/// How many opportunity numbers a node reserves at once.
pub const NUMBER_BLOCK: i64 = 1_000;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The program clock: rules, deadlines, timestamps. A test clock in `--test-clock` mode.
    pub clock: Arc<dyn Clock>,
    /// Wall time: signatures, quotas, lockouts, leases. The system's, except in tests, which
    /// may move it ahead ([`clock::OffsetClock`]) instead of sleeping.
    pub wall: Arc<dyn Clock>,
    pub server_key: Arc<ServerKey>,
    pub quotas: Arc<QuotaGate>,
    pub auth_guard: Arc<AuthGuard>,
    /// Password verifications running at once (each holds ~19 MiB for Argon2): one per core.
    pub password_slots: Arc<tokio::sync::Semaphore>,
    /// USE-2: blocks probing keys and addresses.
    pub probes: Arc<security::ProbeGuard>,
    /// MOD-1 … MOD-4: the terms and the program's state, cached.
    pub governance: Arc<governance::Governance>,
    /// Issue 25: the partners an integration check is watching, and the engine's wake-up.
    pub checks: Arc<app::checks::Watch>,
    /// The Selling API's operations, for the portal's partner pages and bulk jobs' rows: the
    /// partner API's registry, handed to the application layer here (`app::operations`).
    pub operations: Arc<dyn app::operations::Runner>,
    /// Opportunity numbers, reserved from the store in blocks.
    opportunity_numbers: Arc<tokio::sync::Mutex<(i64, i64)>>,
    opportunity_numbers_key: Arc<ace_domain::ids::OpportunityNumbers>,
    pub settings: Arc<Settings>,
    /// This process among the nodes sharing the database (random per start).
    pub node_id: Arc<str>,
    /// `http://ADDRESS` of the listener `serve` answers on: the base of the links this server
    /// signs (a bulk job's report) when no `--public-url` is set.
    pub served_at: Arc<std::sync::OnceLock<String>>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, server_key: ServerKey, settings: Settings) -> AppState {
        let opportunity_numbers_key = Arc::new(server_key.opportunity_numbers());
        AppState {
            quotas: Arc::new(QuotaGate::new(store.clone())),
            store,
            clock,
            wall: Arc::new(clock::SystemClock),
            server_key: Arc::new(server_key),
            auth_guard: Arc::new(AuthGuard::default()),
            password_slots: Arc::new(app::password::slots()),
            probes: Arc::new(security::ProbeGuard::new(settings.probe_policy)),
            governance: Arc::new(governance::Governance::default()),
            checks: Arc::default(),
            operations: Arc::new(partner_api::Runner),
            opportunity_numbers: Arc::new(tokio::sync::Mutex::new((0, 0))),
            opportunity_numbers_key,
            settings: Arc::new(settings),
            node_id: uuid::Uuid::new_v4().to_string().into(),
            served_at: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Another node's state: the same key, clock and settings over `store`, with its own
    /// caches and meters (tests start a second node, or a restored one, with it).
    pub fn node_on(&self, store: Arc<dyn Store>) -> AppState {
        AppState {
            quotas: Arc::new(QuotaGate::new(store.clone())),
            store,
            clock: self.clock.clone(),
            wall: self.wall.clone(),
            server_key: self.server_key.clone(),
            auth_guard: Arc::new(AuthGuard::default()),
            password_slots: Arc::new(app::password::slots()),
            probes: Arc::new(security::ProbeGuard::new(self.settings.probe_policy)),
            governance: Arc::new(governance::Governance::default()),
            checks: Arc::default(),
            operations: self.operations.clone(),
            opportunity_numbers: Arc::new(tokio::sync::Mutex::new((0, 0))),
            opportunity_numbers_key: self.opportunity_numbers_key.clone(),
            settings: self.settings.clone(),
            node_id: uuid::Uuid::new_v4().to_string().into(),
            served_at: Arc::new(std::sync::OnceLock::new()),
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Real time, whatever the program clock says: signatures are dated by the clients' real
    /// clocks and quotas measure real load.
    pub fn wall_clock(&self) -> Instant {
        self.wall.now()
    }

    /// The same state with `wall` as its wall clock (tests).
    pub fn with_wall_clock(mut self, wall: Arc<dyn Clock>) -> AppState {
        self.wall = wall;
        self
    }

    pub fn wall_clock_ms(&self) -> i64 {
        self.wall_clock().timestamp_millis()
    }

    /// The number of a new opportunity (`O<n>`). Sequence numbers come from the store in
    /// blocks of [`NUMBER_BLOCK`], so a create costs no transaction of its own; a restart or
    /// another node leaves gaps, never duplicates. Each is mapped through the server key's
    /// permutation (USE-4: ids tell a partner nothing of other partners' activity).
    pub async fn next_opportunity_number(&self) -> ace_store::StoreResult<i64> {
        let mut block = self.opportunity_numbers.lock().await;
        if block.0 >= block.1 {
            let highest = self.store.reserve_sequence("opportunity", NUMBER_BLOCK).await?;
            *block = (highest - NUMBER_BLOCK + 1, highest + 1);
        }
        let n = block.0;
        block.0 += 1;
        Ok(self.opportunity_numbers_key.number(n))
    }

    pub fn new_event_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// A NextToken bound to the request that produced it (its fingerprint).
    pub fn seal_next_token(&self, fingerprint: &str, cursor: Value) -> String {
        let payload = serde_json::json!({"v": 1, "f": fingerprint, "c": cursor});
        self.server_key.seal_token(payload.to_string().as_bytes())
    }

    /// The cursor of a NextToken, if this server issued it for this same request.
    pub fn open_next_token(&self, token: &str, fingerprint: &str) -> Result<Value, ApiError> {
        let payload = self.server_key.open_token(token).ok_or_else(partner_api::invalid_next_token)?;
        let payload: Value = serde_json::from_slice(&payload).map_err(|_| partner_api::invalid_next_token())?;
        if payload["f"].as_str() != Some(fingerprint) {
            return Err(partner_api::invalid_next_token());
        }
        Ok(payload["c"].clone())
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    // The partner API answers a slow body itself (`RequestTimeoutException`); every other route
    // gets the same limit here, so no body can hold a connection open (issue 21).
    let body_timeout = tower_http::timeout::RequestBodyTimeoutLayer::new(state.settings.connections.body_read_timeout);
    Router::new()
        .route("/", post(partner_api::handle).get(web::home))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        // A bulk job's report, by a link this server signed (issue 20).
        .route("/bulk-reports/{token}", get(bulk::download))
        .nest(
            "/operator/v1",
            operator_api::router().layer(axum::middleware::from_fn(operator_api::audit_actions)).layer(body_timeout.clone()),
        )
        .merge(web::router().layer(body_timeout))
        .fallback(web::fallback)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// A bug must not take the connection down or leak its message: answer a generic
/// `InternalServerException` and log the cause with the request id.
fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let cause = cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into());
    ApiError::Internal(format!("handler panicked: {cause}")).into_response_with_id(&uuid::Uuid::new_v4().to_string())
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish:
/// every write acknowledged before that was committed first.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    // The API models are parsed before the first connection, not by the first request.
    let _ = (ace_domain::model::Model::get(), ace_domain::model::Model::ace_partner());
    let limits = state.settings.connections;
    if let Ok(address) = listener.local_addr() {
        let _ = state.served_at.set(format!("http://{address}"));
    }
    let app = router(state);
    let (closing, closed) = tokio::sync::watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::new(limits.max_connections_per_address));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "connection limit reached; closing a new connection");
            continue;
        };
        let Some(per_address) = per_address.admit(peer.ip()) else {
            tracing::warn!(%peer, limit = limits.max_connections_per_address, "per-address connection limit reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let activity = Arc::new(Activity::default());
        let seen = activity.clone();
        // The client address feeds USE-2's per-address probe detection.
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let busy = seen.begin();
            let response = app.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = response.await;
                drop(busy);
                response
            }
        });
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _slot = (slot, per_address);
            // A connection that sends nothing is closed after the header timeout: the protocol
            // is not known until its first byte, so no protocol's own timer runs yet (issue 21).
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(limits.idle_timeout))
                .keep_alive_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            // Idle connections (no request in flight for `idle_timeout`) are closed on every
            // protocol: HTTP/1 keep-alives and HTTP/2 (h2c) alike.
            let mut tick = tokio::time::interval(limits.idle_timeout / 4);
            let drain = loop {
                tokio::select! {
                    _ = connection.as_mut() => return,
                    // Stopping: requests in flight may finish.
                    _ = closed.changed() => break limits.body_read_timeout * 2,
                    // Idle: an HTTP/2 client that does not answer the closing PING is not waited for.
                    _ = tick.tick() => if activity.idle_for() >= limits.idle_timeout { break limits.header_read_timeout },
                }
            };
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(drain, connection).await;
        });
    }
    let _ = closing.send(true);
    // Every connection gives its slot back when it has finished.
    let _ = slots.acquire_many(limits.max_connections as u32).await;
    Ok(())
}

/// Whether a connection is serving a request, and since when it has not.
struct Activity {
    in_flight: std::sync::atomic::AtomicUsize,
    last: std::sync::Mutex<std::time::Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { in_flight: 0.into(), last: std::sync::Mutex::new(std::time::Instant::now()) }
    }
}

impl Activity {
    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(self.clone())
    }

    fn idle_for(&self) -> std::time::Duration {
        if self.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return std::time::Duration::ZERO;
        }
        self.last.lock().map(|t| t.elapsed()).unwrap_or_default()
    }
}

/// A request in flight on a connection; its end is the connection's last activity.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut last) = self.0.last.lock() {
            *last = std::time::Instant::now();
        }
        self.0.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Connections held per client network (an IPv4 address or an IPv6 /64).
struct PerAddress {
    limit: usize,
    held: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// One connection's place in its network's count; given back when dropped.
struct AddressSlot(Arc<PerAddress>, String);

impl PerAddress {
    fn new(limit: usize) -> PerAddress {
        PerAddress { limit, held: Default::default() }
    }

    fn admit(self: &Arc<Self>, address: std::net::IpAddr) -> Option<AddressSlot> {
        let network = security::client_network(address);
        let mut held = self.held.lock().ok()?;
        let count = held.entry(network.clone()).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot(self.clone(), network))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Ok(mut held) = self.0.held.lock() {
            if let Some(count) = held.get_mut(&self.1) {
                *count -= 1;
                if *count == 0 {
                    held.remove(&self.1);
                }
            }
        }
    }
}

/// What one connection may cost the server (issue "Reliability and security proof suite",
/// hostile input; issue 21).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A client that has not sent a request's headers within this time is disconnected, so
    /// slow-loris connections cannot pile up.
    pub header_read_timeout: std::time::Duration,
    /// A partner API request whose body has not fully arrived within this time is answered
    /// `RequestTimeoutException`.
    pub body_read_timeout: std::time::Duration,
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Connections one client network may hold at once.
    pub max_connections_per_address: usize,
    /// A connection with no request in flight for this long is closed (HTTP/1 and HTTP/2).
    pub idle_timeout: std::time::Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 8_192,
            max_connections_per_address: 1_024,
            idle_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// Program data every store starts with: the program text's consent statement (SUB-4),
/// published as version `2021-10-27`.
pub async fn bootstrap_program_data(store: &dyn Store, now_ms: i64) -> anyhow::Result<()> {
    use ace_domain::submission::{INITIAL_CONSENT_STATEMENT, INITIAL_CONSENT_STATEMENT_VERSION};
    if store.list_consent_statements().await?.is_empty() {
        let statement = ace_store::ConsentStatement {
            version: INITIAL_CONSENT_STATEMENT_VERSION.into(),
            text: INITIAL_CONSENT_STATEMENT.into(),
            published_ms: now_ms,
        };
        match store.insert_consent_statement(&statement).await {
            Ok(()) | Err(ace_store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// On first start with no operator token, creates an admin token and writes it to
/// `<data_dir>/operator-token` (mode 0600). Returns the path when it wrote one.
pub async fn bootstrap_operator_token(store: &dyn Store, data_dir: &Path, now_ms: i64) -> anyhow::Result<Option<PathBuf>> {
    if store.count_operator_tokens().await? > 0 {
        return Ok(None);
    }
    std::fs::create_dir_all(data_dir)?;
    let token = crypto::new_operator_token();
    let path = data_dir.join("operator-token");
    crypto::write_private_file(&path, &format!("{token}\n"))?;
    store
        .insert_operator_token(&OperatorToken {
            token_hash: crypto::sha256_hex(token.as_bytes()),
            name: "bootstrap admin".into(),
            role: "admin".into(),
            created_ms: now_ms,
        })
        .await?;
    Ok(Some(path))
}
