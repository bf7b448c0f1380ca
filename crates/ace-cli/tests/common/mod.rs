//! What the fault trials (`full_disk`, `storage_errors`, `postgres_outage`,
//! `network_to_postgres`, `soak`) share: an `ace serve` of their own with its log kept, the
//! operator's calls, a partner that signs its own calls, and (`load`) the retrying writers.

// Each trial binary uses a part of this module.
#![allow(dead_code)]

pub mod load;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// Starts `ace serve` on `data_dir` (SQLite), its stdout and stderr appended to `log`, and
/// waits until it is ready.
pub async fn serve(data_dir: &Path, port: u16, log: &Path) -> Child {
    serve_with(data_dir, port, log, &[]).await
}

/// [`serve`] with further arguments (`--database URL`, say).
pub async fn serve_with(data_dir: &Path, port: u16, log: &Path, extra: &[&str]) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ace"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("ace serve starts");
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ace serve exited: {status}");
        }
        if http.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("ace serve did not become ready");
}

pub async fn operator(host: &str, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
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

#[derive(Clone)]
pub struct Partner {
    pub http: reqwest::Client,
    pub host: String,
    pub key: String,
    pub secret: String,
}

impl Partner {
    /// The status and the body of the answer. There is no kill in this trial: every call must
    /// be answered.
    pub async fn call(&self, operation: &str, body: &Value) -> (u16, Value) {
        self.call_within(operation, body, Duration::from_secs(30)).await
    }

    /// [`Partner::call`], answered within `limit` or the trial fails.
    pub async fn call_within(&self, operation: &str, body: &Value, limit: Duration) -> (u16, Value) {
        let target = format!("AWSPartnerCentralSelling.{operation}");
        let bytes = serde_json::to_vec(body).unwrap();
        let headers = ace_server::sigv4::sign_awsjson(
            &self.key,
            &self.secret,
            "us-east-1",
            &self.host,
            &target,
            &bytes,
            chrono::Utc::now(),
        );
        let mut request = self.http.post(format!("http://{}/", self.host)).body(bytes).timeout(limit);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{operation}: no answer: {e:?}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// Every opportunity the partner has, by id.
    pub async fn all_ids(&self) -> Vec<String> {
        let (mut ids, mut next) = (Vec::new(), None::<String>);
        loop {
            let mut body = json!({"Catalog": "AWS", "MaxResults": 100});
            if let Some(t) = &next {
                body["NextToken"] = json!(t);
            }
            let (status, page) = self.call("ListOpportunities", &body).await;
            assert_eq!(status, 200, "{page}");
            ids.extend(page["OpportunitySummaries"].as_array().unwrap().iter().map(|o| o["Id"].as_str().unwrap().to_string()));
            match page["NextToken"].as_str() {
                Some(t) => next = Some(t.to_string()),
                None => return ids,
            }
        }
    }
}

/// A create of about 2 KB, `what` naming the trial in its texts.
pub fn create_body(token: &str, what: &str) -> Value {
    let problem = format!("{token}: survive {what} without losing or half-writing anything. ").repeat(20);
    json!({
        "Catalog": "AWS", "ClientToken": token,
        "Customer": {"Account": {"CompanyName": format!("{what} {token}"), "WebsiteUrl": "https://faults.example.com",
            "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101", "StateOrRegion": "Washington"}}},
        "Project": {"Title": what, "CustomerBusinessProblem": problem.chars().take(2000).collect::<String>()},
        "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-01-31"},
    })
}

/// A partner `id` with a user and unlimited quotas, on the server at `host` whose data
/// directory is `data`; and the operator's token.
pub async fn partner(host: &str, data: &Path, id: &str) -> (Partner, String) {
    let token = std::fs::read_to_string(data.join("operator-token")).unwrap().trim().to_string();
    operator(
        host,
        &token,
        reqwest::Method::POST,
        "/partners",
        json!({"id": id, "name": format!("{id} Co"), "path": "consulting", "tier": "select"}),
    )
    .await;
    let keys = operator(host, &token, reqwest::Method::POST, &format!("/partners/{id}/users"), json!({"name": "alice"})).await;
    let unlimited = json!({"reads_per_second": "unlimited", "writes_per_second": "unlimited", "reads_per_day": "unlimited", "writes_per_day": "unlimited"});
    operator(host, &token, reqwest::Method::PUT, "/quotas", unlimited).await;
    let partner = Partner {
        http: reqwest::Client::new(),
        host: host.to_string(),
        key: keys["AccessKeyId"].as_str().unwrap().into(),
        secret: keys["SecretAccessKey"].as_str().unwrap().into(),
    };
    (partner, token)
}
