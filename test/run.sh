#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs what it needs (Debian packages for the real engines,
# npm packages), builds, type-checks, lints, then runs every test against private daemons on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/ensure-debian.sh

ensure_debian redis-server:redis-server,redis-tools clamd:clamav-daemon,clamdscan \
  rspamd:rspamd spamd:spamassassin,spamc,spamd postfix:postfix swaks:swaks clamav-milter:clamav-milter \
  haproxy:haproxy ip:iproute2 openssl:openssl chromium:chromium \
  dockerd:docker.io debootstrap:debootstrap docker-compose:docker-compose
ensure_npm

npx turbo run build typecheck lint --output-logs=errors-only
npx tsc -p test/tsconfig.json
npx madge --circular --extensions ts libs services --exclude '(dist|node_modules)/' --ts-config tsconfig.json >/dev/null || {
  npx madge --circular --extensions ts libs services --exclude '(dist|node_modules)/' --ts-config tsconfig.json
  exit 1
}

status=0
npx vitest run --config test/vitest.config.ts "$@" || status=$?
# One plain closing line for CI readers.
node -e '
  const r = JSON.parse(require("fs").readFileSync("test/.results/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' || true
exit $status
