#!/usr/bin/env bash
# Region server benchmark: sync rounds/s and p50/p99 latency side by side with an
# automerge-repo sync server (Node, from the root node_modules), replication lag
# under load across three regions, and convergence time after a partition heals.
# Prints the figures; extra arguments go to the benchmark (see --help), e.g.
#   scripts/bench-region.sh --docs 500 --workers 16 --seconds 5
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step "npm packages (automerge-repo peer)"
if [ ! -d node_modules/@automerge/automerge-repo ]; then
    npm ci --no-fund --no-audit
fi

step "build (release)"
cargo bench -p region-server --bench region --no-run

step "benchmark"
cargo bench -p region-server --bench region -- "$@"
step_done
