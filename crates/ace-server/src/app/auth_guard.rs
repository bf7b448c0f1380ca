//! USE-3: failures of credentials counted per subject — an access key from one client network,
//! a portal account, a client network's sign-ins — in the domain's `FailureLog` (bounded, and
//! deciding the lockouts), shared by the partner API's SigV4 check and the portal's sign-in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use ace_domain::security::FailureLog;

use crate::app::security;

pub use ace_domain::security::{FailureLimit, FAILURES_MAX};

/// The subject a wrong signature is counted against: the key *and* the network it came from,
/// so that someone who only knows a key id cannot lock its owner out from elsewhere.
pub fn key_failure_subject(access_key_id: &str, address: Option<IpAddr>) -> String {
    let network = address.map_or_else(|| "unknown".to_string(), security::client_network);
    format!("key:{access_key_id}@{network}")
}

/// How often a key's last-used time is written (a write per request would double the load).
const LAST_USED_EVERY_MS: i64 = 60_000;

#[derive(Default)]
pub struct AuthGuard {
    failures: Mutex<FailureLog>,
    /// When each key's use was last written.
    last_recorded: Mutex<HashMap<String, i64>>,
}

impl AuthGuard {
    /// USE-1: whether this successful use should be written as the key's last-used time.
    pub fn use_to_record(&self, access_key_id: &str, now_ms: i64) -> bool {
        let mut recorded = self.last_recorded.lock().expect("guard lock");
        if recorded.get(access_key_id).is_some_and(|t| now_ms - t < LAST_USED_EVERY_MS) {
            return false;
        }
        if recorded.len() >= ace_domain::security::TRACKED_SUBJECTS_MAX {
            recorded.retain(|_, t| now_ms - *t < LAST_USED_EVERY_MS);
        }
        recorded.insert(access_key_id.to_string(), now_ms);
        true
    }

    /// Until when `subject` is locked under `limit`, if it is.
    pub fn locked_until(&self, subject: &str, limit: FailureLimit, now_ms: i64) -> Option<i64> {
        self.failures.lock().expect("guard lock").locked_until(subject, limit, now_ms)
    }

    pub fn record_failure(&self, subject: &str, now_ms: i64) {
        self.failures.lock().expect("guard lock").record(subject, now_ms);
    }

    /// See [`FailureLog::withdraw`].
    pub fn withdraw(&self, subject: &str, at_ms: i64) {
        self.failures.lock().expect("guard lock").withdraw(subject, at_ms);
    }

    pub fn record_success(&self, subject: &str) {
        self.failures.lock().expect("guard lock").forget(subject);
    }

    /// The operator lifts a lockout (`ace security unblock`): `key:AKID` lifts that key's lock
    /// from every network, `address:IP` the sign-in lock of that client's network. Whether
    /// anything was locked.
    pub fn lift(&self, subject: &str, now_ms: i64) -> bool {
        let mut lifted = false;
        let names: Vec<String> = {
            let failures = self.failures.lock().expect("guard lock");
            failures
                .subjects()
                .filter(|name| match subject.strip_prefix("key:") {
                    Some(key) => name.strip_prefix("key:").and_then(|n| n.split_once('@')).is_some_and(|(k, _)| k == key),
                    None => *name == sign_in_address_subject_of(subject),
                })
                .map(str::to_string)
                .collect()
        };
        for name in names {
            let limit = if name.starts_with("key:") { FailureLimit::CREDENTIAL } else { FailureLimit::SIGN_IN_ADDRESS };
            lifted |= self.locked_until(&name, limit, now_ms).is_some();
            self.record_success(&name);
        }
        lifted
    }
}

/// The sign-in subject of an operator's `address:…` subject (already normalised to its network).
fn sign_in_address_subject_of(subject: &str) -> String {
    format!("sign-in:{subject}")
}

