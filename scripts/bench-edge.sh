#!/usr/bin/env bash
# Edge benchmarks (issue 2). Prints figures and ratios; asserts nothing.
#  1. Routing decision cost, natively (criterion).
#  2. Overhead in workerd (wrangler dev): latency and workerd CPU a request pays
#     through the Rust edge, against a plain JavaScript pass-through worker in
#     front of the same origin, in the same run.
#  3. The fastest region killed, then black-holed, under load: errors and stalls
#     through the edge, nginx and HAProxy (Debian packages, each with its own
#     health checks) in front of the same regions, at the same time.
# Usage: scripts/bench-edge.sh [decision|overhead|failover]...  (default: all)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export CI=true

parts=("$@")
[ "${#parts[@]}" -gt 0 ] || parts=(decision overhead failover)
wants() {
    local p
    for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}

if wants overhead || wants failover; then
    step "peers and tools"
    wants failover && apt_ensure nginx haproxy
    [ -x node_modules/.bin/wrangler ] || npm ci --no-fund --no-audit
    step "build (edge worker, load generator)"
    bash scripts/build.d/10-worker.sh
    cargo build --release -p system-tests --bin edge-bench
fi

if wants decision; then
    step "routing decision cost (criterion, native)"
    cargo bench -p edge-routing --bench routing -- --noplot
fi

bench="$CARGO_TARGET_DIR/release/edge-bench"
if wants overhead; then
    step "overhead against a JS pass-through worker (wrangler dev)"
    "$bench" overhead --requests 600
fi
if wants failover; then
    step "region kill and black hole: the edge, nginx and HAProxy side by side"
    "$bench" failover
fi
step_done
