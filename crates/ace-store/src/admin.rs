//! The program's administration records — partners, users and their keys, solutions, quotas,
//! portal accounts and invitations, consent statements, evidence requests, the operator's
//! pipeline, eligibility configurations, holiday calendars, webhook subscriptions — written as
//! [`AdminWrite`]s inside a [`WriteBatch`](crate::WriteBatch)'s transaction, so an operator's
//! action commits with its audit entry or not at all (USE-4).

use ace_domain::business_days::HolidayCalendar;
use ace_domain::eligibility::EligibilityConfig;
use ace_domain::identity::PipelineRecord;
use ace_domain::partner::PartnerProfile;
use ace_domain::quota::QuotaLimits;
use ace_domain::submission::EvidenceRequest;
use ace_domain::webhook::Webhook;

use crate::candidates::identity_params;
use crate::sql::Tx;
use crate::store::{to_json, DEFAULT_SCOPE, KEY_COLUMNS, USER_COLUMNS};
use crate::{
    AccessKeyRecord, ConsentStatement, PortalAccount, PortalInvitation, SolutionRecord, StoreError, StoreResult, UserRecord,
    UserStatus,
};

/// One administration write. A write whose record is missing (an update, a status change or a
/// deletion of something that is not there) fails its batch with [`StoreError::NotFound`]; a
/// key already taken fails it with [`StoreError::Conflict`].
#[derive(Debug, Clone)]
pub enum AdminWrite {
    /// A new partner, with the first version of its profile.
    InsertPartner {
        profile: PartnerProfile,
        created_ms: i64,
    },
    /// The partner's profile from `effective_ms` on (its history keeps every version).
    UpdatePartner {
        profile: PartnerProfile,
        effective_ms: i64,
    },
    /// A user with its first access key.
    InsertUser(UserRecord),
    /// The user row found by `previous_access_key_id`; a new key id replaces every key of the user.
    UpdateUser {
        previous_access_key_id: String,
        user: UserRecord,
    },
    /// USE-1: a further key; two per user at most.
    InsertAccessKey(AccessKeyRecord),
    SetAccessKeyStatus {
        access_key_id: String,
        status: UserStatus,
    },
    DeleteAccessKey {
        access_key_id: String,
    },
    InsertSolution(SolutionRecord),
    /// A partner's limits, or (`None`) the default for every partner.
    SetQuota {
        partner_id: Option<String>,
        limits: QuotaLimits,
    },
    InsertPortalAccount(PortalAccount),
    /// Also removes invitations that have expired.
    InsertPortalInvitation(PortalInvitation),
    /// SUB-4: a published version never changes (a taken version is a conflict).
    InsertConsentStatement(ConsentStatement),
    PutEvidenceRequest(EvidenceRequest),
    UpsertPipelineRecords(Vec<PipelineRecord>),
    /// ELIG-3: the configuration in force from `effective_ms` on.
    PutEligibilityConfig {
        effective_ms: i64,
        config: EligibilityConfig,
    },
    PutCalendar(HolidayCalendar),
    /// Deliveries start after the outbox sequence `cursor_seq`.
    InsertWebhook {
        webhook: Webhook,
        cursor_seq: i64,
    },
    DeleteWebhook {
        id: String,
    },
    /// Redelivers every event after `cursor_seq`.
    SetWebhookCursor {
        id: String,
        cursor_seq: i64,
    },
}

/// Applies `writes` in order inside an open transaction; the caller commits.
pub(crate) async fn apply(tx: &mut Box<dyn Tx>, writes: &[AdminWrite]) -> StoreResult<()> {
    for write in writes {
        apply_one(tx, write).await?;
    }
    Ok(())
}

fn found(n: u64) -> StoreResult<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

