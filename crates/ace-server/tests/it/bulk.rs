//! Opportunity bulk jobs (issue 20) over the wire, with their files in a real S3 API on
//! loopback (moto in server mode, started by the test; skipped, saying so, where moto is not
//! installed — `.ci/run` installs it). The official Rust SDK (1.84.0) has no bulk job
//! operations yet, so these are signed raw awsJson requests; the AWS CLI covers them end to
//! end in tests/e2e/bulk.sh.

use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::support::{Credentials, TestApp};

const BUCKET: &str = "ace-uploads";

/// A moto S3 server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub async fn start() -> Option<Moto> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                // CI (ACE_REQUIRE_E2E) must run these; elsewhere they say plainly they did not.
                assert!(std::env::var_os("ACE_REQUIRE_E2E").is_none(), "moto_server is required: {e}");
                eprintln!("SKIPPED: moto_server is not installed ({e}); `python3 -m pip install 'moto[server]'` runs these");
                return None;
            }
        };
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        for _ in 0..200 {
            if reqwest::get(&moto.endpoint).await.is_ok() {
                return Some(moto);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto_server did not answer on {}", moto.endpoint);
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub async fn put(&self, key: &str, body: &[u8]) {
        let client = self.client();
        let _ = client.create_bucket().bucket(BUCKET).send().await;
        client.put_object().bucket(BUCKET).key(key).body(body.to_vec().into()).send().await.unwrap();
    }
}

async fn app_with(moto: &Moto) -> TestApp {
    let endpoint = moto.endpoint.clone();
    TestApp::start_with(move |s| {
        s.files.s3_endpoint = Some(endpoint);
        s.files.s3_bucket = Some(BUCKET.into());
    })
    .await
}

/// An opportunity job of partner P-A's user `c`, as a start would record it (not committed).
async fn new_job(app: &TestApp, c: &Credentials, id: &str, file: &str) -> ace_domain::bulk::BulkJob {
    let partner = app.state.store.get_partner("P-A").await.unwrap().unwrap();
    ace_domain::bulk::BulkJob::new(
        id.into(),
        ace_domain::bulk::JobKind::Opportunity,
        ace_domain::ids::Catalog::Aws,
        &partner.id,
        &c.access_key_id,
        "t",
        &format!("https://files.example.com/{file}"),
        app.state.now(),
    )
}

async fn start_job(app: &TestApp, c: &Credentials, uri: &str, token: &str) -> (u16, Value) {
    app.call(c, "StartOpportunityBulkJob", json!({"Catalog": "AWS", "ClientToken": token, "FileURI": uri, "FileFormat": "CSV"}))
        .await
}

/// The job's summary once it has finished.
async fn finished(app: &TestApp, c: &Credentials, job: &str) -> Value {
    for _ in 0..1_000 {
        let (status, v) = app.call(c, "ListOpportunityBulkJobs", json!({"Catalog": "AWS", "JobId": job})).await;
        assert_eq!(status, 200, "{v}");
        let summary = v["OpportunityBulkJobSummaries"][0].clone();
        if summary["Status"] == "COMPLETED" || summary["Status"] == "FAILED" {
            return summary;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("bulk job {job} did not finish");
}

async fn results(app: &TestApp, c: &Credentials, job: &str, status: Option<&str>) -> Vec<Value> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"Catalog": "AWS", "JobId": job, "MaxResults": 2});
        if let Some(s) = status {
            body["Status"] = json!(s);
        }
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let (code, v) = app.call(c, "ListOpportunityBulkJobResults", body).await;
        assert_eq!(code, 200, "{v}");
        all.extend(v["Results"].as_array().unwrap().iter().cloned());
        match v["NextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return all,
        }
    }
}

const HEADER: &str = "RequestId,PartnerOpportunityIdentifier,Customer.Account.CompanyName,Customer.Account.WebsiteUrl,\
Customer.Account.Industry,Customer.Account.Address.CountryCode,Customer.Account.Address.PostalCode,Project.Title,\
Project.CustomerBusinessProblem,Project.ExpectedCustomerSpend[0].Amount,Project.ExpectedCustomerSpend[0].CurrencyCode,\
Project.ExpectedCustomerSpend[0].Frequency,Project.ExpectedCustomerSpend[0].TargetCompany,LifeCycle.Stage,LifeCycle.TargetCloseDate";

