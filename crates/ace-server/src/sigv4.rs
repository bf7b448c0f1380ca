//! AWS Signature Version 4 verification (USE-3), header form, exactly as digest §1.8.
//!
//! Written here rather than taken from `aws-sigv4`: that crate is a signer, and verifying with
//! it means rebuilding the client's request with exactly its signed-header set and clock; the
//! steps below are the specification itself, the digest's captured requests are the test
//! vectors, and the derived signing key can be cached per (secret, date, region).

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use ace_domain::time::Instant;
use chrono::{NaiveDateTime, TimeDelta};

type HmacSha256 = Hmac<Sha256>;

pub const SERVICE: &str = "partnercentral-selling";
pub const SKEW_MAX: TimeDelta = TimeDelta::minutes(15);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header: `MissingAuthenticationTokenException`.
    Missing,
    /// Malformed `Authorization`: `IncompleteSignatureException`.
    Incomplete(String),
    /// Wrong signature, scope, or outside the replay window: `InvalidSignatureException`.
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub scope_date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(headers: &HeaderMap) -> Result<Authorization, AuthError> {
    let Some(value) = headers.get("authorization") else { return Err(AuthError::Missing) };
    let value = value.to_str().map_err(|_| AuthError::Incomplete("Authorization header is not ASCII".into()))?;
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| AuthError::Incomplete("only the AWS4-HMAC-SHA256 algorithm is supported".into()))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(AuthError::Incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters".into(),
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = scope[..] else {
        return Err(AuthError::Incomplete("Credential must be <key>/<date>/<region>/<service>/aws4_request".into()));
    };
    if terminator != "aws4_request" {
        return Err(AuthError::Incomplete("Credential scope must end in aws4_request".into()));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Incomplete("Signature must be 64 hex characters".into()));
    }
    let signed_headers: Vec<String> = signed.split(';').map(|h| h.trim().to_ascii_lowercase()).collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(AuthError::Incomplete("SignedHeaders is malformed".into()));
    }
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        scope_date: scope_date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

fn canonical_header_value(headers: &HeaderMap, name: &str) -> Result<String, AuthError> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            let s = String::from_utf8_lossy(v.as_bytes());
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    if values.is_empty() {
        return Err(AuthError::Invalid(format!("signed header {name} is missing from the request")));
    }
    Ok(values.join(","))
}

pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    auth: &Authorization,
    payload_hash: &str,
) -> Result<String, AuthError> {
    let mut sorted = auth.signed_headers.clone();
    sorted.sort();
    let mut out = format!("{method}\n{path}\n{}\n", canonical_query(query));
    for name in &sorted {
        out.push_str(name);
        out.push(':');
        out.push_str(&canonical_header_value(headers, name)?);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&sorted.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(&str, &str)> =
        query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The client side, for load generators (`ace bench`): the headers of an awsJson `POST /`
/// to `target`, signed with SigV4 (host, content type, date and target signed), as an SDK
/// would send them.
pub fn sign_awsjson(
    access_key_id: &str,
    secret: &str,
    region: &str,
    host: &str,
    target: &str,
    body: &[u8],
    now: Instant,
) -> Vec<(&'static str, String)> {
    let date = now.format("%Y%m%d").to_string();
    let scope = Scope { access_key_id, secret, region, date: &date };
    sign_over(&scope, host, target, body, now, &["content-type", "host", "x-amz-date", "x-amz-target"])
}

/// The credential scope a request is signed under.
struct Scope<'a> {
    access_key_id: &'a str,
    secret: &'a str,
    region: &'a str,
    date: &'a str,
}

/// An awsJson request signed over exactly `signed` (lower-case, sorted) under `scope`.
fn sign_over(
    scope: &Scope<'_>,
    host: &str,
    target: &str,
    body: &[u8],
    now: Instant,
    signed: &[&str],
) -> Vec<(&'static str, String)> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let mut headers = HeaderMap::new();
    let content_type = "application/x-amz-json-1.0";
    for (name, value) in [("host", host), ("content-type", content_type), ("x-amz-date", &amz_date), ("x-amz-target", target)] {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    }
    let Scope { access_key_id, secret, region, date } = *scope;
    let auth = Authorization {
        access_key_id: access_key_id.to_string(),
        scope_date: date.to_string(),
        region: region.to_string(),
        service: SERVICE.to_string(),
        signed_headers: signed.iter().map(|h| h.to_string()).collect(),
        signature: String::new(),
    };
    let payload_hash = hex::encode(Sha256::digest(body));
    let canonical = canonical_request("POST", "/", "", &headers, &auth, &payload_hash).unwrap_or_default();
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{SERVICE}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let signature = hex::encode(hmac(&signing_key(secret, date, region, SERVICE), to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{date}/{region}/{SERVICE}/aws4_request, \
         SignedHeaders={}, Signature={signature}",
        signed.join(";")
    );
    vec![
        ("content-type", content_type.to_string()),
        ("x-amz-date", amz_date),
        ("x-amz-target", target.to_string()),
        ("authorization", authorization),
    ]
}

/// What [`verify`] needs from the request.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The headers every partner API request must sign (issue 21): its host, its time, the
/// operation it names and its content type.
pub const REQUIRED_SIGNED_HEADERS: [&str; 4] = ["host", "x-amz-date", "x-amz-target", "content-type"];

/// Verifies `auth` over `request` with `secret`. `now` is the wall clock; `None` skips the
/// replay-window check (only for replaying captured test vectors).
pub fn verify(
    request: &SignedRequest<'_>,
    auth: &Authorization,
    secret: &str,
    region: &str,
    now: Option<Instant>,
) -> Result<(), AuthError> {
    if auth.service != SERVICE {
        return Err(AuthError::Invalid(format!("Credential should be scoped to correct service: '{SERVICE}'")));
    }
    if auth.region != region {
        return Err(AuthError::Invalid(format!("Credential should be scoped to a valid region, not '{}'", auth.region)));
    }
    // USE-3: what says which operation runs, on which host, when and in what encoding is signed,
    // so a captured request cannot have its target swapped or its body re-read as another type.
    for required in REQUIRED_SIGNED_HEADERS {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(AuthError::Incomplete(format!("SignedHeaders must include {required}")));
        }
    }
    if request.headers.contains_key("x-amz-security-token") && !auth.signed_headers.iter().any(|h| h == "x-amz-security-token") {
        return Err(AuthError::Incomplete("x-amz-security-token must be signed".into()));
    }
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthError::Incomplete("X-Amz-Date header is required".into()))?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| AuthError::Incomplete(format!("X-Amz-Date {amz_date:?} is not yyyyMMddTHHmmssZ")))?
        .and_utc();
    if Some(auth.scope_date.as_str()) != amz_date.get(..8) {
        return Err(AuthError::Invalid("Credential date does not match X-Amz-Date".into()));
    }
    if let Some(now) = now {
        if (now - signed_at).abs() > SKEW_MAX {
            return Err(AuthError::Invalid(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                (now - SKEW_MAX).format("%Y%m%dT%H%M%SZ"),
                now.format("%Y%m%dT%H%M%SZ")
            )));
        }
    }
    let payload_hash = hex::encode(Sha256::digest(request.body));
    if let Some(claimed) = request.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        if claimed != payload_hash {
            return Err(AuthError::Invalid("x-amz-content-sha256 does not match the body".into()));
        }
    }
    let canonical = canonical_request(request.method, request.path, request.query, request.headers, auth, &payload_hash)?;
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        auth.scope_date,
        auth.region,
        auth.service,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(secret, &auth.scope_date, &auth.region, &auth.service);
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(AuthError::Invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
                .into(),
        ))
    }
}

/// The body of the `sigv4` fuzz target (fuzz/fuzz_targets/sigv4.rs), here so its replay test
/// runs exactly the same code (issue 24).
pub mod fuzz {
    use super::{parse_authorization, verify, AuthError, SignedRequest, REQUIRED_SIGNED_HEADERS, SERVICE};
    use axum::http::{HeaderMap, HeaderValue};

