//! Crash consistency (RELIABILITY.md): the real `ace` binary serves concurrent writes from
//! several clients — creates, updates, submissions (with their association and attestation),
//! referral accepts and contact records — and is killed with SIGKILL at random moments, 20
//! times (each 50–300 ms after the round's first update), restarted on the same data each time.
//! Afterwards every write the server acknowledged is present exactly once, and every write left
//! in doubt by a crash (no answer: only a kill may leave one; a refusal fails the trial at
//! once), retried with its `ClientToken`, either is found once (it had committed)
//! or is created once (it had not); nothing is lost, nothing is doubled, nothing is half there.
//! On SQLite, and on PostgreSQL when `ACE_TEST_DATABASE_URL` is set — there also with two
//! servers sharing the database, writers spread over both, one of them killed each round.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

const KILLS: usize = 20;
const WRITERS: usize = 8;
const REFERRALS_PER_ROUND: usize = 2;

struct Server {
    child: Child,
}

async fn start(data_dir: &Path, port: u16, database: Option<&str>) -> Server {
    start_with(data_dir, port, database, &[]).await
}

async fn start_with(data_dir: &Path, port: u16, database: Option<&str>, extra: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ace"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = database {
        command.args(["--database", url]);
    }
    let mut child = command.spawn().expect("ace serve starts");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        // A server that already gave up (it could not listen: the port taken meanwhile) does
        // not pass for ready because something else answers there.
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ace serve on port {port} exited: {status}");
        }
        if http.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Server { child };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("ace serve did not become ready on port {port}");
}

#[derive(Clone)]
struct Partner {
    http: reqwest::Client,
    host: String,
    key: String,
    secret: String,
}

/// Why a call has no 200 to show.
#[derive(Debug)]
enum Failure {
    /// No whole answer: the connection failed or closed (a kill), or the call timed out.
    NoAnswer(String),
    /// The server answered, with this status and body.
    Answered(String),
}

impl Partner {
    /// `Ok(answer)` for a 200, `Err` when no answer came. Only a kill may leave a write in
    /// doubt (issue 24): any answer other than a 200 fails the trial on the spot, with the
    /// operation and the answer, instead of passing for a doubt and being "resolved" later.
    async fn call(&self, operation: &str, body: &Value) -> Result<Value, String> {
        only_killed(operation, self.call_target(&format!("AWSPartnerCentralSelling.{operation}"), body).await)
    }

    /// This project's `AcePartner.*` extension operations, under the same rule.
    async fn ext(&self, operation: &str, body: &Value) -> Result<Value, String> {
        only_killed(operation, self.call_target(&format!("AcePartner.{operation}"), body).await)
    }

    /// A call whose refusal is expected (a quota): the answer either way.
    async fn call_answered(&self, operation: &str, body: &Value) -> Result<Value, String> {
        match self.call_target(&format!("AWSPartnerCentralSelling.{operation}"), body).await {
            Ok(v) => Ok(v),
            Err(Failure::Answered(e)) => Err(e),
            Err(Failure::NoAnswer(e)) => panic!("{operation}: no answer and no node was killed: {e}"),
        }
    }

