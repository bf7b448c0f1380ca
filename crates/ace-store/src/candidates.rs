//! SUB-2's candidate reads: the customer identity's indexed columns, and the reads that find
//! the records sharing a domain, a DUNS, a name or a near name, each through its own index.

use ace_domain::identity::{name_prefix, CustomerIdentity};
use ace_domain::submission::ConflictCandidate;

use crate::sql::{Param, Row, Tx};
use crate::StoreResult;

/// Identity columns `(domain, duns, country, name prefix, normalised name)`; empty strings
/// where unknown, and a name prefix that matches nothing when there is no name.
pub(crate) fn identity_params(identity: &CustomerIdentity) -> [Param; 5] {
    let prefix = if identity.name.is_empty() { NO_NAME.to_string() } else { name_prefix(&identity.name) };
    [
        identity.domain.clone().unwrap_or_default().into(),
        identity.duns.clone().unwrap_or_default().into(),
        identity.country.clone().unwrap_or_default().into(),
        prefix.into(),
        identity.name.as_str().into(),
    ]
}

/// Reads [`ConflictCandidate`]s from the columns `record_id, partner_id, company, domain, duns,
/// country, name` (partner id empty for the operator's records).
pub(crate) fn candidate_from_row(source: &'static str, r: &Row) -> StoreResult<ConflictCandidate> {
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok(ConflictCandidate {
        source,
        record_id: r.text(0)?,
        partner_id: some(r.text(1)?),
        company_name: r.text(2)?,
        identity: CustomerIdentity {
            domain: some(r.text(3)?),
            duns: some(r.text(4)?),
            country: some(r.text(5)?),
            name: r.text(6)?,
        },
    })
}

/// How many names on each side of the customer's own name, in name order within its bucket
/// (country and two-letter prefix), the similar-name match (SUB-2) looks at. Exact domain,
/// DUNS and name matches are found through their indexes however large the bucket is; near
/// names that share the customer's first letters sort next to it.
pub(crate) const NAME_NEIGHBOURS: usize = 250;

/// The SUB-2 reads, each served by its own index: the same domain, the same DUNS, the same
/// name, then the names just above and just below in the bucket. `from` is `table WHERE
/// active-condition AND …` using the caller's `scope` parameters as `$1..`; the identity's
/// follow them.
pub(crate) async fn conflict_candidates(
    r: &mut Box<dyn Tx>,
    source: &'static str,
    columns: &str,
    from: &str,
    scope: Vec<Param>,
    identity: &CustomerIdentity,
    limit: usize,
) -> StoreResult<Vec<ConflictCandidate>> {
    let [domain, duns, country, prefix, name] = identity_params(identity);
    let k = scope.len();
    let (a, b, c) = (k + 1, k + 2, k + 3);
    let with = |extra: &[&Param]| scope.iter().chain(extra.iter().copied()).cloned().collect::<Vec<Param>>();
    let bucket = with(&[&country, &prefix, &name]);
    let mut queries = Vec::new();
    if identity.domain.is_some() {
        queries.push((format!("SELECT {columns} FROM {from} AND ident_domain = ${a} LIMIT {limit}"), with(&[&domain])));
    }
    if identity.duns.is_some() {
        queries.push((format!("SELECT {columns} FROM {from} AND ident_duns = ${a} LIMIT {limit}"), with(&[&duns])));
    }
    let in_bucket = format!("SELECT {columns} FROM {from} AND ident_country = ${a} AND ident_prefix = ${b} AND ident_name");
    if !identity.name.is_empty() {
        queries.push((format!("{in_bucket} = ${c} LIMIT {limit}"), bucket.clone()));
        queries.push((format!("{in_bucket} > ${c} ORDER BY ident_name ASC LIMIT {NAME_NEIGHBOURS}"), bucket.clone()));
        queries.push((format!("{in_bucket} < ${c} ORDER BY ident_name DESC LIMIT {NAME_NEIGHBOURS}"), bucket));
    }
    let mut found: Vec<ConflictCandidate> = Vec::new();
    for (sql, params) in &queries {
        for row in r.query(sql, params).await? {
            let c = candidate_from_row(source, &row)?;
            if !found.iter().any(|f| f.record_id == c.record_id) {
                found.push(c);
            }
        }
    }
    Ok(found)
}

pub(crate) const NO_NAME: &str = "\u{1}";
