//! SearchOpportunities' index (issue 20): one row per opportunity in `opportunity_search` (the
//! [`Entry`] a search filters, sorts and answers with) and its words in the engine's own
//! full-text index — SQLite FTS5 (`opportunity_words`, keyed by the opportunity),
//! PostgreSQL a weighted `tsvector` under a GIN index. Both are written inside the batch's
//! transaction, with the opportunity: a search never sees an opportunity its index does not.
//!
//! Every line of words starts with the partner's tenant term, and a keyword search asks for it
//! (SQLite: in the `tenant` column; PostgreSQL: weight `A`, the words weight `D`): the index
//! answers with the caller's own opportunities only, and the query checks the partner besides.
//! REM-2: only a referral's opportunity is ever deleted (its revocation, REM-1/REM-2). Its words
//! — each version's, when an update replaces them — are deleted under FTS5's `secure-delete`,
//! so they leave the index's pages (which `secure_delete` then zeroes), not only its lookups.
//! Every other update replaces its words the cheap way (cancelled entries that stay until FTS5
//! merges their segment): under `secure-delete` an update rewrites every page holding one of
//! its words, 4.5 times its cost (`ace bench --quick`: 598 against 2,729 updates/s,
//! 2026-12-04). A contentless table with `contentless_delete` would save the copy of the words,
//! but it deletes by tombstones and leaves the words in its pages until a merge: the REM-2
//! contract test found them.

use ace_domain::ids::Catalog;
use ace_domain::opportunity::Opportunity;
use ace_domain::opportunity_search::{entry, tenant_term, words, Entry};

use crate::sql::{Database, Dialect, Param, Tx};
use crate::store::{from_json, to_json};
use crate::{StoreResult, WriteBatch};

/// The FTS5 row of an opportunity: its number, with the catalog in the lowest bit (numbers are
/// below 10^12, so this stays far inside an i64).
fn words_rowid(catalog: Catalog, number: i64) -> i64 {
    number * 2 + i64::from(catalog == Catalog::Sandbox)
}

async fn put(tx: &mut Box<dyn Tx>, o: &Opportunity, replacing: bool) -> StoreResult<()> {
    let dialect = tx.dialect();
    let number = o.id_number();
    let doc = to_json(&entry(o))?;
    let tenant = tenant_term(&o.partner_id, o.catalog);
    let line = words(o);
    let key: [Param; 3] = [o.catalog.as_str().into(), number.into(), o.partner_id.as_str().into()];
    match dialect {
        Dialect::Sqlite => {
            tx.exec(
                "INSERT INTO opportunity_search (catalog, id_number, partner_id, doc) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (catalog, id_number) DO UPDATE SET partner_id = excluded.partner_id, doc = excluded.doc",
                &[key[0].clone(), key[1].clone(), key[2].clone(), doc.into()],
            )
            .await?;
            let rowid = words_rowid(o.catalog, number);
            if replacing {
                delete_words(tx, rowid, o.referral_id.is_some()).await?;
            }
            tx.exec_deferred(
                "INSERT INTO opportunity_words (rowid, tenant, words) VALUES ($1, $2, $3)",
                vec![rowid.into(), tenant.into(), line.into()],
            )
            .await?;
        }
        Dialect::Postgres => {
            tx.exec(
                "INSERT INTO opportunity_search (catalog, id_number, partner_id, doc, words) VALUES ($1, $2, $3, $4, \
                 setweight(to_tsvector('simple', $5), 'A') || setweight(to_tsvector('simple', $6), 'D')) \
                 ON CONFLICT (catalog, id_number) DO UPDATE SET partner_id = excluded.partner_id, doc = excluded.doc, \
                 words = excluded.words",
                &[key[0].clone(), key[1].clone(), key[2].clone(), doc.into(), tenant.into(), line.into()],
            )
            .await?;
        }
    }
    Ok(())
}

/// Removes an opportunity's entry and words. On SQLite the deletion runs under FTS5's
/// `secure-delete` (REM-2): the words leave the index's pages, not only its lookups.
pub(crate) async fn remove(tx: &mut Box<dyn Tx>, catalog: Catalog, number: i64) -> StoreResult<()> {
    tx.exec("DELETE FROM opportunity_search WHERE catalog = $1 AND id_number = $2", &[catalog.as_str().into(), number.into()])
        .await?;
    if tx.dialect() == Dialect::Sqlite {
        delete_words(tx, words_rowid(catalog, number), true).await?;
    }
    Ok(())
}

/// Deletes a line of words (SQLite), under `secure-delete` when `secure`: then its entries
/// leave the index's pages at once; otherwise they stay, cancelled, until FTS5 merges the
/// segment that holds them.
async fn delete_words(tx: &mut Box<dyn Tx>, rowid: i64, secure: bool) -> StoreResult<()> {
    // Deferred like the insertions (see `Tx::exec_deferred`), so they keep their order.
    if !secure {
        return tx.exec_deferred("DELETE FROM opportunity_words WHERE rowid = $1", vec![rowid.into()]).await;
    }
    tx.exec_deferred("INSERT INTO opportunity_words (opportunity_words, rank) VALUES ('secure-delete', 1)", vec![]).await?;
    tx.exec_deferred("DELETE FROM opportunity_words WHERE rowid = $1", vec![rowid.into()]).await?;
    tx.exec_deferred("INSERT INTO opportunity_words (opportunity_words, rank) VALUES ('secure-delete', 0)", vec![]).await?;
    Ok(())
}

/// The batch's opportunity writes, inside its transaction (deletions go with the
/// opportunities' own, see [`remove`]).
pub(crate) async fn apply(tx: &mut Box<dyn Tx>, batch: &WriteBatch) -> StoreResult<()> {
    for o in &batch.insert_opportunities {
        put(tx, o, false).await?;
    }
    for (o, _) in &batch.update_opportunities {
        put(tx, o, true).await?;
    }
    Ok(())
}

