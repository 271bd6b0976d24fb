/*
 * Specification of the router: precedence, the complaints users file
 * against other routers (issue numbers in the test names' comments), bad
 * input with exact error locations, path normalization and rewriting,
 * weighted targets, and allocation failure.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb.h"
#include "test_alloc.h"
#include "test_run.h"

static gwlb_route route(uint32_t methods, const char *path)
{
    gwlb_route r;
    gwlb_route_init(&r);
    r.methods = methods;
    r.path = path;
    return r;
}

static gwlb_router *build_flags(const gwlb_route *routes, size_t n, uint32_t flags)
{
    gwlb_router_options o;
    gwlb_router_options_init(&o);
    o.flags = flags;
    gwlb_router *r = NULL;
    gwlb_error_detail d;
    int rc = gwlb_router_build(&r, routes, n, &o, NULL, &d);
    ck_assert_msg(rc == 0, "build failed: %s: %s (item %d col %d)", gwlb_err_name(rc), d.message,
                  d.item, d.column);
    return r;
}

static gwlb_router *build(const gwlb_route *routes, size_t n)
{
    return build_flags(routes, n, 0);
}

static int match_full(const gwlb_router *r, uint32_t method, const char *host, const char *path,
                      gwlb_route_match *m)
{
    gwlb_router_request q;
    memset(&q, 0, sizeof q);
    q.method = method;
    q.host = host;
    q.host_len = host ? strlen(host) : 0;
    q.path = path;
    q.path_len = strlen(path);
    return gwlb_router_match(r, &q, m);
}

/* Route index for GET path (or the negative error). */
static int route_of(const gwlb_router *r, const char *path)
{
    gwlb_route_match m;
    int rc = match_full(r, GWLB_METHOD_GET, NULL, path, &m);
    return rc == 0 ? m.route : rc;
}

static int route_of_host(const gwlb_router *r, const char *host, const char *path)
{
    gwlb_route_match m;
    int rc = match_full(r, GWLB_METHOD_GET, host, path, &m);
    return rc == 0 ? m.route : rc;
}

static void assert_param(const gwlb_route_match *m, const char *path, const char *name,
                         const char *value)
{
    uint32_t off, len;
    ck_assert_int_eq(gwlb_router_match_param(m, name, strlen(name), &off, &len), 0);
    ck_assert_uint_eq(len, strlen(value));
    ck_assert_msg(memcmp(path + off, value, len) == 0, "param %s = '%.*s', want '%s'", name,
                  (int)len, path + off, value);
}

static void assert_build_error(const gwlb_route *routes, size_t n, uint32_t flags, int code,
                               int item, int other, int column)
{
    gwlb_router_options o;
    gwlb_router_options_init(&o);
    o.flags = flags;
    gwlb_router *r = (gwlb_router *)(uintptr_t)0x1234; /* must stay untouched */
    gwlb_error_detail d;
    gwlb_error_detail_init(&d);
    int rc = gwlb_router_build(&r, routes, n, &o, NULL, &d);
    ck_assert_msg(rc == code, "got %s (%s), want %s", gwlb_err_name(rc), d.message,
                  gwlb_err_name(code));
    ck_assert_ptr_eq(r, (gwlb_router *)(uintptr_t)0x1234);
    ck_assert_int_eq(d.code, code);
    ck_assert_int_eq(d.item, item);
    ck_assert_int_eq(d.other, other);
    ck_assert_int_eq(d.column, column);
    ck_assert_str_ne(d.message, "");
}

static void assert_pattern_error(const char *pattern, int code, int column)
{
    gwlb_route routes[2] = {route(GWLB_METHOD_GET, "/ok"), route(GWLB_METHOD_GET, pattern)};
    assert_build_error(routes, 2, 0, code, 1, -1, column);
}

/* ---- precedence --------------------------------------------------------- */

/* httprouter #275: a static segment and a parameter at the same position. */
START_TEST(test_static_segment_beats_parameter_at_same_position)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/users/{id}"), route(GWLB_METHOD_GET, "/users/new")};
    gwlb_router *r = build(rs, 2);
    ck_assert_int_eq(route_of(r, "/users/new"), 1);
    ck_assert_int_eq(route_of(r, "/users/newer"), 0);
    ck_assert_int_eq(route_of(r, "/users/42"), 0);
    gwlb_router_free(r);
}
END_TEST

/* Segment ends are found eight bytes at a time, the last 1..7 bytes of a
 * path with one load of its final eight: every split of a path of 1..24
 * bytes into two segments must capture exactly those two segments. */
START_TEST(test_segment_split_at_every_position_captures_both_segments)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/{a}"), route(GWLB_METHOD_GET, "/{a}/{b}")};
    gwlb_router *r = build(rs, 2);
    const char letters[] = "abcdefghijklmnopqrstuvwx";
    for (size_t total = 1; total <= 24; total++) {
        char path[32], a[32];
        path[0] = '/';
        memcpy(path + 1, letters, total);
        path[total + 1] = '\0';
        gwlb_route_match m;
        ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, path, &m), 0);
        ck_assert_int_eq(m.route, 0);
        assert_param(&m, path, "a", path + 1);
        for (size_t cut = 1; cut < total; cut++) { /* "/<cut bytes>/<rest>" */
            memcpy(path + 1, letters, cut);
            path[cut + 1] = '/';
            memcpy(path + cut + 2, letters + cut, total - cut);
            path[total + 2] = '\0';
            memcpy(a, letters, cut);
            a[cut] = '\0';
            ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, path, &m), 0);
            ck_assert_int_eq(m.route, 1);
            assert_param(&m, path, "a", a);
            assert_param(&m, path, "b", path + cut + 2);
        }
    }
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_backtracking_finds_parameter_route_below_a_static_dead_end)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/user/new"), route(GWLB_METHOD_GET, "/user/{id}/x")};
    gwlb_router *r = build(rs, 2);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/user/new/x", &m), 0);
    ck_assert_int_eq(m.route, 1);
    assert_param(&m, "/user/new/x", "id", "new");
    ck_assert_int_eq(route_of(r, "/user/new"), 0);
    ck_assert_int_eq(route_of(r, "/user/new/y"), GWLB_ENOENT);
    gwlb_router_free(r);
}
END_TEST

