//! USE-5: per-partner quotas. Token buckets for the per-second rates and a rolling 24-hour
//! budget kept in one-minute buckets. Pure: every call is handed `now`.

use serde::{Deserialize, Serialize};

/// Partner Central's classes (digest §3.7): every operation is a read or a write; the partner
/// API's operation registry says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationClass {
    Read,
    Write,
}

/// What an operation's call draws on (USE-5): its class's rate and daily budget, or — for the
/// operations Partner Central documents a rate of their own (`CreateEngagement` 15 per
/// second, the prospecting tasks) — that rate alone. A partner the operator made unlimited for
/// the class is unlimited for these too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meter {
    Class(OperationClass),
    Operation { name: &'static str, class: OperationClass, per_second: u32 },
}

impl Meter {
    pub fn class(self) -> OperationClass {
        match self {
            Meter::Class(class) | Meter::Operation { class, .. } => class,
        }
    }

    /// The per-second rate in force under `limits`, if any.
    pub fn per_second(self, limits: &QuotaLimits) -> Option<u32> {
        match self {
            Meter::Class(class) => limits.per_second(class),
            Meter::Operation { class, per_second, .. } => limits.per_second(class).map(|_| per_second),
        }
    }

    /// The rolling-day budget in force under `limits`, if any (an operation's own rate has none).
    pub fn per_day(self, limits: &QuotaLimits) -> Option<u32> {
        match self {
            Meter::Class(class) => limits.per_day(class),
            Meter::Operation { .. } => None,
        }
    }
}

/// Limits of one partner; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLimits {
    pub reads_per_second: Option<u32>,
    pub writes_per_second: Option<u32>,
    pub reads_per_day: Option<u32>,
    pub writes_per_day: Option<u32>,
}

impl Default for QuotaLimits {
    /// USE-5: the Partner Central defaults.
    fn default() -> Self {
        QuotaLimits {
            reads_per_second: Some(10),
            writes_per_second: Some(1),
            reads_per_day: Some(100_000),
            writes_per_day: Some(10_000),
        }
    }
}

impl QuotaLimits {
    pub const UNLIMITED: QuotaLimits =
        QuotaLimits { reads_per_second: None, writes_per_second: None, reads_per_day: None, writes_per_day: None };

    pub fn per_second(&self, class: OperationClass) -> Option<u32> {
        match class {
            OperationClass::Read => self.reads_per_second,
            OperationClass::Write => self.writes_per_second,
        }
    }

    pub fn per_day(&self, class: OperationClass) -> Option<u32> {
        match class {
            OperationClass::Read => self.reads_per_day,
            OperationClass::Write => self.writes_per_day,
        }
    }
}

/// USE-5 across several nodes: each of `nodes` live nodes meters a partner against its share
/// of a limit, rounded up so that no limit becomes zero. With the load spread over the nodes,
/// the program admits at most `limit + nodes - 1` (the documented tolerance); a node that gets
/// more than its share of one partner's traffic throttles early, never late.
pub fn node_share(limit: u32, nodes: u32) -> u32 {
    limit.div_ceil(nodes.max(1)).max(1)
}

/// A token bucket refilled at `rate` tokens per second, holding at most `rate` tokens (a burst
/// of one second's worth).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    updated_ms: i64,
}

