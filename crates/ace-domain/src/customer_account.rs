//! Customer accounts (issue 20): a partner maps a customer of its own records to a customer the
//! operator knows, and the operator enriches it. Matching runs after the write, against the
//! operator's customer records (its pipeline) with the identity engine SUB-2 uses — registrable
//! domain, DUNS, normalised name and country — and ends:
//!
//! * `ENRICHED` — one customer of the operator's records is the best match: its enrichment data
//!   is the account's;
//! * `ACTION_REQUIRED` — the partner already maps this customer in another account
//!   (`DUPLICATE_CUSTOMER_MATCH`, naming it), or several customers match equally well (an issue
//!   says which fields would decide);
//! * `NO_MATCH_FOUND`.
//!
//! A partner sees only its own accounts (USE-4): duplicates are looked for among its own, and
//! the operator's record an account matched is never shown, only its enrichment data.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::filter::{Field, Fields, Kind, Shape};
use crate::identity::{match_identities, CustomerIdentity, MatchReason, PipelineRecord};
use crate::ids::{Catalog, REGION};
use crate::opportunity::Tag;
use crate::time::Instant;

/// Ids are `cust-acc-` and 13 characters of `[0-9a-z]` (the model's `CustomerAccountId`).
pub const ID_PREFIX: &str = "cust-acc-";
pub const ID_BODY_CHARS: usize = 13;

/// `arn:aws:partnercentral:us-east-1:<account>:catalog/<Catalog>/customer-account/<id>`.
pub fn arn(account_id: &str, catalog: Catalog, id: &str) -> String {
    format!("arn:aws:partnercentral:{REGION}:{account_id}:catalog/{catalog}/customer-account/{id}")
}

/// The model's `EnrichmentStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Pending,
    Enriched,
    NoMatchFound,
    ActionRequired,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Pending, Status::Enriched, Status::NoMatchFound, Status::ActionRequired];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Enriched => "ENRICHED",
            Status::NoMatchFound => "NO_MATCH_FOUND",
            Status::ActionRequired => "ACTION_REQUIRED",
        }
    }
}

/// The model's `Address` as a customer account holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_or_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
}

/// The model's `CustomerAccountData`: what the partner says about its customer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    pub company_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
}

impl AccountData {
    /// The identity SUB-2 matches on: the domain (or else the website's), DUNS, name, country.
    pub fn identity(&self) -> CustomerIdentity {
        let web = self.domain.as_deref().or(self.website_url.as_deref());
        let country = self.address.as_ref().and_then(|a| a.country_code.as_deref());
        CustomerIdentity::new(&self.company_name, web, self.duns.as_deref(), country)
    }

    /// What the model leaves open and matching needs: a name that is not blank.
    pub fn check(&self) -> Result<(), String> {
        if self.company_name.trim().is_empty() {
            return Err("Account.CompanyName: the company name must not be blank".into());
        }
        Ok(())
    }
}

/// The operator's enrichment data about one of its customers (the model's `AwsEnrichment`:
/// recorded facts and computed insights), carried by the operator's customer record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enrichment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_planning_qualification: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eligible_programs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace_engagement_score: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution_score: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution_sub_category: Option<String>,
}

/// The values a score takes (`High`, `Medium`, `Low`): what a score field must hold, and their
/// order for sorting (unknown and missing last whichever way).
pub const SCORES: [&str; 3] = ["High", "Medium", "Low"];

impl Enrichment {
    /// The record's enrichment data, its own name and country filling in where that data gives
    /// none.
    pub fn of_record(record: &PipelineRecord) -> Enrichment {
        let mut e = record.enrichment.clone().unwrap_or_default();
        e.account_name.get_or_insert_with(|| record.company_name.clone());
        if e.country.is_none() {
            e.country = record.country.clone();
        }
        e
    }

