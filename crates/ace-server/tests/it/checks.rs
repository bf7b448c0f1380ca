//! The integration check (issue 25): the server plays the operator's side of the published
//! opportunity scenarios against a reference CRM integration written here — a polling client
//! that signs its own requests — and judges each step on what it saw the integration do. A
//! broken variant of the integration fails exactly the step it breaks, with a message a CRM
//! developer can act on.
//!
//! The same integration on the official SDK for Python (boto3) runs every scenario end to end in
//! tests/e2e/check.sh (tests/e2e/reference_crm.py).

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::{Credentials, TestApp};

/// How the reference integration misbehaves, if it does.
#[derive(Clone, Copy, PartialEq)]
enum Broken {
    None,
    /// Never answers an Action Required.
    IgnoresActionRequired,
    /// Never accepts a referral.
    NeverAcceptsReferrals,
    /// Reads a referral's engagement before accepting it.
    ReadsReferralsBeforeAccepting,
    /// Not broken: never polls, takes every change from its webhook.
    WebhooksOnly,
    /// Retries a create refused as a duplicate, again and again.
    RetriesDuplicateForever,
}

/// A CRM integration as a partner would write one: it pushes a new deal to the Sandbox
/// (create, then submit), keeps its records in step by polling, and fixes what an Action
/// Required names.
struct Crm<'a> {
    app: &'a TestApp,
    creds: &'a Credentials,
    broken: Broken,
    /// The request ids the server answered with (`x-amzn-RequestId`).
    request_ids: Vec<String>,
    /// Scenarios a deal was pushed for, and sent again for.
    pushed: HashSet<String>,
    resent: HashSet<String>,
    fixed: HashSet<String>,
    /// Opportunities of accepted referrals, and those whose contact was recorded.
    referred: HashSet<String>,
    contacted: HashSet<String>,
    /// Referred opportunities found gone (revoked): their copies deleted.
    gone: HashSet<String>,
}

