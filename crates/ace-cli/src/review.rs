//! `ace review`, `ace consent`, `ace pipeline`: the operator's side of submissions.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use ace_domain::customer_account::Enrichment;
use ace_domain::identity::{check_pipeline_record, PipelineRecord};

use crate::client::{print_json, segment, Client};

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// The review queue, oldest submission first, with age and pre-screen findings.
    List {
        /// submitted, in-review, action-required or all.
        #[arg(long, default_value = "submitted")]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// One submission: document, partner, conflict matches, consent record, findings.
    Show {
        opportunity_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Submitted → In review.
    Start { opportunity_id: String },
    /// Validate the opportunity.
    Approve {
        opportunity_id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Send it back to the partner with what to fix.
    ActionRequired {
        opportunity_id: String,
        #[arg(long)]
        comment: String,
        /// A reason code, e.g. incomplete-information.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject it, with a reason code: already-pursued, insufficient-presales, missing-consent,
    /// personal-data, unqualified-marketing-lead, incomplete-information, not-qualified,
    /// duplicate, other.
    Reject {
        opportunity_id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Add AWS's next steps to a submitted opportunity (the partner reads them with
    /// GetAwsOpportunitySummary).
    NextSteps {
        opportunity_id: String,
        /// What AWS's seller will do next: 1 to 255 characters.
        #[arg(long)]
        text: String,
    },
    /// Show or change review settings.
    Config {
        /// on: reject a submission at once when the operator already pursues the customer.
        #[arg(long, value_parser = ["on", "off"])]
        auto_reject_already_pursued: Option<String>,
        /// allowed (default): a partner's standing attestation, with the Selling API's own
        /// fields, meets SUB-3 and SUB-4 (`ace partner attest`); not-allowed: only a
        /// per-opportunity attestation does.
        #[arg(long, value_parser = ["allowed", "not-allowed"])]
        standing_attestation: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Ask the partner for evidence of the customer's consent.
    RequestEvidence {
        opportunity_id: String,
        #[arg(long)]
        message: String,
        #[arg(long)]
        json: bool,
    },
    /// Evidence requests and their answers.
    Requests {
        #[arg(long)]
        opportunity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Close an evidence request (the request and the answer are kept).
    CloseRequest { request_id: String },
    /// Published consent statement versions.
    Statements {
        #[arg(long)]
        json: bool,
    },
    /// Publish a new version of the consent statement from a text file.
    PublishStatement {
        #[arg(long)]
        version: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum PipelineCommand {
    /// Import (or update by external id) the operator's pipeline from a CSV file with a header
    /// row: external id, company name, website, country, DUNS, stage, owner; and, optionally,
    /// what the operator knows of the customer for matching customer accounts: account name,
    /// industry, sub industry, segment, sector, company size, geo, region, sub region, account
    /// planning qualification, eligible programs (separated by ;), marketplace engagement
    /// score, solution category, solution sub category, solution score.
    Import { file: std::path::PathBuf },
    /// List the operator's pipeline.
    List {
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

fn print_item(item: &Value) {
    let s = |k: &str| match &item[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let findings: Vec<String> = item["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| format!("{} {}", f["rule"].as_str().unwrap_or(""), f["code"].as_str().unwrap_or("")))
        .collect();
    println!(
        "{:<12} {:<16} {:<10} {:>5}h  {:<28} {}",
        s("id"),
        s("review_status"),
        s("partner_id"),
        s("age_hours"),
        s("company_name"),
        if findings.is_empty() { "-".to_string() } else { findings.join(", ") }
    );
}

pub async fn review(c: ReviewCommand, client: Client) -> Result<()> {
    let decision = |id: &str, action: &str| format!("/review/{}/{action}", segment(id));
    match c {
        ReviewCommand::List { status, json } => {
            let v = client.get(&format!("/review?status={}", segment(&status))).await?;
            if json {
                return print_json(&v["items"]);
            }
            println!("{:<12} {:<16} {:<10} {:>6}  {:<28} FINDINGS", "ID", "STATUS", "PARTNER", "AGE", "COMPANY");
            v["items"].as_array().into_iter().flatten().for_each(print_item);
            Ok(())
        }
        ReviewCommand::Show { opportunity_id, json } => {
            let v = client.get(&format!("/review/{}", segment(&opportunity_id))).await?;
            if json {
                return print_json(&v);
            }
            print_item(&v["summary"]);
            println!(
                "partner: {} ({})",
                v["partner"]["name"].as_str().unwrap_or("-"),
                v["partner"]["id"].as_str().unwrap_or("-")
            );
            println!("attestation: {}", serde_json::to_string_pretty(&v["attestation"])?);
            for f in v["findings"].as_array().into_iter().flatten() {
                println!(
                    "finding {} {}: {}",
                    f["rule"].as_str().unwrap_or(""),
                    f["code"].as_str().unwrap_or(""),
                    f["message"].as_str().unwrap_or("")
                );
            }
            println!("opportunity: {}", serde_json::to_string_pretty(&v["opportunity"])?);
            Ok(())
        }
        ReviewCommand::Start { opportunity_id } => {
            print_item(&client.post(&decision(&opportunity_id, "start"), &json!({})).await?);
            Ok(())
        }
        ReviewCommand::Approve { opportunity_id, comment } => {
            print_item(&client.post(&decision(&opportunity_id, "approve"), &json!({"comment": comment})).await?);
            Ok(())
        }
        ReviewCommand::ActionRequired { opportunity_id, comment, reason } => {
            let body = json!({"comment": comment, "reason": reason});
            print_item(&client.post(&decision(&opportunity_id, "action-required"), &body).await?);
            Ok(())
        }
        ReviewCommand::Reject { opportunity_id, reason, comment } => {
            let body = json!({"comment": comment, "reason": reason});
            print_item(&client.post(&decision(&opportunity_id, "reject"), &body).await?);
            Ok(())
        }
        ReviewCommand::NextSteps { opportunity_id, text } => {
            print_item(&client.post(&decision(&opportunity_id, "next-steps"), &json!({"next_steps": text})).await?);
            Ok(())
        }
        ReviewCommand::Config { auto_reject_already_pursued, standing_attestation } => {
            let mut changes = serde_json::Map::new();
            if let Some(on) = auto_reject_already_pursued {
                changes.insert("auto_reject_already_pursued".into(), json!(on == "on"));
            }
            if let Some(policy) = standing_attestation {
                changes.insert("standing_attestation".into(), json!(policy));
            }
            let v = if changes.is_empty() {
                client.get("/settings").await?
            } else {
                client.put("/settings", &Value::Object(changes)).await?
            };
            print_json(&v)
        }
    }
}

pub async fn consent(c: ConsentCommand, client: Client) -> Result<()> {
    match c {
        ConsentCommand::RequestEvidence { opportunity_id, message, json } => {
            let v = client.post("/consent/requests", &json!({"opportunity_id": opportunity_id, "message": message})).await?;
            if json {
                return print_json(&v);
            }
            println!(
                "{} sent to {} for {}",
                v["RequestId"].as_str().unwrap_or("-"),
                v["PartnerId"].as_str().unwrap_or("-"),
                opportunity_id
            );
            Ok(())
        }
        ConsentCommand::Requests { opportunity, json } => {
            let path = match opportunity {
                Some(o) => format!("/consent/requests?opportunity={}", segment(&o)),
                None => "/consent/requests".into(),
            };
            let v = client.get(&path).await?;
            if json {
                return print_json(&v["requests"]);
            }
            for r in v["requests"].as_array().into_iter().flatten() {
                let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                println!(
                    "{}  {:<8} {:<10} {:<12} {}",
                    s("RequestId"),
                    s("Status"),
                    s("PartnerId"),
                    s("OpportunityIdentifier"),
                    s("Message")
                );
                if let Some(e) = r["Evidence"].as_str() {
                    println!("    evidence: {e}");
                }
            }
            Ok(())
        }
        ConsentCommand::CloseRequest { request_id } => {
            let v = client.post(&format!("/consent/requests/{}/close", segment(&request_id)), &json!({})).await?;
            println!("{} is {}", request_id, v["Status"].as_str().unwrap_or("-"));
            Ok(())
        }
        ConsentCommand::Statements { json } => {
            let v = client.get("/consent/statements").await?;
            if json {
                return print_json(&v["statements"]);
            }
            for s in v["statements"].as_array().into_iter().flatten() {
                println!("{}  published {}", s["version"].as_str().unwrap_or("-"), s["published_at"].as_str().unwrap_or("-"));
                println!("    {}", s["text"].as_str().unwrap_or(""));
            }
            Ok(())
        }
        ConsentCommand::PublishStatement { version, file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let v = client.post("/consent/statements", &json!({"version": version, "text": text.trim()})).await?;
            println!("published consent statement {}", v["version"].as_str().unwrap_or("-"));
            Ok(())
        }
    }
}

/// The CSV columns, found by header name (case, spaces and underscores ignored).
const COLUMNS: [&str; 7] = ["externalid", "companyname", "website", "country", "duns", "stage", "owner"];

/// Optional columns of what the operator knows of the customer, given to partners whose
/// customer accounts match the record (issue 20); eligible programs are separated by `;`.
fn enrichment_of(field: &dyn Fn(&str) -> Option<String>) -> Option<Enrichment> {
    let e = Enrichment {
        account_name: field("accountname"),
        company_size: field("companysize"),
        country: None,
        account_planning_qualification: field("accountplanningqualification"),
        eligible_programs: field("eligibleprograms")
            .map(|p| p.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default(),
        geo: field("geo"),
        industry: field("industry"),
        region: field("region"),
        sector: field("sector"),
        segment: field("segment"),
        sub_industry: field("subindustry"),
        sub_region: field("subregion"),
        marketplace_engagement_score: field("marketplaceengagementscore"),
        solution_category: field("solutioncategory"),
        solution_score: field("solutionscore"),
        solution_sub_category: field("solutionsubcategory"),
    };
    (e != Enrichment::default()).then_some(e)
}

fn header_key(h: &str) -> String {
    h.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase()
}

/// Good rows with their line numbers, and `(line, message)` for each bad row.
pub struct PipelineCsv {
    pub good: Vec<(usize, PipelineRecord)>,
    pub bad: Vec<(usize, String)>,
}

/// Reads the file; a file without the needed columns is refused whole.
pub fn read_pipeline_csv(text: &str) -> Result<PipelineCsv> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().context("reading the header row")?.iter().map(header_key).collect();
    let index: Vec<Option<usize>> = COLUMNS.iter().map(|c| headers.iter().position(|h| h == c)).collect();
    for (column, i) in COLUMNS.iter().zip(&index).take(2) {
        if i.is_none() {
            bail!("the header row has no {column:?} column (expected: external id, company name, website, country, DUNS, stage, owner)");
        }
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for row in reader.records() {
        let (line, result) = match row {
            Err(e) => (e.position().map_or(0, |p| p.line() as usize), Err(e.to_string())),
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                let field = |k: usize| index[k].and_then(|i| r.get(i)).map(str::to_string).filter(|s| !s.is_empty());
                let named = |name: &str| {
                    headers.iter().position(|h| h == name).and_then(|i| r.get(i)).map(str::to_string).filter(|s| !s.is_empty())
                };
                let record = PipelineRecord {
                    external_id: field(0).unwrap_or_default(),
                    company_name: field(1).unwrap_or_default(),
                    website: field(2),
                    country: field(3).map(|c| c.to_uppercase()),
                    duns: field(4),
                    stage: field(5).unwrap_or_else(|| "Open".into()),
                    owner: field(6),
                    enrichment: enrichment_of(&named),
                };
                (line, check_pipeline_record(&record).map(|()| record))
            }
        };
        match result {
            Ok(record) => good.push((line, record)),
            Err(message) => bad.push((line, message)),
        }
    }
    Ok(PipelineCsv { good, bad })
}

pub async fn pipeline(c: PipelineCommand, client: Client) -> Result<()> {
    match c {
        PipelineCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let PipelineCsv { good, bad } = read_pipeline_csv(&text)?;
            for (line, message) in &bad {
                eprintln!("line {line}: {message} (skipped)");
            }
            let (mut inserted, mut updated, mut done) = (0u64, 0u64, 0usize);
            let total = good.len();
            for chunk in good.chunks(1000) {
                let records: Vec<&PipelineRecord> = chunk.iter().map(|(_, r)| r).collect();
                let v = client.post("/pipeline", &json!({"records": records})).await?;
                inserted += v["inserted"].as_u64().unwrap_or(0);
                updated += v["updated"].as_u64().unwrap_or(0);
                for e in v["errors"].as_array().into_iter().flatten() {
                    let line = e["index"].as_u64().and_then(|i| chunk.get(i as usize)).map_or(0, |(l, _)| *l);
                    eprintln!("line {line}: {} (skipped)", e["message"].as_str().unwrap_or("refused"));
                }
                done += chunk.len();
                eprint!("\rimported {done} of {total} rows");
                std::io::stderr().flush().ok();
            }
            if total > 0 {
                eprintln!();
            }
            println!("{inserted} inserted, {updated} updated, {} skipped", bad.len());
            Ok(())
        }
        PipelineCommand::List { limit, json } => {
            let v = client.get(&format!("/pipeline?limit={limit}")).await?;
            if json {
                return print_json(&v["records"]);
            }
            println!("{:<16} {:<30} {:<24} {:<7} {:<10} STAGE", "EXTERNAL ID", "COMPANY", "WEBSITE", "COUNTRY", "DUNS");
            for r in v["records"].as_array().into_iter().flatten() {
                let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                println!(
                    "{:<16} {:<30} {:<24} {:<7} {:<10} {}",
                    s("external_id"),
                    s("company_name"),
                    s("website"),
                    s("country"),
                    s("duns"),
                    s("stage")
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_2_csv_rows_are_read_by_header_and_bad_rows_reported_with_their_line() {
        let text = "External ID,Company Name,Website,Country,DUNS,Stage,Owner\n\
                    SF-1,Acme Inc,https://acme.com,us,,Qualified,jo\n\
                    ,No Id Corp,,DE,,Open,\n\
                    SF-3,Beta GmbH,,DEU,,Open,\n\
                    SF-4,\"Gamma, Ltd\",gamma.co.uk,GB,123456789,Proposal,\n";
        let PipelineCsv { good, bad } = read_pipeline_csv(text).unwrap();
        assert_eq!(good.iter().map(|(l, r)| (*l, r.external_id.as_str())).collect::<Vec<_>>(), vec![(2, "SF-1"), (5, "SF-4")]);
        assert_eq!(good[0].1.country.as_deref(), Some("US"));
        assert_eq!(good[1].1.company_name, "Gamma, Ltd");
        assert_eq!(bad.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![3, 4]);
        assert!(read_pipeline_csv("foo,bar\n1,2\n").is_err(), "a file without the columns is refused whole");
    }

    #[test]
    fn enrichment_columns_are_read_when_given_and_bad_scores_reported() {
        let text = "External ID,Company Name,Stage,Industry,Segment,Eligible Programs,Solution Score\n\
                    SF-1,Acme Inc,Closed Won,Retail,Enterprise,MAP; ISV Accelerate,High\n\
                    SF-2,Beta Inc,Open,,,,\n\
                    SF-3,Gamma Inc,Open,Retail,,,Excellent\n";
        let PipelineCsv { good, bad } = read_pipeline_csv(text).unwrap();
        let e = good[0].1.enrichment.as_ref().unwrap();
        assert_eq!((e.industry.as_deref(), e.segment.as_deref()), (Some("Retail"), Some("Enterprise")));
        assert_eq!(e.eligible_programs, ["MAP", "ISV Accelerate"]);
        assert!(good[1].1.enrichment.is_none(), "no enrichment columns filled: none");
        assert_eq!(bad.len(), 1);
        assert!(bad[0].1.contains("solution score"), "{}", bad[0].1);
    }
}
