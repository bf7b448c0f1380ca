//! USE-2 at the edge: the probe detector over access keys and client addresses. A blocked
//! subject gets `AccessDeniedException` before any work is done; each block is stored as a
//! security event (`ace security events`) with its audit entry.

use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::json;

use ace_domain::audit::{action, AuditEntry};
use ace_domain::security::{ProbeDetector, ProbePolicy, Signal};
use ace_domain::time::{format_timestamp, from_millis};

use crate::error::ApiError;
use crate::AppState;

pub fn key_subject(access_key_id: &str) -> String {
    format!("key:{access_key_id}")
}

pub fn address_subject(address: IpAddr) -> String {
    format!("address:{}", client_network(address))
}

/// The unit a client is counted and blocked as: an IPv4 address (an IPv4-mapped IPv6 address
/// is its IPv4 address), or an IPv6 /64 — one subscriber's network, which a client can rotate
/// through at will.
pub fn client_network(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The subject an operator names (`key:AKID…` or `address:IP`) as it is counted: an address
/// is widened to its network.
pub fn normalise_subject(subject: &str) -> String {
    match subject.strip_prefix("address:").and_then(|a| a.parse::<IpAddr>().ok()) {
        Some(address) => address_subject(address),
        None => subject.to_string(),
    }
}

#[derive(Default)]
pub struct ProbeGuard {
    detector: Mutex<ProbeDetector>,
}

impl ProbeGuard {
    pub fn new(policy: ProbePolicy) -> ProbeGuard {
        ProbeGuard { detector: Mutex::new(ProbeDetector::new(policy)) }
    }

    /// `AccessDeniedException` when any of the subjects is blocked.
    pub fn check(&self, subjects: &[&str], now_ms: i64) -> Result<(), ApiError> {
        let detector = self.detector.lock().expect("probe lock");
        for subject in subjects {
            if let Some(until) = detector.blocked_until(subject, now_ms) {
                let (kind, name) = subject.split_once(':').unwrap_or(("client", subject));
                let kind = if kind == "key" { "access key" } else { "client address" };
                return Err(ApiError::AccessDenied(format!(
                    "Requests from {kind} {name} are blocked until {} after a burst of suspicious requests \
                     (unknown operations, requests for records that do not exist, or failed signatures).",
                    format_timestamp(from_millis(until))
                )));
            }
        }
        Ok(())
    }

    pub fn unblock(&self, subject: &str) -> bool {
        self.detector.lock().expect("probe lock").unblock(subject)
    }
}

/// Counts a signal against each subject; a subject that crosses its threshold is blocked and
/// the block is recorded. Storage trouble while recording is logged, never returned: the
/// caller's own answer must not change because the log is unavailable.
pub async fn signal(state: &AppState, subjects: &[&str], signal: Signal, partner_id: Option<&str>) {
    let now_ms = state.wall_clock_ms();
    let events: Vec<_> = {
        let mut detector = state.probes.detector.lock().expect("probe lock");
        subjects.iter().filter_map(|s| detector.record(s, signal, now_ms, partner_id)).collect()
    };
    for event in events {
        crate::metrics::blocked(signal.as_str());
        tracing::warn!(subject = %event.subject, signal = signal.as_str(), count = event.count, "USE-2: blocking a probing client");
        let mut entry = AuditEntry::new(
            state.now(),
            format!("client:{}", event.subject),
            action::PROBE_BLOCKED,
            json!({"subject": event.subject, "signal": signal.as_str(), "count": event.count,
                   "blocked_until": format_timestamp(event.blocked_until)}),
        );
        entry.partner_id = event.partner_id.clone();
        if let Err(e) = state.store.record_security_event(&event, &entry).await {
            tracing::error!(error = %e, "could not record a security event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_2_an_ipv6_client_is_one_subject_per_64_and_a_mapped_ipv4_is_its_ipv4() {
        let a: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::5".parse().unwrap();
        assert_eq!(address_subject(a), address_subject(b));
        assert_ne!(address_subject(a), address_subject(c));
        assert_eq!(address_subject("::ffff:10.0.0.1".parse().unwrap()), "address:10.0.0.1");
        assert_eq!(address_subject("127.0.0.1".parse().unwrap()), "address:127.0.0.1");
        assert_eq!(normalise_subject("address:2001:db8:1:2::77"), address_subject(a));
        assert_eq!(normalise_subject("key:AKID"), "key:AKID");
    }
}
