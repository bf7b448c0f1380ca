//! SearchOpportunities (issue 20): what a search reads of an opportunity, its words for the
//! engines' full-text indexes, the keyword as index terms, the model's filter tree over the
//! searchable fields, the sort and the keyset cursor. Pure: the store keeps one [`Entry`] and
//! one line of [`words`] per opportunity, written in the same transaction as the opportunity,
//! and hands a search the entries of the caller's own opportunities (USE-4) that its index
//! found for the keyword.
//!
//! Fields as the filter reads them (the model names them, not what they mean):
//! `CustomerCompanyName`, `PartnerProjectTitle` and `NextStep` are text (containment is a
//! substring test); `Stage`, `ReviewStatus`, `CountryCode`, `OpportunityType`, `Industry`,
//! `Origin`, `CosellMotion` (the operator's involvement: the submission's `InvolvementType`,
//! `Co-Sell` for an accepted AWS referral), `AwsAccountId`, `OpportunityId` and
//! `PartnerOpportunityIdentifier` are whole values; `ApnPrograms`, `OfferId`, `OfferSetId`,
//! `AwsMarketplaceSolution`, `Tags` (each as `Key=Value`) and `OpportunityOwner` (the team
//! members titled `OpportunityOwner`, by full name and by email) are sets; the three dates are
//! times (`TargetCloseDate` at midnight UTC); `EstimatedMrr` is the sum of the expected monthly
//! spend (amounts as given, currencies not converted). `EngagementScore` is the operator's
//! insight, which this server does not score: no opportunity has one.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::filter::{Field, Fields, Kind, Shape};
use crate::ids::{opportunity_number, Catalog};
use crate::listing::{self, SortKey};
use crate::model::{FieldError, FieldErrorCode};
use crate::opportunity::{Opportunity, Origin};
use crate::time::{from_millis, parse_date, Instant};

pub use crate::filter::Filter;

/// The model's limits on `OpportunitySearchFilter`: one member per node, combinators nested at
/// most three deep, at most 20 conditions in one tree.
pub const SHAPE: Shape = Shape { one_member_per_node: true, max_depth: 3, max_leaves: Some(20) };

/// Words a keyword of only these finds nothing by: refused, not answered with everything.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "in", "into", "is", "it",
    "its", "of", "on", "or", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "were", "will",
    "with",
];

/// A keyword's terms beyond this are not searched for: the index intersects each.
pub const MAX_TERMS: usize = 16;

/// A word longer than this is cut to it (in the index and in a keyword alike).
const MAX_WORD_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamMember {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub amount: String,
    pub currency_code: String,
}

/// What a search reads of one opportunity: the fields it filters and sorts on and the summary
/// it answers with. Stored beside the opportunity, rewritten with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub review_status: String,
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_opportunity_identifier: Option<String>,
    /// `YYYY-MM-DD`, as the document holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_close_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_steps: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosell_motion: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apn_programs: Vec<String>,
    /// `Key=Value`, in the record's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_sets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marketplace_solutions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub solutions: Vec<String>,
    /// The `OpportunityOwner` team members' full names and emails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub team: Vec<TeamMember>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spend: Vec<Spend>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_mrr: Option<f64>,
}

fn text_at<'a>(doc: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut at = doc;
    for p in parents {
        at = at.get(*p)?.as_object()?;
    }
    at.get(*last)?.as_str().filter(|s| !s.is_empty())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect()).unwrap_or_default()
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(String::from)
}