/* Backtracking also happens when the better branch only fails on the method. */
START_TEST(test_backtracking_over_method_finds_parameter_route)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/user/new"),
                       route(GWLB_METHOD_DELETE, "/user/{id}")};
    gwlb_router *r = build(rs, 2);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_DELETE, NULL, "/user/new", &m), 0);
    ck_assert_int_eq(m.route, 1);
    ck_assert_int_eq(match_full(r, GWLB_METHOD_POST, NULL, "/user/new", &m), GWLB_EMETHOD);
    ck_assert_uint_eq(m.allowed_methods, GWLB_METHOD_GET | GWLB_METHOD_DELETE);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_constrained_parameter_beats_plain_parameter)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/items/{slug}"),
                       route(GWLB_METHOD_GET, "/items/{id:int}"),
                       route(GWLB_METHOD_GET, "/items/{key:hex}"),
                       route(GWLB_METHOD_GET, "/items/{u:uuid}")};
    gwlb_router *r = build(rs, 4);
    ck_assert_int_eq(route_of(r, "/items/42"), 1);       /* int before hex */
    ck_assert_int_eq(route_of(r, "/items/beef"), 2);     /* hex */
    ck_assert_int_eq(route_of(r, "/items/BEEF42"), 2);
    ck_assert_int_eq(route_of(r, "/items/550e8400-e29b-41d4-a716-446655440000"), 3);
    ck_assert_int_eq(route_of(r, "/items/550e8400-e29b-41d4-a716-44665544000"), 0);
    ck_assert_int_eq(route_of(r, "/items/hello"), 0);
    ck_assert_int_eq(route_of(r, "/items/-1"), 0);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_character_class_with_length_bounds)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/t/{code:[A-Z]{2,3}}"),
                       route(GWLB_METHOD_GET, "/t/{slug:[a-z0-9-]}"),
                       route(GWLB_METHOD_GET, "/t/{other}")};
    gwlb_router *r = build(rs, 3);
    ck_assert_int_eq(route_of(r, "/t/FR"), 0);
    ck_assert_int_eq(route_of(r, "/t/USA"), 0);
    ck_assert_int_eq(route_of(r, "/t/EURO"), 2);
    ck_assert_int_eq(route_of(r, "/t/F"), 2);
    ck_assert_int_eq(route_of(r, "/t/my-post-1"), 1);
    ck_assert_int_eq(route_of(r, "/t/My-post"), 2);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_catch_all_is_the_last_resort_and_captures_the_rest)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/files/{*rest}"),
                       route(GWLB_METHOD_GET, "/files/{name}"),
                       route(GWLB_METHOD_GET, "/files/a/b")};
    gwlb_router *r = build(rs, 3);
    gwlb_route_match m;
    ck_assert_int_eq(route_of(r, "/files/a"), 1);
    ck_assert_int_eq(route_of(r, "/files/a/b"), 2);
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/files/a/c/d", &m), 0);
    ck_assert_int_eq(m.route, 0);
    assert_param(&m, "/files/a/c/d", "rest", "a/c/d");
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/files/", &m), 0);
    ck_assert_int_eq(m.route, 0);
    assert_param(&m, "/files/", "rest", "");
    ck_assert_int_eq(route_of(r, "/files"), GWLB_ENOENT);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_star_spelling_is_a_catch_all_and_colon_spelling_a_parameter)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/src/*filepath"),
                       route(GWLB_METHOD_GET, "/u/:id/jobs:cancel")};
    gwlb_router *r = build(rs, 2);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/src/a/b.c", &m), 0);
    assert_param(&m, "/src/a/b.c", "filepath", "a/b.c");
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/u/7/jobs:cancel", &m), 0);
    ck_assert_int_eq(m.route, 1);
    assert_param(&m, "/u/7/jobs:cancel", "id", "7");
    gwlb_router_free(r);
}
END_TEST

/* Envoy #18148: a prefix must not cross a segment boundary. */
START_TEST(test_prefix_route_respects_segment_boundaries)
{
    gwlb_route rs[] = {route(GWLB_METHOD_ANY, "/api")};
    rs[0].flags = GWLB_ROUTE_PREFIX;
    gwlb_router *r = build(rs, 1);
    ck_assert_int_eq(route_of(r, "/api"), 0);
    ck_assert_int_eq(route_of(r, "/api/"), 0);
    ck_assert_int_eq(route_of(r, "/api/x/y"), 0);
    ck_assert_int_eq(route_of(r, "/apix"), GWLB_ENOENT);
    ck_assert_int_eq(route_of(r, "/ap"), GWLB_ENOENT);
    ck_assert_int_eq(route_of(r, "/"), GWLB_ENOENT);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_prefix_with_trailing_slash_needs_something_after_it)
{
    gwlb_route rs[] = {route(GWLB_METHOD_ANY, "/api/")};
    rs[0].flags = GWLB_ROUTE_PREFIX;
    gwlb_router *r = build(rs, 1);
    ck_assert_int_eq(route_of(r, "/api"), GWLB_ENOENT);
    ck_assert_int_eq(route_of(r, "/api/"), 0);
    ck_assert_int_eq(route_of(r, "/api/v1"), 0);
    ck_assert_int_eq(route_of(r, "/apiv1"), GWLB_ENOENT);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_longer_paths_beat_shorter_prefixes_and_root_prefix_catches_all)
{
    gwlb_route rs[] = {route(GWLB_METHOD_ANY, "/"), route(GWLB_METHOD_ANY, "/api"),
                       route(GWLB_METHOD_GET, "/api/users/{id}"), route(GWLB_METHOD_GET, "/api")};
    rs[0].flags = GWLB_ROUTE_PREFIX;
    rs[1].flags = GWLB_ROUTE_PREFIX;
    gwlb_router *r = build(rs, 4);
    ck_assert_int_eq(route_of(r, "/"), 0);
    ck_assert_int_eq(route_of(r, "/anything/else"), 0);
    ck_assert_int_eq(route_of(r, "/api"), 3); /* exact beats prefix at the same node */
    ck_assert_int_eq(route_of(r, "/api/users"), 1);
    ck_assert_int_eq(route_of(r, "/api/users/7"), 2);
    ck_assert_int_eq(route_of(r, "/api/users/7/x"), 1);
    ck_assert_int_eq(route_of(r, "/apix"), 0);
    gwlb_router_free(r);
}
END_TEST

/* Siblings sharing length, first and last byte still resolve exactly. */
START_TEST(test_many_siblings_with_the_same_length_and_ends_resolve_exactly)
{
    static char paths[900][8];
    gwlb_route rs[900];
    for (int i = 0; i < 900; i++) {
        snprintf(paths[i], sizeof paths[i], "/a%03dz", i);
        rs[i] = route(GWLB_METHOD_GET, paths[i]);
    }
    for (int ci = 0; ci < 2; ci++) {
        gwlb_router *r = build_flags(rs, 900, ci ? GWLB_ROUTER_CASE_INSENSITIVE : 0);
        for (int i = 0; i < 900; i++) {
            char p[8];
            snprintf(p, sizeof p, ci ? "/A%03dZ" : "/a%03dz", i);
            ck_assert_int_eq(route_of(r, p), i);
        }
        ck_assert_int_eq(route_of(r, "/a950z"), GWLB_ENOENT);
        ck_assert_int_eq(route_of(r, "/a95z"), GWLB_ENOENT);
        gwlb_router_free(r);
    }
}
END_TEST

/* matchit #92/#96, httprouter #172: the result must not depend on order. */
START_TEST(test_every_registration_order_gives_the_same_results)
{
    const char *patterns[] = {"/a/{x}/c", "/a/b/{y}", "/a/{x}/{z}", "/a/b/c/{*rest}", "/a/{x:int}/c"};
    const char *paths[] = {"/a/b/c", "/a/q/c", "/a/b/q", "/a/q/q", "/a/1/c", "/a/b/c/d", "/a/1/q"};
    int expect[7];
    int perm[5] = {0, 1, 2, 3, 4};
    int first = 1;
    /* All 120 permutations (Heap's algorithm, iterative). */
    int cstate[5] = {0};
    int i = 0;
    for (;;) {
        gwlb_route rs[5];
        for (int k = 0; k < 5; k++) {
            rs[k] = route(GWLB_METHOD_GET, patterns[perm[k]]);
            rs[k].id = (uint64_t)perm[k];
        }
        gwlb_router *r = build(rs, 5);
        for (int p = 0; p < 7; p++) {
            gwlb_route_match m;
            ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, paths[p], &m), 0);
            if (first)
                expect[p] = (int)m.id;
            else
                ck_assert_int_eq((int)m.id, expect[p]);
        }
        gwlb_router_free(r);
        first = 0;
        while (i < 5 && cstate[i] >= i) {
            cstate[i] = 0;
            i++;
        }
        if (i >= 5)
            break;
        int j = (i % 2 == 0) ? 0 : cstate[i];
        int t = perm[j];
        perm[j] = perm[i];
        perm[i] = t;
        cstate[i]++;
        i = 0;
    }
    /* and the documented precedence decides which */
    ck_assert_int_eq(expect[0], 1); /* /a/b/c: static b, then static-less {y} */
    ck_assert_int_eq(expect[1], 0); /* /a/q/c */
    ck_assert_int_eq(expect[2], 1); /* /a/b/q */
    ck_assert_int_eq(expect[3], 2); /* /a/q/q */
    ck_assert_int_eq(expect[4], 4); /* /a/1/c: int constraint beats {x} */
    ck_assert_int_eq(expect[5], 3); /* /a/b/c/d */
    ck_assert_int_eq(expect[6], 2); /* /a/1/q: backtracks from {x:int} to {x}/{z} */
}
END_TEST

