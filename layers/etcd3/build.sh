#!/usr/bin/env bash
# Builds the etcd3 Lambda layer into .build/layers/etcd3/nodejs/node_modules (the layout Lambda's
# Node.js runtime puts on the module path); DEVCLUSTER_BUILD_DIR replaces .build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${DEVCLUSTER_BUILD_DIR:-$here/../../.build}/layers/etcd3/nodejs"
rm -rf "$out" && mkdir -p "$out"
cp "$here/package.json" "$here/package-lock.json" "$out/"
(cd "$out" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error)
rm -f "$out/package.json" "$out/package-lock.json"
# Type declarations, sources maps and docs are not needed at run time.
find "$out/node_modules" \( -name "*.d.ts" -o -name "*.map" -o -name "*.md" -o -name "*.ts" \) -type f -delete
echo "layer etcd3: $(du -sh "$out" | cut -f1)"
