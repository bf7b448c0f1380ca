//! Customer Engagement Referrals (REF-1 … REF-5, REF-7, REM-2, REM-3): a lead or opportunity
//! the operator refers to a partner, seen by the partner as an engagement invitation from `aws`.
//!
//! The invitation never carries the customer's contact: that arrives only in the opportunity
//! the partner creates by accepting. Every transition is a pure function handed `now`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::Catalog;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferralKind {
    Lead,
    Opportunity,
}

impl ReferralKind {
    /// The origin of the partner opportunity a referral becomes. An opportunity referral is one
    /// the operator already validated (`AWS Referral`: not submitted again). A lead is not an
    /// opportunity yet: the partner qualifies it, and the opportunity it makes of it is the
    /// partner's to submit for validation like any other (issue 18's lead walkthrough).
    pub fn opportunity_origin(self) -> crate::opportunity::Origin {
        match self {
            ReferralKind::Lead => crate::opportunity::Origin::PartnerReferral,
            ReferralKind::Opportunity => crate::opportunity::Origin::AwsReferral,
        }
    }

    pub fn payload_type(self) -> &'static str {
        match self {
            ReferralKind::Lead => "LeadInvitation",
            ReferralKind::Opportunity => "OpportunityInvitation",
        }
    }
}

/// `InvitationStatus`, plus `Revoked`, which the partner never sees: to it a revoked referral
/// does not exist (REF-3, REM-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReferralStatus {
    Pending,
    Accepted,
    Rejected,
    Expired,
    Revoked,
}

impl ReferralStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralStatus::Pending => "PENDING",
            ReferralStatus::Accepted => "ACCEPTED",
            ReferralStatus::Rejected => "REJECTED",
            ReferralStatus::Expired => "EXPIRED",
            ReferralStatus::Revoked => "REVOKED",
        }
    }

    /// Visible to the partner at all (rejected, expired and revoked referrals are gone).
    pub fn visible_to_partner(self) -> bool {
        matches!(self, ReferralStatus::Pending | ReferralStatus::Accepted)
    }
}

/// The customer's contact person: the data REF-1 protects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReferralContact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralCustomer {
    pub company_name: String,
    pub website: String,
    pub country: String,
    pub industry: Option<String>,
}

/// REF-2: how the partner reached the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactChannel {
    Email,
    Phone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub channel: ContactChannel,
    pub contacted_at: Instant,
    pub recorded_by: String,
    pub recorded_at: Instant,
    pub note: Option<String>,
}

/// REM-3: why the partner may keep the data after a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionReason {
    CustomerPermission,
    IndependentSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionAttestation {
    pub reason: RetentionReason,
    pub evidence: String,
    pub attested_by: String,
    pub attested_at: Instant,
}

/// What happens when a contact deadline passes unmet (the program says it "may" be revoked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MissedDeadlinePolicy {
    #[default]
    Revoke,
    /// Keep it and flag it for the operator's decision.
    Flag,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// `engi-…`: the invitation id the partner sees.
    pub id: String,
    /// `eng-…`
    pub engagement_id: String,
    pub catalog: Catalog,
    pub partner_id: String,
    pub kind: ReferralKind,
    pub customer: ReferralCustomer,
    pub title: Option<String>,
    pub problem: Option<String>,
    pub contact: ReferralContact,
    pub status: ReferralStatus,
    pub provided_at: Instant,
    pub expires_at: Instant,
    /// REF-3: when the customer must have been contacted.
    pub contact_deadline: Instant,
    pub accepted_at: Option<Instant>,
    pub rejection_reason: Option<String>,
    /// The partner opportunity created by accepting it.
    pub opportunity_id: Option<String>,
    pub contact_record: Option<ContactRecord>,
    pub reminders_sent: Vec<Instant>,
    /// Flagged for the operator when the deadline passed under the `flag` policy.
    pub flagged_at: Option<Instant>,
    pub revoked_at: Option<Instant>,
    pub revocation_reason: Option<String>,
    pub retention: Option<RetentionAttestation>,
    /// The last partner write on the referral or its opportunity (REF-7).
    pub last_partner_update: Option<Instant>,
    /// The Sandbox simulator's referral: the id `CreateOpportunity` answered, which the
    /// opportunity takes when the invitation is accepted.
    #[serde(default)]
    pub reserved_opportunity_id: Option<String>,
    /// The Sandbox simulator's referral: the whole `CreateOpportunity` document it was
    /// simulated from, which the invitation shows and the accepted opportunity keeps (issue 22).
    /// Customer data: sealed with the referral and shredded with it (REM-2).
    #[serde(default)]
    pub simulated: Option<serde_json::Map<String, serde_json::Value>>,
    /// Optimistic-concurrency version, kept by the store: a sweep on several nodes acts once.
    #[serde(default)]
    pub version: i64,
    /// REM-2: the customer data was destroyed (crypto-shredded); those fields read blank.
    #[serde(default)]
    pub data_deleted: bool,
}

