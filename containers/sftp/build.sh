#!/usr/bin/env bash
# Builds the sftp image from its bundled program and the SSH-key service's host script; --push sends
# it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=sftp
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program sftp)"
cp "$CONTAINERS_DIR/sshkeys/client/devcluster-sshkeys" "$context/devcluster-sshkeys"
finish_image "$context"
