#!/usr/bin/env bash
# Builds the hello image (the demo's sample web service); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=hello
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$PROJECT_ROOT/.build/containers/hello"
rm -rf "$context" && mkdir -p "$context"
cp "$CONTAINERS_DIR/hello/server.mjs" "$context/"
finish_image "$context"
