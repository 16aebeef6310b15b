#!/bin/sh
# The Debian package of the build in $1 (`cpack -G DEB`): installed with
# dpkg into an empty temporary root (its library dependencies come from the
# host), the installed rz runs, the systemd unit passes `systemd-analyze
# verify` (where systemd is present) and removing the package leaves nothing.
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$build" && cpack -G DEB -B "$tmp/deb" > "$tmp/cpack.log") || { cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/deb/ryzanstein_*.deb)
dpkg-deb --info "$deb" | grep -E 'Depends: .*libcjson1.*libmicrohttpd'
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
dpkg="dpkg --root=$root --force-not-root --force-script-chrootless --log=/dev/null"
$dpkg --force-depends -i "$deb" > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; exit 1; }
LD_LIBRARY_PATH="$root/usr/lib" "$root/usr/bin/rz" --version | grep '^rz [0-9]'
test -f "$root/usr/include/ryzanstein.h"
if command -v systemd-analyze > /dev/null; then
  mkdir "$tmp/unit"
  sed "s|/usr/bin/rz|$root/usr/bin/rz|" "$root/usr/lib/systemd/system/rz-serve.service" > "$tmp/unit/rz-serve.service"
  systemd-analyze verify "$tmp/unit/rz-serve.service"
  systemd-analyze security --offline=true --threshold=3 "$tmp/unit/rz-serve.service" | tail -1
fi
$dpkg -r ryzanstein > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; exit 1; }
left=$(find "$root/usr" -type f 2> /dev/null | wc -l)
test "$left" -eq 0 || { echo "files left after removal:"; find "$root/usr" -type f; exit 1; }
echo "installed, ran and removed cleanly"
