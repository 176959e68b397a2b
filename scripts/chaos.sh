#!/usr/bin/env bash
# Long chaos convergence runs: builds what the world needs, then runs
# `chaos` with your arguments (see --help), e.g.
#   scripts/chaos.sh --duration 10m --seed 42
#   scripts/chaos.sh --duration 30m --browsers 4 --native-clients 16 --docs 50
#   scripts/chaos.sh --seed 42 --plan-only      # the fault schedule of a seed
# Without --seed a random seed is drawn and printed; a failing seed replays
# the same schedule. Logs of each run stay in tests/artifacts/chaos/.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step "build (worker, SDK package, region server, chaos)"
"$ROOT/scripts/setup.sh" > /dev/null
"$ROOT/scripts/build.sh"
cargo build -p chaos --bins

step "chaos"
"$CARGO_TARGET_DIR/debug/chaos" "$@"
step_done
