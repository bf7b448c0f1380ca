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
    // Past the deadline without running the jobs, then two sweeps race: two nodes (each its
    // own node id, caches and meters) on one store, as two processes on one database are.
    app.state.clock.advance(chrono::TimeDelta::days(10)).unwrap();
    let other_node = app.state.node_on(app.state.store.clone());
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

/// USE-5 across nodes: two nodes on one store meter a partner against their share of each
/// limit, so together they admit the limit within one request per node.
#[tokio::test]
async fn use_5_quotas_hold_program_wide_across_two_nodes() {
    use ace_domain::quota::{Meter, OperationClass};
    let app = TestApp::start().await;
    app.partner("P-Q").await;
    app.operator(
        "PUT",
        "/quotas",
        json!({"partner": "P-Q", "reads_per_second": 4, "reads_per_day": 10, "writes_per_second": "unlimited"}),
    )
    .await;
    let other = app.state.node_on(app.state.store.clone());
    assert_eq!(ace_server::app::quota::beat(&app.state).await.unwrap(), 1, "alone at first");
    assert_eq!(ace_server::app::quota::beat(&other).await.unwrap(), 2);
    assert_eq!(ace_server::app::quota::beat(&app.state).await.unwrap(), 2, "each node counts both");
    let now_ms = app.state.wall_clock_ms();
    let mut admitted = 0;
    for node in [&app.state, &other] {
        for _ in 0..10 {
            admitted += usize::from(node.quotas.admit("P-Q", Meter::Class(OperationClass::Read), now_ms).await.unwrap().is_ok());
        }
    }
    assert_eq!(admitted, 4, "4 per second in all: 2 on each node");
    // The rolling day: 10 in all (5 a node), whatever the per-second refills allow.
    let mut admitted = 0;
    for second in 1..=20 {
        for node in [&app.state, &other] {
            for _ in 0..3 {
                let at = now_ms + second * 1_000;
                admitted += usize::from(node.quotas.admit("P-Q", Meter::Class(OperationClass::Read), at).await.unwrap().is_ok());
            }
        }
    }
    assert_eq!(admitted, 6, "10 a day in all, 5 a node: 6 more after the first 4");
}
