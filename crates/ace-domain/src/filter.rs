//! The Selling API's recursive filter tree — `AndAllFilters`, `OrAllFilters`, `NotFilter` and the
//! comparisons `EqualsTo`, `ContainsAny`, `ContainsAll`, `GreaterThan[OrEquals]`,
//! `LessThan[OrEquals]` — as `SearchEngagements` (`EngagementSearchFilter`) and the customer
//! account searches (`Filter`) declare it. Pure: a search hands it rows that implement
//! [`Fields`], which says what kind each key is and what a row holds under it.
//!
//! Strings compare without regard to case. On a [`Kind::Text`] field `ContainsAny`/`ContainsAll`
//! are substring tests; on a [`Kind::Keyword`] field they are equality with any/every value; on a
//! [`Kind::Set`] field they are set tests. A row without a value under a key matches no
//! comparison of it (so `NotFilter` of one matches it).

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{FieldError, FieldErrorCode};
use crate::time::{parse_timestamp, Instant};

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
    pub double_value: Option<f64>,
    pub long_value: Option<i64>,
    #[serde(default)]
    pub string_list_value: Vec<String>,
    pub string_value: Option<String>,
}

/// A comparison of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    EqualsTo,
    ContainsAny,
    ContainsAll,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
}

impl Op {
    pub fn name(self) -> &'static str {
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

    fn is_containment(self) -> bool {
        matches!(self, Op::ContainsAny | Op::ContainsAll)
    }
}

/// What a key holds, which decides the values it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text: containment is a substring test.
    Text,
    /// One value of a vocabulary (a status, a country): containment is equality.
    Keyword,
    /// Several values (members' accounts, eligible programs).
    Set,
    Time,
    Count,
    /// A money amount (`EstimatedMrr`): compared with a `DoubleValue` or a `LongValue`.
    Amount,
}

impl Kind {
    fn takes_strings(self) -> bool {
        matches!(self, Kind::Text | Kind::Keyword | Kind::Set)
    }
}

/// A row's value under a key.
pub enum Field<'a> {
    Text(&'a str),
    Set(&'a [String]),
    Time(Instant),
    Count(i64),
    Amount(f64),
    Missing,
}

/// What a search filters: the kind of each key it knows, and a row's value under a key.
pub trait Fields {
    fn kind(key: &str) -> Option<Kind>;
    fn field(&self, key: &str) -> Field<'_>;
}

/// The limits a search's filter keeps to.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// "Specify exactly one member" per node (the customer accounts' `Filter`); otherwise the
    /// members of one node are all required.
    pub one_member_per_node: bool,
    /// How deep combinators may nest (the root is level 1).
    pub max_depth: usize,
    /// How many comparisons one tree may hold in all (`None`: as many as the body holds).
    pub max_leaves: Option<usize>,
}

fn invalid(path: &str, message: String) -> FieldError {
    FieldError::new(path, FieldErrorCode::InvalidValue, format!("{path}: {message}"))
}

