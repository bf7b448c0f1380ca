#!/usr/bin/env bash
# Engagements end to end with the AWS CLI (issue 18): a partner creates an engagement with a
# CustomerProject context, reads it, adds and updates contexts (a stale EngagementLastModifiedAt
# exits 255 with ConflictException), pages through its engagements and members; another
# partner gets ResourceNotFoundException (USE-4) until invited; it accepts and turns the shared
# project into its own opportunity; search, engagement groups and prospecting through the CLI
# given the published model. Usage: tests/e2e/engagements.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

partner_user P-OTHER
other_key=$AWS_ACCESS_KEY_ID other_secret=$AWS_SECRET_ACCESS_KEY
partner_user P-ACME
account=$("$ACE" partner show P-ACME --json | json 'd["account_id"]')

project() { # project PROBLEM: a CustomerProject payload
  echo "{\"CustomerProject\":{\"Customer\":{\"CompanyName\":\"Example Corp\",\"CountryCode\":\"US\",\"Industry\":\"Retail\",\"WebsiteUrl\":\"https://example.com\"},\"Project\":{\"Title\":\"Data lake\",\"BusinessProblem\":\"$1\",\"TargetCompletionDate\":\"2027-06-30\"}}}"
}

created=$(pcs create-engagement --catalog AWS --client-token first --title "Retail co-sell" --description "Joint proposal" \
  --contexts "[{\"Type\":\"CustomerProject\",\"Payload\":$(project "Move the data warehouse to the cloud this year")}]")
id=$(echo "$created" | json 'd["Id"]')
check "create-engagement returns an eng- id" test "${id:0:4}" = eng-
again=$(pcs create-engagement --catalog AWS --client-token first --title "Retail co-sell" --description "Joint proposal" \
  --contexts "[{\"Type\":\"CustomerProject\",\"Payload\":$(project "Move the data warehouse to the cloud this year")}]")
check "the same client token answers the same engagement" test "$(echo "$again" | json 'd["Id"]')" = "$id"

got=$(pcs get-engagement --catalog AWS --identifier "$id")
check "get-engagement: created by the partner" test "$(echo "$got" | json 'd["CreatedBy"]')" = "$account"
check "get-engagement: the context's company" \
  test "$(echo "$got" | json 'd["Contexts"][0]["Payload"]["CustomerProject"]["Customer"]["CompanyName"]')" = "Example Corp"

added=$(pcs create-engagement-context --catalog AWS --client-token ctx-2 --engagement-identifier "$id" \
  --type CustomerProject --payload "$(project "A second project for the same retail team")")
check "create-engagement-context: context 2" test "$(echo "$added" | json 'd["ContextId"]')" = 2
token=$(echo "$added" | json 'd["EngagementLastModifiedAt"]')
first=$(echo "$created" | json 'd["ModifiedAt"]')

set +e
stale=$(pcs update-engagement-context --catalog AWS --engagement-identifier "$id" --context-identifier 1 \
  --engagement-last-modified-at "$first" --type CustomerProject --payload "$(project "A stale view of the project problem")" 2>&1)
status=$?
set -e
check "a stale EngagementLastModifiedAt exits 255" test "$status" = 255
check "a stale EngagementLastModifiedAt is a ConflictException" grep -q ConflictException <<<"$stale"
updated=$(pcs update-engagement-context --catalog AWS --engagement-identifier "$id" --context-identifier 1 \
  --engagement-last-modified-at "$token" --type CustomerProject --payload "$(project "The warehouse and reporting both move")")
check "update-engagement-context moves the token" test "$(echo "$updated" | json 'd["EngagementLastModifiedAt"]')" != "$token"

for i in 2 3 4; do
  "$ACE" clock advance 1s >/dev/null # the test clock stands still otherwise
  pcs create-engagement --catalog AWS --client-token "more-$i" --title "Engagement $i" --description "Another one" >/dev/null
