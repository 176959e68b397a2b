#!/usr/bin/env bash
# Builds the edge worker (edge-worker/build/index.js) with worker-build, using
# the installed wasm-bindgen, npm's wasm-opt and esbuild so nothing is
# downloaded. wrangler.toml runs this on every `wrangler dev` start, so it
# returns at once when the output is newer than every input.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"

# wrangler refuses an assets directory that does not exist; the demo build fills it.
mkdir -p demo-app/dist
[ -e demo-app/dist/_headers ] || cp edge-worker/static/_headers demo-app/dist/_headers

out=edge-worker/build/index.js
inputs=(edge-worker/src edge-worker/routing/src edge-worker/Cargo.toml edge-worker/routing/Cargo.toml edge-worker/lean-entry.mjs Cargo.lock)
if [ -f "$out" ] && [ -z "$(find "${inputs[@]}" -newer "$out" -print -quit)" ]; then
    echo "    edge worker is up to date"
    exit 0
fi

(
    cd edge-worker
    # Unminified so that lean-entry.mjs can find the entry it replaces; it minifies.
    NO_MINIFY=1 \
    WASM_BINDGEN_BIN=wasm-bindgen \
    WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt" \
    ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild" \
        worker-build --release
)
node edge-worker/lean-entry.mjs "$out"
