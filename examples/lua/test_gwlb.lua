-- Specification tests of the LuaJIT FFI binding (examples/lua/gwlb.lua).
-- Run: GWLB_LIBRARY=build/libgwlb.so luajit examples/lua/test_gwlb.lua
-- Prints `N passed, M failed`; exits non-zero on failure.
local dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local gwlb = require "gwlb"

local S, MS = 1000000000, 1000000
local tests, names = {}, {}
local function test(name, fn) names[#names + 1] = name; tests[name] = fn end
local function eq(a, b, what)
    if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

-- ---- common ----
test("version_matches_header_1_0_0", function()
    eq(gwlb.version(), "1.0.0"); eq(gwlb.version_number(), 10000)
end)
test("strerror_and_err_name_name_codes", function()
    eq(gwlb.strerror(-6), "no host available"); eq(gwlb.err_name(-6), "GWLB_ENOHOST")
    eq(gwlb.strerror(12345), "unknown error")
end)

test("struct_layouts_match_the_c_headers", function()
    local prog = os.getenv("GWLB_ABI_SIZES")
    if not prog or prog == "" then print("  (GWLB_ABI_SIZES not set: layout check skipped)") return end
    local ffi = require "ffi"
    local f = assert(io.popen(prog))
    local n = 0
    for line in f:lines() do
        local name, size = line:match("^(%S+) (%d+)$")
        eq(ffi.sizeof(name), tonumber(size), "sizeof " .. name)
        n = n + 1
    end
    f:close()
    assert(n >= 19, "sizes read: " .. n)
end)

-- ---- limiter ----
test("gcra_burst_4_per_second_admits_5_then_retry_after_1s", function()
    local b = assert(gwlb.gcra(1, S, 4))
    for i = 1, 5 do
        local r = b:allow(0)
        eq(r.allowed, true, "allowed " .. i); eq(r.remaining, 5 - i, "remaining " .. i)
    end
    local r = b:allow(0)
    eq(r.allowed, false); eq(r.retry_after_ns, S); eq(r.limit, 5)
end)
test("gcra_zero_count_is_erange", function()
    local b, err, code = gwlb.gcra(0, S, 1)
    eq(b, nil); eq(code, -3); assert(err:find("GWLB_ERANGE"))
end)
test("limit_req_2rps_burst_1_gives_200_200_503", function()
    local l = assert(gwlb.limit_req(2, "r/s", 1))
    eq(l:allow(0).allowed, true); eq(l:allow(0).allowed, true); eq(l:allow(0).allowed, false)
end)
test("limit_req_30rpm_delay_1_burst_2_delays_third_2000ms_rejects_fourth", function()
    local l = assert(gwlb.limit_req(30, "r/m", 2, 1))
    eq(l:allow(0).delay_ns, 0); eq(l:allow(0).delay_ns, 0); eq(l:allow(0).delay_ns, 2000 * MS)
    eq(l:allow(200 * MS).allowed, false)
end)
test("ratelimit_headers_for_a_rejected_request", function()
    local l = assert(gwlb.limit_req(2, "r/s", 1))
    l:allow(0); l:allow(0)
    local h = gwlb.ratelimit_headers(l:allow(0), "perip", l:window_ns())
    eq(h["RateLimit-Policy"], '"perip";q=2;w=1'); eq(h["RateLimit"], '"perip";r=0;t=1')
    eq(h["Retry-After"], "1")
end)
test("ratelimit_headers_omit_retry_after_when_allowed", function()
    local b = assert(gwlb.gcra(10, 60 * S, 9))
    local h = gwlb.ratelimit_headers(b:allow(0), "api", b:window_ns())
    eq(h["RateLimit-Policy"], '"api";q=10;w=60'); eq(h["RateLimit"], '"api";r=9;t=6')
    eq(h["Retry-After"], nil)
end)

test("keyed_limiter_keeps_one_bucket_per_key", function()
    local kl = assert(gwlb.keyed_limiter{ keys = 1000, hash_key = "0123456789abcdef",
                                          kind = "limit_req", rate = 1, unit = "r/m", burst = 2,
                                          delay = "nodelay" })
    for _, who in ipairs({ "alice", "bob" }) do
        local got = {}
        for i = 1, 4 do got[i] = kl:allow(who, 0).allowed and 1 or 0 end
        eq(table.concat(got), "1110", who)
    end
end)
test("keyed_limiter_empty_key_is_empty", function()
    local kl = assert(gwlb.keyed_limiter{ keys = 10, hash_key = "kkkkkkkkkkkkkkkk" })
    local r, err, code = kl:allow("", 0)
    eq(r, nil); eq(code, -19)
end)

-- ---- balancer ----
test("swrr_weights_5_1_1_give_nginx_sequence", function()
    local b = assert(gwlb.balancer{ hosts = { {"a", 5}, {"b", 1}, {"c", 1} }, algorithm = "swrr" })
    local seq = {}
    for _ = 1, 14 do
        local p = assert(b:pick(0)); seq[#seq + 1] = p.identity; assert(b:release(p, 0))
    end
    eq(table.concat(seq), "aabacaaaabacaa")
end)
test("pick_counts_in_flight_until_release", function()
    local b = assert(gwlb.balancer{ hosts = { "h1", "h2" } })
    local p = assert(b:pick(0))
    eq(b:in_flight(p.host_index), 1)
    assert(b:release(p, 1000, "success", 1000))
    eq(b:in_flight(p.host_index), 0)
end)
test("release_twice_is_estate", function()
    local b = assert(gwlb.balancer{ hosts = { "h1", "h2" } })
    local p = assert(b:pick(0)); assert(b:release(p, 0))
    local ok, err, code = b:release(p, 0)
    eq(ok, nil); eq(code, -7)
end)
test("pick_skips_maintenance_and_reports_no_host", function()
    local b = assert(gwlb.balancer{ hosts = { "h1", "h2" }, panic_threshold = 0 })
    assert(b:set_flags(0, { "maintenance" }))
    for _ = 1, 10 do
        local p = assert(b:pick(0)); eq(p.identity, "h2"); b:release(p, 0)
    end
    assert(b:set_flags(1, { "maintenance" }))
    local p, err, code = b:pick(0)
    eq(p, nil); eq(code, -6)
end)
test("pick_excluding_tried_hosts_for_a_retry", function()
    local b = assert(gwlb.balancer{ hosts = { "h1", "h2", "h3" } })
    eq(assert(b:pick(0, { 0, 2 })).identity, "h2")
end)
test("duplicate_identity_is_eexist_with_both_indices", function()
    local b, err, code, d = gwlb.balancer{ hosts = { "x", "y", "x" } }
    eq(b, nil); eq(code, -4); eq(d.item, 2); eq(d.other, 0)
end)
test("balancers_are_collected_without_leaks_or_crashes", function()
    for _ = 1, 200 do assert(gwlb.balancer{ hosts = { "a", "b", "c" } }) end
    collectgarbage(); collectgarbage()
end)

-- ---- router ----
local routes = {
    { path = "/users/{id}", methods = { "GET" }, id = 10 },
    { path = "/users/new", methods = { "GET", "POST" }, id = 11 },
    { path = "/files/{*rest}", methods = { "GET" }, id = 12 },
    { path = "/api", prefix = true, id = 13 },
}
test("router_captures_parameters", function()
    local r = assert(gwlb.router(routes))
    local m = assert(r:match("GET", "/users/42"))
    eq(m.route, 0); eq(m.id, 10); eq(m.params.id, "42")
end)
test("router_static_beats_parameter", function()
    eq(assert(gwlb.router(routes)):match("GET", "/users/new").id, 11)
end)
test("router_catch_all_takes_the_rest", function()
    eq(assert(gwlb.router(routes)):match("GET", "/files/a/b.txt").params.rest, "a/b.txt")
end)
test("router_prefix_respects_segments", function()
    local r = assert(gwlb.router(routes))
    eq(r:match("GET", "/api/v1").id, 13)
    local m, err, code = r:match("GET", "/apix")
    eq(m, nil); eq(code, -5)
end)
test("router_method_not_allowed_gives_allow_header", function()
    local m, err, code, allow = assert(gwlb.router(routes)):match("DELETE", "/users/new")
    eq(m, nil); eq(code, -26); eq(allow, "GET, POST")
end)
test("router_unclosed_brace_is_esyntax_naming_the_route", function()
    local r, err, code, d = gwlb.router{ { path = "/ok" }, { path = "/users/{id" } }
    eq(r, nil); eq(code, -10); eq(d.item, 1)
end)

-- ---- breaker ----
test("breaker_gobreaker_default_opens_on_6th_failure", function()
    local br = assert(gwlb.breaker())
    for i = 1, 5 do local t = assert(br:allow(i)); assert(br:record(t, "failure", i)) end
    eq(br:state(), "closed")
    local t = assert(br:allow(6)); assert(br:record(t, "failure", 6))
    eq(br:state(), "open")
    local ok, why = br:allow(7)
    eq(ok, nil); eq(why, "open")
end)
test("breaker_half_opens_after_wait_and_success_closes", function()
    local br = assert(gwlb.breaker())
    for _ = 1, 6 do local t = assert(br:allow(0)); br:record(t, "failure", 0) end
    eq(br:state(60 * S), "open"); eq(br:state(60 * S + 1), "half-open")
    local t = assert(br:allow(60 * S + 1))
    local no, why = br:allow(60 * S + 2)
    eq(no, nil); eq(why, "half-open-full")
    assert(br:record(t, "success", 60 * S + 3)); eq(br:state(), "closed")
end)
test("breaker_drops_results_from_an_older_generation", function()
    local br = assert(gwlb.breaker{ consecutive_failures = 1 })
    local old = assert(br:allow(0)); local t = assert(br:allow(0))
    assert(br:record(t, "failure", 0))
    local ok, why = br:record(old, "success", 1)
    eq(ok, false); eq(why, "stale"); eq(br:state(), "open")
end)

local passed, failed = 0, 0
for _, name in ipairs(names) do
    local ok, err = pcall(tests[name])
    if ok then passed = passed + 1; print("PASS " .. name)
    else failed = failed + 1; print("FAIL " .. name .. ": " .. tostring(err)) end
end
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