done
listed=$(pcs list-engagements --catalog AWS --page-size 1 --sort SortBy=CreatedDate,SortOrder=DESCENDING)
check "list-engagements pages through all 4 (page size 1)" test "$(echo "$listed" | json 'len(d["EngagementSummaryList"])')" = 4
check "descending: the first created is last" test "$(echo "$listed" | json 'd["EngagementSummaryList"][-1]["Id"]')" = "$id"
with_contexts=$(pcs list-engagements --catalog AWS --context-types CustomerProject)
check "list-engagements --context-types" test "$(echo "$with_contexts" | json 'len(d["EngagementSummaryList"])')" = 1
members=$(pcs list-engagement-members --catalog AWS --identifier "$id")
check "list-engagement-members: the creator" test "$(echo "$members" | json 'd["EngagementMemberList"][0]["CompanyName"]')" = "P-ACME Cloud"

acme_key=$AWS_ACCESS_KEY_ID acme_secret=$AWS_SECRET_ACCESS_KEY
other_account=$("$ACE" partner show P-OTHER --json | json 'd["account_id"]')
export AWS_ACCESS_KEY_ID=$other_key AWS_SECRET_ACCESS_KEY=$other_secret
set +e
other=$(pcs get-engagement --catalog AWS --identifier "$id" 2>&1)
set -e
check "another partner: ResourceNotFoundException" grep -q ResourceNotFoundException <<<"$other"
check "another partner lists none" test "$(pcs list-engagements --catalog AWS | json 'len(d["EngagementSummaryList"])')" = 0

# Partner to partner: P-ACME invites P-OTHER, which accepts and turns the shared project into
# an opportunity of its own.
export AWS_ACCESS_KEY_ID=$acme_key AWS_SECRET_ACCESS_KEY=$acme_secret
invitation=$(pcs create-engagement-invitation --catalog AWS --client-token invite-1 --engagement-identifier "$id" \
  --invitation "{\"Message\":\"Join our retail co-sell\",\"Receiver\":{\"Account\":{\"AwsAccountId\":\"$other_account\"}},\"Payload\":{\"OpportunityInvitation\":{\"Customer\":{\"CompanyName\":\"Example Corp\",\"CountryCode\":\"US\",\"Industry\":\"Retail\",\"WebsiteUrl\":\"https://example.com\"},\"Project\":{\"Title\":\"Data lake\",\"BusinessProblem\":\"Move the data warehouse to the cloud this year\",\"TargetCompletionDate\":\"2027-06-30\",\"ExpectedCustomerSpend\":[]},\"ReceiverResponsibilities\":[\"Services Partner\"]}}}" | json 'd["Id"]')
check "create-engagement-invitation returns an engi- id" test "${invitation:0:5}" = engi-
sent=$(pcs list-engagement-invitations --catalog AWS --participant-type SENDER)
check "the sender lists it as SENDER" test "$(echo "$sent" | json 'd["EngagementInvitationSummaries"][0]["Id"]')" = "$invitation"
export AWS_ACCESS_KEY_ID=$other_key AWS_SECRET_ACCESS_KEY=$other_secret
received=$(pcs list-engagement-invitations --catalog AWS --participant-type RECEIVER)
check "the receiver lists it, PENDING" test "$(echo "$received" | json 'd["EngagementInvitationSummaries"][0]["Status"]')" = PENDING
pcs accept-engagement-invitation --catalog AWS --identifier "$invitation" >/dev/null
check "accepted: the receiver reads the engagement" test "$(pcs get-engagement --catalog AWS --identifier "$id" | json 'd["MemberCount"]')" = 2
task=$(pcs start-opportunity-from-engagement-task --catalog AWS --client-token to-opp --identifier "$id" --context-identifier 1)
check "start-opportunity-from-engagement-task: COMPLETE" test "$(echo "$task" | json 'd["TaskStatus"]')" = COMPLETE
opportunity=$(echo "$task" | json 'd["OpportunityId"]')
check "the opportunity carries the context's customer" \
  test "$(pcs get-opportunity --catalog AWS --identifier "$opportunity" | json 'd["Customer"]["Account"]["CompanyName"]')" = "Example Corp"
