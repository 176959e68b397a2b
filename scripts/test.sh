#!/usr/bin/env bash
# Runs every test of the project: installs what is missing, builds the
# artifacts, then runs each stage in scripts/test.d in order.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh"

for stage in "$ROOT"/scripts/test.d/*.sh; do
    step "test stage $(basename "$stage" .sh)"
    bash "$stage"
done
step_done
echo "all test stages passed"
