//! SigV4 header parsing and verification (issue "Reliability and security proof suite",
//! hostile input; issue 24): arbitrary headers, paths, queries and bodies, and well-formed
//! requests with made-up signatures, are refused with an error, never a panic, and never
//! accepted without the secret. The body is `ace_server::sigv4::fuzz::one`, which the replay
//! test in `crates/ace-server/tests/it/bad_input.rs` runs over the seeds and the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ace_server::sigv4::fuzz::one(data);
});
