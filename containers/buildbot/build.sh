#!/usr/bin/env bash
# Builds the buildbot image: our program, Buildbot's master configuration and twistd files, and the
# wheels of requirements.txt, downloaded once from PyPI into .build/downloads (pip checks each
# against its pinned sha256, and again when the image installs them); --push sends it to the
# cluster's registry.
set -euo pipefail
IMAGE_NAME=buildbot
# shellcheck source=../lib/image.sh
. "$(dirname "$0")/../lib/image.sh"
parse_build_args "$@"
here="$CONTAINERS_DIR/buildbot"
# One folder per version of the requirements, so the context holds exactly their wheels.
cache="$PROJECT_ROOT/.build/downloads/buildbot/$(sha256sum "$here/requirements.txt" | cut -c1-12)"
if [ ! -f "$cache/.complete" ]; then
  log "downloading the wheels of requirements.txt"
  mkdir -p "$cache"
  python3 -m pip download --quiet --disable-pip-version-check --dest "$cache" --no-deps --require-hashes \
    --only-binary=:all: --python-version 3.13 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -r "$here/requirements.txt" >&2 || die "download of the wheels failed"
  touch "$cache/.complete"
fi
context="$(stage_program buildbot)"
rm -rf "$context/python" && mkdir -p "$context/python/wheels"
cp "$here/"{requirements.txt,master.cfg,master.tac,worker.tac} "$context/python/"
for f in "$cache"/*.whl; do ln -f "$f" "$context/python/wheels/" 2>/dev/null || cp "$f" "$context/python/wheels/"; done
finish_image "$context"
