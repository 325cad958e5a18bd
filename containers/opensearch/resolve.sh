#!/usr/bin/env bash
# Writes jars.txt: every jar the opensearch image needs, resolved once with Maven from Maven Central
# (the server's runtime dependencies into lib/, each module's own jars, less those lib/ has, into
# modules/<name>/), with its repository path and sha256. Run by hand when the version changes; the
# image build only downloads what jars.txt pins. usage: containers/opensearch/resolve.sh
set -euo pipefail
VERSION=2.19.6
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

# The distribution's lib/ also holds the server's optional dependencies (log4j's implementation, the
# geometry libraries of geo shapes) and the class loader of plugins that extend others.
resolve server "org.opensearch:opensearch:$VERSION" org.apache.logging.log4j:log4j-core:2.25.4 \
  "org.opensearch:opensearch-plugin-classloader:$VERSION" \
  org.locationtech.spatial4j:spatial4j:0.7 org.locationtech.jts:jts-core:1.15.0 >"$work/server.txt"
{
  echo "# <folder in the image's /usr/share/opensearch> <jar> <path on Maven Central> <sha256>; written by resolve.sh (OpenSearch $VERSION)"
  while read -r p; do echo "lib $(basename "$p") $p $(sha256sum "$repo/$p" | cut -d' ' -f1)"; done <"$work/server.txt"
  for m in transport-netty4:transport-netty4-client analysis-common:analysis-common lang-painless:lang-painless; do
    name="${m%%:*}"; artifact="${m#*:}"
    resolve "$name" "org.opensearch.plugin:$artifact:$VERSION" | grep -vxF -f "$work/server.txt" \
      | while read -r p; do echo "modules/$name $(basename "$p") $p $(sha256sum "$repo/$p" | cut -d' ' -f1)"; done
  done
} >"$here/jars.txt"
echo "wrote $here/jars.txt ($(grep -vc '^#' "$here/jars.txt") jars)" >&2
