/* Benchmarks of the breaker component (filled in with the component). */
#include "bench.h"
#include "gwlb.h"

void bench_breaker(bench_ctx *ctx)
{
    (void)ctx;
}
