//! USE-1, USE-3, USE-5 end to end.

use serde_json::json;

use crate::opportunities::create;
use crate::support::{code, Credentials, TestApp};

#[tokio::test]
async fn use_1_each_user_has_own_key_rotation_and_revocation_take_effect_at_once() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let bob = app.user("P-A", "bob").await;
    assert_ne!(alice.access_key_id, bob.access_key_id);
    // Both users of one partner see the partner's pipeline.
    create(&app.client(&alice), "AWS", "Shared Corp").await;
    assert_eq!(app.client(&bob).list_opportunities().catalog("AWS").send().await.unwrap().opportunity_summaries().len(), 1);

    let rotated = app.operator("POST", "/partners/P-A/users/alice/rotate-key", json!({})).await;
    let new = Credentials {
        access_key_id: rotated["AccessKeyId"].as_str().unwrap().into(),
        secret: rotated["SecretAccessKey"].as_str().unwrap().into(),
    };
    let e = app.client(&alice).list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
    assert_eq!(code(&e), "UnrecognizedClientException", "the old key stops at once");
    app.client(&new).list_opportunities().catalog("AWS").send().await.unwrap();

    app.operator("POST", "/partners/P-A/users/bob/disable", json!({})).await;
    let e = app.client(&bob).list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
    assert_eq!(code(&e), "UnrecognizedClientException");
    let users = app.operator("GET", "/partners/P-A/users", serde_json::Value::Null).await;
    let statuses: Vec<(&str, &str)> =
        users["users"].as_array().unwrap().iter().map(|u| (u["name"].as_str().unwrap(), u["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, vec![("alice", "active"), ("bob", "disabled")]);
}

#[tokio::test]
async fn use_3_signatures_are_checked_and_repeated_failures_lock_the_key() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let unknown = Credentials { access_key_id: "AKIAUNKNOWN000000000".into(), secret: "x".into() };
    let e = app.client(&unknown).list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
    assert_eq!(code(&e), "UnrecognizedClientException");

    let wrong_secret = Credentials { secret: "not-the-secret".into(), ..alice.clone() };
    for _ in 0..ace_server::partner_api::FAILURES_MAX {
        let e = app.client(&wrong_secret).list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
        assert_eq!(code(&e), "InvalidSignatureException");
    }
    let e = app.client(&alice).list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
    assert_eq!(code(&e), "AccessDeniedException", "locked out even with the right secret");
    // Other keys are unaffected.
    let bob = app.user("P-A", "bob").await;
    app.client(&bob).list_opportunities().catalog("AWS").send().await.unwrap();

    // No signature at all.
    let response = reqwest::Client::new()
        .post(app.url("/"))
        .header("x-amz-target", "AWSPartnerCentralSelling.ListOpportunities")
        .header("content-type", "application/x-amz-json-1.0")
        .body("{\"Catalog\":\"AWS\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-amzn-errortype"], "MissingAuthenticationTokenException");
}

/// Issue 21, weakness 4: a key locked by wrong secrets could not be unlocked by the operator
/// (`lifted: false`); now `ace security unblock key:AKID` lifts it at once. Issue 22: the
/// operator finds the lockout in `ace security events`.
#[tokio::test]
async fn use_3_the_operator_sees_and_lifts_a_key_lockout() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    let wrong_secret = Credentials { secret: "not-the-secret".into(), ..alice.clone() };
    for _ in 0..ace_server::partner_api::FAILURES_MAX {
        app.client(&wrong_secret).list_opportunities().catalog("AWS").send().await.unwrap_err();
    }
    let e = app.client(&alice).list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
    assert_eq!(code(&e), "AccessDeniedException");
    let subject = format!("key:{}", alice.access_key_id);
    // Issue 22: the lockout is a security event, with its key, partner, networks and end.
    let events = app.operator("GET", "/security/events", json!(null)).await;
    let lockouts: Vec<&serde_json::Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["signal"] == "key-lockout").collect();
    assert_eq!(lockouts.len(), 1, "one event for the lockout, not one per refused attempt: {events}");
    assert_eq!(lockouts[0]["subject"], json!(subject));
    assert_eq!(lockouts[0]["partner_id"], "P-A");
    assert_eq!(lockouts[0]["active"], true);
    assert_eq!(lockouts[0]["addresses"], json!(["127.0.0.1"]), "{events}");
    assert!(lockouts[0]["blocked_until"].as_str().unwrap() > lockouts[0]["at"].as_str().unwrap());
    let v = app.operator("POST", "/security/unblock", json!({"subject": subject})).await;
    assert_eq!(v["lifted"], true, "{v}");
    app.client(&alice).list_opportunities().catalog("AWS").send().await.unwrap();
}

