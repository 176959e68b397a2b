#!/usr/bin/env bash
# Fast native tests of every runtime-free crate and of the region server.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"
cargo test --workspace --exclude system-tests
