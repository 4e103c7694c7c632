#!/usr/bin/env bash
# The browser test of `nstyle serve`: installs what is missing (Debian's chromium,
# playwright-core from npm), builds nstyle, starts `nstyle serve` on an ephemeral
# loopback port, runs web.test.mjs with node's test runner, and stops the server.
# `run.sh --screenshot` also retakes docs/gallery/web.png.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
(cd .. && cargo build --release --quiet)

log=$(mktemp)
../target/release/nstyle serve --addr 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$log" || true)
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "nstyle serve did not start"; cat "$log"; exit 1; }
export NSTYLE_URL=$url

node --test web.test.mjs
if [ "${1:-}" = "--screenshot" ]; then
  node screenshot.mjs
fi
