//! Engagements and their members (issue 18): the rows behind `ace_domain::engagement`. The
//! engagement is one document; membership is its own table, so "the engagements I am a member
//! of" is an index lookup and REM-1's "every membership of this partner ends" one statement.

use ace_domain::engagement::{Engagement, Member, PartnerInvitation};
use ace_domain::ids::Catalog;

use crate::sql::{Database, Param, Tx};
use crate::store::{from_json, to_json};
use crate::{StoreError, StoreResult, WriteBatch};

/// The indexed column the expiry sweep reads (`PartnerInvitation::expires_pending`).
fn pending_until(i: &PartnerInvitation) -> Param {
    i.expires_pending().map_or(Param::NullInt, |t| Param::Int(t.timestamp_millis()))
}

/// The batch's engagement changes, inside its transaction.
pub(crate) async fn apply(tx: &mut Box<dyn Tx>, batch: &WriteBatch) -> StoreResult<()> {
    for e in &batch.insert_engagements {
        tx.exec(
            "INSERT INTO engagements (catalog, id, created_ms, modified_ms, doc) VALUES ($1, $2, $3, $4, $5)",
            &[
                e.catalog.as_str().into(),
                e.id.as_str().into(),
                e.created.timestamp_millis().into(),
                e.modified.timestamp_millis().into(),
                to_json(e)?.into(),
            ],
        )
        .await?;
    }
    for (e, expected_ms) in &batch.update_engagements {
        let n = tx
            .exec(
                "UPDATE engagements SET modified_ms = $3, doc = $4 WHERE catalog = $1 AND id = $2 AND modified_ms = $5",
                &[
                    e.catalog.as_str().into(),
                    e.id.as_str().into(),
                    e.modified.timestamp_millis().into(),
                    to_json(e)?.into(),
                    (*expected_ms).into(),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("engagement {} changed since it was read", e.id)));
        }
    }
    for m in &batch.add_engagement_members {
        tx.exec(
            "INSERT INTO engagement_members (catalog, engagement_id, account_id, partner_id, joined_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (catalog, engagement_id, account_id) DO NOTHING",
            &[
                m.catalog.as_str().into(),
                m.engagement_id.as_str().into(),
                m.account_id.as_str().into(),
                m.partner_id.as_deref().into(),
                m.joined.timestamp_millis().into(),
            ],
        )
        .await?;
    }
    for (catalog, engagement_id, partner_id) in &batch.leave_engagements {
        tx.exec(
            "DELETE FROM engagement_members WHERE catalog = $1 AND engagement_id = $2 AND partner_id = $3",
            &[catalog.as_str().into(), engagement_id.as_str().into(), partner_id.as_str().into()],
        )
        .await?;
    }
    for i in &batch.insert_partner_invitations {
        tx.exec(
            "INSERT INTO partner_invitations (id, catalog, engagement_id, sender_partner_id, receiver_partner_id, invited_ms, version, doc, \
             pending_until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                i.id.as_str().into(),
                i.catalog.as_str().into(),
                i.engagement_id.as_str().into(),
                i.sender.partner_id.as_str().into(),
                i.receiver.partner_id.as_str().into(),
                i.invited_at.timestamp_millis().into(),
                i.version.into(),
                to_json(i)?.into(),
                pending_until(i),
            ],
        )
        .await?;
    }
    for i in &batch.update_partner_invitations {
        let next = PartnerInvitation { version: i.version + 1, ..i.clone() };
        let n = tx
            .exec(
                "UPDATE partner_invitations SET version = $2, doc = $3, pending_until_ms = $5 WHERE id = $1 AND version = $4",
                &[i.id.as_str().into(), next.version.into(), to_json(&next)?.into(), i.version.into(), pending_until(i)],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("invitation {} changed since it was read", i.id)));
        }
    }
    for partner_id in &batch.end_memberships_of {
        tx.exec("DELETE FROM engagement_members WHERE partner_id = $1", &[partner_id.as_str().into()]).await?;
    }
    Ok(())
}