/* axum #1118, find-my-way #145/#191: trailing slash is significant by default. */
START_TEST(test_trailing_slash_is_significant_by_default)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/a"), route(GWLB_METHOD_GET, "/b/")};
    gwlb_router *r = build(rs, 2);
    ck_assert_int_eq(route_of(r, "/a"), 0);
    ck_assert_int_eq(route_of(r, "/a/"), GWLB_ENOENT);
    ck_assert_int_eq(route_of(r, "/b/"), 1);
    ck_assert_int_eq(route_of(r, "/b"), GWLB_ENOENT);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_ignore_trailing_slash_policy)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/a"), route(GWLB_METHOD_GET, "/b/"),
                       route(GWLB_METHOD_GET, "/static/{*rest}"), route(GWLB_METHOD_GET, "/")};
    gwlb_router *r = build_flags(rs, 4, GWLB_ROUTER_IGNORE_TRAILING_SLASH);
    ck_assert_int_eq(route_of(r, "/a"), 0);
    ck_assert_int_eq(route_of(r, "/a/"), 1 - 1);
    ck_assert_int_eq(route_of(r, "/b"), 1);
    ck_assert_int_eq(route_of(r, "/b/"), 1);
    ck_assert_int_eq(route_of(r, "/"), 3);
    ck_assert_int_eq(route_of(r, "/a//"), GWLB_ENOENT);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/static/", &m), 0);
    ck_assert_int_eq(m.route, 2);
    assert_param(&m, "/static/", "rest", "");
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/static/x/", &m), 0);
    assert_param(&m, "/static/x/", "rest", "x/");
    gwlb_router_free(r);
    /* In this mode "/a" and "/a/" are the same route: a conflict. */
    gwlb_route dup[] = {route(GWLB_METHOD_GET, "/a"), route(GWLB_METHOD_GET, "/a/")};
    assert_build_error(dup, 2, GWLB_ROUTER_IGNORE_TRAILING_SLASH, GWLB_ECONFLICT, 1, 0, 0);
}
END_TEST

/* find-my-way #98: case-insensitive matching must not change parameter values. */
START_TEST(test_case_insensitive_mode_keeps_parameter_case)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/Users/{name}/Profile")};
    gwlb_router *cs = build(rs, 1);
    ck_assert_int_eq(route_of(cs, "/users/Bob/profile"), GWLB_ENOENT);
    ck_assert_int_eq(route_of(cs, "/Users/Bob/Profile"), 0);
    gwlb_router_free(cs);
    gwlb_router *ci = build_flags(rs, 1, GWLB_ROUTER_CASE_INSENSITIVE);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(ci, GWLB_METHOD_GET, NULL, "/USERS/BoB/profile", &m), 0);
    assert_param(&m, "/USERS/BoB/profile", "name", "BoB");
    gwlb_router_free(ci);
}
END_TEST

/* httprouter #284: an encoded slash stays inside its segment. */
START_TEST(test_encoded_slash_never_splits_a_segment)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/files/{name}"),
                       route(GWLB_METHOD_GET, "/files/{dir}/{name}")};
    gwlb_router *r = build(rs, 2);
    char buf[64];
    size_t n;
    const char *raw = "/files/a%2fb";
    ck_assert_int_eq(gwlb_path_normalize(raw, strlen(raw), GWLB_NORMALIZE_DEFAULT, buf,
                                         sizeof buf, &n), 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "/files/a%2Fb");
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, buf, &m), 0);
    ck_assert_int_eq(m.route, 0);
    assert_param(&m, buf, "name", "a%2Fb");
    gwlb_router_free(r);
}
END_TEST

/* CVE-2019-9901: normalize before routing, or "/public/../admin" slips by. */
START_TEST(test_normalization_closes_the_dot_segment_bypass)
{
    gwlb_route rs[] = {route(GWLB_METHOD_ANY, "/admin"), route(GWLB_METHOD_ANY, "/")};
    rs[0].flags = rs[1].flags = GWLB_ROUTE_PREFIX;
    rs[0].id = 403;
    gwlb_router *r = build(rs, 2);
    const char *attacks[] = {"/public/../admin", "/public/%2e%2E/admin/x", "/./admin",
                             "//admin", "/public/./../../admin", "/%61dmin"};
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        ck_assert_int_eq(route_of(r, attacks[i]), 1); /* un-normalized: bypass */
        char buf[64];
        size_t n;
        ck_assert_int_eq(gwlb_path_normalize(attacks[i], strlen(attacks[i]),
                                             GWLB_NORMALIZE_DEFAULT, buf, sizeof buf, &n), 0);
        buf[n] = '\0';
        ck_assert_msg(route_of(r, buf) == 0, "%s -> %s", attacks[i], buf);
    }
    gwlb_router_free(r);
}
END_TEST

/* ---- host, conditions, priority ------------------------------------------ */

START_TEST(test_host_specificity_exact_then_longest_wildcard_then_any)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/"), route(GWLB_METHOD_GET, "/"),
                       route(GWLB_METHOD_GET, "/"), route(GWLB_METHOD_GET, "/")};
    rs[1].host = "*.example.com";
    rs[2].host = "*.api.example.com";
    rs[3].host = "Www.Example.com";
    gwlb_router *r = build(rs, 4);
    ck_assert_int_eq(route_of_host(r, "www.example.com", "/"), 3);
    ck_assert_int_eq(route_of_host(r, "WWW.EXAMPLE.COM:8080", "/"), 3);
    ck_assert_int_eq(route_of_host(r, "v1.api.example.com", "/"), 2);
    ck_assert_int_eq(route_of_host(r, "a.b.example.com", "/"), 1);
    ck_assert_int_eq(route_of_host(r, "example.com", "/"), 0); /* wildcard needs a label */
    ck_assert_int_eq(route_of_host(r, "api.example.com", "/"), 1);
    ck_assert_int_eq(route_of_host(r, "other.org", "/"), 0);
    ck_assert_int_eq(route_of_host(r, NULL, "/"), 0);
    ck_assert_int_eq(route_of_host(r, "[::1]:80", "/"), 0);
    gwlb_router_free(r);
}
END_TEST

/* lua-resty-radixtree #25: a host-specific route beats the generic one, whatever the order. */
START_TEST(test_host_specific_route_beats_generic_route_in_either_order)
{
    for (int order = 0; order < 2; order++) {
        gwlb_route rs[2] = {route(GWLB_METHOD_GET, "/login"), route(GWLB_METHOD_GET, "/login")};
        rs[order].host = "a.test";
        rs[order].id = 1;
        gwlb_router *r = build(rs, 2);
        gwlb_route_match m;
        ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, "a.test", "/login", &m), 0);
        ck_assert_uint_eq(m.id, 1);
        ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, "b.test", "/login", &m), 0);
        ck_assert_uint_eq(m.id, 0);
        gwlb_router_free(r);
    }
}
END_TEST