    /// Checks what an operator imports: scores are one of [`SCORES`].
    pub fn check(&self) -> Result<(), String> {
        for (name, score) in
            [("marketplace engagement score", &self.marketplace_engagement_score), ("solution score", &self.solution_score)]
        {
            if let Some(s) = score {
                if !SCORES.contains(&s.as_str()) {
                    return Err(format!("{name} must be one of High, Medium, Low (got {s:?})"));
                }
            }
        }
        Ok(())
    }
}

/// The model's `Issue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Issue {
    pub code: String,
    pub message: String,
    pub severity: String,
}

/// `ReasonCode` when the partner already maps the customer in another account.
pub const DUPLICATE_CUSTOMER_MATCH: &str = "DUPLICATE_CUSTOMER_MATCH";

/// A customer account as the system of record holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerAccount {
    pub id: String,
    pub catalog: Catalog,
    pub partner_id: String,
    /// The partner's AWS account, for the ARN.
    pub account_id: String,
    #[serde(default)]
    pub partner_account_identifier: Option<String>,
    pub data: AccountData,
    pub status: Status,
    #[serde(default)]
    pub enrichment: Option<Enrichment>,
    /// The operator's record it matched: the operator's to see, never the partner's.
    #[serde(default)]
    pub matched_record: Option<String>,
    /// With `DUPLICATE_CUSTOMER_MATCH`: the partner's account that already maps the customer.
    #[serde(default)]
    pub existing_account_id: Option<String>,
    #[serde(default)]
    pub reason_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub issues: Vec<Issue>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub created: Instant,
    /// When the partner last changed it: matching does not move it, so the optimistic lock of
    /// `UpdateCustomerAccount` is on the partner's own writes.
    pub modified: Instant,
    /// Every stored change takes the next; a write must still see the version it read.
    pub version: i64,
}

impl CustomerAccount {
    pub fn new(
        id: String,
        catalog: Catalog,
        partner: (&str, &str),
        data: AccountData,
        partner_account_identifier: Option<String>,
        tags: Vec<Tag>,
        now: Instant,
    ) -> CustomerAccount {
        CustomerAccount {
            id,
            catalog,
            partner_id: partner.0.to_string(),
            account_id: partner.1.to_string(),
            partner_account_identifier,
            data,
            status: Status::Pending,
            enrichment: None,
            matched_record: None,
            existing_account_id: None,
            reason_code: None,
            message: None,
            issues: Vec::new(),
            tags,
            created: now,
            modified: now,
            version: 1,
        }
    }

    pub fn arn(&self) -> String {
        arn(&self.account_id, self.catalog, &self.id)
    }

    /// `UpdateCustomerAccount`: the partner's details replace the old ones and matching starts
    /// again. `ConflictException` (`Err`) when the account changed since the `LastModifiedDate`
    /// the caller read.
    pub fn replace(
        &mut self,
        data: AccountData,
        partner_account_identifier: Option<String>,
        last_read: Instant,
        now: Instant,
    ) -> Result<(), String> {
        if last_read.timestamp_millis() != self.modified.timestamp_millis() {
            return Err(format!(
                "Customer account {} was modified at {} after the LastModifiedDate given; get it and retry",
                self.id,
                crate::time::format_timestamp(self.modified)
            ));
        }
        self.data = data;
        if partner_account_identifier.is_some() {
            self.partner_account_identifier = partner_account_identifier;
        }
        self.settle(Outcome::Pending);
        // Never the same instant twice, so a stale LastModifiedDate always conflicts.
        self.modified = now.max(self.modified + chrono::TimeDelta::milliseconds(1));
        Ok(())
    }

    /// Records what matching found (or, with [`Outcome::Pending`], clears it).
    pub fn settle(&mut self, outcome: Outcome) {
        self.enrichment = None;
        self.matched_record = None;
        self.existing_account_id = None;
        self.reason_code = None;
        self.message = None;
        self.issues.clear();
        match outcome {
            Outcome::Pending => self.status = Status::Pending,
            Outcome::Enriched { record_id, enrichment } => {
                self.status = Status::Enriched;
                self.matched_record = Some(record_id);
                self.enrichment = Some(*enrichment);
            }
            Outcome::NoMatch => self.status = Status::NoMatchFound,
            Outcome::Duplicate { existing_id } => {
                self.status = Status::ActionRequired;
                self.reason_code = Some(DUPLICATE_CUSTOMER_MATCH.into());
                self.message =
                    Some(format!("Customer account {existing_id} already maps this customer: update or delete one of the two."));
                self.existing_account_id = Some(existing_id);
            }
            Outcome::Ambiguous { message, issues } => {
                self.status = Status::ActionRequired;
                self.message = Some(message);
                self.issues = issues;
            }
        }
    }
}

