#!/usr/bin/env bash
# Quick start: hookgate all-in-one (ingress and every active scanner worker in one process) on embedded defaults.
# Installs npm packages, builds, then runs `hookgate all`; with no Redis configured it starts a private
# redis-server on a free loopback port (installing the Debian package if missing) and stops it on exit.
# Pass-through: HOOKGATE_* variables (docs/configuration.md), e.g. HOOKGATE_CLAMD=tcp://127.0.0.1:3310.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/ensure-debian.sh
ensure_debian redis-server:redis-server,redis-tools
ensure_npm
npx turbo run build --filter=@hookgate/hookgate... --output-logs=errors-only >/dev/null
exec node services/hookgate/bin/hookgate.js all "$@"
