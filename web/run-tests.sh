#!/usr/bin/env bash
# The browser client's tests: the JavaScript crypto against the Rust vectors, the whole chat
# experience in headless Chromium against the real server, and interop with the Rust CLI.
#
#   web/run-tests.sh            (from anywhere; extra arguments go to `node --test`)
#   web/run-tests.sh tests/chat.test.mjs   (one file)
#
# Needs Node.js, the `securechat` binary (built here with cargo unless SECURECHAT_BIN names
# one) and Debian's Chromium at /usr/bin/chromium (or CHROMIUM_PATH). Playwright never
# downloads a browser. Without Chromium the suite is skipped locally and says so; with CI
# set, Chromium is installed (apt-get) when missing, and a missing browser is a failure.
set -euo pipefail
cd "$(dirname "$0")"

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ -n "${CI:-}" ] && command -v apt-get >/dev/null; then
    echo "== installing Chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -x "$chromium" ]; then
    if [ -n "${CI:-}" ]; then
      echo "browser tests: Chromium is required in CI but $chromium is missing" >&2
      exit 1
    fi
    echo "browser tests skipped: Chromium not installed (apt-get install chromium)"
    exit 0
  fi
fi

if [ -z "${SECURECHAT_BIN:-}" ]; then
  (cd .. && cargo build -p securechat --quiet)
fi

if [ ! -d node_modules/playwright-core ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi

# Test files named on the command line run alone; otherwise every file in tests/.
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) exec node --test --test-concurrency=1 "$@" ;;
  esac
done
exec node --test --test-concurrency=1 "$@" tests/
