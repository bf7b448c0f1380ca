//! `ace bench …`: benchmarks that print figures (BENCHMARKS.md records them). They run on a
//! fresh data directory of their own and touch nothing else.

use std::time::{Duration, Instant as Clock};

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use ace_domain::ids::Catalog;
use ace_domain::opportunity::{empty_related, Opportunity, Origin, ReviewState};
use ace_domain::partner::{PartnerPath, PartnerProfile, Program, Tier};
use ace_domain::time::Instant;
use ace_store::{SqlStore, Store, WriteBatch};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Referral eligibility of every partner, and of one, over a seeded store.
    Eligibility(EligibilityBench),
    /// Webhook delivery end to end on loopback: outbox → dispatcher → signed POST → receiver.
    Webhooks(WebhookBench),
    /// USE-5: one partner floods at many times its read quota while others stay within theirs;
    /// prints the others' latency with and without the flood, over SigV4-signed loopback calls.
    Flood(FloodBench),
}

#[derive(Args)]
pub struct FloodBench {
    /// Seconds each phase (calm alone, calm beside the flood) runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Well-behaved partners, each reading at 80% of its quota.
    #[arg(long, default_value_t = 10)]
    calm_partners: usize,
    /// How many times its read quota the flooding partner sends.
    #[arg(long, default_value_t = 50)]
    factor: u32,
    /// Opportunities seeded per partner (each call lists a page of them).
    #[arg(long, default_value_t = 50)]
    opportunities: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One ListOpportunities call: (HTTP status, latency); a throttled answer is an answer.
async fn list(client: &crate::harness::Client) -> Result<(u16, Duration)> {
    let started = Clock::now();
    let (status, text) = client.send("ListOpportunities", &json!({"Catalog": "AWS", "MaxResults": 20})).await?;
    if status != 200 && !String::from_utf8_lossy(&text).contains("ThrottlingException") {
        anyhow::bail!("unexpected answer {status}: {}", String::from_utf8_lossy(&text));
    }
    Ok((status, started.elapsed()))
}

/// Paced calls at `per_second` for `seconds`; returns (status, latency) of each.
async fn paced(signer: std::sync::Arc<crate::harness::Client>, per_second: f64, seconds: u64) -> Result<Vec<(u16, Duration)>> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let until = Clock::now() + Duration::from_secs(seconds);
    let mut out = Vec::new();
    while Clock::now() < until {
        tick.tick().await;
        out.push(list(&signer).await?);
    }
    Ok(out)
}

