#!/usr/bin/env bash
# Everything CI checks, in order: formatting, lints, unit and integration
# tests on SQLite, the integration tests again on PostgreSQL (the cluster
# tests run two server processes on PostgreSQL and Redis), the Autobahn
# WebSocket testsuite, the browser suite against a freshly built release
# server, and the load smoke check.
#
# Environment:
#   PARLEY_TEST_ADDR   address for the server under test (127.0.0.1:3000)
#   PARLEY_SKIP_E2E=1  skip the browser suite
#
# PostgreSQL (127.0.0.1:5432, user postgres, trust auth) and redis-server
# are started or installed when missing; each test makes a fresh database
# and drops it afterwards.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Installs anything missing and puts wasm-opt on PATH.
. scripts/setup.sh

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings
# The browser-only code, as the wasm bundle compiles it.
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

step "services for the database and cluster tests"
parley_ensure_services

step "cargo test (SQLite; cluster tests on PostgreSQL + Redis)"
# Not `frontend` (the wasm entry, no tests of its own): building it
# natively beside the server would turn the browser feature on in the
# server's copy of the app, whose pages then run browser-only code.
cargo test --workspace --exclude frontend

step "cargo test -p server (the same integration tests on PostgreSQL)"
PARLEY_TEST_DATABASE=postgres cargo test -p server --tests

step "Autobahn testsuite (server/src/ws/ through an echo server; scripts/autobahn.sh)"
# Installs the suite (Python 2.7) when missing; fails on any FAILED case.
scripts/autobahn.sh

load_smoke() {
    step "load smoke (loadgen smoke: scenarios 1 and 2, zero loss)"
    # Uses the release server `cargo leptos build` made (a plain `cargo
    # build` of the server would serve pages that ask for the wrong wasm
    # file name, and rebuild it for nothing).
    cargo build --release -p loadgen
    bin="${CARGO_TARGET_DIR:-target}/release"
    "$bin/loadgen" smoke --server-bin "$bin/server"
}

if [ "${PARLEY_SKIP_E2E:-}" = 1 ]; then
    step "skipping the browser suite (PARLEY_SKIP_E2E=1)"
    cargo leptos build --release --split
    scripts/bundle-size.sh
    load_smoke
    exit 0
fi

step "browser suite (cargo leptos end-to-end --release --split)"
addr="${PARLEY_TEST_ADDR:-127.0.0.1:3000}"
host="${addr%:*}"
port="${addr##*:}"
case "$port" in
    5432 | 6379 | 4222 | 5672 | 3306 | 1883)
        echo "PARLEY_TEST_ADDR=$addr: port $port belongs to another service; pick another" >&2
        exit 1
        ;;
esac
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "Something is already listening on $addr; stop it or set PARLEY_TEST_ADDR" >&2
    exit 1
fi

db_dir="$(mktemp -d "${TMPDIR:-/tmp}/parley-e2e.XXXXXX")"
trap 'rm -rf "$db_dir"' EXIT

# Single-node mode with a fresh database; nothing from the caller's
# environment may point the server at a shared store.
unset REDIS_URL
export DATABASE_URL="sqlite://$db_dir/parley.db"
export LEPTOS_SITE_ADDR="$addr"
# The browser suite's server admin (end2end/tests/admin.spec.ts).
export ADMINS="${PARLEY_E2E_ADMIN:-e2e_admin}"
export PLAYWRIGHT_BASE_URL="http://$addr"

# `cargo leptos end-to-end` exits 0 when the build fails (cargo-leptos
# 0.3.11 returns early without an error), so build first: `build` does fail.
cargo leptos build --release --split
scripts/bundle-size.sh

# And make sure Playwright really ran and passed.
last_run=end2end/test-results/.last-run.json
rm -f "$last_run"
cargo leptos end-to-end --release --split
if ! grep -q '"status": *"passed"' "$last_run" 2>/dev/null; then
    echo "The browser suite did not pass (no passing $last_run)" >&2
    exit 1
fi

load_smoke
