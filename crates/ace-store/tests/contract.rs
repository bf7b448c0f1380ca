//! The store contract: one suite, run on SQLite always and on PostgreSQL when
//! `ACE_TEST_DATABASE_URL` is set (CI sets it). Each PostgreSQL test gets its own schema.

use ace_domain::audit::{self, AuditEntry};
use ace_domain::events::opportunity_event;
use ace_domain::identity::{CustomerIdentity, PipelineRecord};
use ace_domain::ids::Catalog;
use ace_domain::listing::{Cursor, OpportunityQuery, SortKey, SortValue};
use ace_domain::opportunity::Submission;
use ace_domain::opportunity::{empty_related, Opportunity, Origin, ReviewStatus};
use ace_domain::partner::{PartnerPath, PartnerProfile, Tier};
use ace_domain::quota::QuotaLimits;
use ace_domain::referral::AuditRead;
use ace_domain::security::{SecurityEvent, Signal};
use ace_domain::submission::{EvidenceRequest, EvidenceStatus};
use ace_domain::terms::{Acceptance, AcceptanceMethod, TermsVersion};
use ace_domain::time::from_millis;
use ace_store::{
    AccessKeyRecord, AuditFilter, BatchOutcome, ConsentStatement, IdempotencyKey, IdempotencyRecord, SqlStore, Store, StoreError,
    UserRecord, UserStatus, WriteBatch,
};
use serde_json::json;

struct Fixture {
    store: SqlStore,
    _dir: Option<tempfile::TempDir>,
}

/// SQL run behind the store's back, as someone with access to the database would.
enum Raw {
    Sqlite(std::path::PathBuf),
    Postgres(String, String),
}

impl Raw {
    async fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(path) => {
                let db = rusqlite::Connection::open(path).unwrap();
                db.execute(sql, []).unwrap();
            }
            Raw::Postgres(url, schema) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(connection);
                client.batch_execute(&format!("SET search_path TO {schema}; {sql}")).await.unwrap();
            }
        }
    }

    /// The store opened again on the same database (migrations run again).
    async fn reopen(&self) -> SqlStore {
        match self {
            Raw::Sqlite(path) => SqlStore::open_sqlite(path.parent().unwrap(), "FULL").await.unwrap(),
            Raw::Postgres(url, schema) => SqlStore::open_postgres(url, Some(schema), 2).await.unwrap(),
        }
    }

    /// Every value of the first (text) column `sql` returns.
    async fn texts(&self, sql: &str) -> Vec<String> {
        match self {
            Raw::Sqlite(path) => {
                let db = rusqlite::Connection::open(path).unwrap();
                let mut statement = db.prepare(sql).unwrap();
                statement.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
            }
            Raw::Postgres(url, schema) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(connection);
                client.batch_execute(&format!("SET search_path TO {schema}")).await.unwrap();
                client.query(sql, &[]).await.unwrap().iter().map(|r| r.get::<_, String>(0)).collect()
            }
        }
    }
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(dir.path(), "FULL").await.unwrap();
    Fixture { store, _dir: Some(dir) }
}

async fn postgres() -> Option<Fixture> {
    postgres_with_raw_access().await.map(|(store, _)| Fixture { store, _dir: None })
}

/// A store in a schema of its own, and a way around it to that schema.
async fn postgres_with_raw_access() -> Option<(SqlStore, Raw)> {
    let Ok(url) = std::env::var("ACE_TEST_DATABASE_URL") else {
        eprintln!("skipped: ACE_TEST_DATABASE_URL is not set, so the PostgreSQL back end was not tested");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let store = SqlStore::open_postgres(&url, Some(&schema), 4).await.unwrap();
    Some((store, Raw::Postgres(url, schema)))
}

/// Tests that reach around the store to its database (tampering, reading raw rows): each runs
/// on SQLite and, when `ACE_TEST_DATABASE_URL` is set, on PostgreSQL.
macro_rules! raw_contract {
    ($($name:ident),* $(,)?) => {
        mod raw_on_sqlite {
            $(#[tokio::test] async fn $name() {
                let f = super::sqlite().await;
                let path = f._dir.as_ref().unwrap().path().join("ace.db");
                super::$name(&f.store, super::Raw::Sqlite(path)).await;
            })*
        }
        mod raw_on_postgres {
            $(#[tokio::test] async fn $name() {
                if let Some((store, raw)) = super::postgres_with_raw_access().await {
                    super::$name(&store, raw).await;
                }
            })*
        }
    };
}

raw_contract!(
    constraint_violations_get_the_same_answer_on_both_engines,
    use_4_tampering_with_stored_rows_is_detected,
    rem_2_shredding_destroys_the_key_and_leaves_only_the_record,
    the_baseline_schema_is_applied_once_and_older_databases_are_refused,
    crm_identifiers_shared_before_the_rule_leave_the_claim_to_the_first_opportunity,
);

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $name() { super::$name(&super::sqlite().await.store).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::postgres().await { super::$name(&f.store).await; } })*
        }
    };
}

contract!(
    partners_round_trip_and_conflict,
    users_rotate_and_lookup,
    opportunities_are_scoped_to_partner_and_catalog,
    optimistic_concurrency_rejects_stale_writes,
    idempotency_claims_once,
    list_pages_with_keyset_cursor,
    quotas_default_and_per_partner,
    events_are_written_with_the_change,
    sequences_increase,
    review_queue_is_oldest_submission_first,
    sub_2_submission_candidates_by_domain_duns_and_name,
    sub_2_candidates_in_a_crowded_name_bucket,
    webhook_completing_deliveries_moves_the_cursor_for_the_lease_holder,
    outbox_events_are_never_skipped_by_a_reader_following_the_sequence,
    pipeline_records_upsert_by_external_id,
    consent_statements_evidence_requests_and_settings,
    elig_3_partner_and_configuration_versions_and_approvals,
    ref_3_referrals_are_acted_on_once_and_rem_2_deletes,
    use_4_audit_log_is_one_chain_across_concurrent_writers,
    mod_2_terms_versions_and_mod_3_first_acceptance_stands,
    use_2_security_events_are_recorded_and_audited,
    use_1_at_most_two_keys_per_user_each_with_status_and_last_use,
    concurrent_batches_are_answered_each_alone,
    portal_accounts_sessions_and_one_time_invitations,
    dashboard_counts_by_stage_status_and_week,
    use_5_nodes_heartbeat_and_are_counted_while_alive,
    elig_2_a_change_evaluated_by_two_nodes_at_once_is_recorded_once,
    use_4_engagement_membership_and_optimistic_concurrency,
    snapshot_revisions_are_taken_once_and_rem_2_removes_them_with_the_opportunity,
    customer_accounts_change_under_their_version_and_match_closed_records_too,
    use_4_the_search_index_follows_every_write_in_its_transaction_and_keeps_tenants_apart,
    integration_check_runs_change_under_their_version_and_observations_keep_their_order,
    a_crm_identifier_is_claimed_by_one_opportunity_of_a_partner_and_catalog,
);

fn with_crm(mut o: Opportunity, crm: &str) -> Opportunity {
    o.document.insert("PartnerOpportunityIdentifier".into(), json!(crm));
    o
}

