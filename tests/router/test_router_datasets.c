/*
 * Proof on the standard route sets (GitHub API, Parse, Google+, static from
 * go-http-routing-benchmark): every request line N resolves to route N, and
 * every ":param" captures exactly the request segment at its position, with
 * the value the data set's README documents for that parameter name.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gwlb.h"
#include "router_data.h"
#include "test_run.h"

#ifndef GWLB_ROUTER_TEST_DATA
#error "GWLB_ROUTER_TEST_DATA must name tests/router/data"
#endif

/* Parameter values by name, from tests/router/data/README (upstream list). */
static const char *const known_values[][2] = {
    {"client_id", "a1b2c3d4e5f6a7b8c9d0"},
    {"access_token", "e72e16c7e42f292c6912e7710c838347ae178b4a"},
    {"owner", "octocat"},
    {"repo", "Hello-World"},
    {"org", "github"},
    {"user", "torvalds"},
    {"sha", "7638417db6d59f3c431d3e1f261cc637155684cd"},
    {"number", "1347"},
    {"assignee", "hubot"},
    {"name", "bug"},
    {"branch", "main"},
    {"ref", "6dcb09b5b57875f334f61aebed695e2e4193db5e"},
    {"state", "open"},
    {"keyword", "router"},
    {"email", "octocat@github.com"},
    {"target_user", "mojombo"},
    {"userId", "118051310819094153327"},
    {"activityId", "z12gtjhq3qn2xxl2o224exwiqruvtda0i"},
    {"collection", "public"},
    {"commentId", "z13lj3h3bnf1czf1o04cfxd4nsxjwlfbxx40k"},
    {"className", "GameScore"},
    {"objectId", "Ed1nuqPvcm"},
    {"fileName", "pic.jpg"},
    {"eventName", "AppOpened"},
};

static const char *known_value(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof known_values / sizeof known_values[0]; i++)
        if (strlen(known_values[i][0]) == len && memcmp(known_values[i][0], name, len) == 0)
            return known_values[i][1];
    return NULL;
}

/* Returns the number of parameters checked. */
static size_t check_set(const char *name, size_t expect_count, size_t expect_params)
{
    rd_set s;
    ck_assert_uint_eq(rd_load(GWLB_ROUTER_TEST_DATA, name, &s), expect_count);
    gwlb_route *routes = calloc(s.count, sizeof *routes);
    rd_routes(&s, routes);
    gwlb_router *r = NULL;
    gwlb_error_detail d;
    int rc = gwlb_router_build(&r, routes, s.count, NULL, NULL, &d);
    ck_assert_msg(rc == 0, "%s: build failed: %s (route %d)", name, d.message, d.item);
    size_t params_checked = 0;
    for (size_t i = 0; i < s.count; i++) {
        const rd_line *q = &s.requests[i];
        gwlb_router_request req = {.method = q->method, .path = q->path, .path_len = q->path_len};
        gwlb_route_match m;
        ck_assert_int_eq(gwlb_router_match(r, &req, &m), 0);
        ck_assert_msg(m.route == (int32_t)i, "%s line %zu: %s resolved to route %d", name, i + 1,
                      q->path, m.route);
        ck_assert_uint_eq(m.id, i);
        /* Walk the pattern and the request segment by segment. */
        const char *pp = s.routes[i].path, *rp = q->path;
        uint32_t k = 0;
        while (*pp) {
            pp++;
            rp++;
            size_t pl = strcspn(pp, "/"), rl = strcspn(rp, "/");
            if (pp[0] == ':') {
                ck_assert_uint_lt(k, m.param_count);
                ck_assert_uint_eq(m.params[k].name_len, pl - 1);
                ck_assert(memcmp(m.params[k].name, pp + 1, pl - 1) == 0);
                ck_assert_uint_eq(m.params[k].offset, (uint32_t)(rp - q->path));
                ck_assert_uint_eq(m.params[k].length, rl);
                const char *want = known_value(pp + 1, pl - 1);
                if (want != NULL && !(strcmp(name, "gplus") == 0 && strncmp(pp, ":id", 3) == 0)) {
                    ck_assert_uint_eq(rl, strlen(want));
                    ck_assert(memcmp(q->path + m.params[k].offset, want, rl) == 0);
                }
                k++;
                params_checked++;
            } else {
                ck_assert_uint_eq(pl, rl);
                ck_assert(memcmp(pp, rp, pl) == 0);
            }
            pp += pl;
            rp += rl;
        }
        ck_assert_uint_eq(m.param_count, k);
    }
    gwlb_router_free(r);
    free(routes);
    rd_free(&s);
    ck_assert_uint_eq(params_checked, expect_params);
    return params_checked;
}

START_TEST(test_github_every_request_line_n_resolves_to_route_n)
{
    check_set("github", 203, 339);
}
END_TEST

START_TEST(test_parse_every_request_line_n_resolves_to_route_n)
{
    check_set("parse", 26, 19);
}
END_TEST

START_TEST(test_gplus_every_request_line_n_resolves_to_route_n)
{
    check_set("gplus", 13, 16);
}
END_TEST

START_TEST(test_static_every_request_line_n_resolves_to_route_n)
{
    check_set("static", 157, 0);
}
END_TEST

/* The same sets must resolve identically whatever order the routes are given in. */
START_TEST(test_github_resolution_is_independent_of_registration_order)
{
    rd_set s;
    ck_assert_uint_eq(rd_load(GWLB_ROUTER_TEST_DATA, "github", &s), 203);
    gwlb_route *routes = calloc(s.count, sizeof *routes);
    rd_routes(&s, routes);
    uint64_t seed = 42;
    for (int round = 0; round < 20; round++) {
        for (size_t i = s.count - 1; i > 0; i--) { /* Fisher-Yates with SplitMix64 */
            seed += UINT64_C(0x9e3779b97f4a7c15);
            size_t j = (size_t)(gwlb_mix64(seed) % (i + 1));
            gwlb_route t = routes[i];
            routes[i] = routes[j];
            routes[j] = t;
        }
        gwlb_router *r = NULL;
        ck_assert_int_eq(gwlb_router_build(&r, routes, s.count, NULL, NULL, NULL), 0);
        for (size_t i = 0; i < s.count; i++) {
            gwlb_router_request req = {.method = s.requests[i].method,
                                       .path = s.requests[i].path,
                                       .path_len = s.requests[i].path_len};
            gwlb_route_match m;
            ck_assert_int_eq(gwlb_router_match(r, &req, &m), 0);
            ck_assert_uint_eq(m.id, i); /* id = original line */
        }
        gwlb_router_free(r);
    }
    free(routes);
    rd_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router-datasets");
    TCase *tc = tcase_create("datasets");
    tcase_add_test(tc, test_github_every_request_line_n_resolves_to_route_n);
    tcase_add_test(tc, test_parse_every_request_line_n_resolves_to_route_n);
    tcase_add_test(tc, test_gplus_every_request_line_n_resolves_to_route_n);
    tcase_add_test(tc, test_static_every_request_line_n_resolves_to_route_n);
    tcase_add_test(tc, test_github_resolution_is_independent_of_registration_order);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
