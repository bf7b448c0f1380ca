//! `ace referral`, `ace suppression`, `ace calendar`: the operator's side of
//! Customer Engagement Referrals.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{cell as s, print_json, segment, Client};

#[derive(Subcommand)]
pub enum ReferralCommand {
    /// Refer a lead or an opportunity to a partner (refused when it is not eligible or the
    /// contact is suppressed).
    Create(Box<CreateArgs>),
    /// Referrals, oldest first (never with contact data).
    List {
        #[arg(long)]
        partner: Option<String>,
        /// PENDING, ACCEPTED, REJECTED, EXPIRED or REVOKED.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One referral, with its contact, deadlines and contact record.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a referral: the partner loses it and is told to delete its copies.
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    partner: String,
    /// lead or opportunity.
    #[arg(long)]
    kind: String,
    #[arg(long)]
    company: String,
    #[arg(long)]
    website: String,
    /// ISO country code, e.g. DE.
    #[arg(long)]
    country: String,
    #[arg(long)]
    industry: Option<String>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    problem: Option<String>,
    #[arg(long)]
    contact_name: Option<String>,
    #[arg(long)]
    contact_email: Option<String>,
    /// E.164, e.g. +14155550100.
    #[arg(long)]
    contact_phone: Option<String>,
    #[arg(long)]
    contact_title: Option<String>,
    /// AWS or Sandbox.
    #[arg(long, default_value = "AWS")]
    catalog: String,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum SuppressionCommand {
    /// Contacts and companies that asked not to be referred (REF-5).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum CalendarCommand {
    /// Import a holiday calendar from a file of YYYY-MM-DD dates, one a line (# comments).
    Import { name: String, file: std::path::PathBuf },
    /// Show a calendar (built-in: us-federal).
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn print_line(r: &Value) {
    println!(
        "{}  {:<9} {:<12} {:<24} deadline {}  contact met: {}",
        s(r, "Id"),
        s(r, "Status"),
        s(r, "PartnerId"),
        r["Customer"]["company_name"].as_str().unwrap_or("-"),
        s(r, "ContactDeadline"),
        s(r, "ContactMet")
    );
}

pub async fn referral(c: ReferralCommand, client: Client) -> Result<()> {
    match c {
        ReferralCommand::Create(args) => {
            let CreateArgs {
                partner,
                kind,
                company,
                website,
                country,
                industry,
                title,
                problem,
                contact_name,
                contact_email,
                contact_phone,
                contact_title,
                catalog,
                json,
            } = *args;
            let body = json!({
                "partner": partner, "kind": kind, "company": company, "website": website, "country": country, "industry": industry,
                "title": title, "problem": problem, "contact_name": contact_name, "contact_email": contact_email,
                "contact_phone": contact_phone, "contact_title": contact_title, "catalog": catalog,
            });
            let body =
                Value::Object(body.as_object().cloned().unwrap_or_default().into_iter().filter(|(_, v)| !v.is_null()).collect());
            let v = client.post("/referrals", &body).await?;
            if json {
                return print_json(&v);
            }
            print_line(&v);
            Ok(())
        }
        ReferralCommand::List { partner, status, json } => {
            let mut query = Vec::new();
            if let Some(p) = partner {
                query.push(format!("partner={}", segment(&p)));
            }
            if let Some(x) = status {
                query.push(format!("status={}", segment(&x)));
            }
            let path = if query.is_empty() { "/referrals".to_string() } else { format!("/referrals?{}", query.join("&")) };
            let v = client.get(&path).await?;
            if json {
                return print_json(&v["referrals"]);
            }
            v["referrals"].as_array().into_iter().flatten().for_each(print_line);
            Ok(())
        }
        ReferralCommand::Show { id, json } => {
            let v = client.get(&format!("/referrals/{}", segment(&id))).await?;
            if json {
                return print_json(&v);
            }
            print_line(&v);
            println!("  contact: {}", serde_json::to_string(&v["Contact"])?);
            println!("  contact record: {}", serde_json::to_string(&v["ContactRecord"])?);
            Ok(())
        }
        ReferralCommand::Revoke { id, reason } => {
            let body = match reason {
                Some(r) => json!({"reason": r}),
                None => json!({}),
            };
            let v = client.post(&format!("/referrals/{}/revoke", segment(&id)), &body).await?;
            print_line(&v);
            Ok(())
        }
    }
}

pub async fn suppression(c: SuppressionCommand, client: Client) -> Result<()> {
    let SuppressionCommand::List { json } = c;
    let v = client.get("/suppression").await?;
    if json {
        return print_json(&v["suppressions"]);
    }
    for x in v["suppressions"].as_array().into_iter().flatten() {
        println!(
            "{}  from {} via {} ({}), relayed {}",
            s(x, "key"),
            s(x, "partner_id"),
            s(x, "channel"),
            s(x, "referral_id"),
            s(x, "recorded_at")
        );
    }
    Ok(())
}

pub async fn calendar(c: CalendarCommand, client: Client) -> Result<()> {
    match c {
        CalendarCommand::Import { name, file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let dates: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
            let v = client.put(&format!("/calendars/{}", segment(&name)), &json!({"dates": dates})).await?;
            println!("calendar {} holds {} dates", s(&v, "name"), s(&v, "dates"));
            Ok(())
        }
        CalendarCommand::Show { name, json } => {
            let v = client.get(&format!("/calendars/{}", segment(&name))).await?;
            if json {
                return print_json(&v);
            }
            for d in v["dates"].as_array().into_iter().flatten() {
                println!("{}", d.as_str().unwrap_or("-"));
            }
            Ok(())
        }
    }
}
