//! Records the store keeps besides the domain's own types.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use ace_domain::ids::Catalog;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorToken {
    /// SHA-256 of the token, hex: the token itself is never stored.
    pub token_hash: String,
    pub name: String,
    pub role: String,
    pub created_ms: i64,
}

/// Someone who signs in to the web portal with an e-mail and a password (issue 8): a partner's
/// user (role `partner`, acting as `user_name` of `partner_id`) or operator staff (roles
/// `admin`, `reviewer`, `partner-manager`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalAccount {
    /// Lower-cased; the key.
    pub email: String,
    /// An argon2 PHC string: the password itself is never stored.
    pub password_hash: String,
    pub role: String,
    pub partner_id: Option<String>,
    pub user_name: Option<String>,
    pub created_ms: i64,
}

/// A one-time link that lets someone choose their own portal password (issue 8): the account
/// it will create, and until when. Only the token's SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalInvitation {
    pub token_hash: String,
    pub email: String,
    pub role: String,
    pub partner_id: Option<String>,
    pub user_name: Option<String>,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// A signed-in browser: the cookie's SHA-256 (the cookie itself is never stored) and the token
/// every form of the session must carry (CSRF).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalSession {
    pub id_hash: String,
    pub email: String,
    pub csrf: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> UserStatus {
        if s == "active" {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        }
    }
}

/// A partner user with its one access key pair (USE-1: credentials are personal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub partner_id: String,
    pub name: String,
    pub access_key_id: String,
    /// The secret access key, encrypted under the server key (SigV4 needs it back).
    pub secret_encrypted: String,
    pub status: UserStatus,
    pub created_ms: i64,
}

/// One access key of a user (USE-1): at most `ace_domain::partner::ACCESS_KEYS_PER_USER` per user, as in IAM,
/// so a key can be rotated without downtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub partner_id: String,
    pub user_name: String,
    /// Encrypted under the server key.
    pub secret_encrypted: String,
    pub status: UserStatus,
    pub created_ms: i64,
    /// When a request signed with it last succeeded (recorded at most once a minute).
    pub last_used_ms: Option<i64>,
}

impl AccessKeyRecord {
    /// The key a user is created (or rotated) with: active, unused.
    pub fn first_of(u: &UserRecord) -> AccessKeyRecord {
        AccessKeyRecord {
            access_key_id: u.access_key_id.clone(),
            partner_id: u.partner_id.clone(),
            user_name: u.name.clone(),
            secret_encrypted: u.secret_encrypted.clone(),
            status: UserStatus::Active,
            created_ms: u.created_ms,
            last_used_ms: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolutionRecord {
    pub catalog: Catalog,
    pub id: String,
    pub partner_id: String,
    pub name: String,
    pub category: String,
    pub status: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub partner_id: String,
    pub catalog: Catalog,
    pub operation: String,
    pub client_token: String,
}

/// How long a `ClientToken` is remembered (issue 22). Partner Central publishes no figure;
/// other AWS services keep tokens 8 to 24 hours, and a day covers a CRM's retries across a
/// night's outage. After it, the same token starts a new request.
pub const IDEMPOTENCY_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    #[serde(skip, default = "placeholder_key")]
    pub key: IdempotencyKey,
    /// SHA-256 of the canonical request: same token with another body is a conflict.
    pub request_hash: String,
    /// What the first request answered (or, for tasks, which task it started).
    pub response: Value,
    pub created_ms: i64,
}

impl IdempotencyRecord {
    /// Whether the token still stands at `now_ms` (see [`IDEMPOTENCY_RETENTION_MS`]).
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms - self.created_ms < IDEMPOTENCY_RETENTION_MS
    }
}

fn placeholder_key() -> IdempotencyKey {
    IdempotencyKey { partner_id: String::new(), catalog: Catalog::Aws, operation: String::new(), client_token: String::new() }
}

/// A Start*Task record, as ListEngagementFromOpportunityTasks shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub catalog: Catalog,
    pub id: String,
    pub partner_id: String,
    pub opportunity_id: String,
    pub start_ms: i64,
    /// The task summary in API shape (`TaskId`, `TaskStatus`, `OpportunityId`, …).
    pub summary: Value,
}

/// A published version of the consent statement partners show customers (SUB-4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentStatement {
    pub version: String,
    pub text: String,
    pub published_ms: i64,
}

/// A referral-originated opportunity's last update (REF-7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralActivity {
    pub partner_id: String,
    pub opportunity_id: String,
    pub last_update_ms: i64,
    pub stage: String,
}

/// A recorded change of a partner's eligibility, with what caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EligibilityChange {
    pub partner_id: String,
    pub at_ms: i64,
    pub eligible: bool,
    pub cause: String,
    /// The requirements not met at that moment.
    pub unmet: Vec<String>,
}

/// One attempt to deliver an event to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub webhook_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub attempt: i64,
    pub at_ms: i64,
    /// `delivered`, `failed` (will be retried) or `dead` (given up, parked).
    pub outcome: String,
    pub http_status: i64,
    pub error: String,
}
