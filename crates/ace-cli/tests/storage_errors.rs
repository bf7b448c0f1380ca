//! Storage errors (issue 24, trial 1; RELIABILITY.md): `strace` attaches to a serving
//! `ace serve` (SQLite) under write load and makes the kernel fail one of its `fsync` calls —
//! or, in the second run, one `pwrite64` — with `EIO`; every other call succeeds. What must
//! hold: a write whose commit failed is never acknowledged; from the first failure on the
//! server acknowledges no write at all (after a failed `fsync` the file is no longer trusted:
//! the kernel may have dropped the pages it could not store), says so in its log, and
//! `/readyz` answers 503; reads
//! still work; after a restart on sound storage every acknowledged write is there exactly once
//! and the audit chain verifies.
//!
//! Needs `strace` and the right to trace (root, or ptrace allowed): elsewhere the trial says it
//! was skipped, and fails instead when `ACE_REQUIRE_E2E` asks for everything.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{create_body, operator, serve};
use serde_json::{json, Value};
use tokio::process::Command;

const WRITERS: usize = 8;
/// Writes each writer still sends after its first refusal: all must be refused too.
const AFTER_REFUSAL: usize = 5;

/// What one writer saw: the creates acknowledged (token → id), and the answers after its first
/// refusal.
#[derive(Default)]
struct Seen {
    acknowledged: BTreeMap<String, String>,
    refusals: Vec<(u16, Value)>,
    acknowledged_after_a_refusal: Vec<String>,
}

async fn trial(syscall: &str, from_call: u32) {
    if std::process::Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_err() {
        assert!(std::env::var_os("ACE_REQUIRE_E2E").is_none(), "strace is not installed, and ACE_REQUIRE_E2E is set");
        eprintln!("storage-error trial skipped: strace is not installed (apt-get install strace)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let log = work.path().join("server.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let mut server = serve(&data, port, &log).await;
    let (partner, token) = common::partner(&host, &data, "P-EIO").await;

    // Writers create; each goes on for a few writes after its first refusal.
    let writing = Arc::new(AtomicBool::new(true));
    let seen: Vec<Arc<Mutex<Seen>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (partner, seen, writing) = (partner.clone(), seen[w].clone(), writing.clone());
            tokio::spawn(async move {
                let (mut n, mut after) = (0, 0);
                while writing.load(Ordering::Relaxed) {
                    let token = format!("w{w}-n{n}");
                    n += 1;
                    let (status, body) = partner.call("CreateOpportunity", &create_body(&token, "a failing disk")).await;
                    let mut seen = seen.lock().unwrap();
                    let refused_before = !seen.refusals.is_empty();
                    if status == 200 {
                        if refused_before {
                            seen.acknowledged_after_a_refusal.push(token.clone());
                        }
                        seen.acknowledged.insert(token, body["Id"].as_str().unwrap().to_string());
                    } else {
                        seen.refusals.push((status, body));
                    }
                    if refused_before {
                        after += 1;
                        if after == AFTER_REFUSAL {
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let acknowledged_count = || seen.iter().map(|s| s.lock().unwrap().acknowledged.len()).sum::<usize>();
    let warm = tokio::time::Instant::now() + Duration::from_secs(60);
    while acknowledged_count() < 200 {
        assert!(tokio::time::Instant::now() < warm, "200 writes were not acknowledged within 60 s, before any fault");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The disk fails once: the `from_call`th `syscall` after attaching fails with EIO, every
    // other succeeds — the case where a server that carried on would acknowledge writes over
    // pages the kernel may have dropped.
    let pid = server.id().unwrap().to_string();
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-p", &pid, "-e", &format!("trace={syscall}")])
        .args(["-e", &format!("inject={syscall}:error=EIO:when={from_call}"), "-o", "/dev/null"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("strace starts");
    // strace that cannot attach (no right to trace here) exits at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    if strace.try_wait().unwrap().is_some() {
        let said = strace.wait_with_output().await.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
        assert!(std::env::var_os("ACE_REQUIRE_E2E").is_none(), "strace could not attach ({said}), and ACE_REQUIRE_E2E is set");
        eprintln!("storage-error trial skipped: strace could not attach: {said}");
        writing.store(false, Ordering::Relaxed);
        return;
    }
    // Writers stop once each has been refused enough; 60 s without that and the fault never hit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for w in writers {
        if tokio::time::timeout_at(deadline, w).await.is_err() {
            writing.store(false, Ordering::Relaxed);
            let _ = strace.start_kill();
            let traced = strace.wait_with_output().await.map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
            panic!("no write was refused within 60 s of a failed {syscall}: the server carried on (strace said {traced:?})");
        }
    }

    let mut acknowledged = BTreeMap::new();
    for (w, s) in seen.iter().enumerate() {
        let s = s.lock().unwrap();
        assert!(
            s.acknowledged_after_a_refusal.is_empty(),
            "writer {w}: writes acknowledged after the storage failed: {:?}",
            s.acknowledged_after_a_refusal
        );
        for (status, body) in &s.refusals {
            assert_eq!((*status, &body["__type"]), (500, &json!("InternalServerException")), "writer {w}: {body}");
        }
        acknowledged.extend(s.acknowledged.clone());
    }
    // It says so: in its log, and on /readyz; reads still work.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("writes are stopped"), "the server log says writes are stopped");
    let ready = reqwest::get(format!("http://{host}/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 503, "/readyz tells the truth");
    let (_, sample) = acknowledged.iter().next().unwrap();
    let (status, got) = partner.call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": sample})).await;
    assert_eq!(status, 200, "reads still work: {got}");
    let (status, refused) = partner.call("CreateOpportunity", &create_body("later", "a failing disk")).await;
    assert_eq!((status, &refused["__type"]), (500, &json!("InternalServerException")), "{refused}");

    // The storage is sound again (strace gone), the server restarted on the same files.
    strace.start_kill().unwrap();
    let _ = strace.wait().await;
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let server = serve(&data, port, &log).await;
    let listed = partner.all_ids().await;
    let distinct: std::collections::BTreeSet<&String> = listed.iter().collect();
    assert_eq!(distinct.len(), listed.len(), "no opportunity is stored twice");
    let missing: Vec<&String> = acknowledged.values().filter(|id| !distinct.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    let verified = operator(&host, &token, reqwest::Method::GET, "/audit/verify", Value::Null).await;
    assert_eq!(verified["ok"], json!(true), "the audit chain verifies: {verified}");
    let (status, after) = partner.call("CreateOpportunity", &create_body("after-restart", "a failing disk")).await;
    assert_eq!(status, 200, "writes work again after the restart: {after}");
    let refused: usize = seen.iter().map(|s| s.lock().unwrap().refusals.len()).sum();
    eprintln!(
        "{syscall} failing once, at call {from_call}: {} writes acknowledged, {refused} refused (none acknowledged after a refusal), \
         not ready while failed, {} opportunities after the restart ({} not acknowledged but committed before the failure surfaced), chain verified",
        acknowledged.len(),
        listed.len(),
        listed.len() - acknowledged.len()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fsync_stops_acknowledging_writes_and_loses_none_that_were() {
    trial("fsync", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_stops_acknowledging_writes_and_loses_none_that_were() {
    trial("pwrite64", 50).await;
}
