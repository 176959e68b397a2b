#!/usr/bin/env bash
# Load and soak on loopback: sync rounds (edit -> acknowledged) straight to a
# region and through the edge in workerd, raw HTTP with wrk, then a soak through
# the edge sampling the region servers' memory. Prints figures (recorded in
# tests/chaos/README.md). Extra arguments go to bench-load (see --help), e.g.
#   scripts/bench-load.sh --phase 20s --soak 10m
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step "wrk from Debian"
apt_ensure wrk

step "build (release region server; worker, SDK and demo as for the tests)"
"$ROOT/scripts/setup.sh" > /dev/null
"$ROOT/scripts/build.sh"
# Release builds of both sides: a debug automerge would measure itself.
cargo build --release -p region-server -p chaos

step "benchmark"
"$CARGO_TARGET_DIR/release/bench-load" --region-server "$CARGO_TARGET_DIR/release/region-server" "$@"
step_done
