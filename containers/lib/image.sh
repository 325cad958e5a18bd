# Shared by every containers/<name>/build.sh (sourced): podman settings, the pinned tag of an image,
# build-or-reuse, and push to the cluster's registry.
# shellcheck shell=bash

CONTAINERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT_ROOT="$(cd "$CONTAINERS_DIR/.." && pwd)"
# Every podman call of the project reads the project's podman settings (runc, ulimits).
export CONTAINERS_CONF="${CONTAINERS_CONF:-$CONTAINERS_DIR/podman/containers.conf}"
# The local name of every image; the push renders the cluster's registry instead.
IMAGE_NAMESPACE="${IMAGE_NAMESPACE:-localhost/devcluster}"
# The base every Containerfile starts from: trixie's Debian packages give Node 20 (bookworm's is 18).
BASE_RELEASE=trixie
BASE_IMAGE="docker.io/library/debian:$BASE_RELEASE-slim"

log() { echo "[image ${IMAGE_NAME:-?}] $*" >&2; }
die() { echo "[image ${IMAGE_NAME:-?}] error: $*" >&2; exit 1; }

# The project's version (package.json), so tags sort by release.
project_version() {
  sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$PROJECT_ROOT/package.json" | head -n 1
}

# A content hash of what an image is built from: its Containerfile and every file of its build
# context (path and bytes, in a stable order). The same sources give the same tag on any machine;
# any change gives a new one (the registry's tags are immutable).
context_hash() {
  local containerfile="$1" dir="$2"
  {
    sha256sum <"$containerfile"
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
  } | sha256sum | cut -c1-12
}

# <version>-<hash>: never `latest`; the tag says which release and exactly which sources.
image_tag() { echo "$(project_version)-$(context_hash "$CONTAINERS_DIR/$IMAGE_NAME/Containerfile" "$1")"; }

image_exists() { podman image exists "$1" 2>/dev/null; }

# Parse the arguments every build.sh takes. Sets PUSH and REGISTRY.
parse_build_args() {
  PUSH=0; REGISTRY="${DEVCLUSTER_REGISTRY:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --push) PUSH=1 ;;
      --registry) REGISTRY="${2:?--registry needs a value}"; shift ;;
      --registry=*) REGISTRY="${1#--registry=}" ;;
      -h|--help) echo "usage: build.sh [--push [--registry <account>.dkr.ecr.<region>.amazonaws.com/<cluster>]]"; exit 0 ;;
      *) die "unknown option $1" ;;
    esac
    shift
  done
}

# Build the image named $IMAGE_NAME from containers/$IMAGE_NAME/Containerfile and the staged
# context directory $1, unless an image with the same pinned tag exists. Prints the reference.
build_image() {
  local context="$1" tag ref t0
  tag="$(image_tag "$context")"
  ref="$IMAGE_NAMESPACE/$IMAGE_NAME:$tag"
  if image_exists "$ref"; then
    log "reusing $ref"
  else
    image_exists "$BASE_IMAGE" || bash "$CONTAINERS_DIR/debian/build.sh" "$BASE_RELEASE" >&2
    log "building $ref"
    t0=$(date +%s)
    podman build --quiet --layers --pull=never \
      --label "org.opencontainers.image.version=$tag" \
      --label "org.opencontainers.image.title=devcluster-$IMAGE_NAME" \
      -f "$CONTAINERS_DIR/$IMAGE_NAME/Containerfile" -t "$ref" "$context" >/dev/null \
      || die "podman build failed for $IMAGE_NAME (context $context)"
    log "built $ref in $(( $(date +%s) - t0 )) s"
  fi
  BUILT_REF="$ref"; BUILT_TAG="$tag"
}

# Push $BUILT_REF to <registry>/$IMAGE_NAME:<tag>; prints the pinned reference (tag + digest).
push_image() {
  local registry="$1" remote digest
  [ -n "$registry" ] || die "--push needs the registry (--registry or DEVCLUSTER_REGISTRY; 'devcluster images registry' prints the stack's)"
  remote="$registry/$IMAGE_NAME:$BUILT_TAG"
  podman tag "$BUILT_REF" "$remote"
  log "pushing $remote"
  podman push --quiet --digestfile "$CONTAINERS_DIR/../.build/containers/$IMAGE_NAME.digest" "$remote" >&2 \
    || die "push of $remote failed"
  digest="$(cat "$CONTAINERS_DIR/../.build/containers/$IMAGE_NAME.digest")"
  echo "$remote@$digest"
}

# The end of every build.sh: build, then push when asked; print the reference units should run.
finish_image() {
  local context="$1"
  build_image "$context"
  if [ "$PUSH" = 1 ]; then
    mkdir -p "$PROJECT_ROOT/.build/containers"
    push_image "$REGISTRY"
  else
    echo "$BUILT_REF"
  fi
}

# The build context of one of our node programs: scripts/build-containers.ts bundles
# containers/<name>/src into .build/containers/<name>/ (main.mjs + the etcd3 dependency set).
# containers/build.sh bundles every program in one run first (PROGRAMS_BUNDLED=1).
stage_program() {
  local name="$1"
  [ -f "$CONTAINERS_DIR/$name/src/main.ts" ] || die "no program source (containers/$name/src/main.ts)"
  if [ "${PROGRAMS_BUNDLED:-0}" != 1 ]; then
    (cd "$PROJECT_ROOT" && npx tsx scripts/build-containers.ts "$name" >&2) || die "bundling $name failed"
  fi
  [ -f "$PROJECT_ROOT/.build/containers/$name/main.mjs" ] || die "bundling $name left no .build/containers/$name/main.mjs"
  echo "$PROJECT_ROOT/.build/containers/$name"
}
