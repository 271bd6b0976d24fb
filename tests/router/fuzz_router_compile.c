/*
 * libFuzzer target: the route compiler. The input is a list of routes, one
 * per line: first byte = method bits / flags selector, rest = the pattern
 * (passed with an explicit length, so NUL bytes reach the parser). Either
 * the build fails cleanly or the router matches each pattern's own text
 * with parameters that lie inside the path, and the matcher's fast walk
 * answers exactly like the plain reference walk. Built by .ci/fuzz-smoke.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gwlb.h"
#include "router/router_internal.h"

#define MAX_ROUTES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gwlb_route routes[MAX_ROUTES];
    size_t n = 0, i = 0;
    uint32_t rflags = size > 0 ? data[0] & 3u : 0;
    if (size > 0)
        i = 1;
    while (i < size && n < MAX_ROUTES) {
        size_t e = i;
        while (e < size && data[e] != '\n')
            e++;
        if (e > i) {
            uint8_t sel = data[i];
            gwlb_route_init(&routes[n]);
            routes[n].methods = (sel & 0x0f) == 0 ? GWLB_METHOD_ANY : (1u << (sel % 9));
            routes[n].flags = (sel & 0x10) ? GWLB_ROUTE_PREFIX : 0;
            routes[n].priority = (sel >> 5) & 1;
            routes[n].host = (sel & 0x40) ? "*.example.com" : NULL;
            routes[n].path = (const char *)data + i + 1;
            routes[n].path_len = e - i - 1;
            if (routes[n].path_len == 0)
                routes[n].path = "/";
            n++;
        }
        i = e + 1;
    }
    gwlb_router_options o;
    gwlb_router_options_init(&o);
    o.flags = rflags;
    gwlb_router *r = NULL;
    gwlb_error_detail d;
    int rc = gwlb_router_build(&r, routes, n, &o, NULL, &d);
    if (rc != 0) {
        if (r != NULL || d.code != rc)
            __builtin_trap();
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        gwlb_router_request q;
        memset(&q, 0, sizeof q);
        q.method = GWLB_METHOD_GET;
        q.host = "a.example.com";
        q.host_len = 13;
        q.path = routes[k].path;
        q.path_len = routes[k].path_len ? routes[k].path_len : strlen(routes[k].path);
        gwlb_route_match m;
        rc = gwlb_router_match(r, &q, &m);
        gwlb_route_match ref;
        if (gwlb__router_match_reference(r, &q, &ref) != rc || ref.route != m.route ||
            ref.allowed_methods != m.allowed_methods || ref.param_count != m.param_count)
            __builtin_trap();
        if (rc == 0)
            for (uint32_t p = 0; p < m.param_count; p++)
                if (ref.params[p].offset != m.params[p].offset ||
                    ref.params[p].length != m.params[p].length)
                    __builtin_trap();
        if (rc == 0) {
            if (m.route < 0 || (size_t)m.route >= n || m.param_count > GWLB_ROUTER_MAX_PARAMS)
                __builtin_trap();
            for (uint32_t p = 0; p < m.param_count; p++)
                if ((uint64_t)m.params[p].offset + m.params[p].length > q.path_len)
                    __builtin_trap();
        } else if (rc != GWLB_ENOENT && rc != GWLB_EMETHOD && rc != GWLB_EINVAL) {
            __builtin_trap();
        }
    }
    gwlb_router_stats st;
    if (gwlb_router_stats_get(r, &st) != 0 || st.routes != n)
        __builtin_trap();
    gwlb_router_free(r);
    return 0;
}
