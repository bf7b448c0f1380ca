//! The ACE program's rules and the Selling API model, as plain types and pure functions.
//!
//! Architecture invariant: this crate does no I/O, spawns nothing and never reads a clock.
//! Time and random values come in as arguments. `tests::domain_crate_stays_pure` enforces the
//! dependency side of that.

pub mod audit;
pub mod bulk;
pub mod business_days;
pub mod check;
pub mod customer_account;
pub mod eligibility;
pub mod engagement;
pub mod engagement_search;
pub mod events;
pub mod filter;
pub mod identity;
pub mod ids;
pub mod listing;
pub mod model;
pub mod opportunity;
pub mod opportunity_search;
pub mod partner;
pub mod pii;
pub mod program;
pub mod quota;
pub mod referral;
pub mod security;
pub mod snapshot;
pub mod submission;
pub mod terms;
pub mod time;
pub mod webhook;

#[cfg(test)]
mod tests {
    use crate::model::{FieldErrorCode, Model};
    use crate::opportunity::{Origin, ReviewStatus, STAGES};

    fn model_enum(shape: &str) -> Vec<String> {
        Model::get().enum_values(shape).unwrap_or_else(|| panic!("{shape} is an enum in the model")).to_vec()
    }

    /// The enums the rules are written against are exactly the model's.
    #[test]
    fn enums_match_the_model() {
        assert_eq!(model_enum("ReviewStatus"), ReviewStatus::ALL.map(|r| r.as_str().to_string()));
        assert_eq!(model_enum("Stage"), STAGES.map(String::from));
        assert_eq!(model_enum("ValidationExceptionErrorCode"), FieldErrorCode::ALL.map(|c| c.as_str().to_string()));
        assert_eq!(model_enum("OpportunityOrigin"), [Origin::AwsReferral.as_str(), Origin::PartnerReferral.as_str()]);
        let mut sort_names = model_enum("OpportunitySortName");
        sort_names.retain(|s| crate::listing::SortKey::parse(s).is_none());
        assert!(sort_names.is_empty(), "sort keys without a SortKey: {sort_names:?}");
        let mut related = model_enum("RelatedEntityType");
        related.retain(|t| crate::opportunity::association_limit(t).is_none());
        assert!(related.is_empty(), "related-entity types without a limit: {related:?}");
    }

    /// The domain crate must not depend on async runtimes, databases or HTTP.
    #[test]
    fn domain_crate_stays_pure() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest.split("[dependencies]").nth(1).unwrap_or("");
        for forbidden in ["tokio", "rusqlite", "postgres", "sqlx", "axum", "hyper", "reqwest", "tower", "async"] {
            assert!(!dependencies.contains(forbidden), "ace-domain must not depend on {forbidden}");
        }
    }
}
