#!/usr/bin/env bash
# Print the path of a Chromium for the console's browser tests
# (adapters/console), installing Debian's chromium package with apt-get
# when none is on PATH (as root, or through sudo). `.ci/run`, `task test`
# and `task test:browser` run it first. When it cannot install one it
# says why and exits 1: under CI=true the browser tests then fail, else
# they skip, loudly.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
for c in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$c" >/dev/null 2>&1; then command -v "$c"; exit 0; fi
done
sudo=""
if [[ $EUID -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
    echo "chromium.sh: chromium is not installed and installing it needs root (or sudo): apt-get install -y chromium" >&2
    exit 1
  fi
  sudo="sudo -n"
fi
mkdir -p "$root/.stack"
log=$root/.stack/chromium-install.log
echo "installing Debian's chromium with apt-get (log: $log)" >&2
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "chromium.sh: apt-get install chromium failed (full log: $log)" >&2
  exit 1
fi
command -v chromium
