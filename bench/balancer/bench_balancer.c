/* Benchmarks of the balancer component (filled in with the component). */
#include "bench.h"
#include "gwlb.h"

void bench_balancer(bench_ctx *ctx)
{
    (void)ctx;
}
