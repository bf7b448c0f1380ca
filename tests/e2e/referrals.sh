#!/usr/bin/env bash
# Referrals end to end with the AWS CLI on a test-clock server: `ace referral create`, the
# partner lists and accepts the invitation (`aws partnercentral-selling`), records the contact
# (`aws ace-partner`), a second referral is never contacted and is revoked once the clock
# passes its deadline, an opt-out suppresses the contact. Usage: tests/e2e/referrals.sh [ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"

"$ACE" partner add --id P-ACME --name "Acme Cloud" --path consulting --tier advanced --psf-listed \
  --privacy-policy https://acme.example/privacy --referrals-approved --timezone America/New_York --holiday-calendar us-federal >/dev/null
keys=$("$ACE" user add --partner P-ACME --name alice --json)
export AWS_ACCESS_KEY_ID=$(echo "$keys" | json 'd["AccessKeyId"]') AWS_SECRET_ACCESS_KEY=$(echo "$keys" | json 'd["SecretAccessKey"]')
"$ACE" quota set --partner P-ACME --writes-per-second unlimited --reads-per-second unlimited >/dev/null
"$ACE" partner add --id P-REG --name "Registered Co" --path consulting --tier registered >/dev/null

refer() { # refer COMPANY EMAIL
  "$ACE" referral create --partner P-ACME --kind opportunity --company "$1" --website "https://$(echo "$1" | tr 'A-Z' 'a-z').example.com" \
    --country US --industry Retail --title "Data platform" --problem "Wants to move its reporting warehouse to the cloud." \
    --contact-name "Jane Doe" --contact-email "$2" --contact-phone +14155550100 --json | json 'd["Id"]'
}

set +e
refused=$("$ACE" referral create --partner P-REG --kind lead --company X --website https://x.example.com --country US 2>&1)
set -e
check "an ineligible partner is refused with the report" grep -q "may not receive referrals" <<<"$refused"

# A webhook receiver on loopback: the binary's dispatcher must deliver the referral's events.
hook_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$hook_port" "$work/hook.log" <<'PY' &
import http.server, sys
port, log = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(log, "ab") as f:
            f.write(self.headers["Ace-Signature"].encode() + b" " + body + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
receiver=$!
trap 'kill $receiver 2>/dev/null || true; cleanup' EXIT
"$ACE" webhook add --partner P-ACME --url "http://127.0.0.1:$hook_port/hook" >/dev/null

first=$(refer Contacted jane@contacted.example.com)
second=$(refer Forgotten joe@forgotten.example.com)
listed=$(pcs list-engagement-invitations --catalog AWS --participant-type RECEIVER)
check "the partner lists both invitations" test "$(echo "$listed" | json 'len(d["EngagementInvitationSummaries"])')" = 2
# Read first (a failing call stops the script), then judged: the invitation is there, its
# contact is not.
invitation=$(pcs get-engagement-invitation --catalog AWS --identifier "$first")
check "the invitation is read" test "$(echo "$invitation" | json 'd["Id"]')" = "$first"
check "the invitation carries no contact" bash -c '! grep -q "jane@" <<<"$1"' _ "$invitation"

opportunity=$(pcs start-engagement-by-accepting-invitation-task --catalog AWS --identifier "$first" | json 'd["OpportunityId"]')
check "accepting creates an opportunity with the contact" \
  test "$(pcs get-opportunity --catalog AWS --identifier "$opportunity" | json 'd["Customer"]["Contacts"][0]["Email"]')" = jane@contacted.example.com
now=$("$ACE" clock show --json | json 'd["now"]')
contact=$(acep record-referral-contact --catalog AWS --invitation-identifier "$first" --channel Email --contacted-at "$now" --acting-in-own-name)
check "record-referral-contact meets the deadline" test "$(echo "$contact" | json 'd["Obligations"]["ContactMet"]')" = True
set +e
linkedin=$(acep record-referral-contact --catalog AWS --invitation-identifier "$first" --channel LinkedIn --contacted-at "$now" --acting-in-own-name 2>&1)
set -e
check "LinkedIn is refused, citing REF-2" grep -q "REF-2" <<<"$linkedin"

"$ACE" clock advance 8d >/dev/null
check "the contacted referral stands" test "$(pcs get-engagement-invitation --catalog AWS --identifier "$first" | json 'd["Status"]')" = ACCEPTED
set +e
gone=$(pcs get-engagement-invitation --catalog AWS --identifier "$second" 2>&1)
set -e
check "the uncontacted referral is revoked: not found" grep -q "ResourceNotFoundException" <<<"$gone"
check "ace referral list shows it REVOKED" grep -q "$second  REVOKED" <<<"$("$ACE" referral list --partner P-ACME)"

acep relay-opt-out --catalog AWS --invitation-identifier "$first" --scope Contact --received-at "$now" --channel Email >/dev/null
check "the opt-out is on the suppression list" grep -q "email:" <<<"$("$ACE" suppression list)"
set +e
again=$("$ACE" referral create --partner P-ACME --kind lead --company Again --website https://again.example.com --country US \
  --contact-email jane@contacted.example.com 2>&1)
set -e
check "the opted-out contact cannot be referred again" grep -q "REF-5" <<<"$again"
check "the audit shows the read of the contact" grep -q "GetOpportunity $opportunity" <<<"$("$ACE" audit list --referral "$first")"

for _ in $(seq 1 50); do grep -q "Engagement Invitation Revoked" "$work/hook.log" 2>/dev/null && break; sleep 0.2; done
check "the webhook received the invitation, signed" grep -q "^t=[0-9]*,v1=[0-9a-f]\{64\} .*Engagement Invitation Created" "$work/hook.log"
check "the webhook received the revocation" grep -q "Engagement Invitation Revoked" "$work/hook.log"

finish "referrals e2e"
