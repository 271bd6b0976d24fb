/*
 * libFuzzer target: the matcher, path normalization and rewriting on a
 * fixed router covering every feature. Input byte 0 picks the method, the
 * rest is the path (and, after a '?', the query). Checks: results are in
 * range, parameters lie inside the path, normalization never grows the
 * path, is idempotent and leaves no "." / ".." segment or (merged) "//";
 * the matcher's fast walk (first-byte dispatch, tight loop) answers exactly
 * like the plain reference walk, with and without the trailing-slash policy.
 * Built by .ci/fuzz-smoke.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gwlb.h"
#include "router/router_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gwlb_router *router, *router_plain; /* trailing-slash policy / defaults */

static const gwlb_route_header hdr = {"x-canary", "1", GWLB_HEADER_EXACT};
static const gwlb_route_query qry = {"debug", NULL, GWLB_QUERY_PRESENT};
static const gwlb_route_target targets[] = {{1, NULL, 95}, {2, NULL, 5}};

static void setup(void)
{
    static const char *const patterns[] = {
        "/", "/users/{id}", "/users/new", "/users/{id:int}/posts/{post:uuid}",
        "/files/{*rest}", "/static/:name", "/t/{code:[A-Z]{2,3}}", "/h/{h:hex}/x",
        "/a/b/c", "/a/{x}/c", "/a/b/{y}", "/api", "/api/", "/v1/jobs:cancel",
    };
    size_t n = sizeof patterns / sizeof patterns[0];
    gwlb_route routes[32];
    for (size_t i = 0; i < n; i++) {
        gwlb_route_init(&routes[i]);
        routes[i].path = patterns[i];
        routes[i].methods = i % 3 == 0 ? GWLB_METHOD_ANY : GWLB_METHOD_GET | GWLB_METHOD_POST;
    }
    routes[11].flags = GWLB_ROUTE_PREFIX;
    routes[12].flags = GWLB_ROUTE_PREFIX;
    routes[1].headers = &hdr;
    routes[1].header_count = 1;
    routes[2].queries = &qry;
    routes[2].query_count = 1;
    routes[4].targets = targets;
    routes[4].target_count = 2;
    gwlb_route_init(&routes[n]);
    routes[n].path = "/users/{id}";
    routes[n].host = "*.example.com";
    gwlb_router_options o;
    gwlb_router_options_init(&o);
    o.flags = GWLB_ROUTER_IGNORE_TRAILING_SLASH;
    if (gwlb_router_build(&router, routes, n + 1, &o, NULL, NULL) != 0)
        __builtin_trap();
    if (gwlb_router_build(&router_plain, routes, n + 1, NULL, NULL, NULL) != 0)
        __builtin_trap();
}

static void same_as_reference(const gwlb_router *r, const gwlb_router_request *q)
{
    gwlb_route_match a, b;
    int ra = gwlb_router_match(r, q, &a);
    int rb = gwlb__router_match_reference(r, q, &b);
    if (ra != rb || a.route != b.route || a.allowed_methods != b.allowed_methods ||
        a.param_count != b.param_count)
        __builtin_trap();
    if (ra == 0)
        for (uint32_t k = 0; k < a.param_count; k++)
            if (a.params[k].offset != b.params[k].offset ||
                a.params[k].length != b.params[k].length || a.params[k].name != b.params[k].name)
                __builtin_trap();
}

