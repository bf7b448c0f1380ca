//! A Selling API operation run for a caller who is not the partner API's own client — a
//! portal user, a bulk job's row — through the same path as a signed request: the quota
//! (USE-5), the probe guard (USE-2), the model check, the handler, the `partner.write` audit
//! (USE-4) and MOD-3's acceptance by participation. The partner API implements [`Runner`] and
//! start-up hands it to the state (`AppState::operations`), so neither the portal nor this layer
//! depends on that edge. An operation is named by its wire name (`GetOpportunity`).

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use ace_domain::bulk::RowResult;

use super::Caller;
use crate::error::ApiError;
use crate::AppState;

/// An operation's answer: its output document, or `None` for an operation that has none.
pub type Answer = Result<Option<Value>, ApiError>;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What runs the operations (the partner API's registry).
pub trait Runner: Send + Sync {
    /// Whether `operation` is one this server serves.
    fn serves(&self, operation: &str) -> bool;

    /// Runs `operation` for `caller` as a signed request would be run.
    fn invoke<'a>(&'a self, state: &'a AppState, caller: &'a Caller, operation: &'a str, input: Value) -> Boxed<'a, Answer>;

    /// Runs one row of a bulk job (issue 20): no per-second quota (the job counts rows against
    /// the daily one), and the row's `result` commits in the batch of the change it makes.
    /// Says whether it did (a change committed with the result).
    fn invoke_bulk_row<'a>(
        &'a self,
        state: &'a AppState,
        caller: &'a Caller,
        operation: &'a str,
        input: Value,
        result: RowResult,
    ) -> Boxed<'a, (Answer, bool)>;
}

/// Runs `operation` for `caller` (see [`Runner::invoke`]).
pub async fn invoke(state: &AppState, caller: &Caller, operation: &str, input: Value) -> Answer {
    state.operations.invoke(state, caller, operation, input).await
}