    async fn call_target(&self, target: &str, body: &Value) -> Result<Value, Failure> {
        let bytes = serde_json::to_vec(body).unwrap();
        let headers =
            ace_server::sigv4::sign_awsjson(&self.key, &self.secret, "us-east-1", &self.host, target, &bytes, chrono::Utc::now());
        let mut request = self.http.post(format!("http://{}/", self.host)).body(bytes).timeout(Duration::from_secs(10));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| Failure::NoAnswer(format!("{e:?}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Failure::NoAnswer(e.to_string()))?;
        if !status.is_success() {
            return Err(Failure::Answered(format!("HTTP {status}: {text}")));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{target}: a 200 that is not JSON ({e}): {text}")))
    }
}

fn only_killed(operation: &str, outcome: Result<Value, Failure>) -> Result<Value, String> {
    match outcome {
        Ok(v) => Ok(v),
        Err(Failure::NoAnswer(e)) => Err(e),
        Err(Failure::Answered(e)) => panic!("{operation} was answered with a refusal, not cut off by a kill: {e}"),
    }
}

fn create_body(token: &str) -> Value {
    json!({
        "Catalog": "AWS", "ClientToken": token,
        "Customer": {"Account": {"CompanyName": format!("Crash {token}"), "WebsiteUrl": "https://crash.example.com",
            "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101", "StateOrRegion": "Washington"}}},
        "Project": {"Title": "Crash test", "CustomerBusinessProblem": "Survive being killed at any moment without losing a write."},
        "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-01-31"},
    })
}

/// Two fields changed in one write (the whole document is replaced, as the API does).
fn update_body(id: &str, token: &str, last_modified: &str) -> Value {
    let mut body = create_body(token);
    body.as_object_mut().unwrap().remove("ClientToken");
    body["Identifier"] = json!(id);
    body["LastModifiedDate"] = json!(last_modified);
    body["Project"]["Title"] = json!(format!("Updated {token}"));
    body["LifeCycle"]["NextSteps"] = json!(format!("Call the customer about {token}"));
    body
}

fn attestation_body(id: &str) -> Value {
    json!({
        "Catalog": "AWS", "OpportunityIdentifier": id,
        "PreSalesEffort": {"Description": "Two workshops with the CIO; agreed a migration plan for forty VMs.",
            "Activities": ["Workshop"], "DecisionMakerEngaged": "CIO"},
        "CustomerConsent": {"StatementVersion": "2021-10-27", "Method": "Email", "ObtainedAt": "2026-01-15T10:00:00Z",
            "ObtainedBy": "alice"},
    })
}

/// Associates the solution, attests, and submits: `Ok(true)` when the submission was
/// acknowledged, `Ok(false)` when a step before it got no answer (nothing to check), `Err`
/// when the submission itself got none.
async fn submit(partner: &Partner, id: &str, solution: &str) -> Result<bool, ()> {
    let associate = json!({"Catalog": "AWS", "OpportunityIdentifier": id, "RelatedEntityType": "Solutions",
                           "RelatedEntityIdentifier": solution});
    if partner.call("AssociateOpportunity", &associate).await.is_err()
        || partner.ext("PutSubmissionAttestation", &attestation_body(id)).await.is_err()
    {
        return Ok(false);
    }
    let body = json!({"Catalog": "AWS", "Identifier": id, "InvolvementType": "Co-Sell"});
    partner.call("SubmitOpportunity", &body).await.map(|_| true).map_err(|_| ())
}

/// Issue 19: shares the opportunity into an engagement of the partner's own with a snapshot job
/// (each step with a ClientToken, so a step in doubt can be resolved), starts the job, and then
/// updates the opportunity. `Ok(true)` when the update was acknowledged, `Ok(false)` when a step
/// before it got no answer (the writer stops there), `Err` when the update itself got none.
async fn share_and_update(partner: &Partner, id: &str, token: &str, last_modified: &str) -> Result<bool, ()> {
    let Ok(engagement) = partner.call("CreateEngagement", &engagement_body(token)).await else { return Ok(false) };
    let engagement = engagement["Id"].as_str().unwrap().to_string();
    let Ok(job) = partner.call("CreateResourceSnapshotJob", &job_body(&engagement, id, token)).await else { return Ok(false) };
    let start = json!({"Catalog": "AWS", "ResourceSnapshotJobIdentifier": job["Id"]});
    if partner.call("StartResourceSnapshotJob", &start).await.is_err() {
        return Ok(false);
    }
    partner.call("UpdateOpportunity", &update_body(id, token, last_modified)).await.map(|_| true).map_err(|_| ())
}

fn engagement_body(token: &str) -> Value {
    json!({"Catalog": "AWS", "ClientToken": format!("eng-{token}"), "Title": "Crash co-sell", "Description": "Shared by a job"})
}

fn job_body(engagement: &str, id: &str, token: &str) -> Value {
    json!({"Catalog": "AWS", "ClientToken": format!("job-{token}"), "EngagementIdentifier": engagement,
           "ResourceType": "Opportunity", "ResourceIdentifier": id, "ResourceSnapshotTemplateIdentifier": "OpportunitySummaryView"})
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

/// `nodes` servers share the data directory (server key, operator token) and, on PostgreSQL,
/// the database; writers are spread over them and one node is killed per round.
async fn crash_run(database: Option<&str>, nodes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> =
        (0..nodes).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let host = format!("127.0.0.1:{}", ports[0]);
    let mut servers = Vec::new();
    for port in &ports {
        servers.push(start(dir.path(), *port, database).await);
    }
    let token = std::fs::read_to_string(dir.path().join("operator-token")).unwrap().trim().to_string();
    operator(
        &host,
        &token,
        reqwest::Method::POST,
        "/partners",
        // Eligible for referrals (REF-1), so the operator can refer customers to it.
        json!({"id": "P-CRASH", "name": "Crash Co", "path": "consulting", "tier": "advanced", "psf_listed": true,
               "privacy_policy": "https://crash.example.com/privacy", "referrals_approved": true}),
    )
    .await;
    let solution = operator(
        &host,
        &token,
        reqwest::Method::POST,
        "/partners/P-CRASH/solutions",
        json!({"name": "Crash Factory", "category": "Consulting Service"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Referrals to accept during the run, two a round.
    let mut referrals = Vec::new();
    for i in 0..REFERRALS_PER_ROUND * KILLS {
        let v = operator(
            &host,
            &token,
            reqwest::Method::POST,
            "/referrals",
            json!({"partner": "P-CRASH", "kind": "opportunity", "company": format!("Referred {i}"),
                   "website": format!("https://referred{i}.example.com"), "country": "US",
                   "contact_name": "Jane Doe", "contact_email": format!("jane{i}@referred{i}.example.com")}),
        )
        .await;
        referrals.push((v["Id"].as_str().unwrap().to_string(), format!("Referred {i}")));
    }
    let keys = operator(&host, &token, reqwest::Method::POST, "/partners/P-CRASH/users", json!({"name": "alice"})).await;
    operator(&host, &token, reqwest::Method::PUT, "/quotas", json!({"reads_per_second": "unlimited", "writes_per_second": "unlimited", "reads_per_day": "unlimited", "writes_per_day": "unlimited"})).await;
    let partner = Partner {
        http: reqwest::Client::new(),
        host: host.clone(),
        key: keys["AccessKeyId"].as_str().unwrap().into(),
        secret: keys["SecretAccessKey"].as_str().unwrap().into(),
    };
    let on_node = |n: usize| Partner { host: format!("127.0.0.1:{}", ports[n % nodes]), ..partner.clone() };

    // token → the id the server acknowledged; tokens sent without an answer are in doubt.
    let acknowledged: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let in_doubt: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    // Opportunity ids whose update was acknowledged, or sent when a kill came.
    let updated: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let update_in_doubt: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    // Opportunity ids whose submission was acknowledged, or sent when a kill came.
    let submitted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let submit_in_doubt: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    // Referral ids: accepted (→ the opportunity the accept answered), in doubt; contacts alike.
    let accepted: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let accept_in_doubt: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let contacted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let contact_in_doubt: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    // Issue 19: opportunity id → its token, for those shared into an engagement by a job.
    let shared: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..KILLS {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (partner, acknowledged, in_doubt, stop) = (on_node(w), acknowledged.clone(), in_doubt.clone(), stop.clone());
                let (updated, update_in_doubt) = (updated.clone(), update_in_doubt.clone());
                let (submitted, submit_in_doubt, solution) = (submitted.clone(), submit_in_doubt.clone(), solution.clone());
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    // Ends when the round stops (false), or at a call no answer came to (true).
                    loop {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break false;
                        }
                        let token = format!("r{round}-w{w}-n{n}");
                        n += 1;
                        let created = match partner.call("CreateOpportunity", &create_body(&token)).await {
                            Ok(v) => v,
                            Err(_) => {
                                in_doubt.lock().unwrap().insert(token);
                                break true;
                            }
                        };
                        let id = created["Id"].as_str().unwrap().to_string();
                        acknowledged.lock().unwrap().insert(token.clone(), id.clone());
                        // Every other opportunity is updated at once: two fields in one write.
                        if n % 2 == 0 {
                            let body = update_body(&id, &token, created["LastModifiedDate"].as_str().unwrap());
                            match partner.call("UpdateOpportunity", &body).await {
                                Ok(_) => updated.lock().unwrap().insert(id),
                                Err(_) => {
                                    update_in_doubt.lock().unwrap().insert(id);
                                    break true;
                                }
                            };
                        } else if n % 4 == 3 {
                            // Every fourth is shared by a running snapshot job, then updated.
                            shared.lock().unwrap().insert(id.clone(), token.clone());
                            let modified = created["LastModifiedDate"].as_str().unwrap();
                            match share_and_update(&partner, &id, &token, modified).await {
                                Ok(true) => {
                                    updated.lock().unwrap().insert(id);
                                }
                                Ok(false) => break true,
                                Err(()) => {
                                    update_in_doubt.lock().unwrap().insert(id);
                                    break true;
                                }
                            }
                        } else if n % 4 == 1 {
                            // Every fourth is submitted for review: association, attestation, submit.
                            match submit(&partner, &id, &solution).await {
                                Ok(true) => {
                                    submitted.lock().unwrap().insert(id);
                                }
                                Ok(false) => break true,
                                Err(()) => {
                                    submit_in_doubt.lock().unwrap().insert(id);
                                    break true;
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        // Beside them, this round's referrals are accepted and their contact recorded.
        let round_referrals = referrals[round * REFERRALS_PER_ROUND..(round + 1) * REFERRALS_PER_ROUND].to_vec();
        let referral_writer = {
            let partner = on_node(round);
            let (accepted, accept_in_doubt) = (accepted.clone(), accept_in_doubt.clone());
            let (contacted, contact_in_doubt) = (contacted.clone(), contact_in_doubt.clone());
            // Whether a call of it got no answer.
            tokio::spawn(async move {
                for (referral, _) in round_referrals {
                    let accept = json!({"Catalog": "AWS", "Identifier": referral, "ClientToken": format!("accept-{referral}")});
                    let Ok(task) = partner.call("StartEngagementByAcceptingInvitationTask", &accept).await else {
                        accept_in_doubt.lock().unwrap().insert(referral);
                        return true;
                    };
                    accepted.lock().unwrap().insert(referral.clone(), task["OpportunityId"].as_str().unwrap().to_string());
                    let contact = json!({"Catalog": "AWS", "InvitationIdentifier": referral, "Channel": "Email",
                                         "ContactedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "ActingInOwnName": true});
                    match partner.ext("RecordReferralContact", &contact).await {
                        Ok(_) => contacted.lock().unwrap().insert(referral),
                        Err(_) => {
                            contact_in_doubt.lock().unwrap().insert(referral);
                            return true;
                        }
                    };
                }
                false
            })
        };
        // A random moment, 50–300 ms into the round's writing: counted from its first
        // acknowledged update (every writer's second create updates), so that a round on a
        // slow, shared machine is not over before any kind of write was made.
        let round_start = updated.lock().unwrap().len() + update_in_doubt.lock().unwrap().len();
        for _ in 0..2_000 {
            if updated.lock().unwrap().len() + update_in_doubt.lock().unwrap().len() > round_start {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(50 + seed % 250)).await;
        let victim = (seed as usize) % nodes;
        servers[victim].child.start_kill().unwrap();
        servers[victim].child.wait().await.unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Only the kill may cut a call off: a writer on a node that kept running never goes
        // without an answer.
        for (w, writer) in writers.into_iter().enumerate() {
            if writer.await.unwrap() {
                assert_eq!(
                    w % nodes,
                    victim,
                    "round {round}: writer {w} on node {} got no answer; node {victim} was killed",
                    w % nodes
                );
            }
        }
        if referral_writer.await.unwrap() {
            assert_eq!(
                round % nodes,
                victim,
                "round {round}: the referral writer on node {} got no answer; node {victim} was killed",
                round % nodes
            );
        }
        servers[victim] = start(dir.path(), ports[victim], database).await;
    }

    // Every write left in doubt, retried with its token: one opportunity, committed or not.
    let doubtful: Vec<String> = in_doubt.lock().unwrap().iter().cloned().collect();
    for token in &doubtful {
        let v = partner.call("CreateOpportunity", &create_body(token)).await.expect("a retry after the crash is answered");
        acknowledged.lock().unwrap().insert(token.clone(), v["Id"].as_str().unwrap().to_string());
    }
    // Referral accepts in doubt, retried with their token: one opportunity each, whichever way
    // the crash fell.
    let accepts_in_doubt: Vec<String> = accept_in_doubt.lock().unwrap().iter().cloned().collect();
    for referral in &accepts_in_doubt {
        let accept = json!({"Catalog": "AWS", "Identifier": referral, "ClientToken": format!("accept-{referral}")});
        let task =
            partner.call("StartEngagementByAcceptingInvitationTask", &accept).await.expect("an accept retried is answered");
        accepted.lock().unwrap().insert(referral.clone(), task["OpportunityId"].as_str().unwrap().to_string());
    }
    let accepted = accepted.lock().unwrap().clone();
    for (referral, opportunity) in accepted.iter().step_by(3) {
        let accept = json!({"Catalog": "AWS", "Identifier": referral, "ClientToken": format!("accept-{referral}")});
        let again = partner.call("StartEngagementByAcceptingInvitationTask", &accept).await.unwrap();
        assert_eq!(again["OpportunityId"].as_str(), Some(opportunity.as_str()), "{referral}: a retried accept answers the same");
    }
    // Acknowledged writes, retried: the original answer, not a second opportunity.
    let acknowledged = acknowledged.lock().unwrap().clone();
    for (token, id) in acknowledged.iter().step_by(7) {
        let v = partner.call("CreateOpportunity", &create_body(token)).await.unwrap();
        assert_eq!(v["Id"].as_str(), Some(id.as_str()), "{token}: a retry returns the original opportunity");
    }
    let mut stored = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut body = json!({"Catalog": "AWS", "MaxResults": 100});
        if let Some(t) = &next {
            body["NextToken"] = json!(t);
        }
        let page = partner.call("ListOpportunities", &body).await.unwrap();
        for o in page["OpportunitySummaries"].as_array().unwrap() {
            stored.push(o["Id"].as_str().unwrap().to_string());
        }
        match page["NextToken"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    let distinct: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(distinct.len(), stored.len(), "no opportunity is listed twice");
    let expected: BTreeSet<&String> = acknowledged.values().chain(accepted.values()).collect();
    assert_eq!(distinct, expected, "exactly the acknowledged (and resolved) writes are stored, each once");
    assert_eq!(expected.len(), acknowledged.len() + accepted.len(), "no accept shares an opportunity with a create");
    let ids: BTreeSet<&String> = acknowledged.values().collect();
    assert_eq!(ids.len(), acknowledged.len(), "no two tokens share an opportunity");

    // Updates: an acknowledged one is there whole; one in doubt is there whole or not at all;
    // no opportunity carries half of one.
    let (updated, update_in_doubt) = (updated.lock().unwrap().clone(), update_in_doubt.lock().unwrap().clone());
    let mut applied_in_doubt = 0;
    for (token, id) in &acknowledged {
        let v = partner.call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": id})).await.unwrap();
        let state = (v["Project"]["Title"].as_str().unwrap_or(""), v["LifeCycle"]["NextSteps"].as_str().unwrap_or(""));
        let whole = (format!("Updated {token}"), format!("Call the customer about {token}"));
        let is_whole = state == (whole.0.as_str(), whole.1.as_str());
        let is_original = state == ("Crash test", "");
        if updated.contains(id) {
            assert!(is_whole, "{id}: an acknowledged update is stored whole: {state:?}");
        } else if update_in_doubt.contains(id) {
            assert!(is_whole || is_original, "{id}: an update in doubt is all or nothing: {state:?}");
            applied_in_doubt += usize::from(is_whole);
        } else {
            assert!(is_original, "{id}: never updated: {state:?}");
        }
    }
    // Submissions: acknowledged ones are in review with their submission recorded; one in doubt
    // is submitted whole or not at all.
    let (submitted, submit_in_doubt) = (submitted.lock().unwrap().clone(), submit_in_doubt.lock().unwrap().clone());
    let mut submitted_in_doubt = 0;
    for id in submitted.iter().chain(&submit_in_doubt) {
        let v = partner.call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": id})).await.unwrap();
        let status = v["LifeCycle"]["ReviewStatus"].as_str().unwrap_or("");
        let attested = partner.ext("GetSubmissionAttestation", &json!({"Catalog": "AWS", "OpportunityIdentifier": id})).await;
        assert!(attested.is_ok(), "{id}: the attestation before the submission is there");
        if submitted.contains(id) {
            assert_eq!(status, "Submitted", "{id}: an acknowledged submission is in review");
        } else {
            assert!(
                status == "Submitted" || status == "Pending Submission",
                "{id}: a submission in doubt is all or nothing: {status}"
            );
            submitted_in_doubt += usize::from(status == "Submitted");
        }
    }
    // Accepted referrals: the invitation is ACCEPTED with exactly its one opportunity, which
    // holds the contact; a contact record is there whole (time and channel) or not at all.
    let (contacted, contact_in_doubt) = (contacted.lock().unwrap().clone(), contact_in_doubt.lock().unwrap().clone());
    let mut contact_applied_in_doubt = 0;
    for (referral, opportunity) in &accepted {
        let invitation =
            partner.call("GetEngagementInvitation", &json!({"Catalog": "AWS", "Identifier": referral})).await.unwrap();
        assert_eq!(invitation["Status"], json!("ACCEPTED"), "{referral}");
        let company = &referrals.iter().find(|(id, _)| id == referral).unwrap().1;
        let got = partner.call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": opportunity})).await.unwrap();
        assert_eq!(got["Customer"]["Account"]["CompanyName"].as_str(), Some(company.as_str()), "{referral}: its opportunity");
        let o =
            partner.ext("GetReferralObligations", &json!({"Catalog": "AWS", "InvitationIdentifier": referral})).await.unwrap();
        let o = &o["Obligations"];
        assert_eq!(o["OpportunityIdentifier"].as_str(), Some(opportunity.as_str()), "{referral}: one opportunity");
        let recorded = o["ContactedAt"].is_string();
        assert_eq!(recorded, o["ContactChannel"].is_string(), "{referral}: a contact record is whole: {o}");
        if contacted.contains(referral) {
            assert!(recorded && o["ContactMet"] == json!(true), "{referral}: an acknowledged contact is recorded: {o}");
        } else if contact_in_doubt.contains(referral) {
            contact_applied_in_doubt += usize::from(recorded);
        } else {
            assert!(!recorded, "{referral}: never contacted: {o}");
        }
    }
    // Snapshot jobs (issue 19): a running job has exactly one revision for its start and one for
    // each committed change its template sees — here the update, when it was applied — and its
    // latest revision shows the opportunity as it is; a job whose start never committed has none.
    // Steps left in doubt are resolved by their tokens.
    let shared = shared.lock().unwrap().clone();
    let (mut running_jobs, mut shared_revisions) = (0, 0);
    for (id, token) in &shared {
        let engagement =
            partner.call("CreateEngagement", &engagement_body(token)).await.expect("an engagement retried is answered");
        let engagement = engagement["Id"].as_str().unwrap().to_string();
        let job = partner
            .call("CreateResourceSnapshotJob", &job_body(&engagement, id, token))
            .await
            .expect("a job retried is answered");
        let got = partner
            .call("GetResourceSnapshotJob", &json!({"Catalog": "AWS", "ResourceSnapshotJobIdentifier": job["Id"]}))
            .await
            .unwrap();
        let listed = partner
            .call("ListResourceSnapshots", &json!({"Catalog": "AWS", "EngagementIdentifier": engagement, "MaxResults": 100}))
            .await
            .unwrap();
        let revisions: Vec<i64> =
            listed["ResourceSnapshotSummaries"].as_array().unwrap().iter().map(|s| s["Revision"].as_i64().unwrap()).collect();
        let o = partner.call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": id})).await.unwrap();
        let changed = o["LifeCycle"]["NextSteps"].is_string();
        let expected: Vec<i64> = match got["Status"].as_str() {
            Some("Running") => (1..=1 + i64::from(changed)).collect(),
            _ => vec![],
        };
        assert_eq!(revisions, expected, "{id}: one revision per committed change per running job: {got}");
        if let Some(latest) = revisions.last() {
            let s = partner
                .call(
                    "GetResourceSnapshot",
                    &json!({"Catalog": "AWS", "EngagementIdentifier": engagement, "ResourceType": "Opportunity",
                            "ResourceIdentifier": id, "ResourceSnapshotTemplateIdentifier": "OpportunitySummaryView", "Revision": latest}),
                )
                .await
                .unwrap();
            assert_eq!(
                s["Payload"]["OpportunitySummary"]["Lifecycle"]["NextSteps"], o["LifeCycle"]["NextSteps"],
                "{id}: the latest revision shows the opportunity as it is"
            );
            running_jobs += 1;
            shared_revisions += revisions.len();
        }
    }
    eprintln!(
        "snapshot jobs: {} opportunities shared, {running_jobs} jobs running with {shared_revisions} revisions, \
         each one per committed change (0 lost, 0 doubled)",
        shared.len()
    );
    assert!(running_jobs > 0, "the run started snapshot jobs");
    eprintln!(
        "crash run ({}, {nodes} node(s)): {KILLS} kills, {} creates checked ({} left in doubt by a kill and resolved by their token), \
         {} updates acknowledged and found whole, {} in doubt ({} applied whole, the rest not at all); \
         {} submissions acknowledged and in review, {} in doubt ({} applied); \
         {} referral accepts each with one opportunity ({} in doubt, resolved by their token), \
         {} contacts recorded whole, {} in doubt ({} applied); 0 lost, 0 doubled, 0 torn",
        if database.is_some() { "PostgreSQL" } else { "SQLite" },
        acknowledged.len(),
        doubtful.len(),
        updated.len(),
        update_in_doubt.len(),
        applied_in_doubt,
        submitted.len(),
        submit_in_doubt.len(),
        submitted_in_doubt,
        accepted.len(),
        accepts_in_doubt.len(),
        contacted.len(),
        contact_in_doubt.len(),
        contact_applied_in_doubt,
    );
    assert!(!submitted.is_empty(), "the run submitted opportunities");
    assert!(accepted.len() >= KILLS, "the run accepted referrals: {}", accepted.len());
    assert!(!updated.is_empty(), "the run updated opportunities");
    assert!(acknowledged.len() > KILLS * WRITERS, "the run did real work: {} writes", acknowledged.len());
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_consistency_under_sigkill_on_sqlite() {
    crash_run(None, 1).await;
}

/// A fresh schema in the test database, created and migrated, and the URL a server reaches it
/// by (through its search path). Drop it with `drop_postgres_schema(url, schema)`.
async fn postgres_schema(url: &str, schema: &str) -> String {
    ace_store::SqlStore::open_postgres(url, Some(schema), 1).await.unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_consistency_under_sigkill_on_postgres() {
    let Ok(url) = std::env::var("ACE_TEST_DATABASE_URL") else {
        eprintln!("skipped: ACE_TEST_DATABASE_URL is not set, so the PostgreSQL back end was not tested");
        return;
    };
    for nodes in [1, 2] {
        let schema = format!("crash_{}_{nodes}", std::process::id());
        let server_url = postgres_schema(&url, &schema).await;
        crash_run(Some(&server_url), nodes).await;
        ace_store::baseline::drop_postgres_schema(&url, &schema).await.unwrap();
    }
}

/// Several nodes (RELIABILITY.md): two `ace serve` processes on one PostgreSQL database, a
/// partner's creates spread over both, one webhook subscription. Whichever node holds the
/// subscription's lease delivers; every event reaches the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_event_once() {
    let Ok(url) = std::env::var("ACE_TEST_DATABASE_URL") else {
        eprintln!("skipped: ACE_TEST_DATABASE_URL is not set, so several nodes were not tested");
        return;
    };
    const CREATES: usize = 60;
    let schema = format!("nodes_{}", std::process::id());
    let database = postgres_schema(&url, &schema).await;

    // The receiver: every POST's event id, in arrival order.
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_port = receiver.local_addr().unwrap().port();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let id = headers.get("ace-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                sink.lock().unwrap().push((id, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                axum::http::StatusCode::OK
            }
        }),
    );
    let receiving = tokio::spawn(async move { axum::serve(receiver, app).await });

    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> =
        (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let mut servers = Vec::new();
    for port in &ports {
        // The webhook receiver is on loopback, which the SSRF guard allows only when told.
        servers.push(start_with(dir.path(), *port, Some(&database), &["--webhook-allow-private"]).await);
    }
    let host = format!("127.0.0.1:{}", ports[0]);
    let token = std::fs::read_to_string(dir.path().join("operator-token")).unwrap().trim().to_string();
    let post = reqwest::Method::POST;
    operator(
        &host,
        &token,
        post.clone(),
        "/partners",
        json!({"id": "P-N", "name": "Nodes Co", "path": "consulting", "tier": "select"}),
    )
    .await;
    let keys = operator(&host, &token, post.clone(), "/partners/P-N/users", json!({"name": "alice"})).await;
    operator(
        &host,
        &token,
        reqwest::Method::PUT,
        "/quotas",
        json!({"reads_per_second": "unlimited", "writes_per_second": "unlimited"}),
    )
    .await;
    let hook_url = format!("http://127.0.0.1:{receiver_port}/hook");
    operator(
        &host,
        &token,
        post,
        "/webhooks",
        json!({"partner": "P-N", "url": hook_url, "event_types": ["Opportunity Created"]}),
    )
    .await;
    let on_node = |n: usize| Partner {
        http: reqwest::Client::new(),
        host: format!("127.0.0.1:{}", ports[n % 2]),
        key: keys["AccessKeyId"].as_str().unwrap().into(),
        secret: keys["SecretAccessKey"].as_str().unwrap().into(),
    };
    let mut created = BTreeSet::new();
    for i in 0..CREATES {
        let v = on_node(i).call("CreateOpportunity", &create_body(&format!("n{i}"))).await.unwrap();
        created.insert(v["Id"].as_str().unwrap().to_string());
    }
    // Until every create's event has arrived and the subscription's cursor has passed the
    // newest event: a delivery is answered before its cursor moves, so nothing of these events
    // can still be on its way — a duplicate would be here by now.
    for _ in 0..300 {
        if received.lock().unwrap().len() >= CREATES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = operator(&host, &token, reqwest::Method::GET, "/events?limit=1000", Value::Null).await;
    let newest = events["events"].as_array().unwrap().iter().filter_map(|e| e["seq"].as_i64()).max().unwrap_or(0);
    for _ in 0..300 {
        let hooks = operator(&host, &token, reqwest::Method::GET, "/webhooks", Value::Null).await;
        if hooks["webhooks"].as_array().unwrap().iter().all(|h| h["cursor_seq"].as_i64().unwrap() >= newest) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = received.lock().unwrap().clone();
    let ids: BTreeSet<&String> = received.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), received.len(), "no event delivered twice: {} deliveries", received.len());
    let delivered: BTreeSet<String> =
        received.iter().filter_map(|(_, e)| e["detail"]["opportunity"]["identifier"].as_str().map(String::from)).collect();
    assert_eq!(delivered, created, "every create's event, once");
    eprintln!("two nodes: {CREATES} creates spread over both, {} events delivered, each once", received.len());
    drop(servers);
    receiving.abort();
    ace_store::baseline::drop_postgres_schema(&url, &schema).await.unwrap();
}

/// Several nodes (RELIABILITY.md): three `ace serve --test-clock` processes on one PostgreSQL
/// database, each clock moved a day at a time, all three at once, for 35 program days. Each
/// move runs the due jobs on that node — the referral deadline sweep (REF-3) and the daily
/// eligibility sweep (ELIG-2) — so three processes race over every due item (their clocks
/// start at one instant: one program time). Each pending referral is reminded once and
/// revoked once, with one event for each action; the accepted referral, contacted but never
/// updated, turns the partner ineligible after 30 days, recorded once with one event. Then a
/// daily quota holds program-wide across the three processes (USE-5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_run_each_due_job_once_and_share_quotas() {
    let Ok(url) = std::env::var("ACE_TEST_DATABASE_URL") else {
        eprintln!("skipped: ACE_TEST_DATABASE_URL is not set, so several nodes were not tested");
        return;
    };
    const NODES: usize = 3;
    const PENDING: usize = 8;
    const DAYS: usize = 35;
    let schema = format!("sweeps_{}", std::process::id());
    let database = postgres_schema(&url, &schema).await;
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> =
        (0..NODES).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    // One program time: every node's test clock starts at the same instant and moves with the others.
    let start_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut servers = Vec::new();
    for port in &ports {
        servers.push(start_with(dir.path(), *port, Some(&database), &["--test-clock-start", &start_at]).await);
    }
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let token = std::fs::read_to_string(dir.path().join("operator-token")).unwrap().trim().to_string();
    let post = reqwest::Method::POST;
    operator(
        &hosts[0],
        &token,
        post.clone(),
        "/partners",
        json!({"id": "P-SWEEP", "name": "Sweep Co", "path": "consulting", "tier": "advanced", "psf_listed": true,
               "privacy_policy": "https://sweep.example.com/privacy", "referrals_approved": true}),
    )
    .await;
    let keys = operator(&hosts[0], &token, post.clone(), "/partners/P-SWEEP/users", json!({"name": "alice"})).await;
    operator(&hosts[0], &token, reqwest::Method::PUT, "/quotas", json!({"writes_per_second": "unlimited"})).await;
    // One referral per node for the pending ones, and one more that is accepted and contacted.
    let mut pending = Vec::new();
    for i in 0..=PENDING {
        let v = operator(
            &hosts[i % NODES],
            &token,
            post.clone(),
            "/referrals",
            json!({"partner": "P-SWEEP", "kind": "opportunity", "company": format!("Swept {i}"),
                   "website": format!("https://swept{i}.example.com"), "country": "US",
                   "contact_name": "Jane Doe", "contact_email": format!("jane@swept{i}.example.com")}),
        )
        .await;
        pending.push(v["Id"].as_str().unwrap().to_string());
    }
    let kept = pending.pop().unwrap();
    let partner = Partner {
        http: reqwest::Client::new(),
        host: hosts[1].clone(),
        key: keys["AccessKeyId"].as_str().unwrap().into(),
        secret: keys["SecretAccessKey"].as_str().unwrap().into(),
    };
    let accept = json!({"Catalog": "AWS", "Identifier": kept, "ClientToken": "accept-kept"});
    partner.call("StartEngagementByAcceptingInvitationTask", &accept).await.unwrap();
    let now = operator(&hosts[1], &token, reqwest::Method::GET, "/clock", Value::Null).await["now"].clone();
    let contact = json!({"Catalog": "AWS", "InvitationIdentifier": kept, "Channel": "Email", "ContactedAt": now,
                         "ActingInOwnName": true});
    partner.ext("RecordReferralContact", &contact).await.unwrap();
    let eligible = |v: &Value| v["Eligible"].as_bool();
    let before = operator(&hosts[2], &token, reqwest::Method::GET, "/eligibility/P-SWEEP", Value::Null).await;
    assert_eq!(eligible(&before), Some(true), "eligible at the start: {before}");

    // A day at a time, every node's clock at once.
    let mut lines = Vec::new();
    for _ in 0..DAYS {
        let moves: Vec<_> = hosts
            .iter()
            .map(|host| {
                let (host, token) = (host.clone(), token.clone());
                tokio::spawn(async move {
                    operator(&host, &token, reqwest::Method::POST, "/clock/advance", json!({"duration": "1d"})).await
                })
            })
            .collect();
        for moved in moves {
            let view = moved.await.unwrap();
            lines.extend(view["jobs_run"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()));
        }
    }
    // What each move reported (under a test clock, jobs run only when it moves), and below,
    // what the outbox and the history hold.
    let count = |prefix: &str, id: &str| lines.iter().filter(|l| l.starts_with(prefix) && l.contains(id)).count();
    for id in &pending {
        assert_eq!(count("revoked ", id), 1, "{id} revoked exactly once: {lines:?}");
        assert_eq!(count("remind ", id), 1, "{id} reminded exactly once: {lines:?}");
    }
    assert_eq!(count("revoked ", &kept), 0, "the contacted referral stays");
    let changed: usize = lines
        .iter()
        .filter_map(|l| l.strip_prefix("eligibility sweep: "))
        .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(changed, 1, "one eligibility change, recorded by one node: {lines:?}");
    let after = operator(&hosts[0], &token, reqwest::Method::GET, "/eligibility/P-SWEEP", Value::Null).await;
    assert_eq!(eligible(&after), Some(false), "stale referral updates: {after}");
    let history = operator(&hosts[1], &token, reqwest::Method::GET, "/eligibility/P-SWEEP/history", Value::Null).await;
    let history = history["history"].as_array().unwrap();
    let lost = history.iter().filter(|c| c["eligible"] == json!(false)).count();
    assert_eq!(lost, 1, "one history row for the change: {history:?}");

    // The outbox agrees: one event per action, whichever node took it.
    let events = operator(&hosts[2], &token, reqwest::Method::GET, "/events?limit=1000", Value::Null).await;
    let of_type = |t: &str| events["events"].as_array().unwrap().iter().filter(|e| e["event"]["detail-type"] == json!(t)).count();
    let about = |t: &str, id: &str| {
        let of = |e: &&Value| e["event"]["detail-type"] == json!(t) && e["event"]["detail"].to_string().contains(id);
        events["events"].as_array().unwrap().iter().filter(of).count()
    };
    for id in &pending {
        assert_eq!(about("Engagement Invitation Revoked", id), 1, "{id} revoked exactly once");
        assert_eq!(about("Referral Contact Deadline Approaching", id), 1, "{id} reminded exactly once");
    }
    assert_eq!(about("Engagement Invitation Revoked", &kept), 0);
    assert_eq!(of_type("Engagement Invitation Revoked"), PENDING);
    // One event per history row: the first evaluation (partner added) and the change.
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(of_type("Partner Eligibility Changed"), history.len());

    // USE-5 across processes: a daily read limit of 9 for the partner, three live nodes, each
    // metering its share (3). Once a heartbeat period and a limits-cache lifetime have passed,
    // every node has counted the other two and none holds the limits it cached before.
    let unlimited = "unlimited";
    let quota = json!({"partner": "P-SWEEP", "reads_per_day": 9, "reads_per_second": unlimited,
                       "writes_per_second": unlimited, "writes_per_day": unlimited});
    operator(&hosts[0], &token, reqwest::Method::PUT, "/quotas", quota).await;
    let settle = ace_server::app::quota::HEARTBEAT_EVERY
        .max(Duration::from_millis(ace_server::app::quota::LIMITS_CACHE_MS as u64))
        + Duration::from_secs(1);
    tokio::time::sleep(settle).await;
    let reads: Vec<_> = (0..30)
        .map(|i| {
            let on = Partner { host: hosts[i % NODES].clone(), ..partner.clone() };
            tokio::spawn(async move { on.call_answered("ListOpportunities", &json!({"Catalog": "AWS", "MaxResults": 1})).await })
        })
        .collect();
    let mut admitted = 0;
    for read in reads {
        match read.await.unwrap() {
            Ok(_) => admitted += 1,
            Err(e) => assert!(e.contains("ThrottlingException") && e.contains("rolling 24 hours"), "{e}"),
        }
    }
    assert_eq!(admitted, 9, "9 reads a day program-wide, 3 on each of three nodes");
    eprintln!(
        "three nodes, {DAYS} program days: {PENDING} referrals reminded and revoked once each, one eligibility change, {} job lines; \
         {admitted} of 30 reads admitted under a limit of 9 a day",
        lines.len()
    );
    drop(servers);
    ace_store::baseline::drop_postgres_schema(&url, &schema).await.unwrap();
}
