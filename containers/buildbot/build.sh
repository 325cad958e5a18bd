#!/usr/bin/env bash
# Builds the buildbot image: our program and Buildbot's master configuration, its twistd files and
# the hash-pinned requirements; --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=buildbot
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program buildbot)"
mkdir -p "$context/python"
cp "$CONTAINERS_DIR/buildbot/"{requirements.txt,master.cfg,master.tac,worker.tac} "$context/python/"
finish_image "$context"
