//! Storage in domain terms: one [`Store`] trait, implemented once over SQL ([`SqlStore`]) that
//! runs on two back ends — SQLite (embedded default, WAL) and PostgreSQL (several nodes, one
//! database). Query text is shared; what differs between dialects lives in [`sql::Dialect`] and
//! the two small adapter modules.

mod admin;
pub use admin::AdminWrite;
pub mod baseline;
mod engagements;
pub mod files;
mod group;
mod listing;
pub use group::stats as group_commit_stats;
mod bulk;
mod candidates;
mod checks;
mod customer_accounts;
mod postgres;
pub use postgres::ROUND_TRIP_BOUND as POSTGRES_ROUND_TRIP_BOUND;
pub use sqlite::WRITER_CACHE_KIB as SQLITE_WRITER_CACHE_KIB;
mod records;
mod sealing;
mod search;
mod snapshots;
mod sql;
mod sqlite;
mod store;
mod write;

pub use records::*;
pub use store::SqlStore;

/// What a write that met a unique key already taken is told, on either engine.
pub const DUPLICATE_KEY: &str = "a record with the same identifier already exists";

use async_trait::async_trait;
use thiserror::Error;

use ace_domain::audit::{AuditEntry, StoredAuditEntry};
use ace_domain::business_days::HolidayCalendar;
use ace_domain::customer_account::CustomerAccount;
use ace_domain::eligibility::EligibilityConfig;
use ace_domain::engagement::{Engagement, Member, PartnerInvitation};
use ace_domain::events::OutboxEvent;
use ace_domain::identity::{CustomerIdentity, PipelineRecord};
use ace_domain::ids::Catalog;
use ace_domain::listing::OpportunityQuery;
use ace_domain::opportunity::Opportunity;
use ace_domain::opportunity::ReviewStatus;
use ace_domain::partner::PartnerProfile;
use ace_domain::quota::QuotaLimits;
use ace_domain::referral::{AuditRead, Referral, Suppression};
use ace_domain::security::SecurityEvent;
use ace_domain::snapshot::{Association, Snapshot, SnapshotJob};
use ace_domain::submission::{ConflictCandidate, EvidenceRequest};
use ace_domain::terms::{Acceptance, TermsVersion};
use ace_domain::webhook::Webhook;

