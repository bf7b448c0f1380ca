//! Engagements through the official SDK (issue 18): a partner's own engagements, their contexts
//! and members; only members see them (USE-4); what is shared is screened (SUB-5).

use aws_sdk_partnercentralselling as pcs;
use pcs::primitives::DateTime;
use pcs::types::{
    CountryCode, CustomerProjectsContext, EngagementContextDetails, EngagementContextPayload, EngagementContextType,
    EngagementCustomer, EngagementCustomerProjectDetails, EngagementSort, EngagementSortName, Industry, SortOrder,
    UpdateEngagementContextPayload,
};
use serde_json::json;

use crate::support::{code, TestApp};

fn project_context(company: &str, problem: &str) -> CustomerProjectsContext {
    CustomerProjectsContext::builder()
        .customer(
            EngagementCustomer::builder()
                .company_name(company)
                .country_code(CountryCode::Us)
                .industry(Industry::Retail)
                .website_url("https://example.com")
                .build()
                .unwrap(),
        )
        .project(
            EngagementCustomerProjectDetails::builder()
                .title("Data lake")
                .business_problem(problem)
                .target_completion_date("2027-06-30")
                .build()
                .unwrap(),
        )
        .build()
}

fn context(company: &str, problem: &str) -> EngagementContextDetails {
    EngagementContextDetails::builder()
        .r#type(EngagementContextType::CustomerProject)
        .payload(EngagementContextPayload::CustomerProject(project_context(company, problem)))
        .build()
        .unwrap()
}

async fn create(client: &pcs::Client, catalog: &str, title: &str) -> String {
    client
        .create_engagement()
        .catalog(catalog)
        .client_token(format!("create-{title}"))
        .title(title)
        .description("Joint proposal")
        .contexts(context("Example Corp", "Move the data warehouse to the cloud this year"))
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_partner_creates_an_engagement_adds_and_updates_contexts_and_reads_it_back() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let client = app.client(&alice);
    let account = app.account_id("P-A").await;

    let created = client
        .create_engagement()
        .catalog("AWS")
        .client_token("first")
        .title("Retail co-sell")
        .description("Joint proposal")
        .contexts(context("Example Corp", "Move the data warehouse to the cloud this year"))
        .send()
        .await
        .unwrap();
    let id = created.id().unwrap().to_string();
    assert!(id.starts_with("eng-") && id.len() == 18, "{id}");
    assert_eq!(created.arn().unwrap(), format!("arn:aws:partnercentral:us-east-1::catalog/AWS/engagement/{id}"));

    let got = client.get_engagement().catalog("AWS").identifier(&id).send().await.unwrap();
    assert_eq!((got.title(), got.description()), (Some("Retail co-sell"), Some("Joint proposal")));
    assert_eq!(got.created_by(), Some(account.as_str()));
    assert_eq!(got.member_count(), Some(1));
    assert_eq!(got.modified_at(), created.modified_at());
    assert_eq!(got.contexts().len(), 1);
    assert_eq!(got.contexts()[0].id(), Some("1"));
    let payload = got.contexts()[0].payload().unwrap().as_customer_project().unwrap();
    assert_eq!(payload.customer().unwrap().company_name(), "Example Corp");
    // The ARN names it as well as the id.
    let by_arn = client.get_engagement().catalog("AWS").identifier(created.arn().unwrap()).send().await.unwrap();
    assert_eq!(by_arn.id(), Some(id.as_str()));

    let added = client
        .create_engagement_context()
        .catalog("AWS")
        .client_token("ctx-2")
        .engagement_identifier(&id)
        .r#type(EngagementContextType::CustomerProject)
        .payload(EngagementContextPayload::CustomerProject(project_context("Second Corp", "A second project for the same team")))
        .send()
        .await
        .unwrap();
    assert_eq!(added.context_id(), Some("2"));
    let token = *added.engagement_last_modified_at().unwrap();
    assert!(token > *created.modified_at().unwrap(), "adding a context moves ModifiedAt");

    // Optimistic locking: the token before the context was added is stale.
    let update = |at: DateTime, problem: &str| {
        client
            .update_engagement_context()
            .catalog("AWS")
            .engagement_identifier(&id)
            .context_identifier("1")
            .engagement_last_modified_at(at)
            .r#type(EngagementContextType::CustomerProject)
            .payload(UpdateEngagementContextPayload::CustomerProject(project_context("Example Corp", problem)))
            .send()
    };
    let e = update(*created.modified_at().unwrap(), "A stale view of the project problem").await.unwrap_err();
    assert_eq!(code(&e), "ConflictException", "{e:?}");
    let updated = update(token, "The warehouse and the reporting stack both move").await.unwrap();
    assert_eq!(updated.context_id(), "1");
    assert!(*updated.engagement_last_modified_at() > token);
    let e = update(token, "The same token twice is stale the second time").await.unwrap_err();
    assert_eq!(code(&e), "ConflictException");
    let got = client.get_engagement().catalog("AWS").identifier(&id).send().await.unwrap();
    let problem = got.contexts()[0].payload().unwrap().as_customer_project().unwrap().project().unwrap().business_problem();
    assert_eq!(problem, "The warehouse and the reporting stack both move");
    assert_eq!(got.modified_at(), Some(updated.engagement_last_modified_at()));

    // An unknown context, a context of another type.
    let e = client
        .update_engagement_context()
        .catalog("AWS")
        .engagement_identifier(&id)
        .context_identifier("9")
        .engagement_last_modified_at(*updated.engagement_last_modified_at())
        .r#type(EngagementContextType::CustomerProject)
        .payload(UpdateEngagementContextPayload::CustomerProject(project_context(
            "Example Corp",
            "Nothing to update here at all",
        )))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");

    let members = client.list_engagement_members().catalog("AWS").identifier(&id).send().await.unwrap();
    assert_eq!(members.engagement_member_list().len(), 1);
    assert_eq!(members.engagement_member_list()[0].account_id(), Some(account.as_str()));
    assert_eq!(members.engagement_member_list()[0].company_name(), Some("P-A Ltd"));
}

#[tokio::test]
async fn list_engagements_filters_sorts_and_pages() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let client = app.client(&alice);
    let account = app.account_id("P-A").await;
    let mut ids = Vec::new();
    // The test clock stands still: each engagement a second after the one before.
    let tick = || app.state.clock.advance(chrono::TimeDelta::seconds(1)).unwrap();
    for n in 0..5 {
        ids.push(create(&client, "AWS", &format!("engagement {n}")).await);
        tick();
    }
    let bare = client.create_engagement().catalog("AWS").client_token("bare").title("no contexts").send().await.unwrap();
    ids.push(bare.id().unwrap().to_string());
    create(&client, "Sandbox", "in the other catalog").await;

    let listed = |order: SortOrder| {
        client
            .list_engagements()
            .catalog("AWS")
            .sort(EngagementSort::builder().sort_by(EngagementSortName::CreatedDate).sort_order(order).build().unwrap())
            .max_results(2)
            .into_paginator()
            .items()
            .send()
    };
    let ascending: Vec<String> = listed(SortOrder::Ascending)
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id().unwrap().to_string())
        .collect();
    assert_eq!(ascending, ids, "every engagement of the catalog, oldest first, over three pages");
    let descending: Vec<String> = listed(SortOrder::Descending)
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|s| s.id().unwrap().to_string())
        .collect();
    assert_eq!(descending, ids.iter().rev().cloned().collect::<Vec<_>>());

    let page =
        client.list_engagements().catalog("AWS").context_types(EngagementContextType::CustomerProject).send().await.unwrap();
    assert_eq!(page.engagement_summary_list().len(), 5, "the one without contexts is left out");
    let summary = &page.engagement_summary_list()[0];
    assert_eq!(summary.context_types(), &[EngagementContextType::CustomerProject]);
    assert_eq!((summary.member_count(), summary.created_by()), (Some(1), Some(account.as_str())));
    let page = client
        .list_engagements()
        .catalog("AWS")
        .exclude_context_types(EngagementContextType::CustomerProject)
        .send()
        .await
        .unwrap();
    assert_eq!(page.engagement_summary_list().len(), 1);
    let page = client.list_engagements().catalog("AWS").engagement_identifier(&ids[2]).send().await.unwrap();
    assert_eq!(page.engagement_summary_list()[0].id(), Some(ids[2].as_str()));
    let page = client.list_engagements().catalog("AWS").exclude_created_by(&account).send().await.unwrap();
    assert!(page.engagement_summary_list().is_empty());
    let page = client.list_engagements().catalog("Sandbox").send().await.unwrap();
    assert_eq!(page.engagement_summary_list().len(), 1, "catalogs are separate spaces");
}

