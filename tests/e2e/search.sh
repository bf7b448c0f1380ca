#!/usr/bin/env bash
# SearchOpportunities end to end with the AWS CLI (issue 20). The CLI's bundled model predates
# the operation, so `pcsm` gives it the published model (lib.sh). A partner creates
# opportunities, finds them by a keyword, by a keyword and a two-level filter, pages through a
# sort with --page-size (the CLI follows NextToken), finds an update at once, and is refused a
# keyword of stop-words and a filter nested beyond the model's limits; another partner with the
# same words finds only its own (USE-4).
# Usage: tests/e2e/search.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

partner_user P-OTHER
other_key=$AWS_ACCESS_KEY_ID other_secret=$AWS_SECRET_ACCESS_KEY
partner_user P-ACME

create() { # create COMPANY TITLE STAGE MRR: the new opportunity's id
  pcs create-opportunity --catalog AWS \
    --customer "Account={CompanyName=\"$1\",WebsiteUrl=https://customer.example.com,Industry=Retail,Address={CountryCode=US,PostalCode=98101}}" \
    --project "Title=\"$2\",CustomerBusinessProblem=\"Their reporting runs for hours on an old warehouse.\",ExpectedCustomerSpend=[{Amount=$4,CurrencyCode=USD,Frequency=Monthly,TargetCompany=AWS}]" \
    --life-cycle "Stage=$3,TargetCloseDate=2099-01-31" | json 'd["Id"]'
}
ids() { json '" ".join(s["Id"] for s in d["OpportunitySearchSummaries"])'; }

lake=$(create "Acme Retail" "Lakehouse migration" Qualified 2500)
globex=$(create "Globex" "Lakehouse for finance" Qualified 400)
small=$(create "Initech" "Lakehouse pilot" Prospect 100)
other=$(create "Umbrella" "Mainframe exit" Qualified 9000)

found=$(pcsm search-opportunities --catalog AWS --keyword lakehouse --sort SortBy=PartnerProjectTitle,SortOrder=DESCENDING | ids)
check "search-opportunities --keyword: the three with the word, by title" test "$found" = "$small $lake $globex"
found=$(pcsm search-opportunities --catalog AWS --keyword "Lake" \
  --filter '{"AndAllFilters":[{"EqualsTo":{"Key":"Stage","Value":{"StringValue":"Qualified"}}},{"OrAllFilters":[{"GreaterThan":{"Key":"EstimatedMrr","Value":{"DoubleValue":1000}}},{"ContainsAny":{"Key":"CustomerCompanyName","Value":{"StringListValue":["globex"]}}}]}]}' \
  --sort SortBy=EstimatedMrr,SortOrder=DESCENDING)
check "a keyword and a two-level filter, sorted by EstimatedMrr" test "$(echo "$found" | ids)" = "$lake $globex"
check "the summary: company, stage, title" \
  test "$(echo "$found" | json 'd["OpportunitySearchSummaries"][0]["Customer"]["Account"]["CompanyName"] + "/" + d["OpportunitySearchSummaries"][0]["LifeCycle"]["Stage"] + "/" + d["OpportunitySearchSummaries"][0]["Project"]["Title"]')" \
  = "Acme Retail/Qualified/Lakehouse migration"
found=$(pcsm search-opportunities --catalog AWS --sort SortBy=CustomerCompanyName,SortOrder=ASCENDING --page-size 1 | ids)
check "--page-size 1: every page, each once, by company name" test "$found" = "$lake $globex $small $other"
first=$(pcsm search-opportunities --catalog AWS --max-items 2)
check "--max-items 2: a NextToken to resume from" test "$(echo "$first" | json '"NextToken" in d')" = True
rest=$(pcsm search-opportunities --catalog AWS --starting-token "$(echo "$first" | json 'd["NextToken"]')" | ids)
check "--starting-token: the rest" test "$(echo "$rest" | wc -w)" = 2

modified=$(pcs get-opportunity --catalog AWS --identifier "$globex" | json 'd["LastModifiedDate"]')
pcs update-opportunity --catalog AWS --identifier "$globex" --last-modified-date "$modified" \
  --customer 'Account={CompanyName=Globex,WebsiteUrl=https://customer.example.com,Industry=Retail,Address={CountryCode=US,PostalCode=98101}}' \
  --project 'Title="Quantum ledger",CustomerBusinessProblem="Their reporting runs for hours on an old warehouse."' \
  --life-cycle 'Stage=Qualified,TargetCloseDate=2099-01-31,NextSteps="Zeppelin workshop"' >/dev/null
check "an update is found at once by its new words" \
  test "$(pcsm search-opportunities --catalog AWS --keyword "zeppelin quantum" | ids)" = "$globex"
check "and no longer by its old ones" test "$(pcsm search-opportunities --catalog AWS --keyword "lakehouse finance" | ids)" = ""

set +e
out=$(pcsm search-opportunities --catalog AWS --keyword "the and of" 2>&1); status=$?
set -e
check "a keyword of only stop-words: ValidationException" test "$status:$(grep -c ValidationException <<<"$out")" = "255:1"
set +e
out=$(pcsm search-opportunities --catalog AWS \
  --filter '{"NotFilter":{"NotFilter":{"NotFilter":{"EqualsTo":{"Key":"Stage","Value":{"StringValue":"Qualified"}}}}}}' 2>&1); status=$?
set -e
check "a filter nested four deep: ValidationException" test "$status:$(grep -c ValidationException <<<"$out")" = "255:1"

# USE-4: the same words in another partner's opportunity; each finds its own only.
export AWS_ACCESS_KEY_ID=$other_key AWS_SECRET_ACCESS_KEY=$other_secret
theirs=$(create "Acme Retail" "Lakehouse migration" Qualified 2500)
check "another partner finds its own only" test "$(pcsm search-opportunities --catalog AWS --keyword lakehouse | ids)" = "$theirs"

finish "search e2e"
