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

# One build at a time per checkout (two test files or two clusters may start at once); the second
# then finds every image built and reuses it.
mkdir -p "$PROJECT_ROOT/.build/containers"
exec 9>"$PROJECT_ROOT/.build/containers/.lock"
flock 9
t0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
echo "[images] base $BASE_IMAGE" >&2
bash "$here/debian/build.sh" "$BASE_RELEASE"
# Our node programs (containers/<name>/src) are bundled in one run, not one per image.
programs=()
for n in "${names[@]}"; do if [ -f "$here/$n/src/main.ts" ]; then programs+=("$n"); fi; done
# The bundles are made again only when what they are made from changed (a warm build skips them).
bundle_inputs() {
  (cd "$PROJECT_ROOT" && find containers/shared containers/*/src functions layers/etcd3 scripts/build.ts scripts/build-containers.ts package-lock.json \
    -type f \( -name '*.ts' -o -name '*.json' -o -name '*.service' \) -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16)
  echo "${programs[*]}"
}
if [ ${#programs[@]} -gt 0 ]; then
  t=$(date +%s.%N)
  stamp="$PROJECT_ROOT/.build/containers/.bundled"
  inputs="$(bundle_inputs)"
  fresh=1
  for n in "${programs[@]}"; do [ -f "$PROJECT_ROOT/.build/containers/$n/main.mjs" ] || fresh=0; done
  if [ $fresh = 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
    echo "[images] bundles of ${programs[*]} are up to date" >&2
  else
    echo "[images] bundling ${programs[*]} ..." >&2
    rm -f "$stamp"
    (cd "$PROJECT_ROOT" && npx tsx scripts/build-containers.ts "${programs[@]}" >/dev/null) || die "bundling failed"
    mkdir -p "$(dirname "$stamp")" && echo "$inputs" >"$stamp"
    echo "[images] bundled ${#programs[@]} programs ($(elapsed "$t") s)" >&2
  fi
  export PROGRAMS_BUNDLED=1
fi
out="$PROJECT_ROOT/.build/containers"
mkdir -p "$out"
built="$out/images.built"
failed=()
: >"$built"
i=0
for n in "${names[@]}"; do
  i=$((i + 1)); t=$(date +%s.%N)
  echo "[images] $i/${#names[@]} $n ..." >&2
  # One image that cannot be built does not stop the others: its units fail on their nodes.
  if ref="$(bash "$here/$n/build.sh" "${pass[@]}" | tail -n 1)" && [ -n "$ref" ]; then
    echo "[images] $i/${#names[@]} $n: $ref ($(elapsed "$t") s)" >&2
    echo "$n $ref" >>"$built"
  else
    echo "[images] $i/${#names[@]} $n: FAILED ($(elapsed "$t") s)" >&2
    failed+=("$n")
    echo "$n -" >>"$built"
  fi
done
# Merge into the references of earlier builds (a build of some images keeps the others'); an image
# that failed loses its reference.
node -e '
  const fs = require("fs"); const [file, built] = process.argv.slice(1);
  let refs = {}; try { refs = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
  for (const line of fs.readFileSync(built, "utf8").split("\n").filter(Boolean)) { const [n, r] = line.split(" "); if (r === "-") delete refs[n]; else refs[n] = r; }
  const sorted = Object.fromEntries(Object.keys(refs).sort().map((k) => [k, refs[k]]));
  fs.writeFileSync(file + ".tmp", JSON.stringify(sorted, null, 2) + "\n"); fs.renameSync(file + ".tmp", file);
' "$out/images.json" "$built"
rm -f "$built"
if [ ${#failed[@]} -gt 0 ]; then
  echo "[images] not built: ${failed[*]} (their units will fail on their nodes)" >&2
  exit 1
fi
echo "[images] ${#names[@]} images in $(elapsed "$t0") s; references in .build/containers/images.json" >&2
