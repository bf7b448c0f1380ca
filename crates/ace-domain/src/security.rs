//! USE-2 and USE-3: probing and scanning are detected and blocked. A subject (one access key,
//! or one client address) that sends a burst of unknown operations, of requests for records
//! that do not exist, or of failed signatures within a window is blocked for a while. The
//! detector is plain state driven by the caller's clock; the server keeps one per process. The
//! `FailureLog` counts failed credentials per subject and decides the lockouts they cause.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::time::{from_millis, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// An `X-Amz-Target` naming no operation this server has.
    UnknownOperation,
    /// A `ResourceNotFoundException`: an id that is not the caller's (or does not exist).
    NotFound,
    /// A request whose signature or key did not check out.
    AuthFailure,
    /// USE-3: an access key locked after repeated failed signatures (from the networks named).
    KeyLockout,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::UnknownOperation => "unknown-operation",
            Signal::NotFound => "not-found",
            Signal::AuthFailure => "auth-failure",
            Signal::KeyLockout => "key-lockout",
        }
    }
}

/// How many signals of one kind a subject may send within `window_ms` before it is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbePolicy {
    pub window_ms: i64,
    pub unknown_operations_max: usize,
    pub not_found_max: usize,
    pub auth_failures_max: usize,
    pub block_ms: i64,
}

impl Default for ProbePolicy {
    /// Generous to real integrations (a CRM sync that meets a deleted record now and then),
    /// tight for scanners: 20 unknown operations, 50 not-founds or 20 failed signatures from one
    /// key or address within a minute block it for 15 minutes.
    fn default() -> Self {
        ProbePolicy {
            window_ms: 60_000,
            unknown_operations_max: 20,
            not_found_max: 50,
            auth_failures_max: 20,
            block_ms: 15 * 60_000,
        }
    }
}

impl ProbePolicy {
    fn max(&self, signal: Signal) -> usize {
        match signal {
            Signal::UnknownOperation => self.unknown_operations_max,
            Signal::NotFound => self.not_found_max,
            Signal::AuthFailure => self.auth_failures_max,
            // Not a probe signal: USE-3's failure log decides lockouts.
            Signal::KeyLockout => usize::MAX,
        }
    }
}

/// A subject blocked for probing (USE-2) or a key locked out (USE-3): what the operator sees in
/// `ace security events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub at: Instant,
    /// `key:<access key id>` or `address:<client address>`.
    pub subject: String,
    pub signal: Signal,
    /// Signals seen within the window when the block started.
    pub count: usize,
    pub blocked_until: Instant,
    /// The partner the key belongs to, when known.
    pub partner_id: Option<String>,
    /// The client networks the signals came from (a lockout applies to those only).
    #[serde(default)]
    pub addresses: Vec<String>,
}

impl SecurityEvent {
    /// USE-3: `access_key_id` locked until `until_ms` after `failures` failed signatures from
    /// `network`; `ace security unblock key:<id>` lifts it.
    pub fn key_lockout(
        access_key_id: &str,
        network: &str,
        partner_id: Option<String>,
        at_ms: i64,
        until_ms: i64,
        failures: usize,
    ) -> SecurityEvent {
        SecurityEvent {
            at: from_millis(at_ms),
            subject: format!("key:{access_key_id}"),
            signal: Signal::KeyLockout,
            count: failures,
            blocked_until: from_millis(until_ms),
            partner_id,
            addresses: vec![network.to_string()],
        }
    }
}

/// Subjects tracked at most (the oldest are forgotten first): the detector's memory is bounded.
const SUBJECTS_MAX: usize = 50_000;

#[derive(Debug, Default)]
pub struct ProbeDetector {
    policy: ProbePolicy,
    recent: HashMap<(String, Signal), VecDeque<i64>>,
    blocked: HashMap<String, i64>,
}

impl ProbeDetector {
    pub fn new(policy: ProbePolicy) -> ProbeDetector {
        ProbeDetector { policy, ..Default::default() }
    }

    pub fn policy(&self) -> ProbePolicy {
        self.policy
    }

