#!/usr/bin/env bash
# Wait (up to PARLEY_BENCH_QUIET_WAIT seconds, 300) until the machine's
# processes use less than 15 % of all cores over 2 s, so that other work
# does not skew a benchmark. loadgen reports other processes' CPU anyway.
# Used by loadgen/bench.sh and loadgen/cluster-bench.sh.
set -euo pipefail

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }
quiet_wait="${PARLEY_BENCH_QUIET_WAIT:-300}"
for _ in $(seq "$((quiet_wait / 2))"); do
    read -r b0 i0 < <(busy); sleep 2; read -r b1 i1 < <(busy)
    pct=$(( 100 * (b1 - b0) / (b1 - b0 + i1 - i0 + 1) ))
    [ "$pct" -lt 15 ] && break
    echo "machine busy (${pct}% of all cores); waiting for it to calm down" >&2
done
