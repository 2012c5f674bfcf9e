"""Checks of the deployment files for check_deploy_files.sh; each prints what it checked, or FAIL and exits 1.

  deploy_checks.py compose SOURCE_DIR NORMALISED_CONFIG SECRET   (the output of `docker-compose config`)
  deploy_checks.py fly SOURCE_DIR
  deploy_checks.py dockerignore SOURCE_DIR CONTEXT_COPY_DIR      (copies the context there, for a configure)
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib

import yaml

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def finish(what, summary=""):
    if failures:
        for f in failures:
            print(f"FAIL: {what}: {f}")
        sys.exit(1)
    print(f"ok: {what}{': ' + summary if summary else ''}")


# The long-running processes and the ops port each one listens on by default.
PIPELINE = {
    "bkr-receive-request": 9080,
    "bkr-create-request": 9081,
    "bkr-check-allowed": 9082,
    "bkr-send-to-interface": 9083,
    "bkr-receive-status": 9084,
}


def depends_on(service):
    deps = service.get("depends_on", {})
    # Normalised output is a map (name -> {condition}); a plain list means "service_started".
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def compose(source_dir, config_path, secret):
    config = yaml.safe_load(open(config_path))
    services = config["services"]
    check(set(services) == {"postgres", "migrate", "seed", "receive-request", "create-request",
                            "check-allowed", "send-to-interface", "receive-status", "fake-backup-interface"},
          f"unexpected services {sorted(services)}")

    migrate, seed = services.get("migrate", {}), services.get("seed", {})
    check(migrate.get("command") == ["bkrctl", "migrate"], f"migrate runs {migrate.get('command')}")
    check(depends_on(migrate).get("postgres") == "service_healthy", "migrate does not wait for a healthy postgres")
    check(seed.get("command") == ["bkrctl", "seed-demo"], f"seed runs {seed.get('command')}")
    check(depends_on(seed).get("migrate") == "service_completed_successfully",
          "seed does not wait for migrate to complete")
    for name in ("migrate", "seed"):
        check(str(services.get(name, {}).get("restart", "no")) == "no", f"{name} is restarted (it is a one-shot job)")

    # One image, built once from the project root with deploy/Dockerfile; the others never pull it.
    built = {n: s for n, s in services.items() if "build" in s}
    check(list(built) == ["migrate"], f"services with a build section: {sorted(built)}")
    image = migrate.get("image")
    if "migrate" in built:
        build = built["migrate"]["build"]
        context = build["context"] if isinstance(build, dict) else build
        # Normalised output gives an absolute path; a relative one is relative to the compose file's folder.
        context_dir = os.path.realpath(os.path.join(source_dir, "deploy", context))
        check(context_dir == os.path.realpath(source_dir), f"build context {context} is not the project root")
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        check(os.path.isfile(os.path.join(context_dir, dockerfile)), f"dockerfile {dockerfile} is not in the context")

    commands = set()
    for name, s in services.items():
        if name == "postgres":
            continue
        check(s.get("image") == image, f"{name} runs image {s.get('image')}, not {image}")
        if name not in built:
            check(s.get("pull_policy") == "never", f"{name} may pull {image} from a registry")
        env = s.get("environment", {})
        check(env.get("BKR_DATABASE_URL", "").endswith("@postgres:5432/bkr"), f"{name} has no database URL")
        if name in ("migrate", "seed"):
            continue
        commands.add(s["command"][0])
        check(depends_on(s).get("seed") == "service_completed_successfully",
              f"{name} starts before seed has completed")
        port = env.get("BKR_OPS_PORT")
        test = " ".join(s.get("healthcheck", {}).get("test", []))
        check(port is not None and f"/127.0.0.1/{port} " in test and "/readyz" in test,
              f"{name}'s health check does not probe /readyz on its ops port {port}")
    check(commands == set(PIPELINE) | {"bkr-fake-backup-interface"}, f"long-running commands {sorted(commands)}")

    rr = services.get("receive-request", {})
    env = rr.get("environment", {})
    check(env.get("BKR_AUTH_ALGORITHMS") == "HS256", "receive-request does not accept development tokens")
    check(env.get("BKR_AUTH_HS256_SECRET") == secret, "receive-request does not get BKR_AUTH_HS256_SECRET")

    # Published ports only on loopback.
    for name, s in services.items():
        for p in s.get("ports", []):
            host_ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
            check(host_ip == "127.0.0.1", f"{name} publishes {p} beyond loopback")
    check(any(str(p.get("published") if isinstance(p, dict) else p).find("8080") >= 0
              for p in rr.get("ports", [])), "the API port 8080 is not published")
    finish("deploy/docker-compose.yml",
           f"{len(services)} services; migrate, then seed, then the pipeline; build context = project root")


def fly(source_dir):
    path = os.path.join(source_dir, "deploy", "fly.toml")
    try:
        with open(path, "rb") as f:
            fly = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        check(False, f"not TOML: {e}")
        finish("deploy/fly.toml")
    processes = fly.get("processes", {})
    check({c.split()[0] for c in processes.values()} == set(PIPELINE), f"processes {processes}")
    check(processes.get("web") == "bkr-receive-request", "web is not bkr-receive-request")
    check(not any("fake" in c or "noop" in c for c in processes.values()), "a fake process runs in production")
    check(fly.get("deploy", {}).get("release_command") == "bkrctl migrate", "release_command is not bkrctl migrate")

    env = fly.get("env", {})
    algorithms = [a.strip().upper() for a in env.get("BKR_AUTH_ALGORITHMS", "RS256,ES256").split(",")]
    check("HS256" not in algorithms, f"production accepts HS256 ({algorithms})")
    check("RS256" in algorithms, f"production does not accept RS256 ({algorithms})")
    check("BKR_AUTH_HS256_SECRET" not in env, "a development secret is set in [env]")
    check(env.get("BKR_AUTH_ISSUERS", "bkr-dev") != "bkr-dev", "the issuer is the development default bkr-dev")
    jwks_file, jwks_url = env.get("BKR_AUTH_JWKS_FILE"), env.get("BKR_AUTH_JWKS_URL")
    check((jwks_file is None) != (jwks_url is None), "exactly one of BKR_AUTH_JWKS_FILE, BKR_AUTH_JWKS_URL is needed")
    if jwks_file:
        files = [f for f in fly.get("files", []) if f.get("guest_path") == jwks_file]
        check(len(files) == 1 and files[0].get("secret_name") and "web" in files[0].get("processes", ["web"]),
              f"no [[files]] entry writes {jwks_file} from a secret on web")
    if jwks_url:
        check(jwks_url.startswith("http://"), "the JWKS client reads plain http:// only")

    # Every process has a readiness check on its own ops port; http_service checks have no port field.
    ports = {name: PIPELINE[cmd.split()[0]] for name, cmd in processes.items() if cmd.split()[0] in PIPELINE}
    checks = fly.get("checks", {})
    for name, port in ports.items():
        check(any(c.get("port") == port and c.get("path") == "/readyz" and name in c.get("processes", [])
                  for c in checks.values()), f"process {name} has no /readyz check on port {port}")
    for c in fly.get("http_service", {}).get("checks", []):
        check("port" not in c, "an [[http_service.checks]] entry names a port (flyctl ignores it: internal_port)")

    # flyctl: [build] dockerfile is relative to the config file's folder; the context is the working folder
    # fly deploy runs in, the project root. The Dockerfile's COPY sources are relative to that root.
    dockerfile = os.path.join(source_dir, "deploy", fly.get("build", {}).get("dockerfile", "Dockerfile"))
    check(os.path.isfile(dockerfile), f"{dockerfile} does not exist")
    if os.path.isfile(dockerfile):
        for source in copy_sources(dockerfile):
            check(os.path.exists(os.path.join(source_dir, source)), f"COPY {source}: not in the project root")
    finish("deploy/fly.toml", f"parses; processes {sorted(processes)}; RS256 with "
           f"{'JWKS file ' + jwks_file if jwks_file else 'JWKS URL'}; {os.path.relpath(dockerfile, source_dir)}")


def copy_sources(dockerfile):
    """The context paths the Dockerfile's COPY instructions read (not --from=stage copies)."""
    sources = []
    for line in open(dockerfile):
        words = line.split()
        if len(words) >= 3 and words[0].upper() == "COPY" and not words[1].startswith("--from"):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


