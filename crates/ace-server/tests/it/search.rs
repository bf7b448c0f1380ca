//! SearchOpportunities (issue 20) over the wire. The official Rust SDK (1.84.0, the newest
//! published) has no SearchOpportunities yet, so these are signed raw awsJson requests (the AWS
//! CLI with the published model covers it end to end in tests/e2e/search.sh).

use serde_json::{json, Value};

use crate::support::{Credentials, TestApp};

async fn create(app: &TestApp, c: &Credentials, company: &str, title: &str, stage: &str, mrr: &str) -> (String, String) {
    let body = json!({"Catalog": "AWS", "ClientToken": format!("{company}-{title}"),
        "Customer": {"Account": {"CompanyName": company, "WebsiteUrl": "https://customer.example.com", "Industry": "Retail",
            "Address": {"CountryCode": "US", "PostalCode": "98101"}}},
        "Project": {"Title": title, "CustomerBusinessProblem": "Their reporting runs for hours on an old warehouse.",
            "ExpectedCustomerSpend": [{"Amount": mrr, "CurrencyCode": "USD", "Frequency": "Monthly", "TargetCompany": "AWS"}]},
        "LifeCycle": {"Stage": stage, "TargetCloseDate": "2099-01-31"}});
    let (status, v) = app.call(c, "CreateOpportunity", body).await;
    assert_eq!(status, 200, "{v}");
    (v["Id"].as_str().unwrap().to_string(), v["LastModifiedDate"].as_str().unwrap().to_string())
}

async fn search(app: &TestApp, c: &Credentials, mut body: Value) -> (u16, Value) {
    body["Catalog"] = json!("AWS");
    app.call(c, "SearchOpportunities", body).await
}

