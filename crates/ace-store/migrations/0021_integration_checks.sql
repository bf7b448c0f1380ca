-- Integration checks (issue 25). A run's whole state is its `doc` (ace_domain::check::CheckRun),
-- changed only under the version it was read at; what a partner's credentials did in the
-- Sandbox while a run of theirs was watching, in the order it was seen.
CREATE TABLE check_runs (
    id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, status TEXT NOT NULL, created_ms BIGINT NOT NULL,
    version BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX check_runs_by_partner ON check_runs (partner_id, created_ms);
CREATE INDEX check_runs_by_status ON check_runs (status, created_ms);
-- One run at a time per partner: what its credentials do belongs to that run.
CREATE UNIQUE INDEX check_runs_one_running ON check_runs (partner_id) WHERE status = 'Running';
CREATE TABLE check_observations (
    seq {serial}, partner_id TEXT NOT NULL, at_ms BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX check_observations_by_partner ON check_observations (partner_id, seq);