    /// One input. The first byte picks the shape: a quarter of the inputs are raw headers
    /// (fields split at 0xFF: authorization, x-amz-date, host, path, query, body, content-type,
    /// x-amz-target), so header parsing is fuzzed; the rest build a well-formed request — every
    /// required header signed and present, scope and date agreeing — from the signature bytes,
    /// hour, path, query and body the input gives, so they reach the comparison of the signature
    /// itself. Returns whether the signature was compared (and refused). Panics if a made-up
    /// signature is accepted.
    pub fn one(data: &[u8]) -> bool {
        let Some((&shape, rest)) = data.split_first() else { return false };
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &[u8]| {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                headers.insert(name, v);
            }
        };
        let (path, query, body);
        if shape % 4 == 0 {
            let mut parts = rest.split(|b| *b == 0xFF);
            let mut next = || parts.next().unwrap_or_default();
            let (authorization, date, host) = (next(), next(), next());
            (path, query, body) = (next(), next(), next());
            let (content_type, target) = (next(), next());
            for (name, value) in [("authorization", authorization), ("x-amz-date", date), ("host", host)] {
                put(name, value);
            }
            put("content-type", if content_type.is_empty() { b"application/x-amz-json-1.0" } else { content_type });
            put("x-amz-target", if target.is_empty() { b"AWSPartnerCentralSelling.ListOpportunities" } else { target });
        } else {
            let (signature, rest) = rest.split_at(rest.len().min(32));
            let mut signature = hex::encode(signature);
            while signature.len() < 64 {
                signature.push('0');
            }
            let (hour, rest) = rest.split_first().map_or((0, rest), |(h, r)| (h % 24, r));
            let mut parts = rest.split(|b| *b == 0xFF);
            let mut next = || parts.next().unwrap_or_default();
            (path, query, body) = (next(), next(), next());
            let signed = REQUIRED_SIGNED_HEADERS.iter().copied().collect::<std::collections::BTreeSet<_>>();
            let signed: Vec<&str> = signed.into_iter().collect();
            let authorization = format!(
                "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261127/us-east-1/{SERVICE}/aws4_request, SignedHeaders={}, Signature={signature}",
                signed.join(";")
            );
            put("authorization", authorization.as_bytes());
            put("x-amz-date", format!("20261127T{hour:02}0000Z").as_bytes());
            put("host", b"127.0.0.1:8080");
            put("content-type", b"application/x-amz-json-1.0");
            put("x-amz-target", b"AWSPartnerCentralSelling.ListOpportunities");
        }
        let Ok(auth) = parse_authorization(&headers) else { return false };
        let path = std::str::from_utf8(path).ok().filter(|p| p.starts_with('/')).unwrap_or("/");
        let query = std::str::from_utf8(query).unwrap_or("");
        let request = SignedRequest { method: "POST", path, query, headers: &headers, body };
        // A made-up signature cannot be right (2^-256), with or without the replay window.
        match verify(&request, &auth, "fuzz-secret", "us-east-1", None) {
            Ok(()) => panic!("a made-up signature was accepted: {auth:?}"),
            Err(AuthError::Invalid(message)) => message.starts_with("The request signature we calculated does not match"),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// The bench's signer produces what the verifier accepts, and only for that body.
    #[test]
    fn sign_awsjson_round_trips_through_verify() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T19:07:38Z").unwrap().with_timezone(&chrono::Utc);
        let body = br#"{"Catalog":"AWS"}"#;
        let signed = sign_awsjson(
            "AKIDEXAMPLE",
            "secret",
            "us-east-1",
            "127.0.0.1:9",
            "AWSPartnerCentralSelling.ListOpportunities",
            body,
            now,
        );
        let mut pairs: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.push(("host", "127.0.0.1:9"));
        let h = headers(&pairs);
        let auth = parse_authorization(&h).unwrap();
        assert_eq!(verify(&request(&h, body), &auth, "secret", "us-east-1", Some(now)), Ok(()));
        assert!(verify(&request(&h, b"{}"), &auth, "secret", "us-east-1", Some(now)).is_err());
        assert!(verify(&request(&h, body), &auth, "other", "us-east-1", Some(now)).is_err());
    }

