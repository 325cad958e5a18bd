#!/usr/bin/env bash
# Builds the ferretdb image: our program, FerretDB's Go module zip from the Go module proxy
# (downloaded once into .build/downloads, checked against the sha256 pinned in module.txt) and the
# modules its server is built from, fetched here by `go list` and each checked against the module's
# own go.sum, handed to the image's builder stage as a file proxy (the builder reaches no proxy:
# nothing it compiles comes from anywhere else); --push sends it to the cluster's registry.
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
# The dependencies: what building cmd/ferretdb needs, into a module cache of its own (once per machine).
src="$cache/src"
if [ ! -f "$cache/gomod/.complete" ]; then
  command -v go >/dev/null || die "go is needed to fetch FerretDB's dependencies (Debian's golang-go, 1.24 or newer)"
  rm -rf "$src" "$cache/gomod"
  mkdir -p "$src"
  (cd "$src" && unzip -q "$cache/ferretdb.zip")
  log "fetching FerretDB's dependencies (checked against its go.sum)"
  (cd "$src/github.com/FerretDB/FerretDB@v1.24.2" \
    && GOMODCACHE="$cache/gomod" GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local GOPROXY="$GOPROXY_URL" \
       go list -deps -tags ferretdb_no_postgresql ./cmd/ferretdb >/dev/null) || die "fetching FerretDB's dependencies failed"
  chmod -R u+w "$cache/gomod" "$src"
  rm -rf "$src"
  touch "$cache/gomod/.complete"
fi
rm -rf "$context/goproxy"
cp -al "$cache/gomod/cache/download" "$context/goproxy" 2>/dev/null || cp -a "$cache/gomod/cache/download" "$context/goproxy"
finish_image "$context"
