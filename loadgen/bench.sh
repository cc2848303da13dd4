#!/usr/bin/env bash
# Run one loadgen scenario against a fresh server, the way docs/benchmarks.md
# measures: server pinned to core 0, load generator pinned to core 1.
#
#   loadgen/bench.sh SCENARIO [loadgen options...]
#   e.g. loadgen/bench.sh fanout --protocol group --rates 100,500
#        loadgen/bench.sh rooms --change-share 0.25   # scenario 2 with changes
#        loadgen/bench.sh reactions --members 1000 --rate 500 --secs 20
#
# Needs `cargo build --release -p server -p loadgen` first (the binaries
# are taken from $CARGO_TARGET_DIR/release when it is set). Starts
# target/release/server on 127.0.0.1:$PARLEY_BENCH_PORT (18700) with a new
# SQLite database in a temporary folder and the abuse limits lifted, runs
# target/release/loadgen with --addr and --server-pid filled in, then stops
# the server and removes the database. Extra server flags:
# PARLEY_BENCH_SERVER_ARGS="--outbound-queue 256"; another server binary:
# PARLEY_BENCH_SERVER_BIN=path/to/server. PARLEY_BENCH_METRICS=1 prints the
# server's own latency histograms (GET /metrics) at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

port="${PARLEY_BENCH_PORT:-18700}"
bin="${CARGO_TARGET_DIR:-target}/release"

loadgen/wait-for-quiet.sh   # the machine is shared: let other work settle first
if [ "${1:-}" = idle ]; then
    # Scenario 3 takes its RSS baseline after the sign-ins. mimalloc keeps
    # memory a thread freed resident until that thread allocates again, so
    # the sign-ins' argon2 buffers (19 MiB each, on their own threads) would
    # stay in the baseline and the sockets would reuse them unseen.
    export MIMALLOC_PURGE_DELAY=0
fi
read -r -a extra <<<"${PARLEY_BENCH_SERVER_ARGS:-}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")"

taskset -c 0 "${PARLEY_BENCH_SERVER_BIN:-$bin/server}" \
    --addr "127.0.0.1:$port" \
    --database-url "sqlite://$dir/bench.db" \
    --rate-per-sec 1000000 --rate-burst 1000000 \
    --signin-per-ip-per-min 1000000 --signin-per-name-per-min 1000000 \
    --max-connections-per-ip 100000 --max-connections-per-user 100000 \
    "${extra[@]}" >"$dir/server.log" 2>&1 &
pid=$!
cleanup() {
    if [ -n "${PARLEY_BENCH_METRICS:-}" ]; then
        curl -sf "http://127.0.0.1:$port/metrics" |
            grep -E '^parley_(delivery_latency|store_commit)_seconds' >&2 || true
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    errors="$(grep -c ERROR "$dir/server.log" || true)"
    if [ "${errors:-0}" != 0 ]; then
        echo "server logged $errors errors; first ones:" >&2
        grep ERROR "$dir/server.log" | head -3 >&2
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

taskset -c 1 "$bin/loadgen" "$@" --addr "127.0.0.1:$port" --server-pid "$pid"
