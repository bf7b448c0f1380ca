# Shared by the end-to-end scripts: starts the built `ace` on a free loopback port with a
# fresh data dir (PostgreSQL when ACE_E2E_DATABASE is set), a partner user's AWS credentials,
# and a `check` helper that counts results. Source it with the binary's path in $1.
set -euo pipefail

ACE=${1:-target/debug/ace}
ACE=$(cd "$(dirname "$ACE")" && pwd)/$(basename "$ACE")
MODELS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../models" && pwd)
command -v aws >/dev/null || { echo "aws CLI not found: pip install awscli" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
database_args=()
[ -n "${ACE_E2E_DATABASE:-}" ] && database_args=(--database "$ACE_E2E_DATABASE")
# A script may give the server more flags (bulk.sh: its object store), space-separated.
extra_args=()
[ -n "${ACE_E2E_SERVE_ARGS:-}" ] && read -ra extra_args <<<"$ACE_E2E_SERVE_ARGS"
"$ACE" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --test-clock --webhook-allow-private "${database_args[@]}" "${extra_args[@]}" >"$work/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -fsS "$endpoint/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$endpoint/readyz" >/dev/null || { cat "$work/server.log"; echo "server did not start" >&2; exit 1; }

export ACE_ENDPOINT=$endpoint ACE_DATA_DIR=$work/data
export AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard
unset AWS_PROFILE AWS_SESSION_TOKEN
passed=0 failed=0
check() { # check NAME COMMAND...: counts whether COMMAND succeeds
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
pcs() { aws partnercentral-selling "$@" --endpoint-url "$endpoint" --output json; }
# The operations newer than the CLI's bundled model (customer accounts, SearchEngagements…): the
# same CLI, given the published model in reference/ the way botocore takes newer models.
mkdir -p "$work/aws-data/partnercentral-selling/2022-07-26"
cp "$(dirname "${BASH_SOURCE[0]}")/../../reference/partnercentral-selling-2022-07-26.service.json" "$work/aws-data/partnercentral-selling/2022-07-26/service-2.json"
cp "$(dirname "${BASH_SOURCE[0]}")/../../reference/partnercentral-selling-2022-07-26.paginators.json" "$work/aws-data/partnercentral-selling/2022-07-26/paginators-1.json"
pcsm() { AWS_DATA_PATH="$work/aws-data" aws partnercentral-selling "$@" --endpoint-url "$endpoint" --output json; }
acep() { AWS_DATA_PATH=$MODELS aws ace-partner "$@" --endpoint-url "$endpoint" --output json; }

# partner_user ID: adds a select-tier partner with user alice and exports its credentials.
partner_user() {
  "$ACE" partner add --id "$1" --name "$1 Cloud" --path consulting --tier select >/dev/null
  local keys
  keys=$("$ACE" user add --partner "$1" --name alice --json)
  AWS_ACCESS_KEY_ID=$(echo "$keys" | json 'd["AccessKeyId"]')
  AWS_SECRET_ACCESS_KEY=$(echo "$keys" | json 'd["SecretAccessKey"]')
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  "$ACE" quota set --partner "$1" --writes-per-second unlimited --reads-per-second unlimited >/dev/null
}

finish() { # finish NAME: prints the closing line and fails on any failure
  local backend=SQLite
  [ -n "${ACE_E2E_DATABASE:-}" ] && backend=PostgreSQL
  echo "$1 ($backend): $passed passed, $failed failed"
  test "$failed" = 0
}
