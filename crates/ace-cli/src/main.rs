//! `ace`: the server (`ace serve`) and the operator commands, which call the operator API.

mod bench;
mod check;
mod client;
mod eligibility;
mod engagement;
mod governance;
mod harness;
mod job;
mod referral;
mod review;
mod serve;
mod webhook;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use client::{print_json, Client};

/// glibc's allocator serialises the server's many small allocations across threads (its arena
/// lock showed at the top of a profile of `ace bench`); mimalloc keeps them thread-local.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ace", version, about = "ACE Pipeline Manager: partner pipeline server and operator tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: Connection,
}

/// Where operator commands find the server and their token.
#[derive(Args, Clone)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, global = true, env = "ACE_ENDPOINT", default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// The operator bearer token [default: read from ./ace-data/operator-token, or
    /// $ACE_DATA_DIR/operator-token].
    #[arg(long, global = true, env = "ACE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Manage partners.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Manage partner users and their access keys (USE-1).
    #[command(subcommand)]
    User(UserCommand),
    /// Operator staff of the web console (issue 8).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Manage partner solutions (for ListSolutions and AssociateOpportunity).
    #[command(subcommand)]
    Solution(SolutionCommand),
    /// Show or advance the server's test clock (`ace serve --test-clock`).
    #[command(subcommand)]
    Clock(ClockCommand),
    /// Show or set per-partner quotas (USE-5).
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Review submitted opportunities (SUB-1).
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Consent statements and evidence requests (SUB-4).
    #[command(subcommand)]
    Consent(review::ConsentCommand),
    /// The operator's own pipeline, matched against submissions (SUB-2).
    #[command(subcommand)]
    Pipeline(review::PipelineCommand),
    /// Can a partner receive referrals, and if not, what is missing (ELIG-2, REF-6, REF-7)?
    Eligibility(eligibility::EligibilityArgs),
    /// Show or change the eligibility thresholds and program list (ELIG-3); changes are versioned.
    EligibilityConfig(eligibility::ConfigArgs),
    /// Further requirements the operator defines per segment (ELIG-2.x (e)).
    #[command(subcommand)]
    Requirement(eligibility::RequirementCommand),
    /// Engagements (the operator's side of every one) and engagement groups.
    #[command(subcommand)]
    Engagement(engagement::EngagementCommand),
    /// Integration checks: the published test scenarios played against a partner's CRM
    /// integration in the Sandbox, and their reports.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Bulk jobs (every partner's): progress, and why one failed.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Customer Engagement Referrals (REF-1 … REF-5).
    #[command(subcommand)]
    Referral(referral::ReferralCommand),
    /// The suppression list (REF-5).
    #[command(subcommand)]
    Suppression(referral::SuppressionCommand),
    /// Holiday calendars for contact deadlines (REF-3).
    #[command(subcommand)]
    Calendar(referral::CalendarCommand),
    /// The hash-chained audit log: list and verify (USE-4, REF-1).
    #[command(subcommand)]
    Audit(governance::AuditCommand),
    /// Program terms: publish versions, read them, see who accepted (MOD-2 … MOD-4).
    #[command(subcommand)]
    Terms(governance::TermsCommand),
    /// The program itself: status, termination (MOD-1), support contact (USE-6).
    #[command(subcommand)]
    Program(governance::ProgramCommand),
    /// Keys and addresses blocked for probing (USE-2).
    #[command(subcommand)]
    Security(governance::SecurityCommand),
    /// Write an online, consistent copy of the server's SQLite database to a new file (on the
    /// server's machine). PostgreSQL: use pg_dump.
    Backup {
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Put a backup in place in a fresh data directory (the server stopped). The server key is
    /// not in the database: keep <data-dir>/server.key with the backup, or pass --server-key.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
        #[arg(long, env = "ACE_DATA_DIR", default_value = "./ace-data")]
        data_dir: std::path::PathBuf,
    },
    /// Webhook subscriptions: signed, at-least-once, in-order event deliveries.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Benchmarks that print figures (see BENCHMARKS.md). Without a subcommand: the whole
    /// stack over loopback beside the storage engine's ceiling.
    Bench(BenchArgs),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    command: Option<bench::BenchCommand>,
    #[command(flatten)]
    harness: harness::HarnessArgs,
}

