-- The schema as of version 20: the development history (migrations 1 to 20) folded into one
-- baseline before the first release (issue 17). Shared by both engines; `{serial}` is the
-- engine's auto-numbered key, and each engine's own part (its full-text index) is in
-- `0020_baseline.<engine>.sql`. Later migrations are numbered files after this one.

CREATE TABLE sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nodes (id TEXT PRIMARY KEY, seen_ms BIGINT NOT NULL);

-- Operators, partners and their users
CREATE TABLE operator_tokens (token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE partners (id TEXT PRIMARY KEY, account_id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE partner_versions (partner_id TEXT NOT NULL, effective_ms BIGINT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (partner_id, effective_ms));
CREATE TABLE users (
    access_key_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, name TEXT NOT NULL, secret TEXT NOT NULL,
    status TEXT NOT NULL, created_ms BIGINT NOT NULL, UNIQUE (partner_id, name));
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, user_name TEXT NOT NULL, secret TEXT NOT NULL,
    status TEXT NOT NULL, created_ms BIGINT NOT NULL, last_used_ms BIGINT);
CREATE INDEX access_keys_by_user ON access_keys (partner_id, user_name);
CREATE TABLE solutions (catalog TEXT NOT NULL, id TEXT NOT NULL, partner_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (catalog, id));
CREATE INDEX solutions_by_partner ON solutions (partner_id, catalog);
CREATE TABLE quotas (scope TEXT PRIMARY KEY, doc TEXT NOT NULL);

-- The web portal's sign-in
CREATE TABLE portal_accounts (
    email TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
    partner_id TEXT, user_name TEXT, created_ms BIGINT NOT NULL);
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY, email TEXT NOT NULL, csrf TEXT NOT NULL,
    created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_ms);
CREATE TABLE portal_invitations (
    token_hash TEXT PRIMARY KEY, email TEXT NOT NULL, role TEXT NOT NULL,
    partner_id TEXT, user_name TEXT, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL);

-- Opportunities: the document, the columns lists sort and filter by, SUB-2's identity columns
-- (indexed only for records that count, `conflict_active`), the review queue's times.
CREATE TABLE opportunities (
    catalog TEXT NOT NULL, id_number BIGINT NOT NULL, partner_id TEXT NOT NULL,
    review_status TEXT NOT NULL, stage TEXT NOT NULL, company_key TEXT NOT NULL,
    created_ms BIGINT NOT NULL, modified_ms BIGINT NOT NULL, target_close TEXT NOT NULL, doc TEXT NOT NULL,
    submitted_ms BIGINT NOT NULL DEFAULT 0, ident_domain TEXT NOT NULL DEFAULT '', ident_duns TEXT NOT NULL DEFAULT '',
    ident_country TEXT NOT NULL DEFAULT '', ident_prefix TEXT NOT NULL DEFAULT '', approved_ms BIGINT NOT NULL DEFAULT 0,
    origin TEXT NOT NULL DEFAULT 'Partner Referral', ident_name TEXT NOT NULL DEFAULT '',
    ident_company TEXT NOT NULL DEFAULT '', conflict_active BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (catalog, id_number));
CREATE INDEX opportunities_by_modified ON opportunities (partner_id, catalog, modified_ms, id_number);
CREATE INDEX opportunities_by_created ON opportunities (partner_id, catalog, created_ms, id_number);
CREATE INDEX opportunities_by_company ON opportunities (partner_id, catalog, company_key, id_number);
CREATE INDEX opportunities_by_target_close ON opportunities (partner_id, catalog, target_close, id_number);
CREATE INDEX opportunities_by_id ON opportunities (partner_id, catalog, id_number);
CREATE INDEX opportunities_review_queue ON opportunities (review_status, submitted_ms);
CREATE INDEX opportunities_approvals ON opportunities (partner_id, catalog, approved_ms) WHERE approved_ms > 0;
CREATE INDEX opportunities_approvals_by_time ON opportunities (catalog, approved_ms, partner_id) WHERE approved_ms > 0;
CREATE INDEX opportunities_referrals ON opportunities (partner_id, catalog, modified_ms, stage, id_number) WHERE origin = 'AWS Referral';
CREATE INDEX opportunities_conflicts ON opportunities (catalog, ident_country, ident_prefix, ident_name) WHERE conflict_active = 1;
CREATE INDEX opportunities_conflicts_by_domain ON opportunities (catalog, ident_domain) WHERE conflict_active = 1;
CREATE INDEX opportunities_conflicts_by_duns ON opportunities (catalog, ident_duns) WHERE conflict_active = 1;
-- The operator console's dashboard counts, from covering indexes.
CREATE INDEX opportunities_by_stage ON opportunities (catalog, stage, review_status);
CREATE INDEX opportunities_by_submitted ON opportunities (catalog, submitted_ms, review_status) WHERE submitted_ms > 0;
CREATE TABLE idempotency (
    partner_id TEXT NOT NULL, catalog TEXT NOT NULL, operation TEXT NOT NULL, token TEXT NOT NULL,
    request_hash TEXT NOT NULL, response TEXT NOT NULL, created_ms BIGINT NOT NULL,
    PRIMARY KEY (partner_id, catalog, operation, token));
