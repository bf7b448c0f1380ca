//! Issue 22: `ace serve --metrics-listen` exposes the figures an operator runs a server by, and
//! `--log-format json` writes one JSON object a line carrying each request's id. The real
//! binary serves a short load on loopback — writes, reads, a throttled burst, a probing key, a
//! webhook with a receiver, a job run, eligibility changes — and its `/metrics` is scraped and
//! parsed with a Prometheus text parser.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Signed {
    http: reqwest::Client,
    host: String,
    key: String,
    secret: String,
}

impl Signed {
    /// `(status, x-amzn-RequestId, body)`.
    async fn call(&self, target: &str, body: &Value) -> (u16, String, Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        let headers =
            ace_server::sigv4::sign_awsjson(&self.key, &self.secret, "us-east-1", &self.host, target, &bytes, chrono::Utc::now());
        let mut request = self.http.post(format!("http://{}/", self.host)).body(bytes);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let id = response.headers().get("x-amzn-requestid").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = response.text().await.unwrap();
        (status, id, serde_json::from_str(&text).unwrap_or(Value::Null))
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
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

/// A webhook receiver on loopback that answers 200 to everything.
async fn receiver() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            });
        }
    });
    port
}

/// Sums of the samples of each family, by family name (histograms by their `_count`).
fn families(text: &str) -> BTreeMap<String, f64> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("the exposition parses");
    let mut sums = BTreeMap::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        };
        *sums.entry(sample.metric).or_insert(0.0) += value;
    }
    sums
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_short_load_and_json_logs_with_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let host = format!("127.0.0.1:{port}");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ace"))
        .args(["serve", "--listen", &host, "--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args(["--log-format", "json", "--log", "info,ace_server=debug", "--test-clock", "--webhook-allow-private", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("http://{host}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let token = std::fs::read_to_string(dir.path().join("data/operator-token")).unwrap().trim().to_string();
    let post = reqwest::Method::POST;
    operator(
        &host,
        &token,
        post.clone(),
        "/partners",
        json!({"id": "P-M", "name": "Metrics Co", "path": "consulting", "tier": "advanced", "psf_listed": true,
               "privacy_policy": "https://metrics.example.com/privacy", "referrals_approved": true}),
    )
    .await;
    let keys = operator(&host, &token, post.clone(), "/partners/P-M/users", json!({"name": "alice"})).await;
    let unlimited = json!({"partner": "P-M", "reads_per_second": "unlimited", "writes_per_second": "unlimited"});
    operator(&host, &token, reqwest::Method::PUT, "/quotas", unlimited.clone()).await;
    let hook = receiver().await;
    operator(&host, &token, post.clone(), "/webhooks", json!({"partner": "P-M", "url": format!("http://127.0.0.1:{hook}/hook")}))
        .await;
    let partner = Signed {
        http: http.clone(),
        host: host.clone(),
        key: keys["AccessKeyId"].as_str().unwrap().into(),
        secret: keys["SecretAccessKey"].as_str().unwrap().into(),
    };

    // Writes and reads.
    let mut request_ids = Vec::new();
    for i in 0..5 {
        let body = json!({"Catalog": "AWS", "ClientToken": format!("m-{i}"),
            "Customer": {"Account": {"CompanyName": format!("Metrics {i}"), "WebsiteUrl": "https://metrics.example.com",
                "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101"}}},
            "Project": {"Title": "Metrics", "CustomerBusinessProblem": "A problem statement long enough for the model."},
            "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-01-31"}});
        let (status, id, v) = partner.call("AWSPartnerCentralSelling.CreateOpportunity", &body).await;
        assert_eq!(status, 200, "{v}");
        request_ids.push(id);
        let (status, _, _) =
            partner.call("AWSPartnerCentralSelling.GetOpportunity", &json!({"Catalog": "AWS", "Identifier": v["Id"]})).await;
        assert_eq!(status, 200);
    }
    // A throttled burst (USE-5): two reads a second.
    operator(
        &host,
        &token,
        reqwest::Method::PUT,
        "/quotas",
        json!({"partner": "P-M", "reads_per_second": 2, "writes_per_second": "unlimited"}),
    )
    .await;
    let mut throttled = 0;
    for _ in 0..6 {
        let (status, _, v) = partner.call("AWSPartnerCentralSelling.ListOpportunities", &json!({"Catalog": "AWS"})).await;
        throttled += usize::from(status == 400 && v["__type"] == "ThrottlingException");
    }
    assert!(throttled > 0, "the burst was throttled");
    operator(&host, &token, reqwest::Method::PUT, "/quotas", unlimited).await;
    // A probing key (USE-2): unknown operations until it is blocked.
    for _ in 0..25 {
        partner.call("AWSPartnerCentralSelling.DropAllTables", &json!({})).await;
    }
    // A job run: the clock moves a day.
    operator(&host, &token, post.clone(), "/clock/advance", json!({"duration": "1d"})).await;
    // The webhook receives the creates.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let scraped = http.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    let sums = families(&text);
    for family in [
        "ace_requests_total",
        "ace_request_seconds",
        "ace_throttles_total",
        "ace_security_blocks_total",
        "ace_store_commit_seconds",
        "ace_store_commit_group_batches",
        "ace_outbox_head_seq",
        "ace_webhook_attempts_total",
        "ace_job_runs_total",
        "ace_eligibility_changes_total",
    ] {
        assert!(sums.get(family).copied().unwrap_or(0.0) > 0.0, "{family} is not above zero: {sums:?}\n{text}");
    }
    assert!(sums.contains_key("ace_webhook_lag_events"), "{sums:?}");
    assert!(sums.contains_key("ace_store_commit_queue_depth"), "{sums:?}");
    assert!(
        text.contains(r#"ace_requests_total{operation="CreateOpportunity",outcome="ok",catalog="AWS"} 5"#),
        "requests by operation, outcome and catalog:\n{text}"
    );
    assert!(text.contains(r#"outcome="ThrottlingException""#), "{text}");

    // Every line is a JSON object; a request's lines carry the id its response had.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let mut logged = String::new();
    std::fs::File::open(&log_path).unwrap().read_to_string(&mut logged).unwrap();
    let lines: Vec<Value> = logged
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for id in &request_ids {
        assert!(
            lines.iter().any(|l| l["fields"]["request_id"] == json!(id) || l["span"]["request_id"] == json!(id)),
            "no log line carries request id {id}"
        );
    }
}