/// Issue 25: a partner's create claims its CRM identifier or fails (one opportunity per
/// identifier, partner and catalog, however many nodes create at once); an accepted referral's
/// opportunity or an update claims it only when it is free.
async fn a_crm_identifier_is_claimed_by_one_opportunity_of_a_partner_and_catalog(store: &SqlStore) {
    let claimed = |partner: &'static str, catalog, crm: &'static str| store.opportunity_identified_as(partner, catalog, crm);
    insert(store, with_crm(opportunity("P-A", Catalog::Aws, 1, "Acme", 10), "CRM-1")).await;
    assert_eq!(claimed("P-A", Catalog::Aws, "CRM-1").await.unwrap().as_deref(), Some("O1"));
    let second = store
        .commit(WriteBatch {
            insert_opportunities: vec![with_crm(opportunity("P-A", Catalog::Aws, 2, "Acme", 10), "CRM-1")],
            ..Default::default()
        })
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    assert!(store.get_opportunity("P-A", Catalog::Aws, "O2").await.unwrap().is_none(), "nothing of the refused batch");
    insert(store, with_crm(opportunity("P-A", Catalog::Sandbox, 3, "Acme", 10), "CRM-1")).await;
    insert(store, with_crm(opportunity("P-B", Catalog::Aws, 4, "Acme", 10), "CRM-1")).await;
    assert_eq!(claimed("P-B", Catalog::Aws, "CRM-1").await.unwrap().as_deref(), Some("O4"));
    // An accepted referral's opportunity carrying a taken identifier is kept, without the claim.
    let referred =
        Opportunity { origin: Origin::AwsReferral, ..with_crm(opportunity("P-A", Catalog::Aws, 5, "Acme", 10), "CRM-1") };
    insert(store, referred.clone()).await;
    assert_eq!(claimed("P-A", Catalog::Aws, "CRM-1").await.unwrap().as_deref(), Some("O1"));
    // Its holder gives the identifier up: the next write of the one that carries it claims it.
    let first = store.get_opportunity("P-A", Catalog::Aws, "O1").await.unwrap().unwrap();
    let moved = Opportunity { last_modified: from_millis(20), ..with_crm(first, "CRM-2") };
    store.commit(WriteBatch { update_opportunities: vec![(moved, 10)], ..Default::default() }).await.unwrap();
    assert_eq!(claimed("P-A", Catalog::Aws, "CRM-1").await.unwrap(), None);
    assert_eq!(claimed("P-A", Catalog::Aws, "CRM-2").await.unwrap().as_deref(), Some("O1"));
    let touched = Opportunity { last_modified: from_millis(20), ..referred };
    store.commit(WriteBatch { update_opportunities: vec![(touched, 10)], ..Default::default() }).await.unwrap();
    assert_eq!(claimed("P-A", Catalog::Aws, "CRM-1").await.unwrap().as_deref(), Some("O5"));
    // A partner's update that takes another's identifier claims it or fails, whole.
    let first = store.get_opportunity("P-A", Catalog::Aws, "O1").await.unwrap().unwrap();
    let taking = Opportunity { last_modified: from_millis(30), ..with_crm(first, "CRM-1") };
    let taken = store
        .commit(WriteBatch {
            update_opportunities: vec![(taking.clone(), 20)],
            claim_identifiers: vec![(Catalog::Aws, 1, "CRM-1".into())],
            ..Default::default()
        })
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(store.get_opportunity("P-A", Catalog::Aws, "O1").await.unwrap().unwrap().partner_identifier(), Some("CRM-2"));
    let free = Opportunity { last_modified: from_millis(30), ..with_crm(taking, "CRM-9") };
    store
        .commit(WriteBatch {
            update_opportunities: vec![(free, 20)],
            claim_identifiers: vec![(Catalog::Aws, 1, "CRM-9".into())],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(claimed("P-A", Catalog::Aws, "CRM-9").await.unwrap().as_deref(), Some("O1"));

    // Eight creates at once with one identifier: one is made.
    let create = |n: i64| {
        store.commit(WriteBatch {
            insert_opportunities: vec![with_crm(opportunity("P-C", Catalog::Aws, 100 + n, "Acme", 10), "CRM-RACE")],
            ..Default::default()
        })
    };
    let answers = tokio::join!(create(1), create(2), create(3), create(4), create(5), create(6), create(7), create(8));
    let answers = [answers.0, answers.1, answers.2, answers.3, answers.4, answers.5, answers.6, answers.7];
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1, "{answers:?}");
    assert!(answers.iter().filter(|a| a.is_err()).all(|a| matches!(a, Err(StoreError::Conflict(_)))), "{answers:?}");
}

/// Issue 25, upgrading: opportunities written before the rule may share an identifier; the
/// migration leaves the claim to the first of them (the others keep theirs in their document,
/// unclaimed), so the unique claim can be made without refusing the upgrade.
async fn crm_identifiers_shared_before_the_rule_leave_the_claim_to_the_first_opportunity(store: &SqlStore, raw: Raw) {
    let referred = |n: i64| Opportunity {
        origin: Origin::AwsReferral,
        ..with_crm(opportunity("P-A", Catalog::Aws, n, "Acme", 10), "CRM-1")
    };
    insert(store, referred(7)).await;
    insert(store, referred(3)).await;
    insert(store, referred(5)).await;
    // As a database before migration 22 had them: no claims at all.
    raw.exec("DROP INDEX opportunities_by_crm_id").await;
    raw.exec("ALTER TABLE opportunities DROP COLUMN crm_id").await;
    raw.exec("DELETE FROM schema_migrations WHERE version = 22").await;
    let upgraded = raw.reopen().await;
    assert_eq!(upgraded.opportunity_identified_as("P-A", Catalog::Aws, "CRM-1").await.unwrap().as_deref(), Some("O3"));
    assert_eq!(raw.texts("SELECT CAST(id_number AS TEXT) FROM opportunities WHERE crm_id IS NOT NULL").await, ["3"]);
    assert_eq!(raw.texts("SELECT CAST(COUNT(*) AS TEXT) FROM opportunities").await, ["3"], "nothing lost");
}

/// Integration checks (issue 25): a run changes only under the version it was read at (a step
/// is taken once, whatever the node); a partner's observations come back in the order they
/// were recorded, after a given one, and never another partner's.
async fn integration_check_runs_change_under_their_version_and_observations_keep_their_order(store: &SqlStore) {
    use ace_domain::check::{CheckRun, Observation, RunStatus};
    let run = CheckRun {
        id: "check-1".into(),
        partner_id: "P-A".into(),
        scenarios: vec!["opportunity-approved".into()],
        step_timeout_ms: 60_000,
        status: RunStatus::Running,
        created_ms: 10,
        updated_ms: 10,
        scenario: 0,
        step: 0,
        step_started_ms: 10,
        seen_before_step: 0,
        before: None,
        bound: Default::default(),
        results: Vec::new(),
        version: 0,
    };
    store.commit(WriteBatch { insert_check_runs: vec![run.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.running_check_runs().await.unwrap(), vec![run.clone()]);
    let next = CheckRun { step: 1, ..run.clone() };
    store.commit(WriteBatch { update_check_runs: vec![next.clone()], ..Default::default() }).await.unwrap();
    let stale =
        store.commit(WriteBatch { update_check_runs: vec![CheckRun { step: 2, ..run.clone() }], ..Default::default() }).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let stored = store.get_check_run("check-1").await.unwrap().unwrap();
    assert_eq!((stored.step, stored.version), (1, 1));
    let ended = CheckRun { status: RunStatus::Passed, ..stored };
    store.commit(WriteBatch { update_check_runs: vec![ended], ..Default::default() }).await.unwrap();
    assert!(store.running_check_runs().await.unwrap().is_empty());
    assert_eq!(store.list_check_runs(Some("P-A"), 10).await.unwrap()[0].status, RunStatus::Passed);
    assert!(store.list_check_runs(Some("P-B"), 10).await.unwrap().is_empty());

    let seen = |n: i64| Observation {
        seq: 0,
        request_id: format!("r{n}"),
        at_ms: n,
        operation: "GetOpportunity".into(),
        error: None,
        input: json!({"Identifier": format!("O{n}")}),
        output: json!({}),
    };
    assert_eq!(store.observe_for_check("P-A", &seen(0)).await.unwrap(), None, "no run going: nothing kept");
    // One run at a time per partner, whatever the nodes.
    let going = CheckRun { id: "check-2".into(), created_ms: 20, ..run.clone() };
    store.commit(WriteBatch { insert_check_runs: vec![going.clone()], ..Default::default() }).await.unwrap();
    let second = CheckRun { id: "check-3".into(), created_ms: 30, ..run.clone() };
    let refused = store.commit(WriteBatch { insert_check_runs: vec![second], ..Default::default() }).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    let theirs = CheckRun { id: "check-4".into(), partner_id: "P-B".into(), ..run.clone() };
    store.commit(WriteBatch { insert_check_runs: vec![theirs], ..Default::default() }).await.unwrap();

    assert_eq!(store.last_check_observation("P-A").await.unwrap(), 0);
    let first = store.observe_for_check("P-A", &seen(1)).await.unwrap().unwrap();
    store.observe_for_check("P-B", &seen(2)).await.unwrap().unwrap();
    let third = store.observe_for_check("P-A", &seen(3)).await.unwrap().unwrap();
    assert!(third > first);
    let all: Vec<String> = store.check_observations("P-A", 0, 10).await.unwrap().into_iter().map(|o| o.request_id).collect();
    assert_eq!(all, ["r1", "r3"], "in order, the partner's own");
    let after = store.check_observations("P-A", first, 10).await.unwrap();
    assert_eq!((after.len(), after[0].seq, after[0].input["Identifier"].as_str()), (1, third, Some("O3")));
    assert_eq!(store.last_check_observation("P-A").await.unwrap(), third);

    // A run that ends takes its partner's observations with it; another partner's stay.
    let ended = CheckRun { status: RunStatus::Failed, ..going };
    store.commit(WriteBatch { update_check_runs: vec![ended], ..Default::default() }).await.unwrap();
    assert!(store.check_observations("P-A", 0, 10).await.unwrap().is_empty());
    assert_eq!(store.check_observations("P-B", 0, 10).await.unwrap().len(), 1);
    assert_eq!(store.observe_for_check("P-A", &seen(4)).await.unwrap(), None, "nothing after the run ended");
}

/// SearchOpportunities' index (issue 20): written with the opportunity in the same transaction
/// (an update that fails leaves no words behind, a deletion removes them), and a keyword finds
/// only the caller's own opportunities in its catalog (USE-4), each term a word's beginning —
/// whether as entries or as the index's bare numbers (`search_matches`).
async fn use_4_the_search_index_follows_every_write_in_its_transaction_and_keeps_tenants_apart(store: &SqlStore) {
    let ids = |entries: Vec<ace_domain::opportunity_search::Entry>| {
        let mut ids: Vec<String> = entries.into_iter().map(|e| e.id).collect();
        ids.sort();
        ids
    };
    let terms = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The entries a keyword finds, and the index's bare answer (numbers only) agreeing with them.
    let find = |partner: &'static str, catalog: Catalog, t: Vec<String>| async move {
        let found = ids(store.search_opportunities(partner, catalog, Some(&t)).await.unwrap());
        let mut numbers: Vec<String> =
            store.search_matches(partner, catalog, &t, usize::MAX).await.unwrap().into_iter().map(|n| format!("O{n}")).collect();
        numbers.sort();
        assert_eq!(numbers, found, "search_matches and search_opportunities agree on {t:?}");
        found
    };
    insert(store, opportunity("P-A", Catalog::Aws, 1, "Zyxwidget Corporation", 10)).await;
    insert(store, opportunity("P-B", Catalog::Aws, 2, "Zyxwidget Limited", 10)).await;
    insert(store, opportunity("P-A", Catalog::Sandbox, 3, "Zyxwidget Sandbox", 10)).await;
    insert(store, opportunity("P-A", Catalog::Aws, 4, "Quokka Holdings", 10)).await;
    assert_eq!(find("P-A", Catalog::Aws, terms(&["zyx"])).await, ["O1"]);
    assert_eq!(find("P-B", Catalog::Aws, terms(&["zyxwidget"])).await, ["O2"]);
    assert_eq!(find("P-A", Catalog::Sandbox, terms(&["zyxwidget"])).await, ["O3"]);
    assert_eq!(find("P-A", Catalog::Aws, terms(&["zyxwidget", "limited"])).await, Vec::<String>::new(), "every term");
    assert_eq!(find("P-A", Catalog::Aws, terms(&["widget"])).await, Vec::<String>::new(), "a word's beginning only");
    assert_eq!(ids(store.search_opportunities("P-A", Catalog::Aws, None).await.unwrap()), ["O1", "O4"]);

    let mut renamed = opportunity("P-A", Catalog::Aws, 1, "Otterbank Group", 20);
    renamed.document["LifeCycle"]["NextSteps"] = json!("Workshop booked");
    store.commit(WriteBatch { update_opportunities: vec![(renamed.clone(), 10)], ..Default::default() }).await.unwrap();
    assert_eq!(find("P-A", Catalog::Aws, terms(&["zyxwidget"])).await, Vec::<String>::new(), "the old words are gone");
    assert_eq!(find("P-A", Catalog::Aws, terms(&["otterbank", "workshop"])).await, ["O1"]);
    // In the store's order, only the matching rows, under the keyset and the page size.
    insert(store, opportunity("P-A", Catalog::Aws, 5, "Otterbank Holdings", 30)).await;
    insert(store, opportunity("P-A", Catalog::Aws, 6, "Otterbank Trust", 40)).await;
    let mut newest_first = query("P-A", Catalog::Aws);
    newest_first.page_size = 1;
    let in_order = |rows: Vec<Opportunity>| rows.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let page = store.list_opportunities_matching(&newest_first, &terms(&["otterbank"])).await.unwrap();
    assert_eq!(in_order(page), ["O6", "O5"], "a page of one and the row after it, newest first, O4 and O1's old name left out");
    newest_first.after = Some(Cursor { value: SortValue::Int(30), id_number: 5 });
    let page = store.list_opportunities_matching(&newest_first, &terms(&["otterbank"])).await.unwrap();
    assert_eq!(in_order(page), ["O1"], "after the cursor");
    let theirs = store.list_opportunities_matching(&query("P-B", Catalog::Aws), &terms(&["otterbank"])).await.unwrap();
    assert!(theirs.is_empty(), "USE-4: never another partner's");
    assert_eq!(store.search_matches("P-A", Catalog::Aws, &terms(&["otterbank"]), 2).await.unwrap().len(), 2, "at most the limit");
    store
        .commit(WriteBatch {
            delete_opportunities: vec![(Catalog::Aws, "O5".into()), (Catalog::Aws, "O6".into())],
            ..Default::default()
        })
        .await
        .unwrap();
    let entry = store.search_opportunities("P-A", Catalog::Aws, Some(&terms(&["otter"]))).await.unwrap().remove(0);
    assert_eq!((entry.company_name.as_deref(), entry.modified_ms), (Some("Otterbank Group"), 20));

    let stale = opportunity("P-A", Catalog::Aws, 1, "Stalemate Inc", 30);
    let failed = store.commit(WriteBatch { update_opportunities: vec![(stale, 10)], ..Default::default() }).await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert_eq!(find("P-A", Catalog::Aws, terms(&["stalemate"])).await, Vec::<String>::new(), "nothing of a failed write");

    store.commit(WriteBatch { delete_opportunities: vec![(Catalog::Aws, "O1".into())], ..Default::default() }).await.unwrap();
    assert_eq!(find("P-A", Catalog::Aws, terms(&["otterbank"])).await, Vec::<String>::new());
    assert_eq!(ids(store.search_opportunities("P-A", Catalog::Aws, None).await.unwrap()), ["O4"]);
}

/// Customer accounts (issue 20): an account changes only under the version it was read at, a
/// partner lists its own, pending ones are found for matching, deleting twice is no error, and
/// the operator's customer records are candidates whatever their stage (a won deal is still a
/// customer), unlike SUB-2's pipeline candidates.
async fn customer_accounts_change_under_their_version_and_match_closed_records_too(store: &SqlStore) {
    use ace_domain::customer_account::{AccountData, CustomerAccount, Outcome, Status};
    let now = ace_domain::time::from_millis(1_700_000_000_000);
    let data = AccountData { company_name: "Acme Widgets".into(), domain: Some("acme.com".into()), ..Default::default() };
    let account = |id: &str, partner: &str| {
        CustomerAccount::new(id.into(), Catalog::Aws, (partner, "111122223333"), data.clone(), None, vec![], now)
    };
    let (a, b) = (account("cust-acc-aaaaaaaaaaaaa", "P-A"), account("cust-acc-bbbbbbbbbbbbb", "P-B"));
    store.commit(WriteBatch { insert_customer_accounts: vec![a.clone(), b.clone()], ..Default::default() }).await.unwrap();
    let mine = store.list_customer_accounts("P-A", Catalog::Aws).await.unwrap();
    assert_eq!(mine.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), [a.id.as_str()], "USE-4: a partner's own only");
    assert_eq!(store.pending_customer_accounts(10).await.unwrap().len(), 2);
    let mut matched = a.clone();
    matched.settle(Outcome::NoMatch);
    store.commit(WriteBatch { update_customer_accounts: vec![matched.clone()], ..Default::default() }).await.unwrap();
    let stale = store.commit(WriteBatch { update_customer_accounts: vec![matched], ..Default::default() }).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "a second write at the version read is refused: {stale:?}");
    let stored = store.get_customer_account(Catalog::Aws, &a.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (Status::NoMatchFound, 2));
    assert_eq!(store.pending_customer_accounts(10).await.unwrap().len(), 1);
    for _ in 0..2 {
        let delete = WriteBatch { delete_customer_accounts: vec![(Catalog::Aws, a.id.clone())], ..Default::default() };
        store.commit(delete).await.unwrap();
    }
    assert!(store.get_customer_account(Catalog::Aws, &a.id).await.unwrap().is_none());
    let won = PipelineRecord {
        external_id: "CRM-WON".into(),
        company_name: "Acme Widgets LLC".into(),
        website: Some("https://acme.com".into()),
        country: None,
        duns: None,
        stage: "Closed Won".into(),
        owner: None,
        enrichment: None,
    };
    store.upsert_pipeline_records(&[won]).await.unwrap();
    let found = store.find_customer_records(&data.identity(), 10).await.unwrap();
    assert_eq!(found.iter().map(|r| r.external_id.as_str()).collect::<Vec<_>>(), ["CRM-WON"]);
    assert!(store.find_pipeline_candidates(&data.identity(), 10).await.unwrap().is_empty(), "SUB-2 skips closed deals");
}

