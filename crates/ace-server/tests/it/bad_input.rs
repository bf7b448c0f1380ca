//! Hostile and malformed input: each gets a clear AWS-shaped error and changes nothing.

use serde_json::{json, Value};

use crate::support::TestApp;

const TARGET: &str = "AWSPartnerCentralSelling.CreateOpportunity";
const JSON: &str = "application/x-amz-json-1.0";

fn error_type(body: &Value) -> &str {
    body["__type"].as_str().unwrap_or("<none>")
}

async fn count(app: &TestApp, c: &crate::support::Credentials) -> usize {
    let (_, v) = app.call(c, "ListOpportunities", json!({"Catalog": "AWS"})).await;
    v["OpportunitySummaries"].as_array().unwrap().len()
}

#[tokio::test]
async fn malformed_requests_get_aws_shaped_errors_and_change_nothing() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", JSON, b"{\"Catalog\": ".to_vec(), 400, "SerializationException"),
        ("not an object", JSON, b"[1,2]".to_vec(), 400, "SerializationException"),
        ("invalid UTF-8", JSON, vec![b'{', 0xff, 0xfe, b'}'], 400, "SerializationException"),
        (
            "wrong content type",
            "text/plain",
            b"{\"Catalog\":\"AWS\",\"ClientToken\":\"x\"}".to_vec(),
            415,
            "UnsupportedMediaTypeException",
        ),
        ("wrong type", JSON, b"{\"Catalog\":\"AWS\",\"ClientToken\":5}".to_vec(), 400, "ValidationException"),
        ("wrong catalog", JSON, b"{\"Catalog\":\"Prod\",\"ClientToken\":\"x\"}".to_vec(), 400, "ValidationException"),
    ];
    for (what, content_type, body, status, expected) in cases {
        let (got_status, headers, v) = app.raw(&c, TARGET, content_type, body).await;
        assert_eq!((got_status, error_type(&v)), (status, expected), "{what}: {v}");
        assert_eq!(headers["x-amzn-errortype"], expected, "{what}");
        assert!(headers.contains_key("x-amzn-requestid"), "{what}");
        assert!(v["Message"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
    }
    assert_eq!(count(&app, &c).await, 0, "nothing was created");
}

#[tokio::test]
async fn oversized_body_is_refused_without_reading_it_all() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let big =
        format!("{{\"Catalog\":\"AWS\",\"ClientToken\":\"x\",\"PartnerOpportunityIdentifier\":\"{}\"}}", "a".repeat(1_100_000));
    let (status, _, v) = app.raw(&c, TARGET, JSON, big.into_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(error_type(&v), "RequestEntityTooLargeException");
}

#[tokio::test]
async fn unknown_operations_are_named() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    for target in
        ["AWSPartnerCentralSelling.DropAllTables", "Other.CreateOpportunity", "AWSPartnerCentralSelling.ListEngagements"]
    {
        let (status, _, v) = app.raw(&c, target, JSON, b"{}".to_vec()).await;
        assert_eq!((status, error_type(&v)), (404, "UnknownOperationException"), "{target}");
    }
}

#[tokio::test]
async fn nulls_are_absent_and_unknown_members_are_never_stored() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let (status, v) = app
        .call(
            &c,
            "CreateOpportunity",
            json!({"Catalog": "AWS", "ClientToken": "t", "Marketing": null, "Bogus": {"x": 1},
                   "Customer": {"Account": {"CompanyName": "Acme", "Secret": "leak"}}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, got) = app.call(&c, "GetOpportunity", json!({"Catalog": "AWS", "Identifier": v["Id"]})).await;
    let text = got.to_string();
    assert!(!text.contains("Bogus") && !text.contains("leak"), "{text}");
    assert!(got.get("Marketing").is_none());
}

#[tokio::test]
async fn huge_lists_and_bad_ids_are_validation_errors() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let ids: Vec<String> = (0..5000).map(|i| format!("O{i}")).collect();
    let (status, v) = app.call(&c, "ListOpportunities", json!({"Catalog": "AWS", "Identifier": ids})).await;
    assert_eq!(status, 400);
    assert_eq!(v["ErrorList"][0]["Code"], "TOO_MANY_VALUES");
    let (status, v) = app.call(&c, "GetOpportunity", json!({"Catalog": "AWS", "Identifier": "../../etc/passwd"})).await;
    assert_eq!(status, 400);
    assert_eq!(v["ErrorList"][0]["FieldName"], "Identifier");
    assert_eq!(v["Reason"], "REQUEST_VALIDATION_FAILED");
    let (status, v) = app.call(&c, "GetOpportunity", json!({"Catalog": "AWS", "Identifier": "O999999"})).await;
    assert_eq!((status, error_type(&v)), (400, "ResourceNotFoundException"));
}

#[tokio::test]
async fn empty_output_operations_answer_an_empty_body() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let (_, v) = app.call(&c, "CreateOpportunity", json!({"Catalog": "Sandbox", "ClientToken": "t"})).await;
    let (status, headers, body) = app
        .raw(
            &c,
            "AWSPartnerCentralSelling.AssociateOpportunity",
            JSON,
            json!({"Catalog": "Sandbox", "OpportunityIdentifier": v["Id"], "RelatedEntityType": "AwsProducts", "RelatedEntityIdentifier": "AmazonEC2"})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], "0");
    assert_eq!(body, Value::Null);
}
