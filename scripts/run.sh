#!/usr/bin/env bash
# Build Parley and run it on this machine.
#
# Environment (all optional):
#   LEPTOS_SITE_ADDR  where to listen (127.0.0.1:3000)
#   DATABASE_URL      SQLite database (sqlite://chat.db, created if missing)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Installs anything missing and puts wasm-opt on PATH.
. scripts/setup.sh

cargo leptos build --release --split

export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
export LEPTOS_SITE_ROOT=target/site
export LEPTOS_SITE_PKG_DIR=pkg
export LEPTOS_OUTPUT_NAME=parley
export LEPTOS_ENV="${LEPTOS_ENV:-PROD}"

printf '\nParley is starting on \033[1mhttp://%s\033[0m (Ctrl-C to stop)\n\n' "$LEPTOS_SITE_ADDR"
exec "${CARGO_TARGET_DIR:-target}/release/server"
