#!/usr/bin/env bash
# Every bench, one after another; each prints its own table (docs/BENCHMARKS.md collects them).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true DEVCLUSTER_LOG=silent
for b in synth package deploy placement lifecycle doubleFailure local iam snapshot tls frontdoor containers volumeFailover pgDump sshkeys sshkeysService filedrop phpapp; do
  echo "=== bench/$b.ts"
  npx tsx "bench/$b.ts"
done
