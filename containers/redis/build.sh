#!/usr/bin/env bash
# Builds the redis image from its bundled program; --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=redis
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program redis)"
finish_image "$context"
