#!/usr/bin/env bash
# The SDK in real headless Chromium: wasm-bindgen-test (IndexedDB, BroadcastChannel,
# Web Locks, fetch), then the built npm package imported from a Vite build and
# from a plain <script type="module"> page.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT/client-sdk"

export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
# wasm-bindgen-test-runner reads webdriver.json from the working directory.
cargo test -p client-sdk --target wasm32-unknown-unknown

cd "$ROOT"
node client-sdk/tests/package-check.mjs
