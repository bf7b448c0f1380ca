//! Resource snapshots and snapshot jobs through the official SDK (issue 19): an opportunity is
//! shared into an engagement as immutable revisions, kept current by a job; only the members a
//! snapshot targets read it (USE-4).

use aws_sdk_partnercentralselling as pcs;
use pcs::types::{AwsSubmission, LifeCycle, ResourceSnapshotJobStatus, ResourceType, SalesInvolvementType, Stage};
use serde_json::json;

use crate::opportunities::{create, customer};
use crate::support::{code, TestApp};

const SUMMARY: &str = "OpportunitySummaryView";

async fn update(client: &pcs::Client, catalog: &str, id: &str, stage: Stage, next_steps: &str) {
    let got = client.get_opportunity().catalog(catalog).identifier(id).send().await.unwrap();
    client
        .update_opportunity()
        .catalog(catalog)
        .identifier(id)
        .last_modified_date(*got.last_modified_date())
        .customer(customer("Example Corp"))
        .set_project(got.project().cloned())
        .life_cycle(LifeCycle::builder().stage(stage).target_close_date("2099-03-01").next_steps(next_steps).build())
        .send()
        .await
        .unwrap();
}

/// StartEngagementFromOpportunityTask in the Sandbox: the opportunity shared with the
/// operator's side by a running job.
async fn share(
    client: &pcs::Client,
    id: &str,
) -> pcs::operation::start_engagement_from_opportunity_task::StartEngagementFromOpportunityTaskOutput {
    client
        .start_engagement_from_opportunity_task()
        .catalog("Sandbox")
        .client_token("share")
        .identifier(id)
        .aws_submission(AwsSubmission::builder().involvement_type(SalesInvolvementType::CoSell).build().unwrap())
        .send()
        .await
        .unwrap()
}

async fn revisions(client: &pcs::Client, catalog: &str, engagement: &str) -> Vec<i32> {
    let listed = client.list_resource_snapshots().catalog(catalog).engagement_identifier(engagement).send().await.unwrap();
    listed.resource_snapshot_summaries().iter().filter_map(|s| s.revision()).collect()
}

async fn next_steps_of(client: &pcs::Client, catalog: &str, engagement: &str, id: &str, revision: i32) -> String {
    let s = client
        .get_resource_snapshot()
        .catalog(catalog)
        .engagement_identifier(engagement)
        .resource_type(ResourceType::Opportunity)
        .resource_identifier(id)
        .resource_snapshot_template_identifier(SUMMARY)
        .revision(revision)
        .send()
        .await
        .unwrap();
    let summary = s.payload().unwrap().as_opportunity_summary().unwrap();
    summary.lifecycle().unwrap().next_steps().unwrap_or_default().to_string()
}

