#!/usr/bin/env bash
# SDK benchmark: replays the automerge-paper trace (one keystroke per write) through
# the SDK, @automerge/automerge and Yjs + y-indexeddb in headless Chromium and prints
# times, percentiles, durability, storage, memory, ratios and gzipped sizes.
# Usage: scripts/bench-sdk.sh [variant ...]  (sdk, sdk-per-frame, sdk-change-per-write, automerge, yjs+y-indexeddb)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/build.d/20-sdk.sh
exec node client-sdk/bench/run.mjs "$@"
