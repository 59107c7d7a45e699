#!/usr/bin/env bash
# Debian packages the tests and the benchmark need: the Docker engine, registry, static busybox,
# ext4 and loop tools, systemd and promtool (service checks), libfaketime (clock tests), podman.
# Sourced by test/run.sh and bench/run.sh; installs only what is missing.
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
# The Podman tests run a real `podman system service` (Debian 12: 4.3) through its Docker API.
command -v podman >/dev/null || missing+=(podman)
# The clock-jump tests move the agent's wall clock with libfaketime.
dpkg -s libfaketime >/dev/null 2>&1 || missing+=(libfaketime)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
