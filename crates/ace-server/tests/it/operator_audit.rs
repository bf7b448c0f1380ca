//! USE-4, issue 17: every write of the operator API commits in one transaction with its audit
//! entry. For each write route (the table is checked against the routes the router declares):
//!
//! 1. a request the route refuses (bad input, unknown id) answers 4xx and writes nothing, audit
//!    included;
//! 2. with the audit log refusing every insert (a trigger), a good request answers 500 and
//!    writes nothing at all — had the change been committed apart from its entry, it would be
//!    in the database;
//! 3. the same request then succeeds and adds its audit entry.
//!
//! "Nothing" is a digest of every table's rows, less what changes on its own (node heartbeats,
//! the webhook dispatcher's cursors, leases and deliveries, sequence numbers drawn): a replay's
//! new cursor is the one write it cannot see. Outside the database, the test clock and a lifted
//! probe block change only once their entry is committed, and a backup whose entry cannot be
//! committed is deleted.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::TestApp;

/// Tables that change without an operator write, or whose changes are not data (sequence
/// numbers drawn before a write may leave gaps; SQLite's own counters).
const UNTRACKED: [&str; 4] = ["nodes", "deliveries", "sequences", "sqlite_sequence"];

/// What of a table is compared: all its columns, but the dispatcher's cursor and lease of a
/// webhook subscription.
fn columns(table: &str) -> &'static str {
    if table == "webhooks" {
        "id, owner, doc"
    } else {
        "*"
    }
}

