#!/usr/bin/env bash
# Builds every artifact (worker, SDK package, demo page, native binaries) by
# running each script in scripts/build.d in order. Each skips work that is current.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

for part in "$ROOT"/scripts/build.d/*.sh; do
    step "build $(basename "$part" .sh)"
    bash "$part"
done
step_done