# .dockerignore as the Docker CLI, BuildKit and flyctl read it (moby's patternmatcher): a line is a pattern
# relative to the context root (a leading / is dropped, the path is cleaned), `*` and `?` stay within a path
# element, `**` spans elements, `!` re-includes; the last matching pattern wins, and a pattern that matches a
# folder matches everything in it.
def dockerignore_patterns(path):
    patterns = []
    for raw in open(path):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:].strip()
        line = os.path.normpath(line.lstrip("/")) if line.lstrip("/") else "."
        patterns.append((negate, pattern_regex(line)))
    return patterns


def pattern_regex(pattern):
    out, i = "^", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + "$")


def excluded(patterns, relpath):
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, regex in patterns:
        if any(regex.match(p) for p in prefixes):
            result = not negate
    return result


def tracked_files(source_dir):
    try:
        out = subprocess.run(["git", "-C", source_dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True, check=True,
                             timeout=60).stdout.decode()
        return [f for f in out.split("\0") if f]
    except (OSError, subprocess.SubprocessError):
        files = []
        for root, dirs, names in os.walk(source_dir):
            dirs[:] = [d for d in dirs if d not in (".git", "build", "var", "node_modules")]
            files += [os.path.relpath(os.path.join(root, n), source_dir) for n in names]
        return files


def dockerignore(source_dir, copy_dir):
    path = os.path.join(source_dir, ".dockerignore")
    if not check(os.path.isfile(path), ".dockerignore is missing"):
        finish(".dockerignore")
    # BuildKit prefers <Dockerfile>.dockerignore beside the Dockerfile; one would silently replace this file.
    check(not os.path.exists(os.path.join(source_dir, "deploy", "Dockerfile.dockerignore")),
          "deploy/Dockerfile.dockerignore would replace .dockerignore")
    patterns = dockerignore_patterns(path)
    for local in ("build/ci/bin/bkrctl", "build/release/CMakeCache.txt", "var/pg/PG_VERSION", "var/bkr.env",
                  "var/log/bkr-receive-request.out.log", "node_modules/pm2/package.json", ".git/HEAD",
                  "build", "var", "node_modules"):
        check(excluded(patterns, local), f"{local} is in the build context")

    # Everything the image build reads stays in: the Dockerfile and its COPY sources, the CMake project and the
    # sources it configures with tests off.
    needed_roots = ("CMakeLists.txt", "CMakePresets.json", "cmake/", "libs/", "services/", "tools/", "proto/",
                    "deploy/")
    files = tracked_files(source_dir)
    needed = [f for f in files if f.startswith(needed_roots)]
    check(len(needed) > 50, f"only {len(needed)} tracked files under {needed_roots}")
    for f in needed:
        check(not excluded(patterns, f), f"{f} is left out of the build context")
    dockerfile = os.path.join(source_dir, "deploy", "Dockerfile")
    for source in copy_sources(dockerfile) if os.path.isfile(dockerfile) else []:
        if source != ".":
            check(not excluded(patterns, source.rstrip("/")), f"COPY {source}: left out of the build context")

    kept = [f for f in files if not excluded(patterns, f)]
    # docker-compose 1.29 builds the context it sends with docker-py's reading of the file: the same files.
    try:
        from docker.utils.build import exclude_paths
    except ImportError:
        exclude_paths = None
    if exclude_paths:
        lines = [l.strip() for l in open(path) if l.strip() and not l.strip().startswith("#")]
        theirs = exclude_paths(source_dir, lines, dockerfile="deploy/Dockerfile")
        differ = sorted(set(kept) ^ {f for f in files if f in theirs})
        check(not differ, f"docker-py reads .dockerignore otherwise for {differ[:10]}")

    # The context itself, for the configure that check_deploy_files.sh runs on it.
    for f in kept:
        src = os.path.join(source_dir, f)
        if os.path.isfile(src):
            dst = os.path.join(copy_dir, f)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
    finish(".dockerignore", f"local state out, the {len(needed)} files the image build reads in "
           f"({len(kept)} of {len(files)} files in the context)")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "compose" and len(sys.argv) == 5:
        compose(sys.argv[2], sys.argv[3], sys.argv[4])
    elif what == "fly" and len(sys.argv) == 3:
        fly(sys.argv[2])
    elif what == "dockerignore" and len(sys.argv) == 4:
        dockerignore(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        sys.exit(2)