fn good_row(n: usize) -> String {
    format!(
        "crm-{n},PID-{n},Bulkco {n} Inc,https://bulkco{n}.example.com,Retail,US,98101,Lakehouse {n},\
         Their reporting runs for hours on an old warehouse.,1200,USD,Monthly,AWS,Qualified,2099-01-31"
    )
}

#[tokio::test]
async fn a_bulk_file_from_s3_applies_each_good_row_once_and_reports_each_bad_one() {
    let Some(moto) = Moto::start().await else { return };
    let app = app_with(&moto).await;
    let c = app.partner("P-A").await;
    let account = app.account_id("P-A").await;
    let mut file = format!("{HEADER}\n");
    for n in 1..=4 {
        file.push_str(&good_row(n));
        file.push('\n');
    }
    // Line 6: an unknown stage (the model refuses it); line 7: a spend that is not an amount.
    file.push_str(&good_row(5).replace("Qualified", "Daydreaming"));
    file.push('\n');
    file.push_str(&good_row(6).replace(",1200,", ",lots,"));
    file.push('\n');
    // Line 8: the CRM record of line 2 again (issue 25: one opportunity per identifier).
    file.push_str(&good_row(7).replace("PID-7", "PID-1"));
    file.push('\n');
    moto.put(&format!("{account}/uploads/q3.csv"), file.as_bytes()).await;

    let uri = format!("s3://{BUCKET}/{account}/uploads/q3.csv");
    let (status, started) = start_job(&app, &c, &uri, "q3-1").await;
    assert_eq!(status, 200, "{started}");
    let job = started["JobId"].as_str().unwrap().to_string();
    assert!(job.starts_with("bulkjob-") && job.len() == 21, "{job}");
    let (_, again) = start_job(&app, &c, &uri, "q3-1").await;
    assert_eq!(again["JobId"], started["JobId"], "the same ClientToken: the same job");

    let summary = finished(&app, &c, &job).await;
    assert_eq!(summary["Status"], "COMPLETED", "{summary}");
    assert_eq!(
        (&summary["TotalRecords"], &summary["ProcessedRecords"], &summary["SuccessCount"], &summary["FailureCount"]),
        (&json!(7), &json!(7), &json!(4), &json!(3)),
        "{summary}"
    );
    assert_eq!((summary["OperationType"].as_str(), summary["FileName"].as_str()), (Some("BULK_CREATE"), Some("q3.csv")));

    let all = results(&app, &c, &job, None).await;
    assert_eq!(all.len(), 7, "{all:?}");
    let ok: Vec<&Value> = all.iter().filter(|r| r["Status"] == "SUCCEEDED").collect();
    for r in &ok {
        let id = r["ResourceIdentifier"].as_str().unwrap();
        let (status, got) = app.call(&c, "GetOpportunity", json!({"Catalog": "AWS", "Identifier": id})).await;
        assert_eq!(status, 200, "{got}");
        let n = r["RequestId"].as_str().unwrap().trim_start_matches("crm-");
        assert_eq!(got["Customer"]["Account"]["CompanyName"], format!("Bulkco {n} Inc"));
    }
    let (_, listed) = app.call(&c, "ListOpportunities", json!({"Catalog": "AWS", "MaxResults": 100})).await;
    assert_eq!(listed["OpportunitySummaries"].as_array().unwrap().len(), 4, "each good row applied once: {listed}");
    let failed = results(&app, &c, &job, Some("FAILED")).await;
    assert_eq!(failed.iter().map(|r| r["RequestId"].as_str().unwrap()).collect::<Vec<_>>(), ["crm-5", "crm-6", "crm-7"]);
    assert_eq!(failed[0]["ErrorCode"], "ValidationException");
    assert!(failed[0]["ErrorMessage"].as_str().unwrap().contains("Stage"), "{failed:?}");
    assert!(failed[1]["ErrorMessage"].as_str().unwrap().contains("Amount"), "{failed:?}");
    assert!(failed[2]["ErrorMessage"].as_str().unwrap().contains("PID-1"), "{failed:?}");

    // The report: an S3 presigned URL to the failed records, for 15 minutes.
    let (status, report) =
        app.call(&c, "GetOpportunityBulkJobReportUrl", json!({"Catalog": "AWS", "JobId": job, "ReportFormat": "CSV"})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["ReportStatus"].as_str(), report["ReportType"].as_str()), (Some("AVAILABLE"), Some("FAILED_RECORDS")));
    let url = report["Url"].as_str().unwrap();
    assert!(url.starts_with(&moto.endpoint) && url.contains("X-Amz-Signature") && url.contains("X-Amz-Expires=900"), "{url}");
    let csv = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(
        csv.starts_with("RequestId,Line,Status") && csv.contains("crm-5,6,FAILED") && csv.contains("crm-6,7,FAILED"),
        "{csv}"
    );
    assert!(!csv.contains("crm-1,"), "failed records only: {csv}");

    // An update file: the header decides; a stale LastModifiedDate fails its row only.
    let first = ok[0]["ResourceIdentifier"].as_str().unwrap();
    let second = ok[1]["ResourceIdentifier"].as_str().unwrap();
    let (_, got) = app.call(&c, "GetOpportunity", json!({"Catalog": "AWS", "Identifier": first})).await;
    let modified = got["LastModifiedDate"].as_str().unwrap();
    let mut update = format!("{HEADER},Identifier,LastModifiedDate,LifeCycle.NextSteps\n");
    update.push_str(&format!("{},{first},{modified},Workshop booked\n", good_row(1).replace("crm-1", "up-1")));
    update.push_str(&format!("{},{second},2020-01-01T00:00:00Z,Stale\n", good_row(2).replace("crm-2", "up-2")));
    moto.put(&format!("{account}/uploads/update.csv"), update.as_bytes()).await;
    let (_, started) = start_job(&app, &c, &format!("s3://{BUCKET}/{account}/uploads/update.csv"), "upd-1").await;
    let job = started["JobId"].as_str().unwrap().to_string();
    let summary = finished(&app, &c, &job).await;
    assert_eq!((summary["OperationType"].as_str(), &summary["SuccessCount"]), (Some("BULK_UPDATE"), &json!(1)), "{summary}");
    let (_, got) = app.call(&c, "GetOpportunity", json!({"Catalog": "AWS", "Identifier": first})).await;
    assert_eq!(got["LifeCycle"]["NextSteps"], "Workshop booked");
    let failed = results(&app, &c, &job, Some("FAILED")).await;
    assert_eq!((failed[0]["RequestId"].as_str(), failed[0]["ErrorCode"].as_str()), (Some("up-2"), Some("ConflictException")));
}

