-- libgwlb for LuaJIT, through the FFI (OpenResty style).
--
--   local gwlb = require "gwlb"
--   local b = assert(gwlb.balancer{ hosts = { {"10.0.0.1:80", 5}, "10.0.0.2:80" },
--                                   algorithm = "p2c" })
--   local pick = b:pick(now_ns)          -- nil, "no host available" when none
--   ... b:release(pick, now_ns, "success", latency_ns)
--
-- The library is found through the environment variable GWLB_LIBRARY (a
-- path to libgwlb.so), else the system path (ffi.load "gwlb", then
-- "libgwlb.so.1"). ffi.cdef below repeats the public header's declarations
-- this binding uses. Compiled objects (balancer, router) are opaque handles
-- released by ffi.gc; small primitives (buckets, breakers) are ffi.new'ed
-- structs, as a C host embeds them. Fallible calls return nil, message,
-- code (a negative GWLB_E*) in the OpenResty manner. Time is an input:
-- pass `now` in nanoseconds (a Lua number or a uint64_t cdata);
-- gwlb.clock_ns() reads CLOCK_MONOTONIC.

local ffi = require "ffi"
local C_NULL = nil

ffi.cdef [[
typedef struct gwlb_error_detail {
    int32_t code; int32_t item; int32_t other; int32_t column;
    const char *field; char message[160];
} gwlb_error_detail;
int gwlb_version_number(void);
const char *gwlb_version_string(void);
const char *gwlb_strerror(int code);
const char *gwlb_err_name(int code);
void gwlb_error_detail_init(gwlb_error_detail *detail);
uint64_t gwlb_clock_ns(void);

/* limiter */
typedef struct gwlb_limit_result {
    int32_t allowed; uint32_t dry_run_limited; uint64_t limit; uint64_t remaining;
    uint64_t reset_after_ns; int64_t retry_after_ns; uint64_t delay_ns;
} gwlb_limit_result;
typedef struct gwlb_gcra_config { uint64_t emission_ns; uint64_t tolerance_ns; uint64_t limit; } gwlb_gcra_config;
typedef struct gwlb_gcra { gwlb_gcra_config config; uint64_t tat; } gwlb_gcra;
int gwlb_gcra_init(gwlb_gcra *bucket, uint64_t count, uint64_t period_ns, uint64_t burst);
int gwlb_gcra_allow(gwlb_gcra *bucket, uint64_t now, uint64_t cost, gwlb_limit_result *result);
typedef struct gwlb_limit_req_config { uint64_t rate; uint64_t burst; uint64_t delay; } gwlb_limit_req_config;
typedef struct gwlb_limit_req { gwlb_limit_req_config config; uint64_t state; } gwlb_limit_req;
int gwlb_limit_req_init(gwlb_limit_req *limiter, uint64_t rate, int unit, uint64_t burst, uint64_t delay);
int gwlb_limit_req_allow(gwlb_limit_req *limiter, uint64_t now, gwlb_limit_result *result);
int gwlb_gcra_config_init(gwlb_gcra_config *cfg, uint64_t count, uint64_t period_ns, uint64_t burst);
int gwlb_limit_req_config_init(gwlb_limit_req_config *cfg, uint64_t rate, int unit, uint64_t burst,
                               uint64_t delay);
typedef struct gwlb_window_config { uint64_t limit; uint64_t window_ns; uint64_t epoch_ns; } gwlb_window_config;
typedef struct gwlb_limiter_policy {
    uint32_t kind; uint32_t flags;
    union { gwlb_gcra_config gcra; gwlb_limit_req_config limit_req; gwlb_window_config window; } u;
} gwlb_limiter_policy;
typedef struct gwlb_limiter_table gwlb_limiter_table;
size_t gwlb_limiter_table_bytes(uint64_t keys);
int gwlb_limiter_table_new(size_t bytes, const gwlb_limiter_policy *policy,
                           const uint8_t hash_key[16], const void *allocator,
                           gwlb_limiter_table **out);
void gwlb_limiter_table_free(gwlb_limiter_table *table);
int gwlb_limiter_table_allow(gwlb_limiter_table *table, const void *key, size_t key_len,
                             uint64_t now, uint64_t cost, gwlb_limit_result *result);
int gwlb_ratelimit_policy_item(char *buf, size_t cap, size_t *len, const char *name,
                               uint64_t quota, uint64_t window_seconds);
int gwlb_ratelimit_item(char *buf, size_t cap, size_t *len, const char *name,
                        const gwlb_limit_result *result);
int gwlb_ratelimit_legacy_value(const gwlb_limit_result *result, int which, char *buf,
                                size_t cap, size_t *len);

/* balancer */
typedef struct gwlb_balancer_host {
    const char *identity; size_t identity_len; uint32_t weight; uint32_t priority;
    uint32_t backup; uint32_t max_inflight; uint32_t max_fails; uint32_t reserved;
    uint64_t fail_timeout_ns; uint64_t user_data;
} gwlb_balancer_host;
typedef struct gwlb_balancer_config {
    uint32_t struct_size; uint32_t algorithm; uint64_t seed; uint32_t start_mode;
    uint32_t choice_count; uint64_t start; uint32_t full_scan; uint32_t overprovisioning_factor;
    uint32_t panic_threshold; uint32_t reserved; double active_request_bias;
    uint64_t ewma_decay_ns; uint64_t ewma_initial_rtt_ns; uint64_t slow_start_window_ns;
    double slow_start_aggression; double slow_start_min_weight_percent; const void *allocator;
} gwlb_balancer_config;
typedef struct gwlb_balancer_state gwlb_balancer_state;
typedef struct gwlb_balancer gwlb_balancer;
typedef struct gwlb_balancer_result {
    uint32_t host_index; uint32_t slot; uint64_t user_data; uint64_t token; uint64_t aux;
} gwlb_balancer_result;
typedef struct gwlb_balancer_host_stats {
    uint32_t slot; uint32_t flags; uint32_t in_flight; uint32_t fails; int64_t current_weight;
    int32_t effective_weight; uint32_t weight; double ewma_cost_ns; uint64_t failures;
} gwlb_balancer_host_stats;
void gwlb_balancer_host_init(gwlb_balancer_host *host, const char *identity);
void gwlb_balancer_config_init(gwlb_balancer_config *config, int algorithm);
int gwlb_balancer_state_new(uint32_t capacity, const void *allocator, gwlb_balancer_state **out);
void gwlb_balancer_state_free(gwlb_balancer_state *state);
int gwlb_balancer_build(const gwlb_balancer_config *config, const gwlb_balancer_host *hosts,
                        uint32_t n, gwlb_balancer_state *state, uint64_t now,
                        gwlb_balancer **out, gwlb_error_detail *detail);
void gwlb_balancer_free(gwlb_balancer *bal);
int gwlb_balancer_pick(const gwlb_balancer *bal, uint64_t now, gwlb_balancer_result *out);
int gwlb_balancer_pick_excluding(const gwlb_balancer *bal, uint64_t now, const uint64_t *tried,
                                 uint32_t tried_words, gwlb_balancer_result *out);
int gwlb_balancer_release(const gwlb_balancer *bal, gwlb_balancer_result *pick, int outcome,
                          int64_t latency_ns, uint64_t now);
int gwlb_balancer_host_flags_update(const gwlb_balancer *bal, uint32_t host_index,
                                    uint32_t set_mask, uint32_t clear_mask);
uint32_t gwlb_balancer_host_count(const gwlb_balancer *bal);
int gwlb_balancer_host_stats_get(const gwlb_balancer *bal, uint32_t host_index,
                                 gwlb_balancer_host_stats *out);

/* breaker */
typedef struct gwlb_breaker_config {
    uint32_t consecutive_failures; uint32_t failure_rate_percent; uint32_t slow_call_rate_percent;
    uint32_t window_kind; uint64_t slow_call_ns; uint32_t window_size; uint32_t minimum_calls;
    uint64_t window_bucket_ns; uint32_t half_open_permits; uint32_t half_open_successes;
    uint32_t half_open_failures; uint32_t open_wait_multiplier_percent; uint64_t open_wait_ns;
    uint64_t open_wait_max_ns; uint32_t open_wait_jitter_percent; uint32_t reserved_;
    uint64_t half_open_max_wait_ns; void *on_transition; void *user_data;
} gwlb_breaker_config;
typedef struct gwlb_breaker {
    uint64_t ctl; uint64_t deadline[2]; uint64_t rng; uint64_t win_n; uint64_t win_recip;
    uint64_t bucket_ns; uint64_t bucket_recip;
    uint64_t admitted; uint64_t rejected; uint64_t recorded; uint64_t failures; uint64_t slow;
    uint64_t ignored; uint64_t stale; uint64_t transitions;
    uint64_t fail_mark; uint64_t succ_mark; uint64_t base_admitted; uint64_t base_recorded;
    uint64_t base_failures; uint64_t base_ignored; uint64_t trips_total; uint64_t reserved0_;
    uint64_t last_change_ns; uint64_t last_cause; uint64_t magic; uint64_t mode;
    uint64_t reserved1_[4];
    uint64_t window[64];
} gwlb_breaker;
typedef struct gwlb_breaker_counts {
    uint64_t requests; uint64_t total_successes; uint64_t total_failures;
    uint64_t consecutive_successes; uint64_t consecutive_failures;
} gwlb_breaker_counts;
int gwlb_breaker_counts(const gwlb_breaker *breaker, gwlb_breaker_counts *counts);
void gwlb_breaker_config_init(gwlb_breaker_config *config);
void gwlb_breaker_config_init_resilience4j(gwlb_breaker_config *config);
int gwlb_breaker_init(gwlb_breaker *breaker, const gwlb_breaker_config *config, uint64_t seed,
                      gwlb_error_detail *detail);
int gwlb_breaker_allow(gwlb_breaker *breaker, const gwlb_breaker_config *config, uint64_t now,
                       uint64_t *ticket);
int gwlb_breaker_record(gwlb_breaker *breaker, const gwlb_breaker_config *config,
                        uint64_t ticket, int outcome, uint64_t duration_ns, uint64_t now);
int gwlb_breaker_poll(gwlb_breaker *breaker, const gwlb_breaker_config *config, uint64_t now);
int gwlb_breaker_state(const gwlb_breaker *breaker);
const char *gwlb_breaker_state_name(int state);

/* router */
typedef struct gwlb_route_header { const char *name; const char *value; uint32_t match; } gwlb_route_header;
typedef struct gwlb_route_query { const char *name; const char *value; uint32_t match; } gwlb_route_query;
typedef struct gwlb_route_target { uint64_t id; void *data; uint32_t weight; } gwlb_route_target;
typedef struct gwlb_route {
    uint32_t methods; uint32_t flags; const char *host; const char *path; size_t path_len;
    int32_t priority; const gwlb_route_header *headers; size_t header_count;
    const gwlb_route_query *queries; size_t query_count; const gwlb_route_target *targets;
    size_t target_count; uint64_t id; void *data;
} gwlb_route;
typedef struct gwlb_router_options { uint32_t size; uint32_t flags; } gwlb_router_options;
typedef struct gwlb_router gwlb_router;
typedef struct gwlb_header { const char *name; size_t name_len; const char *value; size_t value_len; } gwlb_header;
typedef struct gwlb_router_request {
    uint32_t method; const char *host; size_t host_len; const char *path; size_t path_len;
    const char *query; size_t query_len; const gwlb_header *headers; size_t header_count;
} gwlb_router_request;
typedef struct gwlb_route_param { const char *name; uint32_t name_len; uint32_t offset; uint32_t length; } gwlb_route_param;
typedef struct gwlb_route_match {
    int32_t route; uint32_t allowed_methods; uint64_t id; void *data; uint32_t param_count;
    gwlb_route_param params[16];
} gwlb_route_match;
uint32_t gwlb_method_from_string(const char *name, size_t len);
int gwlb_method_format_allow(uint32_t methods, char *buf, size_t size);
void gwlb_route_init(gwlb_route *route);
void gwlb_router_options_init(gwlb_router_options *options);
int gwlb_router_build(gwlb_router **out, const gwlb_route *routes, size_t count,
                      const gwlb_router_options *options, const void *allocator,
                      gwlb_error_detail *detail);
void gwlb_router_free(gwlb_router *router);
int gwlb_router_match(const gwlb_router *router, const gwlb_router_request *request,
                      gwlb_route_match *match);
]]

