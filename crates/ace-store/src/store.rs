//! [`Store`] implemented once, over either back end.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use ace_domain::audit::{self, AuditEntry, StoredAuditEntry};
use ace_domain::business_days::HolidayCalendar;
use ace_domain::customer_account::CustomerAccount;
use ace_domain::eligibility::EligibilityConfig;
use ace_domain::engagement::{Engagement, Member, PartnerInvitation};
use ace_domain::events::OutboxEvent;
use ace_domain::identity::{CustomerIdentity, PipelineRecord};
use ace_domain::ids::{opportunity_number, Catalog};
use ace_domain::listing::OpportunityQuery;
use ace_domain::opportunity::Opportunity;
use ace_domain::opportunity::ReviewStatus;
use ace_domain::partner::PartnerProfile;
use ace_domain::quota::QuotaLimits;
use ace_domain::referral::{AuditRead, Referral, Suppression};
use ace_domain::security::SecurityEvent;
use ace_domain::snapshot::{Association, Snapshot, SnapshotJob};
use ace_domain::submission::{ConflictCandidate, EvidenceRequest};
use ace_domain::terms::{Acceptance, TermsVersion};
use ace_domain::webhook::Webhook;

use crate::admin::AdminWrite;
use crate::candidates::conflict_candidates;
use crate::group::GroupCommit;
use crate::listing::{list_sql, list_sql_matching};
use crate::sealing;
use crate::sql::{Database, Dialect, Param, Row};
use crate::write::{append_audit, commit_one, insert_delivery, insert_event, read_idempotency};
use crate::{
    AccessKeyRecord, AuditFilter, BatchOutcome, ConsentStatement, DeliveryAttempt, EligibilityChange, IdempotencyKey,
    IdempotencyRecord, OperatorToken, PortalAccount, PortalInvitation, PortalSession, ReferralActivity, SolutionRecord, Store,
    StoreError, StoreResult, TaskRecord, UserRecord, UserStatus, WriteBatch,
};

/// A numbered schema migration (`crates/ace-store/migrations/`): SQL both engines run, then
/// the engine's own part, then SQL both run after it (`after`: e.g. what works on data the
/// engine's part wrote); `{serial}` is the engine's auto-numbered key.
struct Migration {
    version: i64,
    shared: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    after: &'static str,
}

/// The baseline: the development history folded into one schema before the first release.
const BASELINE: i64 = 20;

/// Every migration, in order; each runs once, in the transaction that records it.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: BASELINE,
        shared: include_str!("../migrations/0020_baseline.sql"),
        sqlite: include_str!("../migrations/0020_baseline.sqlite.sql"),
        postgres: include_str!("../migrations/0020_baseline.postgres.sql"),
        after: "",
    },
    Migration {
        version: 21,
        shared: include_str!("../migrations/0021_integration_checks.sql"),
        sqlite: "",
        postgres: "",
        after: "",
    },
    Migration {
        version: 22,
        shared: include_str!("../migrations/0022_partner_opportunity_identifiers.sql"),
        sqlite: include_str!("../migrations/0022_partner_opportunity_identifiers.sqlite.sql"),
        postgres: include_str!("../migrations/0022_partner_opportunity_identifiers.postgres.sql"),
        after: include_str!("../migrations/0022_partner_opportunity_identifiers.after.sql"),
    },
];

/// A migration file's statements: comment lines dropped, split at `;`.
fn statements(sql: &str) -> Vec<String> {
    let text: Vec<&str> = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
    text.join("\n").split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// The quota row that holds the default for every partner.
pub(crate) const DEFAULT_SCOPE: &str = "*";

pub struct SqlStore {
    pub(crate) db: Arc<dyn Database>,
    group: GroupCommit,
    events_committed: Arc<tokio::sync::Notify>,
}

impl SqlStore {
    /// Puts a backup made by [`Store::backup_to`] in place as `data_dir/ace.db` (which must not
    /// exist yet), then opens and migrates it to check it.
    pub async fn restore_sqlite(backup: &Path, data_dir: &Path) -> StoreResult<SqlStore> {
        let target = data_dir.join("ace.db");
        if target.exists() {
            return Err(StoreError::Conflict(format!("{} exists; restore into a fresh data directory", target.display())));
        }
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Other(format!("creating {}: {e}", data_dir.display())))?;
        std::fs::copy(backup, &target).map_err(|e| StoreError::Other(format!("copying {}: {e}", backup.display())))?;
        SqlStore::open_sqlite(data_dir, "FULL").await
    }

    /// SQLite in `data_dir/ace.db`, created and migrated when missing. The directory is made
    /// private to the server's user (0700) and the database with its WAL 0600, whatever they
    /// were before: they hold customer data (issue 21).
    pub async fn open_sqlite(data_dir: &Path, synchronous: &str) -> StoreResult<SqlStore> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", data_dir.display())))?;
        let path = data_dir.join("ace.db");
        crate::files::make_private_dir(data_dir)?;
        crate::files::create_private_file(&path)?;
        let db = crate::sqlite::open(&path, synchronous)?;
        for file in [path.clone(), data_dir.join("ace.db-wal"), data_dir.join("ace.db-shm")] {
            crate::files::make_private(&file)?;
        }
        let store = SqlStore { db: Arc::new(db), group: GroupCommit::default(), events_committed: Default::default() };
        store.migrate().await?;
        Ok(store)
    }

    /// PostgreSQL at `url`; `schema` isolates a store in its own schema (tests use it).
    pub async fn open_postgres(url: &str, schema: Option<&str>, pool_size: usize) -> StoreResult<SqlStore> {
        SqlStore::open_postgres_bounded(url, schema, pool_size, crate::postgres::ROUND_TRIP_BOUND).await
    }

    /// [`SqlStore::open_postgres`], each round trip to the database failing past `bound`.
    pub async fn open_postgres_bounded(
        url: &str,
        schema: Option<&str>,
        pool_size: usize,
        bound: std::time::Duration,
    ) -> StoreResult<SqlStore> {
        let db = crate::postgres::connect(url, schema, pool_size, bound).await?;
        let store = SqlStore { db: Arc::new(db), group: GroupCommit::default(), events_committed: Default::default() };
        store.migrate().await?;
        Ok(store)
    }

    /// Seals the referral data keys under `key` (derived from the server key; REM-2): the
    /// server gives every store it opens one. A store without it (the store's own tests) keeps
    /// them as they are, and cannot read keys another store sealed.
    pub fn seal_keys_under(mut self, key: [u8; 32]) -> SqlStore {
        self.group.wrap = Some(sealing::KeyWrap::new(key));
        self
    }

    /// One administration write in a batch of its own.
    async fn write_admin(&self, write: AdminWrite) -> StoreResult<()> {
        self.commit(WriteBatch { admin: vec![write], ..Default::default() }).await.map(|_| ())
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        if self.db.dialect() == Dialect::Postgres {
            // Several nodes may start at once: one migrates, the others wait for it.
            tx.exec("SELECT pg_advisory_xact_lock(4242)", &[]).await.map(|_| ())?;
        }
        tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)", &[]).await?;
        let applied = tx.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?;
        let applied = applied.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
        if applied > 0 && applied < BASELINE {
            return Err(StoreError::Unavailable(format!(
                "this database was made by a development build from before the baseline schema (version {applied} of \
                 {BASELINE}); it cannot be migrated: start the server on an empty database"
            )));
        }
        let dialect = self.db.dialect();
        for migration in MIGRATIONS.iter().filter(|m| m.version > applied) {
            let own = match dialect {
                Dialect::Sqlite => migration.sqlite,
                Dialect::Postgres => migration.postgres,
            };
            let parts = [migration.shared, own, migration.after];
            for statement in parts.into_iter().flat_map(statements) {
                tx.exec(&statement.replace("{serial}", dialect.serial_primary_key()), &[]).await?;
            }
            tx.exec("INSERT INTO schema_migrations (version) VALUES ($1)", &[migration.version.into()]).await?;
        }
        tx.commit().await
    }
}

