"""libgwlb for Python, through ctypes (standard library only).

The shared library is found through the environment variable GWLB_LIBRARY
(a path to libgwlb.so), else the system path (ctypes.util.find_library,
then "libgwlb.so.1"). Every foreign function is declared with explicit
argtypes/restype, so a wrong call raises instead of corrupting memory.

Errors: a negative GWLB_E* return raises GwlbError (code, name, message,
and the builder's error detail when there is one). Handles (Balancer,
Router, HashTable...) free their C object when closed or collected; the
small per-entity primitives (GcraBucket, Breaker...) are ctypes structures
owned by Python, exactly as a C host embeds them.

Time is an input, as in the C API: every time-dependent call takes `now`
in nanoseconds; `clock_ns()` reads CLOCK_MONOTONIC for hosts that want it.
"""

import ctypes
import ctypes.util
import os

__all__ = ["GwlbError", "lib", "version", "version_number", "strerror", "err_name", "clock_ns"]


def _load():
    path = os.environ.get("GWLB_LIBRARY")
    if path:
        return ctypes.CDLL(path)
    for name in (ctypes.util.find_library("gwlb"), "libgwlb.so.1", "libgwlb.so"):
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                pass
    raise OSError("libgwlb not found: set GWLB_LIBRARY to the path of libgwlb.so")


lib = _load()

_c = ctypes
_u8, _u32, _u64, _i32, _i64 = _c.c_uint8, _c.c_uint32, _c.c_uint64, _c.c_int32, _c.c_int64
_int, _sz, _vp, _cp = _c.c_int, _c.c_size_t, _c.c_void_p, _c.c_char_p


def _fn(name, restype, *argtypes):
    """Declare one foreign function; None when this library build lacks it."""
    f = getattr(lib, name, None)
    if f is None:
        return None
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# ---- common -------------------------------------------------------------

GWLB_ERROR_MESSAGE_MAX = 160


class ErrorDetail(_c.Structure):
    _fields_ = [("code", _i32), ("item", _i32), ("other", _i32), ("column", _i32),
                ("field", _cp), ("message", _c.c_char * GWLB_ERROR_MESSAGE_MAX)]


_version_number = _fn("gwlb_version_number", _int)
_version_string = _fn("gwlb_version_string", _cp)
_strerror = _fn("gwlb_strerror", _cp, _int)
_err_name = _fn("gwlb_err_name", _cp, _int)
_error_detail_init = _fn("gwlb_error_detail_init", None, _c.POINTER(ErrorDetail))
_clock_ns = _fn("gwlb_clock_ns", _u64)


def version():
    """The library's version string, e.g. "1.0.0"."""
    return _version_string().decode()


def version_number():
    """MAJOR * 10000 + MINOR * 100 + PATCH."""
    return _version_number()


def strerror(code):
    return _strerror(code).decode()


def err_name(code):
    return _err_name(code).decode()


def clock_ns():
    """CLOCK_MONOTONIC in nanoseconds (the library itself never reads it)."""
    return _clock_ns()


class GwlbError(Exception):
    """A negative GWLB_E* code. .code, .name, .detail (ErrorDetail or None)."""

    def __init__(self, code, detail=None, where=""):
        self.code = code
        self.name = err_name(code)
        self.detail = detail
        msg = "%s: %s" % (self.name, strerror(code))
        if detail is not None and detail.message:
            msg += " (%s)" % detail.message.decode(errors="replace")
        if where:
            msg = "%s: %s" % (where, msg)
        super().__init__(msg)


def _check(rc, where="", detail=None):
    if rc < 0:
        raise GwlbError(rc, detail, where)
    return rc


def _new_detail():
    d = ErrorDetail()
    _error_detail_init(_c.byref(d))
    return d


def _bytes(x):
    if x is None:
        return None
    if isinstance(x, str):
        return x.encode()
    return bytes(x)


# ---- limiter ------------------------------------------------------------