local function load_library()
    local path = os.getenv("GWLB_LIBRARY")
    if path and path ~= "" then
        return ffi.load(path)
    end
    local ok, lib = pcall(ffi.load, "gwlb")
    if ok then
        return lib
    end
    return ffi.load("libgwlb.so.1")
end

local C = load_library()
local _M = { _VERSION = "1.0.0", C = C }

local E = { INVAL = -1, RANGE = -3, EXIST = -4, NOENT = -5, NOHOST = -6, STATE = -7,
            UNKNOWN = -24, METHOD = -26 }
_M.E = E

function _M.version() return ffi.string(C.gwlb_version_string()) end
function _M.version_number() return C.gwlb_version_number() end
function _M.strerror(code) return ffi.string(C.gwlb_strerror(code)) end
function _M.err_name(code) return ffi.string(C.gwlb_err_name(code)) end
function _M.clock_ns() return C.gwlb_clock_ns() end

-- nil, "GWLB_EXXX: message (detail)", code, detail_table
local function fail(rc, detail)
    local msg = _M.err_name(rc) .. ": " .. _M.strerror(rc)
    local d
    if detail ~= nil then
        d = { item = detail.item, other = detail.other, column = detail.column,
              field = detail.field ~= C_NULL and ffi.string(detail.field) or nil,
              message = ffi.string(detail.message) }
        if d.message ~= "" then msg = msg .. " (" .. d.message .. ")" end
    end
    return nil, msg, rc, d
