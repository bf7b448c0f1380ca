#!/usr/bin/env bash
# End to end with the AWS CLI (a client nobody here wrote) against the built `ace` binary on
# 127.0.0.1: create, get, update with a stale date (exit 255, ConflictException), list with
# pagination (--max-items, --page-size), submit, tag. Usage: tests/e2e/aws-cli.sh [path/to/ace]
# With ACE_E2E_DATABASE=postgres://… the server runs on PostgreSQL instead of SQLite.
set -euo pipefail

ACE=${1:-target/debug/ace}
ACE=$(cd "$(dirname "$ACE")" && pwd)/$(basename "$ACE")
command -v aws >/dev/null || { echo "aws CLI not found: pip install awscli" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
database_args=()
[ -n "${ACE_E2E_DATABASE:-}" ] && database_args=(--database "$ACE_E2E_DATABASE")
"$ACE" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --test-clock "${database_args[@]}" >"$work/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -fsS "$endpoint/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$endpoint/readyz" >/dev/null || { cat "$work/server.log"; echo "server did not start" >&2; exit 1; }

export ACE_ENDPOINT=$endpoint ACE_DATA_DIR=$work/data
passed=0 failed=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

"$ACE" partner add --id P-ACME --name "Acme Cloud" --path consulting --tier select >/dev/null
keys=$("$ACE" user add --partner P-ACME --name alice --json)
export AWS_ACCESS_KEY_ID=$(echo "$keys" | json 'd["AccessKeyId"]')
export AWS_SECRET_ACCESS_KEY=$(echo "$keys" | json 'd["SecretAccessKey"]')
export AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard
unset AWS_PROFILE AWS_SESSION_TOKEN
"$ACE" quota set --partner P-ACME --writes-per-second unlimited --reads-per-second unlimited >/dev/null
solution=$("$ACE" solution add --partner P-ACME --name "Migration Factory" --category "Consulting Service" --json | json 'd["id"]')
pcs() { aws partnercentral-selling "$@" --endpoint-url "$endpoint" --output json; }

customer='Account={CompanyName="Example Corp",WebsiteUrl=https://example.com,Industry=Retail,Address={CountryCode=DE,PostalCode=10115}}'
project='Title=Migration,CustomerBusinessProblem="Move forty virtual machines to the cloud this year."'
lifecycle='Stage=Qualified,TargetCloseDate=2099-01-31'

created=$(pcs create-opportunity --catalog AWS --customer "$customer" --project "$project" --life-cycle "$lifecycle")
id=$(echo "$created" | json 'd["Id"]')
first_date=$(echo "$created" | json 'd["LastModifiedDate"]')
check "create-opportunity returns an O-id" test "${id:0:1}" = O

got=$(pcs get-opportunity --catalog AWS --identifier "$id")
check "get-opportunity returns the company" test "$(echo "$got" | json 'd["Customer"]["Account"]["CompanyName"]')" = "Example Corp"
check "get-opportunity: Pending Submission" test "$(echo "$got" | json 'd["LifeCycle"]["ReviewStatus"]')" = "Pending Submission"

updated=$(pcs update-opportunity --catalog AWS --identifier "$id" --last-modified-date "$first_date" \
  --customer "$customer" --project "$project" --life-cycle 'Stage=Technical Validation,TargetCloseDate=2099-01-31')
check "update-opportunity advances LastModifiedDate" test "$(echo "$updated" | json 'd["LastModifiedDate"]')" != "$first_date"

set +e
stale=$(pcs update-opportunity --catalog AWS --identifier "$id" --last-modified-date "$first_date" --customer "$customer" 2>&1)
status=$?
set -e
check "stale update exits 255" test "$status" = 255
check "stale update is a ConflictException" grep -q "ConflictException" <<<"$stale"

for i in $(seq 1 6); do
  pcs create-opportunity --catalog AWS --customer "Account={CompanyName=\"Company $i\"}" >/dev/null
done
listed=$(pcs list-opportunities --catalog AWS --page-size 2)
check "list-opportunities pages through all 7 (page size 2)" test "$(echo "$listed" | json 'len(d["OpportunitySummaries"])')" = 7
page=$(pcs list-opportunities --catalog AWS --max-items 3 --page-size 2)
check "--max-items 3 returns 3" test "$(echo "$page" | json 'len(d["OpportunitySummaries"])')" = 3
token=$(echo "$page" | json 'd["NextToken"]')
rest=$(pcs list-opportunities --catalog AWS --max-items 10 --page-size 2 --starting-token "$token")
check "--starting-token continues with the other 4" test "$(echo "$rest" | json 'len(d["OpportunitySummaries"])')" = 4
all_ids=$( (echo "$page"; echo "$rest") | python3 -c 'import json,sys; d=[json.loads(l) for l in sys.stdin.read().replace("}\n{","}\x00{").split("\x00")]; print(len({s["Id"] for p in d for s in p["OpportunitySummaries"]}))')
check "no opportunity repeats across the pages" test "$all_ids" = 7

pcs associate-opportunity --catalog AWS --opportunity-identifier "$id" --related-entity-type Solutions --related-entity-identifier "$solution"
pcs submit-opportunity --catalog AWS --identifier "$id" --involvement-type Co-Sell
check "submit-opportunity: Submitted" test "$(pcs get-opportunity --catalog AWS --identifier "$id" | json 'd["LifeCycle"]["ReviewStatus"]')" = Submitted

arn=$(pcs get-opportunity --catalog AWS --identifier "$id" | json 'd["Arn"]')
pcs tag-resource --resource-arn "$arn" --tags Key=crm,Value=sf-0042 >/dev/null
check "tag-resource then list-tags-for-resource" test "$(pcs list-tags-for-resource --resource-arn "$arn" | json 'd["Tags"][0]["Value"]')" = sf-0042

set +e
other=$(pcs get-opportunity --catalog Sandbox --identifier "$id" 2>&1)
status=$?
set -e
check "another catalog's id is ResourceNotFoundException" grep -q "ResourceNotFoundException" <<<"$other"

backend=SQLite; [ -n "${ACE_E2E_DATABASE:-}" ] && backend=PostgreSQL
echo "aws-cli e2e ($backend): $passed passed, $failed failed"
test "$failed" = 0
