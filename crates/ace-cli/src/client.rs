//! The operator API client the CLI commands share.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::Connection;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// The server's own address (where people open the portal).
    pub fn server_url(&self) -> &str {
        self.base.trim_end_matches("/operator/v1")
    }
}

/// A path segment, percent-encoded.
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn default_token_path() -> std::path::PathBuf {
    let dir = std::env::var_os("ACE_DATA_DIR").map_or_else(|| std::path::PathBuf::from("./ace-data"), Into::into);
    dir.join("operator-token")
}

impl Client {
    pub fn new(connection: Connection) -> Result<Client> {
        let token = match connection.token {
            Some(t) => t,
            None => {
                let path = default_token_path();
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!("reading the operator token from {} (or pass --token / set ACE_TOKEN)", path.display())
                    })?
                    .trim()
                    .to_string()
            }
        };
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(Client { http, base: format!("{}/operator/v1", connection.endpoint.trim_end_matches('/')), token })
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("calling the server at {} ({what})", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("reading the server's answer ({what})"))?;
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("request failed");
            bail!("{message} (HTTP {})", status.as_u16());
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)), path).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body), path).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body), path).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(self.http.delete(format!("{}{path}", self.base)), path).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(body), path).await
    }
}

pub fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A member of an operator API answer as a table cell: text as it is, `-` for none.
pub fn cell(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}
