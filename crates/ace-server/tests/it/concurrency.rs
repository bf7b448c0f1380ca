//! Concurrency, as the reliability suite (RELIABILITY.md) states it: racing writers never lose
//! an update or write twice, whatever reaches the store first.

use serde_json::{json, Value};

use crate::opportunities::{create, customer, lifecycle, project};
use crate::referrals::{eligible_partner, refer};
use crate::support::{code, TestApp};

#[tokio::test]
async fn racing_updates_with_one_last_modified_date_exactly_one_wins() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let client = app.client(&c);
    let created = create(&client, "AWS", "Race Corp").await;
    let id = created.id().to_string();
    let stamp = *created.last_modified_date().unwrap();
    let racers = (0..24).map(|i| {
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let outcome = client
                .update_opportunity()
                .catalog("AWS")
                .identifier(&id)
                .last_modified_date(stamp)
                .customer(customer(&format!("Racer {i}")))
                .project(project())
                .life_cycle(lifecycle())
                .send()
                .await;
            (i, outcome.map(|_| ()).map_err(|e| code(&e)))
        })
    });
    let mut winners = Vec::new();
    for racer in racers {
        let (i, outcome) = racer.await.unwrap();
        match outcome {
            Ok(()) => winners.push(i),
            Err(code) => assert_eq!(code, "ConflictException", "racer {i}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update wins: {winners:?}");
    let got = client.get_opportunity().catalog("AWS").identifier(&id).send().await.unwrap();
    let company = got.customer().unwrap().account().unwrap().company_name().to_string();
    assert_eq!(company, format!("Racer {}", winners[0]), "the winner's write is the one kept: no lost update");
}

#[tokio::test]
async fn racing_retries_with_one_client_token_create_one_opportunity() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let client = app.client(&c);
    let racers = (0..24).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .create_opportunity()
                .catalog("AWS")
                .client_token("one-token")
                .customer(customer("Token Corp"))
                .project(project())
                .life_cycle(lifecycle())
                .send()
                .await
                .map(|o| o.id().to_string())
                .map_err(|e| code(&e))
        })
    });
    let mut ids = Vec::new();
    for racer in racers {
        ids.push(racer.await.unwrap().expect("every retry is answered"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry gets the one opportunity: {ids:?}");
    let listed = client.list_opportunities().catalog("AWS").send().await.unwrap();
    assert_eq!(listed.opportunity_summaries().len(), 1);
}

#[tokio::test]
async fn two_nodes_sweeping_at_once_revoke_a_referral_once() {
    let app = TestApp::start().await;
    eligible_partner(&app, "P-A").await;
    let id = refer(&app, "P-A", "Sweptco", "s@sweptco.example.com").await;
    // Past the deadline without running the jobs, then two sweeps race (two nodes, one store).
    app.state.clock.advance(chrono::TimeDelta::days(10)).unwrap();
    let other_node = app.state.clone();
    let (a, b) = tokio::join!(ace_server::referrals::sweep(&app.state), ace_server::referrals::sweep(&other_node));
    let actions: Vec<String> = a.unwrap().into_iter().chain(b.unwrap()).filter(|l| l.contains(&id)).collect();
    assert_eq!(actions.iter().filter(|l| l.starts_with("revoked")).count(), 1, "{actions:?}");
    let events = app.operator("GET", "/events?limit=1000", Value::Null).await;
    let revoked = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["detail-type"] == json!("Engagement Invitation Revoked"))
        .count();
    assert_eq!(revoked, 1, "one revocation event");
}
