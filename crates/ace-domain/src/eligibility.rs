//! Referral eligibility (ELIG-1 … ELIG-3, REF-6, REF-7): which partners may receive Customer
//! Engagement Referrals, as of any instant, with every requirement explained by its figures.
//!
//! Pure: the caller hands in the partner's profile as it was at `as_of`, the approval times of
//! its validated opportunities, the last update of each open referral, and the operator's
//! configuration in force at `as_of`. ELIG-1: nothing here gates submission.

use chrono::{Months, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::partner::{PartnerPath, PartnerProfile, Program, Tier};
use crate::time::Instant;

/// The eligibility class of a partner (DESIGN.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Segment {
    /// Select-tier consulting and technology partners: ELIG-2.1.
    Select,
    /// Advanced and premier consulting, advanced technology: ELIG-2.2.
    Advanced,
    /// ISV partners: ELIG-2.3.
    Isv,
}

impl Segment {
    pub const ALL: [Segment; 3] = [Segment::Select, Segment::Advanced, Segment::Isv];

    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Select => "select",
            Segment::Advanced => "advanced",
            Segment::Isv => "isv",
        }
    }

    pub fn parse(s: &str) -> Option<Segment> {
        Segment::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The rule the segment's requirements are listed under.
    pub fn rule(self) -> &'static str {
        match self {
            Segment::Select => "ELIG-2.1",
            Segment::Advanced => "ELIG-2.2",
            Segment::Isv => "ELIG-2.3",
        }
    }
}

/// The segment of a partner; `None` (registered tier) is never eligible.
pub fn segment_of(profile: &PartnerProfile) -> Option<Segment> {
    match (profile.path, profile.tier) {
        (PartnerPath::Isv, _) => Some(Segment::Isv),
        (PartnerPath::Consulting | PartnerPath::Technology, Tier::Select) => Some(Segment::Select),
        (PartnerPath::Consulting, Tier::Advanced | Tier::Premier) | (PartnerPath::Technology, Tier::Advanced) => {
            Some(Segment::Advanced)
        }
        _ => None,
    }
}

/// A requirement the operator defines for a segment (ELIG-2.x (e)); its value is set per partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FurtherRequirement {
    pub id: String,
    pub segment: Segment,
    pub description: String,
}

/// ELIG-3: thresholds, program list and further requirements are operator data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EligibilityConfig {
    /// ELIG-2.1 (a), ELIG-2.3: validated opportunities needed in the window.
    pub validated_min: u32,
    pub window_months: u32,
    /// ELIG-2.x (d), REF-7: an open referral is fresh when updated within this many days …
    pub referral_update_days: u32,
    /// … and the requirement holds when at least this share of open referrals is fresh.
    pub referral_fresh_percent_min: u32,
    /// ELIG-2.1 (c): membership of at least one of these.
    pub programs: Vec<Program>,
    #[serde(default)]
    pub further: Vec<FurtherRequirement>,
}

impl Default for EligibilityConfig {
    fn default() -> Self {
        EligibilityConfig {
            validated_min: 10,
            window_months: 12,
            referral_update_days: 30,
            referral_fresh_percent_min: 100,
            programs: Program::ALL.to_vec(),
            further: Vec::new(),
        }
    }
}

/// An open referral-originated opportunity and the last time the partner updated it (REF-7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReferral {
    pub opportunity_id: String,
    pub last_update: Instant,
}

/// What the evaluation needs about one partner.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerFacts<'a> {
    pub profile: &'a PartnerProfile,
    /// Approval times of the partner's validated opportunities (any order).
    pub approvals: &'a [Instant],
    pub open_referrals: &'a [OpenReferral],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Requirement {
    /// The rule: `ELIG-2.1a`, `REF-6`, `ELIG-2`, or `ELIG-2.1e:<id>` for further requirements.
    pub id: String,
    pub met: bool,
    /// The figures, for people.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EligibilityReport {
    pub partner_id: String,
    pub partner_name: String,
    pub segment: Option<Segment>,
    pub eligible: bool,
    pub as_of: Instant,
    pub requirements: Vec<Requirement>,
    /// For the rolling window: how many counted validations, and when the oldest drops out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated_in_window: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_drop_out: Option<Instant>,
}