/// Resident memory of a process, in KiB (`VmRSS` of /proc/PID/status); None off Linux.
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples a process's resident memory every 50 ms; `peak_mib()` reads and resets the highest seen.
struct MemoryWatch {
    peak_kib: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl MemoryWatch {
    fn start(pid: u32) -> MemoryWatch {
        use std::sync::atomic::Ordering;
        let peak_kib = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let peak = peak_kib.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                if let Some(kib) = resident_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
            }
        });
        MemoryWatch { peak_kib, task }
    }

    fn peak_mib(&self) -> f64 {
        self.peak_kib.swap(0, std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The flood runs against a real `ace serve` process (this binary), so the server's memory is
/// its own: seeded through the store, then served by the child on a loopback port.
pub async fn flood(args: FloodBench) -> Result<()> {
    use std::sync::Arc;
    let dir = tempfile_dir()?;
    let server_key = ace_server::crypto::ServerKey::load_or_create(&dir.join("server.key"))?;
    let store = SqlStore::open_sqlite(&dir, "NORMAL").await?.seal_keys_under(server_key.referral_key_wrap());
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
    let state = ace_server::AppState::new(
        store.clone(),
        Arc::new(ace_server::clock::SystemClock),
        server_key,
        ace_server::Settings::default(),
    );
    let limits = ace_domain::quota::QuotaLimits::default();
    let read_quota = f64::from(limits.reads_per_second.unwrap_or(10));
    let now = state.now();
    let mut rng = Rng(7);
    let mut signers = Vec::new();
    let http = reqwest::Client::new();
    let host = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string();
    for i in 0..=args.calm_partners {
        let mut profile = partner(i, &mut rng);
        profile.id = if i == 0 { "P-FLOOD".into() } else { format!("P-CALM-{i:03}") };
        store.insert_partner(&profile, now.timestamp_millis()).await?;
        let batch = WriteBatch {
            insert_opportunities: (0..args.opportunities)
                .map(|n| opportunity(i * args.opportunities + n + 1, &profile.id, now, false, false, &mut rng))
                .collect(),
            ..Default::default()
        };
        store.commit(batch).await?;
        signers.push(Arc::new(crate::harness::bench_user(store.as_ref(), &state, &profile.id, &http, &host).await?));
    }
    drop(state);
    drop(store);
    // The child serves exactly this data directory: no `ACE_*` setting of the caller's (another
    // database, key or config file) reaches it. Its log goes to the directory.
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ACE_") {
            command.env_remove(name);
        }
    }
    let mut server = command
        .args(["serve", "--listen", &host, "--data-dir"])
        .arg(&dir)
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().ok_or_else(|| anyhow::anyhow!("the server process exited at once"))?;
    let mut ready = false;
    for _ in 0..400 {
        if http.get(format!("http://{host}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !ready {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        anyhow::bail!("ace serve did not become ready on {host}; its log:\n{log}");
    }
    let flooder = signers[0].clone();
    let calm: Vec<Arc<crate::harness::Client>> = signers[1..].to_vec();
    let calm_rate = read_quota * 0.8;
    let run_calm = |seconds: u64| {
        let calm = calm.clone();
        async move {
            let tasks: Vec<_> = calm.iter().map(|s| tokio::spawn(paced(s.clone(), calm_rate, seconds))).collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            anyhow::Ok(all)
        }
    };
    println!(
        "flood: {} calm partners at {calm_rate}/s each, one partner at {}x its read quota ({}/s), {} s per phase; \
         the server is its own process (pid {pid})",
        calm.len(),
        args.factor,
        read_quota * f64::from(args.factor),
        args.seconds
    );
    let report = |label: &str, samples: &[(u16, Duration)], peak_mib: f64| {
        let mut latencies: Vec<Duration> = samples.iter().map(|(_, d)| *d).collect();
        latencies.sort();
        let throttled = samples.iter().filter(|(s, _)| *s != 200).count();
        println!(
            "{label:<34} calls {:>6}  throttled {:>6}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  server RSS peak {peak_mib:>6.1} MiB",
            samples.len(),
            throttled,
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    };
    let memory = MemoryWatch::start(pid);
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("server RSS when ready, idle: {:.1} MiB", memory.peak_mib());
    // Warm-up (connections, caches), not measured.
    run_calm(1).await?;
    memory.peak_mib();
    let alone = run_calm(args.seconds).await?;
    report("calm partners, alone", &alone, memory.peak_mib());

    // The flood: enough concurrent callers to send factor × quota, each paced.
    let flood_rate = read_quota * f64::from(args.factor);
    let flood_tasks: Vec<_> = (0..16).map(|_| tokio::spawn(paced(flooder.clone(), flood_rate / 16.0, args.seconds))).collect();
    let beside = run_calm(args.seconds).await?;
    let mut flooded = Vec::new();
    for t in flood_tasks {
        flooded.extend(t.await??);
    }
    let flood_peak = memory.peak_mib();
    report("calm partners, beside the flood", &beside, flood_peak);
    report("flooding partner", &flooded, flood_peak);
    let admitted = flooded.iter().filter(|(s, _)| *s == 200).count() as f64 / args.seconds as f64;
    let calm_throttled = beside.iter().filter(|(s, _)| *s != 200).count();
    println!(
        "flooding partner admitted {admitted:.1}/s against a quota of {read_quota}/s; calm partners throttled: {calm_throttled}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("server RSS a second after the flood: {:.1} MiB", resident_kib(pid).unwrap_or(0) as f64 / 1024.0);
    drop(memory);
    server.start_kill()?;
    let _ = server.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[derive(Args)]
pub struct WebhookBench {
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Subscriptions receiving every event, each delivered by its own task.
    #[arg(long, default_value_t = 4)]
    subscriptions: usize,
}

/// Seeds `events` partner events, subscribes a loopback receiver `subscriptions` times and
/// measures how fast the dispatcher delivers them all.
pub async fn webhooks(args: WebhookBench) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let (dir, store, state) = server_state().await?;
    let now = state.now();
    let mut batch = WriteBatch::default();
    for i in 0..args.events {
        let detail = json!({"n": i, "partnerId": "P-BENCH"});
        batch.events.push(ace_domain::events::partner_event(
            "Bench Event",
            format!("e-{i}"),
            "P-BENCH",
            "123456789012",
            detail,
            now,
        ));
        if batch.events.len() == 5_000 {
            store.commit(std::mem::take(&mut batch)).await?;
        }
    }
    store.commit(batch).await?;

    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    for i in 0..args.subscriptions {
        let hook = ace_domain::webhook::Webhook {
            id: format!("wh-bench{i:09}"),
            owner: ace_domain::webhook::WebhookOwner::Operator,
            url: format!("http://{address}/hook"),
            event_types: vec![],
            secret_encrypted: state.server_key.encrypt("whsec_benchmark_secret_0123456789"),
            created_at: now,
            include_changes: false,
        };
        store.insert_webhook(&hook, 0).await?;
    }
    let expected = args.events * args.subscriptions;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Clock::now();
    let dispatcher = tokio::spawn(ace_server::webhooks::run_forever(state.clone(), stopped));
    let deadline = started + Duration::from_secs(600);
    while received.load(Ordering::Relaxed) < expected && Clock::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    let _ = dispatcher.await;
    let delivered = received.load(Ordering::Relaxed);
    println!(
        "webhook delivery: {delivered} of {expected} deliveries ({} events × {} subscriptions) in {:.2} s: {:.0} deliveries/s",
        args.events,
        args.subscriptions,
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[derive(Args)]
pub struct EligibilityBench {
    #[arg(long, default_value_t = 10_000)]
    partners: usize,
    #[arg(long, default_value_t = 1_000_000)]
    opportunities: usize,
    /// Share of opportunities approved (validated) within the last two years, in percent.
    #[arg(long, default_value_t = 10)]
    approved_percent: u32,
    /// Where to build the store [default: a temporary directory, removed afterwards].
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Seed with this PRNG seed (the dataset is deterministic).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// A small deterministic PRNG (xorshift64*): the dataset is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const TIERS: [(PartnerPath, Tier); 6] = [
    (PartnerPath::Consulting, Tier::Select),
    (PartnerPath::Consulting, Tier::Advanced),
    (PartnerPath::Consulting, Tier::Premier),
    (PartnerPath::Technology, Tier::Select),
    (PartnerPath::Isv, Tier::Registered),
    (PartnerPath::Consulting, Tier::Registered),
];

fn partner(i: usize, rng: &mut Rng) -> PartnerProfile {
    let (path, tier) = TIERS[rng.below(TIERS.len() as u64) as usize];
    PartnerProfile {
        id: format!("P-{i:06}"),
        name: format!("Partner {i}"),
        path,
        tier,
        account_id: format!("{:012}", 100_000_000_000u64 + i as u64),
        programs: if rng.below(3) > 0 { vec![Program::ALL[rng.below(8) as usize]] } else { vec![] },
        psf_listed: rng.below(10) > 1,
        isv_path_confirmed: rng.below(2) == 0,
        privacy_policy: (rng.below(10) > 0).then(|| format!("https://partner{i}.example/privacy")),
        timezone: "UTC".into(),
        holiday_calendar: None,
        referrals_approved: rng.below(10) > 2,
        further_requirements: Default::default(),
        removal: None,
    }
}

fn opportunity(n: usize, partner_id: &str, now: Instant, approved: bool, referral: bool, rng: &mut Rng) -> Opportunity {
    let created = now - chrono::TimeDelta::days(rng.below(730) as i64) - chrono::TimeDelta::minutes(rng.below(1440) as i64);
    let document = json!({
        "Customer": {"Account": {"CompanyName": format!("Customer {}", rng.below(200_000)), "WebsiteUrl": format!("https://c{}.example.com", rng.below(200_000)),
            "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101", "StateOrRegion": "Washington"}}},
        "LifeCycle": {"Stage": if referral { "Prospect" } else { "Qualified" }, "TargetCloseDate": "2099-01-31",
            "ReviewStatus": if approved { "Approved" } else { "Pending Submission" }},
        "Project": {"Title": "Data platform migration", "CustomerBusinessProblem": "Move the reporting warehouse and 40 VMs to the cloud this year.",
            "ExpectedCustomerSpend": [{"Amount": "12000", "CurrencyCode": "USD", "Frequency": "Monthly", "TargetCompany": "AWS"}]},
        "OpportunityType": "Net New Business",
    });
    let origin = if referral { Origin::AwsReferral } else { Origin::PartnerReferral };
    let mut o = stored(format!("O{n}"), partner_id, document.as_object().cloned().unwrap_or_default(), origin, created);
    o.approved_at = approved.then(|| created + chrono::TimeDelta::hours(30));
    o
}

/// An `AWS`-catalog opportunity as the store keeps it, for seeding benchmark data directly.
pub(crate) fn stored(
    id: String,
    partner_id: &str,
    document: serde_json::Map<String, serde_json::Value>,
    origin: Origin,
    created: Instant,
) -> Opportunity {
    Opportunity {
        catalog: Catalog::Aws,
        id,
        partner_id: partner_id.to_string(),
        document,
        origin,
        created,
        last_modified: created,
        related: empty_related(),
        tags: vec![],
        submission: None,
        approved_at: None,
        review: ReviewState::default(),
        referral_id: None,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub async fn eligibility(args: EligibilityBench) -> Result<()> {
    let temp = tempfile_dir()?;
    let dir = args.data_dir.clone().unwrap_or_else(|| temp.clone());
    let store = SqlStore::open_sqlite(&dir, "NORMAL").await?;
    let mut rng = Rng(args.seed.max(1));
    let now = ace_domain::time::truncate_to_millis(chrono::Utc::now());

    let started = Clock::now();
    for i in 0..args.partners {
        store.insert_partner(&partner(i, &mut rng), now.timestamp_millis() - 800 * 86_400_000).await?;
    }
    let partners_seeded = started.elapsed();
    let started = Clock::now();
    let mut batch = WriteBatch::default();
    for n in 1..=args.opportunities {
        let owner = format!("P-{:06}", rng.below(args.partners as u64));
        let approved = rng.below(100) < u64::from(args.approved_percent);
        let referral = !approved && rng.below(100) < 2;
        batch.insert_opportunities.push(opportunity(n, &owner, now, approved, referral, &mut rng));
        if batch.insert_opportunities.len() == 10_000 {
            store.commit(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.insert_opportunities.is_empty() {
        store.commit(batch).await?;
    }
    let opportunities_seeded = started.elapsed();
    println!(
        "seeded {} partners in {:.1} s and {} opportunities ({}% approved) in {:.1} s ({:.0} rows/s)",
        args.partners,
        partners_seeded.as_secs_f64(),
        args.opportunities,
        args.approved_percent,
        opportunities_seeded.as_secs_f64(),
        args.opportunities as f64 / opportunities_seeded.as_secs_f64()
    );

    // The reports are read through the application layer, as the server reads them.
    let server_key = ace_server::crypto::ServerKey::load_or_create(&temp.join("server.key"))?;
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
    let state = ace_server::AppState::new(
        store,
        std::sync::Arc::new(ace_server::clock::SystemClock),
        server_key,
        ace_server::Settings::default(),
    );
    let mut all = Vec::new();
    let mut eligible = 0;
    for _ in 0..5 {
        let t = Clock::now();
        let reports = ace_server::app::eligibility::all_reports(&state, now, now).await?;
        all.push(t.elapsed());
        eligible = reports.iter().filter(|r| r.eligible).count();
    }
    let mut one = Vec::new();
    for i in 0..500 {
        let id = format!("P-{:06}", (i * 7919) % args.partners.max(1));
        let t = Clock::now();
        ace_server::app::eligibility::report(&state, &id, now).await?;
        one.push(t.elapsed());
    }
    let one_median = median(one.clone());
    let one_p99 = {
        let mut s = one;
        s.sort();
        s[s.len() * 99 / 100]
    };
    println!(
        "eligibility of all {} partners: median {:.0} ms over 5 runs ({} eligible)",
        args.partners,
        median(all).as_secs_f64() * 1000.0,
        eligible
    );
    println!(
        "eligibility of one partner: median {:.3} ms, p99 {:.3} ms over 500 partners",
        one_median.as_secs_f64() * 1000.0,
        one_p99.as_secs_f64() * 1000.0
    );
    let size = std::fs::metadata(dir.join("ace.db")).map(|m| m.len()).unwrap_or(0);
    println!("database: {:.0} MB", size as f64 / 1e6);
    drop(state);
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    Ok(())
}

/// A fresh SQLite store in a directory of its own, and a server state over it on the system clock.
async fn server_state() -> Result<(std::path::PathBuf, std::sync::Arc<dyn Store>, ace_server::AppState)> {
    let dir = tempfile_dir()?;
    let server_key = ace_server::crypto::ServerKey::random();
    let store = SqlStore::open_sqlite(&dir, "NORMAL").await?.seal_keys_under(server_key.referral_key_wrap());
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
    let state = ace_server::AppState::new(
        store.clone(),
        std::sync::Arc::new(ace_server::clock::SystemClock),
        server_key,
        bench_settings(),
    );
    Ok((dir, store, state))
}

/// The server's settings in a benchmark: its webhook receivers listen on loopback, which the
/// SSRF guard allows only when told.
pub fn bench_settings() -> ace_server::Settings {
    let mut settings = ace_server::Settings::default();
    settings.delivery.allow_private = true;
    settings
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("ace-bench-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