pub(crate) async fn get(db: &dyn Database, catalog: Catalog, id: &str) -> StoreResult<Option<Engagement>> {
    let mut r = db.reader().await?;
    let rows =
        r.query("SELECT doc FROM engagements WHERE catalog = $1 AND id = $2", &[catalog.as_str().into(), id.into()]).await?;
    rows.first().map(|row| from_json(&row.text(0)?)).transpose()
}

pub(crate) async fn list_of_member(db: &dyn Database, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<(Engagement, i64)>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT e.doc, (SELECT COUNT(*) FROM engagement_members c WHERE c.catalog = e.catalog AND c.engagement_id = e.id) \
             FROM engagement_members m JOIN engagements e ON e.catalog = m.catalog AND e.id = m.engagement_id \
             WHERE m.partner_id = $1 AND m.catalog = $2 ORDER BY e.created_ms, e.id",
            &[partner_id.into(), catalog.as_str().into()],
        )
        .await?;
    rows.iter().map(|row| Ok((from_json(&row.text(0)?)?, row.int(1)?))).collect()
}

pub(crate) async fn members(db: &dyn Database, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<Member>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT account_id, partner_id, joined_ms FROM engagement_members WHERE catalog = $1 AND engagement_id = $2 \
             ORDER BY joined_ms, account_id",
            &[catalog.as_str().into(), engagement_id.into()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Member {
                catalog,
                engagement_id: engagement_id.to_string(),
                account_id: row.text(0)?,
                partner_id: row.opt_text(1)?,
                joined: ace_domain::time::from_millis(row.int(2)?),
            })
        })
        .collect()
}

pub(crate) async fn get_invitation(db: &dyn Database, id: &str) -> StoreResult<Option<PartnerInvitation>> {
    let mut r = db.reader().await?;
    let rows = r.query("SELECT doc FROM partner_invitations WHERE id = $1", &[id.into()]).await?;
    rows.first().map(|row| from_json(&row.text(0)?)).transpose()
}

pub(crate) async fn list_invitations(
    db: &dyn Database,
    partner_id: &str,
    catalog: Catalog,
    sent: bool,
) -> StoreResult<Vec<PartnerInvitation>> {
    let mut r = db.reader().await?;
    let sql = if sent {
        "SELECT doc FROM partner_invitations WHERE sender_partner_id = $1 AND catalog = $2 ORDER BY invited_ms, id"
    } else {
        "SELECT doc FROM partner_invitations WHERE receiver_partner_id = $1 AND catalog = $2 ORDER BY invited_ms, id"
    };
    let rows = r.query(sql, &[partner_id.into(), catalog.as_str().into()]).await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

pub(crate) async fn list_all(db: &dyn Database, catalog: Catalog) -> StoreResult<Vec<(Engagement, i64)>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT e.doc, (SELECT COUNT(*) FROM engagement_members c WHERE c.catalog = e.catalog AND c.engagement_id = e.id) \
             FROM engagements e WHERE e.catalog = $1 ORDER BY e.created_ms, e.id",
            &[catalog.as_str().into()],
        )
        .await?;
    rows.iter().map(|row| Ok((from_json(&row.text(0)?)?, row.int(1)?))).collect()
}

pub(crate) async fn invitations_of(
    db: &dyn Database,
    catalog: Catalog,
    engagement_id: &str,
) -> StoreResult<Vec<PartnerInvitation>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM partner_invitations WHERE catalog = $1 AND engagement_id = $2 ORDER BY invited_ms, id",
            &[catalog.as_str().into(), engagement_id.into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}

pub(crate) async fn expired_invitations(db: &dyn Database, until_ms: i64, limit: usize) -> StoreResult<Vec<PartnerInvitation>> {
    let mut r = db.reader().await?;
    let rows = r
        .query(
            "SELECT doc FROM partner_invitations WHERE pending_until_ms <= $1 ORDER BY pending_until_ms, id LIMIT $2",
            &[until_ms.into(), (limit as i64).into()],
        )
        .await?;
    rows.iter().map(|row| from_json(&row.text(0)?)).collect()
}
