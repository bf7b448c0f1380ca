#!/usr/bin/env bash
# Customer accounts end to end with the AWS CLI (issue 20). The CLI's bundled model predates the
# six operations, so `pcsm` gives it the published model (lib.sh). The operator imports its
# customer records with enrichment columns (`ace pipeline import`); a partner creates accounts,
# which matching settles ENRICHED, ACTION_REQUIRED (several customers, or a duplicate of its
# own) or NO_MATCH_FOUND; it updates one under its LastModifiedDate, searches, counts, tags and
# deletes; another partner sees nothing of them (USE-4).
# Usage: tests/e2e/customer-accounts.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

cat >"$work/customers.csv" <<'CSV'
External ID,Company Name,Website,Country,DUNS,Stage,Industry,Segment,Eligible Programs,Solution Score
CRM-1,Acme Widgets Inc,https://acme-widgets.com,US,,Closed Won,Retail,Enterprise,MAP;ISV Accelerate,High
CRM-2,Globex,https://globex.com,US,111111111,Qualified,Energy,,,Low
CRM-3,Globex LLC,https://globex-corp.com,US,222222222,Qualified,Manufacturing,,,
CSV
imported=$("$ACE" pipeline import "$work/customers.csv")
check "ace pipeline import: the records with their enrichment columns" test "$imported" = "3 inserted, 0 updated, 0 skipped"

partner_user P-OTHER
other_key=$AWS_ACCESS_KEY_ID other_secret=$AWS_SECRET_ACCESS_KEY
partner_user P-ACME
acme_key=$AWS_ACCESS_KEY_ID acme_secret=$AWS_SECRET_ACCESS_KEY

settle() { # settle ID: the account once matching has settled it
  local got
  for _ in $(seq 1 100); do
    got=$(pcsm get-customer-account --catalog AWS --identifier "$1")
    [ "$(echo "$got" | json 'd["EnrichmentStatus"]')" != PENDING ] && { echo "$got"; return; }
    sleep 0.1
  done
  echo "$got"
}

created=$(pcsm create-customer-account --catalog AWS --account 'CompanyName=ACME Widgets,WebsiteUrl=https://www.acme-widgets.com,Address={CountryCode=US}')
acme=$(echo "$created" | json 'd["Id"]')
acme_arn=$(echo "$created" | json 'd["Arn"]')
check "create-customer-account: PENDING, a cust-acc- id" test "$(echo "$created" | json 'd["Status"]'):${acme:0:9}" = "PENDING:cust-acc-"
got=$(settle "$acme")
check "get-customer-account: ENRICHED" test "$(echo "$got" | json 'd["EnrichmentStatus"]')" = ENRICHED
check "get-customer-account: the operator's industry and programs" \
  test "$(echo "$got" | json 'd["AwsEnrichment"]["Customer"]["Industry"] + "/" + ",".join(d["AwsEnrichment"]["Customer"]["EligiblePrograms"])')" = "Retail/MAP,ISV Accelerate"

globex=$(pcsm create-customer-account --catalog AWS --account 'CompanyName=Globex,Address={CountryCode=US}' | json 'd["Id"]')
got=$(settle "$globex")
check "two customers match equally: ACTION_REQUIRED" test "$(echo "$got" | json 'd["EnrichmentStatus"]')" = ACTION_REQUIRED
check "the issue names the deciding fields" test "$(echo "$got" | json '"Account.Duns" in d["Issues"][0]["Message"]')" = True
read_at=$(echo "$got" | json 'd["LastModifiedDate"]')

set +e
out=$(pcsm update-customer-account --catalog AWS --identifier "$globex" --last-modified-date 2020-01-01T00:00:00Z \
  --account 'CompanyName=Globex,Duns=222222222' 2>&1); status=$?
set -e
check "update-customer-account with a stale LastModifiedDate: ConflictException" \
  test "$status:$(grep -c ConflictException <<<"$out")" = "255:1"
updated=$(pcsm update-customer-account --catalog AWS --identifier "$globex" --last-modified-date "$read_at" \
  --account 'CompanyName=Globex,Duns=222222222,Address={CountryCode=US}' --partner-account-identifier crm-42)
