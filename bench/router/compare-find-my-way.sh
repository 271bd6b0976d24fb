#!/usr/bin/env bash
# Runs the GitHub API request lines through find-my-way (Node, installed
# from npm into a temporary folder that is removed afterwards) and through
# gwlb-bench's router.github.match in the same run, and prints both medians
# and the ratio.
#   bench/router/compare-find-my-way.sh [BUILD_DIR] [SET]
# BUILD_DIR defaults to ./build (must contain bench/gwlb-bench); SET to github.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
set_name=${2:-github}
bench="$build/bench/gwlb-bench"
data="$root/tests/router/data/$set_name"
[ -x "$bench" ] || { echo "no $bench (build first: ninja -C $build)" >&2; exit 2; }
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "node and npm are needed" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null 2>&1 &&
  npm install --no-audit --no-fund --silent find-my-way >/dev/null)

fmw_json=$(NODE_PATH="$tmp/node_modules" node "$here/find-my-way-bench.js" "$data")
gw_json=$("$bench" --filter "router.$set_name.match" --json)

FMW="$fmw_json" GW="$gw_json" node -e '
const f = JSON.parse(process.env.FMW);
const g = JSON.parse(process.env.GW).find((b) => b.name.endsWith(".match"));
const pad = (s) => s.padEnd(28);
console.log(pad("router") + "ns/lookup(median)   min      max");
console.log(pad(`find-my-way ${f.version}`) + `${f.ns_per_op.toFixed(1).padStart(10)} ${f.ns_min.toFixed(1).padStart(8)} ${f.ns_max.toFixed(1).padStart(8)}`);
console.log(pad("libgwlb") + `${g.ns_per_op.toFixed(1).padStart(10)} ${g.ns_min.toFixed(1).padStart(8)} ${g.ns_max.toFixed(1).padStart(8)}`);
console.log(`routes: ${f.routes}; ratio libgwlb / find-my-way = ${(g.ns_per_op / f.ns_per_op).toFixed(3)}` +
            ` (find-my-way is ${(f.ns_per_op / g.ns_per_op).toFixed(1)}x slower)`);
'
