/* Benchmarks of the router component (filled in with the component). */
#include "bench.h"
#include "gwlb.h"

void bench_router(bench_ctx *ctx)
{
    (void)ctx;
}
