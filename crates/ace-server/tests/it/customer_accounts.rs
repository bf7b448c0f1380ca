//! Customer accounts (issue 20) over the wire. The official Rust SDK (1.84.0, the newest
//! published) has no customer-account operations yet, so these are signed raw awsJson requests
//! (the AWS CLI with the published model covers them end to end in tests/e2e/customer-accounts.sh).

use serde_json::{json, Value};

use crate::support::{Credentials, TestApp};

/// The operator's customer records: one Acme, two Globex in the US told apart only by DUNS
/// and domain, and a won deal (still a customer).
async fn import_customers(app: &TestApp) {
    let imported = app
        .operator(
            "POST",
            "/pipeline",
            json!({"records": [
                {"external_id": "CRM-ACME", "company_name": "Acme Widgets Inc", "website": "https://www.acme-widgets.com",
                 "country": "US", "stage": "Closed Won",
                 "enrichment": {"industry": "Retail", "segment": "Enterprise", "geo": "AMER", "region": "NA",
                                "eligible_programs": ["MAP", "ISV Accelerate"], "solution_score": "High",
                                "marketplace_engagement_score": "Medium"}},
                {"external_id": "CRM-GLOBEX-1", "company_name": "Globex", "website": "https://globex.com", "duns": "111111111",
                 "country": "US", "stage": "Qualified", "enrichment": {"industry": "Energy", "solution_score": "Low"}},
                {"external_id": "CRM-GLOBEX-2", "company_name": "Globex LLC", "website": "https://globex-corp.com", "duns": "222222222",
                 "country": "US", "stage": "Qualified", "enrichment": {"industry": "Manufacturing"}}
            ]}),
        )
        .await;
    assert_eq!(imported["inserted"], 3, "{imported}");
}

async fn search(app: &TestApp, c: &Credentials, mut body: Value) -> (u16, Value) {
    body["Catalog"] = json!("AWS");
    app.call(c, "SearchCustomerAccounts", body).await
}

async fn create(app: &TestApp, c: &Credentials, account: Value) -> Value {
    let (status, created) = app.call(c, "CreateCustomerAccount", json!({"Catalog": "AWS", "Account": account})).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["Status"], "PENDING", "matching runs after the write: {created}");
    created
}

