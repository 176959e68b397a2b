#!/usr/bin/env bash
# Builds the demo page into demo-app/dist (served by the edge as static assets)
# with Vite, from the SDK's npm package in client-sdk/pkg (20-sdk.sh builds it
# first). Skips the build when no input changed since the last one.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT/demo-app"

[ -f ../client-sdk/pkg/.build-stamp ] || { echo "client-sdk/pkg is not built; run scripts/build.d/20-sdk.sh" >&2; exit 1; }

# The app depends on the SDK as a package ("edgesync": "file:../client-sdk/pkg"):
# npm links it into demo-app/node_modules. Vite and the rest come from the root.
if [ ! -e node_modules/edgesync/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-fund --no-audit
fi

# Outside dist/, which the edge serves to anyone.
stamp_file=node_modules/.cache/edgesync-demo/build-stamp
stamp="$(find src sw public index.html vite.config.js package.json package-lock.json \
    ../client-sdk/pkg/.build-stamp ../scripts/build.d/30-demo.sh \
    -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [ -f dist/index.html ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    echo "    demo-app/dist is current"
    exit 0
fi

vite build --logLevel warn
mkdir -p "$(dirname "$stamp_file")"
echo "$stamp" > "$stamp_file"
echo "    demo-app/dist built: $(find dist -type f | wc -l) files, $(du -sk dist | cut -f1) KiB"
