/* Benchmarks of the hashing component (filled in with the component). */
#include "bench.h"
#include "gwlb.h"

void bench_hashing(bench_ctx *ctx)
{
    (void)ctx;
}
