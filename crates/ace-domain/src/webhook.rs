//! Webhook subscriptions: who receives which events where, and the rules of delivery — URL
//! checks (https except loopback, no credentials, an SSRF guard), which events match, and the
//! retry schedule (exponential backoff with jitter).

use std::net::{IpAddr, Ipv4Addr};

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

/// The range a delivery may not reach, if `ip` is in one (SSRF guard): private, loopback,
/// link-local, shared (CGNAT), multicast, documentation, benchmarking and reserved space, and
/// IPv6 forms that carry such an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
            if v6.is_unspecified() {
                return Some("the unspecified address");
            }
            if v6.is_loopback() {
                return Some("loopback");
            }
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4).or(Some("IPv4-mapped space"));
            }
            if s[..6] == [0; 6] {
                return Some("IPv4-compatible space (deprecated)");
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return forbidden_v4(embedded(s[6], s[7])).map(|_| "NAT64 of a forbidden IPv4 address");
            }
            if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
                return Some("local-use NAT64 (64:ff9b:1::/48)");
            }
            if s[0] == 0x2002 {
                return forbidden_v4(embedded(s[1], s[2])).map(|_| "6to4 of a forbidden IPv4 address");
            }
            match s[0] {
                0x0100 if s[1..4] == [0, 0, 0] => Some("discard-only (100::/64)"),
                0x2001 if s[1] == 0x0db8 => Some("documentation (2001:db8::/32)"),
                0x2001 if s[1] < 0x0200 => Some("IETF protocol assignments, Teredo (2001::/23)"),
                x if x & 0xfe00 == 0xfc00 => Some("unique local (fc00::/7)"),
                x if x & 0xffc0 == 0xfe80 => Some("link-local (fe80::/10)"),
                x if x & 0xffc0 == 0xfec0 => Some("site-local (fec0::/10)"),
                x if x & 0xff00 == 0xff00 => Some("multicast (ff00::/8)"),
                _ => None,
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => Some("this network (0.0.0.0/8)"),
        (10, _, _) => Some("private (10.0.0.0/8)"),
        (100, b, _) if b & 0xc0 == 64 => Some("shared address space, CGNAT (100.64.0.0/10)"),
        (127, _, _) => Some("loopback (127.0.0.0/8)"),
        (169, 254, _) => Some("link-local, cloud metadata (169.254.0.0/16)"),
        (172, b, _) if b & 0xf0 == 16 => Some("private (172.16.0.0/12)"),
        (192, 0, 0) => Some("IETF protocol assignments (192.0.0.0/24)"),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Some("documentation"),
        (192, 168, _) => Some("private (192.168.0.0/16)"),
        (198, b, _) if b & 0xfe == 18 => Some("benchmarking (198.18.0.0/15)"),
        (a, _, _) if a >= 224 => Some("multicast or reserved (224.0.0.0/3)"),
        _ => None,
    }
}

/// Whether a resolved address may be delivered to: every address a name resolves to must be.
pub fn check_address(ip: IpAddr, allow_private: bool) -> Result<(), String> {
    match forbidden_range(ip) {
        Some(range) if !allow_private => {
            Err(format!("{ip} is in {range}: deliveries may not reach it unless the operator allows private addresses"))
        }
        _ => Ok(()),
    }
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

/// What a checked URL still needs before a delivery may go there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlCheck {
    /// Nothing: an address already checked, or an EventBridge bus at the region's endpoint.
    Done,
    /// Resolve this name and check every address it resolves to ([`check_address`]), and
    /// connect only to an address so checked.
    Resolve { host: String, port: u16 },
}

