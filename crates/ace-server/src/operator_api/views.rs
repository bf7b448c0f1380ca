//! The operator API's answers as types: each is `Serialize` for the wire and `ToSchema` for
//! the OpenAPI document, so the document states what a response holds and cannot drift from it.

use serde::Serialize;
use utoipa::ToSchema;

use ace_domain::events::OutboxEvent;
use ace_domain::partner::PartnerProfile;
use ace_domain::quota::QuotaLimits;
use ace_domain::time::{format_timestamp, from_millis};
use ace_store::{AccessKeyRecord, SolutionRecord, UserRecord};

#[derive(Serialize, ToSchema)]
pub struct Partners {
    pub partners: Vec<PartnerProfile>,
}

/// A user of a partner (its secret is never shown again).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub partner_id: String,
    pub name: String,
    pub access_key_id: String,
    /// `active` or `disabled`.
    pub status: &'static str,
    pub created: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> UserView {
        UserView {
            partner_id: u.partner_id.clone(),
            name: u.name.clone(),
            access_key_id: u.access_key_id.clone(),
            status: u.status.as_str(),
            created: format_timestamp(from_millis(u.created_ms)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Users {
    pub users: Vec<UserView>,
}

/// A key pair as issued (USE-1): the secret is shown this once. With a portal sign-in, its
/// e-mail, and the invitation link's token when the user chooses a password by invitation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPair {
    pub partner_id: String,
    pub user_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_expires: Option<String>,
}

impl KeyPair {
    pub fn new(partner_id: &str, user_name: &str, access_key_id: String, secret_access_key: String) -> KeyPair {
        KeyPair {
            partner_id: partner_id.to_string(),
            user_name: user_name.to_string(),
            access_key_id,
            secret_access_key,
            email: None,
            invitation_token: None,
            invitation_expires: None,
        }
    }
}

/// An access key with its status and last use (USE-1).
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub access_key_id: String,
    pub status: &'static str,
    pub created: String,
    pub last_used: Option<String>,
}

impl From<&AccessKeyRecord> for KeyView {
    fn from(k: &AccessKeyRecord) -> KeyView {
        KeyView {
            access_key_id: k.access_key_id.clone(),
            status: k.status.as_str(),
            created: format_timestamp(from_millis(k.created_ms)),
            last_used: k.last_used_ms.map(|t| format_timestamp(from_millis(t))),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Keys {
    pub keys: Vec<KeyView>,
}

/// What a deletion removed.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: String,
}

#[derive(Serialize, ToSchema)]
pub struct SolutionView {
    pub id: String,
    pub catalog: &'static str,
    pub partner_id: String,
    pub name: String,
    pub category: String,
    pub status: String,
    pub created: String,
}

impl From<&SolutionRecord> for SolutionView {
    fn from(s: &SolutionRecord) -> SolutionView {
        SolutionView {
            id: s.id.clone(),
            catalog: s.catalog.as_str(),
            partner_id: s.partner_id.clone(),
            name: s.name.clone(),
            category: s.category.clone(),
            status: s.status.clone(),
            created: format_timestamp(from_millis(s.created_ms)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Solutions {
    pub solutions: Vec<SolutionView>,
}

/// The program clock; after an advance, the jobs that ran because it moved.
#[derive(Serialize, ToSchema)]
pub struct ClockView {
    pub now: String,
    pub test_clock: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_run: Option<Vec<String>>,
}

/// A limit: a number per second or day, or `"unlimited"`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Limit {
    Count(u32),
    #[schema(value_type = String)]
    Unlimited(&'static str),
}

impl From<Option<u32>> for Limit {
    fn from(v: Option<u32>) -> Limit {
        v.map_or(Limit::Unlimited("unlimited"), Limit::Count)
    }
}

/// USE-5: the limits in force for a partner (or for every partner: scope `default`), and where
/// they come from: `partner`, `default` or `built-in`.
#[derive(Serialize, ToSchema)]
pub struct QuotaView {
    pub scope: String,
    pub source: &'static str,
    pub reads_per_second: Limit,
    pub writes_per_second: Limit,
    pub reads_per_day: Limit,
    pub writes_per_day: Limit,
}

impl QuotaView {
    pub fn new(scope: &str, limits: &QuotaLimits, source: &'static str) -> QuotaView {
        QuotaView {
            scope: scope.to_string(),
            source,
            reads_per_second: limits.reads_per_second.into(),
            writes_per_second: limits.writes_per_second.into(),
            reads_per_day: limits.reads_per_day.into(),
            writes_per_day: limits.writes_per_day.into(),
        }
    }
}

/// One event of the outbox, as partners' integrations receive it.
#[derive(Serialize, ToSchema)]
pub struct EventItem {
    pub seq: i64,
    pub partner_id: String,
    /// The EventBridge envelope.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

impl From<(i64, OutboxEvent)> for EventItem {
    fn from((seq, e): (i64, OutboxEvent)) -> EventItem {
        EventItem { seq, partner_id: e.partner_id, event: e.envelope }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Events {
    pub events: Vec<EventItem>,
}

/// Operator staff who sign in to the console; the invitation's token when they choose a
/// password by invitation.
#[derive(Serialize, ToSchema)]
pub struct StaffView {
    pub email: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_expires: Option<String>,
}

/// Issue 22: a partner's standing attestation, and whether the policy lets submissions rely on it.
#[derive(Serialize, ToSchema)]
pub struct StandingView {
    pub partner: String,
    #[schema(value_type = Option<Object>)]
    pub standing_attestation: Option<ace_domain::submission::StandingAttestation>,
    pub policy_allows: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Withdrawn {
    pub partner: String,
    /// Whether there was one to withdraw.
    pub withdrawn: bool,
}

/// SUB-4: a published consent statement version (it never changes).
#[derive(Serialize, ToSchema)]
pub struct StatementView {
    pub version: String,
    pub text: String,
    pub published_at: String,
}

impl From<&ace_store::ConsentStatement> for StatementView {
    fn from(s: &ace_store::ConsentStatement) -> StatementView {
        StatementView {
            version: s.version.clone(),
            text: s.text.clone(),
            published_at: format_timestamp(from_millis(s.published_ms)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Statements {
    pub statements: Vec<StatementView>,
}

/// Records refused by an import, each by its index in the request.
#[derive(Serialize, ToSchema)]
pub struct Refusal {
    pub index: usize,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Imported {
    pub inserted: usize,
    pub updated: usize,
    pub errors: Vec<Refusal>,
}

/// SUB-2: the operator's own pipeline.
#[derive(Serialize, ToSchema)]
pub struct Pipeline {
    pub records: Vec<ace_domain::identity::PipelineRecord>,
}

/// The review and referral settings in force.
#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    pub auto_reject_already_pursued: bool,
    /// `allowed` or `not-allowed` (issue 22).
    pub standing_attestation: &'static str,
    /// `revoke` or `flag` (REF-3).
    pub referral_missed_deadline_policy: String,
    pub referral_acceptance_days: i64,
    pub referral_reminder_hours: i64,
    pub referral_unsubscribe_links: Vec<String>,
}

/// A written backup.
#[derive(Serialize, ToSchema)]
pub struct Backup {
    pub path: String,
    pub bytes: u64,
}

/// REM-1: a reinstatement, and what it does not bring back.
#[derive(Serialize, ToSchema)]
pub struct Reinstated {
    pub partner: String,
    /// The scope the partner was reinstated from: `referrals` or `all`.
    pub reinstated: &'static str,
    pub not_restored: &'static str,
}

/// MOD-1: the program's status after a termination or its cancellation.
#[derive(Serialize, ToSchema)]
pub struct ProgramStatus {
    /// `ACTIVE`, `TERMINATING` or `TERMINATED`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<String>,
}

/// USE-2, USE-3: a block or lockout.
#[derive(Serialize, ToSchema)]
pub struct SecurityEventView {
    pub at: String,
    pub subject: String,
    pub signal: &'static str,
    pub count: usize,
    pub blocked_until: String,
    pub active: bool,
    pub partner_id: Option<String>,
    pub addresses: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SecurityEvents {
    pub events: Vec<SecurityEventView>,
}

/// A lifted block: whether there was one on this node.
#[derive(Serialize, ToSchema)]
pub struct Unblocked {
    pub subject: String,
    pub lifted: bool,
}

/// A holiday calendar: its name and dates (`YYYY-MM-DD`).
#[derive(Serialize, ToSchema)]
pub struct CalendarView {
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub dates: std::collections::BTreeSet<chrono::NaiveDate>,
}

/// An imported calendar: its name and how many dates it holds.
#[derive(Serialize, ToSchema)]
pub struct CalendarImported {
    pub name: String,
    pub dates: usize,
}

/// REF-5: the suppression list (hashed e-mails, company domains).
#[derive(Serialize, ToSchema)]
pub struct Suppressions {
    #[schema(value_type = Vec<Object>)]
    pub suppressions: Vec<ace_domain::referral::Suppression>,
}

/// REF-1: the recorded reads of a referral's contact.
#[derive(Serialize, ToSchema)]
pub struct ContactReads {
    #[schema(value_type = Vec<Object>)]
    pub reads: Vec<ace_domain::referral::AuditRead>,
}

/// A webhook's delivery attempts.
#[derive(Serialize, ToSchema)]
pub struct Deliveries {
    #[schema(value_type = Vec<Object>)]
    pub deliveries: Vec<ace_store::DeliveryAttempt>,
}

/// A replay asked of a webhook: from which outbox position it delivers again.
#[derive(Serialize, ToSchema)]
pub struct Replaying {
    pub webhook: String,
    pub replaying_after_seq: i64,
}

/// What a removal removed, by id.
#[derive(Serialize, ToSchema)]
pub struct Removed {
    pub removed: String,
}

/// ELIG-3: the further requirements the operator defined.
#[derive(Serialize, ToSchema)]
pub struct Requirements {
    #[schema(value_type = Vec<Object>)]
    pub requirements: Vec<ace_domain::eligibility::FurtherRequirement>,
}

/// ELIG-2: a recorded change of a partner's eligibility.
#[derive(Serialize, ToSchema)]
pub struct EligibilityChangeView {
    pub at: String,
    pub eligible: bool,
    pub cause: String,
    pub unmet: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EligibilityHistory {
    pub history: Vec<EligibilityChangeView>,
}

/// A list of records whose shape the application layer renders (bulk jobs, checks, engagements,
/// referrals, the review queue, evidence requests): each an object.
macro_rules! object_list {
    ($(#[$doc:meta])* $name:ident { $field:ident }) => {
        $(#[$doc])*
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            #[schema(value_type = Vec<Object>)]
            pub $field: Vec<serde_json::Value>,
        }
    };
}

object_list!(
    /// Every partner's bulk jobs (`ace job list`).
    Jobs { jobs }
);
object_list!(
    /// Integration checks, newest first.
    Checks { checks }
);
object_list!(
    /// Engagements as the operator's side sees them.
    Engagements { engagements }
);
object_list!(
    /// Referrals, without contact data (REF-1).
    Referrals { referrals }
);
object_list!(
    /// SUB-1: the review queue, oldest submission first.
    Queue { items }
);
object_list!(
    /// SUB-4: consent evidence requests and their answers.
    EvidenceRequests { requests }
);
object_list!(
    /// MOD-2: the published terms versions, each with its status.
    Terms { terms }
);

/// ELIG-2: every partner's eligibility report.
#[derive(Serialize, ToSchema)]
pub struct Reports {
    #[schema(value_type = Vec<Object>)]
    pub reports: Vec<ace_domain::eligibility::EligibilityReport>,
}

/// ELIG-3: the configuration in force, since when, and how many versions there are.
#[derive(Serialize, ToSchema)]
pub struct ConfigView {
    #[schema(value_type = Object)]
    pub config: ace_domain::eligibility::EligibilityConfig,
    pub effective_from: Option<String>,
    pub versions: usize,
}

/// Engagement groups.
#[derive(Serialize, ToSchema)]
pub struct Groups {
    #[schema(value_type = Vec<Object>)]
    pub groups: Vec<ace_domain::engagement::EngagementGroup>,
}

/// Issue 19: the snapshots shared with the operator's side in one engagement.
#[derive(Serialize, ToSchema)]
pub struct SnapshotHistory {
    pub catalog: &'static str,
    pub engagement: String,
    #[schema(value_type = Vec<Object>)]
    pub snapshots: Vec<crate::app::snapshots::RevisionView>,
}

/// MOD-1: a termination as decided.
#[derive(Serialize, ToSchema)]
pub struct TerminationView {
    pub effective: String,
    pub reason: Option<String>,
    pub decided_at: String,
    pub decided_by: String,
}

/// The program's status, its termination if one is announced, the terms in force and the
/// support contact (USE-6).
#[derive(Serialize, ToSchema)]
pub struct ProgramView {
    pub status: &'static str,
    pub termination: Option<TerminationView>,
    pub current_terms: Option<i64>,
    pub support_contact: Option<ace_domain::program::SupportContact>,
}

/// A webhook subscription; its secret only in the answer that created it.
#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    /// `{"kind": "operator"}`, or `{"kind": "partner", "id": …}`.
    #[schema(value_type = Object)]
    pub owner: ace_domain::webhook::WebhookOwner,
    pub url: String,
    pub event_types: Vec<String>,
    pub include_changes: bool,
    pub created: String,
    pub cursor_seq: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    pub fn new(hook: &ace_domain::webhook::Webhook, cursor_seq: i64) -> WebhookView {
        WebhookView {
            id: hook.id.clone(),
            owner: hook.owner.clone(),
            url: hook.url.clone(),
            event_types: hook.event_types.clone(),
            include_changes: hook.include_changes,
            created: format_timestamp(hook.created_at),
            cursor_seq,
            secret: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Webhooks {
    pub webhooks: Vec<WebhookView>,
}
