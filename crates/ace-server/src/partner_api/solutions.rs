//! ListSolutions: the partner's solutions in the catalog, plus the Sandbox's `S-1234567`.

use serde::{Deserialize, Serialize};

use ace_domain::ids::{solution_arn, solution_number, SANDBOX_SOLUTION_ID};
use ace_domain::time::{format_timestamp, from_millis};
use ace_store::SolutionRecord;

use super::{in_memory_page, ApiResult, Request};

fn sandbox_solution(r: &Request) -> SolutionRecord {
    SolutionRecord {
        catalog: r.catalog,
        id: SANDBOX_SOLUTION_ID.into(),
        partner_id: r.caller.partner.id.clone(),
        name: "Sandbox test solution".into(),
        category: "Software Product".into(),
        status: "Active".into(),
        created_ms: 1_704_067_200_000,
    }
}

/// `ListSolutionsRequest` (the catalog, page size and token are read by the pipeline).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListSolutionsRequest {
    #[serde(default)]
    identifier: Vec<String>,
    #[serde(default)]
    status: Vec<String>,
    #[serde(default)]
    category: Vec<String>,
    #[serde(default)]
    aws_marketplace_solution_arn: Vec<String>,
    sort: Option<SolutionSort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SolutionSort {
    sort_by: String,
    sort_order: String,
}

/// `SolutionBase`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SolutionBase {
    id: String,
    arn: String,
    catalog: &'static str,
    name: String,
    category: String,
    status: String,
    created_date: String,
}

/// An empty filter admits everything.
fn wanted(filter: &[String], value: &str) -> bool {
    filter.is_empty() || filter.iter().any(|w| w == value)
}

pub async fn list(r: Request) -> ApiResult {
    let input: ListSolutionsRequest = r.parse()?;
    let mut solutions = r.tenant().solutions().await?;
    if r.catalog == ace_domain::ids::Catalog::Sandbox {
        solutions.push(sandbox_solution(&r));
    }
    solutions
        .retain(|s| wanted(&input.identifier, &s.id) && wanted(&input.status, &s.status) && wanted(&input.category, &s.category));
    if !input.aws_marketplace_solution_arn.is_empty() {
        solutions.clear(); // no solution here is linked to an AWS Marketplace listing
    }
    let by = input.sort.as_ref().map_or("Identifier", |s| s.sort_by.as_str());
    let descending = input.sort.as_ref().is_some_and(|s| s.sort_order == "DESCENDING");
    solutions.sort_by(|a, b| {
        let key = |s: &SolutionRecord| match by {
            "Name" => (s.name.to_lowercase(), solution_number(&s.id).unwrap_or(0)),
            "Status" => (s.status.clone(), solution_number(&s.id).unwrap_or(0)),
            "Category" => (s.category.clone(), solution_number(&s.id).unwrap_or(0)),
            "CreatedDate" => (format!("{:020}", s.created_ms), solution_number(&s.id).unwrap_or(0)),
            _ => (String::new(), solution_number(&s.id).unwrap_or(0)),
        };
        key(a).cmp(&key(b))
    });
    if descending {
        solutions.reverse();
    }
    let account = &r.caller.partner.account_id;
    let summaries: Vec<SolutionBase> = solutions
        .into_iter()
        .map(|s| SolutionBase {
            arn: solution_arn(account, s.catalog, &s.id),
            catalog: s.catalog.as_str(),
            created_date: format_timestamp(from_millis(s.created_ms)),
            id: s.id,
            name: s.name,
            category: s.category,
            status: s.status,
        })
        .collect();
    in_memory_page(&r, summaries, "SolutionSummaries")
}
