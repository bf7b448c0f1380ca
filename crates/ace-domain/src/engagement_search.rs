//! SearchEngagements (issue 18): the model's recursive `EngagementSearchFilter` over an
//! engagement's searchable fields, a keyword over its words, and the sort. Pure: the caller
//! hands it the engagements the caller is a member of (USE-4) as [`Searchable`] rows.
//!
//! A filter object with several members set requires all of them. Strings compare without
//! regard to case; `ContainsAny`/`ContainsAll` are substring tests on text fields and set tests
//! on `PartnerId` (the members' accounts).

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{FieldError, FieldErrorCode};
use crate::time::{parse_timestamp, Instant};

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

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    #[serde(default)]
    pub and_all_filters: Vec<Filter>,
    #[serde(default)]
    pub or_all_filters: Vec<Filter>,
    pub not_filter: Option<Box<Filter>>,
    pub equals_to: Option<Predicate>,
    pub contains_any: Option<Predicate>,
    pub contains_all: Option<Predicate>,
    pub greater_than: Option<Predicate>,
    pub greater_than_or_equals: Option<Predicate>,
    pub less_than: Option<Predicate>,
    pub less_than_or_equals: Option<Predicate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Predicate {
    pub key: String,
    pub value: PredicateValue,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredicateValue {
    pub date_value: Option<Value>,
    pub long_value: Option<i64>,
    #[serde(default)]
    pub string_list_value: Vec<String>,
    pub string_value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    EqualsTo,
    ContainsAny,
    ContainsAll,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::EqualsTo => "EqualsTo",
            Op::ContainsAny => "ContainsAny",
            Op::ContainsAll => "ContainsAll",
            Op::GreaterThan => "GreaterThan",
            Op::GreaterThanOrEquals => "GreaterThanOrEquals",
            Op::LessThan => "LessThan",
            Op::LessThanOrEquals => "LessThanOrEquals",
        }
    }
}

/// A field's value, compared with a predicate's.
enum Field<'a> {
    Text(&'a str),
    Accounts(&'a [String]),
    Time(Instant),
    Count(i64),
}

fn field<'a>(e: &'a Searchable, key: &str) -> Option<Field<'a>> {
    Some(match key {
        "EngagementId" => Field::Text(&e.id),
        "Title" => Field::Text(&e.title),
        "PartnerId" => Field::Accounts(&e.members),
        "CreatedAt" => Field::Time(e.created),
        "LastModifiedAt" => Field::Time(e.modified),
        "MemberCount" => Field::Count(e.members.len() as i64),
        _ => return None,
    })
}

fn invalid(path: &str, message: String) -> FieldError {
    FieldError::new(path, FieldErrorCode::InvalidValue, format!("{path}: {message}"))
}

/// The predicate's strings (its `StringValue` or `StringListValue`), lower-cased.
fn strings(p: &PredicateValue) -> Vec<String> {
    p.string_value.iter().chain(p.string_list_value.iter()).map(|s| s.to_lowercase()).collect()
}

