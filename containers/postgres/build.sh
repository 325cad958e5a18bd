#!/usr/bin/env bash
# Builds the postgres image (Debian's PostgreSQL and its bundled program); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=postgres
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program postgres)"
finish_image "$context"
