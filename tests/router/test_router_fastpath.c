/*
 * The exact-case matcher finds static segments through a first-byte
 * dispatch (router_internal.h, RT_FB_MAX_STATICS); the plain segment walk
 * with hash lookups is kept as gwlb__router_match_reference. These tests
 * prove both give the same answer (code, route, allowed methods, every
 * capture) on the standard route sets, on mutations of their request
 * lines, and on random route tables built to stress the dispatch: groups
 * of statics sharing a first byte (beyond RT_FB_MAX_GROUP), nodes with
 * more than RT_FB_MAX_STATICS statics, empty segments, constrained
 * parameters, catch-alls, prefixes and backtracking.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb.h"
#include "router/router_internal.h"
#include "router_data.h"

#ifndef GWLB_ROUTER_TEST_DATA
#error "GWLB_ROUTER_TEST_DATA must name tests/router/data"
#endif

static size_t compared;

static void same_answer(const gwlb_router *r, uint32_t method, const char *path, size_t len)
{
    gwlb_router_request req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.path = path;
    req.path_len = len;
    gwlb_route_match a, b;
    memset(&a, 0xa5, sizeof a);
    memset(&b, 0x5a, sizeof b);
    int ra = gwlb_router_match(r, &req, &a);
    int rb = gwlb__router_match_reference(r, &req, &b);
    ck_assert_msg(ra == rb, "%.*s: fast %d, reference %d", (int)len, path, ra, rb);
    ck_assert_int_eq(a.route, b.route);
    ck_assert_uint_eq(a.allowed_methods, b.allowed_methods);
    ck_assert_uint_eq(a.param_count, b.param_count);
    if (ra == 0) {
        ck_assert_uint_eq(a.id, b.id);
        for (uint32_t k = 0; k < a.param_count; k++) {
            ck_assert_uint_eq(a.params[k].offset, b.params[k].offset);
            ck_assert_uint_eq(a.params[k].length, b.params[k].length);
            ck_assert_ptr_eq(a.params[k].name, b.params[k].name);
        }
    }
    compared++;
}

/* Every request line, and variants of it: every prefix, the line plus a
 * trailing '/' or an extra segment, each segment replaced by "x", by its
 * own first byte and by an empty segment. */
static void same_on_variants(const gwlb_router *r, uint32_t method, const char *path, size_t len)
{
    char buf[600];
    if (len + 8 > sizeof buf)
        return;
    for (size_t i = 1; i <= len; i++)
        same_answer(r, method, path, i);
    memcpy(buf, path, len);
    memcpy(buf + len, "/", 1);
    same_answer(r, method, buf, len + 1);
    memcpy(buf + len, "/zz", 3);
    same_answer(r, method, buf, len + 3);
    for (size_t s = 0; s < len; s++) {
        if (path[s] != '/')
            continue;
        size_t e = s + 1;
        while (e < len && path[e] != '/')
            e++;
        static const char *const repl[] = {"x", "", NULL};
        for (int v = 0; v < 3; v++) {
            const char *rp = repl[v];
            size_t rl;
            char one[1];
            if (rp == NULL) {
                if (e == s + 1)
                    continue;
                one[0] = path[s + 1];
                rp = one;
                rl = 1;
            } else {
                rl = strlen(rp);
            }
            size_t n = 0;
            memcpy(buf, path, s + 1);
            n = s + 1;
            memcpy(buf + n, rp, rl);
            n += rl;
            memcpy(buf + n, path + e, len - e);
            n += len - e;
            same_answer(r, method, buf, n);
        }
    }
}

static void same_on_set(const char *name)
{
    rd_set s;
    ck_assert_uint_gt(rd_load(GWLB_ROUTER_TEST_DATA, name, &s), 0);
    gwlb_route *routes = calloc(s.count, sizeof *routes);
    rd_routes(&s, routes);
    gwlb_router *r = NULL;
    ck_assert_int_eq(gwlb_router_build(&r, routes, s.count, NULL, NULL, NULL), 0);
    compared = 0;
    for (size_t i = 0; i < s.count; i++) {
        same_on_variants(r, s.requests[i].method, s.requests[i].path, s.requests[i].path_len);
        same_on_variants(r, GWLB_METHOD_PATCH, s.requests[i].path, s.requests[i].path_len);
    }
    ck_assert_uint_gt(compared, 10 * s.count);
    gwlb_router_free(r);
    free(routes);
    rd_free(&s);
}

START_TEST(test_fast_walk_equals_reference_on_github_and_variants)
{
    same_on_set("github");
}
END_TEST

START_TEST(test_fast_walk_equals_reference_on_parse_gplus_static_and_variants)
{
    same_on_set("parse");
    same_on_set("gplus");
    same_on_set("static");
}
END_TEST

/* SplitMix64, fixed seeds: the same tables every run. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Static segments drawn so that many share a first byte: "s", "sa",
 * "sab", ..., "t1".."t90" (a node with more than RT_FB_MAX_STATICS), and
 * the empty segment. */
static size_t rnd_static(uint64_t *s, char *out)
{
    switch (rnd(s) % 6) {
    case 0:
        return (size_t)sprintf(out, "t%u", (unsigned)(rnd(s) % 90));
    case 1:
        return 0;
    default: {
        static const char *const words[] = {"s",  "sa",  "sab", "sb",  "sub", "subs", "st",
                                            "sta", "stb", "s1", "s22", "abc", "ab",   "a",
                                            "new", "news", "n", "ne", "x-y", "~u"};
        const char *w = words[rnd(s) % (sizeof words / sizeof words[0])];
        size_t l = strlen(w);
        memcpy(out, w, l);
        return l;
    }
    }
}

