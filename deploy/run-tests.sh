#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine: installs what is missing, builds with the `ci` preset
# (warnings are errors), then runs every CTest suite (unit, integration, e2e, fault) against a private Postgres
# cluster that the suite starts and stops itself, and last a bounded fuzz run of every libFuzzer target
# (fuzz/run.sh: clang build in build/fuzz, BKR_FUZZ_SECONDS per target, default 30). Extra arguments go to
# ctest (e.g. -L unit, -R storage).
# Opt-out: BKR_SKIP_FUZZ=1 skips the fuzz build and run (nothing else does).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

bash deploy/install-deps.sh
# pm2 (package.json) for the end-to-end test that runs the stack under it.
[ -x node_modules/.bin/pm2 ] || npm ci --no-audit --no-fund
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$(nproc)"
build_done=$(date +%s)

# Integration suites clone a database per test; two at a time suits a 2-core machine.
ctest --preset ci -j 2 --timeout 900 "$@"
tests_done=$(date +%s)

if [ "${BKR_SKIP_FUZZ:-0}" = 1 ]; then
  echo "run-tests: fuzz run skipped (BKR_SKIP_FUZZ=1)"
else
  bash fuzz/run.sh --seconds "${BKR_FUZZ_SECONDS:-30}"
fi
end=$(date +%s)
echo "run-tests: build $((build_done - start)) s, tests $((tests_done - build_done)) s," \
     "fuzz $((end - tests_done)) s, total $((end - start)) s"
