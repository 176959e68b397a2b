#!/usr/bin/env bash
# Starts the whole local world: three regions behind fault proxies, the edge
# worker in workerd (wrangler dev) serving the demo app, and the chaos controls.
# Installs and builds whatever is missing first. Ctrl-C stops everything.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh"
step_done
exec "$CARGO_TARGET_DIR/debug/local-world" "$@"