/// Issue 19's end-to-end line: StartEngagementFromOpportunityTask → a running job → the review
/// and two updates make revisions 2, 3 and 4 → a change the template cannot see makes none →
/// stopped, none; started again, the missed change once.
#[tokio::test]
async fn a_running_job_takes_one_revision_per_visible_change_and_none_once_stopped() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let client = app.client(&alice);
    let account = app.account_id("P-A").await;
    let id = create(&client, "Sandbox", "Example Corp").await.id().to_string();
    let task = share(&client, &id).await;
    let engagement = task.engagement_id().unwrap().to_string();
    let job_id = task.resource_snapshot_job_id().unwrap().to_string();
    let job =
        client.get_resource_snapshot_job().catalog("Sandbox").resource_snapshot_job_identifier(&job_id).send().await.unwrap();
    assert_eq!(job.status(), Some(&ResourceSnapshotJobStatus::Running));
    assert_eq!(job.engagement_id(), Some(engagement.as_str()));
    assert_eq!(job.resource_id(), Some(id.as_str()));
    assert_eq!(job.resource_snapshot_template_name(), Some(SUMMARY));
    assert_eq!(
        job.resource_arn().unwrap(),
        format!("arn:aws:partnercentral:us-east-1:{account}:catalog/Sandbox/opportunity/{id}")
    );
    assert!(job.last_successful_execution_date().is_some());
    assert_eq!(revisions(&client, "Sandbox", &engagement).await, vec![1]);
    // The operator's review is a change the template sees (Lifecycle.ReviewStatus): revision 2,
    // taken in the review's own transaction. A submitted opportunity is not the partner's to
    // edit until it is reviewed.
    app.operator("POST", &format!("/review/{id}/approve"), json!({"comment": "Validated"})).await;
    assert_eq!(revisions(&client, "Sandbox", &engagement).await, vec![1, 2]);

    update(&client, "Sandbox", &id, Stage::Qualified, "Workshop on Monday").await;
    update(&client, "Sandbox", &id, Stage::TechnicalValidation, "Proof of concept").await;
    assert_eq!(revisions(&client, "Sandbox", &engagement).await, vec![1, 2, 3, 4]);
    assert_eq!(next_steps_of(&client, "Sandbox", &engagement, &id, 3).await, "Workshop on Monday");
    assert_eq!(next_steps_of(&client, "Sandbox", &engagement, &id, 4).await, "Proof of concept");
    // The latest revision when none is named; the snapshot names its audience.
    let latest = client
        .get_resource_snapshot()
        .catalog("Sandbox")
        .engagement_identifier(&engagement)
        .resource_type(ResourceType::Opportunity)
        .resource_identifier(&id)
        .resource_snapshot_template_identifier(SUMMARY)
        .send()
        .await
        .unwrap();
    assert_eq!(latest.revision(), Some(4));
    assert_eq!(latest.created_by(), Some(account.as_str()));
    assert_eq!(latest.target_member_accounts(), [account.clone(), "aws".to_string()]);

    // Tags are not in the template: a tag change is no new revision.
    client
        .tag_resource()
        .resource_arn(format!("arn:aws:partnercentral:us-east-1:{account}:catalog/Sandbox/opportunity/{id}"))
        .tags(pcs::types::Tag::builder().key("team").value("east").build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revisions(&client, "Sandbox", &engagement).await, vec![1, 2, 3, 4]);

    client.stop_resource_snapshot_job().catalog("Sandbox").resource_snapshot_job_identifier(&job_id).send().await.unwrap();
    update(&client, "Sandbox", &id, Stage::BusinessValidation, "Pricing").await;
    assert_eq!(revisions(&client, "Sandbox", &engagement).await, vec![1, 2, 3, 4], "a stopped job takes nothing");
    // Starting it again takes the change it missed, once.
    client.start_resource_snapshot_job().catalog("Sandbox").resource_snapshot_job_identifier(&job_id).send().await.unwrap();
    assert_eq!(revisions(&client, "Sandbox", &engagement).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(next_steps_of(&client, "Sandbox", &engagement, &id, 5).await, "Pricing");

    // The SDK's paginator walks the revisions a page at a time.
    let paged: Vec<i32> = client
        .list_resource_snapshots()
        .catalog("Sandbox")
        .engagement_identifier(&engagement)
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .filter_map(|s| s.revision())
        .collect();
    assert_eq!(paged, vec![1, 2, 3, 4, 5]);

    // The operator sees the revisions and what changed between them.
    let seen = app.operator("GET", &format!("/engagements/{engagement}/snapshots?catalog=Sandbox"), json!({})).await;
    let listed = seen["snapshots"].as_array().unwrap();
    assert_eq!(listed.len(), 5, "{seen}");
    let changes = &listed[3]["changes"];
    assert!(
        changes.as_array().unwrap().iter().any(|c| c["path"] == "OpportunitySummary.Lifecycle.NextSteps"
            && c["before"] == "Workshop on Monday"
            && c["after"] == "Proof of concept"),
        "{changes}"
    );
}

