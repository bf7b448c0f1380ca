//! `ace check`: integration checks (issue 25) — the operator's side of the program's published
//! test scenarios, played against a partner's CRM integration in the Sandbox, and its report.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{cell as s, print_json, segment, Client};

#[derive(Subcommand)]
pub enum CheckCommand {
    /// Starts a run for a partner: every scenario, or those named.
    Start {
        #[arg(long)]
        partner: String,
        /// A scenario to run (repeatable); every scenario when none is named.
        #[arg(long = "scenario")]
        scenarios: Vec<String>,
        /// How long each step waits for the integration, e.g. 10m, 90s, 1h.
        #[arg(long, default_value = "10m")]
        step_timeout: String,
        #[arg(long)]
        json: bool,
    },
    /// A run's report: each scenario and step, with what was expected and the request ids.
    Show {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Stops a running run: every step not taken yet is skipped, saying so.
    Cancel {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Runs, newest first: every partner's, or one's.
    List {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn line(r: &Value) -> String {
    format!(
        "{}  {:<12} {:<8} {} passed, {} failed  started {}",
        s(r, "id"),
        s(r, "partnerId"),
        s(r, "status"),
        s(r, "passed"),
        s(r, "failed"),
        s(r, "createdAt")
    )
}

fn print_report(r: &Value) {
    println!("{}", line(r));
    for scenario in r["scenarios"].as_array().into_iter().flatten() {
        let rules: Vec<&str> = scenario["rules"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let rules = if rules.is_empty() { String::new() } else { format!(" [{}]", rules.join(", ")) };
        println!("  {:<8} {} — {}{rules}", s(scenario, "status"), s(scenario, "name"), s(scenario, "title"));
        for step in scenario["steps"].as_array().into_iter().flatten() {
            println!("    {:>2}. {:<9} {:<7} {}", s(step, "step"), s(step, "status"), s(step, "side"), s(step, "title"));
            let status = step["status"].as_str().unwrap_or("");
            if matches!(status, "Failed" | "TimedOut") {
                println!("        {}", s(step, "message"));
            }
            let ids: Vec<&str> = step["requestIds"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !ids.is_empty() {
                println!("        requests: {}", ids.join(", "));
            }
        }
    }
}

pub async fn check(c: CheckCommand, client: Client) -> Result<()> {
    match c {
        CheckCommand::Start { partner, scenarios, step_timeout, json } => {
            let body = json!({"partner_id": partner, "scenarios": scenarios, "step_timeout": step_timeout});
            let v = client.post("/checks", &body).await?;
            if json {
                return print_json(&v);
            }
            print_report(&v);
            Ok(())
        }
        CheckCommand::Show { run, json } => {
            let v = client.get(&format!("/checks/{}", segment(&run))).await?;
            if json {
                return print_json(&v);
            }
            print_report(&v);
            Ok(())
        }
        CheckCommand::Cancel { run, json } => {
            let v = client.post(&format!("/checks/{}/cancel", segment(&run)), &json!({})).await?;
            if json {
                return print_json(&v);
            }
            print_report(&v);
            Ok(())
        }
        CheckCommand::List { partner, json } => {
            let path = match partner {
                Some(p) => format!("/checks?partner={}", segment(&p)),
                None => "/checks".into(),
            };
            let v = client.get(&path).await?;
            if json {
                return print_json(&v["checks"]);
            }
            for r in v["checks"].as_array().into_iter().flatten() {
                println!("{}", line(r));
            }
            Ok(())
        }
    }
}
