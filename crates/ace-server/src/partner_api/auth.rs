//! USE-1 and USE-3: every request is signed by one user's own key; failures are counted per
//! access key and a key that keeps failing is locked out for a while.

use std::net::IpAddr;

use axum::http::{HeaderMap, Method, Uri};
use serde_json::json;

use ace_domain::audit::{action, AuditEntry};
use ace_domain::security::{SecurityEvent, Signal};
use ace_store::UserStatus;

use crate::app::auth_guard::{key_failure_subject, FailureLimit};
use crate::app::security;
use crate::app::{keys, partners, Caller};
use crate::error::ApiError;
use crate::sigv4::{self, AuthError, SignedRequest};
use crate::AppState;

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
        Some(key) => keys::owner_of(state, key).await.ok().flatten().map(|u| u.partner_id),
        None => None,
    };
    // A key that exists but was disabled is a stale configuration, not a guess: it must not
    // lock out the other keys that share its address.
    let stale_key = code == "UnrecognizedClient" && partner_id.is_some();
    if let (Some(address), false) = (address, stale_key) {
        security::signal(state, &[&security::address_subject(address)], Signal::AuthFailure, None).await;
    }
    let now_ms = state.wall_clock_ms();
    let locked_until = access_key_id.as_deref().and_then(|k| {
        let subject = key_failure_subject(k, address);
        state.auth_guard.locked_until(&subject, FailureLimit::CREDENTIAL, now_ms)
    });
    let locked = locked_until.is_some();
    let actor = address.map_or_else(|| "client:unknown".to_string(), |a| format!("client:{a}"));
    let mut entry = AuditEntry::new(
        state.now(),
        actor,
        if locked { action::AUTH_LOCKOUT } else { action::AUTH_FAILURE },
        json!({"error": code, "access_key_id": access_key_id, "key_locked": locked}),
    );
    entry.partner_id = partner_id.clone();
    // USE-3: the failure that locks the key (later attempts are refused before they are counted)
    // is a security event the operator sees beside USE-2's blocks, with where it came from.
    let lockout = match (locked_until, &access_key_id) {
        (Some(until_ms), Some(key)) => {
            let network = address.map_or_else(|| "unknown".to_string(), security::client_network);
            tracing::warn!(access_key_id = %key, network = %network, "USE-3: locking an access key after repeated failures");
            crate::metrics::blocked(Signal::KeyLockout.as_str());
            Some(SecurityEvent::key_lockout(key, &network, partner_id, now_ms, until_ms, FailureLimit::CREDENTIAL.failures))
        }
        _ => None,
    };
    keys::record_failure(state, entry, lockout).await;
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
    address: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let auth = sigv4::parse_authorization(headers).map_err(to_api)?;
    let now = state.wall_clock();
    let now_ms = now.timestamp_millis();
    let failure_subject = key_failure_subject(&auth.access_key_id, address);
    if state.auth_guard.locked_until(&failure_subject, FailureLimit::CREDENTIAL, now_ms).is_some() {
        return Err(ApiError::AccessDenied(
            "This access key is temporarily locked after repeated authentication failures.".into(),
        ));
    }
    let Some(user) = keys::owner_of(state, &auth.access_key_id).await? else {
        state.auth_guard.record_failure(&failure_subject, now_ms);
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
        state.auth_guard.record_failure(&failure_subject, now_ms);
        return Err(to_api(e));
    }
    state.auth_guard.record_success(&failure_subject);
    keys::record_use(state, &auth.access_key_id).await;
    let partner = partners::find(state, &user.partner_id)
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
