#!/usr/bin/env bash
# A private Postgres cluster for local runs, kept under the project's var/ folder (loopback only, trust auth).
#   deploy/local-pg.sh start    init (first time) and start; writes var/bkr.env with BKR_DATABASE_URL
#   deploy/local-pg.sh stop     stop it (data kept)
#   deploy/local-pg.sh status   say whether it runs and where
#   deploy/local-pg.sh destroy  stop and delete its data
# Port: BKR_LOCAL_PG_PORT (default 54329). Database: bkr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/pg-common.sh"

port=${BKR_LOCAL_PG_PORT:-54329}
mkdir -p "$root/var"
# Postgres runs as the `postgres` user when we are root; that user must reach the data folder. If it cannot
# traverse the project path (e.g. a checkout under /root), the data lives in /var/tmp instead, and var/pg
# points there.
datadir="$root/var/pg"
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$root/var" 2>/dev/null; then
  alt="/var/tmp/bkr-pg-$(echo -n "$root" | md5sum | cut -c1-12)"
  [ -L "$datadir" ] || { [ -e "$datadir" ] && rm -rf "$datadir"; ln -s "$alt" "$datadir"; }
  datadir=$alt
fi
url="host=127.0.0.1 port=$port dbname=bkr user=postgres"
running() { [ -f "$datadir/postmaster.pid" ] && as_pg "$(pg_bindir)/pg_ctl" -D "$datadir" status >/dev/null 2>&1; }

case "${1:-}" in
  start)
    if [ ! -f "$datadir/PG_VERSION" ]; then
      mkdir -p "$datadir"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$datadir"
      chmod 700 "$datadir"
      pg_init_cluster "$datadir" "$port"
      echo "local-pg: initialised a cluster in $datadir"
    fi
    if running; then
      echo "local-pg: already running on 127.0.0.1:$port"
    else
      if ss -Hltn 2>/dev/null | awk '{print $4}' | grep -q ":$port\$"; then
        echo "local-pg: port $port is taken by another process; set BKR_LOCAL_PG_PORT to a free port" >&2
        exit 1
      fi
      sed -i "s/^port = .*/port = $port/" "$datadir/postgresql.conf"
      pg_start "$datadir" "$datadir/server.log" || { tail -20 "$datadir/server.log" >&2; exit 1; }
      echo "local-pg: started on 127.0.0.1:$port (log: $datadir/server.log)"
    fi
    psql -X -q "host=127.0.0.1 port=$port dbname=postgres user=postgres" -tc \
      "SELECT 1 FROM pg_database WHERE datname = 'bkr'" | grep -q 1 ||
      psql -X -q "host=127.0.0.1 port=$port dbname=postgres user=postgres" -c "CREATE DATABASE bkr"
    echo "export BKR_DATABASE_URL='$url'" >"$root/var/bkr.env"
    ;;
  stop)
    if running; then pg_stop "$datadir" fast; echo "local-pg: stopped"; else echo "local-pg: not running"; fi ;;
  status)
    if running; then echo "local-pg: running on 127.0.0.1:$port, data in $datadir"; else echo "local-pg: not running"; exit 3; fi ;;
  destroy)
    if running; then pg_stop "$datadir" fast; fi
    rm -rf "${datadir:?}" "$root/var/pg" "$root/var/bkr.env"; echo "local-pg: data deleted" ;;
  *) echo "usage: deploy/local-pg.sh start|stop|status|destroy" >&2; exit 2 ;;
esac