/// Resource snapshots (issue 19): a revision number is taken once whatever the writer, a job
/// changes under its version only, running jobs are found by their resource, associations are
/// seen by the engagement's members, and removing an opportunity removes its snapshots and
/// associations (REM-2) — its jobs stay, stopped by the application with the reason.
async fn snapshot_revisions_are_taken_once_and_rem_2_removes_them_with_the_opportunity(store: &SqlStore) {
    use ace_domain::engagement::{Engagement, Member};
    use ace_domain::snapshot::{Association, JobStatus, Snapshot, SnapshotJob};
    let engagement =
        Engagement::new(Catalog::Aws, "eng-00000000000009".into(), "t".into(), String::new(), vec![], "111", from_millis(1_000))
            .unwrap();
    let member = |account: &str, partner: &str| Member {
        catalog: Catalog::Aws,
        engagement_id: engagement.id.clone(),
        account_id: account.into(),
        partner_id: Some(partner.into()),
        joined: from_millis(1_000),
    };
    let snapshot = |revision: i64, next_steps: &str| Snapshot {
        catalog: Catalog::Aws,
        engagement_id: engagement.id.clone(),
        resource_type: "Opportunity".into(),
        resource_id: "O77".into(),
        template: "OpportunitySummaryView".into(),
        revision,
        created_by: "111".into(),
        partner_id: "P-A".into(),
        created_at: from_millis(1_000 + revision),
        target_accounts: vec!["111".into(), "aws".into()],
        payload: json!({"OpportunitySummary": {"Lifecycle": {"NextSteps": next_steps}}}),
        job_id: None,
    };
    let job = SnapshotJob {
        catalog: Catalog::Aws,
        id: "job-0000000000001".into(),
        partner_id: "P-A".into(),
        account_id: "111".into(),
        engagement_id: engagement.id.clone(),
        resource_type: "Opportunity".into(),
        resource_id: "O77".into(),
        template: "OpportunitySummaryView".into(),
        status: JobStatus::Running,
        created_at: from_millis(1_000),
        last_success: None,
        last_failure: None,
        role_arn: None,
        tags: vec![],
        version: 1,
    };
    let association = Association {
        catalog: Catalog::Aws,
        engagement_id: engagement.id.clone(),
        resource_type: "Opportunity".into(),
        resource_id: "O77".into(),
        created_by: "111".into(),
        partner_id: "P-A".into(),
        created_at: from_millis(1_000),
    };
    store
        .commit(WriteBatch {
            insert_engagements: vec![engagement.clone()],
            add_engagement_members: vec![member("111", "P-A"), member("222", "P-B")],
            insert_snapshots: vec![snapshot(1, "one")],
            insert_snapshot_jobs: vec![job.clone()],
            associate_resources: vec![association.clone(), association.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    // Two writers racing for revision 2: one wins, the other is told, nothing half-written.
    store.commit(WriteBatch { insert_snapshots: vec![snapshot(2, "two")], ..Default::default() }).await.unwrap();
    let lost = store
        .commit(WriteBatch {
            insert_snapshots: vec![snapshot(2, "other")],
            update_snapshot_jobs: vec![job.clone()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::Conflict(_)), "{lost:?}");
    assert_eq!(
        store.get_snapshot_job(Catalog::Aws, &job.id).await.unwrap().unwrap().version,
        1,
        "the losing batch wrote nothing"
    );
    let latest = store.get_resource_snapshot(Catalog::Aws, &engagement.id, "O77", "OpportunitySummaryView", None).await.unwrap();
    assert_eq!(
        latest.map(|s| (s.revision, s.payload["OpportunitySummary"]["Lifecycle"]["NextSteps"].clone())),
        Some((2, json!("two")))
    );
    let first =
        store.get_resource_snapshot(Catalog::Aws, &engagement.id, "O77", "OpportunitySummaryView", Some(1)).await.unwrap();
    assert_eq!(first.map(|s| s.revision), Some(1));
    assert_eq!(store.list_resource_snapshots(Catalog::Aws, &engagement.id).await.unwrap().len(), 2);
    // A job changes under its version only.
    assert_eq!(store.running_snapshot_jobs(Catalog::Aws, "O77").await.unwrap().len(), 1);
    let stopped = SnapshotJob { status: JobStatus::Stopped, ..job.clone() };
    store.commit(WriteBatch { update_snapshot_jobs: vec![stopped.clone()], ..Default::default() }).await.unwrap();
    let stale = store.commit(WriteBatch { update_snapshot_jobs: vec![stopped], ..Default::default() }).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict(_)), "{stale:?}");
    assert!(store.running_snapshot_jobs(Catalog::Aws, "O77").await.unwrap().is_empty());
    assert_eq!(store.list_snapshot_jobs("P-A", Catalog::Aws).await.unwrap().len(), 1);
    assert!(store.list_snapshot_jobs("P-B", Catalog::Aws).await.unwrap().is_empty());
    // Every member sees the association; it was recorded once.
    assert_eq!(store.list_engagement_resources("P-B", Catalog::Aws).await.unwrap(), vec![association]);
    assert!(store.list_engagement_resources("P-C", Catalog::Aws).await.unwrap().is_empty());
    // REM-2: the opportunity goes, and everything snapshotted of it with it.
    store.commit(WriteBatch { delete_opportunities: vec![(Catalog::Aws, "O77".into())], ..Default::default() }).await.unwrap();
    assert!(store.list_resource_snapshots(Catalog::Aws, &engagement.id).await.unwrap().is_empty());
    assert!(store.get_snapshot_job(Catalog::Aws, &job.id).await.unwrap().is_some(), "the job stays, to say why it stopped");
    assert!(store.list_engagement_resources("P-A", Catalog::Aws).await.unwrap().is_empty());
}

/// Engagements (issue 18): members find their engagements by an indexed lookup, a stale
/// `ModifiedAt` loses, and leaving one engagement or the program ends exactly those memberships.
async fn use_4_engagement_membership_and_optimistic_concurrency(store: &SqlStore) {
    use ace_domain::engagement::{ContextType, Engagement, Member};
    let member = |engagement: &str, account: &str, partner: Option<&str>| Member {
        catalog: Catalog::Aws,
        engagement_id: engagement.into(),
        account_id: account.into(),
        partner_id: partner.map(str::to_string),
        joined: from_millis(1_000),
    };
    let engagement = |id: &str| {
        Engagement::new(Catalog::Aws, id.into(), "t".into(), String::new(), vec![], "111", from_millis(1_000)).unwrap()
    };
    let (one, two) = (engagement("eng-00000000000001"), engagement("eng-00000000000002"));
    store
        .commit(WriteBatch {
            insert_engagements: vec![one.clone(), two.clone()],
            add_engagement_members: vec![
                member(&one.id, "111", Some("P-A")),
                member(&one.id, "222", Some("P-B")),
                member(&two.id, "111", Some("P-A")),
                member(&one.id, "aws", None),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let of_a = store.list_member_engagements("P-A", Catalog::Aws).await.unwrap();
    assert_eq!(of_a.iter().map(|(e, n)| (e.id.as_str(), *n)).collect::<Vec<_>>(), [(one.id.as_str(), 3), (two.id.as_str(), 1)]);
    assert!(store.list_member_engagements("P-A", Catalog::Sandbox).await.unwrap().is_empty());
    store.insert_partner(&partner("P-INV", "777777777777"), 1_000).await.unwrap();
    assert_eq!(store.get_partner_by_account("777777777777").await.unwrap().map(|p| p.id), Some("P-INV".to_string()));
    assert!(store.get_partner_by_account("000000000000").await.unwrap().is_none());
    let mut changed = one.clone();
    changed.add_context(ContextType::CustomerProject, json!({"CustomerProject": {}}), "111", from_millis(2_000)).unwrap();
    let stale =
        store.commit(WriteBatch { update_engagements: vec![(changed.clone(), 999)], ..Default::default() }).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict(_)), "{stale:?}");
    store.commit(WriteBatch { update_engagements: vec![(changed.clone(), 1_000)], ..Default::default() }).await.unwrap();
    assert_eq!(store.get_engagement(Catalog::Aws, &one.id).await.unwrap().unwrap().contexts.len(), 1);
    store
        .commit(WriteBatch { leave_engagements: vec![(Catalog::Aws, one.id.clone(), "P-B".into())], ..Default::default() })
        .await
        .unwrap();
    let accounts: Vec<String> =
        store.list_engagement_members(Catalog::Aws, &one.id).await.unwrap().into_iter().map(|m| m.account_id).collect();
    assert_eq!(accounts, ["111", "aws"]);
    store.commit(WriteBatch { end_memberships_of: vec!["P-A".into()], ..Default::default() }).await.unwrap();
    assert!(store.list_member_engagements("P-A", Catalog::Aws).await.unwrap().is_empty());
    assert_eq!(store.list_engagement_members(Catalog::Aws, &one.id).await.unwrap().len(), 1, "the operator's side stays");

    // Invitations between partners: found by either party, due for expiry only while pending.
    use ace_domain::engagement::{InvitationStatus, PartnerInvitation, Party};
    let party = |p: &str| Party { partner_id: p.into(), account_id: format!("{p}-acct"), company_name: p.into() };
    let invitation = PartnerInvitation {
        id: "engi-0000000000001".into(),
        catalog: Catalog::Aws,
        engagement_id: two.id.clone(),
        sender: party("P-A"),
        receiver: party("P-B"),
        receiver_alias: None,
        message: "Join".into(),
        payload_type: "LeadInvitation".into(),
        payload: json!({"LeadInvitation": {}}),
        status: InvitationStatus::Pending,
        invited_at: from_millis(1_000),
        expires_at: from_millis(5_000),
        decided_at: None,
        rejection_reason: None,
        opportunity_id: None,
        version: 1,
    };
    store.commit(WriteBatch { insert_partner_invitations: vec![invitation.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.list_partner_invitations("P-A", Catalog::Aws, true).await.unwrap().len(), 1);
    assert_eq!(store.list_partner_invitations("P-B", Catalog::Aws, false).await.unwrap().len(), 1);
    assert!(store.list_partner_invitations("P-B", Catalog::Aws, true).await.unwrap().is_empty());
    assert!(store.expired_partner_invitations(4_999, 10).await.unwrap().is_empty(), "not due yet");
    assert_eq!(store.expired_partner_invitations(5_000, 10).await.unwrap().len(), 1);
    let accepted = PartnerInvitation { status: InvitationStatus::Accepted, ..invitation.clone() };
    store.commit(WriteBatch { update_partner_invitations: vec![accepted.clone()], ..Default::default() }).await.unwrap();
    assert!(store.expired_partner_invitations(9_000, 10).await.unwrap().is_empty(), "answered: never due");
    let stale = store.commit(WriteBatch { update_partner_invitations: vec![accepted], ..Default::default() }).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict(_)), "decided once: {stale:?}");
    assert_eq!(store.get_partner_invitation(&invitation.id).await.unwrap().unwrap().version, 2);
}

fn partner(id: &str, account: &str) -> PartnerProfile {
    PartnerProfile {
        id: id.into(),
        name: format!("{id} Inc"),
        path: PartnerPath::Consulting,
        tier: Tier::Select,
        account_id: account.into(),
        programs: vec![],
        psf_listed: true,
        isv_path_confirmed: false,
        privacy_policy: None,
        timezone: "UTC".into(),
        holiday_calendar: None,
        referrals_approved: false,
        further_requirements: Default::default(),
        removal: None,
    }
}

fn opportunity(partner_id: &str, catalog: Catalog, number: i64, company: &str, modified_ms: i64) -> Opportunity {
    Opportunity {
        catalog,
        id: format!("O{number}"),
        partner_id: partner_id.into(),
        document: json!({"Customer": {"Account": {"CompanyName": company}}, "LifeCycle": {"ReviewStatus": "Pending Submission", "Stage": "Prospect"}})
            .as_object()
            .unwrap()
            .clone(),
        origin: Origin::PartnerReferral,
        created: from_millis(1_000 + number),
        last_modified: from_millis(modified_ms),
        related: empty_related(),
        tags: vec![],
        submission: None,
        approved_at: None,
        review: Default::default(),
        referral_id: None,
    }
}

async fn insert(store: &SqlStore, o: Opportunity) {
    let outcome = store.commit(WriteBatch { insert_opportunities: vec![o], ..Default::default() }).await.unwrap();
    assert_eq!(outcome, BatchOutcome::Committed);
}

fn query(partner_id: &str, catalog: Catalog) -> OpportunityQuery {
    OpportunityQuery::from_request(partner_id, catalog, json!({}).as_object().unwrap())
}

async fn partners_round_trip_and_conflict(store: &SqlStore) {
    let p = partner("P-A", "111111111111");
    store.insert_partner(&p, 1).await.unwrap();
    assert_eq!(store.get_partner("P-A").await.unwrap(), Some(p.clone()));
    assert!(matches!(store.insert_partner(&p, 1).await, Err(StoreError::Conflict(_))));
    let same_account = partner("P-B", "111111111111");
    assert!(matches!(store.insert_partner(&same_account, 1).await, Err(StoreError::Conflict(_))));
    let mut changed = p.clone();
    changed.referrals_approved = true;
    store.update_partner(&changed, 2).await.unwrap();
    assert!(store.get_partner("P-A").await.unwrap().unwrap().referrals_approved);
    assert_eq!(store.update_partner(&partner("P-X", "222222222222"), 2).await, Err(StoreError::NotFound));
    assert_eq!(store.list_partners().await.unwrap().len(), 1);
}

async fn users_rotate_and_lookup(store: &SqlStore) {
    let u = UserRecord {
        partner_id: "P-A".into(),
        name: "alice".into(),
        access_key_id: "AKIA1".into(),
        secret_encrypted: "s1".into(),
        status: UserStatus::Active,
        created_ms: 5,
    };
    store.insert_user(&u).await.unwrap();
    assert!(matches!(
        store.insert_user(&UserRecord { access_key_id: "AKIA2".into(), ..u.clone() }).await,
        Err(StoreError::Conflict(_))
    ));
    let rotated = UserRecord { access_key_id: "AKIA3".into(), secret_encrypted: "s3".into(), ..u.clone() };
    store.update_user("AKIA1", &rotated).await.unwrap();
    assert_eq!(store.get_user_by_access_key("AKIA1").await.unwrap(), None);
    assert_eq!(store.get_user_by_access_key("AKIA3").await.unwrap(), Some(rotated.clone()));
    assert_eq!(store.get_user("P-A", "alice").await.unwrap(), Some(rotated));
    assert_eq!(store.list_users("P-A").await.unwrap().len(), 1);
    assert_eq!(store.list_users("P-B").await.unwrap().len(), 0);
}

async fn opportunities_are_scoped_to_partner_and_catalog(store: &SqlStore) {
    insert(store, opportunity("P-A", Catalog::Aws, 1, "Acme", 10)).await;
    insert(store, opportunity("P-B", Catalog::Aws, 2, "Acme", 10)).await;
    insert(store, opportunity("P-A", Catalog::Sandbox, 3, "Acme", 10)).await;
    assert!(store.get_opportunity("P-A", Catalog::Aws, "O1").await.unwrap().is_some());
    assert!(store.get_opportunity("P-B", Catalog::Aws, "O1").await.unwrap().is_none(), "another partner's");
    assert!(store.get_opportunity("P-A", Catalog::Sandbox, "O1").await.unwrap().is_none(), "another catalog's");
    assert!(store.get_opportunity("P-A", Catalog::Aws, "not-an-id").await.unwrap().is_none());
    let ids: Vec<String> =
        store.list_opportunities(&query("P-A", Catalog::Aws)).await.unwrap().into_iter().map(|o| o.id).collect();
    assert_eq!(ids, vec!["O1"]);
}

async fn optimistic_concurrency_rejects_stale_writes(store: &SqlStore) {
    let o = opportunity("P-A", Catalog::Aws, 1, "Acme", 10);
    insert(store, o.clone()).await;
    let mut next = o.clone();
    next.last_modified = from_millis(20);
    store.commit(WriteBatch { update_opportunities: vec![(next.clone(), 10)], ..Default::default() }).await.unwrap();
    let stale = store.commit(WriteBatch { update_opportunities: vec![(next, 10)], ..Default::default() }).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert_eq!(store.get_opportunity("P-A", Catalog::Aws, "O1").await.unwrap().unwrap().last_modified, from_millis(20));
}

async fn idempotency_claims_once(store: &SqlStore) {
    let key = IdempotencyKey {
        partner_id: "P-A".into(),
        catalog: Catalog::Aws,
        operation: "CreateOpportunity".into(),
        client_token: "t1".into(),
    };
    let record = IdempotencyRecord { key: key.clone(), request_hash: "h1".into(), response: json!({"Id": "O1"}), created_ms: 1 };
    let first = WriteBatch {
        idempotency: Some(record.clone()),
        insert_opportunities: vec![opportunity("P-A", Catalog::Aws, 1, "Acme", 10)],
        ..Default::default()
    };
    assert_eq!(store.commit(first).await.unwrap(), BatchOutcome::Committed);
    let retry = WriteBatch {
        idempotency: Some(IdempotencyRecord { response: json!({"Id": "O2"}), ..record.clone() }),
        insert_opportunities: vec![opportunity("P-A", Catalog::Aws, 2, "Acme", 10)],
        ..Default::default()
    };
    let BatchOutcome::Replayed(existing) = store.commit(retry).await.unwrap() else { panic!("expected a replay") };
    assert_eq!(existing.response, json!({"Id": "O1"}));
    assert!(store.get_opportunity("P-A", Catalog::Aws, "O2").await.unwrap().is_none(), "the replayed batch wrote nothing");
    assert_eq!(store.get_idempotency(&key).await.unwrap().unwrap().request_hash, "h1");
    // Issue 22: a day later the token is claimed anew, its record replaced; the sweep removes
    // records older than the window, a limited number at a time, and only those.
    let day = ace_store::IDEMPOTENCY_RETENTION_MS;
    let later = WriteBatch {
        idempotency: Some(IdempotencyRecord {
            request_hash: "h2".into(),
            response: json!({"Id": "O2"}),
            created_ms: 1 + day,
            ..record.clone()
        }),
        insert_opportunities: vec![opportunity("P-A", Catalog::Aws, 2, "Acme", 10)],
        ..Default::default()
    };
    assert_eq!(store.commit(later).await.unwrap(), BatchOutcome::Committed);
    assert_eq!(store.get_idempotency(&key).await.unwrap().unwrap().request_hash, "h2");
    for (n, token) in ["t2", "t3", "t4"].into_iter().enumerate() {
        let record = IdempotencyRecord {
            key: IdempotencyKey { client_token: token.into(), ..key.clone() },
            request_hash: "h".into(),
            response: json!({}),
            created_ms: 10 + n as i64,
        };
        store.commit(WriteBatch { idempotency: Some(record), ..Default::default() }).await.unwrap();
    }
    assert_eq!(store.delete_expired_idempotency(12, 1).await.unwrap(), 1, "at most the limit");
    assert_eq!(store.delete_expired_idempotency(12, 100).await.unwrap(), 1, "t2 and t3 were before 12");
    assert_eq!(store.delete_expired_idempotency(12, 100).await.unwrap(), 0);
    assert!(store.get_idempotency(&IdempotencyKey { client_token: "t4".into(), ..key.clone() }).await.unwrap().is_some());
    assert!(store.get_idempotency(&key).await.unwrap().is_some(), "the renewed record stays");
}

async fn list_pages_with_keyset_cursor(store: &SqlStore) {
    for n in 1..=7 {
        insert(store, opportunity("P-A", Catalog::Aws, n, &format!("Company {}", n % 3), 100 + (n % 4))).await;
    }
    for sort in [SortKey::LastModifiedDate, SortKey::Identifier, SortKey::CustomerCompanyName, SortKey::CreatedDate] {
        for descending in [false, true] {
            let mut q = query("P-A", Catalog::Aws);
            q.sort_by = sort;
            q.descending = descending;
            q.page_size = 3;
            let mut seen = Vec::new();
            loop {
                let mut page = store.list_opportunities(&q).await.unwrap();
                let more = page.len() > q.page_size;
                page.truncate(q.page_size);
                let last = page.last().cloned();
                seen.extend(page.into_iter().map(|o| o.id_number()));
                if !more {
                    break;
                }
                let last = last.unwrap();
                let value = match sort {
                    SortKey::LastModifiedDate => SortValue::Int(last.last_modified.timestamp_millis()),
                    SortKey::CreatedDate => SortValue::Int(last.created.timestamp_millis()),
                    SortKey::CustomerCompanyName => SortValue::Text(last.company_name_key()),
                    _ => SortValue::Int(last.id_number()),
                };
                q.after = Some(Cursor { value, id_number: last.id_number() });
            }
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, (1..=7).collect::<Vec<_>>(), "{sort:?} desc={descending}: every row exactly once, got {seen:?}");
        }
    }
    let mut q = query("P-A", Catalog::Aws);
    q.company_name_keys = vec!["company 1".into()];
    q.review_statuses = vec![ReviewStatus::PendingSubmission.as_str().into()];
    let ids: Vec<i64> = store.list_opportunities(&q).await.unwrap().iter().map(|o| o.id_number()).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let mut q = query("P-A", Catalog::Aws);
    q.modified_after_ms = Some(102);
    assert!(store.list_opportunities(&q).await.unwrap().iter().all(|o| o.last_modified.timestamp_millis() >= 102));
}

async fn quotas_default_and_per_partner(store: &SqlStore) {
    assert_eq!(store.get_quota(None).await.unwrap(), None);
    store.set_quota(None, &QuotaLimits::UNLIMITED).await.unwrap();
    let custom = QuotaLimits { writes_per_second: Some(5), ..QuotaLimits::default() };
    store.set_quota(Some("P-A"), &custom).await.unwrap();
    store.set_quota(Some("P-A"), &custom).await.unwrap();
    assert_eq!(store.get_quota(None).await.unwrap(), Some(QuotaLimits::UNLIMITED));
    assert_eq!(store.get_quota(Some("P-A")).await.unwrap(), Some(custom));
    assert_eq!(store.get_quota(Some("P-B")).await.unwrap(), None);
}

async fn events_are_written_with_the_change(store: &SqlStore) {
    let o = opportunity("P-A", Catalog::Aws, 1, "Acme", 10);
    let event = opportunity_event("Opportunity Created", "e-1".into(), &o, "111111111111", from_millis(10));
    store
        .commit(WriteBatch { insert_opportunities: vec![o.clone()], events: vec![event.clone()], ..Default::default() })
        .await
        .unwrap();
    // a failing batch (duplicate key) leaves no event behind
    let failed = store
        .commit(WriteBatch {
            insert_opportunities: vec![o.clone()],
            events: vec![opportunity_event("Opportunity Created", "e-2".into(), &o, "1", from_millis(10))],
            ..Default::default()
        })
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))));
    let events = store.list_events(0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, event);
}

