#!/usr/bin/env bash
# Shows that the suite does not flake under load: the README's test command (.ci/run, with CI=true)
# runs RUNS times in a row (default 3), each on a fresh clone of HEAD, while stress-ng keeps
# WORKERS CPU hogs busy (default 2, one per core here). Prints each run's closing line, its exit
# code and duration, and what it left in /tmp or the mount table; exits non-zero if any run failed.
# A failed run's full output is kept in .test-run/soak-run-N.log.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
workers=${WORKERS:-2}

command -v stress-ng >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends stress-ng; }
mkdir -p .test-run
work=$(mktemp -d /tmp/ie-soak-XXXXXX)
stress-ng --cpu "$workers" --quiet &
hog=$!
stop() {
  kill -TERM "$hog" 2>/dev/null || true
  wait "$hog" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "soak: $runs fresh-clone runs of .ci/run under stress-ng --cpu $workers (PID $hog), HEAD $(git rev-parse --short HEAD)"
failed=0
for i in $(seq 1 "$runs"); do
  clone="$work/clone-$i"
  git clone -q . "$clone"
  started=$(date +%s)
  code=0
  (cd "$clone" && CI=true bash .ci/run) > "$work/run-$i.log" 2>&1 < /dev/null || code=$?
  seconds=$(( $(date +%s) - started ))
  closing=$(grep -E '^tests: ' "$work/run-$i.log" | tail -n 1 || true)
  left=$(find /tmp -maxdepth 1 -name 'ie-*' ! -path "$work" | wc -l)
  mounts=$(grep -c ' /tmp/ie-' /proc/mounts || true)
  echo "run $i: ${closing:-no closing line} (exit $code, ${seconds} s, load $(cut -d' ' -f1 /proc/loadavg); left in /tmp: $left, mounts: $mounts)"
  if [ "$code" -ne 0 ]; then
    failed=$((failed + 1))
    cp "$work/run-$i.log" ".test-run/soak-run-$i.log"
    grep -E '^\s+● ' "$work/run-$i.log" | sort -u | head -20 || true
  fi
  rm -rf "$clone"
done
echo "soak: $((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
