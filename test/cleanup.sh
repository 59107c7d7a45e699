#!/usr/bin/env bash
# Removes what one test run made under its root (IE_TEST_ROOT): stops the processes the harness
# recorded in ROOT/pids by PID, unmounts every filesystem mounted below ROOT, then deletes ROOT.
# test/run.sh calls it on exit, so a failed or interrupted run leaves nothing in /tmp or the mount table.
set -u
root=${1:?usage: test/cleanup.sh ROOT}
case "$root" in /tmp/ie-run-*) ;; *) echo "test/cleanup.sh: refusing to clean $root (not a test run root)" >&2; exit 2 ;; esac
[ -d "$root" ] || exit 0

# A PID is ours only while its command line or environment still names the root: a PID reused by
# another process after ours ended is left alone.
ours() { grep -qsaF -- "$root" "/proc/$1/cmdline" "/proc/$1/environ"; }

pids=()
for file in "$root"/pids/*; do
  [ -e "$file" ] || continue
  pid=${file##*/}
  ours "$pid" && pids+=("$pid")
done
if [ ${#pids[@]} -gt 0 ]; then
  echo "test/cleanup.sh: stopping ${#pids[@]} process(es) left by the run: ${pids[*]}" >&2
  kill -TERM "${pids[@]}" 2>/dev/null
  for _ in $(seq 1 100); do
    alive=()
    for pid in "${pids[@]}"; do ours "$pid" && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
fi

# Deepest first; a loop device set up by mount(8) is released with its mount.
mounts=$(awk -v root="$root/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r)
for mountpoint in $mounts; do
  for _ in $(seq 1 20); do
    umount "$mountpoint" 2>/dev/null && break
    sleep 0.5
  done
done
left=$(awk -v root="$root/" 'index($2, root) == 1 { print $2 }' /proc/mounts)
if [ -n "$left" ]; then
  echo "test/cleanup.sh: still mounted, $root kept: $left" >&2
  exit 1
fi
rm -rf "$root"
