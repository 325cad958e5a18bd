#!/usr/bin/env bash
# Builds the etcd-amb image (our TLS forwarder's bundle, etcd's gateway from Debian, the start
# script); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=etcd-amb
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program etcd-amb)"
cp "$(dirname "$0")/etcd-amb.sh" "$context/"
finish_image "$context"
