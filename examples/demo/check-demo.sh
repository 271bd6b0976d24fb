#!/bin/sh
# The demo runs, prints every section of its report, and writes an SVG that
# parses as XML with one panel per algorithm.
set -eu
demo="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$demo" --duration 60 --svg "$dir/chart.svg" > "$dir/report.txt"
pass=0; fail=0
check() { if "$@"; then pass=$((pass + 1)); else echo "FAILED: $*"; fail=$((fail + 1)); fi; }
for section in "Requests per route" "Rate limiting" "Algorithms on the same traffic" \
               "Per-backend share" "Breaker transitions and outlier ejections"; do
  check grep -q "$section" "$dir/report.txt"
done
check grep -q "abusive client:" "$dir/report.txt"
check python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
panels = root.findall(ns + "g")
assert len(panels) == 5, len(panels)
assert len(root.findall(".//" + ns + "polyline")) == 5 * 4
' "$dir/chart.svg"
# A bad option is refused with exit status 2.
set +e; "$demo" --duration 10 --algorithms nosuch --svg - >/dev/null 2>&1; rc=$?; set -e
check [ "$rc" -eq 2 ]
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
