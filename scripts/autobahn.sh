#!/usr/bin/env bash
# The Autobahn testsuite (fuzzingclient mode) against the server's own
# WebSocket layer (server/src/ws/), through an echo server built on it
# (server/examples/ws_echo.rs: the real accept loop and handshake).
#
#   scripts/autobahn.sh             install if missing, run, summarize
#   scripts/autobahn.sh --install   only install the suite
#
# Exits non-zero when any case's behavior or closing behavior is anything
# but OK, NON-STRICT, INFORMATIONAL or UNIMPLEMENTED, or when the run did
# not finish. Which cases run, and why some do not, is in
# scripts/autobahn/README.md; the spec is scripts/autobahn/fuzzingclient.json.
#
# The suite runs on Python 2.7 only: it is installed (pinned,
# scripts/autobahn/requirements.txt) into a virtualenv under
# target/autobahn/venv, from a Python 2.7 found in pyenv
# (~/.pyenv/versions/2.7.*), on PATH as python2.7, or named by
# PARLEY_PYTHON27. The report (index.html, index.json) is left in
# target/autobahn/report.
#
# Environment:
#   PARLEY_PYTHON27          the Python 2.7 interpreter to install with
#   PARLEY_AUTOBAHN_TIMEOUT  seconds wstest may run (300)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() {
    printf '\033[1;31merror:\033[0m %s\n' "$*" >&2
    exit 1
}

here=scripts/autobahn
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target/autobahn"
work="$(cd "$target/autobahn" && pwd)"
venv="$work/venv"
# The last virtualenv that creates Python 2.7 environments.
virtualenv_version=20.15.1

find_python27() {
    local candidate
    for candidate in "${PARLEY_PYTHON27:-}" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7.18/bin/python \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python \
        "$(command -v python2.7 || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>/dev/null; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

# Install the suite unless the virtualenv already holds exactly the pinned
# set and runs (a virtualenv moved with its folder does not: its scripts
# name the old path).
install_suite() {
    local stamp="$venv/.parley-requirements" want
    want="$(cat "$here/requirements.txt")"
    if [ -x "$venv/bin/wstest" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        "$venv/bin/wstest" --autobahnversion >/dev/null 2>&1; then
        return 0
    fi
    local python
    python="$(find_python27)" || die "the Autobahn testsuite needs Python 2.7, and none was found:
  install it with pyenv (pyenv install 2.7.18), or point PARLEY_PYTHON27 at a python2.7"
    log "installing the Autobahn testsuite (Python 2.7: $python) into $venv"
    # (Python 2.7's end of life is known; pip need not say so at each step.)
    export PIP_NO_PYTHON_VERSION_WARNING=1 PIP_DISABLE_PIP_VERSION_CHECK=1
    rm -rf "$venv"
    if [ ! -f "$work/bootstrap/virtualenv/__init__.py" ]; then
        rm -rf "$work/bootstrap"
        "$python" -m pip install --quiet --target "$work/bootstrap" "virtualenv==$virtualenv_version"
    fi
    PYTHONPATH="$work/bootstrap" "$python" -m virtualenv --quiet "$venv"
    "$venv/bin/pip" install --quiet --no-deps -r "$here/requirements.txt"
    "$venv/bin/wstest" --autobahnversion >/dev/null || die "wstest does not run after installing"
    printf '%s\n' "$want" >"$stamp"
}

install_suite
if [ "${1:-}" = --install ]; then
    exit 0
fi

# The debug build: `cargo test` builds the examples, so after the Rust
# tests this is quick, and a debug build is fast enough for the suite.
log "building the echo server (cargo build -p server --example ws_echo)"
cargo build --quiet -p server --example ws_echo
echo_bin="$target/debug/examples/ws_echo"

echo_pid=
stop_echo() {
    if [ -n "$echo_pid" ]; then
        kill "$echo_pid" 2>/dev/null || true
        wait "$echo_pid" 2>/dev/null || true
        echo_pid=
    fi
}
trap stop_echo EXIT

# A port the system picks (never a service's well-known one, which lie
# below the ephemeral range; checked all the same).
start_echo() {
    local i
    : >"$work/echo.log"
    "$echo_bin" 127.0.0.1:0 >"$work/echo.log" 2>&1 &
    echo_pid=$!
    for i in $(seq 100); do
        if addr="$(grep -m1 -o 'listening on [0-9.:]*' "$work/echo.log")"; then
            addr="${addr#listening on }"
            return 0
        fi
        kill -0 "$echo_pid" 2>/dev/null || die "the echo server did not start: $(cat "$work/echo.log")"
        sleep 0.1
    done
    die "the echo server did not say where it listens within 10 s"
}
for attempt in 1 2 3; do
    start_echo
    case "${addr##*:}" in
        5432 | 6379 | 4222 | 5672 | 3306 | 1883 | 3000) stop_echo ;;
        *) break ;;
    esac
