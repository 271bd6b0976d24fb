// Times find-my-way on a route set from tests/router/data: the same request
// lines, in the same order, that gwlb-bench's router.<set>.match uses. Each
// request line N must resolve to route N (checked first). Prints one JSON
// object: {"router":"find-my-way","version":...,"ns_per_op":median,...}.
// Usage: node find-my-way-bench.js <data-dir>/<set>   (NODE_PATH must reach
// the find-my-way package).
'use strict';
const fs = require('fs');
const FindMyWay = require('find-my-way');

const base = process.argv[2];
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.length > 0)
  .map((l) => { const i = l.indexOf(' '); return [l.slice(0, i), l.slice(i + 1)]; });
const routes = lines(base + '.routes.txt');
const requests = lines(base + '.requests.txt');

const router = FindMyWay();
routes.forEach(([method, path], i) => router.on(method, path, () => i, { index: i }));

let wrong = 0;
requests.forEach(([method, path], i) => {
  const r = router.find(method, path);
  if (!r || r.store.index !== i) wrong++;
});
if (wrong !== 0) {
  console.error(`find-my-way: ${wrong} request lines did not resolve to their route`);
  process.exit(1);
}

function timeOnce(iters) {
  let sink = 0;
  const n = requests.length;
  const t0 = process.hrtime.bigint();
  for (let k = 0, i = 0; k < iters; k++) {
    const q = requests[i];
    sink += router.find(q[0], q[1]).store.index;
    if (++i === n) i = 0;
  }
  const dt = Number(process.hrtime.bigint() - t0);
  if (sink < 0) console.log(sink);
  return dt;
}

// Same method as gwlb-bench: calibrate to ~20 ms per run, warm up, 9 runs, median.
let iters = 1000;
while (timeOnce(iters) < 5e6) iters *= 2;
for (let w = 0; w < 3; w++) timeOnce(iters); // let the JIT settle
const samples = [];
for (let r = 0; r < 9; r++) samples.push(timeOnce(iters) / iters);
samples.sort((a, b) => a - b);
const version = require('find-my-way/package.json').version;
console.log(JSON.stringify({ router: 'find-my-way', version, routes: routes.length,
  ns_per_op: samples[4], ns_min: samples[0], ns_max: samples[8] }));
