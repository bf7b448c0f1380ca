//! USE-5 at the edge: per-partner meters over the domain's token bucket and rolling day.
//! Meters live in this process; limits come from the store, cached for a few seconds so an
//! `ace quota set` reaches every node quickly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ace_domain::quota::{OperationClass, QuotaLimits, RollingDay, TokenBucket};
use ace_store::{Store, StoreResult};

const LIMITS_CACHE_MS: i64 = 5_000;

struct Meter {
    bucket: TokenBucket,
    day: RollingDay,
}

pub struct QuotaGate {
    store: Arc<dyn Store>,
    limits: Mutex<HashMap<String, (QuotaLimits, i64)>>,
    meters: Mutex<HashMap<(String, OperationClass), Meter>>,
}

impl QuotaGate {
    pub fn new(store: Arc<dyn Store>) -> QuotaGate {
        QuotaGate { store, limits: Mutex::new(HashMap::new()), meters: Mutex::new(HashMap::new()) }
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

    /// Forget cached limits (after `ace quota set` on this node).
    pub fn invalidate(&self) {
        self.limits.lock().expect("quota lock").clear();
    }

    /// `Err` names the limit that was hit.
    pub async fn admit(&self, partner_id: &str, class: OperationClass, now_ms: i64) -> StoreResult<Result<(), String>> {
        let limits = self.limits_for(partner_id, now_ms).await?;
        let mut meters = self.meters.lock().expect("quota lock");
        let meter = meters.entry((partner_id.to_string(), class)).or_insert_with(|| Meter {
            bucket: TokenBucket::new(limits.per_second(class).unwrap_or(1), now_ms),
            day: RollingDay::default(),
        });
        let kind = match class {
            OperationClass::Read => "read",
            OperationClass::Write => "write",
        };
        if let Some(rate) = limits.per_second(class) {
            if !meter.bucket.try_take(rate, now_ms) {
                return Ok(Err(format!("Rate exceeded: {rate} {kind} request(s) per second for this partner")));
            }
        }
        if let Some(daily) = limits.per_day(class) {
            if !meter.day.try_count(daily, now_ms) {
                return Ok(Err(format!("Rate exceeded: {daily} {kind} requests per rolling 24 hours for this partner")));
            }
        }
        Ok(Ok(()))
    }
}
