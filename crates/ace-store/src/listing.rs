//! The SQL of a `ListOpportunities` page: the partner's rows in the query's order from its
//! keyset cursor, with its filters (and a search's words, when it has them).

use ace_domain::listing::{OpportunityQuery, SortKey, SortValue};

use crate::sql::{Dialect, Param};
use crate::store::placeholders;

pub(crate) fn list_sql(q: &OpportunityQuery) -> (String, Vec<Param>) {
    list_sql_matching(q, None)
}

/// [`list_sql`], the rows also limited to those whose search words hold every term
/// (`crate::search::condition` in the engine's dialect).
pub(crate) fn list_sql_matching(q: &OpportunityQuery, words: Option<(Dialect, &[String])>) -> (String, Vec<Param>) {
    let mut params: Vec<Param> = vec![q.partner_id.as_str().into(), q.catalog.as_str().into()];
    let mut sql = String::from("SELECT doc FROM opportunities WHERE partner_id = $1 AND catalog = $2");
    if let Some((dialect, terms)) = words {
        let (condition, own) = crate::search::condition(dialect, &q.partner_id, q.catalog, terms, params.len() + 1);
        params.extend(own);
        sql.push_str(&format!(" AND {condition}"));
    }
    let set = |column: &str, values: Vec<Param>, params: &mut Vec<Param>, sql: &mut String| {
        if !values.is_empty() {
            let p = placeholders(params, values);
            sql.push_str(&format!(" AND {column} IN ({p})"));
        }
    };
    set("id_number", q.id_numbers.iter().map(|n| Param::Int(*n)).collect(), &mut params, &mut sql);
    set("company_key", q.company_name_keys.iter().map(|s| Param::from(s.as_str())).collect(), &mut params, &mut sql);
    set("stage", q.stages.iter().map(|s| Param::from(s.as_str())).collect(), &mut params, &mut sql);
    set("review_status", q.review_statuses.iter().map(|s| Param::from(s.as_str())).collect(), &mut params, &mut sql);
    let bound = |condition: &str, value: Option<Param>, params: &mut Vec<Param>, sql: &mut String| {
        if let Some(v) = value {
            params.push(v);
            sql.push_str(&format!(" AND {condition} ${}", params.len()));
        }
    };
    bound("created_ms >=", q.created_after_ms.map(Param::Int), &mut params, &mut sql);
    bound("created_ms <", q.created_before_ms.map(Param::Int), &mut params, &mut sql);
    bound("modified_ms >=", q.modified_after_ms.map(Param::Int), &mut params, &mut sql);
    bound("modified_ms <", q.modified_before_ms.map(Param::Int), &mut params, &mut sql);
    if q.target_close_after.is_some() || q.target_close_before.is_some() {
        sql.push_str(" AND target_close <> ''");
    }
    bound("target_close >=", q.target_close_after.as_deref().map(Param::from), &mut params, &mut sql);
    bound("target_close <", q.target_close_before.as_deref().map(Param::from), &mut params, &mut sql);
    let column = match q.sort_by {
        SortKey::LastModifiedDate => "modified_ms",
        SortKey::Identifier => "id_number",
        SortKey::CustomerCompanyName => "company_key",
        SortKey::CreatedDate => "created_ms",
        SortKey::TargetCloseDate => "target_close",
    };
    let (cmp, order) = if q.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(cursor) = &q.after {
        params.push(Param::Int(cursor.id_number));
        let id_param = params.len();
        if q.sort_by == SortKey::Identifier {
            sql.push_str(&format!(" AND id_number {cmp} ${id_param}"));
        } else {
            params.push(match &cursor.value {
                SortValue::Int(n) => Param::Int(*n),
                SortValue::Text(s) => Param::Text(s.clone()),
            });
            let v = params.len();
            sql.push_str(&format!(" AND ({column} {cmp} ${v} OR ({column} = ${v} AND id_number {cmp} ${id_param}))"));
        }
    }
    if q.sort_by == SortKey::Identifier {
        sql.push_str(&format!(" ORDER BY id_number {order}"));
    } else {
        sql.push_str(&format!(" ORDER BY {column} {order}, id_number {order}"));
    }
    params.push(Param::Int(q.page_size as i64 + 1));
    sql.push_str(&format!(" LIMIT ${}", params.len()));
    (sql, params)
}
