# Shell functions the scripts share; sourcing this file only defines them.
#   . scripts/common.sh

parley_log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
parley_die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; return 1; }

# The version of package $2 in the Cargo.lock $1 (empty when absent).
parley_lock_version() {
    awk -v name="$2" '
        $0 == "name = \"" name "\"" { found = 1; next }
        found && /^version = / { gsub(/version = |"/, ""); print; exit }
    ' "$1"
}

# rustup and cargo on PATH, and the wasm32-unknown-unknown target.
parley_ensure_wasm_target() {
    command -v rustup >/dev/null 2>&1 || parley_die "rustup not found: install it from https://rustup.rs"
    command -v cargo >/dev/null 2>&1 || parley_die "cargo not found on PATH (is ~/.cargo/bin on PATH?)"
    # (The list is captured first: `grep -q` closing a pipe early would
    # fail the pipeline under pipefail.)
    local targets
    targets="$(rustup target list --installed)"
    if ! grep -qx wasm32-unknown-unknown <<<"$targets"; then
        parley_log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
}
