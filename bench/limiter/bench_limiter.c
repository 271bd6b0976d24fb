/* Benchmarks of the limiter component (filled in with the component). */
#include "bench.h"
#include "gwlb.h"

void bench_limiter(bench_ctx *ctx)
{
    (void)ctx;
}
