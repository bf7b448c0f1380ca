//! Program terms (MOD-2 … MOD-4): published as numbered versions, each effective on posting or
//! on a stated later date; a partner accepts a version explicitly or by continuing to take part
//! after it took effect (MOD-3), and that acceptance names the act that showed it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::time::{format_timestamp, Instant};

/// The longest terms text accepted (bytes).
pub const TEXT_MAX_BYTES: usize = 512 * 1024;
pub const SUMMARY_MAX_CHARS: usize = 1000;

/// One published version. Versions never change once published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsVersion {
    pub version: i64,
    pub effective: Instant,
    pub published: Instant,
    pub published_by: String,
    pub summary: Option<String>,
    pub text: String,
    /// SHA-256 of `text`: what a partner accepted, byte for byte.
    pub sha256: String,
    /// Published with an effective date before its publication (`--backdate`, audited).
    #[serde(default)]
    pub backdated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AcceptanceMethod {
    /// `AcePartner.AcceptTerms` (or the portal's accept button).
    Explicit,
    /// MOD-3: the partner acted after the effective date without accepting explicitly.
    ContinuedParticipation,
}

impl AcceptanceMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptanceMethod::Explicit => "EXPLICIT",
            AcceptanceMethod::ContinuedParticipation => "CONTINUED_PARTICIPATION",
        }
    }
}

/// A partner's acceptance of one version; the first one recorded stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub version: i64,
    pub partner_id: String,
    pub method: AcceptanceMethod,
    pub at: Instant,
    /// The user whose act it was.
    pub user: String,
    /// The operation that showed acceptance (`AcceptTerms`, or the action taken).
    pub operation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    #[error("the terms text is empty")]
    EmptyText,
    #[error("the terms text is {0} bytes; at most {TEXT_MAX_BYTES} are accepted")]
    TextTooLong(usize),
    #[error("the summary is longer than {SUMMARY_MAX_CHARS} characters")]
    SummaryTooLong,
    #[error("the effective date {0} is in the past; pass --backdate to publish it anyway (it is audited)")]
    EffectiveInPast(String),
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// MOD-2: checks a new version before it is published. With no effective date the version is
/// effective on posting (`now`); a date in the past is refused unless `backdate` is set.
pub fn check_publish(
    text: &str,
    summary: Option<&str>,
    effective: Option<Instant>,
    now: Instant,
    backdate: bool,
) -> Result<Instant, TermsError> {
    if text.trim().is_empty() {
        return Err(TermsError::EmptyText);
    }
    if text.len() > TEXT_MAX_BYTES {
        return Err(TermsError::TextTooLong(text.len()));
    }
    if summary.is_some_and(|s| s.chars().count() > SUMMARY_MAX_CHARS) {
        return Err(TermsError::SummaryTooLong);
    }
    let effective = effective.unwrap_or(now);
    if effective < now && !backdate {
        return Err(TermsError::EffectiveInPast(format_timestamp(effective)));
    }
    Ok(effective)
}

/// MOD-4: the version in force at `now`: the highest-numbered one already effective.
pub fn current(versions: &[TermsVersion], now: Instant) -> Option<&TermsVersion> {
    versions.iter().filter(|v| v.effective <= now).max_by_key(|v| v.version)
}

/// Published versions not yet in force, lowest first: partners are told of them ahead.
pub fn upcoming(versions: &[TermsVersion], now: Instant) -> Vec<&TermsVersion> {
    let current_version = current(versions, now).map_or(0, |v| v.version);
    let mut out: Vec<&TermsVersion> = versions.iter().filter(|v| v.effective > now && v.version > current_version).collect();
    out.sort_by_key(|v| v.version);
    out
}

