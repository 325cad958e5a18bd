#!/usr/bin/env bash
# Builds the mariadb image (Debian's MariaDB server and its bundled program); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=mariadb
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program mariadb)"
finish_image "$context"
