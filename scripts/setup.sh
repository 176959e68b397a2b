#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine and skips what is
# already present, so a warm machine passes through in seconds.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step "Rust target wasm32-unknown-unknown"
rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown

step "Rust standard library sources (the SDK's wasm rebuilds std for size)"
rustup component list --installed | grep -q '^rust-src' \
    || rustup component add rust-src

step "wasm-bindgen CLI (must equal the wasm-bindgen crate in Cargo.lock)"
wb_version="$(locked_version wasm-bindgen)"
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb_version"; then
    # Not --locked: the CLI's own lockfile pins a webpki-roots release the
    # registry reachable here does not serve.
    cargo install wasm-bindgen-cli --version "$wb_version"
fi

step "worker-build (same version as the worker crate)"
worker_version="$(locked_version worker)"
cargo_installed worker-build "$worker_version" \
    || cargo install worker-build --version "$worker_version" --locked

step "npm packages (wrangler/workerd, wasm-opt, bundlers, browser driver, benchmark peers)"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-fund --no-audit
fi

step "Chromium and ChromeDriver from Debian (browser tests)"
apt_ensure chromium chromium-driver

step_done
