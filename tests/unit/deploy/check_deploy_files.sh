#!/usr/bin/env bash
# The deployment files pass the validators installed here (no container engine needed):
#   - deploy/docker-compose.yml through `docker-compose config` (Debian 12's 1.29, installed by
#     deploy/install-deps.sh) and, where the Compose plugin is installed, `docker compose config`; the
#     normalised result is then checked (deploy_checks.py compose): migrate and seed run once before every
#     service, the build context is the project root, the API is published on loopback only;
#   - without BKR_AUTH_HS256_SECRET the compose file is refused, naming the variable;
#   - deploy/fly.toml parses as TOML (tomllib) and is a production setup (deploy_checks.py fly);
#   - .dockerignore keeps build/, var/, node_modules/ out of the image build's context and everything the build
#     reads in (deploy_checks.py dockerignore), and a CMake configure of that context alone succeeds.
# Usage: check_deploy_files.sh SOURCE_DIR. Exit 0: all passed; 1: a check failed; 77 (skipped): no validator.
set -euo pipefail
src=$(cd "${1:?usage: check_deploy_files.sh SOURCE_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# Debian's interpreter: python3-yaml is installed for it (tomllib is in its standard library, 3.11).
py=/usr/bin/python3
compose_file="$src/deploy/docker-compose.yml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A secret for interpolation only; nothing is started.
secret=test-secret-0123456789abcdef0123456789
# Compose must not pick up a project, file or profile from the caller's environment.
clean_env=(env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME -u COMPOSE_PROFILES -u BKR_AUTH_HS256_SECRET)

validators=()
if command -v docker-compose >/dev/null 2>&1; then
  validators+=(docker-compose)
fi
if command -v docker >/dev/null 2>&1 && timeout 20 docker compose version >/dev/null 2>&1; then
  validators+=("docker compose")
fi
if [ ${#validators[@]} -eq 0 ]; then
  echo "SKIP: neither docker-compose nor the docker compose plugin is installed (bash deploy/install-deps.sh)"
  exit 77
fi
[ -x "$py" ] || { echo "FAIL: $py is missing (bash deploy/install-deps.sh)"; exit 1; }

for v in "${validators[@]}"; do
  read -r -a cmd <<<"$v"
  echo "== $v -f deploy/docker-compose.yml config ($("${cmd[@]}" version 2>/dev/null | head -1))"
  out="$work/config-${v// /-}.yml"
  if ! (cd "$src" && timeout 60 "${clean_env[@]}" BKR_AUTH_HS256_SECRET="$secret" \
        "${cmd[@]}" -f deploy/docker-compose.yml config >"$out" 2>"$work/err"); then
    echo "FAIL: $v refused deploy/docker-compose.yml:"
    cat "$work/err"
    exit 1
  fi
  "$py" "$here/deploy_checks.py" compose "$src" "$out" "$secret"

  # Without the development secret the file is refused, and the message says which variable to set.
  if (cd "$src" && timeout 60 "${clean_env[@]}" "${cmd[@]}" -f deploy/docker-compose.yml config \
        >/dev/null 2>"$work/err"); then
    echo "FAIL: $v accepted deploy/docker-compose.yml without BKR_AUTH_HS256_SECRET"
    exit 1
  fi
  if ! grep -q 'BKR_AUTH_HS256_SECRET' "$work/err"; then
    echo "FAIL: $v refused the file without naming BKR_AUTH_HS256_SECRET:"
    cat "$work/err"
    exit 1
  fi
  echo "ok: without BKR_AUTH_HS256_SECRET the file is refused, naming the variable"
done

echo "== deploy/fly.toml"
"$py" "$here/deploy_checks.py" fly "$src"

echo "== .dockerignore"
"$py" "$here/deploy_checks.py" dockerignore "$src" "$work/context"
# The image build's first step after COPY . . is this configure (deploy/Dockerfile): it must succeed on the
# context alone. Configure only; nothing is compiled.
if command -v cmake >/dev/null 2>&1; then
  if ! (cd "$work/context" && timeout 120 cmake --preset release -DBKR_BUILD_TESTS=OFF >"$work/cmake.log" 2>&1); then
    echo "FAIL: cmake --preset release -DBKR_BUILD_TESTS=OFF fails on the build context alone:"
    tail -30 "$work/cmake.log"
    exit 1
  fi
  echo "ok: cmake --preset release -DBKR_BUILD_TESTS=OFF configures the build context alone"
fi
echo "deploy files: all checks passed"