async fn sequences_increase(store: &SqlStore) {
    let a = store.next_sequence("opportunity").await.unwrap();
    let b = store.next_sequence("opportunity").await.unwrap();
    let other = store.next_sequence("solution").await.unwrap();
    assert_eq!(b, a + 1);
    assert_eq!(other, 1);
}

fn submitted(mut o: Opportunity, status: ReviewStatus, at_ms: i64) -> Opportunity {
    o.set_review(status, None, None, from_millis(at_ms));
    o.submission =
        Some(Submission { involvement_type: "Co-Sell".into(), visibility: "Full".into(), submitted_at: from_millis(at_ms) });
    o
}

async fn review_queue_is_oldest_submission_first(store: &SqlStore) {
    insert(store, submitted(opportunity("P-A", Catalog::Aws, 1, "A", 10), ReviewStatus::Submitted, 300)).await;
    insert(store, submitted(opportunity("P-B", Catalog::Aws, 2, "B", 10), ReviewStatus::InReview, 100)).await;
    insert(store, submitted(opportunity("P-A", Catalog::Aws, 3, "C", 10), ReviewStatus::Submitted, 200)).await;
    insert(store, opportunity("P-A", Catalog::Aws, 4, "D", 10)).await;
    let queue = store.list_review_queue(&[ReviewStatus::Submitted, ReviewStatus::InReview], 10).await.unwrap();
    assert_eq!(queue.iter().map(|o| o.id_number()).collect::<Vec<_>>(), vec![2, 3, 1]);
    let only_submitted = store.list_review_queue(&[ReviewStatus::Submitted], 10).await.unwrap();
    assert_eq!(only_submitted.len(), 2);
    assert_eq!(store.get_opportunity_by_id("O2").await.unwrap().unwrap().partner_id, "P-B");
}

fn with_account(mut o: Opportunity, account: serde_json::Value) -> Opportunity {
    o.document.insert("Customer".into(), json!({ "Account": account }));
    o
}

/// An active submission (SUB-2 counts only those) of `partner` for the customer `account`.
fn submitted_for(partner: &str, catalog: Catalog, number: i64, account: serde_json::Value) -> Opportunity {
    submitted(with_account(opportunity(partner, catalog, number, "", 10), account), ReviewStatus::Submitted, 10)
}

