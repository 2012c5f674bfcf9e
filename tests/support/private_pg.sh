#!/usr/bin/env bash
# A private Postgres cluster for one test that stops and starts it in any shutdown mode (the shared `pg`
# fixture cluster is never touched). Uses deploy/pg-common.sh; the port stays the same across stop/start.
#   private_pg.sh init DIR BKRCTL   create, start, create and migrate database `bkr`; writes DIR/conninfo
#   private_pg.sh stop DIR [MODE]   pg_ctl stop -m MODE: smart, fast (default) or immediate (no checkpoint:
#                                   crash recovery at the next start)
#   private_pg.sh start DIR
#   private_pg.sh destroy DIR       stop if running, remove the data directory
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../deploy/pg-common.sh"

cmd=${1:?init|stop|start|destroy}; dir=${2:?state dir}
datadir() { cat "$dir/datadir"; }

case "$cmd" in
  init)
    bkrctl=${3:?bkrctl path}
    mkdir -p "$dir"
    data=$(mktemp -d /tmp/bkr-private-pg.XXXXXX)
    [ "$(id -u)" -eq 0 ] && chown postgres: "$data"
    chmod 700 "$data"
    echo "$data" >"$dir/datadir"
    for attempt in 1 2 3 4 5; do
      port=$(pg_free_port)
      rm -rf "${data:?}"/*
      pg_init_cluster "$data" "$port"
      if pg_start "$data" "$data/server.log"; then break; fi
      [ "$attempt" = 5 ] && { tail -5 "$data/server.log" >&2; exit 1; }
    done
    psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=postgres dbname=postgres" -c "CREATE DATABASE bkr"
    conninfo="host=127.0.0.1 port=$port user=postgres dbname=bkr"
    BKR_DATABASE_URL="$conninfo" "$bkrctl" migrate >/dev/null
    echo "$conninfo" >"$dir/conninfo"
    ;;
  stop)
    mode=${3:-fast}
    case "$mode" in smart|fast|immediate) ;; *) echo "private_pg.sh: unknown stop mode '$mode'" >&2; exit 2 ;; esac
    pg_stop "$(datadir)" "$mode"
    ;;
  start) pg_start "$(datadir)" "$(datadir)/server.log" ;;
  destroy)
    if [ -f "$dir/datadir" ]; then
      data=$(datadir)
      if [ -f "$data/postmaster.pid" ]; then pg_stop "$data" immediate || true; fi
      rm -rf "$data"
    fi
    rm -rf "$dir"
    ;;
  *) echo "private_pg.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
