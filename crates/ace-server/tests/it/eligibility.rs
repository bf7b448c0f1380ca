//! ELIG-2 / ELIG-3 end to end: validations through submissions and operator approval, the
//! rolling window on the test clock, as-of evaluation, further requirements, the partner's view.

use serde_json::{json, Value};

use crate::opportunities::{customer, project};
use crate::review::{attest, attestation};
use crate::support::{Credentials, TestApp};

/// An eligible-looking select partner except for its validations.
pub async fn select_partner(app: &TestApp, id: &str) -> (Credentials, String) {
    app.operator(
        "POST",
        "/partners",
        json!({"id": id, "name": "Acme Cloud", "path": "consulting", "tier": "select", "programs": ["msp"], "psf_listed": true,
               "privacy_policy": "https://acme.example/privacy", "referrals_approved": true}),
    )
    .await;
    let c = app.user(id, "alice").await;
    let solution =
        app.operator("POST", &format!("/partners/{id}/solutions"), json!({"name": "F", "category": "Consulting Service"})).await;
    (c, solution["id"].as_str().unwrap().to_string())
}

/// Create, attest, submit and approve one AWS-catalog opportunity.
pub async fn validate_one(app: &TestApp, c: &Credentials, solution: &str) -> String {
    let client = app.client(c);
    let created = client
        .create_opportunity()
        .catalog("AWS")
        .customer(customer("Example Corp"))
        .project(project())
        .life_cycle(crate::opportunities::lifecycle())
        .send()
        .await
        .unwrap();
    let id = created.id().to_string();
    client
        .associate_opportunity()
        .catalog("AWS")
        .opportunity_identifier(&id)
        .related_entity_type(aws_sdk_partnercentralselling::types::RelatedEntityType::Solutions)
        .related_entity_identifier(solution)
        .send()
        .await
        .unwrap();
    assert_eq!(attest(app, c, attestation(&id)).await.0, 200);
    client
        .submit_opportunity()
        .catalog("AWS")
        .identifier(&id)
        .involvement_type(aws_sdk_partnercentralselling::types::SalesInvolvementType::CoSell)
        .send()
        .await
        .unwrap();
    app.operator("POST", &format!("/review/{id}/approve"), json!({})).await;
    id
}

fn requirement<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["Requirements"].as_array().unwrap().iter().find(|r| r["Id"] == id).unwrap_or_else(|| panic!("{id} in {report}"))
}

#[tokio::test]
async fn elig_2_1_a_nine_then_ten_validated_then_out_of_the_rolling_window() {
    let app = TestApp::start().await;
    let (c, solution) = select_partner(&app, "P-ACME").await;
    for _ in 0..9 {
        validate_one(&app, &c, &solution).await;
    }
    let report = app.operator("GET", "/eligibility/P-ACME", Value::Null).await;
    assert_eq!(report["Eligible"], false);
    assert_eq!(report["Segment"], "select");
    let a = requirement(&report, "ELIG-2.1a");
    assert_eq!(a["Met"], false);
    assert!(a["Detail"].as_str().unwrap().contains("9 of 10, 1 more needed"), "{a}");

    validate_one(&app, &c, &solution).await;
    let report = app.operator("GET", "/eligibility/P-ACME", Value::Null).await;
    assert_eq!(report["Eligible"], true, "{report}");
    let history = app.operator("GET", "/eligibility/P-ACME/history", Value::Null).await;
    let flips: Vec<bool> = history["history"].as_array().unwrap().iter().map(|h| h["eligible"].as_bool().unwrap()).collect();
    assert_eq!(flips, vec![false, true]);
    let events = app.operator("GET", "/events?limit=1000", Value::Null).await;
    let changed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["detail-type"] == "Partner Eligibility Changed")
        .collect();
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[1]["event"]["detail"]["eligible"], true);
    assert_eq!(changed[1]["event"]["source"], "ace.pipeline-manager");

    // The partner sees the same about itself.
    let (status, _, own) = app.raw(&c, "AcePartner.GetReferralEligibility", "application/x-amz-json-1.0", b"{}".to_vec()).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["PartnerId"], "P-ACME");
    assert_eq!(own["Eligible"], true);
    assert_eq!(own["ValidatedInWindow"], 10);

    // A year and a day later every validation has dropped out; the daily job records it.
    let before = app.operator("GET", "/clock", Value::Null).await["now"].as_str().unwrap().to_string();
    let advanced = app.operator("POST", "/clock/advance", json!({"duration": "366d"})).await;
    assert!(advanced["jobs_run"][0].as_str().unwrap().contains("eligibility sweep"), "{advanced}");
    let report = app.operator("GET", "/eligibility/P-ACME", Value::Null).await;
    assert_eq!(report["Eligible"], false);
    assert!(requirement(&report, "ELIG-2.1a")["Detail"].as_str().unwrap().contains("0 of 10"));
    let history = app.operator("GET", "/eligibility/P-ACME/history", Value::Null).await;
    let last = history["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["eligible"].as_bool(), last["cause"].as_str()), (Some(false), Some("daily re-evaluation")));
    // ... and as of before the advance it was eligible.
    let then = app.operator("GET", &format!("/eligibility/P-ACME?as_of={before}"), Value::Null).await;
    assert_eq!(then["Eligible"], true);
}

