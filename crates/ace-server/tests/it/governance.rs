//! MOD-1 … MOD-4, USE-2, USE-4 and USE-6 end to end: the operator publishes terms, ends the
//! program, publishes a support contact; partners act through the official SDK and read the
//! program through `AcePartner.*`; the audit log records it all and detects tampering.

use serde_json::{json, Value};

use crate::opportunities::create;
use crate::support::{code, Credentials, TestApp};

async fn now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    let clock = app.operator("GET", "/clock", json!(null)).await;
    chrono::DateTime::parse_from_rfc3339(clock["now"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The operator refers a lead to `partner`: the status and body of the answer.
async fn refer_lead(app: &TestApp, partner: &str) -> (u16, Value) {
    let body = json!({"partner": partner, "kind": "lead", "company": "X", "website": "https://x.example", "country": "US"});
    app.operator_raw("POST", "/referrals", body).await
}

async fn feed_types(app: &TestApp, c: &Credentials) -> Vec<(String, Value)> {
    let (status, feed) = app.ext(c, "ListEvents", json!({})).await;
    assert_eq!(status, 200, "{feed}");
    feed["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let event: Value = serde_json::from_str(e["Event"].as_str().unwrap()).unwrap();
            (event["detail-type"].as_str().unwrap().to_string(), event["detail"].clone())
        })
        .collect()
}

#[tokio::test]
async fn mod_2_and_mod_4_terms_are_versioned_effective_on_posting_and_partners_are_told() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let (status, body) = app.ext(&alice, "GetCurrentTerms", json!({})).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("ResourceNotFoundException")), "{body}");

    let t0 = now(&app).await;
    let v1 = app.operator("POST", "/terms", json!({"text": "# Terms\nVersion one.", "summary": "first"})).await;
    assert_eq!((v1["version"].as_i64(), v1["effective"].as_str()), (Some(1), Some(rfc3339(t0).as_str())), "on posting: {v1}");
    let later = rfc3339(t0 + chrono::TimeDelta::days(30));
    let v2 = app.operator("POST", "/terms", json!({"text": "Version two.", "effective": later, "summary": "second"})).await;
    assert_eq!(v2["version"], json!(2));

    // MOD-4: the partner reads the terms in force and sees the next version coming.
    let (status, current) = app.ext(&alice, "GetCurrentTerms", json!({})).await;
    assert_eq!(status, 200, "{current}");
    assert_eq!(current["Version"], json!(1));
    assert_eq!(current["Text"], json!("# Terms\nVersion one."));
    assert_eq!(current["Sha256"].as_str().unwrap().len(), 64);
    assert_eq!(current["UpcomingVersions"][0]["Version"], json!(2));
    assert_eq!(current["UpcomingVersions"][0]["EffectiveDate"], json!(later));
    assert_eq!(current["ProgramStatus"], json!("ACTIVE"));
    let (_, second) = app.ext(&alice, "GetCurrentTerms", json!({"TermsVersion": 2})).await;
    assert_eq!(second["Text"], json!("Version two."));
    let (status, _) = app.ext(&alice, "GetCurrentTerms", json!({"TermsVersion": 9})).await;
    assert_eq!(status, 400);

    // Every partner's stream got one event per version.
    let told: Vec<Value> =
        feed_types(&app, &alice).await.into_iter().filter(|(t, _)| t == "Program Terms Changed").map(|(_, d)| d).collect();
    assert_eq!(told.len(), 2);
    assert_eq!((told[1]["version"].clone(), told[1]["effectiveDate"].clone()), (json!(2), json!(later)));

    // A date in the past is refused unless backdated, and a backdated one is audited as such.
    let past = rfc3339(t0 - chrono::TimeDelta::days(1));
    let (status, refused) = app.operator_raw("POST", "/terms", json!({"text": "x", "effective": past})).await;
    assert_eq!(status, 400);
    assert!(refused["error"]["message"].as_str().unwrap().contains("--backdate"), "{refused}");
    let (status, _) = app.operator_raw("POST", "/terms", json!({"text": "   "})).await;
    assert_eq!(status, 400, "empty terms are refused");
    let v3 = app.operator("POST", "/terms", json!({"text": "Backdated.", "effective": past, "backdate": true})).await;
    assert_eq!(v3["backdated"], json!(true));
    let log = app.operator("GET", "/audit/log?action=terms.published", json!(null)).await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["detail"]["backdated"], json!(true));
    assert_eq!(entries[2]["actor"], json!("operator:bootstrap admin"));

    let list = app.operator("GET", "/terms", json!(null)).await;
    let statuses: Vec<&str> = list["terms"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    // v3 took effect (yesterday) and is the newest in force: it supersedes v1; v2 still waits.
    assert_eq!(statuses, vec!["superseded", "upcoming", "current"]);
}