/// What matching found for one account.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pending,
    Enriched { record_id: String, enrichment: Box<Enrichment> },
    NoMatch,
    Duplicate { existing_id: String },
    Ambiguous { message: String, issues: Vec<Issue> },
}

/// How strong a match is: lower is stronger.
fn strength(reason: &MatchReason) -> u8 {
    match reason {
        MatchReason::Duns { .. } => 0,
        MatchReason::Domain { .. } => 1,
        MatchReason::NameAndCountry { .. } => 2,
        MatchReason::SimilarName { .. } => 3,
    }
}

/// Decides one account's match. `own` are the partner's other accounts in the catalog (any
/// status); `records` the operator's customer records that may match (the store's candidates).
/// A duplicate is another account of the partner's — already matched, or older — naming the same
/// customer by DUNS, domain, or name and country (not by a similar name alone); the oldest is
/// named.
pub fn decide(account: &CustomerAccount, own: &[CustomerAccount], records: &[PipelineRecord]) -> Outcome {
    let identity = account.data.identity();
    let duplicate = own
        .iter()
        // An account already matched (and not itself a duplicate) makes this one a duplicate;
        // of two still pending, only the older does, so of two created together the older is
        // matched and the newer names it, whichever is matched first.
        .filter(|o| {
            o.id != account.id && o.catalog == account.catalog && o.reason_code.as_deref() != Some(DUPLICATE_CUSTOMER_MATCH)
        })
        .filter(|o| o.status != Status::Pending || (o.created, &o.id) < (account.created, &account.id))
        .filter(|o| {
            match_identities(&identity, &o.data.identity()).is_some_and(|r| !matches!(r, MatchReason::SimilarName { .. }))
        })
        .min_by_key(|o| (o.created, o.id.clone()));
    if let Some(existing) = duplicate {
        return Outcome::Duplicate { existing_id: existing.id.clone() };
    }
    let mut matched: Vec<(u8, &PipelineRecord)> =
        records.iter().filter_map(|r| match_identities(&identity, &r.identity()).map(|reason| (strength(&reason), r))).collect();
    let Some(best) = matched.iter().map(|(s, _)| *s).min() else {
        return Outcome::NoMatch;
    };
    matched.retain(|(s, _)| *s == best);
    matched.sort_by(|a, b| a.1.external_id.cmp(&b.1.external_id));
    matched.dedup_by(|a, b| a.1.external_id == b.1.external_id);
    if let [(_, record)] = matched.as_slice() {
        return Outcome::Enriched { record_id: record.external_id.clone(), enrichment: Box::new(Enrichment::of_record(record)) };
    }
    let candidates: Vec<&PipelineRecord> = matched.iter().map(|(_, r)| *r).collect();
    let differ = |f: fn(&PipelineRecord) -> Option<String>| {
        let values: std::collections::BTreeSet<Option<String>> = candidates.iter().map(|r| f(r)).collect();
        values.len() > 1
    };
    let mut deciding = Vec::new();
    if identity.duns.is_none() && differ(|r| r.identity().duns) {
        deciding.push("Account.Duns");
    }
    if identity.domain.is_none() && differ(|r| r.identity().domain) {
        deciding.push("Account.Domain");
    }
    if identity.country.is_none() && differ(|r| r.identity().country) {
        deciding.push("Account.Address.CountryCode");
    }
    let how = match best {
        0 => "DUNS number",
        1 => "domain",
        2 => "company name and country",
        _ => "a similar company name",
    };
    let message = if deciding.is_empty() {
        format!(
            "{} customers match this account by {how} equally well and nothing it could add would decide; ask the program to resolve it.",
            candidates.len()
        )
    } else {
        format!(
            "{} customers match this account by {how} equally well; give {} to decide, then update the account.",
            candidates.len(),
            deciding.join(" or ")
        )
    };
    let issues = vec![Issue { code: "MULTIPLE_CUSTOMER_MATCHES".into(), message: message.clone(), severity: "ERROR".into() }];
    Outcome::Ambiguous { message, issues }
}

