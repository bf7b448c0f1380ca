//! Webhook subscriptions: who receives which events where, and the rules of delivery — URL
//! checks (https except loopback, no credentials, an SSRF guard), which events match, and the
//! retry schedule (exponential backoff with jitter).

use std::net::IpAddr;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::events::OutboxEvent;
use crate::time::Instant;

/// Who a subscription belongs to: a partner receives its own events; the operator all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum WebhookOwner {
    Partner(String),
    Operator,
}

impl WebhookOwner {
    pub fn key(&self) -> String {
        match self {
            WebhookOwner::Partner(id) => format!("partner:{id}"),
            WebhookOwner::Operator => "operator".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// `wh-…`
    pub id: String,
    pub owner: WebhookOwner,
    pub url: String,
    /// Empty: every event type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// The signing secret, encrypted under the server key.
    pub secret_encrypted: String,
    pub created_at: Instant,
    /// Richer payloads: `detail.changedFields` on events that carry what changed.
    #[serde(default)]
    pub include_changes: bool,
}

impl Webhook {
    /// Whether `event` goes to this subscription.
    pub fn matches(&self, event: &OutboxEvent) -> bool {
        let owner_ok = match &self.owner {
            WebhookOwner::Operator => true,
            WebhookOwner::Partner(id) => *id == event.partner_id,
        };
        owner_ok && (self.event_types.is_empty() || self.event_types.contains(&event.detail_type))
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_unspecified(),
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An EventBridge sink instead of a URL: `eventbridge://<event bus>[?endpoint=<url>]`; events
/// go to the bus with `PutEvents` (the endpoint defaults to the region's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBridgeTarget {
    pub bus: String,
    pub endpoint: Option<String>,
}

pub fn eventbridge_target(url: &str) -> Option<EventBridgeTarget> {
    let rest = url.strip_prefix("eventbridge://")?;
    let (bus, query) = rest.split_once('?').unwrap_or((rest, ""));
    let endpoint = query.split('&').find_map(|p| p.strip_prefix("endpoint=")).map(str::to_string);
    Some(EventBridgeTarget { bus: bus.to_string(), endpoint })
}

/// Checks a webhook URL: http(s) only, https unless the host is loopback, no credentials,
/// and no private-range address unless the operator allows them.
pub fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    if let Some(target) = eventbridge_target(url) {
        let bus_ok = !target.bus.is_empty()
            && target.bus.len() <= 256
            && target.bus.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b));
        if !bus_ok {
            return Err(format!("{:?} is not an event bus name", target.bus));
        }
        return match target.endpoint {
            Some(endpoint) => check_url(&endpoint, allow_private),
            None => Ok(()),
        };
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("{url:?}: only http and https URLs are allowed"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("the URL must not carry credentials".into());
    }
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_string()
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let loopback = is_loopback_host(&host);
    if scheme == "http" && !loopback {
        return Err("https is required (plain http only for loopback receivers)".into());
    }
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        if !loopback && !allow_private && is_private(ip) {
            return Err(format!("{ip} is a private address; the operator does not allow those"));
        }
    }
    Ok(())
}

/// The wait before retry number `attempt` (1-based): 2^(attempt-1) × base, capped, with up to
/// 20 % of jitter from `jitter_unit` in [0, 1).
pub fn backoff(attempt: u32, base: TimeDelta, cap: TimeDelta, jitter_unit: f64) -> TimeDelta {
    let exponent = attempt.saturating_sub(1).min(20);
    let raw = base.num_milliseconds().saturating_mul(1i64 << exponent).min(cap.num_milliseconds());
    let jitter = (raw as f64 * 0.2 * jitter_unit.clamp(0.0, 1.0)) as i64;
    TimeDelta::milliseconds(raw + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Catalog;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://crm.example.com/hooks", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_ok());
        assert!(check_url("http://localhost/hook", false).is_ok());
        assert!(check_url("http://[::1]:8080/", false).is_ok());
        for bad in [
            "ftp://example.com/x",
            "http://crm.example.com/hooks",
            "https://user:pw@crm.example.com/",
            "https://10.0.0.5/hook",
            "https://192.168.1.2/hook",
            "https://169.254.169.254/latest",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("https://10.0.0.5/hook", true).is_ok(), "allowed by the operator");
        assert!(check_url("eventbridge://partner-events", false).is_ok());
        assert!(check_url("eventbridge://bus?endpoint=http://127.0.0.1:4010", false).is_ok());
        assert!(check_url("eventbridge://bus?endpoint=http://events.example.com", false).is_err());
        assert!(check_url("eventbridge://", false).is_err());
        assert_eq!(
            eventbridge_target("eventbridge://b?endpoint=http://127.0.0.1:1"),
            Some(EventBridgeTarget { bus: "b".into(), endpoint: Some("http://127.0.0.1:1".into()) })
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = TimeDelta::seconds(1);
        let cap = TimeDelta::minutes(10);
        assert_eq!(backoff(1, base, cap, 0.0), TimeDelta::seconds(1));
        assert_eq!(backoff(4, base, cap, 0.0), TimeDelta::seconds(8));
        assert_eq!(backoff(30, base, cap, 0.0), cap);
        assert_eq!(backoff(1, base, cap, 0.5), TimeDelta::milliseconds(1100));
    }

    #[test]
    fn partners_receive_their_own_events_only() {
        let event = crate::events::partner_event(
            "Partner Eligibility Changed",
            "e".into(),
            "P-A",
            "1",
            serde_json::json!({}),
            crate::time::from_millis(0),
        );
        let hook = |owner: WebhookOwner, types: Vec<String>| Webhook {
            id: "wh-1".into(),
            owner,
            url: "https://x.example".into(),
            event_types: types,
            secret_encrypted: String::new(),
            created_at: crate::time::from_millis(0),
            include_changes: false,
        };
        assert!(hook(WebhookOwner::Partner("P-A".into()), vec![]).matches(&event));
        assert!(!hook(WebhookOwner::Partner("P-B".into()), vec![]).matches(&event));
        assert!(hook(WebhookOwner::Operator, vec![]).matches(&event));
        assert!(!hook(WebhookOwner::Operator, vec!["Opportunity Created".into()]).matches(&event));
        assert_eq!(event.catalog, Catalog::Aws);
    }
}