#[tokio::test]
async fn mod_3_continued_participation_is_recorded_as_acceptance_naming_the_act() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let bob = app.partner("P-B").await;
    app.partner("P-C").await;
    let t0 = now(&app).await;
    let effective = rfc3339(t0 + chrono::TimeDelta::days(1));
    app.operator("POST", "/terms", json!({"text": "Version one.", "effective": effective})).await;

    // Before the effective date, acting accepts nothing.
    create(&app.client(&alice), "AWS", "Early Corp").await;
    let acceptance = app.operator("GET", "/terms/1/acceptance", json!(null)).await;
    assert_eq!(acceptance["accepted"], json!([]));

    // Bob accepts the upcoming version explicitly.
    let (status, accepted) = app.ext(&bob, "AcceptTerms", json!({"TermsVersion": 1})).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["Acceptance"]["Method"], json!("EXPLICIT"));
    assert_eq!(accepted["Acceptance"]["AcceptedBy"], json!("alice"), "the test helper names every partner's user alice");

    app.operator("POST", "/clock/advance", json!({"duration": "2d"})).await;
    // Alice's first act after the effective date, through the official SDK, is her acceptance.
    let listed = app.client(&alice).list_opportunities().catalog("AWS").send().await.unwrap();
    assert_eq!(listed.opportunity_summaries().len(), 1);
    create(&app.client(&bob), "AWS", "Bob Corp").await;
    // Reading the terms is not taking part: Carol has not acted.
    let carol = app.user("P-C", "carol").await;
    let (status, _) = app.ext(&carol, "GetCurrentTerms", json!({})).await;
    assert_eq!(status, 200);

    let acceptance = app.operator("GET", "/terms/1/acceptance", json!(null)).await;
    let by_partner = |id: &str| acceptance["accepted"].as_array().unwrap().iter().find(|a| a["partner_id"] == json!(id)).cloned();
    let a = by_partner("P-A").expect("alice's act recorded acceptance");
    assert_eq!(
        (a["method"].as_str(), a["operation"].as_str(), a["user"].as_str()),
        (Some("CONTINUED_PARTICIPATION"), Some("ListOpportunities"), Some("alice"))
    );
    assert_eq!(a["at"].as_str().unwrap(), rfc3339(now(&app).await));
    let b = by_partner("P-B").unwrap();
    assert_eq!(
        (b["method"].as_str(), b["operation"].as_str()),
        (Some("EXPLICIT"), Some("AcceptTerms")),
        "the first acceptance stands"
    );
    assert_eq!(acceptance["not_yet"], json!(["P-C"]));

    // The partner sees how it accepted; a later explicit acceptance does not replace it.
    let (_, current) = app.ext(&alice, "GetCurrentTerms", json!({})).await;
    assert_eq!(current["Acceptance"]["Method"], json!("CONTINUED_PARTICIPATION"));
    let (_, again) = app.ext(&alice, "AcceptTerms", json!({"TermsVersion": 1})).await;
    assert_eq!(again["Acceptance"]["Method"], json!("CONTINUED_PARTICIPATION"));

    // A superseded version cannot be accepted; an unknown one is not found.
    app.operator("POST", "/terms", json!({"text": "Version two."})).await;
    let (status, refused) = app.ext(&carol, "AcceptTerms", json!({"TermsVersion": 1})).await;
    assert_eq!(status, 400);
    assert!(refused["message"].as_str().unwrap().contains("superseded by version 2"), "{refused}");
    let (status, refused) = app.ext(&carol, "AcceptTerms", json!({"TermsVersion": 7})).await;
    assert_eq!((status, refused["__type"].as_str()), (400, Some("ResourceNotFoundException")));
    let audit = app.operator("GET", "/audit/log?action=terms.accepted&partner=P-A", json!(null)).await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
    assert_eq!(audit["entries"][0]["detail"]["operation"], json!("ListOpportunities"));
}

