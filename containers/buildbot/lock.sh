#!/usr/bin/env bash
# Makes requirements.txt from requirements.in: every wheel the image's Python (trixie's 3.13 on
# x86_64) needs, pinned by version and sha256, for pip --require-hashes. Run it after changing
# requirements.in; it downloads the wheels from PyPI into a scratch folder (nothing is installed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --dest "$tmp" --only-binary=:all: \
  --python-version 3.13 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -r "$here/requirements.in"
{
  echo "# Made by lock.sh from requirements.in (Python 3.13, x86_64); do not edit by hand."
  for f in "$tmp"/*.whl; do
    base="$(basename "$f")"
    name="$(echo "${base%%-*}" | tr '_' '-' | tr '[:upper:]' '[:lower:]')"
    version="$(echo "$base" | cut -d- -f2)"
    echo "$name==$version --hash=sha256:$(sha256sum "$f" | cut -d' ' -f1)"
  done | LC_ALL=C sort
} >"$here/requirements.txt"
echo "requirements.txt: $(grep -c -- '--hash' "$here/requirements.txt") wheels" >&2
