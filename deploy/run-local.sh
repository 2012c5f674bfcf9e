#!/usr/bin/env bash
# Sets up and runs bkr locally on a fresh Debian 12 machine: installs what is missing, builds (release preset),
# starts a private Postgres under var/, migrates, seeds demo data, shows what is there, then starts every
# process under pm2 (pm2.config.json, state in var/pm2, logs in var/log), submits a demo request with a
# development token and follows it to Succeeded. Stop the processes with deploy/stop-local.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash deploy/install-deps.sh
cmake --preset release >/dev/null
# Only what runs here (the test suites build with deploy/run-tests.sh).
cmake --build --preset release -j "$(nproc)" --target bkrctl bkr-receive-request bkr-create-request \
  bkr-check-allowed bkr-send-to-interface bkr-receive-status bkr-fake-backup-interface
bin="$root/build/release"

bash deploy/local-pg.sh start
# Development settings live in var/bkr.env (git-ignored): the database URL and a random HS256 secret for
# development tokens, generated once. The secret is never printed.
. var/bkr.env
if [ -z "${BKR_AUTH_HS256_SECRET:-}" ]; then
  grep -q BKR_AUTH_HS256_SECRET var/dev-secret.env 2>/dev/null ||
    echo "export BKR_AUTH_HS256_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >var/dev-secret.env
  . var/dev-secret.env
fi

"$bin/tools/bkrctl/bkrctl" migrate
"$bin/tools/bkrctl/bkrctl" seed-demo

echo
echo "== What is there =="
psql -X -q "$BKR_DATABASE_URL" <<'SQL'
\pset footer off
SELECT backup_job_id, backup_provider_code AS provider, storage_path_name, days_to_keep, is_active, hold_flag
  FROM backup_job ORDER BY backup_job_id;
SELECT client_id, scopes FROM client_authorization ORDER BY client_id;
SELECT component, version, name, applied_at FROM bkr_schema_migrations ORDER BY component, version;
SQL

# The processes read the database URL and the HS256 secret from the environment of `pm2 start`; pm2's own state
# stays in the project (var/pm2), never in ~/.pm2.
export BKR_DATABASE_URL BKR_AUTH_HS256_SECRET
export PM2_HOME="$root/var/pm2"
pm2="$root/node_modules/.bin/pm2"
[ -x "$pm2" ] || npm ci --no-audit --no-fund
mkdir -p var/log
echo
echo "== Starting the pipeline under pm2 =="
# A clean restart: processes of an earlier run go first (graceful stop), so every one gets this environment.
"$pm2" delete pm2.config.json >/dev/null 2>&1 || true
"$pm2" start pm2.config.json >/dev/null
"$pm2" ls
logs="$root/var/log (pm2: PM2_HOME=var/pm2 node_modules/.bin/pm2 logs)"

wait_ready() { # name port
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null "http://127.0.0.1:$2/readyz"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "run-local: $1 is not ready on 127.0.0.1:$2/readyz after 30 s; logs in $logs" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "  $1 ready (ops 127.0.0.1:$2)"
}
wait_ready bkr-receive-request 9080
wait_ready bkr-create-request 9081
wait_ready bkr-check-allowed 9082
wait_ready bkr-send-to-interface 9083
wait_ready bkr-receive-status 9084
wait_ready bkr-fake-backup-interface 9085

token=$("$bin/tools/bkrctl/bkrctl" token --client demo-client --ttl 1h)
api=http://127.0.0.1:8080/api/backup-requests
echo
echo "== A demo request =="
accepted=$(curl -fsS -X POST "$api" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"apiVersion\":\"2022-05-22\",\"backupJobId\":\"demo-local\",\"dataDate\":\"$(date -u +%F)\",\"backupDataLocation\":\"/data/demo\"}")
echo "POST $api -> 202 $accepted"
id=$(node -e 'console.log(JSON.parse(process.argv[1]).backupRequestId)' "$accepted")
status=""
deadline=$((SECONDS + 30))
while :; do
  status=$(curl -fsS "$api/$id" -H "Authorization: Bearer $token" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).statusTypeCode))')
  case "$status" in
    Succeeded) break ;;
    Failed | NotAllowed)
      echo "run-local: request $id ended as $status; logs in $logs" >&2
      exit 1 ;;
  esac
  if [ $SECONDS -ge $deadline ]; then
    echo "run-local: request $id is still $status after 30 s; logs in $logs" >&2
    exit 1
  fi
  sleep 0.2
done
echo "GET $api/$id -> $status"
echo
"$bin/tools/bkrctl/bkrctl" status "$id"
echo
echo "A development token for demo-client (valid 1 h):"
echo "  $token"
echo
echo "Running under pm2: PM2_HOME=var/pm2 node_modules/.bin/pm2 status   (logs in var/log)"
echo "Stop the processes:  bash deploy/stop-local.sh"
echo "                     (or: PM2_HOME=var/pm2 node_modules/.bin/pm2 stop pm2.config.json)"
echo "Database: $BKR_DATABASE_URL   (stop it with: bash deploy/local-pg.sh stop)"
