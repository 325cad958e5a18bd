#!/usr/bin/env bash
# Builds the apiproxy image from its bundled program; --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=apiproxy
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program apiproxy)"
finish_image "$context"
