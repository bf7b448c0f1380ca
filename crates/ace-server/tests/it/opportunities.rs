//! Every opportunity operation through the official SDK, happy and error paths.

use aws_sdk_partnercentralselling as pcs;
use pcs::types::{
    Account, Address, AssigneeContact, AwsSubmission, CountryCode, Customer, Industry, LifeCycle, OpportunitySort,
    OpportunitySortName, Project, RelatedEntityType, ReviewStatus, SalesInvolvementType, SortOrder, Stage, Tag,
    ValidationExceptionErrorCode, ValidationExceptionReason,
};
use serde_json::json;

use crate::support::{code, TestApp};

pub fn customer(company: &str) -> Customer {
    Customer::builder()
        .account(
            Account::builder()
                .company_name(company)
                .website_url("https://example.com")
                .industry(Industry::Retail)
                .address(Address::builder().country_code(CountryCode::De).postal_code("10115").city("Berlin").build())
                .build()
                .unwrap(),
        )
        .build()
}

pub fn project() -> Project {
    Project::builder()
        .title("Migration")
        .customer_business_problem("Move 40 VMs and two databases to the cloud this year.")
        .build()
}

pub fn lifecycle() -> LifeCycle {
    LifeCycle::builder().stage(Stage::Qualified).target_close_date("2099-03-01").next_steps("Schedule a workshop").build()
}

pub async fn create(
    client: &pcs::Client,
    catalog: &str,
    company: &str,
) -> pcs::operation::create_opportunity::CreateOpportunityOutput {
    client
        .create_opportunity()
        .catalog(catalog)
        .customer(customer(company))
        .project(project())
        .life_cycle(lifecycle())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn create_get_and_full_replace_update() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let client = app.client(&alice);
    let created = create(&client, "AWS", "Example Corp").await;
    let id = created.id().to_string();
    assert!(id.starts_with('O'));

    let got = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    assert_eq!(got.id(), id);
    assert_eq!(got.catalog(), "AWS");
    let account = app.account_id("P-A").await;
    assert_eq!(got.arn().unwrap(), format!("arn:aws:partnercentral:us-east-1:{account}:catalog/AWS/opportunity/{id}"));
    assert_eq!(got.customer().unwrap().account().unwrap().company_name(), "Example Corp");
    assert_eq!(got.life_cycle().unwrap().review_status(), Some(&ReviewStatus::PendingSubmission));
    assert_eq!(got.life_cycle().unwrap().next_steps_history().len(), 1);
    assert_eq!(got.last_modified_date(), created.last_modified_date().unwrap());
    assert!(got.related_entity_identifiers().unwrap().solutions().is_empty());

    // Full replacement: Project omitted → cleared.
    let updated = client
        .update_opportunity()
        .catalog("AWS")
        .identifier(&id)
        .last_modified_date(*got.last_modified_date())
        .customer(customer("Example Corp"))
        .life_cycle(
            LifeCycle::builder().stage(Stage::TechnicalValidation).target_close_date("2099-03-01").next_steps("POC").build(),
        )
        .send()
        .await
        .unwrap();
    assert!(updated.last_modified_date() > got.last_modified_date());
    let after = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    assert!(after.project().is_none(), "an omitted group is cleared by UpdateOpportunity");
    assert_eq!(after.life_cycle().unwrap().stage(), Some(&Stage::TechnicalValidation));
    assert_eq!(after.life_cycle().unwrap().next_steps_history().len(), 2);
}

#[tokio::test]
async fn stale_last_modified_date_is_a_conflict() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = create(&client, "AWS", "Example Corp").await;
    let first_version = *created.last_modified_date().unwrap();
    let update = || {
        client
            .update_opportunity()
            .catalog("AWS")
            .identifier(created.id())
            .last_modified_date(first_version)
            .customer(customer("Example Corp"))
            .life_cycle(lifecycle())
    };
    update().send().await.unwrap();
    let e = update().send().await.unwrap_err().into_service_error();
    assert!(e.is_conflict_exception(), "{e:?}");
}

