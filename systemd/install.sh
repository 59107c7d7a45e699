#!/usr/bin/env bash
# Installs image-evictor under /opt/image-evictor, links /usr/local/bin/image-evictor, writes a
# default config if none exists, and enables and (re)starts the systemd service (or says how to run
# it). Running it again upgrades in place; the state DB and config are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=/opt/image-evictor

if [ "$(id -u)" -ne 0 ]; then echo "install.sh: run as root" >&2; exit 1; fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "install.sh: Node.js 20 or newer is required" >&2; exit 1; }

npm ci --no-audit --no-fund
npm run build
mkdir -p "$PREFIX"
rm -rf "$PREFIX/dist" "$PREFIX/migrations" "$PREFIX/policies"
cp -r dist migrations policies package.json package-lock.json README.md "$PREFIX/"
(cd "$PREFIX" && npm ci --omit=dev --no-audit --no-fund)
# npm 12 skips install scripts package.json's allowScripts does not name; without its build step
# better-sqlite3 has no binding and the agent could not open its state: say so now, not at start.
(cd "$PREFIX" && node -e 'new (require("better-sqlite3"))(":memory:").close()') \
  || { echo "install.sh: better-sqlite3 has no working SQLite binding under $PREFIX (npm ci skipped or failed its build)" >&2; exit 1; }
chmod +x "$PREFIX/dist/agent/cli/main.js"
ln -sf "$PREFIX/dist/agent/cli/main.js" /usr/local/bin/image-evictor

mkdir -p /etc/image-evictor
if [ ! -e /etc/image-evictor/config.yaml ]; then
  cp policies/config.example.yaml /etc/image-evictor/config.yaml
  echo "install.sh: wrote /etc/image-evictor/config.yaml"
fi
# The rules the nightly registry unit reads (image-evictor-registry-gc.service); an edited one stays.
if [ ! -e /etc/image-evictor/registry-rules.conf ]; then
  cp policies/registry-rules.conf /etc/image-evictor/registry-rules.conf
  echo "install.sh: wrote /etc/image-evictor/registry-rules.conf"
fi
image-evictor --config /etc/image-evictor/config.yaml --docker-host unix:///dev/null status >/dev/null 2>&1 \
  || [ $? -ne 2 ] || { echo "install.sh: /etc/image-evictor/config.yaml is invalid:" >&2; \
       image-evictor --config /etc/image-evictor/config.yaml status >&2 || true; exit 1; }

# The registry units are installed, not enabled: a registry host enables them (README, Registry side).
cp systemd/image-evictor.service systemd/image-evictor@.service systemd/image-evictor-purge.service systemd/image-evictor-registry-listen.service \
  systemd/image-evictor-registry-gc.service systemd/image-evictor-registry-gc.timer /etc/systemd/system/
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  # An upgrade restarts a running agent; a first install starts it.
  systemctl enable image-evictor.service
  systemctl restart image-evictor.service
  systemctl --no-pager status image-evictor.service || true
else
  echo "install.sh: systemd is not running here; start the agent with: image-evictor run"
fi