/// Checks a filter tree once, before any engagement is read: every key is searchable and every
/// value is of its key's kind.
pub fn check(filter: &Filter, path: &str) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    check_into(filter, path, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn predicates(f: &Filter) -> Vec<(Op, &Predicate)> {
    [
        (Op::EqualsTo, &f.equals_to),
        (Op::ContainsAny, &f.contains_any),
        (Op::ContainsAll, &f.contains_all),
        (Op::GreaterThan, &f.greater_than),
        (Op::GreaterThanOrEquals, &f.greater_than_or_equals),
        (Op::LessThan, &f.less_than),
        (Op::LessThanOrEquals, &f.less_than_or_equals),
    ]
    .into_iter()
    .filter_map(|(op, p)| p.as_ref().map(|p| (op, p)))
    .collect()
}

fn check_into(f: &Filter, path: &str, errors: &mut Vec<FieldError>) {
    for (i, sub) in f.and_all_filters.iter().enumerate() {
        check_into(sub, &format!("{path}.AndAllFilters[{i}]"), errors);
    }
    for (i, sub) in f.or_all_filters.iter().enumerate() {
        check_into(sub, &format!("{path}.OrAllFilters[{i}]"), errors);
    }
    if let Some(sub) = &f.not_filter {
        check_into(sub, &format!("{path}.NotFilter"), errors);
    }
    for (op, p) in predicates(f) {
        let at = format!("{path}.{}.Value", op.name());
        let v = &p.value;
        let given = [v.date_value.is_some(), v.long_value.is_some(), !v.string_list_value.is_empty(), v.string_value.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            errors.push(invalid(&at, "give exactly one of DateValue, LongValue, StringValue, StringListValue".into()));
            continue;
        }
        let ok = match p.key.as_str() {
            "EngagementId" | "Title" | "PartnerId" => v.string_value.is_some() || !v.string_list_value.is_empty(),
            "CreatedAt" | "LastModifiedAt" => v.date_value.as_ref().is_some_and(|d| parse_timestamp(d).is_some()),
            "MemberCount" => v.long_value.is_some(),
            _ => false,
        };
        if !ok {
            let wanted = match p.key.as_str() {
                "CreatedAt" | "LastModifiedAt" => "a DateValue",
                "MemberCount" => "a LongValue",
                _ => "a StringValue or StringListValue",
            };
            errors.push(invalid(&at, format!("{} is compared with {wanted}", p.key)));
        }
        if matches!(op, Op::ContainsAny | Op::ContainsAll) && !matches!(p.key.as_str(), "EngagementId" | "Title" | "PartnerId") {
            errors.push(invalid(&at, format!("{} of {} is not defined: it is not text", op.name(), p.key)));
        }
    }
}

/// Whether `e` passes the (checked) filter.
pub fn matches(f: &Filter, e: &Searchable) -> bool {
    f.and_all_filters.iter().all(|sub| matches(sub, e))
        && (f.or_all_filters.is_empty() || f.or_all_filters.iter().any(|sub| matches(sub, e)))
        && f.not_filter.as_ref().is_none_or(|sub| !matches(sub, e))
        && predicates(f).into_iter().all(|(op, p)| holds(op, p, e))
}

fn ordered(op: Op, ordering: Ordering) -> bool {
    match op {
        Op::EqualsTo => ordering == Ordering::Equal,
        Op::GreaterThan => ordering == Ordering::Greater,
        Op::GreaterThanOrEquals => ordering != Ordering::Less,
        Op::LessThan => ordering == Ordering::Less,
        Op::LessThanOrEquals => ordering != Ordering::Greater,
        Op::ContainsAny | Op::ContainsAll => false,
    }
}

fn holds(op: Op, p: &Predicate, e: &Searchable) -> bool {
    let Some(value) = field(e, &p.key) else { return false };
    match value {
        Field::Text(text) => {
            let text = text.to_lowercase();
            let wanted = strings(&p.value);
            match op {
                Op::ContainsAny => wanted.iter().any(|w| text.contains(w.as_str())),
                Op::ContainsAll => wanted.iter().all(|w| text.contains(w.as_str())),
                _ => wanted.iter().any(|w| ordered(op, text.as_str().cmp(w.as_str()))),
            }
        }
        Field::Accounts(accounts) => {
            let wanted = strings(&p.value);
            let has = |w: &String| accounts.iter().any(|a| a.to_lowercase() == *w);
            match op {
                Op::ContainsAll => wanted.iter().all(has),
                Op::EqualsTo | Op::ContainsAny => wanted.iter().any(has),
                _ => wanted.iter().any(|w| accounts.iter().any(|a| ordered(op, a.to_lowercase().cmp(w)))),
            }
        }
        Field::Time(t) => p.value.date_value.as_ref().and_then(parse_timestamp).is_some_and(|d| ordered(op, t.cmp(&d))),
        Field::Count(n) => p.value.long_value.is_some_and(|v| ordered(op, n.cmp(&v))),
    }
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
    use serde_json::json;

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