/// REF-5: a suppressed contact or company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// `email:<sha256>` or `domain:<registrable domain>`.
    pub key: String,
    pub referral_id: String,
    pub partner_id: String,
    pub received_at: Instant,
    pub channel: String,
    pub recorded_at: Instant,
}

/// REF-1: one read of referral contact data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRead {
    pub referral_id: String,
    pub partner_id: String,
    pub actor: String,
    pub at: Instant,
    pub what: String,
}

/// What the operator refers: to whom, what, and the customer's contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRequest {
    pub partner_id: String,
    pub catalog: Catalog,
    pub kind: ReferralKind,
    pub customer: ReferralCustomer,
    pub title: Option<String>,
    pub problem: Option<String>,
    pub contact: ReferralContact,
}

impl ReferralRequest {
    /// REF-5: the keys a suppression of this contact or company is stored under.
    pub fn suppression_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(email) = &self.contact.email {
            keys.push(email_suppression_key(email));
        }
        keys.extend(domain_suppression_key(&self.customer.website));
        keys.into_iter().map(|k| scoped_suppression_key(self.catalog, &self.partner_id, &k)).collect()
    }
}

/// REF-5, USE-4: where a suppression lives. In the `AWS` catalog the list is the program's,
/// consulted for every partner's referrals. In the `Sandbox` it is the partner's own: a
/// simulated opt-out never suppresses a real customer, and a simulated referral never reveals
/// that a customer opted out of another partner's outreach.
pub fn scoped_suppression_key(catalog: Catalog, partner_id: &str, key: &str) -> String {
    match catalog {
        Catalog::Aws => key.to_string(),
        Catalog::Sandbox => format!("sandbox:{partner_id}:{key}"),
    }
}

