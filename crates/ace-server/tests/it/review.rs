//! SUB-1 … SUB-6 end to end: the official SDK submits, `AcePartner.*` attests (raw signed
//! awsJson, as no SDK has these operations), the operator API reviews.

use aws_sdk_partnercentralselling as pcs;
use pcs::types::{Account, Customer, Marketing, MarketingSource, Project, RelatedEntityType, ReviewStatus, SalesInvolvementType};
use serde_json::{json, Value};

use crate::opportunities::{customer, lifecycle, project};
use crate::support::{Credentials, TestApp};

pub fn attestation(id: &str) -> Value {
    json!({
        "Catalog": "AWS",
        "OpportunityIdentifier": id,
        "PreSalesEffort": {
            "Description": "Two workshops with the CIO and the platform team; agreed a migration plan for 40 VMs.",
            "Activities": ["Discovery workshop", "Architecture review"],
            "DecisionMakerEngaged": "CIO",
            "LastMeetingDate": "2026-01-15"
        },
        "CustomerConsent": {"StatementVersion": "2021-10-27", "Method": "Email", "ObtainedAt": "2026-01-15T10:00:00Z", "ObtainedBy": "alice"}
    })
}

pub async fn attest(app: &TestApp, c: &Credentials, body: Value) -> (u16, Value) {
    let (status, _, v) =
        app.raw(c, "AcePartner.PutSubmissionAttestation", "application/x-amz-json-1.0", body.to_string().into_bytes()).await;
    (status, v)
}

/// A partner with a solution; returns (credentials, client, solution id).
pub async fn partner_with_solution(app: &TestApp, id: &str) -> (Credentials, pcs::Client, String) {
    let c = app.partner(id).await;
    let solution = app
        .operator("POST", &format!("/partners/{id}/solutions"), json!({"name": "Factory", "category": "Consulting Service"}))
        .await;
    let client = app.client(&c);
    (c, client, solution["id"].as_str().unwrap().to_string())
}

/// Creates an AWS-catalog opportunity with the solution associated.
pub async fn draft(client: &pcs::Client, solution: &str, customer: Customer, project: Project) -> String {
    let created = client
        .create_opportunity()
        .catalog("AWS")
        .customer(customer)
        .project(project)
        .life_cycle(lifecycle())
        .send()
        .await
        .unwrap();
    let id = created.id().to_string();
    client
        .associate_opportunity()
        .catalog("AWS")
        .opportunity_identifier(&id)
        .related_entity_type(RelatedEntityType::Solutions)
        .related_entity_identifier(solution)
        .send()
        .await
        .unwrap();
    id
}

pub async fn submit(client: &pcs::Client, id: &str) -> Result<(), pcs::operation::submit_opportunity::SubmitOpportunityError> {
    client
        .submit_opportunity()
        .catalog("AWS")
        .identifier(id)
        .involvement_type(SalesInvolvementType::CoSell)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error())
}

fn refused_fields(e: pcs::operation::submit_opportunity::SubmitOpportunityError) -> Vec<String> {
    let pcs::operation::submit_opportunity::SubmitOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.reason(), &pcs::types::ValidationExceptionReason::BusinessValidationFailed);
    v.error_list().iter().map(|e| e.field_name().unwrap_or("").to_string()).collect()
}