static size_t rnd_pattern(uint64_t *s, char *out, unsigned *flags)
{
    size_t n = 0;
    unsigned segs = 1 + (unsigned)(rnd(s) % 4), pn = 0;
    *flags = 0;
    for (unsigned i = 0; i < segs; i++) {
        out[n++] = '/';
        unsigned k = (unsigned)(rnd(s) % 10);
        if (k < 6) {
            n += rnd_static(s, out + n);
        } else if (k == 6) {
            n += (size_t)sprintf(out + n, "{p%u:int}", pn++);
        } else if (k == 7) {
            n += (size_t)sprintf(out + n, "{p%u:[a-s]{1,3}}", pn++);
        } else if (k == 8 || i + 1 < segs) {
            n += (size_t)sprintf(out + n, "{p%u}", pn++);
        } else {
            n += (size_t)sprintf(out + n, "{*p%u}", pn++);
        }
    }
    if (rnd(s) % 8 == 0 && out[n - 1] != '}')
        *flags = GWLB_ROUTE_PREFIX;
    out[n] = '\0';
    return n;
}

static size_t rnd_path(uint64_t *s, char *out)
{
    size_t n = 0;
    unsigned segs = 1 + (unsigned)(rnd(s) % 5);
    for (unsigned i = 0; i < segs; i++) {
        out[n++] = '/';
        unsigned k = (unsigned)(rnd(s) % 4);
        if (k < 2)
            n += rnd_static(s, out + n);
        else if (k == 2)
            n += (size_t)sprintf(out + n, "%u", (unsigned)(rnd(s) % 2000));
        else
            n += (size_t)sprintf(out + n, "%.*s", 1 + (int)(rnd(s) % 9), "sabstnewq");
    }
    if (rnd(s) % 6 == 0)
        out[n++] = '/';
    out[n] = '\0';
    return n;
}

START_TEST(test_fast_walk_equals_reference_on_random_tables)
{
    uint64_t seed = UINT64_C(0x5eed) + (uint64_t)_i;
    enum { ROUTES = 400, PATHS = 3000 };
    static char pats[ROUTES][128];
    gwlb_route routes[ROUTES];
    size_t count = 0;
    compared = 0;
    for (size_t i = 0; i < ROUTES; i++) {
        unsigned flags;
        rnd_pattern(&seed, pats[count], &flags);
        gwlb_route_init(&routes[count]);
        routes[count].path = pats[count];
        routes[count].flags = flags;
        routes[count].methods = (uint32_t)(rnd(&seed) % 4 == 0 ? GWLB_METHOD_ANY
                                                                : 1u << (rnd(&seed) % 3));
        routes[count].priority = (int32_t)(rnd(&seed) % 1000); /* few conflicts */
        routes[count].id = i;
        /* Keep only routes that do not conflict with the ones kept. */
        gwlb_router *t = NULL;
        if (gwlb_router_build(&t, routes, count + 1, NULL, NULL, NULL) == 0) {
            gwlb_router_free(t);
            count++;
        }
    }
    ck_assert_uint_gt(count, ROUTES / 2);
    for (int pass = 0; pass < 2; pass++) {
        gwlb_router_options o;
        gwlb_router_options_init(&o);
        o.flags = pass ? GWLB_ROUTER_IGNORE_TRAILING_SLASH : 0;
        gwlb_router *r = NULL;
        if (gwlb_router_build(&r, routes, count, &o, NULL, NULL) != 0)
            continue; /* the policy may make two routes conflict */
        for (int i = 0; i < PATHS; i++) {
            char path[256];
            size_t n = rnd_path(&seed, path);
            uint32_t m = 1u << (rnd(&seed) % 4);
            same_answer(r, m, path, n);
        }
        for (size_t i = 0; i < count; i++)
            same_on_variants(r, GWLB_METHOD_GET, pats[i], strlen(pats[i]));
        gwlb_router_free(r);
    }
    ck_assert_uint_gt(compared, 6000);
}
END_TEST

/* The first-byte dispatch is really used (else the tests above compare
 * the reference with itself): github's busiest node has it. */
START_TEST(test_first_byte_dispatch_is_used_on_github)
{
    rd_set s;
    ck_assert_uint_gt(rd_load(GWLB_ROUTER_TEST_DATA, "github", &s), 0);
    gwlb_route *routes = calloc(s.count, sizeof *routes);
    rd_routes(&s, routes);
    gwlb_router *r = NULL;
    ck_assert_int_eq(gwlb_router_build(&r, routes, s.count, NULL, NULL, NULL), 0);
    uint32_t with = 0, without = 0;
    for (uint32_t i = 0; i < r->node_count; i++) {
        if (r->nodes[i].static_count == 0)
            continue;
        if (r->nodes[i].fb_words)
            with++;
        else
            without++;
    }
    ck_assert_uint_gt(with, 10);
    ck_assert_uint_eq(without, 0);
    gwlb_router_free(r);
    free(routes);
    rd_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router-fastpath");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fast_walk_equals_reference_on_github_and_variants);
    tcase_add_test(tc, test_fast_walk_equals_reference_on_parse_gplus_static_and_variants);
    tcase_add_loop_test(tc, test_fast_walk_equals_reference_on_random_tables, 0, 6);
    tcase_add_test(tc, test_first_byte_dispatch_is_used_on_github);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