/// The model's `FilterableField` for `SearchCustomerAccounts` and `GetCustomerAccountStatistics`.
impl Fields for CustomerAccount {
    fn kind(key: &str) -> Option<Kind> {
        Some(match key {
            "COMPANY_NAME" => Kind::Text,
            "ENRICHMENT_STATUS"
            | "AWS_INDUSTRY"
            | "ACCOUNT_PLANNING_QUALIFICATION"
            | "IMPORT_ID"
            | "GEO"
            | "COUNTRY"
            | "SEGMENT"
            | "SOLUTION_CATEGORY"
            | "MARKETPLACE_ENGAGEMENT_SCORE"
            | "SOLUTION_SCORE"
            | "REGION" => Kind::Keyword,
            "PROGRAM_ELIGIBILITY" => Kind::Set,
            "CREATED_DATE" | "LAST_MODIFIED_DATE" => Kind::Time,
            _ => return None,
        })
    }

    fn field(&self, key: &str) -> Field<'_> {
        let enriched = |f: fn(&Enrichment) -> &Option<String>| {
            self.enrichment.as_ref().and_then(|e| f(e).as_deref()).map_or(Field::Missing, Field::Text)
        };
        match key {
            "COMPANY_NAME" => Field::Text(&self.data.company_name),
            "ENRICHMENT_STATUS" => Field::Text(self.status.as_str()),
            "CREATED_DATE" => Field::Time(self.created),
            "LAST_MODIFIED_DATE" => Field::Time(self.modified),
            "AWS_INDUSTRY" => enriched(|e| &e.industry),
            "ACCOUNT_PLANNING_QUALIFICATION" => enriched(|e| &e.account_planning_qualification),
            "GEO" => enriched(|e| &e.geo),
            "COUNTRY" => enriched(|e| &e.country),
            "SEGMENT" => enriched(|e| &e.segment),
            "REGION" => enriched(|e| &e.region),
            "SOLUTION_CATEGORY" => enriched(|e| &e.solution_category),
            "MARKETPLACE_ENGAGEMENT_SCORE" => enriched(|e| &e.marketplace_engagement_score),
            "SOLUTION_SCORE" => enriched(|e| &e.solution_score),
            "PROGRAM_ELIGIBILITY" => self
                .enrichment
                .as_ref()
                .filter(|e| !e.eligible_programs.is_empty())
                .map_or(Field::Missing, |e| Field::Set(&e.eligible_programs)),
            // Accounts come from single calls until customer-account bulk jobs land: no import.
            _ => Field::Missing,
        }
    }
}

/// The customer accounts' `Filter`: one member per node (the model's documentation), nested at
/// most five levels deep (the model sets no depth; five is this server's limit).
pub const FILTER_SHAPE: Shape = Shape { one_member_per_node: true, max_depth: 5, max_leaves: None };

/// A score's rank for sorting: High, Medium, Low, then anything else.
fn score_rank(score: Option<&str>) -> usize {
    score.and_then(|s| SCORES.iter().position(|x| x.eq_ignore_ascii_case(s))).unwrap_or(SCORES.len())
}

