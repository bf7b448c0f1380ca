//! Bulk job files in and reports out (issue 20), as a user of Partner Central has them.
//!
//! In: `FileURI` is `s3://BUCKET/KEY[?versionId=V]` — read through the official S3 SDK from the
//! object store the operator configures (`--s3-endpoint`, credentials from the environment;
//! AWS S3 itself without an endpoint), from the bucket partners upload to (`--s3-bucket`) and
//! only under the caller's own AWS account id (`s3://BUCKET/111122223333/…`: a partner never
//! reads another's upload) — or `https://…` (a presigned URL), fetched under the webhooks' SSRF
//! guard: no private or reserved address, no redirect, a time limit and the 100 MB size limit.
//!
//! Out: a report is a CSV of the job's results. Where a bucket is configured it is put there
//! (`111122223333/reports/JOB-TYPE.csv`) and the answer is an S3 presigned URL; otherwise a
//! link to this server (`/bulk-reports/TOKEN`) whose token is signed by the server key and
//! names the job, the report and when it expires. Both last 15 minutes.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use ace_domain::bulk::{report_csv, RecordStatus, MAX_FILE_BYTES};
use ace_domain::time::Instant;

use crate::AppState;

/// How long a report link works.
pub const REPORT_LINK_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// How long a https file may take to arrive.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The operator's object store (issue 20).
#[derive(Debug, Clone, Default)]
pub struct FileSettings {
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); `None`: AWS S3 itself.
    pub s3_endpoint: Option<String>,
    /// The bucket partners upload bulk files to and reports are put in; `None`: no `s3://`
    /// files, and reports are served by this server.
    pub s3_bucket: Option<String>,
    pub s3_region: Option<String>,
    /// The base of links this server signs (`https://ace.example.com`); `None`: the address
    /// it listens on.
    pub public_url: Option<String>,
    /// Let `https://` files come from private addresses (tests on loopback only).
    pub allow_private: bool,
}

/// Where a job's file is.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    S3 { bucket: String, key: String, version: Option<String> },
    Https(String),
}

/// What `FileURI` names, or why the call is refused (`ValidationException` on `FileURI`):
/// the reasons a user can act on at once.
pub fn source(settings: &FileSettings, uri: &str, account_id: &str) -> Result<Source, String> {
    if let Some(rest) = uri.strip_prefix("s3://") {
        let Some(bucket_configured) = &settings.s3_bucket else {
            return Err("this server reads no s3:// files: its operator has configured no bucket (use an https:// URL)".into());
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, key) = location.split_once('/').ok_or("an s3:// URI names a bucket and a key: s3://BUCKET/KEY")?;
        if bucket != bucket_configured {
            return Err(format!("files are read from the bucket {bucket_configured}, not {bucket}"));
        }
        if key.is_empty() {
            return Err("an s3:// URI names a key after the bucket".into());
        }
        if !key.starts_with(&format!("{account_id}/")) {
            return Err(format!("a file of your account is under s3://{bucket_configured}/{account_id}/"));
        }
        let mut version = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("versionId", v)) if !v.is_empty() => version = Some(v.to_string()),
                _ => return Err("the only query parameter an s3:// URI may have is versionId".into()),
            }
        }
        return Ok(Source::S3 { bucket: bucket.into(), key: key.into(), version });
    }
    if uri.starts_with("https://") {
        let url = url::Url::parse(uri).map_err(|e| format!("not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL must not carry credentials".into());
        }
        let host = url.host_str().ok_or("the URL names no host")?;
        // An address written in the URL is checked now; a name is checked when it resolves.
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
            if !settings.allow_private {
                ace_domain::webhook::check_address(ip, false)?;
            }
        }
        return Ok(Source::Https(uri.into()));
    }
    Err("FileURI is s3://… or https://…".into())
}