/// Which versions a partner may accept explicitly: the current one and any upcoming one.
/// A version superseded before the partner got to it is refused, naming its successor.
pub fn check_acceptable(versions: &[TermsVersion], version: i64, now: Instant) -> Result<(), String> {
    let Some(target) = versions.iter().find(|v| v.version == version) else {
        return Err(format!("terms version {version} does not exist"));
    };
    match current(versions, now) {
        Some(c) if target.version < c.version => {
            Err(format!("terms version {version} was superseded by version {}; accept that one", c.version))
        }
        _ => Ok(()),
    }
}

/// MOD-3: the acceptance a partner's act records, when the version in force has none yet.
pub fn participation(current: &TermsVersion, partner_id: &str, user: &str, operation: &str, at: Instant) -> Acceptance {
    Acceptance {
        version: current.version,
        partner_id: partner_id.to_string(),
        method: AcceptanceMethod::ContinuedParticipation,
        at,
        user: user.to_string(),
        operation: operation.to_string(),
    }
}

/// Operations that do not count as taking part: reading the terms, or accepting them (which
/// records its own, explicit, acceptance).
pub fn counts_as_participation(operation: &str) -> bool {
    !matches!(operation, "GetCurrentTerms" | "AcceptTerms" | "GetSupportContact")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    fn version(n: i64, effective_ms: i64) -> TermsVersion {
        TermsVersion {
            version: n,
            effective: from_millis(effective_ms),
            published: from_millis(0),
            published_by: "operator:admin".into(),
            summary: None,
            text: format!("terms {n}"),
            sha256: sha256_hex(&format!("terms {n}")),
            backdated: false,
        }
    }

    #[test]
    fn mod_2_effective_on_posting_or_a_stated_date_never_silently_in_the_past() {
        let now = from_millis(10_000);
        assert_eq!(check_publish("t", None, None, now, false), Ok(now));
        assert_eq!(check_publish("t", None, Some(from_millis(20_000)), now, false), Ok(from_millis(20_000)));
        assert!(matches!(check_publish("t", None, Some(from_millis(5_000)), now, false), Err(TermsError::EffectiveInPast(_))));
        assert_eq!(check_publish("t", None, Some(from_millis(5_000)), now, true), Ok(from_millis(5_000)));
        assert_eq!(check_publish("  ", None, None, now, false), Err(TermsError::EmptyText));
        let long = "x".repeat(SUMMARY_MAX_CHARS + 1);
        assert_eq!(check_publish("t", Some(&long), None, now, false), Err(TermsError::SummaryTooLong));
    }

    #[test]
    fn mod_4_current_is_the_newest_in_force_and_upcoming_waits() {
        let versions = vec![version(1, 0), version(2, 5_000), version(3, 50_000)];
        assert_eq!(current(&versions, from_millis(1_000)).map(|v| v.version), Some(1));
        assert_eq!(current(&versions, from_millis(5_000)).map(|v| v.version), Some(2));
        assert_eq!(upcoming(&versions, from_millis(5_000)).iter().map(|v| v.version).collect::<Vec<_>>(), vec![3]);
        assert_eq!(current(&[], from_millis(0)), None);
    }

    #[test]
    fn mod_3_superseded_versions_cannot_be_accepted_upcoming_ones_can() {
        let versions = vec![version(1, 0), version(2, 5_000), version(3, 50_000)];
        let now = from_millis(6_000);
        assert!(check_acceptable(&versions, 1, now).unwrap_err().contains("superseded by version 2"));
        assert_eq!(check_acceptable(&versions, 2, now), Ok(()));
        assert_eq!(check_acceptable(&versions, 3, now), Ok(()));
        assert!(check_acceptable(&versions, 9, now).unwrap_err().contains("does not exist"));
        let a = participation(&versions[1], "P1", "alice", "CreateOpportunity", now);
        assert_eq!(
            (a.version, a.method, a.operation.as_str()),
            (2, AcceptanceMethod::ContinuedParticipation, "CreateOpportunity")
        );
        assert!(!counts_as_participation("GetCurrentTerms"));
        assert!(counts_as_participation("ListOpportunities"));
    }
}
