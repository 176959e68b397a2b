#!/usr/bin/env bash
# Native binaries the system tests and the demo start as processes.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"
cargo build -p region-server -p local-world
