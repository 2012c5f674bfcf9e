#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine: installs what is missing, builds with the `ci` preset
# (warnings are errors), then runs every CTest suite (unit, integration, e2e, fault) against a private Postgres
# cluster that the suite starts and stops itself. Extra arguments go to ctest (e.g. -L unit, -R storage).
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
end=$(date +%s)
echo "run-tests: build $((build_done - start)) s, tests $((end - build_done)) s, total $((end - start)) s"