async fn sub_2_submission_candidates_by_domain_duns_and_name(store: &SqlStore) {
    let us = |name: &str| json!({"CompanyName": name, "Address": {"CountryCode": "US"}});
    for o in [
        submitted_for("P-B", Catalog::Aws, 1, json!({"CompanyName": "Other", "WebsiteUrl": "https://www.acme.com"})),
        submitted_for("P-B", Catalog::Aws, 2, json!({"CompanyName": "X", "Duns": "123456789"})),
        submitted_for("P-B", Catalog::Aws, 3, us("Acme Widget")),
        submitted_for("P-B", Catalog::Aws, 4, us("Zeta")),
        submitted_for("P-B", Catalog::Sandbox, 5, json!({"CompanyName": "Acme", "WebsiteUrl": "acme.com"})),
        // The submitting partner's own record, and another partner's draft: never candidates.
        submitted_for("P-A", Catalog::Aws, 6, json!({"CompanyName": "Acme", "WebsiteUrl": "acme.com"})),
        with_account(opportunity("P-B", Catalog::Aws, 7, "", 10), json!({"CompanyName": "Acme", "WebsiteUrl": "acme.com"})),
    ] {
        insert(store, o).await;
    }
    let identity = CustomerIdentity::new("Acme Widgets Inc", Some("https://shop.acme.com"), Some("123456789"), Some("US"));
    let ids = |found: Vec<ace_domain::submission::ConflictCandidate>| {
        let mut ids: Vec<String> = found.into_iter().map(|c| c.record_id).collect();
        ids.sort();
        ids
    };
    let found = store.find_submission_candidates(Catalog::Aws, &identity, "P-A", 100).await.unwrap();
    assert!(found.iter().all(|c| c.partner_id.as_deref() == Some("P-B") && c.source == "partner-submission"));
    assert_eq!(found.iter().find(|c| c.record_id == "O3").map(|c| c.company_name.as_str()), Some("Acme Widget"));
    assert_eq!(ids(found), vec!["O1", "O2", "O3"]);

    // A submission that is lost no longer counts (the column follows every update).
    let mut lost = store.get_opportunity("P-B", Catalog::Aws, "O1").await.unwrap().unwrap();
    let before = lost.last_modified.timestamp_millis();
    lost.document.insert("LifeCycle".into(), json!({"ReviewStatus": "Submitted", "Stage": "Closed Lost"}));
    lost.last_modified = from_millis(20);
    store.commit(WriteBatch { update_opportunities: vec![(lost, before)], ..Default::default() }).await.unwrap();
    let found = store.find_submission_candidates(Catalog::Aws, &identity, "P-A", 100).await.unwrap();
    assert_eq!(ids(found), vec!["O2", "O3"]);
}

/// A bucket (country and name prefix) far larger than any read: the exact name is still found
/// through its index, and a near name through the names that sort next to it.
async fn sub_2_candidates_in_a_crowded_name_bucket(store: &SqlStore) {
    let record = |id: String, name: String| PipelineRecord {
        external_id: id,
        company_name: name,
        website: None,
        country: Some("US".into()),
        duns: None,
        stage: "Qualified".into(),
        owner: None,
        enrichment: None,
    };
    let mut records: Vec<PipelineRecord> =
        (0..2_000).map(|n| record(format!("SF-{n:04}"), format!("Ac{n:04} Holdings"))).collect();
    records.push(record("SF-EXACT".into(), "ACME Widgets LLC".into()));
    records.push(record("SF-NEAR".into(), "Acme Widgetz".into()));
    let mut closed = record("SF-CLOSED".into(), "Acme Widgets".into());
    closed.stage = "Closed Won".into();
    records.push(closed);
    store.upsert_pipeline_records(&records).await.unwrap();
    let identity = CustomerIdentity::new("Acme Widgets Inc", None, None, Some("US"));
    let found = store.find_pipeline_candidates(&identity, 100).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|c| c.record_id.as_str()).collect();
    assert!(ids.contains(&"SF-EXACT") && ids.contains(&"SF-NEAR"), "{ids:?}");
    assert!(!ids.contains(&"SF-CLOSED"), "closed deals are not pursued any more");
    assert!(found.len() < 600, "bounded read: {} candidates", found.len());
    assert!(found.iter().all(|c| c.source == "operator-pipeline" && c.partner_id.is_none()));
    let exact = found.iter().find(|c| c.record_id == "SF-EXACT").unwrap();
    assert_eq!((exact.company_name.as_str(), exact.identity.name.as_str()), ("ACME Widgets LLC", "acme widgets"));
}

/// Issue 17: the schema is one baseline (version 20) and the numbered migrations after it
/// (21: integration checks, 22: CRM identifiers' claims), each applied once; opening the store again applies nothing, keeps
/// what is stored, and a database from a development build older than the baseline is refused
/// with a message that says so, not half-migrated.
async fn the_baseline_schema_is_applied_once_and_older_databases_are_refused(store: &SqlStore, raw: Raw) {
    store.insert_partner(&partner("P-A", "111111111111"), 1).await.unwrap();
    let versions = "SELECT CAST(version AS TEXT) FROM schema_migrations ORDER BY version";
    assert_eq!(raw.texts(versions).await, ["20", "21", "22"]);
    let again = raw.reopen().await;
    assert!(again.get_partner("P-A").await.unwrap().is_some(), "the data is kept");
    assert_eq!(raw.texts(versions).await, ["20", "21", "22"], "nothing applied twice");
    raw.exec("UPDATE schema_migrations SET version = version - 10").await;
    let refused = match &raw {
        Raw::Sqlite(path) => SqlStore::open_sqlite(path.parent().unwrap(), "FULL").await.err(),
        Raw::Postgres(url, schema) => SqlStore::open_postgres(url, Some(schema), 2).await.err(),
    };
    match refused {
        Some(StoreError::Unavailable(message)) => assert!(message.contains("before the baseline schema"), "{message}"),
        other => panic!("a pre-baseline database must be refused: {other:?}"),
    }
}

/// A run of delivered events is recorded and the cursor passes it in one transaction, for the
/// lease holder only; another node's attempt is kept in the log but moves nothing.
async fn webhook_completing_deliveries_moves_the_cursor_for_the_lease_holder(store: &SqlStore) {
    let hook = ace_domain::webhook::Webhook {
        id: "wh-1".into(),
        owner: ace_domain::webhook::WebhookOwner::Operator,
        url: "http://127.0.0.1:9/hook".into(),
        event_types: vec![],
        secret_encrypted: "x".into(),
        created_at: from_millis(0),
        include_changes: false,
    };
    store.insert_webhook(&hook, 0).await.unwrap();
    assert!(store.claim_webhook("wh-1", "node-a", 1_000, 61_000).await.unwrap());
    let attempt = |seq: i64, outcome: &str| ace_store::DeliveryAttempt {
        webhook_id: "wh-1".into(),
        event_seq: seq,
        event_id: format!("e-{seq}"),
        attempt: 1,
        at_ms: 2_000,
        outcome: outcome.into(),
        http_status: 200,
        error: String::new(),
    };
    let cursor = || async { store.list_webhooks(None).await.unwrap().into_iter().find(|(h, _)| h.id == "wh-1").unwrap().1 };
    // Events 5 and 7 delivered, 6 and 8 not wanted by the subscription: the cursor passes 8.
    assert!(store.complete_deliveries("wh-1", "node-a", &[attempt(5, "delivered"), attempt(7, "dead")], 8).await.unwrap());
    assert_eq!(cursor().await, 8);
    assert!(store.complete_deliveries("wh-1", "node-a", &[], 8).await.unwrap(), "the holder, with nothing new");
    assert!(!store.complete_deliveries("wh-1", "node-b", &[attempt(9, "delivered")], 9).await.unwrap(), "not the lease holder");
    assert_eq!(cursor().await, 8);
    let log: Vec<(i64, String)> =
        store.list_deliveries("wh-1", 10).await.unwrap().into_iter().map(|d| (d.event_seq, d.outcome)).collect();
    assert_eq!(log, vec![(5, "delivered".into()), (7, "dead".into()), (9, "delivered".into())]);
}

/// Events become visible in sequence order however many writers commit at once: a reader that
/// follows the outbox by sequence number (as the webhook dispatcher does) misses none.
async fn outbox_events_are_never_skipped_by_a_reader_following_the_sequence(store: &SqlStore) {
    const WRITERS: usize = 40;
    let writes = (0..WRITERS).map(|i| {
        let batch = WriteBatch {
            events: vec![ace_domain::events::partner_event(
                "Bench Event",
                format!("e-{i}"),
                "P-A",
                "123456789012",
                json!({"n": i}),
                from_millis(1_000),
            )],
            ..Default::default()
        };
        store.commit(batch)
    });
    let reader = async {
        let (mut cursor, mut seen) = (0, std::collections::BTreeSet::new());
        for _ in 0..2_000 {
            for (seq, e) in store.list_events(cursor, 100).await.unwrap() {
                cursor = seq;
                seen.insert(e.id);
            }
            if seen.len() == WRITERS {
                break;
            }
            tokio::task::yield_now().await;
        }
        seen
    };
    let (results, seen) = tokio::join!(futures_join(writes), reader);
    results.into_iter().for_each(|r| assert_eq!(r.unwrap(), BatchOutcome::Committed));
    let mut cursor_after = 0;
    let all = store.list_events(0, 1_000).await.unwrap();
    if let Some((seq, _)) = all.last() {
        cursor_after = *seq;
    }
    assert_eq!(all.len(), WRITERS);
    assert_eq!(seen.len(), WRITERS, "the reader following the sequence missed events (last seq {cursor_after})");
}

async fn pipeline_records_upsert_by_external_id(store: &SqlStore) {
    let record = |id: &str, name: &str, web: Option<&str>| PipelineRecord {
        external_id: id.into(),
        company_name: name.into(),
        website: web.map(String::from),
        country: Some("US".into()),
        duns: None,
        stage: "Qualified".into(),
        owner: None,
        enrichment: None,
    };
    let counts =
        store.upsert_pipeline_records(&[record("SF-1", "Acme", Some("acme.com")), record("SF-2", "Beta", None)]).await.unwrap();
    assert_eq!(counts, (2, 0));
    let counts = store
        .upsert_pipeline_records(&[record("SF-1", "Acme Corp", Some("acme.com")), record("SF-3", "Gamma", None)])
        .await
        .unwrap();
    assert_eq!(counts, (1, 1));
    let all = store.list_pipeline_records(100).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].company_name, "Acme Corp");
    let identity = CustomerIdentity::new("Someone", Some("www.acme.com"), None, Some("DE"));
    let found = store.find_pipeline_candidates(&identity, 10).await.unwrap();
    assert_eq!(found.iter().map(|r| r.record_id.as_str()).collect::<Vec<_>>(), vec!["SF-1"]);
}

async fn consent_statements_evidence_requests_and_settings(store: &SqlStore) {
    let statement = ConsentStatement { version: "v1".into(), text: "Yes".into(), published_ms: 1 };
    store.insert_consent_statement(&statement).await.unwrap();
    assert!(matches!(store.insert_consent_statement(&statement).await, Err(StoreError::Conflict(_))), "versions never change");
    assert_eq!(store.list_consent_statements().await.unwrap(), vec![statement]);

    let mut request = EvidenceRequest {
        id: "evr-1".into(),
        catalog: Catalog::Aws,
        opportunity_id: "O1".into(),
        partner_id: "P-A".into(),
        status: EvidenceStatus::Open,
        message: "show it".into(),
        requested_at: from_millis(5),
        requested_by: "op".into(),
        evidence: None,
        evidence_sha256: None,
        answered_at: None,
        answered_by: None,
        closed_at: None,
    };
    store.put_evidence_request(&request).await.unwrap();
    request.respond("the form".into(), None, "alice", from_millis(6)).unwrap();
    store.put_evidence_request(&request).await.unwrap();
    assert_eq!(store.get_evidence_request("evr-1").await.unwrap(), Some(request.clone()));
    assert_eq!(store.list_evidence_requests(Some("P-A")).await.unwrap().len(), 1);
    assert_eq!(store.list_evidence_requests(Some("P-B")).await.unwrap().len(), 0);
    assert_eq!(store.list_evidence_requests(None).await.unwrap().len(), 1);

    assert_eq!(store.get_setting("k").await.unwrap(), None);
    store.put_setting("k", "1").await.unwrap();
    store.put_setting("k", "2").await.unwrap();
    assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("2"));
}

