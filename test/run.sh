#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine. First what needs nothing but npm (`npm run check`: build,
# typecheck, lint of sources and tests, no import cycles, formatting), so a mistake there fails before any Debian
# package is installed; then the real engines, and every test against private daemons on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/ensure-debian.sh

ensure_npm
npm run check

ensure_debian redis-server:redis-server,redis-tools clamd:clamav-daemon,clamdscan \
  rspamd:rspamd spamd:spamassassin,spamc,spamd postfix:postfix swaks:swaks clamav-milter:clamav-milter \
  haproxy:haproxy ip:iproute2 openssl:openssl chromium:chromium \
  dockerd:docker.io debootstrap:debootstrap docker-compose:docker-compose

status=0
npx vitest run --config test/vitest.config.ts "$@" || status=$?
# One plain closing line for CI readers.
node -e '
  const r = JSON.parse(require("fs").readFileSync("test/.results/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' || true
exit $status