#[tokio::test]
async fn validation_errors_name_each_field_for_the_sdk() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let bad =
        Customer::builder().account(Account::builder().company_name("X").website_url("x").duns("12").build().unwrap()).build();
    let e = client.create_opportunity().catalog("AWS").customer(bad).send().await.unwrap_err().into_service_error();
    let pcs::operation::create_opportunity::CreateOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.reason(), &ValidationExceptionReason::RequestValidationFailed);
    let fields: Vec<(&str, &ValidationExceptionErrorCode)> =
        v.error_list().iter().map(|e| (e.field_name().unwrap(), e.code())).collect();
    assert!(fields.contains(&("Customer.Account.WebsiteUrl", &ValidationExceptionErrorCode::InvalidStringFormat)), "{fields:?}");
    assert!(fields.contains(&("Customer.Account.Duns", &ValidationExceptionErrorCode::InvalidStringFormat)), "{fields:?}");

    // A business rule: the target close date is in the past.
    let e = client
        .create_opportunity()
        .catalog("AWS")
        .life_cycle(LifeCycle::builder().target_close_date("2001-01-01").build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let pcs::operation::create_opportunity::CreateOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.reason(), &ValidationExceptionReason::BusinessValidationFailed);
    assert_eq!(v.error_list()[0].field_name(), Some("LifeCycle.TargetCloseDate"));
}

#[tokio::test]
async fn use_4_another_partners_or_catalogs_opportunity_is_not_found() {
    let app = TestApp::start().await;
    let a = app.client(&app.partner("P-A").await);
    let b = app.client(&app.partner("P-B").await);
    let created = create(&a, "AWS", "Secret Customer").await;
    let id = created.id();

    let e = b.get_opportunity().catalog("AWS").identifier(id).send().await.unwrap_err().into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = a.get_opportunity().catalog("Sandbox").identifier(id).send().await.unwrap_err().into_service_error();
    assert!(e.is_resource_not_found_exception(), "the other catalog: {e:?}");
    let e = b
        .update_opportunity()
        .catalog("AWS")
        .identifier(id)
        .last_modified_date(*created.last_modified_date().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = b
        .submit_opportunity()
        .catalog("AWS")
        .identifier(id)
        .involvement_type(SalesInvolvementType::CoSell)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "ResourceNotFoundException");
    let e = b
        .associate_opportunity()
        .catalog("AWS")
        .opportunity_identifier(id)
        .related_entity_type(RelatedEntityType::AwsProducts)
        .related_entity_identifier("AmazonEC2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "ResourceNotFoundException");
    let e = b.get_aws_opportunity_summary().catalog("AWS").related_opportunity_identifier(id).send().await.unwrap_err();
    assert_eq!(code(&e.into_service_error()), "ResourceNotFoundException");
    let arn = a.get_opportunity().catalog("AWS").identifier(id).send().await.unwrap().arn().unwrap().to_string();
    let e = b.list_tags_for_resource().resource_arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&e.into_service_error()), "ResourceNotFoundException");
    let listed = b.list_opportunities().catalog("AWS").send().await.unwrap();
    assert!(listed.opportunity_summaries().is_empty());
}

#[tokio::test]
async fn client_token_makes_create_idempotent() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let send = |company: &'static str| {
        client.create_opportunity().catalog("AWS").client_token("token-1").customer(customer(company)).send()
    };
    let first = send("Example Corp").await.unwrap();
    let again = send("Example Corp").await.unwrap();
    assert_eq!(first.id(), again.id());
    assert_eq!(first.last_modified_date(), again.last_modified_date());
    let e = send("Another Corp").await.unwrap_err().into_service_error();
    assert!(e.is_conflict_exception(), "{e:?}");
    assert_eq!(client.list_opportunities().catalog("AWS").send().await.unwrap().opportunity_summaries().len(), 1);
    // The same token in the other catalog is another request.
    let sandbox = client.create_opportunity().catalog("Sandbox").client_token("token-1").send().await.unwrap();
    assert_ne!(sandbox.id(), first.id());
}

