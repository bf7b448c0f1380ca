//! `ace serve`: settings from flags, `ACE_*` environment variables and `--config ace.toml`
//! (in that order of precedence, then defaults), then start-up and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;

use ace_server::clock::{Clock, SystemClock, TestClock};
use ace_server::crypto::ServerKey;
use ace_server::{AppState, Settings};
use ace_store::{SqlStore, Store};

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ACE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for the SQLite database, the server key and the operator token [default: ./ace-data].
    #[arg(long, env = "ACE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite.
    #[arg(long, env = "ACE_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// A TOML file with any of these settings (keys as the flags, with underscores).
    #[arg(long, env = "ACE_CONFIG")]
    config: Option<PathBuf>,
    /// Start a test clock: real time at start, then still until `ace clock advance`.
    #[arg(long, env = "ACE_TEST_CLOCK")]
    test_clock: bool,
    /// Start the test clock at this RFC 3339 instant instead of the real time (implies
    /// --test-clock). Nodes sharing one database and started at the same instant, then advanced
    /// together, keep one program time.
    #[arg(long, env = "ACE_TEST_CLOCK_START")]
    test_clock_start: Option<String>,
    /// The server key as 64 hex characters [default: <data-dir>/server.key, created when missing].
    /// Nodes sharing one PostgreSQL database need the same key.
    #[arg(long, env = "ACE_SERVER_KEY", hide_env_values = true)]
    server_key: Option<String>,
    /// SQLite durability: `full` (each acknowledged write is on disk) or `normal`.
    #[arg(long, env = "ACE_SQLITE_SYNCHRONOUS")]
    sqlite_synchronous: Option<String>,
    /// PostgreSQL connections per node [default: 16].
    #[arg(long, env = "ACE_DATABASE_POOL_SIZE")]
    database_pool_size: Option<usize>,
    /// The longest one round trip to PostgreSQL may take, e.g. `30s`: past it the request fails
    /// and the connection is given up, so a stalled network holds no request longer [default: 30s].
    #[arg(long, env = "ACE_DATABASE_TIMEOUT")]
    database_timeout: Option<String>,
    /// The SigV4 region clients sign for [default: us-east-1].
    #[arg(long, env = "ACE_REGION")]
    region: Option<String>,
    /// Log filter, e.g. `info` or `ace_server=debug` [default: info].
    #[arg(long, env = "ACE_LOG")]
    log: Option<String>,
    /// `text` (default) or `json`: one JSON object a line, each with the request id its
    /// response's `x-amzn-RequestId` has.
    #[arg(long, env = "ACE_LOG_FORMAT")]
    log_format: Option<String>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics, on a listener of their own (off by
    /// default), e.g. 127.0.0.1:9464.
    #[arg(long, env = "ACE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Seed a demo partner with a user and a solution on first start; its credentials are
    /// written to <data-dir>/demo-credentials.json.
    #[arg(long, env = "ACE_DEMO")]
    demo: bool,
    /// Let webhook URLs point at private-range addresses (off: an SSRF guard).
    #[arg(long, env = "ACE_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
    /// How long a failing webhook delivery is retried before it is parked as dead, e.g. `24h`.
    #[arg(long, env = "ACE_WEBHOOK_RETRY_WINDOW")]
    webhook_retry_window: Option<String>,
    /// Webhook subscriptions one partner may hold at once (default 10).
    #[arg(long, env = "ACE_WEBHOOK_MAX_PER_PARTNER")]
    webhook_max_per_partner: Option<usize>,
    /// The S3-compatible object store bulk job files are read from and reports put in, e.g.
    /// http://127.0.0.1:9000 (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY);
    /// without it, AWS S3 itself.
    #[arg(long, env = "ACE_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The bucket partners upload bulk job files to (s3://BUCKET/ACCOUNT-ID/…); without it,
    /// s3:// files are refused and reports are served by this server.
    #[arg(long, env = "ACE_S3_BUCKET")]
    s3_bucket: Option<String>,
    /// The base URL of the links this server signs (bulk job reports), e.g.
    /// https://ace.example.com; default: http://LISTEN.
    #[arg(long, env = "ACE_PUBLIC_URL")]
    public_url: Option<String>,
}

