//! `ace bench` (no subcommand): the whole stack, driven over loopback with SigV4-signed awsJson
//! requests on keep-alive connections, beside the storage engine's own ceiling and a bare HTTP
//! handler, measured in the same run on the same machine (issue "Benchmark harness").
//!
//! Client and server share this process and its cores: every figure includes the client's own
//! signing and parsing. BENCHMARKS.md records the figures and says so.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as Clock};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use ace_domain::ids::Catalog;
use ace_domain::opportunity::{Opportunity, Origin};
use ace_domain::quota::QuotaLimits;
use ace_store::{SqlStore, Store, UserRecord, UserStatus, WriteBatch};

#[derive(Args, Clone)]
pub struct HarnessArgs {
    /// Small sizes: finishes in well under a minute (CI runs it).
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Opportunities seeded before the list scenario [default: 1,000,000, or 20,000 with --quick].
    #[arg(long)]
    pub opportunities: Option<usize>,
    /// PostgreSQL instead of SQLite: a fresh schema is created in this database.
    #[arg(long)]
    pub database: Option<String>,
}

struct Sizes {
    creates: usize,
    gets: usize,
    updates: usize,
    lists: usize,
    seeded: usize,
    baseline_rows: usize,
    submits: usize,
    pipeline_records: usize,
    referrals: usize,
    sweep_referrals: usize,
    webhook_creates: usize,
}

const PARTNERS: usize = 100;

/// A created opportunity: (owning partner's index, id, LastModifiedDate).
type Created = (usize, String, String);

/// A partner user's signed awsJson client (keep-alive, SigV4), as a CRM integration calls.
#[derive(Clone)]
pub(crate) struct Client {
    pub http: reqwest::Client,
    pub host: String,
    pub key: String,
    pub secret: String,
}

impl Client {
    /// One signed call: the HTTP status and the body, whatever they are. `AcePartner.X` is sent
    /// as it is; a bare name is a Selling API operation.
    pub async fn send(&self, operation: &str, body: &Value) -> Result<(u16, axum::body::Bytes)> {
        let bytes = serde_json::to_vec(body)?;
        let target =
            if operation.contains('.') { operation.to_string() } else { format!("AWSPartnerCentralSelling.{operation}") };
        let headers = ace_server::sigv4::sign_awsjson(
            &self.key,
            &self.secret,
            ace_domain::ids::REGION,
            &self.host,
            &target,
            &bytes,
            chrono::Utc::now(),
        );
        let mut request = self.http.post(format!("http://{}/", self.host)).body(bytes);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?))
    }

    /// A call that must succeed: its JSON answer.
    async fn call(&self, operation: &str, body: &Value) -> Result<Value> {
        let (status, text) = self.send(operation, body).await?;
        if !(200..300).contains(&status) {
            bail!("{operation}: HTTP {status}: {}", String::from_utf8_lossy(&text));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&text)?)
    }
}

/// Adds user `bench` to a partner in the store and returns its client on `host`.
pub(crate) async fn bench_user(
    store: &dyn Store,
    state: &ace_server::AppState,
    partner_id: &str,
    http: &reqwest::Client,
    host: &str,
) -> Result<Client> {
    let (key, secret) = ace_server::crypto::new_access_key_pair();
    store
        .insert_user(&UserRecord {
            partner_id: partner_id.to_string(),
            name: "bench".into(),
            access_key_id: key.clone(),
            secret_encrypted: state.server_key.encrypt(&secret),
            status: UserStatus::Active,
            created_ms: state.now().timestamp_millis(),
        })
        .await?;
    Ok(Client { http: http.clone(), host: host.to_string(), key, secret })
}

