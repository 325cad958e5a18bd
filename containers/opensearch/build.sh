#!/usr/bin/env bash
# Builds the opensearch image: our program, OpenSearch's jars from Maven Central (jars.txt: each
# downloaded once into .build/downloads and checked against its pinned sha256, laid out as the
# distribution's lib/ and modules/), the modules' descriptors and policies, and the logging
# settings; --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=opensearch
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
MAVEN="${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}"
here="$CONTAINERS_DIR/opensearch"
cache="$PROJECT_ROOT/.build/downloads/opensearch"
mkdir -p "$cache"
context="$(stage_program opensearch)"
home="$context/home"
rm -rf "$home"
mkdir -p "$home/lib"
cp -r "$here/modules" "$here/config" "$home/"
: >"$home/SHA256SUMS"
while read -r dir file path sum; do
  case "$dir" in ''|'#'*) continue ;; esac
  if ! { [ -f "$cache/$file" ] && echo "$sum  $cache/$file" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
    log "downloading $file"
    curl -fsSL --retry 3 -o "$cache/$file.part" "$MAVEN/$path" || die "download of $MAVEN/$path failed"
    echo "$sum  $cache/$file.part" | sha256sum -c --quiet - >/dev/null 2>&1 \
      || { rm -f "$cache/$file.part"; die "$file: sha256 is not the pinned $sum"; }
    mv "$cache/$file.part" "$cache/$file"
  fi
  mkdir -p "$home/$dir"
  ln -f "$cache/$file" "$home/$dir/$file" 2>/dev/null || cp "$cache/$file" "$home/$dir/$file"
  echo "$sum  $dir/$file" >>"$home/SHA256SUMS"
done <"$here/jars.txt"
finish_image "$context"