end

local function new_detail()
    local d = ffi.new("gwlb_error_detail")
    C.gwlb_error_detail_init(d)
    return d
end

-- ---- limiter ---------------------------------------------------------------

local function result_table(r)
    return { raw = r, allowed = r.allowed == 1, limit = tonumber(r.limit),
             remaining = tonumber(r.remaining), reset_after_ns = tonumber(r.reset_after_ns),
             retry_after_ns = tonumber(r.retry_after_ns), delay_ns = tonumber(r.delay_ns) }
end

local gcra_mt = { __index = {} }
function gcra_mt.__index.allow(self, now, cost)
    local r = ffi.new("gwlb_limit_result")
    local rc = C.gwlb_gcra_allow(self.b, now, cost or 1, r)
    if rc ~= 0 then return fail(rc) end
    return result_table(r)
end
function gcra_mt.__index.window_ns(self) return tonumber(self.b.config.tolerance_ns) end

-- A GCRA token bucket: `count` requests per `period_ns`, `burst` extra at once.
function _M.gcra(count, period_ns, burst)
    local b = ffi.new("gwlb_gcra")
    local rc = C.gwlb_gcra_init(b, count, period_ns, burst or 0)
    if rc ~= 0 then return fail(rc) end
    return setmetatable({ b = b }, gcra_mt)
