#!/usr/bin/env python3
"""Specification tests of the ctypes binding (examples/python/gwlb.py).

Run: GWLB_LIBRARY=build/libgwlb.so python3 examples/python/test_gwlb.py
Each test names one behaviour and checks exact values (time is driven by
hand). Prints `N passed, M failed`; exits non-zero on failure.
"""

import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlb  # noqa: E402

S = 10**9
MS = 10**6


def expect_error(code, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except gwlb.GwlbError as e:
        assert e.code == code, "expected %s, got %s" % (gwlb.err_name(code), e.name)
        return e
    raise AssertionError("expected %s, nothing raised" % gwlb.err_name(code))


# ---- common ---------------------------------------------------------------

def test_version_matches_header_1_0_0():
    assert gwlb.version() == "1.0.0"
    assert gwlb.version_number() == 10000


def test_strerror_and_err_name_name_every_code():
    assert gwlb.strerror(-6) == "no host available"
    assert gwlb.err_name(-6) == "GWLB_ENOHOST"
    assert gwlb.strerror(12345) == "unknown error"
    assert gwlb.err_name(0) == "GWLB_OK"


def test_struct_layouts_match_the_c_headers():
    prog = os.environ.get("GWLB_ABI_SIZES")
    if not prog:
        print("  (GWLB_ABI_SIZES not set: layout check skipped)")
        return
    import subprocess
    ours = {"gwlb_error_detail": gwlb.ErrorDetail, "gwlb_limit_result": gwlb.LimitResult,
            "gwlb_gcra": gwlb.GcraBucket, "gwlb_limit_req": gwlb.LimitReq,
            "gwlb_balancer_host": gwlb.BalancerHost, "gwlb_balancer_config": gwlb.BalancerConfig,
            "gwlb_balancer_result": gwlb.BalancerResult,
            "gwlb_balancer_host_stats": gwlb.BalancerHostStats,
            "gwlb_breaker_config": gwlb.BreakerConfig, "gwlb_breaker": gwlb._BreakerState,
            "gwlb_breaker_counts": gwlb.BreakerCounts, "gwlb_route": gwlb._Route,
            "gwlb_limiter_policy": gwlb._LimiterPolicy,
            "gwlb_route_header": gwlb._RouteHeader, "gwlb_route_query": gwlb._RouteQuery,
            "gwlb_router_options": gwlb._RouterOptions, "gwlb_header": gwlb._Header,
            "gwlb_router_request": gwlb._RouterRequest, "gwlb_route_param": gwlb._RouteParam,
            "gwlb_route_match": gwlb._RouteMatch}
    out = subprocess.run([prog], stdout=subprocess.PIPE, check=True).stdout.decode()
    c_sizes = dict((n, int(v)) for n, v in (line.split() for line in out.splitlines()))
    bad = {n: (c_sizes.get(n), gwlb.ctypes.sizeof(t)) for n, t in ours.items()
           if c_sizes.get(n) != gwlb.ctypes.sizeof(t)}
    assert not bad, "C size vs ctypes size: %r" % bad


# ---- limiter --------------------------------------------------------------

def test_gcra_burst_4_per_second_admits_5_then_retry_after_1s():
    b = gwlb.GcraBucket(1, S, 4)
    got = [b.allow(0) for _ in range(6)]
    assert [r.allowed for r in got] == [1, 1, 1, 1, 1, 0]
    assert [r.remaining for r in got[:5]] == [4, 3, 2, 1, 0]
    assert got[0].limit == 5
    assert got[5].retry_after_ns == S
    assert got[5].reset_after_ns == 5 * S


def test_gcra_rejects_zero_count_with_erange():
    expect_error(-3, gwlb.GcraBucket, 0, S, 1)


def test_limit_req_2rps_burst_1_gives_200_200_503():
    lim = gwlb.LimitReq(2, "r/s", burst=1)
    assert [lim.allow(0).allowed for _ in range(3)] == [1, 1, 0]


def test_limit_req_30rpm_delay_1_burst_2_delays_third_2000ms_rejects_fourth():
    lim = gwlb.LimitReq(30, "r/m", burst=2, delay=1)
    r1, r2, r3 = lim.allow(0), lim.allow(0), lim.allow(0)
    assert (r1.delay_ns, r2.delay_ns, r3.delay_ns) == (0, 0, 2000 * MS)
    r4 = lim.allow(200 * MS)
    assert r4.allowed == 0


def test_ratelimit_headers_for_a_rejected_request():
    lim = gwlb.LimitReq(2, "r/s", burst=1)
    lim.allow(0)
    lim.allow(0)
    r = lim.allow(0)
    h = gwlb.ratelimit_headers(r, "perip", lim.window_ns())
    assert h["RateLimit-Policy"] == '"perip";q=2;w=1', h
    assert h["RateLimit"] == '"perip";r=0;t=1', h
    assert h["Retry-After"] == "1", h
    assert h["X-RateLimit-Limit"] == "2"
    assert h["X-RateLimit-Remaining"] == "0"


def test_ratelimit_headers_omit_retry_after_when_allowed():
    b = gwlb.GcraBucket(10, 60 * S, 9)
    r = b.allow(0)
    h = gwlb.ratelimit_headers(r, "api", b.config.tolerance_ns)
    assert h["RateLimit-Policy"] == '"api";q=10;w=60', h
    assert h["RateLimit"] == '"api";r=9;t=6', h
    assert "Retry-After" not in h


def test_keyed_limiter_keeps_one_bucket_per_key():
    kl = gwlb.KeyedLimiter(1000, b"0123456789abcdef", "limit_req", rate=1, unit="r/m", burst=2,
                           nodelay=True)
    assert [kl.allow("alice", 0).allowed for _ in range(4)] == [1, 1, 1, 0]
    assert [kl.allow("bob", 0).allowed for _ in range(4)] == [1, 1, 1, 0]


def test_keyed_limiter_empty_key_is_empty():
    kl = gwlb.KeyedLimiter(10, b"k" * 16)
    expect_error(-19, kl.allow, "", 0)


# ---- balancer -------------------------------------------------------------

def test_swrr_weights_5_1_1_give_nginx_sequence():
    b = gwlb.Balancer([("a", 5), ("b", 1), ("c", 1)], "swrr")
    seq = []
    for _ in range(14):
        p = b.pick(0)
        seq.append(p.identity)
        b.release(p, 0)
    assert "".join(seq) == "aabacaa" * 2, seq


def test_pick_counts_in_flight_until_release():
    b = gwlb.Balancer(["h1", "h2"], "p2c")
    p = b.pick(0)
    assert b.host_stats(p.host_index).in_flight == 1
    b.release(p, 1000, latency_ns=1000)
    assert b.host_stats(p.host_index).in_flight == 0


def test_release_twice_is_estate():
    b = gwlb.Balancer(["h1", "h2"], "p2c")
    p = b.pick(0)
    b.release(p, 0)
    expect_error(-7, b.release, p, 0)


def test_all_hosts_down_is_panic_mode_by_default():
    b = gwlb.Balancer(["h1", "h2"], "p2c")  # Envoy: below 50% healthy, use all hosts
    b.set_flags(0, set_=["maintenance"])
    b.set_flags(1, set_=["maintenance"])
    assert b.pick(0) is not None


def test_p2c_balances_held_requests_over_4_hosts():
    b = gwlb.Balancer(["h%d" % i for i in range(4)], "p2c", seed=7)
    held = [b.pick(0) for _ in range(40)]
    loads = [b.host_stats(i).in_flight for i in range(4)]
    assert sum(loads) == 40 and max(loads) - min(loads) <= 4, loads
    for p in held:
        b.release(p, 0)
    assert [b.host_stats(i).in_flight for i in range(4)] == [0, 0, 0, 0]


def test_pick_skips_hosts_in_maintenance_and_reports_no_host():
    b = gwlb.Balancer(["h1", "h2"], "p2c", panic_threshold=0)  # no Envoy panic mode
    b.set_flags(0, set_=["maintenance"])
    for _ in range(10):
        p = b.pick(0)
        assert p.identity == "h2"
        b.release(p, 0)
    b.set_flags(1, set_=["maintenance"])
    assert b.pick(0) is None


def test_pick_excluding_tried_hosts_for_a_retry():
    b = gwlb.Balancer(["h1", "h2", "h3"], "p2c")
    p = b.pick(0, exclude=[0, 2])
    assert p.identity == "h2"


def test_duplicate_identity_is_eexist_with_both_indices():
    e = expect_error(-4, gwlb.Balancer, ["x", "y", "x"], "p2c")
    assert (e.detail.item, e.detail.other) == (2, 0), (e.detail.item, e.detail.other)


def test_weight_zero_is_eweight():
    expect_error(-21, gwlb.Balancer, [("x", 0)], "swrr")


# ---- router ---------------------------------------------------------------

ROUTES = [
    {"path": "/users/{id}", "methods": ["GET"], "id": 10},
    {"path": "/users/new", "methods": ["GET", "POST"], "id": 11},
    {"path": "/files/{*rest}", "methods": ["GET"], "id": 12},
    {"path": "/api", "prefix": True, "id": 13},
]


def test_router_captures_parameters():
    r = gwlb.Router(ROUTES)
    m = r.match("GET", "/users/42")
    assert (m.route, m.id, m.params) == (0, 10, {"id": "42"}), m


def test_router_static_beats_parameter():
    r = gwlb.Router(ROUTES)
    assert r.match("GET", "/users/new").id == 11


def test_router_catch_all_takes_the_rest():
    r = gwlb.Router(ROUTES)
    assert r.match("GET", "/files/a/b.txt").params == {"rest": "a/b.txt"}


def test_router_prefix_respects_segments():
    r = gwlb.Router(ROUTES)
    assert r.match("GET", "/api/v1").id == 13
    assert r.match("GET", "/apix") is None


def test_router_method_not_allowed_gives_allow_header():
    r = gwlb.Router(ROUTES)
    try:
        r.match("DELETE", "/users/new")
    except gwlb.MethodNotAllowed as e:
        assert e.allow == "GET, POST", e.allow
        return
    raise AssertionError("no MethodNotAllowed")


def test_router_unclosed_brace_is_esyntax_naming_the_route():
    e = expect_error(-10, gwlb.Router, [{"path": "/ok"}, {"path": "/users/{id"}])
    assert e.detail.item == 1


# ---- breaker --------------------------------------------------------------

def test_breaker_gobreaker_default_opens_on_6th_failure():
    br = gwlb.Breaker()
    for i in range(5):
        ok, t = br.allow(i)
        assert ok
        br.record(t, "failure", i)
    assert br.state() == "closed"
    ok, t = br.allow(5)
    br.record(t, "failure", 5)
    assert br.state() == "open"
    assert br.allow(6) == (False, "open")


def test_breaker_half_opens_after_wait_and_success_closes():
    br = gwlb.Breaker()
    for i in range(6):
        ok, t = br.allow(0)
        br.record(t, "failure", 0)
    assert br.state(60 * S) == "open"          # strictly after the wait
    assert br.state(60 * S + 1) == "half-open"
    ok, t = br.allow(60 * S + 1)
    assert ok
    assert br.allow(60 * S + 2) == (False, "half-open-full")
    br.record(t, "success", 60 * S + 3)
    assert br.state() == "closed"


def test_breaker_drops_results_from_an_older_generation():
    br = gwlb.Breaker(consecutive_failures=1)
    ok, old = br.allow(0)
    ok, t = br.allow(0)
    br.record(t, "failure", 0)            # opens: new generation
    assert br.record(old, "success", 1) is False
    assert br.state() == "open"


def main():
    passed = failed = 0
    for name, fn in list(globals().items()):
        if not name.startswith("test_"):
            continue
        try:
            fn()
            passed += 1
            print("PASS %s" % name)
        except Exception:
            failed += 1
            print("FAIL %s" % name)
            traceback.print_exc(file=sys.stdout)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
