//! USE-1 and USE-3: every request is signed by one user's own key; failures are counted per
//! access key and a key that keeps failing is locked out for a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method, Uri};
use serde_json::json;

use ace_domain::audit::{action, AuditEntry};
use ace_domain::security::Signal;
use ace_store::{UserStatus, WriteBatch};

use super::Caller;
use crate::error::ApiError;
use crate::sigv4::{self, AuthError, SignedRequest};
use crate::{security, AppState};

/// Failed signatures tolerated per access key within the window before it is locked.
pub const FAILURES_MAX: usize = 5;
const FAILURE_WINDOW_MS: i64 = 5 * 60_000;
const LOCKOUT_MS: i64 = 15 * 60_000;
/// A limit on the guard's own memory: the oldest entries go first.
const TRACKED_KEYS_MAX: usize = 10_000;

/// How often a key's last-used time is written (a write per request would double the load).
const LAST_USED_EVERY_MS: i64 = 60_000;

#[derive(Default)]
pub struct AuthGuard {
    failures: Mutex<HashMap<String, Vec<i64>>>,
    /// When each key's use was last written.
    last_recorded: Mutex<HashMap<String, i64>>,
}

impl AuthGuard {
    /// USE-1: whether this successful use should be written as the key's last-used time.
    fn use_to_record(&self, access_key_id: &str, now_ms: i64) -> bool {
        let mut recorded = self.last_recorded.lock().expect("guard lock");
        if recorded.get(access_key_id).is_some_and(|t| now_ms - t < LAST_USED_EVERY_MS) {
            return false;
        }
        if recorded.len() >= TRACKED_KEYS_MAX {
            recorded.retain(|_, t| now_ms - *t < LAST_USED_EVERY_MS);
        }
        recorded.insert(access_key_id.to_string(), now_ms);
        true
    }

    pub(crate) fn locked_until(&self, access_key_id: &str, now_ms: i64) -> Option<i64> {
        let failures = self.failures.lock().expect("guard lock");
        let recent: Vec<i64> = failures.get(access_key_id)?.iter().copied().filter(|t| now_ms - t < LOCKOUT_MS).collect();
        if recent.len() >= FAILURES_MAX {
            let nth_last = recent[recent.len() - FAILURES_MAX];
            let last = *recent.last()?;
            if last - nth_last < FAILURE_WINDOW_MS {
                return Some(last + LOCKOUT_MS);
            }
        }
        None
    }

    pub(crate) fn record_failure(&self, access_key_id: &str, now_ms: i64) {
        let mut failures = self.failures.lock().expect("guard lock");
        if failures.len() >= TRACKED_KEYS_MAX && !failures.contains_key(access_key_id) {
            failures.retain(|_, times| times.last().is_some_and(|t| now_ms - t < LOCKOUT_MS));
            if failures.len() >= TRACKED_KEYS_MAX {
                return;
            }
        }
        let times = failures.entry(access_key_id.to_string()).or_default();
        times.retain(|t| now_ms - t < LOCKOUT_MS);
        times.push(now_ms);
        if times.len() > 4 * FAILURES_MAX {
            times.remove(0);
        }
    }

    pub(crate) fn record_success(&self, access_key_id: &str) {
        self.failures.lock().expect("guard lock").remove(access_key_id);
    }
}

