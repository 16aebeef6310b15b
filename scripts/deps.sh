#!/usr/bin/env bash
# Installs the Debian packages Ryzanstein needs to build and test. Idempotent.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
          libcmocka-dev libcjson-dev libpcre2-dev libutf8proc-dev qemu-user clang-format
          libmicrohttpd-dev prometheus openssl python3-jinja2 python3-pytest python3-numpy
          python3-pip python3-setuptools python3-wheel python3-torch dpkg-dev chromium)
missing=()
# Node.js and npm may come from elsewhere (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package): install only what is absent.
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
