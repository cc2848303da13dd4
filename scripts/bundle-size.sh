#!/usr/bin/env bash
# Print the release web app's size, gzip-compressed, against its 480 KiB
# target (the README reports it). Run after `cargo leptos build --release --split`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pkg=target/site/pkg
total=0
for file in "$pkg/parley.wasm" "$pkg/parley.js"; do
    [ -f "$file" ] || { echo "no $file: run cargo leptos build --release --split first" >&2; exit 1; }
    raw=$(stat -c %s "$file")
    gz=$(gzip -9 -c "$file" | wc -c)
    total=$((total + gz))
    printf '%-28s %9d B raw %9d B gzip\n' "$file" "$raw" "$gz"
done
kib=$(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1024 }')
verdict=$([ "$total" -le $((480 * 1024)) ] && echo "within" || echo "OVER")
echo "web app, gzip -9: $total B = $kib KiB ($verdict the 480 KiB target)"
