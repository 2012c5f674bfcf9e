#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, assertions on) in build/fuzz and runs each one for a
# bounded time on a scratch copy of its committed seed corpus. Exits non-zero when a target crashes, leaks,
# hangs or breaks one of its properties; the input that did it is kept in build/fuzz/artifacts.
#   bash fuzz/run.sh [--seconds N] [--jobs J] [target...]
#     --seconds N  fuzzing time per target (default 20)
#     --jobs J     compile jobs, and targets fuzzed at the same time (default: number of CPUs)
#     target...    only these targets (default: all)
# Environment: CXX (default clang++, else clang++-14), BKR_FUZZ_BUILD_DIR (default build/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=20
jobs=$(nproc)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a value}; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "fuzz/run.sh: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz/run.sh: --seconds must be a whole number" >&2; exit 2 ;; esac
case "$jobs" in ''|0|*[!0-9]*) echo "fuzz/run.sh: --jobs must be a positive number" >&2; exit 2 ;; esac
all_targets=(fuzz_request_validation fuzz_message_decoding fuzz_token_parsing)
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -d "fuzz/corpus/$t" ] || { echo "fuzz/run.sh: unknown target '$t' (${all_targets[*]})" >&2; exit 2; }
done

cxx=${CXX:-}
if [ -z "$cxx" ] || ! "$cxx" --version 2>/dev/null | grep -q clang; then
  cxx=$(command -v clang++ || command -v clang++-14 || true)
fi
[ -n "$cxx" ] || { echo "fuzz/run.sh: clang++ not found (deploy/install-deps.sh installs it)" >&2; exit 1; }

build=${BKR_FUZZ_BUILD_DIR:-build/fuzz}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
artifacts="$build/artifacts"
work="$build/work"
mkdir -p "$artifacts" "$work"

build_start=$(date +%s)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
fi
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
echo "fuzz: build $(( $(date +%s) - build_start )) s"

# Symbolized stacks when a crash is reported; the first llvm-symbolizer found is used.
for s in llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer; do
  if command -v "$s" >/dev/null 2>&1; then export ASAN_SYMBOLIZER_PATH=$(command -v "$s"); break; fi
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target: fresh copy of its corpus (new inputs never land in fuzz/corpus), bounded run, log kept.
run_target() {
  local t=$1
  local corpus="$work/$t/corpus"
  rm -rf "$work/$t"
  mkdir -p "$corpus"
  touch "$work/$t/started"  # artifacts newer than this belong to this run
  cp fuzz/corpus/"$t"/* "$corpus"/
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
              -max_len=10000 -artifact_prefix="$artifacts/$t-")
  [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
  local rc=0
  "$build/$t" "${args[@]}" "$corpus" >"$work/$t/log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t/rc"
}

# Targets run J at a time; each one's summary is printed when all are done.
pids=()
for t in "${targets[@]}"; do
  run_target "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
wait

failed=0
for t in "${targets[@]}"; do
  log="$work/$t/log"
  rc=$(cat "$work/$t/rc")
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n1; }
  runs=$(stat number_of_executed_units)
  rate=$(stat average_exec_per_sec)
  # The last status line carries the coverage: "#N DONE cov: C ft: F corp: U/S ...".
  status=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$status")
  seeds=$(find "fuzz/corpus/$t" -type f | wc -l)
  found=$(find "$artifacts" -maxdepth 1 -name "$t-*" -newer "$work/$t/started")
  crashes=$(grep -c . <<<"$found" || true)
  echo "fuzz: $t: ${runs:-0} executions, ${rate:-0} exec/s, coverage ${cov:-?} edges / ${ft:-?} features," \
       "corpus ${seeds} seeds -> ${corp:-?} inputs, seed $(sed -n 's/^INFO: Seed: //p' "$log" | head -n1)"
  if [ "$rc" != 0 ]; then
    failed=1
    [ "$crashes" -gt 0 ] || crashes=1
    echo "fuzz: $t FAILED (exit $rc); log: $log"
    grep -E 'ERROR|SUMMARY|fuzz property broken|terminate called|what\(\)|Test unit written' "$log" | head -n 20 | sed 's/^/  /'
    for a in $found; do
      echo "  reproduce: $build/$t $a"
    done
  fi
  echo "FUZZ target=$t runs=${runs:-0} crashes=$crashes seconds=$seconds"
done
exit $failed
