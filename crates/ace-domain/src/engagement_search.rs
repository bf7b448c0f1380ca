//! SearchEngagements (issue 18): the model's recursive `EngagementSearchFilter` over an
//! engagement's searchable fields, a keyword over its words, and the sort. Pure: the caller
//! hands it the engagements the caller is a member of (USE-4) as [`Searchable`] rows.
//!
//! A filter object with several members set requires all of them. Strings compare without
//! regard to case; `ContainsAny`/`ContainsAll` are substring tests on text fields and set tests
//! on `PartnerId` (the members' accounts).

use std::cmp::Ordering;

use crate::model::FieldError;
use crate::time::Instant;

/// What a search reads of one engagement.
#[derive(Debug, Clone, PartialEq)]
pub struct Searchable {
    pub id: String,
    pub title: String,
    /// The members' accounts.
    pub members: Vec<String>,
    pub created: Instant,
    pub modified: Instant,
    /// Every word the keyword may match: title, description, the contexts' text.
    pub text: String,
}

pub use crate::filter::Filter;
use crate::filter::{Field, Fields, Kind, Shape};

impl Fields for Searchable {
    fn kind(key: &str) -> Option<Kind> {
        Some(match key {
            "EngagementId" | "Title" => Kind::Text,
            "PartnerId" => Kind::Set,
            "CreatedAt" | "LastModifiedAt" => Kind::Time,
            "MemberCount" => Kind::Count,
            _ => return None,
        })
    }

    fn field(&self, key: &str) -> Field<'_> {
        match key {
            "EngagementId" => Field::Text(&self.id),
            "Title" => Field::Text(&self.title),
            "PartnerId" => Field::Set(&self.members),
            "CreatedAt" => Field::Time(self.created),
            "LastModifiedAt" => Field::Time(self.modified),
            "MemberCount" => Field::Count(self.members.len() as i64),
            _ => Field::Missing,
        }
    }
}

/// `EngagementSearchFilter` lets one node hold several members (all required) and sets no
/// depth of its own: the body limit bounds it.
const SHAPE: Shape = Shape { one_member_per_node: false, max_depth: 64, max_leaves: None };

/// Checks a filter tree once, before any engagement is read: every key is searchable and every
/// value is of its key's kind.
pub fn check(filter: &Filter, path: &str) -> Result<(), Vec<FieldError>> {
    crate::filter::check::<Searchable>(filter, path, SHAPE)
}

/// Whether `e` passes the (checked) filter.
pub fn matches(f: &Filter, e: &Searchable) -> bool {
    crate::filter::matches(f, e)
}

/// The keyword search: every word of `keyword` appears in the engagement's text.
pub fn keyword_matches(keyword: &str, e: &Searchable) -> bool {
    let text = e.text.to_lowercase();
    keyword.split_whitespace().all(|w| text.contains(&w.to_lowercase()))
}

/// Orders engagements by the model's `EngagementSearchSortName`; ties by id.
pub fn sort(rows: &mut [Searchable], by: &str, descending: bool) {
    rows.sort_by(|a, b| {
        let primary = match by {
            "EngagementId" => Ordering::Equal,
            "Title" => a.title.to_lowercase().cmp(&b.title.to_lowercase()),
            "PartnerId" => a.members.first().cmp(&b.members.first()),
            "LastModifiedAt" => a.modified.cmp(&b.modified),
            "MemberCount" => a.members.len().cmp(&b.members.len()),
            _ => a.created.cmp(&b.created),
        };
        let ordering = primary.then_with(|| a.id.cmp(&b.id));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn row(id: &str, title: &str, members: &[&str], created_ms: i64) -> Searchable {
        Searchable {
            id: id.into(),
            title: title.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            created: crate::time::from_millis(created_ms),
            modified: crate::time::from_millis(created_ms + 10),
            text: format!("{title} retail data lake"),
        }
    }

    fn filter(v: Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_filter_tree_combines_and_or_not_and_predicates() {
        let rows =
            [row("eng-1", "Retail lake", &["111", "aws"], 1_000), row("eng-2", "Bank core", &["111", "222", "333"], 2_000)];
        let f = filter(json!({"OrAllFilters": [
            {"EqualsTo": {"Key": "Title", "Value": {"StringValue": "retail LAKE"}}},
            {"GreaterThanOrEquals": {"Key": "MemberCount", "Value": {"LongValue": 3}}}]}));
        assert!(check(&f, "Filter").is_ok());
        assert_eq!(rows.iter().filter(|r| matches(&f, r)).count(), 2);
        let not =
            filter(json!({"NotFilter": {"ContainsAny": {"Key": "PartnerId", "Value": {"StringListValue": ["222", "999"]}}}}));
        let ids: Vec<_> = rows.iter().filter(|r| matches(&not, r)).map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["eng-1"]);
        let all = filter(json!({"ContainsAll": {"Key": "PartnerId", "Value": {"StringListValue": ["111", "333"]}}}));
        assert_eq!(rows.iter().filter(|r| matches(&all, r)).map(|r| r.id.as_str()).collect::<Vec<_>>(), ["eng-2"]);
        let and = filter(json!({"AndAllFilters": [
            {"GreaterThan": {"Key": "CreatedAt", "Value": {"DateValue": "1970-01-01T00:00:01.500Z"}}},
            {"ContainsAny": {"Key": "Title", "Value": {"StringValue": "core"}}}]}));
        assert_eq!(rows.iter().filter(|r| matches(&and, r)).map(|r| r.id.as_str()).collect::<Vec<_>>(), ["eng-2"]);
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_refused_naming_where() {
        let f = filter(json!({"AndAllFilters": [{"EqualsTo": {"Key": "MemberCount", "Value": {"StringValue": "two"}}}]}));
        let errors = check(&f, "Filter").unwrap_err();
        assert_eq!(errors[0].field_name, "Filter.AndAllFilters[0].EqualsTo.Value");
        let f = filter(json!({"ContainsAny": {"Key": "CreatedAt", "Value": {"DateValue": "2027-01-01T00:00:00Z"}}}));
        assert!(check(&f, "Filter").is_err(), "ContainsAny over a date");
        let f = filter(json!({"EqualsTo": {"Key": "Title", "Value": {"StringValue": "a", "LongValue": 1}}}));
        assert!(check(&f, "Filter").is_err(), "two values at once");
    }

    #[test]
    fn keywords_and_sorting() {
        let mut rows =
            vec![row("eng-2", "b", &["1"], 2_000), row("eng-1", "A", &["1", "2"], 3_000), row("eng-3", "c", &[], 1_000)];
        assert!(keyword_matches("DATA retail", &rows[0]));
        assert!(!keyword_matches("data warehouse", &rows[0]));
        sort(&mut rows, "Title", false);
        assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["eng-1", "eng-2", "eng-3"]);
        sort(&mut rows, "CreatedAt", true);
        assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["eng-1", "eng-2", "eng-3"]);
        sort(&mut rows, "MemberCount", false);
        assert_eq!(rows[0].id, "eng-3");
    }
}
