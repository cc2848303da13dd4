#!/usr/bin/env bash
# Build Parley and run it on this machine.
#
# Builds the release server and web app with scripts/build-site.sh (the
# same bundle as `cargo leptos build --release --split`, without installing
# cargo-leptos, Chromium or the test tools: scripts/test.sh does that).
#
# Environment (all optional):
#   LEPTOS_SITE_ADDR  where to listen (127.0.0.1:3000)
#   DATABASE_URL      SQLite database (sqlite://chat.db, created if missing)
#   CARGO_TARGET_DIR  cargo's target directory (target)
#   LEPTOS_SITE_ROOT  where the built site goes and is served from (target/site)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build-site.sh

export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
export LEPTOS_SITE_PKG_DIR=pkg
export LEPTOS_OUTPUT_NAME=parley
export LEPTOS_ENV="${LEPTOS_ENV:-PROD}"

printf '\nParley is starting on \033[1mhttp://%s\033[0m (Ctrl-C to stop)\n\n' "$LEPTOS_SITE_ADDR"
exec "${CARGO_TARGET_DIR:-target}/release/server"