class LimitResult(_c.Structure):
    """What a limiter decided (gwlb_limit_result)."""
    _fields_ = [("allowed", _i32), ("dry_run_limited", _u32), ("limit", _u64), ("remaining", _u64),
                ("reset_after_ns", _u64), ("retry_after_ns", _i64), ("delay_ns", _u64)]

    def __repr__(self):
        return ("LimitResult(allowed=%d, limit=%d, remaining=%d, reset_after_ns=%d, "
                "retry_after_ns=%d, delay_ns=%d)" % (self.allowed, self.limit, self.remaining,
                                                      self.reset_after_ns, self.retry_after_ns,
                                                      self.delay_ns))


class GcraConfig(_c.Structure):
    _fields_ = [("emission_ns", _u64), ("tolerance_ns", _u64), ("limit", _u64)]


class GcraBucket(_c.Structure):
    """An embeddable GCRA token bucket (redis-cell CL.THROTTLE semantics)."""
    _fields_ = [("config", GcraConfig), ("tat", _u64)]

    def __init__(self, count, period_ns, burst):
        super().__init__()
        _check(_gcra_init(_c.byref(self), count, period_ns, burst), "gwlb_gcra_init")

    def allow(self, now, cost=1):
        r = LimitResult()
        _check(_gcra_allow(_c.byref(self), now, cost, _c.byref(r)), "gwlb_gcra_allow")
        return r

    def peek(self, now):
        return self.allow(now, 0)


_gcra_init = _fn("gwlb_gcra_init", _int, _c.POINTER(GcraBucket), _u64, _u64, _u64)
_gcra_allow = _fn("gwlb_gcra_allow", _int, _c.POINTER(GcraBucket), _u64, _u64,
                  _c.POINTER(LimitResult))


class LimitReqConfig(_c.Structure):
    _fields_ = [("rate", _u64), ("burst", _u64), ("delay", _u64)]


class LimitReq(_c.Structure):
    """nginx limit_req, exactly: rate r/s or r/m, burst, nodelay or delay=N."""
    _fields_ = [("config", LimitReqConfig), ("state", _u64)]
    NODELAY = 0xFFFFFFFFFFFFFFFF

    def __init__(self, rate, unit="r/s", burst=0, delay=0, nodelay=False):
        super().__init__()
        units = {"r/s": 1, "r/m": 60}
        if unit not in units:
            raise ValueError("unit must be 'r/s' or 'r/m'")
        _check(_limit_req_init(_c.byref(self), rate, units[unit], burst,
                               self.NODELAY if nodelay else delay), "gwlb_limit_req_init")

    def allow(self, now):
        r = LimitResult()
        _check(_limit_req_allow(_c.byref(self), now, _c.byref(r)), "gwlb_limit_req_allow")
        return r

    def window_ns(self):
        """Time for a full burst to drain: (burst + 1) requests at the rate."""
        return (self.config.burst + 1000) * 10**9 // self.config.rate


_limit_req_init = _fn("gwlb_limit_req_init", _int, _c.POINTER(LimitReq), _u64, _c.c_int, _u64,
                      _u64)
_limit_req_allow = _fn("gwlb_limit_req_allow", _int, _c.POINTER(LimitReq), _u64,
                       _c.POINTER(LimitResult))


_ratelimit_policy_item = _fn("gwlb_ratelimit_policy_item", _int, _c.c_char_p, _sz,
                             _c.POINTER(_sz), _cp, _u64, _u64)
_ratelimit_item = _fn("gwlb_ratelimit_item", _int, _c.c_char_p, _sz, _c.POINTER(_sz), _cp,
                      _c.POINTER(LimitResult))
_ratelimit_legacy_value = _fn("gwlb_ratelimit_legacy_value", _int, _c.POINTER(LimitResult),
                              _c.c_int, _c.c_char_p, _sz, _c.POINTER(_sz))
_LEGACY = {"X-RateLimit-Limit": 1, "X-RateLimit-Remaining": 2, "X-RateLimit-Reset": 3,
           "Retry-After": 4}