/// One scenario's figures.
struct Stats {
    name: &'static str,
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    baseline: Option<(&'static str, f64)>,
}

impl Stats {
    fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies[((self.latencies.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name, "ops": self.ops, "ops_per_s": round(self.ops_per_s()),
            "p50_ms": round(self.percentile_ms(0.5)), "p99_ms": round(self.percentile_ms(0.99)), "max_ms": round(self.percentile_ms(1.0)),
            "baseline": self.baseline.map(|(n, _)| n), "baseline_ops_per_s": self.baseline.map(|(_, r)| round(r)),
            "ratio": self.baseline.map(|(_, r)| round(self.ops_per_s() / r)),
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Runs `total` operations from `concurrency` workers; `op(worker, n)` performs one.
async fn drive<F, Fut>(name: &'static str, concurrency: usize, total: usize, op: F) -> Result<Stats>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let op = Arc::new(op);
    let progress = bar(total, name);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let started = Clock::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (op, next, latencies, progress) = (op.clone(), next.clone(), latencies.clone(), progress.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let t = Clock::now();
                    op(w, n).await?;
                    mine.push(t.elapsed());
                    progress.inc(1);
                }
                latencies.lock().expect("latencies").extend(mine);
                anyhow::Ok(())
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    let mut latencies = std::mem::take(&mut *latencies.lock().expect("latencies"));
    latencies.sort();
    Ok(Stats { name, ops: total, elapsed, latencies, baseline: None })
}

/// The dotted column paths and cells of a JSON document, as a bulk file has them.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, child, out);
            }
        }
        Value::Array(items) if items.iter().all(Value::is_string) => {
            out.push((prefix.to_string(), items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(";")));
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        Value::String(text) => out.push((prefix.to_string(), text.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Runs a bulk job of `rows` creates as `client`'s user, its file kept with it as a job that
/// was read already, and returns rows per second.
async fn bulk_job(state: &ace_server::AppState, client: &Client, rows: usize) -> Result<f64> {
    let user = state.store.get_user_by_access_key(&client.key).await?.context("the bench user")?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    for n in 0..rows {
        let mut body = create_body(60_000_000 + n);
        body.as_object_mut().map(|b| (b.remove("Catalog"), b.remove("ClientToken")));
        let mut cells = Vec::new();
        flatten("", &body, &mut cells);
        if n == 0 {
            writer.write_record(cells.iter().map(|(k, _)| k.as_str()))?;
        }
        writer.write_record(cells.iter().map(|(_, v)| v.as_str()))?;
    }
    let file = String::from_utf8(writer.into_inner()?)?;
    let mut job = ace_domain::bulk::BulkJob::new(
        ace_server::app::bulk::new_id(),
        ace_domain::bulk::JobKind::Opportunity,
        ace_domain::ids::Catalog::Aws,
        &user.partner_id,
        &user.access_key_id,
        "bench",
        "https://files.example.com/bench.csv",
        state.now(),
    );
    job.total_records = rows as i64;
    let id = job.id.clone();
    state
        .store
        .commit(WriteBatch { insert_bulk_jobs: vec![job], put_bulk_files: vec![(id.clone(), file)], ..Default::default() })
        .await?;
    let t = Clock::now();
    ace_server::app::bulk::run(state, &id).await.map_err(|e| anyhow::anyhow!("the bulk job: {e:?}"))?;
    let elapsed = t.elapsed();
    let (succeeded, failed) = state.store.bulk_job_counts(&id).await?;
    if succeeded as usize != rows || failed != 0 {
        bail!("the bulk job applied {succeeded} of {rows} rows ({failed} failed)");
    }
    Ok(rows as f64 / elapsed.as_secs_f64())
}

/// A company name from a seeded mix of syllables: names spread over the alphabet as real ones
/// do (the conflict check buckets by name prefix; near-identical names would all collide).
fn company_name(n: usize, salt: u64) -> String {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ra", "ven", "tor", "quin", "sel", "dor", "an", "bri", "cal", "fen", "gla", "hol", "jor", "nex", "pol",
        "sta", "tri", "ul", "vor", "wen", "zed",
    ];
    const SUFFIXES: [&str; 6] = ["Inc", "LLC", "GmbH", "Ltd", "Systems", "Group"];
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    let mut next = || {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (x >> 33) as usize
    };
    let mut name = String::new();
    for _ in 0..2 + next() % 2 {
        name.push_str(SYLLABLES[next() % SYLLABLES.len()]);
    }
    let mut chars = name.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or('X');
    format!("{first}{} {} {n}", chars.as_str(), SUFFIXES[next() % SUFFIXES.len()])
}

/// A CreateOpportunity input of about 1.5 KB, as a CRM sends it.
fn create_body(n: usize) -> Value {
    json!({
        "Catalog": "AWS",
        "ClientToken": format!("bench-{n}"),
        "Customer": {"Account": {"CompanyName": company_name(n, 1), "WebsiteUrl": format!("https://www.customer{n}.com"),
            "Industry": "Software and Internet", "Duns": format!("{:09}", 100_000_000 + n),
            "Address": {"CountryCode": "US", "PostalCode": "98101", "City": "Seattle", "StateOrRegion": "Washington", "StreetAddress": "410 Terry Ave N"}}},
        "Project": {"Title": "Data platform migration", "DeliveryModels": ["SaaS or PaaS"],
            "CustomerBusinessProblem": "The customer runs its reporting warehouse and forty virtual machines on premises and wants to move them to the cloud this year to cut cost and speed up analytics.",
            "CustomerUseCase": "Migration", "SalesActivities": ["Initialized discussions with customer"],
            "ExpectedCustomerSpend": [{"Amount": "12000", "CurrencyCode": "USD", "Frequency": "Monthly", "TargetCompany": "AWS"}],
            "AdditionalComments": "Workshop planned with the customer's data team; architecture review to follow."},
        "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-01-31", "NextSteps": "Schedule the architecture workshop"},
        "OpportunityType": "Net New Business",
        "PrimaryNeedsFromAws": ["Co-Sell - Architectural Validation"],
        "NationalSecurity": "No",
    })
}

/// A seeded opportunity with the same document shape (ids far above the server's sequence).
fn seeded(n: usize, partner_id: &str, now: chrono::DateTime<chrono::Utc>) -> Opportunity {
    // Other customers than the created ones (names, domains and DUNS of their own).
    let mut document = create_body(n + 50_000_000).as_object().cloned().unwrap_or_default();
    document.remove("Catalog");
    document.remove("ClientToken");
    if n.is_multiple_of(3) {
        document.insert(
            "LifeCycle".into(),
            json!({"Stage": "Prospect", "TargetCloseDate": "2099-01-31", "ReviewStatus": "Pending Submission"}),
        );
    } else if let Some(l) = document.get_mut("LifeCycle") {
        l["ReviewStatus"] = json!("Pending Submission");
    }
    let created = now - chrono::TimeDelta::minutes((n % 500_000) as i64);
    crate::bench::stored(format!("O{}", 10_000_000_000u64 + n as u64), partner_id, document, Origin::PartnerReferral, created)
}

/// Seeds `total` open referrals, 1 % past their contact deadline, and times one sweep.
async fn sweep(
    store: &Arc<dyn Store>,
    state: &ace_server::AppState,
    total: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(f64, usize)> {
    use ace_domain::referral::{Referral, ReferralContact, ReferralCustomer, ReferralIds, ReferralKind, ReferralRequest};
    let mut batch = WriteBatch::default();
    let seeding = bar(total, "seeding referrals");
    for n in 0..total {
        let due = n % 100 == 0;
        let request = ReferralRequest {
            partner_id: format!("P-BENCH-{:03}", n % PARTNERS),
            catalog: Catalog::Aws,
            kind: ReferralKind::Opportunity,
            customer: ReferralCustomer {
                company_name: format!("Swept {n}"),
                website: format!("https://swept{n}.example.com"),
                country: "US".into(),
                industry: None,
            },
            title: None,
            problem: None,
            contact: ReferralContact {
                name: Some("Jane Doe".into()),
                email: Some(format!("jane@swept{n}.example.com")),
                phone: None,
                title: None,
            },
        };
        let ids = ReferralIds { invitation: format!("engi-s{n:012}"), engagement: format!("eng-s{n:013}") };
        let deadline = if due { now - chrono::TimeDelta::hours(1) } else { now + chrono::TimeDelta::days(3) };
        let provided = now - chrono::TimeDelta::days(4);
        batch.insert_referrals.push(Referral::pending(request, ids, provided, now + chrono::TimeDelta::days(15), deadline));
        if batch.insert_referrals.len() == 5_000 {
            store.commit(std::mem::take(&mut batch)).await?;
            seeding.inc(5_000);
        }
    }
    store.commit(batch).await?;
    seeding.finish_and_clear();
    let t = Clock::now();
    let done = ace_server::referrals::sweep(state).await?;
    Ok((t.elapsed().as_secs_f64() * 1e3, done.len()))
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn dir_size_mb(dir: &std::path::Path) -> f64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum::<u64>())
        .unwrap_or(0) as f64
        / 1_048_576.0
}

/// `--json`: nothing but the report is printed (no phase lines, no bars).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn progress(json: bool, message: &str) {
    if !json {
        eprintln!("… {message}");
    }
}

/// A progress bar for a long phase, on standard error when it is a terminal.
fn bar(total: usize, what: &str) -> indicatif::ProgressBar {
    if QUIET.load(Ordering::Relaxed) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    let style = indicatif::ProgressStyle::with_template("  {msg:<40} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(what.to_string());
    bar
}

pub async fn run(args: HarnessArgs) -> Result<()> {
    let sizes = if args.quick {
        Sizes {
            creates: 3_000,
            gets: 10_000,
            updates: 2_000,
            lists: 500,
            seeded: 20_000,
            baseline_rows: 1_000,
            submits: 500,
            pipeline_records: 20_000,
            referrals: 300,
            sweep_referrals: 5_000,
            webhook_creates: 1_000,
        }
    } else {
        Sizes {
            creates: 30_000,
            gets: 100_000,
            updates: 20_000,
            lists: 2_000,
            seeded: 1_000_000,
            baseline_rows: 5_000,
            submits: 3_000,
            pipeline_records: 1_000_000,
            referrals: 2_000,
            sweep_referrals: 1_000_000,
            webhook_creates: 10_000,
        }
    };
    QUIET.store(args.json, Ordering::Relaxed);
    let seeded_total = args.opportunities.unwrap_or(sizes.seeded);
    let work = std::env::temp_dir().join(format!("ace-bench-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis()));
    std::fs::create_dir_all(&work)?;
    // The data directory goes whatever happens (with 1,000,000 rows it holds gigabytes).
    let _cleanup = RemoveOnDrop(work.clone());
    let schema = format!("bench_{}", chrono::Utc::now().timestamp_millis());
    let server_key = ace_server::crypto::ServerKey::random();
    let store = match &args.database {
        Some(url) => SqlStore::open_postgres(url, Some(&schema), 32).await.context("opening PostgreSQL")?,
        // Durable: every acknowledged write is on disk (WAL fsync per commit group).
        None => SqlStore::open_sqlite(&work.join("server"), "FULL").await?,
    };
    let store: Arc<dyn Store> = Arc::new(store.seal_keys_under(server_key.referral_key_wrap()));
    let state = ace_server::AppState::new(
        store.clone(),
        Arc::new(ace_server::clock::SystemClock),
        server_key,
        crate::bench::bench_settings(),
    );
    // As `ace serve` starts: the program's consent statement, and an operator token on disk.
    let started_ms = chrono::Utc::now().timestamp_millis();
    ace_server::bootstrap_program_data(store.as_ref(), started_ms).await?;
    ace_server::bootstrap_operator_token(store.as_ref(), &work.join("server"), started_ms).await?;
    let unlimited = QuotaLimits { reads_per_second: None, writes_per_second: None, reads_per_day: None, writes_per_day: None };
    store.set_quota(None, &unlimited).await?;
    let now = state.now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = listener.local_addr()?.to_string();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let mut clients = Vec::new();
    for p in 0..PARTNERS {
        let profile = ace_domain::partner::PartnerProfile {
            id: format!("P-BENCH-{p:03}"),
            name: format!("Bench Partner {p}"),
            path: ace_domain::partner::PartnerPath::Consulting,
            tier: ace_domain::partner::Tier::Advanced,
            account_id: format!("{:012}", 200_000_000_000u64 + p as u64),
            programs: vec![],
            psf_listed: true,
            isv_path_confirmed: false,
            privacy_policy: Some(format!("https://partner{p}.example/privacy")),
            timezone: "UTC".into(),
            holiday_calendar: None,
            referrals_approved: true,
            further_requirements: Default::default(),
            removal: None,
        };
        profile.validate()?;
        store.insert_partner(&profile, now.timestamp_millis()).await?;
        clients.push(bench_user(store.as_ref(), &state, &profile.id, &http, &host).await?);
    }
    let sweep_state = state.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ace_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let clients = Arc::new(clients);
    let c = args.concurrency;
    let mut scenarios = Vec::new();

    let groups_before = ace_store::group_commit_stats();
    // CreateOpportunity: every worker writes as one partner; ids and dates are kept for later.
    progress(args.json, &format!("CreateOpportunity × {} at concurrency {c}", sizes.creates));
    let created: Arc<Mutex<Vec<Created>>> = Arc::new(Mutex::new(Vec::new()));
    let (cl, out) = (clients.clone(), created.clone());
    let mut create = drive("CreateOpportunity", c, sizes.creates, move |w, n| {
        let (client, out) = (cl[w % PARTNERS].clone(), out.clone());
        async move {
            let v = client.call("CreateOpportunity", &create_body(n)).await?;
            let id = v["Id"].as_str().context("Id")?.to_string();
            let modified = v["LastModifiedDate"].as_str().context("LastModifiedDate")?.to_string();
            out.lock().expect("created").push((w % PARTNERS, id, modified));
            Ok(())
        }
    })
    .await?;
    let groups_after = ace_store::group_commit_stats();
    let per_commit = (groups_after.1 - groups_before.1) as f64 / (groups_after.0 - groups_before.0).max(1) as f64;

    // The engine's ceiling for the same rows: single-row transactions and batches of 1,000.
    progress(args.json, "baselines: raw inserts of the same rows");
    let rows: Vec<Opportunity> = (0..sizes.baseline_rows).map(|n| seeded(n, "P-BENCH-000", now)).collect();
    let batch_rows: Vec<Opportunity> = (0..sizes.baseline_rows * 10).map(|n| seeded(n, "P-BENCH-000", now)).collect();
    let (single, batched) = match &args.database {
        Some(url) => (
            ace_store::baseline::postgres_inserts(url, &format!("{schema}_b1"), &rows, 1).await?,
            ace_store::baseline::postgres_inserts(url, &format!("{schema}_b2"), &batch_rows, 1_000).await?,
        ),
        None => (
            ace_store::baseline::sqlite_inserts(&work.join("baseline-single"), "FULL", &rows, 1).await?,
            ace_store::baseline::sqlite_inserts(&work.join("baseline-batch"), "FULL", &batch_rows, 1_000).await?,
        ),
    };
    let single_rate = rows.len() as f64 / single.as_secs_f64();
    let batch_rate = batch_rows.len() as f64 / batched.as_secs_f64();
    // The store's ceiling for what a bulk job's create row writes (issue 20): the whole write,
    // as many at once as the job runs rows, through the store alone.
    progress(args.json, "baseline: the store's writes of whole creates");
    let full_rows: Vec<Opportunity> = (0..sizes.creates).map(|n| seeded(n, "P-BENCH-000", now)).collect();
    let full_store = match &args.database {
        Some(url) => SqlStore::open_postgres(url, Some(&format!("{schema}_b3")), 8).await?,
        None => SqlStore::open_sqlite(&work.join("baseline-full"), "FULL").await?,
    };
    let full = ace_store::baseline::full_writes(Arc::new(full_store), full_rows, ace_server::app::bulk::IN_FLIGHT).await?;
    let full_rate = sizes.creates as f64 / full.as_secs_f64();
    create.baseline = Some(("raw single-row transactions", single_rate));
    scenarios.push(create);

    // GetOpportunity of random created ids, each by its owner.
    let created = Arc::new(std::mem::take(&mut *created.lock().expect("created")));
    if created.is_empty() {
        bail!("no opportunity was created");
    }
    progress(args.json, &format!("GetOpportunity × {}", sizes.gets));
    let (cl, ids) = (clients.clone(), created.clone());
    let mut get = drive("GetOpportunity", c, sizes.gets, move |_, n| {
        let (owner, id, _) = ids[(n * 7919) % ids.len()].clone();
        let client = cl[owner].clone();
        async move {
            client.call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": id})).await?;
            Ok(())
        }
    })
    .await?;

    // A bare handler answering the same bytes from memory, driven the same way.
    progress(args.json, "baseline: bare HTTP handler");
    let sample = clients[created[0].0].call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": created[0].1})).await?;
    let bare_rate = bare_handler_rate(&clients[0], sample.to_string(), c, sizes.gets).await?;
    get.baseline = Some(("bare HTTP handler", bare_rate));
    scenarios.push(get);

    // UpdateOpportunity: each worker replaces its own opportunities, keeping their dates.
    progress(args.json, &format!("UpdateOpportunity × {}", sizes.updates));
    let mut per_worker: Vec<Vec<Created>> = vec![Vec::new(); c];
    for (i, entry) in created.iter().enumerate() {
        per_worker[i % c].push(entry.clone());
    }
    let per_worker: Arc<Vec<Mutex<Vec<Created>>>> = Arc::new(per_worker.into_iter().map(Mutex::new).collect());
    let cl = clients.clone();
    let mut update = drive("UpdateOpportunity", c, sizes.updates, move |w, n| {
        let (cl, mine) = (cl.clone(), per_worker.clone());
        async move {
            let (owner, id, modified) = {
                let list = mine[w].lock().expect("mine");
                if list.is_empty() {
                    return Ok(());
                }
                list[n % list.len()].clone()
            };
            let mut body = create_body(n);
            body.as_object_mut().map(|b| b.remove("ClientToken"));
            body["Identifier"] = json!(id);
            body["LastModifiedDate"] = json!(modified);
            body["LifeCycle"]["NextSteps"] = json!(format!("Step {n}"));
            let v = cl[owner].call("UpdateOpportunity", &body).await?;
            let next = v["LastModifiedDate"].as_str().context("LastModifiedDate")?.to_string();
            let mut list = mine[w].lock().expect("mine");
            if let Some(entry) = list.iter_mut().find(|e| e.1 == id) {
                entry.2 = next;
            }
            Ok(())
        }
    })
    .await?;
    update.baseline = Some(("raw single-row transactions", single_rate));
    scenarios.push(update);

    // A bulk job (issue 20) of as many creates as the CreateOpportunity scenario, run to its end
    // in this process: each row through the whole single-record path (model check, rules,
    // events, audit) with its result in the same transaction.
    progress(args.json, &format!("bulk job of {} rows", sizes.creates));
    let bulk_rate = bulk_job(&sweep_state, &clients[1], sizes.creates).await?;

    // ListOpportunities over the seeded program: 100 per page, filtered by stage.
    progress(args.json, &format!("seeding {seeded_total} opportunities over {PARTNERS} partners"));
    let mut batch = WriteBatch::default();
    let seeding = bar(seeded_total, "seeding opportunities");
    for n in 0..seeded_total {
        batch.insert_opportunities.push(seeded(n, &format!("P-BENCH-{:03}", n % PARTNERS), now));
        if batch.insert_opportunities.len() == 10_000 {
            store.commit(std::mem::take(&mut batch)).await?;
            seeding.inc(10_000);
        }
    }
    store.commit(batch).await?;
    seeding.finish_and_clear();
    progress(args.json, &format!("ListOpportunities × {}", sizes.lists));
    let cl = clients.clone();
    let list = drive("ListOpportunities (100, filtered)", c, sizes.lists, move |w, _| {
        let client = cl[w % PARTNERS].clone();
        async move {
            let v = client
                .call("ListOpportunities", &json!({"Catalog": "AWS", "MaxResults": 100, "LifeCycle": {"Stage": ["Qualified"]}}))
                .await?;
            if v["OpportunitySummaries"].as_array().is_none_or(|a| a.is_empty()) {
                bail!("an empty page: {v}");
            }
            Ok(())
        }
    })
    .await?;
    scenarios.push(list);
    // The same page from one client at a time: the service time, without queueing behind 63
    // other callers on two cores.
    let cl = clients.clone();
    let single = drive("ListOpportunities, one client", 1, sizes.lists / 4, move |_, n| {
        let client = cl[n % PARTNERS].clone();
        async move {
            client
                .call("ListOpportunities", &json!({"Catalog": "AWS", "MaxResults": 100, "LifeCycle": {"Stage": ["Qualified"]}}))
                .await?;
            Ok(())
        }
    })
    .await?;
    scenarios.push(single);

    // SearchOpportunities (issue 20) over the seeded program, one client: the first four
    // letters of a seeded customer's name as the keyword (a user typing it), and a two-level
    // filter — Qualified, and either over 10,000 a month or a company of a kind.
    progress(args.json, &format!("SearchOpportunities × {}", sizes.lists / 4));
    let cl = clients.clone();
    let search = drive("SearchOpportunities (keyword + 2-level filter), one client", 1, sizes.lists / 4, move |_, n| {
        let seeded_n = (n * 7_919) % seeded_total;
        let client = cl[seeded_n % PARTNERS].clone();
        let keyword: String = company_name(seeded_n + 50_000_000, 1).chars().take(4).collect();
        async move {
            let filter = json!({"AndAllFilters": [
                {"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "Qualified"}}},
                {"OrAllFilters": [
                    {"GreaterThan": {"Key": "EstimatedMrr", "Value": {"DoubleValue": 10000.0}}},
                    {"ContainsAny": {"Key": "CustomerCompanyName", "Value": {"StringListValue": ["inc", "llc"]}}}
                ]}
            ]});
            let body = json!({"Catalog": "AWS", "Keyword": keyword, "Filter": filter, "MaxResults": 20,
                "Sort": {"SortBy": "CustomerCompanyName", "SortOrder": "ASCENDING"}});
            let v = client.call("SearchOpportunities", &body).await?;
            if v["OpportunitySearchSummaries"].as_array().is_none() {
                bail!("no summaries: {v}");
            }
            Ok(())
        }
    })
    .await?;
    scenarios.push(search);

    // Submit with pre-screen and conflict check against the operator's pipeline (SUB-1, SUB-2).
    progress(args.json, &format!("seeding {} operator pipeline records", sizes.pipeline_records));
    let seeding = bar(sizes.pipeline_records, "seeding pipeline records");
    for chunk in (0..sizes.pipeline_records).collect::<Vec<_>>().chunks(10_000) {
        seeding.inc(chunk.len() as u64);
        let records: Vec<ace_domain::identity::PipelineRecord> = chunk
            .iter()
            .map(|n| ace_domain::identity::PipelineRecord {
                external_id: format!("CRM-{n}"),
                company_name: company_name(*n, 2),
                website: Some(format!("https://pipeline{n}.org")),
                country: Some("US".into()),
                duns: Some(format!("{:09}", 500_000_000 + n)),
                stage: "Open".into(),
                owner: None,
                enrichment: None,
            })
            .collect();
        store.upsert_pipeline_records(&records).await?;
    }
    progress(args.json, &format!("attesting {} opportunities (not timed)", sizes.submits));
    let to_submit: Vec<Created> = created.iter().take(sizes.submits).cloned().collect();
    let attestation = |id: &str| {
        json!({"Catalog": "AWS", "OpportunityIdentifier": id,
            "PreSalesEffort": {"Description": "Two workshops with the CIO; agreed a migration plan for forty VMs.",
                "Activities": ["Workshop", "Architecture review"], "DecisionMakerEngaged": "CIO", "LastMeetingDate": "2026-01-15"},
            "CustomerConsent": {"StatementVersion": "2021-10-27", "Method": "Email", "ObtainedAt": "2026-01-15T10:00:00Z", "ObtainedBy": "bench"}})
    };
    // A submission needs a solution (SUB-1) and the attestation (SUB-3, SUB-4).
    for p in 0..PARTNERS {
        store
            .insert_solution(&ace_store::SolutionRecord {
                catalog: Catalog::Aws,
                id: ace_domain::ids::solution_id(p as i64 + 1),
                partner_id: format!("P-BENCH-{p:03}"),
                name: format!("Bench Solution {p}"),
                category: "Software Product".into(),
                status: "Active".into(),
                created_ms: now.timestamp_millis(),
            })
            .await?;
    }
    for (owner, id, _) in &to_submit {
        let solution = ace_domain::ids::solution_id(*owner as i64 + 1);
        let associate = json!({"Catalog": "AWS", "OpportunityIdentifier": id, "RelatedEntityType": "Solutions", "RelatedEntityIdentifier": solution});
        clients[*owner].call("AssociateOpportunity", &associate).await?;
        clients[*owner].call("AcePartner.PutSubmissionAttestation", &attestation(id)).await?;
    }
    progress(args.json, &format!("SubmitOpportunity × {}", to_submit.len()));
    let (cl, queue) = (clients.clone(), Arc::new(to_submit));
    let submit = drive("SubmitOpportunity (pre-screen, conflicts)", c, queue.len(), move |_, n| {
        let (owner, id, _) = queue[n].clone();
        let client = cl[owner].clone();
        async move {
            client.call("SubmitOpportunity", &json!({"Catalog": "AWS", "Identifier": id, "InvolvementType": "Co-Sell"})).await?;
            Ok(())
        }
    })
    .await?;
    scenarios.push(submit);

    // Referral create (operator API, behind the eligibility gate) and accept (partner, SDK task).
    progress(args.json, &format!("referral create + accept × {}", sizes.referrals));
    let token = std::fs::read_to_string(work.join("server").join("operator-token")).ok().map(|t| t.trim().to_string());
    let referral = match token {
        Some(token) => {
            let (cl, http, host) = (clients.clone(), http.clone(), host.clone());
            let stats = drive("Referral create + accept", c, sizes.referrals, move |_, n| {
                let (http, host, token) = (http.clone(), host.clone(), token.clone());
                let client = cl[n % PARTNERS].clone();
                async move {
                    let body = json!({"partner": format!("P-BENCH-{:03}", n % PARTNERS), "kind": "opportunity",
                        "company": format!("Referred {n}"), "website": format!("https://referred{n}.com"), "country": "US",
                        "contact_name": "Jane Doe", "contact_email": format!("jane{n}@referred{n}.example.com")});
                    let response =
                        http.post(format!("http://{host}/operator/v1/referrals")).bearer_auth(&token).json(&body).send().await?;
                    let status = response.status();
                    let v: Value = response.json().await?;
                    if !status.is_success() {
                        bail!("referral: {status}: {v}");
                    }
                    let id = v["Id"].as_str().context("referral Id")?.to_string();
                    client
                        .call(
                            "StartEngagementByAcceptingInvitationTask",
                            &json!({"Catalog": "AWS", "Identifier": id, "ClientToken": format!("acc-{n}")}),
                        )
                        .await?;
                    Ok(())
                }
            })
            .await?;
            Some(stats)
        }
        None => None,
    };
    scenarios.extend(referral);

    progress(args.json, &format!("webhook delivery of {} CreateOpportunity events", sizes.webhook_creates));
    scenarios.push(webhook_delivery(&sweep_state, clients.clone(), c, sizes.webhook_creates).await?);
    let _ = stop.send(());

    // Program-wide jobs, timed directly: eligibility of every partner, the deadline sweep.
    progress(args.json, "eligibility of all partners");
    let t = Clock::now();
    let reports = ace_server::app::eligibility::all_reports(&sweep_state, now, now).await?;
    let eligibility_ms = t.elapsed().as_secs_f64() * 1e3;
    // The operator console's dashboard: its two counting queries over the whole catalog.
    progress(args.json, "console dashboard counts");
    let t = Clock::now();
    store.opportunity_counts(ace_domain::ids::Catalog::Aws).await?;
    store.submissions_by_week(ace_domain::ids::Catalog::Aws, now.timestamp_millis() - 8 * 7 * 86_400_000).await?;
    let dashboard_ms = t.elapsed().as_secs_f64() * 1e3;
    progress(args.json, &format!("deadline sweep over {} referrals, 1% due", sizes.sweep_referrals));
    let (sweep_ms, swept) = sweep(&store, &sweep_state, sizes.sweep_referrals, now).await?;
    let database_mb = if args.database.is_some() { None } else { Some(round(dir_size_mb(&work.join("server")))) };
    let report = json!({
        "backend": if args.database.is_some() { "postgres" } else { "sqlite" },
        "concurrency": c,
        "quick": args.quick,
        "seeded_opportunities": seeded_total,
        "scenarios": scenarios.iter().map(Stats::json).collect::<Vec<_>>(),
        "baselines": {"raw_single_row_tx_per_s": round(single_rate), "raw_batched_rows_per_s": round(batch_rate),
            "store_full_create_writes_per_s": round(full_rate), "bare_http_per_s": round(bare_rate)},
        "bulk_job_rows_per_s": round(bulk_rate),
        "bulk_job_rows": sizes.creates,
        "create_batches_per_commit": args.database.is_none().then(|| round(per_commit)),
        "eligibility_all_partners_ms": round(eligibility_ms),
        "eligibility_partners": reports.len(),
        "dashboard_counts_ms": round(dashboard_ms),
        "sweep_ms": round(sweep_ms),
        "sweep_referrals": sizes.sweep_referrals,
        "sweep_actions": swept,
        "peak_rss_mb": peak_rss_mb().map(round),
        "database_mb": database_mb,
    });
    if let Some(url) = &args.database {
        drop(store);
        for suffix in ["", "_b1", "_b2", "_b3"] {
            ace_store::baseline::drop_postgres_schema(url, &format!("{schema}{suffix}")).await?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("ace bench ({}, concurrency {c}, {seeded_total} seeded opportunities)", report["backend"].as_str().unwrap_or("-"));
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>9}  {:<28} {:>10} {:>6}",
        "scenario", "ops/s", "p50 ms", "p99 ms", "max ms", "baseline", "ops/s", "ratio"
    );
    for s in &scenarios {
        let (name, rate) = s.baseline.map_or(("-", f64::NAN), |(n, r)| (n, r));
        println!(
            "{:<36} {:>9.0} {:>9.2} {:>9.2} {:>9.2}  {:<28} {:>10.0} {:>6.2}",
            s.name,
            s.ops_per_s(),
            s.percentile_ms(0.5),
            s.percentile_ms(0.99),
            s.percentile_ms(1.0),
            name,
            rate,
            s.ops_per_s() / rate
        );
    }
    println!("raw inserts in batches of 1,000: {batch_rate:.0} rows/s");
    println!(
        "store writes of whole creates (a bulk row's records, {} at a time, no validation): {full_rate:.0}/s",
        ace_server::app::bulk::IN_FLIGHT
    );
    println!(
        "bulk job of {} creates: {bulk_rate:.0} rows/s, {:.2} of the batched insert rate (target ≥ 0.50), {:.2} of the store's whole-create writes",
        sizes.creates,
        bulk_rate / batch_rate,
        bulk_rate / full_rate
    );
    println!("eligibility of all {} partners: {eligibility_ms:.1} ms", reports.len());
    println!("console dashboard counts over {seeded_total} opportunities: {dashboard_ms:.1} ms");
    println!("deadline sweep over {} open referrals, 1% due: {sweep_ms:.1} ms ({swept} actions)", sizes.sweep_referrals);
    if args.database.is_none() {
        println!("group commit: {per_commit:.1} CreateOpportunity batches per transaction (fsync)");
    }
    println!(
        "peak RSS {:.0} MB (client and server), database {}",
        report["peak_rss_mb"].as_f64().unwrap_or(0.0),
        database_mb.map_or("-".to_string(), |m| format!("{m:.0} MB"))
    );
    Ok(())
}

/// Webhook delivery as a subscriber sees it: a receiver on 127.0.0.1 subscribed (operator-wide)
/// to `Opportunity Created`, the dispatcher `ace serve` runs, and `total` creates from the
/// partners' clients. A delivery's latency runs from the moment its create was sent to the
/// moment the receiver got the signed POST; the rate is deliveries over the whole span.
async fn webhook_delivery(
    state: &ace_server::AppState,
    clients: Arc<Vec<Client>>,
    concurrency: usize,
    total: usize,
) -> Result<Stats> {
    use std::collections::HashMap;
    let received: Arc<Mutex<HashMap<String, Clock>>> = Arc::default();
    let sink = received.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let at = Clock::now();
            let sink = sink.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(id) = v["detail"]["opportunity"]["identifier"].as_str() {
                    sink.lock().expect("received").insert(id.to_string(), at);
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let store = state.store.clone();
    let hook = ace_domain::webhook::Webhook {
        id: "wh-bench000000001".into(),
        owner: ace_domain::webhook::WebhookOwner::Operator,
        url: format!("http://{address}/hook"),
        event_types: vec!["Opportunity Created".into()],
        secret_encrypted: state.server_key.encrypt("whsec_benchmark_secret_0123456789"),
        created_at: state.now(),
        include_changes: false,
    };
    store.insert_webhook(&hook, store.max_event_seq().await?).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let dispatcher = tokio::spawn(ace_server::webhooks::run_forever(state.clone(), stopped));
    let sent: Arc<Mutex<HashMap<String, Clock>>> = Arc::default();
    let out = sent.clone();
    let started = Clock::now();
    drive("webhook delivery", concurrency, total, move |w, n| {
        let (client, out) = (clients[w % PARTNERS].clone(), out.clone());
        async move {
            let mut body = create_body(80_000_000 + n);
            body["ClientToken"] = json!(format!("hook-{n}"));
            let t = Clock::now();
            let v = client.call("CreateOpportunity", &body).await?;
            out.lock().expect("sent").insert(v["Id"].as_str().context("Id")?.to_string(), t);
            Ok(())
        }
    })
    .await?;
    let deadline = Clock::now() + Duration::from_secs(120);
    while received.lock().expect("received").len() < total && Clock::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop.send(true);
    let _ = dispatcher.await;
    let received = std::mem::take(&mut *received.lock().expect("received"));
    let sent = std::mem::take(&mut *sent.lock().expect("sent"));
    if received.len() < total {
        bail!("webhook delivery: {} of {total} events arrived within two minutes", received.len());
    }
    let last = received.values().max().copied().unwrap_or(started);
    let mut latencies: Vec<Duration> =
        sent.iter().filter_map(|(id, t)| received.get(id).map(|r| r.saturating_duration_since(*t))).collect();
    latencies.sort();
    Ok(Stats { name: "webhook delivery (create to receipt)", ops: total, elapsed: last - started, latencies, baseline: None })
}

/// The same client and concurrency against a handler that answers fixed bytes from memory.
async fn bare_handler_rate(client: &Client, answer: String, concurrency: usize, total: usize) -> Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = listener.local_addr()?.to_string();
    let answer: &'static str = Box::leak(answer.into_boxed_str());
    let app = axum::Router::new()
        .route("/", axum::routing::post(move || async move { ([("content-type", "application/x-amz-json-1.0")], answer) }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    let bare = Client { host, ..client.clone() };
    let stats = drive("bare", concurrency, total, move |_, n| {
        let bare = bare.clone();
        async move {
            bare.call("GetOpportunity", &json!({"Catalog": "AWS", "Identifier": format!("O{n}")})).await?;
            Ok(())
        }
    })
    .await?;
    let _ = stop.send(());
    Ok(stats.ops_per_s())
}