START_TEST(test_path_precedence_comes_before_host_precedence)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/u/{id}"), route(GWLB_METHOD_GET, "/u/me")};
    rs[0].host = "a.test";
    gwlb_router *r = build(rs, 2);
    ck_assert_int_eq(route_of_host(r, "a.test", "/u/me"), 1);
    ck_assert_int_eq(route_of_host(r, "a.test", "/u/7"), 0);
    ck_assert_int_eq(route_of_host(r, "b.test", "/u/7"), GWLB_ENOENT);
    gwlb_router_free(r);
}
END_TEST

static int match_with(const gwlb_router *r, const gwlb_header *h, size_t nh, const char *query)
{
    gwlb_router_request q;
    memset(&q, 0, sizeof q);
    q.method = GWLB_METHOD_GET;
    q.path = "/x";
    q.path_len = 2;
    q.headers = h;
    q.header_count = nh;
    q.query = query;
    q.query_len = query ? strlen(query) : 0;
    gwlb_route_match m;
    int rc = gwlb_router_match(r, &q, &m);
    return rc == 0 ? m.route : rc;
}

#define HDR(n, v) {n, sizeof n - 1, v, sizeof v - 1}

START_TEST(test_header_matchers_exact_prefix_present_absent)
{
    gwlb_route_header exact = {"X-Env", "canary", GWLB_HEADER_EXACT};
    gwlb_route_header prefix = {"user-agent", "curl/", GWLB_HEADER_PREFIX};
    gwlb_route_header present = {"Authorization", NULL, GWLB_HEADER_PRESENT};
    gwlb_route_header absent = {"cookie", NULL, GWLB_HEADER_ABSENT};
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/x"), route(GWLB_METHOD_GET, "/x"),
                       route(GWLB_METHOD_GET, "/x"), route(GWLB_METHOD_GET, "/x"),
                       route(GWLB_METHOD_GET, "/x")};
    rs[1].headers = &exact;
    rs[1].header_count = 1;
    rs[2].headers = &prefix;
    rs[2].header_count = 1;
    rs[3].headers = &present;
    rs[3].header_count = 1;
    rs[4].headers = &absent;
    rs[4].header_count = 1;
    rs[4].priority = -1; /* below the other one-condition routes */
    gwlb_router *r = build(rs, 5);
    gwlb_header h1[] = {HDR("x-env", "canary"), HDR("Cookie", "a=1")};
    ck_assert_int_eq(match_with(r, h1, 2, NULL), 1);
    gwlb_header h2[] = {HDR("X-ENV", "canary2"), HDR("User-Agent", "curl/8.0"), HDR("cookie", "")};
    ck_assert_int_eq(match_with(r, h2, 3, NULL), 2);
    gwlb_header h3[] = {HDR("authorization", "Bearer x"), HDR("cookie", "a")};
    ck_assert_int_eq(match_with(r, h3, 2, NULL), 3);
    gwlb_header h4[] = {HDR("accept", "*/*")};
    ck_assert_int_eq(match_with(r, h4, 1, NULL), 4);
    gwlb_header h5[] = {HDR("cookie", "a")};
    ck_assert_int_eq(match_with(r, h5, 1, NULL), 0);
    ck_assert_int_eq(match_with(r, NULL, 0, NULL), 4);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_query_matchers_exact_and_present_with_percent_decoding)
{
    gwlb_route_query exact = {"mode", "a b", GWLB_QUERY_EXACT};
    gwlb_route_query present = {"debug", NULL, GWLB_QUERY_PRESENT};
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/x"), route(GWLB_METHOD_GET, "/x"),
                       route(GWLB_METHOD_GET, "/x")};
    rs[1].queries = &exact;
    rs[1].query_count = 1;
    rs[1].priority = 1;
    rs[2].queries = &present;
    rs[2].query_count = 1;
    gwlb_router *r = build(rs, 3);
    ck_assert_int_eq(match_with(r, NULL, 0, "x=1&mode=a%20b"), 1);
    ck_assert_int_eq(match_with(r, NULL, 0, "mode=a+b"), 0);
    ck_assert_int_eq(match_with(r, NULL, 0, "mode=a%20bc"), 0);
    ck_assert_int_eq(match_with(r, NULL, 0, "debug"), 2);
    ck_assert_int_eq(match_with(r, NULL, 0, "debug=&mode=x"), 2);
    ck_assert_int_eq(match_with(r, NULL, 0, "debugger=1"), 0);
    ck_assert_int_eq(match_with(r, NULL, 0, "%64ebug=1&mode=a%20b"), 1); /* priority 1 */
    ck_assert_int_eq(match_with(r, NULL, 0, NULL), 0);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_more_conditions_then_priority_then_insertion_order)
{
    gwlb_route_header a = {"a", "1", GWLB_HEADER_EXACT};
    gwlb_route_header b = {"b", "1", GWLB_HEADER_EXACT};
    gwlb_route_header ab[] = {{"a", "1", GWLB_HEADER_EXACT}, {"b", "1", GWLB_HEADER_EXACT}};
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/x"), route(GWLB_METHOD_GET, "/x"),
                       route(GWLB_METHOD_GET, "/x"), route(GWLB_METHOD_GET, "/x")};
    rs[0].headers = &a;
    rs[0].header_count = 1;
    rs[1].headers = &b;
    rs[1].header_count = 1;
    rs[2].headers = &b;
    rs[2].header_count = 1;
    rs[2].priority = 5;
    rs[3].headers = ab;
    rs[3].header_count = 2;
    gwlb_router *r = build(rs, 4);
    gwlb_header both[] = {HDR("a", "1"), HDR("b", "1")};
    ck_assert_int_eq(match_with(r, both, 2, NULL), 3);          /* two conditions */
    ck_assert_int_eq(match_with(r, both + 1, 1, NULL), 2);      /* priority 5 */
    ck_assert_int_eq(match_with(r, both, 1, NULL), 0);
    gwlb_router_free(r);
    /* Equal rank, different conditions, both satisfied: insertion order. */
    gwlb_route tie[] = {route(GWLB_METHOD_GET, "/x"), route(GWLB_METHOD_GET, "/x")};
    tie[0].headers = &b;
    tie[0].header_count = 1;
    tie[1].headers = &a;
    tie[1].header_count = 1;
    r = build(tie, 2);
    ck_assert_int_eq(match_with(r, both, 2, NULL), 0);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_method_not_allowed_reports_the_allowed_set)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET | GWLB_METHOD_HEAD, "/r/{id}"),
                       route(GWLB_METHOD_PUT, "/r/{id}"), route(GWLB_METHOD_POST, "/r")};
    gwlb_router *r = build(rs, 3);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_DELETE, NULL, "/r/1", &m), GWLB_EMETHOD);
    ck_assert_int_eq(m.route, -1);
    ck_assert_uint_eq(m.allowed_methods, GWLB_METHOD_GET | GWLB_METHOD_HEAD | GWLB_METHOD_PUT);
    char allow[64];
    ck_assert_int_eq(gwlb_method_format_allow(m.allowed_methods, allow, sizeof allow), 14);
    ck_assert_str_eq(allow, "GET, HEAD, PUT");
    ck_assert_int_eq(gwlb_method_format_allow(m.allowed_methods, allow, 14), GWLB_ENOSPC);
    ck_assert_int_eq(match_full(r, 0, NULL, "/r", &m), GWLB_EMETHOD); /* unknown method */
    ck_assert_uint_eq(m.allowed_methods, GWLB_METHOD_POST);
    ck_assert_int_eq(match_full(r, GWLB_METHOD_PUT, NULL, "/r/1", &m), 0);
    ck_assert_int_eq(m.route, 1);
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/q", &m), GWLB_ENOENT);
    ck_assert_uint_eq(m.allowed_methods, 0);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_method_names_map_to_bits)
{
    ck_assert_uint_eq(gwlb_method_from_string("GET", 3), GWLB_METHOD_GET);
    ck_assert_uint_eq(gwlb_method_from_string("DELETE", 6), GWLB_METHOD_DELETE);
    ck_assert_uint_eq(gwlb_method_from_string("PATCH", 5), GWLB_METHOD_PATCH);
    ck_assert_uint_eq(gwlb_method_from_string("OPTIONS", 7), GWLB_METHOD_OPTIONS);
    ck_assert_uint_eq(gwlb_method_from_string("get", 3), 0);
    ck_assert_uint_eq(gwlb_method_from_string("PROPFIND", 8), 0);
    ck_assert_uint_eq(gwlb_method_from_string(NULL, 3), 0);
}
END_TEST