#[derive(Args)]
struct PartnerFlags {
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// consulting, technology or isv.
    #[arg(long)]
    path: Option<String>,
    /// registered, select, advanced or premier (premier: consulting only).
    #[arg(long)]
    tier: Option<String>,
    /// A program the partner belongs to (repeatable): competency, msp, isv-accelerate,
    /// public-sector, service-delivery, well-architected, service-ready, global-startup.
    #[arg(long = "program")]
    programs: Vec<String>,
    /// Has an active Partner Solutions Finder listing.
    #[arg(long)]
    psf_listed: bool,
    /// Has confirmed status on the ISV Partner Path.
    #[arg(long)]
    isv_path_confirmed: bool,
    /// Public privacy policy URL (REF-6).
    #[arg(long)]
    privacy_policy: Option<String>,
    /// IANA time zone, e.g. Europe/Berlin (contact deadlines count in it).
    #[arg(long)]
    timezone: Option<String>,
    /// Holiday calendar name.
    #[arg(long)]
    holiday_calendar: Option<String>,
    /// Approved by the operator for referrals (ELIG-2).
    #[arg(long)]
    referrals_approved: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PartnerCommand {
    /// Add a partner.
    Add {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        flags: PartnerFlags,
    },
    /// Change a partner: the flags of `add`, plus their negations.
    Update {
        id: String,
        #[command(flatten)]
        flags: PartnerFlags,
        #[arg(long, conflicts_with = "psf_listed")]
        no_psf_listed: bool,
        #[arg(long, conflicts_with = "isv_path_confirmed")]
        no_isv_path_confirmed: bool,
        #[arg(long, conflicts_with = "referrals_approved")]
        no_referrals_approved: bool,
        /// Remove a program (repeatable).
        #[arg(long = "remove-program")]
        remove_programs: Vec<String>,
        #[arg(long, conflicts_with = "privacy_policy")]
        no_privacy_policy: bool,
        #[arg(long, conflicts_with = "holiday_calendar")]
        no_holiday_calendar: bool,
    },
    /// Show one partner.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List partners.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a partner from referrals or from the whole program, without notice (REM-1):
    /// open referrals are revoked and their data deleted; `all` also stops every credential.
    Remove {
        id: String,
        /// referrals or all.
        #[arg(long)]
        scope: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// File the partner's standing attestation (SUB-3, SUB-4): customer consent is obtained
    /// before every submission under the published consent statement VERSION, and evidence is
    /// produced on request. FILE is the partner's signed statement (its text is kept with its
    /// SHA-256). With `--withdraw`, withdraws it; with neither, shows it.
    Attest {
        id: String,
        #[arg(long, requires = "file", conflicts_with = "withdraw")]
        consent_statement: Option<String>,
        #[arg(long, requires = "consent_statement", conflicts_with = "withdraw")]
        file: Option<std::path::PathBuf>,
        #[arg(long)]
        withdraw: bool,
        #[arg(long)]
        json: bool,
    },
    /// Undo a removal: access and eligibility return; revoked referrals and deleted data do not.
    Reinstate {
        id: String,
        /// referrals or all (as it was removed).
        #[arg(long)]
        scope: String,
    },
    /// Set the value of a further requirement (ELIG-2.x (e)) for a partner.
    SetRequirement {
        id: String,
        requirement: String,
        #[arg(long, conflicts_with = "not_met", required_unless_present = "not_met")]
        met: bool,
        #[arg(long)]
        not_met: bool,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Add operator staff who sign in to the web console (needs an admin token).
    Add {
        #[arg(long)]
        email: String,
        /// admin, reviewer or partner-manager.
        #[arg(long)]
        role: String,
        /// A file holding the password (its first line), at least 12 characters.
        #[arg(long, required_unless_present = "invite", conflicts_with = "invite")]
        password_file: Option<std::path::PathBuf>,
        /// Print a one-time link (valid 7 days) with which they choose a password.
        #[arg(long)]
        invite: bool,
        #[arg(long)]
        json: bool,
    },
}

/// The first line of a password file (a trailing newline is not part of the password).
fn read_password(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the password file {}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

async fn operator(c: OperatorCommand, client: Client) -> Result<()> {
    match c {
        OperatorCommand::Add { email, role, password_file, invite, json } => {
            let mut body = serde_json::json!({"email": email, "role": role});
            match password_file {
                Some(file) => body["password"] = serde_json::json!(read_password(&file)?),
                None => body["invite"] = serde_json::json!(invite),
            }
            let v = client.post("/staff", &body).await?;
            if json {
                return print_json(&v);
            }
            println!("{} signs in to the console as {}", v["email"].as_str().unwrap_or("-"), v["role"].as_str().unwrap_or("-"));
            if let Some(token) = v["invitation_token"].as_str() {
                let expires = v["invitation_expires"].as_str().unwrap_or("-");
                println!("Invitation link: {}/invite/{token} (works once, until {expires})", client.server_url());
            }
            Ok(())
        }
    }
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; prints its access key pair once. With --email and --password-file the user
    /// can also sign in to the web portal.
    Add {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        /// The user's portal sign-in address (with --password-file or --invite).
        #[arg(long)]
        email: Option<String>,
        /// A file holding the portal password (its first line), at least 12 characters.
        #[arg(long, requires = "email", conflicts_with = "invite")]
        password_file: Option<std::path::PathBuf>,
        /// Print a one-time link (valid 7 days) with which the user chooses a password.
        #[arg(long, requires = "email")]
        invite: bool,
        #[arg(long)]
        json: bool,
    },
    /// List a partner's users.
    List {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's key pair; the old key stops working at once.
    RotateKey {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable a user; every key of it is refused from the next request on.
    Disable {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// A user's access keys: two at most, as IAM, to rotate without downtime (USE-1).
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// The user's keys with their status and last use.
    List {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// A further key; prints the pair once.
    Create {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Refuse a key from the next request on (it can be activated again).
    Deactivate {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        key: String,
    },
    Activate {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        key: String,
    },
    Delete {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        key: String,
    },
}

#[derive(Subcommand)]
enum SolutionCommand {
    /// Add a solution to a partner.
    Add {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        name: String,
        /// e.g. "Software Product", "Consulting Service", "Managed Service".
        #[arg(long)]
        category: String,
        /// Active, Inactive or Draft.
        #[arg(long, default_value = "Active")]
        status: String,
        /// AWS or Sandbox.
        #[arg(long, default_value = "AWS")]
        catalog: String,
        #[arg(long)]
        json: bool,
    },
    /// List a partner's solutions.
    List {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ClockCommand {
    /// Show the server's clock.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Move the test clock forward, e.g. `4d`, `36h`, `1d12h`.
    Advance {
        duration: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum QuotaCommand {
    /// Set limits: for every partner, or with --partner for one. N may be `unlimited`.
    Set {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long, value_name = "N")]
        reads_per_second: Option<String>,
        #[arg(long, value_name = "N")]
        writes_per_second: Option<String>,
        #[arg(long, value_name = "N")]
        reads_per_day: Option<String>,
        #[arg(long, value_name = "N")]
        writes_per_day: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show the limits in force.
    Show {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Bench(BenchArgs { command: Some(bench::BenchCommand::Eligibility(args)), .. }) => bench::eligibility(args).await,
        Command::Bench(BenchArgs { command: Some(bench::BenchCommand::Webhooks(args)), .. }) => bench::webhooks(args).await,
        Command::Bench(BenchArgs { command: Some(bench::BenchCommand::Flood(args)), .. }) => bench::flood(args).await,
        Command::Bench(BenchArgs { command: None, harness }) => harness::run(harness).await,
        Command::Partner(c) => partner(c, Client::new(cli.connection)?).await,
        Command::User(c) => user(c, Client::new(cli.connection)?).await,
        Command::Operator(c) => operator(c, Client::new(cli.connection)?).await,
        Command::Solution(c) => solution(c, Client::new(cli.connection)?).await,
        Command::Clock(c) => clock(c, Client::new(cli.connection)?).await,
        Command::Quota(c) => quota(c, Client::new(cli.connection)?).await,
        Command::Review(c) => review::review(c, Client::new(cli.connection)?).await,
        Command::Consent(c) => review::consent(c, Client::new(cli.connection)?).await,
        Command::Pipeline(c) => review::pipeline(c, Client::new(cli.connection)?).await,
        Command::Eligibility(a) => eligibility::eligibility(a, Client::new(cli.connection)?).await,
        Command::EligibilityConfig(a) => eligibility::config(a, Client::new(cli.connection)?).await,
        Command::Requirement(c) => eligibility::requirement(c, Client::new(cli.connection)?).await,
        Command::Engagement(c) => engagement::engagement(c, Client::new(cli.connection)?).await,
        Command::Check(c) => check::check(c, Client::new(cli.connection)?).await,
        Command::Job(c) => job::job(c, Client::new(cli.connection)?).await,
        Command::Referral(c) => referral::referral(c, Client::new(cli.connection)?).await,
        Command::Suppression(c) => referral::suppression(c, Client::new(cli.connection)?).await,
        Command::Calendar(c) => referral::calendar(c, Client::new(cli.connection)?).await,
        Command::Audit(c) => governance::audit(c, Client::new(cli.connection)?).await,
        Command::Terms(c) => governance::terms(c, Client::new(cli.connection)?).await,
        Command::Program(c) => governance::program(c, Client::new(cli.connection)?).await,
        Command::Security(c) => governance::security(c, Client::new(cli.connection)?).await,
        Command::Backup { to } => {
            let to = std::path::absolute(&to)?;
            let v = Client::new(cli.connection)?.post("/backup", &serde_json::json!({"to": to})).await?;
            println!("backup written to {} ({} bytes)", v["path"].as_str().unwrap_or("-"), v["bytes"]);
            Ok(())
        }
        Command::Restore { from, data_dir } => {
            ace_store::SqlStore::restore_sqlite(&from, &data_dir).await?;
            println!("restored {} into {}", from.display(), data_dir.join("ace.db").display());
            if !data_dir.join("server.key").exists() {
                println!("note: {} has no server.key; start the server with the original key (--server-key or the file), or access keys and page tokens will not work", data_dir.display());
            }
            Ok(())
        }
        Command::Webhook(c) => webhook::webhook(c, Client::new(cli.connection)?).await,
    }
}

fn partner_body(id: Option<&str>, f: &PartnerFlags) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    if let Some(id) = id {
        body.insert("id".into(), id.into());
    }
    let mut set = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            body.insert(k.into(), v.clone().into());
        }
    };
    set("name", f.name.as_ref());
    set("path", f.path.as_ref());
    set("tier", f.tier.as_ref());
    set("privacy_policy", f.privacy_policy.as_ref());
    set("timezone", f.timezone.as_ref());
    set("holiday_calendar", f.holiday_calendar.as_ref());
    serde_json::Value::Object(body)
}

fn print_partner(p: &serde_json::Value) -> Result<()> {
    let s = |k: &str| p[k].as_str().unwrap_or("-").to_string();
    let b = |k: &str| if p[k].as_bool() == Some(true) { "yes" } else { "no" };
    let programs: Vec<&str> = p["programs"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
    println!("{}  {}", s("id"), s("name"));
    println!("  path/tier:          {} / {}", s("path"), s("tier"));
    println!("  account id:         {}", s("account_id"));
    println!("  programs:           {}", if programs.is_empty() { "-".to_string() } else { programs.join(", ") });
    println!("  PSF listed:         {}", b("psf_listed"));
    println!("  ISV path confirmed: {}", b("isv_path_confirmed"));
    println!("  privacy policy:     {}", s("privacy_policy"));
    println!("  time zone:          {}", s("timezone"));
    println!("  holiday calendar:   {}", s("holiday_calendar"));
    println!("  referrals approved: {}", b("referrals_approved"));
    Ok(())
}

async fn partner(c: PartnerCommand, client: Client) -> Result<()> {
    match c {
        PartnerCommand::Add { id, flags } => {
            for (flag, value) in [("--name", &flags.name), ("--path", &flags.path), ("--tier", &flags.tier)] {
                if value.is_none() {
                    anyhow::bail!("{flag} is required");
                }
            }
            let mut body = partner_body(Some(&id), &flags);
            body["programs"] = flags.programs.clone().into();
            body["psf_listed"] = flags.psf_listed.into();
            body["isv_path_confirmed"] = flags.isv_path_confirmed.into();
            body["referrals_approved"] = flags.referrals_approved.into();
            let p = client.post("/partners", &body).await?;
            if flags.json {
                print_json(&p)
            } else {
                print_partner(&p)
            }
        }
        PartnerCommand::Update {
            id,
            flags,
            no_psf_listed,
            no_isv_path_confirmed,
            no_referrals_approved,
            remove_programs,
            no_privacy_policy,
            no_holiday_calendar,
        } => {
            let mut body = partner_body(None, &flags);
            body["add_programs"] = flags.programs.clone().into();
            body["remove_programs"] = remove_programs.into();
            for (key, on, off) in [
                ("psf_listed", flags.psf_listed, no_psf_listed),
                ("isv_path_confirmed", flags.isv_path_confirmed, no_isv_path_confirmed),
                ("referrals_approved", flags.referrals_approved, no_referrals_approved),
            ] {
                if on || off {
                    body[key] = on.into();
                }
            }
            body["clear_privacy_policy"] = no_privacy_policy.into();
            body["clear_holiday_calendar"] = no_holiday_calendar.into();
            let p = client.patch(&format!("/partners/{}", client::segment(&id)), &body).await?;
            if flags.json {
                print_json(&p)
            } else {
                print_partner(&p)
            }
        }
        PartnerCommand::Show { id, json } => {
            let p = client.get(&format!("/partners/{}", client::segment(&id))).await?;
            if json {
                print_json(&p)
            } else {
                print_partner(&p)
            }
        }
        PartnerCommand::Remove { id, scope, reason } => {
            let v = client
                .post(
                    &format!("/partners/{}/remove", client::segment(&id)),
                    &serde_json::json!({"scope": scope, "reason": reason}),
                )
                .await?;
            let revoked: Vec<&str> = v["referrals_revoked"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
            println!(
                "partner {id} removed from {}; referrals revoked: {}",
                if scope == "all" { "the program" } else { "referrals" },
                if revoked.is_empty() { "none".to_string() } else { revoked.join(", ") }
            );
            Ok(())
        }
        PartnerCommand::Attest { id, consent_statement, file, withdraw, json } => {
            let path = format!("/partners/{}/standing-attestation", client::segment(&id));
            let v = match (consent_statement, file, withdraw) {
                (Some(version), Some(file), _) => {
                    let statement = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                    client.post(&path, &serde_json::json!({"consent_statement": version, "statement": statement})).await?
                }
                (_, _, true) => client.delete(&path).await?,
                _ => client.get(&path).await?,
            };
            if json {
                return client::print_json(&v);
            }
            if withdraw {
                println!("{id}: {}", if v["withdrawn"] == true { "standing attestation withdrawn" } else { "none was on file" });
            } else if let Some(version) = v["consent_statement_version"].as_str() {
                println!(
                    "{id}: standing attestation filed under consent statement {version} (sha256 {})",
                    v["statement_sha256"].as_str().unwrap_or("-")
                );
            } else {
                let a = &v["standing_attestation"];
                match a["consent_statement_version"].as_str() {
                    Some(version) => println!(
                        "{id}: standing attestation under consent statement {version}, filed {} by {}{}",
                        a["recorded_at"].as_str().unwrap_or("-"),
                        a["recorded_by"].as_str().unwrap_or("-"),
                        if v["policy_allows"] == true { "" } else { " (the policy does not allow standing attestations now)" }
                    ),
                    None => println!("{id}: no standing attestation on file"),
                }
            }
            Ok(())
        }
        PartnerCommand::Reinstate { id, scope } => {
            let v = client
                .post(&format!("/partners/{}/reinstate", client::segment(&id)), &serde_json::json!({"scope": scope}))
                .await?;
            println!("partner {id} reinstated ({scope}); not restored: {}", v["not_restored"].as_str().unwrap_or("-"));
            Ok(())
        }
        PartnerCommand::SetRequirement { id, requirement, met, not_met } => {
            eligibility::set_requirement(&id, &requirement, met && !not_met, &client).await
        }
        PartnerCommand::List { json } => {
            let v = client.get("/partners").await?;
            if json {
                return print_json(&v["partners"]);
            }
            println!("{:<20} {:<30} {:<11} {:<10} ACCOUNT", "ID", "NAME", "PATH", "TIER");
            for p in v["partners"].as_array().into_iter().flatten() {
                let s = |k: &str| p[k].as_str().unwrap_or("-").to_string();
                println!("{:<20} {:<30} {:<11} {:<10} {}", s("id"), s("name"), s("path"), s("tier"), s("account_id"));
            }
            Ok(())
        }
    }
}

fn print_key_pair(v: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({"AccessKeyId": v["AccessKeyId"], "SecretAccessKey": v["SecretAccessKey"]}));
    }
    println!("user {} of {}", v["UserName"].as_str().unwrap_or("-"), v["PartnerId"].as_str().unwrap_or("-"));
    println!("AWS_ACCESS_KEY_ID={}", v["AccessKeyId"].as_str().unwrap_or(""));
    println!("AWS_SECRET_ACCESS_KEY={}", v["SecretAccessKey"].as_str().unwrap_or(""));
    println!("(the secret is shown only now)");
    Ok(())
}

async fn set_key_status(client: &Client, keys_path: &str, key: &str, verb: &str) -> Result<()> {
    let v = client.post(&format!("{keys_path}/{}/{verb}", client::segment(key)), &serde_json::json!({})).await?;
    println!("access key {key} is {}", v["status"].as_str().unwrap_or("-"));
    Ok(())
}

async fn key(c: KeyCommand, client: Client) -> Result<()> {
    let base = |partner: &str, name: &str| format!("/partners/{}/users/{}/keys", client::segment(partner), client::segment(name));
    match c {
        KeyCommand::List { partner, name, json } => {
            let v = client.get(&base(&partner, &name)).await?;
            if json {
                return print_json(&v["keys"]);
            }
            for k in v["keys"].as_array().into_iter().flatten() {
                let s = |f: &str| k[f].as_str().unwrap_or("never").to_string();
                println!("{}  {:<8}  created {}  last used {}", s("access_key_id"), s("status"), s("created"), s("last_used"));
            }
            Ok(())
        }
        KeyCommand::Create { partner, name, json } => {
            print_key_pair(&client.post(&base(&partner, &name), &serde_json::json!({})).await?, json)
        }
        KeyCommand::Deactivate { partner, name, key } => {
            set_key_status(&client, &base(&partner, &name), &key, "deactivate").await
        }
        KeyCommand::Activate { partner, name, key } => set_key_status(&client, &base(&partner, &name), &key, "activate").await,
        KeyCommand::Delete { partner, name, key } => {
            client.delete(&format!("{}/{}", base(&partner, &name), client::segment(&key))).await?;
            println!("access key {key} deleted");
            Ok(())
        }
    }
}

async fn user(c: UserCommand, client: Client) -> Result<()> {
    match c {
        UserCommand::Add { partner, name, email, password_file, invite, json } => {
            let mut body = serde_json::json!({"name": name});
            match (email, password_file) {
                (Some(email), Some(file)) => {
                    body["email"] = serde_json::json!(email);
                    body["password"] = serde_json::json!(read_password(&file)?);
                }
                (Some(email), None) if invite => {
                    body["email"] = serde_json::json!(email);
                    body["invite"] = serde_json::json!(true);
                }
                (Some(_), None) => anyhow::bail!("--email needs --password-file or --invite"),
                _ => {}
            }
            let v = client.post(&format!("/partners/{}/users", client::segment(&partner)), &body).await?;
            print_key_pair(&v, json)?;
            if !json {
                if let Some(email) = v["Email"].as_str() {
                    println!("Portal sign-in:   {email}");
                }
                if let Some(token) = v["InvitationToken"].as_str() {
                    let expires = v["InvitationExpires"].as_str().unwrap_or("-");
                    println!("Invitation link:  {}/invite/{token} (works once, until {expires})", client.server_url());
                }
            }
            Ok(())
        }
        UserCommand::List { partner, json } => {
            let v = client.get(&format!("/partners/{}/users", client::segment(&partner))).await?;
            if json {
                return print_json(&v["users"]);
            }
            println!("{:<24} {:<22} {:<9} CREATED", "NAME", "ACCESS KEY ID", "STATUS");
            for u in v["users"].as_array().into_iter().flatten() {
                let s = |k: &str| u[k].as_str().unwrap_or("-").to_string();
                println!("{:<24} {:<22} {:<9} {}", s("name"), s("access_key_id"), s("status"), s("created"));
            }
            Ok(())
        }
        UserCommand::RotateKey { partner, name, json } => {
            let path = format!("/partners/{}/users/{}/rotate-key", client::segment(&partner), client::segment(&name));
            let v = client.post(&path, &serde_json::json!({})).await?;
            print_key_pair(&v, json)
        }
        UserCommand::Key(c) => key(c, client).await,
        UserCommand::Disable { partner, name, json } => {
            let path = format!("/partners/{}/users/{}/disable", client::segment(&partner), client::segment(&name));
            let v = client.post(&path, &serde_json::json!({})).await?;
            if json {
                print_json(&v)
            } else {
                println!(
                    "user {name} of {partner} is disabled; access key {} no longer works",
                    v["access_key_id"].as_str().unwrap_or("-")
                );
                Ok(())
            }
        }
    }
}

async fn solution(c: SolutionCommand, client: Client) -> Result<()> {
    match c {
        SolutionCommand::Add { partner, name, category, status, catalog, json } => {
            let body = serde_json::json!({"name": name, "category": category, "status": status, "catalog": catalog});
            let v = client.post(&format!("/partners/{}/solutions", client::segment(&partner)), &body).await?;
            if json {
                print_json(&v)
            } else {
                println!("{}  {} ({}, {}, {})", v["id"].as_str().unwrap_or("-"), name, category, status, catalog);
                Ok(())
            }
        }
        SolutionCommand::List { partner, json } => {
            let v = client.get(&format!("/partners/{}/solutions", client::segment(&partner))).await?;
            if json {
                return print_json(&v["solutions"]);
            }
            println!("{:<12} {:<8} {:<9} {:<28} NAME", "ID", "CATALOG", "STATUS", "CATEGORY");
            for s in v["solutions"].as_array().into_iter().flatten() {
                let f = |k: &str| s[k].as_str().unwrap_or("-").to_string();
                println!("{:<12} {:<8} {:<9} {:<28} {}", f("id"), f("catalog"), f("status"), f("category"), f("name"));
            }
            Ok(())
        }
    }
}

async fn clock(c: ClockCommand, client: Client) -> Result<()> {
    let (v, json) = match c {
        ClockCommand::Show { json } => (client.get("/clock").await?, json),
        ClockCommand::Advance { duration, json } => {
            (client.post("/clock/advance", &serde_json::json!({"duration": duration})).await?, json)
        }
    };
    if json {
        return print_json(&v);
    }
    let kind = if v["test_clock"].as_bool() == Some(true) { "test clock" } else { "real time" };
    println!("{} ({kind})", v["now"].as_str().unwrap_or("-"));
    Ok(())
}

fn print_quota(v: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        return print_json(v);
    }
    let f = |k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("quota for {} ({})", f("scope"), f("source"));
    println!("  reads per second:  {}", f("reads_per_second"));
    println!("  writes per second: {}", f("writes_per_second"));
    println!("  reads per day:     {}", f("reads_per_day"));
    println!("  writes per day:    {}", f("writes_per_day"));
    Ok(())
}

/// `unlimited` or a positive integer, checked here so the message names the flag.
fn limit_value(flag: &str, v: &str) -> Result<serde_json::Value> {
    if v == "unlimited" {
        return Ok("unlimited".into());
    }
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n.into()),
        _ => anyhow::bail!("{flag} must be a positive integer or `unlimited`, not {v:?}"),
    }
}

async fn quota(c: QuotaCommand, client: Client) -> Result<()> {
    match c {
        QuotaCommand::Set { partner, reads_per_second, writes_per_second, reads_per_day, writes_per_day, json } => {
            let mut body = serde_json::Map::new();
            if let Some(p) = partner {
                body.insert("partner".into(), p.into());
            }
            for (key, flag, value) in [
                ("reads_per_second", "--reads-per-second", reads_per_second),
                ("writes_per_second", "--writes-per-second", writes_per_second),
                ("reads_per_day", "--reads-per-day", reads_per_day),
                ("writes_per_day", "--writes-per-day", writes_per_day),
            ] {
                if let Some(v) = value {
                    body.insert(key.into(), limit_value(flag, &v)?);
                }
            }
            let v = client.put("/quotas", &serde_json::Value::Object(body)).await?;
            print_quota(&v, json)
        }
        QuotaCommand::Show { partner, json } => {
            let path = match partner {
                Some(p) => format!("/quotas?partner={}", client::segment(&p)),
                None => "/quotas".to_string(),
            };
            print_quota(&client.get(&path).await?, json)
        }
    }
}
