#!/usr/bin/env bash
# Installs every build and run dependency of bkr from Debian 12 packages. Idempotent: installs only what is
# missing. Used by the README commands, CI and the Dockerfile.
#   deploy/install-deps.sh            build + run + test dependencies (with the deployment files' validators)
#   deploy/install-deps.sh --runtime  only what the built binaries need at run time (container image)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-url1.81-dev   # Asio/Beast/System (headers) and Boost.URL; never the 1.74 boost-all
  libpqxx-dev                             # libpqxx 6.4: Postgres client
  nlohmann-json3-dev                      # JSON
  libspdlog-dev libfmt-dev                # logging
  libssl-dev                              # TLS, JWT signatures
  libcpp-jwt-dev                          # JWT encode/verify (uses OpenSSL + nlohmann_json)
  catch2                                  # unit/integration test framework (v2)
  libvalijson-dev                         # JSON Schema validation in tests
  libyaml-cpp-dev                         # tests read proto/openapi.yaml (YAML) to check responses
  clang-14 libclang-rt-14-dev             # fuzz/run.sh: clang with the libFuzzer and sanitizer runtimes
  llvm-14                                 # llvm-symbolizer: source lines in fuzz crash reports
)
run_pkgs=(
  postgresql postgresql-contrib           # server for local runs and tests (pg_ctl, initdb, pgbench)
  procps iproute2 curl                    # process and port inspection used by scripts and tests
)
runtime_pkgs=(libpqxx-6.4 libspdlog1.10 libfmt9 libssl3 libboost-url1.81.0 ca-certificates)
tool_pkgs=(wrk nodejs npm)                # load generator; pm2 runs on Node (installed by npm into the project)
check_pkgs=(
  docker-compose                          # tests validate deploy/docker-compose.yml with `docker-compose config`
  python3 python3-yaml                    # tests read the normalised compose file and fly.toml (tomllib)
)

mode=${1:-all}
case "$mode" in
  all) wanted=("${build_pkgs[@]}" "${run_pkgs[@]}" "${tool_pkgs[@]}" "${check_pkgs[@]}") ;;
  --build) wanted=("${build_pkgs[@]}") ;;
  --runtime) wanted=("${runtime_pkgs[@]}") ;;
  *) echo "install-deps.sh: unknown option '$mode' (use --build, --runtime or nothing)" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  # nodejs from another origin may already provide npm; accept any installed npm binary.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#wanted[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install-deps: not root and no sudo; install these packages first: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
