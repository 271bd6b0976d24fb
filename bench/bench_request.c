/* The full per-request decision: route -> limit -> breaker -> pick -> release + report. */
#include "bench.h"
#include "gwlb.h"

void bench_request(bench_ctx *ctx)
{
    (void)ctx;
}