async fn elig_3_partner_and_configuration_versions_and_approvals(store: &SqlStore) {
    use ace_domain::eligibility::EligibilityConfig;
    let mut p = partner("P-A", "111111111111");
    store.insert_partner(&p, 100).await.unwrap();
    p.tier = Tier::Advanced;
    store.update_partner(&p, 200).await.unwrap();
    let versions = store.partner_versions(Some("P-A"), 150).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].1.tier, Tier::Select, "as of 150 the partner was still select");
    assert_eq!(store.partner_versions(None, 1_000).await.unwrap().len(), 2);

    let mut config = EligibilityConfig::default();
    store.put_eligibility_config(10, &config).await.unwrap();
    config.validated_min = 3;
    store.put_eligibility_config(20, &config).await.unwrap();
    let versions = store.eligibility_config_versions().await.unwrap();
    assert_eq!(versions.iter().map(|(ms, c)| (*ms, c.validated_min)).collect::<Vec<_>>(), vec![(10, 10), (20, 3)]);

    let approved = |n: i64, partner: &str, catalog: Catalog, ms: i64| {
        let mut o = opportunity(partner, catalog, n, "X", 10);
        o.approved_at = Some(from_millis(ms));
        o
    };
    insert(store, approved(1, "P-A", Catalog::Aws, 500)).await;
    insert(store, approved(2, "P-A", Catalog::Aws, 900)).await;
    insert(store, approved(3, "P-A", Catalog::Sandbox, 600)).await;
    insert(store, approved(4, "P-B", Catalog::Aws, 700)).await;
    insert(store, opportunity("P-A", Catalog::Aws, 5, "X", 10)).await;
    assert_eq!(store.approvals(Some("P-A"), 400, 800).await.unwrap(), vec![("P-A".to_string(), 500)], "the Sandbox never counts");
    let mut all = store.approvals(None, 0, 1_000).await.unwrap();
    all.sort();
    assert_eq!(all, vec![("P-A".into(), 500), ("P-A".into(), 900), ("P-B".into(), 700)]);

    let mut referral = opportunity("P-A", Catalog::Aws, 6, "R", 1234);
    referral.origin = Origin::AwsReferral;
    insert(store, referral.clone()).await;
    let activity = store.referral_activity(Some("P-A")).await.unwrap();
    assert_eq!(activity.len(), 1);
    assert_eq!((activity[0].opportunity_id.as_str(), activity[0].last_update_ms), ("O6", 1234));
    assert!(store.referral_activity(Some("P-B")).await.unwrap().is_empty());

    // Issue 22: the activity as of an instant is the latest change at or before it.
    let mut later = referral.clone();
    later.last_modified = from_millis(5_000);
    later.document["LifeCycle"]["Stage"] = json!("Closed Won");
    store.commit(WriteBatch { update_opportunities: vec![(later, 1234)], ..Default::default() }).await.unwrap();
    let at = |ms: i64| async move {
        store
            .referral_activity_as_of(Some("P-A"), ms)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.opportunity_id, a.last_update_ms, a.stage))
            .collect::<Vec<_>>()
    };
    assert_eq!(at(1_000).await, vec![], "not yet made");
    assert_eq!(at(4_999).await, vec![("O6".to_string(), 1234, "Prospect".to_string())], "as it was then");
    assert_eq!(at(5_000).await, vec![("O6".to_string(), 5000, "Closed Won".to_string())]);
    assert!(store.referral_activity_as_of(Some("P-B"), 9_000).await.unwrap().is_empty());
    assert_eq!(store.referral_activity_as_of(None, 4_999).await.unwrap().len(), 1, "every partner's");
    store.commit(WriteBatch { delete_opportunities: vec![(Catalog::Aws, "O6".into())], ..Default::default() }).await.unwrap();
    assert_eq!(at(9_000).await, vec![], "REM-2: its history goes with it");
}