fn s3_client(settings: &FileSettings) -> aws_sdk_s3::Client {
    use aws_sdk_s3 as s3;
    let credentials = match (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
        (Ok(key), Ok(secret)) => {
            s3::config::Credentials::new(key, secret, std::env::var("AWS_SESSION_TOKEN").ok(), None, "environment")
        }
        _ => s3::config::Credentials::new("ACE-NO-CREDENTIALS", "none", None, None, "none"),
    };
    let mut config = s3::Config::builder()
        .behavior_version(s3::config::BehaviorVersion::latest())
        .region(s3::config::Region::new(settings.s3_region.clone().unwrap_or_else(|| ace_domain::ids::REGION.into())))
        .credentials_provider(credentials);
    if let Some(endpoint) = &settings.s3_endpoint {
        // An S3-compatible store on its own host answers by path, not by virtual host.
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    s3::Client::from_conf(config.build())
}

/// Reads a job's file. `Err` is the job's failure reason.
pub async fn fetch(settings: &FileSettings, source: &Source) -> Result<Vec<u8>, String> {
    let too_large = || format!("the file is larger than {} MB", MAX_FILE_BYTES / (1024 * 1024));
    match source {
        Source::S3 { bucket, key, version } => {
            let object =
                s3_client(settings).get_object().bucket(bucket).key(key).set_version_id(version.clone()).send().await.map_err(
                    |e| {
                        let e = e.into_service_error();
                        if e.is_no_such_key() {
                            format!("s3://{bucket}/{key} does not exist")
                        } else {
                            format!("s3://{bucket}/{key} could not be read: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
                        }
                    },
                )?;
            if object.content_length().is_some_and(|n| n as usize > MAX_FILE_BYTES) {
                return Err(too_large());
            }
            let mut body = object.body;
            let mut bytes = Vec::new();
            while let Some(chunk) = body.try_next().await.map_err(|e| format!("s3://{bucket}/{key}: the read broke off: {e}"))? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(too_large());
                }
            }
            Ok(bytes)
        }
        Source::Https(url) => {
            let client = crate::webhooks::guarded_client(FETCH_TIMEOUT, settings.allow_private)
                .map_err(|e| format!("could not make an HTTP client: {e}"))?;
            let mut response = client.get(url).send().await.map_err(|e| format!("the file could not be fetched: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("fetching the file answered HTTP {} (redirects are not followed)", response.status()));
            }
            if response.content_length().is_some_and(|n| n as usize > MAX_FILE_BYTES) {
                return Err(too_large());
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| format!("the download broke off: {e}"))? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(too_large());
                }
            }
            Ok(bytes)
        }
    }
}

/// Which records a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportType {
    FailedRecords,
    AllRecords,
}

impl ReportType {
    pub fn parse(s: &str) -> Option<ReportType> {
        match s {
            "FAILED_RECORDS" => Some(ReportType::FailedRecords),
            "ALL_RECORDS" => Some(ReportType::AllRecords),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReportType::FailedRecords => "FAILED_RECORDS",
            ReportType::AllRecords => "ALL_RECORDS",
        }
    }

    fn status(self) -> Option<RecordStatus> {
        match self {
            ReportType::FailedRecords => Some(RecordStatus::Failed),
            ReportType::AllRecords => None,
        }
    }
}

/// The report's CSV, read from the job's results.
pub async fn report(state: &AppState, job_id: &str, kind: ReportType) -> Result<String, crate::app::AppError> {
    Ok(report_csv(&crate::app::bulk::all_results(state, job_id, kind.status()).await?))
}

/// What a self-served link carries.
#[derive(Debug, Serialize, Deserialize)]
struct Link {
    job: String,
    report: ReportType,
    expires_ms: i64,
}

