//! `ace terms`, `ace program`, `ace audit`, `ace security`: program governance (MOD-1 …
//! MOD-4, USE-2, USE-4, USE-6).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{cell as s, print_json, segment, Client};

#[derive(Subcommand)]
pub enum TermsCommand {
    /// Publish a new version of the program terms (MOD-2); every partner is told (MOD-4).
    Publish {
        /// The terms text (Markdown or plain text).
        #[arg(long)]
        file: PathBuf,
        /// When it takes effect (RFC 3339) [default: on posting].
        #[arg(long)]
        effective: Option<String>,
        /// What changed, in a sentence or two.
        #[arg(long)]
        summary: Option<String>,
        /// Allow an effective date in the past (recorded in the audit log).
        #[arg(long)]
        backdate: bool,
        #[arg(long)]
        json: bool,
    },
    /// Published versions: current, upcoming, superseded.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One version with its text [default: the one in force].
    Show {
        version: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Who accepted a version, how and when, and who has not acted yet (MOD-3).
    Acceptance {
        version: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ProgramCommand {
    /// The program's status, termination, current terms and support contact.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// End the program (MOD-1): from the effective date no submissions and no referrals;
    /// partners are told now.
    Terminate {
        /// RFC 3339, or `now`.
        #[arg(long)]
        effective: String,
        #[arg(long)]
        reason: Option<String>,
        /// Allow an effective date in the past (recorded in the audit log).
        #[arg(long)]
        backdate: bool,
    },
    /// Call off a termination that has not taken effect yet.
    CancelTermination,
    /// Publish the support contact partners see (USE-6).
    SupportContact {
        #[arg(long)]
        email: String,
        #[arg(long)]
        phone: Option<String>,
        /// An https:// page.
        #[arg(long)]
        url: Option<String>,
        /// Opening hours, e.g. "Mon-Fri 09:00-17:00 UTC".
        #[arg(long)]
        hours: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// The audit log, oldest first (USE-4): operator actions, partner writes, reads of
    /// referral contact data, authentication failures, probe blocks, terms.
    List {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        referral: Option<String>,
        /// e.g. partner.write, referral.contact-read, auth.failure, terms.accepted.
        #[arg(long)]
        action: Option<String>,
        /// RFC 3339.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain: exits non-zero and names the first altered, removed or
    /// reordered entry.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum SecurityCommand {
    /// Keys and client addresses blocked for probing (USE-2), newest first.
    Events {
        /// RFC 3339.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Lift a block on the server answering this command (`key:AKID…` or `address:IP`).
    Unblock { subject: String },
}

fn query(pairs: &[(&str, &Option<String>)]) -> String {
    let parts: Vec<String> = pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", segment(v)))).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub async fn terms(c: TermsCommand, client: Client) -> Result<()> {
    match c {
        TermsCommand::Publish { file, effective, summary, backdate, json } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let v = client
                .post("/terms", &json!({"text": text, "effective": effective, "summary": summary, "backdate": backdate}))
                .await?;
            if json {
                return print_json(&v);
            }
            println!(
                "published terms version {} effective {} (sha256 {})",
                s(&v, "version"),
                s(&v, "effective"),
                s(&v, "sha256")
            );
            Ok(())
        }
        TermsCommand::List { json } => {
            let v = client.get("/terms").await?;
            if json {
                return print_json(&v["terms"]);
            }
            for t in v["terms"].as_array().into_iter().flatten() {
                println!("v{}  {:<10}  effective {}  {}", s(t, "version"), s(t, "status"), s(t, "effective"), s(t, "summary"));
            }
            Ok(())
        }
        TermsCommand::Show { version, json } => {
            let v = client.get(&format!("/terms/{}", segment(version.as_deref().unwrap_or("current")))).await?;
            if json {
                return print_json(&v);
            }
            println!("# Terms version {}, effective {} (sha256 {})\n", s(&v, "version"), s(&v, "effective"), s(&v, "sha256"));
            println!("{}", v["text"].as_str().unwrap_or_default());
            Ok(())
        }
        TermsCommand::Acceptance { version, json } => {
            let v = client.get(&format!("/terms/{}/acceptance", segment(&version))).await?;
            if json {
                return print_json(&v);
            }
            println!("terms version {} effective {}", s(&v, "version"), s(&v, "effective"));
            for a in v["accepted"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {} at {} by {} ({})",
                    s(a, "partner_id"),
                    s(a, "method"),
                    s(a, "at"),
                    s(a, "user"),
                    s(a, "operation")
                );
            }
            for p in v["not_yet"].as_array().into_iter().flatten() {
                println!("  {}  not yet", p.as_str().unwrap_or("-"));
            }
            Ok(())
        }
    }
}

pub async fn program(c: ProgramCommand, client: Client) -> Result<()> {
    match c {
        ProgramCommand::Show { json } => {
            let v = client.get("/program").await?;
            if json {
                return print_json(&v);
            }
            println!("status: {}", s(&v, "status"));
            if let Some(t) = v["termination"].as_object() {
                let t = Value::Object(t.clone());
                println!(
                    "termination: effective {} ({}), decided by {}",
                    s(&t, "effective"),
                    s(&t, "reason"),
                    s(&t, "decided_by")
                );
            }
            println!("current terms: {}", s(&v, "current_terms"));
            match v["support_contact"].as_object() {
                Some(c) => println!("support contact: {}", Value::Object(c.clone())),
                None => println!("support contact: not published (ace program support-contact --email …)"),
            }
            Ok(())
        }
        ProgramCommand::Terminate { effective, reason, backdate } => {
            let v = client
                .post("/program/terminate", &json!({"effective": effective, "reason": reason, "backdate": backdate}))
                .await?;
            println!("program {} effective {}", s(&v, "status"), s(&v, "effective"));
            Ok(())
        }
        ProgramCommand::CancelTermination => {
            let v = client.delete("/program/termination").await?;
            println!("program {}", s(&v, "status"));
            Ok(())
        }
        ProgramCommand::SupportContact { email, phone, url, hours } => {
            let v = client
                .put("/program/support-contact", &json!({"email": email, "phone": phone, "url": url, "hours": hours}))
                .await?;
            println!("support contact published: {v}");
            Ok(())
        }
    }
}

pub async fn audit(c: AuditCommand, client: Client) -> Result<()> {
    match c {
        AuditCommand::List { partner, referral, action, since, json } => {
            let base = query(&[("partner", &partner), ("referral", &referral), ("action", &action), ("since", &since)]);
            let mut entries = Vec::new();
            let mut after: Option<i64> = None;
            loop {
                let sep = if base.is_empty() { "?" } else { "&" };
                let page_query = after.map_or(base.clone(), |a| format!("{base}{sep}after={a}"));
                let v = client.get(&format!("/audit/log{page_query}")).await?;
                entries.extend(v["entries"].as_array().cloned().unwrap_or_default());
                match v["next_after"].as_i64() {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            if json {
                return print_json(&Value::Array(entries));
            }
            for e in &entries {
                let mut line = format!("{:>6}  {}  {:<24} {}", s(e, "seq"), s(e, "at"), s(e, "action"), s(e, "actor"));
                if !e["partner_id"].is_null() {
                    line.push_str(&format!(" partner={}", s(e, "partner_id")));
                }
                if !e["referral_id"].is_null() {
                    line.push_str(&format!(" referral={}", s(e, "referral_id")));
                }
                println!("{line}  {}", e["detail"]);
            }
            Ok(())
        }
        AuditCommand::Verify { json } => {
            let v = client.get("/audit/verify").await?;
            if json {
                print_json(&v)?;
            } else if v["ok"] == json!(true) {
                println!(
                    "audit log intact: {} entries; head {} {}",
                    s(&v, "entries"),
                    s(&v["head"], "seq"),
                    s(&v["head"], "hash")
                );
            }
            if v["ok"] != json!(true) {
                bail!("audit log broken at entry {}: {}", s(&v, "broken_at"), s(&v, "reason"));
            }
            Ok(())
        }
    }
}

pub async fn security(c: SecurityCommand, client: Client) -> Result<()> {
    match c {
        SecurityCommand::Events { since, json } => {
            let v = client.get(&format!("/security/events{}", query(&[("since", &since)]))).await?;
            if json {
                return print_json(&v["events"]);
            }
            for e in v["events"].as_array().into_iter().flatten() {
                let from: Vec<&str> = e["addresses"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                println!(
                    "{}  {}  {} x{}  {} until {}{}  partner {}{}",
                    s(e, "at"),
                    s(e, "subject"),
                    s(e, "signal"),
                    s(e, "count"),
                    if e["signal"] == "key-lockout" { "locked" } else { "blocked" },
                    s(e, "blocked_until"),
                    if e["active"] == json!(true) { " (active)" } else { "" },
                    s(e, "partner_id"),
                    if from.is_empty() { String::new() } else { format!("  from {}", from.join(", ")) }
                );
            }
            Ok(())
        }
        SecurityCommand::Unblock { subject } => {
            let v = client.post("/security/unblock", &json!({"subject": subject})).await?;
            println!("{}: {}", s(&v, "subject"), if v["lifted"] == json!(true) { "unblocked" } else { "was not blocked here" });
            Ok(())
        }
    }
}