/// The ids a new referral is known by: the invitation (`engi-…`) and engagement (`eng-…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralIds {
    pub invitation: String,
    pub engagement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferralError {
    #[error("the invitation is {0}; only a PENDING invitation can be accepted or rejected")]
    NotPending(&'static str),
    #[error("REF-2: contact is by email or phone only; {0:?} is not allowed")]
    ChannelNotAllowed(String),
    #[error("REF-2: the contact must be made in the partner's own name (ActingInOwnName must be true)")]
    NotInOwnName,
    #[error("the contact time {0} is before the referral was provided")]
    ContactBeforeReferral(String),
    #[error("the contact time {0} is in the future")]
    ContactInFuture(String),
    #[error("accept the invitation before recording a contact")]
    NotAccepted,
    #[error("a rejection reason is required in the AWS catalog")]
    ReasonRequired,
    #[error("the referral is already {0}")]
    NotOpen(&'static str),
}

/// What a revocation leaves (REM-2, REM-3), decided by [`Referral::revoke`].
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    /// The referral as it is kept: revoked, when and why, its customer data gone — only the
    /// record of what was deleted remains (REM-2).
    pub referral: Referral,
    /// REM-3: the partner attested it may keep the data, so the opportunity made from the
    /// referral stays with it; otherwise it is deleted with the referral (REM-2).
    pub keeps_opportunity: bool,
}

/// REF-2: parses a channel; anything but email or phone is refused, citing the rule.
pub fn parse_channel(s: &str) -> Result<ContactChannel, ReferralError> {
    match s {
        "Email" => Ok(ContactChannel::Email),
        "Phone" => Ok(ContactChannel::Phone),
        other => Err(ReferralError::ChannelNotAllowed(other.to_string())),
    }
}

impl Referral {
    /// REM-2: the referral as kept after its customer data was destroyed: ids, status,
    /// deadlines and reasons (the deletion record), and nothing about the customer.
    pub fn without_customer_data(&self) -> Referral {
        Referral {
            customer: ReferralCustomer {
                company_name: String::new(),
                website: String::new(),
                country: String::new(),
                industry: None,
            },
            contact: ReferralContact { name: None, email: None, phone: None, title: None },
            title: None,
            problem: None,
            contact_record: self.contact_record.clone().map(|c| ContactRecord { note: None, ..c }),
            simulated: None,
            data_deleted: true,
            ..self.clone()
        }
    }

    /// A new referral as it starts: PENDING, nothing recorded yet.
    pub fn pending(
        request: ReferralRequest,
        ids: ReferralIds,
        provided_at: Instant,
        expires_at: Instant,
        contact_deadline: Instant,
    ) -> Referral {
        Referral {
            id: ids.invitation,
            engagement_id: ids.engagement,
            catalog: request.catalog,
            partner_id: request.partner_id,
            kind: request.kind,
            customer: request.customer,
            title: request.title,
            problem: request.problem,
            contact: request.contact,
            status: ReferralStatus::Pending,
            provided_at,
            expires_at,
            contact_deadline,
            accepted_at: None,
            rejection_reason: None,
            opportunity_id: None,
            contact_record: None,
            reminders_sent: vec![],
            flagged_at: None,
            revoked_at: None,
            revocation_reason: None,
            retention: None,
            last_partner_update: None,
            reserved_opportunity_id: None,
            simulated: None,
            version: 0,
            data_deleted: false,
        }
    }

    pub fn accept(&mut self, now: Instant) -> Result<(), ReferralError> {
        if self.status != ReferralStatus::Pending {
            return Err(ReferralError::NotPending(self.status.as_str()));
        }
        self.status = ReferralStatus::Accepted;
        self.accepted_at = Some(now);
        self.last_partner_update = Some(now);
        Ok(())
    }

    pub fn reject(&mut self, reason: Option<String>, now: Instant) -> Result<(), ReferralError> {
        if self.status != ReferralStatus::Pending {
            return Err(ReferralError::NotPending(self.status.as_str()));
        }
        if self.catalog == Catalog::Aws && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(ReferralError::ReasonRequired);
        }
        self.status = ReferralStatus::Rejected;
        self.rejection_reason = reason;
        self.last_partner_update = Some(now);
        Ok(())
    }

    /// REF-3, REM-1, REM-2, REM-3: revokes an open referral at `now` for `reason`. Its customer
    /// data goes, and the opportunity made from it too unless the partner attested it may keep
    /// the data. A referral no longer open (rejected, expired, revoked) cannot be revoked.
    pub fn revoke(&self, now: Instant, reason: &str) -> Result<Revocation, ReferralError> {
        if !self.status.visible_to_partner() {
            return Err(ReferralError::NotOpen(self.status.as_str()));
        }
        let mut revoked = self.clone();
        revoked.status = ReferralStatus::Revoked;
        revoked.revoked_at = Some(now);
        revoked.revocation_reason = Some(reason.to_string());
        Ok(Revocation { referral: revoked.without_customer_data(), keeps_opportunity: self.retention.is_some() })
    }

    /// REF-3: the referral once the sweep's `action` (from [`due_action`]) is applied at `now`:
    /// flagged, expired or reminded. A revocation is [`Referral::revoke`]'s (it takes more than
    /// the referral), so `Revoke` leaves it as it is.
    pub fn after(&self, action: DueAction, now: Instant) -> Referral {
        let mut next = self.clone();
        match action {
            DueAction::Flag => next.flagged_at = Some(now),
            DueAction::Expire => next.status = ReferralStatus::Expired,
            DueAction::Remind => next.reminders_sent.push(now),
            DueAction::Revoke => {}
        }
        next
    }

    /// REF-2: records the partner's contact with the customer.
    pub fn record_contact(
        &mut self,
        channel: ContactChannel,
        contacted_at: Instant,
        acting_in_own_name: bool,
        by: &str,
        note: Option<String>,
        now: Instant,
    ) -> Result<(), ReferralError> {
        if self.status != ReferralStatus::Accepted {
            return Err(ReferralError::NotAccepted);
        }
        if !acting_in_own_name {
            return Err(ReferralError::NotInOwnName);
        }
        if contacted_at < self.provided_at {
            return Err(ReferralError::ContactBeforeReferral(crate::time::format_timestamp(contacted_at)));
        }
        if contacted_at > now {
            return Err(ReferralError::ContactInFuture(crate::time::format_timestamp(contacted_at)));
        }
        self.contact_record = Some(ContactRecord { channel, contacted_at, recorded_by: by.into(), recorded_at: now, note });
        self.last_partner_update = Some(now);
        Ok(())
    }

    /// REF-3: has the customer been contacted in time?
    pub fn contact_met(&self) -> bool {
        self.contact_record.as_ref().is_some_and(|c| c.contacted_at <= self.contact_deadline)
    }
}