fn requirement(id: impl Into<String>, met: bool, detail: impl Into<String>) -> Requirement {
    Requirement { id: id.into(), met, detail: detail.into() }
}

/// The start of the rolling window: validations count when approved in `(start, as_of]`.
pub fn window_start(as_of: Instant, months: u32) -> Instant {
    as_of.checked_sub_months(Months::new(months)).unwrap_or(as_of)
}

/// ELIG-2 for one partner at `as_of`. Requirements come in a fixed order: the segment's
/// (a)–(e) as they apply, REF-6, then the operator's approval (ELIG-2).
pub fn evaluate(facts: &PartnerFacts<'_>, config: &EligibilityConfig, as_of: Instant) -> EligibilityReport {
    let p = facts.profile;
    let segment = segment_of(p);
    let mut requirements = Vec::new();
    let mut validated_in_window = None;
    let mut next_drop_out = None;
    match segment {
        None => requirements.push(requirement(
            "ELIG-2",
            false,
            format!(
                "segment: a {:?} {:?} partner is in no referral segment (select, advanced or isv tiers only)",
                p.tier, p.path
            )
            .to_lowercase(),
        )),
        Some(segment) => {
            let rule = segment.rule();
            if segment == Segment::Isv {
                requirements.push(requirement(
                    rule,
                    p.isv_path_confirmed,
                    if p.isv_path_confirmed {
                        "confirmed ISV Partner Path status"
                    } else {
                        "ISV Partner Path status not confirmed"
                    },
                ));
            }
            if matches!(segment, Segment::Select | Segment::Isv) {
                let start = window_start(as_of, config.window_months);
                let mut counted: Vec<Instant> = facts.approvals.iter().copied().filter(|t| *t > start && *t <= as_of).collect();
                counted.sort();
                let count = counted.len() as u32;
                let oldest_out = counted.first().and_then(|t| t.checked_add_months(Months::new(config.window_months)));
                let mut detail = format!(
                    "validated opportunities, rolling {} months: {count} of {}",
                    config.window_months, config.validated_min
                );
                if count < config.validated_min {
                    detail.push_str(&format!(", {} more needed", config.validated_min - count));
                }
                if let Some(out) = oldest_out {
                    detail.push_str(&format!(" (next drops out {})", out.date_naive()));
                }
                requirements.push(requirement(format!("{rule}a"), count >= config.validated_min, detail));
                validated_in_window = Some(count);
                next_drop_out = oldest_out;
            }
            requirements.push(requirement(
                format!("{rule}b"),
                p.psf_listed,
                if p.psf_listed {
                    "active Partner Solutions Finder listing"
                } else {
                    "no active Partner Solutions Finder listing"
                },
            ));
            if segment == Segment::Select {
                let held: Vec<&str> = p.programs.iter().filter(|x| config.programs.contains(x)).map(|x| x.as_str()).collect();
                let detail = if held.is_empty() {
                    let wanted: Vec<&str> = config.programs.iter().map(|x| x.as_str()).collect();
                    format!("program membership: none of {}", wanted.join(", "))
                } else {
                    format!("program membership: {}", held.join(", "))
                };
                requirements.push(requirement(format!("{rule}c"), !held.is_empty(), detail));
            }
            let open = facts.open_referrals.len() as u32;
            let fresh = facts.open_referrals.iter().filter(|r| update_is_fresh(r.last_update, as_of, config)).count() as u32;
            let met = open == 0 || fresh * 100 >= config.referral_fresh_percent_min * open;
            requirements.push(requirement(
                format!("{rule}d"),
                met,
                format!(
                    "referral updates: {fresh} of {open} open referrals updated within {} days (at least {}% needed)",
                    config.referral_update_days, config.referral_fresh_percent_min
                ),
            ));
            for further in config.further.iter().filter(|f| f.segment == segment) {
                let met = p.further_requirements.get(&further.id).copied().unwrap_or(false);
                requirements.push(requirement(
                    format!("{rule}e:{}", further.id),
                    met,
                    format!("{}: {}", further.description, if met { "met" } else { "not met" }),
                ));
            }
        }
    }
    let privacy = p.privacy_policy.as_deref().filter(|u| is_public_privacy_url(u));
    requirements.push(requirement(
        "REF-6",
        privacy.is_some(),
        match privacy {
            Some(url) => format!("public privacy policy: {url}"),
            None => "no public privacy policy URL (https) on record".to_string(),
        },
    ));
    requirements.push(requirement(
        "ELIG-2",
        p.referrals_approved,
        if p.referrals_approved {
            "operator approval for referrals: approved"
        } else {
            "operator approval for referrals: not approved"
        },
    ));
    if let Some(removal) = &p.removal {
        let reason = removal.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        requirements.push(requirement(
            "REM-1",
            false,
            format!(
                "removed from {} by the operator on {}{reason}",
                match removal.scope {
                    crate::partner::RemovalScope::Referrals => "referrals",
                    crate::partner::RemovalScope::All => "the program",
                },
                crate::time::format_timestamp(removal.at)
            ),
        ));
    }
    EligibilityReport {
        partner_id: p.id.clone(),
        partner_name: p.name.clone(),
        segment,
        eligible: segment.is_some() && requirements.iter().all(|r| r.met),
        as_of,
        requirements,
        validated_in_window,
        next_drop_out,
    }
}

