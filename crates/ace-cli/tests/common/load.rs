//! The load the PostgreSQL fault trials (`postgres_outage`, `network_to_postgres`) put on their
//! nodes: writers creating opportunities, each create retried with its `ClientToken` until it
//! is answered 200, as a CRM does; and the checks they share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{create_body, Partner};

/// The longest any call may take, whatever is done to the database.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// What the writers saw: per token, the id acknowledged; each acknowledged create's latency
/// with when it was answered; the refusals; the slowest answer.
#[derive(Default)]
pub struct Seen {
    pub acknowledged: BTreeMap<String, String>,
    pub latencies: Vec<(Instant, Duration)>,
    pub refused: usize,
    pub slowest: Duration,
}

/// One writer: creates (`what` names the trial in their texts) with fresh tokens `name-N`,
/// each retried with the same token until acknowledged. A refusal must be an
/// `InternalServerException`; every call must be answered within [`ANSWER_WITHIN`].
pub async fn writer(p: Partner, name: String, what: &'static str, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let token = format!("{name}-{n}");
        loop {
            let started = Instant::now();
            let (status, body) = p.call_within("CreateOpportunity", &create_body(&token, what), ANSWER_WITHIN).await;
            {
                let took = started.elapsed();
                let mut s = seen.lock().unwrap();
                s.slowest = s.slowest.max(took);
                if status == 200 {
                    s.acknowledged.insert(token.clone(), body["Id"].as_str().unwrap().to_string());
                    s.latencies.push((Instant::now(), took));
                    break;
                }
                assert_eq!(status, 500, "{token}: a write that did not get through is an internal error: {body}");
                assert_eq!(body["__type"], json!("InternalServerException"), "{body}");
                s.refused += 1;
            }
            if stop.load(Ordering::Relaxed) {
                // Stopping mid-retry: the token may be stored unacknowledged (at most one a writer).
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `/readyz`'s status on `host`, answered within [`ANSWER_WITHIN`] or the trial fails.
pub async fn ready(http: &reqwest::Client, host: &str) -> u16 {
    match http.get(format!("http://{host}/readyz")).timeout(ANSWER_WITHIN).send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("/readyz on {host} did not answer within {ANSWER_WITHIN:?}: {e}"),
    }
}

/// Waits until at least 20 more creates are acknowledged, some through every node (the
/// writers' names start with the node's), within `limit`; else fails with the log's end.
pub async fn writes_again(seen: &Arc<Mutex<Seen>>, nodes: &[String], limit: Duration, what: &str, log: &Path) {
    let per_node = |s: &Seen| -> Vec<usize> {
        nodes.iter().map(|n| s.acknowledged.keys().filter(|t| t.starts_with(n.as_str())).count()).collect()
    };
    let (from, base) = {
        let s = seen.lock().unwrap();
        (s.acknowledged.len(), per_node(&s))
    };
    let deadline = Instant::now() + limit;
    loop {
        {
            let s = seen.lock().unwrap();
            if s.acknowledged.len() >= from + 20 && per_node(&s).iter().zip(&base).all(|(a, b)| a > b) {
                return;
            }
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!("{what}: both nodes did not write again within {limit:?}; the log ends:\n{}", tail.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The end of a trial: every acknowledged create is there exactly once through every node in
/// `hosts` (no token doubled by its retries, nothing listed twice); a create whose answer was
/// lost is there at most once for each of the `writers` (one stopping mid-retry). Returns the
/// acknowledged ids.
pub async fn acknowledged_stored_once(seen: &Seen, hosts: &[String], partner: &Partner, writers: usize) -> BTreeSet<String> {
    let ids: BTreeSet<String> = seen.acknowledged.values().cloned().collect();
    assert_eq!(ids.len(), seen.acknowledged.len(), "two tokens acknowledged as one opportunity");
    for host in hosts {
        let on_node = Partner { host: host.clone(), ..partner.clone() }.all_ids().await;
        let stored: BTreeSet<String> = on_node.iter().cloned().collect();
        assert_eq!(stored.len(), on_node.len(), "{host}: an opportunity listed twice");
        let missing: Vec<&String> = ids.difference(&stored).collect();
        assert!(missing.is_empty(), "{host}: acknowledged creates missing: {missing:?}");
        assert!(stored.len() <= ids.len() + writers, "{host}: {} stored for {} acknowledged", stored.len(), ids.len());
    }
    ids
}