/// Orders accounts by the model's `SortableField`; ties by id. Scores sort High first when
/// descending ("the most likely first") and Low first when ascending; missing scores last.
pub fn sort(accounts: &mut [CustomerAccount], by: &str, descending: bool) {
    let directed = |o: Ordering| if descending { o.reverse() } else { o };
    let score: Option<fn(&Enrichment) -> &Option<String>> = match by {
        "MARKETPLACE_ENGAGEMENT_SCORE" => Some(|e| &e.marketplace_engagement_score),
        "SOLUTION_SCORE" => Some(|e| &e.solution_score),
        _ => None,
    };
    accounts.sort_by(|a, b| match score {
        Some(f) => {
            let rank = |x: &CustomerAccount| score_rank(x.enrichment.as_ref().and_then(|e| f(e).as_deref()));
            let (x, y) = (rank(a), rank(b));
            let missing = SCORES.len();
            // Missing last either way; ascending is Low first (the higher rank).
            (x == missing).cmp(&(y == missing)).then_with(|| directed(y.cmp(&x))).then_with(|| a.id.cmp(&b.id))
        }
        None => {
            let primary = match by {
                "COMPANY_NAME" => a.data.company_name.to_lowercase().cmp(&b.data.company_name.to_lowercase()),
                "CREATED_DATE" => a.created.cmp(&b.created),
                _ => a.modified.cmp(&b.modified),
            };
            directed(primary.then_with(|| a.id.cmp(&b.id)))
        }
    });
}

/// The model's `AggregatableField`: the values an account counts under when grouped by `key`
/// (several for eligible programs; none when it has no value).
pub fn group_values(account: &CustomerAccount, key: &str) -> Vec<String> {
    match account.field(key) {
        Field::Text(t) => vec![t.to_string()],
        Field::Set(values) => values.to_vec(),
        _ => Vec::new(),
    }
}

/// The value a group of accounts without a value is counted under, when `IncludeMissing` asks.
pub const MISSING_VALUE: &str = "MISSING";

/// At most this many groups per aggregation; the rest are counted in `OtherCount`.
pub const BUCKETS_MAX: usize = 20;

