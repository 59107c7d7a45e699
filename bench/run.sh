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
# Everything the bench starts lives under one root, removed (processes stopped by PID, mounts
# undone) however the run ends, as test/run.sh does for tests.
IE_TEST_ROOT=$(mktemp -d /tmp/ie-run-XXXXXX)
export IE_TEST_ROOT
trap 'bash test/cleanup.sh "$IE_TEST_ROOT"' EXIT
trap 'exit 130' INT TERM
node dist/bench/main.js "$@"