end

local limit_req_mt = { __index = {} }
function limit_req_mt.__index.allow(self, now)
    local r = ffi.new("gwlb_limit_result")
    local rc = C.gwlb_limit_req_allow(self.l, now, r)
    if rc ~= 0 then return fail(rc) end
    return result_table(r)
end
function limit_req_mt.__index.window_ns(self)
    return tonumber((self.l.config.burst + 1000) * 1000000000ULL / self.l.config.rate)
end

-- nginx limit_req exactly: rate per unit ("r/s" or "r/m"), burst, and
-- delay = N or "nodelay".
function _M.limit_req(rate, unit, burst, delay)
    local units = { ["r/s"] = 1, ["r/m"] = 60 }
    if not units[unit or "r/s"] then return nil, "unit must be r/s or r/m", E.INVAL end
    local d = delay == "nodelay" and 0xFFFFFFFFFFFFFFFFULL or (delay or 0)
    local l = ffi.new("gwlb_limit_req")
    local rc = C.gwlb_limit_req_init(l, rate, units[unit or "r/s"], burst or 0, d)
    if rc ~= 0 then return fail(rc) end
    return setmetatable({ l = l }, limit_req_mt)
end

local LEGACY = { { "X-RateLimit-Limit", 1 }, { "X-RateLimit-Remaining", 2 },
                 { "X-RateLimit-Reset", 3 }, { "Retry-After", 4 } }

