#!/usr/bin/env bash
# Builds the Gerrit image: our program, Gerrit's jars from Maven Central (downloaded once into
# .build/downloads, each checked against its pinned sha256) and the launcher's source; --push sends
# it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=gerrit
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
MAVEN="${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}"
here="$CONTAINERS_DIR/gerrit"
cache="$PROJECT_ROOT/.build/downloads/gerrit"
mkdir -p "$cache"
context="$(stage_program gerrit)"
mkdir -p "$context/lib"
: >"$context/lib/SHA256SUMS"
while read -r file path sum; do
  case "$file" in ''|'#'*) continue ;; esac
  if ! { [ -f "$cache/$file" ] && echo "$sum  $cache/$file" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
    log "downloading $file"
    curl -fsSL --retry 3 -o "$cache/$file.part" "$MAVEN/$path" || die "download of $MAVEN/$path failed"
    echo "$sum  $cache/$file.part" | sha256sum -c --quiet - >/dev/null 2>&1 \
      || { rm -f "$cache/$file.part"; die "$file: sha256 is not the pinned $sum"; }
    mv "$cache/$file.part" "$cache/$file"
  fi
  ln -f "$cache/$file" "$context/lib/$file" 2>/dev/null || cp "$cache/$file" "$context/lib/$file"
  echo "$sum  $file" >>"$context/lib/SHA256SUMS"
done <"$here/jars.txt"
cp "$here/launcher/GerritLaunch.java" "$here/log4j.properties" "$context/"
finish_image "$context"
