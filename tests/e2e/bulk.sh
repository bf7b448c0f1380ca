#!/usr/bin/env bash
# Bulk jobs end to end with the AWS CLI (issue 20), the files in a real S3 API on
# loopback (moto in server mode, started here; `aws s3 cp` uploads). The CLI's bundled model
# predates the operations, so `pcsm` gives it the published model (lib.sh). A partner uploads a
# CSV of creates with one bad row, starts the job, follows it to COMPLETED, lists its results
# (every page), downloads the failed-records report through its presigned URL, then updates by
# a file whose header has Identifier; a bad header fails a job as a whole; a customer-account
# job creates accounts; another partner sees none of it (USE-4).
# Usage: tests/e2e/bulk.sh [path/to/ace]
set -euo pipefail
if ! command -v moto_server >/dev/null; then
  [ -n "${ACE_REQUIRE_E2E:-}" ] && { echo "moto_server not found, and ACE_REQUIRE_E2E is set" >&2; exit 1; }
  echo "bulk e2e: skipped (pip install 'moto[server]' to run it)"
  exit 0
fi
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
moto=$!
s3="http://127.0.0.1:$moto_port"
for _ in $(seq 1 100); do curl -fsS "$s3" >/dev/null 2>&1 && break; sleep 0.1; done
export ACE_E2E_SERVE_ARGS="--s3-endpoint $s3 --s3-bucket ace-uploads"
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"
trap 'kill "$moto" 2>/dev/null || true; cleanup' EXIT
s3cli() { aws s3 "$@" --endpoint-url "$s3"; }

partner_user P-OTHER
other_key=$AWS_ACCESS_KEY_ID other_secret=$AWS_SECRET_ACCESS_KEY
partner_user P-ACME
account=$("$ACE" partner show P-ACME --json | json 'd["account_id"]')
aws s3api create-bucket --bucket ace-uploads --endpoint-url "$s3" >/dev/null

header='RequestId,Customer.Account.CompanyName,Customer.Account.WebsiteUrl,Customer.Account.Industry,Customer.Account.Address.CountryCode,Customer.Account.Address.PostalCode,Project.Title,Project.CustomerBusinessProblem,LifeCycle.Stage,LifeCycle.TargetCloseDate'
row() { echo "crm-$1,Bulkco $1,https://bulkco$1.example.com,Retail,US,98101,Lakehouse $1,Their reporting runs for hours on an old warehouse.,$2,2099-01-31"; }
{ echo "$header"; row 1 Qualified; row 2 Prospect; row 3 Daydreaming; row 4 Qualified; } >"$work/create.csv"
s3cli cp "$work/create.csv" "s3://ace-uploads/$account/uploads/create.csv" >/dev/null

follow() { # follow JOB: the job's summary once it has finished
  local got
  for _ in $(seq 1 200); do
    got=$(pcsm list-opportunity-bulk-jobs --catalog AWS --job-id "$1" | json 'd["OpportunityBulkJobSummaries"][0]')
    case $(echo "$got" | python3 -c 'import ast,sys; print(ast.literal_eval(sys.stdin.read())["Status"])') in
      COMPLETED|FAILED) echo "$got"; return ;;
    esac
    sleep 0.1
  done
  echo "$got"
}
field() { python3 -c 'import ast,sys; print(ast.literal_eval(sys.stdin.read())[sys.argv[1]])' "$1"; }

job=$(pcsm start-opportunity-bulk-job --catalog AWS --client-token create-1 --file-format CSV \
  --file-uri "s3://ace-uploads/$account/uploads/create.csv" | json 'd["JobId"]')
check "start-opportunity-bulk-job: a bulkjob- id" test "${job:0:8}" = bulkjob-
again=$(pcsm start-opportunity-bulk-job --catalog AWS --client-token create-1 --file-format CSV \
  --file-uri "s3://ace-uploads/$account/uploads/create.csv" | json 'd["JobId"]')