#[tokio::test]
async fn use_4_a_bad_file_fails_its_job_and_a_bad_uri_or_another_partners_file_is_refused() {
    let Some(moto) = Moto::start().await else { return };
    let app = app_with(&moto).await;
    let (a, b) = (app.partner("P-A").await, app.partner("P-B").await);
    let (account, other) = (app.account_id("P-A").await, app.account_id("P-B").await);
    for (name, body, reason) in [
        ("unknown.csv", "Customer.Account.Colour\nred\n".as_bytes(), "is not a member"),
        ("latin1.csv", b"Customer.Account.CompanyName\nM\xfcller\n".as_slice(), "not UTF-8"),
        ("update.csv", b"Identifier,LifeCycle.NextSteps\nO1,Call\n".as_slice(), "LastModifiedDate"),
    ] {
        moto.put(&format!("{account}/{name}"), body).await;
        let (status, started) = start_job(&app, &a, &format!("s3://{BUCKET}/{account}/{name}"), name).await;
        assert_eq!(status, 200, "{started}");
        let summary = finished(&app, &a, started["JobId"].as_str().unwrap()).await;
        assert_eq!(summary["Status"], "FAILED", "{summary}");
        assert!(summary["FailureReason"].as_str().unwrap().contains(reason), "{reason} in {summary}");
        assert_eq!((&summary["SuccessCount"], &summary["FailureCount"]), (&json!(0), &json!(0)), "nothing half-applied");
    }
    let (status, started) = start_job(&app, &a, &format!("s3://{BUCKET}/{account}/missing.csv"), "missing").await;
    assert_eq!(status, 200);
    let summary = finished(&app, &a, started["JobId"].as_str().unwrap()).await;
    assert!(summary["FailureReason"].as_str().unwrap().contains("does not exist"), "{summary}");

    for uri in [
        format!("s3://{BUCKET}/{other}/unknown.csv"),
        format!("s3://another-bucket/{account}/unknown.csv"),
        "https://127.0.0.1/file.csv".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
    ] {
        let (status, v) = start_job(&app, &a, &uri, &uri).await;
        assert_eq!((status, v["__type"].as_str()), (400, Some("ValidationException")), "{uri}: {v}");
        assert_eq!(v["ErrorList"][0]["FieldName"], "FileURI", "{v}");
    }
    // USE-4: another partner sees none of its jobs.
    let (_, v) = app.call(&b, "ListOpportunityBulkJobs", json!({"Catalog": "AWS"})).await;
    assert_eq!(v["OpportunityBulkJobSummaries"], json!([]), "{v}");
    let (_, mine) = app.call(&a, "ListOpportunityBulkJobs", json!({"Catalog": "AWS"})).await;
    let job = mine["OpportunityBulkJobSummaries"][0]["JobId"].as_str().unwrap();
    let (status, v) = app.call(&b, "ListOpportunityBulkJobResults", json!({"Catalog": "AWS", "JobId": job})).await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ResourceNotFoundException")), "{v}");
}