#[tokio::test]
async fn use_4_an_engagement_is_not_found_for_anyone_but_its_members() {
    let app = TestApp::start().await;
    let alice = app.client(&app.partner("P-A").await);
    let carol = app.client(&app.partner("P-C").await);
    let id = create(&alice, "AWS", "private").await;

    let e = carol.get_engagement().catalog("AWS").identifier(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let unknown = carol.get_engagement().catalog("AWS").identifier("eng-zzzzzzzzzzzzzz").send().await.unwrap_err();
    assert_eq!(
        format!("{:?}", e.into_service_error().meta().message()).replace(&id, "ID"),
        format!("{:?}", unknown.into_service_error().meta().message()).replace("eng-zzzzzzzzzzzzzz", "ID"),
        "no hint that it exists"
    );
    let e = carol.list_engagement_members().catalog("AWS").identifier(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = carol
        .create_engagement_context()
        .catalog("AWS")
        .client_token("intrude")
        .engagement_identifier(&id)
        .r#type(EngagementContextType::CustomerProject)
        .payload(EngagementContextPayload::CustomerProject(project_context(
            "Intruder Corp",
            "Trying to add to another's engagement",
        )))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = carol
        .update_engagement_context()
        .catalog("AWS")
        .engagement_identifier(&id)
        .context_identifier("1")
        .engagement_last_modified_at(DateTime::from_secs(0))
        .r#type(EngagementContextType::CustomerProject)
        .payload(UpdateEngagementContextPayload::CustomerProject(project_context(
            "Intruder Corp",
            "Trying to change another's context",
        )))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    assert!(carol.list_engagements().catalog("AWS").send().await.unwrap().engagement_summary_list().is_empty());
    let e = alice.get_engagement().catalog("Sandbox").identifier(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "the member itself, in the other catalog");
    let got = alice.get_engagement().catalog("AWS").identifier(&id).send().await.unwrap();
    assert_eq!(got.contexts().len(), 1, "nothing of the intruder's arrived");
}

#[tokio::test]
async fn sub_5_personal_data_is_not_shared_through_an_engagement() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let e = client
        .create_engagement()
        .catalog("AWS")
        .client_token("card")
        .title("Card")
        .contexts(context("Example Corp", "Charge the customer's card 4111 1111 1111 1111 for the migration"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let service = e.into_service_error();
    let pcs::operation::create_engagement::CreateEngagementError::ValidationException(v) = service else { panic!("{service:?}") };
    assert_eq!(v.error_list()[0].field_name(), Some("Contexts[0].Payload.CustomerProject.Project.BusinessProblem"));
    assert!(v.message().contains("SUB-5"), "{}", v.message());
    assert!(
        client.list_engagements().catalog("AWS").send().await.unwrap().engagement_summary_list().is_empty(),
        "nothing stored"
    );

    // Only CustomerProject contexts are a partner's to add; a payload must match its type.
    let (status, body) = app
        .call(
            &app.partner("P-B").await,
            "CreateEngagement",
            json!({"Catalog": "AWS", "ClientToken": "lead", "Contexts": [{"Type": "Lead", "Payload": {"CustomerProject": {}}}]}),
        )
        .await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("ValidationException")), "{body}");
}

#[tokio::test]
async fn create_engagement_is_idempotent_by_client_token() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let send = |title: &str| client.create_engagement().catalog("AWS").client_token("once").title(title).send();
    let first = send("Same").await.unwrap();
    let again = send("Same").await.unwrap();
    assert_eq!(first.id(), again.id());
    assert_eq!(first.modified_at(), again.modified_at());
    let e = send("Different").await.unwrap_err();
    assert_eq!(code(&e), "ConflictException");
    assert_eq!(client.list_engagements().catalog("AWS").send().await.unwrap().engagement_summary_list().len(), 1);
}

#[tokio::test]
async fn rem_1_a_partner_removed_from_the_program_loses_its_memberships() {
    let app = TestApp::start().await;
    let alice = app.client(&app.partner("P-A").await);
    let id = create(&alice, "AWS", "before removal").await;
    let catalog = ace_domain::ids::Catalog::Aws;
    assert_eq!(app.state.store.list_engagement_members(catalog, &id).await.unwrap().len(), 1);

    app.operator("POST", "/partners/P-A/remove", json!({"scope": "all"})).await;
    assert!(app.state.store.list_engagement_members(catalog, &id).await.unwrap().is_empty());
    app.operator("POST", "/partners/P-A/reinstate", json!({"scope": "all"})).await;
    let e = alice.get_engagement().catalog("AWS").identifier(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "reinstatement does not give memberships back");
    assert!(alice.list_engagements().catalog("AWS").send().await.unwrap().engagement_summary_list().is_empty());
}

async fn refer_lead(app: &TestApp, partner: &str, company: &str, email: &str) -> String {
    let v = app
        .operator(
            "POST",
            "/referrals",
            json!({"partner": partner, "kind": "lead", "company": company, "website": format!("https://{}.example.com", company.to_lowercase()),
                   "country": "US", "industry": "Retail", "problem": "Wants a data lake for its stores this year.",
                   "contact_name": "Zelda Quartz", "contact_email": email, "contact_phone": "+14155550100", "contact_title": "CTO"}),
        )
        .await;
    v["Id"].as_str().unwrap().to_string()
}

