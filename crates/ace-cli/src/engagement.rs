//! `ace engagement`: the operator's view of engagements (issue 18) and its engagement groups.

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;

use crate::client::{cell as s, print_json, segment, Client};

#[derive(Subcommand)]
pub enum EngagementCommand {
    /// Engagements, oldest first: every one, or those a partner is a member of.
    List {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One engagement: its contexts, members and invitations.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The resource snapshots shared with the operator's side in one engagement, each revision
    /// with what changed since the one before it (issue 19).
    Snapshots {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Engagement groups: the slices of engagements partners list and search in.
    #[command(subcommand)]
    Group(GroupCommand),
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Add (or redefine) a group: engagements whose customer is of one of its industries and
    /// countries (any, when none are given).
    Add {
        /// eng-grp- and 14 digits or lower-case letters.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// An industry of the Selling API, e.g. Retail (repeatable).
        #[arg(long = "industry")]
        industries: Vec<String>,
        /// An ISO country code, e.g. US (repeatable).
        #[arg(long = "country")]
        countries: Vec<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Remove {
        id: String,
    },
}

pub async fn engagement(c: EngagementCommand, client: Client) -> Result<()> {
    match c {
        EngagementCommand::List { partner, json } => {
            let path = match partner {
                Some(p) => format!("/engagements?partner={}", segment(&p)),
                None => "/engagements".into(),
            };
            let v = client.get(&path).await?;
            if json {
                return print_json(&v["engagements"]);
            }
            for e in v["engagements"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<7} {:<40} members {}  by {}  {}",
                    s(e, "id"),
                    s(e, "catalog"),
                    s(e, "title"),
                    s(e, "members"),
                    s(e, "created_by"),
                    s(e, "created")
                );
            }
            Ok(())
        }
        EngagementCommand::Show { id, json } => {
            let v = client.get(&format!("/engagements/{}", segment(&id))).await?;
            if json {
                return print_json(&v);
            }
            println!(
                "{}  {}  {}  created {} by {}",
                s(&v, "id"),
                s(&v, "catalog"),
                s(&v, "title"),
                s(&v, "created"),
                s(&v, "created_by")
            );
            for m in v["members"].as_array().into_iter().flatten() {
                println!("  member      {}  {}", s(m, "AccountId"), s(m, "CompanyName"));
            }
            for c in v["contexts"].as_array().into_iter().flatten() {
                println!("  context {:<3} {}  {}", s(c, "id"), s(c, "kind"), serde_json::to_string(&c["payload"])?);
            }
            for i in v["invitations"].as_array().into_iter().flatten() {
                println!(
                    "  invitation  {}  {} -> {}  {}  {}",
                    s(i, "id"),
                    s(i, "sender"),
                    s(i, "receiver"),
                    s(i, "payload_type"),
                    s(i, "status")
                );
            }
            Ok(())
        }
        EngagementCommand::Snapshots { id, json } => {
            let v = client.get(&format!("/engagements/{}/snapshots", segment(&id))).await?;
            if json {
                return print_json(&v["snapshots"]);
            }
            for r in v["snapshots"].as_array().into_iter().flatten() {
                println!(
                    "{} {}  {}  revision {}  {}  by {}  for {}",
                    s(r, "resource_type"),
                    s(r, "resource_id"),
                    s(r, "template"),
                    s(r, "revision"),
                    s(r, "created_at"),
                    s(r, "created_by"),
                    r["target_accounts"]
                );
                for c in r["changes"].as_array().into_iter().flatten() {
                    let side = |k: &str| if c[k].is_null() { "(none)".to_string() } else { c[k].to_string() };
                    println!("    {}: {} -> {}", s(c, "path"), side("before"), side("after"));
                }
            }
            Ok(())
        }
        EngagementCommand::Group(GroupCommand::Add { id, name, description, industries, countries }) => {
            let mut body = json!({"id": id, "name": name, "industries": industries, "countries": countries});
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let v = client.post("/engagement-groups", &body).await?;
            println!("added {}", s(&v, "id"));
            Ok(())
        }
        EngagementCommand::Group(GroupCommand::List { json }) => {
            let v = client.get("/engagement-groups").await?;
            if json {
                return print_json(&v["groups"]);
            }
            for g in v["groups"].as_array().into_iter().flatten() {
                println!("{}  {:<30} industries {}  countries {}", s(g, "id"), s(g, "name"), g["industries"], g["countries"]);
            }
            Ok(())
        }
        EngagementCommand::Group(GroupCommand::Remove { id }) => {
            client.delete(&format!("/engagement-groups/{}", segment(&id))).await?;
            println!("removed {id}");
            Ok(())
        }
    }
}
