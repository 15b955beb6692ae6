#!/usr/bin/env bash
# The jars Spark needs to read the lake's Iceberg tables by name (hadoop/iceberg/pom.xml): Iceberg's Spark runtime
# and the SQLite JDBC driver of the catalog database, fetched with Maven (cached in ~/.m2) into one folder.
#
#   scripts/iceberg.sh jars     fetch them when missing or when the pom changed; print the folder
#
# ZALONI_ICEBERG_BUILD overrides the folder (default: .iceberg in the repository). Fails loudly when Maven does.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ZALONI_ICEBERG_BUILD:-$REPO/.iceberg}
LIB=$BUILD/lib
POM_DIR=$REPO/hadoop/iceberg

die() { echo "iceberg.sh: $*" >&2; exit 1; }

jars() {
  if [[ ! -f $LIB/.stamp || $POM_DIR/pom.xml -nt $LIB/.stamp ]]; then
    command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is not installed: run 'make test-system-deps' as root, or apt-get install maven"
    echo "iceberg.sh: fetching the Iceberg Spark runtime and the SQLite JDBC driver with Maven (about 60 MB on first use, cached in ~/.m2)" >&2
    mkdir -p "$BUILD"
    rm -rf "$LIB.tmp.$$"
    (cd "$POM_DIR" && mvn -q -B dependency:copy-dependencies -DexcludeTransitive=true -DoutputDirectory="$LIB.tmp.$$") >&2 \
      || { rm -rf "$LIB.tmp.$$"; die "mvn dependency:copy-dependencies failed in $POM_DIR (see the Maven output above)"; }
    touch "$LIB.tmp.$$/.stamp"
    rm -rf "$LIB" && mv "$LIB.tmp.$$" "$LIB"
  fi
  echo "$LIB"
}

case "${1:-}" in
  jars) jars ;;
  *) die "usage: scripts/iceberg.sh jars" ;;
esac