/// REF-3 across referrals, for the operator's dashboard: of the referrals whose contact was
/// due by `now` (or that were contacted earlier), how many were contacted in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactCompliance {
    /// Referrals whose deadline has passed, or that were contacted before it.
    pub due: u32,
    pub contacted_in_time: u32,
    pub revoked: u32,
}

impl ContactCompliance {
    pub fn of<'a>(referrals: impl IntoIterator<Item = &'a Referral>, now: Instant) -> ContactCompliance {
        let mut c = ContactCompliance::default();
        for r in referrals {
            if r.status == ReferralStatus::Revoked {
                c.revoked += 1;
            }
            // Rejected and expired referrals were never the partner's to contact.
            if matches!(r.status, ReferralStatus::Rejected | ReferralStatus::Expired) {
                continue;
            }
            let met = r.contact_met();
            if met || (r.contact_deadline <= now && r.status != ReferralStatus::Pending) || r.status == ReferralStatus::Revoked {
                c.due += 1;
                c.contacted_in_time += u32::from(met);
            }
        }
        c
    }

    /// The share contacted in time, in percent; `None` before anything was due.
    pub fn percent(&self) -> Option<u32> {
        (self.due > 0).then(|| self.contacted_in_time * 100 / self.due)
    }
}

/// What a due-date sweep must do with a referral at `now`, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueAction {
    /// REF-3: the deadline passed without a contact: revoke.
    Revoke,
    /// REF-3 under the `flag` policy: flag it for the operator.
    Flag,
    /// PENDING past its acceptance window.
    Expire,
    /// A reminder before the deadline.
    Remind,
}

/// REF-3: the earliest moment the sweep may have something to do with this referral, whatever
/// the reminder offset (the sweep looks that far ahead); `None` when it never will. The store
/// indexes it, so a sweep reads only referrals that may be due, not every open one.
pub fn sweep_after(r: &Referral) -> Option<Instant> {
    if !r.status.visible_to_partner() {
        return None;
    }
    let expiry = (r.status == ReferralStatus::Pending).then_some(r.expires_at);
    let deadline = (r.contact_record.is_none() && r.flagged_at.is_none()).then_some(r.contact_deadline);
    match (deadline, expiry) {
        (Some(d), Some(e)) => Some(d.min(e)),
        (d, e) => d.or(e),
    }
}

/// REF-3: business days the partner has to contact the customer.
pub const CONTACT_BUSINESS_DAYS: u32 = 3;
/// How long an invitation waits for an answer unless the operator sets otherwise.
pub const ACCEPTANCE_DAYS_DEFAULT: i64 = 15;
/// How long before the contact deadline the partner is reminded, unless the operator sets otherwise.
pub const REMINDER_HOURS_DEFAULT: i64 = 24;

pub fn due_action(
    r: &Referral,
    now: Instant,
    policy: MissedDeadlinePolicy,
    reminder_before: chrono::TimeDelta,
) -> Option<DueAction> {
    if !r.status.visible_to_partner() {
        return None;
    }
    if r.contact_record.is_none() && now >= r.contact_deadline {
        return match policy {
            MissedDeadlinePolicy::Revoke => Some(DueAction::Revoke),
            MissedDeadlinePolicy::Flag if r.flagged_at.is_none() => Some(DueAction::Flag),
            MissedDeadlinePolicy::Flag => None,
        };
    }
    if r.status == ReferralStatus::Pending && now >= r.expires_at {
        return Some(DueAction::Expire);
    }
    if r.contact_record.is_none() && r.reminders_sent.is_empty() && now >= r.contact_deadline - reminder_before {
        return Some(DueAction::Remind);
    }
    None
}

