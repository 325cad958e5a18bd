#!/usr/bin/env bash
# Writes jars.txt: every jar the cassandra image needs (cassandra-all and its runtime dependencies, into
# lib/), resolved once with Maven from Maven Central, with its repository path and sha256. Run by hand
# when the version changes; the image build only downloads what jars.txt pins.
# usage: containers/cassandra/resolve.sh
set -euo pipefail
VERSION=5.0.9
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
repo="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"

# The runtime jars of artifacts (group:artifact:version ...), as paths inside the local repository.
resolve() {
  local name="$1" dir="$work/$1" deps="" g a v
  shift
  mkdir -p "$dir"
  for gav in "$@"; do
    IFS=: read -r g a v <<<"$gav"
    deps="$deps<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
  done
  cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>devcluster.resolve</groupId><artifactId>$name</artifactId><version>0</version>
  <dependencies>$deps</dependencies>
</project>
POM
  (cd "$dir" && mvn -q -B dependency:list -DincludeScope=runtime -DoutputAbsoluteArtifactFilename=true \
    -DoutputFile="$dir/list.txt" -Dmaven.repo.local="$repo" >&2)
  grep -o "$repo/[^ ]*\.jar" "$dir/list.txt" | sed "s#^$repo/##" | sort -u
}

resolve server "org.apache.cassandra:cassandra-all:$VERSION" >"$work/server.txt"
{
  echo "# <folder in the image's /usr/share/cassandra> <jar> <path on Maven Central> <sha256>; written by resolve.sh (Cassandra $VERSION)"
  while read -r p; do echo "lib $(basename "$p") $p $(sha256sum "$repo/$p" | cut -d' ' -f1)"; done <"$work/server.txt"
} >"$here/jars.txt"
echo "wrote $here/jars.txt ($(grep -vc '^#' "$here/jars.txt") jars)" >&2
