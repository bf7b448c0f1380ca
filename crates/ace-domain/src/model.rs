//! The Selling API model (botocore's `partnercentral-selling-2022-07-26.service.json`),
//! embedded at compile time, and the two things the server does with it:
//!
//! * [`Model::validate`] checks a request body against an operation's input shape —
//!   required members, enums, patterns, lengths, list sizes, numeric ranges — and returns a
//!   normalised copy with unknown members and `null`s removed (they are ignored, never stored);
//! * [`Model::project`] keeps only the members an output shape declares, so a stored document
//!   never leaks a member the API does not define.
//!
//! Driving validation from the model data rather than hand-typed rules keeps every one of the
//! model's several hundred constraints in force, and a model update is a file copy.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::time::parse_timestamp;

const MODEL_JSON: &str = include_str!("../../../reference/partnercentral-selling-2022-07-26.service.json");
/// This project's extension operations (`AcePartner.*`), a botocore-loadable model of its own.
const ACE_PARTNER_MODEL_JSON: &str = include_str!("../../../models/ace-partner/2026-11-26/service-2.json");

/// `ValidationExceptionErrorCode` of the model: what is wrong with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorCode {
    RequiredFieldMissing,
    InvalidEnumValue,
    InvalidStringFormat,
    InvalidValue,
    NotEnoughValues,
    TooManyValues,
    InvalidResourceState,
    DuplicateKeyValue,
    ValueOutOfRange,
    ActionNotPermitted,
}

impl FieldErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiredFieldMissing => "REQUIRED_FIELD_MISSING",
            Self::InvalidEnumValue => "INVALID_ENUM_VALUE",
            Self::InvalidStringFormat => "INVALID_STRING_FORMAT",
            Self::InvalidValue => "INVALID_VALUE",
            Self::NotEnoughValues => "NOT_ENOUGH_VALUES",
            Self::TooManyValues => "TOO_MANY_VALUES",
            Self::InvalidResourceState => "INVALID_RESOURCE_STATE",
            Self::DuplicateKeyValue => "DUPLICATE_KEY_VALUE",
            Self::ValueOutOfRange => "VALUE_OUT_OF_RANGE",
            Self::ActionNotPermitted => "ACTION_NOT_PERMITTED",
        }
    }

    pub const ALL: [FieldErrorCode; 10] = [
        Self::RequiredFieldMissing,
        Self::InvalidEnumValue,
        Self::InvalidStringFormat,
        Self::InvalidValue,
        Self::NotEnoughValues,
        Self::TooManyValues,
        Self::InvalidResourceState,
        Self::DuplicateKeyValue,
        Self::ValueOutOfRange,
        Self::ActionNotPermitted,
    ];
}

/// One entry of `ValidationException.ErrorList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field_name: String,
    pub code: FieldErrorCode,
    pub message: String,
}

impl FieldError {
    pub fn new(field_name: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> Self {
        Self { field_name: field_name.into(), code, message: message.into() }
    }
}

/// A limit on everything: a request can produce at most this many field errors.
const FIELD_ERRORS_MAX: usize = 50;

#[derive(Debug, Deserialize)]
struct RawModel {
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, RawShape>,
}

#[derive(Debug, Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
    output: Option<RawRef>,
}

#[derive(Debug, Deserialize)]
struct RawRef {
    shape: String,
}

#[derive(Debug, Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    members: Option<HashMap<String, RawRef>>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    #[serde(rename = "enum")]
    enum_values: Option<Vec<String>>,
    pattern: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(default)]
    union: bool,
}

/// A compiled shape pattern. The model's patterns are Java regexes matched against the whole
/// value; a leading `(?=.{a,b}$)` look-ahead (unsupported by the `regex` crate) is turned into
/// a length check.
#[derive(Debug)]
struct Pattern {
    regex: Regex,
    length_min: Option<usize>,
    length_max: Option<usize>,
}

