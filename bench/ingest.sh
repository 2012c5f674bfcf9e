#!/usr/bin/env bash
# Ingest benchmark: the real bkr-receive-request (release build) against a private Postgres cluster with
# synchronous_commit on, loaded by wrk at 64 connections with unique bodies and a valid token; in the same
# run, the same load against bkr-http-noop (the HTTP ceiling of this machine). Prints throughput, latency,
# the service's peak RSS, checks that mq holds exactly one message per 202, and ends with a RESULT line.
#   bench/ingest.sh
# env: BKR_BENCH_BUILD_DIR (an existing release build dir; default: the `release` preset, build/release),
#      BKR_BENCH_DURATION (default 20s), BKR_BENCH_CONNECTIONS (64), BKR_BENCH_WRK_THREADS (2),
#      BKR_BENCH_SERVICE_ENV (extra BKR_* settings for the service, e.g. "BKR_GROUP_COMMIT_WRITERS=3")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/pg-common.sh"
. "$root/bench/bench-pg.sh"

duration=${BKR_BENCH_DURATION:-20s}
connections=${BKR_BENCH_CONNECTIONS:-64}
wrk_threads=${BKR_BENCH_WRK_THREADS:-2}
lua="$root/bench/ingest.lua"

bench_select_build
echo "== building bkr-receive-request, bkr-http-noop and bkrctl in $build" >&2
cmake --build "$build" --target bkr-receive-request bkr-http-noop bkrctl -j2 >/dev/null
service_bin="$build/services/receive-request/bkr-receive-request"
noop_bin="$build/tools/http-noop/bkr-http-noop"
bkrctl="$build/tools/bkrctl/bkrctl"

work=$(mktemp -d /tmp/bkr-bench-ingest.XXXXXX)
service_pid=""
noop_pid=""
bench_cleanup_extra() {
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null || true
  [ -n "$noop_pid" ] && kill "$noop_pid" 2>/dev/null && wait "$noop_pid" 2>/dev/null || true
  rm -rf "$work"
}
bench_pg_start ingest
datadir=$bench_pg_datadir
db=$bench_pg_db
BKR_DATABASE_URL="$db" "$bkrctl" seed-demo >/dev/null

secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
token=$(BKR_AUTH_HS256_SECRET=$secret "$bkrctl" token --client demo-client --ttl 2h)

http_port=$(pg_free_port)
ops_port=$(pg_free_port)
while [ "$ops_port" = "$http_port" ]; do ops_port=$(pg_free_port); done
# shellcheck disable=SC2086
env BKR_DATABASE_URL="$db" BKR_HTTP_PORT="$http_port" BKR_OPS_PORT="$ops_port" BKR_AUTH_ALGORITHMS=HS256 \
  BKR_AUTH_HS256_SECRET="$secret" BKR_LOG_LEVEL=warn ${BKR_BENCH_SERVICE_ENV:-} \
  "$service_bin" >"$work/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$ops_port/readyz" >/dev/null 2>&1 && break
  kill -0 "$service_pid" 2>/dev/null || { cat "$work/service.log" >&2; exit 1; }
  sleep 0.1
done
curl -fs "http://127.0.0.1:$ops_port/readyz" >/dev/null || { echo "service not ready" >&2; cat "$work/service.log" >&2; exit 1; }

field() { bench_field "$@"; }
run_wrk() {  # URL PATH DURATION -> WRK line
  BKR_BENCH_TOKEN=$token BKR_BENCH_PATH=$2 wrk -t"$wrk_threads" -c"$connections" -d"$3" --latency -s "$lua" "$1" |
    grep '^WRK '
}
metric() { curl -fs "http://127.0.0.1:$ops_port/metrics" | awk -v s="$1" '$1 == s {print $2}'; }
per_s() { awk -v n="$1" -v us="$2" 'BEGIN {printf "%.0f", n / (us / 1e6)}'; }
ms() { awk -v us="$1" 'BEGIN {printf "%.2f", us / 1000}'; }

