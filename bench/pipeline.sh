#!/usr/bin/env bash
# Pipeline benchmark: the real executables (bkr-receive-request, the four workers and the fake backup
# interface, release build) on a private Postgres cluster with synchronous_commit on, everything on this
# machine. Three phases, each followed until every request of the phase is Succeeded:
#   max   wrk at 64 connections, as fast as the service answers: end-to-end throughput 202 -> Sent and
#         202 -> Succeeded, CPU time per request of every process;
#   half  a fixed rate of half the measured Sent throughput: latency accept -> Sent p50 / p99;
#   100   a fixed 100 requests/s: how busy the whole machine is at a light load;
#   1000  a fixed 1,000 requests/s: latency accept -> Sent p50 / p99.
# For max, 100 and 1000 it prints per request: row writes (pg_stat_user_tables), statements
# (pg_stat_statements), WAL bytes (pg_stat_wal), CPU of our processes and of Postgres, and how busy the whole
# machine was while the load ran. Then checks that every request reached Succeeded through each transition
# once and that no message is left, prints peak RSS per process and a last line RESULT ...
#   bench/pipeline.sh
# env: BKR_BENCH_BUILD_DIR (default: the `release` preset, build/release), BKR_BENCH_DURATION (default 20s,
#      the length of each phase), BKR_BENCH_CONNECTIONS (64), BKR_BENCH_WRK_THREADS (2). pg_stat_statements
#      is loaded (BKR_BENCH_PG_STATS=1 unless set to 0; statements per request need it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/pg-common.sh"
. "$root/bench/bench-pg.sh"

duration=${BKR_BENCH_DURATION:-20s}
export BKR_BENCH_PG_STATS=${BKR_BENCH_PG_STATS:-1}
connections=${BKR_BENCH_CONNECTIONS:-64}
wrk_threads=${BKR_BENCH_WRK_THREADS:-2}
lua="$root/bench/ingest.lua"

bench_select_build
names=(bkr-receive-request bkr-create-request bkr-check-allowed bkr-send-to-interface bkr-receive-status
  bkr-fake-backup-interface)
exes=(services/receive-request services/create-request services/check-allowed services/send-to-interface
  services/receive-status tools/fake-backup-interface)
echo "== building the pipeline and bkrctl in $build" >&2
cmake --build "$build" --target "${names[@]}" bkrctl -j2 >/dev/null
bkrctl="$build/tools/bkrctl/bkrctl"

work=$(mktemp -d /tmp/bkr-bench-pipeline.XXXXXX)
declare -A pid=()
bench_cleanup_extra() {
  local p
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
bench_pg_start pipeline
db=$bench_pg_db
BKR_DATABASE_URL="$db" "$bkrctl" seed-demo >/dev/null
sql() { psql -X -At -v ON_ERROR_STOP=1 "$db" -c "$1"; }

secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
token=$(BKR_AUTH_HS256_SECRET=$secret "$bkrctl" token --client demo-client --ttl 2h)
http_port=$(pg_free_port)
declare -A ops=()
for name in "${names[@]}"; do
  port=$(pg_free_port)
  while [ "$port" = "$http_port" ] || grep -qw "$port" <<<"${ops[*]:-}"; do port=$(pg_free_port); done
  ops[$name]=$port
done

echo "== starting ${names[*]}" >&2
for i in "${!names[@]}"; do
  name=${names[$i]}
  extra=()
  case $name in
    bkr-receive-request)
      extra=(BKR_HTTP_PORT="$http_port" BKR_AUTH_ALGORITHMS=HS256 BKR_AUTH_HS256_SECRET="$secret") ;;
    # The storage provider's stand-in answers at once: the benchmark measures our pipeline, not a provider.
    bkr-fake-backup-interface) extra=(BKR_FAKE_REPLY_DELAY=0ms BKR_HTTP_ENABLED=false) ;;
  esac
  env BKR_DATABASE_URL="$db" BKR_OPS_PORT="${ops[$name]}" BKR_LOG_LEVEL=warn "${extra[@]}" \
    "$build/${exes[$i]}/$name" >"$work/$name.log" 2>&1 &
  pid[$name]=$!