#[tokio::test]
async fn without_a_bucket_reports_are_served_by_a_signed_link_that_expires() {
    use ace_domain::bulk::{RecordStatus, RowResult};
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let (status, v) = start_job(&app, &c, "s3://ace-uploads/1/f.csv", "t").await;
    assert_eq!((status, v["__type"].as_str()), (400, Some("ValidationException")), "no bucket configured: {v}");
    // A finished job as a run leaves it.
    let mut job = new_job(&app, &c, "bulkjob-0000000000001", "f.csv").await;
    job.complete(app.state.now());
    let result = |row: i64, status: RecordStatus| RowResult {
        job_id: job.id.clone(),
        row,
        request_id: format!("r{row}"),
        status,
        error_code: (status == RecordStatus::Failed).then(|| "ValidationException".into()),
        error_message: (status == RecordStatus::Failed).then(|| "Customer.Account.CompanyName is required".into()),
        resource_id: (status == RecordStatus::Succeeded).then(|| "O1".into()),
    };
    let batch = ace_store::WriteBatch {
        insert_bulk_jobs: vec![job.clone()],
        insert_bulk_results: vec![result(2, RecordStatus::Succeeded), result(3, RecordStatus::Failed)],
        ..Default::default()
    };
    app.state.store.commit(batch).await.unwrap();
    let body = json!({"Catalog": "AWS", "JobId": job.id, "ReportFormat": "CSV", "ReportType": "ALL_RECORDS"});
    let (status, report) = app.call(&c, "GetOpportunityBulkJobReportUrl", body.clone()).await;
    assert_eq!((status, report["ReportStatus"].as_str()), (200, Some("AVAILABLE")), "{report}");
    let url = report["Url"].as_str().unwrap();
    assert!(url.starts_with(&app.url("/bulk-reports/")), "{url}");
    let csv = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(csv.contains("r2,2,SUCCEEDED,O1") && csv.contains("r3,3,FAILED,,ValidationException"), "{csv}");
    let tampered = format!("{}x", &url[..url.len() - 1]);
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
    let (_, other) = app.call(&app.partner("P-B").await, "GetOpportunityBulkJobReportUrl", body).await;
    assert_eq!(other["__type"], "ResourceNotFoundException", "USE-4: {other}");
    ace_server::clock::Clock::advance(app.wall.as_ref(), chrono::TimeDelta::minutes(16)).unwrap();
    let expired = reqwest::get(url).await.unwrap();
    assert_eq!(expired.status(), 403, "15 minutes");
    assert!(expired.text().await.unwrap().contains("expired"));
}