fn database(app: &TestApp) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(app.data_dir().join("ace.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db
}

/// Every tracked table's rows, one line each, in a stable order.
fn digest(app: &TestApp) -> BTreeSet<String> {
    let db = database(app);
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|t| !UNTRACKED.contains(&t.as_str()))
        .collect();
    let mut out = BTreeSet::new();
    for table in tables {
        let mut statement = db.prepare(&format!("SELECT {} FROM \"{table}\"", columns(&table))).unwrap();
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |r| {
                let cells: Vec<String> = (0..columns)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(format!("{table}: {}", cells.join("|")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// What changed between two digests: rows gone (-) and rows new (+).
fn changes(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    let gone = before.difference(after).map(|r| format!("- {r}"));
    gone.chain(after.difference(before).map(|r| format!("+ {r}"))).collect()
}

fn audit_entries(app: &TestApp) -> i64 {
    database(app).query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0)).unwrap()
}

fn refuse_audit(app: &TestApp, refuse: bool) {
    let sql = if refuse {
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log refuses'); END"
    } else {
        "DROP TRIGGER refuse_audit"
    };
    database(app).execute_batch(sql).unwrap();
}

/// One write: the route as the router declares it, the request, a refused variant of it.
struct Write {
    route: (&'static str, &'static str),
    path: String,
    body: Value,
    refused: (String, Value),
}

fn write(
    route: (&'static str, &'static str),
    path: impl Into<String>,
    body: Value,
    refused: (impl Into<String>, Value),
) -> Write {
    Write { route, path: path.into(), body, refused: (refused.0.into(), refused.1) }
}

/// The write routes the operator router declares: (method, path template).
fn declared_write_routes() -> BTreeSet<(String, String)> {
    let sources = [
        include_str!("../../src/operator_api/mod.rs"),
        include_str!("../../src/operator_api/review.rs"),
        include_str!("../../src/operator_api/eligibility.rs"),
        include_str!("../../src/operator_api/referrals.rs"),
        include_str!("../../src/operator_api/webhooks.rs"),
        include_str!("../../src/operator_api/governance.rs"),
        include_str!("../../src/operator_api/engagements.rs"),
        include_str!("../../src/operator_api/bulk_jobs.rs"),
        include_str!("../../src/operator_api/checks.rs"),
    ];
    let mut out = BTreeSet::new();
    for source in sources {
        for part in source.split(".route(\"").skip(1) {
            let path = &part[..part.find('"').unwrap()];
            let handlers = &part[..part.find('\n').unwrap_or(part.len())];
            for (method, call) in [("POST", "post("), ("PUT", "put("), ("PATCH", "patch("), ("DELETE", "delete(")] {
                if handlers.contains(call) {
                    out.insert((method.to_string(), path.to_string()));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn use_4_every_operator_write_commits_with_its_audit_entry_or_not_at_all() {
    let app = TestApp::start().await;
    // What the writes act on.
    let c = crate::referrals::eligible_partner(&app, "P1").await;
    crate::referrals::eligible_partner(&app, "P2").await;
    app.user("P1", "carol").await;
    let second_key =
        app.operator("POST", "/partners/P1/users/alice/keys", json!({})).await["AccessKeyId"].as_str().unwrap().to_string();
    let solution =
        app.operator("POST", "/partners/P1/solutions", json!({"name": "Factory", "category": "Consulting Service"})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
    let client = app.client(&c);
    let mut submitted = Vec::new();
    for company in ["First Corp", "Second Corp", "Third Corp"] {
        let id =
            crate::review::draft(&client, &solution, crate::opportunities::customer(company), crate::opportunities::project())
                .await;
        crate::review::attest(&app, &c, crate::review::attestation(&id)).await;
        crate::review::submit(&client, &id).await.unwrap();
        submitted.push(id);
    }
    let (first, second, third) = (&submitted[0], &submitted[1], &submitted[2]);
    for id in [second, third] {
        app.operator("POST", &format!("/review/{id}/start"), json!({})).await;
    }
    let evidence = app
        .operator("POST", "/consent/requests", json!({"opportunity_id": first, "message": "Show us the consent."}))
        .await["RequestId"]
        .as_str()
        .unwrap()
        .to_string();
    let referral = crate::referrals::refer(&app, "P1", "Referred Corp", "jane@referred.example").await;
    app.operator("POST", "/requirements", json!({"id": "req-a", "segment": "select", "description": "A workshop"})).await;
    app.operator(
        "POST",
        "/engagement-groups",
        json!({"id": "eng-grp-retail00000001", "name": "Retail", "industries": ["Retail"]}),
    )
    .await;
    let hook =
        app.operator("POST", "/webhooks", json!({"url": "http://127.0.0.1:9/hook"})).await["id"].as_str().unwrap().to_string();
    let check = app.operator("POST", "/checks", json!({"partner_id": "P2", "scenarios": ["opportunity-approved"]})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let effective = ace_domain::time::format_timestamp(app.state.now() + chrono::TimeDelta::days(30));
    let backup = tempfile::tempdir().unwrap();
    let keys = "/partners/P1/users/alice/keys";
    let nobody = json!({});

    let writes = vec![
        write(
            ("POST", "/partners"),
            "/partners",
            json!({"id": "P-NEW", "name": "New Ltd", "path": "consulting", "tier": "select"}),
            ("/partners", json!({"id": "P-NEW", "name": "New Ltd", "path": "consulting", "tier": "gold"})),
        ),
        write(
            ("PATCH", "/partners/{id}"),
            "/partners/P1",
            json!({"name": "Renamed Ltd"}),
            ("/partners/P1", json!({"tier": "gold"})),
        ),
        write(
            ("POST", "/partners/{id}/users"),
            "/partners/P1/users",
            json!({"name": "bob"}),
            ("/partners/P1/users", json!({"name": "not a name!"})),
        ),
        write(
            ("POST", "/partners/{id}/users/{name}/rotate-key"),
            "/partners/P1/users/carol/rotate-key",
            nobody.clone(),
            ("/partners/P1/users/nobody/rotate-key", nobody.clone()),
        ),
        write(
            ("POST", "/partners/{id}/users/{name}/keys"),
            "/partners/P1/users/carol/keys",
            nobody.clone(),
            ("/partners/P1/users/nobody/keys", nobody.clone()),
        ),
        write(
            ("POST", "/partners/{id}/users/{name}/keys/{key}/deactivate"),
            format!("{keys}/{second_key}/deactivate"),
            nobody.clone(),
            (format!("{keys}/AKIANOTAKEY/deactivate"), nobody.clone()),
        ),
        write(
            ("POST", "/partners/{id}/users/{name}/keys/{key}/activate"),
            format!("{keys}/{second_key}/activate"),
            nobody.clone(),
            (format!("{keys}/AKIANOTAKEY/activate"), nobody.clone()),
        ),
        write(
            ("DELETE", "/partners/{id}/users/{name}/keys/{key}"),
            format!("{keys}/{second_key}"),
            nobody.clone(),
            (format!("{keys}/AKIANOTAKEY"), nobody.clone()),
        ),
        write(
            ("POST", "/partners/{id}/solutions"),
            "/partners/P1/solutions",
            json!({"name": "Second", "category": "Managed Service"}),
            ("/partners/P1/solutions", json!({"name": "Second", "category": "Nothing"})),
        ),
        write(
            ("POST", "/staff"),
            "/staff",
            json!({"email": "reviewer@operator.example", "role": "reviewer", "invite": true}),
            ("/staff", json!({"email": "reviewer@operator.example", "role": "boss", "invite": true})),
        ),
        write(
            ("PUT", "/quotas"),
            "/quotas",
            json!({"partner": "P2", "reads_per_day": 100_000}),
            ("/quotas", json!({"partner": "P2", "reads_per_day": 0})),
        ),
        write(
            ("POST", "/review/{id}/start"),
            format!("/review/{first}/start"),
            nobody.clone(),
            ("/review/O1/start", nobody.clone()),
        ),
        write(
            ("POST", "/review/{id}/action-required"),
            format!("/review/{first}/action-required"),
            json!({"comment": "Name the customer's workload"}),
            (format!("/review/{first}/action-required"), json!({"comment": "x", "reason": "no such reason"})),
        ),
        write(
            ("POST", "/review/{id}/approve"),
            format!("/review/{second}/approve"),
            nobody.clone(),
            (format!("/review/{second}/approve"), json!({"unknown": true})),
        ),
        write(
            ("POST", "/review/{id}/reject"),
            format!("/review/{third}/reject"),
            json!({"reason": "not-qualified", "comment": "No workload named"}),
            (format!("/review/{third}/reject"), json!({"reason": "no such reason"})),
        ),
        write(
            ("POST", "/review/{id}/next-steps"),
            format!("/review/{second}/next-steps"),
            json!({"next_steps": "AWS solutions architect joins the next call"}),
            (format!("/review/{second}/next-steps"), json!({"next_steps": ""})),
        ),
        write(
            ("POST", "/consent/statements"),
            "/consent/statements",
            json!({"version": "2027-01-01", "text": "Yes, share my contact data."}),
            ("/consent/statements", json!({"version": "not a version!", "text": "x"})),
        ),
        write(
            ("POST", "/consent/requests"),
            "/consent/requests",
            json!({"opportunity_id": first, "message": "Again, please."}),
            ("/consent/requests", json!({"opportunity_id": first, "message": ""})),
        ),
        write(
            ("POST", "/consent/requests/{id}/close"),
            format!("/consent/requests/{evidence}/close"),
            nobody.clone(),
            ("/consent/requests/evr-none/close", nobody.clone()),
        ),
        write(
            ("POST", "/pipeline"),
            "/pipeline",
            json!({"records": [{"external_id": "SF-001", "company_name": "Pursued Corp", "website": "https://pursued.example.com",
                                "country": "DE", "stage": "Qualified"}]}),
            ("/pipeline", json!({"records": "none"})),
        ),
        write(
            ("PUT", "/settings"),
            "/settings",
            json!({"referral_reminder_hours": 12}),
            ("/settings", json!({"referral_reminder_hours": 0})),
        ),
        write(
            ("POST", "/partners/{id}/standing-attestation"),
            "/partners/P1/standing-attestation",
            json!({"consent_statement": "2027-01-01", "statement": "We ask every customer first."}),
            ("/partners/P1/standing-attestation", json!({"consent_statement": "never-published", "statement": "x"})),
        ),
        write(
            ("DELETE", "/partners/{id}/standing-attestation"),
            "/partners/P1/standing-attestation",
            nobody.clone(),
            ("/partners/P-NONE/standing-attestation", nobody.clone()),
        ),
        write(
            ("PUT", "/eligibility-config"),
            "/eligibility-config",
            json!({"window_months": 24}),
            ("/eligibility-config", json!({"window_months": 0})),
        ),
        write(
            ("POST", "/requirements"),
            "/requirements",
            // ISV partners only: P1, whose referrals come later, stays eligible.
            json!({"id": "req-b", "segment": "isv", "description": "A second workshop"}),
            ("/requirements", json!({"id": "req-b", "segment": "nowhere", "description": "x"})),
        ),
        write(
            ("PUT", "/partners/{id}/requirements/{requirement}"),
            "/partners/P1/requirements/req-a",
            json!({"met": true}),
            ("/partners/P1/requirements/req-none", json!({"met": true})),
        ),
        write(
            ("POST", "/engagement-groups"),
            "/engagement-groups",
            json!({"id": "eng-grp-germany0000001", "name": "Germany", "countries": ["DE"]}),
            ("/engagement-groups", json!({"id": "eng-grp-bad", "name": "Retail", "industries": ["Retail"]})),
        ),
        write(
            ("DELETE", "/engagement-groups/{id}"),
            "/engagement-groups/eng-grp-retail00000001",
            nobody.clone(),
            ("/engagement-groups/eng-grp-none0000000001", nobody.clone()),
        ),
        write(("POST", "/terms"), "/terms", json!({"text": "Terms, version one."}), ("/terms", json!({"summary": "no text"}))),
        write(
            ("POST", "/program/terminate"),
            "/program/terminate",
            json!({"effective": effective, "reason": "program sunset"}),
            ("/program/terminate", json!({"effective": "2001-01-01T00:00:00Z"})),
        ),
        write(
            ("DELETE", "/program/termination"),
            "/program/termination",
            nobody.clone(),
            // The route takes nothing to refuse (its refusal, nothing to cancel, is checked at
            // the end): a path beside it is refused and writes nothing.
            ("/program/termination/now", nobody.clone()),
        ),
        write(
            ("PUT", "/program/support-contact"),
            "/program/support-contact",
            json!({"email": "ace-support@operator.example"}),
            ("/program/support-contact", json!({"email": "not an address"})),
        ),
        write(
            ("POST", "/security/unblock"),
            "/security/unblock",
            json!({"subject": "address:127.0.0.1"}),
            ("/security/unblock", json!({"subject": "someone"})),
        ),
        write(
            ("POST", "/checks"),
            "/checks",
            json!({"partner_id": "P1", "scenarios": ["opportunity-approved"], "step_timeout": "5m"}),
            ("/checks", json!({"partner_id": "P1", "scenarios": ["no-such-scenario"]})),
        ),
        write(
            ("POST", "/checks/{id}/cancel"),
            format!("/checks/{check}/cancel"),
            nobody.clone(),
            ("/checks/check-00000000000000000000000000000000/cancel", nobody.clone()),
        ),
        write(
            ("POST", "/partners/{id}/remove"),
            "/partners/P2/remove",
            json!({"scope": "referrals", "reason": "misuse of leads"}),
            ("/partners/P2/remove", json!({"scope": "everything"})),
        ),
        write(
            ("POST", "/partners/{id}/reinstate"),
            "/partners/P2/reinstate",
            json!({"scope": "referrals"}),
            ("/partners/P2/reinstate", json!({"scope": "everything"})),
        ),
        write(
            ("POST", "/backup"),
            "/backup",
            json!({"to": backup.path().join("copy.db")}),
            ("/backup", json!({"to": "relative/copy.db"})),
        ),
        write(
            ("POST", "/referrals"),
            "/referrals",
            json!({"partner": "P1", "kind": "lead", "company": "Lead Corp", "website": "https://lead.example.com", "country": "DE",
                   "contact_name": "Joe Bloggs", "contact_email": "joe@lead.example"}),
            (
                "/referrals",
                json!({"partner": "P1", "kind": "gossip", "company": "Lead Corp", "website": "https://lead.example.com",
                                  "country": "DE"}),
            ),
        ),
        write(
            ("POST", "/referrals/{id}/revoke"),
            format!("/referrals/{referral}/revoke"),
            json!({"reason": "sent to the wrong partner"}),
            ("/referrals/engi-none/revoke", nobody.clone()),
        ),
        write(
            ("PUT", "/calendars/{name}"),
            "/calendars/partner-holidays",
            json!({"dates": ["2027-01-04"]}),
            ("/calendars/partner-holidays", json!({"dates": ["the fourth"]})),
        ),
        write(
            ("POST", "/webhooks"),
            "/webhooks",
            json!({"partner": "P1", "url": "http://127.0.0.1:9/second"}),
            ("/webhooks", json!({"url": "ftp://127.0.0.1/hook"})),
        ),
        write(
            ("POST", "/webhooks/{id}/replay"),
            format!("/webhooks/{hook}/replay"),
            json!({"since_seq": 0}),
            ("/webhooks/wh-none/replay", json!({"since_seq": 0})),
        ),
        write(("DELETE", "/webhooks/{id}"), format!("/webhooks/{hook}"), nobody.clone(), ("/webhooks/wh-none", nobody.clone())),
        write(
            ("POST", "/partners/{id}/users/{name}/disable"),
            "/partners/P1/users/carol/disable",
            nobody.clone(),
            ("/partners/P1/users/nobody/disable", nobody.clone()),
        ),
        write(
            ("POST", "/clock/advance"),
            "/clock/advance",
            json!({"duration": "1h"}),
            ("/clock/advance", json!({"duration": "soon"})),
        ),
    ];

    let tested: BTreeSet<(String, String)> = writes.iter().map(|w| (w.route.0.to_string(), w.route.1.to_string())).collect();
    assert_eq!(tested, declared_write_routes(), "every write route of the operator API is in this table, and only those");

    for w in &writes {
        let (method, _) = w.route;
        let what = format!("{method} {}", w.path);
        let before = digest(&app);
        let (status, answer) = app.operator_raw(method, &w.refused.0, w.refused.1.clone()).await;
        assert!((400..500).contains(&status), "{what}: the refused variant answered {status} {answer}");
        assert_eq!(changes(&before, &digest(&app)), Vec::<String>::new(), "{what}: a refused request wrote something");

        refuse_audit(&app, true);
        let (status, answer) = app.operator_raw(method, &w.path, w.body.clone()).await;
        refuse_audit(&app, false);
        assert_eq!(status, 500, "{what}: with the audit log refusing, the write must fail: {answer}");
        let written = changes(&before, &digest(&app));
        assert_eq!(written, Vec::<String>::new(), "{what}: its change was committed without its audit entry");

        let entries = audit_entries(&app);
        let (status, answer) = app.operator_raw(method, &w.path, w.body.clone()).await;
        assert!((200..300).contains(&status), "{what}: {status} {answer}");
        assert!(audit_entries(&app) > entries, "{what}: no audit entry");
    }
    // The cancellation's refusal proper: nothing left to cancel.
    let (status, _) = app.operator_raw("DELETE", "/program/termination", Value::Null).await;
    assert_eq!(status, 404);
}
