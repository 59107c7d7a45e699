#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs the Docker engine, registry and static
# busybox when missing, builds, then runs unit and integration tests (real dockerd, real registry).
# Needs root: the tests start private dockerd instances on loop-mounted ext4 filesystems.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test/run.sh: run as root (it starts dockerd and mounts loop filesystems)" >&2
  exit 1
fi

source test/deps.sh

if [ ! -d node_modules ] || [ "${CI:-}" = "true" ]; then
  npm ci --no-audit --no-fund
fi
npm run build
# bench/ is not run here, but it must still compile against the agent and the harness.
npx tsc -p tsconfig.bench.json --noEmit

mkdir -p .test-run
# Everything the tests make goes under one root, removed on any exit: a failed or interrupted run
# leaves no directory, process or mount behind.
IE_TEST_ROOT=$(mktemp -d /tmp/ie-run-XXXXXX)
export IE_TEST_ROOT
# Whatever a tool writes to its temporary directory (TMPDIR) lands under the root too.
mkdir "$IE_TEST_ROOT/tmp"
export TMPDIR="$IE_TEST_ROOT/tmp"
trap 'bash test/cleanup.sh "$IE_TEST_ROOT"' EXIT
trap 'exit 130' INT TERM
status=0
npx jest --runInBand --json --outputFile=.test-run/results.json "$@" || status=$?
# A closing line any CI can read, whatever the runner prints above it.
node -e '
  const r = require("./.test-run/results.json");
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  if (r.numTotalTests === 0) { console.error("test/run.sh: no test ran"); process.exit(1); }
' || status=1
exit "$status"
