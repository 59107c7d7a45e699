#!/usr/bin/env bash
# Builds image-evictor_<version>_<arch>.deb with dpkg-deb (`npm run package [-- --out DIR]`): the
# built code and production node_modules with the compiled SQLite binding (so fleet hosts need no
# compiler, network or `npm ci`), the unit files, and /etc/image-evictor/config.yaml and
# registry-rules.conf (the nightly registry unit's rules) as conffiles.
# Layout: /usr/lib/image-evictor (code), /usr/bin/image-evictor, /lib/systemd/system (units),
# /etc/image-evictor (config), /var/lib/image-evictor (state, made at first start; purge removes it).
set -euo pipefail
cd "$(dirname "$0")/.."

out=.
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    # The test suite has just built dist/ and runs from it: it must not be rewritten under it.
    --no-build) build=no; shift ;;
    *) echo "package.sh: unknown argument $1 (usage: package.sh [--out DIR] [--no-build])" >&2; exit 2 ;;
  esac
done
[ -d node_modules ] || { echo "package.sh: run npm ci first (the package carries its compiled SQLite binding)" >&2; exit 2; }

version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/ie-package-XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
lib=$root/usr/lib/image-evictor

if [ $build = yes ]; then npm run build >/dev/null; fi
[ -f dist/agent/cli/main.js ] || { echo "package.sh: dist/ is not built (npm run build)" >&2; exit 2; }
mkdir -p "$lib" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/image-evictor" "$root/usr/share/doc/image-evictor" "$root/DEBIAN"
cp -r dist migrations policies package.json package-lock.json "$lib/"
rm -rf "$lib/dist/test" "$lib/dist/bench"
# Production modules from this checkout's, binding included: prune, never fetch or compile.
cp -r node_modules "$lib/"
(cd "$lib" && npm prune --omit=dev --no-audit --no-fund --offline >/dev/null)
ln -s ../lib/image-evictor/dist/agent/cli/main.js "$root/usr/bin/image-evictor"
for unit in image-evictor.service image-evictor@.service image-evictor-purge.service image-evictor-registry-listen.service image-evictor-registry-gc.service image-evictor-registry-gc.timer; do
  sed -e 's|/usr/local/bin/image-evictor|/usr/bin/image-evictor|g' -e 's|file:///opt/image-evictor/README.md|file:///usr/share/doc/image-evictor/README.md|' "systemd/$unit" > "$root/lib/systemd/system/$unit"
done
cp policies/config.example.yaml "$root/etc/image-evictor/config.yaml"
cp policies/registry-rules.conf "$root/etc/image-evictor/registry-rules.conf"
cp README.md "$root/usr/share/doc/image-evictor/"
cp systemd/alerts.yml systemd/registry-alerts.yml systemd/grafana-dashboard.json "$root/usr/share/doc/image-evictor/"

cat > "$root/DEBIAN/control" <<EOF
Package: image-evictor
Version: $version
Architecture: $arch
Maintainer: image-evictor developers <image-evictor@localhost>
Depends: nodejs (>= 20)
Section: admin
Priority: optional
Installed-Size: $(du -sk "$root" | cut -f1)
Description: keeps the Docker image cache of CI runners from filling the disk
 Watches free space on the Docker (or Podman) data root, knows when each image was last pulled
 and used from the engine's events, and evicts the least recently wanted images below a
 threshold, protecting allowlisted base images until emergency mode.
EOF
printf '%s\n' /etc/image-evictor/config.yaml /etc/image-evictor/registry-rules.conf > "$root/DEBIAN/conffiles"

cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# Refuses an old Node.js before anything is enabled: the package stays unconfigured, no service runs.
set -e
if [ "$1" = configure ]; then
  found=$(node -p 'process.versions.node' 2>/dev/null || echo none)
  major=${found%%.*}
  case "$major" in ''|*[!0-9]*) major=0 ;; esac
  if [ "$major" -lt 20 ]; then
    echo "image-evictor: Node.js 20 or newer is required (found: $found at $(command -v node || echo 'no node on PATH')); the service was not enabled" >&2
    exit 1
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable image-evictor.service
    systemctl restart image-evictor.service
  else
    echo "image-evictor: systemd is not running here; start the agent with: image-evictor run"
  fi
fi
exit 0
EOF
cat > "$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl disable --now image-evictor.service image-evictor-registry-listen.service image-evictor-registry-gc.timer 2>/dev/null || true
fi
exit 0
EOF
cat > "$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# Removal keeps the state and the config; purge removes both.
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/image-evictor
  rmdir /etc/image-evictor 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/image-evictor_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
