//! Events out: a webhook receiver on 127.0.0.1 gets every event of a referral's life, signed,
//! once each, in order — and the backlog after an outage.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::support::TestApp;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver that records each request; returns its task so a test can kill it.
async fn receiver(address: SocketAddr, received: Received) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let received = received.clone();
            async move {
                received.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

async fn wait_for(received: &Received, n: usize) {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} deliveries, got {}", received.lock().unwrap().len());
}

/// Waits until every subscription's cursor has passed the newest event. A delivery is answered
/// before its cursor moves, so from then on the receiver has all it will get of what happened
/// so far: an absence checked after this is an absence, not a delivery still on its way.
async fn delivered_up_to_now(app: &TestApp) {
    let events = app.operator("GET", "/events?limit=1000", Value::Null).await;
    let newest = events["events"].as_array().unwrap().iter().filter_map(|e| e["seq"].as_i64()).max().unwrap_or(0);
    for _ in 0..400 {
        let hooks = app.operator("GET", "/webhooks", Value::Null).await;
        if hooks["webhooks"].as_array().unwrap().iter().all(|h| h["cursor_seq"].as_i64().unwrap() >= newest) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the subscriptions' cursors did not pass event {newest}");
}

/// The outbox sequence of each event id.
async fn event_seqs(app: &TestApp) -> std::collections::HashMap<String, i64> {
    let events = app.operator("GET", "/events?limit=1000", Value::Null).await;
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"]["id"].as_str().unwrap().to_string(), e["seq"].as_i64().unwrap()))
        .collect()
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = headers["ace-signature"].to_str().unwrap();
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    ace_server::webhooks::sign(secret, t, body) == v1
}

#[tokio::test]
async fn webhooks_deliver_signed_events_once_each_in_order_and_the_backlog_after_an_outage() {
    let app = TestApp::start().await;
    app.operator(
        "POST",
        "/partners",
        json!({"id": "P-A", "name": "A", "path": "consulting", "tier": "advanced", "psf_listed": true,
               "privacy_policy": "https://a.example/privacy", "referrals_approved": true}),
    )
    .await;
    let c = app.user("P-A", "alice").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let received: Received = Arc::default();
    let server = receiver(address, received.clone()).await;

    let (status, _, hook) = app
        .raw(
            &c,
            "AcePartner.PutWebhook",
            "application/x-amz-json-1.0",
            json!({"Url": format!("http://{address}/hook")}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    let secret = hook["Secret"].as_str().unwrap().to_string();
    let (status, _, refused) = app
        .raw(
            &c,
            "AcePartner.PutWebhook",
            "application/x-amz-json-1.0",
            json!({"Url": "http://crm.example.com/hook"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 400, "plain http only on loopback: {refused}");

    let refer = |company: &str| {
        json!({"partner": "P-A", "kind": "opportunity", "company": company, "website": format!("https://{}.example.com", company.to_lowercase()),
               "country": "DE", "contact_email": "jane@x.example.com"})
    };
    let invitation = app.operator("POST", "/referrals", refer("First")).await["Id"].as_str().unwrap().to_string();
    let client = app.client(&c);
    client
        .start_engagement_by_accepting_invitation_task()
        .catalog("AWS")
        .client_token("t")
        .identifier(&invitation)
        .send()
        .await
        .unwrap();
    app.operator("POST", &format!("/referrals/{invitation}/revoke"), json!({"reason": "test"})).await;
    wait_for(&received, 6).await;
    {
        let got = received.lock().unwrap();
        let types: Vec<String> = got
            .iter()
            .map(|(_, b)| serde_json::from_slice::<Value>(b).unwrap()["detail-type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            types[..6],
            [
                "Engagement Invitation Created",
                "Engagement Invitation Accepted",
                "Engagement Member Added",
                "Opportunity Created",
                "Engagement Resource Snapshot Created",
                "Engagement Invitation Revoked"
            ],
            "in order"
        );
        assert!(got.iter().all(|(h, b)| verify(&secret, h, b)), "every delivery verifies with the documented scheme");
        assert!(got.iter().all(|(h, _)| h["ace-delivery-attempt"] == "1"));
    }

    // The receiver goes away; events keep coming; it returns; the backlog arrives.
    server.abort();
    let _ = server.await;
    let second = app.operator("POST", "/referrals", refer("Second")).await["Id"].as_str().unwrap().to_string();
    app.operator("POST", &format!("/referrals/{second}/revoke"), json!({})).await;
    let hooks = app.operator("GET", "/webhooks?partner=P-A", Value::Null).await;
    let id = hooks["webhooks"][0]["id"].as_str().unwrap().to_string();
    // Waits for the condition (a failed attempt recorded), not for a guessed time.
    let mut attempts = Value::Null;
    for _ in 0..200 {
        attempts = app.operator("GET", &format!("/webhooks/{id}/deliveries"), Value::Null).await;
        if attempts["deliveries"].as_array().unwrap().iter().any(|d| d["outcome"] == "failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(attempts["deliveries"].as_array().unwrap().iter().any(|d| d["outcome"] == "failed"), "{attempts}");
    let _server = receiver(address, received.clone()).await;
    wait_for(&received, 10).await;
    delivered_up_to_now(&app).await;
    {
        let got = received.lock().unwrap();
        let ids: Vec<String> = got.iter().map(|(h, _)| h["ace-event-id"].to_str().unwrap().to_string()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "each event once: {ids:?}");
        assert_eq!(ids.len(), 10, "8 events and a deletion notice per revocation");
        let last: Value = serde_json::from_slice(&got[8].1).unwrap();
        assert_eq!(last["detail-type"], "Engagement Invitation Revoked");
        assert_eq!(last["detail"]["engagementInvitationId"], json!(second));
    }
    // The pollable feed shows the same events to the partner, and only its own.
    let (_, _, feed) = app.raw(&c, "AcePartner.ListEvents", "application/x-amz-json-1.0", b"{}".to_vec()).await;
    // The feed starts at the beginning: it also holds the eligibility event from before the subscription.
    let feed_types: Vec<String> = feed["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e["Event"].as_str().unwrap()).unwrap()["detail-type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(feed_types.len(), 11, "{feed}");
    assert_eq!(feed_types[0], "Partner Eligibility Changed");
    // Continue after an event id; filter by catalog.
    let third_id = feed["Events"][2]["EventId"].as_str().unwrap().to_string();
    let (_, _, rest) = app
        .raw(
            &c,
            "AcePartner.ListEvents",
            "application/x-amz-json-1.0",
            json!({"AfterEventId": third_id}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(rest["Events"].as_array().unwrap().len(), 8, "{rest}");
    let (_, _, sandbox) = app
        .raw(&c, "AcePartner.ListEvents", "application/x-amz-json-1.0", json!({"Catalog": "Sandbox"}).to_string().into_bytes())
        .await;
    assert_eq!(sandbox["Events"].as_array().unwrap().len(), 1, "only the catalog-less eligibility event: {sandbox}");
    let other = app.partner("P-B").await;
    let (_, _, none) = app.raw(&other, "AcePartner.ListEvents", "application/x-amz-json-1.0", b"{}".to_vec()).await;
    assert!(none["Events"].as_array().unwrap().iter().all(|e| !e["Event"].as_str().unwrap().contains("P-A")), "{none}");
}

#[tokio::test]
async fn two_dispatchers_on_one_store_deliver_each_event_once() {
    let app = TestApp::start().await;
    // A second node's dispatcher on the same database: a node of its own (its own id, so its
    // own leases), as a second process is.
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(ace_server::webhooks::run_forever(app.state.node_on(app.state.store.clone()), stopped));
    app.operator(
        "POST",
        "/partners",
        json!({"id": "P-A", "name": "A", "path": "consulting", "tier": "advanced", "psf_listed": true,
               "privacy_policy": "https://a.example/privacy", "referrals_approved": true}),
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let received: Received = Arc::default();
    let _server = receiver(address, received.clone()).await;
    app.operator("POST", "/webhooks", json!({"partner": "P-A", "url": format!("http://{address}/hook")})).await;
    for i in 0..20 {
        app.operator(
            "POST",
            "/referrals",
            json!({"partner": "P-A", "kind": "lead", "company": format!("C{i}"), "website": format!("https://c{i}.example.com"), "country": "DE"}),
        )
        .await;
    }
    wait_for(&received, 20).await;
    delivered_up_to_now(&app).await;
    let seqs = event_seqs(&app).await;
    let got = received.lock().unwrap();
    let ids: Vec<String> = got.iter().map(|(h, _)| h["ace-event-id"].to_str().unwrap().to_string()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (20, 20), "each event once, whichever node delivered it");
    let order: Vec<i64> = ids.iter().map(|id| seqs[id]).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in the outbox's order, whichever node delivered: {order:?}");
    let companies: Vec<String> = got
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<Value>(b).unwrap()["detail"]["engagementInvitation"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(companies.len(), 20);
}

#[tokio::test]
async fn subscriptions_may_ask_for_the_changed_fields() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let received: Received = Arc::default();
    let _server = receiver(address, received.clone()).await;
    let body = json!({"Url": format!("http://{address}/hook"), "EventTypes": ["Opportunity Updated"], "IncludeChanges": true});
    let (status, _, v) = app.raw(&c, "AcePartner.PutWebhook", "application/x-amz-json-1.0", body.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{v}");
    let client = app.client(&c);
    let created = crate::opportunities::create(&client, "AWS", "Example Corp").await;
    client
        .update_opportunity()
        .catalog("AWS")
        .identifier(created.id())
        .last_modified_date(*created.last_modified_date().unwrap())
        .customer(crate::opportunities::customer("Example Corp"))
        .project(crate::opportunities::project())
        .life_cycle(
            aws_sdk_partnercentralselling::types::LifeCycle::builder()
                .stage(aws_sdk_partnercentralselling::types::Stage::Committed)
                .target_close_date("2099-03-01")
                .next_steps("Schedule a workshop")
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_for(&received, 1).await;
    let got = received.lock().unwrap();
    let event: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(event["detail-type"], "Opportunity Updated");
    assert_eq!(event["detail"]["changedFields"], json!(["LifeCycle.Stage"]), "{event}");
    assert_eq!(got.len(), 1, "only the subscribed type");
}

#[tokio::test]
async fn an_eventbridge_sink_puts_events_on_the_bus() {
    let app = TestApp::start().await;
    // A local stand-in for EventBridge that records PutEvents requests.
    let calls: Received = Arc::default();
    let recorded = calls.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let stand_in = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push((headers, body));
                (
                    [("content-type", "application/x-amz-json-1.1")],
                    r#"{"FailedEntryCount":0,"Entries":[{"EventId":"11111111-2222-3333-4444-555555555555"}]}"#,
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, stand_in).await;
    });
    app.operator("POST", "/webhooks", json!({"url": format!("eventbridge://partner-events?endpoint={endpoint}")})).await;
    let c = app.partner("P-A").await;
    crate::opportunities::create(&app.client(&c), "Sandbox", "Example Corp").await;
    wait_for(&calls, 2).await; // the partner's eligibility event, then Opportunity Created
    let calls = calls.lock().unwrap();
    let (headers, body) = calls.iter().find(|(_, b)| String::from_utf8_lossy(b).contains("Opportunity Created")).unwrap();
    assert_eq!(headers["x-amz-target"], "AWSEvents.PutEvents");
    assert!(headers["authorization"].to_str().unwrap().starts_with("AWS4-HMAC-SHA256"), "signed by the official SDK");
    let request: Value = serde_json::from_slice(body).unwrap();
    let entry = &request["Entries"][0];
    assert_eq!(entry["EventBusName"], "partner-events");
    assert_eq!(entry["Source"], "aws.partnercentral-selling");
    assert_eq!(entry["DetailType"], "Opportunity Created");
    let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["catalog"], "Sandbox");
}

/// A listener that counts every connection it is offered, whatever is sent on it.
async fn connection_counter() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, count)
}

/// Issue 21, weakness 1 (USE-4 across the server's own network): with private addresses not
/// allowed, `PutWebhook` refuses every spelling of a metadata, private or loopback address —
/// two of which had reached a listener on loopback — and an `eventbridge://` target, whose
/// `PutEvents` carried the server's own AWS credentials to an endpoint of the partner's choosing.
/// Nothing reaches the listener.
#[tokio::test]
async fn use_4_ssrf_put_webhook_refuses_private_targets_in_every_spelling_and_the_listener_receives_nothing() {
    let app = TestApp::start_with(|s| s.delivery.allow_private = false).await;
    let c = app.partner("P-A").await;
    let (port, connections) = connection_counter().await;
    let put = |url: String| {
        let app = &app;
        let c = &c;
        async move {
            let body = json!({"Url": url}).to_string().into_bytes();
            app.raw(c, "AcePartner.PutWebhook", "application/x-amz-json-1.0", body).await
        }
    };
    for url in [
        format!("https://2130706433:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        format!("http://127.0.0.1:{port}/hook"),
        format!("https://localhost:{port}/"),
        format!("eventbridge://bus?endpoint=http://127.0.0.1:{port}/"),
        "eventbridge://partner-events".to_string(),
        "https://[::ffff:169.254.169.254]/".to_string(),
        "https://2852039166/".to_string(),
        "https://0xA9FEA9FE/".to_string(),
        "https://169.254.169.254./".to_string(),
        "https://10.1/".to_string(),
        "https://[64:ff9b::a9fe:a9fe]/".to_string(),
        "https://metadata.google.internal/".to_string(),
    ] {
        let (status, headers, v) = put(url.clone()).await;
        assert_eq!(status, 400, "{url} was accepted: {v}");
        assert_eq!(headers["x-amzn-errortype"], "ValidationException", "{url}");
    }
    let (_, _, listed) = app.raw(&c, "AcePartner.ListWebhooks", "application/x-amz-json-1.0", b"{}".to_vec()).await;
    assert_eq!(listed["Webhooks"], json!([]), "{listed}");
    crate::opportunities::create(&app.client(&c), "Sandbox", "Example Corp").await;
    // No subscription was stored (above), so nothing can be delivered later: the checks at
    // subscription (which resolve, never connect) are all that could have reached the listener.
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "the listener on loopback was reached");
}

/// Issue 21, weakness 5: subscriptions per partner are capped (default 10), so idle
/// subscriptions cannot be piled up to slow every tenant; a deleted one frees its place.
#[tokio::test]
async fn use_5_a_partner_holds_at_most_the_configured_number_of_webhooks() {
    let app = TestApp::start_with(|s| s.delivery.max_per_partner = 3).await;
    let c = app.partner("P-A").await;
    let put = |n: usize| {
        let body = json!({"Url": format!("http://127.0.0.1:9/hook{n}")}).to_string().into_bytes();
        app.raw(&c, "AcePartner.PutWebhook", "application/x-amz-json-1.0", body)
    };
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, _, v) = put(n).await;
        assert_eq!(status, 200, "{v}");
        ids.push(v["WebhookId"].as_str().unwrap().to_string());
    }
    let (status, headers, v) = put(3).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(headers["x-amzn-errortype"], "ServiceQuotaExceededException");
    let other = app.partner("P-B").await;
    let body = json!({"Url": "http://127.0.0.1:9/other"}).to_string().into_bytes();
    assert_eq!(app.raw(&other, "AcePartner.PutWebhook", "application/x-amz-json-1.0", body).await.0, 200, "per partner");
    let body = json!({"WebhookId": ids[0]}).to_string().into_bytes();
    assert_eq!(app.raw(&c, "AcePartner.DeleteWebhook", "application/x-amz-json-1.0", body).await.0, 200);
    assert_eq!(put(4).await.0, 200, "a deleted subscription frees its place");
}

/// Issue 21, weakness 5: the dispatcher works only subscriptions with events past their cursor,
/// so one whose partner has no new events must move its cursor past other partners' events
/// (else it would be worked again on every tick).
#[tokio::test]
async fn use_5_a_quiet_subscription_moves_past_other_partners_events_without_deliveries() {
    let app = TestApp::start().await;
    let quiet = app.partner("P-Q").await;
    let busy = app.partner("P-B").await;
    let (status, _, hook) = app
        .raw(
            &quiet,
            "AcePartner.PutWebhook",
            "application/x-amz-json-1.0",
            json!({"Url": "http://127.0.0.1:9/quiet"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    let id = hook["WebhookId"].as_str().unwrap().to_string();
    crate::opportunities::create(&app.client(&busy), "Sandbox", "Busy Corp").await;
    let newest = app.state.store.max_event_seq().await.unwrap();
    let mut cursor = 0;
    for _ in 0..100 {
        cursor = app.state.store.list_webhooks(None).await.unwrap().into_iter().find(|(h, _)| h.id == id).unwrap().1;
        if cursor >= newest {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cursor, newest, "the quiet subscription's cursor moved past the busy partner's events");
    assert!(app.state.store.list_deliveries(&id, 10).await.unwrap().is_empty(), "nothing was sent to it");
}
