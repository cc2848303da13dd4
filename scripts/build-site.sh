#!/usr/bin/env bash
# Build the release server and web app the way `cargo leptos build --release
# --split` does, without cargo-leptos (10 minutes to install on a quiet
# 2-core machine, over 20 on a busy one): tools/site-build runs the two
# cargo builds, splits the wasm, runs wasm-bindgen (as a library, at the
# version Cargo.lock pins) and wasm-opt, and writes the style sheet and
# assets. See tools/site-build/src/main.rs for each step and what it
# mirrors.
#
# Environment (all optional):
#   CARGO_TARGET_DIR   cargo's target directory (target); the server ends up
#                      in $CARGO_TARGET_DIR/release/server
#   LEPTOS_SITE_ROOT   where the site goes (target/site, as cargo-leptos)
#
# Needs: rustup, Node.js with npm. Installs when missing: the
# wasm32-unknown-unknown target; binaryen's wasm-opt (npm, the version
# end2end/package-lock.json pins) and the tool itself, both under
# $CARGO_TARGET_DIR/site-build/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
# parley_log, parley_die, parley_lock_version, parley_ensure_wasm_target.
. scripts/common.sh

# rustup, cargo and the wasm target (set -e stops here if one is missing).
parley_ensure_wasm_target
command -v npm >/dev/null 2>&1 || parley_die "npm not found: Node.js with npm is needed (for binaryen's wasm-opt)"

target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target/site-build"
tools="$(cd "$target/site-build" && pwd)"

# wasm-opt: the npm package `binaryen`, at the version the end2end packages
# pin (what scripts/setup.sh puts on PATH for cargo-leptos).
binaryen_version="$(node -p 'require("./end2end/package-lock.json").packages["node_modules/binaryen"]?.version')"
[[ "$binaryen_version" =~ ^[0-9] ]] || parley_die "cannot find the binaryen version in end2end/package-lock.json"
binaryen="$tools/binaryen"
if [ "$(cat "$binaryen/.version" 2>/dev/null || true)" != "$binaryen_version" ] \
    || [ ! -x "$binaryen/node_modules/.bin/wasm-opt" ]; then
    parley_log "installing wasm-opt (npm binaryen@$binaryen_version)"
    rm -rf "$binaryen"
    mkdir -p "$binaryen"
    npm install --prefix "$binaryen" --no-audit --no-fund --no-save --loglevel=error "binaryen@$binaryen_version"
    echo "$binaryen_version" >"$binaryen/.version"
fi
export PATH="$binaryen/node_modules/.bin:$PATH"

# wasm-bindgen's output must come from the version the app links against.
want="$(parley_lock_version Cargo.lock wasm-bindgen)"
have="$(parley_lock_version tools/site-build/Cargo.lock wasm-bindgen-cli-support)"
[ -n "$want" ] || parley_die "cannot find the wasm-bindgen version in Cargo.lock"
if [ "$want" != "$have" ]; then
    parley_die "Cargo.lock pins wasm-bindgen $want, but tools/site-build uses wasm-bindgen-cli-support ${have:-(none)}:
       set wasm-bindgen-cli-support = \"=$want\" in tools/site-build/Cargo.toml,
       then run \`cargo update -p wasm-bindgen-cli-support\` in tools/site-build"
fi

# The tool, rebuilt only when its sources changed since the last build.
tool="$tools/build/release/site-build"
stale=
if [ ! -x "$tool" ]; then
    stale=1
else
    while IFS= read -r -d '' file; do
        if [ "$file" -nt "$tool" ]; then
            stale=1
            break
        fi
    done < <(find tools/site-build -path tools/site-build/target -prune -o -type f -print0)
fi
if [ -n "$stale" ]; then
    parley_log "building tools/site-build (wasm-bindgen $want; once)"
    cargo build --release --locked --manifest-path tools/site-build/Cargo.toml --target-dir "$tools/build"
    # Cargo leaves the binary alone when nothing needed rebuilding.
    touch "$tool"
fi
built_with="$("$tool" --wasm-bindgen-version)"
[ "$built_with" = "$want" ] || parley_die "tools/site-build was built with wasm-bindgen $built_with, Cargo.lock pins $want"

parley_log "building the release server and site (like cargo leptos build --release --split)"
cd "$root"
"$tool" build