#[tokio::test]
async fn list_opportunities_paginates_filters_and_sorts() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let client = app.client(&alice);
    for i in 0..25 {
        create(&client, "AWS", &format!("Company {}", i % 5)).await;
    }
    let all: Vec<_> = client
        .list_opportunities()
        .catalog("AWS")
        .max_results(7)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let mut ids: Vec<&str> = all.iter().map(|s| s.id().unwrap()).collect();
    assert_eq!(ids.len(), 25);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25, "no duplicates across pages");

    let filtered = client.list_opportunities().catalog("AWS").customer_company_name("company 3").send().await.unwrap();
    assert_eq!(filtered.opportunity_summaries().len(), 5);
    assert!(filtered
        .opportunity_summaries()
        .iter()
        .all(|s| s.customer().unwrap().account().unwrap().company_name() == "Company 3"));

    let sorted = client
        .list_opportunities()
        .catalog("AWS")
        .sort(
            OpportunitySort::builder().sort_by(OpportunitySortName::Identifier).sort_order(SortOrder::Ascending).build().unwrap(),
        )
        .max_results(100)
        .send()
        .await
        .unwrap();
    let numbers: Vec<i64> = sorted.opportunity_summaries().iter().map(|s| s.id().unwrap()[1..].parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert!(sorted.next_token().is_none(), "no NextToken on the last page");

    // A token only works with the filters it was issued for.
    let page = client.list_opportunities().catalog("AWS").max_results(5).send().await.unwrap();
    let token = page.next_token().unwrap();
    let e = client
        .list_opportunities()
        .catalog("AWS")
        .customer_company_name("Company 1")
        .next_token(token)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    // ... and only for the partner it was issued to (USE-4).
    let bob = app.client(&app.partner("P-B").await);
    let e =
        bob.list_opportunities().catalog("AWS").max_results(5).next_token(token).send().await.unwrap_err().into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    // A tampered token is refused.
    let mut tampered = token.to_string();
    tampered.insert(3, 'x');
    let e = client
        .list_opportunities()
        .catalog("AWS")
        .max_results(5)
        .next_token(tampered)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
}

#[tokio::test]
async fn list_is_stable_under_concurrent_inserts() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    for i in 0..10 {
        create(&client, "AWS", &format!("C{i}")).await;
    }
    let sort =
        OpportunitySort::builder().sort_by(OpportunitySortName::Identifier).sort_order(SortOrder::Ascending).build().unwrap();
    let first = client.list_opportunities().catalog("AWS").sort(sort.clone()).max_results(5).send().await.unwrap();
    for i in 0..3 {
        create(&client, "AWS", &format!("Late {i}")).await;
    }
    let second = client
        .list_opportunities()
        .catalog("AWS")
        .sort(sort)
        .max_results(5)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    let first_ids: Vec<&str> = first.opportunity_summaries().iter().map(|s| s.id().unwrap()).collect();
    let second_ids: Vec<&str> = second.opportunity_summaries().iter().map(|s| s.id().unwrap()).collect();
    assert!(second_ids.iter().all(|id| !first_ids.contains(id)), "{first_ids:?} then {second_ids:?}");
    assert_eq!(second_ids.len(), 5);
}