/// One aggregation's groups, largest first (ties by value), and the count of accounts whose
/// values fell beyond [`BUCKETS_MAX`].
pub fn aggregate(accounts: &[&CustomerAccount], key: &str, include_missing: bool) -> (Vec<(String, usize)>, usize) {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for a in accounts {
        let values = group_values(a, key);
        if values.is_empty() {
            if include_missing {
                *counts.entry(MISSING_VALUE.to_string()).or_default() += 1;
            }
            continue;
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in values {
            if seen.insert(v.clone()) {
                *counts.entry(v).or_default() += 1;
            }
        }
    }
    let mut groups: Vec<(String, usize)> = counts.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other = groups.iter().skip(BUCKETS_MAX).map(|(_, n)| n).sum();
    groups.truncate(BUCKETS_MAX);
    (groups, other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    fn data(name: &str, domain: Option<&str>, duns: Option<&str>, country: Option<&str>) -> AccountData {
        AccountData {
            company_name: name.into(),
            domain: domain.map(String::from),
            duns: duns.map(String::from),
            address: country.map(|c| Address { country_code: Some(c.into()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn account(id: &str, d: AccountData, ms: i64) -> CustomerAccount {
        CustomerAccount::new(id.into(), Catalog::Sandbox, ("p1", "111122223333"), d, None, vec![], from_millis(ms))
    }

    fn record(id: &str, name: &str, web: Option<&str>, duns: Option<&str>, country: Option<&str>) -> PipelineRecord {
        PipelineRecord {
            external_id: id.into(),
            company_name: name.into(),
            website: web.map(String::from),
            country: country.map(String::from),
            duns: duns.map(String::from),
            stage: "Closed Won".into(),
            owner: None,
            enrichment: Some(Enrichment {
                industry: Some("Retail".into()),
                segment: Some("Enterprise".into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn one_best_match_enriches_with_the_operators_data() {
        let a = account("cust-acc-1", data("Acme Widgets Inc.", Some("acme.com"), None, Some("US")), 1);
        let records = [
            record("R1", "ACME Widgets", Some("https://www.acme.com"), None, Some("US")),
            record("R2", "Other", None, None, None),
        ];
        match decide(&a, &[], &records) {
            Outcome::Enriched { record_id, enrichment } => {
                assert_eq!(record_id, "R1");
                assert_eq!(enrichment.industry.as_deref(), Some("Retail"));
                assert_eq!(enrichment.account_name.as_deref(), Some("ACME Widgets"), "the record's own name");
                assert_eq!(enrichment.country.as_deref(), Some("US"));
            }
            other => panic!("expected ENRICHED, got {other:?}"),
        }
    }

    #[test]
    fn the_strongest_reason_wins_over_weaker_matches() {
        let a = account("cust-acc-1", data("Acme Widgets", Some("acme.com"), Some("123456789"), Some("US")), 1);
        let records = [record("R1", "Acme Widgets", None, None, Some("US")), record("R2", "Zeta", None, Some("123456789"), None)];
        assert!(
            matches!(decide(&a, &[], &records), Outcome::Enriched { record_id, .. } if record_id == "R2"),
            "DUNS beats the name"
        );
    }

    #[test]
    fn no_candidate_is_no_match() {
        let a = account("cust-acc-1", data("Nobody Known", None, None, Some("US")), 1);
        assert_eq!(decide(&a, &[], &[record("R1", "Acme", None, None, Some("US"))]), Outcome::NoMatch);
    }

    #[test]
    fn several_equal_matches_need_action_and_say_which_fields_decide() {
        let a = account("cust-acc-1", data("Acme Widgets", None, None, Some("US")), 1);
        let records = [
            record("R1", "Acme Widgets LLC", Some("acme.com"), Some("111111111"), Some("US")),
            record("R2", "ACME Widgets", Some("acme-widgets.com"), Some("222222222"), Some("US")),
        ];
        match decide(&a, &[], &records) {
            Outcome::Ambiguous { message, issues } => {
                assert!(
                    message.contains("2 customers") && message.contains("Account.Duns") && message.contains("Account.Domain"),
                    "{message}"
                );
                assert!(!message.contains("CountryCode"), "the country is given and equal: it decides nothing");
                assert_eq!(issues[0].code, "MULTIPLE_CUSTOMER_MATCHES");
            }
            other => panic!("expected ACTION_REQUIRED, got {other:?}"),
        }
        let mut settled = a.clone();
        settled.settle(decide(&a, &[], &records));
        assert_eq!(settled.status, Status::ActionRequired);
        assert!(settled.reason_code.is_none(), "not a duplicate");
    }

    #[test]
    fn use_4_a_duplicate_is_one_of_the_partners_own_accounts_the_oldest_named() {
        let first = account("cust-acc-1", data("Acme", Some("acme.com"), None, None), 1);
        let second = account("cust-acc-2", data("Acme Corp", Some("www.acme.com"), None, None), 2);
        let third = account("cust-acc-3", data("ACME", Some("acme.com"), None, None), 3);
        let outcome = decide(&third, &[second.clone(), first.clone(), third.clone()], &[]);
        assert_eq!(outcome, Outcome::Duplicate { existing_id: "cust-acc-1".into() });
        let mut settled = third.clone();
        settled.settle(outcome);
        assert_eq!((settled.status, settled.reason_code.as_deref()), (Status::ActionRequired, Some(DUPLICATE_CUSTOMER_MATCH)));
        assert_eq!(settled.existing_account_id.as_deref(), Some("cust-acc-1"));
        let similar_only = account("cust-acc-4", data("Acme Widgetz", None, None, None), 4);
        let widgets = account("cust-acc-5", data("Acme Widgets", None, None, None), 5);
        assert_eq!(decide(&similar_only, &[widgets], &[]), Outcome::NoMatch, "a similar name alone is no duplicate");
        assert!(
            !matches!(decide(&first, &[second.clone(), third.clone()], &[]), Outcome::Duplicate { .. }),
            "the oldest is no duplicate of the newer ones still pending"
        );
        let mut matched_later = account("cust-acc-0", data("Acme", Some("acme.com"), None, None), 1);
        matched_later.settle(Outcome::NoMatch);
        assert_eq!(
            decide(&first, &[matched_later.clone()], &[]),
            Outcome::Duplicate { existing_id: "cust-acc-0".into() },
            "an account already matched makes a new one a duplicate, whatever their instants"
        );
        let mut duplicate = second.clone();
        duplicate.settle(Outcome::Duplicate { existing_id: "cust-acc-1".into() });
        assert!(!matches!(decide(&first, &[duplicate], &[]), Outcome::Duplicate { .. }), "a duplicate names no other");
    }

    #[test]
    fn an_update_needs_the_last_modified_date_read_and_starts_matching_again() {
        let mut a = account("cust-acc-1", data("Acme", None, None, None), 1_000);
        a.settle(Outcome::NoMatch);
        let stale = from_millis(999);
        assert!(a.replace(data("Acme", Some("acme.com"), None, None), None, stale, from_millis(2_000)).is_err());
        a.replace(data("Acme", Some("acme.com"), None, None), Some("crm-9".into()), from_millis(1_000), from_millis(1_000))
            .unwrap();
        assert_eq!(a.status, Status::Pending);
        assert_eq!(a.partner_account_identifier.as_deref(), Some("crm-9"));
        assert!(a.modified > from_millis(1_000), "a write at the same instant still moves LastModifiedDate");
    }

    #[test]
    fn scores_sort_high_first_descending_and_missing_last_both_ways() {
        let scored = |id: &str, s: Option<&str>| {
            let mut a = account(id, data(id, None, None, None), 1);
            a.enrichment = Some(Enrichment { solution_score: s.map(String::from), ..Default::default() });
            a
        };
        let mut rows = vec![scored("a", Some("Low")), scored("b", None), scored("c", Some("High")), scored("d", Some("Medium"))];
        sort(&mut rows, "SOLUTION_SCORE", true);
        assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["c", "d", "a", "b"]);
        sort(&mut rows, "SOLUTION_SCORE", false);
        assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "d", "c", "b"]);
    }

    #[test]
    fn aggregation_counts_each_value_and_the_missing_on_request() {
        let with = |id: &str, industry: Option<&str>, programs: &[&str]| {
            let mut a = account(id, data(id, None, None, None), 1);
            a.enrichment = Some(Enrichment {
                industry: industry.map(String::from),
                eligible_programs: programs.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            });
            a
        };
        let rows = [with("a", Some("Retail"), &["MAP"]), with("b", Some("Retail"), &["MAP", "ISV"]), with("c", None, &[])];
        let refs: Vec<&CustomerAccount> = rows.iter().collect();
        assert_eq!(aggregate(&refs, "AWS_INDUSTRY", false), (vec![("Retail".into(), 2)], 0));
        assert_eq!(aggregate(&refs, "AWS_INDUSTRY", true), (vec![("Retail".into(), 2), (MISSING_VALUE.into(), 1)], 0));
        assert_eq!(aggregate(&refs, "PROGRAM_ELIGIBILITY", false), (vec![("MAP".into(), 2), ("ISV".into(), 1)], 0));
    }

    /// The filterable, sortable and aggregatable fields are the model's, every one known here.
    #[test]
    fn fields_are_the_models() {
        let model = crate::model::Model::get();
        for key in model.enum_values("FilterableField").unwrap() {
            assert!(CustomerAccount::kind(key).is_some(), "{key} is filterable in the model");
        }
        for key in model.enum_values("AggregatableField").unwrap() {
            assert!(CustomerAccount::kind(key).is_some(), "{key} is aggregatable in the model");
        }
        assert_eq!(model.enum_values("EnrichmentStatus").unwrap().to_vec(), Status::ALL.map(|s| s.as_str().to_string()).to_vec());
        for key in model.enum_values("SortableField").unwrap() {
            assert!(
                ["COMPANY_NAME", "CREATED_DATE", "LAST_MODIFIED_DATE", "MARKETPLACE_ENGAGEMENT_SCORE", "SOLUTION_SCORE"]
                    .contains(&key.as_str()),
                "{key}"
            );
        }
    }
}
