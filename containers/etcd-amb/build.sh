#!/usr/bin/env bash
# Builds the etcd-amb image (etcd's gateway from Debian); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=etcd-amb
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
# Everything comes from Debian's packages: the build context is empty.
context="$PROJECT_ROOT/.build/containers/etcd-amb"
rm -rf "$context" && mkdir -p "$context"
finish_image "$context"
