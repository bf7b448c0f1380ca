#!/usr/bin/env bash
# SUB-1 … SUB-6 end to end with the AWS CLI: `aws ace-partner` (the project's botocore model,
# loaded through AWS_DATA_PATH) attests, `aws partnercentral-selling` submits and reads the
# outcome, `ace review`/`ace consent`/`ace pipeline` act as the operator.
# Usage: tests/e2e/review-flow.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

partner_user P-ACME
solution=$("$ACE" solution add --partner P-ACME --name "Migration Factory" --category "Consulting Service" --json | json 'd["id"]')

# SUB-2: the operator's own pipeline, with one bad row.
cat >"$work/pipeline.csv" <<'CSV'
External ID,Company Name,Website,Country,DUNS,Stage,Owner
SF-001,Pursued GmbH,https://www.pursued.example.com,DE,,Qualified,jo
SF-002,,https://nameless.example.com,DE,,Qualified,jo
CSV
import_out=$("$ACE" pipeline import "$work/pipeline.csv" 2>"$work/import.err")
check "pipeline import reports 1 inserted, 1 skipped" grep -q "1 inserted, 0 updated, 1 skipped" <<<"$import_out"
check "the bad row is reported with its line number" grep -q "^line 3:" "$work/import.err"

opportunity() { # opportunity SOLUTION CUSTOMER PROJECT: an AWS-catalog opportunity with the solution associated
  local id
  id=$(pcs create-opportunity --catalog AWS --customer "$2" --project "$3" \
    --life-cycle 'Stage=Qualified,TargetCloseDate=2099-01-31' | json 'd["Id"]')
  pcs associate-opportunity --catalog AWS --opportunity-identifier "$id" --related-entity-type Solutions --related-entity-identifier "$1"
  echo "$id"
}
draft() { # draft COMPANY WEBSITE
  opportunity "$solution" "Account={CompanyName=\"$1\",WebsiteUrl=$2,Industry=Retail,Address={CountryCode=DE,PostalCode=10115}}" \
    'Title=Migration,CustomerBusinessProblem="Move forty virtual machines to the cloud this year."'
}
attest() {
  acep put-submission-attestation --catalog AWS --opportunity-identifier "$1" \
    --pre-sales-effort 'Description="Two workshops with the CIO; agreed a migration plan for forty VMs.",Activities=[Workshop,Architecture review],DecisionMakerEngaged=CIO,LastMeetingDate=2026-01-15' \
    --customer-consent 'StatementVersion=2021-10-27,Method=Email,ObtainedAt=2026-01-15T10:00:00Z,ObtainedBy=alice'
}