#[tokio::test]
async fn mod_1_termination_stops_submissions_and_referrals_and_tells_partners() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let client = app.client(&alice);
    app.operator("POST", "/terms", json!({"text": "Terms."})).await;
    let before = create(&client, "AWS", "Before Corp").await;

    let (status, refused) = app.operator_raw("POST", "/program/terminate", json!({"effective": "2001-01-01T00:00:00Z"})).await;
    assert_eq!(status, 400, "a past date needs backdate: {refused}");
    let effective = rfc3339(now(&app).await + chrono::TimeDelta::days(7));
    let scheduled = app.operator("POST", "/program/terminate", json!({"effective": effective, "reason": "program sunset"})).await;
    assert_eq!(scheduled["status"], json!("TERMINATION_SCHEDULED"));
    let told: Vec<Value> =
        feed_types(&app, &alice).await.into_iter().filter(|(t, _)| t == "Program Terminated").map(|(_, d)| d).collect();
    assert_eq!(told, vec![json!({"effectiveDate": effective, "reason": "program sunset"})]);
    let (_, terms) = app.ext(&alice, "GetCurrentTerms", json!({})).await;
    assert_eq!(
        (terms["ProgramStatus"].as_str(), terms["TerminationDate"].as_str()),
        (Some("TERMINATION_SCHEDULED"), Some(effective.as_str()))
    );
    // Until then everything works.
    create(&client, "AWS", "Still Corp").await;

    app.operator("POST", "/clock/advance", json!({"duration": "8d"})).await;
    let err = client
        .create_opportunity()
        .catalog("AWS")
        .customer(crate::opportunities::customer("After Corp"))
        .project(crate::opportunities::project())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(format!("{:?}", err).contains("terminated effective"), "{err:?}");
    let err = client
        .submit_opportunity()
        .catalog("AWS")
        .identifier(before.id())
        .involvement_type("Co-Sell".into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // Partners keep reading their own records.
    client.get_opportunity().catalog("AWS").identifier(before.id()).send().await.unwrap();
    let (status, refused) = refer_lead(&app, "P-A").await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("program-terminated")), "{refused}");
    let (status, _) = app.operator_raw("DELETE", "/program/termination", json!(null)).await;
    assert_eq!(status, 409, "a termination in effect cannot be called off");
    let program = app.operator("GET", "/program", json!(null)).await;
    assert_eq!(program["status"], json!("TERMINATED"));
}

#[tokio::test]
async fn use_6_the_support_contact_is_published_to_partners() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let (status, missing) = app.ext(&alice, "GetSupportContact", json!({})).await;
    assert_eq!((status, missing["__type"].as_str()), (400, Some("ResourceNotFoundException")));
    let (status, bad) = app.operator_raw("PUT", "/program/support-contact", json!({"email": "not an address"})).await;
    assert_eq!(status, 400, "{bad}");
    let (status, _) =
        app.operator_raw("PUT", "/program/support-contact", json!({"email": "a@b.example", "url": "http://insecure"})).await;
    assert_eq!(status, 400);
    app.operator(
        "PUT",
        "/program/support-contact",
        json!({"email": "ace-support@operator.example", "phone": "+1 206 555 0100", "hours": "Mon-Fri 09:00-17:00 UTC"}),
    )
    .await;
    let (status, contact) = app.ext(&alice, "GetSupportContact", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        contact,
        json!({"Email": "ace-support@operator.example", "Phone": "+1 206 555 0100", "Hours": "Mon-Fri 09:00-17:00 UTC"})
    );
    let log = app.operator("GET", "/audit/log?action=program.support-contact", json!(null)).await;
    assert_eq!(log["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn use_2_probing_is_detected_blocked_audited_and_shown_to_the_operator() {
    let app = TestApp::start_with(|s| {
        s.probe_policy.unknown_operations_max = 5;
        s.probe_policy.not_found_max = 8;
    })
    .await;
    let scanner = app.partner("P-S").await;
    let honest = app.partner("P-H").await;
    for i in 0..5 {
        let (status, body) = app.call(&scanner, &format!("Probe{i}"), json!({})).await;
        assert_eq!((status, body["__type"].as_str()), (404, Some("UnknownOperationException")), "{body}");
    }
    // Blocked now: even a valid call from that key is refused, with a clear message.
    let err = app.client(&scanner).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(format!("{err:?}").contains("blocked until"), "{err:?}");
    // The address was probed from too (every test client is 127.0.0.1); the operator lifts
    // that block, and the honest partner works while the scanner's key stays blocked.
    let events = app.operator("GET", "/security/events", json!(null)).await;
    let subjects: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert!(subjects.contains(&format!("key:{}", scanner.access_key_id).as_str()), "{events}");
    assert!(subjects.contains(&"address:127.0.0.1"), "{events}");
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["active"] == json!(true) && e["signal"] == json!("unknown-operation")));
    let lifted = app.operator("POST", "/security/unblock", json!({"subject": "address:127.0.0.1"})).await;
    assert_eq!(lifted["lifted"], json!(true));
    app.client(&honest).list_opportunities().catalog("AWS").send().await.unwrap();
    let err = app.client(&scanner).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");

    // Not-found probes across many ids block as well.
    for i in 0..8 {
        let err = app
            .client(&honest)
            .get_opportunity()
            .catalog("AWS")
            .identifier(format!("O{}", 9_000_000 + i))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ResourceNotFoundException", "probe {i}");
    }
    let err = app.client(&honest).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    let log = app.operator("GET", "/audit/log?action=security.probe-blocked", json!(null)).await;
    let signals: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["detail"]["signal"].as_str().unwrap()).collect();
    assert_eq!(signals.iter().filter(|s| **s == "not-found").count(), 2, "key and address: {log}");
    assert_eq!(log["entries"].as_array().unwrap().iter().filter(|e| e["partner_id"] == json!("P-H")).count(), 2);
}