#[tokio::test]
async fn submission_in_the_sandbox_then_simulated_review() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = create(&client, "Sandbox", "Example Corp").await;
    let id = created.id();
    let e = client.get_aws_opportunity_summary().catalog("Sandbox").related_opportunity_identifier(id).send().await.unwrap_err();
    assert_eq!(code(&e.into_service_error()), "ResourceNotFoundException", "no operator view before submission");

    let solutions = client.list_solutions().catalog("Sandbox").send().await.unwrap();
    assert!(solutions.solution_summaries().iter().any(|s| s.id() == "S-1234567"));
    client
        .associate_opportunity()
        .catalog("Sandbox")
        .opportunity_identifier(id)
        .related_entity_type(RelatedEntityType::Solutions)
        .related_entity_identifier("S-1234567")
        .send()
        .await
        .unwrap();
    client
        .submit_opportunity()
        .catalog("Sandbox")
        .identifier(id)
        .involvement_type(SalesInvolvementType::CoSell)
        .send()
        .await
        .unwrap();
    let got = client.get_opportunity().catalog("Sandbox").identifier(id).send().await.unwrap();
    assert_eq!(got.life_cycle().unwrap().review_status(), Some(&ReviewStatus::Submitted));
    assert_eq!(got.related_entity_identifiers().unwrap().solutions(), ["S-1234567"]);
    let summary =
        client.get_aws_opportunity_summary().catalog("Sandbox").related_opportunity_identifier(id).send().await.unwrap();
    assert_eq!(summary.related_opportunity_id(), Some(id));
    assert_eq!(summary.involvement_type(), Some(&SalesInvolvementType::CoSell));

    // Submitted: the partner cannot edit it …
    let e = client
        .update_opportunity()
        .catalog("Sandbox")
        .identifier(id)
        .last_modified_date(*got.last_modified_date())
        .customer(customer("Example Corp"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let pcs::operation::update_opportunity::UpdateOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.error_list()[0].code(), &ValidationExceptionErrorCode::InvalidResourceState);
    // … but the Sandbox simulates the operator's approval through ReviewStatus (digest §3.5).
    client
        .update_opportunity()
        .catalog("Sandbox")
        .identifier(id)
        .last_modified_date(*got.last_modified_date())
        .life_cycle(LifeCycle::builder().review_status(ReviewStatus::Approved).build())
        .send()
        .await
        .unwrap();
    let approved = client.get_opportunity().catalog("Sandbox").identifier(id).send().await.unwrap();
    assert_eq!(approved.life_cycle().unwrap().review_status(), Some(&ReviewStatus::Approved));
    assert_eq!(approved.project().unwrap().title(), Some("Migration"), "the simulation keeps the document");
    // Submitting twice is refused.
    let e =
        client.submit_opportunity().catalog("Sandbox").identifier(id).involvement_type(SalesInvolvementType::CoSell).send().await;
    assert!(e.unwrap_err().into_service_error().is_validation_exception());
}

#[tokio::test]
async fn aws_catalog_submission_requires_a_solution_and_review_status_is_read_only() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = create(&client, "AWS", "Example Corp").await;
    let id = created.id();
    let e = client.submit_opportunity().catalog("AWS").identifier(id).involvement_type(SalesInvolvementType::CoSell).send().await;
    let e = e.unwrap_err().into_service_error();
    let pcs::operation::submit_opportunity::SubmitOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.reason(), &ValidationExceptionReason::BusinessValidationFailed);

    let e = client
        .update_opportunity()
        .catalog("AWS")
        .identifier(id)
        .last_modified_date(*created.last_modified_date().unwrap())
        .life_cycle(LifeCycle::builder().review_status(ReviewStatus::Approved).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "ReviewStatus cannot be written in the AWS catalog: {e:?}");

    // An unknown solution is not found; the partner's own works.
    let e = client
        .associate_opportunity()
        .catalog("AWS")
        .opportunity_identifier(id)
        .related_entity_type(RelatedEntityType::Solutions)
        .related_entity_identifier("S-9999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "ResourceNotFoundException");
    let solution =
        app.operator("POST", "/partners/P-A/solutions", json!({"name": "Factory", "category": "Consulting Service"})).await;
    let solution_id = solution["id"].as_str().unwrap();
    let listed = client.list_solutions().catalog("AWS").send().await.unwrap();
    assert_eq!(listed.solution_summaries().len(), 1);
    assert_eq!(listed.solution_summaries()[0].id(), solution_id);
    for _ in 0..2 {
        client
            .associate_opportunity()
            .catalog("AWS")
            .opportunity_identifier(id)
            .related_entity_type(RelatedEntityType::Solutions)
            .related_entity_identifier(solution_id)
            .send()
            .await
            .unwrap();
    }
    let submitter = app.user("P-A", "submitter").await;
    assert_eq!(crate::review::attest(&app, &submitter, crate::review::attestation(id)).await.0, 200);
    client
        .submit_opportunity()
        .catalog("AWS")
        .identifier(id)
        .involvement_type(SalesInvolvementType::ForVisibilityOnly)
        .send()
        .await
        .unwrap();
    let got = client.get_opportunity().catalog("AWS").identifier(id).send().await.unwrap();
    assert_eq!(got.related_entity_identifiers().unwrap().solutions(), [solution_id], "associating twice keeps one");

    // Disassociate: the association goes; an absent one is not found.
    let disassociate = || {
        client
            .disassociate_opportunity()
            .catalog("AWS")
            .opportunity_identifier(id)
            .related_entity_type(RelatedEntityType::AwsProducts)
            .related_entity_identifier("AmazonEC2")
            .send()
    };
    assert_eq!(code(&disassociate().await.unwrap_err().into_service_error()), "ResourceNotFoundException");
}

