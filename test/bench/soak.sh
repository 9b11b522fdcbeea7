#!/usr/bin/env bash
# `npm run soak`: a long steady load against hookgate as deployed; prints memory over time (test/bench/soak.ts).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/ensure-debian.sh
ensure_debian redis-server:redis-server,redis-tools clamd:clamav-daemon,clamdscan
ensure_npm
npx turbo run build --output-logs=errors-only >/dev/null
rm -rf test/.bench-dist && npx tsc -p test/bench/tsconfig.json
node test/.bench-dist/bench/soak.js