/// What a search reads of `o`.
pub fn entry(o: &Opportunity) -> Entry {
    let doc = &o.document;
    let team_values: Vec<&serde_json::Map<String, Value>> = doc
        .get("OpportunityTeam")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let team: Vec<TeamMember> = team_values
        .iter()
        .map(|m| TeamMember {
            first_name: owned(text_at(m, &["FirstName"])),
            last_name: owned(text_at(m, &["LastName"])),
            business_title: owned(text_at(m, &["BusinessTitle"])),
        })
        .collect();
    let owners = team_values
        .iter()
        .filter(|m| text_at(m, &["BusinessTitle"]) == Some("OpportunityOwner"))
        .flat_map(|m| {
            let name =
                [text_at(m, &["FirstName"]), text_at(m, &["LastName"])].into_iter().flatten().collect::<Vec<_>>().join(" ");
            [Some(name).filter(|n| !n.is_empty()), owned(text_at(m, &["Email"]))].into_iter().flatten()
        })
        .collect();
    let spend: Vec<Spend> = doc
        .get("Project")
        .and_then(|p| p.get("ExpectedCustomerSpend"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .map(|s| Spend {
                    amount: text_at(s, &["Amount"]).unwrap_or("0").to_string(),
                    currency_code: text_at(s, &["CurrencyCode"]).unwrap_or("USD").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let amounts: Vec<f64> = spend.iter().filter_map(|s| s.amount.parse::<f64>().ok()).collect();
    let cosell_motion = match (&o.submission, o.origin) {
        (Some(s), _) => Some(s.involvement_type.clone()),
        (None, Origin::AwsReferral) => Some("Co-Sell".to_string()),
        (None, Origin::PartnerReferral) => None,
    };
    let related = |key: &str| strings(o.related.get(key));
    Entry {
        id: o.id.clone(),
        created_ms: o.created.timestamp_millis(),
        modified_ms: o.last_modified.timestamp_millis(),
        review_status: o.review_status().as_str().to_string(),
        origin: o.origin.as_str().to_string(),
        stage: owned(o.stage()),
        company_name: owned(text_at(doc, &["Customer", "Account", "CompanyName"])),
        industry: owned(text_at(doc, &["Customer", "Account", "Industry"])),
        country_code: owned(text_at(doc, &["Customer", "Account", "Address", "CountryCode"])),
        aws_account_id: owned(text_at(doc, &["Customer", "Account", "AwsAccountId"])),
        title: owned(text_at(doc, &["Project", "Title"])),
        opportunity_type: owned(text_at(doc, &["OpportunityType"])),
        partner_opportunity_identifier: owned(text_at(doc, &["PartnerOpportunityIdentifier"])),
        target_close_date: owned(text_at(doc, &["LifeCycle", "TargetCloseDate"])),
        next_steps: owned(text_at(doc, &["LifeCycle", "NextSteps"])),
        cosell_motion,
        apn_programs: strings(doc.get("Project").and_then(|p| p.get("ApnPrograms"))),
        tags: o.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect(),
        offers: related("AwsMarketplaceOffers"),
        offer_sets: related("AwsMarketplaceOfferSets"),
        marketplace_solutions: related("AwsMarketplaceSolutions"),
        solutions: related("Solutions"),
        owners,
        team,
        spend,
        estimated_mrr: (!amounts.is_empty()).then(|| amounts.iter().sum()),
    }
}

/// Lower-cased words of `text`: runs of letters and digits, each at most 64 characters.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_WORD_CHARS).collect::<String>().to_lowercase())
}

/// The words a keyword finds `o` by, one line of index terms: its id, identifier, customer's
/// company, website, industry and city, the project's title, problem, use case and comments, the
/// next steps, APN programs, team names and tag values. Never a customer contact (personal
/// data is not searchable).
pub fn words(o: &Opportunity) -> String {
    let doc = &o.document;
    let mut texts: Vec<&str> = vec![o.id.as_str()];
    for path in [
        &["PartnerOpportunityIdentifier"][..],
        &["Customer", "Account", "CompanyName"],
        &["Customer", "Account", "WebsiteUrl"],
        &["Customer", "Account", "Industry"],
        &["Customer", "Account", "OtherIndustry"],
        &["Customer", "Account", "Address", "City"],
        &["Project", "Title"],
        &["Project", "CustomerBusinessProblem"],
        &["Project", "CustomerUseCase"],
        &["Project", "AdditionalComments"],
        &["Project", "OtherSolutionDescription"],
        &["LifeCycle", "NextSteps"],
    ] {
        texts.extend(text_at(doc, path));
    }
    let programs = doc.get("Project").and_then(|p| p.get("ApnPrograms")).and_then(Value::as_array);
    texts.extend(programs.into_iter().flatten().filter_map(Value::as_str));
    let team = doc.get("OpportunityTeam").and_then(Value::as_array);
    for m in team.into_iter().flatten().filter_map(Value::as_object) {
        texts.extend(text_at(m, &["FirstName"]));
        texts.extend(text_at(m, &["LastName"]));
    }
    texts.extend(o.tags.iter().map(|t| t.value.as_str()));
    let mut out = String::new();
    for w in texts.into_iter().flat_map(tokens).filter(|w| !STOP_WORDS.contains(&w.as_str())) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&w);
    }
    out
}

/// The index term of a partner's catalog: every line of its opportunities carries it, and a
/// keyword search asks for it besides the keyword's terms, so the index itself never looks at
/// another partner's words (USE-4). Hex, so that no two partners share one.
pub fn tenant_term(partner_id: &str, catalog: Catalog) -> String {
    let mut out = String::from("t");
    for b in partner_id.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out.push('x');
    out.push_str(&catalog.as_str().to_lowercase());
    out
}

/// The keyword as index terms, each matched as a word's beginning; all must match. A keyword
/// of only stop-words (or of no letters or digits at all) is refused.
pub fn keyword_terms(keyword: &str) -> Result<Vec<String>, FieldError> {
    let mut terms: Vec<String> = Vec::new();
    for t in tokens(keyword) {
        if !STOP_WORDS.contains(&t.as_str()) && !terms.contains(&t) {
            terms.push(t);
        }
    }
    if terms.is_empty() {
        return Err(FieldError::new(
            "Keyword",
            FieldErrorCode::InvalidValue,
            "Keyword: give at least one word that is not a stop-word (such as \"the\" or \"and\")".to_string(),
        ));
    }
    terms.truncate(MAX_TERMS);
    Ok(terms)
}

fn midnight(date: &str) -> Option<Instant> {
    parse_date(date).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

impl Fields for Entry {
    fn kind(key: &str) -> Option<Kind> {
        Some(match key {
            "CustomerCompanyName" | "PartnerProjectTitle" | "NextStep" => Kind::Text,
            "OpportunityId"
            | "Stage"
            | "ReviewStatus"
            | "CountryCode"
            | "OpportunityType"
            | "PartnerOpportunityIdentifier"
            | "Industry"
            | "AwsAccountId"
            | "Origin"
            | "CosellMotion"
            | "EngagementScore" => Kind::Keyword,
            "ApnPrograms" | "Tags" | "OfferId" | "OfferSetId" | "AwsMarketplaceSolution" | "OpportunityOwner" => Kind::Set,
            "LastModifiedDate" | "TargetCloseDate" | "CreatedDate" => Kind::Time,
            "EstimatedMrr" => Kind::Amount,
            _ => return None,
        })
    }

    fn field(&self, key: &str) -> Field<'_> {
        fn text(v: &Option<String>) -> Field<'_> {
            v.as_deref().map_or(Field::Missing, Field::Text)
        }
        match key {
            "OpportunityId" => Field::Text(&self.id),
            "Stage" => text(&self.stage),
            "ReviewStatus" => Field::Text(&self.review_status),
            "CustomerCompanyName" => text(&self.company_name),
            "LastModifiedDate" => Field::Time(from_millis(self.modified_ms)),
            "CreatedDate" => Field::Time(from_millis(self.created_ms)),
            "TargetCloseDate" => self.target_close_date.as_deref().and_then(midnight).map_or(Field::Missing, Field::Time),
            "CountryCode" => text(&self.country_code),
            "PartnerProjectTitle" => text(&self.title),
            "OpportunityType" => text(&self.opportunity_type),
            "PartnerOpportunityIdentifier" => text(&self.partner_opportunity_identifier),
            "Industry" => text(&self.industry),
            "AwsAccountId" => text(&self.aws_account_id),
            "ApnPrograms" => Field::Set(&self.apn_programs),
            "Origin" => Field::Text(&self.origin),
            "Tags" => Field::Set(&self.tags),
            "NextStep" => text(&self.next_steps),
            "OfferId" => Field::Set(&self.offers),
            "OfferSetId" => Field::Set(&self.offer_sets),
            "AwsMarketplaceSolution" => Field::Set(&self.marketplace_solutions),
            "CosellMotion" => text(&self.cosell_motion),
            "OpportunityOwner" => Field::Set(&self.owners),
            "EstimatedMrr" => self.estimated_mrr.map_or(Field::Missing, Field::Amount),
            _ => Field::Missing,
        }
    }
}