#[tokio::test]
async fn start_engagement_from_opportunity_task_is_idempotent_and_listed() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = create(&client, "Sandbox", "Example Corp").await;
    let start = || {
        client
            .start_engagement_from_opportunity_task()
            .catalog("Sandbox")
            .client_token("task-token")
            .identifier(created.id())
            .aws_submission(AwsSubmission::builder().involvement_type(SalesInvolvementType::CoSell).build().unwrap())
            .send()
    };
    let task = start().await.unwrap();
    assert_eq!(task.task_status().map(|s| s.as_str()), Some("COMPLETE"));
    assert!(task.task_id().unwrap().starts_with("task-"));
    assert!(task.engagement_id().unwrap().starts_with("eng-"));
    // Issue 18: the engagement is real — the partner and the operator's side are its members,
    // and the opportunity is shared in it as a CustomerProject context.
    let engagement = client.get_engagement().catalog("Sandbox").identifier(task.engagement_id().unwrap()).send().await.unwrap();
    assert_eq!(engagement.member_count(), Some(2));
    let shared = engagement.contexts()[0].payload().unwrap().as_customer_project().unwrap();
    assert_eq!(shared.customer().unwrap().company_name(), "Example Corp");
    let members =
        client.list_engagement_members().catalog("Sandbox").identifier(task.engagement_id().unwrap()).send().await.unwrap();
    assert!(members.engagement_member_list().iter().any(|m| m.account_id() == Some("aws")));
    let again = start().await.unwrap();
    assert_eq!(again.task_id(), task.task_id(), "same ClientToken, same task");
    let got = client.get_opportunity().catalog("Sandbox").identifier(created.id()).send().await.unwrap();
    assert_eq!(got.life_cycle().unwrap().review_status(), Some(&ReviewStatus::Submitted));
    let listed = client.list_engagement_from_opportunity_tasks().catalog("Sandbox").send().await.unwrap();
    assert_eq!(listed.task_summaries().len(), 1);
    assert_eq!(listed.task_summaries()[0].opportunity_id(), Some(created.id()));
    // A task for an opportunity that is no longer Pending Submission is refused at once.
    let e = client
        .start_engagement_from_opportunity_task()
        .catalog("Sandbox")
        .client_token("another-token")
        .identifier(created.id())
        .aws_submission(AwsSubmission::builder().involvement_type(SalesInvolvementType::CoSell).build().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    // In the AWS catalog without a solution the task runs and FAILS with a reason code.
    let aws = create(&client, "AWS", "Example Corp").await;
    let failed = client
        .start_engagement_from_opportunity_task()
        .catalog("AWS")
        .client_token("t3")
        .identifier(aws.id())
        .aws_submission(AwsSubmission::builder().involvement_type(SalesInvolvementType::CoSell).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(failed.task_status().map(|s| s.as_str()), Some("FAILED"));
    assert_eq!(failed.reason_code().map(|s| s.as_str()), Some("OpportunityValidationFailed"));
}

#[tokio::test]
async fn tags_round_trip_and_reserved_keys_are_refused() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = create(&client, "AWS", "Example Corp").await;
    let arn = client.get_opportunity().catalog("AWS").identifier(created.id()).send().await.unwrap().arn().unwrap().to_string();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    client.tag_resource().resource_arn(&arn).tags(tag("team", "emea")).tags(tag("crm", "sf-1")).send().await.unwrap();
    client.tag_resource().resource_arn(&arn).tags(tag("team", "apac")).send().await.unwrap();
    let tags = client.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    let mut pairs: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    pairs.sort();
    assert_eq!(pairs, vec![("crm", "sf-1"), ("team", "apac")]);
    client.untag_resource().resource_arn(&arn).tag_keys("crm").tag_keys("absent").send().await.unwrap();
    assert_eq!(client.list_tags_for_resource().resource_arn(&arn).send().await.unwrap().tags().len(), 1);
    let e =
        client.tag_resource().resource_arn(&arn).tags(tag("aws:reserved", "x")).send().await.unwrap_err().into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    // Tags do not change the optimistic-lock token.
    let got = client.get_opportunity().catalog("AWS").identifier(created.id()).send().await.unwrap();
    assert_eq!(Some(got.last_modified_date()), created.last_modified_date());
}

