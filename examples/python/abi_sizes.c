/*
 * Prints `name size` for every public struct the Python and LuaJIT bindings
 * redeclare (ctypes Structures, ffi.cdef), so their tests can prove that
 * their layouts still match the C headers they were written from.
 */
#include <stdio.h>

#include <gwlb.h>

#define SIZE(type) printf("%s %zu\n", #type, sizeof(type))

int main(void)
{
    SIZE(gwlb_error_detail);
    SIZE(gwlb_limit_result);
    SIZE(gwlb_gcra);
    SIZE(gwlb_limit_req);
    SIZE(gwlb_limiter_policy);
    SIZE(gwlb_balancer_host);
    SIZE(gwlb_balancer_config);
    SIZE(gwlb_balancer_result);
    SIZE(gwlb_balancer_host_stats);
    SIZE(gwlb_breaker_config);
    SIZE(gwlb_breaker);
    SIZE(gwlb_breaker_counts);
    SIZE(gwlb_route);
    SIZE(gwlb_route_header);
    SIZE(gwlb_route_query);
    SIZE(gwlb_router_options);
    SIZE(gwlb_header);
    SIZE(gwlb_router_request);
    SIZE(gwlb_route_param);
    SIZE(gwlb_route_match);
    return 0;
}
