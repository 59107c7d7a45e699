#!/usr/bin/env bash
# `npm run bench`: installs what is missing, builds, and runs every benchmark section.
# Needs root: the overhead and replay sections start private dockerd instances on loop-mounted ext4.
# Arguments go to bench/main.ts: --quick, --only sim|overhead|replay, --seed N.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh: run as root (it starts dockerd and mounts loop filesystems)" >&2
  exit 1
fi
source test/deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
npx tsc -p tsconfig.bench.json
exec node dist/bench/main.js "$@"
