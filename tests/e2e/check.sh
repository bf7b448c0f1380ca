#!/usr/bin/env bash
# The integration check end to end (issue 25): the operator starts a run with `ace check start`,
# the AWS CLI plays the partner's CRM integration in the Sandbox (create with the mandatory
# fields, submit, read what AWS changed), the server plays AWS's side and judges each step on
# what it saw; the report through `ace check show/list` and `aws ace-partner`.
# Usage: tests/e2e/check.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

partner_user P-CRM

run=$("$ACE" check start --partner P-CRM --scenario opportunity-approved --step-timeout 5m --json | json 'd["id"]')
check "ace check start: a run, running" test "$("$ACE" check show "$run" --json | json 'd["status"]')" = Running

step_status() { # step_status N: the status of step N of the run's one scenario
  "$ACE" check show "$run" --json | json "d['scenarios'][0]['steps'][$1 - 1]['status']"
}
wait_step() { # wait_step N STATUS: waits (up to 20 s) for step N to have STATUS
  for _ in $(seq 1 100); do
    [ "$(step_status "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  "$ACE" check show "$run" >&2
  return 1
}

id=$(pcsm create-opportunity --catalog Sandbox --client-token crm-1 \
  --customer 'Account={CompanyName="Northwind Traders",WebsiteUrl=https://northwind.example.com,Industry=Retail,Address={CountryCode=US,PostalCode=98101,StateOrRegion=Washington}}' \
  --project 'Title="Analytics platform",CustomerBusinessProblem="Month-end reporting takes four days on the current warehouse.",CustomerUseCase="Business Intelligence & Data Warehouse",DeliveryModels=["SaaS or PaaS"],ExpectedCustomerSpend=[{Amount=2500,CurrencyCode=USD,Frequency=Monthly,TargetCompany=AWS}]' \
  --life-cycle 'Stage=Qualified,TargetCloseDate=2099-06-30' --opportunity-type "Net New Business" \
  --primary-needs-from-aws "Co-Sell - Architectural Validation" --partner-opportunity-identifier CRM-1 | json 'd["Id"]')
pcsm submit-opportunity --catalog Sandbox --identifier "$id" --involvement-type Co-Sell --visibility Full >/dev/null
check "the create with the mandatory fields passes, on the request the server answered" wait_step 1 Passed
check "the submission passes" wait_step 2 Passed
check "AWS starts its review by itself; the run waits for the integration to read it" wait_step 4 Waiting
check "the opportunity is In review" test "$(pcsm get-opportunity --catalog Sandbox --identifier "$id" | json 'd["LifeCycle"]["ReviewStatus"]')" = "In review"
check "reading it passes the step; AWS approves; the run waits again" wait_step 6 Waiting
check "the opportunity is Approved" test "$(pcsm get-opportunity --catalog Sandbox --identifier "$id" | json 'd["LifeCycle"]["ReviewStatus"]')" = Approved
for _ in $(seq 1 100); do
  [ "$("$ACE" check show "$run" --json | json 'd["status"]')" = Passed ] && break
  sleep 0.2
done
check "the run passed" test "$("$ACE" check show "$run" --json | json 'd["status"]')" = Passed
check "ace check show: every step, with the requests it rests on" \
  test "$("$ACE" check show "$run" | grep -c -E '^ +[0-9]\. Passed')" = 6
check "ace check list --partner: the run" test "$("$ACE" check list --partner P-CRM | grep -c "$run.*Passed")" = 1
check "aws ace-partner get-integration-check: the partner's own report" \
  test "$(acep get-integration-check --catalog Sandbox --identifier "$run" | json 'd["Status"] + "/" + d["Scenarios"][0]["Steps"][0]["Side"]')" = Passed/Partner
check "aws ace-partner list-integration-checks" \
  test "$(acep list-integration-checks --catalog Sandbox | json 'd["IntegrationChecks"][0]["Id"]')" = "$run"
set +e
out=$(acep start-integration-check --catalog AWS 2>&1); status=$?
set -e
check "a check in the AWS catalog: ValidationException" test "$status:$(grep -c ValidationException <<<"$out")" = "255:1"
set +e
out=$("$ACE" check start --partner P-CRM --scenario no-such-scenario 2>&1); status=$?
set -e
check "an unknown scenario is refused, naming the scenarios there are" test "$status:$(grep -c opportunity-approved <<<"$out")" = "1:1"

# The report as the operator reads it (README shows one).
"$ACE" check show "$run"

# A reference integration on the official SDK for Python (boto3) through every scenario, then
# the same integration ignoring Action Required: it fails that step, and only that.
crm() { AWS_DATA_PATH="$work/aws-data:$MODELS" python3 "$(dirname "$0")/reference_crm.py" --ace "$ACE" --endpoint "$endpoint" "$@"; }
run=$("$ACE" check start --partner P-CRM --json | json 'd["id"]')
check "boto3 reference integration: every scenario passes" test "$(crm --run "$run")" = Passed
"$ACE" check show "$run" | grep -E '^  ' | grep -v -E '^ {5}' || true
run=$("$ACE" check start --partner P-CRM --json | json 'd["id"]')
check "the integration ignoring Action Required: the run fails" test "$(crm --run "$run" --broken ignores-action-required)" = Failed
report=$("$ACE" check show "$run" --json)
check "exactly the step it breaks timed out, its scenario's rest skipped, every other step passed" \
  test "$(echo "$report" | json '",".join(s["name"] + ":" + str(st["step"]) + ":" + st["status"] for s in d["scenarios"] for st in s["steps"] if st["status"] != "Passed")')" \
  = "opportunity-action-required:5:TimedOut,opportunity-action-required:6:Skipped,opportunity-action-required:7:Skipped"
run=$("$ACE" check start --partner P-CRM --scenario opportunity-duplicate --json | json 'd["id"]')
check "the integration retrying a refused duplicate create: the run fails" \
  test "$(crm --run "$run" --broken retries-duplicate-forever)" = Failed
check "the step fails on the refused create and its retry, naming the opportunity that holds the identifier" \
  test "$("$ACE" check show "$run" --json | json 'str(d["scenarios"][0]["steps"][1]["status"]) + ":" + str(len(d["scenarios"][0]["steps"][1]["requestIds"])) + ":" + str("instead of retrying" in d["scenarios"][0]["steps"][1]["message"])')" = Failed:2:True
run=$("$ACE" check start --partner P-CRM --scenario lead-converted --json | json 'd["id"]')
check "ace check cancel: the run stops, every step not taken skipped" \
  test "$("$ACE" check cancel "$run" --json | json 'd["status"] + "/" + d["scenarios"][0]["steps"][1]["status"]')" = Stopped/Skipped

finish "integration check e2e"
