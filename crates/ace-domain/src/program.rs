//! The program as a whole: its termination (MOD-1) and its published support contact (USE-6).

use serde::{Deserialize, Serialize};

use crate::time::{format_timestamp, Instant};

/// MOD-1: the operator ends the program from `effective` on: no new submissions, no new
/// referrals; partners keep reading their own records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Termination {
    pub effective: Instant,
    pub reason: Option<String>,
    pub decided_at: Instant,
    pub decided_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramStatus {
    Active,
    TerminationScheduled,
    Terminated,
}

impl ProgramStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgramStatus::Active => "ACTIVE",
            ProgramStatus::TerminationScheduled => "TERMINATION_SCHEDULED",
            ProgramStatus::Terminated => "TERMINATED",
        }
    }
}

pub fn status(termination: Option<&Termination>, now: Instant) -> ProgramStatus {
    match termination {
        None => ProgramStatus::Active,
        Some(t) if t.effective <= now => ProgramStatus::Terminated,
        Some(_) => ProgramStatus::TerminationScheduled,
    }
}

/// Why a termination cannot be decided or called off as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerminationError {
    #[error("the effective date {0} is in the past; use \"now\", a later date, or backdate (audited)")]
    InPast(String),
    #[error("the program already ended on {0}")]
    AlreadyEnded(String),
    #[error("the program ended on {0}; a termination in effect cannot be called off")]
    InEffect(String),
}

/// MOD-1: may the program be terminated on `effective`? A date in the past needs `backdate`;
/// a program that has ended stays ended (a scheduled termination may be moved).
pub fn check_terminate(
    existing: Option<&Termination>,
    effective: Instant,
    now: Instant,
    backdate: bool,
) -> Result<(), TerminationError> {
    if effective < now && !backdate {
        return Err(TerminationError::InPast(format_timestamp(effective)));
    }
    match existing {
        Some(t) if t.effective <= now => Err(TerminationError::AlreadyEnded(format_timestamp(t.effective))),
        _ => Ok(()),
    }
}

/// Only a termination not yet in effect can be called off.
pub fn check_cancel(existing: &Termination, now: Instant) -> Result<(), TerminationError> {
    if existing.effective <= now {
        return Err(TerminationError::InEffect(format_timestamp(existing.effective)));
    }
    Ok(())
}

/// What a refused act is told once the program has ended.
pub fn terminated_message(t: &Termination, what: &str) -> String {
    format!("The ACE program was terminated effective {}: {what} are no longer accepted.", format_timestamp(t.effective))
}

/// USE-6: how partners reach the operator's support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportContact {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
}

impl SupportContact {
    pub fn validate(&self) -> Result<(), String> {
        let email = self.email.trim();
        let (local, domain) = email.split_once('@').unwrap_or(("", ""));
        if local.is_empty() || !domain.contains('.') || email.chars().any(char::is_whitespace) || email.len() > 254 {
            return Err(format!("support email {:?} is not an email address", self.email));
        }
        if let Some(phone) = &self.phone {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            if !(5..=20).contains(&digits) || !phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
                return Err(format!("support phone {phone:?} is not a phone number"));
            }
        }
        if let Some(url) = &self.url {
            if !url.starts_with("https://") || url.len() > 2048 || url.chars().any(char::is_whitespace) {
                return Err(format!("support URL {url:?} must be an https:// URL"));
            }
        }
        if self.hours.as_ref().is_some_and(|h| h.chars().count() > 200) {
            return Err("support hours must be at most 200 characters".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    #[test]
    fn mod_1_termination_takes_effect_on_its_date() {
        let t = Termination {
            effective: from_millis(10_000),
            reason: None,
            decided_at: from_millis(0),
            decided_by: "operator:admin".into(),
        };
        assert_eq!(status(None, from_millis(0)), ProgramStatus::Active);
        assert_eq!(status(Some(&t), from_millis(9_999)), ProgramStatus::TerminationScheduled);
        assert_eq!(status(Some(&t), from_millis(10_000)), ProgramStatus::Terminated);
        assert!(terminated_message(&t, "submissions").contains("1970-01-01T00:00:10"));
        assert_eq!(
            check_terminate(None, from_millis(5), from_millis(10), false),
            Err(TerminationError::InPast("1970-01-01T00:00:00.005Z".into()))
        );
        assert_eq!(check_terminate(None, from_millis(5), from_millis(10), true), Ok(()));
        assert_eq!(check_terminate(Some(&t), from_millis(20_000), from_millis(9_000), false), Ok(()), "a scheduled one may move");
        assert!(matches!(
            check_terminate(Some(&t), from_millis(20_000), from_millis(10_000), false),
            Err(TerminationError::AlreadyEnded(_))
        ));
        assert_eq!(check_cancel(&t, from_millis(9_999)), Ok(()));
        assert!(matches!(check_cancel(&t, from_millis(10_000)), Err(TerminationError::InEffect(_))));
    }

    #[test]
    fn use_6_support_contact_is_checked() {
        let ok = SupportContact {
            email: "ace-support@example.com".into(),
            phone: Some("+1 (206) 555-0100".into()),
            url: Some("https://example.com/support".into()),
            hours: None,
        };
        assert_eq!(ok.validate(), Ok(()));
        for bad in [
            SupportContact { email: "nobody".into(), ..ok.clone() },
            SupportContact { phone: Some("call us".into()), ..ok.clone() },
            SupportContact { url: Some("http://example.com".into()), ..ok.clone() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