ticks() { bench_ticks "$@"; }
pg_pids() { bench_pg_pids; }
us_per() { bench_us_per "$@"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== warm-up (3 s) against the service" >&2
run_wrk "http://127.0.0.1:$http_port" /api/backup-requests 3s >/dev/null
echo "== service: wrk -t$wrk_threads -c$connections -d$duration (unique bodies, HS256 token)" >&2
svc_t0=$(ticks "$service_pid"); pg_t0=$(ticks $(pg_pids))
svc=$(run_wrk "http://127.0.0.1:$http_port" /api/backup-requests "$duration")
svc_t1=$(ticks "$service_pid"); pg_t1=$(ticks $(pg_pids))
svc_requests=$(field requests "$svc"); svc_us=$(field duration_us "$svc"); svc_errors=$(field status_errors "$svc")
svc_ok=$((svc_requests - svc_errors))
accepted_per_s=$(per_s "$svc_ok" "$svc_us")
rss_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$service_pid/status")
rss_mb=$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')
batches=$(metric bkr_receive_request_group_commit_batch_size_count)
batched_rows=$(metric bkr_receive_request_group_commit_batch_size_sum)

echo "== no-op ceiling: the same load against bkr-http-noop" >&2
noop_port=$(pg_free_port)
"$noop_bin" --port "$noop_port" --threads 2 >"$work/noop.log" 2>&1 &
noop_pid=$!
for _ in $(seq 1 50); do grep -q listening "$work/noop.log" && break; sleep 0.1; done
noop_t0=$(ticks "$noop_pid")
noop=$(run_wrk "http://127.0.0.1:$noop_port" /noop "$duration")
noop_t1=$(ticks "$noop_pid")
noop_per_s=$(per_s "$(( $(field requests "$noop") - $(field status_errors "$noop") ))" "$(field duration_us "$noop")")
kill "$noop_pid"; wait "$noop_pid" 2>/dev/null || true; noop_pid=""
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Every 202 the server answered (counted before the response is written, so also those wrk gave up on at
# its deadline) must have exactly one message, and nothing else may be queued.
served_202=$(metric 'bkr_http_requests_total{route="/api/backup-requests",method="POST",status="202"}')
kill -TERM "$service_pid"
wait "$service_pid" && service_exit=0 || service_exit=$?
service_pid=""
queued=$(psql -X -At "$db" -c "SELECT count(*) FROM mq.log WHERE queue = 'backup-request.accepted'")
distinct=$(psql -X -At "$db" -c "SELECT count(DISTINCT message_id) FROM mq.log")
all=$(psql -X -At "$db" -c "SELECT count(*) FROM mq.log")
verdict=ok
if [ "$queued" != "$served_202" ] || [ "$distinct" != "$all" ] || [ "$all" != "$queued" ]; then verdict=MISMATCH; fi

printf '\n%-52s %14s %12s\n' "measurement" "value" "target"
printf '%-52s %14s %12s\n' "accepted requests/s (202, durable, sync commit)" "$accepted_per_s" ">=20000"
printf '%-52s %14s %12s\n' "latency p50 (ms)" "$(ms "$(field p50_us "$svc")")" "-"
printf '%-52s %14s %12s\n' "latency p90 (ms)" "$(ms "$(field p90_us "$svc")")" "-"
printf '%-52s %14s %12s\n' "latency p99 (ms)" "$(ms "$(field p99_us "$svc")")" "<=10"
printf '%-52s %14s %12s\n' "latency max (ms)" "$(ms "$(field max_us "$svc")")" "-"
printf '%-52s %14s %12s\n' "non-2xx answers / socket errors" \
  "$svc_errors / $(( $(field connect_errors "$svc") + $(field read_errors "$svc") + $(field write_errors "$svc") + $(field timeouts "$svc") ))" "0"
printf '%-52s %14s %12s\n' "no-op ceiling, same load (requests/s)" "$noop_per_s" "-"
printf '%-52s %14s %12s\n' "share of the ceiling" \
  "$(awk -v a="$accepted_per_s" -v n="$noop_per_s" 'BEGIN {printf "%.0f%%", 100 * a / n}')" ">=50%"
printf '%-52s %14s %12s\n' "CPU per request: service (us)" "$(us_per $((svc_t1 - svc_t0)) "$svc_requests")" "-"
printf '%-52s %14s %12s\n' "CPU per request: Postgres, all processes (us)" "$(us_per $((pg_t1 - pg_t0)) "$svc_requests")" "-"
printf '%-52s %14s %12s\n' "CPU per request: bkr-http-noop (us)" "$(us_per $((noop_t1 - noop_t0)) "$(field requests "$noop")")" "-"
printf '%-52s %14s %12s\n' "service peak RSS (VmHWM, MB)" "$rss_mb" "<=64"
printf '%-52s %14s %12s\n' "group commit: mean batch size" \
  "$(awk -v r="$batched_rows" -v b="$batches" 'BEGIN {printf "%.1f", r / b}')" "-"
printf '%-52s %14s %12s\n' "202s served / accepted messages in mq" "$served_202 / $queued" "equal"
printf '%-52s %14s %12s\n' "service exit code after SIGTERM" "$service_exit" "0"
echo "load average before: $load_before; after: $load_after ($(nproc) CPUs; wrk, Postgres and the service share them)"
echo "queue check: $verdict"
echo
echo "RESULT accepted_per_s=$accepted_per_s p50_ms=$(ms "$(field p50_us "$svc")") p99_ms=$(ms "$(field p99_us "$svc")") noop_per_s=$noop_per_s rss_mb=$rss_mb"
[ "$verdict" = ok ]
