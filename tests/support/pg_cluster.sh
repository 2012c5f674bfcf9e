#!/usr/bin/env bash
# Starts or stops the private Postgres cluster shared by one CTest run, and builds the migrated template
# database `bkr_template` that every integration test clones.
#   pg_cluster.sh start FIXTURE_DIR BKRCTL    writes FIXTURE_DIR/conninfo (admin connection string)
#   pg_cluster.sh stop FIXTURE_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../deploy/pg-common.sh"

cmd=${1:?start|stop}; fixture=${2:?fixture dir}

stop_cluster() {
  if [ -f "$fixture/datadir" ]; then
    local datadir; datadir=$(cat "$fixture/datadir")
    if [ -f "$datadir/postmaster.pid" ]; then pg_stop "$datadir" fast || pg_stop "$datadir" immediate || true; fi
    rm -rf "$datadir"
    rm -f "$fixture/datadir" "$fixture/conninfo"
  fi
}

case "$cmd" in
  start)
    bkrctl=${3:?bkrctl path}
    mkdir -p "$fixture"
    stop_cluster
    # A data directory the postgres user can reach even when the build tree is private to root.
    datadir=$(mktemp -d /tmp/bkr-test-pg.XXXXXX)
    [ "$(id -u)" -eq 0 ] && chown postgres: "$datadir"
    chmod 700 "$datadir"
    echo "$datadir" >"$fixture/datadir"
    for attempt in 1 2 3 4 5; do
      port=$(pg_free_port)
      rm -rf "${datadir:?}"/*
      pg_init_cluster "$datadir" "$port"
      if pg_start "$datadir" "$datadir/server.log"; then break; fi
      echo "pg_cluster: start on port $port failed (attempt $attempt):" >&2; tail -5 "$datadir/server.log" >&2 || true
      [ "$attempt" = 5 ] && exit 1
    done
    admin="host=127.0.0.1 port=$port user=postgres dbname=postgres"
    psql -X -q -v ON_ERROR_STOP=1 "$admin" -c "CREATE DATABASE bkr_template"
    BKR_DATABASE_URL="host=127.0.0.1 port=$port user=postgres dbname=bkr_template" "$bkrctl" migrate
    psql -X -q -v ON_ERROR_STOP=1 "$admin" -c "ALTER DATABASE bkr_template WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
    echo "$admin" >"$fixture/conninfo"
    echo "pg_cluster: running on 127.0.0.1:$port, data in $datadir"
    ;;
  stop) stop_cluster; echo "pg_cluster: stopped" ;;
  *) echo "pg_cluster.sh: unknown command '$cmd' (start|stop)" >&2; exit 2 ;;
esac
