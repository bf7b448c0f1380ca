#!/usr/bin/env bash
# ELIG-2 end to end on a test-clock server: a select partner goes from 9 to 10 validated
# opportunities (submitted with the AWS CLI, approved with `ace review approve`) and becomes
# eligible; `ace clock advance 366d` moves every validation out of the rolling 12 months and it
# is ineligible again. Usage: tests/e2e/eligibility.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

"$ACE" partner add --id P-ACME --name "Acme Cloud" --path consulting --tier select --program msp --psf-listed \
  --privacy-policy https://acme.example/privacy --referrals-approved >/dev/null
keys=$("$ACE" user add --partner P-ACME --name alice --json)
export AWS_ACCESS_KEY_ID=$(echo "$keys" | json 'd["AccessKeyId"]') AWS_SECRET_ACCESS_KEY=$(echo "$keys" | json 'd["SecretAccessKey"]')
"$ACE" quota set --partner P-ACME --writes-per-second unlimited --reads-per-second unlimited >/dev/null
solution=$("$ACE" solution add --partner P-ACME --name "Migration Factory" --category "Consulting Service" --json | json 'd["id"]')

validate_one() {
  local id
  id=$(pcs create-opportunity --catalog AWS \
    --customer 'Account={CompanyName="Example Corp",WebsiteUrl=https://example.com,Industry=Retail,Address={CountryCode=DE}}' \
    --project 'Title=Migration,CustomerBusinessProblem="Move forty virtual machines to the cloud this year."' \
    --life-cycle 'Stage=Qualified,TargetCloseDate=2099-01-31' | json 'd["Id"]')
  pcs associate-opportunity --catalog AWS --opportunity-identifier "$id" --related-entity-type Solutions --related-entity-identifier "$solution"
  acep put-submission-attestation --catalog AWS --opportunity-identifier "$id" \
    --pre-sales-effort 'Description="Two workshops with the CIO; agreed a migration plan for forty VMs.",Activities=[Workshop],DecisionMakerEngaged=CIO' \
    --customer-consent 'StatementVersion=2021-10-27,Method=Email,ObtainedAt=2026-01-15T10:00:00Z,ObtainedBy=alice' >/dev/null
  pcs submit-opportunity --catalog AWS --identifier "$id" --involvement-type Co-Sell
  "$ACE" review approve "$id" >/dev/null
}

for _ in $(seq 1 9); do validate_one; done
report=$("$ACE" eligibility P-ACME)
echo "$report"
check "9 validated: NOT ELIGIBLE" grep -q "NOT ELIGIBLE" <<<"$report"
check "the report says 9 of 10" grep -q "ELIG-2.1a .*9 of 10" <<<"$report"

validate_one
report=$("$ACE" eligibility P-ACME)
echo "$report"
check "10 validated: ELIGIBLE" grep -q "   ELIGIBLE" <<<"$report"
check "the JSON report says Eligible" test "$("$ACE" eligibility P-ACME --json | json 'd["Eligible"]')" = True
check "the partner sees its own report" test "$(acep get-referral-eligibility | json 'd["Eligible"]')" = True

"$ACE" clock advance 366d >/dev/null
report=$("$ACE" eligibility P-ACME)
echo "$report"
check "366 days later: NOT ELIGIBLE" grep -q "NOT ELIGIBLE" <<<"$report"
check "every validation dropped out" grep -q "0 of 10" <<<"$report"
check "--all lists the partner" grep -q "P-ACME .*NOT ELIGIBLE" <<<"$("$ACE" eligibility --all)"

finish "eligibility e2e"