/// The lead walkthrough of issue 18: the operator refers a lead → the partner sees a masked
/// `LeadInvitation` and no engagement → accepts → `GetEngagement` shows the `Lead` context
/// unmasked (the read audited, REF-1) → `StartOpportunityFromEngagementTask` turns it into an
/// opportunity with the lead's customer, once.
#[tokio::test]
async fn ref_1_a_lead_referral_is_an_engagement_the_partner_joins_by_accepting_and_turns_into_an_opportunity() {
    let app = TestApp::start().await;
    let c = crate::referrals::eligible_partner(&app, "P-A").await;
    let client = app.client(&c);
    let invitation = refer_lead(&app, "P-A", "Leadco", "zelda@leadco.example.com").await;

    let listed = client
        .list_engagement_invitations()
        .catalog("AWS")
        .participant_type(pcs::types::ParticipantType::Receiver)
        .send()
        .await
        .unwrap();
    let summary = &listed.engagement_invitation_summaries()[0];
    assert_eq!(summary.payload_type(), Some(&pcs::types::EngagementInvitationPayloadType::LeadInvitation));
    let engagement = summary.engagement_id().unwrap().to_string();
    let got = client.get_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap();
    assert!(!format!("{got:?}").contains("zelda@"), "the invitation is masked: {got:?}");
    let e = client.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "not a member before accepting");

    client.accept_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap();
    let got = client.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap();
    assert_eq!((got.created_by(), got.member_count(), got.title()), (Some("aws"), Some(2), Some("Leadco")));
    let lead = got.contexts()[0].payload().unwrap().as_lead().unwrap();
    assert_eq!(lead.customer().unwrap().company_name(), "Leadco");
    let contact = lead.interactions()[0].contact().unwrap();
    assert_eq!((contact.email(), contact.first_name(), contact.last_name()), ("zelda@leadco.example.com", "Zelda", "Quartz"));
    let log = app.operator("GET", &format!("/audit/log?referral={invitation}&action=referral.contact-read"), json!(null)).await;
    assert!(log["entries"].to_string().contains(&format!("GetEngagement {engagement}")), "REF-1: the read is audited: {log}");
    let members = client.list_engagement_members().catalog("AWS").identifier(&engagement).send().await.unwrap();
    let accounts: Vec<_> = members.engagement_member_list().iter().filter_map(|m| m.account_id()).collect();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.contains(&"aws"));

    // The lead's context is the operator's referral: a partner updates it as a lead (what it
    // learnt of the customer goes into the sealed referral), never as another type.
    let e = client
        .update_engagement_context()
        .catalog("AWS")
        .engagement_identifier(&engagement)
        .context_identifier("1")
        .engagement_last_modified_at(*got.modified_at().unwrap())
        .r#type(EngagementContextType::CustomerProject)
        .payload(UpdateEngagementContextPayload::CustomerProject(project_context("Leadco", "Overwriting the operator's lead")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let lead_update = pcs::types::UpdateLeadContext::builder()
        .customer(pcs::types::LeadCustomer::builder().company_name("Leadco Holdings").build().unwrap())
        .interaction(
            pcs::types::LeadInteraction::builder()
                .contact(
                    pcs::types::LeadContact::builder()
                        .first_name("Zelda")
                        .last_name("Quartz")
                        .email("zq@leadco.example.com")
                        .business_title("CTO")
                        .build()
                        .unwrap(),
                )
                .business_problem("A data lake and a new order system")
                .build(),
        )
        .build();
    client
        .update_engagement_context()
        .catalog("AWS")
        .engagement_identifier(&engagement)
        .context_identifier("1")
        .engagement_last_modified_at(*got.modified_at().unwrap())
        .r#type(EngagementContextType::Lead)
        .payload(UpdateEngagementContextPayload::Lead(lead_update))
        .send()
        .await
        .unwrap();
    let got = client.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap();
    let lead = got.contexts()[0].payload().unwrap().as_lead().unwrap();
    assert_eq!(lead.customer().unwrap().company_name(), "Leadco Holdings");
    assert_eq!(lead.interactions()[0].contact().unwrap().email(), "zq@leadco.example.com");
    assert_eq!(got.title(), Some("Leadco Holdings"));

    let start = |token: &str| {
        client
            .start_opportunity_from_engagement_task()
            .catalog("AWS")
            .client_token(token)
            .identifier(&engagement)
            .context_identifier("1")
            .tags(pcs::types::Tag::builder().key("crm").value("lead-7").build().unwrap())
            .send()
    };
    let task = start("lead-to-opp").await.unwrap();
    assert_eq!(task.task_status(), Some(&pcs::types::TaskStatus::Complete));
    assert_eq!((task.engagement_id(), task.context_id()), (Some(engagement.as_str()), Some("1")));
    let opportunity = task.opportunity_id().unwrap().to_string();
    let again = start("lead-to-opp").await.unwrap();
    assert_eq!((again.task_id(), again.opportunity_id()), (task.task_id(), Some(opportunity.as_str())), "same token, same task");
    let e = start("another-token").await.unwrap_err();
    assert_eq!(code(&e), "ConflictException", "a lead becomes one opportunity");
    let got = client.get_opportunity().catalog("AWS").identifier(&opportunity).send().await.unwrap();
    assert_eq!(got.customer().unwrap().account().unwrap().company_name(), "Leadco Holdings", "the lead as updated");
    let tags = client.list_tags_for_resource().resource_arn(got.arn().unwrap()).send().await.unwrap();
    assert_eq!(tags.tags()[0].value(), "lead-7");
    let tasks =
        client.list_opportunity_from_engagement_tasks().catalog("AWS").engagement_identifier(&engagement).send().await.unwrap();
    assert_eq!(tasks.task_summaries().len(), 1);
    assert_eq!(tasks.task_summaries()[0].opportunity_id(), Some(opportunity.as_str()));
    let from_opportunity = client.list_engagement_from_opportunity_tasks().catalog("AWS").send().await.unwrap();
    assert!(from_opportunity.task_summaries().is_empty(), "the task kinds are listed apart");

    // The rest of the walkthrough: a solution, an update, the attestation, and the opportunity
    // shared back with the operator's side in an engagement that reads back.
    let solution =
        app.operator("POST", "/partners/P-A/solutions", json!({"name": "Factory", "category": "Consulting Service"})).await;
    client
        .associate_opportunity()
        .catalog("AWS")
        .opportunity_identifier(&opportunity)
        .related_entity_type(pcs::types::RelatedEntityType::Solutions)
        .related_entity_identifier(solution["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let current = client.get_opportunity().catalog("AWS").identifier(&opportunity).send().await.unwrap();
    client
        .update_opportunity()
        .catalog("AWS")
        .identifier(&opportunity)
        .last_modified_date(*current.last_modified_date())
        .customer(crate::opportunities::customer("Leadco Holdings"))
        .project(crate::opportunities::project())
        .life_cycle(crate::opportunities::lifecycle())
        .send()
        .await
        .unwrap();
    let (status, attested) = crate::review::attest(&app, &c, crate::review::attestation(&opportunity)).await;
    assert_eq!(status, 200, "{attested}");
    let shared = client
        .start_engagement_from_opportunity_task()
        .catalog("AWS")
        .client_token("share")
        .identifier(&opportunity)
        .aws_submission(
            pcs::types::AwsSubmission::builder().involvement_type(pcs::types::SalesInvolvementType::CoSell).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shared.task_status(), Some(&pcs::types::TaskStatus::Complete), "{shared:?}");
    let back = client.get_engagement().catalog("AWS").identifier(shared.engagement_id().unwrap()).send().await.unwrap();
    assert_eq!(back.member_count(), Some(2));
    let project = back.contexts()[0].payload().unwrap().as_customer_project().unwrap();
    assert_eq!(project.customer().unwrap().company_name(), "Leadco Holdings");
}

/// REF-3 and REM-2 through the engagement: a lead never contacted is revoked after its
/// deadline, and with it the partner's membership, the context and the opportunity; the raw
/// database files hold none of its customer data.
#[tokio::test]
async fn ref_3_rem_2_an_uncontacted_lead_is_revoked_with_its_engagement_context_and_opportunity() {
    let app = TestApp::start().await;
    let c = crate::referrals::eligible_partner(&app, "P-A").await;
    let client = app.client(&c);
    let email = "yara.vexley@vexleyshred.example.com";
    let invitation = refer_lead(&app, "P-A", "Vexleyshred", email).await;
    let engagement = client.get_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap();
    let engagement = engagement.engagement_id().unwrap().to_string();
    client.accept_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap();
    let task = client
        .start_opportunity_from_engagement_task()
        .catalog("AWS")
        .client_token("t")
        .identifier(&engagement)
        .context_identifier("1")
        .send()
        .await
        .unwrap();
    let opportunity = task.opportunity_id().unwrap().to_string();

    app.operator("POST", "/clock/advance", json!({"duration": "10d"})).await;
    let shown = app.operator("GET", &format!("/referrals/{invitation}"), json!(null)).await;
    assert_eq!(shown["Status"], json!("REVOKED"), "{shown}");
    let e = client.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "the partner left the engagement");
    assert!(client.list_engagements().catalog("AWS").send().await.unwrap().engagement_summary_list().is_empty());
    let e = client.get_opportunity().catalog("AWS").identifier(&opportunity).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let bytes = crate::referrals::raw_database_bytes(&app);
    for secret in [email, "Vexleyshred", "Zelda Quartz", "+14155550100"] {
        assert!(!crate::referrals::holds(&bytes, secret), "{secret} is still in the database files");
    }
}

fn opportunity_invitation(receiver: &str, problem: &str) -> pcs::types::Invitation {
    use pcs::types::{
        AccountReceiver, ExpectedCustomerSpend, Invitation, OpportunityInvitationPayload, Payload, PaymentFrequency,
        ProjectDetails, Receiver, ReceiverResponsibility,
    };
    let customer = EngagementCustomer::builder()
        .company_name("Example Corp")
        .country_code(CountryCode::Us)
        .industry(Industry::Retail)
        .website_url("https://example.com")
        .build()
        .unwrap();
    let project = ProjectDetails::builder()
        .title("Data lake")
        .business_problem(problem)
        .target_completion_date("2027-06-30")
        .expected_customer_spend(
            ExpectedCustomerSpend::builder()
                .amount("5000")
                .currency_code(pcs::types::CurrencyCode::Usd)
                .frequency(PaymentFrequency::Monthly)
                .target_company("Example Corp")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let payload = OpportunityInvitationPayload::builder()
        .customer(customer)
        .project(project)
        .receiver_responsibilities(ReceiverResponsibility::ServicesPartner)
        .build()
        .unwrap();
    Invitation::builder()
        .message("Join our retail co-sell")
        .receiver(Receiver::Account(AccountReceiver::builder().aws_account_id(receiver).alias("Partner B").build().unwrap()))
        .payload(Payload::OpportunityInvitation(payload))
        .build()
        .unwrap()
}

/// Partner-to-partner co-selling (issue 18): A invites B into its engagement; B accepts and is a
/// member; both list the members; C gets not found everywhere (USE-4); a rejected invitation
/// stays readable with its status; A removed from the program leaves it (REM-1).
#[tokio::test]
async fn use_4_rem_1_a_partner_invites_another_who_accepts_and_a_third_sees_nothing() {
    let app = TestApp::start().await;
    let (creds_a, creds_b) = (app.partner("P-A").await, app.partner("P-B").await);
    let (a, b) = (app.client(&creds_a), app.client(&creds_b));
    let c = app.client(&app.partner("P-C").await);
    let (account_a, account_b, account_c) =
        (app.account_id("P-A").await, app.account_id("P-B").await, app.account_id("P-C").await);
    let engagement = create(&a, "AWS", "co-sell").await;

    let invite = |receiver: &str, token: &str| {
        a.create_engagement_invitation()
            .catalog("AWS")
            .client_token(token)
            .engagement_identifier(&engagement)
            .invitation(opportunity_invitation(receiver, "Move the data warehouse to the cloud this year"))
            .send()
    };
    let sent = invite(&account_b, "to-b").await.unwrap();
    let invitation = sent.id().to_string();
    assert!(invitation.starts_with("engi-"), "{invitation}");
    assert_eq!(invite(&account_b, "to-b").await.unwrap().id(), invitation, "idempotent by ClientToken");
    let e = invite(&account_b, "to-b-again").await.unwrap_err();
    assert_eq!(code(&e), "ConflictException", "one pending invitation per receiver");
    for (receiver, why) in [(account_a.as_str(), "itself"), ("999999999999", "an unknown account")] {
        let e = invite(receiver, &format!("bad-{why}")).await.unwrap_err();
        assert_eq!(code(&e), "ValidationException", "{why}");
        assert!(format!("{e:?}").contains("Invitation.Receiver.Account.AwsAccountId"), "{why}: {e:?}");
    }

    let received = b
        .list_engagement_invitations()
        .catalog("AWS")
        .participant_type(pcs::types::ParticipantType::Receiver)
        .send()
        .await
        .unwrap();
    let summary = &received.engagement_invitation_summaries()[0];
    assert_eq!((summary.id(), summary.sender_aws_account_id()), (invitation.as_str(), Some(account_a.as_str())));
    assert_eq!(summary.status(), Some(&pcs::types::InvitationStatus::Pending));
    let sent_list = a
        .list_engagement_invitations()
        .catalog("AWS")
        .participant_type(pcs::types::ParticipantType::Sender)
        .send()
        .await
        .unwrap();
    assert_eq!(sent_list.engagement_invitation_summaries()[0].id(), invitation);
    assert_eq!(sent_list.engagement_invitation_summaries()[0].participant_type(), Some(&pcs::types::ParticipantType::Sender));
    let e = b.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "not a member before accepting");
    let e = a.accept_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException", "the sender does not answer its own invitation");

    b.accept_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap();
    let got = b.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap();
    assert_eq!(got.member_count(), Some(2));
    for client in [&a, &b] {
        let members = client.list_engagement_members().catalog("AWS").identifier(&engagement).send().await.unwrap();
        let mut accounts: Vec<_> = members.engagement_member_list().iter().filter_map(|m| m.account_id()).collect();
        accounts.sort();
        let mut expected = vec![account_a.as_str(), account_b.as_str()];
        expected.sort();
        assert_eq!(accounts, expected);
    }
    let e = invite(&account_b, "to-b-member").await.unwrap_err();
    assert_eq!(code(&e), "ValidationException", "already a member");

    // What Partner Central publishes, to each member's feed, in its shape (digest §3.6).
    let app_ref = &app;
    let feed = |creds| async move {
        let (status, v) = app_ref.ext(creds, "ListEvents", json!({"MaxResults": 100})).await;
        assert_eq!(status, 200, "{v}");
        v["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str::<serde_json::Value>(e["Event"].as_str().unwrap()).unwrap())
            .collect::<Vec<_>>()
    };
    let kinds =
        |events: &[serde_json::Value]| events.iter().map(|e| e["detail-type"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let of_a = feed(&creds_a).await;
    let of_b = feed(&creds_b).await;
    for expected in
        ["Engagement Created", "Engagement Invitation Created", "Engagement Invitation Accepted", "Engagement Member Added"]
    {
        assert!(kinds(&of_a).iter().any(|k| k == expected), "A's feed lacks {expected}: {:?}", kinds(&of_a));
    }
    for expected in ["Engagement Invitation Created", "Engagement Invitation Accepted", "Engagement Member Added"] {
        assert!(kinds(&of_b).iter().any(|k| k == expected), "B's feed lacks {expected}: {:?}", kinds(&of_b));
    }
    let created_for_b = of_b.iter().find(|e| e["detail-type"] == "Engagement Invitation Created").unwrap();
    assert_eq!(created_for_b["source"], json!("aws.partnercentral-selling"));
    assert_eq!(created_for_b["detail"]["engagementInvitation"]["participantType"], json!("Receiver"));
    assert_eq!(created_for_b["detail"]["engagementInvitation"]["senderAccountId"], json!(account_a));
    let added = of_a.iter().find(|e| e["detail-type"] == "Engagement Member Added").unwrap();
    assert_eq!(added["detail"]["engagementMember"]["accountId"], json!(account_b));
    let task = b
        .start_engagement_by_accepting_invitation_task()
        .catalog("AWS")
        .client_token("opp")
        .identifier(&invitation)
        .send()
        .await
        .unwrap();
    let opportunity = b.get_opportunity().catalog("AWS").identifier(task.opportunity_id().unwrap()).send().await.unwrap();
    assert_eq!(opportunity.customer().unwrap().account().unwrap().company_name(), "Example Corp");

    // C: nothing of it exists.
    let e = c.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c.get_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c.list_engagement_members().catalog("AWS").identifier(&engagement).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c
        .create_engagement_invitation()
        .catalog("AWS")
        .client_token("c")
        .engagement_identifier(&engagement)
        .invitation(opportunity_invitation(&account_c, "C invites itself into another's engagement"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");

    // A rejected invitation stays readable by both, with its status and reason.
    let to_c = invite(&account_c, "to-c").await.unwrap().id().to_string();
    c.reject_engagement_invitation().catalog("AWS").identifier(&to_c).rejection_reason("No capacity").send().await.unwrap();
    for client in [&a, &c] {
        let got = client.get_engagement_invitation().catalog("AWS").identifier(&to_c).send().await.unwrap();
        assert_eq!(got.status(), Some(&pcs::types::InvitationStatus::Rejected));
        assert_eq!(got.rejection_reason(), Some("No capacity"));
    }
    let e = c.get_engagement().catalog("AWS").identifier(&engagement).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "rejecting does not join");

    // REM-1: A leaves every engagement; B stays.
    app.operator("POST", "/partners/P-A/remove", json!({"scope": "all"})).await;
    let members = b.list_engagement_members().catalog("AWS").identifier(&engagement).send().await.unwrap();
    let accounts: Vec<_> = members.engagement_member_list().iter().filter_map(|m| m.account_id()).collect();
    assert_eq!(accounts, vec![account_b.as_str()]);
    // And cannot be invited while removed.
    let again = b
        .create_engagement_invitation()
        .catalog("AWS")
        .client_token("back")
        .engagement_identifier(&engagement)
        .invitation(opportunity_invitation(&account_a, "Inviting a removed partner back in"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "ValidationException");
}

fn context_in(company: &str, industry: Industry, country: CountryCode) -> EngagementContextDetails {
    let mut project = project_context(company, "A data platform for the customer's stores");
    let customer = EngagementCustomer::builder()
        .company_name(company)
        .country_code(country)
        .industry(industry)
        .website_url("https://example.com")
        .build()
        .unwrap();
    project = CustomerProjectsContext::builder().customer(customer).set_project(project.project().cloned()).build();
    EngagementContextDetails::builder()
        .r#type(EngagementContextType::CustomerProject)
        .payload(EngagementContextPayload::CustomerProject(project))
        .build()
        .unwrap()
}

/// SearchEngagements and ListEngagementGroups (issue 18): the filter tree, the keyword, the
/// operator's groups by industry and country; only the caller's engagements (USE-4). The
/// operator's group writes are one transaction with their audit entry: a refused one writes
/// nothing. The SDK this registry offers (1.84) predates these two operations, so they are
/// called as signed awsJson requests, the wire format the model defines.
#[tokio::test]
async fn use_4_search_engagements_and_engagement_groups() {
    let app = TestApp::start().await;
    let creds = app.partner("P-A").await;
    let a = app.client(&creds);
    let c = app.client(&app.partner("P-C").await);
    let mut ids = Vec::new();
    for (title, company, industry, country) in [
        ("Retail lake", "Shopco", Industry::Retail, CountryCode::Us),
        ("Bank core", "Bankco", Industry::FinancialServices, CountryCode::De),
        ("Retail edge", "Storeco", Industry::Retail, CountryCode::De),
    ] {
        let created = a
            .create_engagement()
            .catalog("AWS")
            .client_token(title)
            .title(title)
            .description("co-sell")
            .contexts(context_in(company, industry, country))
            .send()
            .await
            .unwrap();
        ids.push(created.id().unwrap().to_string());
        app.state.clock.advance(chrono::TimeDelta::seconds(1)).unwrap();
    }
    create(&c, "AWS", "Retail of another partner").await;

    let search = |body: serde_json::Value| {
        let mut body = body;
        body["Catalog"] = json!("AWS");
        app.call(&creds, "SearchEngagements", body)
    };
    let found = |out: &serde_json::Value| -> Vec<String> {
        out["EngagementSearchSummaries"].as_array().unwrap().iter().map(|s| s["Id"].as_str().unwrap().to_string()).collect()
    };
    let title_has = |word: &str| json!({"ContainsAny": {"Key": "Title", "Value": {"StringValue": word}}});
    let (status, retail) =
        search(json!({"Filter": title_has("retail"), "Sort": {"SortBy": "CreatedAt", "SortOrder": "DESCENDING"}})).await;
    assert_eq!(status, 200, "{retail}");
    assert_eq!(found(&retail), vec![ids[2].clone(), ids[0].clone()], "newest first, never another partner's");
    let (_, not_retail) = search(json!({"Filter": {"NotFilter": title_has("retail")}})).await;
    assert_eq!(found(&not_retail), vec![ids[1].clone()]);
    let (_, either) = search(json!({"Filter": {"OrAllFilters": [title_has("bank"), title_has("edge")]},
                                    "Sort": {"SortBy": "Title", "SortOrder": "ASCENDING"}}))
    .await;
    assert_eq!(found(&either), vec![ids[1].clone(), ids[2].clone()]);
    let (_, keyword) = search(json!({"Keyword": "storeco"})).await;
    assert_eq!(found(&keyword), vec![ids[2].clone()], "the keyword reads the contexts' words");
    assert_eq!(keyword["EngagementSearchSummaries"][0]["Contexts"].as_array().unwrap().len(), 1, "summaries carry the contexts");
    let (_, paged) = search(json!({"MaxResults": 2})).await;
    assert_eq!(found(&paged).len(), 2);
    let (_, rest) = search(json!({"MaxResults": 2, "NextToken": paged["NextToken"]})).await;
    assert_eq!(found(&rest), vec![ids[2].clone()]);
    let (status, refused) =
        search(json!({"Filter": {"EqualsTo": {"Key": "MemberCount", "Value": {"StringValue": "two"}}}})).await;
    assert_eq!((status, refused["__type"].as_str()), (400, Some("ValidationException")), "{refused}");
    assert!(refused.to_string().contains("Filter.EqualsTo.Value"), "{refused}");

    // The operator's groups.
    let audits = || async {
        app.operator("GET", "/audit/log?action=operator.action", json!(null)).await["entries"].as_array().unwrap().len()
    };
    let before = audits().await;
    let (status, _) = app
        .operator_raw("POST", "/engagement-groups", json!({"id": "eng-grp-bad", "name": "Retail", "industries": ["Retail"]}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .operator_raw(
            "POST",
            "/engagement-groups",
            json!({"id": "eng-grp-retail00000001", "name": "Retail", "industries": ["Shoes"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(audits().await, before, "a refused write writes nothing, audit included");
    app.operator(
        "POST",
        "/engagement-groups",
        json!({"id": "eng-grp-retail00000001", "name": "Retail", "industries": ["Retail"]}),
    )
    .await;
    app.state.clock.advance(chrono::TimeDelta::seconds(1)).unwrap();
    app.operator("POST", "/engagement-groups", json!({"id": "eng-grp-germany0000001", "name": "Germany", "countries": ["DE"]}))
        .await;
    assert_eq!(audits().await, before + 2, "each write has its audit entry");
    let (status, groups) = app.call(&creds, "ListEngagementGroups", json!({"Catalog": "AWS"})).await;
    assert_eq!(status, 200, "{groups}");
    let counts: Vec<(String, i64)> = groups["EngagementGroupSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["Id"].as_str().unwrap().to_string(), g["Count"].as_i64().unwrap()))
        .collect();
    assert_eq!(counts, [("eng-grp-retail00000001".to_string(), 2), ("eng-grp-germany0000001".to_string(), 2)]);
    let (_, by_update) = app
        .call(
            &creds,
            "ListEngagementGroups",
            json!({"Catalog": "AWS", "Sort": {"SortBy": "UpdatedAt", "SortOrder": "DESCENDING"}}),
        )
        .await;
    assert_eq!(by_update["EngagementGroupSummaries"][0]["Id"], json!("eng-grp-germany0000001"));
    let (_, in_germany) = search(json!({"GroupId": "eng-grp-germany0000001"})).await;
    let mut germany = found(&in_germany);
    germany.sort();
    let mut expected = vec![ids[1].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(germany, expected);
    let (status, missing) = search(json!({"GroupId": "eng-grp-nothing0000000"})).await;
    assert_eq!((status, missing["__type"].as_str()), (400, Some("ResourceNotFoundException")));

    let listed = app.operator("GET", "/engagements?partner=P-A", json!(null)).await;
    assert_eq!(listed["engagements"].as_array().unwrap().len(), 3);
    let shown = app.operator("GET", &format!("/engagements/{}", ids[0]), json!(null)).await;
    assert_eq!(shown["members"][0]["CompanyName"], json!("P-A Ltd"));
    assert_eq!(shown["contexts"][0]["kind"], json!("CustomerProject"));
    app.operator("DELETE", "/engagement-groups/eng-grp-germany0000001", json!(null)).await;
    let (status, _) = app.operator_raw("DELETE", "/engagement-groups/eng-grp-germany0000001", json!(null)).await;
    assert_eq!(status, 404);
}

/// The prospecting tasks (issue 18): each of the caller's engagements named gets a
/// `ProspectingResult` context naming its customer; another partner's engagement fails the
/// same way an unknown one does (USE-4); the task reads back, lists with counts, and a repeated
/// ClientToken answers the same task.
#[tokio::test]
async fn use_4_prospecting_from_engagements() {
    let app = TestApp::start().await;
    let a = app.client(&app.partner("P-A").await);
    let c = app.client(&app.partner("P-C").await);
    let mine = create(&a, "AWS", "prospect me").await;
    let bare =
        a.create_engagement().catalog("AWS").client_token("bare").title("bare").send().await.unwrap().id().unwrap().to_string();
    let theirs = create(&c, "AWS", "not yours").await;

    let start = |token: &str| {
        a.start_prospecting_from_engagement_task()
            .catalog("AWS")
            .client_token(token)
            .task_name("Q3 prospects")
            .identifiers(&mine)
            .identifiers(&bare)
            .identifiers(&theirs)
            .identifiers("eng-zzzzzzzzzzzzzz")
            .send()
    };
    let task = start("p1").await.unwrap();
    let task_id = task.task_id().unwrap().to_string();
    assert!(task_id.starts_with("task-") && task_id.len() == 19, "{task_id}");
    assert_eq!(task.task_status(), &pcs::types::ProspectingTaskStatus::Completed);
    assert_eq!(start("p1").await.unwrap().task_id(), Some(task_id.as_str()), "same ClientToken, same task");

    let got = a.get_prospecting_from_engagement_task().catalog("AWS").task_identifier(&task_id).send().await.unwrap();
    let outcome: Vec<(String, String, Option<String>)> = got
        .engagements()
        .iter()
        .map(|e| (e.engagement_identifier().to_string(), e.status().as_str().to_string(), e.reason_code().map(str::to_string)))
        .collect();
    assert_eq!(outcome[0], (mine.clone(), "COMPLETED".to_string(), None));
    assert_eq!(outcome[1].2.as_deref(), Some("EngagementHasNoCustomer"));
    assert_eq!(outcome[2].2, outcome[3].2, "another partner's engagement fails as an unknown one does");
    assert_eq!(outcome[2].2.as_deref(), Some("EngagementNotFound"));

    let engagement = a.get_engagement().catalog("AWS").identifier(&mine).send().await.unwrap();
    let prospect = engagement.contexts()[1].payload().unwrap().as_prospecting_result().unwrap();
    let aws = prospect.aws().unwrap();
    assert_eq!(aws.customer().unwrap().account_name(), Some("Example Corp"));
    assert_eq!(aws.task_id(), Some(task_id.as_str()));
    let untouched = c.get_engagement().catalog("AWS").identifier(&theirs).send().await.unwrap();
    assert_eq!(untouched.contexts().len(), 1, "nothing was added to another partner's engagement");

    let listed = a.list_prospecting_from_engagement_tasks().catalog("AWS").send().await.unwrap();
    let summary = &listed.task_summaries()[0];
    assert_eq!(
        (summary.total_engagement_count(), summary.completed_engagement_count(), summary.failed_engagement_count()),
        (4, 1, 3)
    );
    assert!(c.list_prospecting_from_engagement_tasks().catalog("AWS").send().await.unwrap().task_summaries().is_empty());
    let e = c.get_prospecting_from_engagement_task().catalog("AWS").task_identifier(&task_id).send().await.unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
}

/// The Sandbox plays the operator's side of engagements (issue 18): a `CreateEngagement` with
/// a `Lead` context arrives as a lead referral from `aws` that the caller accepts and turns into
/// an opportunity; an invitation to `aws` is accepted by it at once. Neither happens in `AWS`.
#[tokio::test]
async fn the_sandbox_simulates_lead_engagements_and_accepts_invitations_to_aws() {
    let app = TestApp::start().await;
    let creds = app.partner("P-A").await;
    let client = app.client(&creds);
    let lead = json!({"Lead": {
        "Customer": {"CompanyName": "Simulated Leadco", "WebsiteUrl": "https://leadco.example.com", "Address": {"CountryCode": "US"}},
        "Interactions": [{"Contact": {"FirstName": "Sam", "LastName": "Lead", "Email": "sam@leadco.example.com", "BusinessTitle": "CIO"},
                          "BusinessProblem": "Wants to modernise its order system."}]}});
    let (status, created) = app
        .call(
            &creds,
            "CreateEngagement",
            json!({"Catalog": "Sandbox", "ClientToken": "sim", "Contexts": [{"Type": "Lead", "Payload": lead}]}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let engagement = created["Id"].as_str().unwrap().to_string();
    let invitations = client
        .list_engagement_invitations()
        .catalog("Sandbox")
        .participant_type(pcs::types::ParticipantType::Receiver)
        .send()
        .await
        .unwrap();
    let invitation = &invitations.engagement_invitation_summaries()[0];
    assert_eq!((invitation.engagement_id(), invitation.sender_aws_account_id()), (Some(engagement.as_str()), Some("aws")));
    client.accept_engagement_invitation().catalog("Sandbox").identifier(invitation.id()).send().await.unwrap();
    let got = client.get_engagement().catalog("Sandbox").identifier(&engagement).send().await.unwrap();
    let contact =
        got.contexts()[0].payload().unwrap().as_lead().unwrap().interactions()[0].contact().unwrap().email().to_string();
    assert_eq!(contact, "sam@leadco.example.com");
    let (status, refused) = app
        .call(
            &creds,
            "CreateEngagement",
            json!({"Catalog": "AWS", "ClientToken": "sim", "Contexts": [{"Type": "Lead", "Payload": lead}]}),
        )
        .await;
    assert_eq!((status, refused["__type"].as_str()), (400, Some("ValidationException")), "the AWS catalog simulates nothing");

    let mine = create(&client, "Sandbox", "to aws").await;
    let to_aws = client
        .create_engagement_invitation()
        .catalog("Sandbox")
        .client_token("aws")
        .engagement_identifier(&mine)
        .invitation(opportunity_invitation("aws", "Sharing the project with the AWS team"))
        .send()
        .await
        .unwrap();
    let got = client.get_engagement_invitation().catalog("Sandbox").identifier(to_aws.id()).send().await.unwrap();
    assert_eq!(got.status(), Some(&pcs::types::InvitationStatus::Accepted));
    let members = client.list_engagement_members().catalog("Sandbox").identifier(&mine).send().await.unwrap();
    assert!(members.engagement_member_list().iter().any(|m| m.account_id() == Some("aws")));
    let mine_aws = create(&client, "AWS", "to aws in AWS").await;
    let e = client
        .create_engagement_invitation()
        .catalog("AWS")
        .client_token("aws-real")
        .engagement_identifier(&mine_aws)
        .invitation(opportunity_invitation("aws", "Sharing the project with the AWS team"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "in AWS, the operator's side joins through StartEngagementFromOpportunityTask");
}

/// USE-5 with Partner Central's per-operation quotas: `CreateEngagement` has 15 per second of
/// its own (not the write class's 1), `StartProspectingFromEngagementTask` 2; a partner the
/// operator made unlimited stays unlimited.
#[tokio::test]
async fn use_5_engagement_operations_carry_their_documented_rates() {
    let app = TestApp::start().await;
    let a = app.client(&app.partner("P-A").await);
    app.operator("PUT", "/quotas", json!({"partner": "P-A", "writes_per_second": 1, "reads_per_second": 10})).await;
    // Real time passes while the calls run (the bucket refills continuously): what is admitted
    // is bounded by 15 plus 15 a second of the burst's own duration, never by the class's 1.
    let burst = |prefix: &'static str, calls: usize| {
        let a = &a;
        async move {
            let started = std::time::Instant::now();
            let (mut admitted, mut refusal) = (0usize, None);
            for n in 0..calls {
                match a.create_engagement().catalog("AWS").client_token(format!("{prefix}-{n}")).title("burst").send().await {
                    Ok(_) => admitted += 1,
                    Err(e) => refusal = Some(format!("{:?}", e.into_service_error())),
                }
            }
            (admitted, refusal, started.elapsed().as_secs_f64())
        }
    };
    let (admitted, refusal, seconds) = burst("burst", 30).await;
    assert!(admitted >= 15, "CreateEngagement has 15 a second of its own, not the write class's 1: {admitted}");
    assert!((admitted as f64) <= 15.0 + 15.0 * seconds + 1.0, "{admitted} admitted in {seconds:.2} s");
    if seconds < 0.9 {
        let refusal = refusal.expect("30 calls in under a second exceed 15 a second");
        assert!(refusal.contains("ThrottlingException") && refusal.contains("15 CreateEngagement"), "{refusal}");
    }
    // The write class still has its own budget: one opportunity this second.
    crate::opportunities::create(&a, "AWS", "Still allowed").await;
    let e = a.create_opportunity().catalog("AWS").customer(crate::opportunities::customer("Throttled")).send().await.unwrap_err();
    assert_eq!(code(&e), "ThrottlingException");
    let prospect = |token: String| {
        a.start_prospecting_from_engagement_task()
            .catalog("AWS")
            .client_token(token)
            .task_name("p")
            .set_identifiers(Some(vec![]))
            .send()
    };
    let started = std::time::Instant::now();
    let mut admitted = 0usize;
    for n in 0..6 {
        admitted += usize::from(prospect(format!("p{n}")).await.is_ok());
    }
    let seconds = started.elapsed().as_secs_f64();
    assert!(admitted >= 2 && (admitted as f64) <= 2.0 + 2.0 * seconds + 1.0, "{admitted} prospecting tasks in {seconds:.2} s");
    if seconds < 0.4 {
        assert!(admitted < 6, "StartProspectingFromEngagementTask has 2 a second");
    }
    app.operator("PUT", "/quotas", json!({"partner": "P-A", "writes_per_second": "unlimited", "reads_per_second": "unlimited"}))
        .await;
    app.state.quotas.invalidate();
    for n in 0..20 {
        a.create_engagement().catalog("AWS").client_token(format!("free-{n}")).title("free").send().await.unwrap();
    }
}

/// Every page of an operation, one item a page, as raw awsJson (the wire the model defines).
async fn every_page(
    app: &TestApp,
    creds: &crate::support::Credentials,
    operation: &str,
    mut body: serde_json::Value,
    key: &str,
) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    body["MaxResults"] = json!(1);
    loop {
        let (status, page) = app.call(creds, operation, body.clone()).await;
        assert_eq!(status, 200, "{operation}: {page}");
        items.extend(page[key].as_array().unwrap().iter().cloned());
        match page["NextToken"].as_str() {
            Some(token) => body["NextToken"] = json!(token),
            None => return items,
        }
    }
}

/// Issue 18's pagination line: every List and Search operation of engagements pages through
/// all its items with every sort the model offers, in both orders.
#[tokio::test]
async fn every_engagement_list_pages_through_every_sort() {
    let app = TestApp::start().await;
    let creds = app.partner("P-A").await;
    let partners = [app.partner("P-B").await, app.partner("P-C").await];
    let accounts = [app.account_id("P-B").await, app.account_id("P-C").await];
    let tick = || app.state.clock.advance(chrono::TimeDelta::seconds(1)).unwrap();
    let mut ids = Vec::new();
    for (n, title) in ["Charlie", "alpha", "Bravo"].iter().enumerate() {
        let contexts = if n == 1 {
            json!([])
        } else {
            json!([{"Type": "CustomerProject", "Payload": {"CustomerProject": {
            "Customer": {"CompanyName": "Sortco", "CountryCode": "US", "Industry": "Retail", "WebsiteUrl": "https://sortco.example.com"}}}}])
        };
        let (_, created) = app
            .call(
                &creds,
                "CreateEngagement",
                json!({"Catalog": "AWS", "ClientToken": title, "Title": title, "Contexts": contexts}),
            )
            .await;
        ids.push(created["Id"].as_str().unwrap().to_string());
        tick();
    }
    // Members: 1 + n on the n-th engagement (the others accept invitations); invitations sent.
    for (n, engagement) in ids.iter().enumerate() {
        for (receiver, other) in partners.iter().zip(&accounts).take(n) {
            let (status, invited) = app
                .call(&creds, "CreateEngagementInvitation", json!({"Catalog": "AWS", "ClientToken": format!("{engagement}-{other}"),
                    "EngagementIdentifier": engagement, "Invitation": {"Message": "Join", "Receiver": {"Account": {"AwsAccountId": other}},
                        "Payload": {"LeadInvitation": {"Customer": {"CompanyName": "Sortco"}, "Interaction": {"ContactBusinessTitle": "CTO"}}}}}))
                .await;
            assert_eq!(status, 200, "{invited}");
            let (status, _) =
                app.call(receiver, "AcceptEngagementInvitation", json!({"Catalog": "AWS", "Identifier": invited["Id"]})).await;
            assert_eq!(status, 200);
            tick();
        }
    }
    // Touch the oldest last: LastModifiedAt orders differently from CreatedAt.
    let (_, got) = app.call(&creds, "GetEngagement", json!({"Catalog": "AWS", "Identifier": ids[0]})).await;
    let (status, _) = app
        .call(
            &creds,
            "CreateEngagementContext",
            json!({"Catalog": "AWS", "ClientToken": "touch", "EngagementIdentifier": ids[0],
            "Type": "CustomerProject", "Payload": {"CustomerProject": {"Customer": {"CompanyName": "Sortco", "CountryCode": "US",
                "Industry": "Retail", "WebsiteUrl": "https://sortco.example.com"}}}}),
        )
        .await;
    assert_eq!(status, 200, "{got}");

    let ordered = |values: Vec<String>, descending: bool, what: &str| {
        let mut expected = values.clone();
        expected.sort();
        if descending {
            expected.reverse();
        }
        assert_eq!(values, expected, "{what}");
    };
    for order in ["ASCENDING", "DESCENDING"] {
        let descending = order == "DESCENDING";
        let listed = every_page(
            &app,
            &creds,
            "ListEngagements",
            json!({"Catalog": "AWS", "Sort": {"SortBy": "CreatedDate", "SortOrder": order}}),
            "EngagementSummaryList",
        )
        .await;
        assert_eq!(listed.len(), 3);
        ordered(listed.iter().map(|e| e["CreatedAt"].as_str().unwrap().to_string()).collect(), descending, "ListEngagements");
        for by in ["EngagementId", "Title", "CreatedAt", "LastModifiedAt", "MemberCount", "PartnerId"] {
            let found = every_page(
                &app,
                &creds,
                "SearchEngagements",
                json!({"Catalog": "AWS", "Sort": {"SortBy": by, "SortOrder": order}}),
                "EngagementSearchSummaries",
            )
            .await;
            assert_eq!(found.len(), 3, "{by}");
            let key = |e: &serde_json::Value| match by {
                "EngagementId" => e["Id"].as_str().unwrap().to_string(),
                "Title" => e["Title"].as_str().unwrap().to_lowercase(),
                "CreatedAt" => e["CreatedAt"].as_str().unwrap().to_string(),
                "LastModifiedAt" => e["ModifiedAt"].as_str().unwrap().to_string(),
                "MemberCount" => e["MemberCount"].to_string(),
                _ => e["CreatedBy"].as_str().unwrap().to_string(),
            };
            if by != "PartnerId" {
                ordered(found.iter().map(key).collect(), descending, by);
            }
        }
        let invitations = every_page(
            &app,
            &creds,
            "ListEngagementInvitations",
            json!({"Catalog": "AWS", "ParticipantType": "SENDER", "Sort": {"SortBy": "InvitationDate", "SortOrder": order}}),
            "EngagementInvitationSummaries",
        )
        .await;
        assert_eq!(invitations.len(), 3);
        ordered(
            invitations.iter().map(|i| i["InvitationDate"].as_str().unwrap().to_string()).collect(),
            descending,
            "invitations",
        );
    }
    let members = every_page(
        &app,
        &creds,
        "ListEngagementMembers",
        json!({"Catalog": "AWS", "Identifier": ids[2]}),
        "EngagementMemberList",
    )
    .await;
    assert_eq!(members.len(), 3, "every member, a page each");

    // Tasks: two opportunities from contexts, prospecting tasks with different failure counts.
    for (n, engagement) in [&ids[0], &ids[2]].iter().enumerate() {
        let (status, v) = app
            .call(
                &creds,
                "StartOpportunityFromEngagementTask",
                json!({"Catalog": "AWS", "ClientToken": format!("opp-{n}"), "Identifier": engagement, "ContextIdentifier": "1"}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        tick();
    }
    for (name, targets) in [
        ("b-two-failed", json!([ids[1], "eng-zzzzzzzzzzzzzz"])),
        ("a-none-failed", json!([ids[0]])),
        ("c-one-failed", json!([ids[1]])),
    ] {
        let (status, v) = app
            .call(
                &creds,
                "StartProspectingFromEngagementTask",
                json!({"Catalog": "AWS", "ClientToken": name, "TaskName": name, "Identifiers": targets}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        tick();
    }
    for order in ["ASCENDING", "DESCENDING"] {
        let descending = order == "DESCENDING";
        let tasks = every_page(
            &app,
            &creds,
            "ListOpportunityFromEngagementTasks",
            json!({"Catalog": "AWS", "Sort": {"SortBy": "StartTime", "SortOrder": order}}),
            "TaskSummaries",
        )
        .await;
        assert_eq!(tasks.len(), 2);
        ordered(tasks.iter().map(|t| t["StartTime"].as_str().unwrap().to_string()).collect(), descending, "opportunity tasks");
        for by in ["StartTime", "TaskName", "FailedEngagementCount"] {
            let tasks = every_page(
                &app,
                &creds,
                "ListProspectingFromEngagementTasks",
                json!({"Catalog": "AWS", "Sort": {"SortBy": by, "SortOrder": order}}),
                "TaskSummaries",
            )
            .await;
            assert_eq!(tasks.len(), 3, "{by}");
            let key = |t: &serde_json::Value| match by {
                "StartTime" => t["StartTime"].as_str().unwrap().to_string(),
                "TaskName" => t["TaskName"].as_str().unwrap().to_string(),
                _ => t["FailedEngagementCount"].to_string(),
            };
            ordered(tasks.iter().map(key).collect(), descending, by);
        }
    }
    app.operator("POST", "/engagement-groups", json!({"id": "eng-grp-everything0001", "name": "All"})).await;
    tick();
    app.operator("POST", "/engagement-groups", json!({"id": "eng-grp-nothing0000001", "name": "None", "countries": ["DE"]}))
        .await;
    for order in ["ASCENDING", "DESCENDING"] {
        let descending = order == "DESCENDING";
        for by in ["Count", "UpdatedAt"] {
            let groups = every_page(
                &app,
                &creds,
                "ListEngagementGroups",
                json!({"Catalog": "AWS", "Sort": {"SortBy": by, "SortOrder": order}}),
                "EngagementGroupSummaries",
            )
            .await;
            assert_eq!(groups.len(), 2, "{by}");
            let key = |g: &serde_json::Value| {
                if by == "Count" {
                    g["Count"].to_string()
                } else {
                    g["UpdatedAt"].as_str().unwrap().to_string()
                }
            };
            ordered(groups.iter().map(key).collect(), descending, by);
        }
    }
}

/// REF-1 in SearchEngagements: a read of a lead's contact is audited when a page shows it, and
/// only then.
#[tokio::test]
async fn ref_1_search_audits_the_contact_reads_of_the_page_it_answers() {
    let app = TestApp::start().await;
    let c = crate::referrals::eligible_partner(&app, "P-A").await;
    let client = app.client(&c);
    let invitation = refer_lead(&app, "P-A", "Pagedlead", "p@pagedlead.example.com").await;
    client.accept_engagement_invitation().catalog("AWS").identifier(&invitation).send().await.unwrap();
    app.state.clock.advance(chrono::TimeDelta::seconds(1)).unwrap();
    create(&client, "AWS", "newer and contact-free").await;
    let reads = || async {
        let log =
            app.operator("GET", &format!("/audit/log?referral={invitation}&action=referral.contact-read"), json!(null)).await;
        log["entries"].as_array().unwrap().len()
    };
    let before = reads().await;
    let search = json!({"Catalog": "AWS", "MaxResults": 1, "Sort": {"SortBy": "CreatedAt", "SortOrder": "DESCENDING"}});
    let (status, first) = app.call(&c, "SearchEngagements", search.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert!(!first.to_string().contains("p@pagedlead"), "the first page is the newer engagement");
    assert_eq!(reads().await, before, "a page without the lead's contact audits nothing");
    let mut next = search;
    next["NextToken"] = first["NextToken"].clone();
    let (_, second) = app.call(&c, "SearchEngagements", next).await;
    assert!(second.to_string().contains("p@pagedlead"), "{second}");
    assert_eq!(reads().await, before + 1, "the page that shows it audits its read");
}

/// An invitation between partners left unanswered expires with its date: the sweep records it
/// EXPIRED (still readable by both), publishes `Engagement Invitation Expired` to both, and it
/// can no longer be accepted.
#[tokio::test]
async fn an_unanswered_invitation_between_partners_expires_with_its_event() {
    let app = TestApp::start().await;
    let (creds_a, creds_b) = (app.partner("P-A").await, app.partner("P-B").await);
    let (a, b) = (app.client(&creds_a), app.client(&creds_b));
    let engagement = create(&a, "AWS", "expiring").await;
    let invited = a
        .create_engagement_invitation()
        .catalog("AWS")
        .client_token("late")
        .engagement_identifier(&engagement)
        .invitation(opportunity_invitation(&app.account_id("P-B").await, "Move the data warehouse to the cloud this year"))
        .send()
        .await
        .unwrap();
    let advanced = app.operator("POST", "/clock/advance", json!({"duration": "16d"})).await;
    assert!(advanced["jobs_run"].to_string().contains(&format!("expired invitation {}", invited.id())), "{advanced}");
    for client in [&a, &b] {
        let got = client.get_engagement_invitation().catalog("AWS").identifier(invited.id()).send().await.unwrap();
        assert_eq!(got.status(), Some(&pcs::types::InvitationStatus::Expired));
    }
    let e = b.accept_engagement_invitation().catalog("AWS").identifier(invited.id()).send().await.unwrap_err();
    assert_eq!(code(&e), "ConflictException");
    for creds in [&creds_a, &creds_b] {
        let (_, feed) = app.ext(creds, "ListEvents", json!({"MaxResults": 100})).await;
        let expired = feed["Events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["Event"].as_str().unwrap().contains("\"detail-type\":\"Engagement Invitation Expired\""))
            .count();
        assert_eq!(expired, 1, "{feed}");
    }
    let again = app.operator("POST", "/clock/advance", json!({"duration": "1d"})).await;
    assert!(!again["jobs_run"].to_string().contains("expired invitation"), "expired once: {again}");
}