    /// Issue 21: a request signed over `host;x-amz-date` alone could have its target swapped
    /// (Associate → Disassociate); one whose credential scope names another day, or none, was
    /// accepted. Both are refused before the signature is even compared.
    #[test]
    fn use_3_target_date_host_and_content_type_must_be_signed_and_the_scope_date_match() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T19:07:38Z").unwrap().with_timezone(&chrono::Utc);
        let body = br#"{"Catalog":"AWS"}"#;
        let target = "AWSPartnerCentralSelling.AssociateOpportunity";
        let check = |signed: &[&str], date: &str, swap_target: bool| {
            let scope = Scope { access_key_id: "AKIDEXAMPLE", secret: "secret", region: "us-east-1", date };
            let headers_signed = sign_over(&scope, "127.0.0.1:9", target, body, now, signed);
            let mut pairs: Vec<(&str, &str)> = headers_signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
            pairs.push(("host", "127.0.0.1:9"));
            let mut h = headers(&pairs);
            if swap_target {
                h.insert("x-amz-target", HeaderValue::from_static("AWSPartnerCentralSelling.DisassociateOpportunity"));
            }
            let auth = parse_authorization(&h).unwrap();
            verify(&request(&h, body), &auth, "secret", "us-east-1", Some(now))
        };
        let all = ["content-type", "host", "x-amz-date", "x-amz-target"];
        assert_eq!(check(&all, "20261126", false), Ok(()));
        assert!(matches!(check(&all, "20261126", true), Err(AuthError::Invalid(_))), "a swapped signed target fails");
        for missing in all {
            let signed: Vec<&str> = all.iter().copied().filter(|h| *h != missing).collect();
            let refused = check(&signed, "20261126", missing == "x-amz-target");
            assert_eq!(refused, Err(AuthError::Incomplete(format!("SignedHeaders must include {missing}"))));
        }
        for date in ["", "2026112", "20261125", "202611260", "2026"] {
            assert!(matches!(check(&all, date, false), Err(AuthError::Invalid(m)) if m.contains("Credential date")), "{date}");
        }
    }

    /// The AWS CLI request captured in digest §1.2.
    fn cli_vector() -> (HeaderMap, &'static [u8]) {
        let h = headers(&[
            ("host", "127.0.0.1:18777"),
            ("accept-encoding", "identity"),
            ("x-amz-target", "AWSPartnerCentralSelling.ListOpportunities"),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-date", "20261126T190738Z"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/partnercentral-selling/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=55ac38ed6e8683b1cf8f69828d863e959ef0c52e70e21fc1db66848c00e64e87"),
            ("content-length", "22"),
        ]);
        (h, b"{\"Catalog\": \"Sandbox\"}")
    }

    fn request<'a>(h: &'a HeaderMap, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest { method: "POST", path: "/", query: "", headers: h, body }
    }

    #[test]
    fn use_3_cli_test_vector_verifies() {
        let (h, body) = cli_vector();
        let auth = parse_authorization(&h).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        let canonical = canonical_request("POST", "/", "", &h, &auth, &hex::encode(Sha256::digest(body))).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "4ba52e8a3a8785b35a1d99036233c83de299198ddc6e24720ed9d226318b3b4d"
        );
        verify(&request(&h, body), &auth, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", None).unwrap();
    }

    #[test]
    fn use_3_rust_sdk_test_vector_verifies() {
        let h = headers(&[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AWSPartnerCentralSelling.ListOpportunities"),
            ("content-length", "21"),
            ("user-agent", "aws-sdk-rust/1.7.0 ua/2.1 api/partnercentralselling/1.84.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x"),
            ("x-amz-user-agent", "aws-sdk-rust/1.7.0 ua/2.1 api/partnercentralselling/1.84.0 os/linux lang/rust/1.95.0 m/E,N md/http#hyper-1.x"),
            ("x-amz-date", "20261126T192706Z"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/partnercentral-selling/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target;x-amz-user-agent, Signature=3bd6043139ab5177186b92f17118cb0f840e6669b8f6340b6b4334560f903efc"),
            ("host", "127.0.0.1:18993"),
        ]);
        let body = b"{\"Catalog\":\"Sandbox\"}";
        let auth = parse_authorization(&h).unwrap();
        verify(&request(&h, body), &auth, "secret", "us-east-1", None).unwrap();
    }

    #[test]
    fn use_3_wrong_secret_body_or_header_fails() {
        let (h, body) = cli_vector();
        let auth = parse_authorization(&h).unwrap();
        assert!(matches!(verify(&request(&h, body), &auth, "wrong", "us-east-1", None), Err(AuthError::Invalid(_))));
        assert!(matches!(
            verify(&request(&h, b"{\"Catalog\": \"AWS\"}"), &auth, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", None),
            Err(AuthError::Invalid(_))
        ));
        let mut tampered = h.clone();
        tampered.insert("x-amz-target", HeaderValue::from_static("AWSPartnerCentralSelling.CreateOpportunity"));
        assert!(matches!(
            verify(&request(&tampered, body), &auth, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", None),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn use_3_replay_window_is_fifteen_minutes() {
        let (h, body) = cli_vector();
        let auth = parse_authorization(&h).unwrap();
        let signed = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap().and_hms_opt(19, 7, 38).unwrap().and_utc();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert!(verify(&request(&h, body), &auth, secret, "us-east-1", Some(signed + TimeDelta::minutes(14))).is_ok());
        let late = verify(&request(&h, body), &auth, secret, "us-east-1", Some(signed + TimeDelta::minutes(16)));
        assert!(matches!(late, Err(AuthError::Invalid(m)) if m.starts_with("Signature expired")));
        assert!(verify(&request(&h, body), &auth, secret, "us-east-1", Some(signed - TimeDelta::minutes(16))).is_err());
    }

    #[test]
    fn use_3_malformed_authorization_is_incomplete() {
        assert_eq!(parse_authorization(&HeaderMap::new()), Err(AuthError::Missing));
        for bad in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=AK/20261126/us-east-1/partnercentral-selling/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host, Signature=00",
        ] {
            let h = headers(&[("authorization", bad)]);
            assert!(matches!(parse_authorization(&h), Err(AuthError::Incomplete(_))), "{bad}");
        }
    }
}
