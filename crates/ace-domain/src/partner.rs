//! Partner profiles: path, tier, programs and the facts eligibility is decided from.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PartnerPath {
    Consulting,
    Technology,
    Isv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Registered,
    Select,
    Advanced,
    Premier,
}

/// The programs of ELIG-2.1 (c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Program {
    Competency,
    Msp,
    IsvAccelerate,
    PublicSector,
    ServiceDelivery,
    WellArchitected,
    ServiceReady,
    GlobalStartup,
}

impl Program {
    pub const ALL: [Program; 8] = [
        Program::Competency,
        Program::Msp,
        Program::IsvAccelerate,
        Program::PublicSector,
        Program::ServiceDelivery,
        Program::WellArchitected,
        Program::ServiceReady,
        Program::GlobalStartup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Program::Competency => "competency",
            Program::Msp => "msp",
            Program::IsvAccelerate => "isv-accelerate",
            Program::PublicSector => "public-sector",
            Program::ServiceDelivery => "service-delivery",
            Program::WellArchitected => "well-architected",
            Program::ServiceReady => "service-ready",
            Program::GlobalStartup => "global-startup",
        }
    }

    pub fn parse(s: &str) -> Option<Program> {
        Program::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What the operator records about a partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerProfile {
    pub id: String,
    pub name: String,
    pub path: PartnerPath,
    pub tier: Tier,
    /// 12 digits, used in the ARNs of the partner's resources.
    pub account_id: String,
    #[serde(default)]
    pub programs: Vec<Program>,
    #[serde(default)]
    pub psf_listed: bool,
    #[serde(default)]
    pub isv_path_confirmed: bool,
    #[serde(default)]
    pub privacy_policy: Option<String>,
    pub timezone: String,
    #[serde(default)]
    pub holiday_calendar: Option<String>,
    #[serde(default)]
    pub referrals_approved: bool,
    /// Values the operator set for its further requirements (ELIG-2.x (e)), by requirement id.
    #[serde(default)]
    pub further_requirements: std::collections::BTreeMap<String, bool>,
    /// REM-1: removed from referrals, or from the whole program, by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal: Option<Removal>,
}

/// REM-1: how much of the program a partner was removed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RemovalScope {
    /// No referrals, whatever the partner's figures; its open referrals are revoked.
    Referrals,
    /// Also no access at all: every credential of the partner is refused.
    All,
}