/// The store's one error type; no driver types cross this boundary.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The back end cannot do this (e.g. a server-side backup of PostgreSQL).
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("storage error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything one request changes, committed in one transaction: the change itself, its
/// idempotency record and the events it emits (the outbox).
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    /// Claimed first: when the key is already taken nothing else is written and the stored
    /// record is returned as [`BatchOutcome::Replayed`].
    pub idempotency: Option<IdempotencyRecord>,
    pub insert_opportunities: Vec<Opportunity>,
    /// Each with the `LastModifiedDate` (ms) it must still have: optimistic concurrency.
    pub update_opportunities: Vec<(Opportunity, i64)>,
    /// `(catalog, id number, identifier)`: an opportunity that must hold this CRM identifier
    /// once the batch's updates are written, or the batch fails as a conflict (issue 25: a
    /// partner's update that changes its `PartnerOpportunityIdentifier`; other updates claim
    /// theirs only when free).
    pub claim_identifiers: Vec<(Catalog, i64, String)>,
    pub put_tasks: Vec<TaskRecord>,
    pub insert_referrals: Vec<Referral>,
    /// Each must still have its `version`: a referral is acted on once, whatever the node.
    pub update_referrals: Vec<Referral>,
    /// REM-2: referrals whose customer data is destroyed (their data keys are deleted).
    pub shred_referrals: Vec<String>,
    /// REM-2: opportunities removed from the partner's reach.
    pub delete_opportunities: Vec<(Catalog, String)>,
    pub suppressions: Vec<Suppression>,
    /// REF-1: recorded in the hash-chained audit log as `referral.contact-read`.
    pub audit_reads: Vec<AuditRead>,
    /// MOD-2: published versions never change (a taken number is a conflict).
    pub terms_versions: Vec<TermsVersion>,
    /// MOD-3: the first acceptance of a version by a partner stands; later ones are ignored.
    pub terms_acceptances: Vec<Acceptance>,
    /// Program settings (termination, support contact) as `(key, JSON)`.
    pub settings: Vec<(String, String)>,
    /// Engagements (issue 18), created.
    pub insert_engagements: Vec<Engagement>,
    /// Each with the `ModifiedAt` (ms) it must still have: optimistic concurrency.
    pub update_engagements: Vec<(Engagement, i64)>,
    /// Invitations between partners (issue 18).
    pub insert_partner_invitations: Vec<PartnerInvitation>,
    /// Each must still have its `version`: an invitation is decided once.
    pub update_partner_invitations: Vec<PartnerInvitation>,
    /// New members; a member already there stays as it joined.
    pub add_engagement_members: Vec<Member>,
    /// REM-1: partners whose every membership ends.
    pub end_memberships_of: Vec<String>,
    /// `(catalog, engagement, partner)`: a partner that leaves one engagement (a revoked referral's).
    pub leave_engagements: Vec<(Catalog, String, String)>,
    /// Resource snapshots (issue 19): never updated; a revision number taken meanwhile is a conflict.
    pub insert_snapshots: Vec<Snapshot>,
    pub insert_snapshot_jobs: Vec<SnapshotJob>,
    /// Each must still have its `version`.
    pub update_snapshot_jobs: Vec<SnapshotJob>,
    /// Each must still have its `version`.
    pub delete_snapshot_jobs: Vec<SnapshotJob>,
    /// Resources shared into engagements; a pair already recorded stays as it was.
    pub associate_resources: Vec<Association>,
    /// Customer accounts (issue 20).
    pub insert_customer_accounts: Vec<CustomerAccount>,
    /// Each must still have its `version`.
    pub update_customer_accounts: Vec<CustomerAccount>,
    /// Deleting an account that is not there is no error (`DeleteCustomerAccount` is idempotent).
    pub delete_customer_accounts: Vec<(Catalog, String)>,
    /// Bulk jobs (issue 20).
    pub insert_bulk_jobs: Vec<ace_domain::bulk::BulkJob>,
    /// Each must still have its `version`.
    pub update_bulk_jobs: Vec<ace_domain::bulk::BulkJob>,
    /// A job's file as read: (job id, text), replacing any kept before.
    pub put_bulk_files: Vec<(String, String)>,
    /// A row that has its result already keeps the first.
    pub insert_bulk_results: Vec<ace_domain::bulk::RowResult>,
    /// Integration check runs (issue 25), started.
    pub insert_check_runs: Vec<ace_domain::check::CheckRun>,
    /// Each must still have its `version`: a step is taken once, whatever the node.
    pub update_check_runs: Vec<ace_domain::check::CheckRun>,
    pub events: Vec<OutboxEvent>,
    /// The program's administration records (partners, users and keys, settings of record…),
    /// written in order.
    pub admin: Vec<AdminWrite>,
    /// Appended to the hash-chained audit log in the same transaction as the change.
    pub audit: Vec<AuditEntry>,
}

