//! ListOpportunities: the filters and sort of the model turned into one query value, and the
//! keyset cursor a `NextToken` carries (digest §2.3, §1.9).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::ids::{opportunity_number, Catalog};
use crate::opportunity::{company_name_key, Opportunity};
use crate::time::parse_timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    LastModifiedDate,
    Identifier,
    CustomerCompanyName,
    CreatedDate,
    TargetCloseDate,
}

impl SortKey {
    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "LastModifiedDate" => SortKey::LastModifiedDate,
            "Identifier" => SortKey::Identifier,
            "CustomerCompanyName" => SortKey::CustomerCompanyName,
            "CreatedDate" => SortKey::CreatedDate,
            "TargetCloseDate" => SortKey::TargetCloseDate,
            _ => return None,
        })
    }

    /// The value `o` sorts by under this key, as the store orders its rows (a missing target
    /// close date is the empty text: it sorts before every date).
    pub fn value_of(self, o: &Opportunity) -> SortValue {
        match self {
            SortKey::LastModifiedDate => SortValue::Int(o.last_modified.timestamp_millis()),
            SortKey::CreatedDate => SortValue::Int(o.created.timestamp_millis()),
            SortKey::Identifier => SortValue::Int(o.id_number()),
            SortKey::CustomerCompanyName => SortValue::Text(o.company_name_key()),
            SortKey::TargetCloseDate => SortValue::Text(o.target_close_date().unwrap_or("").to_string()),
        }
    }

    /// The keyset cursor just after `o` in this order.
    pub fn cursor_after(self, o: &Opportunity) -> Cursor {
        Cursor { value: self.value_of(o), id_number: o.id_number() }
    }
}

/// The sort value of the last row of a page; with the row's id number it is the keyset cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub value: SortValue,
    pub id_number: i64,
}

/// One page request of ListOpportunities, scoped to one partner and catalog.
/// Date ranges are `[after, before)`: "after" is inclusive, as the API reference says of
/// `AfterLastModifiedDate`, and "before" exclusive, so adjacent ranges never overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityQuery {
    pub partner_id: String,
    pub catalog: Catalog,
    pub id_numbers: Vec<i64>,
    pub company_name_keys: Vec<String>,
    pub stages: Vec<String>,
    pub review_statuses: Vec<String>,
    pub created_after_ms: Option<i64>,
    pub created_before_ms: Option<i64>,
    pub modified_after_ms: Option<i64>,
    pub modified_before_ms: Option<i64>,
    pub target_close_after: Option<String>,
    pub target_close_before: Option<String>,
    pub sort_by: SortKey,
    pub descending: bool,
    pub page_size: usize,
    pub after: Option<Cursor>,
}

pub const PAGE_SIZE_DEFAULT: usize = 20;

fn strings(input: &Map<String, Value>, member: &str) -> Vec<String> {
    input
        .get(member)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn millis(input: &Map<String, Value>, member: &str, field: &str) -> Option<i64> {
    input.get(member)?.get(field).and_then(parse_timestamp).map(|t| t.timestamp_millis())
}

fn date(input: &Map<String, Value>, member: &str, field: &str) -> Option<String> {
    input.get(member)?.get(field).and_then(Value::as_str).map(str::to_string)
}

impl OpportunityQuery {
    /// Builds the query from a request already validated against `ListOpportunitiesRequest`.
    pub fn from_request(partner_id: &str, catalog: Catalog, input: &Map<String, Value>) -> OpportunityQuery {
        let sort = input.get("Sort");
        let sort_by = sort
            .and_then(|s| s.get("SortBy"))
            .and_then(Value::as_str)
            .and_then(SortKey::parse)
            .unwrap_or(SortKey::LastModifiedDate);
        let descending = sort.and_then(|s| s.get("SortOrder")).and_then(Value::as_str).is_none_or(|o| o == "DESCENDING");
        let mut company_name_keys: Vec<String> =
            strings(input, "CustomerCompanyName").iter().map(|n| company_name_key(n)).collect();
        company_name_keys.sort();
        company_name_keys.dedup();
        let mut id_numbers: Vec<i64> = strings(input, "Identifier").iter().filter_map(|i| opportunity_number(i)).collect();
        id_numbers.sort_unstable();
        id_numbers.dedup();
        OpportunityQuery {
            partner_id: partner_id.to_string(),
            catalog,
            id_numbers,
            company_name_keys,
            stages: strings(input, "LifeCycleStage"),
            review_statuses: strings(input, "LifeCycleReviewStatus"),
            created_after_ms: millis(input, "CreatedDate", "AfterCreatedDate"),
            created_before_ms: millis(input, "CreatedDate", "BeforeCreatedDate"),
            modified_after_ms: millis(input, "LastModifiedDate", "AfterLastModifiedDate"),
            modified_before_ms: millis(input, "LastModifiedDate", "BeforeLastModifiedDate"),
            target_close_after: date(input, "TargetCloseDate", "AfterTargetCloseDate"),
            target_close_before: date(input, "TargetCloseDate", "BeforeTargetCloseDate"),
            sort_by,
            descending,
            page_size: input.get("MaxResults").and_then(Value::as_u64).map_or(PAGE_SIZE_DEFAULT, |n| n as usize),
            after: None,
        }
    }

    /// A digest of everything that selects and orders rows — tenant, catalog, filters and
    /// sort, but not the page size — that a `NextToken` is bound to.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let canonical = serde_json::json!([
            self.partner_id,
            self.catalog.as_str(),
            self.id_numbers,
            self.company_name_keys,
            self.stages,
            self.review_statuses,
            self.created_after_ms,
            self.created_before_ms,
            self.modified_after_ms,
            self.modified_before_ms,
            self.target_close_after,
            self.target_close_before,
            self.sort_by,
            self.descending,
        ]);
        h.update(canonical.to_string().as_bytes());
        h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_fingerprint() {
        let input = json!({"Catalog": "AWS"});
        let q = OpportunityQuery::from_request("P-1", Catalog::Aws, input.as_object().unwrap());
        assert_eq!(q.sort_by, SortKey::LastModifiedDate);
        assert!(q.descending);
        assert_eq!(q.page_size, 20);
        let other_tenant = OpportunityQuery::from_request("P-2", Catalog::Aws, input.as_object().unwrap());
        assert_ne!(q.fingerprint(), other_tenant.fingerprint());
        let mut bigger_page = q.clone();
        bigger_page.page_size = 100;
        assert_eq!(q.fingerprint(), bigger_page.fingerprint());
    }

    #[test]
    fn filters_are_read() {
        let input = json!({
            "Catalog": "AWS", "Identifier": ["O5", "O3", "O5"], "CustomerCompanyName": [" Acme "],
            "LastModifiedDate": {"AfterLastModifiedDate": "2024-01-01T00:00:00Z"},
            "Sort": {"SortBy": "Identifier", "SortOrder": "ASCENDING"}, "MaxResults": 5
        });
        let q = OpportunityQuery::from_request("P-1", Catalog::Aws, input.as_object().unwrap());
        assert_eq!(q.id_numbers, vec![3, 5]);
        assert_eq!(q.company_name_keys, vec!["acme"]);
        assert_eq!(q.modified_after_ms, Some(1_704_067_200_000));
        assert_eq!(q.sort_by, SortKey::Identifier);
        assert!(!q.descending);
        assert_eq!(q.page_size, 5);
    }
}
