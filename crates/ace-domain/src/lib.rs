//! The ACE program's rules and the Selling API model, as plain types and pure functions.
//!
//! Architecture invariant: this crate does no I/O, spawns nothing and never reads a clock.
//! Time and random values come in as arguments. `tests::domain_crate_stays_pure` enforces the
//! dependency side of that.

pub mod events;
pub mod ids;
pub mod listing;
pub mod model;
pub mod opportunity;
pub mod partner;
pub mod quota;
pub mod time;

#[cfg(test)]
mod tests {
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