#[tokio::test]
async fn use_5_throttling_and_idempotency_across_throttled_retries() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    app.operator("PUT", "/quotas", json!({"partner": "P-A", "writes_per_second": 1, "reads_per_second": 2})).await;
    let client = app.client(&alice);
    let send = || client.create_opportunity().catalog("AWS").client_token("same-token").send();
    let first = send().await.unwrap();
    let e = send().await.unwrap_err().into_service_error();
    assert!(e.is_throttling_exception(), "{e:?}");
    // A second passes for the quota (the wall clock moved ahead, not slept through).
    use ace_server::clock::Clock;
    app.wall.advance(chrono::TimeDelta::milliseconds(1100)).unwrap();
    let retried = send().await.unwrap();
    assert_eq!(retried.id(), first.id(), "the retried write answers as the first did");

    for _ in 0..2 {
        client.list_opportunities().catalog("AWS").send().await.unwrap();
    }
    let e = client.list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
    assert!(e.is_throttling_exception(), "{e:?}");
    // Another partner has its own budget.
    let bob = app.partner("P-B").await;
    app.client(&bob).list_opportunities().catalog("AWS").send().await.unwrap();
}

#[tokio::test]
async fn use_5_daily_budget_is_enforced() {
    let app = TestApp::start().await;
    let alice = app.partner("P-A").await;
    app.operator("PUT", "/quotas", json!({"partner": "P-A", "reads_per_day": 3})).await;
    let client = app.client(&alice);
    for _ in 0..3 {
        client.list_opportunities().catalog("AWS").send().await.unwrap();
    }
    let e = client.list_opportunities().catalog("AWS").send().await.unwrap_err().into_service_error();
    assert!(e.is_throttling_exception(), "{e:?}");
    let shown = app.operator("GET", "/quotas?partner=P-A", serde_json::Value::Null).await;
    assert_eq!(shown["reads_per_day"], 3);
    assert_eq!(shown["source"], "partner");
}

fn keys_of(v: &serde_json::Value) -> Vec<(String, String, bool)> {
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["access_key_id"].as_str().unwrap().into(), k["status"].as_str().unwrap().into(), !k["last_used"].is_null()))
        .collect()
}