/// The full-text query of a keyword's terms (each a word's beginning) within a tenant.
fn text_query(dialect: Dialect, tenant: &str, terms: &[String]) -> String {
    // Terms are runs of letters and digits (`opportunity_search::tokens`): nothing to escape.
    match dialect {
        Dialect::Sqlite => {
            let mut q = format!("tenant : \"{tenant}\"");
            for t in terms {
                q.push_str(&format!(" AND words : \"{t}\"*"));
            }
            q
        }
        Dialect::Postgres => {
            let mut q = format!("'{tenant}':A");
            for t in terms {
                q.push_str(&format!(" & '{t}':*D"));
            }
            q
        }
    }
}

/// The entries of a partner's opportunities in a catalog whose words hold every term (each as
/// a word's beginning), or all of them without terms. Unordered.
pub(crate) async fn entries(
    db: &dyn Database,
    partner_id: &str,
    catalog: Catalog,
    terms: Option<&[String]>,
) -> StoreResult<Vec<Entry>> {
    let mut r = db.reader().await?;
    let rows = match terms {
        None => {
            r.query(
                "SELECT doc FROM opportunity_search WHERE partner_id = $1 AND catalog = $2",
                &[partner_id.into(), catalog.as_str().into()],
            )
            .await?
        }
        Some(terms) => {
            let query = text_query(db.dialect(), &tenant_term(partner_id, catalog), terms);
            let sql = match db.dialect() {
                Dialect::Sqlite => {
                    "SELECT s.doc FROM opportunity_words w JOIN opportunity_search s \
                     ON s.catalog = $2 AND s.id_number = (w.rowid >> 1) \
                     WHERE opportunity_words MATCH $3 AND s.partner_id = $1"
                }
                Dialect::Postgres => {
                    "SELECT doc FROM opportunity_search \
                     WHERE partner_id = $1 AND catalog = $2 AND words @@ to_tsquery('simple', $3)"
                }
            };
            r.query(sql, &[partner_id.into(), catalog.as_str().into(), query.into()]).await?
        }
    };
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

/// The numbers of a partner's opportunities in a catalog whose words hold every term (each as
/// a word's beginning): the full-text index's answer alone, one integer a match. Unordered.
/// The tenant term keeps the index inside the partner's own words; a caller that reads
/// anything by these numbers reads it within the partner's rows besides (USE-4).
pub(crate) async fn matches(
    db: &dyn Database,
    partner_id: &str,
    catalog: Catalog,
    terms: &[String],
    limit: usize,
) -> StoreResult<Vec<i64>> {
    let query = text_query(db.dialect(), &tenant_term(partner_id, catalog), terms);
    let mut r = db.reader().await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    match db.dialect() {
        Dialect::Sqlite => {
            // The tenant term holds the catalog: every row found is the catalog's.
            let rows = r
                .query(
                    "SELECT rowid FROM opportunity_words WHERE opportunity_words MATCH $1 LIMIT $2",
                    &[query.into(), limit.into()],
                )
                .await?;
            let sandbox = i64::from(catalog == Catalog::Sandbox);
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let rowid = row.int(0)?;
                if rowid & 1 == sandbox {
                    out.push(rowid >> 1);
                }
            }
            Ok(out)
        }
        Dialect::Postgres => {
            let rows = r
                .query(
                    "SELECT id_number FROM opportunity_search \
                     WHERE partner_id = $1 AND catalog = $2 AND words @@ to_tsquery('simple', $3) LIMIT $4",
                    &[partner_id.into(), catalog.as_str().into(), query.into(), limit.into()],
                )
                .await?;
            rows.iter().map(|row| row.int(0)).collect()
        }
    }
}

/// The full-text condition on a row of `opportunities` whose words must hold every term, with
/// its parameters (numbered from `$first`): for a read in the store's order that meets both at
/// once. PostgreSQL: a semi-join to the row's search entry, so the planner — which has the
/// words' statistics — chooses between reading in order and checking each row, or finding the
/// matches first. SQLite: membership in the index's answer, which it computes once per statement.
pub(crate) fn condition(
    dialect: Dialect,
    partner_id: &str,
    catalog: Catalog,
    terms: &[String],
    first: usize,
) -> (String, Vec<Param>) {
    let query = text_query(dialect, &tenant_term(partner_id, catalog), terms);
    match dialect {
        Dialect::Sqlite => (
            format!(
                "(id_number * 2 + ${first}) IN (SELECT rowid FROM opportunity_words WHERE opportunity_words MATCH ${})",
                first + 1
            ),
            vec![i64::from(catalog == Catalog::Sandbox).into(), query.into()],
        ),
        Dialect::Postgres => (
            format!(
                "EXISTS (SELECT 1 FROM opportunity_search s WHERE s.catalog = opportunities.catalog \
                 AND s.id_number = opportunities.id_number AND s.words @@ to_tsquery('simple', ${first}))"
            ),
            vec![query.into()],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_query_asks_for_the_tenant_and_every_term_as_a_prefix() {
        let terms = vec!["acme".to_string(), "lake".to_string()];
        assert_eq!(text_query(Dialect::Sqlite, "t50x", &terms), "tenant : \"t50x\" AND words : \"acme\"* AND words : \"lake\"*");
        assert_eq!(text_query(Dialect::Postgres, "t50x", &terms), "'t50x':A & 'acme':*D & 'lake':*D");
        assert_ne!(words_rowid(Catalog::Aws, 7), words_rowid(Catalog::Sandbox, 7));
    }
}
