//! The operator API's OpenAPI 3.1 document, served at `/operator/v1/openapi.json`.

use serde_json::{json, Value};

fn op(summary: &str, body: Option<Value>, ok_status: &str) -> Value {
    let mut o = json!({
        "summary": summary,
        "responses": {
            ok_status: {"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
            "409": {"$ref": "#/components/responses/Error"}
        }
    });
    if let Some(schema) = body {
        o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    o
}

fn id_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

pub fn document() -> Value {
    let decision = json!({"type": "object", "properties": {
        "comment": {"type": "string"},
        "reason": {"enum": ["already-pursued", "insufficient-presales", "missing-consent", "personal-data", "unqualified-marketing-lead",
            "incomplete-information", "not-qualified", "duplicate", "other"]}
    }});
    let limit = json!({"oneOf": [{"type": "integer", "minimum": 1}, {"const": "unlimited"}]});
    let programs = json!({"type": "array", "items": {"enum": ["competency", "msp", "isv-accelerate", "public-sector", "service-delivery", "well-architected", "service-ready", "global-startup"]}});
    let partner = json!({
        "type": "object", "required": ["id", "name", "path", "tier"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, "name": {"type": "string"},
            "path": {"enum": ["consulting", "technology", "isv"]}, "tier": {"enum": ["registered", "select", "advanced", "premier"]},
            "programs": programs, "psf_listed": {"type": "boolean"}, "isv_path_confirmed": {"type": "boolean"},
            "privacy_policy": {"type": "string", "format": "uri"}, "timezone": {"type": "string", "description": "IANA time zone"},
            "holiday_calendar": {"type": "string"}, "referrals_approved": {"type": "boolean"}
        }
    });
    let partner_patch = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"}, "path": {"enum": ["consulting", "technology", "isv"]},
            "tier": {"enum": ["registered", "select", "advanced", "premier"]}, "add_programs": programs, "remove_programs": programs,
            "psf_listed": {"type": "boolean"}, "isv_path_confirmed": {"type": "boolean"}, "privacy_policy": {"type": "string"},
            "clear_privacy_policy": {"type": "boolean"}, "timezone": {"type": "string"}, "holiday_calendar": {"type": "string"},
            "clear_holiday_calendar": {"type": "boolean"}, "referrals_approved": {"type": "boolean"}
        }
    });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "ACE Pipeline Manager operator API", "version": "1"},
        "servers": [{"url": "/operator/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "error", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}
            }}}}}
        },
        "paths": {
            "/partners": {
                "get": op("List partners", None, "200"),
                "post": op("Add a partner (a 12-digit account id is assigned)", Some(partner), "201")
            },
            "/partners/{id}": {
                "parameters": [id_param("id")],
                "get": op("Show a partner", None, "200"),
                "patch": op("Update a partner", Some(partner_patch), "200")
            },
            "/partners/{id}/users": {
                "parameters": [id_param("id")],
                "get": op("List a partner's users", None, "200"),
                "post": op("Add a user; the response holds its access key pair, shown once (USE-1); with email and password it can also sign in to the web portal",
                    Some(json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"},
                        "email": {"type": "string"}, "password": {"type": "string"}, "invite": {"type": "boolean"}}})), "201")
            },
            "/staff": {
                "post": op("Add operator staff who sign in to the web console (admin token only)",
                    Some(json!({"type": "object", "required": ["email", "role"], "properties": {
                        "email": {"type": "string"}, "role": {"enum": ["admin", "reviewer", "partner-manager"]},
                        "password": {"type": "string"}, "invite": {"type": "boolean"}}})), "201")
            },
            "/partners/{id}/users/{name}/rotate-key": {
                "parameters": [id_param("id"), id_param("name")],
                "post": op("Replace the user's key pair; the old key stops working at once (USE-1)", None, "200")
            },
            "/partners/{id}/users/{name}/disable": {
                "parameters": [id_param("id"), id_param("name")],
                "post": op("Disable the user; its key is refused from the next request (USE-1)", None, "200")
            },
            "/partners/{id}/solutions": {
                "parameters": [id_param("id")],
                "get": op("List a partner's solutions", None, "200"),
                "post": op("Add a solution", Some(json!({"type": "object", "required": ["name", "category"], "properties": {
                    "name": {"type": "string"}, "category": {"type": "string"},
                    "status": {"enum": ["Active", "Inactive", "Draft"]}, "catalog": {"enum": ["AWS", "Sandbox"]}}})), "201")
            },
            "/clock": {"get": op("The program clock, and whether it is a test clock", None, "200")},
            "/clock/advance": {"post": op("Move a test clock forward (refused without --test-clock)",
                Some(json!({"type": "object", "required": ["duration"], "properties": {"duration": {"type": "string", "examples": ["4d", "36h"]}}})), "200")},
            "/quotas": {
                "get": op("Quota limits in force (USE-5); ?partner=ID for one partner", None, "200"),
                "put": op("Set quota limits for every partner, or for one with \"partner\"", Some(json!({"type": "object", "properties": {
                    "partner": {"type": "string"}, "reads_per_second": limit, "writes_per_second": limit,
                    "reads_per_day": limit, "writes_per_day": limit}})), "200")
            },
            "/events": {"get": op("The event outbox, oldest first (?after=SEQ&limit=N)", None, "200")},
            "/review": {"get": op("The review queue, oldest submission first, with age and pre-screen findings (SUB-1); ?status=submitted|in-review|action-required|all", None, "200")},
            "/review/{id}": {
                "parameters": [id_param("id")],
                "get": op("One submission: document, partner, attestation (consent record), findings with conflict matches, history, evidence requests", None, "200")
            },
            "/review/{id}/start": {"parameters": [id_param("id")], "post": op("Submitted → In review", None, "200")},
            "/review/{id}/approve": {"parameters": [id_param("id")], "post": op("Approve (validate); records the approval time", Some(decision.clone()), "200")},
            "/review/{id}/action-required": {"parameters": [id_param("id")], "post": op("Send back to the partner; comment required", Some(decision.clone()), "200")},
            "/review/{id}/reject": {"parameters": [id_param("id")], "post": op("Reject; reason required", Some(decision), "200")},
            "/consent/statements": {
                "get": op("Published consent statement versions (SUB-4)", None, "200"),
                "post": op("Publish a new version; published versions never change",
                    Some(json!({"type": "object", "required": ["version", "text"], "properties": {"version": {"type": "string"}, "text": {"type": "string"}}})), "201")
            },
            "/consent/requests": {
                "get": op("Evidence requests and answers; ?opportunity=ID&partner=ID", None, "200"),
                "post": op("Ask the partner for evidence of consent",
                    Some(json!({"type": "object", "required": ["opportunity_id", "message"], "properties": {"opportunity_id": {"type": "string"}, "message": {"type": "string"}}})), "201")
            },
            "/consent/requests/{id}/close": {"parameters": [id_param("id")], "post": op("Close an evidence request; the request and answer are kept", None, "200")},
            "/pipeline": {
                "get": op("The operator's own pipeline (SUB-2); ?limit=N", None, "200"),
                "post": op("Import or update records by external id (at most 1000 per request); bad records are reported by index and skipped",
                    Some(json!({"type": "object", "required": ["records"], "properties": {"records": {"type": "array", "maxItems": 1000, "items": {
                        "type": "object", "required": ["external_id", "company_name", "stage"], "properties": {
                            "external_id": {"type": "string"}, "company_name": {"type": "string"}, "website": {"type": "string"},
                            "country": {"type": "string"}, "duns": {"type": "string"}, "stage": {"type": "string"}, "owner": {"type": "string"},
                            "enrichment": {"type": "object", "description": "What the operator knows of the customer: given to partners whose customer accounts match this record (issue 20)", "properties": {
                                "account_name": {"type": "string"}, "company_size": {"type": "string"}, "country": {"type": "string"},
                                "account_planning_qualification": {"type": "string"}, "eligible_programs": {"type": "array", "items": {"type": "string"}},
                                "geo": {"type": "string"}, "industry": {"type": "string"}, "region": {"type": "string"}, "sector": {"type": "string"},
                                "segment": {"type": "string"}, "sub_industry": {"type": "string"}, "sub_region": {"type": "string"},
                                "marketplace_engagement_score": {"type": "string", "enum": ["High", "Medium", "Low"]}, "solution_category": {"type": "string"},
                                "solution_score": {"type": "string", "enum": ["High", "Medium", "Low"]}, "solution_sub_category": {"type": "string"}}}}}}}})), "200")
            },
            "/eligibility": {"get": op("Every partner's referral eligibility (ELIG-2); ?as_of=RFC3339", None, "200")},
            "/eligibility/{id}": {
                "parameters": [id_param("id")],
                "get": op("One partner's eligibility report: each requirement met or not, with its figures; ?as_of=RFC3339 uses the profile and configuration in force then", None, "200")
            },
            "/eligibility/{id}/history": {"parameters": [id_param("id")], "get": op("Recorded changes of the partner's eligibility, with their causes", None, "200")},
            "/eligibility-config": {
                "get": op("The eligibility configuration in force (ELIG-3)", None, "200"),
                "put": op("Change thresholds or the program list: a new version, in force from now", Some(json!({"type": "object", "properties": {
                    "validated_min": {"type": "integer"}, "window_months": {"type": "integer"}, "referral_update_days": {"type": "integer"},
                    "referral_fresh_percent_min": {"type": "integer"}, "programs": {"type": "array", "items": {"type": "string"}}}})), "200")
            },
            "/requirements": {
                "get": op("Further requirements per segment (ELIG-2.x (e))", None, "200"),
                "post": op("Define a further requirement", Some(json!({"type": "object", "required": ["id", "segment", "description"], "properties": {
                    "id": {"type": "string"}, "segment": {"enum": ["select", "advanced", "isv"]}, "description": {"type": "string"}}})), "201")
            },
            "/partners/{id}/requirements/{requirement}": {
                "parameters": [id_param("id"), id_param("requirement")],
                "put": op("Set whether the partner meets a further requirement", Some(json!({"type": "object", "required": ["met"], "properties": {"met": {"type": "boolean"}}})), "200")
            },
            "/referrals": {
                "get": op("Referrals, oldest first, without contact data (REF-1); ?partner=ID&status=PENDING|ACCEPTED|REJECTED|EXPIRED|REVOKED", None, "200"),
                "post": op("Refer a lead or opportunity to a partner; refused when it is not eligible (ELIG-2, REF-6) or the contact is suppressed (REF-5)",
                    Some(json!({"type": "object", "required": ["partner", "kind", "company", "website", "country"], "properties": {
                        "partner": {"type": "string"}, "kind": {"enum": ["lead", "opportunity"]}, "company": {"type": "string"},
                        "website": {"type": "string"}, "country": {"type": "string"}, "industry": {"type": "string"}, "title": {"type": "string"},
                        "problem": {"type": "string"}, "contact_name": {"type": "string"}, "contact_email": {"type": "string"},
                        "contact_phone": {"type": "string"}, "contact_title": {"type": "string"}, "catalog": {"enum": ["AWS", "Sandbox"]}}})), "201")
            },
            "/referrals/{id}": {"parameters": [id_param("id")], "get": op("One referral with its contact, deadlines and contact record", None, "200")},
            "/referrals/{id}/revoke": {"parameters": [id_param("id")], "post": op("Revoke a referral (REM-1, REM-2): the partner loses it and is told to delete its copies",
                Some(json!({"type": "object", "properties": {"reason": {"type": "string"}}})), "200")},
            "/engagements": {"get": op("Engagements (issue 18), oldest first, each catalog's; ?partner=ID for those it is a member of", None, "200")},
            "/engagements/{id}": {
                "parameters": [id_param("id"), {"name": "catalog", "in": "query", "required": false, "schema": {"enum": ["AWS", "Sandbox"]}}],
                "get": op("One engagement: its contexts (a referral's rendered from it), members and invitations", None, "200")
            },
            "/engagements/{id}/snapshots": {
                "parameters": [id_param("id"), {"name": "catalog", "in": "query", "required": false, "schema": {"enum": ["AWS", "Sandbox"]}}],
                "get": op("The resource snapshots shared with the operator's side in one engagement (issue 19), each revision with what changed since the one before", None, "200")
            },
            "/engagement-groups": {
                "get": op("The engagement groups partners list and search in", None, "200"),
                "post": op("Add or redefine an engagement group: its engagements are those whose customer is of its industries and countries (any when empty)",
                    Some(json!({"type": "object", "required": ["id", "name"], "additionalProperties": false, "properties": {
                        "id": {"type": "string", "pattern": "^eng-grp-[0-9a-z]{14}$"}, "name": {"type": "string", "minLength": 1, "maxLength": 255},
                        "description": {"type": "string", "minLength": 1, "maxLength": 2048},
                        "industries": {"type": "array", "items": {"type": "string"}}, "countries": {"type": "array", "items": {"type": "string"}}
                    }})), "201")
            },
            "/engagement-groups/{id}": {"parameters": [id_param("id")], "delete": op("Remove an engagement group", None, "200")},
            "/suppression": {"get": op("The suppression list (REF-5): hashed e-mails and company domains", None, "200")},
            "/audit": {"get": op("Recorded reads of a referral's contact data (REF-1); ?referral=ID", None, "200")},
            "/calendars/{name}": {
                "parameters": [id_param("name")],
                "get": op("A holiday calendar (built-in us-federal, or imported)", None, "200"),
                "put": op("Import a holiday calendar", Some(json!({"type": "object", "required": ["dates"], "properties": {"dates": {"type": "array", "items": {"type": "string", "format": "date"}}}})), "200")
            },
            "/webhooks": {
                "get": op("Webhook subscriptions; ?partner=ID", None, "200"),
                "post": op("Subscribe a URL to the events of one partner, or of all (operator); the response holds the signing secret, shown once",
                    Some(json!({"type": "object", "required": ["url"], "properties": {"partner": {"type": "string"}, "url": {"type": "string"},
                        "event_types": {"type": "array", "items": {"type": "string"}}, "secret": {"type": "string"}}})), "201")
            },
            "/webhooks/{id}": {"parameters": [id_param("id")], "delete": op("Delete a subscription", None, "200")},
            "/webhooks/{id}/deliveries": {"parameters": [id_param("id")], "get": op("Delivery attempts: delivered, failed (retried) or dead (parked)", None, "200")},
            "/webhooks/{id}/replay": {"parameters": [id_param("id")], "post": op("Redeliver every event after an outbox sequence number",
                Some(json!({"type": "object", "required": ["since_seq"], "properties": {"since_seq": {"type": "integer"}}})), "200")},
            "/terms": {
                "get": op("Published terms versions with their status: current, upcoming, superseded (MOD-2)", None, "200"),
                "post": op("Publish a terms version, effective on posting or on a later date; partners are told (MOD-2, MOD-4)",
                    Some(json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"},
                        "effective": {"type": "string", "format": "date-time"}, "summary": {"type": "string"},
                        "backdate": {"type": "boolean", "description": "allow an effective date in the past (audited)"}}})), "201")
            },
            "/terms/{version}": {"parameters": [id_param("version")], "get": op("One version with its text; `current` names the one in force", None, "200")},
            "/terms/{version}/acceptance": {"parameters": [id_param("version")],
                "get": op("Who accepted a version, how (explicitly or by continued participation, MOD-3) and when; who has not", None, "200")},
            "/program": {"get": op("The program's status, termination, current terms and support contact", None, "200")},
            "/program/terminate": {"post": op("End the program on a date (MOD-1): submissions and referrals stop, partners are told",
                Some(json!({"type": "object", "required": ["effective"], "properties": {"effective": {"type": "string", "description": "RFC 3339 or `now`"},
                    "reason": {"type": "string"}, "backdate": {"type": "boolean"}}})), "200")},
            "/program/termination": {"delete": op("Call off a termination that is not yet in effect", None, "200")},
            "/program/support-contact": {"put": op("Publish the support contact partners see (USE-6)",
                Some(json!({"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}, "phone": {"type": "string"},
                    "url": {"type": "string"}, "hours": {"type": "string"}}})), "200")},
            "/audit/log": {"get": op("The hash-chained audit log, oldest first (USE-4); ?partner=&referral=&action=&since=&after=&limit=", None, "200")},
            "/audit/verify": {"get": op("Check the audit chain; names the first altered, removed or reordered entry", None, "200")},
            "/security/events": {"get": op("Keys and addresses blocked for probing (USE-2), newest first; ?since=&limit=", None, "200")},
            "/security/unblock": {"post": op("Lift a probe block on this node",
                Some(json!({"type": "object", "required": ["subject"], "properties": {"subject": {"type": "string"}}})), "200")},
            "/partners/{id}/remove": {"parameters": [id_param("id")], "post": op("Remove a partner from referrals or from the whole program (REM-1): open referrals revoked with their data deleted; with `all`, every credential refused",
                Some(json!({"type": "object", "required": ["scope"], "properties": {"scope": {"enum": ["referrals", "all"]}, "reason": {"type": "string"}}})), "200")},
            "/partners/{id}/standing-attestation": {"parameters": [id_param("id")],
                "get": op("The partner's standing attestation (SUB-3, SUB-4; issue 22) and whether the policy lets submissions rely on it", None, "200"),
                "post": op("File (or replace) the partner's standing attestation: consent obtained before every submission under a published consent statement, evidence produced on request",
                    Some(json!({"type": "object", "required": ["consent_statement", "statement"], "additionalProperties": false, "properties": {
                        "consent_statement": {"type": "string"}, "statement": {"type": "string"}}})), "201"),
                "delete": op("Withdraw the partner's standing attestation", None, "200")},
            "/partners/{id}/reinstate": {"parameters": [id_param("id")], "post": op("Undo a removal: access and eligibility return; revoked referrals and deleted data do not",
                Some(json!({"type": "object", "required": ["scope"], "properties": {"scope": {"enum": ["referrals", "all"]}}})), "200")},
            "/partners/{id}/users/{name}/keys": {"parameters": [id_param("id"), id_param("name")],
                "get": op("A user's access keys with status and last use (USE-1)", None, "200"),
                "post": op("Create a further access key (two per user at most, as IAM); the secret is shown once", None, "201")},
            "/partners/{id}/users/{name}/keys/{key}": {"parameters": [id_param("id"), id_param("name"), id_param("key")],
                "delete": op("Delete an access key", None, "200")},
            "/partners/{id}/users/{name}/keys/{key}/activate": {"parameters": [id_param("id"), id_param("name"), id_param("key")],
                "post": op("Activate an access key", None, "200")},
            "/partners/{id}/users/{name}/keys/{key}/deactivate": {"parameters": [id_param("id"), id_param("name"), id_param("key")],
                "post": op("Deactivate an access key: refused from the next request on", None, "200")},
            "/backup": {"post": op("Write an online, consistent copy of the SQLite database to a new file on the server's machine",
                Some(json!({"type": "object", "required": ["to"], "properties": {"to": {"type": "string", "description": "absolute path"}}})), "200")},
            "/settings": {
                "get": op("Review settings", None, "200"),
                "put": op("Change review and referral settings", Some(json!({"type": "object", "properties": {
                    "auto_reject_already_pursued": {"type": "boolean"},
                    "standing_attestation": {"enum": ["allowed", "not-allowed"]},
                    "referral_missed_deadline_policy": {"enum": ["revoke", "flag"]},
                    "referral_acceptance_days": {"type": "integer"}, "referral_reminder_hours": {"type": "integer"},
                    "referral_unsubscribe_links": {"type": "array", "items": {"type": "string"}}}})), "200")
            }
        }
    });
    // Past the json! macro's nesting budget above: added on their own.
    doc["paths"]["/bulk-jobs"] = json!({
        "parameters": [{"name": "partner", "in": "query", "required": false, "schema": {"type": "string"}}],
        "get": op("Bulk jobs (issue 20), newest first, every partner's or one's: kind, status, progress, why one failed", None, "200")
    });
    doc["paths"]["/bulk-jobs/{id}"] =
        json!({"parameters": [id_param("id")], "get": op("One bulk job, with its first failed records", None, "200")});
    doc
}

#[cfg(test)]
mod tests {
    use super::document;

    /// Every route the operator router declares is in the document.
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
        ];
        let route = declared_routes(&sources);
        assert!(route.len() > 15, "{route:?}");
        let doc = document();
        for path in route {
            if path == "/openapi.json" {
                continue;
            }
            assert!(doc["paths"].get(&path).is_some(), "{path} is not in the OpenAPI document");
        }
    }

    fn declared_routes(sources: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for source in sources {
            for part in source.split(".route(\"").skip(1) {
                if let Some(end) = part.find('"') {
                    out.push(part[..end].to_string());
                }
            }
        }
        out
    }
}