/// Which audit entries to list; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub after_seq: i64,
    pub partner_id: Option<String>,
    pub referral_id: Option<String>,
    pub action: Option<String>,
    pub since_ms: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    Committed,
    Replayed(IdempotencyRecord),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Is the database reachable and migrated, and does it take writes (SQLite stops them after an I/O error of its file)?
    async fn ping(&self) -> StoreResult<()>;

    async fn next_sequence(&self, name: &str) -> StoreResult<i64>;
    /// Reserves `count` numbers of a sequence at once; returns the highest (the block is
    /// `highest - count + 1 ..= highest`). Several nodes reserve disjoint blocks.
    async fn reserve_sequence(&self, name: &str, count: i64) -> StoreResult<i64>;

    async fn insert_operator_token(&self, token: &OperatorToken) -> StoreResult<()>;
    async fn find_operator_token(&self, token_hash: &str) -> StoreResult<Option<OperatorToken>>;
    async fn count_operator_tokens(&self) -> StoreResult<i64>;

    /// USE-5 across nodes: this node (a random id per process) is alive at `now_ms`.
    async fn heartbeat_node(&self, id: &str, now_ms: i64) -> StoreResult<()>;
    /// Nodes that sent a heartbeat since `since_ms`.
    async fn count_live_nodes(&self, since_ms: i64) -> StoreResult<i64>;

    /// `Conflict` when the e-mail address is taken.
    async fn insert_portal_account(&self, account: &PortalAccount) -> StoreResult<()>;
    /// By e-mail address, compared lower-cased.
    async fn get_portal_account(&self, email: &str) -> StoreResult<Option<PortalAccount>>;
    /// A one-time sign-up link (its token's hash) for a portal account to be.
    async fn insert_portal_invitation(&self, invitation: &PortalInvitation) -> StoreResult<()>;
    async fn get_portal_invitation(&self, token_hash: &str) -> StoreResult<Option<PortalInvitation>>;
    /// Uses the invitation up and creates its account with `password_hash`, in one
    /// transaction: `NotFound` when it is unknown, used or expired; `Conflict` when the address
    /// has an account meanwhile.
    async fn redeem_portal_invitation(&self, token_hash: &str, password_hash: &str, now_ms: i64) -> StoreResult<PortalAccount>;
    async fn insert_portal_session(&self, session: &PortalSession) -> StoreResult<()>;
    async fn get_portal_session(&self, id_hash: &str) -> StoreResult<Option<PortalSession>>;
    /// Ends a session (logout); `false` when there was none.
    async fn delete_portal_session(&self, id_hash: &str) -> StoreResult<bool>;

    /// `Conflict` when the id or the account id is taken.
    async fn insert_partner(&self, partner: &PartnerProfile, created_ms: i64) -> StoreResult<()>;
    /// Updates the profile and records it as the version in force from `effective_ms`.
    async fn update_partner(&self, partner: &PartnerProfile, effective_ms: i64) -> StoreResult<()>;
    async fn get_partner(&self, id: &str) -> StoreResult<Option<PartnerProfile>>;
    /// The partner an AWS account id names (account ids are unique).
    async fn get_partner_by_account(&self, account_id: &str) -> StoreResult<Option<PartnerProfile>>;
    async fn list_partners(&self) -> StoreResult<Vec<PartnerProfile>>;

    /// `Conflict` when the partner already has a user of that name.
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// Replaces the user found under `previous_access_key_id`: its status, and — when the key
    /// differs — all its keys by the one given (rotation: the old keys stop at once).
    async fn update_user(&self, previous_access_key_id: &str, user: &UserRecord) -> StoreResult<()>;
    /// The user a key belongs to, seen through that key: `access_key_id` and the secret are the
    /// key's, and the status is active only when both the user and the key are.
    async fn get_user_by_access_key(&self, access_key_id: &str) -> StoreResult<Option<UserRecord>>;
    async fn get_user(&self, partner_id: &str, name: &str) -> StoreResult<Option<UserRecord>>;
    async fn list_users(&self, partner_id: &str) -> StoreResult<Vec<UserRecord>>;
    /// USE-1: a further key for a user; `Conflict` when it already has two.
    async fn insert_access_key(&self, key: &AccessKeyRecord) -> StoreResult<()>;
    async fn list_access_keys(&self, partner_id: &str, user_name: &str) -> StoreResult<Vec<AccessKeyRecord>>;
    /// `false` when there is no such key.
    async fn set_access_key_status(&self, access_key_id: &str, status: UserStatus) -> StoreResult<bool>;
    async fn delete_access_key(&self, access_key_id: &str) -> StoreResult<bool>;
    /// Records a successful use.
    async fn touch_access_key(&self, access_key_id: &str, at_ms: i64) -> StoreResult<()>;

    async fn insert_solution(&self, solution: &SolutionRecord) -> StoreResult<()>;
    async fn list_solutions(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<SolutionRecord>>;

    async fn commit(&self, batch: WriteBatch) -> StoreResult<BatchOutcome>;
    /// Woken (`notify_waiters`) after a batch with outbox events commits through this store,
    /// so this process's event dispatcher need not wait for its next poll. Other nodes'
    /// commits are seen by polling.
    fn events_committed(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// The token's record, live or expired (callers ask `IdempotencyRecord::is_live`).
    async fn get_idempotency(&self, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>>;
    /// Removes up to `limit` token records made before `before_ms`; how many it removed. Safe
    /// on several nodes at once: a record is removed once, whoever removes it.
    async fn delete_expired_idempotency(&self, before_ms: i64, limit: usize) -> StoreResult<usize>;

    /// An opportunity of this partner in this catalog; another partner's is `None`.
    async fn get_opportunity(&self, partner_id: &str, catalog: Catalog, id: &str) -> StoreResult<Option<Opportunity>>;
    /// The opportunity of this partner and catalog that holds `partner_identifier`, its
    /// `PartnerOpportunityIdentifier` (issue 25: one opportunity per CRM record).
    async fn opportunity_identified_as(
        &self,
        partner_id: &str,
        catalog: Catalog,
        partner_identifier: &str,
    ) -> StoreResult<Option<String>>;
    /// One page (up to `page_size + 1` rows, the extra one tells that more follow).
    async fn list_opportunities(&self, query: &OpportunityQuery) -> StoreResult<Vec<Opportunity>>;

    /// An engagement by id, whoever its members are (the caller checks membership).
    async fn get_engagement(&self, catalog: Catalog, id: &str) -> StoreResult<Option<Engagement>>;
    /// The engagements `partner_id` is a member of, oldest first, each with its member count.
    async fn list_member_engagements(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<(Engagement, i64)>>;
    /// Every engagement of a catalog, oldest first, each with its member count (the operator's view).
    async fn list_engagements(&self, catalog: Catalog) -> StoreResult<Vec<(Engagement, i64)>>;
    /// The invitations between partners into one engagement, oldest first.
    async fn list_engagement_invitations(&self, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<PartnerInvitation>>;
    /// Invitations between partners still pending at `until_ms` though they expired by then,
    /// the longest overdue first.
    async fn expired_partner_invitations(&self, until_ms: i64, limit: usize) -> StoreResult<Vec<PartnerInvitation>>;
    /// An invitation between partners by id (the caller checks it is a party to it).
    async fn get_partner_invitation(&self, id: &str) -> StoreResult<Option<PartnerInvitation>>;
    /// The invitations `partner_id` sent (`sent`) or received, oldest first.
    async fn list_partner_invitations(
        &self,
        partner_id: &str,
        catalog: Catalog,
        sent: bool,
    ) -> StoreResult<Vec<PartnerInvitation>>;
    /// A revision of a resource snapshot (issue 19), the latest when `revision` is `None`;
    /// the caller checks who may read it.
    async fn get_resource_snapshot(
        &self,
        catalog: Catalog,
        engagement_id: &str,
        resource_id: &str,
        template: &str,
        revision: Option<i64>,
    ) -> StoreResult<Option<Snapshot>>;
    /// Every snapshot in an engagement, by resource, template and revision.
    async fn list_resource_snapshots(&self, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<Snapshot>>;
    async fn get_snapshot_job(&self, catalog: Catalog, id: &str) -> StoreResult<Option<SnapshotJob>>;
    /// A partner's snapshot jobs in a catalog, oldest first.
    async fn list_snapshot_jobs(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<SnapshotJob>>;
    /// The running jobs that follow one resource (read for every change of it).
    async fn get_customer_account(&self, catalog: Catalog, id: &str) -> StoreResult<Option<CustomerAccount>>;
    /// A partner's customer accounts in a catalog, oldest first.
    async fn list_customer_accounts(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<CustomerAccount>>;
    /// Customer accounts still waiting for matching, oldest first.
    async fn pending_customer_accounts(&self, limit: usize) -> StoreResult<Vec<CustomerAccount>>;
    /// The operator's customer records (its pipeline, any stage) that may match `identity`.
    async fn find_customer_records(&self, identity: &CustomerIdentity, limit: usize) -> StoreResult<Vec<PipelineRecord>>;
    async fn get_bulk_job(&self, id: &str) -> StoreResult<Option<ace_domain::bulk::BulkJob>>;
    /// Jobs newest first: a partner's of a kind (in a catalog, or all), or everyone's.
    async fn list_bulk_jobs(
        &self,
        partner_id: Option<&str>,
        kind: ace_domain::bulk::JobKind,
        catalog: Option<Catalog>,
    ) -> StoreResult<Vec<ace_domain::bulk::BulkJob>>;
    /// Jobs not finished yet, oldest first.
    async fn unfinished_bulk_jobs(&self, limit: usize) -> StoreResult<Vec<ace_domain::bulk::BulkJob>>;
    async fn bulk_job_file(&self, job_id: &str) -> StoreResult<Option<String>>;
    async fn bulk_job_done_rows(&self, job_id: &str) -> StoreResult<Vec<i64>>;
    /// (succeeded, failed) so far.
    async fn bulk_job_counts(&self, job_id: &str) -> StoreResult<(i64, i64)>;
    async fn bulk_job_results(
        &self,
        job_id: &str,
        status: Option<ace_domain::bulk::RecordStatus>,
        after_row: i64,
        limit: usize,
    ) -> StoreResult<Vec<ace_domain::bulk::RowResult>>;
    /// SearchOpportunities (issue 20): the search entries of a partner's opportunities in a
    /// catalog whose words hold every term as a word's beginning (all of them without terms),
    /// through the engine's full-text index. Unordered.
    async fn search_opportunities(
        &self,
        partner_id: &str,
        catalog: Catalog,
        terms: Option<&[String]>,
    ) -> StoreResult<Vec<ace_domain::opportunity_search::Entry>>;
    /// The numbers of (at most `limit` of) a partner's opportunities in a catalog whose words
    /// hold every term as a word's beginning: the index's answer alone, no entry read. Unordered.
    async fn search_matches(&self, partner_id: &str, catalog: Catalog, terms: &[String], limit: usize) -> StoreResult<Vec<i64>>;
    /// A page of `list_opportunities`, only of opportunities whose words hold every term (the
    /// full-text condition inside the ordered read, so the engine chooses how to meet both).
    async fn list_opportunities_matching(&self, query: &OpportunityQuery, terms: &[String]) -> StoreResult<Vec<Opportunity>>;
    async fn running_snapshot_jobs(&self, catalog: Catalog, resource_id: &str) -> StoreResult<Vec<SnapshotJob>>;
    /// Integration check runs (issue 25).
    async fn get_check_run(&self, id: &str) -> StoreResult<Option<ace_domain::check::CheckRun>>;
    /// Newest first: a partner's runs, or everyone's.
    async fn list_check_runs(&self, partner_id: Option<&str>, limit: usize) -> StoreResult<Vec<ace_domain::check::CheckRun>>;
    /// Every run still going, oldest first.
    async fn running_check_runs(&self) -> StoreResult<Vec<ace_domain::check::CheckRun>>;
    /// Appends what a partner's credentials did while a run of theirs is going; returns its
    /// `seq`, or `None` when none is (nothing is kept).
    async fn observe_for_check(&self, partner_id: &str, observation: &ace_domain::check::Observation)
        -> StoreResult<Option<i64>>;
    /// A partner's observations after `after_seq`, in order.
    async fn check_observations(
        &self,
        partner_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<ace_domain::check::Observation>>;
    /// The `seq` of a partner's last observation (0 when none).
    async fn last_check_observation(&self, partner_id: &str) -> StoreResult<i64>;
    /// The resources shared into the engagements `partner_id` is a member of, oldest first.
    async fn list_engagement_resources(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<Association>>;
    /// An engagement's members, in the order they joined.
    async fn list_engagement_members(&self, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<Member>>;
    async fn get_task(&self, partner_id: &str, catalog: Catalog, id: &str) -> StoreResult<Option<TaskRecord>>;
    async fn list_tasks(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<TaskRecord>>;

    /// `None` partner: the default for every partner.
    async fn get_quota(&self, partner_id: Option<&str>) -> StoreResult<Option<QuotaLimits>>;
    async fn set_quota(&self, partner_id: Option<&str>, limits: &QuotaLimits) -> StoreResult<()>;

    /// Outbox events after `after_seq`, oldest first.
    async fn list_events(&self, after_seq: i64, limit: usize) -> StoreResult<Vec<(i64, OutboxEvent)>>;

    /// Operator view: any partner's opportunity (ids are unique across catalogs).
    async fn get_opportunity_by_id(&self, id: &str) -> StoreResult<Option<Opportunity>>;
    /// The review queue: opportunities in these review statuses, oldest submission first.
    async fn list_review_queue(&self, statuses: &[ReviewStatus], limit: usize) -> StoreResult<Vec<Opportunity>>;
    /// How many opportunities of a catalog are in each (stage, review status), for the
    /// operator's dashboard. Reads the whole table: a page view, not a request path.
    async fn opportunity_counts(&self, catalog: Catalog) -> StoreResult<Vec<(String, String, i64)>>;
    /// Submissions since `since_ms` by week (whole weeks since the epoch) and review status
    /// now, for the operator's dashboard.
    async fn submissions_by_week(&self, catalog: Catalog, since_ms: i64) -> StoreResult<Vec<(i64, String, i64)>>;
    /// SUB-2 candidates among other partners' active submissions in a catalog: the same
    /// domain, DUNS or normalised name and country (at most `limit` of those), and the names
    /// next to the customer's in its name bucket.
    async fn find_submission_candidates(
        &self,
        catalog: Catalog,
        identity: &CustomerIdentity,
        excluding_partner: &str,
        limit: usize,
    ) -> StoreResult<Vec<ConflictCandidate>>;

    /// Inserts or updates by external id, all in one transaction; returns (inserted, updated).
    async fn upsert_pipeline_records(&self, records: &[PipelineRecord]) -> StoreResult<(usize, usize)>;
    /// What upserting `records` would do: (inserted, updated). A record whose id is stored, or
    /// came earlier in `records`, updates it.
    async fn pipeline_import_counts(&self, records: &[PipelineRecord]) -> StoreResult<(usize, usize)>;
    async fn list_pipeline_records(&self, limit: usize) -> StoreResult<Vec<PipelineRecord>>;
    /// SUB-2 candidates among the operator's active pipeline records, chosen as for submissions.
    async fn find_pipeline_candidates(&self, identity: &CustomerIdentity, limit: usize) -> StoreResult<Vec<ConflictCandidate>>;

    /// `Conflict` when the version exists: published statements never change.
    async fn insert_consent_statement(&self, statement: &ConsentStatement) -> StoreResult<()>;
    async fn list_consent_statements(&self) -> StoreResult<Vec<ConsentStatement>>;

    async fn put_evidence_request(&self, request: &EvidenceRequest) -> StoreResult<()>;
    async fn get_evidence_request(&self, id: &str) -> StoreResult<Option<EvidenceRequest>>;
    /// A partner's requests, or everyone's, oldest first.
    async fn list_evidence_requests(&self, partner_id: Option<&str>) -> StoreResult<Vec<EvidenceRequest>>;

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Profile versions effective at or before `until_ms`, oldest first (one partner, or all).
    async fn partner_versions(&self, partner_id: Option<&str>, until_ms: i64) -> StoreResult<Vec<(i64, PartnerProfile)>>;
    /// `(partner, approval ms)` of validated `AWS`-catalog opportunities approved in `(after, until]`.
    async fn approvals(&self, partner_id: Option<&str>, after_ms: i64, until_ms: i64) -> StoreResult<Vec<(String, i64)>>;
    /// Referral-originated `AWS`-catalog opportunities and when each was last updated (REF-7).
    async fn referral_activity(&self, partner_id: Option<&str>) -> StoreResult<Vec<ReferralActivity>>;
    /// REF-7 as of an instant (issue 22): each referral opportunity (AWS catalog) of one partner
    /// or of all, as its latest change at or before `as_of_ms` left it; none made later.
    async fn referral_activity_as_of(&self, partner_id: Option<&str>, as_of_ms: i64) -> StoreResult<Vec<ReferralActivity>>;
    /// ELIG-3: configuration versions; each is in force from its `effective_ms`.
    async fn put_eligibility_config(&self, effective_ms: i64, config: &EligibilityConfig) -> StoreResult<()>;
    async fn eligibility_config_versions(&self) -> StoreResult<Vec<(i64, EligibilityConfig)>>;
    /// Records a change of a partner's eligibility with its `Partner Eligibility Changed` event.
    /// Records a change of a partner's eligibility with its event, unless the latest recorded
    /// eligibility already is `change.eligible` (another node recorded it): `false` then.
    async fn record_eligibility(&self, change: &EligibilityChange, event: &OutboxEvent) -> StoreResult<bool>;
    async fn eligibility_history(&self, partner_id: Option<&str>) -> StoreResult<Vec<EligibilityChange>>;

    async fn get_referral(&self, id: &str) -> StoreResult<Option<Referral>>;
    /// A partner's referrals (or everyone's), oldest first.
    async fn list_referrals(&self, partner_id: Option<&str>, limit: usize) -> StoreResult<Vec<Referral>>;
    /// REF-3: open referrals the sweep may have to act on by `until_ms` (indexed by
    /// `referral::sweep_after`), most overdue first.
    async fn due_referrals(&self, until_ms: i64, limit: usize) -> StoreResult<Vec<Referral>>;
    /// REF-5: the first suppression among `keys`.
    async fn find_suppression(&self, keys: &[String]) -> StoreResult<Option<Suppression>>;
    async fn list_suppressions(&self) -> StoreResult<Vec<Suppression>>;
    /// REF-1: the recorded reads of a referral's contact data.
    async fn list_audit_reads(&self, referral_id: &str) -> StoreResult<Vec<AuditRead>>;
    /// The hash-chained audit log in sequence order.
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<StoredAuditEntry>>;
    /// The chain's head: the last sequence number and its hash.
    async fn audit_head(&self) -> StoreResult<(i64, String)>;
    async fn list_terms_versions(&self) -> StoreResult<Vec<TermsVersion>>;
    /// Acceptances of one version (or all) by one partner (or all).
    async fn list_terms_acceptances(&self, version: Option<i64>, partner_id: Option<&str>) -> StoreResult<Vec<Acceptance>>;
    /// USE-2: a subject blocked for probing, with its audit entry.
    async fn record_security_event(&self, event: &SecurityEvent, audit: &AuditEntry) -> StoreResult<()>;
    /// Newest first.
    async fn list_security_events(&self, since_ms: i64, limit: usize) -> StoreResult<Vec<SecurityEvent>>;
    async fn get_calendar(&self, name: &str) -> StoreResult<Option<HolidayCalendar>>;

    /// A new subscription; deliveries start after `cursor_seq`.
    async fn insert_webhook(&self, webhook: &Webhook, cursor_seq: i64) -> StoreResult<()>;
    async fn delete_webhook(&self, id: &str) -> StoreResult<bool>;
    /// Subscriptions with their cursors (one owner, or all).
    async fn list_webhooks(&self, owner_key: Option<&str>) -> StoreResult<Vec<(Webhook, i64)>>;
    /// Subscriptions whose cursor is before `seq` (those with events to look at), with their
    /// cursors; the others are not read at all.
    async fn list_webhooks_behind(&self, seq: i64) -> StoreResult<Vec<(Webhook, i64)>>;
    /// Takes (or renews) the delivery lease of a subscription: one node delivers it at a time.
    async fn claim_webhook(&self, id: &str, node: &str, now_ms: i64, until_ms: i64) -> StoreResult<bool>;
    async fn record_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<()>;
    /// The last attempts at a run of events (each delivered, or given up) and the cursor moved
    /// to `cursor_seq`, in one transaction; `false` when this node no longer holds the lease
    /// (the attempts are recorded all the same).
    async fn complete_deliveries(
        &self,
        webhook_id: &str,
        node: &str,
        attempts: &[DeliveryAttempt],
        cursor_seq: i64,
    ) -> StoreResult<bool>;
    async fn list_deliveries(&self, webhook_id: &str, limit: usize) -> StoreResult<Vec<DeliveryAttempt>>;
    /// A partner's own events after `after_seq` (the pollable feed).
    async fn list_partner_events(&self, partner_id: &str, after_seq: i64, limit: usize) -> StoreResult<Vec<(i64, OutboxEvent)>>;
    async fn max_event_seq(&self) -> StoreResult<i64>;
    /// An online, consistent copy of the whole database in a new file (SQLite); PostgreSQL is
    /// backed up with its own tools (`pg_dump`).
    async fn backup_to(&self, path: &std::path::Path) -> StoreResult<()>;
    /// The sequence number of one of a partner's events, by its id.
    async fn event_seq(&self, partner_id: &str, event_id: &str) -> StoreResult<Option<i64>>;
}
