#!/usr/bin/env bash
# The PgBouncer tests put Debian's pgbouncer (transaction pooling) in front of the test
# database. Install it when we may (root); otherwise say how. The tests start their own
# instance on a free loopback port; the Debian service itself is never started.
set -euo pipefail
if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's pgbouncer for the PgBouncer tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq pgbouncer >/dev/null
else
  echo "NOTE: pgbouncer is missing, so the PgBouncer tests will be skipped."
  echo "      Install it with: sudo apt-get install pgbouncer"
fi
