#!/usr/bin/env bash
# The edge worker in workerd (wrangler dev) in front of echo origins behind
# fault proxies: routing, failover under load, readmission, proxy hygiene,
# static assets, configuration errors. The worker itself is built by
# scripts/build.d/10-worker.sh before any test stage runs.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"
# One test binary at a time: each starts its own wrangler dev and load, and the
# machine has two cores.
cargo test -p system-tests --test edge_failover --test edge_proxy --test edge_config -- --test-threads=1