/// Checks a filter tree once, before any opportunity is read.
pub fn check(filter: &Filter) -> Result<(), Vec<FieldError>> {
    crate::filter::check::<Entry>(filter, "Filter", SHAPE)
}

pub fn matches(filter: &Filter, e: &Entry) -> bool {
    crate::filter::matches(filter, e)
}

/// The sort field an unsorted search orders by (newest change first), as `ListOpportunities`.
pub const DEFAULT_SORT: (&str, bool) = ("LastModifiedDate", true);

/// An entry's value under a sort field: the cursor carries it, and entries order by it and
/// then by id. A missing value orders before every other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Number(f64),
    Text(String),
    Missing,
}

impl SortValue {
    fn cmp(&self, other: &SortValue) -> Ordering {
        match (self, other) {
            (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
            (SortValue::Missing, _) => Ordering::Less,
            (_, SortValue::Missing) => Ordering::Greater,
            (SortValue::Number(a), SortValue::Number(b)) => a.total_cmp(b),
            (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
            (SortValue::Number(_), SortValue::Text(_)) => Ordering::Less,
            (SortValue::Text(_), SortValue::Number(_)) => Ordering::Greater,
        }
    }
}

/// Whether `by` is a sort field of the model's `OpportunitySearchSortName`.
pub fn sorts_by(by: &str) -> bool {
    by == "EngagementScore" || by == "EstimatedMrr" || Entry::kind(by).is_some()
}

pub fn sort_value(e: &Entry, by: &str) -> SortValue {
    let number = |n: i64| SortValue::Number(n as f64);
    match by {
        "LastModifiedDate" => number(e.modified_ms),
        "CreatedDate" => number(e.created_ms),
        "TargetCloseDate" => e.target_close_date.clone().map_or(SortValue::Missing, SortValue::Text),
        "OpportunityId" => e.id[1..].parse::<i64>().map_or(SortValue::Missing, number),
        "EstimatedMrr" => e.estimated_mrr.map_or(SortValue::Missing, SortValue::Number),
        _ => match e.field(by) {
            Field::Text(t) => SortValue::Text(t.to_lowercase()),
            Field::Set(values) => values.first().map_or(SortValue::Missing, |v| SortValue::Text(v.to_lowercase())),
            _ => SortValue::Missing,
        },
    }
}

/// Where a page ends: the last entry's sort value and id. The next page starts after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub value: SortValue,
    pub id: String,
}

impl Cursor {
    /// The same place in the store's listing order, for a search whose order is one the store
    /// keeps (see [`scan_order`]); `None` for an id that is no opportunity's.
    pub fn in_listing(&self) -> Option<listing::Cursor> {
        let value = match &self.value {
            SortValue::Number(n) => listing::SortValue::Int(*n as i64),
            SortValue::Text(t) => listing::SortValue::Text(t.clone()),
            SortValue::Missing => listing::SortValue::Text(String::new()),
        };
        Some(listing::Cursor { value, id_number: opportunity_number(&self.id)? })
    }
}

/// The store's listing order (ListOpportunities') that is the same as the search order `by`,
/// where there is one: `LastModifiedDate`, `CreatedDate`, `OpportunityId` and
/// `TargetCloseDate` order alike there (a missing date first, ties by id number), so a search
/// in one of them can page through the store's index in order instead of reading every match.
pub fn scan_order(by: &str) -> Option<SortKey> {
    Some(match by {
        "LastModifiedDate" => SortKey::LastModifiedDate,
        "CreatedDate" => SortKey::CreatedDate,
        "OpportunityId" => SortKey::Identifier,
        "TargetCloseDate" => SortKey::TargetCloseDate,
        _ => return None,
    })
}

/// Ids (`O` and a number without leading zeros) in the order of their numbers, as the store
/// orders them.
fn id_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn order(a: (&SortValue, &str), b: (&SortValue, &str), descending: bool) -> Ordering {
    let o = a.0.cmp(b.0).then_with(|| id_order(a.1, b.1));
    if descending {
        o.reverse()
    } else {
        o
    }
}

/// One page of `entries` (already filtered) in the order asked for, after `after`, and the
/// cursor of the next page when there is one.
pub fn page(
    entries: Vec<Entry>,
    by: &str,
    descending: bool,
    after: Option<&Cursor>,
    size: usize,
) -> (Vec<Entry>, Option<Cursor>) {
    let mut keyed: Vec<(SortValue, Entry)> = entries.into_iter().map(|e| (sort_value(&e, by), e)).collect();
    if let Some(c) = after {
        keyed.retain(|(v, e)| order((v, &e.id), (&c.value, &c.id), descending) == Ordering::Greater);
    }
    let size = size.max(1);
    let by_order = |a: &(SortValue, Entry), b: &(SortValue, Entry)| order((&a.0, &a.1.id), (&b.0, &b.1.id), descending);
    let more = keyed.len() > size;
    if more {
        keyed.select_nth_unstable_by(size - 1, by_order);
        keyed.truncate(size);
    }
    keyed.sort_by(by_order);
    let next = more.then(|| keyed.last().map(|(v, e)| Cursor { value: v.clone(), id: e.id.clone() })).flatten();
    (keyed.into_iter().map(|(_, e)| e).collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opportunity::{empty_related, plan_create, ReviewState, Submission, Tag};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn now() -> Instant {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn opportunity(id: &str, company: &str, problem: &str, mrr: &str) -> Opportunity {
        let doc = json!({
            "Customer": {"Account": {"CompanyName": company, "WebsiteUrl": "https://example.com", "Industry": "Retail",
                "Address": {"CountryCode": "DE"}}},
            "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2027-03-01", "NextSteps": "Call the CFO"},
            "Project": {"Title": "Data lake", "CustomerBusinessProblem": problem, "ApnPrograms": ["ISV Accelerate"],
                "ExpectedCustomerSpend": [{"Amount": mrr, "CurrencyCode": "USD", "Frequency": "Monthly", "TargetCompany": "AWS"}]},
            "OpportunityType": "Net New Business",
            "OpportunityTeam": [{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@partner.example", "BusinessTitle": "OpportunityOwner"}],
        });
        Opportunity {
            catalog: Catalog::Sandbox,
            id: id.into(),
            partner_id: "P-1".into(),
            document: plan_create(Catalog::Sandbox, doc.as_object().unwrap(), now()).unwrap().document,
            origin: Origin::PartnerReferral,
            created: now(),
            last_modified: now(),
            related: empty_related(),
            tags: vec![Tag { key: "region".into(), value: "emea".into() }],
            submission: None,
            approved_at: None,
            review: ReviewState::default(),
            referral_id: None,
        }
    }

    fn filter(v: Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn words_hold_the_searchable_text_lower_cased_without_stop_words_or_contacts() {
        let mut o = opportunity("O12", "Müller & Söhne GmbH", "They need to move 40 VMs", "1000");
        o.document["Customer"]["Contacts"] = json!([{"FirstName": "Secret", "Email": "secret@customer.example"}]);
        let w = words(&o);
        for expected in
            ["o12", "müller", "söhne", "gmbh", "move", "40", "vms", "data", "lake", "call", "cfo", "ada", "emea", "isv"]
        {
            assert!(w.split(' ').any(|t| t == expected), "{expected} in {w}");
        }
        for absent in ["the", "to", "secret"] {
            assert!(!w.split(' ').any(|t| t == absent), "{absent} not in {w}");
        }
    }

    #[test]
    fn a_keyword_of_only_stop_words_is_refused_and_terms_are_deduplicated() {
        assert_eq!(keyword_terms("The Data, the LAKE!").unwrap(), ["data", "lake"]);
        let e = keyword_terms("the and of").unwrap_err();
        assert_eq!(e.field_name, "Keyword");
        assert!(keyword_terms("--- !!").is_err());
        assert_eq!(keyword_terms(&"w ".repeat(40).replace('w', "word")).unwrap().len(), 1);
    }

    #[test]
    fn tenants_have_distinct_terms() {
        assert_ne!(tenant_term("P-1", Catalog::Aws), tenant_term("P1", Catalog::Aws));
        assert_ne!(tenant_term("P-1", Catalog::Aws), tenant_term("P-1", Catalog::Sandbox));
        assert!(tenant_term("P-1", Catalog::Aws).chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn the_filter_reads_every_field_of_the_model() {
        let mut o = opportunity("O7", "Acme Retail", "migrate", "1500.50");
        o.submission = Some(Submission { involvement_type: "Co-Sell".into(), visibility: "Full".into(), submitted_at: now() });
        let e = entry(&o);
        let names = crate::model::Model::get().enum_values("OpportunitySearchFilterName").unwrap().to_vec();
        for name in &names {
            assert!(Entry::kind(name).is_some(), "{name} is filterable");
        }
        let sort_names = crate::model::Model::get().enum_values("OpportunitySearchSortName").unwrap().to_vec();
        for name in &sort_names {
            assert!(sorts_by(name), "{name} is sortable");
        }
        let hit = |v: Value| matches(&filter(v), &e);
        assert!(hit(json!({"AndAllFilters": [
            {"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "qualified"}}},
            {"ContainsAny": {"Key": "CustomerCompanyName", "Value": {"StringListValue": ["retail", "bank"]}}},
            {"GreaterThan": {"Key": "EstimatedMrr", "Value": {"DoubleValue": 1500.0}}},
            {"LessThan": {"Key": "TargetCloseDate", "Value": {"DateValue": "2027-03-02T00:00:00Z"}}},
            {"EqualsTo": {"Key": "OpportunityOwner", "Value": {"StringValue": "ada@partner.example"}}},
            {"ContainsAll": {"Key": "Tags", "Value": {"StringListValue": ["region=emea"]}}},
            {"EqualsTo": {"Key": "CosellMotion", "Value": {"StringValue": "Co-Sell"}}},
            {"EqualsTo": {"Key": "ApnPrograms", "Value": {"StringValue": "ISV Accelerate"}}}
        ]})));
        assert!(!hit(json!({"GreaterThanOrEquals": {"Key": "EstimatedMrr", "Value": {"LongValue": 1501}}})));
        assert!(!hit(json!({"EqualsTo": {"Key": "EngagementScore", "Value": {"StringValue": "High"}}})));
        assert!(hit(json!({"NotFilter": {"EqualsTo": {"Key": "EngagementScore", "Value": {"StringValue": "High"}}}})));
    }

    #[test]
    fn the_model_limits_the_tree() {
        let leaf = json!({"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "Qualified"}}});
        let deep = filter(json!({"NotFilter": {"NotFilter": {"NotFilter": leaf}}}));
        assert!(check(&deep).is_err(), "three combinators over a leaf nest four deep");
        let wide: Vec<Value> = (0..7).map(|_| json!({"AndAllFilters": [leaf, leaf, leaf]})).collect();
        let errors = check(&filter(json!({"OrAllFilters": wide}))).unwrap_err();
        assert!(errors.iter().any(|e| e.message.contains("at most 20 conditions")));
        assert!(check(&filter(json!({"GreaterThan": {"Key": "Stage", "Value": {"StringValue": "x"}}}))).is_ok());
        assert!(check(&filter(json!({"ContainsAny": {"Key": "EstimatedMrr", "Value": {"DoubleValue": 1.0}}}))).is_err());
        assert!(check(&filter(json!({"EqualsTo": {"Key": "Colour", "Value": {"StringValue": "red"}}}))).is_err());
    }

    #[test]
    fn pages_follow_the_cursor_in_either_order_without_repeating_or_skipping() {
        let entries: Vec<Entry> = (0..25)
            .map(|i| {
                let mut o = opportunity(&format!("O{}", 100 + i), &format!("Company {}", i % 4), "p", &format!("{}", i % 5));
                o.last_modified = from_millis(1_000 + (i % 3) as i64);
                entry(&o)
            })
            .collect();
        for (by, descending) in [("LastModifiedDate", true), ("CustomerCompanyName", false), ("EstimatedMrr", true)] {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let (page, next) = page(entries.clone(), by, descending, after.as_ref(), 7);
                seen.extend(page.iter().map(|e| (sort_value(e, by), e.id.clone())));
                match next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen.len(), 25, "{by}");
            let mut ids: Vec<&String> = seen.iter().map(|(_, id)| id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 25, "{by}: no entry twice");
            for w in seen.windows(2) {
                let o = order((&w[0].0, &w[0].1), (&w[1].0, &w[1].1), descending);
                assert_eq!(o, Ordering::Less, "{by}: in order");
            }
        }
    }

    #[test]
    fn ties_order_by_id_number_as_the_store_does_and_cursors_carry_over_to_its_listing() {
        // `O99` before `O100`: as numbers, the way the store's index orders ties (by text,
        // `O100` would come first and a search paged through the index would repeat or skip).
        let entries: Vec<Entry> = ["O100", "O99", "O1000", "O7"]
            .iter()
            .map(|id| {
                let mut o = opportunity(id, "Acme", "p", "1");
                o.last_modified = from_millis(5_000);
                entry(&o)
            })
            .collect();
        let (ordered, next) = page(entries, "LastModifiedDate", false, None, 3);
        let ids: Vec<&str> = ordered.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["O7", "O99", "O100"]);
        let next = next.expect("a fourth entry");
        assert_eq!(next.in_listing(), Some(listing::Cursor { value: listing::SortValue::Int(5_000), id_number: 100 }));
        let missing = Cursor { value: SortValue::Missing, id: "O42".into() };
        assert_eq!(
            missing.in_listing(),
            Some(listing::Cursor { value: listing::SortValue::Text(String::new()), id_number: 42 }),
            "a missing target close date is the store's empty text, first in either order"
        );
        assert_eq!(Cursor { value: SortValue::Missing, id: "X1".into() }.in_listing(), None);
        assert_eq!(scan_order("LastModifiedDate"), Some(SortKey::LastModifiedDate));
        assert_eq!(scan_order("OpportunityId"), Some(SortKey::Identifier));
        assert_eq!(scan_order("CustomerCompanyName"), None, "the store keys company names otherwise");
    }
}
