#!/usr/bin/env bash
# `npm run bench`: builds hookgate and the benchmark, then runs it against private Redis, clamd, rspamd, spamd and
# Postfix, with clamav-milter and rspamd's proxy as the milter peers. BENCH_ONLY=peers (or BENCH_ROWS=peers) runs
# only the peer rows, BENCH_ONLY=operator only the operator tools' costs; docs/benchmarks.md lists the knobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/ensure-debian.sh
ensure_debian redis-server:redis-server,redis-tools clamd:clamav-daemon,clamdscan rspamd:rspamd spamd:spamassassin,spamc,spamd postfix:postfix swaks:swaks clamav-milter:clamav-milter
ensure_npm
npx turbo run build --output-logs=errors-only >/dev/null
rm -rf test/.bench-dist && npx tsc -p test/bench/tsconfig.json
only="${BENCH_ONLY:-${BENCH_ROWS:-}}"
[ "$only" = operator ] || node test/.bench-dist/bench/stalwart.js
# The operator tools' costs (issue 16): the verdict feed per recorded stage, the quarantine per kept message.
if [ -z "$only" ] || [[ ",$only," == *,operator,* ]]; then node test/.bench-dist/bench/operator.js; fi