#[tokio::test]
async fn snapshots_and_jobs_by_hand_with_their_conflicts() {
    let app = TestApp::start().await;
    let client = app.client(&app.partner("P-A").await);
    let id = create(&client, "AWS", "Example Corp").await.id().to_string();
    let engagement = client
        .create_engagement()
        .catalog("AWS")
        .client_token("e")
        .title("Co-sell")
        .description("Joint proposal")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    let snapshot = || {
        client
            .create_resource_snapshot()
            .catalog("AWS")
            .engagement_identifier(&engagement)
            .resource_type(ResourceType::Opportunity)
            .resource_identifier(&id)
            .resource_snapshot_template_identifier(SUMMARY)
    };
    let first = snapshot().client_token("s1").send().await.unwrap();
    assert_eq!(first.revision(), Some(1));
    assert!(first.arn().unwrap().ends_with(&format!("/resource/Opportunity/{id}/template/{SUMMARY}/revision/1")));
    // Same ClientToken: the same answer; a new one over an unchanged opportunity: no new revision.
    assert_eq!(snapshot().client_token("s1").send().await.unwrap().revision(), Some(1));
    assert_eq!(snapshot().client_token("s2").send().await.unwrap().revision(), Some(1));

    // The operator's view of an opportunity not submitted does not exist yet.
    let e = client
        .create_resource_snapshot()
        .catalog("AWS")
        .client_token("s3")
        .engagement_identifier(&engagement)
        .resource_type(ResourceType::Opportunity)
        .resource_identifier(&id)
        .resource_snapshot_template_identifier("AwsOpportunitySummaryFullView")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    // A template that does not exist is named in the error.
    let e = snapshot().resource_snapshot_template_identifier("NoSuchTemplate").client_token("s4").send().await.unwrap_err();
    assert_eq!(code(&e.into_service_error()), "ValidationException");

    // Jobs: created stopped; stop a stopped one, start a running one, delete a running one: conflicts.
    let job = client
        .create_resource_snapshot_job()
        .catalog("AWS")
        .client_token("j1")
        .engagement_identifier(&engagement)
        .resource_type(ResourceType::Opportunity)
        .resource_identifier(&id)
        .resource_snapshot_template_identifier(SUMMARY)
        .tags(pcs::types::Tag::builder().key("crm").value("sf").build().unwrap())
        .send()
        .await
        .unwrap();
    let job_id = job.id().unwrap().to_string();
    assert!(job_id.starts_with("job-") && job_id.len() == 17, "{job_id}");
    let tags = client.list_tags_for_resource().resource_arn(job.arn().unwrap()).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1, "a job is taggable by its ARN");
    let get = || client.get_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job_id).send();
    assert_eq!(get().await.unwrap().status(), Some(&ResourceSnapshotJobStatus::Stopped));
    // Start and Stop model no ConflictException; the SDK still reads its code.
    let e = client.stop_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job_id).send().await;
    assert_eq!(code(&e.unwrap_err().into_service_error()), "ConflictException");
    let dup = client
        .create_resource_snapshot_job()
        .catalog("AWS")
        .client_token("j2")
        .engagement_identifier(&engagement)
        .resource_type(ResourceType::Opportunity)
        .resource_identifier(&id)
        .resource_snapshot_template_identifier(SUMMARY)
        .send()
        .await;
    assert!(dup.unwrap_err().into_service_error().is_conflict_exception(), "one job per engagement, resource and template");
    client.start_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job_id).send().await.unwrap();
    assert_eq!(get().await.unwrap().status(), Some(&ResourceSnapshotJobStatus::Running));
    let e = client.start_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job_id).send().await;
    assert_eq!(code(&e.unwrap_err().into_service_error()), "ConflictException");
    let e = client.delete_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job_id).send().await;
    assert!(e.unwrap_err().into_service_error().is_conflict_exception(), "stop it first");
    let running =
        client.list_resource_snapshot_jobs().catalog("AWS").status(ResourceSnapshotJobStatus::Running).send().await.unwrap();
    assert_eq!(running.resource_snapshot_job_summaries().len(), 1);
    client.stop_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job_id).send().await.unwrap();
    client.delete_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job_id).send().await.unwrap();
    assert!(get().await.unwrap_err().into_service_error().is_resource_not_found_exception());
    // The snapshots it took stay: they are immutable.
    let listed = client.list_resource_snapshots().catalog("AWS").engagement_identifier(&engagement).send().await.unwrap();
    assert_eq!(listed.resource_snapshot_summaries().len(), 1);

    let associations = client.list_engagement_resource_associations().catalog("AWS").send().await.unwrap();
    let a = &associations.engagement_resource_association_summaries();
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].engagement_id(), a[0].resource_id()), (Some(engagement.as_str()), Some(id.as_str())));
}