#[tokio::test]
async fn assign_opportunity_replaces_the_owner() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = create(&client, "AWS", "Example Corp").await;
    let assignee = AssigneeContact::builder()
        .email("jane@acme.example")
        .first_name("Jane")
        .last_name("Doe")
        .business_title("PartnerAccountManager")
        .build()
        .unwrap();
    client.assign_opportunity().catalog("AWS").identifier(created.id()).assignee(assignee).send().await.unwrap();
    let got = client.get_opportunity().catalog("AWS").identifier(created.id()).send().await.unwrap();
    assert_eq!(got.opportunity_team().len(), 1);
    assert_eq!(got.opportunity_team()[0].email(), Some("jane@acme.example"));
    assert!(got.last_modified_date() > created.last_modified_date().unwrap());
}

#[tokio::test]
async fn every_change_appends_an_event_to_the_outbox() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let created = create(&client, "Sandbox", "Example Corp").await;
    client
        .submit_opportunity()
        .catalog("Sandbox")
        .identifier(created.id())
        .involvement_type(SalesInvolvementType::CoSell)
        .send()
        .await
        .unwrap();
    let events = app.operator("GET", "/events", serde_json::Value::Null).await;
    let events: Vec<&serde_json::Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["event"]["source"] == "aws.partnercentral-selling").collect();
    let types: Vec<&str> = events.iter().map(|e| e["event"]["detail-type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["Opportunity Created", "Opportunity Updated"]);
    let e = &events[0]["event"];
    assert_eq!(e["source"], "aws.partnercentral-selling");
    assert_eq!(e["detail"]["catalog"], "Sandbox");
    assert_eq!(e["detail"]["opportunity"]["identifier"], created.id());
}

/// Issue 22: a `ClientToken` stands for a day. After it the same token is a new request (even
/// before the sweep has run), and the jobs' sweep removes the expired records, so the table
/// does not grow for ever.
#[tokio::test]
async fn an_expired_client_token_no_longer_replays_and_its_record_is_removed() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let create = |token: &'static str| {
        client.create_opportunity().catalog("AWS").client_token(token).customer(customer("Example Corp")).send()
    };
    let key = |token: &str| ace_store::IdempotencyKey {
        partner_id: "P-A".into(),
        catalog: ace_domain::ids::Catalog::Aws,
        operation: "CreateOpportunity".into(),
        client_token: token.into(),
    };
    let first = create("kept-a-day").await.unwrap();
    let swept = create("swept").await.unwrap();
    app.state.clock.advance(chrono::TimeDelta::hours(23)).unwrap();
    assert_eq!(create("kept-a-day").await.unwrap().id(), first.id(), "within the day: the same answer");

    app.state.clock.advance(chrono::TimeDelta::hours(2)).unwrap();
    let again = create("kept-a-day").await.unwrap();
    assert_ne!(again.id(), first.id(), "after a day the token starts a new request");
    let listed = client.list_opportunities().catalog("AWS").send().await.unwrap();
    assert_eq!(listed.opportunity_summaries().len(), 3);

    let advanced = app.operator("POST", "/clock/advance", json!({"duration": "1s"})).await;
    assert!(advanced["jobs_run"].to_string().contains("expired record(s) removed"), "{advanced}");
    assert!(app.state.store.get_idempotency(&key("swept")).await.unwrap().is_none(), "the expired record is gone");
    let renewed = app.state.store.get_idempotency(&key("kept-a-day")).await.unwrap().expect("the renewed claim stays");
    assert_eq!(renewed.response["Id"].as_str(), Some(again.id()));
    assert_ne!(create("swept").await.unwrap().id(), swept.id());
}

