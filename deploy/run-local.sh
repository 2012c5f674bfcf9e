#!/usr/bin/env bash
# Sets up and runs bkr locally on a fresh Debian 12 machine: installs what is missing, builds (release preset),
# starts a private Postgres under var/, migrates, seeds demo data, and shows what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
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
token=$("$bin/tools/bkrctl/bkrctl" token --client demo-client --ttl 1h)
echo "A development token for demo-client (valid 1 h):"
echo "  $token"
echo
echo "Database: $BKR_DATABASE_URL   (stop it with: bash deploy/local-pg.sh stop)"
