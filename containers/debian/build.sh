#!/usr/bin/env bash
# The Debian base images Containerfiles start from (FROM debian:bookworm-slim or trixie-slim), made from
# Debian's packages with mmdebstrap and imported under the official name, so builds need no image
# registry and a Containerfile builds the same here as on a machine that pulls the real image.
# usage: build.sh [bookworm|trixie] [--force]  (default: the release lib/image.sh names; skipped when there)
set -euo pipefail
IMAGE_NAME=debian
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"

release=$BASE_RELEASE; force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    bookworm|trixie) release="$a" ;;
    *) die "usage: build.sh [bookworm|trixie] [--force]" ;;
  esac
done
image="docker.io/library/debian:$release-slim"
if [ $force = 0 ] && image_exists "$image"; then
  log "reusing $image"
  exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (scripts/install-deps.sh installs it)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)
log "making $image with mmdebstrap (about a minute, once)"
# minbase: essential packages and apt only, like the official slim image.
mmdebstrap --quiet --variant=minbase \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "$release" "$tmp/debian.tar" || die "mmdebstrap failed"
podman import --quiet "$tmp/debian.tar" "$image" >/dev/null || die "podman import failed"
log "made $image in $(( $(date +%s) - t0 )) s"
