#!/usr/bin/env bash
# Hostile input against the operator API (issue "Reliability and security proof suite"):
# schemathesis generates requests from the OpenAPI document the server publishes — valid,
# invalid and boundary values for every operation — and fails on any 5xx or a response that
# breaks the document's status codes or, where the document types an answer (`operator_api::views`),
# its schema. `/backup` is left out (it writes files where it is told).
# Usage: tests/e2e/schemathesis.sh [ace]   (ACE_SCHEMATHESIS_EXAMPLES, default 25 per operation)
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"
command -v st >/dev/null || { echo "schemathesis not found: pip install schemathesis" >&2; exit 1; }

partner_user P-ST >/dev/null
token=$(cat "$work/data/operator-token")
set +e
(cd "$work" && st run "$endpoint/operator/v1/openapi.json" --url "$endpoint/operator/v1" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance \
  --exclude-path /backup \
  --max-examples "${ACE_SCHEMATHESIS_EXAMPLES:-25}" --workers 2 --seed 42 \
  --suppress-health-check all --warnings off) >"$work/st.log" 2>&1
status=$?
set -e
tail -40 "$work/st.log"
check "schemathesis: no server error, only documented status codes, answers as their schemas say" test "$status" = 0
check "the server is still up afterwards" curl -fsS "$endpoint/readyz" -o /dev/null
check "nothing panicked" bash -c "! grep -q 'panicked' '$work/server.log'"
finish "operator API under schemathesis"
