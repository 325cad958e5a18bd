#!/usr/bin/env bash
# Builds the mediawiki image (Debian's MediaWiki, nginx and php-fpm, our PHP files and the bundled
# program that starts them); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=mediawiki
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
context="$(stage_program mediawiki)"
# Our PHP files go beside the program (the tag's hash covers them).
rm -rf "$context/php"
cp -r "$CONTAINERS_DIR/mediawiki/php" "$context/php"
finish_image "$context"
