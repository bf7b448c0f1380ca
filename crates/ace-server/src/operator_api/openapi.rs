//! The operator API's OpenAPI 3.1 document, served at `/operator/v1/openapi.json`: generated
//! from the handlers' `#[utoipa::path]` declarations and their input types (issue 17), so the
//! document cannot drift from the code. One pass then adds what every operation shares: the
//! bearer scheme and the error responses.

use serde_json::{json, Value};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "ACE Pipeline Manager operator API", version = "1"),
    servers((url = "/operator/v1")),
    paths(
        super::list_partners,
        super::add_partner,
        super::show_partner,
        super::update_partner,
        super::list_users,
        super::add_user,
        super::rotate_key,
        super::disable_user,
        super::list_keys,
        super::create_key,
        super::delete_key,
        super::activate_key,
        super::deactivate_key,
        super::list_solutions,
        super::add_solution,
        super::add_staff,
        super::show_clock,
        super::advance_clock,
        super::show_quota,
        super::set_quota,
        super::list_events,
        super::review::list_queue,
        super::review::show,
        super::review::start,
        super::review::approve,
        super::review::action_required,
        super::review::reject,
        super::review::add_next_steps,
        super::review::list_statements,
        super::review::publish_statement,
        super::review::list_evidence_requests,
        super::review::request_evidence,
        super::review::close_evidence_request,
        super::review::list_pipeline,
        super::review::import_pipeline,
        super::review::show_settings,
        super::review::update_settings,
        super::review::show_standing,
        super::review::file_standing,
        super::review::withdraw_standing,
        super::eligibility::all,
        super::eligibility::one,
        super::eligibility::history,
        super::eligibility::show_config,
        super::eligibility::update_config,
        super::eligibility::list_requirements,
        super::eligibility::add_requirement,
        super::eligibility::set_requirement,
        super::referrals::list,
        super::referrals::create,
        super::referrals::show,
        super::referrals::revoke,
        super::referrals::list_suppression,
        super::referrals::audit,
        super::referrals::show_calendar,
        super::referrals::import_calendar,
        super::engagements::list,
        super::engagements::show,
        super::engagements::snapshots,
        super::engagements::list_groups,
        super::engagements::add_group,
        super::engagements::remove_group,
        super::bulk_jobs::list,
        super::bulk_jobs::show,
        super::checks::start,
        super::checks::list,
        super::checks::show,
        super::checks::cancel,
        super::webhooks::list,
        super::webhooks::add,
        super::webhooks::remove,
        super::webhooks::deliveries,
        super::webhooks::replay,
        super::governance::list_terms,
        super::governance::publish_terms,
        super::governance::show_terms,
        super::governance::acceptance,
        super::governance::show_program,
        super::governance::terminate,
        super::governance::cancel_termination,
        super::governance::set_support_contact,
        super::governance::audit_log,
        super::governance::audit_verify,
        super::governance::security_events,
        super::governance::unblock,
        super::governance::remove_partner,
        super::governance::reinstate_partner,
        super::governance::backup
    )
)]
struct OperatorApi;

/// The client-error statuses every operation may answer besides its success (`OperatorError`'s
/// table; its 500 is left out, so schemathesis counts any server error as a failure).
const ERROR_STATUSES: [&str; 5] = ["400", "401", "403", "404", "409"];

pub fn document() -> Value {
    let mut doc = serde_json::to_value(OperatorApi::openapi()).unwrap_or(Value::Null);
    doc["openapi"] = json!("3.1.0");
    doc["security"] = json!([{"bearer": []}]);
    doc["components"]["securitySchemes"] = json!({"bearer": {"type": "http", "scheme": "bearer"}});
    doc["components"]["responses"] = json!({"Error": {"description": "error", "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
    }}}}});
    let success = json!({"application/json": {"schema": {"type": "object"}}});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            for response in responses.values_mut() {
                response["content"] = success.clone();
            }
            for status in ERROR_STATUSES {
                responses.insert(status.into(), json!({"$ref": "#/components/responses/Error"}));
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::document;

    /// Every route the operator router declares is in the document, with each of its methods.
    #[test]
    fn every_operator_route_is_documented() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("review.rs"),
            include_str!("eligibility.rs"),
            include_str!("referrals.rs"),
            include_str!("webhooks.rs"),
            include_str!("governance.rs"),
            include_str!("engagements.rs"),
            include_str!("bulk_jobs.rs"),
            include_str!("checks.rs"),
        ];
        let routes = declared_routes(&sources);
        assert!(routes.len() > 60, "{routes:?}");
        let doc = document();
        for (method, path) in routes {
            if path == "/openapi.json" {
                continue;
            }
            assert!(doc["paths"][&path].get(&method).is_some(), "{method} {path} is not in the OpenAPI document");
        }
    }

    /// A request body is documented from its type: the fields the handler reads, which it
    /// requires, and no others.
    #[test]
    fn request_bodies_are_the_handlers_input_types() {
        let doc = document();
        let body = &doc["paths"]["/partners"]["post"]["requestBody"]["content"]["application/json"]["schema"];
        let name = body["$ref"].as_str().expect("a reference to the input type").rsplit('/').next().unwrap().to_string();
        let schema = &doc["components"]["schemas"][&name];
        let required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(required, ["id", "name", "path", "tier"], "{schema}");
        assert!(schema["properties"]["holiday_calendar"].is_object(), "{schema}");
        let tier = serde_json::to_string(&doc["components"]["schemas"]["Tier"]).unwrap();
        assert!(tier.contains("premier"), "the domain's own enum: {tier}");
        // Every operation answers the shared error statuses.
        assert_eq!(doc["paths"]["/partners"]["post"]["responses"]["409"]["$ref"], "#/components/responses/Error");
    }

    /// (method, path) of every route the router declares.
    fn declared_routes(sources: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for source in sources {
            for part in source.split(".route(\"").skip(1) {
                let path = &part[..part.find('"').unwrap()];
                let handlers = &part[..part.find('\n').unwrap_or(part.len())];
                for method in ["get", "post", "put", "patch", "delete"] {
                    if handlers.contains(&format!("{method}(")) {
                        out.push((method.to_string(), path.to_string()));
                    }
                }
            }
        }
        out
    }
}