impl<'a> Crm<'a> {
    fn new(app: &'a TestApp, creds: &'a Credentials, broken: Broken) -> Crm<'a> {
        Crm {
            app,
            creds,
            broken,
            request_ids: Vec::new(),
            pushed: HashSet::new(),
            resent: HashSet::new(),
            fixed: HashSet::new(),
            referred: HashSet::new(),
            contacted: HashSet::new(),
            gone: HashSet::new(),
        }
    }

    async fn call(&mut self, op: &str, body: Value) -> (u16, Value) {
        let target = if op.ends_with("IntegrationCheck") || op == "ListIntegrationChecks" || op == "RecordReferralContact" {
            format!("AcePartner.{op}")
        } else {
            format!("AWSPartnerCentralSelling.{op}")
        };
        let (status, headers, v) =
            self.app.raw(self.creds, &target, "application/x-amz-json-1.0", body.to_string().into_bytes()).await;
        if let Some(id) = headers.get("x-amzn-requestid").and_then(|v| v.to_str().ok()) {
            self.request_ids.push(id.to_string());
        }
        (status, v)
    }

    fn deal(scenario: &str) -> Value {
        json!({"Catalog": "Sandbox", "ClientToken": format!("crm-{scenario}"),
            "Customer": {"Account": {"CompanyName": "Northwind Traders", "WebsiteUrl": "https://northwind.example.com",
                "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101", "StateOrRegion": "Washington"}}},
            "Project": {"Title": format!("Analytics platform ({scenario})"),
                "CustomerBusinessProblem": "Month-end reporting takes four days on the current warehouse.",
                "CustomerUseCase": "Business Intelligence & Data Warehouse", "DeliveryModels": ["SaaS or PaaS"],
                "ExpectedCustomerSpend": [{"Amount": "2500", "CurrencyCode": "USD", "Frequency": "Monthly", "TargetCompany": "AWS"}]},
            "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-06-30"},
            "OpportunityType": "Net New Business", "PrimaryNeedsFromAws": ["Co-Sell - Architectural Validation"],
            "PartnerOpportunityIdentifier": format!("CRM-{scenario}")})
    }

    /// Pushes a new deal for `scenario`: create, then submit.
    async fn push(&mut self, scenario: &str) {
        let (status, created) = self.call("CreateOpportunity", Crm::deal(scenario)).await;
        assert_eq!(status, 200, "{created}");
        let id = created["Id"].as_str().unwrap().to_string();
        let (status, v) = self
            .call(
                "SubmitOpportunity",
                json!({"Catalog": "Sandbox", "Identifier": id, "InvolvementType": "Co-Sell", "Visibility": "Full"}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        self.pushed.insert(scenario.to_string());
    }

    /// Sends the deal of `scenario` again as a new create, as a sync that lost the first answer
    /// would: refused as a duplicate, it reads the opportunity the refusal names — or, broken,
    /// retries the create (a loop that never gives up; five tries here).
    async fn send_again(&mut self, scenario: &str) {
        self.resent.insert(scenario.to_string());
        let tries = if self.broken == Broken::RetriesDuplicateForever { 5 } else { 1 };
        let mut holder = String::new();
        for attempt in 0..tries {
            let mut deal = Crm::deal(scenario);
            deal["ClientToken"] = json!(format!("crm-{scenario}-again-{attempt}"));
            let (status, v) = self.call("CreateOpportunity", deal).await;
            assert_eq!((status, v["ErrorList"][0]["Code"].as_str()), (400, Some("DUPLICATE_KEY_VALUE")), "{v}");
            let message = v["ErrorList"][0]["Message"].as_str().unwrap();
            holder = message.split("identifies opportunity ").nth(1).unwrap().split(' ').next().unwrap().to_string();
        }
        if self.broken != Broken::RetriesDuplicateForever {
            let (status, v) = self.call("GetOpportunity", json!({"Catalog": "Sandbox", "Identifier": holder})).await;
            assert_eq!(status, 200, "{v}");
        }
    }

    /// Answers the referrals waiting for the partner: rejected when the deal cannot be taken
    /// (`reject`), accepted otherwise.
    async fn answer_invitations(&mut self, reject: bool) {
        let (status, list) =
            self.call("ListEngagementInvitations", json!({"Catalog": "Sandbox", "ParticipantType": "RECEIVER"})).await;
        assert_eq!(status, 200, "{list}");
        let pending: Vec<(String, String, bool)> = list["EngagementInvitationSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["Status"] == "PENDING")
            .map(|i| {
                let id = i["Id"].as_str().unwrap().to_string();
                (id, i["EngagementId"].as_str().unwrap_or_default().to_string(), i["PayloadType"] == "LeadInvitation")
            })
            .collect();
        for (invitation, engagement, lead) in pending {
            if self.broken == Broken::ReadsReferralsBeforeAccepting {
                // Looks at the deal before deciding: the customer is not its to see yet.
                self.call("GetEngagement", json!({"Catalog": "Sandbox", "Identifier": engagement})).await;
            }
            if self.broken == Broken::NeverAcceptsReferrals {
                continue;
            }
            let (op, body) = if reject {
                (
                    "RejectEngagementInvitation",
                    json!({"Catalog": "Sandbox", "Identifier": invitation, "RejectionReason": "Unable to support"}),
                )
            } else if lead {
                ("AcceptEngagementInvitation", json!({"Catalog": "Sandbox", "Identifier": invitation}))
            } else {
                (
                    "StartEngagementByAcceptingInvitationTask",
                    json!({"Catalog": "Sandbox", "Identifier": invitation, "ClientToken": format!("accept-{invitation}")}),
                )
            };
            let (status, v) = self.call(op, body).await;
            assert_eq!(status, 200, "{v}");
            if let Some(opportunity) = v["OpportunityId"].as_str() {
                self.referred.insert(opportunity.to_string());
            }
            if lead && !reject {
                // A lead becomes a deal in the CRM: an opportunity from its Lead context.
                let body = json!({"Catalog": "Sandbox", "Identifier": engagement, "ContextIdentifier": "1",
                    "ClientToken": format!("lead-{engagement}")});
                let (status, task) = self.call("StartOpportunityFromEngagementTask", body).await;
                assert_eq!(status, 200, "{task}");
                self.referred.insert(task["OpportunityId"].as_str().expect("the lead's opportunity").to_string());
            }
        }
    }

    /// One sync pass: read every opportunity; answer an Action Required by fixing the fields
    /// its comments name; record contacting the customer of an accepted referral.
    async fn sync(&mut self) {
        if self.broken == Broken::WebhooksOnly {
            return;
        }
        let (status, list) = self.call("ListOpportunities", json!({"Catalog": "Sandbox"})).await;
        assert_eq!(status, 200, "{list}");
        let ids: Vec<String> =
            list["OpportunitySummaries"].as_array().unwrap().iter().map(|s| s["Id"].as_str().unwrap().to_string()).collect();
        // A referred opportunity no longer listed: read it to learn why; gone (revoked, REM-2),
        // its copy is deleted.
        let missing: Vec<String> =
            self.referred.iter().filter(|id| !ids.contains(id) && !self.gone.contains(*id)).cloned().collect();
        for id in missing {
            let (status, v) = self.call("GetOpportunity", json!({"Catalog": "Sandbox", "Identifier": id})).await;
            if status == 400 && v["__type"] == "ResourceNotFoundException" {
                self.gone.insert(id);
            }
        }
        for id in ids {
            let (status, o) = self.call("GetOpportunity", json!({"Catalog": "Sandbox", "Identifier": id})).await;
            if status == 400 && o["__type"] == "ResourceNotFoundException" {
                // Gone since it was listed (a referral revoked meanwhile): its copy is deleted.
                self.gone.insert(id);
                continue;
            }
            assert_eq!(status, 200, "{o}");
            if self.referred.contains(&id) && !self.contacted.contains(&id) {
                // The sales rep called the customer: recorded by the REF-3 deadline.
                let now = self.app.operator("GET", "/clock", Value::Null).await["now"].clone();
                let body = json!({"Catalog": "Sandbox", "OpportunityIdentifier": id, "Channel": "Phone", "ContactedAt": now,
                    "ActingInOwnName": true});
                let (status, v) = self.call("RecordReferralContact", body).await;
                if status == 200 {
                    self.contacted.insert(id.clone());
                } else {
                    // Revoked since it was read: the next pass finds it gone.
                    let code = v["__type"].as_str().unwrap_or_default();
                    assert!(matches!(code, "ResourceNotFoundException" | "ConflictException"), "{v}");
                }
            }
            if o["LifeCycle"]["ReviewStatus"] == "Approved" {
                // An approved deal: the CRM shows AWS's side of it too (its seller's next steps).
                let body = json!({"Catalog": "Sandbox", "RelatedOpportunityIdentifier": id});
                let (status, v) = self.call("GetAwsOpportunitySummary", body).await;
                assert_eq!(status, 200, "{v}");
            }
            let action_required = o["LifeCycle"]["ReviewStatus"] == "Action Required";
            if !action_required || self.fixed.contains(&id) || self.broken == Broken::IgnoresActionRequired {
                continue;
            }
            let comments = o["LifeCycle"]["ReviewComments"].as_str().unwrap_or("");
            assert!(comments.contains("Customer.Account.WebsiteUrl"), "{comments}");
            let mut customer = o["Customer"].clone();
            customer["Account"]["WebsiteUrl"] = json!("https://www.northwind-traders.example.com");
            let body = json!({"Catalog": "Sandbox", "Identifier": id, "LastModifiedDate": o["LastModifiedDate"],
                "Customer": customer, "Project": o["Project"], "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-06-30"},
                "OpportunityType": o["OpportunityType"], "PrimaryNeedsFromAws": o["PrimaryNeedsFromAws"],
                "PartnerOpportunityIdentifier": o["PartnerOpportunityIdentifier"]});
            let (status, v) = self.call("UpdateOpportunity", body).await;
            assert_eq!(status, 200, "{v}");
            self.fixed.insert(id);
        }
    }
}

/// The step of the run's report that is waiting, as (scenario, step title).
fn waiting(report: &Value) -> Option<(String, String)> {
    report["Scenarios"].as_array()?.iter().find_map(|s| {
        s["Steps"]
            .as_array()?
            .iter()
            .find(|st| st["Status"] == "Waiting")
            .map(|st| (s["Name"].as_str().unwrap_or_default().to_string(), st["Title"].as_str().unwrap_or_default().to_string()))
    })
}

/// Drives the run to its end: the integration does what it does; when a step waits for what
/// the integration will never do, the program clock moves past the step's timeout.
async fn drive(app: &TestApp, crm: &mut Crm<'_>, run: &str) -> Value {
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(ace_server::app::checks::run_forever(app.state.clone(), stopped));
    let mut same_wait = 0;
    let mut last_wait = None;
    let mut last = Value::Null;
    for _ in 0..500 {
        let (status, report) = crm.call("GetIntegrationCheck", json!({"Catalog": "Sandbox", "Identifier": run})).await;
        assert_eq!(status, 200, "{report}");
        if report["Status"] != "Running" {
            engine.abort();
            return report;
        }
        last = report.clone();
        let now_waiting = waiting(&report);
        if let Some((scenario, title)) = &now_waiting {
            if title.starts_with("Create") && !crm.pushed.contains(scenario) {
                crm.push(scenario).await;
            }
        }
        if let Some((scenario, title)) = &now_waiting {
            if title == ace_domain::check::SEND_AGAIN_TITLE && !crm.resent.contains(scenario) {
                crm.send_again(scenario).await;
            }
        }
        let reject = now_waiting.as_ref().is_some_and(|(_, title)| title.starts_with("Reject"));
        crm.answer_invitations(reject).await;
        crm.sync().await;
        // A step still waiting after many passes of the integration waits for what it will not
        // do: let its time run out.
        same_wait = if now_waiting == last_wait { same_wait + 1 } else { 0 };
        last_wait = now_waiting;
        if same_wait >= 20 {
            app.state.clock.advance(chrono::TimeDelta::minutes(11)).unwrap();
            same_wait = 0;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the run did not end: {last:#}");
}

fn step<'r>(report: &'r Value, scenario: &str, n: usize) -> &'r Value {
    let s = report["Scenarios"].as_array().unwrap().iter().find(|s| s["Name"] == scenario).expect(scenario);
    &s["Steps"][n - 1]
}

#[tokio::test]
async fn sub_1_the_reference_integration_passes_every_opportunity_scenario_on_what_it_was_seen_doing() {
    let app = TestApp::start().await;
    let creds = app.partner("P-CRM").await;
    let other = app.partner("P-OTHER").await;
    let started = app.operator("POST", "/checks", json!({"partner_id": "P-CRM", "step_timeout": "10m"})).await;
    let run = started["id"].as_str().expect("a run id").to_string();
    assert_eq!(started["status"], "Running");
    let (status, v) = app.ext(&creds, "StartIntegrationCheck", json!({"Catalog": "Sandbox"})).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ConflictException")), "one run at a time: {v}");

    let mut crm = Crm::new(&app, &creds, Broken::None);
    let report = drive(&app, &mut crm, &run).await;
    assert_eq!(report["Status"], "Passed", "{report:#}");
    let scenarios = report["Scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), ace_domain::check::SCENARIOS.len());
    for s in scenarios {
        assert_eq!(s["Status"], "Passed", "{s:#}");
        for st in s["Steps"].as_array().unwrap() {
            assert_eq!(st["Status"], "Passed", "{st:#}");
            // Observation, not trust: each of the integration's steps rests on requests the
            // server answered it.
            if st["Side"] == "Partner" {
                let ids = st["RequestIds"].as_array().unwrap();
                assert!(!ids.is_empty(), "{st:#}");
                for id in ids {
                    assert!(crm.request_ids.contains(&id.as_str().unwrap().to_string()), "{id} was answered to the integration");
                }
            }
        }
    }
    // The operator's side acted in the Sandbox, on the run's partner's opportunities only, and
    // each review entry names the run.
    let (_, mine) = app.call(&creds, "ListOpportunities", json!({"Catalog": "Sandbox"})).await;
    let statuses: HashSet<String> = mine["OpportunitySummaries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["LifeCycle"]["ReviewStatus"].as_str().map(String::from))
        .collect();
    assert!(statuses.contains("Approved") && statuses.contains("Rejected"), "{statuses:?}");
    // REF-1: the accepted referral's contact was read, unmasked, after acceptance; REF-3 met.
    let referral = step(&report, "aws-referral-accepted", 4);
    assert_eq!(referral["Status"], "Passed", "{referral:#}");
    // REM-2: the revoked referral's opportunity is gone, and the integration was seen finding so.
    assert_eq!(crm.gone.len(), 1, "{:?}", crm.gone);
    let gone = crm.gone.iter().next().unwrap();
    let (status, _) = app.call(&creds, "GetOpportunity", json!({"Catalog": "Sandbox", "Identifier": gone})).await;
    assert_eq!(status, 400);
    assert_eq!(step(&report, "aws-referral-revoked", 4)["RequestIds"].as_array().unwrap().len(), 1);
    let (_, aws) = app.call(&creds, "ListOpportunities", json!({"Catalog": "AWS"})).await;
    assert!(aws["OpportunitySummaries"].as_array().unwrap().is_empty(), "the AWS catalog is never touched");
    let (_, theirs) = app.call(&other, "ListOpportunities", json!({"Catalog": "Sandbox"})).await;
    assert!(theirs["OpportunitySummaries"].as_array().unwrap().is_empty());
    let rejected = mine["OpportunitySummaries"].as_array().unwrap().iter().find(|s| s["LifeCycle"]["ReviewStatus"] == "Rejected");
    let id = rejected.expect("the rejected scenario's opportunity")["Id"].as_str().unwrap();
    let review = app.operator("GET", &format!("/review/{id}"), Value::Null).await;
    assert!(review.to_string().contains(&format!("integration check {run}")), "{review:#}");

    // USE-4: another partner cannot read the run; the operator lists it under its partner.
    let (status, v) = app.ext(&other, "GetIntegrationCheck", json!({"Catalog": "Sandbox", "Identifier": run})).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ResourceNotFoundException")), "{v}");
    let listed = app.operator("GET", "/checks?partner=P-CRM", Value::Null).await;
    assert_eq!(listed["checks"][0]["id"], run.as_str());
    let (_, mine) = app.ext(&creds, "ListIntegrationChecks", json!({"Catalog": "Sandbox"})).await;
    assert_eq!(mine["IntegrationChecks"][0]["Status"], "Passed");
}

#[tokio::test]
async fn sub_1_an_integration_that_ignores_action_required_fails_that_step_only_with_a_message_to_act_on() {
    let report = run_broken(Broken::IgnoresActionRequired).await;
    only_broken(&report, &[("opportunity-action-required", 5, "TimedOut")]);
    let broken = step(&report, "opportunity-action-required", 5);
    assert!(broken["Message"].as_str().unwrap().contains("LifeCycle.ReviewComments"), "{broken:#}");
    assert_eq!(report["Failed"], 1);
}

#[tokio::test]
async fn an_integration_that_retries_a_create_refused_as_a_duplicate_fails_that_step_on_the_two_requests() {
    let report = run_broken(Broken::RetriesDuplicateForever).await;
    only_broken(&report, &[("opportunity-duplicate", 2, "Failed")]);
    let broken = step(&report, "opportunity-duplicate", 2);
    let message = broken["Message"].as_str().unwrap();
    assert!(message.contains("instead of retrying") && message.contains("PartnerOpportunityIdentifier"), "{broken:#}");
    assert_eq!(broken["RequestIds"].as_array().unwrap().len(), 2, "the refusal and its retry: {broken:#}");
}

#[tokio::test]
async fn a_check_refuses_what_it_cannot_run() {
    let app = TestApp::start().await;
    let creds = app.partner("P-CRM").await;
    let (status, v) = app.ext(&creds, "StartIntegrationCheck", json!({"Catalog": "AWS"})).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ValidationException")), "{v}");
    let (status, v) = app.ext(&creds, "StartIntegrationCheck", json!({"Catalog": "Sandbox", "Scenarios": ["no-such"]})).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ValidationException")), "{v}");
    assert!(v["message"].as_str().or(v["Message"].as_str()).unwrap_or("").contains("opportunity-approved"), "{v}");
    let (status, v) = app.operator_raw("POST", "/checks", json!({"partner_id": "P-NONE"})).await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = app.operator_raw("POST", "/checks", json!({"partner_id": "P-CRM", "step_timeout": "3 days"})).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = app
        .ext(&creds, "GetIntegrationCheck", json!({"Catalog": "Sandbox", "Identifier": "check-00000000000000000000000000000000"}))
        .await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ResourceNotFoundException")), "{v}");

    // A run the operator cancels stops, saying so at every step not taken; another may start.
    let (_, started) =
        app.ext(&creds, "StartIntegrationCheck", json!({"Catalog": "Sandbox", "Scenarios": ["lead-converted"]})).await;
    let run = started["Id"].as_str().unwrap();
    let cancelled = app.operator("POST", &format!("/checks/{run}/cancel"), json!({})).await;
    assert_eq!(cancelled["status"], "Stopped", "{cancelled:#}");
    let steps = cancelled["scenarios"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["status"] == "Skipped" && s["message"] == "cancelled by the operator"), "{cancelled:#}");
    let again = app.operator("POST", &format!("/checks/{run}/cancel"), json!({})).await;
    assert_eq!(again["status"], "Stopped", "cancelling twice answers the run as it is");
    let (status, v) = app.ext(&creds, "StartIntegrationCheck", json!({"Catalog": "Sandbox"})).await;
    assert_eq!(status, 200, "a new run after the cancelled one: {v}");
}

/// A run of every scenario against a CRM broken as `broken`: its report.
async fn run_broken(broken: Broken) -> Value {
    let app = TestApp::start().await;
    let creds = app.partner("P-CRM").await;
    let (status, started) = app.ext(&creds, "StartIntegrationCheck", json!({"Catalog": "Sandbox"})).await;
    assert_eq!(status, 200, "{started}");
    let run = started["Id"].as_str().unwrap().to_string();
    let mut crm = Crm::new(&app, &creds, broken);
    drive(&app, &mut crm, &run).await
}

/// Every step of the report passed or was skipped, except `broken` (scenario, step, status).
fn only_broken(report: &Value, broken: &[(&str, usize, &str)]) {
    assert_eq!(report["Status"], "Failed", "{report:#}");
    for s in report["Scenarios"].as_array().unwrap() {
        let name = s["Name"].as_str().unwrap();
        let mut failed = false;
        for st in s["Steps"].as_array().unwrap() {
            let n = st["Step"].as_u64().unwrap() as usize;
            match broken.iter().find(|(bs, bn, _)| *bs == name && *bn == n) {
                Some((_, _, status)) => {
                    assert_eq!(st["Status"], *status, "{name} step {n}: {st:#}");
                    failed = true;
                }
                None if failed => assert_eq!(st["Status"], "Skipped", "{name} step {n}: {st:#}"),
                None => assert_eq!(st["Status"], "Passed", "{name} step {n}: {st:#}"),
            }
        }
    }
}

#[tokio::test]
async fn ref_1_an_integration_that_never_accepts_referrals_fails_the_referral_steps_only() {
    let report = run_broken(Broken::NeverAcceptsReferrals).await;
    only_broken(
        &report,
        &[
            ("aws-referral-accepted", 2, "TimedOut"),
            ("aws-referral-revoked", 2, "TimedOut"),
            ("aws-referral-rejected", 2, "TimedOut"),
            ("lead-converted", 2, "TimedOut"),
        ],
    );
    let message = step(&report, "aws-referral-accepted", 2)["Message"].as_str().unwrap().to_string();
    assert!(message.contains("StartEngagementByAcceptingInvitationTask"), "{message}");
}

#[tokio::test]
async fn ref_1_an_integration_that_reads_a_referral_before_accepting_it_fails_that_step_with_the_request() {
    let report = run_broken(Broken::ReadsReferralsBeforeAccepting).await;
    only_broken(
        &report,
        &[("aws-referral-accepted", 2, "Failed"), ("aws-referral-revoked", 2, "Failed"), ("lead-converted", 2, "Failed")],
    );
    let broken = step(&report, "aws-referral-accepted", 2);
    assert!(broken["Message"].as_str().unwrap().contains("REF-1"), "{broken:#}");
    assert!(broken["Message"].as_str().unwrap().starts_with("GetEngagement"), "{broken:#}");
    assert_eq!(broken["RequestIds"].as_array().unwrap().len(), 1, "the read it rests on: {broken:#}");
}

/// Observation covers webhooks: an integration that never polls but acknowledges each event at
/// its endpoint is seen taking the changes AWS made, each read step resting on the delivery.
#[tokio::test]
async fn sub_1_an_integration_that_takes_changes_from_its_webhook_passes_on_the_acknowledged_deliveries() {
    let app = TestApp::start().await;
    let creds = app.partner("P-CRM").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let endpoint = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, endpoint).await;
    });
    let (status, v) = app.ext(&creds, "PutWebhook", json!({"Url": format!("http://{address}/hook")})).await;
    assert_eq!(status, 200, "{v}");
    let body =
        json!({"Catalog": "Sandbox", "Scenarios": ["opportunity-approved", "opportunity-rejected", "aws-referral-revoked"]});
    let (status, started) = app.ext(&creds, "StartIntegrationCheck", body).await;
    assert_eq!(status, 200, "{started}");
    let run = started["Id"].as_str().unwrap().to_string();
    let mut crm = Crm::new(&app, &creds, Broken::WebhooksOnly);
    let report = drive(&app, &mut crm, &run).await;
    assert_eq!(report["Status"], "Passed", "{report:#}");
    // The revoked referral's Data Deletion Required event, a Sandbox event, is seen acknowledged.
    for (scenario, n) in
        [("opportunity-approved", 4), ("opportunity-approved", 6), ("opportunity-rejected", 5), ("aws-referral-revoked", 4)]
    {
        let read = step(&report, scenario, n);
        let evidence = read["RequestIds"][0].as_str().unwrap_or_default();
        assert!(evidence.starts_with("webhook:"), "{scenario} step {n} rests on a delivery: {read:#}");
    }
}
