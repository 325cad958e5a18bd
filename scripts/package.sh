#!/usr/bin/env bash
# Builds the functions and packages the service (cluster template + functions) with osls, offline:
# no AWS account, login or network. Output: .serverless/ (zips and CloudFormation templates).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsx scripts/build.ts
# osls prints the AWS SDK's Node-version notice otherwise; it says nothing about the package.
AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true npx sls package "$@"