/* Exactly the nine names map to their bits: every name in full, and no
 * string that differs from one of them in one byte, is a proper prefix of
 * one, or extends one by a byte. */
START_TEST(test_method_names_exact_only)
{
    static const char *const names[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (unsigned i = 0; i < 9; i++) {
        const char *nm = names[i];
        size_t len = strlen(nm);
        char buf[16];
        ck_assert_uint_eq(gwlb_method_from_string(nm, len), 1u << i);
        for (size_t k = 1; k < len; k++)
            ck_assert_uint_eq(gwlb_method_from_string(nm, k), 0);
        memcpy(buf, nm, len);
        buf[len] = 'X';
        ck_assert_uint_eq(gwlb_method_from_string(buf, len + 1), 0);
        for (size_t k = 0; k < len; k++) {
            for (unsigned c = 0; c < 256; c++) {
                if (c == (unsigned char)nm[k])
                    continue;
                memcpy(buf, nm, len);
                buf[k] = (char)c;
                ck_assert_uint_eq(gwlb_method_from_string(buf, len), 0);
            }
        }
    }
}
END_TEST

START_TEST(test_any_method_route_and_unknown_method)
{
    gwlb_route rs[] = {route(GWLB_METHOD_ANY, "/any")};
    gwlb_router *r = build(rs, 1);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, 0, NULL, "/any", &m), 0);
    ck_assert_int_eq(match_full(r, GWLB_METHOD_PATCH, NULL, "/any", &m), 0);
    gwlb_router_free(r);
}
END_TEST

/* ---- conflicts ----------------------------------------------------------- */

START_TEST(test_indistinguishable_routes_are_a_conflict_naming_both)
{
    gwlb_route same[] = {route(GWLB_METHOD_GET, "/a"), route(GWLB_METHOD_POST, "/b/{id}"),
                         route(GWLB_METHOD_POST | GWLB_METHOD_PUT, "/b/{name}")};
    assert_build_error(same, 3, 0, GWLB_ECONFLICT, 2, 1, 0);
    gwlb_route any[] = {route(GWLB_METHOD_ANY, "/a"), route(GWLB_METHOD_GET, "/a")};
    assert_build_error(any, 2, 0, GWLB_ECONFLICT, 1, 0, 0);
    gwlb_route encoded[] = {route(GWLB_METHOD_GET, "/~u"), route(GWLB_METHOD_GET, "/%7Eu")};
    assert_build_error(encoded, 2, 0, GWLB_ECONFLICT, 1, 0, 0);
    gwlb_route hosts[] = {route(GWLB_METHOD_GET, "/a"), route(GWLB_METHOD_GET, "/a")};
    hosts[0].host = "A.test";
    hosts[1].host = "a.TEST";
    assert_build_error(hosts, 2, 0, GWLB_ECONFLICT, 1, 0, 0);
}
END_TEST

START_TEST(test_routes_that_differ_somewhere_are_not_a_conflict)
{
    gwlb_route_header h = {"x", "1", GWLB_HEADER_EXACT};
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/u/{id}/posts"),
                       route(GWLB_METHOD_GET, "/u/{name}/likes"), /* other names: fine */
                       route(GWLB_METHOD_POST, "/u/{user}/posts"),
                       route(GWLB_METHOD_GET, "/u/{id}/posts"),
                       route(GWLB_METHOD_GET, "/u/{id}/posts"),
                       route(GWLB_METHOD_GET, "/u/{id}/posts"),
                       route(GWLB_METHOD_GET, "/u/{id:int}/posts"),
                       route(GWLB_METHOD_GET, "/u/{id}/posts")};
    rs[3].host = "a.test";
    rs[4].headers = &h;
    rs[4].header_count = 1;
    rs[5].priority = 1;
    rs[7].flags = GWLB_ROUTE_PREFIX;
    gwlb_router *r = build(rs, 8);
    gwlb_route_match m;
    const char *p = "/u/bob/likes";
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, p, &m), 0);
    ck_assert_int_eq(m.route, 1);
    assert_param(&m, p, "name", "bob");
    ck_assert_int_eq(route_of(r, "/u/bob/posts"), 5);
    ck_assert_int_eq(route_of(r, "/u/12/posts"), 6);
    ck_assert_int_eq(route_of(r, "/u/bob/posts/x"), 7);
    gwlb_router_free(r);
}
END_TEST

/* ---- bad input ----------------------------------------------------------- */

START_TEST(test_pattern_errors_name_route_and_column)
{
    assert_pattern_error("/users/{id", GWLB_ESYNTAX, 7);
    assert_pattern_error("/users/{id/x}", GWLB_ESYNTAX, 7);
    assert_pattern_error("/users/{}", GWLB_ESYNTAX, 8);
    assert_pattern_error("/users/:", GWLB_ESYNTAX, 8);
    assert_pattern_error("/f/{*}", GWLB_ESYNTAX, 5);
    assert_pattern_error("/a/{x}/{x}", GWLB_EEXIST, 8);
    assert_pattern_error("/a/:x/{*x}", GWLB_EEXIST, 8);
    assert_pattern_error("/f/{*rest}/x", GWLB_ESYNTAX, 10);
    assert_pattern_error("/f/*rest/", GWLB_ESYNTAX, 8);
    assert_pattern_error("/i/{id:float}", GWLB_ENOTSUP, 7);
    assert_pattern_error("/i/{id:}", GWLB_ESYNTAX, 7);
    assert_pattern_error("/i/{id:[a-z}", GWLB_ESYNTAX, 7);
    assert_pattern_error("/i/{id:[]}", GWLB_ESYNTAX, 8);
    assert_pattern_error("/i/{id:[z-a]}", GWLB_ESYNTAX, 8);
    assert_pattern_error("/i/{id:[a-z]{3,2}}", GWLB_ESYNTAX, 12);
    assert_pattern_error("/i/{id:[a-z]{0}}", GWLB_ESYNTAX, 12);
    assert_pattern_error("/i/{id:[a-z]{1,256}}", GWLB_ESYNTAX, 12);
    assert_pattern_error("/i/{id:uuid{1}}", GWLB_ESYNTAX, 11);
    assert_pattern_error("/i/{id:int}x", GWLB_ESYNTAX, 3);
    assert_pattern_error("/i/{id}x", GWLB_ESYNTAX, 7);
    assert_pattern_error("/i/a{id}", GWLB_ESYNTAX, 4);
    assert_pattern_error("/i/a}", GWLB_ESYNTAX, 4);
    assert_pattern_error("/i/{a{b}", GWLB_ESYNTAX, 5);
    assert_pattern_error("i/x", GWLB_ESYNTAX, 0);
    assert_pattern_error("", GWLB_ESYNTAX, 0);
    assert_pattern_error("/a/%zz", GWLB_EPROTO, 3);
    assert_pattern_error("/a/b%4", GWLB_EPROTO, 4);
    assert_pattern_error("/a/%00", GWLB_EPROTO, 3);
    assert_pattern_error("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}",
                         GWLB_ELIMIT, 65);
}
END_TEST

