#!/bin/sh
# Install into a temporary prefix, then build examples/minimal.c the way a
# user would (pkg-config), and run it against the installed library.
set -eu
build="$1"; src="$2"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
DESTDIR= meson install -C "$build" --no-rebuild --quiet --destdir "$prefix" >/dev/null
root="$prefix$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')"
pcdir=$(dirname "$(find "$root" -name libgwlb.pc | head -n 1)")
[ -f "$pcdir/libgwlb.pc" ] || { echo "libgwlb.pc not installed"; exit 1; }
sed -i "s|^prefix=.*|prefix=$root|" "$pcdir/libgwlb.pc"
export PKG_CONFIG_PATH="$pcdir"
cc -std=c11 -Wall -Werror -o "$prefix/minimal" "$src/examples/minimal.c" $(pkg-config --cflags --libs libgwlb)
libdir=$(pkg-config --variable=libdir libgwlb)
out=$(LD_LIBRARY_PATH="$libdir" "$prefix/minimal")
echo "$out"
case "$out" in
  "libgwlb 1.0.0: crc32(\"123456789\") = cbf43926, no host available") echo "1 passed, 0 failed" ;;
  *) echo "unexpected output"; echo "0 passed, 1 failed"; exit 1 ;;
esac