static void check_match(const char *path, size_t len, const char *query, size_t qlen,
                        uint32_t method)
{
    gwlb_header h = {"X-Canary", 8, "1", 1};
    gwlb_router_request q;
    memset(&q, 0, sizeof q);
    q.method = method;
    q.host = "www.example.com:443";
    q.host_len = 19;
    q.path = path;
    q.path_len = len;
    q.query = query;
    q.query_len = qlen;
    q.headers = &h;
    q.header_count = method & 1;
    same_as_reference(router, &q);
    same_as_reference(router_plain, &q);
    gwlb_route_match m;
    int rc = gwlb_router_match(router, &q, &m);
    if (rc == 0) {
        if (m.route < 0 || m.param_count > GWLB_ROUTER_MAX_PARAMS)
            __builtin_trap();
        for (uint32_t p = 0; p < m.param_count; p++)
            if ((uint64_t)m.params[p].offset + m.params[p].length > len)
                __builtin_trap();
        char out[GWLB_ROUTER_PATH_MAX + 64];
        size_t ol;
        int t = gwlb_path_rewrite_template(&m, path, "/x/{id}/{*rest}", out, sizeof out, &ol);
        if (t != 0 && t != GWLB_ENOENT && t != GWLB_ENOSPC)
            __builtin_trap();
        uint32_t idx;
        int pk = gwlb_router_pick_target(router, m.route, path, len, &idx, NULL, NULL);
        if (pk == 0 && idx > 1)
            __builtin_trap();
    } else if (rc != GWLB_ENOENT && rc != GWLB_EMETHOD && rc != GWLB_EINVAL &&
               rc != GWLB_ETOOLONG) {
        __builtin_trap();
    }
    if (rc == GWLB_EMETHOD && m.allowed_methods == 0)
        __builtin_trap();
    char out[GWLB_ROUTER_PATH_MAX + 64];
    size_t ol;
    int pr = gwlb_path_rewrite_prefix(path, len, "/api", "/v2", out, sizeof out, &ol);
    if (pr != 0 && pr != GWLB_ENOENT && pr != GWLB_ENOSPC)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (router == NULL)
        setup();
    if (size < 1)
        return 0;
    uint32_t method = 1u << (data[0] % 10); /* bit 9: an unknown method */
    if (method == (1u << 9))
        method = 0;
    const char *path = (const char *)data + 1;
    size_t len = size - 1;
    const char *query = NULL;
    size_t qlen = 0;
    const char *qm = memchr(path, '?', len);
    if (qm != NULL) {
        query = qm + 1;
        qlen = len - (size_t)(qm + 1 - path);
        len = (size_t)(qm - path);
    }
    check_match(path, len, query, qlen, method);

    static char a[GWLB_ROUTER_PATH_MAX + 1], b[GWLB_ROUTER_PATH_MAX + 1];
    size_t la, lb;
    uint32_t flags = GWLB_NORMALIZE_MERGE_SLASHES | (data[0] & 0x40 ? GWLB_NORMALIZE_LOWERCASE : 0) |
                     (data[0] & 0x80 ? GWLB_NORMALIZE_STRIP_TRAILING_SLASH : 0);
    int rc = gwlb_path_normalize(path, len, flags, a, sizeof a, &la);
    if (rc == 0) {
        if (la > len || la == 0 || a[0] != '/')
            __builtin_trap();
        if (gwlb_path_normalize(a, la, flags, b, sizeof b, &lb) != 0 || lb != la ||
            memcmp(a, b, la) != 0)
            __builtin_trap(); /* idempotent */
        for (size_t i = 0; i + 1 < la; i++)
            if (a[i] == '/' && a[i + 1] == '/')
                __builtin_trap();
        for (size_t i = 0; i < la; i++) {
            if (a[i] != '/')
                continue;
            size_t e = i + 1;
            while (e < la && a[e] != '/')
                e++;
            size_t sl = e - i - 1;
            if ((sl == 1 && a[i + 1] == '.') || (sl == 2 && a[i + 1] == '.' && a[i + 2] == '.'))
                __builtin_trap();
        }
        check_match(a, la, query, qlen, method);
        /* in place gives the same bytes */
        memcpy(b, path, len);
        if (gwlb_path_normalize(b, len, flags, b, len, &lb) != 0 || lb != la ||
            memcmp(a, b, la) != 0)
            __builtin_trap();
    } else if (rc != GWLB_EPROTO && rc != GWLB_EINVAL && rc != GWLB_ETOOLONG) {
        __builtin_trap();
    }
    return 0;
}