/// The `--config` file: the same settings, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    test_clock: Option<bool>,
    test_clock_start: Option<Moment>,
    server_key: Option<String>,
    sqlite_synchronous: Option<String>,
    database_pool_size: Option<usize>,
    database_timeout: Option<String>,
    region: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    metrics_listen: Option<SocketAddr>,
    demo: Option<bool>,
    webhook_allow_private: Option<bool>,
    webhook_retry_window: Option<String>,
    webhook_max_per_partner: Option<usize>,
    s3_endpoint: Option<String>,
    s3_bucket: Option<String>,
    public_url: Option<String>,
}

/// An instant in the config file: a TOML date-time (`2026-03-02T09:00:00Z`) or a string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Moment {
    Text(String),
    Datetime(toml::value::Datetime),
}

impl Moment {
    fn text(self) -> String {
        match self {
            Moment::Text(s) => s,
            Moment::Datetime(d) => d.to_string(),
        }
    }
}

/// Settings after merging flags, environment, config file and defaults.
#[derive(Debug)]
pub struct Resolved {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Option<String>,
    pub test_clock: bool,
    /// Where a test clock starts; None: the real time at start.
    pub test_clock_start: Option<ace_domain::time::Instant>,
    pub server_key: Option<String>,
    pub sqlite_synchronous: String,
    pub database_pool_size: usize,
    pub database_timeout: std::time::Duration,
    pub region: String,
    pub log: String,
    /// Lines as JSON objects rather than text.
    pub log_json: bool,
    pub metrics_listen: Option<SocketAddr>,
    pub demo: bool,
    pub webhook_allow_private: bool,
    pub webhook_retry_window: chrono::TimeDelta,
    pub webhook_max_per_partner: usize,
    pub s3_endpoint: Option<String>,
    pub s3_bucket: Option<String>,
    pub public_url: Option<String>,
}