START_TEST(test_overlong_or_too_deep_pattern_and_embedded_nul_are_rejected)
{
    char *big = malloc(GWLB_ROUTER_PATTERN_MAX + 2);
    memset(big, 'a', GWLB_ROUTER_PATTERN_MAX + 1);
    big[0] = '/';
    big[GWLB_ROUTER_PATTERN_MAX + 1] = '\0';
    assert_pattern_error(big, GWLB_ETOOLONG, GWLB_ROUTER_PATTERN_MAX);
    big[GWLB_ROUTER_PATTERN_MAX] = '\0'; /* exactly the maximum is fine */
    gwlb_route ok = route(GWLB_METHOD_GET, big);
    gwlb_router *r = build(&ok, 1);
    gwlb_router_free(r);
    free(big);
    char deep[2 * (GWLB_ROUTER_MAX_SEGMENTS + 1) + 1];
    for (int i = 0; i <= GWLB_ROUTER_MAX_SEGMENTS; i++)
        memcpy(deep + 2 * i, "/a", 2);
    deep[2 * (GWLB_ROUTER_MAX_SEGMENTS + 1)] = '\0';
    assert_pattern_error(deep, GWLB_ETOOLONG, 2 * GWLB_ROUTER_MAX_SEGMENTS + 1);
    deep[2 * GWLB_ROUTER_MAX_SEGMENTS] = '\0'; /* exactly the maximum is fine */
    ok = route(GWLB_METHOD_GET, deep);
    r = build(&ok, 1);
    ck_assert_int_eq(route_of(r, deep), 0);
    gwlb_router_free(r);
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/a\0b")};
    rs[0].path_len = 4;
    assert_build_error(rs, 1, 0, GWLB_ESYNTAX, 0, -1, 2);
}
END_TEST

START_TEST(test_bad_hosts_conditions_targets_and_arguments)
{
    gwlb_route rs[1];
    const char *bad_hosts[] = {"", "*", "*.", "*example.com", "a*.b", "a b", "a/b"};
    const int cols[] = {0, 0, 0, 0, 1, 1, 1};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        rs[0] = route(GWLB_METHOD_GET, "/");
        rs[0].host = bad_hosts[i];
        assert_build_error(rs, 1, 0, GWLB_ESYNTAX, 0, -1, cols[i]);
    }
    char longhost[300];
    memset(longhost, 'h', 299);
    longhost[299] = '\0';
    rs[0] = route(GWLB_METHOD_GET, "/");
    rs[0].host = longhost;
    assert_build_error(rs, 1, 0, GWLB_ETOOLONG, 0, -1, GWLB_ROUTER_HOST_MAX);

    gwlb_route_header hs[] = {{"ok", "v", GWLB_HEADER_EXACT}, {"", "v", GWLB_HEADER_EXACT}};
    rs[0] = route(GWLB_METHOD_GET, "/");
    rs[0].headers = hs;
    rs[0].header_count = 2;
    assert_build_error(rs, 1, 0, GWLB_EINVAL, 0, -1, 1);
    gwlb_route_header kind = {"x", "v", 9};
    rs[0].headers = &kind;
    rs[0].header_count = 1;
    assert_build_error(rs, 1, 0, GWLB_EINVAL, 0, -1, 0);
    gwlb_route_query qv = {"x", NULL, GWLB_QUERY_EXACT};
    rs[0] = route(GWLB_METHOD_GET, "/");
    rs[0].queries = &qv;
    rs[0].query_count = 1;
    assert_build_error(rs, 1, 0, GWLB_EINVAL, 0, -1, 0);

    gwlb_route_target ts[] = {{1, NULL, 95}, {2, NULL, 0}};
    rs[0] = route(GWLB_METHOD_GET, "/");
    rs[0].targets = ts;
    rs[0].target_count = 2;
    assert_build_error(rs, 1, 0, GWLB_EINVAL, 0, -1, 1);

    rs[0] = route(1u << 20, "/");
    assert_build_error(rs, 1, 0, GWLB_EINVAL, 0, -1, -1);
    rs[0] = route(GWLB_METHOD_GET, NULL);
    assert_build_error(rs, 1, 0, GWLB_EINVAL, 0, -1, -1);

    gwlb_router *r = NULL;
    ck_assert_int_eq(gwlb_router_build(NULL, rs, 1, NULL, NULL, NULL), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_router_build(&r, NULL, 1, NULL, NULL, NULL), GWLB_EINVAL);
    gwlb_router_options o;
    gwlb_router_options_init(&o);
    o.size = 3;
    rs[0] = route(GWLB_METHOD_GET, "/");
    ck_assert_int_eq(gwlb_router_build(&r, rs, 1, &o, NULL, NULL), GWLB_EINVAL);
    gwlb_router_options_init(&o);
    o.flags = 1u << 9;
    ck_assert_int_eq(gwlb_router_build(&r, rs, 1, &o, NULL, NULL), GWLB_EINVAL);
    ck_assert_ptr_null(r);
    /* zero routes is a valid (empty) router */
    ck_assert_int_eq(gwlb_router_build(&r, NULL, 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(route_of(r, "/"), GWLB_ENOENT);
    gwlb_router_free(r);
    gwlb_router_free(NULL);
}
END_TEST

START_TEST(test_match_rejects_bad_requests)
{
    gwlb_route rs[] = {route(GWLB_METHOD_ANY, "/")};
    rs[0].flags = GWLB_ROUTE_PREFIX;
    gwlb_router *r = build(rs, 1);
    gwlb_route_match m;
    gwlb_router_request q;
    memset(&q, 0, sizeof q);
    q.path = "x";
    q.path_len = 1;
    ck_assert_int_eq(gwlb_router_match(r, &q, &m), GWLB_EINVAL);
    q.path_len = 0;
    ck_assert_int_eq(gwlb_router_match(r, &q, &m), GWLB_EINVAL);
    char *big = malloc(GWLB_ROUTER_PATH_MAX + 1);
    memset(big, 'a', GWLB_ROUTER_PATH_MAX + 1);
    big[0] = '/';
    q.path = big;
    q.path_len = GWLB_ROUTER_PATH_MAX + 1;
    ck_assert_int_eq(gwlb_router_match(r, &q, &m), GWLB_ETOOLONG);
    q.path_len = GWLB_ROUTER_PATH_MAX;
    ck_assert_int_eq(gwlb_router_match(r, &q, &m), 0);
    free(big);
    ck_assert_int_eq(gwlb_router_match(NULL, &q, &m), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_router_match(r, NULL, &m), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_router_match(r, &q, NULL), GWLB_EINVAL);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_every_allocation_failure_returns_enomem_and_leaks_nothing)
{
    gwlb_route_header h = {"X-A", "1", GWLB_HEADER_EXACT};
    gwlb_route_target t[] = {{1, NULL, 9}, {2, NULL, 1}};
    gwlb_route rs[40];
    char paths[40][32];
    for (int i = 0; i < 40; i++) {
        snprintf(paths[i], sizeof paths[i], "/s%d/{id:int}/x/{*rest}", i);
        rs[i] = route(GWLB_METHOD_GET, paths[i]);
        rs[i].headers = &h;
        rs[i].header_count = 1;
        rs[i].targets = t;
        rs[i].target_count = 2;
        rs[i].host = "*.example.com";
    }
    long n;
    for (n = 1;; n++) {
        test_alloc ta;
        test_alloc_init(&ta, n);
        gwlb_router *r = NULL;
        int rc = gwlb_router_build(&r, rs, 40, NULL, &ta.allocator, NULL);
        if (rc == 0) {
            ck_assert_int_eq(ta.failures, 0);
            gwlb_router_free(r);
            ck_assert_int_eq(ta.live_blocks, 0);
            ck_assert_int_eq(ta.size_mismatches, 0);
            break;
        }
        ck_assert_int_eq(rc, GWLB_ENOMEM);
        ck_assert_ptr_null(r);
        ck_assert_int_eq(ta.live_blocks, 0);
        ck_assert_int_eq(ta.size_mismatches, 0);
    }
    ck_assert_int_gt(n, 10);
}
END_TEST

/* ---- weighted targets ---------------------------------------------------- */

START_TEST(test_weighted_targets_are_deterministic_and_follow_weights)
{
    gwlb_route_target t[] = {{100, NULL, 95}, {200, (void *)&t, 5}};
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/"), route(GWLB_METHOD_GET, "/plain")};
    rs[0].targets = t;
    rs[0].target_count = 2;
    gwlb_router *r = build(rs, 2);
    int counts[2] = {0, 0};
    long wrong = 0;
    for (int k = 0; k < 20000; k++) {
        char key[32];
        int n = snprintf(key, sizeof key, "user-%d", k);
        uint32_t idx = 9, idx2 = 9;
        uint64_t id = 0;
        void *data = NULL;
        int rc1 = gwlb_router_pick_target(r, 0, key, (size_t)n, &idx, &id, &data);
        int rc2 = gwlb_router_pick_target(r, 0, key, (size_t)n, &idx2, NULL, NULL);
        uint64_t h = gwlb_hash64(key, (size_t)n, 0) % 100; /* the documented mapping */
        uint32_t want = h < 95 ? 0u : 1u;
        if (rc1 != 0 || rc2 != 0 || idx != want || idx2 != want || id != (want ? 200u : 100u) ||
            data != (want ? (void *)&t : NULL))
            wrong++;
        counts[want]++;
    }
    ck_assert_int_eq(wrong, 0);
    ck_assert_int_gt(counts[1], 850); /* 5% of 20000 = 1000, sigma ~31 */
    ck_assert_int_lt(counts[1], 1150);
    uint32_t idx;
    ck_assert_int_eq(gwlb_router_pick_target(r, 1, "k", 1, &idx, NULL, NULL), GWLB_ENOENT);
    ck_assert_int_eq(gwlb_router_pick_target(r, 2, "k", 1, &idx, NULL, NULL), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_router_pick_target(r, -1, "k", 1, &idx, NULL, NULL), GWLB_ERANGE);
    ck_assert_int_eq(gwlb_router_pick_target(r, 0, NULL, 1, &idx, NULL, NULL), GWLB_EINVAL);
    gwlb_router_free(r);
}
END_TEST

START_TEST(test_match_returns_route_id_and_data_and_stats_report_memory)
{
    int payload = 7;
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/a/{x}"), route(GWLB_METHOD_GET, "/b")};
    rs[0].id = 77;
    rs[0].data = &payload;
    gwlb_router *r = build(rs, 2);
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, "/a/1", &m), 0);
    ck_assert_uint_eq(m.id, 77);
    ck_assert_ptr_eq(m.data, &payload);
    ck_assert_uint_eq(m.param_count, 1);
    ck_assert_str_eq(m.params[0].name, "x");
    gwlb_router_stats st;
    ck_assert_int_eq(gwlb_router_stats_get(r, &st), 0);
    ck_assert_uint_eq(st.routes, 2);
    ck_assert_uint_eq(st.nodes, 4); /* root, "a", "a/{x}", "b" */
    ck_assert_uint_gt(st.bytes, 0);
    ck_assert_int_eq(gwlb_router_stats_get(NULL, &st), GWLB_EINVAL);
    gwlb_router_free(r);
}
END_TEST

