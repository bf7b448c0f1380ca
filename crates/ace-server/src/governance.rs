//! Program governance at the edge: the terms in force and who accepted them (MOD-2 … MOD-4),
//! the program's termination (MOD-1), its support contact (USE-6), and the audit entries that
//! record all of it (USE-4). The terms and the termination are read on every partner request,
//! so they are cached here for a few seconds (a change made on another node reaches this one
//! within [`CACHE_MS`]; a change made on this node is seen at once).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ace_domain::program::{self, SupportContact, Termination};
use ace_domain::terms::{self, Acceptance, TermsVersion};
use ace_store::{Store, StoreResult, WriteBatch};

use crate::app::Caller;
use crate::error::ApiError;
use crate::AppState;

pub const CACHE_MS: i64 = 5_000;
pub const TERMINATION_KEY: &str = "program.termination";
pub const SUPPORT_CONTACT_KEY: &str = "program.support-contact";

type Cached<T> = Mutex<Option<(T, i64)>>;

#[derive(Default)]
pub struct Governance {
    /// Bumped by every invalidation: a read that started before it is not cached.
    generation: std::sync::atomic::AtomicU64,
    terms: Cached<Arc<Vec<TermsVersion>>>,
    termination: Cached<Option<Termination>>,
    /// `(partner, version)` pairs known to be accepted: acceptances are permanent.
    accepted: Mutex<HashSet<(String, i64)>>,
}

fn fresh<T: Clone>(slot: &Cached<T>, now_ms: i64) -> Option<T> {
    let guard = slot.lock().expect("governance lock");
    guard.as_ref().filter(|(_, at)| now_ms - at < CACHE_MS).map(|(v, _)| v.clone())
}

impl Governance {
    /// Every published version, oldest first.
    pub async fn terms(&self, store: &dyn Store, now_ms: i64) -> StoreResult<Arc<Vec<TermsVersion>>> {
        if let Some(v) = fresh(&self.terms, now_ms) {
            return Ok(v);
        }
        let generation = self.generation();
        let versions = Arc::new(store.list_terms_versions().await?);
        let mut slot = self.terms.lock().expect("governance lock");
        if generation == self.generation() {
            *slot = Some((versions.clone(), now_ms));
        }
        Ok(versions)
    }

    pub async fn termination(&self, store: &dyn Store, now_ms: i64) -> StoreResult<Option<Termination>> {
        if let Some(v) = fresh(&self.termination, now_ms) {
            return Ok(v);
        }
        let generation = self.generation();
        let termination = match store.get_setting(TERMINATION_KEY).await? {
            Some(doc) => serde_json::from_str(&doc).map_err(|e| ace_store::StoreError::Other(format!("termination: {e}")))?,
            None => None,
        };
        let mut slot = self.termination.lock().expect("governance lock");
        if generation == self.generation() {
            *slot = Some((termination.clone(), now_ms));
        }
        Ok(termination)
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// After a change on this node: the next read goes to the store.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.terms.lock().expect("governance lock") = None;
        *self.termination.lock().expect("governance lock") = None;
    }

    fn knows_accepted(&self, partner_id: &str, version: i64) -> bool {
        self.accepted.lock().expect("governance lock").contains(&(partner_id.to_string(), version))
    }

    fn remember_accepted(&self, partner_id: &str, version: i64) {
        let mut accepted = self.accepted.lock().expect("governance lock");
        if accepted.len() > 1_000_000 {
            accepted.clear();
        }
        accepted.insert((partner_id.to_string(), version));
    }
}

/// Who a partner user is in the audit log.
pub fn partner_actor(caller: &Caller) -> String {
    format!("partner:{}/{}", caller.partner.id, caller.user.name)
}

/// MOD-3: the partner's first act after the version in force took effect, without an explicit
/// acceptance, is recorded as acceptance by continued participation, naming the act.
pub async fn observe_participation(state: &AppState, caller: &Caller, operation: &str) -> Result<(), ApiError> {
    if !terms::counts_as_participation(operation) {
        return Ok(());
    }
    let now = state.now();
    let versions = published_terms(state).await?;
    let Some(current) = terms::current(&versions, now) else {
        return Ok(());
    };
    let partner_id = &caller.partner.id;
    if state.governance.knows_accepted(partner_id, current.version) {
        return Ok(());
    }
    if acceptances(state, Some(current.version), Some(partner_id)).await?.is_empty() {
        // Racing requests may both get here: the store keeps (and audits) the first only.
        let acceptance = terms::participation(current, partner_id, &caller.user.name, operation, now);
        state.store.commit(WriteBatch { terms_acceptances: vec![acceptance], ..Default::default() }).await?;
    }
    state.governance.remember_accepted(partner_id, current.version);
    Ok(())
}

/// MOD-1: once the program has ended, why `what` (submissions, referrals …) is refused.
pub async fn terminated(state: &AppState, what: &str) -> StoreResult<Option<String>> {
    Ok(match termination(state).await? {
        Some(t) if program::status(Some(&t), state.now()) == program::ProgramStatus::Terminated => {
            Some(program::terminated_message(&t, what))
        }
        _ => None,
    })
}

/// MOD-1 at the Partner API: `AccessDeniedException` once the program has ended.
pub async fn refuse_if_terminated(state: &AppState, what: &str) -> Result<(), ApiError> {
    match terminated(state, what).await? {
        Some(message) => Err(ApiError::AccessDenied(message)),
        None => Ok(()),
    }
}

/// MOD-2: the published versions of the program terms (cached).
pub async fn published_terms(state: &AppState) -> StoreResult<Arc<Vec<TermsVersion>>> {
    state.governance.terms(state.store.as_ref(), state.wall_clock_ms()).await
}

/// MOD-1: the program's termination, once the operator has announced one (cached).
pub async fn termination(state: &AppState) -> StoreResult<Option<Termination>> {
    state.governance.termination(state.store.as_ref(), state.wall_clock_ms()).await
}

/// MOD-3: the acceptances on record of `version` (every version when `None`) by `partner_id`
/// (every partner when `None`); a partner's first acceptance of a version stands.
pub async fn acceptances(state: &AppState, version: Option<i64>, partner_id: Option<&str>) -> StoreResult<Vec<Acceptance>> {
    state.store.list_terms_acceptances(version, partner_id).await
}

/// USE-6: the support contact the operator configured, if any.
pub async fn support_contact(state: &AppState) -> StoreResult<Option<SupportContact>> {
    match state.store.get_setting(SUPPORT_CONTACT_KEY).await? {
        Some(doc) => {
            serde_json::from_str(&doc).map(Some).map_err(|e| ace_store::StoreError::Other(format!("support contact: {e}")))
        }
        None => Ok(None),
    }
}
