//! A bulk job killed twice (issue 20, RELIABILITY.md): the real `ace` binary reads a CSV of
//! opportunities — 1 % of its rows bad — from a real S3 API on loopback (moto in server mode),
//! and is killed with SIGKILL twice while the job runs (once past a fifth of the rows, once
//! past half), restarted on the same data each time. Afterwards: the job is COMPLETED, every
//! good row was applied exactly once (one opportunity per row, none doubled), every bad row is
//! in the failed-records report with its reason. SQLite, and PostgreSQL when
//! `ACE_TEST_DATABASE_URL` is set. `ACE_BULK_TRIAL_ROWS` sets the size: 10,000 in CI, 100,000
//! for the full trial.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

const BUCKET: &str = "ace-uploads";

struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto() -> Option<Moto> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = match std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            assert!(std::env::var_os("ACE_REQUIRE_E2E").is_none(), "moto_server is required: {e}");
            eprintln!("skipped: moto_server is not installed ({e}); pip install 'moto[server]' runs this trial");
            return None;
        }
    };
    let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
    for _ in 0..200 {
        if reqwest::get(&moto.endpoint).await.is_ok() {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not answer");
}

async fn serve(data_dir: &Path, port: u16, database: Option<&str>, s3: &str) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ace"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .args(["--s3-endpoint", s3, "--s3-bucket", BUCKET])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = database {
        command.args(["--database", url]);
    }
    let mut child = command.spawn().expect("ace serve starts");
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ace serve exited: {status}");
        }
        if reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("ace serve did not become ready");
}

struct Partner {
    http: reqwest::Client,
    host: String,
    key: String,
    secret: String,
}

impl Partner {
    /// `None` when the server did not answer (it is being killed).
    async fn call(&self, operation: &str, body: &Value) -> Option<Value> {
        let bytes = serde_json::to_vec(body).unwrap();
        let target = format!("AWSPartnerCentralSelling.{operation}");
        let headers = ace_server::sigv4::sign_awsjson(
            &self.key,
            &self.secret,
            "us-east-1",
            &self.host,
            &target,
            &bytes,
            chrono::Utc::now(),
        );
        let mut request = self.http.post(format!("http://{}/", self.host)).body(bytes).timeout(Duration::from_secs(30));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.ok()?;
        let status = response.status();
        let v: Value = response.json().await.ok()?;
        assert!(status.is_success(), "{operation}: {status} {v}");
        Some(v)
    }
}