    /// Until when `subject` is blocked, if it is.
    pub fn blocked_until(&self, subject: &str, now_ms: i64) -> Option<i64> {
        self.blocked.get(subject).copied().filter(|until| *until > now_ms)
    }

    /// Counts one signal; returns the event when it makes the subject blocked.
    pub fn record(&mut self, subject: &str, signal: Signal, now_ms: i64, partner_id: Option<&str>) -> Option<SecurityEvent> {
        if self.blocked_until(subject, now_ms).is_some() {
            return None;
        }
        if self.recent.len() >= SUBJECTS_MAX {
            self.forget_old(now_ms);
        }
        let window = self.policy.window_ms;
        let times = self.recent.entry((subject.to_string(), signal)).or_default();
        while times.front().is_some_and(|t| now_ms - t >= window) {
            times.pop_front();
        }
        times.push_back(now_ms);
        let count = times.len();
        if count < self.policy.max(signal) {
            return None;
        }
        times.clear();
        let until = now_ms + self.policy.block_ms;
        self.blocked.insert(subject.to_string(), until);
        Some(SecurityEvent {
            at: from_millis(now_ms),
            subject: subject.to_string(),
            signal,
            count,
            blocked_until: from_millis(until),
            partner_id: partner_id.map(str::to_string),
            addresses: Vec::new(),
        })
    }

    /// Lifts a block early (the operator's `ace security unblock`).
    pub fn unblock(&mut self, subject: &str) -> bool {
        self.recent.retain(|(s, _), _| s != subject);
        self.blocked.remove(subject).is_some()
    }

    fn forget_old(&mut self, now_ms: i64) {
        let window = self.policy.window_ms;
        self.recent.retain(|_, times| times.back().is_some_and(|t| now_ms - t < window));
        self.blocked.retain(|_, until| *until > now_ms);
        if self.recent.len() >= SUBJECTS_MAX {
            self.recent.clear();
        }
    }
}

/// USE-3: failed credentials tolerated per access key and client network (or per portal
/// account) within the window before it is locked.
pub const FAILURES_MAX: usize = 5;
const FAILURE_WINDOW_MS: i64 = 5 * 60_000;
/// How long a lockout lasts, and so how long failures are remembered.
pub const LOCKOUT_MS: i64 = 15 * 60_000;
/// A limit on the log's memory. When it is full the subjects whose last failure is oldest are
/// forgotten, a tenth at a time; new failures are always counted.
pub const TRACKED_SUBJECTS_MAX: usize = 10_000;

/// USE-3: how many failures of one subject, within how long, lock it for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimit {
    pub failures: usize,
    pub window_ms: i64,
    pub lockout_ms: i64,
}

impl FailureLimit {
    /// One access key from one client network, or one portal account.
    pub const CREDENTIAL: FailureLimit =
        FailureLimit { failures: FAILURES_MAX, window_ms: FAILURE_WINDOW_MS, lockout_ms: LOCKOUT_MS };
    /// Sign-ins from one client network, whatever e-mail each names (a guesser with made-up
    /// e-mails is stopped here before any password is hashed).
    pub const SIGN_IN_ADDRESS: FailureLimit =
        FailureLimit { failures: 4 * FAILURES_MAX, window_ms: FAILURE_WINDOW_MS, lockout_ms: LOCKOUT_MS };
}

/// USE-3: failures of credentials per subject, in bounded memory, and the lockouts they cause.
/// Pure: every call is handed `now`.
#[derive(Debug, Default)]
pub struct FailureLog {
    failures: HashMap<String, Vec<i64>>,
}

impl FailureLog {
    /// Until when `subject` is locked under `limit`, if it is.
    pub fn locked_until(&self, subject: &str, limit: FailureLimit, now_ms: i64) -> Option<i64> {
        let recent: Vec<i64> = self.failures.get(subject)?.iter().copied().filter(|t| now_ms - t < limit.lockout_ms).collect();
        if recent.len() >= limit.failures {
            let nth_last = recent[recent.len() - limit.failures];
            let last = *recent.last()?;
            if last - nth_last < limit.window_ms {
                return Some(last + limit.lockout_ms);
            }
        }
        None
    }

