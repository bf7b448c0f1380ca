#!/usr/bin/env bash
# Program governance end to end with the AWS CLI: the operator publishes terms and a support
# contact (`ace terms`, `ace program`), the partner reads and accepts them (`aws ace-partner`),
# takes part through `aws partnercentral-selling` (MOD-3), and `ace audit verify` catches a row
# altered in the database itself (USE-4). Usage: tests/e2e/governance.sh [ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

partner_user P-GOV
"$ACE" partner add --id P-IDLE --name "Idle Co" --path consulting --tier select >/dev/null

set +e
missing=$(acep get-current-terms 2>&1)
set -e
check "before any terms: a clear not-found" grep -q "has not published program terms" <<<"$missing"

printf '# ACE program terms\n\nVersion one.\n' >"$work/terms-v1.md"
check "terms publish (effective on posting)" "$ACE" terms publish --file "$work/terms-v1.md" --summary "first version"
set +e
past=$("$ACE" terms publish --file "$work/terms-v1.md" --effective 2001-01-01T00:00:00Z 2>&1)
set -e
check "a past effective date needs --backdate" grep -q -- "--backdate" <<<"$past"
check "terms list shows v1 current" grep -q "v1  current" <<<"$("$ACE" terms list)"
check "terms show prints the text" grep -q "Version one." <<<"$("$ACE" terms show)"

current=$(acep get-current-terms)
check "the partner reads the terms in force (MOD-4)" test "$(echo "$current" | json 'd["Version"]')" = 1
check "the terms carry their hash" test "$(echo "$current" | json 'len(d["Sha256"])')" = 64

# MOD-3: the partner's first act with the AWS CLI is its acceptance.
pcs list-opportunities --catalog AWS >/dev/null
acceptance=$("$ACE" terms acceptance 1 --json)
check "continued participation recorded, naming the act" \
  test "$(echo "$acceptance" | json '[(a["method"], a["operation"]) for a in d["accepted"]]')" = "[('CONTINUED_PARTICIPATION', 'ListOpportunities')]"
check "the idle partner has not acted" test "$(echo "$acceptance" | json 'd["not_yet"]')" = "['P-IDLE']"
accepted=$(acep accept-terms --terms-version 1)
check "an explicit acceptance afterwards keeps the first" test "$(echo "$accepted" | json 'd["Acceptance"]["Method"]')" = CONTINUED_PARTICIPATION

check "support contact published" "$ACE" program support-contact --email ace-support@operator.example --hours "Mon-Fri"
check "the partner reads the support contact (USE-6)" \
  test "$(acep get-support-contact | json 'd["Email"]')" = ace-support@operator.example
check "program show" grep -q "status: ACTIVE" <<<"$("$ACE" program show)"

# USE-4: the log holds the partner's act and the operator's; verify passes, then fails on tampering.
check "audit list shows the acceptance by participation" grep -q "terms.accepted" <<<"$("$ACE" audit list --partner P-GOV)"
check "audit verify passes" "$ACE" audit verify
second=$("$ACE" audit list --json | json 'd[1]["seq"]')
if [ -n "${ACE_E2E_DATABASE:-}" ]; then
  psql "$ACE_E2E_DATABASE" -qc "UPDATE audit_log SET actor = 'operator:mallory' WHERE seq = $second"
else
  python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_log SET actor='operator:mallory' WHERE seq=$second\"); c.commit()" "$work/data/ace.db"
fi
set +e
broken=$("$ACE" audit verify 2>&1)
status=$?
set -e
check "audit verify exits non-zero after tampering" test "$status" != 0
check "and names the altered entry" grep -q "broken at entry $second" <<<"$broken"

# Backups: online on SQLite, restored into a fresh data directory; PostgreSQL says to use pg_dump.
set +e
backed=$("$ACE" backup --to "$work/backup.db" 2>&1)
set -e
if [ -n "${ACE_E2E_DATABASE:-}" ]; then
  check "PostgreSQL backups are pg_dump's" grep -q "pg_dump" <<<"$backed"
else
  check "ace backup writes a copy" test -s "$work/backup.db"
  check "ace restore puts it in a fresh data dir" "$ACE" restore --from "$work/backup.db" --data-dir "$work/restored"
  check "the restored copy holds the terms" python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); sys.exit(0 if c.execute('select count(*) from terms_versions').fetchone()[0]==1 else 1)" "$work/restored/ace.db"
fi

finish "governance end to end"