done
for name in "${names[@]}"; do
  deadline=$((SECONDS + 30))
  until curl -fs "http://127.0.0.1:${ops[$name]}/readyz" >/dev/null 2>&1; do
    kill -0 "${pid[$name]}" 2>/dev/null || { echo "$name exited:" >&2; cat "$work/$name.log" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "$name is not ready after 30 s" >&2; cat "$work/$name.log" >&2; exit 1; }
    sleep 0.1
  done
done

# load TAG DURATION [RATE] -> the WRK line; every request's backupDataLocation starts with /TAG/.
load() {
  local c=$connections
  [ -n "${3:-}" ] && [ "$3" -le 2000 ] && c=16
  BKR_BENCH_TOKEN=$token BKR_BENCH_TAG=$1 BKR_BENCH_RATE=${3:-} BKR_BENCH_THREADS=$wrk_threads \
    wrk -t"$wrk_threads" -c"$c" -d"$2" --latency -s "$lua" "http://127.0.0.1:$http_port" | grep '^WRK '
}
# settle TAG: waits (at most 5 minutes) until every request answered 202 so far is Succeeded, read from
# ReceiveStatus' counter of applied replies (polling the database would cost Postgres CPU and skew the figures).
settle() {
  local deadline=$((SECONDS + 300)) target applied
  target=$(served)
  while :; do
    applied=$(curl -fs "http://127.0.0.1:${ops[bkr-receive-status]}/metrics" |
      awk '$1 == "bkr_stage_outcomes_total{queue=\"backup-interface.store-status\",outcome=\"applied\"}" {print $2}')
    [ "${applied:-0}" -ge "$target" ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      echo "phase $1: only ${applied:-0} of $target requests Succeeded after 5 minutes" >&2
      sql "SELECT status_type_code, count(*) FROM backup_request GROUP BY 1" >&2
      exit 1
    fi
    sleep 0.2
  done
}
served() { curl -fs "http://127.0.0.1:${ops[bkr-receive-request]}/metrics" |
  awk '$1 == "bkr_http_requests_total{route=\"/api/backup-requests\",method=\"POST\",status=\"202\"}" {print $2}'; }
# served_settled: the 202 counter once the requests still in flight when wrk stopped have been answered (the
# counter holds still for 0.2 s; at most 10 s).
served_settled() {
  local a b i
  a=$(served)
  for i in $(seq 50); do
    sleep 0.2
    b=$(served)
    [ "$a" = "$b" ] && break
    a=$b
  done
  echo "$a"
}
# phase TAG DURATION [RATE]: runs the load and sets phase_line (the WRK line) and phase_n (its 202s, from the
# server's counter: a request has no row before CreateRequest has handled it).
phase() {
  local before
  before=$(served)
  phase_line=$(load "$@")
  phase_n=$(( $(served_settled) - before ))
}
# in_db TAG: the phase's requests in the database.
in_db() { sql "SELECT count(*) FROM backup_request WHERE prepared_data_path_name LIKE '/$1/%'"; }
# latency TAG: "p50 p99" of accept -> Sent in ms.
latency() {
  sql "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 1) || ' ' ||
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 1)
       FROM (SELECT extract(epoch FROM sent_to_interface_timestamp - accepted_timestamp) * 1000 AS d
             FROM backup_request WHERE prepared_data_path_name LIKE '/$1/%') t"
}
# hops TAG: "hop p50 p99" lines of the phase's per-stage latencies in ms.
hops() {
  sql "SELECT hop, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 1),
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 1)
       FROM (SELECT unnest(ARRAY['1-accept->Received', '2-Received->Allowed', '3-Allowed->Sent']) AS hop,
                    unnest(ARRAY[received_timestamp - accepted_timestamp, checked_timestamp - received_timestamp,
                                 sent_to_interface_timestamp - checked_timestamp]) AS i
             FROM backup_request WHERE prepared_data_path_name LIKE '/$1/%') t,
            LATERAL (SELECT extract(epoch FROM i) * 1000 AS d) x
       GROUP BY hop ORDER BY hop" | tr '|' ' '
}
# rate TAG COLUMN: requests per second from the phase's first acceptance to its last COLUMN timestamp.
rate() {
  sql "SELECT round(count(*) / greatest(extract(epoch FROM max($2) - min(accepted_timestamp)), 0.001))
       FROM backup_request WHERE prepared_data_path_name LIKE '/$1/%'"
}
all_pids() { echo "${pid[@]}" $(bench_pg_pids); }