check "the same ClientToken: the same job" test "$again" = "$job"
summary=$(follow "$job")
check "list-opportunity-bulk-jobs: COMPLETED, 4 records, 3 succeeded, 1 failed" \
  test "$(echo "$summary" | field Status) $(echo "$summary" | field TotalRecords) $(echo "$summary" | field SuccessCount) $(echo "$summary" | field FailureCount)" = "COMPLETED 4 3 1"
results=$(pcsm list-opportunity-bulk-job-results --catalog AWS --job-id "$job" --page-size 1)
check "list-opportunity-bulk-job-results: every row, in file order, through every page" \
  test "$(echo "$results" | json '" ".join(r["RequestId"] + ":" + r["Status"] for r in d["Results"])')" \
  = "crm-1:SUCCEEDED crm-2:SUCCEEDED crm-3:FAILED crm-4:SUCCEEDED"
created=$(echo "$results" | json 'd["Results"][0]["ResourceIdentifier"]')
check "a succeeded row's opportunity is there" \
  test "$(pcs get-opportunity --catalog AWS --identifier "$created" | json 'd["Customer"]["Account"]["CompanyName"]')" = "Bulkco 1"
check "the failed row says why" \
  test "$(echo "$results" | json 'd["Results"][2]["ErrorCode"] + " " + str("Stage" in d["Results"][2]["ErrorMessage"])')" = "ValidationException True"
report=$(pcsm get-opportunity-bulk-job-report-url --catalog AWS --job-id "$job" --report-format CSV)
check "get-opportunity-bulk-job-report-url: AVAILABLE, FAILED_RECORDS" \
  test "$(echo "$report" | json 'd["ReportStatus"] + " " + d["ReportType"]')" = "AVAILABLE FAILED_RECORDS"
curl -fsS "$(echo "$report" | json 'd["Url"]')" >"$work/report.csv"
check "the presigned report holds the failed row only" test "$(grep -c FAILED "$work/report.csv"):$(grep -c crm-1, "$work/report.csv" || true)" = "1:0"

modified=$(pcs get-opportunity --catalog AWS --identifier "$created" | json 'd["LastModifiedDate"]')
{ echo "$header,Identifier,LastModifiedDate,LifeCycle.NextSteps"; echo "$(row 1 Qualified),$created,$modified,Workshop booked"; } >"$work/update.csv"
s3cli cp "$work/update.csv" "s3://ace-uploads/$account/uploads/update.csv" >/dev/null
job=$(pcsm start-opportunity-bulk-job --catalog AWS --client-token update-1 --file-format CSV \
  --file-uri "s3://ace-uploads/$account/uploads/update.csv" | json 'd["JobId"]')
summary=$(follow "$job")
check "an Identifier column makes it BULK_UPDATE" test "$(echo "$summary" | field OperationType) $(echo "$summary" | field SuccessCount)" = "BULK_UPDATE 1"
check "the update is applied" \
  test "$(pcs get-opportunity --catalog AWS --identifier "$created" | json 'd["LifeCycle"]["NextSteps"]')" = "Workshop booked"

printf 'Customer.Account.Colour\nred\n' >"$work/bad.csv"
s3cli cp "$work/bad.csv" "s3://ace-uploads/$account/uploads/bad.csv" >/dev/null
job=$(pcsm start-opportunity-bulk-job --catalog AWS --client-token bad-1 --file-format CSV \
  --file-uri "s3://ace-uploads/$account/uploads/bad.csv" | json 'd["JobId"]')
summary=$(follow "$job")
check "an unknown column fails the job, saying which" \
  test "$(echo "$summary" | field Status):$(echo "$summary" | field FailureReason | grep -c Colour)" = "FAILED:1"
set +e
# (--cli-input-json: the CLI would fetch an https:// value given as a flag itself.)
out=$(pcsm start-opportunity-bulk-job --cli-input-json \
  '{"Catalog": "AWS", "ClientToken": "priv-1", "FileFormat": "CSV", "FileURI": "https://10.0.0.7/f.csv"}' 2>&1); status=$?
