#!/usr/bin/env bash
# End to end with the AWS CLI (a client nobody here wrote) against the built `ace` binary on
# 127.0.0.1: create, get, update with a stale date (exit 255, ConflictException), list with
# pagination (--max-items, --page-size), submit, tag. Usage: tests/e2e/aws-cli.sh [path/to/ace]
# With ACE_E2E_DATABASE=postgres://… the server runs on PostgreSQL instead of SQLite.
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

partner_user P-ACME
solution=$("$ACE" solution add --partner P-ACME --name "Migration Factory" --category "Consulting Service" --json | json 'd["id"]')

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
acep put-submission-attestation --catalog AWS --opportunity-identifier "$id" \
  --pre-sales-effort 'Description="Two workshops with the CIO; agreed a migration plan for forty VMs.",Activities=[Workshop],DecisionMakerEngaged=CIO' \
  --customer-consent 'StatementVersion=2021-10-27,Method=Email,ObtainedAt=2026-01-15T10:00:00Z,ObtainedBy=alice' >/dev/null
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

# SIGTERM: the server drains and exits cleanly; after a restart every acknowledged write is there.
kill -TERM "$server"
set +e
wait "$server"
status=$?
set -e
check "SIGTERM stops the server cleanly" test "$status" = 0
"$ACE" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --test-clock "${database_args[@]}" >>"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fsS "$endpoint/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
check "after a restart the opportunity is still Submitted" \
  test "$(pcs get-opportunity --catalog AWS --identifier "$id" | json 'd["LifeCycle"]["ReviewStatus"]')" = Submitted
check "after a restart the same credentials still work" test "$(pcs list-opportunities --catalog AWS | json 'len(d["OpportunitySummaries"])')" = 7

finish "aws-cli e2e"
