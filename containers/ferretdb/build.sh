#!/usr/bin/env bash
# Builds the ferretdb image: our program and FerretDB's Go module zip from the Go module proxy
# (downloaded once into .build/downloads, checked against the sha256 pinned in module.txt; the image
# checks it again and builds the server in its builder stage); --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=ferretdb
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
GOPROXY_URL="${GOPROXY_URL:-https://proxy.golang.org}"
here="$CONTAINERS_DIR/ferretdb"
cache="$PROJECT_ROOT/.build/downloads/ferretdb"
mkdir -p "$cache"
context="$(stage_program ferretdb)"
: >"$context/SHA256SUMS"
while read -r file path sum; do
  case "$file" in ''|'#'*) continue ;; esac
  if ! { [ -f "$cache/$file" ] && echo "$sum  $cache/$file" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
    log "downloading $file"
    curl -fsSL --retry 3 -o "$cache/$file.part" "$GOPROXY_URL/$path" || die "download of $GOPROXY_URL/$path failed"
    echo "$sum  $cache/$file.part" | sha256sum -c --quiet - >/dev/null 2>&1 \
      || { rm -f "$cache/$file.part"; die "$file: sha256 is not the pinned $sum"; }
    mv "$cache/$file.part" "$cache/$file"
  fi
  ln -f "$cache/$file" "$context/$file" 2>/dev/null || cp "$cache/$file" "$context/$file"
  echo "$sum  $file" >>"$context/SHA256SUMS"
done <"$here/module.txt"
finish_image "$context"
