#!/usr/bin/env bash
# Builds the phpapp image (Debian's nginx and php-fpm, the sample application and the bundled
# program that starts them); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=phpapp
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program phpapp)"
# The application's PHP files go beside the program (the tag's hash covers them).
rm -rf "$context/app"
cp -r "$CONTAINERS_DIR/phpapp/app" "$context/app"
finish_image "$context"