#[tokio::test]
async fn sub_3_and_sub_4_submission_needs_presales_effort_and_consent() {
    let app = TestApp::start().await;
    let (c, client, solution) = partner_with_solution(&app, "P-A").await;
    let id = draft(&client, &solution, customer("Example Corp"), project()).await;
    let e = submit(&client, &id).await.unwrap_err();
    let message = pcs::error::ProvideErrorMetadata::message(&e).unwrap_or("").to_string();
    assert_eq!(refused_fields(e), vec!["PreSalesEffort", "CustomerConsent"]);
    assert!(message.contains("SUB-3") && message.contains("SUB-4"), "the CLI shows only the message: {message}");

    // A thin description and a statement version that was never published.
    let mut thin = attestation(&id);
    thin["PreSalesEffort"]["Description"] = json!("We talked to them about the cloud migration.");
    thin["PreSalesEffort"]["Activities"] = json!([]);
    assert_eq!(attest(&app, &c, thin).await.0, 200);
    assert_eq!(refused_fields(submit(&client, &id).await.unwrap_err()), vec!["PreSalesEffort.Description"]);
    let mut unknown = attestation(&id);
    unknown["CustomerConsent"]["StatementVersion"] = json!("1999-01-01");
    let (status, v) = attest(&app, &c, unknown).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["ErrorList"][0]["FieldName"], "CustomerConsent.StatementVersion");
    // A name is not a role.
    let mut named = attestation(&id);
    named["PreSalesEffort"]["DecisionMakerEngaged"] = json!("John Smith");
    assert_eq!(attest(&app, &c, named).await.1["ErrorList"][0]["FieldName"], "PreSalesEffort.DecisionMakerEngaged");

    let (status, v) = attest(&app, &c, attestation(&id)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Attestation"]["RecordedBy"], "alice");
    submit(&client, &id).await.unwrap();
    let (_, _, got) = app
        .raw(
            &c,
            "AcePartner.GetSubmissionAttestation",
            "application/x-amz-json-1.0",
            json!({"Catalog": "AWS", "OpportunityIdentifier": id}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(got["Attestation"]["CustomerConsent"]["Method"], "Email");
    // Once submitted, the attestation is part of the record.
    assert_eq!(attest(&app, &c, attestation(&id)).await.0, 400);
}

#[tokio::test]
async fn sub_4_attestation_of_another_partners_opportunity_is_not_found() {
    let app = TestApp::start().await;
    let (_, client, solution) = partner_with_solution(&app, "P-A").await;
    let id = draft(&client, &solution, customer("Example Corp"), project()).await;
    let bob = app.partner("P-B").await;
    let (status, v) = attest(&app, &bob, attestation(&id)).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ResourceNotFoundException")));
}

#[tokio::test]
async fn sub_5_personal_data_in_free_text_is_refused_unless_consented() {
    let app = TestApp::start().await;
    let (c, client, solution) = partner_with_solution(&app, "P-A").await;
    let leaky = Project::builder()
        .title("Migration")
        .customer_business_problem(
            "Pilot billed to card 4111 1111 1111 1111; the CFO was diagnosed with cancer so her deputy decides.",
        )
        .build();
    let id = draft(&client, &solution, customer("Example Corp"), leaky).await;
    attest(&app, &c, attestation(&id)).await;
    let e = submit(&client, &id).await.unwrap_err();
    let message = pcs::error::ProvideErrorMetadata::message(&e).unwrap_or("").to_string();
    assert_eq!(refused_fields(e), vec!["Project.CustomerBusinessProblem"]);
    assert!(message.contains("payment card") && message.contains("health"), "{message}");
    let mut consented = attestation(&id);
    consented["SensitiveDataConsent"] = json!(true);
    attest(&app, &c, consented).await;
    submit(&client, &id).await.unwrap();
}

#[tokio::test]
async fn sub_5_an_answer_to_action_required_is_prescreened_again() {
    let app = TestApp::start().await;
    let (c, client, solution) = partner_with_solution(&app, "P-A").await;
    let id = draft(&client, &solution, customer("Example Corp"), project()).await;
    attest(&app, &c, attestation(&id)).await;
    submit(&client, &id).await.unwrap();
    app.operator("POST", &format!("/review/{id}/action-required"), json!({"comment": "Describe the problem better"})).await;
    let got = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    let leaky = Project::builder()
        .title("Migration")
        .customer_business_problem("Their admin (SSN 219-09-9999) needs help moving 40 VMs this year.")
        .build();
    let e = client
        .update_opportunity()
        .catalog("AWS")
        .identifier(&id)
        .last_modified_date(*got.last_modified_date())
        .customer(customer("Example Corp"))
        .project(leaky)
        .life_cycle(lifecycle())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let pcs::operation::update_opportunity::UpdateOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.error_list()[0].field_name(), Some("Project.CustomerBusinessProblem"));
    let still = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    assert_eq!(still.life_cycle().unwrap().review_status(), Some(&ReviewStatus::ActionRequired), "nothing changed");
}

#[tokio::test]
async fn sub_6_marketing_leads_need_presales_effort_and_consent_first() {
    let app = TestApp::start().await;
    let (c, client, solution) = partner_with_solution(&app, "P-A").await;
    let created = client
        .create_opportunity()
        .catalog("AWS")
        .customer(customer("Webinar Lead Corp"))
        .project(project())
        .life_cycle(lifecycle())
        .marketing(Marketing::builder().source(MarketingSource::MarketingActivity).build())
        .send()
        .await
        .unwrap();
    let id = created.id();
    client
        .associate_opportunity()
        .catalog("AWS")
        .opportunity_identifier(id)
        .related_entity_type(RelatedEntityType::Solutions)
        .related_entity_identifier(&solution)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused_fields(submit(&client, id).await.unwrap_err()),
        vec!["PreSalesEffort", "CustomerConsent", "Marketing.Source"]
    );
    attest(&app, &c, attestation(id)).await;
    submit(&client, id).await.unwrap();
}