/// Issue 25 (the published integration scenario "a duplicate CRM identifier is refused"): a
/// partner's `PartnerOpportunityIdentifier` is one opportunity per catalog. A second create
/// with it is refused as `DUPLICATE_KEY_VALUE` naming the first; its own ClientToken still
/// answers the first create; another partner or catalog may use the same identifier; an update
/// may keep its own but not take another's; creates racing with one identifier make one.
#[tokio::test]
async fn a_crm_identifier_is_one_opportunity_a_second_create_with_it_is_refused_naming_the_first() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let bob = app.partner("P-B").await;
    let client = app.client(&alice);
    let send = |catalog: &str, crm: &str, token: &str| {
        client
            .create_opportunity()
            .catalog(catalog)
            .client_token(token)
            .customer(customer("Example Corp"))
            .project(project())
            .life_cycle(lifecycle())
            .partner_opportunity_identifier(crm)
            .send()
    };
    let first = send("AWS", "CRM-42", "t1").await.unwrap();
    let e = send("AWS", "CRM-42", "t2").await.unwrap_err().into_service_error();
    let pcs::operation::create_opportunity::CreateOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.reason(), &ValidationExceptionReason::BusinessValidationFailed);
    let error = &v.error_list()[0];
    assert_eq!(
        (error.field_name(), error.code()),
        (Some("PartnerOpportunityIdentifier"), &ValidationExceptionErrorCode::DuplicateKeyValue)
    );
    assert!(error.message().contains(first.id()), "the refusal names the opportunity that holds it: {}", error.message());
    // The first create's own token answers as it did; nothing new was made.
    assert_eq!(send("AWS", "CRM-42", "t1").await.unwrap().id(), first.id());
    let listed = client.list_opportunities().catalog("AWS").send().await.unwrap();
    assert_eq!(listed.opportunity_summaries().len(), 1);
    // Another catalog, another partner: theirs to use.
    send("Sandbox", "CRM-42", "t3").await.unwrap();
    app.client(&bob)
        .create_opportunity()
        .catalog("AWS")
        .client_token("t1")
        .customer(customer("Example Corp"))
        .project(project())
        .life_cycle(lifecycle())
        .partner_opportunity_identifier("CRM-42")
        .send()
        .await
        .unwrap();

    // An update keeps its own identifier, and may not take another's.
    let second = send("AWS", "CRM-43", "t4").await.unwrap();
    let update = |crm: &'static str, modified| {
        client
            .update_opportunity()
            .catalog("AWS")
            .identifier(second.id())
            .last_modified_date(modified)
            .customer(customer("Example Corp"))
            .project(project())
            .life_cycle(lifecycle())
            .partner_opportunity_identifier(crm)
            .send()
    };
    let kept = update("CRM-43", *second.last_modified_date().unwrap()).await.unwrap();
    let e = update("CRM-42", *kept.last_modified_date()).await.unwrap_err().into_service_error();
    let pcs::operation::update_opportunity::UpdateOpportunityError::ValidationException(v) = e else { panic!("{e:?}") };
    assert_eq!(v.error_list()[0].code(), &ValidationExceptionErrorCode::DuplicateKeyValue);
    // Given up by its holder, an identifier is free again.
    update("CRM-44", *kept.last_modified_date()).await.unwrap();
    send("AWS", "CRM-43", "t5").await.unwrap();

    // Eight creates at once with one new identifier: one opportunity, seven refusals.
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..8 {
        let client = client.clone();
        racing.spawn(async move {
            client
                .create_opportunity()
                .catalog("AWS")
                .client_token(format!("race-{i}"))
                .customer(customer("Example Corp"))
                .project(project())
                .life_cycle(lifecycle())
                .partner_opportunity_identifier("CRM-RACE")
                .send()
                .await
        });
    }
    let answers = racing.join_all().await;
    let made = answers.iter().filter(|a| a.is_ok()).count();
    let refused = answers
        .iter()
        .filter_map(|a| a.as_ref().err())
        .filter(|e| code(e.as_service_error().unwrap()) == "ValidationException")
        .count();
    assert_eq!((made, refused), (1, 7), "{answers:?}");
}