async fn apply_one(tx: &mut Box<dyn Tx>, write: &AdminWrite) -> StoreResult<()> {
    match write {
        AdminWrite::InsertPartner { profile: p, created_ms } => {
            tx.exec(
                "INSERT INTO partners (id, account_id, doc, created_ms) VALUES ($1, $2, $3, $4)",
                &[p.id.as_str().into(), p.account_id.as_str().into(), to_json(p)?.into(), (*created_ms).into()],
            )
            .await?;
            insert_partner_version(tx, p, *created_ms).await
        }
        AdminWrite::UpdatePartner { profile: p, effective_ms } => {
            found(tx.exec("UPDATE partners SET doc = $2 WHERE id = $1", &[p.id.as_str().into(), to_json(p)?.into()]).await?)?;
            insert_partner_version(tx, p, *effective_ms).await
        }
        AdminWrite::InsertUser(u) => {
            tx.exec(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
                &[
                    u.access_key_id.as_str().into(),
                    u.partner_id.as_str().into(),
                    u.name.as_str().into(),
                    u.secret_encrypted.as_str().into(),
                    u.status.as_str().into(),
                    u.created_ms.into(),
                ],
            )
            .await?;
            insert_key(tx, &AccessKeyRecord::first_of(u)).await
        }
        AdminWrite::UpdateUser { previous_access_key_id, user: u } => {
            found(
                tx.exec(
                    "UPDATE users SET access_key_id = $2, secret = $3, status = $4 WHERE access_key_id = $1",
                    &[
                        previous_access_key_id.as_str().into(),
                        u.access_key_id.as_str().into(),
                        u.secret_encrypted.as_str().into(),
                        u.status.as_str().into(),
                    ],
                )
                .await?,
            )?;
            if u.access_key_id != *previous_access_key_id {
                tx.exec(
                    "DELETE FROM access_keys WHERE partner_id = $1 AND user_name = $2",
                    &[u.partner_id.as_str().into(), u.name.as_str().into()],
                )
                .await?;
                insert_key(tx, &AccessKeyRecord::first_of(u)).await?;
            }
            Ok(())
        }
        AdminWrite::InsertAccessKey(key) => {
            lock_user(tx, &key.partner_id, &key.user_name).await?;
            let existing = tx
                .query(
                    "SELECT COUNT(*) FROM access_keys WHERE partner_id = $1 AND user_name = $2",
                    &[key.partner_id.as_str().into(), key.user_name.as_str().into()],
                )
                .await?;
            let held = existing.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
            // USE-1, decided by the domain; counted here, under the user row's lock, so two
            // concurrent requests cannot both pass it.
            ace_domain::partner::check_new_access_key(&key.partner_id, &key.user_name, held.max(0) as usize)
                .map_err(|e| StoreError::Conflict(e.to_string()))?;
            insert_key(tx, key).await?;
            // A user whose keys were all deleted names the new one.
            tx.exec(
                "UPDATE users SET access_key_id = $3 WHERE partner_id = $1 AND name = $2 \
                 AND access_key_id NOT IN (SELECT access_key_id FROM access_keys)",
                &[key.partner_id.as_str().into(), key.user_name.as_str().into(), key.access_key_id.as_str().into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::SetAccessKeyStatus { access_key_id, status } => found(
            tx.exec(
                "UPDATE access_keys SET status = $2 WHERE access_key_id = $1",
                &[access_key_id.as_str().into(), status.as_str().into()],
            )
            .await?,
        ),
        AdminWrite::DeleteAccessKey { access_key_id } => {
            let rows = tx
                .query(
                    "DELETE FROM access_keys WHERE access_key_id = $1 RETURNING partner_id, user_name",
                    &[access_key_id.as_str().into()],
                )
                .await?;
            let Some(row) = rows.first() else { return Err(StoreError::NotFound) };
            let (partner_id, user_name) = (row.text(0)?, row.text(1)?);
            lock_user(tx, &partner_id, &user_name).await?;
            // The user row names one of its keys: keep it pointing at one that still exists.
            tx.exec(
                "UPDATE users SET access_key_id = COALESCE((SELECT access_key_id FROM access_keys WHERE partner_id = $1 \
                 AND user_name = $2 ORDER BY created_ms LIMIT 1), access_key_id) WHERE partner_id = $1 AND name = $2",
                &[partner_id.as_str().into(), user_name.as_str().into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::InsertSolution(s) => {
            tx.exec(
                "INSERT INTO solutions (catalog, id, partner_id, doc) VALUES ($1, $2, $3, $4)",
                &[s.catalog.as_str().into(), s.id.as_str().into(), s.partner_id.as_str().into(), to_json(s)?.into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::SetQuota { partner_id, limits } => {
            tx.exec(
                "INSERT INTO quotas (scope, doc) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET doc = $2",
                &[partner_id.as_deref().unwrap_or(DEFAULT_SCOPE).into(), to_json(limits)?.into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::InsertPortalAccount(a) => {
            tx.exec(
                "INSERT INTO portal_accounts (email, password_hash, role, partner_id, user_name, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    a.email.to_lowercase().into(),
                    a.password_hash.as_str().into(),
                    a.role.as_str().into(),
                    a.partner_id.as_deref().into(),
                    a.user_name.as_deref().into(),
                    a.created_ms.into(),
                ],
            )
            .await?;
            Ok(())
        }
        AdminWrite::InsertPortalInvitation(i) => {
            tx.exec("DELETE FROM portal_invitations WHERE expires_ms < $1", &[i.created_ms.into()]).await?;
            tx.exec(
                "INSERT INTO portal_invitations (token_hash, email, role, partner_id, user_name, created_ms, expires_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    i.token_hash.as_str().into(),
                    i.email.to_lowercase().into(),
                    i.role.as_str().into(),
                    i.partner_id.as_deref().into(),
                    i.user_name.as_deref().into(),
                    i.created_ms.into(),
                    i.expires_ms.into(),
                ],
            )
            .await?;
            Ok(())
        }
        AdminWrite::InsertConsentStatement(statement) => {
            tx.exec(
                "INSERT INTO consent_statements (version, published_ms, doc) VALUES ($1, $2, $3)",
                &[statement.version.as_str().into(), statement.published_ms.into(), to_json(statement)?.into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::PutEvidenceRequest(request) => {
            tx.exec(
                "INSERT INTO evidence_requests (id, partner_id, catalog, opportunity_id, created_ms, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET doc = $6",
                &[
                    request.id.as_str().into(),
                    request.partner_id.as_str().into(),
                    request.catalog.as_str().into(),
                    request.opportunity_id.as_str().into(),
                    request.requested_at.timestamp_millis().into(),
                    to_json(request)?.into(),
                ],
            )
            .await?;
            Ok(())
        }
        AdminWrite::UpsertPipelineRecords(records) => {
            for record in records {
                let [domain, duns, country, prefix, name] = identity_params(&record.identity());
                tx.exec(
                    "INSERT INTO pipeline_records (external_id, ident_domain, ident_duns, ident_country, ident_prefix, doc, \
                     ident_name, ident_company, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (external_id) \
                     DO UPDATE SET ident_domain = $2, ident_duns = $3, ident_country = $4, ident_prefix = $5, doc = $6, \
                     ident_name = $7, ident_company = $8, active = $9",
                    &[
                        record.external_id.as_str().into(),
                        domain,
                        duns,
                        country,
                        prefix,
                        to_json(record)?.into(),
                        name,
                        record.company_name.as_str().into(),
                        i64::from(record.is_active()).into(),
                    ],
                )
                .await?;
            }
            Ok(())
        }
        AdminWrite::PutEligibilityConfig { effective_ms, config } => {
            tx.exec(
                "INSERT INTO eligibility_config_versions (effective_ms, doc) VALUES ($1, $2) \
                 ON CONFLICT (effective_ms) DO UPDATE SET doc = $2",
                &[(*effective_ms).into(), to_json(config)?.into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::PutCalendar(calendar) => {
            tx.exec(
                "INSERT INTO holiday_calendars (name, doc) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET doc = $2",
                &[calendar.name.as_str().into(), to_json(calendar)?.into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::InsertWebhook { webhook, cursor_seq } => {
            tx.exec(
                "INSERT INTO webhooks (id, owner, cursor_seq, lease_until_ms, lease_owner, doc) VALUES ($1, $2, $3, 0, '', $4)",
                &[webhook.id.as_str().into(), webhook.owner.key().into(), (*cursor_seq).into(), to_json(webhook)?.into()],
            )
            .await?;
            Ok(())
        }
        AdminWrite::DeleteWebhook { id } => found(tx.exec("DELETE FROM webhooks WHERE id = $1", &[id.as_str().into()]).await?),
        AdminWrite::SetWebhookCursor { id, cursor_seq } => found(
            tx.exec("UPDATE webhooks SET cursor_seq = $2 WHERE id = $1", &[id.as_str().into(), (*cursor_seq).into()]).await?,
        ),
    }
}

async fn insert_partner_version(tx: &mut Box<dyn Tx>, p: &PartnerProfile, effective_ms: i64) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO partner_versions (partner_id, effective_ms, doc) VALUES ($1, $2, $3) \
         ON CONFLICT (partner_id, effective_ms) DO UPDATE SET doc = $3",
        &[p.id.as_str().into(), effective_ms.into(), to_json(p)?.into()],
    )
    .await
    .map(|_| ())
}

/// Takes the user row's lock (a no-op update): key changes of one user queue behind each
/// other on PostgreSQL too, so the two-key limit holds under concurrency.
async fn lock_user(tx: &mut Box<dyn Tx>, partner_id: &str, user_name: &str) -> StoreResult<()> {
    tx.exec("UPDATE users SET status = status WHERE partner_id = $1 AND name = $2", &[partner_id.into(), user_name.into()])
        .await?;
    Ok(())
}

async fn insert_key(tx: &mut Box<dyn Tx>, k: &AccessKeyRecord) -> StoreResult<()> {
    tx.exec(
        &format!("INSERT INTO access_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"),
        &[
            k.access_key_id.as_str().into(),
            k.partner_id.as_str().into(),
            k.user_name.as_str().into(),
            k.secret_encrypted.as_str().into(),
            k.status.as_str().into(),
            k.created_ms.into(),
        ],
    )
    .await?;
    Ok(())
}
