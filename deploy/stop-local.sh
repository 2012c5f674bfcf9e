#!/usr/bin/env bash
# Stops the processes deploy/run-local.sh started under pm2 (graceful: SIGINT, drain, exit 0) and pm2's daemon.
# The local Postgres keeps running: bash deploy/local-pg.sh stop.
set -euo pipefail
cd "$(dirname "$0")/.."
export PM2_HOME="$(pwd)/var/pm2"
pm2=node_modules/.bin/pm2
[ -x "$pm2" ] || { echo "stop-local: pm2 is not installed (node_modules/.bin/pm2)" >&2; exit 1; }
"$pm2" stop pm2.config.json
"$pm2" kill >/dev/null
echo "stop-local: stopped (logs kept in var/log)"
