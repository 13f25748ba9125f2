#!/usr/bin/env bash
# Browser tests drive Debian's chromium. Install it when we may (root); otherwise say how.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
else
  echo "NOTE: /usr/bin/chromium is missing, so the browser tests (tests/e2e) will be skipped."
  echo "      Install it with: sudo apt-get install chromium"
fi
