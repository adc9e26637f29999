#!/usr/bin/env bash
# Installs, with apt-get, what building, running (`make run`) and testing (`make test`) Switchyard need and the
# machine lacks: PostgreSQL 15 (server, client, contrib: the test harness and pgbench), MariaDB server and client
# (test harness), sysbench and PgBouncer (benchmarks), Prometheus (metrics tests), OpenSSL, make.
#
# Idempotent: every need is checked with a file or `command -v` test first; a machine that has everything runs
# no apt at all. `apt-get update` runs at most once, and only when something is missing. Services that the new
# packages ship are not started (PgBouncer would take 127.0.0.1:6432, Switchyard's own port): the servers the
# tests need are started by the test harness itself.
#
# It does not install the Rust toolchain (the machine has it) or any crate.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin

# "package|test" pairs: the package is needed when the test fails. A test is a shell condition.
NEEDS=(
  "make|command -v make"
  "openssl|command -v openssl"
  "postgresql-15|test -x $PG_BIN/initdb -a -x $PG_BIN/postgres -a -x $PG_BIN/pg_ctl"
  "postgresql-client-15|test -x $PG_BIN/psql -a -x $PG_BIN/pg_basebackup -a -x $PG_BIN/pg_isready"
  "postgresql-contrib|test -x $PG_BIN/pgbench"
  "mariadb-server|test -x /usr/sbin/mariadbd && command -v mariadb-install-db"
  "mariadb-client|command -v mariadb"
  "sysbench|command -v sysbench"
  "pgbouncer|test -x /usr/sbin/pgbouncer || command -v pgbouncer"
  "prometheus|command -v prometheus"
)

missing=()
for need in "${NEEDS[@]}"; do
  package=${need%%|*}
  check=${need#*|}
  if ! eval "$check" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
  fi
fi

# Keep package scripts from starting services, unless the machine already has a policy about that.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Check again: a package that installed but does not provide what we test for is a real problem.
still=()
for need in "${NEEDS[@]}"; do
  if ! eval "${need#*|}" >/dev/null 2>&1; then
    still+=("${need%%|*}")
  fi
done
if [ ${#still[@]} -ne 0 ]; then
  echo "install-deps: still missing after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "install-deps: done"
