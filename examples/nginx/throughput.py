#!/usr/bin/env python3
"""Throughput of nginx with and without ngx_http_gwlb_module, as a ratio.

Usage: throughput.py MODULE.so [SECONDS] [CONNECTIONS]

One nginx (worker_processes 2, 127.0.0.1, ports 18600-18614) proxies to
four local backends (`return 200 $server_port`) through
  /stock  nginx's own round robin (upstream without a balancer directive)
  /gwlb   gwlb_balancer p2c + gwlb_breaker + gwlb_limit_req (rate high
          enough never to reject)
and wrk (Debian package `wrk`) measures requests/s on each, alternating
stock/gwlb three times; prints the medians and gwlb/stock. Needs wrk; not
part of the test suites (timings on a shared machine are noisy).
"""

import os
import re
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_nginx as t  # noqa: E402


def wrk(path, seconds, conns):
    out = subprocess.run(["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds,
                          "http://%s:%d%s" % (t.HOST, t.FRONT, path)],
                         stdout=subprocess.PIPE, check=True, timeout=seconds + 30).stdout.decode()
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError("%s: %s non-2xx responses" % (path, non2xx.group(1)))
    return float(m.group(1))


def main():
    if len(sys.argv) < 2 or not shutil.which("wrk"):
        print("usage: throughput.py MODULE.so [SECONDS] [CONNECTIONS]  (needs wrk)")
        return 2
    module = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    b = t.BACKENDS
    conf = (t.backends_conf()
            + t.upstream("stock", "", b)
            + t.upstream("gwlb", "gwlb_balancer p2c;\n    gwlb_breaker failures=5 wait=10s;", b)
            + "  gwlb_limit_req_zone $binary_remote_addr zone=all:1m rate=1000000r/s;\n"
            + "  server {\n    listen %s:%d reuseport;\n" % (t.HOST, t.FRONT)
            + "    location /stock { proxy_pass http://stock; }\n"
            + "    location /gwlb { gwlb_limit_req zone=all burst=30000 nodelay;"
              " proxy_pass http://gwlb; }\n  }\n")
    n = t.Nginx(module, conf)
    try:
        n.start([t.FRONT] + b)
        stock, gw = [], []
        for _ in range(3):
            stock.append(wrk("/stock", seconds, conns))
            gw.append(wrk("/gwlb", seconds, conns))
        s, g = statistics.median(stock), statistics.median(gw)
        print("stock nginx round robin: %s req/s (median %.0f)" % (["%.0f" % x for x in stock], s))
        print("gwlb p2c+breaker+limit:  %s req/s (median %.0f)" % (["%.0f" % x for x in gw], g))
        print("ratio gwlb/stock = %.3f" % (g / s))
    finally:
        n.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