tasks=$(pcs list-opportunity-from-engagement-tasks --catalog AWS --engagement-identifier "$id")
check "list-opportunity-from-engagement-tasks lists it" test "$(echo "$tasks" | json 'd["TaskSummaries"][0]["OpportunityId"]')" = "$opportunity"

# The operations newer than the CLI's bundled model (SearchEngagements, ListEngagementGroups,
# the prospecting tasks): `pcsm` (lib.sh), the same CLI given the published model.
export AWS_ACCESS_KEY_ID=$acme_key AWS_SECRET_ACCESS_KEY=$acme_secret

found=$(pcsm search-engagements --catalog AWS --filter '{"ContainsAny":{"Key":"Title","Value":{"StringValue":"engagement"}}}' \
  --sort SortBy=Title,SortOrder=DESCENDING --page-size 1)
check "search-engagements: the filter tree, through every page" \
  test "$(echo "$found" | json 'len(d["EngagementSearchSummaries"])')" = 3
check "search-engagements: sorted by title, descending" \
  test "$(echo "$found" | json 'd["EngagementSearchSummaries"][0]["Title"]')" = "Engagement 4"
keyword=$(pcsm search-engagements --catalog AWS --keyword "retail co-sell")
check "search-engagements --keyword" test "$(echo "$keyword" | json 'd["EngagementSearchSummaries"][0]["Id"]')" = "$id"

"$ACE" engagement group add --id eng-grp-retailus000001 --name "Retail US" --industry Retail --country US >/dev/null
set +e
bad=$("$ACE" engagement group add --id grp-1 --name "Bad" 2>&1)
status=$?
set -e
check "ace engagement group add: a bad id is refused" test "$status" != 0
groups=$(pcsm list-engagement-groups --catalog AWS)
check "list-engagement-groups: the group, with the partner's engagements in it" \
  test "$(echo "$groups" | json '[g["Count"] for g in d["EngagementGroupSummaries"] if g["Id"] == "eng-grp-retailus000001"][0]')" = 1
in_group=$(pcsm search-engagements --catalog AWS --group-id eng-grp-retailus000001)
check "search-engagements --group-id" test "$(echo "$in_group" | json 'd["EngagementSearchSummaries"][0]["Id"]')" = "$id"

task=$(pcsm start-prospecting-from-engagement-task --catalog AWS --client-token prospect-1 --task-name "Q3 prospects" --identifiers "$id")
task_id=$(echo "$task" | json 'd["TaskId"]')
check "start-prospecting-from-engagement-task: COMPLETED" test "$(echo "$task" | json 'd["TaskStatus"]')" = COMPLETED
got=$(pcsm get-prospecting-from-engagement-task --catalog AWS --task-identifier "$task_id")
check "get-prospecting-from-engagement-task: the engagement completed" test "$(echo "$got" | json 'd["Engagements"][0]["Status"]')" = COMPLETED
pcsm start-prospecting-from-engagement-task --catalog AWS --client-token prospect-2 --task-name "Q4 prospects" --identifiers "$id" >/dev/null
tasks=$(pcsm list-prospecting-from-engagement-tasks --catalog AWS --sort SortBy=TaskName,SortOrder=DESCENDING --page-size 1)
check "list-prospecting-from-engagement-tasks: both, through the pages, by name descending" \
  test "$(echo "$tasks" | json '[t["TaskName"] for t in d["TaskSummaries"]]')" = "['Q4 prospects', 'Q3 prospects']"

listed=$("$ACE" engagement list --partner P-ACME --json)
check "ace engagement list --partner" test "$(echo "$listed" | json 'len(d)')" = 4
shown=$("$ACE" engagement show "$id" --json)
check "ace engagement show: members and the invitation" \
  test "$(echo "$shown" | json 'str(len(d["members"])) + " " + d["invitations"][0]["status"]')" = "2 ACCEPTED"

finish "engagements e2e"
