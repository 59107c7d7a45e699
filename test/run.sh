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

missing=()
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
# Test images are FROM scratch: their busybox must be the static build.
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v losetup >/dev/null || missing+=(mount)
# The service tests verify the unit files and the alert rules.
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v promtool >/dev/null || missing+=(prometheus)
# The clock-jump tests move the agent's wall clock with libfaketime.
dpkg -s libfaketime >/dev/null 2>&1 || missing+=(libfaketime)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test/run.sh: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ "${CI:-}" = "true" ]; then
  npm ci --no-audit --no-fund
fi
npm run build

mkdir -p .test-run
status=0
npx jest --runInBand --json --outputFile=.test-run/results.json "$@" || status=$?
# A closing line any CI can read, whatever the runner prints above it.
node -e '
  const r = require("./.test-run/results.json");
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  if (r.numTotalTests === 0) { console.error("test/run.sh: no test ran"); process.exit(1); }
' || status=1
exit "$status"