pub fn resolve(args: ServeArgs) -> Result<Resolved> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let database = args.database.or(file.database);
    if let Some(url) = &database {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--database must be a postgres:// URL (without it the embedded SQLite is used)");
        }
    }
    let sqlite_synchronous = args.sqlite_synchronous.or(file.sqlite_synchronous).unwrap_or_else(|| "full".into());
    if !["full", "normal"].contains(&sqlite_synchronous.to_ascii_lowercase().as_str()) {
        bail!("--sqlite-synchronous must be full or normal, not {sqlite_synchronous:?}");
    }
    let test_clock_start = match args.test_clock_start.or(file.test_clock_start.map(Moment::text)) {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| ace_domain::time::truncate_to_millis(t.with_timezone(&chrono::Utc)))
                .map_err(|e| anyhow::anyhow!("--test-clock-start must be an RFC 3339 instant, not {text:?}: {e}"))?,
        ),
        None => None,
    };
    Ok(Resolved {
        listen: args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".parse().expect("static address")),
        data_dir: args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./ace-data")),
        database,
        test_clock: args.test_clock || file.test_clock.unwrap_or(false) || test_clock_start.is_some(),
        test_clock_start,
        server_key: args.server_key.or(file.server_key),
        sqlite_synchronous,
        database_pool_size: args.database_pool_size.or(file.database_pool_size).unwrap_or(16).max(1),
        database_timeout: match args.database_timeout.or(file.database_timeout) {
            None => ace_store::POSTGRES_ROUND_TRIP_BOUND,
            Some(d) => ace_domain::time::parse_duration(&d)
                .ok()
                .and_then(|d| d.to_std().ok())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| anyhow::anyhow!("--database-timeout: {d:?} is not a positive duration such as 30s"))?,
        },
        region: args.region.or(file.region).unwrap_or_else(|| ace_domain::ids::REGION.into()),
        log: args.log.or(file.log).unwrap_or_else(|| "info".into()),
        log_json: match args.log_format.or(file.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => anyhow::bail!("--log-format must be text or json, not {other:?}"),
        },
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        demo: args.demo || file.demo.unwrap_or(false),
        webhook_allow_private: args.webhook_allow_private || file.webhook_allow_private.unwrap_or(false),
        webhook_retry_window: match args.webhook_retry_window.or(file.webhook_retry_window) {
            Some(d) => ace_domain::time::parse_duration(&d).map_err(|e| anyhow::anyhow!("--webhook-retry-window: {e}"))?,
            None => chrono::TimeDelta::hours(24),
        },
        webhook_max_per_partner: args
            .webhook_max_per_partner
            .or(file.webhook_max_per_partner)
            .unwrap_or(ace_server::webhooks::MAX_PER_PARTNER_DEFAULT),
        s3_endpoint: match args.s3_endpoint.or(file.s3_endpoint) {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                bail!("--s3-endpoint must be an http:// or https:// URL, not {url:?}")
            }
            other => other,
        },
        s3_bucket: args.s3_bucket.or(file.s3_bucket),
        public_url: match args.public_url.or(file.public_url) {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                bail!("--public-url must be an http:// or https:// URL, not {url:?}")
            }
            other => other,
        },
    })
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let settings = resolve(args)?;
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log).context("invalid --log filter")?;
    if settings.log_json {
        // The request span's fields (its id, the operation) go on every line logged within it.
        tracing_subscriber::fmt().json().with_current_span(true).with_span_list(false).with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("creating {}", settings.data_dir.display()))?;

    let server_key = match &settings.server_key {
        Some(hex) => ServerKey::from_hex(hex)?,
        None => ServerKey::load_or_create(&settings.data_dir.join("server.key"))?,
    };
    let store: Arc<dyn Store> = match &settings.database {
        Some(url) => {
            let store = SqlStore::open_postgres_bounded(url, None, settings.database_pool_size, settings.database_timeout)
                .await
                .context("opening PostgreSQL")?;
            tracing::info!("storage: PostgreSQL");
            Arc::new(store.seal_keys_under(server_key.referral_key_wrap()))
        }
        None => {
            let store =
                SqlStore::open_sqlite(&settings.data_dir, &settings.sqlite_synchronous).await.context("opening SQLite")?;
            tracing::info!(path = %settings.data_dir.join("ace.db").display(), synchronous = %settings.sqlite_synchronous, "storage: SQLite");
            Arc::new(store.seal_keys_under(server_key.referral_key_wrap()))
        }
    };
    let clock: Arc<dyn Clock> = if settings.test_clock {
        tracing::warn!("test clock: time stands still until `ace clock advance`");
        Arc::new(settings.test_clock_start.map_or_else(TestClock::starting_now, TestClock::starting_at))
    } else {
        Arc::new(SystemClock)
    };
    let now_ms = clock.now().timestamp_millis();
    ace_server::bootstrap_program_data(store.as_ref(), now_ms).await?;
    if let Some(path) = ace_server::bootstrap_operator_token(store.as_ref(), &settings.data_dir, now_ms).await? {
        tracing::info!(path = %path.display(), "created the admin operator token (the CLI reads it from there)");
    }
    let state = AppState::new(store, clock, server_key, {
        let mut s = Settings { region: settings.region.clone(), ..Settings::default() };
        s.delivery.allow_private = settings.webhook_allow_private;
        s.delivery.retry_window = settings.webhook_retry_window;
        s.delivery.max_per_partner = settings.webhook_max_per_partner;
        s.files.s3_endpoint = settings.s3_endpoint.clone();
        s.files.s3_bucket = settings.s3_bucket.clone();
        s.files.public_url = settings.public_url.clone();
        s
    });
    if settings.demo {
        seed_demo(&state, &settings.data_dir).await?;
    }

    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
    tracing::info!(address = %listener.local_addr()?, "ACE Pipeline Manager listening");
    // Issue 22: Prometheus metrics on a listener of their own, when asked for.
    if let Some(address) = settings.metrics_listen {
        ace_server::metrics::install();
        let metrics = tokio::net::TcpListener::bind(address).await.with_context(|| format!("metrics listener on {address}"))?;
        tracing::info!(address = %metrics.local_addr()?, "metrics at /metrics");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, ace_server::metrics::router()).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    // Background work: due jobs every minute (referral deadlines, the daily eligibility sweep)
    // and the event dispatcher; both stop with the server. Under a test clock the jobs run at
    // start and then when the clock is advanced.
    let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
    let jobs = if state.clock.is_test_clock() {
        // A test clock moves only when advanced, and `ace clock advance` runs what fell due and
        // reports it; a timer here would find nothing new, or race the advance for its report.
        for line in ace_server::app::jobs::run_due(&state).await {
            tracing::info!("{line}");
        }
        None
    } else {
        Some(tokio::spawn(ace_server::app::jobs::run_forever(state.clone(), background_stopped.clone())))
    };
    let dispatcher = tokio::spawn(ace_server::webhooks::run_forever(state.clone(), background_stopped.clone()));
    // Bulk jobs (issue 20) no node is running: resumed after a restart.
    let bulk_jobs = tokio::spawn(ace_server::app::bulk::run_forever(state.clone(), background_stopped.clone()));
    // Integration checks (issue 25): steps taken as the partner acts; resumed after a restart.
    // The runs going are read before the first request is served, so none of a watched
    // partner's requests goes unrecorded after a restart.
    if let Err(e) = ace_server::app::checks::advance_all(&state).await {
        tracing::warn!(error = ?e, "integration checks: the runs going could not be read");
    }
    let checks = tokio::spawn(ace_server::app::checks::run_forever(state.clone(), background_stopped.clone()));
    // USE-5 across nodes: the live-node count each meter shares by.
    if let Err(e) = ace_server::app::quota::beat(&state).await {
        tracing::warn!(error = %e, "first quota heartbeat failed");
    }
    let heartbeat = tokio::spawn(ace_server::app::quota::run_forever(state.clone(), background_stopped));
    ace_server::serve(listener, state, shutdown_signal()).await.context("serving")?;
    let _ = stop_background.send(true);
    if let Some(jobs) = jobs {
        let _ = jobs.await;
    }
    let _ = dispatcher.await;
    let _ = bulk_jobs.await;
    let _ = checks.await;
    let _ = heartbeat.await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// A demo partner, `P-DEMO`, with user `demo` and one solution in each catalog.
