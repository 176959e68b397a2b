#!/usr/bin/env bash
# The demo app's own unit tests, then the whole system end to end: the demo in
# real headless Chromium (playwright-core), through the edge worker in workerd,
# to three real region servers started by the local-world launcher. Screenshots
# and the world's log go to tests/artifacts/ (git-ignored).
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"

node --test demo-app/test/

# One world for the whole file; each test gets its own board and its own
# timeout (in the file: --test-timeout would also cap the whole file).
node --test --test-concurrency=1 tests/e2e/
echo "    screenshots in tests/artifacts/screenshots/"
