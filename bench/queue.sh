#!/usr/bin/env bash
# Queue benchmark: starts a private Postgres cluster (synchronous_commit on), measures the storage ceiling
# with pgbench and the mq backend's enqueue, processing, latency and recovery figures in the same run,
# prints a table and a final RESULT line.
#   bench/queue.sh            (env: BKR_BENCH_BUILD_DIR, BKR_BENCH_N, BKR_BENCH_SECONDS)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/pg-common.sh"

build=${BKR_BENCH_BUILD_DIR:-$root/build/bench}
n=${BKR_BENCH_N:-200000}
pgbench_seconds=${BKR_BENCH_SECONDS:-10}

echo "== building release binaries in $build" >&2
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBKR_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target bkrctl bkr_mq_bench -j2 >/dev/null
bench_bin="$build/libs/messaging/bkr_mq_bench"
bkrctl="$build/tools/bkrctl/bkrctl"

. "$root/bench/bench-pg.sh"
bench_pg_start queue
datadir=$bench_pg_datadir
db=$bench_pg_db

# Storage ceiling: batched inserts of 100 narrow rows per transaction from 2 clients.
psql -X -q -v ON_ERROR_STOP=1 "$db" -c "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, payload jsonb NOT NULL)"
script=$datadir/../bkr-bench-insert.$$.sql
echo "INSERT INTO bench_rows (payload) SELECT jsonb_build_object('i', g, 'pad', '0123456789abcdef') FROM generate_series(1, 100) g;" >"$script"
tps=$("$(pg_bindir)/pgbench" -n -c 2 -j 2 -T "$pgbench_seconds" -f "$script" "$db" 2>/dev/null | awk '/^tps/ {print $3; exit}')
rm -f "$script"
pg_ceiling=$(awk -v t="$tps" 'BEGIN {printf "%.0f", t * 100}')

field() { bench_field "$@"; }

echo "== bulk enqueue ($n messages, one append statement per 10k transaction)" >&2
out=$("$bench_bin" "$db" bulk "$n"); bulk=$(field bulk_append_per_s "$out")

echo "== transactional single-message enqueue (8 producers, one message per commit)" >&2
out=$("$bench_bin" "$db" single 20000 8); single=$(field single_enqueue_per_s "$out")

echo "== processing, no-op handler, one process with 2 consumers" >&2
out=$("$bench_bin" "$db" process "$n" 2); process=$(field process_per_s "$out")

echo "== processing, no-op handler, two processes with 1 consumer each (drains $n more bulk-loaded messages)" >&2
start=$(date +%s.%N)
"$bench_bin" "$db" drain bench.drain 1 >/dev/null & p1=$!
"$bench_bin" "$db" drain bench.drain 1 >/dev/null & p2=$!
wait $p1 $p2
process2=$(awk -v n="$n" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", n / (e - s)}')

echo "== enqueue-to-start latency on an idle queue (LISTEN/NOTIFY, 300 samples)" >&2
out=$("$bench_bin" "$db" latency 300); p50=$(field start_p50_ms "$out"); p99=$(field start_p99_ms "$out")
commit_p99=$(field commit_p99_ms "$out"); after_p99=$(field after_commit_p99_ms "$out")

echo "== recovery of a SIGKILLed consumer's partition (default 200 ms ownership check)" >&2
out=$("$bench_bin" "$db" recovery 500); recovery=$(field recovery_s "$out")

printf '\n%-58s %14s %10s\n' "measurement" "value" "target"
printf '%-58s %14s %10s\n' "storage ceiling: pgbench 100-row insert tx, 2 clients" "$pg_ceiling rows/s" "-"
printf '%-58s %14s %10s\n' "bulk enqueue, one append per 10k messages (msg/s)" "$bulk" ">=200000"
printf '%-58s %14s %10s\n' "single enqueue, 1 msg per commit, 8 producers (msg/s)" "$single" "-"
printf '%-58s %14s %10s\n' "processing, no-op, 1 process (msg/s)" "$process" ">=300000"
printf '%-58s %14s %10s\n' "processing, no-op, 2 processes (msg/s)" "$process2" "-"
printf '%-58s %14s %10s\n' "enqueue-to-start p50 idle (ms)" "$p50" "-"
printf '%-58s %14s %10s\n' "enqueue-to-start p99 idle (ms)" "$p99" "<=10"
printf '%-58s %14s %10s\n' "  of which: producer's commit (WAL flush) p99 (ms)" "$commit_p99" "-"
printf '%-58s %14s %10s\n' "  of which: commit returned to handler start p99 (ms)" "$after_p99" "-"
printf '%-58s %14s %10s\n' "SIGKILLed consumer's messages done again (s)" "$recovery" "<=1"
echo
echo "RESULT bulk_enqueue_per_s=$bulk single_enqueue_per_s=$single process_per_s=$process process2_per_s=$process2 start_p99_ms=$p99 recovery_s=$recovery pg_ceiling_rows_per_s=$pg_ceiling"