    pub fn record(&mut self, subject: &str, now_ms: i64) {
        let failures = &mut self.failures;
        if failures.len() >= TRACKED_SUBJECTS_MAX && !failures.contains_key(subject) {
            failures.retain(|_, times| times.last().is_some_and(|t| now_ms - t < LOCKOUT_MS));
            if failures.len() >= TRACKED_SUBJECTS_MAX {
                evict_oldest(failures, TRACKED_SUBJECTS_MAX / 10);
            }
        }
        let times = failures.entry(subject.to_string()).or_default();
        times.retain(|t| now_ms - t < LOCKOUT_MS);
        times.push(now_ms);
        if times.len() > 4 * FailureLimit::SIGN_IN_ADDRESS.failures {
            times.remove(0);
        }
    }

    /// Takes back one failure recorded at `at_ms` (an attempt counted before it was checked,
    /// so concurrent attempts cannot all pass the limit, that turned out right).
    pub fn withdraw(&mut self, subject: &str, at_ms: i64) {
        if let Some(times) = self.failures.get_mut(subject) {
            if let Some(i) = times.iter().rposition(|t| *t == at_ms) {
                times.remove(i);
            }
        }
    }

    /// Forgets the subject's failures (a success, or the operator lifting a lockout).
    pub fn forget(&mut self, subject: &str) {
        self.failures.remove(subject);
    }

    /// The subjects with failures on record.
    pub fn subjects(&self) -> impl Iterator<Item = &str> {
        self.failures.keys().map(String::as_str)
    }
}

/// Forgets the `count` subjects whose last failure is oldest.
fn evict_oldest(failures: &mut HashMap<String, Vec<i64>>, count: usize) {
    let mut by_age: Vec<(i64, String)> =
        failures.iter().map(|(name, times)| (times.last().copied().unwrap_or(i64::MIN), name.clone())).collect();
    let count = count.clamp(1, by_age.len().max(1));
    if by_age.len() > count {
        by_age.select_nth_unstable(count - 1);
    }
    for (_, name) in by_age.into_iter().take(count) {
        failures.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ProbePolicy {
        ProbePolicy { window_ms: 1_000, unknown_operations_max: 3, not_found_max: 5, auth_failures_max: 4, block_ms: 10_000 }
    }

    #[test]
    fn use_2_a_burst_blocks_the_subject_and_only_it() {
        let mut d = ProbeDetector::new(policy());
        assert!(d.record("key:A", Signal::UnknownOperation, 0, Some("P1")).is_none());
        assert!(d.record("key:A", Signal::UnknownOperation, 10, Some("P1")).is_none());
        let event = d.record("key:A", Signal::UnknownOperation, 20, Some("P1")).expect("third in the window blocks");
        assert_eq!((event.count, event.signal, event.partner_id.as_deref()), (3, Signal::UnknownOperation, Some("P1")));
        assert_eq!(d.blocked_until("key:A", 21), Some(10_020));
        assert_eq!(d.blocked_until("key:B", 21), None, "other subjects are unaffected");
        assert_eq!(d.blocked_until("key:A", 10_020), None, "the block expires");
    }

    #[test]
    fn use_2_slow_signals_outside_the_window_never_block() {
        let mut d = ProbeDetector::new(policy());
        for i in 0..100 {
            assert!(d.record("address:10.0.0.1", Signal::NotFound, i * 300, None).is_none(), "at {i}");
        }
        assert_eq!(d.blocked_until("address:10.0.0.1", 30_000), None);
    }

    #[test]
    fn use_2_signals_count_separately_and_unblock_resets() {
        let mut d = ProbeDetector::new(policy());
        for t in 0..2 {
            d.record("key:A", Signal::UnknownOperation, t, None);
        }
        for t in 0..4 {
            assert!(d.record("key:A", Signal::NotFound, t, None).is_none());
        }
        assert!(d.record("key:A", Signal::NotFound, 5, None).is_some());
        assert!(d.unblock("key:A"));
        assert!(!d.unblock("key:A"));
        assert!(d.record("key:A", Signal::UnknownOperation, 6, None).is_none(), "counts start again");
    }
}