#[tokio::test]
async fn use_1_two_keys_per_user_rotate_without_downtime_with_last_use_recorded() {
    let app = TestApp::start().await;
    let first = app.partner("P-A").await;
    let created = app.operator("POST", "/partners/P-A/users/alice/keys", json!({})).await;
    let second = Credentials {
        access_key_id: created["AccessKeyId"].as_str().unwrap().into(),
        secret: created["SecretAccessKey"].as_str().unwrap().into(),
    };
    // Both keys work side by side while the CRM switches over.
    app.client(&first).list_opportunities().catalog("AWS").send().await.unwrap();
    app.client(&second).list_opportunities().catalog("AWS").send().await.unwrap();
    let (status, refused) = app.operator_raw("POST", "/partners/P-A/users/alice/keys", json!({})).await;
    assert_eq!(status, 409, "two keys at most: {refused}");
    let keys = app.operator("GET", "/partners/P-A/users/alice/keys", serde_json::Value::Null).await;
    // The test clock stands still: both keys share a creation time, so compare in id order.
    let mut listed = keys_of(&keys);
    listed.sort();
    let mut expected =
        vec![(first.access_key_id.clone(), "active".into(), true), (second.access_key_id.clone(), "active".into(), true)];
    expected.sort();
    assert_eq!(listed, expected, "each key's last use is recorded");

    let path = format!("/partners/P-A/users/alice/keys/{}", first.access_key_id);
    app.operator("POST", &format!("{path}/deactivate"), json!({})).await;
    let e = app.client(&first).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&e), "UnrecognizedClientException", "a deactivated key stops at once");
    app.client(&second).list_opportunities().catalog("AWS").send().await.unwrap();
    app.operator("POST", &format!("{path}/activate"), json!({})).await;
    app.client(&first).list_opportunities().catalog("AWS").send().await.unwrap();
    app.operator("DELETE", &path, serde_json::Value::Null).await;
    let e = app.client(&first).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&e), "UnrecognizedClientException");
    let (status, _) = app.operator_raw("POST", &format!("{path}/activate"), json!({})).await;
    assert_eq!(status, 404, "a deleted key is gone");
    let (status, _) = app.operator_raw("GET", "/partners/P-A/users/nobody/keys", serde_json::Value::Null).await;
    assert_eq!(status, 404);
    // Another user's key is not this user's to manage.
    let bob = app.user("P-A", "bob").await;
    let (status, _) =
        app.operator_raw("POST", &format!("/partners/P-A/users/alice/keys/{}/deactivate", bob.access_key_id), json!({})).await;
    assert_eq!(status, 404);

    // Disabling the user stops every key it has.
    app.operator("POST", "/partners/P-A/users/alice/disable", json!({})).await;
    let e = app.client(&second).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&e), "UnrecognizedClientException");
}

#[tokio::test]
async fn use_3_repeated_failures_from_one_address_lock_it_out_whatever_the_keys() {
    let app = TestApp::start_with(|s| s.probe_policy.auth_failures_max = 3).await;
    let alice = app.partner("P-A").await;
    for i in 0..3 {
        let guess = Credentials { access_key_id: format!("AKIAGUESS{i:011}"), secret: "guess".into() };
        let e = app.client(&guess).list_opportunities().catalog("AWS").send().await.unwrap_err();
        assert_eq!(code(&e), "UnrecognizedClientException", "guess {i}");
    }
    let e = app.client(&alice).list_opportunities().catalog("AWS").send().await.unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException", "the address is locked out, even for a valid key");
    assert!(format!("{e:?}").contains("client address 127.0.0.1"), "{e:?}");
    let log = app.operator("GET", "/audit/log?action=auth.failure", serde_json::Value::Null).await;
    let failures = log["entries"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "{log}");
    assert_eq!(failures[0]["detail"]["access_key_id"], json!("AKIAGUESS00000000000"));
    let events = app.operator("GET", "/security/events", serde_json::Value::Null).await;
    assert_eq!(events["events"][0]["signal"], json!("auth-failure"), "{events}");
}

#[tokio::test]
async fn use_2_a_stale_disabled_key_does_not_lock_out_its_address() {
    let app = TestApp::start_with(|s| s.probe_policy.auth_failures_max = 3).await;
    let alice = app.partner("P-A").await;
    let bob = app.user("P-A", "bob").await;
    app.operator("POST", "/partners/P-A/users/bob/disable", json!({})).await;
    for _ in 0..6 {
        let e = app.client(&bob).list_opportunities().catalog("AWS").send().await.unwrap_err();
        assert_eq!(code(&e), "UnrecognizedClientException");
    }
    // A forgotten CRM instance with a disabled key is not a guesser: its neighbours work on.
    app.client(&alice).list_opportunities().catalog("AWS").send().await.unwrap();
}