check "update-customer-account: PENDING again" test "$(echo "$updated" | json 'd["Status"]')" = PENDING
got=$(settle "$globex")
check "the DUNS decides: ENRICHED with the second customer's industry" \
  test "$(echo "$got" | json 'd["EnrichmentStatus"] + "/" + d["AwsEnrichment"]["Customer"]["Industry"]')" = ENRICHED/Manufacturing

nobody=$(pcsm create-customer-account --catalog AWS --account 'CompanyName=Initech' | json 'd["Id"]')
check "no customer matches: NO_MATCH_FOUND" test "$(settle "$nobody" | json 'd["EnrichmentStatus"]')" = NO_MATCH_FOUND
again=$(pcsm create-customer-account --catalog AWS --account 'CompanyName=Acme Widgets,Domain=acme-widgets.com' | json 'd["Id"]')
got=$(settle "$again")
check "the partner's own duplicate: DUPLICATE_CUSTOMER_MATCH naming the first" \
  test "$(echo "$got" | json 'd["ReasonCode"] + " " + d["ExistingCustomerAccountArn"]')" = "DUPLICATE_CUSTOMER_MATCH $acme_arn"

found=$(pcsm search-customer-accounts --catalog AWS \
  --filter '{"EqualsTo":{"Key":"ENRICHMENT_STATUS","Value":{"StringValue":"ENRICHED"}}}' \
  --sort SortBy=COMPANY_NAME,SortOrder=DESCENDING --page-size 1)
check "search-customer-accounts: the filter, the sort, through every page" \
  test "$(echo "$found" | json '[s["CustomerAccount"]["CompanyName"] for s in d["CustomerAccountSummaries"]]')" = "['Globex', 'ACME Widgets']"
set +e
out=$(pcsm search-customer-accounts --catalog AWS \
  --filter '{"EqualsTo":{"Key":"ENRICHMENT_STATUS","Value":{"StringValue":"ENRICHED"}},"NotFilter":{"EqualsTo":{"Key":"COMPANY_NAME","Value":{"StringValue":"x"}}}}' 2>&1); status=$?
set -e
check "search-customer-accounts: a node with two members is a ValidationException" \
  test "$status:$(grep -c ValidationException <<<"$out")" = "255:1"
stats=$(pcsm get-customer-account-statistics --catalog AWS --aggregations '[{"GroupBy":["ENRICHMENT_STATUS"]}]')
check "get-customer-account-statistics: every account counted by status" \
  test "$(echo "$stats" | json 'str(d["TotalCount"]) + " " + str(sorted((b["Values"][0], b["Count"]) for b in d["Aggregations"][0]["Buckets"]))')" \
  = "4 [('ACTION_REQUIRED', 1), ('ENRICHED', 2), ('NO_MATCH_FOUND', 1)]"

pcs tag-resource --resource-arn "$acme_arn" --tags Key=team,Value=east >/dev/null
check "tag-resource on a customer account" test "$(pcs list-tags-for-resource --resource-arn "$acme_arn" | json 'd["Tags"][0]["Value"]')" = east

# USE-4: another partner sees nothing of them and deletes nothing.
export AWS_ACCESS_KEY_ID=$other_key AWS_SECRET_ACCESS_KEY=$other_secret
set +e
out=$(pcsm get-customer-account --catalog AWS --identifier "$acme" 2>&1); status=$?
set -e
check "another partner: ResourceNotFoundException" test "$status:$(grep -c ResourceNotFoundException <<<"$out")" = "255:1"
pcsm delete-customer-account --catalog AWS --identifier "$acme" >/dev/null
check "another partner finds no accounts" test "$(pcsm search-customer-accounts --catalog AWS | json 'len(d["CustomerAccountSummaries"])')" = 0
export AWS_ACCESS_KEY_ID=$acme_key AWS_SECRET_ACCESS_KEY=$acme_secret
check "the owner still has it" test "$(pcsm get-customer-account --catalog AWS --identifier "$acme" | json 'd["Id"]')" = "$acme"
pcsm delete-customer-account --catalog AWS --identifier "$acme_arn" >/dev/null
pcsm delete-customer-account --catalog AWS --identifier "$acme_arn" >/dev/null
set +e
out=$(pcsm get-customer-account --catalog AWS --identifier "$acme" 2>&1); status=$?
set -e
check "delete-customer-account, twice: gone" test "$status:$(grep -c ResourceNotFoundException <<<"$out")" = "255:1"

finish "customer accounts e2e"