/// The subject sign-ins from `address` are counted against.
pub fn sign_in_address_subject(address: IpAddr) -> String {
    sign_in_address_subject_of(&security::address_subject(address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ace_domain::security::{LOCKOUT_MS, TRACKED_SUBJECTS_MAX};

    #[test]
    fn use_3_lockout_after_repeated_failures_and_expiry() {
        let guard = AuthGuard::default();
        let limit = FailureLimit::CREDENTIAL;
        for i in 0..FAILURES_MAX as i64 - 1 {
            guard.record_failure("AK", i * 1000);
        }
        assert_eq!(guard.locked_until("AK", limit, 5_000), None);
        guard.record_failure("AK", 5_000);
        assert!(guard.locked_until("AK", limit, 6_000).is_some());
        assert!(guard.locked_until("OTHER", limit, 6_000).is_none(), "other keys are unaffected");
        assert!(guard.locked_until("AK", limit, 5_000 + LOCKOUT_MS + 1).is_none(), "the lock expires");
    }

    /// Issue 21, weakness 4: five wrong secrets from five addresses locked a valid key for
    /// everyone, and the operator's unblock could not lift it.
    #[test]
    fn use_3_a_wrong_secret_locks_the_key_only_for_the_network_it_came_from_and_the_operator_lifts_it() {
        let guard = AuthGuard::default();
        let limit = FailureLimit::CREDENTIAL;
        let attacker: Vec<IpAddr> = (1..=5).map(|i| format!("203.0.113.{i}").parse().unwrap()).collect();
        for (i, address) in attacker.iter().enumerate() {
            guard.record_failure(&key_failure_subject("AKIDVALID", Some(*address)), i as i64);
        }
        let owner: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(guard.locked_until(&key_failure_subject("AKIDVALID", Some(owner)), limit, 10), None);

        for i in 0..FAILURES_MAX as i64 {
            guard.record_failure(&key_failure_subject("AKIDVALID", Some(attacker[0])), 100 + i);
        }
        let locked = key_failure_subject("AKIDVALID", Some(attacker[0]));
        assert!(guard.locked_until(&locked, limit, 200).is_some(), "the failing network is locked");
        assert_eq!(guard.locked_until(&key_failure_subject("AKIDVALID", Some(owner)), limit, 200), None);
        assert!(!guard.lift("key:AKIDOTHER", 200));
        assert!(guard.lift("key:AKIDVALID", 200), "the operator's unblock lifts it");
        assert_eq!(guard.locked_until(&locked, limit, 201), None);
    }

    /// Issue 21, weakness 2: once the tracker was full it stopped counting failures of new
    /// subjects, so 10,000 made-up e-mails unlocked every real account.
    #[test]
    fn use_3_a_full_tracker_forgets_the_oldest_subjects_and_still_counts_new_ones() {
        let guard = AuthGuard::default();
        for i in 0..TRACKED_SUBJECTS_MAX as i64 {
            guard.record_failure(&format!("sign-in:decoy-{i}@example.com"), i);
        }
        let real = "sign-in:ceo@acme.example";
        for i in 0..FAILURES_MAX as i64 {
            guard.record_failure(real, 20_000 + i);
        }
        assert!(guard.locked_until(real, FailureLimit::CREDENTIAL, 20_010).is_some());
        let tracked = guard.failures.lock().unwrap().subjects().count();
        assert!(tracked <= TRACKED_SUBJECTS_MAX, "{tracked}");
        assert!(!guard.failures.lock().unwrap().subjects().any(|s| s == "sign-in:decoy-0@example.com"), "the oldest went first");
    }

    #[test]
    fn use_3_sign_ins_from_one_network_are_limited_whatever_the_email() {
        let guard = AuthGuard::default();
        let address: IpAddr = "2001:db8:9:9::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8:9:9::2".parse().unwrap();
        for i in 0..FailureLimit::SIGN_IN_ADDRESS.failures as i64 {
            guard.record_failure(&sign_in_address_subject(address), i);
        }
        assert!(guard.locked_until(&sign_in_address_subject(neighbour), FailureLimit::SIGN_IN_ADDRESS, 100).is_some());
        assert!(guard.lift(&crate::app::security::normalise_subject("address:2001:db8:9:9::3"), 100));
        assert!(guard.locked_until(&sign_in_address_subject(address), FailureLimit::SIGN_IN_ADDRESS, 101).is_none());
    }
}
