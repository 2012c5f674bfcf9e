# Shared helpers for scripts that run a private Postgres cluster (sourced, not executed).
# Postgres refuses to run as root: when root, server commands run as the `postgres` OS user.

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }; done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  echo "no Postgres server binaries found (install with deploy/install-deps.sh)" >&2
  return 1
}

# as_pg CMD...: runs CMD as the postgres OS user when root, else as the current user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_free_port: prints a TCP port on 127.0.0.1 that nothing listens on.
pg_free_port() {
  local port used
  used=$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://')
  for _ in $(seq 1 200); do
    port=$(( (RANDOM % 30000) + 20000 ))
    grep -qx "$port" <<<"$used" || { echo "$port"; return 0; }
  done
  echo "no free port found" >&2
  return 1
}

# pg_init_cluster DATADIR PORT: initdb with trust auth on loopback only, sockets in DATADIR.
pg_init_cluster() {
  local datadir=$1 port=$2 bindir
  bindir=$(pg_bindir)
  as_pg "$bindir/initdb" -D "$datadir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  cat >>"$datadir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$datadir'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
# The small tables that turn over (the delay lane, cursors, counters, the requests' status rows): their
# per-table autovacuum thresholds only act as often as the launcher looks (default once a minute).
autovacuum_naptime = 1s
CONF
}

# pg_start DATADIR LOGFILE / pg_stop DATADIR [MODE]
pg_start() { as_pg "$(pg_bindir)/pg_ctl" -D "$1" -l "$2" -w -t 60 start >/dev/null; }
pg_stop() { as_pg "$(pg_bindir)/pg_ctl" -D "$1" -m "${2:-fast}" -w -t 60 stop >/dev/null; }