-- Header values for a limiter result, written by libgwlb: IETF draft
-- RateLimit-Policy (when window_ns is given) and RateLimit, the legacy
-- X-RateLimit trio, and Retry-After when limited. Seconds are rounded up.
function _M.ratelimit_headers(res, policy, window_ns)
    policy = policy or "default"
    local buf = ffi.new("char[512]")
    local len = ffi.new("size_t[1]")
    local h = {}
    local rc
    if window_ns then
        len[0] = 0
        rc = C.gwlb_ratelimit_policy_item(buf, 512, len, policy, res.limit,
                                          math.floor((window_ns + 999999999) / 1000000000))
        if rc ~= 0 then return fail(rc) end
        h["RateLimit-Policy"] = ffi.string(buf, len[0])
    end
    len[0] = 0
    rc = C.gwlb_ratelimit_item(buf, 512, len, policy, res.raw)
    if rc ~= 0 then return fail(rc) end
    h["RateLimit"] = ffi.string(buf, len[0])
    for _, f in ipairs(LEGACY) do
        rc = C.gwlb_ratelimit_legacy_value(res.raw, f[2], buf, 512, len)
        if rc == 0 then
            h[f[1]] = ffi.string(buf, len[0])
        elseif rc ~= E.NOENT then
            return fail(rc)
        end
    end
    return h
end