#[tokio::test]
async fn elig_3_configuration_is_versioned_and_further_requirements_are_data() {
    let app = TestApp::start().await;
    let (c, solution) = select_partner(&app, "P-ACME").await;
    for _ in 0..2 {
        validate_one(&app, &c, &solution).await;
    }
    let before = app.operator("GET", "/clock", Value::Null).await["now"].as_str().unwrap().to_string();
    app.operator("POST", "/clock/advance", json!({"duration": "1h"})).await;
    app.operator("PUT", "/eligibility-config", json!({"validated_min": 2})).await;
    assert_eq!(app.operator("GET", "/eligibility/P-ACME", Value::Null).await["Eligible"], true, "2 are enough now");
    let then = app.operator("GET", &format!("/eligibility/P-ACME?as_of={before}"), Value::Null).await;
    assert_eq!(then["Eligible"], false, "as of before the change, the older configuration (10) applies");

    app.operator(
        "POST",
        "/requirements",
        json!({"id": "training-complete", "segment": "select", "description": "Sales training completed"}),
    )
    .await;
    let report = app.operator("GET", "/eligibility/P-ACME", Value::Null).await;
    assert_eq!(report["Eligible"], false);
    assert_eq!(requirement(&report, "ELIG-2.1e:training-complete")["Met"], false);
    app.operator("PUT", "/partners/P-ACME/requirements/training-complete", json!({"met": true})).await;
    assert_eq!(app.operator("GET", "/eligibility/P-ACME", Value::Null).await["Eligible"], true);
    let (status, _) = app.operator_raw("PUT", "/partners/P-ACME/requirements/unknown", json!({"met": true})).await;
    assert_eq!(status, 404);
    let (status, _) = app.operator_raw("POST", "/requirements", json!({"id": "x", "segment": "gold", "description": "d"})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn elig_2_all_partners_and_the_referral_gate() {
    let app = TestApp::start().await;
    select_partner(&app, "P-A").await;
    app.operator(
        "POST",
        "/partners",
        json!({"id": "P-PREMIER", "name": "Premier", "path": "consulting", "tier": "premier", "psf_listed": true,
               "privacy_policy": "https://premier.example/privacy", "referrals_approved": true}),
    )
    .await;
    app.operator("POST", "/partners", json!({"id": "P-REG", "name": "Registered", "path": "technology", "tier": "registered"}))
        .await;
    let all = app.operator("GET", "/eligibility", Value::Null).await;
    let verdicts: Vec<(&str, bool)> = all["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["PartnerId"].as_str().unwrap(), r["Eligible"].as_bool().unwrap()))
        .collect();
    assert_eq!(verdicts, vec![("P-A", false), ("P-PREMIER", true), ("P-REG", false)]);
    let (status, _) = app.operator_raw("GET", "/eligibility/P-NONE", Value::Null).await;
    assert_eq!(status, 404);
    // The gate (ELIG-2, REF-6) refers by those verdicts: the eligible partner gets the referral,
    // the others are refused with the requirements they miss, and nothing is stored for them.
    let referral = |partner: &str| {
        json!({"partner": partner, "kind": "opportunity", "company": "Gate Corp", "website": "https://gate.example.com",
               "country": "US", "contact_name": "Jo Doe", "contact_email": "jo@gate.example.com"})
    };
    let (status, created) = app.operator_raw("POST", "/referrals", referral("P-PREMIER")).await;
    assert_eq!(status, 201, "the eligible partner is referred: {created}");
    for partner in ["P-A", "P-REG"] {
        let (status, refused) = app.operator_raw("POST", "/referrals", referral(partner)).await;
        assert_eq!(status, 409, "{partner}: {refused}");
        assert_eq!(refused["error"]["code"], json!("not-eligible"), "{partner}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("ELIG-2"), "the unmet requirements are named: {refused}");
    }
    let listed = app.operator("GET", "/referrals", Value::Null).await;
    let partners: Vec<&str> = listed["referrals"].as_array().unwrap().iter().map(|r| r["PartnerId"].as_str().unwrap()).collect();
    assert_eq!(partners, ["P-PREMIER"], "only the eligible partner's referral is stored");
}

#[tokio::test]
async fn elig_1_ineligible_partners_still_submit() {
    let app = TestApp::start().await;
    app.operator("POST", "/partners", json!({"id": "P-REG", "name": "Registered", "path": "consulting", "tier": "registered"}))
        .await;
    let c = app.user("P-REG", "alice").await;
    let solution =
        app.operator("POST", "/partners/P-REG/solutions", json!({"name": "F", "category": "Consulting Service"})).await;
    assert_eq!(app.operator("GET", "/eligibility/P-REG", Value::Null).await["Eligible"], false);
    validate_one(&app, &c, solution["id"].as_str().unwrap()).await;
}

/// Issue 22, REF-7: an as-of report sees the referral updates as they were at that instant. A
/// referral left without update for 35 days is stale as of then, and stays stale in the report
/// of that instant after the partner updates it later; today's report sees the update.
#[tokio::test]
async fn elig_2_an_as_of_report_is_unchanged_by_a_later_referral_update() {
    let app = TestApp::start().await;
    let c = crate::referrals::eligible_partner(&app, "P-REF").await;
    let client = app.client(&c);
    let invitation = crate::referrals::refer(&app, "P-REF", "Fresh", "jane@fresh.example.com").await;
    let opportunity = crate::referrals::accept(&client, &invitation, "accept").await;
    // Contacted in time (REF-3), so the referral stays open.
    let now = app.operator("GET", "/clock", Value::Null).await["now"].as_str().unwrap().to_string();
    let contact = json!({"Catalog": "AWS", "InvitationIdentifier": invitation, "Channel": "Email", "ContactedAt": now,
                         "ActingInOwnName": true});
    let (status, v) = app.ext(&c, "RecordReferralContact", contact).await;
    assert_eq!(status, 200, "{v}");
    let updates = |report: &Value| -> String {
        report["Requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|r| r["Detail"].as_str().filter(|d| d.starts_with("referral updates")))
            .unwrap_or_else(|| panic!("no referral-updates requirement: {report}"))
            .to_string()
    };
    app.operator("POST", "/clock/advance", json!({"duration": "35d"})).await;
    let stale_at = app.operator("GET", "/clock", Value::Null).await["now"].as_str().unwrap().to_string();
    let then = app.operator("GET", &format!("/eligibility/P-REF?as_of={stale_at}"), Value::Null).await;
    assert!(updates(&then).starts_with("referral updates: 0 of 1"), "{then}");
    let of_all = |v: Value| v["reports"].as_array().unwrap().iter().find(|r| r["PartnerId"] == "P-REF").cloned().unwrap();
    let all_then = of_all(app.operator("GET", &format!("/eligibility?as_of={stale_at}"), Value::Null).await);
    assert_eq!(updates(&all_then), updates(&then), "every partner's report agrees");

    app.operator("POST", "/clock/advance", json!({"duration": "1h"})).await;
    let got = client.get_opportunity().catalog("AWS").identifier(&opportunity).send().await.unwrap();
    client
        .update_opportunity()
        .catalog("AWS")
        .identifier(&opportunity)
        .last_modified_date(*got.last_modified_date())
        .set_customer(got.customer().cloned())
        .set_project(got.project().cloned())
        .life_cycle(
            aws_sdk_partnercentralselling::types::LifeCycle::builder()
                .stage(aws_sdk_partnercentralselling::types::Stage::Qualified)
                .next_steps("Workshop booked")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let now = app.operator("GET", "/eligibility/P-REF", Value::Null).await;
    assert!(updates(&now).starts_with("referral updates: 1 of 1"), "today's report sees the update: {now}");
    let again = app.operator("GET", &format!("/eligibility/P-REF?as_of={stale_at}"), Value::Null).await;
    assert_eq!(updates(&again), updates(&then), "the past report is unchanged");
    let all_again = of_all(app.operator("GET", &format!("/eligibility?as_of={stale_at}"), Value::Null).await);
    assert_eq!(updates(&all_again), updates(&then), "and so is every partner's, as of then");
    assert_eq!(again["Eligible"], then["Eligible"]);
}