#[tokio::test]
async fn use_4_the_audit_log_records_who_did_what_and_verify_detects_tampering() {
    let app = TestApp::start().await;
    let verified = app.operator("GET", "/audit/verify", json!(null)).await;
    assert_eq!(
        (verified["ok"].clone(), verified["entries"].clone()),
        (json!(true), json!(1)),
        "the quota change at start-up: {verified}"
    );

    let alice = app.partner("P-A").await;
    let created = create(&app.client(&alice), "AWS", "Audit Corp").await;
    let wrong = Credentials { secret: "not-the-secret".into(), ..alice.clone() };
    let err = app.client(&wrong).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");

    let log = app.operator("GET", "/audit/log?partner=P-A", json!(null)).await;
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["operator.action", "operator.action", "partner.write", "auth.failure"], "{log}");
    assert_eq!(entries[0]["detail"]["path"], json!("/operator/v1/partners"));
    assert_eq!(entries[1]["detail"]["path"], json!("/operator/v1/partners/P-A/users"));
    assert_eq!(entries[2]["actor"], json!("partner:P-A/alice"));
    assert_eq!(entries[2]["detail"]["operation"], json!("CreateOpportunity"));
    assert_eq!(entries[2]["detail"]["opportunities"], json!([created.id()]));
    assert_eq!(entries[3]["actor"], json!("client:127.0.0.1"));
    assert_eq!(entries[3]["detail"]["error"], json!("InvalidSignature"));
    let verified = app.operator("GET", "/audit/verify", json!(null)).await;
    assert_eq!(verified["ok"], json!(true), "{verified}");
    let entries_before = verified["entries"].as_i64().unwrap();
    assert!(entries_before >= 5);

    // Alter one stored row behind the server's back: verification names it.
    let tamper = |sql: &str| {
        let db = rusqlite::Connection::open(app.data_dir().join("ace.db")).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        db.execute(sql, []).unwrap();
    };
    tamper("UPDATE audit_log SET actor = 'partner:P-B/mallory' WHERE seq = 4");
    let verified = app.operator("GET", "/audit/verify", json!(null)).await;
    assert_eq!((verified["ok"].clone(), verified["broken_at"].clone()), (json!(false), json!(4)), "{verified}");
    assert!(verified["reason"].as_str().unwrap().contains("altered"));
    // Removing a row is caught too, at the gap.
    tamper("DELETE FROM audit_log WHERE seq = 2");
    let verified = app.operator("GET", "/audit/verify", json!(null)).await;
    assert_eq!(verified["broken_at"], json!(2), "{verified}");
}