/// REF-7: an open referral counts as kept up to date when the partner updated it within
/// `referral_update_days` of `as_of`.
pub fn update_is_fresh(last_update: Instant, as_of: Instant, config: &EligibilityConfig) -> bool {
    last_update >= as_of - TimeDelta::days(i64::from(config.referral_update_days))
}

/// REF-6: an `https` URL with a host.
pub fn is_public_privacy_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
}

/// The version of something versioned in force at `as_of`: the latest effective at or before.
pub fn in_force_at<T>(versions: &[(Instant, T)], as_of: Instant) -> Option<&T> {
    versions.iter().filter(|(from, _)| *from <= as_of).max_by_key(|(from, _)| *from).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::collections::BTreeMap;

    fn at(y: i32, m: u32, d: u32) -> Instant {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn profile(path: PartnerPath, tier: Tier) -> PartnerProfile {
        PartnerProfile {
            id: "P-ACME".into(),
            name: "Acme Cloud".into(),
            path,
            tier,
            account_id: "123456789012".into(),
            programs: vec![Program::Msp],
            psf_listed: true,
            isv_path_confirmed: true,
            privacy_policy: Some("https://acme.example/privacy".into()),
            timezone: "UTC".into(),
            holiday_calendar: None,
            referrals_approved: true,
            further_requirements: BTreeMap::new(),
            removal: None,
        }
    }

    fn approvals(n: usize, last: Instant) -> Vec<Instant> {
        (0..n).map(|i| last - TimeDelta::days(i as i64 * 7)).collect()
    }

    fn check(p: &PartnerProfile, approvals: &[Instant], as_of: Instant) -> EligibilityReport {
        let facts = PartnerFacts { profile: p, approvals, open_referrals: &[] };
        evaluate(&facts, &EligibilityConfig::default(), as_of)
    }

    fn unmet(r: &EligibilityReport) -> Vec<&str> {
        r.requirements.iter().filter(|x| !x.met).map(|x| x.id.as_str()).collect()
    }

    #[test]
    fn elig_2_segments() {
        use PartnerPath::*;
        use Tier::*;
        for (path, tier, segment) in [
            (Consulting, Select, Some(Segment::Select)),
            (Technology, Select, Some(Segment::Select)),
            (Consulting, Advanced, Some(Segment::Advanced)),
            (Consulting, Premier, Some(Segment::Advanced)),
            (Technology, Advanced, Some(Segment::Advanced)),
            (Isv, Registered, Some(Segment::Isv)),
            (Consulting, Registered, None),
            (Technology, Registered, None),
        ] {
            assert_eq!(segment_of(&profile(path, tier)), segment, "{path:?} {tier:?}");
        }
        let registered = check(&profile(Consulting, Registered), &approvals(20, at(2026, 6, 1)), at(2026, 6, 2));
        assert!(!registered.eligible);
        assert_eq!(registered.requirements[0].id, "ELIG-2");
        assert!(registered.requirements[0].detail.contains("no referral segment"));
    }

    #[test]
    fn elig_2_1_a_exactly_ten_in_the_rolling_window() {
        let p = profile(PartnerPath::Consulting, Tier::Select);
        let as_of = at(2026, 6, 1);
        let nine = check(&p, &approvals(9, as_of), as_of);
        assert!(!nine.eligible);
        assert_eq!(unmet(&nine), vec!["ELIG-2.1a"]);
        assert!(nine.requirements[0].detail.contains("9 of 10, 1 more needed"), "{}", nine.requirements[0].detail);
        let ten = check(&p, &approvals(10, as_of), as_of);
        assert!(ten.eligible, "{:?}", ten.requirements);
        assert_eq!(ten.validated_in_window, Some(10));
    }

    #[test]
    fn elig_2_1_a_a_validation_exactly_twelve_months_old_no_longer_counts() {
        let p = profile(PartnerPath::Consulting, Tier::Select);
        let as_of = at(2026, 6, 1);
        let mut a = approvals(9, as_of);
        a.push(at(2025, 6, 1)); // exactly 12 months before as_of: outside (as_of − 12 months, as_of]
        assert_eq!(check(&p, &a, as_of).validated_in_window, Some(9));
        a.pop();
        a.push(at(2025, 6, 1) + TimeDelta::milliseconds(1));
        let r = check(&p, &a, as_of);
        assert_eq!(r.validated_in_window, Some(10));
        assert_eq!(
            r.next_drop_out,
            Some(at(2026, 6, 1) + TimeDelta::milliseconds(1)),
            "the oldest drops out 12 months after its approval"
        );
        assert!(r.requirements[0].detail.contains("next drops out 2026-06-01"), "{}", r.requirements[0].detail);
        // approvals in the future of as_of do not count either
        assert_eq!(check(&p, &[as_of + TimeDelta::seconds(1)], as_of).validated_in_window, Some(0));
    }

    #[test]
    fn elig_2_1_a_leap_days() {
        // 2028-02-29 minus 12 months is 2027-02-28.
        assert_eq!(window_start(at(2028, 2, 29), 12), at(2027, 2, 28));
        let p = profile(PartnerPath::Consulting, Tier::Select);
        let r = check(&p, &[at(2027, 2, 28)], at(2028, 2, 29));
        assert_eq!(r.validated_in_window, Some(0), "approved exactly at the window start");
        let r = check(&p, &[at(2027, 3, 1)], at(2028, 2, 29));
        assert_eq!(r.validated_in_window, Some(1));
    }

    #[test]
    fn elig_2_1_b_c_d_e_and_ref_6() {
        let mut p = profile(PartnerPath::Technology, Tier::Select);
        p.psf_listed = false;
        p.programs.clear();
        p.privacy_policy = Some("http://acme.example/privacy".into());
        p.referrals_approved = false;
        let as_of = at(2026, 6, 1);
        let r = check(&p, &approvals(10, as_of), as_of);
        assert_eq!(unmet(&r), vec!["ELIG-2.1b", "ELIG-2.1c", "REF-6", "ELIG-2"]);

        let mut p = profile(PartnerPath::Consulting, Tier::Select);
        let referrals = [
            OpenReferral { opportunity_id: "O1".into(), last_update: as_of - TimeDelta::days(10) },
            OpenReferral { opportunity_id: "O2".into(), last_update: as_of - TimeDelta::days(31) },
        ];
        let mut config = EligibilityConfig::default();
        config.further.push(FurtherRequirement {
            id: "training-complete".into(),
            segment: Segment::Select,
            description: "training".into(),
        });
        config.further.push(FurtherRequirement { id: "isv-only".into(), segment: Segment::Isv, description: "isv".into() });
        let approvals = approvals(10, as_of);
        let facts = PartnerFacts { profile: &p, approvals: &approvals, open_referrals: &referrals };
        let r = evaluate(&facts, &config, as_of);
        assert_eq!(unmet(&r), vec!["ELIG-2.1d", "ELIG-2.1e:training-complete"]);
        let d = r.requirements.iter().find(|x| x.id == "ELIG-2.1d").unwrap();
        assert!(d.detail.contains("1 of 2 open referrals updated within 30 days"), "{}", d.detail);
        config.referral_fresh_percent_min = 50;
        p.further_requirements.insert("training-complete".into(), true);
        let facts = PartnerFacts { profile: &p, approvals: &approvals, open_referrals: &referrals };
        assert!(evaluate(&facts, &config, as_of).eligible);
    }

    #[test]
    fn elig_2_2_advanced_needs_no_validations_or_programs() {
        let mut p = profile(PartnerPath::Consulting, Tier::Premier);
        p.programs.clear();
        let r = check(&p, &[], at(2026, 6, 1));
        assert!(r.eligible, "{:?}", r.requirements);
        let ids: Vec<&str> = r.requirements.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, vec!["ELIG-2.2b", "ELIG-2.2d", "REF-6", "ELIG-2"]);
    }

    #[test]
    fn elig_2_3_isv_needs_confirmed_path_and_validations() {
        let mut p = profile(PartnerPath::Isv, Tier::Registered);
        p.isv_path_confirmed = false;
        p.programs.clear();
        let as_of = at(2026, 6, 1);
        let r = check(&p, &approvals(3, as_of), as_of);
        assert_eq!(unmet(&r), vec!["ELIG-2.3", "ELIG-2.3a"]);
        p.isv_path_confirmed = true;
        assert!(check(&p, &approvals(10, as_of), as_of).eligible);
    }

    #[test]
    fn elig_3_a_tier_change_mid_window_is_judged_by_the_tier_at_as_of() {
        // The caller hands in the profile as it was at as_of; validations count whatever the tier.
        let as_of = at(2026, 6, 1);
        let a = approvals(10, as_of - TimeDelta::days(100));
        let before = check(&profile(PartnerPath::Consulting, Tier::Registered), &a, as_of - TimeDelta::days(30));
        assert!(!before.eligible);
        let after = check(&profile(PartnerPath::Consulting, Tier::Select), &a, as_of);
        assert!(after.eligible);
    }

    #[test]
    fn elig_3_configuration_in_force_at_as_of() {
        let old = EligibilityConfig { validated_min: 5, ..Default::default() };
        let versions = vec![(at(2025, 1, 1), old.clone()), (at(2026, 1, 1), EligibilityConfig::default())];
        assert_eq!(in_force_at(&versions, at(2025, 6, 1)), Some(&old));
        assert_eq!(in_force_at(&versions, at(2026, 6, 1)).unwrap().validated_min, 10);
        assert_eq!(in_force_at(&versions, at(2024, 6, 1)), None);
        let p = profile(PartnerPath::Consulting, Tier::Select);
        let as_of = at(2025, 6, 1);
        let facts = PartnerFacts { profile: &p, approvals: &approvals(6, as_of), open_referrals: &[] };
        assert!(evaluate(&facts, in_force_at(&versions, as_of).unwrap(), as_of).eligible, "5 were enough then");
    }

    #[test]
    fn ref_6_privacy_policy_must_be_public_https() {
        assert!(is_public_privacy_url("https://acme.example/privacy"));
        for bad in ["http://acme.example/privacy", "https://", "https://localhost/privacy", "ftp://x.y", "https://.x/"] {
            assert!(!is_public_privacy_url(bad), "{bad}");
        }
    }

    #[test]
    fn ref_7_no_open_referrals_is_not_staleness() {
        let p = profile(PartnerPath::Consulting, Tier::Advanced);
        let r = check(&p, &[], at(2026, 6, 1));
        let d = r.requirements.iter().find(|x| x.id == "ELIG-2.2d").unwrap();
        assert!(d.met);
        assert!(d.detail.starts_with("referral updates: 0 of 0"));
    }
}