CREATE INDEX idempotency_by_created ON idempotency (created_ms);
CREATE TABLE tasks (
    catalog TEXT NOT NULL, id TEXT NOT NULL, partner_id TEXT NOT NULL, opportunity_id TEXT NOT NULL,
    start_ms BIGINT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (catalog, id));
CREATE INDEX tasks_by_partner ON tasks (partner_id, catalog, start_ms);
-- SearchOpportunities: each opportunity's summary (the engine's full-text index is in its part).
CREATE TABLE opportunity_search (
    catalog TEXT NOT NULL, id_number BIGINT NOT NULL, partner_id TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (catalog, id_number));
CREATE INDEX opportunity_search_by_partner ON opportunity_search (partner_id, catalog);

-- The operator's review: its pipeline (SUB-2), consent statements and evidence (SUB-4)
CREATE TABLE pipeline_records (
    external_id TEXT PRIMARY KEY, ident_domain TEXT NOT NULL, ident_duns TEXT NOT NULL, ident_country TEXT NOT NULL,
    ident_prefix TEXT NOT NULL, doc TEXT NOT NULL, ident_name TEXT NOT NULL DEFAULT '',
    ident_company TEXT NOT NULL DEFAULT '', active BIGINT NOT NULL DEFAULT 0);
CREATE INDEX pipeline_conflicts ON pipeline_records (ident_country, ident_prefix, ident_name) WHERE active = 1;
CREATE INDEX pipeline_conflicts_by_domain ON pipeline_records (ident_domain) WHERE active = 1;
CREATE INDEX pipeline_conflicts_by_duns ON pipeline_records (ident_duns) WHERE active = 1;
CREATE TABLE consent_statements (version TEXT PRIMARY KEY, published_ms BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE evidence_requests (
    id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, catalog TEXT NOT NULL, opportunity_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX evidence_by_partner ON evidence_requests (partner_id, catalog, created_ms);

-- Eligibility (ELIG-2, ELIG-3)
CREATE TABLE eligibility_config_versions (effective_ms BIGINT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE eligibility_history (
    partner_id TEXT NOT NULL, at_ms BIGINT NOT NULL, eligible BIGINT NOT NULL, cause TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX eligibility_history_by_partner ON eligibility_history (partner_id, at_ms);

-- Referrals: sealed documents and their data keys (REM-2), the next deadline (REF-3), the
-- suppression list (REF-5), each referral opportunity's updates (REF-7); contact reads (REF-1)
-- are entries of the audit log
CREATE TABLE referrals (
    id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, catalog TEXT NOT NULL, status TEXT NOT NULL,
    provided_ms BIGINT NOT NULL, version BIGINT NOT NULL, doc TEXT NOT NULL, due_ms BIGINT);
CREATE INDEX referrals_by_partner ON referrals (partner_id, catalog, provided_ms);
CREATE INDEX referrals_by_status ON referrals (status, provided_ms);
CREATE INDEX referrals_by_due ON referrals (due_ms);
CREATE TABLE referral_keys (referral_id TEXT PRIMARY KEY, data_key TEXT NOT NULL);
CREATE TABLE suppressions (key TEXT PRIMARY KEY, created_ms BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE holiday_calendars (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE referral_activity (
    opportunity_number BIGINT NOT NULL, partner_id TEXT NOT NULL, at_ms BIGINT NOT NULL, stage TEXT NOT NULL,
    PRIMARY KEY (opportunity_number, at_ms));
CREATE INDEX referral_activity_by_partner ON referral_activity (partner_id, at_ms);

-- Events (the outbox) and webhook delivery
CREATE TABLE events (
    seq {serial}, id TEXT NOT NULL UNIQUE, partner_id TEXT NOT NULL, catalog TEXT NOT NULL,
    detail_type TEXT NOT NULL, resource TEXT NOT NULL, time_ms BIGINT NOT NULL, envelope TEXT NOT NULL,
    changes TEXT NOT NULL DEFAULT '[]');
CREATE INDEX events_by_partner ON events (partner_id, seq);
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, cursor_seq BIGINT NOT NULL, lease_until_ms BIGINT NOT NULL,
    lease_owner TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX webhooks_by_owner ON webhooks (owner);
CREATE TABLE deliveries (
    seq {serial}, webhook_id TEXT NOT NULL, event_seq BIGINT NOT NULL, event_id TEXT NOT NULL, attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL, outcome TEXT NOT NULL, http_status BIGINT NOT NULL, error TEXT NOT NULL);
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, seq);

-- Governance: the hash-chained audit log (USE-4), terms (MOD-2, MOD-3), security events (USE-2)
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, partner_id TEXT,
    referral_id TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_log_by_partner ON audit_log (partner_id, seq);
CREATE INDEX audit_log_by_referral ON audit_log (referral_id, seq);
CREATE INDEX audit_log_by_time ON audit_log (at_ms);
CREATE TABLE audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE terms_versions (version BIGINT PRIMARY KEY, effective_ms BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE terms_acceptances (
    version BIGINT NOT NULL, partner_id TEXT NOT NULL, at_ms BIGINT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (version, partner_id));
CREATE TABLE security_events (seq {serial}, at_ms BIGINT NOT NULL, subject TEXT NOT NULL, doc TEXT NOT NULL);

-- Engagements (issue 18)
CREATE TABLE engagements (
    catalog TEXT NOT NULL, id TEXT NOT NULL, created_ms BIGINT NOT NULL, modified_ms BIGINT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (catalog, id));
CREATE TABLE engagement_members (
    catalog TEXT NOT NULL, engagement_id TEXT NOT NULL, account_id TEXT NOT NULL, partner_id TEXT, joined_ms BIGINT NOT NULL,
    PRIMARY KEY (catalog, engagement_id, account_id));
CREATE INDEX engagement_members_by_partner ON engagement_members (partner_id, catalog);
CREATE TABLE partner_invitations (
    id TEXT PRIMARY KEY, catalog TEXT NOT NULL, engagement_id TEXT NOT NULL, sender_partner_id TEXT NOT NULL,
    receiver_partner_id TEXT NOT NULL, invited_ms BIGINT NOT NULL, version BIGINT NOT NULL, doc TEXT NOT NULL,
    pending_until_ms BIGINT);
CREATE INDEX partner_invitations_pending ON partner_invitations (pending_until_ms);
CREATE INDEX partner_invitations_by_sender ON partner_invitations (sender_partner_id, catalog, invited_ms);
CREATE INDEX partner_invitations_by_receiver ON partner_invitations (receiver_partner_id, catalog, invited_ms);

-- Resource snapshots (issue 19)
CREATE TABLE resource_snapshots (
    catalog TEXT NOT NULL, engagement_id TEXT NOT NULL, resource_id TEXT NOT NULL, template TEXT NOT NULL,
    revision BIGINT NOT NULL, partner_id TEXT NOT NULL, created_ms BIGINT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (catalog, engagement_id, resource_id, template, revision));
CREATE INDEX resource_snapshots_by_resource ON resource_snapshots (catalog, resource_id);
CREATE TABLE snapshot_jobs (
    catalog TEXT NOT NULL, id TEXT NOT NULL, partner_id TEXT NOT NULL, engagement_id TEXT NOT NULL,
    resource_id TEXT NOT NULL, status TEXT NOT NULL, created_ms BIGINT NOT NULL, version BIGINT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (catalog, id));
CREATE INDEX snapshot_jobs_by_resource ON snapshot_jobs (catalog, resource_id, status);
CREATE INDEX snapshot_jobs_by_partner ON snapshot_jobs (partner_id, catalog, created_ms);
CREATE TABLE engagement_resources (
    catalog TEXT NOT NULL, engagement_id TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT NOT NULL,
    partner_id TEXT NOT NULL, created_ms BIGINT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (catalog, engagement_id, resource_type, resource_id));
CREATE INDEX engagement_resources_by_resource ON engagement_resources (catalog, resource_id);

-- Customer accounts and bulk jobs (issue 20)
CREATE TABLE customer_accounts (
    catalog TEXT NOT NULL, id TEXT NOT NULL, partner_id TEXT NOT NULL, status TEXT NOT NULL,
    created_ms BIGINT NOT NULL, version BIGINT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (catalog, id));
CREATE INDEX customer_accounts_by_partner ON customer_accounts (partner_id, catalog, created_ms);
CREATE INDEX customer_accounts_by_status ON customer_accounts (status, created_ms);
CREATE TABLE bulk_jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, catalog TEXT NOT NULL, partner_id TEXT NOT NULL, status TEXT NOT NULL,
    created_ms BIGINT NOT NULL, version BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX bulk_jobs_by_partner ON bulk_jobs (partner_id, kind, catalog, created_ms);
CREATE INDEX bulk_jobs_by_status ON bulk_jobs (status, created_ms);
CREATE TABLE bulk_job_files (job_id TEXT NOT NULL, part BIGINT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (job_id, part));
CREATE TABLE bulk_job_results (
    job_id TEXT NOT NULL, row_no BIGINT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (job_id, row_no));
CREATE INDEX bulk_job_results_by_status ON bulk_job_results (job_id, status, row_no);