#[tokio::test]
async fn sub_1_review_workflow_with_the_partner_seeing_the_outcome() {
    let app = TestApp::start().await;
    let (c, client, solution) = partner_with_solution(&app, "P-A").await;
    let id = draft(&client, &solution, customer("Example Corp"), project()).await;
    attest(&app, &c, attestation(&id)).await;
    submit(&client, &id).await.unwrap();

    let queue = app.operator("GET", "/review?status=submitted", Value::Null).await;
    assert_eq!(queue["items"][0]["id"], json!(id));
    assert_eq!(queue["items"][0]["partner_id"], "P-A");
    assert_eq!(queue["items"][0]["age_hours"], 0);
    app.operator("POST", &format!("/review/{id}/start"), json!({})).await;
    let (status, v) = app.operator_raw("POST", &format!("/review/{id}/action-required"), json!({})).await;
    assert_eq!(status, 409, "a comment is required: {v}");
    app.operator(
        "POST",
        &format!("/review/{id}/action-required"),
        json!({"comment": "Add the customer's website", "reason": "incomplete-information"}),
    )
    .await;
    let got = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    let lc = got.life_cycle().unwrap();
    assert_eq!(lc.review_status(), Some(&ReviewStatus::ActionRequired));
    assert_eq!(lc.review_comments(), Some("Add the customer's website"));
    assert_eq!(lc.review_status_reason(), Some("incomplete-information"));

    // Only whitelisted fields; the answer sends it back into review.
    let account = Account::builder().company_name("Example Corp").website_url("https://example.org").build().unwrap();
    let e = client
        .update_opportunity()
        .catalog("AWS")
        .identifier(&id)
        .last_modified_date(*got.last_modified_date())
        .customer(Customer::builder().account(account.clone()).build())
        .project(Project::builder().title("Another title").build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    let mut fixed_customer = customer("Example Corp");
    if let Some(a) = fixed_customer.account.as_mut() {
        a.website_url = Some("https://example.org".into());
    }
    client
        .update_opportunity()
        .catalog("AWS")
        .identifier(&id)
        .last_modified_date(*got.last_modified_date())
        .customer(fixed_customer)
        .project(project())
        .life_cycle(lifecycle())
        .send()
        .await
        .unwrap();
    let got = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    assert_eq!(got.life_cycle().unwrap().review_status(), Some(&ReviewStatus::Submitted));

    app.operator("POST", &format!("/review/{id}/approve"), json!({"comment": "Validated, welcome to co-sell"})).await;
    let got = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    assert_eq!(got.life_cycle().unwrap().review_status(), Some(&ReviewStatus::Approved));
    assert_eq!(got.life_cycle().unwrap().review_comments(), Some("Validated, welcome to co-sell"));
    let (status, _) = app.operator_raw("POST", &format!("/review/{id}/reject"), json!({"reason": "duplicate"})).await;
    assert_eq!(status, 409, "an approved opportunity cannot be rejected");
    let (status, v) = app.operator_raw("POST", &format!("/review/{id}/reject"), json!({"reason": "because"})).await;
    assert_eq!(status, 400, "{v}");
    let shown = app.operator("GET", &format!("/review/{id}"), Value::Null).await;
    let history: Vec<&str> = shown["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(history, vec!["In review", "Action Required", "Approved"]);
    assert_eq!(shown["attestation"]["CustomerConsent"]["StatementVersion"], "2021-10-27");
}

#[tokio::test]
async fn sub_2_conflicts_are_flagged_for_the_reviewer_and_hidden_from_partners() {
    let app = TestApp::start().await;
    let imported = app
        .operator(
            "POST",
            "/pipeline",
            json!({"records": [
                {"external_id": "SF-001", "company_name": "Pursued Corp", "website": "https://pursued.example.com", "country": "DE", "stage": "Qualified"},
                {"external_id": "", "company_name": "Bad", "stage": "x"}
            ]}),
        )
        .await;
    assert_eq!(imported["inserted"], 1);
    assert_eq!(imported["errors"][0]["index"], 1);

    let pursued = || {
        Customer::builder()
            .account(
                Account::builder()
                    .company_name("Pursued Corporation GmbH")
                    .website_url("www.pursued.example.com")
                    .industry(pcs::types::Industry::Retail)
                    .address(pcs::types::Address::builder().country_code(pcs::types::CountryCode::De).build())
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let (a, client_a, solution_a) = partner_with_solution(&app, "P-A").await;
    let id_a = draft(&client_a, &solution_a, pursued(), project()).await;
    attest(&app, &a, attestation(&id_a)).await;
    submit(&client_a, &id_a).await.unwrap();
    let shown = app.operator("GET", &format!("/review/{id_a}"), Value::Null).await;
    assert_eq!(shown["findings"][0]["code"], "already-pursued");
    assert_eq!(shown["findings"][0]["conflict"]["record_id"], "SF-001");
    let partner_view = client_a.get_opportunity().catalog("AWS").identifier(&id_a).send().await.unwrap();
    assert!(!format!("{partner_view:?}").contains("SF-001"), "the partner never sees the match");

    // Another partner's active submission for the same customer is flagged, naming P-A to the operator only.
    let (b, client_b, solution_b) = partner_with_solution(&app, "P-B").await;
    let id_b = draft(&client_b, &solution_b, pursued(), project()).await;
    attest(&app, &b, attestation(&id_b)).await;
    submit(&client_b, &id_b).await.unwrap();
    let shown = app.operator("GET", &format!("/review/{id_b}"), Value::Null).await;
    let codes: Vec<&str> = shown["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["already-pursued", "active-submission-elsewhere"]);
    assert_eq!(shown["findings"][1]["conflict"]["partner_id"], "P-A");
    let seen_by_b = client_b.get_opportunity().catalog("AWS").identifier(&id_b).send().await.unwrap();
    assert!(!format!("{seen_by_b:?}").contains("P-A"));

    // With auto-reject on, an already-pursued submission is rejected at once.
    app.operator("PUT", "/settings", json!({"auto_reject_already_pursued": true})).await;
    let (c, client_c, solution_c) = partner_with_solution(&app, "P-C").await;
    let id_c = draft(&client_c, &solution_c, pursued(), project()).await;
    attest(&app, &c, attestation(&id_c)).await;
    submit(&client_c, &id_c).await.unwrap();
    let got = client_c.get_opportunity().catalog("AWS").identifier(&id_c).send().await.unwrap();
    assert_eq!(got.life_cycle().unwrap().review_status(), Some(&ReviewStatus::Rejected));
    assert_eq!(got.life_cycle().unwrap().review_status_reason(), Some("already-pursued"));
}

#[tokio::test]
async fn sub_4_consent_evidence_is_requested_answered_and_closed() {
    let app = TestApp::start().await;
    let (c, client, solution) = partner_with_solution(&app, "P-A").await;
    let id = draft(&client, &solution, customer("Example Corp"), project()).await;
    attest(&app, &c, attestation(&id)).await;
    submit(&client, &id).await.unwrap();
    let request = app
        .operator("POST", "/consent/requests", json!({"opportunity_id": id, "message": "Please show the consent email"}))
        .await;
    let request_id = request["RequestId"].as_str().unwrap().to_string();

    let call = |creds: &Credentials, op: &str, body: Value| {
        let creds = creds.clone();
        let op = format!("AcePartner.{op}");
        let app = &app;
        async move { app.raw(&creds, &op, "application/x-amz-json-1.0", body.to_string().into_bytes()).await }
    };
    let (_, _, listed) = call(&c, "ListConsentEvidenceRequests", json!({"Catalog": "AWS", "Status": ["OPEN"]})).await;
    assert_eq!(listed["EvidenceRequests"][0]["RequestId"], json!(request_id));
    let bob = app.partner("P-B").await;
    let (_, _, v) =
        call(&bob, "RespondToConsentEvidenceRequest", json!({"Catalog": "AWS", "RequestId": request_id, "Evidence": "x"})).await;
    assert_eq!(v["__type"], "ResourceNotFoundException", "another partner's request");
    let sha = "a".repeat(64);
    let (status, _, v) = call(
        &c,
        "RespondToConsentEvidenceRequest",
        json!({"Catalog": "AWS", "RequestId": request_id, "Evidence": "Email of 2026-01-15 from the customer's CIO", "EvidenceSha256": sha}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["EvidenceRequest"]["Status"], "ANSWERED");
    app.operator("POST", &format!("/consent/requests/{request_id}/close"), json!({})).await;
    let (_, _, v) =
        call(&c, "RespondToConsentEvidenceRequest", json!({"Catalog": "AWS", "RequestId": request_id, "Evidence": "late"})).await;
    assert_eq!(v["__type"], "ConflictException", "a closed request cannot be answered: {v}");
    let kept = app.operator("GET", &format!("/consent/requests?opportunity={id}"), Value::Null).await;
    assert_eq!(kept["requests"][0]["Evidence"], "Email of 2026-01-15 from the customer's CIO");
    assert_eq!(kept["requests"][0]["Status"], "CLOSED");

    // Statements are versioned operator data.
    app.operator("POST", "/consent/statements", json!({"version": "2027-01-01", "text": "Yes, share my contact data."})).await;
    let (status, _) = app.operator_raw("POST", "/consent/statements", json!({"version": "2027-01-01", "text": "changed"})).await;
    assert_eq!(status, 409);
    let statements = app.operator("GET", "/consent/statements", Value::Null).await;
    assert_eq!(statements["statements"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn sub_1_the_sandbox_is_not_prescreened() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = crate::opportunities::create(&client, "Sandbox", "Example Corp").await;
    client
        .submit_opportunity()
        .catalog("Sandbox")
        .identifier(created.id())
        .involvement_type(SalesInvolvementType::CoSell)
        .send()
        .await
        .expect("the Sandbox stays a functional stand-in for Partner Central");
}
