//! USE-5 at the edge: per-partner meters over the domain's token bucket and rolling day.
//! Meters live in this process and hold the partner to this node's share of each limit
//! (`node_share` over the live nodes the heartbeat counts), so several nodes together admit
//! the limit within one request per node; limits come from the store, cached for a few seconds
//! so an `ace quota set` reaches every node quickly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use ace_domain::quota::{node_share, Meter, OperationClass, QuotaLimits, RollingDay, TokenBucket};
use ace_store::{Store, StoreResult};

pub const LIMITS_CACHE_MS: i64 = 5_000;

/// The counts behind one partner's meter.
struct Counts {
    bucket: TokenBucket,
    day: RollingDay,
}

pub struct QuotaGate {
    store: Arc<dyn Store>,
    limits: Mutex<HashMap<String, (QuotaLimits, i64)>>,
    meters: Mutex<HashMap<(String, Meter), Counts>>,
    /// Live nodes sharing the database, this one included (from the heartbeat).
    nodes: AtomicU32,
}

impl QuotaGate {
    pub fn new(store: Arc<dyn Store>) -> QuotaGate {
        QuotaGate { store, limits: Mutex::new(HashMap::new()), meters: Mutex::new(HashMap::new()), nodes: AtomicU32::new(1) }
    }

    /// The limits in force for a partner: its own, else the operator's default, else Partner
    /// Central's.
    pub async fn limits_for(&self, partner_id: &str, now_ms: i64) -> StoreResult<QuotaLimits> {
        if let Some((limits, loaded)) = self.limits.lock().expect("quota lock").get(partner_id) {
            if now_ms - loaded < LIMITS_CACHE_MS {
                return Ok(*limits);
            }
        }
        let limits = match self.store.get_quota(Some(partner_id)).await? {
            Some(l) => l,
            None => self.store.get_quota(None).await?.unwrap_or_default(),
        };
        self.limits.lock().expect("quota lock").insert(partner_id.to_string(), (limits, now_ms));
        Ok(limits)
    }

    /// How many live nodes share the limits (at least this one).
    pub fn set_nodes(&self, nodes: u32) {
        self.nodes.store(nodes.max(1), Ordering::Relaxed);
    }

    pub fn nodes(&self) -> u32 {
        self.nodes.load(Ordering::Relaxed)
    }

    /// Forget cached limits (after `ace quota set` on this node).
    pub fn invalidate(&self) {
        self.limits.lock().expect("quota lock").clear();
    }

    /// `Err` names the limit that was hit. `draw` is what the operation draws on: its class,
    /// or its own documented rate.
    pub async fn admit(&self, partner_id: &str, draw: Meter, now_ms: i64) -> StoreResult<Result<(), String>> {
        let limits = self.limits_for(partner_id, now_ms).await?;
        let mut meters = self.meters.lock().expect("quota lock");
        let meter = meters.entry((partner_id.to_string(), draw)).or_insert_with(|| Counts {
            bucket: TokenBucket::new(draw.per_second(&limits).unwrap_or(1), now_ms),
            day: RollingDay::default(),
        });
        let kind = match draw {
            Meter::Operation { name, .. } => name.to_string(),
            Meter::Class(OperationClass::Read) => "read".into(),
            Meter::Class(OperationClass::Write) => "write".into(),
        };
        let nodes = self.nodes();
        if let Some(rate) = draw.per_second(&limits) {
            if !meter.bucket.try_take(node_share(rate, nodes), now_ms) {
                return Ok(Err(format!("Rate exceeded: {rate} {kind} request(s) per second for this partner")));
            }
        }
        if let Some(daily) = draw.per_day(&limits) {
            if !meter.day.try_count(node_share(daily, nodes), now_ms) {
                return Ok(Err(format!("Rate exceeded: {daily} {kind} requests per rolling 24 hours for this partner")));
            }
        }
        Ok(Ok(()))
    }
}

impl QuotaGate {
    /// One write counted against the partner's daily write quota only (a bulk job's row,
    /// issue 20): the same rolling day as its write calls, without their per-second rate.
    pub async fn admit_daily_write(&self, partner_id: &str, now_ms: i64) -> StoreResult<Result<(), String>> {
        let limits = self.limits_for(partner_id, now_ms).await?;
        let draw = Meter::Class(OperationClass::Write);
        let Some(daily) = draw.per_day(&limits) else { return Ok(Ok(())) };
        let nodes = self.nodes();
        let mut meters = self.meters.lock().expect("quota lock");
        let meter = meters.entry((partner_id.to_string(), draw)).or_insert_with(|| Counts {
            bucket: TokenBucket::new(draw.per_second(&limits).unwrap_or(1), now_ms),
            day: RollingDay::default(),
        });
        if !meter.day.try_count(node_share(daily, nodes), now_ms) {
            return Ok(Err(format!("Rate exceeded: {daily} write requests per rolling 24 hours for this partner")));
        }
        Ok(Ok(()))
    }
}

/// How often a node says it is alive, and how long one that stopped still counts.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
const NODE_ALIVE_MS: i64 = 15_000;

/// One heartbeat: records this node and updates the live-node count its meters share by.
pub async fn beat(state: &crate::AppState) -> StoreResult<u32> {
    let now_ms = state.wall_clock_ms();
    state.store.heartbeat_node(&state.node_id, now_ms).await?;
    let live = state.store.count_live_nodes(now_ms - NODE_ALIVE_MS).await?;
    let nodes = u32::try_from(live).unwrap_or(u32::MAX).max(1);
    state.quotas.set_nodes(nodes);
    Ok(nodes)
}

/// The heartbeat loop `ace serve` runs until shutdown.
pub async fn run_forever(state: crate::AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = beat(&state).await {
            tracing::warn!(error = %e, "quota heartbeat failed; keeping the last node count");
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