impl RemovalScope {
    pub fn parse(s: &str) -> Option<RemovalScope> {
        match s {
            "referrals" => Some(RemovalScope::Referrals),
            "all" => Some(RemovalScope::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RemovalScope::Referrals => "referrals",
            RemovalScope::All => "all",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Removal {
    pub scope: RemovalScope,
    pub reason: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: crate::time::Instant,
    pub by: String,
}

/// Why a removal or reinstatement cannot be done as asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RemovalError {
    #[error("partner {0} is already removed from the whole program; reinstate --scope all first")]
    NarrowerThanCurrent(String),
    #[error("partner {0} is not removed")]
    NotRemoved(String),
    #[error("partner {0} is removed from the whole program; reinstate --scope all")]
    ReinstateAllFirst(String),
}

impl PartnerProfile {
    /// REM-1: may the partner's users call the Partner API at all?
    pub fn has_access(&self) -> bool {
        !matches!(self.removal, Some(Removal { scope: RemovalScope::All, .. }))
    }

    /// REM-1: removes the partner from `removal.scope`. Removing again is allowed (it finishes
    /// an interrupted removal); narrowing a removal from everything to referrals is not — that
    /// is a reinstatement.
    pub fn remove(&mut self, removal: Removal) -> Result<(), RemovalError> {
        if self.removal.as_ref().is_some_and(|r| r.scope == RemovalScope::All) && removal.scope == RemovalScope::Referrals {
            return Err(RemovalError::NarrowerThanCurrent(self.id.clone()));
        }
        self.removal = Some(removal);
        Ok(())
    }

    /// Undoes a removal of `scope` (what it was removed from, or `all`). Returns the removal
    /// lifted; revoked referrals and deleted data are not the profile's to restore.
    pub fn reinstate(&mut self, scope: RemovalScope) -> Result<Removal, RemovalError> {
        let current = self.removal.clone().ok_or_else(|| RemovalError::NotRemoved(self.id.clone()))?;
        if current.scope == RemovalScope::All && scope == RemovalScope::Referrals {
            return Err(RemovalError::ReinstateAllFirst(self.id.clone()));
        }
        self.removal = None;
        Ok(current)
    }
}

/// USE-1: the access keys one user may hold at once — as in IAM, a second one so a CRM can
/// switch keys without downtime.
pub const ACCESS_KEYS_PER_USER: usize = 2;

/// USE-1: a further key for a user who holds `held` refused past the limit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("user {user} of {partner} already has {ACCESS_KEYS_PER_USER} access keys; delete one first")]
pub struct KeyLimitReached {
    pub partner: String,
    pub user: String,
}

/// USE-1: whether `user` of `partner`, holding `held` keys, may get another.
pub fn check_new_access_key(partner: &str, user: &str, held: usize) -> Result<(), KeyLimitReached> {
    if held >= ACCESS_KEYS_PER_USER {
        return Err(KeyLimitReached { partner: partner.to_string(), user: user.to_string() });
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartnerError {
    #[error("partner id {0:?} is invalid: use 1-64 characters of letters, digits, '-' and '_'")]
    InvalidId(String),
    #[error("partner name must be 1-120 characters")]
    InvalidName,
    #[error("tier premier exists only for the consulting path")]
    PremierOnlyForConsulting,
    #[error("the isv path has no {0} tier: ISV partners are registered or confirmed on the ISV Partner Path")]
    IsvTier(&'static str),
    #[error("unknown time zone {0:?}: use an IANA name such as Europe/Berlin")]
    InvalidTimezone(String),
    #[error("privacy policy {0:?} must be an http(s) URL")]
    InvalidPrivacyPolicy(String),
    #[error("account id {0:?} must be 12 digits")]
    InvalidAccountId(String),
}

impl PartnerProfile {
    /// Checks the profile as a whole; the first problem found is returned.
    pub fn validate(&self) -> Result<(), PartnerError> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(PartnerError::InvalidId(self.id.clone()));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 120 {
            return Err(PartnerError::InvalidName);
        }
        match (self.path, self.tier) {
            (PartnerPath::Consulting, _) => {}
            (_, Tier::Premier) => return Err(PartnerError::PremierOnlyForConsulting),
            (PartnerPath::Isv, Tier::Select) => return Err(PartnerError::IsvTier("select")),
            (PartnerPath::Isv, Tier::Advanced) => return Err(PartnerError::IsvTier("advanced")),
            _ => {}
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(PartnerError::InvalidTimezone(self.timezone.clone()));
        }
        if let Some(url) = &self.privacy_policy {
            let ok = (url.starts_with("https://") || url.starts_with("http://")) && url.len() > 8 && url.len() <= 2048;
            if !ok {
                return Err(PartnerError::InvalidPrivacyPolicy(url.clone()));
            }
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PartnerError::InvalidAccountId(self.account_id.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn use_1_a_user_holds_at_most_two_keys() {
        assert_eq!(check_new_access_key("P", "alice", 0), Ok(()));
        assert_eq!(check_new_access_key("P", "alice", 1), Ok(()));
        let refused = check_new_access_key("P", "alice", 2).unwrap_err();
        assert_eq!(refused.to_string(), "user alice of P already has 2 access keys; delete one first");
    }

    use super::*;

    fn profile(path: PartnerPath, tier: Tier) -> PartnerProfile {
        PartnerProfile {
            id: "P-ACME".into(),
            name: "Acme Cloud".into(),
            path,
            tier,
            account_id: "123456789012".into(),
            programs: vec![],
            psf_listed: false,
            isv_path_confirmed: false,
            privacy_policy: None,
            timezone: "UTC".into(),
            holiday_calendar: None,
            referrals_approved: false,
            further_requirements: Default::default(),
            removal: None,
        }
    }

    #[test]
    fn elig_1_every_path_and_tier_combination_that_exists_is_accepted() {
        for tier in [Tier::Registered, Tier::Select, Tier::Advanced, Tier::Premier] {
            assert_eq!(profile(PartnerPath::Consulting, tier).validate(), Ok(()));
        }
        for tier in [Tier::Registered, Tier::Select, Tier::Advanced] {
            assert_eq!(profile(PartnerPath::Technology, tier).validate(), Ok(()));
        }
        assert_eq!(profile(PartnerPath::Isv, Tier::Registered).validate(), Ok(()));
    }

    #[test]
    fn bad_combinations_are_clear_errors() {
        assert_eq!(profile(PartnerPath::Technology, Tier::Premier).validate(), Err(PartnerError::PremierOnlyForConsulting));
        assert_eq!(profile(PartnerPath::Isv, Tier::Premier).validate(), Err(PartnerError::PremierOnlyForConsulting));
        assert_eq!(profile(PartnerPath::Isv, Tier::Select).validate(), Err(PartnerError::IsvTier("select")));
        let mut p = profile(PartnerPath::Consulting, Tier::Select);
        p.timezone = "Mars/Olympus".into();
        assert!(matches!(p.validate(), Err(PartnerError::InvalidTimezone(_))));
        let mut p = profile(PartnerPath::Consulting, Tier::Select);
        p.id = "bad id".into();
        assert!(matches!(p.validate(), Err(PartnerError::InvalidId(_))));
        let mut p = profile(PartnerPath::Consulting, Tier::Select);
        p.privacy_policy = Some("ftp://x".into());
        assert!(matches!(p.validate(), Err(PartnerError::InvalidPrivacyPolicy(_))));
    }

    #[test]
    fn program_names_round_trip() {
        for p in Program::ALL {
            assert_eq!(Program::parse(p.as_str()), Some(p));
        }
        assert_eq!(Program::parse("bogus"), None);
    }

    #[test]
    fn rem_1_removal_scopes_and_reinstatement() {
        let mut p = profile(PartnerPath::Consulting, Tier::Select);
        let removal = |scope| Removal { scope, reason: None, at: crate::time::from_millis(0), by: "operator:admin".into() };
        let id = p.id.clone();
        assert_eq!(p.reinstate(RemovalScope::All), Err(RemovalError::NotRemoved(id.clone())));
        p.remove(removal(RemovalScope::Referrals)).unwrap();
        assert!(p.has_access(), "removed from referrals only: still in the program");
        p.remove(removal(RemovalScope::All)).unwrap();
        assert!(!p.has_access());
        assert_eq!(p.remove(removal(RemovalScope::Referrals)), Err(RemovalError::NarrowerThanCurrent(id.clone())));
        assert_eq!(p.reinstate(RemovalScope::Referrals), Err(RemovalError::ReinstateAllFirst(id)));
        assert_eq!(p.reinstate(RemovalScope::All).map(|r| r.scope), Ok(RemovalScope::All));
        assert!(p.has_access() && p.removal.is_none());
    }
}
