//! The application layer: what the three edges — the partner API (awsJson + SigV4), the operator
//! API (JSON + bearer token) and the portal (HTML) — have in common, so that no edge calls
//! another. Each module is one family of use cases or the state they share; an edge parses its
//! input, calls here, and renders the answer in its own way.
//!
//! Issue 17 moves the use cases here family by family. The edges never touch the store
//! themselves (a test below scans them) and none imports another or is imported here; the
//! partner API's handlers still plan most of their writes themselves and commit them through
//! [`writes`], and a few application services still live at the crate root (`referrals`,
//! `governance`, `webhooks`, `bulk`), each with a namesake here to merge with.

pub mod accounts;
pub mod admin;
pub mod auth_guard;
pub mod bulk;
pub mod checks;
pub mod customer_accounts;
pub mod eligibility;
pub mod engagements;
mod error;
pub mod governance;
pub mod jobs;
pub mod keys;
pub mod operations;
pub mod partners;
pub mod password;
pub mod quota;
pub mod referrals;
pub mod review;
pub mod search;
pub mod security;
pub mod settings;
pub mod snapshots;
pub mod standing;
pub mod submission;
pub mod tenant;
pub mod views;
pub mod webhooks;
pub mod writes;

pub use error::AppError;

use ace_domain::partner::PartnerProfile;
use ace_store::UserRecord;

/// Who is calling: an active user of a partner, authenticated by SigV4 or by a portal session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub partner: PartnerProfile,
    pub user: UserRecord,
}

#[cfg(test)]
mod tests {
    /// Issue 17: the partner API, the operator API and the portal are adapters over this layer;
    /// none imports another, and this layer imports none of them. The portal and bulk jobs run
    /// the partner API's operations through `app::operations`, which start-up wires to the
    /// partner API's registry.
    #[test]
    fn edges_do_not_import_each_other() {
        const EDGES: [&str; 3] = ["partner_api", "operator_api", "web"];
        // `crate::web` but not `crate::webhooks`.
        let names = |code: &str, path: &str| {
            code.match_indices(path)
                .any(|(i, m)| !code[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        };
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        for dir in EDGES.iter().chain(&["app"]) {
            for entry in std::fs::read_dir(src.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    for other in EDGES.iter().filter(|o| *o != dir) {
                        let named = names(code, &format!("crate::{other}")) || names(code, &format!("super::super::{other}"));
                        if named {
                            found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(found.is_empty(), "an edge imports another, or this layer an edge:\n{}", found.join("\n"));
        assert!(src.join("web/portal.rs").exists(), "the scan reads the sources");
    }

    /// The lines (from 1) of `text` that name the state's store: `.store` followed by anything
    /// but more of a name or a call (`x.store(…)` is an atomic's), comments left out.
    fn store_reaches(text: &str) -> Vec<usize> {
        let code: String = text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        code.match_indices(".store")
            .filter(|(i, m)| {
                let rest = &code[i + m.len()..];
                let continues_name = rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                !continues_name && !rest.trim_start().starts_with('(')
            })
            .map(|(i, _)| code[..i].matches('\n').count() + 1)
            .collect()
    }

    #[test]
    fn the_store_scan_sees_every_form_of_reach() {
        assert_eq!(store_reaches("let o = r.state.store.get_opportunity(id);"), vec![1]);
        assert_eq!(store_reaches("let x = r\n    .state\n    .store\n    .get(id);"), vec![3]);
        assert_eq!(store_reaches("report(state.store.as_ref(), id)"), vec![1]);
        assert!(store_reaches("self.audited.store(true, Ordering::Relaxed);").is_empty());
        assert!(store_reaches("x.stored_at; // state.store.get(id)").is_empty());
    }

    /// Issue 17: the edges reach the store only through this layer. No edge names the state's
    /// store (`state.store.…`, or the handle passed on).
    #[test]
    fn edges_do_not_reach_the_store() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut scanned = 0;
        for edge in ["partner_api", "operator_api", "web"] {
            for entry in std::fs::read_dir(src.join(edge)).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                scanned += 1;
                for line in store_reaches(&text) {
                    found.push(format!("{}:{line}: {}", path.display(), text.lines().nth(line - 1).unwrap_or("").trim()));
                }
            }
        }
        assert!(found.is_empty(), "an edge reaches the store itself:\n{}", found.join("\n"));
        assert!(scanned > 20, "the scan reads the edges' sources ({scanned} files)");
    }
}
