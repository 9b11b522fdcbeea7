#!/usr/bin/env bash
# `npm run fuzz -- --target <name|all> --cases N --seed S`: builds hookgate and the harness, then fuzzes in process
# (no daemons needed: docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
npx turbo run build --output-logs=errors-only >/dev/null
rm -rf test/.fuzz-dist && npx tsc -p test/fuzz/tsconfig.json
exec node --enable-source-maps --expose-gc test/.fuzz-dist/fuzz/cli.js "$@"
