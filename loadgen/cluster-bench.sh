#!/usr/bin/env bash
# Run the fan-out scenario against a cluster of 1 or 2 nodes on this machine,
# the way docs/benchmarks.md ("Cluster") measures:
#
#   loadgen/cluster-bench.sh NODES [loadgen fanout options...]
#   e.g. loadgen/cluster-bench.sh 2 --rates 100,250,500 --step-secs 10
#
# Needs `cargo build --release -p server -p loadgen` first, PostgreSQL on
# 127.0.0.1:5432 (user postgres, trust auth) and `redis-server`. Creates a
# fresh PostgreSQL database and starts a private Redis (no persistence) on a
# free port, starts NODES servers (node a on 127.0.0.1:$PARLEY_BENCH_PORT,
# 18710, node b on the next port) with the abuse limits lifted, runs
# `target/release/loadgen fanout --protocol native` with one --addr and
# --server-pid per node, then stops everything and drops the database.
#
# Pinning (2 cores): 1 node: node on core 0, loadgen on core 1 (as bench.sh).
# 2 nodes: node a on core 0, node b on core 1, loadgen NOT pinned, so it
# shares both cores with the nodes. PostgreSQL and Redis are never pinned;
# their CPU shows in the "other" column.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

nodes="${1:?usage: loadgen/cluster-bench.sh 1|2 [fanout options]}"
shift
case "$nodes" in 1 | 2) ;; *) echo "NODES must be 1 or 2" >&2; exit 2 ;; esac
port="${PARLEY_BENCH_PORT:-18710}"
bin="${PARLEY_BENCH_SERVER_BIN:-target/release/server}"

loadgen/wait-for-quiet.sh   # the machine is shared: let other work settle first

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
dir="$(mktemp -d "${TMPDIR:-/tmp}/parley-cluster.XXXXXX")"
db="parley_bench_$$_$(date +%s)"
redis_port="$(free_port)"
pids=()
redis_pid=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null || true
    for log in "$dir"/node-*.log; do
        [ -e "$log" ] || continue
        errors="$(grep -c -E 'ERROR|WARN' "$log" || true)"
        if [ "${errors:-0}" != 0 ]; then
            echo "$(basename "$log"): $errors errors/warnings; first ones:" >&2
            grep -E 'ERROR|WARN' "$log" | head -3 >&2
        fi
    done
    rm -rf "$dir"
}
trap cleanup EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" >"$dir/redis.log" 2>&1 &
redis_pid=$!
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
for _ in $(seq 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

addr_args=()
for n in $(seq 0 $((nodes - 1))); do
    ids=(a b)
    id="${ids[$n]}"
    node_port=$((port + n))
    # One node: core 0 (loadgen on core 1). Two nodes: a on 0, b on 1.
    taskset -c "$n" "$bin" \
        --addr "127.0.0.1:$node_port" \
        --database-url "postgres://postgres@127.0.0.1:5432/$db" \
        --redis-url "redis://127.0.0.1:$redis_port" --node-id "$id" \
        --rate-per-sec 1000000 --rate-burst 1000000 \
        --signin-per-ip-per-min 1000000 --signin-per-name-per-min 1000000 \
        --max-connections-per-ip 100000 --max-connections-per-user 100000 \
        >"$dir/node-$id.log" 2>&1 &
    pids+=("$!")
    # Start the nodes one after the other: the first applies the migrations.
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$node_port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$node_port/healthz" >/dev/null \
        || { echo "node $id did not become healthy" >&2; cat "$dir/node-$id.log" >&2; exit 1; }
    addr_args+=(--addr "127.0.0.1:$node_port" --server-pid "${pids[-1]}")
done

if [ "$nodes" = 1 ]; then
    pin=(taskset -c 1)
else
    pin=()
fi
"${pin[@]}" target/release/loadgen fanout --protocol native "$@" "${addr_args[@]}"