/// USE-3, USE-2, USE-4: a failed authentication is counted against the client address (a
/// burst blocks it) and audited with the key it named. Missing credentials are not counted:
/// they are a misconfigured client, not a guess.
pub async fn record_failure(state: &AppState, address: Option<IpAddr>, headers: &HeaderMap, error: &ApiError) {
    let code = match error {
        ApiError::IncompleteSignature(_) => "IncompleteSignature",
        ApiError::InvalidSignature(_) => "InvalidSignature",
        ApiError::UnrecognizedClient => "UnrecognizedClient",
        _ => return,
    };
    let access_key_id = sigv4::parse_authorization(headers).ok().map(|a| a.access_key_id);
    let partner_id = match &access_key_id {
        Some(key) => state.store.get_user_by_access_key(key).await.ok().flatten().map(|u| u.partner_id),
        None => None,
    };
    // A key that exists but was disabled is a stale configuration, not a guess: it must not
    // lock out the other keys that share its address.
    let stale_key = code == "UnrecognizedClient" && partner_id.is_some();
    if let (Some(address), false) = (address, stale_key) {
        security::signal(state, &[&security::address_subject(address)], Signal::AuthFailure, None).await;
    }
    let locked = access_key_id.as_deref().is_some_and(|k| state.auth_guard.locked_until(k, state.wall_clock_ms()).is_some());
    let actor = address.map_or_else(|| "client:unknown".to_string(), |a| format!("client:{a}"));
    let mut entry = AuditEntry::new(
        state.now(),
        actor,
        if locked { action::AUTH_LOCKOUT } else { action::AUTH_FAILURE },
        json!({"error": code, "access_key_id": access_key_id, "key_locked": locked}),
    );
    entry.partner_id = partner_id;
    if let Err(e) = state.store.commit(WriteBatch { audit: vec![entry], ..Default::default() }).await {
        tracing::error!(error = %e, "could not audit an authentication failure");
    }
}

fn to_api(e: AuthError) -> ApiError {
    match e {
        AuthError::Missing => ApiError::MissingAuthenticationToken,
        AuthError::Incomplete(m) => ApiError::IncompleteSignature(m),
        AuthError::Invalid(m) => ApiError::InvalidSignature(m),
    }
}

pub async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, ApiError> {
    let auth = sigv4::parse_authorization(headers).map_err(to_api)?;
    let now = state.wall_clock();
    let now_ms = now.timestamp_millis();
    if state.auth_guard.locked_until(&auth.access_key_id, now_ms).is_some() {
        return Err(ApiError::AccessDenied(
            "This access key is temporarily locked after repeated authentication failures.".into(),
        ));
    }
    let Some(user) = state.store.get_user_by_access_key(&auth.access_key_id).await? else {
        state.auth_guard.record_failure(&auth.access_key_id, now_ms);
        return Err(ApiError::UnrecognizedClient);
    };
    if user.status != UserStatus::Active {
        return Err(ApiError::UnrecognizedClient);
    }
    let secret = state
        .server_key
        .decrypt(&user.secret_encrypted)
        .ok_or_else(|| ApiError::Internal(format!("cannot decrypt the secret of {}", user.access_key_id)))?;
    let request = SignedRequest { method: method.as_str(), path: uri.path(), query: uri.query().unwrap_or(""), headers, body };
    if let Err(e) = sigv4::verify(&request, &auth, &secret, &state.settings.region, Some(now)) {
        state.auth_guard.record_failure(&auth.access_key_id, now_ms);
        return Err(to_api(e));
    }
    state.auth_guard.record_success(&auth.access_key_id);
    if state.auth_guard.use_to_record(&auth.access_key_id, now_ms) {
        if let Err(e) = state.store.touch_access_key(&auth.access_key_id, state.now().timestamp_millis()).await {
            tracing::warn!(error = %e, "could not record an access key's last use");
        }
    }
    let partner = state
        .store
        .get_partner(&user.partner_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("user {} has no partner", user.access_key_id)))?;
    // REM-1: a partner removed from the whole program loses every credential at once, and with
    // them any pagination or idempotency token it still holds.
    if !partner.has_access() {
        return Err(ApiError::AccessDenied(format!(
            "Partner {} has been removed from the ACE program; its credentials no longer grant access.",
            partner.id
        )));
    }
    Ok(Caller { partner, user })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_3_lockout_after_repeated_failures_and_expiry() {
        let guard = AuthGuard::default();
        for i in 0..FAILURES_MAX as i64 - 1 {
            guard.record_failure("AK", i * 1000);
        }
        assert_eq!(guard.locked_until("AK", 5_000), None);
        guard.record_failure("AK", 5_000);
        assert!(guard.locked_until("AK", 6_000).is_some());
        assert!(guard.locked_until("OTHER", 6_000).is_none(), "other keys are unaffected");
        assert!(guard.locked_until("AK", 5_000 + LOCKOUT_MS + 1).is_none(), "the lock expires");
    }
}
