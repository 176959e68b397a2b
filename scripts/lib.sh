# Shared helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# One target directory for every script and test, so a binary built by one step
# is found by the next. CI points it outside the clone to reuse compiled deps.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export WRANGLER_SEND_METRICS=false
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

_step_started=0
_step_name=""

# step "name": prints a heading and, at the next step or at `step_done`, how long the last took.
step() {
    step_done
    _step_name="$*"
    _step_started=$(date +%s)
    printf '\n\033[1m==> %s\033[0m\n' "$_step_name"
}

step_done() {
    if [ -n "$_step_name" ]; then
        printf '    (%s: %ss)\n' "$_step_name" "$(( $(date +%s) - _step_started ))"
        _step_name=""
    fi
}

# The version of a crate as resolved in Cargo.lock (first match).
locked_version() {
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# True when `cargo install` already put crate $1 at version $2 on this machine.
cargo_installed() {
    cargo install --list 2>/dev/null | grep -q "^$1 v$2:"
}

# Installs Debian packages that are missing; runs apt-get update only when needed.
apt_ensure() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "    installing ${missing[*]} from Debian"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