/// Reads the account until matching has settled it (matching runs in the background).
async fn settled(app: &TestApp, c: &Credentials, id: &str) -> Value {
    for _ in 0..500 {
        let (status, account) = app.call(c, "GetCustomerAccount", json!({"Catalog": "AWS", "Identifier": id})).await;
        assert_eq!(status, 200, "{account}");
        if account["EnrichmentStatus"] != "PENDING" {
            return account;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("customer account {id} is still PENDING");
}

#[tokio::test]
async fn customer_accounts_are_matched_enriched_or_need_action_naming_what_decides() {
    let app = TestApp::start().await;
    import_customers(&app).await;
    let c = app.partner("P-A").await;

    let acme = create(
        &app,
        &c,
        json!({"CompanyName": "ACME Widgets", "WebsiteUrl": "https://acme-widgets.com/shop",
                                         "Address": {"CountryCode": "US", "City": "Seattle"}}),
    )
    .await;
    let id = acme["Id"].as_str().unwrap();
    assert!(id.starts_with("cust-acc-") && id.len() == 22, "{id}");
    assert!(acme["Arn"].as_str().unwrap().ends_with(&format!(":catalog/AWS/customer-account/{id}")));
    let got = settled(&app, &c, id).await;
    assert_eq!(got["EnrichmentStatus"], "ENRICHED", "{got}");
    let customer = &got["AwsEnrichment"]["Customer"];
    assert_eq!((customer["Industry"].as_str(), customer["AccountName"].as_str()), (Some("Retail"), Some("Acme Widgets Inc")));
    assert_eq!(customer["EligiblePrograms"], json!(["MAP", "ISV Accelerate"]));
    assert_eq!(got["AwsEnrichment"]["Insights"]["SolutionScore"], "High");
    assert_eq!(got["Account"]["Address"]["City"], "Seattle", "the partner's own details read back");
    assert!(!got.to_string().contains("CRM-ACME"), "the operator's record id is not the partner's to see: {got}");
    assert!(got.get("ReasonCode").is_none() && got.get("Issues").is_none(), "{got}");

    let globex = create(&app, &c, json!({"CompanyName": "Globex", "Address": {"CountryCode": "US"}})).await;
    let globex_id = globex["Id"].as_str().unwrap().to_string();
    let got = settled(&app, &c, &globex_id).await;
    // CreateCustomerAccount does not answer LastModifiedDate (the model): the CRM reads it.
    let globex_read = got["LastModifiedDate"].clone();
    assert!(globex_read.is_string(), "{got}");
    assert_eq!(got["EnrichmentStatus"], "ACTION_REQUIRED", "{got}");
    assert!(got.get("ReasonCode").is_none(), "several candidates is no duplicate: {got}");
    let message = got["Issues"][0]["Message"].as_str().unwrap();
    assert!(message.contains("Account.Duns") && message.contains("Account.Domain"), "{message}");
    assert!(got.get("AwsEnrichment").is_none(), "nothing enriched: {got}");

    let nobody = create(&app, &c, json!({"CompanyName": "Initech", "Address": {"CountryCode": "US"}})).await;
    assert_eq!(settled(&app, &c, nobody["Id"].as_str().unwrap()).await["EnrichmentStatus"], "NO_MATCH_FOUND");

    let again = create(&app, &c, json!({"CompanyName": "Acme Widgets Incorporated", "Domain": "acme-widgets.com"})).await;
    let got = settled(&app, &c, again["Id"].as_str().unwrap()).await;
    assert_eq!(
        (got["EnrichmentStatus"].as_str(), got["ReasonCode"].as_str()),
        (Some("ACTION_REQUIRED"), Some("DUPLICATE_CUSTOMER_MATCH"))
    );
    assert_eq!(got["ExistingCustomerAccountArn"], acme["Arn"], "the account that already maps the customer");

    // The deciding field given, matching runs again and settles it.
    let (status, stale) = app
        .call(
            &c,
            "UpdateCustomerAccount",
            json!({"Catalog": "AWS", "Identifier": globex_id, "LastModifiedDate": "2020-01-01T00:00:00Z",
                  "Account": {"CompanyName": "Globex", "Duns": "222222222"}}),
        )
        .await;
    assert_eq!((status, stale["__type"].as_str()), (400, Some("ConflictException")), "a stale LastModifiedDate: {stale}");
    let (status, updated) = app
        .call(&c, "UpdateCustomerAccount", json!({"Catalog": "AWS", "Identifier": globex["Arn"], "LastModifiedDate": globex_read,
                  "Account": {"CompanyName": "Globex", "Duns": "222222222", "Address": {"CountryCode": "US"}}, "PartnerAccountIdentifier": "crm-42"}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!((updated["Status"].as_str(), updated["PartnerAccountIdentifier"].as_str()), (Some("PENDING"), Some("crm-42")));
    assert_ne!(updated["LastModifiedDate"], globex_read);
    let got = settled(&app, &c, &globex_id).await;
    assert_eq!(
        (got["EnrichmentStatus"].as_str(), got["AwsEnrichment"]["Customer"]["Industry"].as_str()),
        (Some("ENRICHED"), Some("Manufacturing"))
    );
    let (status, _) = app
        .call(
            &c,
            "UpdateCustomerAccount",
            json!({"Catalog": "AWS", "Identifier": globex_id, "LastModifiedDate": globex_read,
                  "Account": {"CompanyName": "Globex"}}),
        )
        .await;
    assert_eq!(status, 400, "the first update moved LastModifiedDate: the old one is stale now");

    let (status, blank) =
        app.call(&c, "CreateCustomerAccount", json!({"Catalog": "AWS", "Account": {"CompanyName": "  "}})).await;
    assert_eq!((status, blank["__type"].as_str()), (400, Some("ValidationException")), "{blank}");
    let (status, bad_duns) =
        app.call(&c, "CreateCustomerAccount", json!({"Catalog": "AWS", "Account": {"CompanyName": "X", "Duns": "12"}})).await;
    assert_eq!((status, bad_duns["__type"].as_str()), (400, Some("ValidationException")), "the model's pattern: {bad_duns}");
}

#[tokio::test]
async fn customer_accounts_search_filters_sorts_pages_and_counts() {
    let app = TestApp::start().await;
    import_customers(&app).await;
    let c = app.partner("P-A").await;
    let mut ids = Vec::new();
    for account in [
        json!({"CompanyName": "Acme Widgets", "Domain": "acme-widgets.com"}),
        json!({"CompanyName": "Globex", "Duns": "111111111", "Address": {"CountryCode": "US"}}),
        json!({"CompanyName": "Initech", "Address": {"CountryCode": "US"}}),
    ] {
        let id = create(&app, &c, account).await["Id"].as_str().unwrap().to_string();
        settled(&app, &c, &id).await;
        ids.push(id);
        app.state.clock.advance(chrono::TimeDelta::seconds(1)).unwrap();
    }
    let (status, enriched) = search(
        &app,
        &c,
        json!({"Filter": {"EqualsTo": {"Key": "ENRICHMENT_STATUS", "Value": {"StringValue": "ENRICHED"}}},
                                             "Sort": {"SortBy": "COMPANY_NAME", "SortOrder": "ASCENDING"}}),
    )
    .await;
    assert_eq!(status, 200, "{enriched}");
    let names: Vec<&str> = enriched["CustomerAccountSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["CustomerAccount"]["CompanyName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Widgets", "Globex"]);
    let first = &enriched["CustomerAccountSummaries"][0];
    assert_eq!(first["AwsEnrichment"]["Customer"]["Industry"], "Retail");
    assert!(first["AwsEnrichment"]["Customer"].get("Sector").is_none(), "a summary has the summary's members only");

    let (_, tree) = search(
        &app,
        &c,
        json!({"Filter": {"OrAllFilters": [
            {"ContainsAny": {"Key": "PROGRAM_ELIGIBILITY", "Value": {"StringListValue": ["MAP"]}}},
            {"NotFilter": {"EqualsTo": {"Key": "ENRICHMENT_STATUS", "Value": {"StringValue": "ENRICHED"}}}}]},
        "Sort": {"SortBy": "SOLUTION_SCORE", "SortOrder": "DESCENDING"}}),
    )
    .await;
    let names: Vec<&str> = tree["CustomerAccountSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["CustomerAccount"]["CompanyName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme Widgets", "Initech"], "High first, unscored last: {tree}");

    // Pages of one, the token bound to the request it came from.
    let (_, page) =
        search(&app, &c, json!({"MaxResults": 1, "Sort": {"SortBy": "CREATED_DATE", "SortOrder": "ASCENDING"}})).await;
    assert_eq!(page["CustomerAccountSummaries"][0]["Id"].as_str(), Some(ids[0].as_str()));
    let token = page["NextToken"].as_str().unwrap().to_string();
    let (_, next) = search(
        &app,
        &c,
        json!({"MaxResults": 1, "NextToken": token, "Sort": {"SortBy": "CREATED_DATE", "SortOrder": "ASCENDING"}}),
    )
    .await;
    assert_eq!(next["CustomerAccountSummaries"][0]["Id"].as_str(), Some(ids[1].as_str()));
    let (status, _) = search(
        &app,
        &c,
        json!({"MaxResults": 1, "NextToken": token, "Sort": {"SortBy": "COMPANY_NAME", "SortOrder": "ASCENDING"}}),
    )
    .await;
    assert_eq!(status, 400, "a token of another request");

    // Bad trees read nothing and say where.
    let (status, two) = search(
        &app,
        &c,
        json!({"Filter": {
        "EqualsTo": {"Key": "ENRICHMENT_STATUS", "Value": {"StringValue": "ENRICHED"}},
        "NotFilter": {"EqualsTo": {"Key": "COMPANY_NAME", "Value": {"StringValue": "x"}}}}}),
    )
    .await;
    assert_eq!((status, two["__type"].as_str()), (400, Some("ValidationException")), "{two}");
    let mut deep = json!({"EqualsTo": {"Key": "COMPANY_NAME", "Value": {"StringValue": "x"}}});
    for _ in 0..5 {
        deep = json!({"NotFilter": deep});
    }
    let (status, too_deep) = search(&app, &c, json!({"Filter": deep})).await;
    assert_eq!(status, 400, "{too_deep}");
    assert!(too_deep.to_string().contains("levels deep"), "{too_deep}");
    let (status, _) =
        search(&app, &c, json!({"Filter": {"GreaterThan": {"Key": "CREATED_DATE", "Value": {"StringValue": "yesterday"}}}}))
            .await;
    assert_eq!(status, 400, "a date compared with a string");

    let (status, stats) = app
        .call(
            &c,
            "GetCustomerAccountStatistics",
            json!({"Catalog": "AWS", "IncludeMissing": true,
              "Aggregations": [{"GroupBy": ["ENRICHMENT_STATUS"]}, {"GroupBy": ["AWS_INDUSTRY"]}]}),
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["TotalCount"], 3);
    assert_eq!(
        stats["Aggregations"][0]["Buckets"],
        json!([{"Values": ["ENRICHED"], "Count": 2}, {"Values": ["NO_MATCH_FOUND"], "Count": 1}])
    );
    assert_eq!(stats["Aggregations"][1]["GroupBy"], json!(["AWS_INDUSTRY"]));
    assert_eq!(
        stats["Aggregations"][1]["Buckets"],
        json!([{"Values": ["Energy"], "Count": 1}, {"Values": ["MISSING"], "Count": 1}, {"Values": ["Retail"], "Count": 1}])
    );
    assert_eq!(stats["Aggregations"][1]["OtherCount"], 0);
    let (_, filtered) = app
        .call(
            &c,
            "GetCustomerAccountStatistics",
            json!({"Catalog": "AWS",
              "Filter": {"EqualsTo": {"Key": "AWS_INDUSTRY", "Value": {"StringValue": "retail"}}}}),
        )
        .await;
    assert_eq!(filtered["TotalCount"], 1, "{filtered}");
}

/// USE-4: a partner never sees, changes, deletes or learns of another partner's accounts; a
/// duplicate is looked for among the caller's own accounts only.
#[tokio::test]
async fn use_4_customer_accounts_are_their_partners_own() {
    let app = TestApp::start().await;
    import_customers(&app).await;
    let (a, b) = (app.partner("P-A").await, app.partner("P-B").await);
    let mine = create(&app, &a, json!({"CompanyName": "Acme Widgets", "Domain": "acme-widgets.com"})).await;
    let id = mine["Id"].as_str().unwrap().to_string();
    let theirs = create(&app, &b, json!({"CompanyName": "Acme Widgets", "Domain": "acme-widgets.com"})).await;
    let got = settled(&app, &b, theirs["Id"].as_str().unwrap()).await;
    assert_eq!(got["EnrichmentStatus"], "ENRICHED", "another partner's account of the customer is no duplicate: {got}");

    for identifier in [json!(id), mine["Arn"].clone()] {
        let (status, body) = app.call(&b, "GetCustomerAccount", json!({"Catalog": "AWS", "Identifier": identifier})).await;
        assert_eq!((status, body["__type"].as_str()), (400, Some("ResourceNotFoundException")), "{body}");
    }
    let (status, _) = app
        .call(
            &b,
            "UpdateCustomerAccount",
            json!({"Catalog": "AWS", "Identifier": id, "LastModifiedDate": "2026-01-01T00:00:00Z",
                  "Account": {"CompanyName": "Hijacked"}}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) =
        app.call(&b, "TagResource", json!({"ResourceArn": mine["Arn"], "Tags": [{"Key": "k", "Value": "v"}]})).await;
    assert_eq!(status, 400);
    let (status, _) = app.call(&b, "DeleteCustomerAccount", json!({"Catalog": "AWS", "Identifier": id})).await;
    assert_eq!(status, 200, "idempotent, and it tells nothing of another partner's account");
    let (_, search) = app.call(&b, "SearchCustomerAccounts", json!({"Catalog": "AWS"})).await;
    assert_eq!(search["CustomerAccountSummaries"].as_array().unwrap().len(), 1, "{search}");
    let (_, stats) = app.call(&b, "GetCustomerAccountStatistics", json!({"Catalog": "AWS"})).await;
    assert_eq!(stats["TotalCount"], 1);
    assert_eq!(settled(&app, &a, &id).await["Account"]["CompanyName"], "Acme Widgets", "untouched by the other partner");

    // The owner's tags, delete (twice), and a Sandbox account that is not in AWS.
    let before = settled(&app, &a, &id).await["LastModifiedDate"].clone();
    let (status, _) =
        app.call(&a, "TagResource", json!({"ResourceArn": mine["Arn"], "Tags": [{"Key": "team", "Value": "east"}]})).await;
    assert_eq!(status, 200);
    let got = settled(&app, &a, &id).await;
    assert_eq!(got["Tags"], json!([{"Key": "team", "Value": "east"}]));
    assert_eq!(got["LastModifiedDate"], before, "tagging moves no LastModifiedDate");
    for _ in 0..2 {
        let (status, body) = app.call(&a, "DeleteCustomerAccount", json!({"Catalog": "AWS", "Identifier": mine["Arn"]})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = app.call(&a, "GetCustomerAccount", json!({"Catalog": "AWS", "Identifier": id})).await;
    assert_eq!(status, 400);
    let (status, _) = app.call(&a, "GetCustomerAccount", json!({"Catalog": "Sandbox", "Identifier": theirs["Id"]})).await;
    assert_eq!(status, 400);
}

/// A repeated ClientToken answers what the first call answered; with another body it is a
/// conflict; without a token every call creates.
#[tokio::test]
async fn customer_account_client_tokens_create_once() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let body = json!({"Catalog": "Sandbox", "ClientToken": "crm-sync-1", "Account": {"CompanyName": "Acme"}, "Tags": [{"Key": "a", "Value": "b"}]});
    let (_, first) = app.call(&c, "CreateCustomerAccount", body.clone()).await;
    let (status, second) = app.call(&c, "CreateCustomerAccount", body.clone()).await;
    assert_eq!((status, &second["Id"]), (200, &first["Id"]), "{second}");
    let mut other = body.clone();
    other["Account"]["CompanyName"] = json!("Other");
    let (status, conflict) = app.call(&c, "CreateCustomerAccount", other).await;
    assert_eq!((status, conflict["__type"].as_str()), (400, Some("ConflictException")), "{conflict}");
    let untokened = json!({"Catalog": "Sandbox", "Account": {"CompanyName": "Acme"}});
    let (_, x) = app.call(&c, "CreateCustomerAccount", untokened.clone()).await;
    let (_, y) = app.call(&c, "CreateCustomerAccount", untokened).await;
    assert_ne!(x["Id"], y["Id"]);
    let (_, search) = app.call(&c, "SearchCustomerAccounts", json!({"Catalog": "Sandbox"})).await;
    assert_eq!(search["CustomerAccountSummaries"].as_array().unwrap().len(), 3, "{search}");
    let (_, got) = app.call(&c, "GetCustomerAccount", json!({"Catalog": "Sandbox", "Identifier": first["Id"]})).await;
    assert_eq!(got["Tags"], json!([{"Key": "a", "Value": "b"}]));
}