def ratelimit_headers(result, policy="default", window_ns=None):
    """HTTP header values for a limiter result, written by libgwlb: the IETF
    draft fields
        RateLimit-Policy: "<policy>";q=<limit>;w=<window s>   (with window_ns)
        RateLimit:        "<policy>";r=<remaining>;t=<seconds until full>
    the legacy X-RateLimit-Limit/-Remaining/-Reset, and Retry-After when the
    request was limited and can succeed later. Seconds are rounded up.
    `window_ns`: GcraBucket: config.tolerance_ns; LimitReq: window_ns()."""
    buf = _c.create_string_buffer(512)
    n = _sz(0)
    name = _bytes(policy)
    h = {}
    if window_ns is not None:
        _check(_ratelimit_policy_item(buf, len(buf), _c.byref(n), name, result.limit,
                                      (window_ns + 10**9 - 1) // 10**9), "ratelimit_policy_item")
        h["RateLimit-Policy"] = buf.value.decode()
    n.value = 0
    _check(_ratelimit_item(buf, len(buf), _c.byref(n), name, _c.byref(result)), "ratelimit_item")
    h["RateLimit"] = buf.value.decode()
    for field, which in _LEGACY.items():
        rc = _ratelimit_legacy_value(_c.byref(result), which, buf, len(buf), _c.byref(n))
        if rc == -5:  # GWLB_ENOENT: no Retry-After applies
            continue
        _check(rc, "ratelimit_legacy_value")
        h[field] = buf.value.decode()
    return h


class _LimiterPolicy(_c.Structure):
    class _U(_c.Union):
        _fields_ = [("gcra", GcraConfig), ("limit_req", LimitReqConfig)]
    _fields_ = [("kind", _u32), ("flags", _u32), ("u", _U)]


_gcra_config_init = _fn("gwlb_gcra_config_init", _int, _c.POINTER(GcraConfig), _u64, _u64, _u64)
_limit_req_config_init = _fn("gwlb_limit_req_config_init", _int, _c.POINTER(LimitReqConfig),
                             _u64, _c.c_int, _u64, _u64)
_limiter_table_bytes = _fn("gwlb_limiter_table_bytes", _sz, _u64)
_limiter_table_new = _fn("gwlb_limiter_table_new", _int, _sz, _c.POINTER(_LimiterPolicy),
                         _c.POINTER(_u8 * 16), _vp, _c.POINTER(_vp))
_limiter_table_free = _fn("gwlb_limiter_table_free", None, _vp)
_limiter_table_allow = _fn("gwlb_limiter_table_allow", _int, _vp, _c.c_char_p, _sz, _u64, _u64,
                           _c.POINTER(LimitResult))


class KeyedLimiter:
    """A limiter per key (client IP, API key...) in a bounded table (16 bytes
    per tracked key; the least useful keys are evicted when full).
    kind="gcra": count per period_ns with burst; kind="limit_req": nginx
    limit_req (rate, unit, burst, delay/nodelay). hash_key: 16 secret bytes
    (clients must not be able to aim keys at one bucket)."""

    def __init__(self, keys, hash_key, kind="gcra", count=1, period_ns=10**9, burst=0,
                 rate=1, unit="r/s", delay=0, nodelay=False):
        self._t = None
        pol = _LimiterPolicy()
        if kind == "gcra":
            pol.kind = 1
            _check(_gcra_config_init(_c.byref(pol.u.gcra), count, period_ns, burst),
                   "gwlb_gcra_config_init")
        elif kind == "limit_req":
            pol.kind = 2
            _check(_limit_req_config_init(_c.byref(pol.u.limit_req), rate,
                                          {"r/s": 1, "r/m": 60}[unit], burst,
                                          LimitReq.NODELAY if nodelay else delay),
                   "gwlb_limit_req_config_init")
        else:
            raise ValueError("kind must be 'gcra' or 'limit_req'")
        self.policy = pol
        hk = (_u8 * 16)(*_bytes(hash_key)[:16].ljust(16, b"\0"))
        out = _vp()
        _check(_limiter_table_new(_limiter_table_bytes(keys), _c.byref(pol), _c.byref(hk), None,
                                  _c.byref(out)), "gwlb_limiter_table_new")
        self._t = out

    def close(self):
        if self._t:
            _limiter_table_free(self._t)
            self._t = None

    __del__ = close

    def allow(self, key, now, cost=1):
        k = _bytes(key)
        r = LimitResult()
        _check(_limiter_table_allow(self._t, k, len(k), now, cost, _c.byref(r)),
               "gwlb_limiter_table_allow")
        return r


# ---- balancer -----------------------------------------------------------

class BalancerHost(_c.Structure):
    _fields_ = [("identity", _cp), ("identity_len", _sz), ("weight", _u32), ("priority", _u32),
                ("backup", _u32), ("max_inflight", _u32), ("max_fails", _u32),
                ("reserved", _u32), ("fail_timeout_ns", _u64), ("user_data", _u64)]


class BalancerConfig(_c.Structure):
    _fields_ = [("struct_size", _u32), ("algorithm", _u32), ("seed", _u64), ("start_mode", _u32),
                ("choice_count", _u32), ("start", _u64), ("full_scan", _u32),
                ("overprovisioning_factor", _u32), ("panic_threshold", _u32), ("reserved", _u32),
                ("active_request_bias", _c.c_double), ("ewma_decay_ns", _u64),
                ("ewma_initial_rtt_ns", _u64), ("slow_start_window_ns", _u64),
                ("slow_start_aggression", _c.c_double),
                ("slow_start_min_weight_percent", _c.c_double), ("allocator", _vp)]


class BalancerResult(_c.Structure):
    _fields_ = [("host_index", _u32), ("slot", _u32), ("user_data", _u64), ("token", _u64),
                ("aux", _u64)]


class BalancerHostStats(_c.Structure):
    _fields_ = [("slot", _u32), ("flags", _u32), ("in_flight", _u32), ("fails", _u32),
                ("current_weight", _i64), ("effective_weight", _i32), ("weight", _u32),
                ("ewma_cost_ns", _c.c_double), ("failures", _u64)]


_balancer_host_init = _fn("gwlb_balancer_host_init", None, _c.POINTER(BalancerHost), _cp)
_balancer_config_init = _fn("gwlb_balancer_config_init", None, _c.POINTER(BalancerConfig),
                            _c.c_int)
_balancer_state_new = _fn("gwlb_balancer_state_new", _int, _u32, _vp, _c.POINTER(_vp))
_balancer_state_free = _fn("gwlb_balancer_state_free", None, _vp)
_balancer_build = _fn("gwlb_balancer_build", _int, _c.POINTER(BalancerConfig),
                      _c.POINTER(BalancerHost), _u32, _vp, _u64, _c.POINTER(_vp),
                      _c.POINTER(ErrorDetail))
_balancer_free = _fn("gwlb_balancer_free", None, _vp)
_balancer_pick = _fn("gwlb_balancer_pick", _int, _vp, _u64, _c.POINTER(BalancerResult))
_balancer_pick_excluding = _fn("gwlb_balancer_pick_excluding", _int, _vp, _u64,
                               _c.POINTER(_u64), _u32, _c.POINTER(BalancerResult))
_balancer_release = _fn("gwlb_balancer_release", _int, _vp, _c.POINTER(BalancerResult), _c.c_int,
                        _i64, _u64)
_balancer_host_flags_update = _fn("gwlb_balancer_host_flags_update", _int, _vp, _u32, _u32, _u32)
_balancer_host_count = _fn("gwlb_balancer_host_count", _u32, _vp)
_balancer_host_stats_get = _fn("gwlb_balancer_host_stats_get", _int, _vp, _u32,
                               _c.POINTER(BalancerHostStats))

BALANCER_ALGORITHMS = {"round_robin": 0, "weighted_round_robin": 1, "swrr": 2, "least_conn": 3,
                       "p2c": 4, "least_request": 4, "ewma": 5, "peak_ewma": 5, "random": 6,
                       "random_two_choices": 7}
OUTCOMES = {"success": 0, "failure": 1, "gateway_failure": 2, "local_origin_failure": 3}
NO_LATENCY = -(2 ** 63)
HOST_FLAGS = {"failed_active": 1, "ejected": 2, "failed_passive": 4, "draining": 8,
              "maintenance": 16, "degraded": 32, "pending_removal": 64}


class Pick:
    """One picked request; hand it back to Balancer.release()."""
    __slots__ = ("result", "identity")

    def __init__(self, result, identity):
        self.result = result
        self.identity = identity

    @property
    def host_index(self):
        return self.result.host_index


class Balancer:
    """A compiled balancer over a private runtime state.

    hosts: list of identities ("10.0.0.1:80"), or of (identity, weight), or
    of dicts with keys identity, weight, priority, backup, max_inflight,
    max_fails, fail_timeout_ns. algorithm: a key of BALANCER_ALGORITHMS."""

    def __init__(self, hosts, algorithm="p2c", seed=1, now=0, capacity=None, **options):
        self._bal = None
        self._state = None
        cfg = BalancerConfig()
        _balancer_config_init(_c.byref(cfg), BALANCER_ALGORITHMS[algorithm])
        cfg.seed = seed
        for k, v in options.items():
            setattr(cfg, k, v)
        arr = (BalancerHost * len(hosts))()
        self.identities = []
        self._keep = []
        for i, h in enumerate(hosts):
            if isinstance(h, (str, bytes)):
                h = {"identity": h}
            elif isinstance(h, tuple):
                h = {"identity": h[0], "weight": h[1]}
            ident = _bytes(h["identity"])
            self._keep.append(ident)  # the C struct points at it until build copies it
            self.identities.append(ident.decode(errors="replace"))
            _balancer_host_init(_c.byref(arr[i]), ident)
            arr[i].identity_len = len(ident)
            arr[i].user_data = i
            for k, v in h.items():
                if k != "identity":
                    setattr(arr[i], k, v)
        state = _vp()
        _check(_balancer_state_new(capacity or max(2 * len(hosts), 1), None, _c.byref(state)),
               "gwlb_balancer_state_new")
        self._state = state
        bal = _vp()
        detail = _new_detail()
        _check(_balancer_build(_c.byref(cfg), arr, len(hosts), state, now, _c.byref(bal),
                               _c.byref(detail)), "gwlb_balancer_build", detail)
        self._bal = bal
        self._keep = None

    def close(self):
        if self._bal:
            _balancer_free(self._bal)
            self._bal = None
        if self._state:
            _balancer_state_free(self._state)
            self._state = None

    __del__ = close

    def __len__(self):
        return _balancer_host_count(self._bal)

    def pick(self, now, exclude=()):
        """Choose a host and count it in flight: a Pick, or None when no host is
        available (GWLB_ENOHOST). exclude: host indices not to choose."""
        r = BalancerResult()
        if exclude:
            words = (_u64 * ((len(self.identities) + 63) // 64))()
            for i in exclude:
                words[i // 64] |= 1 << (i % 64)
            rc = _balancer_pick_excluding(self._bal, now, words, len(words), _c.byref(r))
        else:
            rc = _balancer_pick(self._bal, now, _c.byref(r))
        if rc == -6:
            return None
        _check(rc, "gwlb_balancer_pick")
        return Pick(r, self.identities[r.host_index])

    def release(self, pick, now, outcome="success", latency_ns=None):
        """Report the end of a picked request (outcome: a key of OUTCOMES)."""
        _check(_balancer_release(self._bal, _c.byref(pick.result), OUTCOMES[outcome],
                                 NO_LATENCY if latency_ns is None else latency_ns, now),
               "gwlb_balancer_release")

    def set_flags(self, host_index, set_=(), clear=()):
        s = sum(HOST_FLAGS[f] for f in set_)
        c = sum(HOST_FLAGS[f] for f in clear)
        _check(_balancer_host_flags_update(self._bal, host_index, s, c),
               "gwlb_balancer_host_flags_update")

    def host_stats(self, host_index):
        st = BalancerHostStats()
        _check(_balancer_host_stats_get(self._bal, host_index, _c.byref(st)),
               "gwlb_balancer_host_stats_get")
        return st


# ---- breaker ------------------------------------------------------------

_breaker_callback_t = _c.CFUNCTYPE(None, _vp, _vp)


class BreakerConfig(_c.Structure):
    _fields_ = [("consecutive_failures", _u32), ("failure_rate_percent", _u32),
                ("slow_call_rate_percent", _u32), ("window_kind", _u32), ("slow_call_ns", _u64),
                ("window_size", _u32), ("minimum_calls", _u32), ("window_bucket_ns", _u64),
                ("half_open_permits", _u32), ("half_open_successes", _u32),
                ("half_open_failures", _u32), ("open_wait_multiplier_percent", _u32),
                ("open_wait_ns", _u64), ("open_wait_max_ns", _u64),
                ("open_wait_jitter_percent", _u32), ("reserved_", _u32),
                ("half_open_max_wait_ns", _u64), ("on_transition", _vp), ("user_data", _vp)]


class _BreakerState(_c.Structure):
    _fields_ = [("words", _u64 * 96)]  # sizeof(gwlb_breaker): 32 words + window[64]


class BreakerCounts(_c.Structure):
    _fields_ = [("requests", _u64), ("total_successes", _u64), ("total_failures", _u64),
                ("consecutive_successes", _u64), ("consecutive_failures", _u64)]


_breaker_config_init = _fn("gwlb_breaker_config_init", None, _c.POINTER(BreakerConfig))
_breaker_config_init_r4j = _fn("gwlb_breaker_config_init_resilience4j", None,
                               _c.POINTER(BreakerConfig))
_breaker_init = _fn("gwlb_breaker_init", _int, _c.POINTER(_BreakerState),
                    _c.POINTER(BreakerConfig), _u64, _c.POINTER(ErrorDetail))
_breaker_allow = _fn("gwlb_breaker_allow", _int, _c.POINTER(_BreakerState),
                     _c.POINTER(BreakerConfig), _u64, _c.POINTER(_u64))
_breaker_record = _fn("gwlb_breaker_record", _int, _c.POINTER(_BreakerState),
                      _c.POINTER(BreakerConfig), _u64, _c.c_int, _u64, _u64)
_breaker_poll = _fn("gwlb_breaker_poll", _int, _c.POINTER(_BreakerState),
                    _c.POINTER(BreakerConfig), _u64)
_breaker_state = _fn("gwlb_breaker_state", _int, _c.POINTER(_BreakerState))
_breaker_state_name = _fn("gwlb_breaker_state_name", _cp, _c.c_int)
_breaker_counts = _fn("gwlb_breaker_counts", _int, _c.POINTER(_BreakerState),
                      _c.POINTER(BreakerCounts))
BREAKER_OUTCOMES = {"success": 0, "failure": 1, "ignored": 2}
BREAKER_REJECTS = {1: "open", 2: "half-open-full", 3: "forced-open"}


class Breaker:
    """A circuit breaker. Defaults are gobreaker's (open on the 6th
    consecutive failure, 60 s wait, one half-open probe); preset="resilience4j"
    gives resilience4j's. Keyword options set gwlb_breaker_config fields."""

    def __init__(self, preset="gobreaker", seed=0, **options):
        self.config = BreakerConfig()
        (_breaker_config_init_r4j if preset == "resilience4j" else _breaker_config_init)(
            _c.byref(self.config))
        for k, v in options.items():
            setattr(self.config, k, v)
        self._b = _BreakerState()
        detail = _new_detail()
        _check(_breaker_init(_c.byref(self._b), _c.byref(self.config), seed, _c.byref(detail)),
               "gwlb_breaker_init", detail)

    def allow(self, now):
        """(True, ticket) when admitted; (False, reason) when rejected."""
        t = _u64()
        rc = _check(_breaker_allow(_c.byref(self._b), _c.byref(self.config), now, _c.byref(t)),
                    "gwlb_breaker_allow")
        if rc == 0:
            return True, t.value
        return False, BREAKER_REJECTS.get(rc, str(rc))

    def record(self, ticket, outcome, now, duration_ns=0):
        """Report how an admitted call ended. False when the result was stale
        (admitted before the last state change, GWLB_EUNKNOWN)."""
        rc = _breaker_record(_c.byref(self._b), _c.byref(self.config), ticket,
                             BREAKER_OUTCOMES[outcome], duration_ns, now)
        if rc == -24:
            return False
        _check(rc, "gwlb_breaker_record")
        return True

    def state(self, now=None):
        """The state's name ("closed", "open", "half-open"...); with `now`,
        time-driven transitions due by then are applied first."""
        if now is None:
            s = _breaker_state(_c.byref(self._b))
        else:
            s = _check(_breaker_poll(_c.byref(self._b), _c.byref(self.config), now),
                       "gwlb_breaker_poll")
        return _breaker_state_name(s).decode()

    def counts(self):
        c = BreakerCounts()
        _check(_breaker_counts(_c.byref(self._b), _c.byref(c)), "gwlb_breaker_counts")
        return c


# ---- router -------------------------------------------------------------

ROUTER_MAX_PARAMS = 16


class _RouteHeader(_c.Structure):
    _fields_ = [("name", _cp), ("value", _cp), ("match", _u32)]


class _RouteQuery(_c.Structure):
    _fields_ = [("name", _cp), ("value", _cp), ("match", _u32)]


class _RouteTarget(_c.Structure):
    _fields_ = [("id", _u64), ("data", _vp), ("weight", _u32)]


class _Route(_c.Structure):
    _fields_ = [("methods", _u32), ("flags", _u32), ("host", _cp), ("path", _cp),
                ("path_len", _sz), ("priority", _i32), ("headers", _c.POINTER(_RouteHeader)),
                ("header_count", _sz), ("queries", _c.POINTER(_RouteQuery)),
                ("query_count", _sz), ("targets", _c.POINTER(_RouteTarget)),
                ("target_count", _sz), ("id", _u64), ("data", _vp)]


class _RouterOptions(_c.Structure):
    _fields_ = [("size", _u32), ("flags", _u32)]


class _Header(_c.Structure):
    _fields_ = [("name", _cp), ("name_len", _sz), ("value", _cp), ("value_len", _sz)]


class _RouterRequest(_c.Structure):
    _fields_ = [("method", _u32), ("host", _cp), ("host_len", _sz), ("path", _cp),
                ("path_len", _sz), ("query", _cp), ("query_len", _sz),
                ("headers", _c.POINTER(_Header)), ("header_count", _sz)]


class _RouteParam(_c.Structure):
    _fields_ = [("name", _cp), ("name_len", _u32), ("offset", _u32), ("length", _u32)]


class _RouteMatch(_c.Structure):
    _fields_ = [("route", _i32), ("allowed_methods", _u32), ("id", _u64), ("data", _vp),
                ("param_count", _u32), ("params", _RouteParam * ROUTER_MAX_PARAMS)]


_route_init = _fn("gwlb_route_init", None, _c.POINTER(_Route))
_router_options_init = _fn("gwlb_router_options_init", None, _c.POINTER(_RouterOptions))
_router_build = _fn("gwlb_router_build", _int, _c.POINTER(_vp), _c.POINTER(_Route), _sz,
                    _c.POINTER(_RouterOptions), _vp, _c.POINTER(ErrorDetail))
_router_free = _fn("gwlb_router_free", None, _vp)
_router_match = _fn("gwlb_router_match", _int, _vp, _c.POINTER(_RouterRequest),
                    _c.POINTER(_RouteMatch))
_method_from_string = _fn("gwlb_method_from_string", _u32, _cp, _sz)
_method_format_allow = _fn("gwlb_method_format_allow", _int, _u32, _c.c_char_p, _sz)
HEADER_MATCH = {"exact": 0, "prefix": 1, "present": 2, "absent": 3}
QUERY_MATCH = {"exact": 0, "present": 1}


def method_bits(methods):
    bits = 0
    for m in methods:
        b = _method_from_string(m.encode(), len(m))
        if b == 0:
            raise GwlbError(-1, where="unknown method %r" % m)
        bits |= b
    return bits


class RouteMatch:
    """A match: route index, id, params {name: value}; allowed (method set)
    is filled when the result is "method not allowed"."""

    def __init__(self, route, id_, params, allow=None):
        self.route = route
        self.id = id_
        self.params = params
        self.allow = allow

    def __repr__(self):
        return "RouteMatch(route=%d, id=%d, params=%r)" % (self.route, self.id, self.params)


class MethodNotAllowed(GwlbError):
    """GWLB_EMETHOD: the path matches, the method does not; .allow is the
    value of a 405 response's Allow header."""

    def __init__(self, allow):
        super().__init__(-26)
        self.allow = allow


class Router:
    """A compiled router. routes: list of dicts with keys path (required),
    methods (list of names), host, prefix (bool), priority, id, headers
    [(name, value, "exact"|"prefix"|"present"|"absent")], queries
    [(name, value, "exact"|"present")]. Options: case_insensitive,
    ignore_trailing_slash."""

    def __init__(self, routes, case_insensitive=False, ignore_trailing_slash=False):
        self._r = None
        keep = []  # C strings and arrays must outlive the build call
        arr = (_Route * len(routes))()
        for i, spec in enumerate(routes):
            r = arr[i]
            _route_init(_c.byref(r))
            path = _bytes(spec["path"])
            keep.append(path)
            r.path = path
            r.path_len = len(path)
            r.methods = method_bits(spec.get("methods", ()))
            r.flags = 1 if spec.get("prefix") else 0
            if spec.get("host"):
                host = _bytes(spec["host"])
                keep.append(host)
                r.host = host
            r.priority = spec.get("priority", 0)
            r.id = spec.get("id", i)
            hs = spec.get("headers", ())
            if hs:
                ha = (_RouteHeader * len(hs))()
                for j, (n, v, m) in enumerate(hs):
                    ha[j].name, ha[j].value, ha[j].match = _bytes(n), _bytes(v or ""), HEADER_MATCH[m]
                keep.append(ha)
                r.headers, r.header_count = ha, len(hs)
            qs = spec.get("queries", ())
            if qs:
                qa = (_RouteQuery * len(qs))()
                for j, (n, v, m) in enumerate(qs):
                    qa[j].name, qa[j].value, qa[j].match = _bytes(n), _bytes(v or ""), QUERY_MATCH[m]
                keep.append(qa)
                r.queries, r.query_count = qa, len(qs)
        opts = _RouterOptions()
        _router_options_init(_c.byref(opts))
        opts.flags = (1 if case_insensitive else 0) | (2 if ignore_trailing_slash else 0)
        out = _vp()
        detail = _new_detail()
        _check(_router_build(_c.byref(out), arr, len(routes), _c.byref(opts), None,
                             _c.byref(detail)), "gwlb_router_build", detail)
        self._r = out

    def close(self):
        if self._r:
            _router_free(self._r)
            self._r = None

    __del__ = close

    def match(self, method, path, host=None, query=None, headers=()):
        """RouteMatch, or None when no route matches; raises
        MethodNotAllowed for a path that matches with another method."""
        req = _RouterRequest()
        m = _bytes(method)
        req.method = _method_from_string(m, len(m))
        p = _bytes(path)
        req.path, req.path_len = p, len(p)
        if host is not None:
            hb = _bytes(host)
            req.host, req.host_len = hb, len(hb)
        if query is not None:
            qb = _bytes(query)
            req.query, req.query_len = qb, len(qb)
        if headers:
            ha = (_Header * len(headers))()
            for j, (n, v) in enumerate(headers):
                nb, vb = _bytes(n), _bytes(v)
                ha[j].name, ha[j].name_len, ha[j].value, ha[j].value_len = nb, len(nb), vb, len(vb)
            req.headers, req.header_count = ha, len(headers)
        res = _RouteMatch()
        rc = _router_match(self._r, _c.byref(req), _c.byref(res))
        if rc == -5:
            return None
        if rc == -26:
            buf = _c.create_string_buffer(128)
            _check(_method_format_allow(res.allowed_methods, buf, len(buf)), "format_allow")
            raise MethodNotAllowed(buf.value.decode())
        _check(rc, "gwlb_router_match")
        params = {}
        for j in range(res.param_count):
            prm = res.params[j]
            params[prm.name[:prm.name_len].decode()] = p[prm.offset:prm.offset + prm.length].decode(
                errors="replace")
        return RouteMatch(res.route, res.id, params)
