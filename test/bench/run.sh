#!/usr/bin/env bash
# `npm run bench`: builds hookgate and the benchmark, then runs it against private Redis, clamd, rspamd, spamd and
# Postfix, with clamav-milter and rspamd's proxy as the milter peers. BENCH_ONLY=peers (or BENCH_ROWS=peers) runs
# only the peer rows; docs/benchmarks.md lists the knobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/ensure-debian.sh
ensure_debian redis-server:redis-server,redis-tools clamd:clamav-daemon,clamdscan rspamd:rspamd spamd:spamassassin,spamc,spamd postfix:postfix swaks:swaks clamav-milter:clamav-milter
ensure_npm
npx turbo run build --output-logs=errors-only >/dev/null
rm -rf test/.bench-dist && npx tsc -p test/bench/tsconfig.json
node test/.bench-dist/bench/stalwart.js
