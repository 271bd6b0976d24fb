/* Benchmarks of the health component (filled in with the component). */
#include "bench.h"
#include "gwlb.h"

void bench_health(bench_ctx *ctx)
{
    (void)ctx;
}
