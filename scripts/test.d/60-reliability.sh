#!/usr/bin/env bash
# Reliability (issue 6): a short chaos convergence run (three regions, the edge
# in workerd, SDK clients in headless Chromium and native clients writing while
# seeded faults hit), the hostile-request table against the edge and a region,
# then a short run of every fuzz target. Logs in tests/artifacts/.
#   CHAOS_SEED=N      replays a seed (a failing run prints its seed)
#   CHAOS_DURATION=   length of the chaos phase (default 45s)
#   FUZZ_SECONDS=     per fuzz target (default 30)
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"

cargo build -p chaos --bins

seed="${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "    chaos run, seed $seed"
"$CARGO_TARGET_DIR/debug/chaos" --seed "$seed" --duration "${CHAOS_DURATION:-45s}" \
    --browsers 2 --native-clients 8 --docs 20 --settle-timeout 240s

# One world for the whole table; the test prints a line per request.
cargo test -p chaos --test hostile -- --nocapture

bash tests/chaos/fuzz.sh "${FUZZ_SECONDS:-30}"
