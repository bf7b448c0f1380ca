//! SigV4 header parsing and verification (issue "Reliability and security proof suite",
//! hostile input): arbitrary Authorization and X-Amz-Date headers, paths, queries and bodies
//! are refused with an error, never a panic, and never accepted without the secret.
#![no_main]

use ace_server::sigv4::{parse_authorization, verify, SignedRequest};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Fields separated by 0xFF: authorization, x-amz-date, host, path, query, body.
    let mut parts = data.split(|b| *b == 0xFF);
    let mut next = || parts.next().unwrap_or_default();
    let (authorization, date, host, path, query, body) = (next(), next(), next(), next(), next(), next());
    let mut headers = HeaderMap::new();
    for (name, value) in [("authorization", authorization), ("x-amz-date", date), ("host", host)] {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(name, v);
        }
    }
    let Ok(auth) = parse_authorization(&headers) else { return };
    let (Ok(path), Ok(query)) = (std::str::from_utf8(path), std::str::from_utf8(query)) else { return };
    let request = SignedRequest { method: "POST", path, query, headers: &headers, body };
    // A random signature cannot be right (2^-256), with or without the replay window.
    assert!(verify(&request, &auth, "fuzz-secret", "us-east-1", None).is_err());
});
