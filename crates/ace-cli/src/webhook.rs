//! `ace webhook`: event subscriptions for the operator and on partners' behalf.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{print_json, segment, Client};

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL to a partner's events (--partner) or to every event (--operator).
    Add {
        #[arg(long, conflicts_with = "operator", required_unless_present = "operator")]
        partner: Option<String>,
        #[arg(long)]
        operator: bool,
        /// https, or http on loopback.
        #[arg(long)]
        url: String,
        /// Only these detail types (repeatable); all when absent.
        #[arg(long = "event-type")]
        event_types: Vec<String>,
        /// Read the signing secret from this file instead of generating one.
        #[arg(long)]
        secret_file: Option<std::path::PathBuf>,
        /// Richer payloads: `detail.changedFields` on events that carry what changed.
        #[arg(long)]
        include_changes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Subscriptions.
    List {
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delivery attempts of a subscription.
    Deliveries {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Redeliver every event after an outbox sequence number.
    Replay {
        id: String,
        /// The outbox sequence number to replay after (0: from the beginning).
        #[arg(long)]
        since: i64,
    },
    /// Delete a subscription.
    Delete { id: String },
}

pub async fn webhook(c: WebhookCommand, client: Client) -> Result<()> {
    match c {
        WebhookCommand::Add { partner, operator, url, event_types, secret_file, include_changes, json } => {
            if partner.is_none() && !operator {
                bail!("pass --partner ID or --operator");
            }
            let mut body = json!({"url": url, "event_types": event_types, "include_changes": include_changes});
            if let Some(p) = partner {
                body["partner"] = json!(p);
            }
            if let Some(f) = secret_file {
                let secret = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
                body["secret"] = json!(secret.trim());
            }
            let v = client.post("/webhooks", &body).await?;
            if json {
                return print_json(&v);
            }
            println!("{} → {}", v["id"].as_str().unwrap_or("-"), v["url"].as_str().unwrap_or("-"));
            println!("signing secret (shown only now): {}", v["secret"].as_str().unwrap_or("-"));
            Ok(())
        }
        WebhookCommand::List { partner, json } => {
            let path = partner.map_or("/webhooks".to_string(), |p| format!("/webhooks?partner={}", segment(&p)));
            let v = client.get(&path).await?;
            if json {
                return print_json(&v["webhooks"]);
            }
            for h in v["webhooks"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  {}  after seq {}",
                    h["id"].as_str().unwrap_or("-"),
                    h["owner"],
                    h["url"].as_str().unwrap_or("-"),
                    h["cursor_seq"]
                );
            }
            Ok(())
        }
        WebhookCommand::Deliveries { id, json } => {
            let v = client.get(&format!("/webhooks/{}/deliveries", segment(&id))).await?;
            if json {
                return print_json(&v["deliveries"]);
            }
            for d in v["deliveries"].as_array().into_iter().flatten() {
                let s = |k: &str| match &d[k] {
                    Value::String(x) => x.clone(),
                    other => other.to_string(),
                };
                println!(
                    "seq {} attempt {} {} (HTTP {}) {}",
                    s("event_seq"),
                    s("attempt"),
                    s("outcome"),
                    s("http_status"),
                    s("error")
                );
            }
            Ok(())
        }
        WebhookCommand::Replay { id, since } => {
            client.post(&format!("/webhooks/{}/replay", segment(&id)), &json!({"since_seq": since})).await?;
            println!("{id}: redelivering every event after seq {since}");
            Ok(())
        }
        WebhookCommand::Delete { id } => {
            client.delete(&format!("/webhooks/{}", segment(&id))).await?;
            println!("deleted {id}");
            Ok(())
        }
    }
}
