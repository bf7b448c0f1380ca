//! Bulk jobs for the operator (issue 20): every partner's, with their progress and why they
//! failed (`app::bulk`).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{authorize, ok, OpResult};
use crate::app::bulk as use_case;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/bulk-jobs", get(list)).route("/bulk-jobs/{id}", get(show))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    partner: Option<String>,
}

#[utoipa::path(get, path = "/bulk-jobs", tag = "operator", summary = "Bulk jobs (issue 20), newest first, every partner's or one's: kind, status, progress, why one failed", params(ListQuery), responses((status = 200, description = "success", body = super::views::Jobs)))]
async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(super::views::Jobs { jobs: use_case::operator_list(&state, q.partner.as_deref()).await? })
}

#[utoipa::path(get, path = "/bulk-jobs/{id}", tag = "operator", summary = "One bulk job, with its first failed records", params(("id" = String, Path)), responses((status = 200, description = "success")))]
async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(use_case::operator_view(&state, &id).await?)
}