/// A write of something that must exist: whether it did.
fn found(written: StoreResult<()>) -> StoreResult<bool> {
    match written {
        Ok(()) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("corrupt stored document: {e}")))
}

fn user_from_row(r: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        access_key_id: r.text(0)?,
        partner_id: r.text(1)?,
        name: r.text(2)?,
        secret_encrypted: r.text(3)?,
        status: UserStatus::parse(&r.text(4)?),
        created_ms: r.int(5)?,
    })
}

pub(crate) const USER_COLUMNS: &str = "access_key_id, partner_id, name, secret, status, created_ms";

pub(crate) const KEY_COLUMNS: &str = "access_key_id, partner_id, user_name, secret, status, created_ms, last_used_ms";

fn key_from_row(r: &Row) -> StoreResult<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        access_key_id: r.text(0)?,
        partner_id: r.text(1)?,
        user_name: r.text(2)?,
        secret_encrypted: r.text(3)?,
        status: UserStatus::parse(&r.text(4)?),
        created_ms: r.int(5)?,
        last_used_ms: match r.0.get(6) {
            Some(crate::sql::Cell::Int(n)) => Some(*n),
            _ => None,
        },
    })
}

/// A referral's document with its data key, when the key still exists (REM-2).
const REFERRAL_COLUMNS: &str = "doc, (SELECT data_key FROM referral_keys k WHERE k.referral_id = referrals.id), id";

fn referral_from_row(r: &Row, wrap: Option<&sealing::KeyWrap>) -> StoreResult<Referral> {
    let key = match r.opt_text(1)? {
        Some(stored) => Some(sealing::load_key(wrap, &r.text(2)?, &stored)?),
        None => None,
    };
    sealing::open(&r.text(0)?, key.as_deref())
}

const AUDIT_COLUMNS: &str = "seq, at_ms, actor, action, partner_id, referral_id, detail, prev_hash, hash";

