//! `TestApp`: a real server on 127.0.0.1:0 with a fresh SQLite store and a test clock, plus
//! typed helpers: operator calls over HTTP, SDK clients per partner user, raw signed requests.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_sdk_partnercentralselling as pcs;
use serde_json::{json, Value};

use ace_server::clock::TestClock;
use ace_server::crypto::ServerKey;
use ace_server::{AppState, Settings};
use ace_store::SqlStore;

pub struct TestApp {
    pub address: SocketAddr,
    /// The server's state, for tests that run a second node's background work on it.
    pub state: AppState,
    /// The server's wall clock: real time, which a test may move ahead instead of sleeping.
    pub wall: Arc<ace_server::clock::OffsetClock>,
    pub operator_token: String,
    http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _stop_dispatcher: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// A partner user's credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: String,
}

impl TestApp {
    /// Quotas are unlimited unless a test sets them (the USE-5 tests do).
    pub async fn start() -> TestApp {
        TestApp::start_with(|_| {}).await
    }

    /// A server whose settings the test adjusts first (e.g. a tighter probe policy).
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let server_key = ServerKey::random();
        let store = SqlStore::open_sqlite(dir.path(), "NORMAL").await.unwrap();
        let store = Arc::new(store.seal_keys_under(server_key.referral_key_wrap()));
        let clock = Arc::new(TestClock::starting_now());
        // Fast retries so delivery tests finish quickly.
        let mut settings = Settings::default();
        settings.delivery.retry_base = chrono::TimeDelta::milliseconds(50);
        settings.delivery.retry_cap = chrono::TimeDelta::milliseconds(400);
        // Tests receive webhooks on loopback; the SSRF guard's own tests turn this off.
        settings.delivery.allow_private = true;
        adjust(&mut settings);
        let wall = Arc::new(ace_server::clock::OffsetClock::default());
        let state = AppState::new(store.clone(), clock, server_key, settings).with_wall_clock(wall.clone());
        ace_server::bootstrap_operator_token(store.as_ref(), dir.path(), 0).await.unwrap();
        ace_server::bootstrap_program_data(store.as_ref(), 0).await.unwrap();
        let operator_token = std::fs::read_to_string(dir.path().join("operator-token")).unwrap().trim().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop_dispatcher, dispatcher_stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(ace_server::webhooks::run_forever(state.clone(), dispatcher_stopped));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(ace_server::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        let app = TestApp {
            address,
            state: state.clone(),
            wall,
            operator_token,
            // No idle connections kept: the connection-limit test counts every one.
            http: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            _shutdown: tx,
            _stop_dispatcher: stop_dispatcher,
            _dir: dir,
        };
        app.operator("PUT", "/quotas", json!({"reads_per_second": "unlimited", "writes_per_second": "unlimited"})).await;
        app
    }

    /// The data directory: the SQLite database is `ace.db` in it.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A raw request to one of this project's `AcePartner.*` operations.
    pub async fn ext(&self, c: &Credentials, op: &str, body: Value) -> (u16, Value) {
        let (status, _, v) =
            self.raw(c, &format!("AcePartner.{op}"), "application/x-amz-json-1.0", body.to_string().into_bytes()).await;
        (status, v)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// An operator API call; returns (status, body).
    pub async fn operator_raw(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request =
            self.http.request(method.clone(), self.url(&format!("/operator/v1{path}"))).bearer_auth(&self.operator_token);
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An operator API call that must succeed.
    pub async fn operator(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, body) = self.operator_raw(method, path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
        body
    }

    /// A select-tier consulting partner with one user; returns its credentials.
    pub async fn partner(&self, id: &str) -> Credentials {
        self.operator(
            "POST",
            "/partners",
            json!({"id": id, "name": format!("{id} Ltd"), "path": "consulting", "tier": "select"}),
        )
        .await;
        self.user(id, "alice").await
    }

    pub async fn user(&self, partner: &str, name: &str) -> Credentials {
        let v = self.operator("POST", &format!("/partners/{partner}/users"), json!({"name": name})).await;
        Credentials {
            access_key_id: v["AccessKeyId"].as_str().unwrap().into(),
            secret: v["SecretAccessKey"].as_str().unwrap().into(),
        }
    }

    pub async fn account_id(&self, partner: &str) -> String {
        self.operator("GET", &format!("/partners/{partner}"), Value::Null).await["account_id"].as_str().unwrap().into()
    }

    /// The official SDK, pointed at this server, retries off (tests see every answer).
    pub fn client(&self, c: &Credentials) -> pcs::Client {
        client_at(&self.url(""), c)
    }

    /// A raw awsJson request, signed with `c`, for the inputs no SDK would send.
    pub async fn raw(
        &self,
        c: &Credentials,
        target: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        use sha2::Digest;
        let host = self.address.to_string();
        let now = chrono::Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = now.format("%Y%m%d").to_string();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("host", host.parse().unwrap());
        headers.insert("content-type", content_type.parse().unwrap());
        headers.insert("x-amz-date", amz_date.parse().unwrap());
        headers.insert("x-amz-target", target.parse().unwrap());
        let auth = ace_server::sigv4::Authorization {
            access_key_id: c.access_key_id.clone(),
            scope_date: date.clone(),
            region: "us-east-1".into(),
            service: "partnercentral-selling".into(),
            signed_headers: vec!["content-type".into(), "host".into(), "x-amz-date".into(), "x-amz-target".into()],
            signature: String::new(),
        };
        let payload_hash = hex::encode(sha2::Sha256::digest(&body));
        let canonical = ace_server::sigv4::canonical_request("POST", "/", "", &headers, &auth, &payload_hash).unwrap();
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{date}/us-east-1/partnercentral-selling/aws4_request\n{}",
            hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
        );
        let key = ace_server::sigv4::signing_key(&c.secret, &date, "us-east-1", "partnercentral-selling");
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{date}/us-east-1/partnercentral-selling/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}",
            c.access_key_id
        );
        let response = self
            .http
            .post(self.url("/"))
            .header("content-type", content_type)
            .header("x-amz-date", amz_date)
            .header("x-amz-target", target)
            .header("authorization", authorization)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A raw request to operation `op` with a JSON body.
    pub async fn call(&self, c: &Credentials, op: &str, body: Value) -> (u16, Value) {
        let (status, _, v) = self
            .raw(c, &format!("AWSPartnerCentralSelling.{op}"), "application/x-amz-json-1.0", body.to_string().into_bytes())
            .await;
        (status, v)
    }
}

/// The `__type` of an SDK error.
pub fn code<E: pcs::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("none").to_string()
}

/// The official SDK pointed at `endpoint` (another node), retries off.
pub fn client_at(endpoint: &str, c: &Credentials) -> pcs::Client {
    let credentials = pcs::config::Credentials::new(&c.access_key_id, &c.secret, None, None, "test");
    let config = pcs::Config::builder()
        .behavior_version(pcs::config::BehaviorVersion::latest())
        .region(pcs::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .retry_config(pcs::config::retry::RetryConfig::disabled())
        .build();
    pcs::Client::from_conf(config)
}