/// REF-5: the suppression key of a contact's e-mail (hashed, never stored in the clear).
pub fn email_suppression_key(email: &str) -> String {
    format!("email:{}", hex(&Sha256::digest(email.trim().to_lowercase().as_bytes())))
}

/// REF-5: the suppression key of a company, by its registrable domain.
pub fn domain_suppression_key(website: &str) -> Option<String> {
    crate::identity::registrable_domain(website).map(|d| format!("domain:{d}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// REF-4: the outreach text a partner may use, in its own name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutreachTemplate {
    pub email_subject: String,
    pub email_body: String,
    pub phone_script: String,
}

pub fn outreach_template(
    partner_name: &str,
    operator_name: &str,
    customer: &str,
    unsubscribe_links: &[String],
) -> OutreachTemplate {
    let links = unsubscribe_links.join("\n");
    OutreachTemplate {
        email_subject: format!("{partner_name}: following up on your interest"),
        email_body: format!(
            "Hello,\n\nI am writing from {partner_name}. {operator_name} referred {customer} to us because you expressed interest in help with your cloud plans. \
             We are an independent company and contact you in our own name, not on {operator_name}'s behalf.\n\n\
             If you would like to talk, just reply to this e-mail. If you do not want to hear from us, tell us and we will not contact you again.\n\n\
             To manage the communications you receive from {operator_name}:\n{links}\n\nBest regards,\n{partner_name}"
        ),
        phone_script: format!(
            "Hello, this is <name> calling from {partner_name}. {operator_name} referred you to us as a partner who can help with your cloud plans. \
             We are an independent company calling in our own name, not on {operator_name}'s behalf. Is now a good time? \
             If you prefer not to be contacted, I will make sure we do not call again, and I can tell you how to manage the communications you receive from {operator_name}."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};

    fn t(d: u32, h: u32) -> Instant {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    fn referral() -> Referral {
        let request = ReferralRequest {
            partner_id: "P".into(),
            catalog: Catalog::Aws,
            kind: ReferralKind::Opportunity,
            customer: ReferralCustomer {
                company_name: "Acme".into(),
                website: "https://acme.com".into(),
                country: "US".into(),
                industry: None,
            },
            title: None,
            problem: None,
            contact: ReferralContact { email: Some("jane@acme.com".into()), ..Default::default() },
        };
        let ids = ReferralIds { invitation: "engi-0000000000001".into(), engagement: "eng-00000000000001".into() };
        Referral::pending(request, ids, t(23, 10), t(23, 10) + TimeDelta::days(15), t(27, 0))
    }

    #[test]
    fn a_lead_becomes_the_partners_opportunity_to_submit_an_opportunity_referral_is_validated_already() {
        use crate::opportunity::Origin;
        assert_eq!(ReferralKind::Lead.opportunity_origin(), Origin::PartnerReferral);
        assert_eq!(ReferralKind::Opportunity.opportunity_origin(), Origin::AwsReferral);
    }

    /// REM-2, REM-3: a revoked referral keeps only the record of what was deleted; the
    /// opportunity made from it goes unless the partner attested it may keep the data; a
    /// referral no longer open is not revoked again.
    #[test]
    fn rem_2_rem_3_revocation_keeps_the_record_and_the_opportunity_only_under_an_attestation() {
        let mut r = referral();
        r.accept(t(23, 11)).unwrap();
        let gone = r.revoke(t(28, 0), "REF-3: not contacted").unwrap();
        assert_eq!((gone.referral.status, gone.referral.revoked_at), (ReferralStatus::Revoked, Some(t(28, 0))));
        assert_eq!(gone.referral.revocation_reason.as_deref(), Some("REF-3: not contacted"));
        assert!(
            gone.referral.data_deleted && gone.referral.contact.email.is_none() && gone.referral.customer.company_name.is_empty()
        );
        assert!(!gone.keeps_opportunity, "REM-2: the opportunity goes with it");
        r.retention = Some(RetentionAttestation {
            reason: RetentionReason::CustomerPermission,
            evidence: "signed consent on file".into(),
            attested_by: "alice".into(),
            attested_at: t(24, 0),
        });
        assert!(r.revoke(t(28, 0), "removed").unwrap().keeps_opportunity, "REM-3: attested, the opportunity stays");
        assert_eq!(gone.referral.revoke(t(29, 0), "again"), Err(ReferralError::NotOpen("REVOKED")));
    }

    /// REF-3: the sweep's outcomes, applied by the domain.
    #[test]
    fn ref_3_due_actions_applied() {
        let r = referral();
        assert_eq!(r.after(DueAction::Flag, t(28, 0)).flagged_at, Some(t(28, 0)));
        assert_eq!(r.after(DueAction::Expire, t(28, 0)).status, ReferralStatus::Expired);
        assert_eq!(r.after(DueAction::Remind, t(26, 0)).reminders_sent, vec![t(26, 0)]);
        assert_eq!(r.after(DueAction::Revoke, t(28, 0)), r, "a revocation is revoke()'s");
    }

    #[test]
    fn ref_2_contact_is_by_email_or_phone_in_own_name() {
        assert_eq!(parse_channel("Email"), Ok(ContactChannel::Email));
        assert_eq!(parse_channel("Phone"), Ok(ContactChannel::Phone));
        for bad in ["LinkedIn", "InPerson", "email", ""] {
            let e = parse_channel(bad).unwrap_err();
            assert!(e.to_string().starts_with("REF-2"), "{e}");
        }
        let mut r = referral();
        assert_eq!(
            r.record_contact(ContactChannel::Email, t(24, 9), true, "alice", None, t(24, 10)),
            Err(ReferralError::NotAccepted)
        );
        r.accept(t(23, 12)).unwrap();
        assert_eq!(
            r.record_contact(ContactChannel::Email, t(24, 9), false, "alice", None, t(24, 10)),
            Err(ReferralError::NotInOwnName)
        );
        assert!(matches!(
            r.record_contact(ContactChannel::Email, t(22, 9), true, "alice", None, t(24, 10)),
            Err(ReferralError::ContactBeforeReferral(_))
        ));
        assert!(matches!(
            r.record_contact(ContactChannel::Email, t(25, 9), true, "alice", None, t(24, 10)),
            Err(ReferralError::ContactInFuture(_))
        ));
        r.record_contact(ContactChannel::Phone, t(24, 9), true, "alice", Some("left a message".into()), t(24, 10)).unwrap();
        assert!(r.contact_met());
    }

    #[test]
    fn ref_3_due_actions_in_order() {
        let remind = TimeDelta::hours(24);
        let mut r = referral();
        assert_eq!(due_action(&r, t(24, 0), MissedDeadlinePolicy::Revoke, remind), None);
        assert_eq!(due_action(&r, t(26, 1), MissedDeadlinePolicy::Revoke, remind), Some(DueAction::Remind));
        r.reminders_sent.push(t(26, 1));
        assert_eq!(due_action(&r, t(26, 2), MissedDeadlinePolicy::Revoke, remind), None);
        assert_eq!(due_action(&r, t(27, 0), MissedDeadlinePolicy::Revoke, remind), Some(DueAction::Revoke));
        assert_eq!(due_action(&r, t(27, 0), MissedDeadlinePolicy::Flag, remind), Some(DueAction::Flag));
        r.flagged_at = Some(t(27, 0));
        assert_eq!(due_action(&r, t(28, 0), MissedDeadlinePolicy::Flag, remind), None, "flagged once");
        let mut contacted = referral();
        contacted.accept(t(23, 11)).unwrap();
        contacted.record_contact(ContactChannel::Email, t(24, 9), true, "a", None, t(24, 9)).unwrap();
        assert_eq!(due_action(&contacted, t(30, 0), MissedDeadlinePolicy::Revoke, remind), None);
        // a PENDING invitation whose acceptance window closes before its contact deadline expires
        let mut expired = referral();
        expired.contact_deadline = expired.expires_at + TimeDelta::days(1);
        assert_eq!(due_action(&expired, expired.expires_at, MissedDeadlinePolicy::Revoke, remind), Some(DueAction::Expire));
    }

    #[test]
    fn accept_and_reject_only_when_pending() {
        let mut r = referral();
        assert_eq!(r.reject(None, t(23, 11)), Err(ReferralError::ReasonRequired));
        r.reject(Some("Unable to support".into()), t(23, 11)).unwrap();
        assert_eq!(r.accept(t(23, 12)), Err(ReferralError::NotPending("REJECTED")));
        let mut sandbox = referral();
        sandbox.catalog = Catalog::Sandbox;
        assert!(sandbox.reject(None, t(23, 11)).is_ok(), "the reason is optional outside the AWS catalog");
    }

    #[test]
    fn ref_5_sandbox_suppressions_are_the_partners_own_and_never_the_programs() {
        let program = email_suppression_key("jane@example.com");
        assert_eq!(scoped_suppression_key(Catalog::Aws, "P-A", &program), program);
        let a = scoped_suppression_key(Catalog::Sandbox, "P-A", &program);
        let b = scoped_suppression_key(Catalog::Sandbox, "P-B", &program);
        assert_ne!(a, program);
        assert_ne!(a, b);
    }

    #[test]
    fn ref_5_suppression_keys_hash_emails_and_use_registrable_domains() {
        let key = email_suppression_key(" Jane@Acme.com ");
        assert_eq!(key, email_suppression_key("jane@acme.com"));
        assert!(!key.contains("jane"));
        assert_eq!(domain_suppression_key("https://www.shop.acme.co.uk/x").as_deref(), Some("domain:acme.co.uk"));
    }

    #[test]
    fn ref_4_outreach_text_states_own_name_and_links() {
        let t = outreach_template(
            "Acme Cloud",
            "AWS",
            "Example Corp",
            &["https://pages.awscloud.com/communication-preferences.html".into()],
        );
        assert!(t.email_body.contains("in our own name, not on AWS's behalf"));
        assert!(t.email_body.contains("referred"));
        assert!(t.email_body.contains("communication-preferences"));
        assert!(t.phone_script.contains("own name"));
    }

    #[test]
    fn ref_3_sweep_after_is_the_next_deadline_or_never() {
        let r = referral();
        assert_eq!(sweep_after(&r), Some(r.contact_deadline.min(r.expires_at)));
        let contacted = Referral {
            contact_record: Some(ContactRecord {
                channel: ContactChannel::Email,
                contacted_at: r.provided_at,
                recorded_by: "alice".into(),
                recorded_at: r.provided_at,
                note: None,
            }),
            status: ReferralStatus::Accepted,
            ..r.clone()
        };
        assert_eq!(sweep_after(&contacted), None, "accepted and contacted: nothing left to sweep");
        let flagged = Referral { status: ReferralStatus::Accepted, flagged_at: Some(r.contact_deadline), ..r.clone() };
        assert_eq!(sweep_after(&flagged), None, "flagged once, not again");
        let revoked = Referral { status: ReferralStatus::Revoked, ..r.clone() };
        assert_eq!(sweep_after(&revoked), None);
    }

    #[test]
    fn ref_3_contact_compliance_counts_what_was_due() {
        let now = t(30, 0);
        let mut in_time = referral();
        in_time.accept(t(23, 12)).unwrap();
        in_time.record_contact(ContactChannel::Email, t(24, 9), true, "alice", None, t(24, 10)).unwrap();
        let mut late = referral();
        late.accept(t(23, 12)).unwrap();
        late.record_contact(ContactChannel::Phone, t(28, 9), true, "alice", None, t(28, 10)).unwrap();
        let mut revoked = referral();
        revoked.status = ReferralStatus::Revoked;
        let pending = referral();
        let mut rejected = referral();
        rejected.status = ReferralStatus::Rejected;
        let mut not_yet_due = referral();
        not_yet_due.accept(t(23, 12)).unwrap();
        not_yet_due.contact_deadline = t(30, 12);
        let all = [in_time, late, revoked, pending, rejected, not_yet_due];
        let c = ContactCompliance::of(&all, now);
        assert_eq!(c, ContactCompliance { due: 3, contacted_in_time: 1, revoked: 1 });
        assert_eq!(c.percent(), Some(33));
        assert_eq!(ContactCompliance::of(&[], now).percent(), None);
    }
}