/// Checks a delivery URL. Webhooks are `https`, or plain `http` to a loopback receiver; carry no
/// credentials; and may reach no forbidden range ([`forbidden_range`], loopback included)
/// unless the operator allows private addresses. Hosts are read as a browser reads them, so
/// `https://2852039166/`, `https://0xA9FEA9FE/`, `https://10.1/` and a trailing dot name the
/// addresses they are. `eventbridge://<bus>[?endpoint=<url>]` sends `PutEvents`, signed with
/// the server's own AWS credentials: only the operator's own subscriptions (`operator`) may
/// name one.
pub fn check_url(url: &str, allow_private: bool, operator: bool) -> Result<UrlCheck, String> {
    if let Some(target) = eventbridge_target(url) {
        if !operator {
            return Err("eventbridge:// targets are for the operator's own subscriptions".into());
        }
        let bus_ok = !target.bus.is_empty()
            && target.bus.len() <= 256
            && target.bus.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b));
        if !bus_ok {
            return Err(format!("{:?} is not an event bus name", target.bus));
        }
        return match target.endpoint {
            Some(endpoint) => check_url(&endpoint, allow_private, operator),
            None => Ok(UrlCheck::Done),
        };
    }
    let parsed = url::Url::parse(url).map_err(|_| format!("{url:?} is not an http(s) URL"))?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(format!("{url:?}: only http and https URLs are allowed"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not carry credentials".into());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let (loopback, address, name) = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => (v4.is_loopback(), Some(IpAddr::V4(v4)), None),
        Some(url::Host::Ipv6(v6)) => {
            let loopback = v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback());
            (loopback, Some(IpAddr::V6(v6)), None)
        }
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            (d == "localhost" || d.ends_with(".localhost"), None, Some(d))
        }
        None => return Err(format!("{url:?} has no host")),
    };
    if scheme == "http" && !loopback {
        return Err("https is required (plain http only for loopback receivers)".into());
    }
    if loopback && !allow_private {
        return Err("loopback receivers are allowed only when the operator allows private addresses".into());
    }
    match (address, name) {
        (Some(ip), _) => check_address(ip, allow_private).map(|_| UrlCheck::Done),
        (None, Some(host)) if !loopback => Ok(UrlCheck::Resolve { host, port }),
        _ => Ok(UrlCheck::Done),
    }
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
        let resolve = |host: &str| UrlCheck::Resolve { host: host.into(), port: 443 };
        assert_eq!(check_url("https://crm.example.com/hooks", false, false), Ok(resolve("crm.example.com")));
        assert_eq!(check_url("https://CRM.example.com./hooks", false, false), Ok(resolve("crm.example.com")));
        assert_eq!(check_url("http://127.0.0.1:9000/hook", true, false), Ok(UrlCheck::Done));
        assert_eq!(check_url("http://localhost/hook", true, false), Ok(UrlCheck::Done));
        assert_eq!(check_url("http://[::1]:8080/", true, false), Ok(UrlCheck::Done));
        assert_eq!(check_url("https://93.184.216.34/hook", false, false), Ok(UrlCheck::Done));
        for bad in [
            "ftp://example.com/x",
            "http://crm.example.com/hooks",
            "https://user:pw@crm.example.com/",
            "https://10.0.0.5/hook",
            "https://192.168.1.2/hook",
            "https://169.254.169.254/latest",
            "not a url",
        ] {
            assert!(check_url(bad, false, false).is_err(), "{bad}");
        }
        assert!(check_url("https://10.0.0.5/hook", true, false).is_ok(), "allowed by the operator");
    }

    /// Issue 21, weakness 1: every spelling of a forbidden address that `PutWebhook` accepted
    /// (and two that reached a listener on loopback) is refused, however it is written.
    #[test]
    fn use_4_ssrf_every_spelling_of_a_forbidden_address_is_refused() {
        for bad in [
            "https://[::ffff:169.254.169.254]/",
            "https://2852039166/",
            "https://0xA9FEA9FE/",
            "https://0251.0376.0251.0376/",
            "https://169.254.169.254./",
            "https://10.1/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[::a9fe:a9fe]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://2130706433:8443/",
            "https://[::ffff:127.0.0.1]:8443/",
            "http://[::ffff:7f00:1]:8443/",
            "https://127.1/",
            "https://0.0.0.0/",
            "https://[::]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://100.64.0.1/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://localhost/",
            "https://metadata.localhost/",
        ] {
            assert!(check_url(bad, false, false).is_err(), "{bad} was accepted");
        }
        // A name is resolved by the server and every address it resolves to checked.
        assert_eq!(
            check_url("https://metadata.google.internal/", false, false),
            Ok(UrlCheck::Resolve { host: "metadata.google.internal".into(), port: 443 })
        );
        for ip in ["169.254.169.254", "10.0.0.1", "::1", "fe80::1", "64:ff9b::a00:1"] {
            assert!(check_address(ip.parse().unwrap(), false).is_err(), "{ip}");
            assert!(check_address(ip.parse().unwrap(), true).is_ok(), "{ip} with private allowed");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822"] {
            assert_eq!(check_address(ip.parse().unwrap(), false), Ok(()), "{ip}");
        }
    }

    /// `eventbridge://` is signed with the server's own AWS credentials: a partner naming one
    /// (with an endpoint of its choosing) received them. Only the operator's own may.
    #[test]
    fn use_4_only_the_operator_may_name_an_eventbridge_target() {
        assert!(check_url("eventbridge://partner-events", false, false).is_err());
        assert!(check_url("eventbridge://bus?endpoint=http://127.0.0.1:4010", true, false).is_err());
        assert_eq!(check_url("eventbridge://partner-events", false, true), Ok(UrlCheck::Done));
        assert!(check_url("eventbridge://bus?endpoint=http://127.0.0.1:4010", true, true).is_ok());
        assert!(check_url("eventbridge://bus?endpoint=http://127.0.0.1:4010", false, true).is_err());
        assert!(check_url("eventbridge://bus?endpoint=http://events.example.com", false, true).is_err());
        assert!(check_url("eventbridge://", false, true).is_err());
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
