#!/usr/bin/env bash
# Builds the cassandra image: our program and Cassandra's jars from Maven Central (jars.txt: each
# downloaded once into .build/downloads and checked against its pinned sha256, into lib/) with the
# logging settings; --push sends it to the cluster's registry.
set -euo pipefail
IMAGE_NAME=cassandra
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
MAVEN="${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}"
here="$CONTAINERS_DIR/cassandra"
cache="$PROJECT_ROOT/.build/downloads/cassandra"
mkdir -p "$cache"
context="$(stage_program cassandra)"
home="$context/home"
rm -rf "$home"
mkdir -p "$home/lib"
cp -r "$here/conf" "$home/"
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