async fn ref_3_referrals_are_acted_on_once_and_rem_2_deletes(store: &SqlStore) {
    use ace_domain::referral::*;
    let request = ReferralRequest {
        partner_id: "P-A".into(),
        catalog: Catalog::Aws,
        kind: ReferralKind::Lead,
        customer: ReferralCustomer {
            company_name: "Acme".into(),
            website: "acme.com".into(),
            country: "US".into(),
            industry: None,
        },
        title: None,
        problem: None,
        contact: ReferralContact::default(),
    };
    let ids = ReferralIds { invitation: "engi-0000000000001".into(), engagement: "eng-00000000000001".into() };
    let mut referral = Referral::pending(request, ids, from_millis(1_000), from_millis(2_000), from_millis(1_500));
    referral.opportunity_id = Some("O7".into());
    insert(store, opportunity("P-A", Catalog::Aws, 7, "Acme", 10)).await;
    store.commit(WriteBatch { insert_referrals: vec![referral.clone()], ..Default::default() }).await.unwrap();
    let stored = store.get_referral(&referral.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    // REF-3: due at its contact deadline (1,500 ms, before its expiry at 2,000), not before.
    assert!(store.due_referrals(1_499, 10).await.unwrap().is_empty(), "not due yet");
    assert_eq!(store.due_referrals(1_500, 10).await.unwrap().len(), 1, "due at its contact deadline");
    let contacted = Referral {
        contact_record: Some(ContactRecord {
            channel: ContactChannel::Email,
            contacted_at: from_millis(1_200),
            recorded_by: "alice".into(),
            recorded_at: from_millis(1_200),
            note: None,
        }),
        status: ReferralStatus::Accepted,
        ..stored.clone()
    };
    store.commit(WriteBatch { update_referrals: vec![contacted], ..Default::default() }).await.unwrap();
    assert!(store.due_referrals(i64::MAX, 10).await.unwrap().is_empty(), "accepted and contacted: never due again");
    let stored = store.get_referral(&referral.id).await.unwrap().unwrap();
    let revoked = Referral { status: ReferralStatus::Revoked, ..stored.clone() };
    let batch = WriteBatch {
        update_referrals: vec![revoked.clone()],
        delete_opportunities: vec![(Catalog::Aws, "O7".into())],
        ..Default::default()
    };
    store.commit(batch.clone()).await.unwrap();
    assert!(
        matches!(store.commit(batch).await, Err(StoreError::Conflict(_))),
        "a second node's revocation of the same version loses"
    );
    assert_eq!(store.get_referral(&referral.id).await.unwrap().unwrap().status, ReferralStatus::Revoked);
    assert!(store.get_opportunity("P-A", Catalog::Aws, "O7").await.unwrap().is_none());
    assert!(store.due_referrals(i64::MAX, 10).await.unwrap().is_empty(), "a revoked referral is never due");
    assert_eq!(store.list_referrals(Some("P-A"), 10).await.unwrap().len(), 1);

    let suppression = Suppression {
        key: email_suppression_key("jane@acme.com"),
        referral_id: referral.id.clone(),
        partner_id: "P-A".into(),
        received_at: from_millis(5),
        channel: "Email".into(),
        recorded_at: from_millis(6),
    };
    let relay = WriteBatch { suppressions: vec![suppression.clone()], ..Default::default() };
    store.commit(relay.clone()).await.unwrap();
    store.commit(relay).await.unwrap();
    assert_eq!(store.list_suppressions().await.unwrap().len(), 1, "relays are idempotent");
    let found = store.find_suppression(&["domain:other.com".into(), email_suppression_key("JANE@acme.com")]).await.unwrap();
    assert_eq!(found.map(|s| s.referral_id), Some(referral.id.clone()));

    let read = AuditRead {
        referral_id: referral.id.clone(),
        partner_id: "P-A".into(),
        actor: "alice".into(),
        at: from_millis(9),
        what: "GetOpportunity".into(),
    };
    store.commit(WriteBatch { audit_reads: vec![read.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.list_audit_reads(&referral.id).await.unwrap(), vec![read]);
}

async fn use_4_audit_log_is_one_chain_across_concurrent_writers(store: &SqlStore) {
    let (seq, hash) = store.audit_head().await.unwrap();
    assert_eq!((seq, hash.as_str()), (0, audit::GENESIS_HASH), "an empty log starts at the genesis hash");
    assert_eq!(audit::verify(&[], (seq, &hash)), Ok(0));
    let writers = (0..8).map(|i| {
        let entries = (0..3)
            .map(|j| AuditEntry::new(from_millis(i * 10 + j), format!("operator:w{i}"), audit::action::OPERATOR, json!({"j": j})))
            .collect();
        let read = AuditRead {
            referral_id: format!("R{i}"),
            partner_id: "P1".into(),
            actor: "partner:P1/alice".into(),
            at: from_millis(i),
            what: "contact".into(),
        };
        store.commit(WriteBatch { audit: entries, audit_reads: vec![read], ..Default::default() })
    });
    for outcome in futures_join(writers).await {
        assert_eq!(outcome.unwrap(), BatchOutcome::Committed);
    }
    let all = store.list_audit(&AuditFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 32);
    let (seq, hash) = store.audit_head().await.unwrap();
    assert_eq!(audit::verify(&all, (seq, &hash)), Ok(32));
    let reads = store.list_audit_reads("R3").await.unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!((reads[0].actor.as_str(), reads[0].what.as_str()), ("partner:P1/alice", "contact"));
    let by_referral =
        store.list_audit(&AuditFilter { referral_id: Some("R3".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(by_referral.len(), 1);
    assert_eq!(by_referral[0].action, audit::action::CONTACT_READ);
    let page = store.list_audit(&AuditFilter { after_seq: 30, limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![31, 32]);
    let since = store
        .list_audit(&AuditFilter {
            since_ms: Some(70),
            action: Some(audit::action::OPERATOR.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 3, "writer 7's three entries are at 70..72 ms");
}

async fn futures_join<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    // Poll every future on this task: the store's own concurrency is what is exercised.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}

fn terms(version: i64, effective_ms: i64) -> TermsVersion {
    TermsVersion {
        version,
        effective: from_millis(effective_ms),
        published: from_millis(0),
        published_by: "operator:admin".into(),
        summary: Some(format!("v{version}")),
        text: format!("terms {version}"),
        sha256: ace_domain::terms::sha256_hex(&format!("terms {version}")),
        backdated: false,
    }
}

async fn mod_2_terms_versions_and_mod_3_first_acceptance_stands(store: &SqlStore) {
    store.commit(WriteBatch { terms_versions: vec![terms(1, 0), terms(2, 5_000)], ..Default::default() }).await.unwrap();
    let taken = store.commit(WriteBatch { terms_versions: vec![terms(2, 9_000)], ..Default::default() }).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "a published version never changes: {taken:?}");
    let versions = store.list_terms_versions().await.unwrap();
    assert_eq!(versions, vec![terms(1, 0), terms(2, 5_000)]);
    let acceptance = |method, operation: &str, at| Acceptance {
        version: 2,
        partner_id: "P1".into(),
        method,
        at: from_millis(at),
        user: "alice".into(),
        operation: operation.into(),
    };
    let first = acceptance(AcceptanceMethod::ContinuedParticipation, "ListOpportunities", 6_000);
    store.commit(WriteBatch { terms_acceptances: vec![first.clone()], ..Default::default() }).await.unwrap();
    store
        .commit(WriteBatch {
            terms_acceptances: vec![acceptance(AcceptanceMethod::Explicit, "AcceptTerms", 7_000)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.list_terms_acceptances(Some(2), None).await.unwrap(), vec![first.clone()]);
    let audited = store
        .list_audit(&AuditFilter { action: Some(audit::action::TERMS_ACCEPTED.into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(audited.len(), 1, "only the acceptance that was recorded is audited");
    assert_eq!(audited[0].actor, "partner:P1/alice");
    assert_eq!(store.list_terms_acceptances(None, Some("P1")).await.unwrap(), vec![first]);
    assert!(store.list_terms_acceptances(Some(1), None).await.unwrap().is_empty());
    assert!(store.list_terms_acceptances(None, Some("P2")).await.unwrap().is_empty());
    store.commit(WriteBatch { settings: vec![("program.support".into(), "{}".into())], ..Default::default() }).await.unwrap();
    assert_eq!(store.get_setting("program.support").await.unwrap().as_deref(), Some("{}"));
}

async fn use_2_security_events_are_recorded_and_audited(store: &SqlStore) {
    let event = SecurityEvent {
        at: from_millis(1_000),
        subject: "address:127.0.0.9".into(),
        signal: Signal::NotFound,
        count: 50,
        blocked_until: from_millis(901_000),
        partner_id: None,
        addresses: vec![],
    };
    let entry = AuditEntry::new(event.at, "client:127.0.0.9", audit::action::PROBE_BLOCKED, json!({"signal": "not-found"}));
    store.record_security_event(&event, &entry).await.unwrap();
    assert_eq!(store.list_security_events(0, 10).await.unwrap(), vec![event]);
    assert!(store.list_security_events(2_000, 10).await.unwrap().is_empty());
    let log = store.list_audit(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, audit::action::PROBE_BLOCKED);
}

/// USE-4: rows altered, removed or reordered in the database itself break the chain at the
/// first such row — the same on both back ends.
async fn use_4_tampering_with_stored_rows_is_detected(store: &SqlStore, raw: Raw) {
    for i in 1..=5 {
        let entry = AuditEntry::new(from_millis(i), "operator:admin", audit::action::OPERATOR, json!({"i": i})).partner("P1");
        store.commit(WriteBatch { audit: vec![entry], ..Default::default() }).await.unwrap();
    }
    let check = || async {
        let entries = store.list_audit(&AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
        let (seq, hash) = store.audit_head().await.unwrap();
        audit::verify(&entries, (seq, &hash))
    };
    assert_eq!(check().await, Ok(5));
    // Each tampering lies before the last, so each is the first break the check meets.
    // Removing the newest row is caught against the head.
    raw.exec("DELETE FROM audit_log WHERE seq = 5").await;
    let broken = check().await.unwrap_err();
    assert_eq!(broken.seq, 5, "{broken:?}");
    assert!(broken.reason.contains("removed"), "{broken:?}");
    // An altered row.
    raw.exec("UPDATE audit_log SET detail = '{\"i\":99}' WHERE seq = 3").await;
    assert_eq!(check().await.unwrap_err().seq, 3);
    // Two rows swapped (a reordering).
    raw.exec("UPDATE audit_log SET seq = 100 WHERE seq = 2").await;
    raw.exec("UPDATE audit_log SET seq = 2 WHERE seq = 1").await;
    raw.exec("UPDATE audit_log SET seq = 1 WHERE seq = 100").await;
    assert_eq!(check().await.unwrap_err().seq, 1);
}

/// REM-2: a referral's customer data is sealed under its own key; shredding deletes the key,
/// after which the data cannot be read back from the rows — the same on both back ends.
async fn rem_2_shredding_destroys_the_key_and_leaves_only_the_record(store: &SqlStore, raw: Raw) {
    use ace_domain::referral::*;
    let request = ReferralRequest {
        partner_id: "P-A".into(),
        catalog: Catalog::Aws,
        kind: ReferralKind::Opportunity,
        customer: ReferralCustomer {
            company_name: "Shredco".into(),
            website: "https://shredco.example".into(),
            country: "US".into(),
            industry: Some("Retail".into()),
        },
        title: Some("Lakehouse".into()),
        problem: Some("Needs a lakehouse".into()),
        contact: ReferralContact {
            name: Some("Zed Q".into()),
            email: Some("zed@shredco.example".into()),
            phone: Some("+15550100".into()),
            title: None,
        },
    };
    let ids = ReferralIds { invitation: "engi-0000000000009".into(), engagement: "eng-00000000000009".into() };
    let referral = Referral::pending(request, ids, from_millis(1_000), from_millis(2_000), from_millis(1_500));
    store.commit(WriteBatch { insert_referrals: vec![referral.clone()], ..Default::default() }).await.unwrap();
    let docs = raw.texts("SELECT doc FROM referrals").await;
    assert_eq!(docs.len(), 1);
    for secret in ["zed@shredco.example", "Shredco", "Zed Q", "+15550100", "Needs a lakehouse", "Lakehouse"] {
        assert!(!docs[0].contains(secret), "{secret} is sealed at rest: {}", docs[0]);
    }
    let stored = store.get_referral(&referral.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.contact.email.as_deref(), stored.data_deleted),
        (Some("zed@shredco.example"), false),
        "it opens with its key"
    );
    let mut accepted = stored.clone();
    accepted.status = ReferralStatus::Accepted;
    store.commit(WriteBatch { update_referrals: vec![accepted], ..Default::default() }).await.unwrap();
    assert_eq!(
        store.get_referral(&referral.id).await.unwrap().unwrap().customer.company_name,
        "Shredco",
        "updates stay sealed and readable"
    );

    let current = store.get_referral(&referral.id).await.unwrap().unwrap();
    let revoked = Referral { status: ReferralStatus::Revoked, ..current.without_customer_data() };
    store
        .commit(WriteBatch { update_referrals: vec![revoked], shred_referrals: vec![referral.id.clone()], ..Default::default() })
        .await
        .unwrap();
    assert!(raw.texts("SELECT referral_id FROM referral_keys").await.is_empty(), "the key is gone");
    if let Raw::Postgres(..) = &raw {
        // The deleted key's tuple is vacuumed away (the scrub after the commit), not left dead
        // in the table's pages until autovacuum comes by.
        let vacuumed = || {
            raw.texts(
                "SELECT CAST(vacuum_count AS TEXT) FROM pg_stat_user_tables \
                 WHERE relname = 'referral_keys' AND schemaname = current_schema()",
            )
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while vacuumed().await.first().map_or(0, |c| c.parse::<i64>().unwrap()) == 0 {
            assert!(std::time::Instant::now() < deadline, "referral_keys was not vacuumed after the shredding commit");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let after = store.get_referral(&referral.id).await.unwrap().unwrap();
    assert!(after.data_deleted);
    assert_eq!((after.status, after.customer.company_name.as_str(), after.contact.email), (ReferralStatus::Revoked, "", None));
    assert_eq!(after.id, referral.id, "the record of what was deleted remains");
}

/// REM-2 under a burst (SQLite): 300 deletions committed at once fill more than one commit
/// group (at most 256 batches each), and the scrub is deferred until the queue is empty (or a
/// second has passed); once the burst is over, no byte of the deleted rows is left in the
/// database file or its WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rem_2_a_burst_of_deletions_leaves_nothing_in_the_files() {
    const N: i64 = 300;
    let f = sqlite().await;
    let dir = f._dir.as_ref().unwrap().path().to_path_buf();
    let batch = WriteBatch {
        insert_opportunities: (1..=N).map(|n| opportunity("P-A", Catalog::Aws, n, &format!("Qzburst{n:03}Secret"), 10)).collect(),
        ..Default::default()
    };
    assert_eq!(f.store.commit(batch).await, Ok(BatchOutcome::Committed));
    // How many traces of the companies' names the database file and its WAL hold, any case.
    let present = || {
        let mut bytes = std::fs::read(dir.join("ace.db")).unwrap();
        bytes.extend(std::fs::read(dir.join("ace.db-wal")).unwrap_or_default());
        bytes.make_ascii_lowercase();
        bytes.windows(7).filter(|w| *w == b"qzburst").count()
    };
    assert!(present() >= N as usize, "the companies are on disk before");
    let deletions = (1..=N).map(|n| {
        f.store.commit(WriteBatch { delete_opportunities: vec![(Catalog::Aws, format!("O{n}"))], ..Default::default() })
    });
    let outcomes = futures_join(deletions).await;
    assert!(outcomes.iter().all(|o| o == &Ok(BatchOutcome::Committed)), "{outcomes:?}");
    // Answers come before the scrub (housekeeping, not part of the write): wait for it.
    let mut left = present();
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = present();
    }
    assert_eq!(left, 0, "traces of deleted companies still in the database file or WAL");
}

/// REM-2 after a crash (SQLite, issue 24): a deletion committed just before the process died,
/// before the scrub that follows it, leaves the deleted value's old page image in the WAL; the
/// store checkpoints the WAL when it opens, so after the restart the files hold no trace.
#[tokio::test]
async fn rem_2_a_deletion_left_unscrubbed_by_a_crash_is_gone_once_the_store_reopens() {
    let live = tempfile::tempdir().unwrap();
    drop(SqlStore::open_sqlite(live.path(), "FULL").await.unwrap());
    let crashed = tempfile::tempdir().unwrap();
    let traces = |dir: &std::path::Path| {
        let mut bytes = std::fs::read(dir.join("ace.db")).unwrap();
        bytes.extend(std::fs::read(dir.join("ace.db-wal")).unwrap_or_default());
        bytes.windows(13).filter(|w| *w == b"Qzcrashsecret").count()
    };
    // Written and deleted as the server's writer would (no automatic checkpoint, secure
    // delete), the scrub not yet run; then the process "dies": its files copied as they are.
    let conn = rusqlite::Connection::open(live.path().join("ace.db")).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.pragma_update(None, "secure_delete", "ON").unwrap();
    conn.execute("INSERT INTO settings (key, value) VALUES ('crash', 'Qzcrashsecret')", []).unwrap();
    conn.execute("DELETE FROM settings WHERE key = 'crash'", []).unwrap();
    for file in ["ace.db", "ace.db-wal"] {
        std::fs::copy(live.path().join(file), crashed.path().join(file)).unwrap();
    }
    drop(conn);
    assert!(traces(crashed.path()) > 0, "the crashed files hold the deleted value's old page in the WAL");
    let store = SqlStore::open_sqlite(crashed.path(), "FULL").await.unwrap();
    assert_eq!(traces(crashed.path()), 0, "reopened, the store checkpointed the WAL: no trace left");
    assert_eq!(store.get_setting("crash").await.unwrap(), None);
}

/// REM-2 and the search index (SQLite): referrals' opportunities (the only ones ever deleted)
/// renamed and then deleted leave neither their old nor their new words in the database file
/// or its WAL — FTS5 deletes each version's words under `secure-delete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rem_2_deleted_opportunities_leave_no_words_in_the_search_index() {
    const N: i64 = 50;
    let referred = |n: i64, company: &str, modified: i64| Opportunity {
        referral_id: Some(format!("ref-{n}")),
        ..opportunity("P-A", Catalog::Aws, n, company, modified)
    };
    let f = sqlite().await;
    let dir = f._dir.as_ref().unwrap().path().to_path_buf();
    let batch = WriteBatch {
        insert_opportunities: (1..=N).map(|n| referred(n, &format!("Qzfirst{n:03}Secret"), 10)).collect(),
        ..Default::default()
    };
    f.store.commit(batch).await.unwrap();
    let updates = (1..=N).map(|n| (referred(n, &format!("Qzsecond{n:03}Secret"), 20), 10)).collect();
    f.store.commit(WriteBatch { update_opportunities: updates, ..Default::default() }).await.unwrap();
    let traces = |needle: &[u8]| {
        let mut bytes = std::fs::read(dir.join("ace.db")).unwrap();
        bytes.extend(std::fs::read(dir.join("ace.db-wal")).unwrap_or_default());
        bytes.make_ascii_lowercase();
        bytes.windows(needle.len()).filter(|w| *w == needle).count()
    };
    assert!(traces(b"qzsecond") >= N as usize, "the new names are on disk before");
    let deletions: Vec<(Catalog, String)> = (1..=N).map(|n| (Catalog::Aws, format!("O{n}"))).collect();
    f.store.commit(WriteBatch { delete_opportunities: deletions, ..Default::default() }).await.unwrap();
    let mut left = (traces(b"qzfirst"), traces(b"qzsecond"));
    for _ in 0..100 {
        if left == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = (traces(b"qzfirst"), traces(b"qzsecond"));
    }
    assert_eq!(left, (0, 0), "traces of the (old, new) names still in the database file or WAL");
    assert!(f.store.search_opportunities("P-A", Catalog::Aws, None).await.unwrap().is_empty());
}

async fn use_1_at_most_two_keys_per_user_each_with_status_and_last_use(store: &SqlStore) {
    let u = UserRecord {
        partner_id: "P-A".into(),
        name: "alice".into(),
        access_key_id: "AKIA1".into(),
        secret_encrypted: "s1".into(),
        status: UserStatus::Active,
        created_ms: 5,
    };
    store.insert_user(&u).await.unwrap();
    let second = AccessKeyRecord {
        access_key_id: "AKIA2".into(),
        secret_encrypted: "s2".into(),
        created_ms: 6,
        ..AccessKeyRecord::first_of(&u)
    };
    store.insert_access_key(&second).await.unwrap();
    let third = AccessKeyRecord { access_key_id: "AKIA3".into(), ..second.clone() };
    assert!(matches!(store.insert_access_key(&third).await, Err(StoreError::Conflict(_))), "two keys at most, as IAM");
    let seen = store.get_user_by_access_key("AKIA2").await.unwrap().unwrap();
    assert_eq!((seen.name.as_str(), seen.secret_encrypted.as_str(), seen.status), ("alice", "s2", UserStatus::Active));

    store.touch_access_key("AKIA2", 1_234).await.unwrap();
    assert!(store.set_access_key_status("AKIA1", UserStatus::Disabled).await.unwrap());
    let keys = store.list_access_keys("P-A", "alice").await.unwrap();
    assert_eq!(
        keys.iter().map(|k| (k.access_key_id.as_str(), k.status, k.last_used_ms)).collect::<Vec<_>>(),
        vec![("AKIA1", UserStatus::Disabled, None), ("AKIA2", UserStatus::Active, Some(1_234))]
    );
    assert_eq!(store.get_user_by_access_key("AKIA1").await.unwrap().unwrap().status, UserStatus::Disabled, "a deactivated key");

    // The first key deleted: the user row follows the key that remains; a slot is free again.
    assert!(store.delete_access_key("AKIA1").await.unwrap());
    assert!(!store.delete_access_key("AKIA1").await.unwrap());
    assert_eq!(store.get_user("P-A", "alice").await.unwrap().unwrap().access_key_id, "AKIA2");
    store.insert_access_key(&third).await.unwrap();
    // A disabled user is refused through every key.
    let user = store.get_user("P-A", "alice").await.unwrap().unwrap();
    store.update_user(&user.access_key_id, &UserRecord { status: UserStatus::Disabled, ..user.clone() }).await.unwrap();
    for key in ["AKIA2", "AKIA3"] {
        assert_eq!(store.get_user_by_access_key(key).await.unwrap().unwrap().status, UserStatus::Disabled);
    }
    // Rotation replaces every key by the new one.
    let user = store.get_user("P-A", "alice").await.unwrap().unwrap();
    let rotated =
        UserRecord { access_key_id: "AKIA9".into(), secret_encrypted: "s9".into(), status: UserStatus::Active, ..user.clone() };
    store.update_user(&user.access_key_id, &rotated).await.unwrap();
    let keys: Vec<String> = store.list_access_keys("P-A", "alice").await.unwrap().into_iter().map(|k| k.access_key_id).collect();
    assert_eq!(keys, vec!["AKIA9".to_string()]);
    assert_eq!(store.get_user_by_access_key("AKIA3").await.unwrap(), None);
}

/// Many batches at once (on SQLite they share transactions: group commit, tried first without
/// savepoints and with the full-text words written last, then again batch by batch when one
/// fails): each is answered for itself, a failing one leaves no trace — its words in the search
/// index included — and the others are all there, words and all.
async fn concurrent_batches_are_answered_each_alone(store: &SqlStore) {
    insert(store, opportunity("P-A", Catalog::Aws, 1, "Base", 10)).await;
    let key = |token: &str| IdempotencyKey {
        partner_id: "P-A".into(),
        catalog: Catalog::Aws,
        operation: "CreateOpportunity".into(),
        client_token: token.into(),
    };
    let event = |n: i64| {
        let o = opportunity("P-A", Catalog::Aws, n, "Evented", 10);
        opportunity_event("Opportunity Created", format!("ev-{n}"), &o, "123456789012", from_millis(n))
    };
    let mut batches = Vec::new();
    for n in 100..160 {
        batches.push(WriteBatch {
            insert_opportunities: vec![opportunity("P-A", Catalog::Aws, n, "Many", 10)],
            events: vec![event(n)],
            ..Default::default()
        });
    }
    // A stale update, with an event that must not survive it.
    let mut stale = opportunity("P-A", Catalog::Aws, 1, "Stalequokka", 99);
    stale.document.insert("Touched".into(), json!(true));
    batches.push(WriteBatch { update_opportunities: vec![(stale, 5)], events: vec![event(1)], ..Default::default() });
    // The same idempotency key twice: one commits, the other is a replay.
    for n in [200, 201] {
        batches.push(WriteBatch {
            idempotency: Some(IdempotencyRecord {
                key: key("same"),
                request_hash: "h".into(),
                response: json!({"Id": format!("O{n}")}),
                created_ms: 1,
            }),
            insert_opportunities: vec![opportunity("P-A", Catalog::Aws, n, "Idem", 10)],
            ..Default::default()
        });
    }
    let outcomes = futures_join(batches.into_iter().map(|b| store.commit(b))).await;
    assert!(outcomes[..60].iter().all(|o| o == &Ok(BatchOutcome::Committed)), "{:?}", &outcomes[..60]);
    assert!(matches!(outcomes[60], Err(StoreError::Conflict(_))), "{:?}", outcomes[60]);
    let idem: Vec<bool> = outcomes[61..].iter().map(|o| matches!(o, Ok(BatchOutcome::Replayed(_)))).collect();
    assert_eq!(idem.iter().filter(|r| **r).count(), 1, "one of the two is a replay: {:?}", &outcomes[61..]);
    for n in 100..160 {
        assert!(store.get_opportunity("P-A", Catalog::Aws, &format!("O{n}")).await.unwrap().is_some(), "O{n}");
    }
    let o200 = store.get_opportunity("P-A", Catalog::Aws, "O200").await.unwrap().is_some();
    let o201 = store.get_opportunity("P-A", Catalog::Aws, "O201").await.unwrap().is_some();
    assert!(o200 ^ o201, "exactly one of the two idempotent creates wrote its row");
    assert!(!store.get_opportunity("P-A", Catalog::Aws, "O1").await.unwrap().unwrap().document.contains_key("Touched"));
    let events = store.list_events(0, 1000).await.unwrap();
    assert_eq!(events.len(), 60);
    assert!(events.iter().all(|(_, e)| e.id != "ev-1"), "the failed batch's event was rolled back with it");
    let words = |w: &str| {
        let terms = vec![w.to_string()];
        async move { store.search_opportunities("P-A", Catalog::Aws, Some(&terms)).await.unwrap().len() }
    };
    assert_eq!(words("many").await, 60, "every committed batch's words are in the index");
    assert_eq!(words("idem").await, 1, "the replayed create wrote no words");
    assert_eq!(words("stalequokka").await, 0, "the failed update's words were rolled back with it");
    assert_eq!(words("base").await, 1, "the opportunity keeps the words it had");
}

/// A request whose client went away after its write was queued: the write is applied
/// promptly all the same (never left queued for a later request to apply), and the queue
/// keeps moving.
#[tokio::test]
async fn a_dropped_caller_neither_strands_its_batch_nor_stalls_the_queue() {
    use std::future::Future;
    let f = sqlite().await;
    for n in 300..310 {
        let batch =
            WriteBatch { insert_opportunities: vec![opportunity("P-A", Catalog::Aws, n, "Dropped", 10)], ..Default::default() };
        // Polled once (the batch is queued), then dropped before it could finish.
        let mut commit = Box::pin(f.store.commit(batch));
        let _ = commit.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        drop(commit);
    }
    // Applied by the writer on its own — no later request carries them — and promptly: the
    // bound is a second (they take milliseconds; the figure is printed).
    let started = std::time::Instant::now();
    for n in 300..310 {
        while f.store.get_opportunity("P-A", Catalog::Aws, &format!("O{n}")).await.unwrap().is_none() {
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "O{n} was left queued");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    eprintln!("10 dropped callers' writes applied {:?} after they were dropped", started.elapsed());
    insert(&f.store, opportunity("P-A", Catalog::Aws, 311, "After", 10)).await;
}

async fn portal_accounts_sessions_and_one_time_invitations(store: &SqlStore) {
    use ace_store::{PortalAccount, PortalInvitation, PortalSession, StoreError};
    let account = PortalAccount {
        email: "Alice@Example.COM".into(),
        password_hash: "$argon2id$x".into(),
        role: "partner".into(),
        partner_id: Some("P-A".into()),
        user_name: Some("alice".into()),
        created_ms: 1,
    };
    store.insert_portal_account(&account).await.unwrap();
    let found = store.get_portal_account(" alice@example.com ").await.unwrap().unwrap();
    assert_eq!(found.email, "alice@example.com", "stored lower-cased, found whatever the case");
    assert_eq!(found.user_name.as_deref(), Some("alice"));
    let again = PortalAccount { email: "ALICE@example.com".into(), ..account.clone() };
    assert!(matches!(store.insert_portal_account(&again).await, Err(StoreError::Conflict(_))));

    let session = |id: &str, expires_ms| PortalSession {
        id_hash: id.into(),
        email: "alice@example.com".into(),
        csrf: "c".into(),
        created_ms: 100,
        expires_ms,
    };
    store.insert_portal_session(&session("old", 150)).await.unwrap();
    store.insert_portal_session(&PortalSession { created_ms: 200, ..session("new", 1_000) }).await.unwrap();
    assert!(store.get_portal_session("old").await.unwrap().is_none(), "expired sessions go as new ones come");
    assert_eq!(store.get_portal_session("new").await.unwrap().unwrap().csrf, "c");
    assert!(store.delete_portal_session("new").await.unwrap());
    assert!(!store.delete_portal_session("new").await.unwrap());

    let invitation = PortalInvitation {
        token_hash: "t1".into(),
        email: "Bob@Example.com".into(),
        role: "reviewer".into(),
        partner_id: None,
        user_name: None,
        created_ms: 10,
        expires_ms: 1_000,
    };
    store.insert_portal_invitation(&invitation).await.unwrap();
    assert_eq!(store.get_portal_invitation("t1").await.unwrap().unwrap().email, "bob@example.com");
    assert!(matches!(store.redeem_portal_invitation("t1", "h", 1_000).await, Err(StoreError::NotFound)), "expired");
    let made = store.redeem_portal_invitation("t1", "h", 999).await.unwrap();
    assert_eq!((made.email.as_str(), made.role.as_str(), made.password_hash.as_str()), ("bob@example.com", "reviewer", "h"));
    assert!(matches!(store.redeem_portal_invitation("t1", "h", 999).await, Err(StoreError::NotFound)), "once");
    // An address that got an account meanwhile: nothing is used up.
    store.insert_portal_invitation(&PortalInvitation { token_hash: "t2".into(), ..invitation.clone() }).await.unwrap();
    assert!(matches!(store.redeem_portal_invitation("t2", "h", 999).await, Err(StoreError::Conflict(_))));
    assert!(store.get_portal_invitation("t2").await.unwrap().is_some(), "the failed redemption changed nothing");
}

async fn dashboard_counts_by_stage_status_and_week(store: &SqlStore) {
    const WEEK: i64 = 7 * 86_400_000;
    insert(store, opportunity("P-A", Catalog::Aws, 1, "A", 10)).await;
    insert(store, opportunity("P-B", Catalog::Aws, 2, "B", 10)).await;
    insert(store, opportunity("P-A", Catalog::Sandbox, 3, "C", 10)).await;
    insert(store, submitted(opportunity("P-A", Catalog::Aws, 4, "D", 10), ReviewStatus::Submitted, 3 * WEEK + 5)).await;
    insert(store, submitted(opportunity("P-B", Catalog::Aws, 5, "E", 10), ReviewStatus::Approved, 3 * WEEK + 9)).await;
    insert(store, submitted(opportunity("P-B", Catalog::Aws, 6, "F", 10), ReviewStatus::Approved, WEEK)).await;
    let mut counts = store.opportunity_counts(Catalog::Aws).await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("Prospect".to_string(), "Approved".to_string(), 2),
            ("Prospect".to_string(), "Pending Submission".to_string(), 2),
            ("Prospect".to_string(), "Submitted".to_string(), 1),
        ]
    );
    let mut weeks = store.submissions_by_week(Catalog::Aws, 2 * WEEK).await.unwrap();
    weeks.sort();
    assert_eq!(weeks, vec![(3, "Approved".to_string(), 1), (3, "Submitted".to_string(), 1)], "week 1 is before the window");
}

async fn use_5_nodes_heartbeat_and_are_counted_while_alive(store: &SqlStore) {
    store.heartbeat_node("a", 1_000).await.unwrap();
    store.heartbeat_node("b", 2_000).await.unwrap();
    store.heartbeat_node("a", 20_000).await.unwrap();
    assert_eq!(store.count_live_nodes(0).await.unwrap(), 2, "one row a node, however often it beats");
    assert_eq!(store.count_live_nodes(5_000).await.unwrap(), 1, "b stopped beating");
    store.heartbeat_node("c", 100_000_000).await.unwrap();
    assert_eq!(store.count_live_nodes(0).await.unwrap(), 1, "nodes gone for a day are forgotten");
}

async fn elig_2_a_change_evaluated_by_two_nodes_at_once_is_recorded_once(store: &SqlStore) {
    use ace_store::EligibilityChange;
    store.insert_partner(&partner("P-E", "333333333333"), 1).await.unwrap();
    let change = |eligible: bool, at_ms: i64| EligibilityChange {
        partner_id: "P-E".into(),
        at_ms,
        eligible,
        cause: "sweep".into(),
        unmet: vec![],
    };
    let event = |id: &str| {
        ace_domain::events::partner_event(
            "Partner Eligibility Changed",
            id.into(),
            "P-E",
            "333333333333",
            json!({}),
            from_millis(10),
        )
    };
    // Eight nodes see the same first evaluation at once: one records it, with one event.
    let attempts = (0..8).map(|i| {
        let (c, e) = (change(true, 10), event(&format!("ev-{i}")));
        async move { store.record_eligibility(&c, &e).await.unwrap() }
    });
    let recorded = futures_join(attempts).await;
    assert_eq!(recorded.iter().filter(|r| **r).count(), 1, "{recorded:?}");
    assert_eq!(store.eligibility_history(Some("P-E")).await.unwrap().len(), 1);
    let events = store.list_events(0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|(_, e)| e.detail_type == "Partner Eligibility Changed").count(), 1);
    // A real change is recorded; the same again is not.
    assert!(store.record_eligibility(&change(false, 20), &event("ev-x")).await.unwrap());
    assert!(!store.record_eligibility(&change(false, 30), &event("ev-y")).await.unwrap());
    assert_eq!(store.eligibility_history(Some("P-E")).await.unwrap().len(), 2);
}

/// Issue 17: SQLite answered every constraint violation as a conflict, PostgreSQL only unique
/// ones, each in the driver's own words: the same bug got a different answer per engine. A
/// unique key taken is `Conflict` with one message; any other violation (here a trigger's
/// refusal, raised as a constraint violation on both engines) is an internal error.
async fn constraint_violations_get_the_same_answer_on_both_engines(store: &SqlStore, raw: Raw) {
    let p = partner("P-A", "111111111111");
    store.insert_partner(&p, 1).await.unwrap();
    assert_eq!(store.insert_partner(&p, 1).await, Err(StoreError::Conflict(ace_store::DUPLICATE_KEY.into())));
    match &raw {
        Raw::Sqlite(_) => {
            raw.exec(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON partners WHEN NEW.id = 'P-BAD' \
                 BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END",
            )
            .await
        }
        Raw::Postgres(..) => {
            raw.exec(
                "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN IF NEW.id = 'P-BAD' THEN \
                 RAISE EXCEPTION 'refused by a trigger' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER refuse_bad BEFORE INSERT ON partners FOR EACH ROW EXECUTE FUNCTION refuse_bad()",
            )
            .await
        }
    }
    let refused = store.insert_partner(&partner("P-BAD", "222222222222"), 1).await;
    assert!(matches!(refused, Err(StoreError::Other(_))), "{refused:?}");
}
