#!/usr/bin/env bash
# `npm run bench`: installs what is missing, builds, and runs every benchmark section.
# The overhead and replay sections need root: they start private dockerd instances on loop-mounted ext4.
# Arguments go to bench/main.ts: --quick, --only sim|overhead|replay, --seed N.
set -euo pipefail
cd "$(dirname "$0")/.."
# Without root only `--only sim` can run (bench/main.ts says so); packages need root to install.
if [ "$(id -u)" -eq 0 ]; then
  source test/deps.sh
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
npx tsc -p tsconfig.bench.json
exec node dist/bench/main.js "$@"
