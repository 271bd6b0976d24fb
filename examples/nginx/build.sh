#!/usr/bin/env bash
# Build the libgwlb nginx dynamic module (ngx_http_gwlb_module.so) against
# Debian's nginx (package nginx-dev: the source tree and configure flags in
# /usr/share/nginx/src), with libgwlb linked in statically.
#
#   build.sh OUTPUT.so [WORK_DIR] [--cc "CC ARGS"] [-- LIB_SOURCES...]
#
# OUTPUT.so  where the module goes (meson passes a path in the build dir)
# WORK_DIR   scratch directory (a copy of the nginx tree, objects); default
#            OUTPUT's directory + /ngx_gwlb_work. Never the source tree.
# --cc       the C compiler (default: $CC, else cc)
# -- ...     libgwlb's .c files (meson passes its exact source list);
#            default: every lib/*/*.c of this checkout
#
# How: libgwlb's sources are compiled with -fPIC and hidden visibility into
# a private archive (so no gwlb_* symbol is exported from the module and it
# cannot clash with another copy of the library), nginx's tree is copied to
# WORK_DIR and configured with Debian's flags (conf_flags: --with-compat,
# the same options as the packaged binary) plus
# --add-dynamic-module=examples/nginx, then `make modules`. Finally the
# module's dynamic section is checked: it must need libc only.
set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: build.sh OUTPUT.so [WORK_DIR] [--cc CC] [-- LIB_SOURCES...]"
out=$1; shift
work=
if [ $# -gt 0 ] && [ "$1" != "--cc" ] && [ "$1" != "--" ]; then work=$1; shift; fi
cc=${CC:-cc}
sources=()
while [ $# -gt 0 ]; do
  case $1 in
    --cc) cc=$2; shift 2 ;;
    --) shift; sources=("$@"); break ;;
    *) die "unexpected argument: $1" ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ngx_src=${GWLB_NGINX_SRC:-/usr/share/nginx/src}
[ -f "$ngx_src/configure" ] && [ -f "$ngx_src/conf_flags" ] ||
  die "$ngx_src/configure or conf_flags missing: install Debian's nginx-dev"

mkdir -p "$(dirname "$out")"
out_dir=$(cd "$(dirname "$out")" && pwd)
out=$out_dir/$(basename "$out")
[ -n "$work" ] || work=$out_dir/ngx_gwlb_work
mkdir -p "$work"
work=$(cd "$work" && pwd)
case $work/ in "$root"/examples/*|"$root"/lib/*|"$root"/include/*) die "refusing to build inside the source tree: $work" ;; esac

if [ ${#sources[@]} -eq 0 ]; then
  sources=("$root"/lib/*/*.c)
fi

# 1. libgwlb as a private PIC archive. GWLB_BUILDING is left undefined so
#    GWLB_API expands to nothing and every symbol stays hidden.
objdir=$work/gwlb-objs
rm -rf "$objdir"; mkdir -p "$objdir"
objs=()
pids=()
jobs_max=$(nproc 2>/dev/null || echo 2)
i=0
for s in "${sources[@]}"; do
  o=$objdir/$i-$(basename "${s%.c}").o
  # shellcheck disable=SC2086
  $cc -std=c11 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra \
    -I"$root/include" -I"$root/lib" -c "$s" -o "$o" &
  pids+=($!)
  objs+=("$o")
  i=$((i + 1))
  if [ ${#pids[@]} -ge "$jobs_max" ]; then
    wait "${pids[0]}" || die "compiling libgwlb failed"
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || die "compiling libgwlb failed"; done
archive=$work/libgwlb-nginx.a
rm -f "$archive"
ar rcs "$archive" "${objs[@]}"

# 2. nginx tree copy + configure (Debian's flags) + make modules.
tree=$work/nginx
rm -rf "$tree"
cp -r "$ngx_src" "$tree"
# shellcheck disable=SC1091
source "$tree/conf_flags"
export GWLB_INCLUDE=$root/include GWLB_ARCHIVE=$archive
(
  cd "$tree"
  ./configure "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$here" >"$work/configure.log" 2>&1 ||
    { tail -30 "$work/configure.log" >&2; exit 1; }
  make -j"$jobs_max" -f objs/Makefile modules >"$work/make.log" 2>&1 ||
    { grep -E 'error|warning' "$work/make.log" >&2 || tail -30 "$work/make.log" >&2; exit 1; }
)
cp "$tree/objs/ngx_http_gwlb_module.so" "$out.tmp"

# 3. The module must depend on libc only and export no gwlb_* symbol.
needed=$(readelf -d "$out.tmp" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case "$needed" in
  ""|"libc.so.6 ") ;;
  *) rm -f "$out.tmp"; die "module needs more than libc: $needed" ;;
esac
missing=$(nm -u "$out.tmp" | awk '$2 ~ /^gwlb_/ {print $2}' | tr '\n' ' ')
if [ -n "$missing" ]; then
  rm -f "$out.tmp"; die "libgwlb sources lack: $missing"
fi
if nm -D --defined-only "$out.tmp" | grep -q ' gwlb_'; then
  rm -f "$out.tmp"; die "module exports gwlb_* symbols"
fi
mv "$out.tmp" "$out"
echo "build.sh: built $out (NEEDED: ${needed:-none})"
