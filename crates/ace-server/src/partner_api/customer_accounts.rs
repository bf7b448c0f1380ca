//! CreateCustomerAccount, GetCustomerAccount, UpdateCustomerAccount, DeleteCustomerAccount,
//! SearchCustomerAccounts, GetCustomerAccountStatistics (issue 20). What an account is and how
//! it matches is `ace_domain::customer_account`'s; loading and matching are
//! `app::customer_accounts`'. A partner sees its own accounts only (USE-4).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use ace_domain::customer_account::{aggregate, sort, AccountData, CustomerAccount, Enrichment, Issue, FILTER_SHAPE};
use ace_domain::filter::{self, Filter};
use ace_domain::model::{FieldError, FieldErrorCode};
use ace_domain::opportunity::{check_tags, Tag};
use ace_domain::time::{format_timestamp, parse_timestamp};
use ace_store::{StoreError, WriteBatch};

use super::engagements::{commit_claiming, replayed};
use super::{page_of, ApiResult, Identified, NoMembers, Output, Request};
use crate::app::customer_accounts::{load, new_id, of_partner, start_matching};
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateCustomerAccountRequest {
    account: AccountData,
    partner_account_identifier: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCustomerAccountRequest {
    account: AccountData,
    identifier: String,
    last_modified_date: Value,
    partner_account_identifier: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SearchCustomerAccountsRequest {
    filter: Option<Filter>,
    sort: Option<CustomerAccountSort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CustomerAccountSort {
    sort_by: String,
    sort_order: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetCustomerAccountStatisticsRequest {
    #[serde(default)]
    aggregations: Vec<AggregationRequest>,
    filter: Option<Filter>,
    #[serde(default)]
    include_missing: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AggregationRequest {
    group_by: Vec<String>,
}

/// The answer of a create or an update (the model's two outputs; projection keeps each its own).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Written<'a> {
    arn: String,
    catalog: &'static str,
    created_date: String,
    id: &'a str,
    last_modified_date: String,
    partner_account_identifier: Option<&'a str>,
    status: &'static str,
}

impl<'a> Written<'a> {
    fn of(a: &'a CustomerAccount) -> Written<'a> {
        Written {
            arn: a.arn(),
            catalog: a.catalog.as_str(),
            created_date: format_timestamp(a.created),
            id: &a.id,
            last_modified_date: format_timestamp(a.modified),
            partner_account_identifier: a.partner_account_identifier.as_deref(),
            status: a.status.as_str(),
        }
    }
}

/// `AwsEnrichment` and its search summary: the operator's data, under both shapes' member
/// names (projection keeps each shape's own).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EnrichmentView<'a> {
    customer: CustomerView<'a>,
    insights: InsightsView<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CustomerView<'a> {
    account_name: Option<&'a str>,
    company_size: Option<&'a str>,
    country: Option<&'a str>,
    customer_account_planning_qualification: Option<&'a str>,
    account_planning_qualification: Option<&'a str>,
    eligible_programs: &'a [String],
    geo: Option<&'a str>,
    industry: Option<&'a str>,
    region: Option<&'a str>,
    sector: Option<&'a str>,
    segment: Option<&'a str>,
    sub_industry: Option<&'a str>,
    sub_region: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InsightsView<'a> {
    marketplace_engagement_score: Option<&'a str>,
    solution_category: Option<&'a str>,
    solution_score: Option<&'a str>,
    solution_sub_category: Option<&'a str>,
}

impl<'a> EnrichmentView<'a> {
    fn of(e: &'a Enrichment) -> EnrichmentView<'a> {
        EnrichmentView {
            customer: CustomerView {
                account_name: e.account_name.as_deref(),
                company_size: e.company_size.as_deref(),
                country: e.country.as_deref(),
                customer_account_planning_qualification: e.account_planning_qualification.as_deref(),
                account_planning_qualification: e.account_planning_qualification.as_deref(),
                eligible_programs: &e.eligible_programs,
                geo: e.geo.as_deref(),
                industry: e.industry.as_deref(),
                region: e.region.as_deref(),
                sector: e.sector.as_deref(),
                segment: e.segment.as_deref(),
                sub_industry: e.sub_industry.as_deref(),
                sub_region: e.sub_region.as_deref(),
            },
            insights: InsightsView {
                marketplace_engagement_score: e.marketplace_engagement_score.as_deref(),
                solution_category: e.solution_category.as_deref(),
                solution_score: e.solution_score.as_deref(),
                solution_sub_category: e.solution_sub_category.as_deref(),
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCustomerAccountResponse<'a> {
    account: &'a AccountData,
    arn: String,
    aws_enrichment: Option<EnrichmentView<'a>>,
    catalog: &'static str,
    created_date: String,
    enrichment_status: &'static str,
    existing_customer_account_arn: Option<String>,
    id: &'a str,
    #[serde(skip_serializing_if = "<[Issue]>::is_empty")]
    issues: &'a [Issue],
    last_modified_date: String,
    message: Option<&'a str>,
    partner_account_identifier: Option<&'a str>,
    reason_code: Option<&'a str>,
    tags: &'a [Tag],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CustomerAccountSummary<'a> {
    arn: String,
    aws_enrichment: Option<EnrichmentView<'a>>,
    catalog: &'static str,
    created_date: String,
    customer_account: CompanyName<'a>,
    enrichment_status: &'static str,
    id: &'a str,
    last_modified_date: String,
    partner_account_identifier: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CompanyName<'a> {
    company_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SearchCustomerAccountsResponse<'a> {
    customer_account_summaries: Vec<CustomerAccountSummary<'a>>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCustomerAccountStatisticsResponse {
    aggregations: Vec<AggregationResult>,
    total_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AggregationResult {
    buckets: Vec<Bucket>,
    group_by: Vec<String>,
    other_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Bucket {
    count: usize,
    values: Vec<String>,
}

/// The enrichment a partner sees: an `ENRICHED` account's (`settle` keeps none otherwise).
fn shown_enrichment(a: &CustomerAccount) -> Option<EnrichmentView<'_>> {
    a.enrichment.as_ref().map(EnrichmentView::of)
}

fn check_account(account: &AccountData) -> Result<(), ApiError> {
    account.check().map_err(|message| {
        ApiError::request_validation(vec![FieldError::new("Account.CompanyName", FieldErrorCode::InvalidValue, message)])
    })
}

pub async fn create(r: Request) -> ApiResult {
    crate::governance::refuse_if_terminated(&r.state, "new customer accounts").await?;
    let tokened = r.str("ClientToken").is_some();
    if tokened {
        if let Some(previous) = replayed(&r).await? {
            return Ok(Output::Json(previous));
        }
    }
    let input: CreateCustomerAccountRequest = r.parse()?;
    check_account(&input.account)?;
    let tag_errors = check_tags(&[], &input.tags, "Tags");
    if !tag_errors.is_empty() {
        return Err(ApiError::request_validation(tag_errors));
    }
    let partner = &r.caller.partner;
    let account = CustomerAccount::new(
        new_id(),
        r.catalog,
        (&partner.id, &partner.account_id),
        input.account,
        input.partner_account_identifier,
        input.tags,
        r.state.now(),
    );
    let Output::Json(response) = r.respond(&Written::of(&account))? else {
        return Err(ApiError::Internal("CreateCustomerAccount answers a body".into()));
    };
    let (catalog, id) = (account.catalog, account.id.clone());
    let batch = WriteBatch { insert_customer_accounts: vec![account], ..Default::default() };
    let output = if tokened {
        commit_claiming(&r, batch, response, "The customer account changed meanwhile; retry.").await?
    } else {
        r.commit(batch).await?;
        Output::Json(response)
    };
    // A replayed token wrote nothing: matching finds no account by the new id and does nothing.
    start_matching(&r.state, catalog, id);
    Ok(output)
}

pub async fn get(r: Request) -> ApiResult {
    let input: Identified = r.parse()?;
    let a = load(&r.state, &r.caller.partner, r.catalog, &input.identifier).await?;
    r.respond(&GetCustomerAccountResponse {
        account: &a.data,
        arn: a.arn(),
        aws_enrichment: shown_enrichment(&a),
        catalog: a.catalog.as_str(),
        created_date: format_timestamp(a.created),
        enrichment_status: a.status.as_str(),
        existing_customer_account_arn: a
            .existing_account_id
            .as_deref()
            .map(|id| ace_domain::customer_account::arn(&a.account_id, a.catalog, id)),
        id: &a.id,
        issues: &a.issues,
        last_modified_date: format_timestamp(a.modified),
        message: a.message.as_deref(),
        partner_account_identifier: a.partner_account_identifier.as_deref(),
        reason_code: a.reason_code.as_deref(),
        tags: &a.tags,
    })
}

pub async fn update(r: Request) -> ApiResult {
    let input: UpdateCustomerAccountRequest = r.parse()?;
    check_account(&input.account)?;
    let last_read = parse_timestamp(&input.last_modified_date)
        .ok_or_else(|| ApiError::Internal("LastModifiedDate passed the model check but does not parse".into()))?;
    let mut a = load(&r.state, &r.caller.partner, r.catalog, &input.identifier).await?;
    a.replace(input.account, input.partner_account_identifier, last_read, r.state.now()).map_err(ApiError::Conflict)?;
    let output = r.respond(&Written::of(&a))?;
    let (catalog, id) = (a.catalog, a.id.clone());
    match r.commit(WriteBatch { update_customer_accounts: vec![a], ..Default::default() }).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(format!("Customer account {id} changed meanwhile; get it and retry.")));
        }
        Err(e) => return Err(e.into()),
    }
    start_matching(&r.state, catalog, id);
    Ok(output)
}

/// Idempotent: an account already deleted, never created, or not the caller's answers the same
/// (USE-4: nothing tells another partner's account from none).
pub async fn delete(r: Request) -> ApiResult {
    let input: Identified = r.parse()?;
    match load(&r.state, &r.caller.partner, r.catalog, &input.identifier).await {
        Ok(a) => {
            r.commit(WriteBatch { delete_customer_accounts: vec![(a.catalog, a.id)], ..Default::default() }).await?;
        }
        Err(crate::app::AppError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    r.respond(&NoMembers {})
}

/// The caller's accounts that pass the filter (checked first: a bad tree reads nothing).
async fn filtered(r: &Request, filter: Option<&Filter>) -> Result<Vec<CustomerAccount>, ApiError> {
    if let Some(f) = filter {
        filter::check::<CustomerAccount>(f, "Filter", FILTER_SHAPE).map_err(ApiError::request_validation)?;
    }
    let mut accounts = of_partner(&r.state, &r.caller.partner, r.catalog).await?;
    if let Some(f) = filter {
        accounts.retain(|a| filter::matches(f, a));
    }
    Ok(accounts)
}

pub async fn search(r: Request) -> ApiResult {
    let input: SearchCustomerAccountsRequest = r.parse()?;
    let mut accounts = filtered(&r, input.filter.as_ref()).await?;
    let (by, descending) =
        input.sort.as_ref().map_or(("LAST_MODIFIED_DATE", true), |s| (s.sort_by.as_str(), s.sort_order == "DESCENDING"));
    sort(&mut accounts, by, descending);
    let (page, next_token) = page_of(&r, accounts, 20)?;
    let summaries = page
        .iter()
        .map(|a| CustomerAccountSummary {
            arn: a.arn(),
            aws_enrichment: shown_enrichment(a),
            catalog: a.catalog.as_str(),
            created_date: format_timestamp(a.created),
            customer_account: CompanyName { company_name: &a.data.company_name },
            enrichment_status: a.status.as_str(),
            id: &a.id,
            last_modified_date: format_timestamp(a.modified),
            partner_account_identifier: a.partner_account_identifier.as_deref(),
        })
        .collect();
    r.respond(&SearchCustomerAccountsResponse { customer_account_summaries: summaries, next_token })
}

pub async fn statistics(r: Request) -> ApiResult {
    let input: GetCustomerAccountStatisticsRequest = r.parse()?;
    let accounts = filtered(&r, input.filter.as_ref()).await?;
    let refs: Vec<&CustomerAccount> = accounts.iter().collect();
    let aggregations = input
        .aggregations
        .iter()
        .map(|a| {
            // The model allows exactly one field per aggregation.
            let key = a.group_by.first().map(String::as_str).unwrap_or_default();
            let (groups, other_count) = aggregate(&refs, key, input.include_missing);
            AggregationResult {
                buckets: groups.into_iter().map(|(value, count)| Bucket { count, values: vec![value] }).collect(),
                group_by: a.group_by.clone(),
                other_count,
            }
        })
        .collect();
    r.respond(&GetCustomerAccountStatisticsResponse { aggregations, total_count: accounts.len() })
}
