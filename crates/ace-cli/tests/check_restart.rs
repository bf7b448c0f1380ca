//! Issue 25: an integration check survives a server restart — killed while a step waits for
//! the integration, the restarted server resumes waiting where the run was, records the
//! integration's very first request after the restart, and the run passes.
//! `cargo test -p ace-cli --test check_restart` (~5 s; loopback only, port 18670).

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::{operator, partner, serve};

const PORT: u16 = 18670;

fn deal() -> Value {
    json!({"Catalog": "Sandbox", "ClientToken": "crm-restart",
        "Customer": {"Account": {"CompanyName": "Northwind Traders", "WebsiteUrl": "https://northwind.example.com",
            "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101", "StateOrRegion": "Washington"}}},
        "Project": {"Title": "Analytics platform", "CustomerBusinessProblem": "Month-end reporting takes four days on the current warehouse.",
            "CustomerUseCase": "Business Intelligence & Data Warehouse", "DeliveryModels": ["SaaS or PaaS"],
            "ExpectedCustomerSpend": [{"Amount": "2500", "CurrencyCode": "USD", "Frequency": "Monthly", "TargetCompany": "AWS"}]},
        "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-06-30"},
        "OpportunityType": "Net New Business", "PrimaryNeedsFromAws": ["Co-Sell - Architectural Validation"],
        "PartnerOpportunityIdentifier": "CRM-RESTART"})
}

/// Polls the run until `done` holds of its report (at most 20 s).
async fn wait_for(host: &str, token: &str, run: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = operator(host, token, reqwest::Method::GET, &format!("/checks/{run}"), Value::Null).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {last:#}");
}

fn step(report: &Value, n: usize) -> &str {
    report["scenarios"][0]["steps"][n - 1]["status"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_check_survives_a_restart_and_resumes_waiting_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let host = format!("127.0.0.1:{PORT}");
    let mut server = serve(dir.path(), PORT, &log).await;
    let (p, token) = partner(&host, dir.path(), "P-CRM").await;
    let started = operator(
        &host,
        &token,
        reqwest::Method::POST,
        "/checks",
        json!({"partner_id": "P-CRM", "scenarios": ["opportunity-approved"]}),
    )
    .await;
    let run = started["id"].as_str().expect("a run").to_string();

    let (status, created) = p.call("CreateOpportunity", &deal()).await;
    assert_eq!(status, 200, "{created}");
    let id = created["Id"].as_str().unwrap().to_string();
    let submit = json!({"Catalog": "Sandbox", "Identifier": id, "InvolvementType": "Co-Sell", "Visibility": "Full"});
    let (status, v) = p.call("SubmitOpportunity", &submit).await;
    assert_eq!(status, 200, "{v}");
    let waiting = wait_for(&host, &token, &run, "AWS starts its review", |r| step(r, 4) == "Waiting").await;
    assert_eq!(step(&waiting, 3), "Passed");

    // Killed while the run waits for the integration to read the change.
    server.kill().await.unwrap();
    server.wait().await.unwrap();
    let _server = serve(dir.path(), PORT, &log).await;

    // The integration's first request after the restart is what the step waits for.
    let (status, o) = p.call("GetOpportunity", &json!({"Catalog": "Sandbox", "Identifier": id})).await;
    assert_eq!((status, o["LifeCycle"]["ReviewStatus"].as_str()), (200, Some("In review")), "{o}");
    wait_for(&host, &token, &run, "the read after the restart passes step 4 and AWS approves", |r| step(r, 6) == "Waiting").await;
    let (status, _) = p.call("GetOpportunity", &json!({"Catalog": "Sandbox", "Identifier": id})).await;
    assert_eq!(status, 200);
    let done = wait_for(&host, &token, &run, "the run passes", |r| r["status"] == "Passed").await;
    let passed = done["scenarios"][0]["steps"].as_array().unwrap().iter().filter(|s| s["status"] == "Passed").count();
    assert_eq!(passed, 6, "{done:#}");
    // The approval was taken once, across the restart.
    let review = operator(&host, &token, reqwest::Method::GET, &format!("/review/{id}"), Value::Null).await;
    let approvals = review["history"].as_array().unwrap().iter().filter(|h| h["status"] == "Approved").count();
    assert_eq!(approvals, 1, "{review:#}");
}
