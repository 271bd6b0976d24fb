#!/bin/bash
# The shared library exports only gwlb_* symbols, each in the GWLB_ version
# node, and imports nothing that prints, aborts, exits or reads the
# environment (the library never uses those as an error channel).
set -eu
so="$1"
command -v nm >/dev/null || { echo "nm not found"; exit 1; }
defined=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
[ -n "$defined" ] || { echo "no exported symbols in $so"; exit 1; }
bad=0
for s in $defined; do
  case "$s" in
    gwlb_*@@GWLB_*|gwlb_*@GWLB_*) ;;
    GWLB_*) ;;  # the version node itself
    *) echo "unexpected export: $s"; bad=1 ;;
  esac
done
imports=$(nm -D --undefined-only "$so" | awk '{print $2}' | sed 's/@.*//')
for s in $imports; do
  case "$s" in
    abort|exit|_exit|_Exit|quick_exit|printf|fprintf|vprintf|vfprintf|puts|fputs|putchar|fputc|perror|getenv|secure_getenv|__assert_fail|fwrite|write|syslog|__printf_chk|__fprintf_chk|__vfprintf_chk)
      echo "forbidden import: $s"; bad=1 ;;
  esac
done
# The exports are exactly the names listed in the version script.
map="$(dirname "$0")/../../lib/libgwlb.map"
listed=$(sed -n 's/^    \(gwlb_[a-z0-9_]*\);$/\1/p' "$map" | sort)
# ... and exactly the functions the public headers declare with GWLB_API.
declared=$(cat "$(dirname "$0")"/../../include/gwlb/*.h | tr '\n' ' ' |
           grep -oE 'GWLB_API[^;{]*;' | grep -oE 'gwlb_[a-z0-9_]+ *\(' | sed 's/ *($//' | sort -u)
if [ "$listed" != "$declared" ]; then
  echo "lib/libgwlb.map differs from the GWLB_API declarations (run .ci/gen-symbols):"
  diff <(echo "$declared") <(echo "$listed") 2>/dev/null || true
  bad=1
fi
exported=$(echo "$defined" | grep '^gwlb_' | sed 's/@.*//' | sort)
if [ "$listed" != "$exported" ]; then
  echo "exports differ from lib/libgwlb.map:"
  diff <(echo "$listed") <(echo "$exported") 2>/dev/null || true
  bad=1
fi
n=$(echo "$defined" | grep -c '^gwlb_' || true)
if [ "$bad" -ne 0 ]; then echo "FAIL"; exit 1; fi
echo "exports: $n gwlb_ symbols, exactly the version script list, all versioned; imports: none forbidden"
echo "1 passed, 0 failed"
