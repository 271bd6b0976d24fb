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
        self.proc = subprocess.Popen([NGINX, "-p", self.prefix, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "logs", "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

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
    for t in tests:
        try:
            t(module)
        except Exception as e:  # a crash in one scenario fails it, the rest go on
            check(t.__name__, False, "exception: %r" % (e,))
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


if __name__ == "__main__":
    sys.exit(main())
