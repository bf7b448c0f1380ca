//! The operator API and its bootstrap.

use serde_json::{json, Value};

use crate::support::TestApp;

#[tokio::test]
async fn operator_api_requires_a_valid_token_and_serves_openapi() {
    let app = TestApp::start().await;
    let http = reqwest::Client::new();
    let no_token = http.get(app.url("/operator/v1/partners")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let wrong = http.get(app.url("/operator/v1/partners")).bearer_auth("ace_op_wrong").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let doc: Value = http.get(app.url("/operator/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/partners"]["post"].is_object());
    assert_eq!(http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(app.url("/readyz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn partners_are_validated_and_updated() {
    let app = TestApp::start().await;
    let (status, v) =
        app.operator_raw("POST", "/partners", json!({"id": "P-T", "name": "T", "path": "technology", "tier": "premier"})).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("premier"), "{v}");
    let (status, _) =
        app.operator_raw("POST", "/partners", json!({"id": "P-T", "name": "T", "path": "nope", "tier": "select"})).await;
    assert_eq!(status, 400);
    let (status, v) = app
        .operator_raw(
            "POST",
            "/partners",
            json!({"id": "P-T", "name": "T", "path": "consulting", "tier": "select", "programs": ["bogus"]}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let p = app
        .operator(
            "POST",
            "/partners",
            json!({"id": "P-T", "name": "T", "path": "consulting", "tier": "select", "programs": ["msp"], "psf_listed": true}),
        )
        .await;
    assert_eq!(p["account_id"].as_str().unwrap().len(), 12);
    let (status, _) =
        app.operator_raw("POST", "/partners", json!({"id": "P-T", "name": "T", "path": "consulting", "tier": "select"})).await;
    assert_eq!(status, 409);
    let p = app
        .operator(
            "PATCH",
            "/partners/P-T",
            json!({"remove_programs": ["msp"], "add_programs": ["competency"], "psf_listed": false, "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(p["programs"], json!(["competency"]));
    assert_eq!(p["psf_listed"], false);
    assert_eq!(p["timezone"], "Europe/Berlin");
    let (status, _) = app.operator_raw("PATCH", "/partners/P-T", json!({"timezone": "Mars/Base"})).await;
    assert_eq!(status, 400);
    let (status, _) = app.operator_raw("GET", "/partners/P-NONE", Value::Null).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_test_clock_moves_forward_only() {
    let app = TestApp::start().await;
    let before = app.operator("GET", "/clock", Value::Null).await;
    assert_eq!(before["test_clock"], true);
    let after = app.operator("POST", "/clock/advance", json!({"duration": "4d"})).await;
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v["now"].as_str().unwrap()).unwrap();
    assert_eq!(parse(&after) - parse(&before), chrono::TimeDelta::days(4));
    let (status, _) = app.operator_raw("POST", "/clock/advance", json!({"duration": "-1d"})).await;
    assert_eq!(status, 400);
}