impl TokenBucket {
    pub fn new(rate: u32, now_ms: i64) -> TokenBucket {
        TokenBucket { tokens: f64::from(rate), updated_ms: now_ms }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, rate: u32, now_ms: i64) -> bool {
        let capacity = f64::from(rate.max(1));
        let elapsed_s = (now_ms - self.updated_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed_s * f64::from(rate)).min(capacity);
        self.updated_ms = self.updated_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

const MINUTES_PER_DAY: usize = 24 * 60;

/// Requests counted over the last 24 hours, at one-minute resolution.
#[derive(Debug, Clone)]
pub struct RollingDay {
    counts: Box<[u32; MINUTES_PER_DAY]>,
    minutes: Box<[i64; MINUTES_PER_DAY]>,
}

impl Default for RollingDay {
    fn default() -> Self {
        RollingDay { counts: Box::new([0; MINUTES_PER_DAY]), minutes: Box::new([i64::MIN; MINUTES_PER_DAY]) }
    }
}

impl RollingDay {
    fn total(&self, minute: i64) -> u64 {
        self.counts
            .iter()
            .zip(self.minutes.iter())
            .filter(|(_, m)| **m > minute.saturating_sub(MINUTES_PER_DAY as i64) && **m <= minute)
            .map(|(c, _)| u64::from(*c))
            .sum()
    }

    /// Counts one request when fewer than `limit` were counted in the last 24 hours.
    pub fn try_count(&mut self, limit: u32, now_ms: i64) -> bool {
        let minute = now_ms.div_euclid(60_000);
        if self.total(minute) >= u64::from(limit) {
            return false;
        }
        let slot = minute.rem_euclid(MINUTES_PER_DAY as i64) as usize;
        if self.minutes[slot] != minute {
            self.minutes[slot] = minute;
            self.counts[slot] = 0;
        }
        self.counts[slot] += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn use_5_an_operation_with_its_own_documented_rate_uses_it_and_unlimited_stays_unlimited() {
        let create_engagement = Meter::Operation { name: "CreateEngagement", class: OperationClass::Write, per_second: 15 };
        let defaults = QuotaLimits::default();
        assert_eq!(create_engagement.per_second(&defaults), Some(15), "not the write class's 1 per second");
        assert_eq!(create_engagement.per_day(&defaults), None);
        assert_eq!(Meter::Class(OperationClass::Write).per_second(&defaults), Some(1));
        assert_eq!(create_engagement.per_second(&QuotaLimits::UNLIMITED), None);
    }

    #[test]
    fn use_5_node_shares_add_up_to_the_limit_within_one_per_node() {
        assert_eq!(node_share(10, 1), 10);
        assert_eq!(node_share(10, 2), 5);
        assert_eq!(node_share(10, 3), 4, "rounded up: 12 in all, limit + nodes - 1 at most");
        assert_eq!(node_share(1, 3), 1, "never zero");
        assert_eq!(node_share(100_000, 0), 100_000, "no live node known: this one alone");
        for limit in [1u32, 2, 7, 10, 100, 100_000] {
            for nodes in 1u32..8 {
                let total = node_share(limit, nodes) * nodes;
                assert!(total >= limit && total < limit + nodes, "{limit}/{nodes}: {total}");
            }
        }
    }

    use super::*;

    #[test]
    fn use_5_defaults_are_partner_centrals() {
        let d = QuotaLimits::default();
        assert_eq!(d.per_second(OperationClass::Read), Some(10));
        assert_eq!(d.per_second(OperationClass::Write), Some(1));
        assert_eq!(d.per_day(OperationClass::Read), Some(100_000));
        assert_eq!(d.per_day(OperationClass::Write), Some(10_000));
    }

    #[test]
    fn use_5_token_bucket_allows_the_rate_and_refills() {
        let mut b = TokenBucket::new(10, 0);
        let taken = (0..20).filter(|_| b.try_take(10, 0)).count();
        assert_eq!(taken, 10);
        assert!(!b.try_take(10, 50));
        assert!(b.try_take(10, 100));
        let mut w = TokenBucket::new(1, 0);
        assert!(w.try_take(1, 0));
        assert!(!w.try_take(1, 999));
        assert!(w.try_take(1, 1000));
    }

    #[test]
    fn use_5_rolling_day_is_rolling_not_calendar() {
        let mut day = RollingDay::default();
        let hour = 3_600_000;
        for i in 0..3 {
            assert!(day.try_count(3, i * hour));
        }
        assert!(!day.try_count(3, 23 * hour));
        // the first request (at 0h) leaves the window after 24 hours
        assert!(day.try_count(3, 24 * hour + 60_000));
        assert!(!day.try_count(3, 24 * hour + 120_000));
    }
}