fn audit_from_row(r: &Row) -> StoreResult<StoredAuditEntry> {
    Ok(StoredAuditEntry {
        seq: r.int(0)?,
        at_ms: r.int(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        partner_id: r.opt_text(4)?,
        referral_id: r.opt_text(5)?,
        detail: r.text(6)?,
        prev_hash: r.text(7)?,
        hash: r.text(8)?,
    })
}

fn event_from_row(r: &Row) -> StoreResult<(i64, OutboxEvent)> {
    Ok((
        r.int(0)?,
        OutboxEvent {
            id: r.text(1)?,
            partner_id: r.text(2)?,
            catalog: Catalog::parse(&r.text(3)?).ok_or_else(|| StoreError::Other("bad catalog".into()))?,
            detail_type: r.text(4)?,
            resource: r.text(5)?,
            time: ace_domain::time::from_millis(r.int(6)?),
            envelope: from_json(&r.text(7)?)?,
            changes: from_json(&r.text(8)?)?,
        },
    ))
}

/// Appends `$n` placeholders for `values` to `params` and returns `a, b, c`.
pub(crate) fn placeholders(params: &mut Vec<Param>, values: impl IntoIterator<Item = Param>) -> String {
    let mut out = Vec::new();
    for v in values {
        params.push(v);
        out.push(format!("${}", params.len()));
    }
    out.join(", ")
}

fn invitation_from_row(r: &Row) -> StoreResult<PortalInvitation> {
    Ok(PortalInvitation {
        token_hash: r.text(0)?,
        email: r.text(1)?,
        role: r.text(2)?,
        partner_id: r.opt_text(3)?,
        user_name: r.opt_text(4)?,
        created_ms: r.int(5)?,
        expires_ms: r.int(6)?,
    })
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db.health().map_err(StoreError::Unavailable)?;
        let mut r = self.db.reader().await?;
        r.query("SELECT COUNT(*) FROM schema_migrations", &[]).await.map(|_| ())
    }

    async fn next_sequence(&self, name: &str) -> StoreResult<i64> {
        self.reserve_sequence(name, 1).await
    }

    async fn backup_to(&self, path: &Path) -> StoreResult<()> {
        if self.db.dialect() == Dialect::Postgres {
            return Err(StoreError::Unsupported("a PostgreSQL database is backed up with pg_dump, not by the server".into()));
        }
        if path.exists() {
            return Err(StoreError::Conflict(format!("{} exists; a backup never overwrites a file", path.display())));
        }
        let target = path.to_str().ok_or_else(|| StoreError::Other(format!("{} is not a UTF-8 path", path.display())))?;
        // Created empty and private first (VACUUM INTO fills an empty file): the copy never
        // exists readable by others, not even for a moment.
        crate::files::create_private_file(path)?;
        // One read transaction: a consistent snapshot while writers go on. The copy is freshly
        // written and compact: no free pages and no WAL, so no trace of deleted data (REM-2).
        let mut r = self.db.reader().await?;
        if let Err(e) = r.exec("VACUUM INTO $1", &[target.into()]).await {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(())
    }

    async fn reserve_sequence(&self, name: &str, count: i64) -> StoreResult<i64> {
        if count < 1 {
            return Err(StoreError::Other(format!("cannot reserve {count} numbers of sequence {name}")));
        }
        let mut tx = self.db.begin().await?;
        let rows = tx
            .query(
                "INSERT INTO sequences (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = sequences.value + $2 RETURNING value",
                &[name.into(), count.into()],
            )
            .await?;
        let value = rows.first().ok_or_else(|| StoreError::Other("sequence returned nothing".into()))?.int(0)?;
        tx.commit().await?;
        Ok(value)
    }

    async fn insert_operator_token(&self, t: &OperatorToken) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "INSERT INTO operator_tokens (token_hash, name, role, created_ms) VALUES ($1, $2, $3, $4)",
            &[t.token_hash.as_str().into(), t.name.as_str().into(), t.role.as_str().into(), t.created_ms.into()],
        )
        .await?;
        tx.commit().await
    }

    async fn find_operator_token(&self, token_hash: &str) -> StoreResult<Option<OperatorToken>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query("SELECT token_hash, name, role, created_ms FROM operator_tokens WHERE token_hash = $1", &[token_hash.into()])
            .await?;
        rows.first()
            .map(|r| Ok(OperatorToken { token_hash: r.text(0)?, name: r.text(1)?, role: r.text(2)?, created_ms: r.int(3)? }))
            .transpose()
    }

    async fn count_operator_tokens(&self) -> StoreResult<i64> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT COUNT(*) FROM operator_tokens", &[]).await?;
        rows.first().map_or(Ok(0), |r| r.int(0))
    }

    async fn heartbeat_node(&self, id: &str, now_ms: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "INSERT INTO nodes (id, seen_ms) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms",
            &[id.into(), now_ms.into()],
        )
        .await?;
        // Nodes gone for a day are forgotten.
        tx.exec("DELETE FROM nodes WHERE seen_ms < $1", &[(now_ms - 86_400_000).into()]).await?;
        tx.commit().await
    }

    async fn count_live_nodes(&self, since_ms: i64) -> StoreResult<i64> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT COUNT(*) FROM nodes WHERE seen_ms >= $1", &[since_ms.into()]).await?;
        rows.first().map_or(Ok(0), |r| r.int(0))
    }

    async fn insert_portal_account(&self, a: &PortalAccount) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertPortalAccount(a.clone())).await
    }

    async fn get_portal_account(&self, email: &str) -> StoreResult<Option<PortalAccount>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT email, password_hash, role, partner_id, user_name, created_ms FROM portal_accounts WHERE email = $1",
                &[email.trim().to_lowercase().into()],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(PortalAccount {
                    email: r.text(0)?,
                    password_hash: r.text(1)?,
                    role: r.text(2)?,
                    partner_id: r.opt_text(3)?,
                    user_name: r.opt_text(4)?,
                    created_ms: r.int(5)?,
                })
            })
            .transpose()
    }

    async fn insert_portal_invitation(&self, i: &PortalInvitation) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertPortalInvitation(i.clone())).await
    }

    async fn get_portal_invitation(&self, token_hash: &str) -> StoreResult<Option<PortalInvitation>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT token_hash, email, role, partner_id, user_name, created_ms, expires_ms FROM portal_invitations \
                 WHERE token_hash = $1",
                &[token_hash.into()],
            )
            .await?;
        rows.first().map(invitation_from_row).transpose()
    }

    async fn redeem_portal_invitation(&self, token_hash: &str, password_hash: &str, now_ms: i64) -> StoreResult<PortalAccount> {
        let mut tx = self.db.begin().await?;
        // Deleting it first is what makes a link work once: a second redemption finds nothing.
        let rows = tx
            .query(
                "DELETE FROM portal_invitations WHERE token_hash = $1 AND expires_ms > $2 \
                 RETURNING token_hash, email, role, partner_id, user_name, created_ms, expires_ms",
                &[token_hash.into(), now_ms.into()],
            )
            .await?;
        let invitation = rows.first().map(invitation_from_row).transpose()?.ok_or(StoreError::NotFound)?;
        let account = PortalAccount {
            email: invitation.email,
            password_hash: password_hash.to_string(),
            role: invitation.role,
            partner_id: invitation.partner_id,
            user_name: invitation.user_name,
            created_ms: now_ms,
        };
        tx.exec(
            "INSERT INTO portal_accounts (email, password_hash, role, partner_id, user_name, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                account.email.as_str().into(),
                account.password_hash.as_str().into(),
                account.role.as_str().into(),
                account.partner_id.as_deref().into(),
                account.user_name.as_deref().into(),
                account.created_ms.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn insert_portal_session(&self, s: &PortalSession) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        // Expired sessions go as new ones come: the table holds live sessions only.
        tx.exec("DELETE FROM portal_sessions WHERE expires_ms < $1", &[s.created_ms.into()]).await?;
        tx.exec(
            "INSERT INTO portal_sessions (id_hash, email, csrf, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
            &[
                s.id_hash.as_str().into(),
                s.email.as_str().into(),
                s.csrf.as_str().into(),
                s.created_ms.into(),
                s.expires_ms.into(),
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn get_portal_session(&self, id_hash: &str) -> StoreResult<Option<PortalSession>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT id_hash, email, csrf, created_ms, expires_ms FROM portal_sessions WHERE id_hash = $1",
                &[id_hash.into()],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(PortalSession {
                    id_hash: r.text(0)?,
                    email: r.text(1)?,
                    csrf: r.text(2)?,
                    created_ms: r.int(3)?,
                    expires_ms: r.int(4)?,
                })
            })
            .transpose()
    }

    async fn delete_portal_session(&self, id_hash: &str) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx.exec("DELETE FROM portal_sessions WHERE id_hash = $1", &[id_hash.into()]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn insert_partner(&self, p: &PartnerProfile, created_ms: i64) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertPartner { profile: p.clone(), created_ms }).await
    }

    async fn update_partner(&self, p: &PartnerProfile, effective_ms: i64) -> StoreResult<()> {
        self.write_admin(AdminWrite::UpdatePartner { profile: p.clone(), effective_ms }).await
    }

    async fn get_partner(&self, id: &str) -> StoreResult<Option<PartnerProfile>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM partners WHERE id = $1", &[id.into()]).await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn get_partner_by_account(&self, account_id: &str) -> StoreResult<Option<PartnerProfile>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM partners WHERE account_id = $1", &[account_id.into()]).await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn list_partners(&self) -> StoreResult<Vec<PartnerProfile>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM partners ORDER BY id", &[]).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn insert_user(&self, u: &UserRecord) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertUser(u.clone())).await
    }

    async fn update_user(&self, previous_access_key_id: &str, u: &UserRecord) -> StoreResult<()> {
        let previous_access_key_id = previous_access_key_id.to_string();
        self.write_admin(AdminWrite::UpdateUser { previous_access_key_id, user: u.clone() }).await
    }

    async fn get_user_by_access_key(&self, access_key_id: &str) -> StoreResult<Option<UserRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT k.access_key_id, u.partner_id, u.name, k.secret, \
                 CASE WHEN u.status = 'active' AND k.status = 'active' THEN 'active' ELSE 'disabled' END, u.created_ms \
                 FROM access_keys k JOIN users u ON u.partner_id = k.partner_id AND u.name = k.user_name \
                 WHERE k.access_key_id = $1",
                &[access_key_id.into()],
            )
            .await?;
        rows.first().map(user_from_row).transpose()
    }

    async fn insert_access_key(&self, key: &AccessKeyRecord) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertAccessKey(key.clone())).await
    }

    async fn list_access_keys(&self, partner_id: &str, user_name: &str) -> StoreResult<Vec<AccessKeyRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE partner_id = $1 AND user_name = $2 ORDER BY created_ms, access_key_id"),
                &[partner_id.into(), user_name.into()],
            )
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn set_access_key_status(&self, access_key_id: &str, status: UserStatus) -> StoreResult<bool> {
        found(self.write_admin(AdminWrite::SetAccessKeyStatus { access_key_id: access_key_id.into(), status }).await)
    }

    async fn delete_access_key(&self, access_key_id: &str) -> StoreResult<bool> {
        found(self.write_admin(AdminWrite::DeleteAccessKey { access_key_id: access_key_id.into() }).await)
    }

    async fn touch_access_key(&self, access_key_id: &str, at_ms: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec("UPDATE access_keys SET last_used_ms = $2 WHERE access_key_id = $1", &[access_key_id.into(), at_ms.into()])
            .await?;
        tx.commit().await
    }

    async fn get_user(&self, partner_id: &str, name: &str) -> StoreResult<Option<UserRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE partner_id = $1 AND name = $2"),
                &[partner_id.into(), name.into()],
            )
            .await?;
        rows.first().map(user_from_row).transpose()
    }

    async fn list_users(&self, partner_id: &str) -> StoreResult<Vec<UserRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(&format!("SELECT {USER_COLUMNS} FROM users WHERE partner_id = $1 ORDER BY name"), &[partner_id.into()])
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn insert_solution(&self, s: &SolutionRecord) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertSolution(s.clone())).await
    }

    async fn list_solutions(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<SolutionRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT doc FROM solutions WHERE partner_id = $1 AND catalog = $2 ORDER BY id",
                &[partner_id.into(), catalog.as_str().into()],
            )
            .await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn commit(&self, batch: WriteBatch) -> StoreResult<BatchOutcome> {
        let has_events = !batch.events.is_empty();
        let started = std::time::Instant::now();
        let outcome = match self.db.dialect() {
            // SQLite has one writer: concurrent batches share its transactions (and fsyncs).
            Dialect::Sqlite => self.group.commit(self.db.clone(), batch).await,
            // PostgreSQL commits concurrent transactions together by itself.
            Dialect::Postgres => commit_one(self.db.as_ref(), batch, self.group.wrap.as_ref()).await,
        };
        if has_events && matches!(outcome, Ok(BatchOutcome::Committed)) {
            self.events_committed.notify_waiters();
        }
        // Issue 22: how long a write waits for its commit (its group's, on SQLite), by result.
        let result = match &outcome {
            Ok(BatchOutcome::Committed) => "committed",
            Ok(BatchOutcome::Replayed(_)) => "replayed",
            Err(StoreError::Conflict(_)) => "conflict",
            Err(_) => "error",
        };
        metrics::histogram!("ace_store_commit_seconds", "result" => result).record(started.elapsed().as_secs_f64());
        outcome
    }

    fn events_committed(&self) -> Arc<tokio::sync::Notify> {
        self.events_committed.clone()
    }

    async fn get_idempotency(&self, key: &IdempotencyKey) -> StoreResult<Option<IdempotencyRecord>> {
        let mut r = self.db.reader().await?;
        read_idempotency(&mut r, key).await
    }

    async fn get_opportunity(&self, partner_id: &str, catalog: Catalog, id: &str) -> StoreResult<Option<Opportunity>> {
        let Some(number) = opportunity_number(id) else { return Ok(None) };
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT doc FROM opportunities WHERE catalog = $1 AND id_number = $2 AND partner_id = $3",
                &[catalog.as_str().into(), number.into(), partner_id.into()],
            )
            .await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn opportunity_identified_as(
        &self,
        partner_id: &str,
        catalog: Catalog,
        partner_identifier: &str,
    ) -> StoreResult<Option<String>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT id_number FROM opportunities WHERE partner_id = $1 AND catalog = $2 AND crm_id = $3",
                &[partner_id.into(), catalog.as_str().into(), partner_identifier.into()],
            )
            .await?;
        rows.first().map(|r| r.int(0).map(ace_domain::ids::opportunity_id)).transpose()
    }

    async fn list_opportunities(&self, query: &OpportunityQuery) -> StoreResult<Vec<Opportunity>> {
        let (sql, params) = list_sql(query);
        let mut r = self.db.reader().await?;
        let rows = r.query(&sql, &params).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn get_engagement(&self, catalog: Catalog, id: &str) -> StoreResult<Option<Engagement>> {
        crate::engagements::get(self.db.as_ref(), catalog, id).await
    }

    async fn list_member_engagements(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<(Engagement, i64)>> {
        crate::engagements::list_of_member(self.db.as_ref(), partner_id, catalog).await
    }

    async fn list_engagements(&self, catalog: Catalog) -> StoreResult<Vec<(Engagement, i64)>> {
        crate::engagements::list_all(self.db.as_ref(), catalog).await
    }

    async fn list_engagement_invitations(&self, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<PartnerInvitation>> {
        crate::engagements::invitations_of(self.db.as_ref(), catalog, engagement_id).await
    }

    async fn expired_partner_invitations(&self, until_ms: i64, limit: usize) -> StoreResult<Vec<PartnerInvitation>> {
        crate::engagements::expired_invitations(self.db.as_ref(), until_ms, limit).await
    }

    async fn get_partner_invitation(&self, id: &str) -> StoreResult<Option<PartnerInvitation>> {
        crate::engagements::get_invitation(self.db.as_ref(), id).await
    }

    async fn list_partner_invitations(
        &self,
        partner_id: &str,
        catalog: Catalog,
        sent: bool,
    ) -> StoreResult<Vec<PartnerInvitation>> {
        crate::engagements::list_invitations(self.db.as_ref(), partner_id, catalog, sent).await
    }

    async fn get_resource_snapshot(
        &self,
        catalog: Catalog,
        engagement_id: &str,
        resource_id: &str,
        template: &str,
        revision: Option<i64>,
    ) -> StoreResult<Option<Snapshot>> {
        crate::snapshots::get(self.db.as_ref(), catalog, engagement_id, resource_id, template, revision).await
    }

    async fn list_resource_snapshots(&self, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<Snapshot>> {
        crate::snapshots::list(self.db.as_ref(), catalog, engagement_id).await
    }

    async fn get_snapshot_job(&self, catalog: Catalog, id: &str) -> StoreResult<Option<SnapshotJob>> {
        crate::snapshots::get_job(self.db.as_ref(), catalog, id).await
    }

    async fn list_snapshot_jobs(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<SnapshotJob>> {
        crate::snapshots::jobs_of_partner(self.db.as_ref(), partner_id, catalog).await
    }

    async fn get_customer_account(&self, catalog: Catalog, id: &str) -> StoreResult<Option<CustomerAccount>> {
        crate::customer_accounts::get(self.db.as_ref(), catalog, id).await
    }

    async fn list_customer_accounts(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<CustomerAccount>> {
        crate::customer_accounts::of_partner(self.db.as_ref(), partner_id, catalog).await
    }

    async fn get_bulk_job(&self, id: &str) -> StoreResult<Option<ace_domain::bulk::BulkJob>> {
        crate::bulk::get(self.db.as_ref(), id).await
    }

    async fn list_bulk_jobs(
        &self,
        partner_id: Option<&str>,
        kind: ace_domain::bulk::JobKind,
        catalog: Option<Catalog>,
    ) -> StoreResult<Vec<ace_domain::bulk::BulkJob>> {
        crate::bulk::list(self.db.as_ref(), partner_id, kind, catalog).await
    }

    async fn unfinished_bulk_jobs(&self, limit: usize) -> StoreResult<Vec<ace_domain::bulk::BulkJob>> {
        crate::bulk::unfinished(self.db.as_ref(), limit).await
    }

    async fn bulk_job_file(&self, job_id: &str) -> StoreResult<Option<String>> {
        crate::bulk::file(self.db.as_ref(), job_id).await
    }

    async fn bulk_job_done_rows(&self, job_id: &str) -> StoreResult<Vec<i64>> {
        crate::bulk::done_rows(self.db.as_ref(), job_id).await
    }

    async fn bulk_job_counts(&self, job_id: &str) -> StoreResult<(i64, i64)> {
        crate::bulk::counts(self.db.as_ref(), job_id).await
    }

    async fn bulk_job_results(
        &self,
        job_id: &str,
        status: Option<ace_domain::bulk::RecordStatus>,
        after_row: i64,
        limit: usize,
    ) -> StoreResult<Vec<ace_domain::bulk::RowResult>> {
        crate::bulk::results(self.db.as_ref(), job_id, status, after_row, limit).await
    }

    async fn search_opportunities(
        &self,
        partner_id: &str,
        catalog: Catalog,
        terms: Option<&[String]>,
    ) -> StoreResult<Vec<ace_domain::opportunity_search::Entry>> {
        crate::search::entries(self.db.as_ref(), partner_id, catalog, terms).await
    }

    async fn search_matches(&self, partner_id: &str, catalog: Catalog, terms: &[String], limit: usize) -> StoreResult<Vec<i64>> {
        crate::search::matches(self.db.as_ref(), partner_id, catalog, terms, limit).await
    }

    async fn list_opportunities_matching(&self, query: &OpportunityQuery, terms: &[String]) -> StoreResult<Vec<Opportunity>> {
        let (sql, params) = list_sql_matching(query, Some((self.db.dialect(), terms)));
        let mut r = self.db.reader().await?;
        let rows = r.query(&sql, &params).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn pending_customer_accounts(&self, limit: usize) -> StoreResult<Vec<CustomerAccount>> {
        crate::customer_accounts::pending(self.db.as_ref(), limit).await
    }

    async fn find_customer_records(&self, identity: &CustomerIdentity, limit: usize) -> StoreResult<Vec<PipelineRecord>> {
        crate::customer_accounts::customer_records(self.db.as_ref(), identity, limit).await
    }

    async fn get_check_run(&self, id: &str) -> StoreResult<Option<ace_domain::check::CheckRun>> {
        crate::checks::get(self.db.as_ref(), id).await
    }

    async fn list_check_runs(&self, partner_id: Option<&str>, limit: usize) -> StoreResult<Vec<ace_domain::check::CheckRun>> {
        crate::checks::list(self.db.as_ref(), partner_id, limit).await
    }

    async fn running_check_runs(&self) -> StoreResult<Vec<ace_domain::check::CheckRun>> {
        crate::checks::running(self.db.as_ref()).await
    }

    async fn observe_for_check(
        &self,
        partner_id: &str,
        observation: &ace_domain::check::Observation,
    ) -> StoreResult<Option<i64>> {
        crate::checks::observe(self.db.as_ref(), partner_id, observation).await
    }

    async fn check_observations(
        &self,
        partner_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Vec<ace_domain::check::Observation>> {
        crate::checks::observed(self.db.as_ref(), partner_id, after_seq, limit).await
    }

    async fn last_check_observation(&self, partner_id: &str) -> StoreResult<i64> {
        crate::checks::last_observed(self.db.as_ref(), partner_id).await
    }

    async fn running_snapshot_jobs(&self, catalog: Catalog, resource_id: &str) -> StoreResult<Vec<SnapshotJob>> {
        crate::snapshots::running_jobs_of(self.db.as_ref(), catalog, resource_id).await
    }

    async fn list_engagement_resources(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<Association>> {
        crate::snapshots::associations_of_member(self.db.as_ref(), partner_id, catalog).await
    }

    async fn delete_expired_idempotency(&self, before_ms: i64, limit: usize) -> StoreResult<usize> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM idempotency WHERE (partner_id, catalog, operation, token) IN \
                 (SELECT partner_id, catalog, operation, token FROM idempotency WHERE created_ms < $1 LIMIT $2)",
                &[before_ms.into(), (limit as i64).into()],
            )
            .await?;
        tx.commit().await?;
        Ok(n as usize)
    }

    async fn list_engagement_members(&self, catalog: Catalog, engagement_id: &str) -> StoreResult<Vec<Member>> {
        crate::engagements::members(self.db.as_ref(), catalog, engagement_id).await
    }

    async fn get_task(&self, partner_id: &str, catalog: Catalog, id: &str) -> StoreResult<Option<TaskRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT doc FROM tasks WHERE catalog = $1 AND id = $2 AND partner_id = $3",
                &[catalog.as_str().into(), id.into(), partner_id.into()],
            )
            .await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn list_tasks(&self, partner_id: &str, catalog: Catalog) -> StoreResult<Vec<TaskRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT doc FROM tasks WHERE partner_id = $1 AND catalog = $2 ORDER BY start_ms, id",
                &[partner_id.into(), catalog.as_str().into()],
            )
            .await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn get_quota(&self, partner_id: Option<&str>) -> StoreResult<Option<QuotaLimits>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM quotas WHERE scope = $1", &[partner_id.unwrap_or(DEFAULT_SCOPE).into()]).await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn set_quota(&self, partner_id: Option<&str>, limits: &QuotaLimits) -> StoreResult<()> {
        self.write_admin(AdminWrite::SetQuota { partner_id: partner_id.map(String::from), limits: *limits }).await
    }

    async fn list_events(&self, after_seq: i64, limit: usize) -> StoreResult<Vec<(i64, OutboxEvent)>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT seq, id, partner_id, catalog, detail_type, resource, time_ms, envelope, changes FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[after_seq.into(), (limit as i64).into()],
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn get_opportunity_by_id(&self, id: &str) -> StoreResult<Option<Opportunity>> {
        let Some(number) = opportunity_number(id) else { return Ok(None) };
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM opportunities WHERE id_number = $1", &[number.into()]).await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn submissions_by_week(&self, catalog: Catalog, since_ms: i64) -> StoreResult<Vec<(i64, String, i64)>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT submitted_ms / 604800000 AS week, review_status, COUNT(*) FROM opportunities \
                 WHERE catalog = $1 AND submitted_ms >= $2 AND submitted_ms > 0 GROUP BY week, review_status",
                &[catalog.as_str().into(), since_ms.into()],
            )
            .await?;
        rows.iter().map(|row| Ok((row.int(0)?, row.text(1)?, row.int(2)?))).collect()
    }

    async fn opportunity_counts(&self, catalog: Catalog) -> StoreResult<Vec<(String, String, i64)>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT stage, review_status, COUNT(*) FROM opportunities WHERE catalog = $1 GROUP BY stage, review_status",
                &[catalog.as_str().into()],
            )
            .await?;
        rows.iter().map(|row| Ok((row.text(0)?, row.text(1)?, row.int(2)?))).collect()
    }

    async fn list_review_queue(&self, statuses: &[ReviewStatus], limit: usize) -> StoreResult<Vec<Opportunity>> {
        let mut params: Vec<Param> = Vec::new();
        let list = placeholders(&mut params, statuses.iter().map(|s| Param::from(s.as_str())));
        if list.is_empty() {
            return Ok(Vec::new());
        }
        params.push(Param::Int(limit as i64));
        let sql = format!(
            "SELECT doc FROM opportunities WHERE review_status IN ({list}) ORDER BY submitted_ms, id_number LIMIT ${}",
            params.len()
        );
        let mut r = self.db.reader().await?;
        let rows = r.query(&sql, &params).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn find_submission_candidates(
        &self,
        catalog: Catalog,
        identity: &CustomerIdentity,
        excluding_partner: &str,
        limit: usize,
    ) -> StoreResult<Vec<ConflictCandidate>> {
        let scope = vec![catalog.as_str().into(), excluding_partner.into()];
        let mut r = self.db.reader().await?;
        let columns =
            "'O' || CAST(id_number AS TEXT), partner_id, ident_company, ident_domain, ident_duns, ident_country, ident_name";
        let from = "opportunities WHERE conflict_active = 1 AND catalog = $1 AND partner_id <> $2";
        conflict_candidates(&mut r, "partner-submission", columns, from, scope, identity, limit).await
    }

    async fn upsert_pipeline_records(&self, records: &[PipelineRecord]) -> StoreResult<(usize, usize)> {
        let counts = self.pipeline_import_counts(records).await?;
        self.write_admin(AdminWrite::UpsertPipelineRecords(records.to_vec())).await?;
        Ok(counts)
    }

    async fn pipeline_import_counts(&self, records: &[PipelineRecord]) -> StoreResult<(usize, usize)> {
        let mut r = self.db.reader().await?;
        let mut present = std::collections::HashSet::new();
        for chunk in records.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let params: Vec<Param> = chunk.iter().map(|record| record.external_id.as_str().into()).collect();
            let sql = format!("SELECT external_id FROM pipeline_records WHERE external_id IN ({})", placeholders.join(", "));
            for row in r.query(&sql, &params).await? {
                present.insert(row.text(0)?);
            }
        }
        let updated = records.iter().filter(|record| !present.insert(record.external_id.clone())).count();
        Ok((records.len() - updated, updated))
    }

    async fn list_pipeline_records(&self, limit: usize) -> StoreResult<Vec<PipelineRecord>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM pipeline_records ORDER BY external_id LIMIT $1", &[(limit as i64).into()]).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn find_pipeline_candidates(&self, identity: &CustomerIdentity, limit: usize) -> StoreResult<Vec<ConflictCandidate>> {
        let mut r = self.db.reader().await?;
        let columns = "external_id, '', ident_company, ident_domain, ident_duns, ident_country, ident_name";
        conflict_candidates(&mut r, "operator-pipeline", columns, "pipeline_records WHERE active = 1", vec![], identity, limit)
            .await
    }

    async fn insert_consent_statement(&self, statement: &ConsentStatement) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertConsentStatement(statement.clone())).await
    }

    async fn list_consent_statements(&self) -> StoreResult<Vec<ConsentStatement>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM consent_statements ORDER BY published_ms, version", &[]).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn put_evidence_request(&self, request: &EvidenceRequest) -> StoreResult<()> {
        self.write_admin(AdminWrite::PutEvidenceRequest(request.clone())).await
    }

    async fn get_evidence_request(&self, id: &str) -> StoreResult<Option<EvidenceRequest>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM evidence_requests WHERE id = $1", &[id.into()]).await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn list_evidence_requests(&self, partner_id: Option<&str>) -> StoreResult<Vec<EvidenceRequest>> {
        let mut r = self.db.reader().await?;
        let rows = match partner_id {
            Some(p) => {
                r.query("SELECT doc FROM evidence_requests WHERE partner_id = $1 ORDER BY created_ms, id", &[p.into()]).await?
            }
            None => r.query("SELECT doc FROM evidence_requests ORDER BY created_ms, id", &[]).await?,
        };
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT value FROM settings WHERE key = $1", &[key.into()]).await?;
        rows.first().map(|r| r.text(0)).transpose()
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
            &[key.into(), value.into()],
        )
        .await?;
        tx.commit().await
    }

    async fn partner_versions(&self, partner_id: Option<&str>, until_ms: i64) -> StoreResult<Vec<(i64, PartnerProfile)>> {
        let mut r = self.db.reader().await?;
        let rows = match partner_id {
            Some(p) => {
                r.query(
                    "SELECT effective_ms, doc FROM partner_versions WHERE partner_id = $1 AND effective_ms <= $2 ORDER BY effective_ms",
                    &[p.into(), until_ms.into()],
                )
                .await?
            }
            None => {
                r.query("SELECT effective_ms, doc FROM partner_versions WHERE effective_ms <= $1 ORDER BY partner_id, effective_ms", &[until_ms.into()])
                    .await?
            }
        };
        rows.iter().map(|r| Ok((r.int(0)?, from_json(&r.text(1)?)?))).collect()
    }

    async fn approvals(&self, partner_id: Option<&str>, after_ms: i64, until_ms: i64) -> StoreResult<Vec<(String, i64)>> {
        let mut r = self.db.reader().await?;
        let base = "SELECT partner_id, approved_ms FROM opportunities WHERE approved_ms > 0 AND catalog = 'AWS' \
                    AND approved_ms > $1 AND approved_ms <= $2";
        let rows = match partner_id {
            Some(p) => r.query(&format!("{base} AND partner_id = $3"), &[after_ms.into(), until_ms.into(), p.into()]).await?,
            None => r.query(base, &[after_ms.into(), until_ms.into()]).await?,
        };
        rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
    }

    async fn referral_activity(&self, partner_id: Option<&str>) -> StoreResult<Vec<ReferralActivity>> {
        let mut r = self.db.reader().await?;
        // All partners: a scan of the partial index alone; an equality on `catalog` would lead
        // SQLite's planner to the primary key and a scan of the whole table.
        let base = "SELECT partner_id, id_number, modified_ms, stage, catalog FROM opportunities WHERE origin = 'AWS Referral'";
        let rows = match partner_id {
            Some(p) => r.query(&format!("{base} AND partner_id = $1 AND catalog = 'AWS'"), &[p.into()]).await?,
            None => r.query(base, &[]).await?,
        };
        rows.iter()
            .filter(|r| matches!(r.text(4).as_deref(), Ok("AWS")))
            .map(|r| {
                Ok(ReferralActivity {
                    partner_id: r.text(0)?,
                    opportunity_id: ace_domain::ids::opportunity_id(r.int(1)?),
                    last_update_ms: r.int(2)?,
                    stage: r.text(3)?,
                })
            })
            .collect()
    }

    async fn referral_activity_as_of(&self, partner_id: Option<&str>, as_of_ms: i64) -> StoreResult<Vec<ReferralActivity>> {
        let mut r = self.db.reader().await?;
        // Each referral opportunity's latest recorded state at or before the instant.
        let base = "SELECT h.opportunity_number, h.at_ms, h.stage, h.partner_id FROM referral_activity h \
                    WHERE h.at_ms <= $1 AND h.at_ms = (SELECT MAX(x.at_ms) FROM referral_activity x \
                    WHERE x.opportunity_number = h.opportunity_number AND x.at_ms <= $1)";
        let rows = match partner_id {
            Some(p) => {
                r.query(&format!("{base} AND h.partner_id = $2 ORDER BY h.opportunity_number"), &[as_of_ms.into(), p.into()])
                    .await?
            }
            None => r.query(&format!("{base} ORDER BY h.opportunity_number"), &[as_of_ms.into()]).await?,
        };
        rows.iter()
            .map(|r| {
                Ok(ReferralActivity {
                    partner_id: r.text(3)?,
                    opportunity_id: ace_domain::ids::opportunity_id(r.int(0)?),
                    last_update_ms: r.int(1)?,
                    stage: r.text(2)?,
                })
            })
            .collect()
    }

    async fn put_eligibility_config(&self, effective_ms: i64, config: &EligibilityConfig) -> StoreResult<()> {
        self.write_admin(AdminWrite::PutEligibilityConfig { effective_ms, config: config.clone() }).await
    }

    async fn eligibility_config_versions(&self) -> StoreResult<Vec<(i64, EligibilityConfig)>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT effective_ms, doc FROM eligibility_config_versions ORDER BY effective_ms", &[]).await?;
        rows.iter().map(|r| Ok((r.int(0)?, from_json(&r.text(1)?)?))).collect()
    }

    async fn record_eligibility(&self, change: &EligibilityChange, event: &OutboxEvent) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        // One writer per partner at a time (a no-op write locks its row on PostgreSQL; SQLite has
        // one writer anyway), then compare with what is recorded: two nodes evaluating the same
        // change at once record it once.
        tx.exec("UPDATE partners SET doc = doc WHERE id = $1", &[change.partner_id.as_str().into()]).await?;
        let latest = tx
            .query(
                "SELECT eligible FROM eligibility_history WHERE partner_id = $1 ORDER BY at_ms DESC LIMIT 1",
                &[change.partner_id.as_str().into()],
            )
            .await?;
        if latest.first().map(|r| r.int(0)).transpose()? == Some(i64::from(change.eligible)) {
            return Ok(false);
        }
        tx.exec(
            "INSERT INTO eligibility_history (partner_id, at_ms, eligible, cause, doc) VALUES ($1, $2, $3, $4, $5)",
            &[
                change.partner_id.as_str().into(),
                change.at_ms.into(),
                i64::from(change.eligible).into(),
                change.cause.as_str().into(),
                to_json(change)?.into(),
            ],
        )
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn eligibility_history(&self, partner_id: Option<&str>) -> StoreResult<Vec<EligibilityChange>> {
        let mut r = self.db.reader().await?;
        let rows = match partner_id {
            Some(p) => r.query("SELECT doc FROM eligibility_history WHERE partner_id = $1 ORDER BY at_ms", &[p.into()]).await?,
            None => r.query("SELECT doc FROM eligibility_history ORDER BY partner_id, at_ms", &[]).await?,
        };
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn get_referral(&self, id: &str) -> StoreResult<Option<Referral>> {
        let mut r = self.db.reader().await?;
        let rows = r.query(&format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = $1"), &[id.into()]).await?;
        rows.first().map(|r| referral_from_row(r, self.group.wrap.as_ref())).transpose()
    }

    async fn list_referrals(&self, partner_id: Option<&str>, limit: usize) -> StoreResult<Vec<Referral>> {
        let mut r = self.db.reader().await?;
        let rows = match partner_id {
            Some(p) => {
                r.query(
                    &format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE partner_id = $1 ORDER BY provided_ms, id LIMIT $2"),
                    &[p.into(), (limit as i64).into()],
                )
                .await?
            }
            None => {
                r.query(
                    &format!("SELECT {REFERRAL_COLUMNS} FROM referrals ORDER BY provided_ms, id LIMIT $1"),
                    &[(limit as i64).into()],
                )
                .await?
            }
        };
        rows.iter().map(|r| referral_from_row(r, self.group.wrap.as_ref())).collect()
    }

    async fn due_referrals(&self, until_ms: i64, limit: usize) -> StoreResult<Vec<Referral>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                &format!(
                    "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE due_ms <= $1 AND status IN ('PENDING', 'ACCEPTED') \
                     ORDER BY due_ms, id LIMIT $2"
                ),
                &[until_ms.into(), (limit as i64).into()],
            )
            .await?;
        rows.iter().map(|r| referral_from_row(r, self.group.wrap.as_ref())).collect()
    }

    async fn find_suppression(&self, keys: &[String]) -> StoreResult<Option<Suppression>> {
        let mut r = self.db.reader().await?;
        for key in keys {
            let rows = r.query("SELECT doc FROM suppressions WHERE key = $1", &[key.as_str().into()]).await?;
            if let Some(row) = rows.first() {
                return Ok(Some(from_json(&row.text(0)?)?));
            }
        }
        Ok(None)
    }

    async fn list_suppressions(&self) -> StoreResult<Vec<Suppression>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM suppressions WHERE key NOT LIKE 'sandbox:%' ORDER BY created_ms, key", &[]).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn list_audit_reads(&self, referral_id: &str) -> StoreResult<Vec<AuditRead>> {
        let mut r = self.db.reader().await?;
        let mut out = Vec::new();
        let chained = r
            .query(
                &format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE referral_id = $1 AND action = $2 ORDER BY seq"),
                &[referral_id.into(), audit::action::CONTACT_READ.into()],
            )
            .await?;
        for row in &chained {
            let e = audit_from_row(row)?;
            let detail: serde_json::Value = from_json(&e.detail)?;
            out.push(AuditRead {
                referral_id: referral_id.to_string(),
                partner_id: e.partner_id.unwrap_or_default(),
                actor: e.actor,
                at: ace_domain::time::from_millis(e.at_ms),
                what: detail["what"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(out)
    }

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<StoredAuditEntry>> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1");
        let mut params: Vec<Param> = vec![filter.after_seq.into()];
        for (column, value) in
            [("partner_id", &filter.partner_id), ("referral_id", &filter.referral_id), ("action", &filter.action)]
        {
            if let Some(v) = value {
                params.push(v.as_str().into());
                sql.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        if let Some(since) = filter.since_ms {
            params.push(since.into());
            sql.push_str(&format!(" AND at_ms >= ${}", params.len()));
        }
        params.push((filter.limit.clamp(1, 100_000) as i64).into());
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", params.len()));
        let mut r = self.db.reader().await?;
        r.query(&sql, &params).await?.iter().map(audit_from_row).collect()
    }

    async fn audit_head(&self) -> StoreResult<(i64, String)> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT seq, hash FROM audit_head WHERE id = 1", &[]).await?;
        let row = rows.first().ok_or_else(|| StoreError::Other("the audit head row is missing".into()))?;
        Ok((row.int(0)?, row.text(1)?))
    }

    async fn list_terms_versions(&self) -> StoreResult<Vec<TermsVersion>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM terms_versions ORDER BY version", &[]).await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn list_terms_acceptances(&self, version: Option<i64>, partner_id: Option<&str>) -> StoreResult<Vec<Acceptance>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT doc FROM terms_acceptances WHERE (CAST($1 AS BIGINT) = 0 OR version = $1) AND (CAST($2 AS TEXT) = '' OR partner_id = $2) \
                 ORDER BY version, at_ms, partner_id",
                &[version.unwrap_or(0).into(), partner_id.unwrap_or("").into()],
            )
            .await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn record_security_event(&self, event: &SecurityEvent, audit: &AuditEntry) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "INSERT INTO security_events (at_ms, subject, doc) VALUES ($1, $2, $3)",
            &[event.at.timestamp_millis().into(), event.subject.as_str().into(), to_json(event)?.into()],
        )
        .await?;
        append_audit(&mut tx, std::slice::from_ref(audit)).await?;
        tx.commit().await
    }

    async fn list_security_events(&self, since_ms: i64, limit: usize) -> StoreResult<Vec<SecurityEvent>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT doc FROM security_events WHERE at_ms >= $1 ORDER BY seq DESC LIMIT $2",
                &[since_ms.into(), (limit.clamp(1, 10_000) as i64).into()],
            )
            .await?;
        rows.iter().map(|r| from_json(&r.text(0)?)).collect()
    }

    async fn get_calendar(&self, name: &str) -> StoreResult<Option<HolidayCalendar>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc FROM holiday_calendars WHERE name = $1", &[name.into()]).await?;
        rows.first().map(|r| from_json(&r.text(0)?)).transpose()
    }

    async fn insert_webhook(&self, webhook: &Webhook, cursor_seq: i64) -> StoreResult<()> {
        self.write_admin(AdminWrite::InsertWebhook { webhook: webhook.clone(), cursor_seq }).await
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        found(self.write_admin(AdminWrite::DeleteWebhook { id: id.into() }).await)
    }

    async fn list_webhooks(&self, owner_key: Option<&str>) -> StoreResult<Vec<(Webhook, i64)>> {
        let mut r = self.db.reader().await?;
        let rows = match owner_key {
            Some(o) => r.query("SELECT doc, cursor_seq FROM webhooks WHERE owner = $1 ORDER BY id", &[o.into()]).await?,
            None => r.query("SELECT doc, cursor_seq FROM webhooks ORDER BY id", &[]).await?,
        };
        rows.iter().map(|r| Ok((from_json(&r.text(0)?)?, r.int(1)?))).collect()
    }

    async fn list_webhooks_behind(&self, seq: i64) -> StoreResult<Vec<(Webhook, i64)>> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT doc, cursor_seq FROM webhooks WHERE cursor_seq < $1 ORDER BY id", &[seq.into()]).await?;
        rows.iter().map(|r| Ok((from_json(&r.text(0)?)?, r.int(1)?))).collect()
    }

    async fn claim_webhook(&self, id: &str, node: &str, now_ms: i64, until_ms: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "UPDATE webhooks SET lease_until_ms = $3, lease_owner = $2 WHERE id = $1 AND (lease_until_ms < $4 OR lease_owner = $2)",
                &[id.into(), node.into(), until_ms.into(), now_ms.into()],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn record_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        insert_delivery(&mut tx, attempt).await?;
        tx.commit().await
    }

    async fn complete_deliveries(
        &self,
        webhook_id: &str,
        node: &str,
        attempts: &[DeliveryAttempt],
        cursor_seq: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        for attempt in attempts {
            insert_delivery(&mut tx, attempt).await?;
        }
        let n = tx
            .exec(
                "UPDATE webhooks SET cursor_seq = $3 WHERE id = $1 AND lease_owner = $2 AND cursor_seq <= $3",
                &[webhook_id.into(), node.into(), cursor_seq.into()],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn list_deliveries(&self, webhook_id: &str, limit: usize) -> StoreResult<Vec<DeliveryAttempt>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT webhook_id, event_seq, event_id, attempt, at_ms, outcome, http_status, error FROM deliveries WHERE webhook_id = $1 ORDER BY seq LIMIT $2",
                &[webhook_id.into(), (limit as i64).into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryAttempt {
                    webhook_id: r.text(0)?,
                    event_seq: r.int(1)?,
                    event_id: r.text(2)?,
                    attempt: r.int(3)?,
                    at_ms: r.int(4)?,
                    outcome: r.text(5)?,
                    http_status: r.int(6)?,
                    error: r.text(7)?,
                })
            })
            .collect()
    }

    async fn list_partner_events(&self, partner_id: &str, after_seq: i64, limit: usize) -> StoreResult<Vec<(i64, OutboxEvent)>> {
        let mut r = self.db.reader().await?;
        let rows = r
            .query(
                "SELECT seq, id, partner_id, catalog, detail_type, resource, time_ms, envelope, changes FROM events WHERE partner_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[partner_id.into(), after_seq.into(), (limit as i64).into()],
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn max_event_seq(&self) -> StoreResult<i64> {
        let mut r = self.db.reader().await?;
        let rows = r.query("SELECT COALESCE(MAX(seq), 0) FROM events", &[]).await?;
        rows.first().map_or(Ok(0), |r| r.int(0))
    }

    async fn event_seq(&self, partner_id: &str, event_id: &str) -> StoreResult<Option<i64>> {
        let mut r = self.db.reader().await?;
        let rows =
            r.query("SELECT seq FROM events WHERE id = $1 AND partner_id = $2", &[event_id.into(), partner_id.into()]).await?;
        rows.first().map(|r| r.int(0)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A comment may hold a `;` (they do in the baseline): it never becomes a statement.
    #[test]
    fn migration_files_split_into_statements_without_their_comments() {
        let parts = statements("-- one; two\nCREATE TABLE a (x TEXT);\n  -- three\nCREATE INDEX b ON a (x);\n");
        assert_eq!(parts, ["CREATE TABLE a (x TEXT)", "CREATE INDEX b ON a (x)"]);
        for m in MIGRATIONS {
            for statement in [m.shared, m.sqlite, m.postgres, m.after].into_iter().flat_map(statements) {
                // Schema and data migrations only: nothing that drops data.
                let allowed = ["CREATE ", "INSERT ", "ALTER ", "UPDATE ", "DROP INDEX "];
                assert!(allowed.iter().any(|a| statement.starts_with(a)), "{statement}");
            }
        }
    }
}