id=$(draft "Example Corp" https://example.com)

set +e
refused=$(pcs submit-opportunity --catalog AWS --identifier "$id" --involvement-type Co-Sell 2>&1)
status=$?
set -e
check "submit without attestation exits 255" test "$status" = 255
check "the refusal names SUB-3 and SUB-4 in the message" grep -q "SUB-3.*SUB-4" <<<"$refused"

attested=$(attest "$id")
check "put-submission-attestation records who attested" test "$(echo "$attested" | json 'd["Attestation"]["RecordedBy"]')" = alice
check "get-submission-attestation returns the consent" \
  test "$(acep get-submission-attestation --catalog AWS --opportunity-identifier "$id" | json 'd["Attestation"]["CustomerConsent"]["Method"]')" = Email

pcs submit-opportunity --catalog AWS --identifier "$id" --involvement-type Co-Sell
check "ace review list shows the submission" grep -q "$id" <<<"$("$ACE" review list)"
"$ACE" review start "$id" >/dev/null
"$ACE" review action-required "$id" --comment "Add the customer's postal code" --reason incomplete-information >/dev/null
got=$(pcs get-opportunity --catalog AWS --identifier "$id")
check "the partner sees Action Required" test "$(echo "$got" | json 'd["LifeCycle"]["ReviewStatus"]')" = "Action Required"
check "the partner sees the review comment" test "$(echo "$got" | json 'd["LifeCycle"]["ReviewComments"]')" = "Add the customer's postal code"

pcs update-opportunity --catalog AWS --identifier "$id" --last-modified-date "$(echo "$got" | json 'd["LastModifiedDate"]')" \
  --customer 'Account={CompanyName="Example Corp",WebsiteUrl=https://example.com,Industry=Retail,Address={CountryCode=DE,PostalCode=10117}}' \
  --project 'Title=Migration,CustomerBusinessProblem="Move forty virtual machines to the cloud this year."' \
  --life-cycle 'Stage=Qualified,TargetCloseDate=2099-01-31' >/dev/null
check "the partner's answer sends it back to review" \
  test "$(pcs get-opportunity --catalog AWS --identifier "$id" | json 'd["LifeCycle"]["ReviewStatus"]')" = Submitted

"$ACE" review approve "$id" --comment "Validated: welcome to co-sell" >/dev/null
got=$(pcs get-opportunity --catalog AWS --identifier "$id")
check "the partner sees Approved" test "$(echo "$got" | json 'd["LifeCycle"]["ReviewStatus"]')" = Approved
check "the partner sees the approval comment" test "$(echo "$got" | json 'd["LifeCycle"]["ReviewComments"]')" = "Validated: welcome to co-sell"

# AWS's side of the deal: its seller's next steps, read by the partner in AWS's view.
"$ACE" review next-steps "$id" --text "AWS solutions architect joins the discovery call" >/dev/null
summary=$(pcs get-aws-opportunity-summary --catalog AWS --related-opportunity-identifier "$id")
check "ace review next-steps: get-aws-opportunity-summary shows AWS's next steps and their history" \
  test "$(echo "$summary" | json 'd["LifeCycle"]["NextSteps"] + "/" + str(len(d["LifeCycle"]["NextStepsHistory"]))')" = "AWS solutions architect joins the discovery call/1"
set +e
out=$("$ACE" review next-steps "$id" --text "" 2>&1); status=$?
set -e
check "empty next steps are refused, saying why" test "$status:$(grep -c '1 to 255 characters' <<<"$out")" = "1:1"

# SUB-4: evidence of consent, requested by the operator and answered by the partner.
request=$("$ACE" consent request-evidence "$id" --message "Please show the consent email" --json | json 'd["RequestId"]')
listed=$(acep list-consent-evidence-requests --catalog AWS --status OPEN)
check "the partner lists the open evidence request" test "$(echo "$listed" | json 'd["EvidenceRequests"][0]["RequestId"]')" = "$request"
answered=$(acep respond-to-consent-evidence-request --catalog AWS --request-id "$request" --evidence "Email from the CIO, 2026-01-15")
check "the answer is recorded" test "$(echo "$answered" | json 'd["EvidenceRequest"]["Status"]')" = ANSWERED
"$ACE" consent close-request "$request" >/dev/null
set +e
late=$(acep respond-to-consent-evidence-request --catalog AWS --request-id "$request" --evidence "late" 2>&1)
status=$?
set -e
check "a closed request cannot be answered" grep -q "ConflictException" <<<"$late"

# SUB-2: a submission for a customer the operator already pursues goes to review flagged.
pursued=$(draft "Pursued GmbH" pursued.example.com)
attest "$pursued" >/dev/null
pcs submit-opportunity --catalog AWS --identifier "$pursued" --involvement-type Co-Sell
check "the reviewer sees already-pursued with the matched record" grep -q "SF-001" <<<"$("$ACE" review show "$pursued" --json)"
# Read first (a failing call stops the script), then judged.
seen=$(pcs get-opportunity --catalog AWS --identifier "$pursued")
check "the partner reads the flagged opportunity" test "$(echo "$seen" | json 'd["Id"]')" = "$pursued"
check "the partner does not see the match" bash -c '! grep -q SF-001 <<<"$1"' _ "$seen"

# Issue 22: a CRM that speaks only the Selling API. Without a standing attestation its
# submission is refused with the rule and how to satisfy it; with one on file (and its effort in
# the standard fields) `submit-opportunity` alone passes; the reviewer sees which applied.
partner_user P-CRM
crm_solution=$("$ACE" solution add --partner P-CRM --name "CRM Factory" --category "Consulting Service" --json | json 'd["id"]')
standard() { # standard COMPANY: an opportunity whose effort is in the Selling API's own fields
  opportunity "$crm_solution" \
    "Account={CompanyName=\"$1\",WebsiteUrl=https://${1// /-}.example.com,Industry=Retail,Address={CountryCode=DE,PostalCode=10115}},Contacts=[{FirstName=Ann,LastName=Lee,BusinessTitle=\"Head of IT\",Email=ann@example.com}]" \
    'Title=Migration,CustomerBusinessProblem="Two workshops showed forty virtual machines must move to the cloud this year.",SalesActivities=["Conducted POC / Demo"]'
}
crm=$(standard "Standard Corp")
set +e
refused=$(pcs submit-opportunity --catalog AWS --identifier "$crm" --involvement-type Co-Sell 2>&1)
status=$?
set -e
check "without a standing attestation: refused (exit 255)" test "$status" = 255
check "the refusal names SUB-4 and how to satisfy it" grep -q "SUB-4.*standing attestation with the operator (ace partner attest)" <<<"$refused"
echo "P-CRM asks every customer for consent, by e-mail, before any submission; evidence on request." >"$work/consent.txt"
check "ace partner attest files it" grep -q "standing attestation filed under consent statement 2021-10-27" \
  <<<"$("$ACE" partner attest P-CRM --consent-statement 2021-10-27 --file "$work/consent.txt")"
set +e
bad=$("$ACE" partner attest P-CRM --consent-statement 1999-01-01 --file "$work/consent.txt" 2>&1)
status=$?
set -e
check "an unpublished consent statement is refused" test "$([ "$status" != 0 ] && echo refused):$(grep -c 'never published' <<<"$bad")" = "refused:1"
pcs submit-opportunity --catalog AWS --identifier "$crm" --involvement-type Co-Sell
check "with it, submit-opportunity alone passes" \
  test "$(pcs get-opportunity --catalog AWS --identifier "$crm" | json 'd["LifeCycle"]["ReviewStatus"]')" = Submitted
shown=$("$ACE" review show "$crm" --json)
check "the reviewer sees the standing attestation applied (SUB-3 and SUB-4)" \
  test "$(echo "$shown" | json 'd["attestation_basis"]["presales"] + "/" + d["attestation_basis"]["consent"]')" = standing/standing
request=$("$ACE" consent request-evidence "$crm" --message "Please show the consent" --json | json 'd["RequestId"]')
answered=$(acep respond-to-consent-evidence-request --catalog AWS --request-id "$request" --evidence "Email from the Head of IT")
check "evidence requests work under a standing attestation" test "$(echo "$answered" | json 'd["EvidenceRequest"]["Status"]')" = ANSWERED
"$ACE" review config --standing-attestation not-allowed >/dev/null
other=$(standard "Policy Corp")
set +e
refused=$(pcs submit-opportunity --catalog AWS --identifier "$other" --involvement-type Co-Sell 2>&1)
status=$?
set -e
check "with the policy not-allowed, the standing attestation no longer counts" test "$status:$(grep -c 'SUB-4' <<<"$refused")" = "255:1"
"$ACE" review config --standing-attestation allowed >/dev/null

finish "review-flow e2e"