/// A link to the report and when it expires ([`REPORT_LINK_TTL`] from now): presigned S3
/// where a bucket is configured, else signed by this server.
pub async fn report_link(
    state: &AppState,
    account_id: &str,
    job_id: &str,
    kind: ReportType,
) -> Result<(String, Instant), String> {
    let files = &state.settings.files;
    let now = state.wall_clock();
    let expires = now + REPORT_LINK_TTL;
    if let Some(bucket) = &files.s3_bucket {
        let csv = report(state, job_id, kind).await.map_err(|e| format!("{e:?}"))?;
        let key = format!("{account_id}/reports/{job_id}-{}.csv", kind.as_str());
        let client = s3_client(files);
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("text/csv")
            .body(csv.into_bytes().into())
            .send()
            .await
            .map_err(|e| format!("the report could not be stored: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        let presigning = aws_sdk_s3::presigning::PresigningConfig::builder()
            .start_time(now.into())
            .expires_in(REPORT_LINK_TTL.to_std().unwrap_or(Duration::from_secs(900)))
            .build()
            .map_err(|e| e.to_string())?;
        let presigned = client.get_object().bucket(bucket).key(&key).presigned(presigning).await.map_err(|e| e.to_string())?;
        return Ok((presigned.uri().to_string(), expires));
    }
    let link = Link { job: job_id.into(), report: kind, expires_ms: expires.timestamp_millis() };
    let token = state.server_key.seal_link(&serde_json::to_vec(&link).map_err(|e| e.to_string())?);
    let base = files.public_url.clone().or_else(|| state.served_at.get().cloned()).unwrap_or_default();
    Ok((format!("{}/bulk-reports/{token}", base.trim_end_matches('/')), expires))
}

/// `GET /bulk-reports/TOKEN`: the report a signed link names, while it is valid.
pub async fn download(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let refused = |status: StatusCode, why: &'static str| (status, why).into_response();
    let Some(link) = state.server_key.open_link(&token).and_then(|p| serde_json::from_slice::<Link>(&p).ok()) else {
        return refused(StatusCode::FORBIDDEN, "this link is not one this server signed");
    };
    if state.wall_clock_ms() > link.expires_ms {
        return refused(StatusCode::FORBIDDEN, "this link has expired: ask for a new one (GetOpportunityBulkJobReportUrl)");
    }
    match report(&state, &link.job, link.report).await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}-{}.csv\"", link.job, link.report.as_str())),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            csv,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = ?e, job = %link.job, "reading a bulk job report");
            refused(StatusCode::SERVICE_UNAVAILABLE, "the report could not be read now; try again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(bucket: Option<&str>) -> FileSettings {
        FileSettings { s3_bucket: bucket.map(String::from), ..Default::default() }
    }

    #[test]
    fn an_s3_uri_is_read_from_the_configured_bucket_under_the_callers_account_only() {
        let s = settings(Some("ace-uploads"));
        assert_eq!(
            source(&s, "s3://ace-uploads/111122223333/q3.csv?versionId=v1", "111122223333"),
            Ok(Source::S3 { bucket: "ace-uploads".into(), key: "111122223333/q3.csv".into(), version: Some("v1".into()) })
        );
        for (uri, why) in [
            ("s3://other/111122223333/q3.csv", "not other"),
            ("s3://ace-uploads/999988887777/q3.csv", "under s3://ace-uploads/111122223333/"),
            ("s3://ace-uploads", "names a bucket and a key"),
            ("s3://ace-uploads/111122223333/q3.csv?acl=1", "versionId"),
            ("ftp://x/y", "s3://… or https://…"),
        ] {
            let e = source(&s, uri, "111122223333").unwrap_err();
            assert!(e.contains(why), "{uri}: {why:?} in {e:?}");
        }
        assert!(source(&settings(None), "s3://ace-uploads/111122223333/q3.csv", "111122223333")
            .unwrap_err()
            .contains("no bucket"));
    }

    #[test]
    fn an_https_uri_on_a_private_address_is_refused_at_once() {
        let s = settings(None);
        for uri in ["https://127.0.0.1/f.csv", "https://10.1.2.3/f.csv", "https://[::1]/f.csv", "https://169.254.169.254/latest"]
        {
            assert!(source(&s, uri, "1").is_err(), "{uri}");
        }
        assert!(source(&s, "https://user:pw@example.com/f.csv", "1").unwrap_err().contains("credentials"));
        assert_eq!(
            source(&s, "https://files.example.com/f.csv", "1"),
            Ok(Source::Https("https://files.example.com/f.csv".into()))
        );
    }
}
