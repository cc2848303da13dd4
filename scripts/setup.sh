#!/usr/bin/env bash
# Install what building and testing Parley needs, skipping whatever is
# already present. Safe to run again and again.
#
#   scripts/setup.sh          install
#   . scripts/setup.sh        install, and keep end2end/node_modules/.bin
#                             (wasm-opt, playwright) on PATH in this shell
#
# Needs: rustup, Node.js >= 20 with npm. Installs: the wasm32 target,
# cargo-leptos, wasm-bindgen-cli (the version Cargo.lock pins), Chromium
# (Debian package) and the end2end npm packages. Running Parley needs no
# database server (it uses SQLite); the tests also use PostgreSQL and Redis
# (parley_ensure_services, called by scripts/test.sh).

parley_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# parley_log, parley_die, parley_lock_version, parley_ensure_wasm_target.
. "$parley_root/scripts/common.sh"

# Run as root, or through sudo when there is one.
parley_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        parley_die "need root to run: $*"
    fi
}

parley_ensure_rust() {
    parley_ensure_wasm_target
    # `cargo fmt` and `cargo clippy` are used by scripts/test.sh. (The list
    # is captured first, as in parley_ensure_wasm_target.)
    local components component
    components="$(rustup component list --installed)"
    for component in rustfmt clippy; do
        if ! grep -q "^$component" <<<"$components"; then
            parley_log "adding the $component component"
            rustup component add "$component"
        fi
    done
}

parley_ensure_cargo_leptos() {
    if cargo leptos --version >/dev/null 2>&1; then
        return 0
    fi
    local toolchains
    toolchains="$(rustup toolchain list)"
    if ! grep -q '^nightly' <<<"$toolchains"; then
        parley_log "installing the nightly toolchain (to build cargo-leptos)"
        rustup toolchain install nightly --profile minimal
    fi
    parley_log "installing cargo-leptos (takes a few minutes)"
    # no_downloads: use wasm-bindgen and wasm-opt from PATH rather than
    # fetching binaries at build time.
    cargo +nightly install cargo-leptos --locked --features no_downloads
}

# The wasm-bindgen version Cargo.lock pins; the CLI must match it exactly.
parley_wasm_bindgen_version() {
    parley_lock_version "$parley_root/Cargo.lock" wasm-bindgen
}

parley_ensure_wasm_bindgen() {
    local want have
    want="$(parley_wasm_bindgen_version)"
    [ -n "$want" ] || parley_die "cannot find the wasm-bindgen version in Cargo.lock"
    have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
    if [ "$have" != "$want" ]; then
        parley_log "installing wasm-bindgen-cli $want (found: ${have:-none})"
        cargo install wasm-bindgen-cli --version "$want"
    fi
}

parley_ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return 0
    fi
    if command -v apt-get >/dev/null 2>&1; then
        parley_log "installing Chromium (Debian package)"
        parley_as_root apt-get update
        parley_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
    else
        # Not Debian: the Playwright config falls back to Playwright's own build.
        parley_log "installing Playwright's Chromium"
        (cd "$parley_root/end2end" && npx playwright install --with-deps chromium)
    fi
}

# Emoji in the browser suite's screenshots (reactions, emoji-only
# messages) need a colour emoji font; Debian's Chromium brings none.
parley_ensure_emoji_font() {
    if [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || ! command -v apt-get >/dev/null 2>&1; then
        return 0
    fi
    parley_log "installing the Noto Color Emoji font (Debian package)"
    parley_as_root apt-get update
    parley_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-noto-color-emoji
}

# Chinese, Japanese and Korean text in the browser suite's screenshots
# (display names, room titles) needs a CJK font; without one Chromium
# draws empty boxes where a user in China reads their names.
parley_ensure_cjk_font() {
    if [ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 \
        || ! command -v apt-get >/dev/null 2>&1; then
        return 0
    fi
    parley_log "installing the Noto CJK fonts (Debian package)"
    parley_as_root apt-get update
    parley_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-noto-cjk
}

parley_ensure_node_modules() {
    command -v node >/dev/null 2>&1 || parley_die "Node.js >= 20 is needed for the browser tests"
    local major
    major="$(node --version | sed -E 's/^v([0-9]+).*/\1/')"
    [ "$major" -ge 20 ] || parley_die "Node.js >= 20 is needed (found $(node --version))"

    local dir="$parley_root/end2end"
    # npm writes node_modules/.package-lock.json on every install: when it is
    # missing or older than package-lock.json, the packages are stale.
    if [ ! -f "$dir/node_modules/.package-lock.json" ] \
        || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ] \
        || [ ! -x "$dir/node_modules/.bin/wasm-opt" ]; then
        parley_log "installing the end2end npm packages (npm ci)"
        (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    fi
}

# Is something listening on 127.0.0.1:$1?
parley_listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The services the database and cluster tests use: PostgreSQL on
# 127.0.0.1:5432 and Redis (the tests start redis-server processes of their
# own; the machine's instance on 6379 is started too, for development).
# Started when installed but not running, never silently skipped.
parley_ensure_services() {
    if ! parley_listening 5432; then
        command -v pg_ctlcluster >/dev/null 2>&1 \
            || parley_die "PostgreSQL is not running on 127.0.0.1:5432 and is not installed (apt-get install postgresql)"
        parley_log "starting PostgreSQL"
        parley_as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        parley_log "installing redis-server (Debian package)"
        parley_as_root apt-get update
        parley_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
    fi
    if ! parley_listening 6379; then
        parley_log "starting Redis"
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
    fi
    local i
    for i in $(seq 50); do
        parley_listening 5432 && return 0
        sleep 0.2
    done
    parley_die "PostgreSQL did not come up on 127.0.0.1:5432"
}

parley_setup() {
    parley_ensure_rust
    parley_ensure_node_modules
    parley_ensure_cargo_leptos
    parley_ensure_wasm_bindgen
    parley_ensure_chromium
    parley_ensure_emoji_font
    parley_ensure_cjk_font
    # wasm-opt (from the binaryen package) is what cargo-leptos runs on the
    # release wasm.
    case ":$PATH:" in
        *":$parley_root/end2end/node_modules/.bin:"*) ;;
        *) export PATH="$parley_root/end2end/node_modules/.bin:$PATH" ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    parley_setup
    parley_log "all set"
else
    parley_setup
fi