async fn seed_demo(state: &AppState, data_dir: &Path) -> Result<()> {
    use ace_domain::partner::{PartnerPath, PartnerProfile, Program, Tier};
    if state.store.get_partner("P-DEMO").await?.is_some() {
        return Ok(());
    }
    let now = state.now();
    let partner = PartnerProfile {
        id: "P-DEMO".into(),
        name: "Demo Cloud Consulting".into(),
        path: PartnerPath::Consulting,
        tier: Tier::Select,
        account_id: ace_server::crypto::new_account_id(),
        programs: vec![Program::Msp],
        psf_listed: true,
        isv_path_confirmed: false,
        privacy_policy: Some("https://demo.example/privacy".into()),
        timezone: "UTC".into(),
        holiday_calendar: None,
        referrals_approved: false,
        further_requirements: Default::default(),
        removal: None,
    };
    state.store.insert_partner(&partner, now.timestamp_millis()).await?;
    let (access_key_id, secret) = ace_server::crypto::new_access_key_pair();
    state
        .store
        .insert_user(&ace_store::UserRecord {
            partner_id: partner.id.clone(),
            name: "demo".into(),
            access_key_id: access_key_id.clone(),
            secret_encrypted: state.server_key.encrypt(&secret),
            status: ace_store::UserStatus::Active,
            created_ms: now.timestamp_millis(),
        })
        .await?;
    for catalog in [ace_domain::ids::Catalog::Aws, ace_domain::ids::Catalog::Sandbox] {
        let number = state.store.next_sequence("solution").await?;
        state
            .store
            .insert_solution(&ace_store::SolutionRecord {
                catalog,
                id: ace_domain::ids::solution_id(number),
                partner_id: partner.id.clone(),
                name: "Demo Migration Factory".into(),
                category: "Consulting Service".into(),
                status: "Active".into(),
                created_ms: now.timestamp_millis(),
            })
            .await?;
    }
    // Web portal sign-ins: the demo user, and a reviewer for the operator console.
    let password = || ace_server::crypto::new_operator_token().trim_start_matches("ace_op_").chars().take(20).collect::<String>();
    let (partner_password, reviewer_password) = (password(), password());
    for (email, password, role, partner_id, user_name) in [
        ("demo@demo.example", &partner_password, "partner", Some(partner.id.clone()), Some("demo".to_string())),
        ("reviewer@operator.example", &reviewer_password, "reviewer", None, None),
    ] {
        let password_hash = ace_server::app::password::hash(password)?;
        state
            .store
            .insert_portal_account(&ace_store::PortalAccount {
                email: email.into(),
                password_hash,
                role: role.into(),
                partner_id,
                user_name,
                created_ms: now.timestamp_millis(),
            })
            .await?;
    }
    let path = data_dir.join("demo-credentials.json");
    let credentials = serde_json::json!({
        "PartnerId": partner.id, "UserName": "demo", "AccessKeyId": access_key_id, "SecretAccessKey": secret,
        "Portal": {
            "Partner": {"Email": "demo@demo.example", "Password": partner_password},
            "Reviewer": {"Email": "reviewer@operator.example", "Password": reviewer_password},
        },
    });
    ace_server::crypto::write_private_file(&path, &serde_json::to_string_pretty(&credentials)?)?;
    tracing::info!(path = %path.display(), "seeded demo partner P-DEMO; its credentials are in that file");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_config_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ace.toml");
        std::fs::write(&config, "listen = \"127.0.0.1:9999\"\nregion = \"eu-west-1\"\ntest_clock = true\n").unwrap();
        let r =
            resolve(ServeArgs { config: Some(config.clone()), region: Some("us-west-2".into()), ..Default::default() }).unwrap();
        assert_eq!(r.listen.port(), 9999);
        assert_eq!(r.region, "us-west-2");
        assert!(r.test_clock);
        assert_eq!(r.data_dir, PathBuf::from("./ace-data"));
        assert_eq!(r.sqlite_synchronous, "full");
        std::fs::write(&config, "bogus = 1\n").unwrap();
        assert!(resolve(ServeArgs { config: Some(config), ..Default::default() }).is_err(), "unknown keys are refused");
        assert!(resolve(ServeArgs { database: Some("mysql://x".into()), ..Default::default() }).is_err());
    }

    #[test]
    fn a_test_clock_start_implies_a_test_clock_and_must_be_an_instant() {
        let start = |s: &str| resolve(ServeArgs { test_clock_start: Some(s.into()), ..Default::default() });
        let r = start("2026-03-02T09:00:00.1234+01:00").unwrap();
        assert!(r.test_clock);
        assert_eq!(r.test_clock_start.map(ace_domain::time::format_timestamp).as_deref(), Some("2026-03-02T08:00:00.123Z"));
        let e = start("next monday").unwrap_err().to_string();
        assert!(e.contains("--test-clock-start must be an RFC 3339 instant"), "{e}");
        assert_eq!(resolve(ServeArgs::default()).unwrap().test_clock_start, None);
        // In the config file, as a TOML date-time or as a string.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ace.toml");
        for line in ["test_clock_start = 2026-03-02T09:00:00Z", "test_clock_start = \"2026-03-02T09:00:00Z\""] {
            std::fs::write(&config, line).unwrap();
            let r = resolve(ServeArgs { config: Some(config.clone()), ..Default::default() }).unwrap();
            assert!(r.test_clock, "{line}");
            assert_eq!(r.test_clock_start.map(ace_domain::time::format_timestamp).as_deref(), Some("2026-03-02T09:00:00.000Z"));
        }
        std::fs::write(&config, "test_clock_start = 2026-03-02T09:00:00").unwrap();
        let e = format!("{:#}", resolve(ServeArgs { config: Some(config), ..Default::default() }).unwrap_err());
        assert!(e.contains("RFC 3339"), "a date-time without an offset is refused: {e}");
    }
}
