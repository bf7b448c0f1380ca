//! ListSolutions: the partner's solutions in the catalog, plus the Sandbox's `S-1234567`.

use serde_json::{json, Value};

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

fn wanted(r: &Request, member: &str, value: &str) -> bool {
    match r.input.get(member).and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).any(|w| w == value),
        _ => true,
    }
}

pub async fn list(r: Request) -> ApiResult {
    let mut solutions = r.state.store.list_solutions(&r.caller.partner.id, r.catalog).await?;
    if r.catalog == ace_domain::ids::Catalog::Sandbox {
        solutions.push(sandbox_solution(&r));
    }
    solutions
        .retain(|s| wanted(&r, "Identifier", &s.id) && wanted(&r, "Status", &s.status) && wanted(&r, "Category", &s.category));
    if r.input.get("AwsMarketplaceSolutionArn").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        solutions.clear(); // no solution here is linked to an AWS Marketplace listing
    }
    let sort = r.input.get("Sort");
    let by = sort.and_then(|s| s.get("SortBy")).and_then(Value::as_str).unwrap_or("Identifier");
    let descending = sort.and_then(|s| s.get("SortOrder")).and_then(Value::as_str) == Some("DESCENDING");
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
    let summaries: Vec<Value> = solutions
        .iter()
        .map(|s| {
            json!({
                "Id": s.id, "Arn": solution_arn(account, s.catalog, &s.id), "Catalog": s.catalog.as_str(), "Name": s.name,
                "Category": s.category, "Status": s.status, "CreatedDate": format_timestamp(from_millis(s.created_ms)),
            })
        })
        .collect();
    in_memory_page(&r, summaries, "SolutionSummaries")
}
