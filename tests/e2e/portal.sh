#!/usr/bin/env bash
# The web portal in a real browser (issue 8): Debian's headless Chromium driven by
# playwright-core (tests/browser/portal.mjs). The operator sets up partners, users with portal
# sign-ins, a reviewer and a referral with the CLI; the browser does the rest. Screenshots of
# the main pages go to $ACE_SCREENSHOTS (default target/screenshots).
# Usage: tests/e2e/portal.sh [path/to/ace]
source "$(dirname "$0")/lib.sh" "${1:-target/debug/ace}"
browser_dir=$(cd "$(dirname "$0")/../browser" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "chromium not found at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }
[ -d "$browser_dir/node_modules/playwright-core" ] || { echo "playwright-core missing: (cd tests/browser && npm ci)" >&2; exit 1; }

printf 'acme-portal-password\n' >"$work/acme.pw"
printf 'other-portal-password\n' >"$work/other.pw"
printf 'reviewer-password-1\n' >"$work/reviewer.pw"

"$ACE" partner add --id P-ACME --name "Acme Cloud" --path consulting --tier advanced --psf-listed \
  --privacy-policy https://acme.example/privacy --referrals-approved --timezone America/New_York --holiday-calendar us-federal >/dev/null
"$ACE" user add --partner P-ACME --name alice --email alice@acme.example --password-file "$work/acme.pw" >/dev/null
"$ACE" quota set --partner P-ACME --writes-per-second unlimited --reads-per-second unlimited >/dev/null
"$ACE" solution add --partner P-ACME --name "Migration Factory" --category "Consulting Service" >/dev/null
"$ACE" operator add --email rita@operator.example --role reviewer --password-file "$work/reviewer.pw" >/dev/null
# The admin gets a one-time link instead of a password, and chooses one in the browser.
admin_invite=$("$ACE" operator add --email adam@operator.example --role admin --invite | sed -n 's/^Invitation link: \([^ ]*\).*/\1/p')
[ -n "$admin_invite" ] || { echo "ace operator add --invite printed no link" >&2; exit 1; }

# Another partner's opportunity: its URL must show the partner above a 404 page.
"$ACE" partner add --id P-OTHER --name "Other Co" --path consulting --tier select >/dev/null
keys=$("$ACE" user add --partner P-OTHER --name bob --email bob@other.example --password-file "$work/other.pw" --json)
other=$(AWS_ACCESS_KEY_ID=$(echo "$keys" | json 'd["AccessKeyId"]') AWS_SECRET_ACCESS_KEY=$(echo "$keys" | json 'd["SecretAccessKey"]') \
  pcs create-opportunity --catalog AWS --customer 'Account={CompanyName="Secret Customer Ltd"}' | json 'd["Id"]')

referral=$("$ACE" referral create --partner P-ACME --kind opportunity --company "Northwind Traders" \
  --website https://northwind.example.com --country US --industry Retail --title "Data platform" \
  --problem "Wants to move its reporting warehouse to the cloud." \
  --contact-name "Jane Doe" --contact-email jane@northwind.example.com --contact-phone +14155550100 --json | json 'd["Id"]')

printf '# ACE program terms\n\nPartners contact referred customers within 3 business days.\n' >"$work/terms.md"
"$ACE" terms publish --file "$work/terms.md" --summary "first version" >/dev/null

export ACE_ENDPOINT=$endpoint CHROMIUM ACE_BIN=$ACE TERMS_V2=$work/terms-v2.md
printf '# ACE program terms\n\nVersion two: referrals are contacted by e-mail or phone only.\n' >"$TERMS_V2"
export PARTNER_EMAIL=alice@acme.example PARTNER_PASSWORD=acme-portal-password
export REVIEWER_EMAIL=rita@operator.example REVIEWER_PASSWORD=reviewer-password-1
export ADMIN_INVITE=$admin_invite
export OTHER_OPPORTUNITY=$other REFERRAL_ID=$referral
export ACE_SCREENSHOTS=${ACE_SCREENSHOTS:-$(pwd)/target/screenshots}
mkdir -p "$ACE_SCREENSHOTS"
if node "$browser_dir/portal.mjs"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  tail -n 30 "$work/server.log"
fi
check "the audit names the reviewer's console decision" grep -q "operator:rita@operator.example" <<<"$("$ACE" audit list --partner P-ACME)"
finish "portal e2e (browser)"