/// The predicate's strings (its `StringValue` or `StringListValue`), lower-cased.
fn strings(p: &PredicateValue) -> Vec<String> {
    p.string_value.iter().chain(p.string_list_value.iter()).map(|s| s.to_lowercase()).collect()
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

/// Checks a filter tree once, before any row is read: every key is one `T` knows, every value
/// is of its key's kind, and the tree keeps to `shape`. Each error names where it is.
pub fn check<T: Fields>(filter: &Filter, path: &str, shape: Shape) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    check_into::<T>(filter, path, shape, 1, &mut errors);
    if let Some(max) = shape.max_leaves {
        let leaves = leaf_count(filter);
        if leaves > max {
            errors.push(invalid(path, format!("a filter holds at most {max} conditions; this one has {leaves}")));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn leaf_count(f: &Filter) -> usize {
    predicates(f).len()
        + f.and_all_filters.iter().chain(f.or_all_filters.iter()).map(leaf_count).sum::<usize>()
        + f.not_filter.as_deref().map_or(0, leaf_count)
}

fn check_into<T: Fields>(f: &Filter, path: &str, shape: Shape, depth: usize, errors: &mut Vec<FieldError>) {
    if depth > shape.max_depth {
        errors.push(invalid(path, format!("filters nest at most {} levels deep", shape.max_depth)));
        return;
    }
    let members = usize::from(!f.and_all_filters.is_empty())
        + usize::from(!f.or_all_filters.is_empty())
        + usize::from(f.not_filter.is_some())
        + predicates(f).len();
    if shape.one_member_per_node && members != 1 {
        errors.push(invalid(path, format!("a filter node has exactly one member; this one has {members}")));
    }
    for (i, sub) in f.and_all_filters.iter().enumerate() {
        check_into::<T>(sub, &format!("{path}.AndAllFilters[{i}]"), shape, depth + 1, errors);
    }
    for (i, sub) in f.or_all_filters.iter().enumerate() {
        check_into::<T>(sub, &format!("{path}.OrAllFilters[{i}]"), shape, depth + 1, errors);
    }
    if let Some(sub) = &f.not_filter {
        check_into::<T>(sub, &format!("{path}.NotFilter"), shape, depth + 1, errors);
    }
    for (op, p) in predicates(f) {
        let at = format!("{path}.{}.Value", op.name());
        let v = &p.value;
        let given = [
            v.date_value.is_some(),
            v.double_value.is_some(),
            v.long_value.is_some(),
            !v.string_list_value.is_empty(),
            v.string_value.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            errors
                .push(invalid(&at, "give exactly one of DateValue, DoubleValue, LongValue, StringValue, StringListValue".into()));
            continue;
        }
        let Some(kind) = T::kind(&p.key) else {
            errors
                .push(invalid(&format!("{path}.{}.Key", op.name()), format!("{} is not a field this search filters on", p.key)));
            continue;
        };
        let (ok, wanted) = match kind {
            Kind::Text | Kind::Keyword | Kind::Set => {
                (v.string_value.is_some() || !v.string_list_value.is_empty(), "a StringValue or StringListValue")
            }
            Kind::Time => (v.date_value.as_ref().is_some_and(|d| parse_timestamp(d).is_some()), "a DateValue"),
            Kind::Count => (v.long_value.is_some(), "a LongValue"),
            Kind::Amount => (v.double_value.is_some_and(f64::is_finite) || v.long_value.is_some(), "a DoubleValue or LongValue"),
        };
        if !ok {
            errors.push(invalid(&at, format!("{} is compared with {wanted}", p.key)));
        }
        if op.is_containment() && !kind.takes_strings() {
            errors.push(invalid(&at, format!("{} of {} is not defined: it is not text", op.name(), p.key)));
        }
    }
}

/// Whether `row` passes the (checked) filter.
pub fn matches<T: Fields>(f: &Filter, row: &T) -> bool {
    f.and_all_filters.iter().all(|sub| matches(sub, row))
        && (f.or_all_filters.is_empty() || f.or_all_filters.iter().any(|sub| matches(sub, row)))
        && f.not_filter.as_ref().is_none_or(|sub| !matches(sub.as_ref(), row))
        && predicates(f).into_iter().all(|(op, p)| holds(op, p, row))
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

fn holds<T: Fields>(op: Op, p: &Predicate, row: &T) -> bool {
    match row.field(&p.key) {
        Field::Missing => false,
        Field::Text(text) => {
            let text = text.to_lowercase();
            let wanted = strings(&p.value);
            let substring = T::kind(&p.key) == Some(Kind::Text);
            let contains = |w: &String| if substring { text.contains(w.as_str()) } else { text == *w };
            match op {
                Op::ContainsAny => wanted.iter().any(contains),
                Op::ContainsAll => wanted.iter().all(contains),
                _ => wanted.iter().any(|w| ordered(op, text.as_str().cmp(w.as_str()))),
            }
        }
        Field::Set(values) => {
            let wanted = strings(&p.value);
            let has = |w: &String| values.iter().any(|a| a.to_lowercase() == *w);
            match op {
                Op::ContainsAll => wanted.iter().all(has),
                Op::EqualsTo | Op::ContainsAny => wanted.iter().any(has),
                _ => wanted.iter().any(|w| values.iter().any(|a| ordered(op, a.to_lowercase().cmp(w)))),
            }
        }
        Field::Time(t) => p.value.date_value.as_ref().and_then(parse_timestamp).is_some_and(|d| ordered(op, t.cmp(&d))),
        Field::Count(n) => p.value.long_value.is_some_and(|v| ordered(op, n.cmp(&v))),
        Field::Amount(a) => {
            p.value.double_value.or(p.value.long_value.map(|v| v as f64)).is_some_and(|v| ordered(op, a.total_cmp(&v)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Row {
        name: String,
        status: String,
        tags: Vec<String>,
        created: Instant,
        note: Option<String>,
    }

    impl Fields for Row {
        fn kind(key: &str) -> Option<Kind> {
            Some(match key {
                "NAME" | "NOTE" => Kind::Text,
                "STATUS" => Kind::Keyword,
                "TAGS" => Kind::Set,
                "CREATED" => Kind::Time,
                _ => return None,
            })
        }
        fn field(&self, key: &str) -> Field<'_> {
            match key {
                "NAME" => Field::Text(&self.name),
                "STATUS" => Field::Text(&self.status),
                "TAGS" => Field::Set(&self.tags),
                "CREATED" => Field::Time(self.created),
                "NOTE" => self.note.as_deref().map_or(Field::Missing, Field::Text),
                _ => Field::Missing,
            }
        }
    }

    fn row(name: &str, status: &str, tags: &[&str], ms: i64, note: Option<&str>) -> Row {
        Row {
            name: name.into(),
            status: status.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created: crate::time::from_millis(ms),
            note: note.map(String::from),
        }
    }

    fn filter(v: Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    const STRICT: Shape = Shape { one_member_per_node: true, max_depth: 3, max_leaves: Some(3) };

    #[test]
    fn keywords_compare_whole_values_and_text_by_substring() {
        let r = row("Acme Retail", "ENRICHED", &["MAP", "ISV"], 1_000, None);
        let f = filter(json!({"ContainsAny": {"Key": "STATUS", "Value": {"StringListValue": ["ENRICH", "PENDING"]}}}));
        assert!(!matches(&f, &r), "a keyword is not matched by a part of it");
        let f = filter(json!({"ContainsAny": {"Key": "STATUS", "Value": {"StringListValue": ["enriched", "PENDING"]}}}));
        assert!(matches(&f, &r));
        let f = filter(json!({"ContainsAny": {"Key": "NAME", "Value": {"StringListValue": ["retail"]}}}));
        assert!(matches(&f, &r), "text is matched by a part of it");
        let f = filter(json!({"ContainsAll": {"Key": "TAGS", "Value": {"StringListValue": ["isv", "MAP"]}}}));
        assert!(matches(&f, &r));
    }

    #[test]
    fn a_missing_value_matches_no_comparison_and_its_negation_matches() {
        let r = row("Acme", "PENDING", &[], 1_000, None);
        let f = filter(json!({"EqualsTo": {"Key": "NOTE", "Value": {"StringValue": "x"}}}));
        assert!(!matches(&f, &r));
        let f = filter(json!({"NotFilter": {"EqualsTo": {"Key": "NOTE", "Value": {"StringValue": "x"}}}}));
        assert!(matches(&f, &r));
    }

    #[test]
    fn the_shape_limits_members_and_depth_naming_where() {
        let two = filter(json!({"EqualsTo": {"Key": "STATUS", "Value": {"StringValue": "PENDING"}},
                                "NotFilter": {"EqualsTo": {"Key": "NAME", "Value": {"StringValue": "a"}}}}));
        let errors = check::<Row>(&two, "Filter", STRICT).unwrap_err();
        assert_eq!(errors[0].field_name, "Filter");
        assert!(check::<Row>(&two, "Filter", Shape { one_member_per_node: false, max_depth: 3, max_leaves: None }).is_ok());
        let deep = filter(
            json!({"NotFilter": {"NotFilter": {"NotFilter": {"EqualsTo": {"Key": "NAME", "Value": {"StringValue": "a"}}}}}}),
        );
        let errors = check::<Row>(&deep, "Filter", STRICT).unwrap_err();
        assert_eq!(errors[0].field_name, "Filter.NotFilter.NotFilter.NotFilter");
        let unknown = filter(json!({"AndAllFilters": [{"EqualsTo": {"Key": "COLOUR", "Value": {"StringValue": "red"}}}]}));
        let errors = check::<Row>(&unknown, "Filter", STRICT).unwrap_err();
        assert_eq!(errors[0].field_name, "Filter.AndAllFilters[0].EqualsTo.Key");
        let date_as_text = filter(json!({"GreaterThan": {"Key": "CREATED", "Value": {"StringValue": "yesterday"}}}));
        assert!(check::<Row>(&date_as_text, "Filter", STRICT).is_err());
    }

    #[test]
    fn the_shape_limits_the_conditions_of_a_whole_tree() {
        let leaf = json!({"EqualsTo": {"Key": "NAME", "Value": {"StringValue": "a"}}});
        let three = filter(json!({"OrAllFilters": [leaf, {"AndAllFilters": [leaf, leaf]}]}));
        assert!(check::<Row>(&three, "Filter", STRICT).is_ok());
        let four = filter(json!({"OrAllFilters": [leaf, {"AndAllFilters": [leaf, leaf]}, {"NotFilter": leaf}]}));
        let errors = check::<Row>(&four, "Filter", STRICT).unwrap_err();
        assert!(errors[0].message.contains("at most 3 conditions"), "{errors:?}");
    }

    #[test]
    fn dates_compare_in_order() {
        let r = row("Acme", "PENDING", &[], 2_000, None);
        let after = |d: &str| filter(json!({"GreaterThan": {"Key": "CREATED", "Value": {"DateValue": d}}}));
        assert!(matches(&after("1970-01-01T00:00:01Z"), &r));
        assert!(!matches(&after("1970-01-01T00:00:02Z"), &r));
    }
}
