//! Engagements for the operator (issue 18): the operator's side is in every engagement, so it
//! lists and reads them all; engagement groups are its to define. Every write is one
//! transaction with its audit entry (`app::engagements`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use ace_domain::ids::Catalog;

use super::{authorize, done, done_created, ok, parse_body, views, OpResult, OperatorCall, OperatorError};
use crate::app::engagements as use_case;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/engagements", get(list))
        .route("/engagements/{id}", get(show))
        .route("/engagements/{id}/snapshots", get(snapshots))
        .route("/engagement-groups", get(list_groups).post(add_group))
        .route("/engagement-groups/{id}", axum::routing::delete(remove_group))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    partner: Option<String>,
}

#[utoipa::path(get, path = "/engagements", tag = "operator", summary = "Engagements (issue 18), oldest first, each catalog's; with partner, those it is a member of", params(ListQuery), responses((status = 200, description = "success", body = views::Engagements)))]
async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    ok(views::Engagements { engagements: use_case::operator_list(&state, q.partner.as_deref()).await? })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    catalog: Option<String>,
}

#[utoipa::path(get, path = "/engagements/{id}", tag = "operator", summary = "One engagement: its contexts (a referral's rendered from it), members and invitations", params(("id" = String, Path), ShowQuery), responses((status = 200, description = "success")))]
async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, Query(q): Query<ShowQuery>) -> OpResult {
    authorize(&state, &headers).await?;
    let mut last = None;
    for catalog in catalogs(q.catalog.as_deref())? {
        match use_case::operator_view(&state, catalog, &id).await {
            Ok(v) => return ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map(OperatorError::from).unwrap_or_else(|| OperatorError::bad_request("no catalog")))
}

/// Issue 19: the resource snapshots shared with the operator's side, revisions side by side.
#[utoipa::path(get, path = "/engagements/{id}/snapshots", tag = "operator", summary = "The resource snapshots shared with the operator's side in one engagement (issue 19), each revision with what changed since the one before", params(("id" = String, Path), ShowQuery), responses((status = 200, description = "success", body = views::SnapshotHistory)))]
async fn snapshots(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> OpResult {
    authorize(&state, &headers).await?;
    let (catalog, revisions) = crate::app::snapshots::operator_history(&state, catalog(q.catalog.as_deref())?, &id).await?;
    ok(views::SnapshotHistory { catalog: catalog.as_str(), engagement: id, snapshots: revisions })
}

/// The catalog a `?catalog=` names, if it names one.
fn catalog(param: Option<&str>) -> Result<Option<Catalog>, OperatorError> {
    param
        .map(|c| Catalog::parse(c).ok_or_else(|| OperatorError::bad_request(format!("catalog {c:?} is not AWS or Sandbox"))))
        .transpose()
}

/// The catalog a `?catalog=` names, or both when it names none (ids are random across catalogs).
fn catalogs(param: Option<&str>) -> Result<Vec<Catalog>, OperatorError> {
    Ok(catalog(param)?.map_or(vec![Catalog::Aws, Catalog::Sandbox], |c| vec![c]))
}

#[utoipa::path(get, path = "/engagement-groups", tag = "operator", summary = "The engagement groups partners list and search in", responses((status = 200, description = "success", body = views::Groups)))]
async fn list_groups(State(state): State<AppState>, headers: HeaderMap) -> OpResult {
    authorize(&state, &headers).await?;
    ok(views::Groups { groups: use_case::groups(&state).await? })
}

#[utoipa::path(post, path = "/engagement-groups", tag = "operator", summary = "Add or redefine an engagement group: its engagements are those whose customer is of its industries and countries (any when empty)", request_body = use_case::GroupInput, responses((status = 201, description = "success")))]
async fn add_group(State(state): State<AppState>, call: OperatorCall, body: Bytes) -> OpResult {
    let input: use_case::GroupInput = parse_body(&body)?;
    let group = use_case::put_group(&state, &call.actor(), input).await?;
    done_created(group)
}

#[utoipa::path(delete, path = "/engagement-groups/{id}", tag = "operator", summary = "Remove an engagement group", params(("id" = String, Path)), responses((status = 200, description = "success", body = views::Removed)))]
async fn remove_group(State(state): State<AppState>, Path(id): Path<String>, call: OperatorCall) -> OpResult {
    use_case::remove_group(&state, &call.actor(), &id).await?;
    done(views::Removed { removed: id })
}
