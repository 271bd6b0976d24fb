#!/usr/bin/env python3
"""Integration test of ngx_http_gwlb_module against Debian's nginx.

Usage: test_nginx.py MODULE.so
       test_nginx.py --build MODULE.so [--cc CC] [-- LIB_SOURCES...]
         (first builds the module with build.sh, as meson's test does)

Starts its own nginx (master + `worker_processes 2`) on 127.0.0.1 in a
temporary prefix, with the module loaded and local backends (server blocks
of the same nginx answering `$server_port`), drives traffic with a bounded
sequential client, checks exact outcomes, and stops nginx whatever happens.
Ports: 18600-18699. Prints `N passed, M failed`; exits non-zero on failure.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "127.0.0.1"
FRONT = 18600          # gateway ports 18600..18609
BACKENDS = [18611, 18612, 18613, 18614]
FAILING = 18619        # a backend that always answers 503
DEAD = 18618           # nothing listens here: connections are refused

passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("PASS %s" % name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


class Nginx:
    """One nginx master in a temporary prefix; stopped by stop() (bounded)."""

    def __init__(self, module, http_conf):
        self.prefix = tempfile.mkdtemp(prefix="gwlb-nginx-")
        os.chmod(self.prefix, 0o755)  # workers run as nobody when started as root
        os.makedirs(os.path.join(self.prefix, "logs"))
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(
                "load_module %s;\n"
                "worker_processes 2;\n"
                "daemon off;\n"
                "master_process on;\n"
                "pid %s/logs/nginx.pid;\n"
                "error_log %s/logs/error.log info;\n"
                "events { worker_connections 256; }\n"
                "http {\n"
                "  access_log off;\n"
                "  client_body_temp_path %s/body;\n"
                "  proxy_temp_path %s/proxy;\n"
                "%s\n"
                "}\n" % (module, self.prefix, self.prefix, self.prefix, self.prefix, http_conf))
        self.proc = None

    def test_config(self):
        r = subprocess.run([NGINX, "-t", "-p", self.prefix, "-c", self.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return r.returncode, r.stdout.decode(errors="replace")

    def start(self, wait_ports):
        self.stderr = open(os.path.join(self.prefix, "logs", "stderr.log"), "w")
        self.proc = subprocess.Popen([NGINX, "-p", self.prefix, "-c", self.conf],
                                     stdout=self.stderr, stderr=self.stderr)
        deadline = time.monotonic() + 10
        for port in wait_ports:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("nginx exited: %s" % self.error_log())
                try:
                    socket.create_connection((HOST, port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("nginx did not listen on %d" % port)
                    time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "stderr", None) is not None:
            self.stderr.close()
            self.stderr = None

    def error_log(self):
        text = ""
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.prefix, "logs", name)) as f:
                    text += f.read()[-3000:]
            except OSError:
                pass
        return text

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)


def get(port, path, headers=None):
    """One request on a fresh connection: (status, body, headers dict)."""
    c = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        return r.status, body, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def main():
    args = sys.argv[1:]
    if args[:1] == ["--build"] and len(args) >= 2:
        module = os.path.abspath(args[1])
        cmd = ["bash", os.path.join(os.path.dirname(os.path.abspath(__file__)), "build.sh"),
               module] + args[2:]
        r = subprocess.run(cmd, timeout=600)
        check("module_builds_with_build_sh", r.returncode == 0, "build.sh exit %d" % r.returncode)
        if r.returncode != 0:
            print("%d passed, %d failed" % (passed, failed))
            return 1
    elif len(args) == 1:
        module = os.path.abspath(args[0])
    else:
        print("usage: test_nginx.py MODULE.so | --build MODULE.so [--cc CC] [-- SOURCES...]")
        return 2
    tests = [t for n, t in sorted(globals().items()) if n.startswith("test_")]
    # Several build trees may run this suite at once (CI, each engineer's
    # build): the fixed loopback ports are taken under a lock, bounded wait.
    import fcntl
    lock = open(os.path.join(tempfile.gettempdir(), "gwlb-nginx-module-test.lock"), "w")
    deadline = time.monotonic() + 600
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                check("port_lock_acquired", False, "another run held the lock for 600 s")
                print("%d passed, %d failed" % (passed, failed))
                return 1
            time.sleep(0.2)
    try:
        for t in tests:
            try:
                t(module)
            except Exception as e:  # a crash in one scenario fails it, the rest go on
                check(t.__name__, False, "exception: %r" % (e,))
    finally:
        if GATEWAY is not None:
            GATEWAY.cleanup()
        lock.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def test_module_depends_on_libc_only(module):
    out = subprocess.run(["readelf", "-d", module], stdout=subprocess.PIPE, check=True).stdout
    needed = re.findall(rb"\(NEEDED\).*\[(.*)\]", out)
    check("module_depends_on_libc_only", needed in ([], [b"libc.so.6"]), repr(needed))


def test_module_loads_with_load_module(module):
    n = Nginx(module, "  server { listen %s:%d; return 200 ok; }" % (HOST, FRONT))
    try:
        rc, out = n.test_config()
        check("module_loads_with_load_module", rc == 0 and "test is successful" in out, out)
    finally:
        n.cleanup()



def backends_conf():
    conf = ""
    for port in BACKENDS:
        conf += ("  server { listen %s:%d; location / { return 200 \"$server_port\"; } }\n"
                 % (HOST, port))
    conf += "  server { listen %s:%d; location / { return 503 \"fail\"; } }\n" % (HOST, FAILING)
    return conf


def upstream(name, directives, ports, extra=""):
    servers = "".join("    server %s:%d%s;\n" % (HOST, p, extra.get(p, "") if isinstance(extra, dict) else extra)
                      for p in ports)
    return "  upstream %s {\n    %s\n%s  }\n" % (name, directives, servers)


SLOW = 18615  # a python backend answering after 40 ms


def slow_backend():
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(0.04)
            body = str(SLOW).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((HOST, SLOW), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


def gateway_conf():
    b = BACKENDS
    return (backends_conf()
            + upstream("p2c", "gwlb_balancer p2c;", b)
            + upstream("swrr", "gwlb_balancer swrr;", b[:3], {b[0]: " weight=5"})
            + upstream("ewma", "gwlb_balancer ewma;", [b[0], b[1], SLOW])
            + upstream("maglev", "gwlb_balancer maglev key=$arg_k;", b)
            + upstream("breaker", "gwlb_balancer p2c;\n    gwlb_breaker failures=3 wait=60s;",
                       [b[0], b[1], FAILING])
            + upstream("passive", "gwlb_balancer swrr;", [b[0], DEAD, b[1]])
            + upstream("g_chash", "gwlb_balancer hash key=$arg_k consistent;", b, {b[0]: " weight=2"})
            + upstream("n_chash", "hash $arg_k consistent;", b, {b[0]: " weight=2"})
            + upstream("g_hash", "gwlb_balancer hash key=$arg_k;", b, {b[1]: " weight=3"})
            + upstream("n_hash", "hash $arg_k;", b, {b[1]: " weight=3"})
            + "  gwlb_limit_req_zone $arg_client zone=perclient:1m rate=1r/m;\n"
            + "  gwlb_limit_req_zone $arg_client zone=paced:1m rate=10r/s;\n"
            + "  server {\n"
              "    listen %s:%d reuseport;\n"
              "    add_header X-Worker $pid always;\n"
              "    location /p2c { proxy_pass http://p2c; }\n"
              "    location /swrr { proxy_pass http://swrr; }\n"
              "    location /ewma { proxy_pass http://ewma; }\n"
              "    location /maglev { proxy_pass http://maglev; }\n"
              "    location /breaker { proxy_pass http://breaker; }\n"
              "    location /passive { proxy_pass http://passive;"
              " add_header X-Upstream $upstream_addr always; }\n"
              "    location /g_chash { proxy_pass http://g_chash; }\n"
              "    location /n_chash { proxy_pass http://n_chash; }\n"
              "    location /g_hash { proxy_pass http://g_hash; }\n"
              "    location /n_hash { proxy_pass http://n_hash; }\n"
              "    location /limited { gwlb_limit_req zone=perclient burst=5 nodelay;"
              " proxy_pass http://p2c; }\n"
              "    location /paced { gwlb_limit_req zone=paced burst=5; proxy_pass http://p2c; }\n"
              "  }\n" % (HOST, FRONT))


GATEWAY = None
GATEWAY_ERROR = None


def gateway(module):
    """The shared gateway nginx, started once; a start failure fails every
    scenario that needs it, quickly."""
    global GATEWAY, GATEWAY_ERROR
    if GATEWAY_ERROR is not None:
        raise RuntimeError("gateway did not start: " + GATEWAY_ERROR)
    if GATEWAY is None:
        n = Nginx(module, gateway_conf())
        try:
            rc, out = n.test_config()
            if rc != 0:
                raise RuntimeError("nginx -t: " + out)
            n.start([FRONT] + BACKENDS + [FAILING])
        except Exception as e:
            GATEWAY_ERROR = str(e)
            n.cleanup()
            raise
        GATEWAY = n
    return GATEWAY


def bodies(path, n):
    out = []
    for _ in range(n):
        status, body, _h = get(FRONT, path)
        out.append((status, body))
    return out


def test_p2c_spreads_requests_over_all_backends(module):
    gateway(module)
    got = bodies("/p2c", 400)
    counts = {p: sum(1 for s, b in got if s == 200 and b == str(p)) for p in BACKENDS}
    print("  p2c counts over 400 sequential requests: %s" % counts)
    check("p2c_spreads_requests_over_all_backends",
          sum(counts.values()) == 400 and all(60 <= c <= 140 for c in counts.values()), counts)


def test_swrr_sequence_is_nginx_5_1_1_across_workers(module):
    gateway(module)
    a, b_, c = (str(p) for p in BACKENDS[:3])
    got = [b for s, b in bodies("/swrr", 70)]
    # nginx smooth WRR with weights 5,1,1: a a b a c a a, repeated; the state
    # is shared, so the sequence holds whichever worker serves each request
    expect = [a, a, b_, a, c, a, a] * 10
    check("swrr_sequence_is_nginx_5_1_1_across_workers", got == expect, got[:14])


def test_requests_are_served_by_both_workers(module):
    gateway(module)
    pids = set()
    for _ in range(60):
        _s, _b, h = get(FRONT, "/p2c")
        pids.add(h.get("x-worker"))
    check("requests_are_served_by_both_workers", len(pids) == 2, pids)


def test_ewma_avoids_the_slow_backend(module):
    srv = slow_backend()
    try:
        gateway(module)
        got = [b for s, b in bodies("/ewma", 100)]
        slow = got.count(str(SLOW))
        fast = [got.count(str(p)) for p in BACKENDS[:2]]
        print("  ewma: slow backend (40 ms) got %d of 100, fast ones %s" % (slow, fast))
        check("ewma_avoids_the_slow_backend", slow <= 10 and sum(fast) + slow == 100
              and min(fast) >= 10, (slow, fast))
    finally:
        srv.shutdown()
        srv.server_close()


def test_maglev_maps_a_key_to_one_backend(module):
    gateway(module)
    first = {}
    stable = True
    for rnd in range(3):
        for k in range(40):
            s, b, _h = get(FRONT, "/maglev?k=user%d" % k)
            if rnd == 0:
                first[k] = b
            elif first[k] != b:
                stable = False
    spread = len(set(first.values()))
    check("maglev_maps_a_key_to_one_backend", stable and spread == 4, (stable, spread))


def test_refused_backend_is_tried_once_by_all_workers(module):
    # nginx max_fails=1 fail_timeout=10s (defaults) kept in the shared zone:
    # after one refused connection (retried on the next server, so the client
    # still gets 200) no worker tries the dead server again within 10 s.
    # nginx's own round robin without a `zone` would try it once per worker.
    gateway(module)
    statuses, tries = [], 0
    for _ in range(40):
        s, _b, h = get(FRONT, "/passive")
        statuses.append(s)
        tries += h.get("x-upstream", "").count(":%d" % DEAD)
    check("refused_backend_is_tried_once_by_all_workers",
          statuses == [200] * 40 and tries == 1, (statuses.count(200), tries))


def test_hash_consistent_maps_keys_as_nginx_does(module):
    gateway(module)
    diff = [k for k in range(200)
            if get(FRONT, "/g_chash?k=key%d" % k)[1] != get(FRONT, "/n_chash?k=key%d" % k)[1]]
    check("hash_consistent_maps_keys_as_nginx_does", diff == [], diff[:10])


def test_hash_maps_keys_as_nginx_does(module):
    gateway(module)
    diff = [k for k in range(200)
            if get(FRONT, "/g_hash?k=key%d" % k)[1] != get(FRONT, "/n_hash?k=key%d" % k)[1]]
    check("hash_maps_keys_as_nginx_does", diff == [], diff[:10])


def test_limit_req_admits_exactly_burst_plus_one(module):
    gateway(module)
    for client in ("alice", "bob"):
        statuses = []
        hdrs = first = None
        for _ in range(20):
            s, _b, h = get(FRONT, "/limited?client=%s" % client)
            statuses.append(s)
            if first is None:
                first = h
            if s == 429 and hdrs is None:
                hdrs = h
        check("limit_req_admitted_response_carries_ratelimit[%s]" % client,
              first.get("ratelimit") == '"perclient";r=5;t=0', first)
        admitted = statuses.count(200)
        check("limit_req_admits_exactly_burst_plus_one[%s]" % client,
              admitted == 6 and statuses.count(429) == 14 and statuses[:6] == [200] * 6,
              statuses)
        ok = (hdrs is not None
              and hdrs.get("ratelimit-policy") == '"perclient";q=6;w=375'
              and hdrs.get("ratelimit", "").startswith('"perclient";r=0;t=')
              and 0 < int(hdrs.get("retry-after", "0")) <= 63)
        check("limit_req_429_carries_ratelimit_headers[%s]" % client, ok, hdrs)


def test_limit_req_without_nodelay_delays_queued_requests(module):
    # rate=10r/s burst=5, three requests at once: nginx admits the first at
    # once and delays the others by ~100 ms and ~200 ms (excess / rate)
    import threading
    gateway(module)
    times = []

    t0 = time.monotonic()  # completions are measured from one common start

    def one():
        try:
            s, _b, _h = get(FRONT, "/paced?client=carol")
        except OSError:
            s = 0
        times.append((time.monotonic() - t0, s))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    d = sorted(times)
    print("  paced: %s" % ["%.0f ms %d" % (x * 1000, s) for x, s in d])
    check("limit_req_without_nodelay_delays_queued_requests",
          len(d) == 3 and all(s == 200 for _x, s in d) and d[1][0] >= 0.090
          and d[2][0] >= 0.190 and d[0][0] < 0.090, d)


def test_breaker_ejects_failing_backend_after_3_failures(module):
    gateway(module)
    got = bodies("/breaker", 60)
    failures = sum(1 for s, b in got if s == 503)
    last = got[-30:]
    print("  breaker: 503s seen = %d of 60" % failures)
    check("breaker_ejects_failing_backend_after_3_failures", failures == 3, failures)
    check("traffic_avoids_the_ejected_backend",
          all(s == 200 and b in (str(BACKENDS[0]), str(BACKENDS[1])) for s, b in last), last)


def test_zy_reload_keeps_limits_and_ejections(module):
    # SIGHUP: new workers on a new cycle reuse the zones (same names and
    # sizes): the limiter's keys and the breaker's ejection survive
    n = gateway(module)
    old = set(get(FRONT, "/p2c")[2].get("x-worker") for _ in range(10))
    n.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    new = set()
    while time.monotonic() < deadline:
        pids = set(get(FRONT, "/p2c")[2].get("x-worker") for _ in range(6))
        if not (pids & old):
            new = pids
            break
        time.sleep(0.1)
    check("reload_replaced_the_workers", bool(new), (old, new))
    s, _b, _h = get(FRONT, "/limited?client=alice")
    check("reload_keeps_the_limiter_state", s == 429, s)
    got = bodies("/breaker", 20)
    check("reload_keeps_the_breaker_open", all(st == 200 for st, _b in got), got)


def test_zz_stop_gateway(module):
    global GATEWAY
    if GATEWAY is not None:
        log = GATEWAY.error_log()
        GATEWAY.cleanup()
        GATEWAY = None
        check("nginx_error_log_has_no_alerts", "[alert]" not in log and "[emerg]" not in log
              and "[crit]" not in log, log[-2000:])


if __name__ == "__main__":
    sys.exit(main())
