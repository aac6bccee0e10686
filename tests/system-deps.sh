#!/usr/bin/env bash
# What the test suite needs from the distribution (Debian), checked before
# `make test` runs pytest: socat (serial pty pairs), Chromium (browser tests),
# PostgreSQL (the hub's tests start a throw-away cluster), systemd-analyze and the
# shell linter (image checks), npm with Node.js (the node-opcua interop peer in
# tests/peers/opcua-node; Debian 12's nodejs is 18, which node-opcua 2.182 accepts). As root, missing packages are installed with
# apt-get; otherwise this stops at once and prints the one command to run.
set -euo pipefail

need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v npm >/dev/null 2>&1 || need+=(npm)
# Chromium renders the screens' text with it (the layout checks measure text).
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need these Debian packages: ${need[*]}" >&2
    echo "Install them once, then run make test again:" >&2
    echo "    sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing ${need[*]} (apt-get)" >&2
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