/// A job survives a restart: a run resumes where the last one stopped, applies only the rows
/// without a result, and a create row applied before (its ClientToken) is not applied again.
#[tokio::test]
async fn a_resumed_job_applies_only_the_rows_without_a_result() {
    use ace_domain::bulk::JobStatus;
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let mut file = format!("{HEADER}\n");
    for n in 1..=5 {
        file.push_str(&good_row(n));
        file.push('\n');
    }
    let mut job = new_job(&app, &c, "bulkjob-00000000000r1", "q3.csv").await;
    // Another node was running it and died holding the lease, after lines 2 and 3.
    job.status = JobStatus::InProgress;
    job.total_records = 5;
    job.lease = Some(("dead-node".into(), app.state.wall_clock_ms() - 1));
    app.state
        .store
        .commit(ace_store::WriteBatch {
            insert_bulk_jobs: vec![job.clone()],
            put_bulk_files: vec![(job.id.clone(), file)],
            ..Default::default()
        })
        .await
        .unwrap();
    // Line 2 was applied (its create with the job's ClientToken, and its result) …
    let mut input =
        ace_domain::bulk::parse(ace_domain::bulk::JobKind::Opportunity, format!("{HEADER}\n{}\n", good_row(1)).as_bytes())
            .unwrap()
            .rows[0]
            .input
            .clone();
    input.insert("Catalog".into(), json!("AWS"));
    input.insert("ClientToken".into(), json!(format!("{}-2", job.id)));
    let (status, applied) = app.call(&c, "CreateOpportunity", Value::Object(input)).await;
    assert_eq!(status, 200, "{applied}");
    // … and line 3 too, but its result was lost: the ClientToken answers the same id.
    let mut input =
        ace_domain::bulk::parse(ace_domain::bulk::JobKind::Opportunity, format!("{HEADER}\n{}\n", good_row(2)).as_bytes())
            .unwrap()
            .rows[0]
            .input
            .clone();
    input.insert("Catalog".into(), json!("AWS"));
    input.insert("ClientToken".into(), json!(format!("{}-3", job.id)));
    let (_, lost) = app.call(&c, "CreateOpportunity", Value::Object(input)).await;
    let result = ace_domain::bulk::RowResult {
        job_id: job.id.clone(),
        row: 2,
        request_id: "crm-1".into(),
        status: ace_domain::bulk::RecordStatus::Succeeded,
        error_code: None,
        error_message: None,
        resource_id: applied["Id"].as_str().map(String::from),
    };
    app.state.store.commit(ace_store::WriteBatch { insert_bulk_results: vec![result], ..Default::default() }).await.unwrap();

    ace_server::app::bulk::resume(&app.state).await.unwrap();
    let summary = finished(&app, &c, &job.id).await;
    assert_eq!((&summary["Status"], &summary["SuccessCount"]), (&json!("COMPLETED"), &json!(5)), "{summary}");
    let (_, listed) = app.call(&c, "ListOpportunities", json!({"Catalog": "AWS", "MaxResults": 100})).await;
    assert_eq!(listed["OpportunitySummaries"].as_array().unwrap().len(), 5, "no row applied twice: {listed}");
    let all = results(&app, &c, &job.id, None).await;
    let line3 = all.iter().find(|r| r["RequestId"] == "crm-2").unwrap();
    assert_eq!(line3["ResourceIdentifier"], lost["Id"], "the row applied before keeps its record");
}

