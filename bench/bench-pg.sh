# Shared by the benchmarks (sourced, not executed): a private Postgres cluster tuned the same way for every
# benchmark, so their figures are comparable. fsync and synchronous_commit stay on.
#   bench_pg_start NAME   -> sets bench_pg_datadir, bench_pg_port, bench_pg_admin, bench_pg_db (a migrated
#                            database `bench`), and registers bench_pg_stop to run on exit (with bench_cleanup_extra)
# Needs: root (the project root), bkrctl (path to a built bkrctl); deploy/pg-common.sh sourced.

# bench_select_build: sets build to BKR_BENCH_BUILD_DIR (configured as a Release build if new) or to the
# `release` preset's build/release, and warns when it is not a Release build.
bench_select_build() {
  if [ -n "${BKR_BENCH_BUILD_DIR:-}" ]; then
    build=$BKR_BENCH_BUILD_DIR
    [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  else
    build=$root/build/release
    [ -f "$build/CMakeCache.txt" ] || (cd "$root" && cmake --preset release >/dev/null)
  fi
  grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt" ||
    echo "warning: $build is not a Release build; figures will not be representative" >&2
}

# A script defines bench_cleanup_extra (before or after sourcing this file) to stop its own processes first.
declare -F bench_cleanup_extra >/dev/null || bench_cleanup_extra() { :; }
bench_pg_stop() {
  bench_cleanup_extra
  if [ -n "${bench_pg_datadir:-}" ]; then
    pg_stop "$bench_pg_datadir" fast >/dev/null 2>&1 || pg_stop "$bench_pg_datadir" immediate >/dev/null 2>&1 || true
    rm -rf "$bench_pg_datadir"
  fi
}

bench_pg_start() {
  # The data directory must be reachable by the postgres OS user, so it is not inside a mode-700 work dir.
  bench_pg_datadir=$(mktemp -d "/tmp/bkr-bench-$1-pg.XXXXXX")
  [ "$(id -u)" -eq 0 ] && chown postgres: "$bench_pg_datadir"
  chmod 700 "$bench_pg_datadir"
  trap bench_pg_stop EXIT
  bench_pg_port=$(pg_free_port)
  pg_init_cluster "$bench_pg_datadir" "$bench_pg_port"
  # WAL sized so that no checkpoint falls inside a measurement, and kept for recycling (min_wal_size) so the
  # run writes into recycled segments as a long-running server does, instead of zero-filling a new 16 MB
  # segment every few thousand rows.
  cat >>"$bench_pg_datadir/postgresql.conf" <<CONF
max_wal_size = 4GB
min_wal_size = 2GB
checkpoint_timeout = 30min
CONF
  # BKR_BENCH_PG_STATS=1: collect pg_stat_statements, printed by bench_pg_top_statements (costs a little CPU).
  [ "${BKR_BENCH_PG_STATS:-0}" = 1 ] && echo "shared_preload_libraries = 'pg_stat_statements'" >>"$bench_pg_datadir/postgresql.conf"
  pg_start "$bench_pg_datadir" "$bench_pg_datadir/server.log"
  bench_pg_admin="host=127.0.0.1 port=$bench_pg_port user=postgres dbname=postgres"
  bench_pg_db="host=127.0.0.1 port=$bench_pg_port user=postgres dbname=bench"
  psql -X -q -v ON_ERROR_STOP=1 "$bench_pg_admin" -c "CREATE DATABASE bench"
  BKR_DATABASE_URL="$bench_pg_db" "$bkrctl" migrate >/dev/null
  echo "== Postgres $(psql -X -At "$bench_pg_db" -c 'SHOW server_version') on 127.0.0.1:$bench_pg_port," \
    "synchronous_commit=$(psql -X -At "$bench_pg_db" -c 'SHOW synchronous_commit'), fsync=$(psql -X -At "$bench_pg_db" -c 'SHOW fsync')" >&2
  [ "${BKR_BENCH_PG_STATS:-0}" = 1 ] && psql -X -q "$bench_pg_db" -c "CREATE EXTENSION pg_stat_statements"
  echo "== WAL warm-up (~1 GB written once, then CHECKPOINT)" >&2
  psql -X -q -v ON_ERROR_STOP=1 "$bench_pg_db" \
    -c "CREATE TABLE bench_warm AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 4000000) g" \
    -c "DROP TABLE bench_warm" -c "CHECKPOINT"
}

# bench_ticks PID...: CPU time (user + system) of processes, in clock ticks. CPU per request is steadier than
# wall-clock rates on a machine shared with other work.
bench_ticks() {
  local t=0 v p
  for p in "$@"; do v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null); t=$((t + ${v:-0})); done
  echo "$t"
}
# bench_pg_pids: the postmaster and all its children.
bench_pg_pids() { local pm; pm=$(head -1 "$bench_pg_datadir/postmaster.pid"); echo "$pm" $(pgrep -P "$pm"); }
# bench_us_per TICKS N: microseconds of CPU per item.
bench_us_per() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}'; }
# bench_hwm_mb PID: peak RSS (VmHWM) in MB.
bench_hwm_mb() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# bench_field NAME LINE: the value of NAME=value in LINE.
bench_field() { sed -n "s/.*\b$1=\([-0-9.]*\).*/\1/p" <<<"$2"; }

# bench_pg_top_statements: with BKR_BENCH_PG_STATS=1, the statements that took the most time in Postgres.
bench_pg_top_statements() {
  [ "${BKR_BENCH_PG_STATS:-0}" = 1 ] || return 0
  echo "== top statements by total time (pg_stat_statements)"
  psql -X -P pager=off "$bench_pg_db" -c "SELECT calls, round(total_exec_time)::bigint AS total_ms,
      round((total_exec_time / calls)::numeric, 3) AS mean_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 140) AS query
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12"
}
