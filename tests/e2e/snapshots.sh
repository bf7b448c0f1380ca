#!/usr/bin/env bash
# Resource snapshots and snapshot jobs end to end with the AWS CLI (issue 19): the partner
# shares an opportunity into an engagement with start-engagement-from-opportunity-task; its
# snapshot job reads back Running; the operator's review and two partner updates add revisions
# 2, 3 and 4 with the changed fields; a tag (invisible to the template) adds none; a stopped job
# takes none; by hand, snapshots, jobs and their conflicts; selling system settings; another
# partner sees nothing (USE-4); the operator sees the revisions and their differences.
# Usage: tests/e2e/snapshots.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

partner_user P-OTHER
other_key=$AWS_ACCESS_KEY_ID other_secret=$AWS_SECRET_ACCESS_KEY
partner_user P-ACME
account=$("$ACE" partner show P-ACME --json | json 'd["account_id"]')

customer='Account={CompanyName="Example Corp",WebsiteUrl=https://example.com,Industry=Retail,Address={CountryCode=DE,PostalCode=10115}}'
project='Title=Migration,CustomerBusinessProblem="Move forty virtual machines to the cloud this year."'
id=$(pcs create-opportunity --catalog Sandbox --customer "$customer" --project "$project" \
  --life-cycle 'Stage=Qualified,TargetCloseDate=2099-01-31' | json 'd["Id"]')

task=$(pcs start-engagement-from-opportunity-task --catalog Sandbox --client-token share --identifier "$id" \
  --aws-submission InvolvementType=Co-Sell)
