#!/bin/sh
# `cmake --install` of the build in $1 into a temporary prefix: the installed
# rz runs, and a program built against the installed header and library with
# pkg-config (shared, and statically) runs.
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
"$tmp/prefix/bin/rz" --version | grep '^rz [0-9]'
pc=$(find "$tmp/prefix" -name ryzanstein.pc)
export PKG_CONFIG_PATH="$(dirname "$pc")"
cat > "$tmp/use.c" << 'END'
#include <ryzanstein.h>
#include <stdio.h>
int main(void) {
    printf("libryzanstein %s, best ISA %s\n", RZ_VERSION_STRING, rz_isa_name(rz_isa_best()));
    return 0;
}
END
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
cc "$tmp/use.c" $(pkg-config --cflags --libs ryzanstein) -o "$tmp/use-shared"
LD_LIBRARY_PATH="$(dirname "$(dirname "$pc")")" "$tmp/use-shared"
# shellcheck disable=SC2046
cc -static-libgcc "$tmp/use.c" $(pkg-config --cflags ryzanstein) "$(dirname "$(dirname "$pc")")/libryzanstein.a" \
   $(pkg-config --static --libs-only-other --libs-only-l ryzanstein | sed 's/-lryzanstein//') -o "$tmp/use-static"
"$tmp/use-static"
