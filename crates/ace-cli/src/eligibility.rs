//! `ace eligibility`, `ace eligibility-config`, `ace requirement`: referral eligibility
//! (ELIG-2, ELIG-3) for partner managers.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{print_json, segment, Client};

#[derive(Args)]
pub struct EligibilityArgs {
    /// The partner to evaluate.
    partner_id: Option<String>,
    /// Every partner, one line each.
    #[arg(long, conflicts_with = "partner_id")]
    all: bool,
    /// Evaluate as of this instant (RFC 3339), with the configuration in force then.
    #[arg(long)]
    as_of: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ConfigArgs {
    /// Validated opportunities needed in the window (ELIG-2.1 a, ELIG-2.3).
    #[arg(long)]
    validated_min: Option<u32>,
    /// The rolling window, in months.
    #[arg(long)]
    window_months: Option<u32>,
    /// An open referral is fresh when updated within this many days (REF-7).
    #[arg(long)]
    referral_update_days: Option<u32>,
    /// The share of open referrals that must be fresh, in percent.
    #[arg(long)]
    referral_fresh_percent: Option<u32>,
    /// The programs of ELIG-2.1 (c) (repeatable; replaces the list).
    #[arg(long = "program")]
    programs: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum RequirementCommand {
    /// Define a further requirement (ELIG-2.x (e)) for a segment.
    Add {
        #[arg(long)]
        id: String,
        /// select, advanced or isv.
        #[arg(long)]
        segment: String,
        #[arg(long)]
        description: String,
    },
    /// The further requirements in force.
    List {
        #[arg(long)]
        json: bool,
    },
}

fn query(as_of: &Option<String>) -> String {
    as_of.as_ref().map_or(String::new(), |t| format!("?as_of={}", segment(t)))
}

fn print_report(r: &Value) {
    let segment = match r["Segment"].as_str() {
        Some(s) => {
            let rule = match s {
                "select" => "ELIG-2.1",
                "advanced" => "ELIG-2.2",
                _ => "ELIG-2.3",
            };
            format!("{s} ({rule})")
        }
        None => "none".to_string(),
    };
    let verdict = if r["Eligible"].as_bool() == Some(true) { "ELIGIBLE" } else { "NOT ELIGIBLE" };
    println!(
        "{}  {}  segment: {segment}   {verdict}",
        r["PartnerId"].as_str().unwrap_or("-"),
        r["PartnerName"].as_str().unwrap_or("-")
    );
    for req in r["Requirements"].as_array().into_iter().flatten() {
        let mark = if req["Met"].as_bool() == Some(true) { "✓" } else { "✗" };
        println!("  {mark} {:<10} {}", req["Id"].as_str().unwrap_or("-"), req["Detail"].as_str().unwrap_or(""));
    }
}

pub async fn eligibility(args: EligibilityArgs, client: Client) -> Result<()> {
    if args.all {
        let v = client.get(&format!("/eligibility{}", query(&args.as_of))).await?;
        if args.json {
            return print_json(&v["reports"]);
        }
        for r in v["reports"].as_array().into_iter().flatten() {
            let unmet: Vec<&str> = r["Requirements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|q| q["Met"].as_bool() != Some(true))
                .filter_map(|q| q["Id"].as_str())
                .collect();
            let verdict = if r["Eligible"].as_bool() == Some(true) { "ELIGIBLE" } else { "NOT ELIGIBLE" };
            println!(
                "{:<20} {:<9} {:<13} {}",
                r["PartnerId"].as_str().unwrap_or("-"),
                r["Segment"].as_str().unwrap_or("none"),
                verdict,
                if unmet.is_empty() { String::new() } else { format!("missing: {}", unmet.join(", ")) }
            );
        }
        return Ok(());
    }
    let Some(partner) = args.partner_id else { bail!("name a partner, or pass --all") };
    let v = client.get(&format!("/eligibility/{}{}", segment(&partner), query(&args.as_of))).await?;
    if args.json {
        return print_json(&v);
    }
    print_report(&v);
    Ok(())
}

pub async fn config(args: ConfigArgs, client: Client) -> Result<()> {
    let mut body = serde_json::Map::new();
    for (key, value) in [
        ("validated_min", args.validated_min),
        ("window_months", args.window_months),
        ("referral_update_days", args.referral_update_days),
        ("referral_fresh_percent_min", args.referral_fresh_percent),
    ] {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    }
    if !args.programs.is_empty() {
        body.insert("programs".into(), json!(args.programs));
    }
    let v = if body.is_empty() {
        client.get("/eligibility-config").await?
    } else {
        client.put("/eligibility-config", &Value::Object(body)).await?
    };
    if args.json {
        return print_json(&v);
    }
    let c = &v["config"];
    println!("in force since {}", v["effective_from"].as_str().unwrap_or("the start (built-in defaults)"));
    println!("  validated opportunities needed: {} in {} months", c["validated_min"], c["window_months"]);
    println!(
        "  referral updates: {}% of open referrals within {} days",
        c["referral_fresh_percent_min"], c["referral_update_days"]
    );
    let programs: Vec<&str> = c["programs"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    println!("  programs (ELIG-2.1 c): {}", programs.join(", "));
    println!("  further requirements: {}", c["further"].as_array().map_or(0, Vec::len));
    Ok(())
}

pub async fn requirement(c: RequirementCommand, client: Client) -> Result<()> {
    match c {
        RequirementCommand::Add { id, segment, description } => {
            let v = client.post("/requirements", &json!({"id": id, "segment": segment, "description": description})).await?;
            println!(
                "added requirement {} for segment {}",
                v["id"].as_str().unwrap_or("-"),
                v["segment"].as_str().unwrap_or("-")
            );
            Ok(())
        }
        RequirementCommand::List { json } => {
            let v = client.get("/requirements").await?;
            if json {
                return print_json(&v["requirements"]);
            }
            for r in v["requirements"].as_array().into_iter().flatten() {
                println!(
                    "{:<24} {:<9} {}",
                    r["id"].as_str().unwrap_or("-"),
                    r["segment"].as_str().unwrap_or("-"),
                    r["description"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
    }
}

/// `ace partner set-requirement ID REQUIREMENT --met|--not-met`.
pub async fn set_requirement(partner: &str, requirement: &str, met: bool, client: &Client) -> Result<()> {
    client.put(&format!("/partners/{}/requirements/{}", segment(partner), segment(requirement)), &json!({"met": met})).await?;
    println!("{partner}: requirement {requirement} {}", if met { "met" } else { "not met" });
    Ok(())
}
