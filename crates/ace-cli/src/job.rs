//! `ace job`: the operator's view of bulk jobs (issue 20) — every partner's, with progress.

use anyhow::Result;
use clap::Subcommand;
use serde_json::Value;

use crate::client::{cell as s, print_json, segment, Client};

#[derive(Subcommand)]
pub enum JobCommand {
    /// Bulk jobs, newest first: every partner's, or one's.
    List {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One bulk job: its file, progress, and its first failed records.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn line(j: &Value) -> String {
    format!(
        "{}  {:<15} {:<7} {:<12} {:<11} {}/{} processed, {} failed  {}",
        s(j, "id"),
        s(j, "kind"),
        s(j, "catalog"),
        s(j, "partner"),
        s(j, "status"),
        s(j, "processed_records"),
        s(j, "total_records"),
        s(j, "failed"),
        s(j, "file_name"),
    )
}

pub async fn job(c: JobCommand, client: Client) -> Result<()> {
    match c {
        JobCommand::List { partner, json } => {
            let path = match partner {
                Some(p) => format!("/bulk-jobs?partner={}", segment(&p)),
                None => "/bulk-jobs".into(),
            };
            let v = client.get(&path).await?;
            if json {
                return print_json(&v["jobs"]);
            }
            for j in v["jobs"].as_array().into_iter().flatten() {
                println!("{}", line(j));
            }
            Ok(())
        }
        JobCommand::Show { id, json } => {
            let v = client.get(&format!("/bulk-jobs/{}", segment(&id))).await?;
            if json {
                return print_json(&v);
            }
            println!("{}", line(&v));
            println!("  file      {}  (sha256 {})", s(&v, "file_uri"), s(&v, "file_sha256"));
            println!("  created   {}  started {}  completed {}", s(&v, "created"), s(&v, "started"), s(&v, "completed"));
            if v["failure_reason"].is_string() {
                println!("  FAILED    {}", s(&v, "failure_reason"));
            }
            for f in v["first_failures"].as_array().into_iter().flatten() {
                println!(
                    "  line {:<6} {:<20} {}: {}",
                    s(f, "line"),
                    s(f, "request_id"),
                    s(f, "error_code"),
                    s(f, "error_message")
                );
            }
            Ok(())
        }
    }
}