/* ---- normalization and rewriting ---------------------------------------- */

static void assert_normal(const char *in, uint32_t flags, const char *want)
{
    char buf[256];
    size_t n = 999;
    int rc = gwlb_path_normalize(in, strlen(in), flags, buf, sizeof buf, &n);
    ck_assert_msg(rc == 0, "%s: %s", in, gwlb_err_name(rc));
    buf[n] = '\0';
    ck_assert_msg(strcmp(buf, want) == 0, "%s -> %s, want %s", in, buf, want);
    /* in place gives the same */
    char inplace[256];
    strcpy(inplace, in);
    ck_assert_int_eq(gwlb_path_normalize(inplace, strlen(in), flags, inplace, sizeof inplace, &n), 0);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(inplace, want, n) == 0);
}

START_TEST(test_normalize_vectors)
{
    uint32_t d = GWLB_NORMALIZE_DEFAULT;
    assert_normal("/", d, "/");
    assert_normal("/a/b", d, "/a/b");
    assert_normal("/a/./b", d, "/a/b");
    assert_normal("/a/b/../c", d, "/a/c");
    assert_normal("/a/b/..", d, "/a/");
    assert_normal("/a/b/.", d, "/a/b/");
    assert_normal("/..", d, "/");
    assert_normal("/../../a", d, "/a");
    assert_normal("/a//b///c", d, "/a/b/c");
    assert_normal("/a//b", 0, "/a//b");
    assert_normal("//", d, "/");
    assert_normal("/%7Euser/%41%2d%2E%5F", d, "/~user/A-._");
    assert_normal("/a%2fb%2Fc", d, "/a%2Fb%2Fc");
    assert_normal("/a/%2e%2e/b", d, "/b");
    assert_normal("/a/%2e/b", d, "/a/b");
    assert_normal("/a%20b", d, "/a%20b");
    assert_normal("/a/b/", d, "/a/b/");
    assert_normal("/a/b/", d | GWLB_NORMALIZE_STRIP_TRAILING_SLASH, "/a/b");
    assert_normal("/", d | GWLB_NORMALIZE_STRIP_TRAILING_SLASH, "/");
    assert_normal("/A/%7a/%2f", d | GWLB_NORMALIZE_LOWERCASE, "/a/z/%2F");
    assert_normal("/a/..b/c..", d, "/a/..b/c..");
}
END_TEST

START_TEST(test_normalize_errors)
{
    char buf[64];
    size_t n = 5;
    ck_assert_int_eq(gwlb_path_normalize("/a%", 3, 0, buf, sizeof buf, &n), GWLB_EPROTO);
    ck_assert_int_eq(gwlb_path_normalize("/a%4", 4, 0, buf, sizeof buf, &n), GWLB_EPROTO);
    ck_assert_int_eq(gwlb_path_normalize("/a%g0", 5, 0, buf, sizeof buf, &n), GWLB_EPROTO);
    ck_assert_int_eq(gwlb_path_normalize("/a%00", 5, 0, buf, sizeof buf, &n), GWLB_EPROTO);
    ck_assert_int_eq(gwlb_path_normalize("/a\0b", 4, 0, buf, sizeof buf, &n), GWLB_EPROTO);
    ck_assert_int_eq(gwlb_path_normalize("a", 1, 0, buf, sizeof buf, &n), GWLB_EINVAL);
    ck_assert_int_eq(gwlb_path_normalize("/abc", 4, 0, buf, 3, &n), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_path_normalize(NULL, 4, 0, buf, 3, &n), GWLB_EINVAL);
    char *big = malloc(GWLB_ROUTER_PATH_MAX + 1);
    memset(big, 'a', GWLB_ROUTER_PATH_MAX + 1);
    big[0] = '/';
    ck_assert_int_eq(gwlb_path_normalize(big, GWLB_ROUTER_PATH_MAX + 1, 0, big,
                                         GWLB_ROUTER_PATH_MAX + 1, &n), GWLB_ETOOLONG);
    free(big);
    ck_assert_uint_eq(n, 5); /* untouched on error */
}
END_TEST

