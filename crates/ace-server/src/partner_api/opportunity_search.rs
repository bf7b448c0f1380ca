//! SearchOpportunities (issue 20): a keyword through the engine's full-text index, the model's
//! filter tree and sort over what `ace_domain::opportunity_search` reads of each opportunity,
//! and keyset pages under sealed tokens bound to the request. The caller's own opportunities
//! only (USE-4): the index is asked within the caller's tenant and the store checks the partner.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use ace_domain::opportunity_search::{self as search, Cursor, Entry, Filter, DEFAULT_SORT};
use ace_domain::time::{format_timestamp, from_millis};

use super::{ApiResult, Request, SearchSort};
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SearchOpportunitiesRequest {
    keyword: Option<String>,
    filter: Option<Filter>,
    sort: Option<SearchSort>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SearchOpportunitiesResponse {
    opportunity_search_summaries: Vec<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    id: String,
    created_date: String,
    last_modified_date: String,
    aws_opportunity_summary: Value,
    customer: Value,
    life_cycle: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    opportunity_team: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opportunity_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_opportunity_identifier: Option<String>,
    project: Value,
    related_entity_identifiers: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Value>,
}

/// Members with a value only: the summary leaves out what the opportunity does not have.
fn object(members: &[(&str, Value)]) -> Value {
    let map: Map<String, Value> = members
        .iter()
        .filter(|(_, v)| !v.is_null() && v != &Value::Array(vec![]))
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Value::Object(map)
}

fn text(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn summary(e: Entry) -> Summary {
    let list = |v: &[String]| Value::from(v.to_vec());
    let country = e.country_code.as_ref().map_or(Value::Null, |c| serde_json::json!({"CountryCode": c}));
    Summary {
        created_date: format_timestamp(from_millis(e.created_ms)),
        last_modified_date: format_timestamp(from_millis(e.modified_ms)),
        aws_opportunity_summary: object(&[("CosellMotion", text(&e.cosell_motion)), ("Origin", Value::String(e.origin.clone()))]),
        customer: serde_json::json!({"Account": object(&[
            ("CompanyName", text(&e.company_name)),
            ("Industry", text(&e.industry)),
            ("AwsAccountId", text(&e.aws_account_id)),
            ("Address", country),
        ])}),
        life_cycle: object(&[
            ("Stage", text(&e.stage)),
            ("ReviewStatus", Value::String(e.review_status.clone())),
            ("TargetCloseDate", text(&e.target_close_date)),
            ("NextSteps", text(&e.next_steps)),
        ]),
        opportunity_team: e
            .team
            .iter()
            .map(|m| {
                object(&[
                    ("FirstName", text(&m.first_name)),
                    ("LastName", text(&m.last_name)),
                    ("BusinessTitle", text(&m.business_title)),
                ])
            })
            .collect(),
        project: object(&[
            ("Title", text(&e.title)),
            ("ApnPrograms", list(&e.apn_programs)),
            (
                "ExpectedCustomerSpend",
                e.spend.iter().map(|s| serde_json::json!({"Amount": s.amount, "CurrencyCode": s.currency_code})).collect(),
            ),
        ]),
        related_entity_identifiers: object(&[
            ("AwsMarketplaceOffers", list(&e.offers)),
            ("AwsMarketplaceOfferSets", list(&e.offer_sets)),
            ("AwsMarketplaceSolutions", list(&e.marketplace_solutions)),
            ("Solutions", list(&e.solutions)),
        ]),
        tags: e.tags.iter().filter_map(|t| t.split_once('=')).map(|(k, v)| serde_json::json!({"Key": k, "Value": v})).collect(),
        opportunity_type: e.opportunity_type,
        partner_opportunity_identifier: e.partner_opportunity_identifier,
        id: e.id,
    }
}

pub async fn search(r: Request) -> ApiResult {
    let input: SearchOpportunitiesRequest = r.parse()?;
    // Everything is checked before anything is read: the keyword, the tree, the sort, the token.
    let terms =
        input.keyword.as_deref().map(search::keyword_terms).transpose().map_err(|e| ApiError::request_validation(vec![e]))?;
    if let Some(f) = &input.filter {
        search::check(f).map_err(ApiError::request_validation)?;
    }
    let (by, descending) = input.sort.as_ref().map_or(DEFAULT_SORT, |s| (s.sort_by.as_str(), s.sort_order == "DESCENDING"));
    let after: Option<Cursor> = r.page_cursor()?;
    let ask = crate::app::search::PageRequest {
        terms: terms.as_deref(),
        filter: input.filter.as_ref(),
        by,
        descending,
        after: after.as_ref(),
        size: r.page_size(20),
    };
    let (page, next) = crate::app::search::page(&r.state, &r.caller.partner, r.catalog, ask).await?;
    let next_token = next.map(|c| r.next_page_token(&c));
    r.respond(&SearchOpportunitiesResponse { opportunity_search_summaries: page.into_iter().map(summary).collect(), next_token })
}
