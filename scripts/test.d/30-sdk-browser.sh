#!/usr/bin/env bash
# The SDK in real headless Chromium: wasm-bindgen-test (IndexedDB, BroadcastChannel,
# Web Locks, fetch, sync against a real `region-server --dev` on loopback), then the
# built npm package imported from a Vite build and from a plain <script type="module">.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"

region_bin="${REGION_SERVER_BIN:-$CARGO_TARGET_DIR/debug/region-server}"
[ -x "$region_bin" ] || cargo build -p region-server
data_dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$region_bin" --region sdk-test --dev --listen "127.0.0.1:$port" --data-dir "$data_dir" > "$data_dir/region.log" 2>&1 &
region_pid=$!
cleanup() {
    kill "$region_pid" 2>/dev/null || true
    wait "$region_pid" 2>/dev/null || true
    rm -rf "$data_dir"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
    kill -0 "$region_pid" 2>/dev/null || { cat "$data_dir/region.log"; echo "region-server exited" >&2; exit 1; }
    sleep 0.1
done

cd "$ROOT/client-sdk"
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
# Baked into the test build (the browser cannot read the environment).
export EDGESYNC_TEST_REGION="http://127.0.0.1:$port"
# wasm-bindgen-test-runner reads webdriver.json from the working directory.
cargo test -p client-sdk --target wasm32-unknown-unknown

cd "$ROOT"
node client-sdk/tests/package-check.mjs