engagement=$(echo "$task" | json 'd["EngagementId"]')
job=$(echo "$task" | json 'd["ResourceSnapshotJobId"]')
check "the task names a job-" test "${job:0:4}" = job-
got=$(pcs get-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job")
check "get-resource-snapshot-job: Running" test "$(echo "$got" | json 'd["Status"]')" = Running
check "get-resource-snapshot-job: in the task's engagement" test "$(echo "$got" | json 'd["EngagementId"]')" = "$engagement"
check "get-resource-snapshot-job: the opportunity's ARN" \
  test "$(echo "$got" | json 'd["ResourceArn"]')" = "arn:aws:partnercentral:us-east-1:$account:catalog/Sandbox/opportunity/$id"

revisions() { pcs list-resource-snapshots --catalog Sandbox --engagement-identifier "$engagement" | json '[s["Revision"] for s in d["ResourceSnapshotSummaries"]]'; }
next_steps() { # next_steps REVISION
  pcs get-resource-snapshot --catalog Sandbox --engagement-identifier "$engagement" --resource-type Opportunity \
    --resource-identifier "$id" --resource-snapshot-template-identifier OpportunitySummaryView --revision "$1" |
    json 'd["Payload"]["OpportunitySummary"]["Lifecycle"].get("NextSteps", "-")'
}
update() { # update STAGE NEXT-STEPS
  local modified
  modified=$(pcs get-opportunity --catalog Sandbox --identifier "$id" | json 'd["LastModifiedDate"]')
  pcs update-opportunity --catalog Sandbox --identifier "$id" --last-modified-date "$modified" --customer "$customer" \
    --project "$project" --life-cycle "Stage=$1,TargetCloseDate=2099-01-31,NextSteps=\"$2\"" >/dev/null
}
check "revision 1 at the start" test "$(revisions)" = "[1]"
"$ACE" review approve "$id" --comment "Validated" >/dev/null
check "the operator's review is revision 2" test "$(revisions)" = "[1, 2]"
update Qualified "Workshop on Monday"
update "Technical Validation" "Proof of concept"
check "two updates are revisions 3 and 4" test "$(revisions)" = "[1, 2, 3, 4]"
check "revision 3 holds the first update" test "$(next_steps 3)" = "Workshop on Monday"
check "revision 4 holds the second" test "$(next_steps 4)" = "Proof of concept"
pcs tag-resource --resource-arn "arn:aws:partnercentral:us-east-1:$account:catalog/Sandbox/opportunity/$id" --tags Key=team,Value=east
check "a change the template cannot see adds no revision" test "$(revisions)" = "[1, 2, 3, 4]"
pcs stop-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job"
update "Business Validation" "Pricing"
check "a stopped job takes nothing" test "$(revisions)" = "[1, 2, 3, 4]"
set +e
out=$(pcs stop-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job" 2>&1); status=$?
set -e
check "stopping a stopped job exits 255 with ConflictException" test "$status:$(grep -c ConflictException <<<"$out")" = "255:1"
set +e
out=$(pcs delete-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job" 2>&1); status=$?
set -e
check "deleting a stopped job succeeds" test "$status" = 0
check "the job is gone" bash -c "! aws partnercentral-selling get-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier $job --endpoint-url $endpoint >/dev/null 2>&1"
check "its snapshots stay" test "$(revisions)" = "[1, 2, 3, 4]"

shown=$("$ACE" engagement snapshots "$engagement")
check "ace engagement snapshots: revision 4's change" grep -q 'OpportunitySummary.Lifecycle.NextSteps: "Workshop on Monday" -> "Proof of concept"' <<<"$shown"
check "ace engagement snapshots --json: 4 revisions" test "$("$ACE" engagement snapshots "$engagement" --json | json 'len(d)')" = 4

# By hand: a snapshot and a job in an engagement of the partner's own.
mine=$(pcs create-engagement --catalog Sandbox --client-token mine --title "By hand" --description "Snapshots by hand" | json 'd["Id"]')
snap=$(pcs create-resource-snapshot --catalog Sandbox --client-token s1 --engagement-identifier "$mine" --resource-type Opportunity \
  --resource-identifier "$id" --resource-snapshot-template-identifier OpportunitySummaryView)
check "create-resource-snapshot: revision 1" test "$(echo "$snap" | json 'd["Revision"]')" = 1
again=$(pcs create-resource-snapshot --catalog Sandbox --client-token s2 --engagement-identifier "$mine" --resource-type Opportunity \
  --resource-identifier "$id" --resource-snapshot-template-identifier OpportunitySummaryView)
check "an unchanged opportunity is no new revision" test "$(echo "$again" | json 'd["Revision"]')" = 1
set +e
out=$(pcs create-resource-snapshot --catalog Sandbox --client-token s3 --engagement-identifier "$mine" --resource-type Opportunity \
  --resource-identifier "$id" --resource-snapshot-template-identifier NoSuchTemplate 2>&1); status=$?
set -e
check "an unknown template is a ValidationException naming the field" \
  test "$status:$(grep -c 'ResourceSnapshotTemplateIdentifier' <<<"$out")" = "255:1"
created=$(pcs create-resource-snapshot-job --catalog Sandbox --client-token j1 --engagement-identifier "$mine" --resource-type Opportunity \
  --resource-identifier "$id" --resource-snapshot-template-identifier OpportunitySummaryView --tags Key=crm,Value=sf)
job2=$(echo "$created" | json 'd["Id"]')
check "create-resource-snapshot-job: Stopped until started" \
  test "$(pcs get-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job2" | json 'd["Status"]')" = Stopped
check "the job's tags by its ARN" \
  test "$(pcs list-tags-for-resource --resource-arn "$(echo "$created" | json 'd["Arn"]')" | json 'd["Tags"][0]["Value"]')" = sf
pcs start-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job2"
set +e
out=$(pcs delete-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job2" 2>&1); status=$?
set -e
check "deleting a running job is a ConflictException" test "$status:$(grep -c ConflictException <<<"$out")" = "255:1"
listed=$(pcs list-resource-snapshot-jobs --catalog Sandbox --status Running --page-size 1)
check "list-resource-snapshot-jobs --status Running (paged)" test "$(echo "$listed" | json 'len(d["ResourceSnapshotJobSummaries"])')" = 1
associations=$(pcs list-engagement-resource-associations --catalog Sandbox --resource-identifier "$id")
check "list-engagement-resource-associations: both engagements" \
  test "$(echo "$associations" | json 'sorted(a["EngagementId"] for a in d["EngagementResourceAssociationSummaries"])')" = \
  "$(python3 -c "print(sorted(['$engagement', '$mine']))")"

settings=$(pcs put-selling-system-settings --catalog Sandbox --resource-snapshot-job-role-identifier SnapshotRole)
check "put-selling-system-settings: the role's ARN in the partner's account" \
  test "$(echo "$settings" | json 'd["ResourceSnapshotJobRoleArn"]')" = "arn:aws:iam::$account:role/SnapshotRole"
check "get-selling-system-settings reads it back" \
  test "$(pcs get-selling-system-settings --catalog Sandbox | json 'd["ResourceSnapshotJobRoleArn"]')" = "arn:aws:iam::$account:role/SnapshotRole"

# USE-4: another partner sees nothing of it.
export AWS_ACCESS_KEY_ID=$other_key AWS_SECRET_ACCESS_KEY=$other_secret
set +e
out=$(pcs list-resource-snapshots --catalog Sandbox --engagement-identifier "$engagement" 2>&1); status=$?
set -e
check "another partner: ResourceNotFoundException for the engagement's snapshots" \
  test "$status:$(grep -c ResourceNotFoundException <<<"$out")" = "255:1"
set +e
out=$(pcs get-resource-snapshot-job --catalog Sandbox --resource-snapshot-job-identifier "$job2" 2>&1); status=$?
set -e
check "another partner: ResourceNotFoundException for the job" test "$status:$(grep -c ResourceNotFoundException <<<"$out")" = "255:1"
check "another partner lists no jobs" test "$(pcs list-resource-snapshot-jobs --catalog Sandbox | json 'len(d["ResourceSnapshotJobSummaries"])')" = 0

finish "snapshots e2e"
