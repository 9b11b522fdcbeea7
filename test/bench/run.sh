#!/usr/bin/env bash
# `npm run bench`: builds hookgate and the benchmark, then runs it against private Redis and clamd.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/ensure-debian.sh
ensure_debian redis-server:redis-server,redis-tools clamd:clamav-daemon,clamdscan rspamd:rspamd spamd:spamassassin,spamc,spamd postfix:postfix swaks:swaks
ensure_npm
npx turbo run build --output-logs=errors-only >/dev/null
rm -rf test/.bench-dist && npx tsc -p test/bench/tsconfig.json
node test/.bench-dist/bench/stalwart.js