set -e
check "a FileURI on a private address: ValidationException" test "$status:$(grep -c ValidationException <<<"$out")" = "255:1"

jobs=$("$ACE" job list --partner P-ACME --json)
# (The test clock stands still here, so the three were created at one instant: no order to check.)
check "ace job list: the operator sees the partner's jobs" \
  test "$(echo "$jobs" | json '" ".join(sorted(j["status"] for j in d))')" = "COMPLETED COMPLETED FAILED"
shown=$("$ACE" job show "$job")
check "ace job show: why a job failed" test "$(grep -c 'FAILED.*Colour' <<<"$shown")" = 1

# Customer-account bulk jobs: the same machinery under their own operations.
printf 'RequestId,Account.CompanyName,Account.Domain,Account.Address.CountryCode\na-1,Acme Widgets,acme-widgets.com,US\na-2,,nameless.example.com,US\n' >"$work/accounts.csv"
s3cli cp "$work/accounts.csv" "s3://ace-uploads/$account/uploads/accounts.csv" >/dev/null
started=$(pcsm start-customer-account-bulk-job --catalog AWS --client-token accounts-1 --file-uri "s3://ace-uploads/$account/uploads/accounts.csv")
check "start-customer-account-bulk-job: SUBMITTED, with its ARN" \
  test "$(echo "$started" | json 'd["Status"] + " " + str(d["Arn"].endswith("/customer-account-bulk-job/" + d["Id"]))')" = "SUBMITTED True"
arn=$(echo "$started" | json 'd["Arn"]')
for _ in $(seq 1 100); do
  got=$(pcsm get-customer-account-bulk-job --catalog AWS --identifier "$arn")
  [ "$(echo "$got" | json 'd["Status"]')" = COMPLETED ] && break
  sleep 0.1
done
check "get-customer-account-bulk-job (by ARN): COMPLETED, 1 succeeded, 1 failed" \
  test "$(echo "$got" | json 'd["Status"] + " " + str(d["SuccessCount"]) + " " + str(d["FailureCount"])')" = "COMPLETED 1 1"
check "list-customer-account-bulk-jobs --filter Status=COMPLETED" \
  test "$(pcsm list-customer-account-bulk-jobs --catalog AWS --filter Status=COMPLETED | json 'len(d["items"])')" = 1
created=$(pcsm list-customer-account-bulk-job-results --catalog AWS --identifier "$arn" --status SUCCEEDED | json 'd["Results"][0]["ResourceIdentifier"]')
check "list-customer-account-bulk-job-results: the account it created" \
  test "$(pcsm get-customer-account --catalog AWS --identifier "$created" | json 'd["Account"]["CompanyName"]')" = "Acme Widgets"
report=$(pcsm get-customer-account-bulk-job-report-url --catalog AWS --identifier "$arn")
check "get-customer-account-bulk-job-report-url: the failed record" \
  test "$(curl -fsS "$(echo "$report" | json 'd["Url"]')" | grep -c '^a-2,3,FAILED')" = 1

export AWS_ACCESS_KEY_ID=$other_key AWS_SECRET_ACCESS_KEY=$other_secret
check "another partner lists no customer-account jobs" test "$(pcsm list-customer-account-bulk-jobs --catalog AWS | json 'len(d["items"])')" = 0
check "another partner lists no jobs" test "$(pcsm list-opportunity-bulk-jobs --catalog AWS | json 'len(d["OpportunityBulkJobSummaries"])')" = 0
set +e
out=$(pcsm start-opportunity-bulk-job --catalog AWS --client-token steal-1 --file-format CSV \
  --file-uri "s3://ace-uploads/$account/uploads/create.csv" 2>&1); status=$?
set -e
check "another partner cannot start a job on this partner's file" test "$status:$(grep -c ValidationException <<<"$out")" = "255:1"

finish "bulk e2e"