# pg_counters: "row-writes statements wal-bytes" of the cluster so far. Backends report their counts at
# least once a second while busy, so read them a few seconds after a phase settled.
pg_counters() {
  local stmts="0"
  [ "$BKR_BENCH_PG_STATS" = 1 ] && stmts="(SELECT coalesce(sum(calls), 0) FROM pg_stat_statements)"
  sql "SELECT (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables) || ' ' ||
              $stmts || ' ' || (SELECT wal_bytes FROM pg_stat_wal)"
}
# machine_ticks: "all idle" clock ticks of the whole machine so far (idle includes iowait).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
# measure_begin / measure_end TAG N: per-request figures of the phase between them (N requests), kept in
# the arrays below and printed in the table. measure_load_end marks the end of the load itself (machine busy
# is measured over the load, not over the tail that drains it).
declare -A f_writes=() f_stmts=() f_wal=() f_cpu=() f_pg=() f_busy=() f_proc=()
declare -A m_t0=()
measure_begin() {
  local name
  for name in "${names[@]}"; do m_t0[$name]=$(bench_ticks "${pid[$name]}"); done
  m_pg0=$(bench_ticks $(bench_pg_pids))
  read -r m_w0 m_s0 m_b0 <<<"$(pg_counters)"
  read -r m_all0 m_idle0 <<<"$(machine_ticks)"
}
measure_load_end() { read -r m_all1 m_idle1 <<<"$(machine_ticks)"; }
measure_end() {
  local tag=$1 n=$2 name ours=0 t hz
  hz=$(getconf CLK_TCK)
  sleep 2
  read -r w1 s1 b1 <<<"$(pg_counters)"
  for name in "${names[@]}"; do
    t=$(( $(bench_ticks "${pid[$name]}") - m_t0[$name] ))
    f_proc[$tag,$name]=$(awk -v t="$t" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')
    [ "$name" = bkr-fake-backup-interface ] || ours=$((ours + t))
  done
  t=$(( $(bench_ticks $(bench_pg_pids)) - m_pg0 ))
  f_pg[$tag]=$(awk -v t="$t" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')
  f_cpu[$tag]=$(awk -v t=$((ours + t)) -v n="$n" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')
  f_writes[$tag]=$(awk -v a="$m_w0" -v b="$w1" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')
  f_stmts[$tag]=$(awk -v a="$m_s0" -v b="$s1" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')
  f_wal[$tag]=$(awk -v a="$m_b0" -v b="$b1" -v n="$n" 'BEGIN {printf "%.0f", (b - a) / n}')
  f_busy[$tag]=$(awk -v a0="$m_all0" -v i0="$m_idle0" -v a1="$m_all1" -v i1="$m_idle1" \
    'BEGIN {printf "%.0f", 100 * (1 - (i1 - i0) / (a1 - a0))}')
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== warm-up (3 s at full load)" >&2
phase warm 3s
settle warm

echo "== max: wrk -t$wrk_threads -c$connections -d$duration, then until every request is Succeeded" >&2
measure_begin
phase max "$duration"
measure_load_end
max_line=$phase_line
max_n=$phase_n
settle max
measure_end max "$max_n"
max_db=$(in_db max)
sent_per_s=$(rate max sent_to_interface_timestamp)
succeeded_per_s=$(rate max reply_timestamp)
accept_per_s=$(awk -v n="$(bench_field requests "$max_line")" -v us="$(bench_field duration_us "$max_line")" \
  'BEGIN {printf "%.0f", n / (us / 1e6)}')
cpu_ms=${f_cpu[max]}
cpu_fake_ms=${f_proc[max,bkr-fake-backup-interface]}
read -r max_p50 max_p99 <<<"$(latency max)"

half=$((sent_per_s / 2))
echo "== half: a fixed $half requests/s for $duration" >&2
phase half "$duration" "$half"
half_line=$phase_line
half_n=$phase_n
settle half
read -r half_p50 half_p99 <<<"$(latency half)"
half_rate=$(awk -v n="$half_n" -v us="$(bench_field duration_us "$half_line")" 'BEGIN {printf "%.0f", n / (us / 1e6)}')

echo "== 100: a fixed 100 requests/s for $duration" >&2
# Calls per statement during this phase (the light-load cost follows the statements), printed at the end.
[ "$BKR_BENCH_PG_STATS" = 1 ] && sql "CREATE TABLE bench_calls_before AS SELECT queryid, calls FROM pg_stat_statements" >/dev/null
measure_begin
phase p100 "$duration" 100
measure_load_end
p100_n=$phase_n
settle p100
measure_end p100 "$p100_n"
read -r p100_p50 p100_p99 <<<"$(latency p100)"
p100_statements=""
if [ "$BKR_BENCH_PG_STATS" = 1 ]; then
  p100_statements=$(psql -X -P pager=off "$db" -c "SELECT round((s.calls - coalesce(b.calls, 0))::numeric / $p100_n, 2) AS per_request,
      left(regexp_replace(s.query, '\s+', ' ', 'g'), 150) AS query
    FROM pg_stat_statements s LEFT JOIN bench_calls_before b USING (queryid)
    WHERE s.calls > coalesce(b.calls, 0) ORDER BY s.calls - coalesce(b.calls, 0) DESC LIMIT 25")
fi

echo "== 1000: a fixed 1000 requests/s for $duration" >&2
measure_begin
phase k1 "$duration" 1000
measure_load_end
k_line=$phase_line
k_n=$phase_n
settle k1
measure_end k1 "$k_n"
read -r k_p50 k_p99 <<<"$(latency k1)"
k_rate=$(awk -v n="$k_n" -v us="$(bench_field duration_us "$k_line")" 'BEGIN {printf "%.0f", n / (us / 1e6)}')
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A rss=()
worker_rss=0
for name in "${names[@]}"; do
  rss[$name]=$(bench_hwm_mb "${pid[$name]}")
  case $name in bkr-create-request | bkr-check-allowed | bkr-send-to-interface | bkr-receive-status)
    worker_rss=$(awk -v a="$worker_rss" -v b="${rss[$name]}" 'BEGIN {print (b > a) ? b : a}') ;;
  esac
done

# Correctness of the run: every request Succeeded through its five transitions, each once; nothing queued.
total=$(sql "SELECT count(*) FROM backup_request")
succeeded=$(sql "SELECT count(*) FROM backup_request WHERE status_type_code = 'Succeeded'")
dup=$(sql "SELECT count(*) FROM (SELECT 1 FROM backup_request_history GROUP BY backup_request_id, to_status HAVING count(*) > 1) d")
transitions=$(sql "SELECT count(*) FROM backup_request_history")
backups=$(sql "SELECT count(*) FROM backup")
# Messages not consumed (ready or delayed) on any queue, as the admin surface reports them.
left=$(BKR_DATABASE_URL="$db" "$bkrctl" queues stats --json |
  python3 -c 'import json, sys; print(sum(q["ready"] + q["delayed"] for q in json.load(sys.stdin)))')
verdict=ok
if [ "$succeeded" != "$total" ] || [ "$dup" != 0 ] || [ "$backups" != "$total" ] || [ "$left" != 0 ] ||
   [ "$max_db" != "$max_n" ]; then verdict=MISMATCH; fi

printf '\n%-60s %12s %10s\n' "measurement" "value" "target"
printf '%-60s %12s %10s\n' "max: accepted (202) requests/s during the load" "$accept_per_s" "-"
printf '%-60s %12s %10s\n' "max: sustained 202 -> Sent (requests/s)" "$sent_per_s" ">=10000"
printf '%-60s %12s %10s\n' "max: sustained 202 -> Succeeded (requests/s)" "$succeeded_per_s" "-"
printf '%-60s %12s %10s\n' "max: accept -> Sent p50 / p99 (ms)" "$max_p50 / $max_p99" "-"
printf '%-60s %12s %10s\n' "max: requests (202s served / in the database)" "$max_n / $max_db" "equal"
printf '%-60s %12s %10s\n' "half: rate achieved (requests/s)" "$half_rate" "$half"
printf '%-60s %12s %10s\n' "half: accept -> Sent p50 (ms)" "$half_p50" "-"
printf '%-60s %12s %10s\n' "half: accept -> Sent p99 (ms)" "$half_p99" "<=100"
printf '%-60s %12s %10s\n' "1000/s: rate achieved (requests/s)" "$k_rate" "1000"
printf '%-60s %12s %10s\n' "1000/s: accept -> Sent p50 (ms)" "$k_p50" "-"
printf '%-60s %12s %10s\n' "1000/s: accept -> Sent p99 (ms)" "$k_p99" "<=20"
# Where the time goes at 1,000/s: p50 / p99 of each hop (intake commit and CreateRequest, CheckAllowed,
# SendToInterface).
while read -r hop p50 p99; do
  printf '%-60s %12s %10s\n' "1000/s: $hop p50 / p99 (ms)" "$p50 / $p99" "-"
done <<<"$(hops k1)"
printf '%-60s %12s %10s\n' "100/s: accept -> Sent p50 / p99 (ms)" "$p100_p50 / $p100_p99" "-"
printf '%-60s %12s %10s\n' "CPU per request, our 5 processes + Postgres (ms)" "$cpu_ms" "<=0.15"
for tag in max p100 k1; do
  label=$tag; [ "$tag" = p100 ] && label=100/s; [ "$tag" = k1 ] && label=1000/s
  printf '%-60s %12s %10s\n' "$label: whole machine busy while loaded (%)" "${f_busy[$tag]}" "$([ "$tag" = p100 ] && echo '<=10' || echo -)"
  printf '%-60s %12s %10s\n' "$label: row writes / statements per request" "${f_writes[$tag]} / ${f_stmts[$tag]}" "<=30 / -"
  printf '%-60s %12s %10s\n' "$label: WAL bytes per request" "${f_wal[$tag]}" "<=6000"
  printf '%-60s %12s %10s\n' "$label: CPU per request, ours + Postgres / Postgres (ms)" "${f_cpu[$tag]} / ${f_pg[$tag]}" "-"
  for name in "${names[@]}"; do
    printf '%-60s %12s %10s\n' "  $label: CPU per request: $name (ms)" "${f_proc[$tag,$name]}" "-"
  done
done
for name in "${names[@]}"; do
  target="-"
  case $name in bkr-create-request | bkr-check-allowed | bkr-send-to-interface | bkr-receive-status) target="<=32" ;; esac
  printf '%-60s %12s %10s\n' "peak RSS $name (MB)" "${rss[$name]}" "$target"
done
printf '%-60s %12s %10s\n' "requests Succeeded / in all" "$succeeded / $total" "equal"
printf '%-60s %12s %10s\n' "history rows / duplicate transitions / Backups" "$transitions / $dup / $backups" "5n / 0 / n"
printf '%-60s %12s %10s\n' "messages left in mq" "$left" "0"
echo "load average before: $load_before; after: $load_after ($(nproc) CPUs shared by wrk, Postgres and every process)"
echo "fake interface (not counted above) CPU per request: $cpu_fake_ms ms"
echo "check: $verdict"
bench_pg_top_statements
[ -n "$p100_statements" ] && printf '== statements per request at 100/s\n%s\n' "$p100_statements"
echo
echo "RESULT sent_per_s=$sent_per_s succeeded_per_s=$succeeded_per_s sent_p50_ms=$half_p50 sent_p99_ms=$half_p99 sent_p99_at_1000_ms=$k_p99 cpu_ms_per_req=$cpu_ms busy_pct_at_100=${f_busy[p100]} writes_per_req=${f_writes[max]} statements_per_req=${f_stmts[max]} wal_bytes_per_req=${f_wal[max]} worker_rss_mb=$worker_rss"
[ "$verdict" = ok ]