done
[ -n "$echo_pid" ] || die "no free port for the echo server"
log "echo server on $addr"

# The spec, with the echo server's address and the report's place.
rm -rf "$work/report"
"$venv/bin/python" - "$here/fuzzingclient.json" "$work/spec.json" "ws://$addr" "$work/report" <<'PY'
import json, sys
src, dst, url, outdir = sys.argv[1:]
spec = json.load(open(src))
spec["outdir"] = outdir
for server in spec["servers"]:
    server["url"] = url
json.dump(spec, open(dst, "w"), indent=2)
PY

timeout_s="${PARLEY_AUTOBAHN_TIMEOUT:-300}"
log "running the Autobahn testsuite (wstest -m fuzzingclient, at most ${timeout_s} s; log: $work/wstest.log)"
started=$SECONDS
status=0
(cd "$work" && timeout --kill-after=10 "$timeout_s" "$venv/bin/wstest" -m fuzzingclient -s "$work/spec.json") \
    >"$work/wstest.log" 2>&1 || status=$?
stop_echo
if [ "$status" -ne 0 ]; then
    tail -n 20 "$work/wstest.log" >&2
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        die "wstest did not finish within ${timeout_s} s"
    fi
    die "wstest failed (exit $status)"
fi
log "the suite took $((SECONDS - started)) s; report: $work/report/index.html"

"$venv/bin/python" - "$work/report/index.json" <<'PY'
import json, sys

ACCEPTED = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED")


def case_key(case_id):
    return [int(part) for part in case_id.split(".")]


def counts(results, field):
    tally = {}
    for result in results.values():
        tally[result[field]] = tally.get(result[field], 0) + 1
    order = list(ACCEPTED) + sorted(k for k in tally if k not in ACCEPTED)
    return ", ".join("%s %d" % (k, tally[k]) for k in order if k in tally)


try:
    index = json.load(open(sys.argv[1]))
except (IOError, ValueError) as error:
    sys.exit("no report from wstest (%s)" % error)
failed = False
for agent in sorted(index):
    results = index[agent]
    if not results:
        sys.exit("the report for %s holds no case" % agent)
    print("Autobahn testsuite: %d cases against %s" % (len(results), agent))
    print("  behavior:      " + counts(results, "behavior"))
    print("  behaviorClose: " + counts(results, "behaviorClose"))
    bad = [c for c in results
           if results[c]["behavior"] not in ACCEPTED
           or results[c]["behaviorClose"] not in ACCEPTED]
    lenient = [c for c in results if c not in bad
               and "NON-STRICT" in (results[c]["behavior"], results[c]["behaviorClose"])]
    for title, cases in (("NON-STRICT", lenient), ("FAILED", bad)):
        if cases:
            print("  %s:" % title)
            for case in sorted(cases, key=case_key):
                r = results[case]
                print("    %-8s behavior %s, behaviorClose %s, close code %s (report: %s)" % (
                    case, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode"),
                    r.get("reportfile")))
    failed = failed or bool(bad)
if failed:
    sys.exit("Autobahn: some cases FAILED")
print("Autobahn: no case failed")
PY