impl Pattern {
    fn compile(source: &str) -> Pattern {
        let lookahead = Regex::new(r"^\(\?=\.\{(\d+),(\d+)\}\$\)").expect("static regex");
        let (body, length_min, length_max) = match lookahead.captures(source) {
            Some(c) => (&source[c.get(0).expect("group 0").end()..], c[1].parse().ok(), c[2].parse().ok()),
            None => (source, None, None),
        };
        let regex =
            Regex::new(&format!("^(?:{body})$")).unwrap_or_else(|e| panic!("model pattern {source:?} does not compile: {e}"));
        Pattern { regex, length_min, length_max }
    }

    fn is_match(&self, value: &str) -> bool {
        let length = value.chars().count();
        self.length_min.is_none_or(|min| length >= min)
            && self.length_max.is_none_or(|max| length <= max)
            && self.regex.is_match(value)
    }
}

pub struct Model {
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, RawShape>,
    patterns: HashMap<String, Pattern>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("shapes", &self.shapes.len()).finish()
    }
}

impl Model {
    /// The Selling API model, parsed once.
    pub fn get() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Model::parse(MODEL_JSON))
    }

    /// The `AcePartner` extension model, parsed once.
    pub fn ace_partner() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Model::parse(ACE_PARTNER_MODEL_JSON))
    }

    fn parse(json: &str) -> Model {
        let raw: RawModel = serde_json::from_str(json).expect("embedded model parses");
        let patterns = raw
            .shapes
            .iter()
            .filter_map(|(name, shape)| shape.pattern.as_deref().map(|p| (name.clone(), Pattern::compile(p))))
            .collect();
        Model { operations: raw.operations, shapes: raw.shapes, patterns }
    }

    /// Every operation the model declares, in no particular order.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    pub fn has_operation(&self, name: &str) -> bool {
        self.operations.contains_key(name)
    }

    pub fn operation_input(&self, operation: &str) -> Option<&str> {
        self.operations.get(operation)?.input.as_ref().map(|r| r.shape.as_str())
    }

    pub fn operation_output(&self, operation: &str) -> Option<&str> {
        self.operations.get(operation)?.output.as_ref().map(|r| r.shape.as_str())
    }

    /// The enum values of a string shape, as the model lists them.
    pub fn enum_values(&self, shape: &str) -> Option<&[String]> {
        self.shapes.get(shape)?.enum_values.as_deref()
    }

    /// Whether structure `shape` requires member `member`.
    pub fn is_required(&self, shape: &str, member: &str) -> bool {
        self.shapes.get(shape).is_some_and(|s| s.required.iter().any(|m| m == member))
    }

    /// The type of `shape` as the model names it (`structure`, `list`, `string`, …).
    pub fn shape_type(&self, shape: &str) -> Option<&str> {
        self.shapes.get(shape).map(|s| s.kind.as_str())
    }

    /// The member shape of list `shape`.
    pub fn list_member(&self, shape: &str) -> Option<&str> {
        self.shapes.get(shape)?.member.as_ref().map(|r| r.shape.as_str())
    }

    /// The shape of member `member` of structure `shape`.
    pub fn member_shape(&self, shape: &str, member: &str) -> Option<&str> {
        self.shapes.get(shape)?.members.as_ref()?.get(member).map(|r| r.shape.as_str())
    }

    /// Checks `value` against `shape` and returns the normalised value, or every field error
    /// found (up to a limit), in document order.
    pub fn validate(&self, shape: &str, value: &Value) -> Result<Value, Vec<FieldError>> {
        let mut errors = Vec::new();
        let normalised = self.check(shape, value, "", &mut errors);
        if errors.is_empty() {
            Ok(normalised.unwrap_or(Value::Null))
        } else {
            errors.truncate(FIELD_ERRORS_MAX);
            Err(errors)
        }
    }

    /// Validates one member value: returns `None` (and records errors) when it is invalid.
    fn check(&self, shape_name: &str, value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
        if errors.len() >= FIELD_ERRORS_MAX {
            return None;
        }
        let Some(shape) = self.shapes.get(shape_name) else {
            errors.push(FieldError::new(path, FieldErrorCode::InvalidValue, "unknown shape"));
            return None;
        };
        let field = if path.is_empty() { "request" } else { path };
        let mut fail = |code, message: String| {
            errors.push(FieldError::new(path, code, format!("{field}: {message}")));
            None
        };
        match shape.kind.as_str() {
            "structure" => {
                let Value::Object(object) = value else {
                    return fail(FieldErrorCode::InvalidValue, "must be an object".into());
                };
                let members = shape.members.as_ref();
                let mut out = Map::new();
                for required in &shape.required {
                    if object.get(required).is_none_or(Value::is_null) {
                        errors.push(FieldError::new(
                            join(path, required),
                            FieldErrorCode::RequiredFieldMissing,
                            format!("{} is required", join(path, required)),
                        ));
                    }
                }
                let is_union = shape.union;
                let mut set_members = 0;
                for (name, member_value) in object {
                    if member_value.is_null() {
                        continue;
                    }
                    let Some(member) = members.and_then(|m| m.get(name)) else {
                        continue; // unknown members are ignored (forward compatibility), never stored
                    };
                    set_members += 1;
                    if let Some(v) = self.check(&member.shape, member_value, &join(path, name), errors) {
                        out.insert(name.clone(), v);
                    }
                }
                if is_union && set_members != 1 {
                    errors.push(FieldError::new(
                        path,
                        FieldErrorCode::InvalidValue,
                        format!("{field}: exactly one member must be set"),
                    ));
                }
                Some(Value::Object(out))
            }
            "list" => {
                let Value::Array(items) = value else {
                    return fail(FieldErrorCode::InvalidValue, "must be a list".into());
                };
                if let Some(max) = shape.max {
                    if items.len() as f64 > max {
                        return fail(FieldErrorCode::TooManyValues, format!("at most {max} values allowed, got {}", items.len()));
                    }
                }
                if let Some(min) = shape.min {
                    if (items.len() as f64) < min {
                        return fail(FieldErrorCode::NotEnoughValues, format!("at least {min} values required"));
                    }
                }
                let member = &shape.member.as_ref().expect("list has a member").shape;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    if item.is_null() {
                        errors.push(FieldError::new(
                            &item_path,
                            FieldErrorCode::InvalidValue,
                            format!("{item_path}: must not be null"),
                        ));
                        continue;
                    }
                    if let Some(v) = self.check(member, item, &item_path, errors) {
                        out.push(v);
                    }
                }
                Some(Value::Array(out))
            }
            "map" => {
                let Value::Object(object) = value else {
                    return fail(FieldErrorCode::InvalidValue, "must be an object".into());
                };
                let key_shape = &shape.key.as_ref().expect("map has a key").shape;
                let value_shape = &shape.value.as_ref().expect("map has a value").shape;
                let mut out = Map::new();
                for (k, v) in object {
                    let entry = join(path, k);
                    self.check(key_shape, &Value::String(k.clone()), &entry, errors);
                    if let Some(v) = self.check(value_shape, v, &entry, errors) {
                        out.insert(k.clone(), v);
                    }
                }
                Some(Value::Object(out))
            }
            "string" => {
                let Value::String(s) = value else {
                    return fail(FieldErrorCode::InvalidValue, "must be a string".into());
                };
                if let Some(allowed) = &shape.enum_values {
                    if !allowed.iter().any(|a| a == s) {
                        let shown: Vec<&str> = allowed.iter().take(12).map(String::as_str).collect();
                        let more = if allowed.len() > 12 { ", …" } else { "" };
                        return fail(
                            FieldErrorCode::InvalidEnumValue,
                            format!("{s:?} is not one of: {}{more}", shown.join(", ")),
                        );
                    }
                }
                let length = s.chars().count();
                if let Some(min) = shape.min {
                    if (length as f64) < min {
                        return fail(FieldErrorCode::InvalidStringFormat, format!("must be at least {min} characters"));
                    }
                }
                if let Some(max) = shape.max {
                    if length as f64 > max {
                        return fail(FieldErrorCode::InvalidStringFormat, format!("must be at most {max} characters"));
                    }
                }
                if let Some(pattern) = self.patterns.get(shape_name) {
                    if !pattern.is_match(s) {
                        let source = shape.pattern.as_deref().unwrap_or_default();
                        return fail(FieldErrorCode::InvalidStringFormat, format!("does not match the pattern {source}"));
                    }
                }
                Some(value.clone())
            }
            "integer" | "long" => {
                let Some(n) = value.as_i64() else {
                    return fail(FieldErrorCode::InvalidValue, "must be an integer".into());
                };
                if shape.min.is_some_and(|min| (n as f64) < min) || shape.max.is_some_and(|max| n as f64 > max) {
                    return fail(
                        FieldErrorCode::ValueOutOfRange,
                        format!("must be between {} and {}", shape.min.unwrap_or(f64::MIN), shape.max.unwrap_or(f64::MAX)),
                    );
                }
                Some(value.clone())
            }
            "double" | "float" => {
                if !value.is_number() {
                    return fail(FieldErrorCode::InvalidValue, "must be a number".into());
                }
                Some(value.clone())
            }
            "boolean" => {
                if !value.is_boolean() {
                    return fail(FieldErrorCode::InvalidValue, "must be true or false".into());
                }
                Some(value.clone())
            }
            "timestamp" => match parse_timestamp(value) {
                Some(t) => Some(Value::String(crate::time::format_timestamp(t))),
                None => fail(FieldErrorCode::InvalidValue, "must be an ISO-8601 date-time such as 2025-01-31T12:00:00Z".into()),
            },
            other => fail(FieldErrorCode::InvalidValue, format!("unsupported shape type {other}")),
        }
    }

    /// Keeps only what `shape` declares: members of structures, recursively.
    pub fn project(&self, shape_name: &str, value: &Value) -> Value {
        let Some(shape) = self.shapes.get(shape_name) else {
            return Value::Null;
        };
        match (shape.kind.as_str(), value) {
            ("structure", Value::Object(object)) => {
                let mut out = Map::new();
                if let Some(members) = &shape.members {
                    for (name, v) in object {
                        if let Some(member) = members.get(name) {
                            if !v.is_null() {
                                out.insert(name.clone(), self.project(&member.shape, v));
                            }
                        }
                    }
                }
                Value::Object(out)
            }
            ("list", Value::Array(items)) => {
                let member = &shape.member.as_ref().expect("list has a member").shape;
                Value::Array(items.iter().map(|i| self.project(member, i)).collect())
            }
            _ => value.clone(),
        }
    }
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(shape: &str, v: Value) -> Vec<(String, &'static str)> {
        match Model::get().validate(shape, &v) {
            Ok(_) => vec![],
            Err(errors) => errors.into_iter().map(|e| (e.field_name, e.code.as_str())).collect(),
        }
    }

    #[test]
    fn every_pattern_in_the_models_compiles() {
        let model = Model::get();
        assert!(model.patterns.len() > 50, "{} patterns", model.patterns.len());
        let extension = Model::ace_partner();
        assert!(extension.has_operation("PutSubmissionAttestation"));
        assert!(extension.patterns.contains_key("EvidenceRequestId"));
    }

    #[test]
    fn required_members_enums_patterns_and_lengths_are_enforced() {
        let c = codes(
            "CreateOpportunityRequest",
            json!({
                "Catalog": "AWS",
                "Customer": {"Account": {"WebsiteUrl": "x", "Industry": "Bogus", "Duns": "12"}},
                "LifeCycle": {"Stage": "Nope"},
                "Project": {"CustomerBusinessProblem": "too short"},
            }),
        );
        let expect = [
            ("ClientToken", "REQUIRED_FIELD_MISSING"),
            ("Customer.Account.CompanyName", "REQUIRED_FIELD_MISSING"),
            ("Customer.Account.WebsiteUrl", "INVALID_STRING_FORMAT"),
            ("Customer.Account.Industry", "INVALID_ENUM_VALUE"),
            ("Customer.Account.Duns", "INVALID_STRING_FORMAT"),
            ("LifeCycle.Stage", "INVALID_ENUM_VALUE"),
            ("Project.CustomerBusinessProblem", "INVALID_STRING_FORMAT"),
        ];
        for (field, code) in expect {
            assert!(c.contains(&(field.to_string(), code)), "missing {field} {code} in {c:?}");
        }
        assert_eq!(c.len(), expect.len(), "{c:?}");
    }

    #[test]
    fn lists_sizes_and_numbers_are_checked() {
        let ids: Vec<String> = (0..21).map(|i| format!("O{i}")).collect();
        assert_eq!(
            codes("ListOpportunitiesRequest", json!({"Catalog": "AWS", "Identifier": ids})),
            vec![("Identifier".to_string(), "TOO_MANY_VALUES")]
        );
        assert_eq!(
            codes("ListOpportunitiesRequest", json!({"Catalog": "AWS", "MaxResults": 101})),
            vec![("MaxResults".to_string(), "VALUE_OUT_OF_RANGE")]
        );
        assert_eq!(
            codes("ListOpportunitiesRequest", json!({"Catalog": "AWS", "Identifier": ["X1"]})),
            vec![("Identifier[0]".to_string(), "INVALID_STRING_FORMAT")]
        );
        assert_eq!(
            codes("ListOpportunitiesRequest", json!({"Catalog": "AWS", "MaxResults": "5"})),
            vec![("MaxResults".to_string(), "INVALID_VALUE")]
        );
    }

    #[test]
    fn unknown_members_and_nulls_are_dropped() {
        let v = Model::get()
            .validate(
                "ListOpportunitiesRequest",
                &json!({"Catalog": "AWS", "Bogus": 1, "NextToken": null, "Sort": {"SortBy": "Identifier", "SortOrder": "ASCENDING", "x": 2}}),
            )
            .unwrap();
        assert_eq!(v, json!({"Catalog": "AWS", "Sort": {"SortBy": "Identifier", "SortOrder": "ASCENDING"}}));
    }

    #[test]
    fn lookahead_lengths_apply() {
        let long = format!("{}@example.com", "a".repeat(80));
        assert_eq!(codes("Contact", json!({"Email": long})), vec![("Email".to_string(), "INVALID_STRING_FORMAT")]);
        assert!(codes("Contact", json!({"Email": "jane@example.com", "Phone": "+14155550100"})).is_empty());
        assert_eq!(codes("Contact", json!({"Email": "Jane@Example.com"})), vec![("Email".to_string(), "INVALID_STRING_FORMAT")]);
    }

    #[test]
    fn timestamps_are_normalised_to_milliseconds() {
        let v = Model::get()
            .validate(
                "UpdateOpportunityRequest",
                &json!({"Catalog": "AWS", "Identifier": "O1", "LastModifiedDate": "2024-11-30T12:34:56.789000Z"}),
            )
            .unwrap();
        assert_eq!(v["LastModifiedDate"], "2024-11-30T12:34:56.789Z");
    }

    #[test]
    fn project_keeps_declared_members_only() {
        let v = Model::get().project(
            "OpportunitySummary",
            &json!({"Catalog": "AWS", "Id": "O1", "Customer": {"Account": {"CompanyName": "A", "Duns": "123456789"}, "Contacts": []}}),
        );
        assert_eq!(v, json!({"Catalog": "AWS", "Id": "O1", "Customer": {"Account": {"CompanyName": "A"}}}));
    }
}