fn ids(v: &Value) -> Vec<String> {
    v["OpportunitySearchSummaries"].as_array().unwrap().iter().map(|s| s["Id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn use_4_search_opportunities_finds_by_keyword_filter_and_sort_the_callers_own_only() {
    let app = TestApp::start().await;
    let (a, b) = (app.partner("P-A").await, app.partner("P-B").await);
    let (lake, _) = create(&app, &a, "Acme Retail", "Lakehouse migration", "Qualified", "2500").await;
    let (globex, globex_modified) = create(&app, &a, "Globex", "Lakehouse for finance", "Qualified", "400").await;
    let (small, _) = create(&app, &a, "Initech", "Lakehouse pilot", "Prospect", "100").await;
    let (other, _) = create(&app, &a, "Umbrella", "Mainframe exit", "Qualified", "9000").await;
    let (theirs, _) = create(&app, &b, "Acme Retail", "Lakehouse migration", "Qualified", "2500").await;

    let (status, v) = search(&app, &a, json!({"Keyword": "lakehouse"})).await;
    assert_eq!(status, 200, "{v}");
    let mut found = ids(&v);
    found.sort();
    let mut expected = vec![lake.clone(), globex.clone(), small.clone()];
    expected.sort();
    assert_eq!(found, expected, "USE-4: never {theirs}, the same words of another partner");
    let (_, v) = search(&app, &b, json!({"Keyword": "Lakehouse Migration"})).await;
    assert_eq!(ids(&v), std::slice::from_ref(&theirs));

    // The keyword AND a two-level filter: Qualified, and either over 1,000 a month or Globex.
    let filter = json!({"AndAllFilters": [
        {"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "Qualified"}}},
        {"OrAllFilters": [
            {"GreaterThan": {"Key": "EstimatedMrr", "Value": {"DoubleValue": 1000.0}}},
            {"ContainsAny": {"Key": "CustomerCompanyName", "Value": {"StringListValue": ["globex"]}}}
        ]}
    ]});
    let sort = json!({"SortBy": "EstimatedMrr", "SortOrder": "DESCENDING"});
    let (_, v) = search(&app, &a, json!({"Keyword": "lake", "Filter": filter, "Sort": sort})).await;
    assert_eq!(ids(&v), [lake.clone(), globex.clone()], "{v}");
    let summary = &v["OpportunitySearchSummaries"][0];
    assert_eq!(summary["Customer"]["Account"]["CompanyName"], "Acme Retail");
    assert_eq!(summary["LifeCycle"]["Stage"], "Qualified");
    assert_eq!(summary["LifeCycle"]["ReviewStatus"], "Pending Submission");
    assert_eq!(summary["Project"]["Title"], "Lakehouse migration");
    assert_eq!(summary["Project"]["ExpectedCustomerSpend"][0]["Amount"], "2500");
    assert_eq!(summary["AwsOpportunitySummary"]["Origin"], "Partner Referral");
    assert!(summary["LastModifiedDate"].is_string() && summary["CreatedDate"].is_string(), "{summary}");

    // Pages of two, by company name: each once, in order, and the token is bound to its search.
    let sort = json!({"SortBy": "CustomerCompanyName", "SortOrder": "ASCENDING"});
    let (_, first) = search(&app, &a, json!({"Sort": sort, "MaxResults": 2})).await;
    assert_eq!(ids(&first), [lake.clone(), globex.clone()], "{first}");
    let token = first["NextToken"].as_str().expect("a next page").to_string();
    let (_, second) = search(&app, &a, json!({"Sort": sort, "MaxResults": 2, "NextToken": token})).await;
    assert_eq!(ids(&second), [small.clone(), other.clone()], "{second}");
    assert!(second.get("NextToken").is_none(), "{second}");
    let (status, v) = search(&app, &a, json!({"Sort": sort, "Keyword": "lake", "NextToken": token})).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ValidationException")), "another search's token: {v}");
    let (status, v) = search(&app, &b, json!({"Sort": sort, "MaxResults": 2, "NextToken": token})).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ValidationException")), "USE-4: another partner's token: {v}");

    // An update is searchable at once: its words are written in the same transaction.
    let body = json!({"Catalog": "AWS", "Identifier": globex, "LastModifiedDate": globex_modified,
        "Customer": {"Account": {"CompanyName": "Globex", "WebsiteUrl": "https://customer.example.com", "Industry": "Retail",
            "Address": {"CountryCode": "US", "PostalCode": "98101"}}},
        "Project": {"Title": "Quantum ledger", "CustomerBusinessProblem": "Their reporting runs for hours on an old warehouse."},
        "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-01-31", "NextSteps": "Zeppelin workshop"}});
    let (status, v) = app.call(&a, "UpdateOpportunity", body).await;
    assert_eq!(status, 200, "{v}");
    let (_, v) = search(&app, &a, json!({"Keyword": "zeppelin quantum"})).await;
    assert_eq!(ids(&v), std::slice::from_ref(&globex));
    let (_, v) = search(&app, &a, json!({"Keyword": "lakehouse finance"})).await;
    assert!(ids(&v).is_empty(), "the old title's words are gone: {v}");
}

#[tokio::test]
async fn search_opportunities_refuses_stop_words_and_filters_beyond_the_models_limits() {
    let app = TestApp::start().await;
    let a = app.partner("P-A").await;
    let refused = |v: &Value, field: &str| {
        assert_eq!(v["__type"], "ValidationException", "{v}");
        let fields: Vec<&str> = v["ErrorList"].as_array().unwrap().iter().filter_map(|e| e["FieldName"].as_str()).collect();
        assert!(fields.iter().any(|f| f.starts_with(field)), "{field} in {v}");
    };
    let (status, v) = search(&app, &a, json!({"Keyword": "the and of"})).await;
    assert_eq!(status, 400);
    refused(&v, "Keyword");
    let leaf = json!({"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "Qualified"}}});
    let deep = json!({"NotFilter": {"NotFilter": {"NotFilter": leaf}}});
    let (_, v) = search(&app, &a, json!({"Filter": deep})).await;
    refused(&v, "Filter.NotFilter.NotFilter.NotFilter");
    let wide: Vec<Value> = (0..7).map(|_| json!({"AndAllFilters": [leaf, leaf, leaf]})).collect();
    let (_, v) = search(&app, &a, json!({"Filter": {"OrAllFilters": wide}})).await;
    refused(&v, "Filter");
    let two = json!({"EqualsTo": leaf["EqualsTo"], "NotFilter": leaf});
    let (_, v) = search(&app, &a, json!({"Filter": two})).await;
    refused(&v, "Filter");
    let (_, v) = search(&app, &a, json!({"Filter": {"EqualsTo": {"Key": "Colour", "Value": {"StringValue": "red"}}}})).await;
    refused(&v, "Filter");
    let (_, v) =
        search(&app, &a, json!({"Filter": {"GreaterThan": {"Key": "CreatedDate", "Value": {"StringValue": "soon"}}}})).await;
    refused(&v, "Filter.GreaterThan.Value");
    let (_, v) = search(&app, &a, json!({"Sort": {"SortBy": "Colour", "SortOrder": "ASCENDING"}})).await;
    refused(&v, "Sort");
    let (_, v) = search(&app, &a, json!({"Keyword": "x".repeat(501)})).await;
    refused(&v, "Keyword");
    let (status, v) = search(&app, &a, json!({"Keyword": "nothing-here"})).await;
    assert_eq!((status, ids(&v).len()), (200, 0), "{v}");
}

/// The opportunity number of an id, for ordering as the store does (`O` and a number).
fn number(id: &str) -> i64 {
    id[1..].parse().unwrap()
}

async fn create_many(app: &TestApp, c: &Credentials, count: usize, from: usize) -> Vec<(String, String)> {
    let mut made = Vec::with_capacity(count);
    for i in from..from + count {
        let stage = if i % 10 == 0 { "Prospect" } else { "Qualified" };
        made.push((create(app, c, &format!("Company {i}"), "Alpha common words", stage, "100").await.0, stage.to_string()));
    }
    made
}

async fn all_pages(app: &TestApp, c: &Credentials, body: Value, mut token: Option<String>, pages: &mut usize) -> Vec<String> {
    let mut found = Vec::new();
    loop {
        let mut ask = body.clone();
        if let Some(t) = &token {
            ask["NextToken"] = json!(t);
        }
        let (status, v) = search(app, c, ask).await;
        assert_eq!(status, 200, "{v}");
        found.extend(ids(&v));
        *pages += 1;
        match v.get("NextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => return found,
        }
    }
}

#[tokio::test]
async fn use_4_a_search_matching_thousands_pages_through_the_index_in_order_and_keeps_its_tokens() {
    // More matches than `app::search::FEW_MATCHES` (2,000): the partner's rows are read in
    // order through the store's own index and checked against the keyword's matches; fewer,
    // the store reads the matches by number, in order. Either way one page at a time.
    // index in order, a chunk at a time, not from reading and ordering every match.
    let app = TestApp::start().await;
    let (a, b) = (app.partner("P-A").await, app.partner("P-B").await);
    let early = create_many(&app, &a, 3, 0).await;
    let (theirs, _) = create(&app, &b, "Company B", "Alpha common words", "Qualified", "100").await;

    // A first page while three match (the store reads those three)...
    let (status, first) = search(&app, &a, json!({"Keyword": "alpha", "MaxResults": 2})).await;
    assert_eq!(status, 200, "{first}");
    let mut expected: Vec<String> = early.iter().map(|(id, _)| id.clone()).collect();
    // The program clock stands still: every opportunity has the same LastModifiedDate, so the
    // default order (newest change first) is by id number, descending, as the store orders ties.
    expected.sort_by_key(|id| std::cmp::Reverse(number(id)));
    assert_eq!(ids(&first), expected[..2]);
    let token = first["NextToken"].as_str().expect("a next page").to_string();

    // ...then thousands more match, an hour later: the token goes on from where it stopped.
    app.state.clock.advance(chrono::TimeDelta::hours(1)).unwrap();
    let later = create_many(&app, &a, 2_050, 3).await;
    // Some of the partner's opportunities without the words: the index's answer leaves them out.
    let mut unrelated = Vec::new();
    for i in 0..5 {
        unrelated.push(create(&app, &a, &format!("Other {i}"), "Mainframe exit", "Qualified", "100").await.0);
    }
    let cursor = number(&expected[1]);
    let mut pages = 0;
    let rest = all_pages(&app, &a, json!({"Keyword": "alpha", "MaxResults": 2}), Some(token), &mut pages).await;
    let older: Vec<String> = expected.iter().filter(|id| number(id) < cursor).cloned().collect();
    assert_eq!(rest, older, "the newer changes sort before the cursor; only the older remain");

    // A whole search in pages of 100, newest change first: every match once, in order, and
    // never another partner's words (USE-4).
    let mut newest: Vec<String> = later.iter().map(|(id, _)| id.clone()).collect();
    newest.sort_by_key(|id| std::cmp::Reverse(number(id)));
    let mut all = newest.clone();
    all.extend(expected.iter().cloned());
    let mut pages = 0;
    let found = all_pages(&app, &a, json!({"Keyword": "common words", "MaxResults": 100}), None, &mut pages).await;
    assert_eq!(found.len(), 2_053);
    assert!(!found.contains(&theirs), "USE-4");
    assert_eq!(found, all);
    assert_eq!(pages, 21);

    // With a filter and oldest first by creation: the Prospects only, in order.
    let filter = json!({"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "Prospect"}}});
    let sort = json!({"SortBy": "CreatedDate", "SortOrder": "ASCENDING"});
    let mut prospects: Vec<(bool, i64, String)> = early
        .iter()
        .map(|o| (false, o))
        .chain(later.iter().map(|o| (true, o)))
        .filter(|(_, (_, stage))| stage == "Prospect")
        .map(|(late, (id, _))| (late, number(id), id.clone()))
        .collect();
    prospects.sort();
    let prospects: Vec<String> = prospects.into_iter().map(|(_, _, id)| id).collect();
    assert_eq!(prospects.len(), 206);
    let body = json!({"Keyword": "alpha", "Filter": filter, "Sort": sort, "MaxResults": 50});
    let mut pages = 0;
    assert_eq!(all_pages(&app, &a, body, None, &mut pages).await, prospects);
    assert_eq!(pages, 5);

    // A keyword of few matches with a filter, in pages of two: the store reads those by number.
    let filter = json!({"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "Qualified"}}});
    let sort = json!({"SortBy": "CreatedDate", "SortOrder": "ASCENDING"});
    let mut few = unrelated.clone();
    few.sort_by_key(|id| number(id));
    let mut pages = 0;
    let body = json!({"Keyword": "mainframe", "Filter": filter, "Sort": sort, "MaxResults": 2});
    assert_eq!(all_pages(&app, &a, body, None, &mut pages).await, few);
    assert_eq!(pages, 3);

    // Thousands match the keyword but the filter keeps one: past the scan budget the matches
    // are read and ordered instead — the same answer.
    let one = json!({"ContainsAny": {"Key": "CustomerCompanyName", "Value": {"StringListValue": ["company 2050"]}}});
    let (status, v) = search(&app, &a, json!({"Keyword": "alpha", "Filter": one, "MaxResults": 1})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(ids(&v), [later[2050 - 3].0.clone()], "{v}");
    assert!(v.get("NextToken").is_none(), "{v}");

    // No keyword at all, by id: the same paging through the index.
    let sort = json!({"SortBy": "OpportunityId", "SortOrder": "ASCENDING"});
    let mut by_id = all.clone();
    by_id.extend(unrelated.iter().cloned());
    by_id.sort_by_key(|id| number(id));
    let mut pages = 0;
    assert_eq!(all_pages(&app, &a, json!({"Sort": sort, "MaxResults": 100}), None, &mut pages).await, by_id);
}
