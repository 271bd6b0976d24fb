/* Benchmarks of the redis component (filled in with the component). */
#include "bench.h"
#include "gwlb.h"

void bench_redis(bench_ctx *ctx)
{
    (void)ctx;
}