#[tokio::test]
async fn use_4_only_members_the_snapshot_targets_read_it() {
    let app = TestApp::start().await;
    let alice = app.client(&app.partner("P-A").await);
    let bob = app.client(&app.partner("P-B").await);
    let id = create(&alice, "Sandbox", "Example Corp").await.id().to_string();
    let task = share(&alice, &id).await;
    let engagement = task.engagement_id().unwrap();
    let job = task.resource_snapshot_job_id().unwrap();
    // Another partner: no engagement, no snapshot, no job, no association.
    let e = bob.list_resource_snapshots().catalog("Sandbox").engagement_identifier(engagement).send().await.unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = bob
        .get_resource_snapshot()
        .catalog("Sandbox")
        .engagement_identifier(engagement)
        .resource_type(ResourceType::Opportunity)
        .resource_identifier(&id)
        .resource_snapshot_template_identifier(SUMMARY)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = bob.get_resource_snapshot_job().catalog("Sandbox").resource_snapshot_job_identifier(job).send().await.unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = bob.stop_resource_snapshot_job().catalog("Sandbox").resource_snapshot_job_identifier(job).send().await.unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    assert!(bob
        .list_resource_snapshot_jobs()
        .catalog("Sandbox")
        .send()
        .await
        .unwrap()
        .resource_snapshot_job_summaries()
        .is_empty());
    let bobs = bob.list_engagement_resource_associations().catalog("Sandbox").send().await.unwrap();
    assert!(bobs.engagement_resource_association_summaries().is_empty());
    // Bob cannot snapshot Alice's opportunity into his own engagement either.
    let his =
        bob.create_engagement().catalog("Sandbox").client_token("e").title("Mine").description("Mine").send().await.unwrap();
    let e = bob
        .create_resource_snapshot()
        .catalog("Sandbox")
        .client_token("s")
        .engagement_identifier(his.id().unwrap())
        .resource_type(ResourceType::Opportunity)
        .resource_identifier(&id)
        .resource_snapshot_template_identifier(SUMMARY)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn selling_system_settings_name_the_role_snapshot_jobs_use() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let client = app.client(&alice);
    let account = app.account_id("P-A").await;
    let got = client.get_selling_system_settings().catalog("AWS").send().await.unwrap();
    assert_eq!(got.catalog(), "AWS");
    assert!(got.resource_snapshot_job_role_arn().is_none());
    let put = client
        .put_selling_system_settings()
        .catalog("AWS")
        .resource_snapshot_job_role_identifier("SnapshotRole")
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:iam::{account}:role/SnapshotRole");
    assert_eq!(put.resource_snapshot_job_role_arn(), Some(arn.as_str()));
    let got = client.get_selling_system_settings().catalog("AWS").send().await.unwrap();
    assert_eq!(got.resource_snapshot_job_role_arn(), Some(arn.as_str()));
    assert!(client
        .get_selling_system_settings()
        .catalog("Sandbox")
        .send()
        .await
        .unwrap()
        .resource_snapshot_job_role_arn()
        .is_none());
    // A role in someone else's account is refused, naming the field.
    let e = client
        .put_selling_system_settings()
        .catalog("AWS")
        .resource_snapshot_job_role_identifier("arn:aws:iam::999999999999:role/Other")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
}

/// REM-2: a revoked referral's opportunity takes its snapshots with it; its job stops.
#[tokio::test]
async fn rem_2_a_revoked_referrals_snapshots_go_with_its_opportunity_and_its_job_stops() {
    let app = TestApp::start().await;
    let alice = crate::referrals::eligible_partner(&app, "P-REF").await;
    let client = app.client(&alice);
    let invitation = crate::referrals::refer(&app, "P-REF", "Shredded", "jane@shredded.example.com").await;
    let task = client
        .start_engagement_by_accepting_invitation_task()
        .catalog("AWS")
        .client_token("accept")
        .identifier(&invitation)
        .send()
        .await
        .unwrap();
    let job = task.resource_snapshot_job_id().unwrap().to_string();
    let got = client.get_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job).send().await.unwrap();
    assert_eq!(got.status(), Some(&ResourceSnapshotJobStatus::Running));
    let engagement = got.engagement_id().unwrap().to_string();
    assert_eq!(revisions(&client, "AWS", &engagement).await, vec![1]);
    let seen = app.operator("GET", &format!("/engagements/{engagement}/snapshots?catalog=AWS"), json!({})).await;
    assert_eq!(seen["snapshots"].as_array().map(Vec::len), Some(1), "the operator's side is a target: {seen}");
    app.operator("POST", &format!("/referrals/{invitation}/revoke"), json!({"reason": "test"})).await;
    // The job stops, saying why; what it took is gone with the opportunity.
    let got = client.get_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job).send().await.unwrap();
    assert_eq!(got.status(), Some(&ResourceSnapshotJobStatus::Stopped));
    assert!(got.last_failure().unwrap().contains("REM-2"), "{got:?}");
    let e = client.start_resource_snapshot_job().catalog("AWS").resource_snapshot_job_identifier(&job).send().await.unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception(), "its opportunity is gone");
    let seen = app.operator("GET", &format!("/engagements/{engagement}/snapshots?catalog=AWS"), json!({})).await;
    assert_eq!(seen["snapshots"], json!([]), "{seen}");
}
