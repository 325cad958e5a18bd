#!/usr/bin/env bash
# Builds every image (containers/*/Containerfile) over the Debian base, reusing each image whose
# pinned tag exists, and writes the references to .build/containers/images.json
# ({"<name>": "<reference>"}). --push sends them to the cluster's registry and writes the pinned
# registry references (tag + digest) instead. Names given as arguments build only those.
# usage: containers/build.sh [--push [--registry <registry>]] [name ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
IMAGE_NAME=all
# shellcheck source=lib/image.sh
. "$here/lib/image.sh"

pass=(); names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --push) pass+=("$1") ;;
    --registry) pass+=("$1" "${2:?--registry needs a value}"); shift ;;
    --registry=*) pass+=("$1") ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) names+=("$1") ;;
  esac
  shift
done
if [ ${#names[@]} -eq 0 ]; then
  for f in "$here"/*/Containerfile; do names+=("$(basename "$(dirname "$f")")"); done
fi
for n in "${names[@]}"; do
  [ -f "$here/$n/Containerfile" ] && [ -x "$here/$n/build.sh" ] || die "no image named $n (containers/$n/Containerfile and build.sh)"
done

t0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
echo "[images] base $BASE_IMAGE" >&2
bash "$here/debian/build.sh" "$BASE_RELEASE"
out="$PROJECT_ROOT/.build/containers"
mkdir -p "$out"
manifest="$out/images.json.tmp"
echo "{" >"$manifest"
i=0
for n in "${names[@]}"; do
  i=$((i + 1)); t=$(date +%s.%N)
  echo "[images] $i/${#names[@]} $n ..." >&2
  ref="$(bash "$here/$n/build.sh" "${pass[@]}" | tail -n 1)" || die "$n failed"
  echo "[images] $i/${#names[@]} $n: $ref ($(elapsed "$t") s)" >&2
  sep=","; [ $i -eq ${#names[@]} ] && sep=""
  printf '  "%s": "%s"%s\n' "$n" "$ref" "$sep" >>"$manifest"
done
echo "}" >>"$manifest"
mv -f "$manifest" "$out/images.json"
echo "[images] ${#names[@]} images in $(elapsed "$t0") s; references in .build/containers/images.json" >&2