async fn operator(host: &str, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("http://{host}/operator/v1{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let v: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// Line `n` (from 0): a create with its own identifier; every hundredth has a stage the model
/// does not know.
fn row(n: usize) -> String {
    let stage = if n % 100 == 99 { "Daydreaming" } else { "Qualified" };
    format!(
        "r-{n},PID-{n},Trialco {n} Inc,https://trialco{n}.example.com,Retail,US,98101,Migration {n},\
         Their reporting runs for hours on an old warehouse.,{stage},2099-01-31"
    )
}

const HEADER: &str = "RequestId,PartnerOpportunityIdentifier,Customer.Account.CompanyName,Customer.Account.WebsiteUrl,\
Customer.Account.Industry,Customer.Account.Address.CountryCode,Customer.Account.Address.PostalCode,Project.Title,\
Project.CustomerBusinessProblem,LifeCycle.Stage,LifeCycle.TargetCloseDate";

async fn summary(partner: &Partner, job: &str) -> Option<Value> {
    let v = partner.call("ListOpportunityBulkJobs", &json!({"Catalog": "AWS", "JobId": job})).await?;
    Some(v["OpportunityBulkJobSummaries"][0].clone())
}

async fn trial(database: Option<&str>) {
    let Some(moto) = moto().await else { return };
    let rows: usize = std::env::var("ACE_BULK_TRIAL_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let mut server = serve(dir.path(), port, database, &moto.endpoint).await;
    let token = std::fs::read_to_string(dir.path().join("operator-token")).unwrap().trim().to_string();
    let added = operator(
        &host,
        &token,
        reqwest::Method::POST,
        "/partners",
        json!({"id": "P-BULK", "name": "Bulk Co", "path": "consulting", "tier": "advanced"}),
    )
    .await;
    let account = added["account_id"].as_str().expect("the partner's account id").to_string();
    let keys = operator(&host, &token, reqwest::Method::POST, "/partners/P-BULK/users", json!({"name": "alice"})).await;
    operator(&host, &token, reqwest::Method::PUT, "/quotas", json!({"reads_per_second": "unlimited", "writes_per_second": "unlimited", "reads_per_day": "unlimited", "writes_per_day": "unlimited"})).await;
    let partner = Partner {
        http: reqwest::Client::new(),
        host: host.clone(),
        key: keys["AccessKeyId"].as_str().unwrap().into(),
        secret: keys["SecretAccessKey"].as_str().unwrap().into(),
    };
    // The file, put with S3's REST API (moto takes unsigned requests).
    let mut file = format!("{HEADER}\n");
    for n in 0..rows {
        file.push_str(&row(n));
        file.push('\n');
    }
    let http = reqwest::Client::new();
    http.put(format!("{}/{BUCKET}", moto.endpoint)).send().await.unwrap();
    let key = format!("{account}/trial.csv");
    let put = http.put(format!("{}/{BUCKET}/{key}", moto.endpoint)).body(file).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let started = partner
        .call(
            "StartOpportunityBulkJob",
            &json!({"Catalog": "AWS", "ClientToken": "trial", "FileFormat": "CSV", "FileURI": format!("s3://{BUCKET}/{key}")}),
        )
        .await
        .unwrap();
    let job = started["JobId"].as_str().unwrap().to_string();
    let started_at = std::time::Instant::now();
    // Killed twice while it runs: past a fifth of the rows, and past half.
    let mut kills = Vec::new();
    for fraction in [5, 2] {
        loop {
            let s = summary(&partner, &job).await.unwrap();
            let processed = s["ProcessedRecords"].as_u64().unwrap_or(0) as usize;
            assert_ne!(
                s["Status"], "COMPLETED",
                "the job finished before it could be killed ({processed} of {rows}): use more rows"
            );
            if processed * fraction >= rows {
                server.kill().await.unwrap();
                kills.push(processed);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server = serve(dir.path(), port, database, &moto.endpoint).await;
    }
    // The restarted server takes the job over once the dead one's lease has lapsed.
    let done = loop {
        if let Some(s) = summary(&partner, &job).await {
            if s["Status"] == "COMPLETED" || s["Status"] == "FAILED" {
                break s;
            }
        }
        assert!(started_at.elapsed() < Duration::from_secs(1_800), "the job did not finish in 30 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let bad = rows / 100;
    eprintln!(
        "bulk trial ({}): {rows} rows, killed at {kills:?} processed, finished in {:.1} s: {done}",
        if database.is_some() { "PostgreSQL" } else { "SQLite" },
        started_at.elapsed().as_secs_f64()
    );
    assert_eq!(done["Status"], "COMPLETED", "{done}");
    assert_eq!(
        (done["TotalRecords"].as_u64(), done["SuccessCount"].as_u64(), done["FailureCount"].as_u64()),
        (Some(rows as u64), Some((rows - bad) as u64), Some(bad as u64)),
        "{done}"
    );

    // Every good row once: one opportunity per PartnerOpportunityIdentifier, none doubled.
    let mut identifiers = BTreeSet::new();
    let mut listed = 0;
    let mut next: Option<String> = None;
    loop {
        let mut body = json!({"Catalog": "AWS", "MaxResults": 100});
        if let Some(t) = &next {
            body["NextToken"] = json!(t);
        }
        let v = partner.call("ListOpportunities", &body).await.unwrap();
        for s in v["OpportunitySummaries"].as_array().unwrap() {
            listed += 1;
            identifiers.insert(s["PartnerOpportunityIdentifier"].as_str().unwrap().to_string());
        }
        match v["NextToken"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!((listed, identifiers.len()), (rows - bad, rows - bad), "each good row applied exactly once");
    let expected: BTreeSet<String> = (0..rows).filter(|n| n % 100 != 99).map(|n| format!("PID-{n}")).collect();
    assert_eq!(identifiers, expected);

    // Every bad row in the failed-records report, with its reason.
    let report = partner
        .call("GetOpportunityBulkJobReportUrl", &json!({"Catalog": "AWS", "JobId": job, "ReportFormat": "CSV"}))
        .await
        .unwrap();
    let csv = reqwest::get(report["Url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    let failed: BTreeSet<String> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect();
    let expected: BTreeSet<String> = (0..rows).filter(|n| n % 100 == 99).map(|n| format!("r-{n}")).collect();
    assert_eq!(failed, expected, "the failed-records report");
    assert!(csv.lines().skip(1).all(|l| l.contains("ValidationException") && l.contains("Stage")), "each with its reason");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_killed_twice_applies_every_good_row_once_on_sqlite() {
    trial(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_killed_twice_applies_every_good_row_once_on_postgres() {
    let Ok(url) = std::env::var("ACE_TEST_DATABASE_URL") else {
        eprintln!("skipped: ACE_TEST_DATABASE_URL is not set, so the PostgreSQL back end was not tested");
        return;
    };
    let schema = format!("bulk_trial_{}", std::process::id());
    ace_store::SqlStore::open_postgres(&url, Some(&schema), 1).await.unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    trial(Some(&format!("{url}{separator}options=-csearch_path%3D{schema}"))).await;
    ace_store::baseline::drop_postgres_schema(&url, &schema).await.unwrap();
}
