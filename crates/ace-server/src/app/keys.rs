//! USE-1: a user's access keys — two at most, each active or not — for the operator API and
//! the user's own portal page alike.

use ace_domain::audit::AuditEntry;
use ace_store::{AccessKeyRecord, AdminWrite, UserRecord, UserStatus, WriteBatch};

use super::AppError;
use crate::{crypto, AppState};

/// The user, if the partner has one of that name.
pub async fn user(state: &AppState, partner_id: &str, name: &str) -> Result<UserRecord, AppError> {
    state
        .store
        .get_user(partner_id, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("partner {partner_id} has no user {name}")))
}

/// Commits one key change with its audit entry (USE-4).
async fn commit(state: &AppState, write: AdminWrite, audit: AuditEntry) -> Result<(), AppError> {
    state.store.commit(WriteBatch { admin: vec![write], audit: vec![audit], ..Default::default() }).await?;
    Ok(())
}

/// USE-1: a further key for a user (two at most); returns the key id and its secret, which
/// is shown this once. The operator API and the user's own portal page both come here.
pub async fn new_key(state: &AppState, id: &str, name: &str, audit: AuditEntry) -> Result<(String, String), AppError> {
    user(state, id, name).await?;
    let (access_key_id, secret) = crypto::new_access_key_pair();
    let key = AccessKeyRecord {
        access_key_id: access_key_id.clone(),
        partner_id: id.to_string(),
        user_name: name.to_string(),
        secret_encrypted: state.server_key.encrypt(&secret),
        status: UserStatus::Active,
        created_ms: state.now().timestamp_millis(),
        last_used_ms: None,
    };
    commit(state, AdminWrite::InsertAccessKey(key), audit.detail_with("access_key_id", &access_key_id)).await?;
    Ok((access_key_id, secret))
}

/// The key, if it is one of this user's.
pub async fn user_key(state: &AppState, id: &str, name: &str, key: &str) -> Result<AccessKeyRecord, AppError> {
    user(state, id, name).await?;
    state
        .store
        .list_access_keys(id, name)
        .await?
        .into_iter()
        .find(|k| k.access_key_id == key)
        .ok_or_else(|| AppError::NotFound(format!("user {name} of {id} has no access key {key}")))
}

/// USE-1: activates or deactivates one of the user's own keys.
pub async fn set_key_status_of(
    state: &AppState,
    id: &str,
    name: &str,
    key: &str,
    status: UserStatus,
    audit: AuditEntry,
) -> Result<AccessKeyRecord, AppError> {
    let mut k = user_key(state, id, name, key).await?;
    commit(state, AdminWrite::SetAccessKeyStatus { access_key_id: key.to_string(), status }, audit).await?;
    k.status = status;
    Ok(k)
}

/// USE-1: deletes one of the user's own keys; it is refused from the next request on.
pub async fn delete_key(state: &AppState, id: &str, name: &str, key: &str, audit: AuditEntry) -> Result<(), AppError> {
    user_key(state, id, name, key).await?;
    commit(state, AdminWrite::DeleteAccessKey { access_key_id: key.to_string() }, audit).await
}

/// USE-1: the user `access_key_id` belongs to, whatever the key's or the user's status (the
/// caller decides what a disabled one means).
pub async fn owner_of(state: &AppState, access_key_id: &str) -> Result<Option<UserRecord>, AppError> {
    Ok(state.store.get_user_by_access_key(access_key_id).await?)
}

/// USE-1: the key was used now (shown as its last use). At most once a minute per key and
/// node, so a busy key does not write on every request; trouble is logged, not answered.
pub async fn record_use(state: &AppState, access_key_id: &str) {
    if state.auth_guard.use_to_record(access_key_id, state.wall_clock_ms()) {
        if let Err(e) = state.store.touch_access_key(access_key_id, state.now().timestamp_millis()).await {
            tracing::warn!(error = %e, "could not record an access key's last use");
        }
    }
}

/// USE-3, USE-4: audits a failed authentication; when it locked the key, with the lockout's
/// security event in the same transaction. Trouble is logged, never answered.
pub async fn record_failure(state: &AppState, entry: AuditEntry, lockout: Option<ace_domain::security::SecurityEvent>) {
    let recorded = match lockout {
        Some(event) => state.store.record_security_event(&event, &entry).await,
        None => state.store.commit(WriteBatch { audit: vec![entry], ..Default::default() }).await.map(|_| ()),
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not audit an authentication failure");
    }
}

/// The partner's user `name`, if it has one.
pub async fn find_user(state: &AppState, partner_id: &str, name: &str) -> Result<Option<UserRecord>, AppError> {
    Ok(state.store.get_user(partner_id, name).await?)
}
