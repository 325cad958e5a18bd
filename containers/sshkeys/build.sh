#!/usr/bin/env bash
# Builds the SSH-key service image from its bundled program; --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=sshkeys
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program sshkeys)"
finish_image "$context"