/// Customer-account bulk jobs: the same machinery under their own operations — a file of
/// creates, the job by id and by ARN, its results, its report, and `DeletedCount` counting the
/// accounts it created that were deleted since.
#[tokio::test]
async fn customer_account_bulk_jobs_create_accounts_and_count_the_ones_deleted_since() {
    let Some(moto) = Moto::start().await else { return };
    let app = app_with(&moto).await;
    let (c, other) = (app.partner("P-A").await, app.partner("P-B").await);
    let account = app.account_id("P-A").await;
    let file = "RequestId,Account.CompanyName,Account.Domain,Account.Address.CountryCode,PartnerAccountIdentifier\n\
                a-1,Acme Widgets,acme-widgets.com,US,crm-1\n\
                a-2,Globex,globex.com,US,crm-2\n\
                a-3,,nameless.example.com,US,crm-3\n";
    moto.put(&format!("{account}/accounts.csv"), file.as_bytes()).await;
    let body = json!({"Catalog": "AWS", "ClientToken": "acc-1", "FileUri": format!("s3://{BUCKET}/{account}/accounts.csv")});
    let (status, started) = app.call(&c, "StartCustomerAccountBulkJob", body).await;
    assert_eq!(status, 200, "{started}");
    let (id, arn) = (started["Id"].as_str().unwrap().to_string(), started["Arn"].as_str().unwrap().to_string());
    assert!(arn.ends_with(&format!(":{account}:catalog/AWS/customer-account-bulk-job/{id}")), "{arn}");
    assert_eq!(started["Status"], "SUBMITTED");
    let mut job = Value::Null;
    for _ in 0..500 {
        let (_, v) = app.call(&c, "GetCustomerAccountBulkJob", json!({"Catalog": "AWS", "Identifier": arn})).await;
        if v["Status"] == "COMPLETED" || v["Status"] == "FAILED" {
            job = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        (&job["Status"], &job["TotalRecords"], &job["SuccessCount"], &job["FailureCount"], &job["DeletedCount"]),
        (&json!("COMPLETED"), &json!(3), &json!(2), &json!(1), &json!(0)),
        "{job}"
    );
    let (_, v) = app
        .call(&c, "ListCustomerAccountBulkJobResults", json!({"Catalog": "AWS", "Identifier": id, "Status": "SUCCEEDED"}))
        .await;
    let created: Vec<String> =
        v["Results"].as_array().unwrap().iter().map(|r| r["ResourceIdentifier"].as_str().unwrap().into()).collect();
    assert_eq!(created.len(), 2, "{v}");
    let (_, got) = app.call(&c, "GetCustomerAccount", json!({"Catalog": "AWS", "Identifier": created[0]})).await;
    assert_eq!(got["Account"]["CompanyName"], "Acme Widgets", "{got}");
    app.call(&c, "DeleteCustomerAccount", json!({"Catalog": "AWS", "Identifier": created[1]})).await;
    let (_, v) = app
        .call(&c, "ListCustomerAccountBulkJobs", json!({"Catalog": "AWS", "Filter": {"Identifier": id, "Status": "COMPLETED"}}))
        .await;
    assert_eq!((v["items"].as_array().unwrap().len(), &v["items"][0]["DeletedCount"]), (1, &json!(1)), "{v}");
    let (_, report) = app
        .call(&c, "GetCustomerAccountBulkJobReportUrl", json!({"Catalog": "AWS", "Identifier": id, "ReportType": "ALL_RECORDS"}))
        .await;
    assert_eq!(report["ReportStatus"], "AVAILABLE", "{report}");
    let csv = reqwest::get(report["Url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("a-3,4,FAILED,,ValidationException"), "{csv}");
    // USE-4: another partner finds neither the job nor its ARN.
    let (_, v) = app.call(&other, "GetCustomerAccountBulkJob", json!({"Catalog": "AWS", "Identifier": arn})).await;
    assert_eq!(v["__type"], "ResourceNotFoundException", "{v}");
    let (_, v) = app.call(&other, "ListCustomerAccountBulkJobs", json!({"Catalog": "AWS"})).await;
    assert_eq!(v["items"], json!([]), "{v}");
}

/// REM-1 and USE-1: a job's rows are its user's writes, so a job whose user was disabled (or
/// whose partner was removed from the program) since it started applies nothing more, and
/// fails saying why.
#[tokio::test]
async fn rem_1_a_job_whose_user_can_no_longer_write_fails_and_applies_nothing() {
    let app = TestApp::start().await;
    let c = app.partner("P-A").await;
    let job = new_job(&app, &c, "bulkjob-00000000000d1", "q3.csv").await;
    let file = format!("{HEADER}\n{}\n", good_row(1));
    app.state
        .store
        .commit(ace_store::WriteBatch {
            insert_bulk_jobs: vec![job.clone()],
            put_bulk_files: vec![(job.id.clone(), file)],
            ..Default::default()
        })
        .await
        .unwrap();
    app.operator("POST", "/partners/P-A/users/alice/disable", json!({})).await;
    ace_server::app::bulk::run(&app.state, &job.id).await.unwrap();
    let stored = app.state.store.get_bulk_job(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ace_domain::bulk::JobStatus::Failed);
    assert!(stored.failure_reason.as_deref().unwrap().contains("can no longer write"), "{stored:?}");
    assert_eq!(app.state.store.bulk_job_counts(&job.id).await.unwrap(), (0, 0), "nothing applied");
}