#[tokio::test]
async fn rem_1_removal_from_referrals_then_from_the_program_and_reinstatement() {
    use crate::referrals::{accept, eligible_partner, refer};
    let app = TestApp::start().await;
    let c = eligible_partner(&app, "P-A").await;
    let client = app.client(&c);
    let accepted = refer(&app, "P-A", "Acceptedco", "a@acceptedco.example.com").await;
    let opportunity = accept(&client, &accepted, "t-accept").await;
    let pending = refer(&app, "P-A", "Pendingco", "p@pendingco.example.com").await;
    let own = create(&client, "AWS", "Own Corp").await.id().to_string();
    // Tokens the partner holds before its removal.
    let page = client.list_opportunities().catalog("AWS").max_results(1).send().await.unwrap();
    let next_token = page.next_token().expect("two opportunities, one per page").to_string();

    let (status, _) = app.operator_raw("POST", "/partners/P-NOBODY/remove", json!({"scope": "all"})).await;
    assert_eq!(status, 404, "removing an unknown partner is a clear error");
    let (status, _) = app.operator_raw("POST", "/partners/P-A/remove", json!({"scope": "everything"})).await;
    assert_eq!(status, 400);

    // Referrals only: ineligible whatever its figures, open referrals revoked with their data.
    let removed = app.operator("POST", "/partners/P-A/remove", json!({"scope": "referrals", "reason": "misuse of leads"})).await;
    let mut revoked: Vec<String> =
        removed["referrals_revoked"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    revoked.sort();
    let mut expected = vec![accepted.clone(), pending.clone()];
    expected.sort();
    assert_eq!(revoked, expected);
    let report = app.operator("GET", "/eligibility/P-A", json!(null)).await;
    assert_eq!(report["Eligible"], json!(false), "{report}");
    let rem = report["Requirements"].as_array().unwrap().iter().find(|r| r["Id"] == json!("REM-1")).cloned().unwrap();
    assert!(rem["Detail"].as_str().unwrap().contains("misuse of leads"), "{rem}");
    for id in [&accepted, &pending] {
        let shown = app.operator("GET", &format!("/referrals/{id}"), json!(null)).await;
        assert_eq!((shown["Status"].as_str(), shown["DataDeleted"].as_bool()), (Some("REVOKED"), Some(true)));
    }
    let e = client.get_opportunity().catalog("AWS").identifier(&opportunity).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "the referral's opportunity is deleted");
    let (status, refused) = refer_lead(&app, "P-A").await;
    assert_eq!(status, 409, "no more referrals: {refused}");
    client.get_opportunity().catalog("AWS").identifier(&own).send().await.expect("still in the program for its own pipeline");

    // The whole program: every call is refused at once, tokens included.
    app.operator("POST", "/partners/P-A/remove", json!({"scope": "all"})).await;
    let e = client.list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException");
    assert!(format!("{e:?}").contains("removed from the ACE program"), "{e:?}");
    let e = client.list_opportunities().catalog("AWS").max_results(1).next_token(&next_token).send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException", "a pagination token gives no data");
    let e = client
        .create_opportunity()
        .catalog("AWS")
        .client_token("retry-after-removal")
        .customer(crate::opportunities::customer("Own Corp"))
        .project(crate::opportunities::project())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException", "an idempotency token gives no data");
    let second_user = app.user("P-A", "bob").await;
    let e = app.client(&second_user).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException", "every credential of the partner, new ones too");
    assert!(app.state.store.get_opportunity_by_id(&own).await.unwrap().is_some(), "its own opportunities stay with the operator");

    // Reinstatement undoes what can be undone.
    let (status, _) = app.operator_raw("POST", "/partners/P-A/reinstate", json!({"scope": "referrals"})).await;
    assert_eq!(status, 409, "removed from everything: reinstate all");
    let back = app.operator("POST", "/partners/P-A/reinstate", json!({"scope": "all"})).await;
    assert!(back["not_restored"].as_str().unwrap().contains("revoked referrals"));
    client.list_opportunities().catalog("AWS").send().await.unwrap();
    let shown = app.operator("GET", &format!("/referrals/{accepted}"), json!(null)).await;
    assert_eq!(shown["Status"], json!("REVOKED"), "revocations stand");
    let log = app.operator("GET", "/audit/log?partner=P-A&action=partner.removed", json!(null)).await;
    assert_eq!(log["entries"].as_array().unwrap().len(), 2);
    let log = app.operator("GET", "/audit/log?partner=P-A&action=referral.data-deleted", json!(null)).await;
    assert_eq!(log["entries"].as_array().unwrap().len(), 2);
}
