#!/usr/bin/env bash
# System packages the project needs, installed when running as root, otherwise named in a clear error.
#   always:  the Kerberos headers that the HDFS provider's gssapi/krb5 build needs; a Java runtime for Spark;
#            the MariaDB client headers that mysqlclient (the mysql extra, in the test extra too) builds against
#   --test:  PostgreSQL and MariaDB server binaries (tests start their own servers, never the system services), a
#            JDK (a test compiles a Java Spark job), Chromium (the browser test), Maven and curl (the real Hadoop of
#            scripts/hadoop.sh: jars and health checks)
set -euo pipefail

missing=()
command -v krb5-config >/dev/null 2>&1 || missing+=(libkrb5-dev)
command -v java >/dev/null 2>&1 || missing+=(default-jdk-headless)
pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || missing+=(libmariadb-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
  [[ -x /usr/sbin/mariadbd && -x /usr/bin/mariadb-install-db ]] || missing+=(mariadb-server mariadb-client)
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [[ $(id -u) -ne 0 ]]; then
  echo "error: these system packages are needed: ${missing[*]}" >&2
  echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
