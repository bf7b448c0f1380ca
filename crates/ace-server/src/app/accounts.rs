//! People who sign in to the portal: their e-mail addresses, the operator's staff roles, their
//! sessions and the operator's invitations.

use ace_store::{PortalAccount, PortalInvitation, PortalSession};

use super::AppError;
use crate::{crypto, AppState};

/// The operator's staff roles (the console is theirs).
pub const STAFF_ROLES: [&str; 3] = ["admin", "reviewer", "partner-manager"];

/// A sign-in address, lower-cased; why it is refused otherwise.
pub fn check_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(format!("{email:?} is not an e-mail address"))
    }
}

/// How long a portal session lasts.
pub const SESSION_MS: i64 = 8 * 3_600_000;

/// The portal account that signs in as `email`, if any.
pub async fn account(state: &AppState, email: &str) -> Result<Option<PortalAccount>, AppError> {
    Ok(state.store.get_portal_account(email).await?)
}

/// The live session whose cookie is `id`, with its account (only the id's hash is stored).
pub async fn session(state: &AppState, id: &str) -> Result<Option<(PortalSession, PortalAccount)>, AppError> {
    let Some(session) = state.store.get_portal_session(&crypto::sha256_hex(id.as_bytes())).await? else {
        return Ok(None);
    };
    if session.expires_ms <= state.wall_clock_ms() {
        return Ok(None);
    }
    Ok(account(state, &session.email).await?.map(|account| (session, account)))
}

/// A new session for `account` with CSRF token `csrf`; returns the cookie's value, `id`.
pub async fn open_session(state: &AppState, account: &PortalAccount, id: &str, csrf: String) -> Result<(), AppError> {
    let now_ms = state.wall_clock_ms();
    let session = PortalSession {
        id_hash: crypto::sha256_hex(id.as_bytes()),
        email: account.email.clone(),
        csrf,
        created_ms: now_ms,
        expires_ms: now_ms + SESSION_MS,
    };
    Ok(state.store.insert_portal_session(&session).await?)
}

/// Signs the session out (by its stored hash).
pub async fn close_session(state: &AppState, id_hash: &str) -> Result<(), AppError> {
    state.store.delete_portal_session(id_hash).await?;
    Ok(())
}

/// The operator's invitation `token` names, live or not (only its hash is stored).
pub async fn invitation(state: &AppState, token: &str) -> Result<Option<PortalInvitation>, AppError> {
    Ok(state.store.get_portal_invitation(&crypto::sha256_hex(token.as_bytes())).await?)
}

/// Turns invitation `token` into an account signing in with `password_hash`. Not found when it
/// expired or was used; a conflict when its address already has an account.
pub async fn redeem(state: &AppState, token: &str, password_hash: &str) -> Result<PortalAccount, AppError> {
    let token_hash = crypto::sha256_hex(token.as_bytes());
    Ok(state.store.redeem_portal_invitation(&token_hash, password_hash, state.wall_clock_ms()).await?)
}