local keyed_mt = { __index = {} }
function keyed_mt.__index.allow(self, key, now, cost)
    local r = ffi.new("gwlb_limit_result")
    local rc = C.gwlb_limiter_table_allow(self.t, key, #key, now, cost or 1, r)
    if rc ~= 0 then return fail(rc) end
    return result_table(r)
end

-- A limiter per key in a bounded table (16 bytes per tracked key).
-- opts: keys (capacity), hash_key (16 secret bytes), kind = "gcra"
-- (count, period_ns, burst) or "limit_req" (rate, unit, burst, delay).
function _M.keyed_limiter(opts)
    local pol = ffi.new("gwlb_limiter_policy")
    local rc
    if (opts.kind or "gcra") == "gcra" then
        pol.kind = 1
        rc = C.gwlb_gcra_config_init(pol.u.gcra, opts.count or 1, opts.period_ns or 1000000000,
                                     opts.burst or 0)
    elseif opts.kind == "limit_req" then
        pol.kind = 2
        local d = opts.delay == "nodelay" and 0xFFFFFFFFFFFFFFFFULL or (opts.delay or 0)
        rc = C.gwlb_limit_req_config_init(pol.u.limit_req, opts.rate or 1,
                                          opts.unit == "r/m" and 60 or 1, opts.burst or 0, d)
    else
        return nil, "kind must be gcra or limit_req", E.INVAL
    end
    if rc ~= 0 then return fail(rc) end
    local hk = ffi.new("uint8_t[16]")
    ffi.copy(hk, opts.hash_key or "", math.min(#(opts.hash_key or ""), 16))
    local out = ffi.new("gwlb_limiter_table*[1]")
    rc = C.gwlb_limiter_table_new(C.gwlb_limiter_table_bytes(opts.keys or 1024), pol, hk,
                                  C_NULL, out)
    if rc ~= 0 then return fail(rc) end
    return setmetatable({ t = ffi.gc(out[0], C.gwlb_limiter_table_free) }, keyed_mt)
end

-- ---- balancer --------------------------------------------------------------

local ALGORITHMS = { round_robin = 0, weighted_round_robin = 1, swrr = 2, least_conn = 3,
                     p2c = 4, least_request = 4, ewma = 5, peak_ewma = 5, random = 6,
                     random_two_choices = 7 }
local OUTCOMES = { success = 0, failure = 1, gateway_failure = 2, local_origin_failure = 3 }
local HOST_FLAGS = { failed_active = 1, ejected = 2, failed_passive = 4, draining = 8,
                     maintenance = 16, degraded = 32, pending_removal = 64 }
local NO_LATENCY = ffi.new("int64_t", -0x7fffffffffffffffLL - 1)

local balancer_mt = { __index = {} }
local B = balancer_mt.__index

-- opts.hosts: identities, or {identity, weight}, or tables with identity,
-- weight, priority, backup, max_inflight, max_fails, fail_timeout_ns.
-- opts.algorithm (default "p2c"), opts.seed, opts.now, opts.capacity, and
-- any gwlb_balancer_config field (e.g. panic_threshold = 0).
function _M.balancer(opts)
    local hosts = opts.hosts
    local n = #hosts
    local cfg = ffi.new("gwlb_balancer_config")
    local algo = ALGORITHMS[opts.algorithm or "p2c"]
    if algo == nil then return nil, "unknown algorithm", E.INVAL end
    C.gwlb_balancer_config_init(cfg, algo)
    cfg.seed = opts.seed or 1
    for k, v in pairs(opts) do
        if k ~= "hosts" and k ~= "algorithm" and k ~= "seed" and k ~= "now"
            and k ~= "capacity" then
            cfg[k] = v
        end
    end
    local arr = ffi.new("gwlb_balancer_host[?]", math.max(n, 1))
    local keep, ids = {}, {}
    for i = 1, n do
        local h = hosts[i]
        if type(h) == "string" then h = { identity = h } end
        if h.identity == nil then h = { identity = h[1], weight = h[2] } end
        local id = h.identity
        keep[i], ids[i] = id, id
        C.gwlb_balancer_host_init(arr[i - 1], id)
        arr[i - 1].identity_len = #id
        arr[i - 1].user_data = i - 1
        for k, v in pairs(h) do
            if k ~= "identity" then arr[i - 1][k] = v end
        end
    end
    local sp = ffi.new("gwlb_balancer_state*[1]")
    local rc = C.gwlb_balancer_state_new(opts.capacity or math.max(2 * n, 1), C_NULL, sp)
    if rc ~= 0 then return fail(rc) end
    local state = sp[0]
    local bp = ffi.new("gwlb_balancer*[1]")
    local detail = new_detail()
    rc = C.gwlb_balancer_build(cfg, arr, n, state, opts.now or 0, bp, detail)
    keep = nil
    if rc ~= 0 then
        C.gwlb_balancer_state_free(state)
        return fail(rc, detail)
    end
    -- one finalizer frees both, balancer first (it references the state):
    -- separate finalizers could run in either order
    local self = setmetatable({ ids = ids, n = n }, balancer_mt)
    self.bal = ffi.gc(bp[0], function(b)
        C.gwlb_balancer_free(b)
        C.gwlb_balancer_state_free(state)
    end)
    return self
end

-- A pick: { host_index = i (0-based), identity = "...", result = cdata }.
function B.pick(self, now, exclude)
    local r = ffi.new("gwlb_balancer_result")
    local rc
    if exclude and #exclude > 0 then
        local words = math.floor((self.n + 63) / 64)
        local tried = ffi.new("uint64_t[?]", words)
        for _, i in ipairs(exclude) do
            local w = math.floor(i / 64)
            tried[w] = bit.bor(tried[w], bit.lshift(1ULL, i % 64))
        end
        rc = C.gwlb_balancer_pick_excluding(self.bal, now, tried, words, r)
    else
        rc = C.gwlb_balancer_pick(self.bal, now, r)
    end
    if rc ~= 0 then return fail(rc) end
    return { host_index = r.host_index, identity = self.ids[r.host_index + 1], result = r }
end

function B.release(self, pick, now, outcome, latency_ns)
    local o = OUTCOMES[outcome or "success"]
    if o == nil then return nil, "unknown outcome", E.INVAL end
    local rc = C.gwlb_balancer_release(self.bal, pick.result, o, latency_ns or NO_LATENCY, now)
    if rc ~= 0 then return fail(rc) end
    return true
end

function B.set_flags(self, host_index, set, clear)
    local s, c = 0, 0
    for _, f in ipairs(set or {}) do s = s + HOST_FLAGS[f] end
    for _, f in ipairs(clear or {}) do c = c + HOST_FLAGS[f] end
    local rc = C.gwlb_balancer_host_flags_update(self.bal, host_index, s, c)
    if rc ~= 0 then return fail(rc) end
    return true
end

function B.in_flight(self, host_index)
    local st = ffi.new("gwlb_balancer_host_stats")
    local rc = C.gwlb_balancer_host_stats_get(self.bal, host_index, st)
    if rc ~= 0 then return fail(rc) end
    return st.in_flight
end

-- ---- breaker ---------------------------------------------------------------

local BREAKER_OUTCOMES = { success = 0, failure = 1, ignored = 2 }
local BREAKER_REJECTS = { [1] = "open", [2] = "half-open-full", [3] = "forced-open" }
local breaker_mt = { __index = {} }
local K = breaker_mt.__index

-- opts.preset "gobreaker" (default) or "resilience4j"; opts.seed; any
-- gwlb_breaker_config field overrides (consecutive_failures, open_wait_ns...).
function _M.breaker(opts)
    opts = opts or {}
    local cfg = ffi.new("gwlb_breaker_config")
    if opts.preset == "resilience4j" then
        C.gwlb_breaker_config_init_resilience4j(cfg)
    else
        C.gwlb_breaker_config_init(cfg)
    end
    for k, v in pairs(opts) do
        if k ~= "preset" and k ~= "seed" then cfg[k] = v end
    end
    local b = ffi.new("gwlb_breaker")
    local detail = new_detail()
    local rc = C.gwlb_breaker_init(b, cfg, opts.seed or 0, detail)
    if rc ~= 0 then return fail(rc, detail) end
    return setmetatable({ b = b, cfg = cfg }, breaker_mt)
end

-- ticket (a uint64_t cdata) when admitted; nil, reason when rejected.
function K.allow(self, now)
    local t = ffi.new("uint64_t[1]")
    local rc = C.gwlb_breaker_allow(self.b, self.cfg, now, t)
    if rc < 0 then return fail(rc) end
    if rc > 0 then return nil, BREAKER_REJECTS[rc] or tostring(rc) end
    return t[0]
end

-- true when recorded; false, "stale" for a result from an older generation.
function K.record(self, ticket, outcome, now, duration_ns)
    local rc = C.gwlb_breaker_record(self.b, self.cfg, ticket, BREAKER_OUTCOMES[outcome],
                                     duration_ns or 0, now)
    if rc == E.UNKNOWN then return false, "stale" end
    if rc ~= 0 then return fail(rc) end
    return true
end

function K.state(self, now)
    local s
    if now then s = C.gwlb_breaker_poll(self.b, self.cfg, now) else s = C.gwlb_breaker_state(self.b) end
    return ffi.string(C.gwlb_breaker_state_name(s))
end

-- ---- router ----------------------------------------------------------------

local HEADER_MATCH = { exact = 0, prefix = 1, present = 2, absent = 3 }
local QUERY_MATCH = { exact = 0, present = 1 }
local router_mt = { __index = {} }
local R = router_mt.__index

local function method_bits(methods)
    local bits = 0
    for _, m in ipairs(methods or {}) do
        local b = C.gwlb_method_from_string(m, #m)
        if b == 0 then return nil, "unknown method " .. m end
        bits = bit.bor(bits, b)
    end
    return bits
end

-- routes: { {path = "/users/{id}", methods = {"GET"}, host = ..., prefix = true,
-- priority = n, id = n, headers = {{name, value, "exact"}}, queries = {...}} }
-- opts: case_insensitive, ignore_trailing_slash.
function _M.router(routes, opts)
    opts = opts or {}
    local n = #routes
    local arr = ffi.new("gwlb_route[?]", math.max(n, 1))
    local keep = {}
    for i = 1, n do
        local spec, r = routes[i], arr[i - 1]
        C.gwlb_route_init(r)
        r.path = spec.path
        r.path_len = #spec.path
        local bits, err = method_bits(spec.methods)
        if not bits then return nil, err, E.INVAL end
        r.methods = bits
        r.flags = spec.prefix and 1 or 0
        if spec.host then r.host = spec.host end
        r.priority = spec.priority or 0
        r.id = spec.id or (i - 1)
        if spec.headers and #spec.headers > 0 then
            local ha = ffi.new("gwlb_route_header[?]", #spec.headers)
            for j, h in ipairs(spec.headers) do
                ha[j - 1].name, ha[j - 1].value = h[1], h[2] or ""
                ha[j - 1].match = HEADER_MATCH[h[3] or "exact"]
            end
            keep[#keep + 1] = ha
            r.headers, r.header_count = ha, #spec.headers
        end
        if spec.queries and #spec.queries > 0 then
            local qa = ffi.new("gwlb_route_query[?]", #spec.queries)
            for j, q in ipairs(spec.queries) do
                qa[j - 1].name, qa[j - 1].value = q[1], q[2] or ""
                qa[j - 1].match = QUERY_MATCH[q[3] or "exact"]
            end
            keep[#keep + 1] = qa
            r.queries, r.query_count = qa, #spec.queries
        end
    end
    local o = ffi.new("gwlb_router_options")
    C.gwlb_router_options_init(o)
    o.flags = (opts.case_insensitive and 1 or 0) + (opts.ignore_trailing_slash and 2 or 0)
    local out = ffi.new("gwlb_router*[1]")
    local detail = new_detail()
    -- Lua strings assigned to const char* fields stay alive through `routes`
    local rc = C.gwlb_router_build(out, arr, n, o, C_NULL, detail)
    keep = nil
    if rc ~= 0 then return fail(rc, detail) end
    return setmetatable({ r = ffi.gc(out[0], C.gwlb_router_free) }, router_mt)
end

-- match: { route = i (0-based), id = n, params = {name = value} }
-- not found: nil, "not found", GWLB_ENOENT
-- wrong method: nil, "method not allowed", GWLB_EMETHOD, allow ("GET, POST")
function R.match(self, method, path, host, query, headers)
    local req = ffi.new("gwlb_router_request")
    req.method = C.gwlb_method_from_string(method, #method)
    req.path, req.path_len = path, #path
    if host then req.host, req.host_len = host, #host end
    if query then req.query, req.query_len = query, #query end
    local ha
    if headers and #headers > 0 then
        ha = ffi.new("gwlb_header[?]", #headers)
        for j, h in ipairs(headers) do
            ha[j - 1].name, ha[j - 1].name_len = h[1], #h[1]
            ha[j - 1].value, ha[j - 1].value_len = h[2], #h[2]
        end
        req.headers, req.header_count = ha, #headers
    end
    local m = ffi.new("gwlb_route_match")
    local rc = C.gwlb_router_match(self.r, req, m)
    if rc == E.NOENT then return nil, "not found", rc end
    if rc == E.METHOD then
        local buf = ffi.new("char[128]")
        C.gwlb_method_format_allow(m.allowed_methods, buf, 128)
        return nil, "method not allowed", rc, ffi.string(buf)
    end
    if rc ~= 0 then return fail(rc) end
    local params = {}
    for j = 0, m.param_count - 1 do
        local p = m.params[j]
        params[ffi.string(p.name, p.name_len)] = path:sub(p.offset + 1, p.offset + p.length)
    end
    return { route = m.route, id = tonumber(m.id), params = params }
end

return _M