static void assert_prefix_rewrite(const char *path, const char *from, const char *to,
                                  int rc_want, const char *want)
{
    char buf[128];
    size_t n = 0;
    int rc = gwlb_path_rewrite_prefix(path, strlen(path), from, to, buf, sizeof buf, &n);
    ck_assert_int_eq(rc, rc_want);
    if (rc == 0) {
        buf[n] = '\0';
        ck_assert_str_eq(buf, want);
    }
}

START_TEST(test_prefix_rewrite)
{
    assert_prefix_rewrite("/api/v1/users", "/api", "", 0, "/v1/users");
    assert_prefix_rewrite("/api", "/api", "", 0, "/");
    assert_prefix_rewrite("/api", "/api", "/svc", 0, "/svc");
    assert_prefix_rewrite("/api/x", "/api", "/", 0, "/x");
    assert_prefix_rewrite("/api/x", "/api/", "/v2", 0, "/v2/x");
    assert_prefix_rewrite("/api/x", "/api/", "/v2/", 0, "/v2/x");
    assert_prefix_rewrite("/apix", "/api", "/v2", GWLB_ENOENT, NULL);
    assert_prefix_rewrite("/ap", "/api", "/v2", GWLB_ENOENT, NULL);
    char small[4];
    size_t n;
    ck_assert_int_eq(gwlb_path_rewrite_prefix("/api/xyz", 8, "/api", "/v2", small, sizeof small, &n),
                     GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_path_rewrite_prefix(NULL, 8, "/api", "/v2", small, sizeof small, &n),
                     GWLB_EINVAL);
}
END_TEST

START_TEST(test_template_rewrite)
{
    gwlb_route rs[] = {route(GWLB_METHOD_GET, "/v1/users/{id}/files/{*path}")};
    gwlb_router *r = build(rs, 1);
    const char *p = "/v1/users/42/files/a/b.txt";
    gwlb_route_match m;
    ck_assert_int_eq(match_full(r, GWLB_METHOD_GET, NULL, p, &m), 0);
    char buf[64];
    size_t n;
    ck_assert_int_eq(gwlb_path_rewrite_template(&m, p, "/users/{id}/f/{*path}", buf, sizeof buf, &n), 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "/users/42/f/a/b.txt");
    ck_assert_int_eq(gwlb_path_rewrite_template(&m, p, "/u/{nope}", buf, sizeof buf, &n), GWLB_ENOENT);
    ck_assert_int_eq(gwlb_path_rewrite_template(&m, p, "/u/{id", buf, sizeof buf, &n), GWLB_ESYNTAX);
    ck_assert_int_eq(gwlb_path_rewrite_template(&m, p, "/u/{}", buf, sizeof buf, &n), GWLB_ESYNTAX);
    ck_assert_int_eq(gwlb_path_rewrite_template(&m, p, "/users/{id}", buf, 8, &n), GWLB_ENOSPC);
    ck_assert_int_eq(gwlb_path_rewrite_template(&m, p, "/users/{id}", buf, 7, &n), GWLB_ENOSPC);
    gwlb_router_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *prec = tcase_create("precedence");
    tcase_add_test(prec, test_static_segment_beats_parameter_at_same_position);
    tcase_add_test(prec, test_segment_split_at_every_position_captures_both_segments);
    tcase_add_test(prec, test_backtracking_finds_parameter_route_below_a_static_dead_end);
    tcase_add_test(prec, test_backtracking_over_method_finds_parameter_route);
    tcase_add_test(prec, test_constrained_parameter_beats_plain_parameter);
    tcase_add_test(prec, test_character_class_with_length_bounds);
    tcase_add_test(prec, test_catch_all_is_the_last_resort_and_captures_the_rest);
    tcase_add_test(prec, test_star_spelling_is_a_catch_all_and_colon_spelling_a_parameter);
    tcase_add_test(prec, test_prefix_route_respects_segment_boundaries);
    tcase_add_test(prec, test_prefix_with_trailing_slash_needs_something_after_it);
    tcase_add_test(prec, test_longer_paths_beat_shorter_prefixes_and_root_prefix_catches_all);
    tcase_add_test(prec, test_many_siblings_with_the_same_length_and_ends_resolve_exactly);
    tcase_add_test(prec, test_every_registration_order_gives_the_same_results);
    tcase_add_test(prec, test_trailing_slash_is_significant_by_default);
    tcase_add_test(prec, test_ignore_trailing_slash_policy);
    tcase_add_test(prec, test_case_insensitive_mode_keeps_parameter_case);
    tcase_add_test(prec, test_encoded_slash_never_splits_a_segment);
    tcase_add_test(prec, test_normalization_closes_the_dot_segment_bypass);
    suite_add_tcase(s, prec);
    TCase *cond = tcase_create("host-conditions-methods");
    tcase_add_test(cond, test_host_specificity_exact_then_longest_wildcard_then_any);
    tcase_add_test(cond, test_host_specific_route_beats_generic_route_in_either_order);
    tcase_add_test(cond, test_path_precedence_comes_before_host_precedence);
    tcase_add_test(cond, test_header_matchers_exact_prefix_present_absent);
    tcase_add_test(cond, test_query_matchers_exact_and_present_with_percent_decoding);
    tcase_add_test(cond, test_more_conditions_then_priority_then_insertion_order);
    tcase_add_test(cond, test_method_not_allowed_reports_the_allowed_set);
    tcase_add_test(cond, test_method_names_map_to_bits);
    tcase_add_test(cond, test_method_names_exact_only);
    tcase_add_test(cond, test_any_method_route_and_unknown_method);
    tcase_add_test(cond, test_weighted_targets_are_deterministic_and_follow_weights);
    tcase_add_test(cond, test_match_returns_route_id_and_data_and_stats_report_memory);
    suite_add_tcase(s, cond);
    TCase *bad = tcase_create("bad-input");
    tcase_add_test(bad, test_indistinguishable_routes_are_a_conflict_naming_both);
    tcase_add_test(bad, test_routes_that_differ_somewhere_are_not_a_conflict);
    tcase_add_test(bad, test_pattern_errors_name_route_and_column);
    tcase_add_test(bad, test_overlong_or_too_deep_pattern_and_embedded_nul_are_rejected);
    tcase_add_test(bad, test_bad_hosts_conditions_targets_and_arguments);
    tcase_add_test(bad, test_match_rejects_bad_requests);
    tcase_add_test(bad, test_every_allocation_failure_returns_enomem_and_leaks_nothing);
    suite_add_tcase(s, bad);
    TCase *path = tcase_create("path");
    tcase_add_test(path, test_normalize_vectors);
    tcase_add_test(path, test_normalize_errors);
    tcase_add_test(path, test_prefix_rewrite);
    tcase_add_test(path, test_template_rewrite);
    suite_add_tcase(s, path);
    return test_run_suite(s);
}
